-- New-case notices not yet put in a message, in account order, of cases that may be told of
-- now (one sealed since its match waits until it is not), for watches whose account is
-- verified. A notice of a watch stopped or paused after its match is still told: the case
-- was matched while the watch ran.
SELECT m.account_id,
       a.email,
       a.email_verified,
       EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email)) AS suppressed,
       m.watch_id,
       w.name AS watch_name,
       c.case_number,
       c.court_id,
       ct.name AS court_name,
       c.case_type,
       c.caption,
       c.filed_at,
       m.party_name,
       m.party_role,
       m.why,
       m.auto_tracked,
       s.subscription_id AS auto_subscription_id
FROM watch_matches m
JOIN watches w ON w.watch_id = m.watch_id
JOIN accounts a ON a.account_id = m.account_id
JOIN cases c ON c.case_number = m.case_number
JOIN courts ct ON ct.court_id = c.court_id
-- The tracking period auto_track started, which the message's unsubscribe link stops too.
LEFT JOIN subscriptions s ON m.auto_tracked AND s.account_id = m.account_id
    AND s.case_number = m.case_number AND s.source = 'watch:' || m.watch_id
WHERE m.outbox_id IS NULL
  AND w.unsubscribed_at IS NULL
  AND c.confidential = 0
  AND ct.mcap = 1
  AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
ORDER BY m.account_id, w.name, m.watch_id, c.filed_at, c.case_number
