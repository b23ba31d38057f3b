-- What operators review: per-stage run times, batch attempts that did not finish, the last
-- success of each job, and event counters that the rows alone cannot give (attempts are pruned,
-- dead letters requeued, suppressions lifted).

-- Milliseconds per stage of the attempt that finished the run.
ALTER TABLE runs ADD COLUMN snapshot_ms bigint;
ALTER TABLE runs ADD COLUMN filter_ms bigint;
ALTER TABLE runs ADD COLUMN match_render_ms bigint;
ALTER TABLE runs ADD COLUMN commit_ms bigint;

-- A batch attempt that did not finish: failed (an error) or interrupted (a stop was asked for,
-- or the process died and a later run resumed the range). run_id is NULL when the attempt
-- failed before it opened a run.
CREATE TABLE run_failures (
    failure_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     bigint REFERENCES runs (run_id),
    at         timestamptz NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('failed', 'interrupted')),
    error      text NOT NULL
);
CREATE INDEX run_failures_by_run ON run_failures (run_id);
CREATE INDEX run_failures_by_time ON run_failures (at);

-- When each job last finished a pass without an error (a batch run done or skipped because the
-- service is closed; a delivery pass, whatever it sent).
CREATE TABLE job_successes (
    job             text PRIMARY KEY CHECK (job IN ('batch', 'deliver')),
    last_success_at timestamptz NOT NULL
);

-- Event counters, only ever increased, in the transaction that records the event.
-- name: messages_sent, delivery_failures (label: transient, permanent, policy), messages_dead,
-- bounces (label: the verdict), suppressions (label: the reason).
CREATE TABLE counter_totals (
    name  text NOT NULL,
    label text NOT NULL DEFAULT '',
    value bigint NOT NULL DEFAULT 0 CHECK (value >= 0),
    PRIMARY KEY (name, label)
);

-- SQLite backfills these from an older database; a PostgreSQL database starts empty, with the
-- same two counters at zero that SQLite's backfill leaves on an empty one.
INSERT INTO counter_totals (name, label, value) VALUES ('messages_sent', '', 0), ('messages_dead', '', 0);
