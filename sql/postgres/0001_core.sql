-- Core schema: reference data, feeds, the batch run bookkeeping and the outbox.
-- The same tables as sql/sqlite/0001_core.sql, in PostgreSQL's own types: instants are
-- timestamptz (microsecond precision, like SQLite's integer microseconds, bound as
-- DateTime<Utc>), flags are boolean, generated ids are identity columns, counts and other
-- integers are bigint (the store reads them as i64), message bodies are bytea.

CREATE TABLE courts (
    court_id   text PRIMARY KEY,
    name       text NOT NULL,
    mcap       boolean NOT NULL
);

CREATE TABLE court_excluded_case_types (
    court_id   text NOT NULL REFERENCES courts (court_id) ON DELETE CASCADE,
    case_type  text NOT NULL,
    PRIMARY KEY (court_id, case_type)
);

CREATE TABLE cases (
    case_number  text PRIMARY KEY,
    court_id     text NOT NULL REFERENCES courts (court_id),
    case_type    text NOT NULL,
    caption      text NOT NULL,
    filed_at     timestamptz NOT NULL,
    confidential boolean NOT NULL,
    closed_at    timestamptz
);

CREATE TABLE parties (
    case_number text NOT NULL REFERENCES cases (case_number) ON DELETE CASCADE,
    position    bigint NOT NULL,
    name        text NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (case_number, position)
);

-- One row per batch run. A run is opened (status 'running') in the same transaction that
-- claims its entries, and closed ('done') with the new watermark once its range is done.
-- last_xid is the inserting transaction of the last entry claimed (see docket_entries).
CREATE TABLE runs (
    run_id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status                 text NOT NULL CHECK (status IN ('running', 'done', 'skipped')),
    -- Why a run was skipped: night, weekend, outage (with its reason) or holiday.
    skip_reason            text,
    started_at             timestamptz NOT NULL,
    finished_at            timestamptz,
    first_seq              bigint,
    last_seq               bigint,
    last_xid               xid8,
    entries_claimed        bigint NOT NULL DEFAULT 0,
    entries_notifiable     bigint NOT NULL DEFAULT 0,
    pairs_matched          bigint NOT NULL DEFAULT 0,
    digests_queued         bigint NOT NULL DEFAULT 0,
    skipped_unverified     bigint NOT NULL DEFAULT 0,
    skipped_suppressed     bigint NOT NULL DEFAULT 0,
    dropped_voided         bigint NOT NULL DEFAULT 0,
    dropped_confidential   bigint NOT NULL DEFAULT 0,
    dropped_excluded_court bigint NOT NULL DEFAULT 0,
    dropped_excluded_type  bigint NOT NULL DEFAULT 0
);

-- seq is the arrival order; run_id is set when a batch run claims the entry.
--
-- A sequence value is drawn when a row is inserted but becomes visible only when its
-- transaction commits, so under concurrent writers a lower seq can commit after a higher one
-- has been claimed. inserted_xid (the inserting transaction, 64-bit so it never wraps) makes
-- the claim safe: a run claims only unclaimed entries whose transaction is older than
-- pg_snapshot_xmin(pg_current_snapshot()), in (inserted_xid, seq) order. Every transaction
-- below that xmin has ended, and any entry inserted later carries an xid at or above it, so
-- nothing can ever appear before the last (inserted_xid, seq) a run claimed: that pair is a
-- true watermark, without serialising the writers. The cost: a long-running writing
-- transaction anywhere in the cluster holds claims back until it ends (the lag metric shows it).
CREATE TABLE docket_entries (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inserted_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    entry_id     text NOT NULL UNIQUE,
    case_number  text NOT NULL REFERENCES cases (case_number),
    code         text NOT NULL,
    description  text NOT NULL,
    text         text NOT NULL,
    filed_by     text NOT NULL,
    posted_at    timestamptz NOT NULL,
    voided_at    timestamptz,
    run_id       bigint REFERENCES runs (run_id)
);
CREATE INDEX docket_entries_unclaimed ON docket_entries (inserted_xid, seq) WHERE run_id IS NULL;
CREATE INDEX docket_entries_by_run ON docket_entries (run_id, case_number);

CREATE TABLE accounts (
    account_id     text PRIMARY KEY,
    email          text NOT NULL,
    email_verified boolean NOT NULL
);

CREATE TABLE subscriptions (
    subscription_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts (account_id),
    case_number     text NOT NULL REFERENCES cases (case_number),
    tracked_at      timestamptz NOT NULL,
    stopped_at      timestamptz,
    UNIQUE (account_id, case_number, tracked_at)
);
CREATE INDEX subscriptions_by_case ON subscriptions (case_number, account_id);

-- The position the finished runs have reached: (last_xid, last_seq) of the last entry claimed
-- (see docket_entries); last_seq alone is what status shows.
CREATE TABLE watermark (
    id       integer PRIMARY KEY CHECK (id = 1),
    last_seq bigint NOT NULL,
    last_xid xid8 NOT NULL DEFAULT '0'
);
INSERT INTO watermark (id, last_seq) VALUES (1, 0);

