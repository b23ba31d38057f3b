-- Batch attempts by outcome: runs done, scheduler ticks skipped (a skipped row folds `ticks` of
-- them) by the kind of closure (`outage: why` counts as `outage`), and attempts that failed or
-- were interrupted.
SELECT 'done' AS outcome, '' AS reason, COALESCE(SUM(ticks), 0) AS n
FROM runs WHERE status = 'done'
UNION ALL
SELECT 'skipped',
       CASE WHEN instr(skip_reason, ':') > 0
            THEN substr(skip_reason, 1, instr(skip_reason, ':') - 1)
            ELSE COALESCE(skip_reason, '') END,
       SUM(ticks)
FROM runs WHERE status = 'skipped' GROUP BY 2
UNION ALL
SELECT outcome, '', COUNT(*) FROM run_failures GROUP BY outcome
