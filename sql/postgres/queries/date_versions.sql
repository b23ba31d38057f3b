-- Every version's time, place and status of the court dates date_trackers.sql names (the
-- same $1 and $2), so that a change notice can say what a date was.
SELECT v.event_id, v.version, v.starts_at, v.location, v.status
FROM event_versions v
JOIN events e ON e.event_id = v.event_id
WHERE e.starts_at > $1 AND (e.starts_at <= $2 OR e.version > 1)
ORDER BY v.event_id, v.version
