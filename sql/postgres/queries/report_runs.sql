-- Runs that touch the period [$1, $2): started before its end and, for a row of folded skips,
-- last ticked at or after its start. Oldest first.
SELECT *
FROM runs
WHERE started_at < $2
  AND COALESCE(finished_at, started_at) >= $1
ORDER BY started_at, run_id
