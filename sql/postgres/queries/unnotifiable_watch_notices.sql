-- The new-case notices of queued messages that may no longer be sent, with why: of the same
-- messages as unnotifiable_pairs.sql ($1 = now, $2 = an array of ids or NULL). A notice
-- may not go once its case is sealed, its court leaves MCAP or its case type is excluded (it
-- waits for the case to be open again), or once its owner stopped the watch.
WITH messages (outbox_id) AS (
    SELECT unnest($2::bigint[])
    UNION ALL
    SELECT outbox_id FROM outbox
    WHERE $2::bigint[] IS NULL AND state = 'queued'
      AND (lease_until IS NULL OR lease_until <= $1)
)
SELECT w.outbox_id,
       CASE
           WHEN wa.unsubscribed_at IS NOT NULL THEN 'watch stopped by its owner'
           WHEN c.confidential THEN 'case confidential'
           WHEN NOT ct.mcap THEN 'court left MCAP'
           ELSE 'case type excluded from tracking'
       END AS reason
FROM messages m
JOIN outbox o ON o.outbox_id = m.outbox_id
JOIN watch_matches w ON w.outbox_id = o.outbox_id
JOIN watches wa ON wa.watch_id = w.watch_id
JOIN cases c ON c.case_number = w.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE o.state = 'queued'
  AND (wa.unsubscribed_at IS NOT NULL
       OR c.confidential
       OR NOT ct.mcap
       OR EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type))
ORDER BY w.outbox_id
