-- The date notices already given (or withheld) for the court dates date_trackers.sql names
-- (the same ?1 and ?2), in any of their versions; `withheld` when it never went out.
SELECT d.account_id, d.event_id, d.version, d.notice, d.days,
       d.withheld_reason IS NOT NULL AS withheld
FROM date_notices d
JOIN events e ON e.event_id = d.event_id
WHERE e.starts_at > ?1 AND (e.starts_at <= ?2 OR e.version > 1)
