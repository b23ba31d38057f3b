-- The pairs of queued messages that are no longer notifiable, with why: the entry was voided,
-- the case sealed, its court left MCAP or excludes its case type. Messages under a live lease
-- (?1 = now) are being sent and are left to their worker.
SELECT l.outbox_id,
       CASE
           WHEN e.voided_at IS NOT NULL THEN 'entry voided'
           WHEN c.confidential = 1 THEN 'case confidential'
           WHEN ct.mcap = 0 THEN 'court left MCAP'
           ELSE 'case type excluded from tracking'
       END AS reason,
       l.entry_seq
FROM outbox o
JOIN notification_ledger l ON l.outbox_id = o.outbox_id
JOIN docket_entries e ON e.seq = l.entry_seq
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE o.state = 'queued'
  AND (o.lease_until IS NULL OR o.lease_until <= ?1)
  AND l.withheld_reason IS NULL
  AND (e.voided_at IS NOT NULL
       OR c.confidential = 1
       OR ct.mcap = 0
       OR EXISTS (SELECT 1 FROM court_excluded_case_types x
                  WHERE x.court_id = c.court_id AND x.case_type = c.case_type))
ORDER BY l.outbox_id
