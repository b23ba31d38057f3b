-- Unsubscribes: stops asked for by the recipient (the one-click link, the page behind it, or a
-- mail to the List-Unsubscribe mailto), apart from the stops the subscriptions feed brings.

-- The subscriptions each queued message reported, by the message's key (the part of its
-- Message-ID that names it): a message's unsubscribe token names the key, not the list, so it
-- stays short however many cases a digest covers. Pruned with the message bodies.
CREATE TABLE unsubscribe_scopes (
    scope_key       text NOT NULL,
    subscription_id bigint NOT NULL REFERENCES subscriptions (subscription_id),
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (scope_key, subscription_id)
);
CREATE INDEX unsubscribe_scopes_by_age ON unsubscribe_scopes (created_at);

-- One row per subscription its recipient stopped: when, how (`source`) and on what evidence
-- (the key that signed the token, the mail that carried it). A subscription stopped here gets
-- nothing more, not even for entries posted before the stop; its `stopped_at` is set too, so
-- the feed can start a new tracking period later. `subscriptions export` reads this table.
CREATE TABLE unsubscribes (
    subscription_id bigint PRIMARY KEY REFERENCES subscriptions (subscription_id),
    stopped_at      timestamptz NOT NULL,
    source          text NOT NULL CHECK (source IN ('one-click', 'web-page', 'mail')),
    evidence        text NOT NULL
);
CREATE INDEX unsubscribes_by_time ON unsubscribes (stopped_at);

-- The ledger's pairs that may no longer be sent, with why: their entry is not notifiable, or
-- every subscription of the account that covered the entry was stopped by its recipient.
CREATE VIEW ledger_pairs_not_notifiable AS
SELECT l.outbox_id, l.entry_seq, n.reason
FROM notification_ledger l
JOIN entries_not_notifiable n ON n.seq = l.entry_seq
WHERE l.withheld_reason IS NULL
UNION ALL
SELECT l.outbox_id, l.entry_seq, 'unsubscribed'
FROM notification_ledger l
JOIN docket_entries e ON e.seq = l.entry_seq
WHERE l.withheld_reason IS NULL
  AND NOT EXISTS (SELECT 1 FROM entries_not_notifiable n WHERE n.seq = l.entry_seq)
  AND EXISTS (SELECT 1 FROM subscriptions s JOIN unsubscribes u USING (subscription_id)
              WHERE s.account_id = l.account_id AND s.case_number = e.case_number)
  AND NOT EXISTS (SELECT 1 FROM subscriptions s
                  WHERE s.account_id = l.account_id AND s.case_number = e.case_number
                    AND s.tracked_at <= e.posted_at
                    AND (s.stopped_at IS NULL OR s.stopped_at > e.posted_at)
                    AND NOT EXISTS (SELECT 1 FROM unsubscribes u
                                    WHERE u.subscription_id = s.subscription_id));
