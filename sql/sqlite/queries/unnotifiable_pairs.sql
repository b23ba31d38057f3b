-- The pairs of queued messages that may no longer be sent, with why: of every message not
-- under a live lease at ?1 (now), or of the messages ?2 (a JSON array of ids: their worker's
-- check before sending).
-- Messages under a live lease are being sent and are left to their worker, which checks again
-- right before it sends. The reasons are those of ledger_pairs_not_notifiable, written out
-- from the queued messages down, so that the work follows the queue and not the whole ledger
-- (a join to the view would build it over every pair ever sent), and from the ids when given.
WITH messages (outbox_id) AS (
    SELECT value FROM json_each(?2)
    UNION ALL
    SELECT outbox_id FROM outbox
    WHERE ?2 IS NULL AND state = 'queued' AND (lease_until IS NULL OR lease_until <= ?1)
)
SELECT l.outbox_id,
       CASE
           WHEN e.voided_at IS NOT NULL THEN 'entry voided'
           WHEN c.confidential = 1 THEN 'case confidential'
           WHEN ct.mcap = 0 THEN 'court left MCAP'
           WHEN EXISTS (SELECT 1 FROM court_excluded_case_types x
                        WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
               THEN 'case type excluded from tracking'
           ELSE 'unsubscribed'
       END AS reason,
       l.entry_seq
FROM messages m
JOIN outbox o ON o.outbox_id = m.outbox_id
JOIN notification_ledger l ON l.outbox_id = o.outbox_id
JOIN docket_entries e ON e.seq = l.entry_seq
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE o.state = 'queued'
  AND l.withheld_reason IS NULL
  AND (e.voided_at IS NOT NULL
       OR c.confidential = 1
       OR ct.mcap = 0
       OR EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
       OR (EXISTS (SELECT 1 FROM subscriptions s JOIN unsubscribes u USING (subscription_id)
                   WHERE s.account_id = l.account_id AND s.case_number = e.case_number)
           AND NOT EXISTS (SELECT 1 FROM subscriptions s
                           WHERE s.account_id = l.account_id AND s.case_number = e.case_number
                             AND s.tracked_at <= e.posted_at
                             AND (s.stopped_at IS NULL OR s.stopped_at > e.posted_at)
                             AND NOT EXISTS (SELECT 1 FROM unsubscribes u
                                             WHERE u.subscription_id = s.subscription_id))))
ORDER BY l.outbox_id
