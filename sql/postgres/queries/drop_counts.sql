-- Why entries in scope (parameters as in match_rows.sql) are not notifiable. Each entry is
-- counted once, under the first reason that applies.
SELECT COUNT(*) AS total,
       COUNT(*) FILTER (WHERE e.voided_at IS NOT NULL) AS voided,
       COUNT(*) FILTER (WHERE e.voided_at IS NULL AND c.confidential) AS confidential,
       COUNT(*) FILTER (WHERE e.voided_at IS NULL AND NOT c.confidential AND NOT ct.mcap)
           AS excluded_court,
       COUNT(*) FILTER (WHERE e.voided_at IS NULL AND NOT c.confidential AND ct.mcap
                        AND EXISTS (SELECT 1 FROM court_excluded_case_types x
                                    WHERE x.court_id = c.court_id
                                      AND x.case_type = c.case_type))
           AS excluded_case_type
FROM docket_entries e
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE (e.run_id = $1
       OR $1 IS NULL AND e.run_id IS NULL
          AND e.inserted_xid < pg_snapshot_xmin(pg_current_snapshot()))
  AND e.seq <= $2
