-- The stage times of finished runs as (stage, milliseconds, runs that took that long): grouped
-- here so that the histogram is fed one value per distinct time, however many runs there were.
SELECT 'snapshot' AS stage, snapshot_ms AS ms, COUNT(*) AS runs
FROM runs WHERE snapshot_ms IS NOT NULL GROUP BY snapshot_ms
UNION ALL
SELECT 'filter', filter_ms, COUNT(*)
FROM runs WHERE filter_ms IS NOT NULL GROUP BY filter_ms
UNION ALL
SELECT 'match_render', match_render_ms, COUNT(*)
FROM runs WHERE match_render_ms IS NOT NULL GROUP BY match_render_ms
UNION ALL
SELECT 'commit', commit_ms, COUNT(*)
FROM runs WHERE commit_ms IS NOT NULL GROUP BY commit_ms
