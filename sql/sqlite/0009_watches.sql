-- Party watches: an account's standing search for a name among the parties of new cases, the
-- parties as they arrive (a case filed, a party added), and every match, which is the
-- exactly-once ledger of new-case notices.

-- A watch as the watches feed last gave it. Lists are JSON arrays of text ('[]': any).
CREATE TABLE watches (
    watch_id      TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (account_id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('person', 'organisation')),
    circuits      TEXT NOT NULL,
    case_types    TEXT NOT NULL,
    roles         TEXT NOT NULL,
    nicknames     INTEGER NOT NULL CHECK (nicknames IN (0, 1)),
    auto_track    INTEGER NOT NULL CHECK (auto_track IN (0, 1)),
    started_at    INTEGER NOT NULL,
    stopped_at    INTEGER,
    -- Set by the noise guard: the watch matched more than watches.max_matches_per_day cases
    -- filed on one day. A changed watch line clears it.
    paused_at     INTEGER,
    paused_reason TEXT,
    -- The message that told the owner of the pause.
    pause_outbox_id INTEGER REFERENCES outbox (outbox_id),
    -- Stopped by its owner from a message's unsubscribe link: it matches nothing more and
    -- what it matched is not told.
    unsubscribed_at INTEGER
);
CREATE INDEX watches_by_account ON watches (account_id);

-- Each party as it first appeared on a case: with the case when it was filed (at its filing
-- time), or added to an existing case later (at the time the cases feed brought it).
-- matched_at is set once the watches have been matched against it.
CREATE TABLE party_arrivals (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    case_number TEXT NOT NULL REFERENCES cases (case_number),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    arrived_at  INTEGER NOT NULL,
    matched_at  INTEGER
);
CREATE INDEX party_arrivals_unmatched ON party_arrivals (seq) WHERE matched_at IS NULL;

-- Every case a watch matched: one per (account, watch, case), ever. outbox_id is the message
-- that told it, NULL while it waits for the next digest.
CREATE TABLE watch_matches (
    account_id  TEXT NOT NULL,
    watch_id    TEXT NOT NULL REFERENCES watches (watch_id),
    case_number TEXT NOT NULL REFERENCES cases (case_number),
    party_name  TEXT NOT NULL,
    party_role  TEXT NOT NULL,
    why         TEXT NOT NULL,
    -- The local day (calendar zone) the party arrived, which the noise guard counts by.
    match_day   TEXT NOT NULL,
    matched_at  INTEGER NOT NULL,
    auto_tracked INTEGER NOT NULL CHECK (auto_tracked IN (0, 1)),
    outbox_id   INTEGER REFERENCES outbox (outbox_id),
    PRIMARY KEY (account_id, watch_id, case_number)
);
CREATE INDEX watch_matches_waiting ON watch_matches (account_id) WHERE outbox_id IS NULL;
CREATE INDEX watch_matches_by_day ON watch_matches (watch_id, match_day);
-- Withholding and the check before each send look a message's notices up by it.
CREATE INDEX watch_matches_by_outbox ON watch_matches (outbox_id);

-- The watches each queued message's unsubscribe link stops (its scope key, as for
-- unsubscribe_scopes).
CREATE TABLE unsubscribe_watch_scopes (
    scope_key  TEXT NOT NULL,
    watch_id   TEXT NOT NULL REFERENCES watches (watch_id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope_key, watch_id)
);

-- Where a tracking period came from: NULL for the subscriptions feed, `watch:ID` for a party
-- watch's auto_track.
ALTER TABLE subscriptions ADD COLUMN source TEXT;
