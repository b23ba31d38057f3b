-- Court dates: hearings and payment deadlines from the events feed, every version of each, and
-- the date notices (reminders, change notices) put in a message: the exactly-once guarantee
-- for dates, as the notification ledger is for docket entries.

-- An event as it stands now. `version` grows by one with each change of time, place or status.
CREATE TABLE events (
    event_id    text PRIMARY KEY,
    case_number text NOT NULL REFERENCES cases (case_number),
    kind        text NOT NULL CHECK (kind IN ('hearing', 'payment_due')),
    title       text NOT NULL,
    starts_at   timestamptz NOT NULL,
    location    text NOT NULL,
    judge       text NOT NULL,
    bring       text NOT NULL,
    status      text NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
    version     bigint NOT NULL CHECK (version >= 1),
    changed_at  timestamptz NOT NULL
);
CREATE INDEX events_by_start ON events (starts_at);
CREATE INDEX events_by_case ON events (case_number);

-- Each version's time, place and status, so that a change notice can say what it was.
CREATE TABLE event_versions (
    event_id    text NOT NULL REFERENCES events (event_id),
    version     bigint NOT NULL,
    starts_at   timestamptz NOT NULL,
    location    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, version)
);

-- Every date notice ever put in a message: a reminder `days` before the event, or the notice
-- of a change (`days` 0), for one version of the event.
CREATE TABLE date_notices (
    account_id      text NOT NULL,
    event_id        text NOT NULL REFERENCES events (event_id),
    version         bigint NOT NULL,
    notice          text NOT NULL CHECK (notice IN ('reminder', 'change')),
    days            bigint NOT NULL,
    outbox_id       bigint NOT NULL REFERENCES outbox (outbox_id),
    withheld_reason text,
    PRIMARY KEY (account_id, event_id, version, notice, days)
);
CREATE INDEX date_notices_by_outbox ON date_notices (outbox_id);
