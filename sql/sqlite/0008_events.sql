-- Court dates: hearings and payment deadlines from the events feed, every version of each, and
-- the date notices (reminders, change notices) put in a message: the exactly-once guarantee
-- for dates, as the notification ledger is for docket entries.

-- An event as it stands now. `version` grows by one with each change of time, place or status.
CREATE TABLE events (
    event_id    TEXT PRIMARY KEY NOT NULL,
    case_number TEXT NOT NULL REFERENCES cases (case_number),
    kind        TEXT NOT NULL CHECK (kind IN ('hearing', 'payment_due')),
    title       TEXT NOT NULL,
    starts_at   INTEGER NOT NULL,
    location    TEXT NOT NULL,
    judge       TEXT NOT NULL,
    bring       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
    version     INTEGER NOT NULL CHECK (version >= 1),
    changed_at  INTEGER NOT NULL
);
CREATE INDEX events_by_start ON events (starts_at);
CREATE INDEX events_by_case ON events (case_number);

-- Each version's time, place and status, so that a change notice can say what it was.
CREATE TABLE event_versions (
    event_id    TEXT NOT NULL REFERENCES events (event_id),
    version     INTEGER NOT NULL,
    starts_at   INTEGER NOT NULL,
    location    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (event_id, version)
);

-- Every date notice ever put in a message: a reminder `days` before the event, or the notice
-- of a change (`days` 0), for one version of the event.
CREATE TABLE date_notices (
    account_id      TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (event_id),
    version         INTEGER NOT NULL,
    notice          TEXT NOT NULL CHECK (notice IN ('reminder', 'change')),
    days            INTEGER NOT NULL,
    outbox_id       INTEGER NOT NULL REFERENCES outbox (outbox_id),
    withheld_reason TEXT,
    PRIMARY KEY (account_id, event_id, version, notice, days)
);
CREATE INDEX date_notices_by_outbox ON date_notices (outbox_id);
