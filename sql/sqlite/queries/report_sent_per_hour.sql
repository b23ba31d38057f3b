-- Messages the transport accepted in the period [?1, ?2), counted per UTC hour (the hour's
-- start in microseconds).
SELECT (finished_at / 3600000000) * 3600000000 AS hour, COUNT(*) AS sent
FROM outbox
WHERE state = 'sent'
  AND finished_at >= ?1
  AND finished_at < ?2
GROUP BY hour
ORDER BY hour
