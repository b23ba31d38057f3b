-- Every watch for operators, with its matches, those waiting for a digest, and the last one.
SELECT w.watch_id,
       w.account_id,
       w.name,
       w.kind,
       w.circuits,
       w.case_types,
       w.roles,
       w.nicknames,
       w.auto_track,
       w.started_at,
       w.stopped_at,
       w.paused_at,
       w.paused_reason,
       w.unsubscribed_at,
       COUNT(m.case_number) AS matches,
       COUNT(m.case_number) - COUNT(m.outbox_id) AS waiting,
       MAX(m.matched_at) AS last_match_at
FROM watches w
LEFT JOIN watch_matches m ON m.watch_id = w.watch_id
GROUP BY w.watch_id, w.account_id, w.name, w.kind, w.circuits, w.case_types, w.roles,
         w.nicknames, w.auto_track, w.started_at, w.stopped_at, w.paused_at,
         w.paused_reason, w.unsubscribed_at
ORDER BY w.account_id, w.watch_id
