-- The pairs of queued messages that are no longer notifiable, with why: of every message not
-- under a live lease at ?1 (now), or of the one message ?2 (its worker found it before sending).
-- Messages under a live lease are being sent and are left to their worker, which checks again
-- right before it sends.
SELECT l.outbox_id, n.reason, l.entry_seq
FROM outbox o
JOIN notification_ledger l ON l.outbox_id = o.outbox_id
JOIN entries_not_notifiable n ON n.seq = l.entry_seq
WHERE o.state = 'queued'
  AND (?2 IS NULL AND (o.lease_until IS NULL OR o.lease_until <= ?1) OR o.outbox_id = ?2)
  AND l.withheld_reason IS NULL
ORDER BY l.outbox_id
