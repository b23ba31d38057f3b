-- Addresses suppressed in the period [$1, $2) and still suppressed, oldest first.
SELECT email, reason, evidence, created_at
FROM suppressions
WHERE created_at >= $1
  AND created_at < $2
ORDER BY created_at, email
