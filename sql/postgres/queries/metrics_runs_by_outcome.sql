-- Batch attempts by outcome: runs done, scheduler ticks skipped (a skipped row folds `ticks` of
-- them) by the kind of closure (`outage: why` counts as `outage`), and attempts that failed or
-- were interrupted.
SELECT 'done' AS outcome, '' AS reason, COALESCE(SUM(ticks), 0)::bigint AS n
FROM runs WHERE status = 'done'
UNION ALL
SELECT 'skipped', COALESCE(split_part(skip_reason, ':', 1), ''), SUM(ticks)::bigint
FROM runs WHERE status = 'skipped' GROUP BY 2
UNION ALL
SELECT outcome, '', COUNT(*) FROM run_failures GROUP BY outcome
