-- The (account, entry) pairs a run must notify: entries in scope ($1 = the claiming run, or NULL
-- for the unclaimed entries of a dry run, as far as a run could claim them now; $2 = the
-- highest seq in scope), and the pairs earlier runs held aside, that are not voided, on
-- non-confidential cases of participating courts whose case type is not excluded, matched to
-- subscriptions active when the entry posted and not stopped by their recipient, minus the
-- pairs the ledger already holds. Ordered by account so the caller can emit one digest per
-- account while streaming.
WITH candidates (seq, only_account) AS (
    SELECT seq, NULL::text FROM docket_entries
    WHERE (run_id = $1
           OR $1 IS NULL AND run_id IS NULL
              AND inserted_xid < pg_snapshot_xmin(pg_current_snapshot()))
      AND seq <= $2
    UNION ALL
    SELECT h.entry_seq, h.account_id
    FROM held_pairs h
    JOIN docket_entries d ON d.seq = h.entry_seq
    WHERE d.run_id IS DISTINCT FROM $1
)
SELECT a.account_id,
       a.email,
       a.email_verified,
       EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email)) AS suppressed,
       s.subscription_id,
       c.case_number,
       c.caption,
       c.court_id,
       ct.name AS court_name,
       e.seq AS entry_seq,
       e.entry_id,
       e.code,
       e.description,
       e.text,
       e.filed_by,
       e.posted_at
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
  AND NOT c.confidential
  AND ct.mcap
  AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
  AND NOT EXISTS (SELECT 1 FROM notification_ledger l
                  WHERE l.account_id = s.account_id AND l.entry_seq = e.seq)
-- Byte order, whatever the database's collation: the program compares account ids and case
-- numbers as bytes (and SQLite sorts them so), so a preview that stops past its account and a
-- run's grouping see the same order on both backends.
ORDER BY a.account_id COLLATE "C", c.case_number COLLATE "C", e.posted_at, e.seq
