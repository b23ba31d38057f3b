-- The date notices of queued messages that may no longer be sent, with why: of the same
-- messages as unnotifiable_pairs.sql ($1 = now, $2 = an array of ids or NULL). A notice
-- may not go once its case is sealed, its court leaves MCAP or its case type is excluded, once
-- its recipient stopped tracking the case, or once the date changed again: it would tell a time,
-- place or status that no longer holds (the next run tells the change instead), once the
-- date has passed, or once a reminder it carries is late (its day has passed).
WITH messages (outbox_id) AS (
    SELECT unnest($2::bigint[])
    UNION ALL
    SELECT outbox_id FROM outbox
    WHERE $2::bigint[] IS NULL AND state = 'queued'
      AND (lease_until IS NULL OR lease_until <= $1)
)
SELECT d.outbox_id,
       CASE
           WHEN c.confidential THEN 'case confidential'
           WHEN NOT ct.mcap THEN 'court left MCAP'
           WHEN EXISTS (SELECT 1 FROM court_excluded_case_types x
                        WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
               THEN 'case type excluded from tracking'
           WHEN e.version <> d.version THEN 'court date changed'
           WHEN e.starts_at <= $1 THEN 'court date passed'
           WHEN d.late_at <= $1 THEN 'reminder day passed'
           ELSE 'no longer tracked'
       END AS reason,
       d.account_id,
       d.event_id,
       d.version,
       d.notice,
       d.days
FROM messages m
JOIN outbox o ON o.outbox_id = m.outbox_id
JOIN date_notices d ON d.outbox_id = o.outbox_id
JOIN events e ON e.event_id = d.event_id
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE o.state = 'queued'
  AND d.withheld_reason IS NULL
  AND (c.confidential
       OR NOT ct.mcap
       OR EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
       OR e.version <> d.version
       OR e.starts_at <= $1
       OR d.late_at <= $1
       -- Tracking as date_trackers.sql reads it, so that what a run queues is not withheld.
       OR NOT EXISTS (SELECT 1 FROM subscriptions s
                      WHERE s.account_id = d.account_id AND s.case_number = e.case_number
                        AND s.tracked_at <= $1
                        AND (s.stopped_at IS NULL OR s.stopped_at > $1)
                        AND NOT EXISTS (SELECT 1 FROM unsubscribes u
                                        WHERE u.subscription_id = s.subscription_id)))
ORDER BY d.outbox_id
