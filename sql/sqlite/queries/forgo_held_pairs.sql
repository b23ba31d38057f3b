-- Deletes the held pairs no run would queue again, so that none waits forever: those whose
-- entry may no longer be notified (voided, case sealed, court left MCAP or excluded the case
-- type), those no active subscription of the account covers any more (stopped, unsubscribed),
-- and those of an account that is unverified or whose address is suppressed. A run skips such
-- pairs when they are new, and these go the same way.
DELETE FROM held_pairs
WHERE EXISTS (SELECT 1 FROM entries_not_notifiable n WHERE n.seq = held_pairs.entry_seq)
   OR NOT EXISTS (SELECT 1 FROM docket_entries e
                  JOIN subscriptions s ON s.case_number = e.case_number
                  WHERE e.seq = held_pairs.entry_seq AND s.account_id = held_pairs.account_id
                    AND s.tracked_at <= e.posted_at
                    AND (s.stopped_at IS NULL OR s.stopped_at > e.posted_at)
                    AND NOT EXISTS (SELECT 1 FROM unsubscribes u
                                    WHERE u.subscription_id = s.subscription_id))
   OR NOT EXISTS (SELECT 1 FROM accounts a
                  WHERE a.account_id = held_pairs.account_id
                    AND a.email_verified = 1
                    AND NOT EXISTS (SELECT 1 FROM suppressions sp
                                    WHERE sp.email = lower(a.email)))
