-- Pairs whose digest could not be built or stored (an address the mailer refuses, a row the
-- database refuses), with why. They are not in the ledger: every run tries them again, and
-- the run that queues them removes them here.
CREATE TABLE held_pairs (
    account_id text NOT NULL,
    entry_seq  bigint NOT NULL REFERENCES docket_entries (seq),
    run_id     bigint NOT NULL REFERENCES runs (run_id),
    reason     text NOT NULL,
    held_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, entry_seq)
);

ALTER TABLE runs ADD COLUMN accounts_held bigint NOT NULL DEFAULT 0;

-- A pair whose digest was queued but must not go out after all (the case was sealed, its court
-- left MCAP or excluded the case type, the entry was voided): the digest is cancelled, the pair
-- stays in the ledger with why it was withheld, and the digest's other pairs are held aside
-- for the next run to queue again without it.
ALTER TABLE notification_ledger ADD COLUMN withheld_reason text;
ALTER TABLE notification_ledger ADD COLUMN withheld_at timestamptz;

-- Every entry that may not be notified now, with the first reason that applies.
CREATE VIEW entries_not_notifiable AS
SELECT e.seq,
       CASE
           WHEN e.voided_at IS NOT NULL THEN 'entry voided'
           WHEN c.confidential THEN 'case confidential'
           WHEN NOT ct.mcap THEN 'court left MCAP'
           ELSE 'case type excluded from tracking'
       END AS reason
FROM docket_entries e
JOIN cases c ON c.case_number = e.case_number
JOIN courts ct ON ct.court_id = c.court_id
WHERE e.voided_at IS NOT NULL
   OR c.confidential
   OR NOT ct.mcap
   OR EXISTS (SELECT 1 FROM court_excluded_case_types x
              WHERE x.court_id = c.court_id AND x.case_type = c.case_type);
