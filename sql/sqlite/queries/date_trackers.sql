-- The trackers of the court dates a run may have something to say about: dates still ahead
-- (?1 = now) that fall before the horizon of the reminders (?2) or have changed, on
-- non-confidential cases of participating courts whose case type is not excluded, with each
-- account tracking the case now and not stopped by its recipient.
SELECT s.account_id,
       a.email,
       a.email_verified,
       EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email)) AS suppressed,
       s.subscription_id,
       s.tracked_at,
       c.case_number,
       c.caption,
       c.case_type,
       c.court_id,
       ct.name AS court_name,
       e.event_id,
       e.kind,
       e.title,
       e.starts_at,
       e.location,
       e.judge,
       e.bring,
       e.status,
       e.version,
       e.changed_at
FROM events e
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
JOIN subscriptions s ON s.case_number = e.case_number
    AND s.tracked_at <= ?1
    AND (s.stopped_at IS NULL OR s.stopped_at > ?1)
    AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.subscription_id = s.subscription_id)
JOIN accounts a ON a.account_id = s.account_id
WHERE e.starts_at > ?1
  AND (e.starts_at <= ?2 OR e.version > 1)
  AND c.confidential = 0
  AND ct.mcap = 1
  AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
ORDER BY s.account_id, e.starts_at, e.event_id, s.tracked_at DESC
