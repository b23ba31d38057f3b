-- Messages the transport accepted in the period [$1, $2), counted per UTC hour (the hour's
-- start, whatever the session's time zone).
SELECT date_trunc('hour', finished_at, 'UTC') AS hour, COUNT(*) AS sent
FROM outbox
WHERE state = 'sent'
  AND finished_at >= $1
  AND finished_at < $2
GROUP BY hour
ORDER BY hour
