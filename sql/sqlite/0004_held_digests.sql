-- Pairs whose digest could not be built or stored (an address the mailer refuses, a row the
-- database refuses), with why. They are not in the ledger: every run tries them again, and
-- the run that queues them removes them here.
CREATE TABLE held_pairs (
    account_id TEXT NOT NULL,
    entry_seq  INTEGER NOT NULL REFERENCES docket_entries (seq),
    run_id     INTEGER NOT NULL REFERENCES runs (run_id),
    reason     TEXT NOT NULL,
    held_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry_seq)
);

ALTER TABLE runs ADD COLUMN accounts_held INTEGER NOT NULL DEFAULT 0;
