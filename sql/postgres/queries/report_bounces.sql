-- Bounces recorded in the period [$1, $2), by verdict, most frequent first.
SELECT verdict, COUNT(*) AS n
FROM bounces
WHERE at >= $1
  AND at < $2
GROUP BY verdict
ORDER BY n DESC, verdict
