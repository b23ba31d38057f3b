-- The pairs of queued messages that may no longer be sent, with why: of every message not
-- under a live lease at $1 (now), or of the one message $2 (its worker found it before sending).
-- Messages under a live lease are being sent and are left to their worker, which checks again
-- right before it sends.
SELECT n.outbox_id, n.reason, n.entry_seq
FROM outbox o
JOIN ledger_pairs_not_notifiable n ON n.outbox_id = o.outbox_id
WHERE o.state = 'queued'
  AND ($2::bigint IS NULL AND (o.lease_until IS NULL OR o.lease_until <= $1)
       OR o.outbox_id = $2)
ORDER BY n.outbox_id