-- Messages to send. A message is 'queued' until the transport accepts it ('sent'), it fails
-- permanently or outlives its retry lifetime ('dead'), or its address is suppressed
-- ('cancelled'). A worker holds a lease on the messages it is sending; an expired lease makes
-- the message due again. Workers on several hosts claim due rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE outbox (
    outbox_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES runs (run_id),
    account_id      text NOT NULL REFERENCES accounts (account_id),
    recipient       text NOT NULL,
    envelope_from   text NOT NULL,
    message_id      text NOT NULL UNIQUE,
    subject         text NOT NULL,
    state           text NOT NULL CHECK (state IN ('queued', 'sent', 'dead', 'cancelled')),
    created_at      timestamptz NOT NULL,
    -- Retries give up this long after lifetime_from (queued, or requeued by an operator).
    lifetime_from   timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        bigint NOT NULL DEFAULT 0,
    lease_owner     text,
    lease_until     timestamptz,
    last_error      text,
    -- Set when a receiving server refused us on policy grounds (5.7.x): operators should look.
    policy_flag     boolean NOT NULL DEFAULT false,
    finished_at     timestamptz
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, outbox_id);

-- The message itself, apart: the outbox row changes with every claim and attempt, and every
-- update writes a new row version; the body stays put here (and out of line, in TOAST).
CREATE TABLE outbox_bodies (
    outbox_id bigint PRIMARY KEY REFERENCES outbox (outbox_id),
    raw       bytea NOT NULL
);
CREATE INDEX outbox_by_recipient ON outbox (lower(recipient), state);
CREATE INDEX outbox_by_envelope ON outbox (envelope_from);

-- Every delivery attempt and what the server said.
CREATE TABLE delivery_attempts (
    outbox_id   bigint NOT NULL REFERENCES outbox (outbox_id),
    attempt     bigint NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent', 'policy')),
    reply_code  bigint,
    status      text,
    detail      text NOT NULL,
    PRIMARY KEY (outbox_id, attempt)
);

-- Bounce evidence: failures at send time and bounce mails received later.
CREATE TABLE bounce_mails (
    bounce_mail_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at    timestamptz NOT NULL,
    source         text NOT NULL,
    raw            bytea NOT NULL,
    matched        boolean NOT NULL
);

CREATE TABLE bounces (
    bounce_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    email          text NOT NULL,
    verdict        text NOT NULL CONSTRAINT bounces_verdict_check
        CHECK (verdict IN ('hard', 'soft', 'policy', 'complaint', 'auto-reply', 'delivered')),
    status         text,
    detail         text NOT NULL,
    outbox_id      bigint REFERENCES outbox (outbox_id),
    bounce_mail_id bigint REFERENCES bounce_mails (bounce_mail_id)
);
CREATE INDEX bounces_by_email ON bounces (email, at);

-- Addresses that must receive nothing, with why.
CREATE TABLE suppressions (
    email      text PRIMARY KEY,
    reason     text NOT NULL CHECK (reason IN ('hard-bounce', 'complaint', 'soft-bounces')),
    evidence   text NOT NULL,
    created_at timestamptz NOT NULL
);

-- Every (account, entry) pair ever put in a digest: the exactly-once guarantee.
CREATE TABLE notification_ledger (
    account_id text NOT NULL,
    entry_seq  bigint NOT NULL REFERENCES docket_entries (seq),
    outbox_id  bigint NOT NULL REFERENCES outbox (outbox_id),
    PRIMARY KEY (account_id, entry_seq)
);
-- A message's pairs (withholding, resuming a run, the views): PostgreSQL makes no index
-- on the fly, so the lookup by message gets its own.
CREATE INDEX notification_ledger_by_outbox ON notification_ledger (outbox_id);

-- Closures of the service beyond the weekly window (the "System Unavailability Log").
CREATE TABLE outages (
    outage_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason     text NOT NULL,
    created_at timestamptz NOT NULL,
    -- Outages never overlap, whoever adds them ([starts_at, ends_at): one may end where the
    -- next starts).
    CONSTRAINT outages_never_overlap
        EXCLUDE USING gist (tstzrange(starts_at, ends_at) WITH &&)
);
CREATE INDEX outages_by_time ON outages (starts_at, ends_at);

-- Who leads the batch, as status and health show it. On PostgreSQL the lease itself is a
-- session-level advisory lock held by the leader's connection (see src/store/postgres/leases.rs):
-- it ends with the leader's session, so this row says who holds it, not whether anyone does.
CREATE TABLE batch_lease (
    id         integer PRIMARY KEY CHECK (id = 1),
    holder     text NOT NULL,
    host       text NOT NULL,
    pid        bigint NOT NULL,
    since      timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
