-- The floor for ingest: the sqlite3 shell imports the generated rows (bench generate --csv)
-- into tables with the same keys and indexes as mcap-notify's, in one transaction, in the
-- same journal mode. Run from the workload directory: sqlite3 floor.db < floor_ingest.sql
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE courts (
    court_id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
    mcap INTEGER NOT NULL CHECK (mcap IN (0, 1)));
CREATE TABLE court_excluded_case_types (
    court_id TEXT NOT NULL REFERENCES courts (court_id) ON DELETE CASCADE,
    case_type TEXT NOT NULL, PRIMARY KEY (court_id, case_type));
CREATE TABLE cases (
    case_number TEXT PRIMARY KEY NOT NULL, court_id TEXT NOT NULL REFERENCES courts (court_id),
    case_type TEXT NOT NULL, caption TEXT NOT NULL, filed_at INTEGER NOT NULL,
    confidential INTEGER NOT NULL CHECK (confidential IN (0, 1)), closed_at INTEGER);
CREATE TABLE parties (
    case_number TEXT NOT NULL REFERENCES cases (case_number) ON DELETE CASCADE,
    position INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (case_number, position));
CREATE TABLE docket_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL UNIQUE,
    case_number TEXT NOT NULL REFERENCES cases (case_number), code TEXT NOT NULL,
    description TEXT NOT NULL, text TEXT NOT NULL, filed_by TEXT NOT NULL,
    posted_at INTEGER NOT NULL, voided_at INTEGER, run_id INTEGER);
CREATE INDEX docket_entries_unclaimed ON docket_entries (seq) WHERE run_id IS NULL;
CREATE INDEX docket_entries_by_run ON docket_entries (run_id, case_number);
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL,
    email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)));
CREATE TABLE subscriptions (
    subscription_id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    case_number TEXT NOT NULL REFERENCES cases (case_number),
    tracked_at INTEGER NOT NULL, stopped_at INTEGER,
    UNIQUE (account_id, case_number, tracked_at));
CREATE INDEX subscriptions_by_case ON subscriptions (case_number, account_id);
-- Rows whose table has a generated key or optional columns arrive through a plain table.
CREATE TEMP TABLE entries_in (entry_id, case_number, code, description, text, filed_by, posted_at);
CREATE TEMP TABLE voids_in (entry_id, voided_at);
CREATE TEMP TABLE subscriptions_in (account_id, case_number, tracked_at, stopped_at);
CREATE TEMP TABLE cases_in (case_number, court_id, case_type, caption, filed_at, confidential, closed_at);
BEGIN;
.import --csv csv/courts.csv courts
.import --csv csv/court_excluded_case_types.csv court_excluded_case_types
.import --csv csv/cases.csv cases_in
INSERT INTO cases SELECT case_number, court_id, case_type, caption, filed_at, confidential,
    NULLIF(closed_at, '') FROM cases_in;
.import --csv csv/parties.csv parties
.import --csv csv/accounts.csv accounts
.import --csv csv/subscriptions.csv subscriptions_in
INSERT INTO subscriptions (account_id, case_number, tracked_at, stopped_at)
    SELECT account_id, case_number, tracked_at, NULLIF(stopped_at, '') FROM subscriptions_in;
.import --csv csv/docket_entries.csv entries_in
INSERT INTO docket_entries (entry_id, case_number, code, description, text, filed_by, posted_at)
    SELECT * FROM entries_in;
.import --csv csv/voids.csv voids_in
UPDATE docket_entries SET voided_at = (SELECT voided_at FROM voids_in v WHERE v.entry_id = docket_entries.entry_id)
    WHERE entry_id IN (SELECT entry_id FROM voids_in);
COMMIT;
