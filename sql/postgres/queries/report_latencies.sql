-- Posting-to-sending latency, one value per (account, entry) pair whose message was sent in
-- the period [$1, $2): when the message was accepted, and how long after the entry was posted,
-- in whole microseconds (bigint, as the SQLite store reads it, not an interval).
SELECT o.finished_at AS sent_at,
       (EXTRACT(EPOCH FROM o.finished_at - e.posted_at) * 1000000)::bigint AS latency
FROM notification_ledger l
JOIN outbox o ON o.outbox_id = l.outbox_id
JOIN docket_entries e ON e.seq = l.entry_seq
WHERE o.state = 'sent'
  AND o.finished_at >= $1
  AND o.finished_at < $2
ORDER BY o.finished_at, l.account_id, l.entry_seq
