-- What every run so far has done, summed: the batch counters of the metrics. Only finished runs
-- carry their figures; a run in progress counts its claim alone.
SELECT COALESCE(SUM(entries_claimed), 0)        AS entries_claimed,
       COALESCE(SUM(entries_notifiable), 0)     AS entries_notifiable,
       COALESCE(SUM(dropped_voided), 0)         AS dropped_voided,
       COALESCE(SUM(dropped_confidential), 0)   AS dropped_confidential,
       COALESCE(SUM(dropped_excluded_court), 0) AS dropped_excluded_court,
       COALESCE(SUM(dropped_excluded_type), 0)  AS dropped_excluded_type,
       COALESCE(SUM(pairs_matched), 0)          AS pairs_matched,
       COALESCE(SUM(digests_queued), 0)         AS digests_queued,
       COALESCE(SUM(skipped_unverified), 0)     AS skipped_unverified,
       COALESCE(SUM(skipped_suppressed), 0)     AS skipped_suppressed,
       COALESCE(SUM(accounts_held), 0)          AS accounts_held
FROM runs
