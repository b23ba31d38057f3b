-- The (account, entry) pairs a run must notify, written in the order the digests are built
-- into the connection's temp.match_pairs (see match_page.sql), which the caller then reads a
-- page at a time: no read transaction stays open while the run commits, so the WAL is
-- checkpointed as the run goes rather than growing by every digest written.
-- The pairs: entries in scope (?1 = the claiming run, or NULL for the unclaimed entries of a dry
-- run; ?2 = the highest seq in scope), and the pairs earlier runs held aside, that are not
-- voided, on non-confidential cases of participating courts whose case type is not excluded,
-- matched to subscriptions active when the entry posted and not stopped by their recipient,
-- minus the pairs the ledger already holds. Ordered by account, so that one digest per account
-- can be emitted while reading.
INSERT INTO temp.match_pairs (account_id, entry_seq, subscription_id)
WITH candidates (seq, only_account) AS (
    SELECT seq, NULL FROM docket_entries WHERE run_id IS ?1 AND seq <= ?2
    UNION ALL
    SELECT h.entry_seq, h.account_id
    FROM held_pairs h
    JOIN docket_entries d ON d.seq = h.entry_seq
    WHERE d.run_id IS NOT ?1
)
SELECT s.account_id, e.seq, s.subscription_id
FROM candidates k
JOIN docket_entries e ON e.seq = k.seq
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
JOIN subscriptions s ON s.case_number = e.case_number
    AND s.tracked_at <= e.posted_at
    AND (s.stopped_at IS NULL OR s.stopped_at > e.posted_at)
    AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.subscription_id = s.subscription_id)
JOIN accounts a ON a.account_id = s.account_id
WHERE (k.only_account IS NULL OR k.only_account = s.account_id)
  AND e.voided_at IS NULL
  AND c.confidential = 0
  AND ct.mcap = 1
  AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
  AND NOT EXISTS (SELECT 1 FROM notification_ledger l
                  WHERE l.account_id = s.account_id AND l.entry_seq = e.seq)
ORDER BY s.account_id, c.case_number, e.posted_at, e.seq
