-- When a queued reminder is late: the start of the local day after its own. A message still
-- queued then is withheld rather than sent after the reminder's day. NULL for a change notice
-- alone, and for the notices queued before this column.
ALTER TABLE date_notices ADD COLUMN late_at timestamptz;
