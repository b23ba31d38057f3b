-- What every run so far has done, summed: the batch counters of the metrics. Only finished runs
-- carry their figures; a run in progress counts its claim alone. (SUM of bigint is numeric in
-- PostgreSQL: each sum is cast back to bigint.)
SELECT COALESCE(SUM(entries_claimed), 0)::bigint        AS entries_claimed,
       COALESCE(SUM(entries_notifiable), 0)::bigint     AS entries_notifiable,
       COALESCE(SUM(dropped_voided), 0)::bigint         AS dropped_voided,
       COALESCE(SUM(dropped_confidential), 0)::bigint   AS dropped_confidential,
       COALESCE(SUM(dropped_excluded_court), 0)::bigint AS dropped_excluded_court,
       COALESCE(SUM(dropped_excluded_type), 0)::bigint  AS dropped_excluded_type,
       COALESCE(SUM(pairs_matched), 0)::bigint          AS pairs_matched,
       COALESCE(SUM(digests_queued), 0)::bigint         AS digests_queued,
       COALESCE(SUM(skipped_unverified), 0)::bigint     AS skipped_unverified,
       COALESCE(SUM(skipped_suppressed), 0)::bigint     AS skipped_suppressed,
       COALESCE(SUM(accounts_held), 0)::bigint          AS accounts_held
FROM runs
