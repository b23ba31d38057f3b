-- Why entries in scope (parameters as in match_pairs.sql) are not notifiable. Each entry is
-- counted once, under the first reason that applies.
SELECT COUNT(*) AS total,
       COALESCE(SUM(e.voided_at IS NOT NULL), 0) AS voided,
       COALESCE(SUM(e.voided_at IS NULL AND c.confidential = 1), 0) AS confidential,
       COALESCE(SUM(e.voided_at IS NULL AND c.confidential = 0 AND ct.mcap = 0), 0) AS excluded_court,
       COALESCE(SUM(e.voided_at IS NULL AND c.confidential = 0 AND ct.mcap = 1
                    AND EXISTS (SELECT 1 FROM court_excluded_case_types x
                                WHERE x.court_id = c.court_id AND x.case_type = c.case_type)), 0)
           AS excluded_case_type
FROM docket_entries e
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE e.run_id IS ?1
  AND e.seq <= ?2
