-- Court dates for operators: how many scheduled dates are still ahead of ?1 (now), and the
-- date notices by kind and by where their message is (withheld ones apart).
SELECT 'ahead' AS notice, '' AS state, COUNT(*) AS n
FROM events
WHERE status = 'scheduled' AND starts_at > ?1
UNION ALL
SELECT d.notice,
       CASE WHEN d.withheld_reason IS NOT NULL THEN 'withheld' ELSE o.state END,
       COUNT(*)
FROM date_notices d
JOIN outbox o ON o.outbox_id = d.outbox_id
GROUP BY 1, 2
ORDER BY 1, 2
