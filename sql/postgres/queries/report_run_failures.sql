-- Batch attempts that failed or were interrupted in the period [$1, $2).
SELECT run_id, at, outcome, error
FROM run_failures
WHERE at >= $1
  AND at < $2
ORDER BY at, failure_id
