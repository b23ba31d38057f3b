-- The two instants the lag gauges measure from ($1 is now): the longest-due queued message
-- (due by now), and the posting time of the oldest entry that no finished run has taken:
-- unclaimed (committed or not yet claimable), or claimed by a run still in progress (each half
-- reads its own index).
SELECT (SELECT MIN(next_attempt_at) FROM outbox
        WHERE state = 'queued' AND next_attempt_at <= $1) AS oldest_due_at,
       (SELECT MIN(oldest) FROM (
            SELECT MIN(posted_at) AS oldest FROM docket_entries WHERE run_id IS NULL
            UNION ALL
            SELECT MIN(posted_at) FROM docket_entries
            WHERE run_id IN (SELECT run_id FROM runs WHERE status = 'running')
        ) AS unfinished) AS oldest_unfinished_posted_at
