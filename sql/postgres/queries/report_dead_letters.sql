-- Messages that went dead (a permanent failure, or retries past their lifetime) in the period
-- [$1, $2), oldest first.
SELECT outbox_id, recipient, subject, last_error, finished_at
FROM outbox
WHERE state = 'dead'
  AND finished_at >= $1
  AND finished_at < $2
ORDER BY finished_at, outbox_id
