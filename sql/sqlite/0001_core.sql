-- Core schema: reference data, feeds, the batch run bookkeeping and the outbox.
-- Instants are stored as INTEGER microseconds since the Unix epoch (UTC), so that
-- comparisons are exact and portable.

CREATE TABLE courts (
    court_id   TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    mcap       INTEGER NOT NULL CHECK (mcap IN (0, 1))
);

CREATE TABLE court_excluded_case_types (
    court_id   TEXT NOT NULL REFERENCES courts (court_id) ON DELETE CASCADE,
    case_type  TEXT NOT NULL,
    PRIMARY KEY (court_id, case_type)
);

CREATE TABLE cases (
    case_number  TEXT PRIMARY KEY NOT NULL,
    court_id     TEXT NOT NULL REFERENCES courts (court_id),
    case_type    TEXT NOT NULL,
    caption      TEXT NOT NULL,
    filed_at     INTEGER NOT NULL,
    confidential INTEGER NOT NULL CHECK (confidential IN (0, 1)),
    closed_at    INTEGER
);

CREATE TABLE parties (
    case_number TEXT NOT NULL REFERENCES cases (case_number) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    PRIMARY KEY (case_number, position)
);

-- seq is the arrival order; run_id is set when a batch run claims the entry.
CREATE TABLE docket_entries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id    TEXT NOT NULL UNIQUE,
    case_number TEXT NOT NULL REFERENCES cases (case_number),
    code        TEXT NOT NULL,
    description TEXT NOT NULL,
    text        TEXT NOT NULL,
    filed_by    TEXT NOT NULL,
    posted_at   INTEGER NOT NULL,
    voided_at   INTEGER,
    run_id      INTEGER REFERENCES runs (run_id)
);
CREATE INDEX docket_entries_unclaimed ON docket_entries (seq) WHERE run_id IS NULL;
CREATE INDEX docket_entries_by_run ON docket_entries (run_id, case_number);

CREATE TABLE accounts (
    account_id     TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL,
    email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1))
);

CREATE TABLE subscriptions (
    subscription_id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL REFERENCES accounts (account_id),
    case_number     TEXT NOT NULL REFERENCES cases (case_number),
    tracked_at      INTEGER NOT NULL,
    stopped_at      INTEGER,
    UNIQUE (account_id, case_number, tracked_at)
);
CREATE INDEX subscriptions_by_case ON subscriptions (case_number, account_id);

-- One row per batch run. A run is opened (status 'running') in the same transaction that
-- claims its entries, and closed ('done') with the new watermark once its range is done.
CREATE TABLE runs (
    run_id                INTEGER PRIMARY KEY AUTOINCREMENT,
    status                TEXT NOT NULL CHECK (status IN ('running', 'done', 'skipped')),
    -- Why a run was skipped: night, weekend, outage (with its reason) or holiday.
    skip_reason           TEXT,
    started_at            INTEGER NOT NULL,
    finished_at           INTEGER,
    first_seq             INTEGER,
    last_seq              INTEGER,
    entries_claimed       INTEGER NOT NULL DEFAULT 0,
    entries_notifiable    INTEGER NOT NULL DEFAULT 0,
    pairs_matched         INTEGER NOT NULL DEFAULT 0,
    digests_queued        INTEGER NOT NULL DEFAULT 0,
    skipped_unverified    INTEGER NOT NULL DEFAULT 0,
    skipped_suppressed    INTEGER NOT NULL DEFAULT 0,
    dropped_voided        INTEGER NOT NULL DEFAULT 0,
    dropped_confidential  INTEGER NOT NULL DEFAULT 0,
    dropped_excluded_court INTEGER NOT NULL DEFAULT 0,
    dropped_excluded_type INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE watermark (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
INSERT INTO watermark (id, last_seq) VALUES (1, 0);

-- Messages to send. A message is 'queued' until the transport accepts it ('sent'), it fails
-- permanently or outlives its retry lifetime ('dead'), or its address is suppressed
-- ('cancelled'). A worker holds a lease on the messages it is sending; an expired lease makes
-- the message due again.
CREATE TABLE outbox (
    outbox_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          INTEGER NOT NULL REFERENCES runs (run_id),
    account_id      TEXT NOT NULL REFERENCES accounts (account_id),
    recipient       TEXT NOT NULL,
    envelope_from   TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'dead', 'cancelled')),
    created_at      INTEGER NOT NULL,
    -- Retries give up this long after lifetime_from (queued, or requeued by an operator).
    lifetime_from   INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    -- Set when a receiving server refused us on policy grounds (5.7.x): operators should look.
    policy_flag     INTEGER NOT NULL DEFAULT 0 CHECK (policy_flag IN (0, 1)),
    finished_at     INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, outbox_id);

-- The message itself, apart: the outbox row changes with every claim and attempt, and SQLite
-- rewrites a whole row on update.
CREATE TABLE outbox_bodies (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox (outbox_id),
    raw       BLOB NOT NULL
);
CREATE INDEX outbox_by_recipient ON outbox (lower(recipient), state);
CREATE INDEX outbox_by_envelope ON outbox (envelope_from);

-- Every delivery attempt and what the server said.
CREATE TABLE delivery_attempts (
    outbox_id   INTEGER NOT NULL REFERENCES outbox (outbox_id),
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent', 'policy')),
    reply_code  INTEGER,
    status      TEXT,
    detail      TEXT NOT NULL,
    PRIMARY KEY (outbox_id, attempt)
);

-- Bounce evidence: failures at send time and bounce mails received later.
CREATE TABLE bounce_mails (
    bounce_mail_id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at    INTEGER NOT NULL,
    source         TEXT NOT NULL,
    raw            BLOB NOT NULL,
    matched        INTEGER NOT NULL CHECK (matched IN (0, 1))
);

CREATE TABLE bounces (
    bounce_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    email          TEXT NOT NULL,
    verdict        TEXT NOT NULL
        CHECK (verdict IN ('hard', 'soft', 'policy', 'complaint', 'auto-reply', 'delivered')),
    status         TEXT,
    detail         TEXT NOT NULL,
    outbox_id      INTEGER REFERENCES outbox (outbox_id),
    bounce_mail_id INTEGER REFERENCES bounce_mails (bounce_mail_id)
);
CREATE INDEX bounces_by_email ON bounces (email, at);

-- Addresses that must receive nothing, with why.
CREATE TABLE suppressions (
    email      TEXT PRIMARY KEY NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('hard-bounce', 'complaint', 'soft-bounces')),
    evidence   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Every (account, entry) pair ever put in a digest: the exactly-once guarantee.
CREATE TABLE notification_ledger (
    account_id TEXT NOT NULL,
    entry_seq  INTEGER NOT NULL REFERENCES docket_entries (seq),
    outbox_id  INTEGER NOT NULL REFERENCES outbox (outbox_id),
    PRIMARY KEY (account_id, entry_seq)
);

-- Closures of the service beyond the weekly window (the "System Unavailability Log").
CREATE TABLE outages (
    outage_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL CHECK (ends_at > starts_at),
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outages_by_time ON outages (starts_at, ends_at);

-- The one batch lease: only its holder may run the batch until it expires.
CREATE TABLE batch_lease (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    since      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
