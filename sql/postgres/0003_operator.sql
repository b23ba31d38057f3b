-- A stretch of consecutive skipped ticks with the same reason is kept as one row: `ticks` counts
-- them, `started_at` is the first and `finished_at` the last. Every other run is one tick.
ALTER TABLE runs ADD COLUMN ticks bigint NOT NULL DEFAULT 1;
