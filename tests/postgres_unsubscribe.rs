//! Unsubscribes on PostgreSQL: what a link stops, the stop itself and the stops read back, on
//! a fixture loaded by plain SQL, with the same scenario run on SQLite giving the same values;
//! and stops of the same subscription made at once by two processes.

mod common;

use common::backends::{self, at, Tables};
use common::postgres::TestDatabase;
use mcap_notify::store::prelude::*;
use mcap_notify::store::{StopSource, Unsubscribed};

/// Account a1 followed C-1 once (a period the feed ended) and follows it again, and follows
/// C-2; a2 follows C-1. One queued digest for each account reports their C-1 entry; a1's also
/// reports its C-2 entry.
const FIXTURE: &str = "
INSERT INTO courts (court_id, name, mcap) VALUES ('tc', 'Test Court', true);
INSERT INTO cases (case_number, court_id, case_type, caption, filed_at, confidential) VALUES
    ('C-1', 'tc', 'civil', 'A v B', ts(2026-01-01T00:00:00Z), false),
    ('C-2', 'tc', 'civil', 'C v D', ts(2026-01-01T00:00:00Z), false);
INSERT INTO accounts (account_id, email, email_verified) VALUES
    ('a1', 'a1@example.org', true), ('a2', 'a2@example.org', true);
INSERT INTO subscriptions (account_id, case_number, tracked_at, stopped_at) VALUES
    ('a1', 'C-1', ts(2026-01-01T00:00:00Z), ts(2026-01-03T00:00:00Z)),
    ('a1', 'C-1', ts(2026-01-04T00:00:00Z), NULL),
    ('a2', 'C-1', ts(2026-01-01T00:00:00Z), NULL),
    ('a1', 'C-2', ts(2026-01-01T00:00:00Z), NULL);
INSERT INTO runs (status, started_at, finished_at, first_seq, last_seq) VALUES
    ('done', ts(2026-01-05T10:00:00Z), ts(2026-01-05T10:00:05Z), 1, 2);
INSERT INTO docket_entries (entry_id, case_number, code, description, text, filed_by,
                            posted_at, run_id) VALUES
    ('e1', 'C-1', 'ORD', 'Order', 'text', 'Court', ts(2026-01-05T09:00:00Z), 1),
    ('e2', 'C-2', 'ORD', 'Order', 'text', 'Court', ts(2026-01-05T09:30:00Z), 1);
INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id, subject, state,
                    created_at, lifetime_from, next_attempt_at) VALUES
    (1, 'a1', 'a1@example.org', 'b@example.org', 'm1', 'Digest 1', 'queued',
     ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z)),
    (1, 'a2', 'a2@example.org', 'b@example.org', 'm2', 'Digest 2', 'queued',
     ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z));
INSERT INTO notification_ledger (account_id, entry_seq, outbox_id) VALUES
    ('a1', 1, 1), ('a1', 2, 1), ('a2', 1, 2);
INSERT INTO unsubscribe_scopes (scope_key, subscription_id, created_at) VALUES
    ('k1', 2, ts(2026-01-05T10:00:05Z)), ('k1', 4, ts(2026-01-05T10:00:05Z)),
    ('k2', 3, ts(2026-01-05T10:00:05Z));
";

/// Later than the clock of any machine running the tests, so the stamp is this instant on
/// both backends (a stop is stamped no earlier than the database's or the host's clock).
const STOP_AT: &str = "2099-01-06T00:00:00Z";

async fn scenario<S: UnsubscribeStore>(store: &S, tables: Tables<'_>) -> Vec<String> {
    let mut seen = Vec::new();
    tables.load(FIXTURE).await;

    assert_eq!(store.message_scope("k1").await.unwrap(), [2, 4]);
    assert!(store.message_scope("nothing").await.unwrap().is_empty());

    // A link from the ended period stops the current one.
    let targets = store.unsubscribe_targets(&[1, 4]).await.unwrap();
    let ids: Vec<(i64, &str)> = targets
        .iter()
        .map(|t| (t.subscription_id, t.case_number.as_str()))
        .collect();
    assert_eq!(ids, [(2, "C-1"), (4, "C-2")]);
    assert_eq!(targets[0].court_name, "Test Court");
    assert_eq!(targets[0].email, "a1@example.org");
    assert_eq!(targets[0].unsubscribed_at, None);
    seen.push(format!("{targets:?}"));

    let done = store
        .unsubscribe(&[2], StopSource::OneClick, "key k1", at(STOP_AT))
        .await
        .unwrap();
    assert_eq!(
        done,
        Unsubscribed {
            stopped: 1,
            already: 0,
            messages_withheld: 1
        }
    );
    // a1's digest is withheld; its C-2 pair waits for the next run; a2's digest goes.
    let outbox = tables
        .pairs("SELECT outbox_id, state FROM outbox ORDER BY outbox_id")
        .await;
    assert_eq!(outbox, [(1, "cancelled".into()), (2, "queued".into())]);
    let held = tables
        .pairs("SELECT entry_seq, account_id FROM held_pairs ORDER BY entry_seq")
        .await;
    assert_eq!(held, [(2, "a1".into())]);
    let ledger = tables
        .pairs(
            "SELECT entry_seq, account_id || ':' || COALESCE(withheld_reason, '')
             FROM notification_ledger ORDER BY entry_seq, account_id",
        )
        .await;
    assert_eq!(ledger, [(1, "a1:unsubscribed".into()), (1, "a2:".into())]);
    let counted = tables
        .pairs("SELECT value, label FROM counter_totals WHERE name = 'unsubscribes'")
        .await;
    assert_eq!(counted, [(1, "one-click".into())]);
    seen.push(format!("{:?}", (outbox, held, ledger, counted)));

    // Asked again: already stopped, nothing more happens.
    let again = store
        .unsubscribe(&[2], StopSource::WebPage, "page", at(STOP_AT))
        .await
        .unwrap();
    assert_eq!(
        again,
        Unsubscribed {
            stopped: 0,
            already: 1,
            messages_withheld: 0
        }
    );
    let targets = store.unsubscribe_targets(&[1]).await.unwrap();
    assert_eq!(targets[0].unsubscribed_at, Some(at(STOP_AT)));
    seen.push(format!("{targets:?}"));

    let stops = store.unsubscribes_since(None).await.unwrap();
    assert_eq!(stops.len(), 1);
    assert_eq!(
        (
            stops[0].account_id.as_str(),
            stops[0].case_number.as_str(),
            stops[0].tracked_at,
            stops[0].stopped_at,
            stops[0].source.as_str(),
            stops[0].evidence.as_str()
        ),
        (
            "a1",
            "C-1",
            at("2026-01-04T00:00:00Z"),
            at(STOP_AT),
            "one-click",
            "key k1"
        )
    );
    assert_eq!(
        store.unsubscribes_since(Some(at(STOP_AT))).await.unwrap(),
        stops
    );
    assert!(store
        .unsubscribes_since(Some(at("2099-01-06T00:00:00.000001Z")))
        .await
        .unwrap()
        .is_empty());
    seen.push(format!("{stops:?}"));
    let stopped = tables
        .pairs("SELECT subscription_id, 'stopped' FROM subscriptions WHERE stopped_at IS NOT NULL ORDER BY 1")
        .await;
    assert_eq!(stopped, [(1, "stopped".into()), (2, "stopped".into())]);
    seen
}

#[tokio::test]
async fn unsubscribes_agree_with_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = backends::postgres(&db).await;
    let (lite, _dir) = backends::sqlite().await;
    let on_pg = scenario(&pg, Tables::Postgres(&pg)).await;
    let on_sqlite = scenario(&lite, Tables::Sqlite(&lite)).await;
    assert_eq!(on_pg, on_sqlite);
}

/// Two processes stopping overlapping subscriptions at once: each subscription is stopped once,
/// and the digests that reported them are withheld once.
#[tokio::test]
async fn stops_made_at_once_by_two_processes_stop_each_subscription_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let a = backends::postgres(&db).await;
    let b = backends::postgres(&db).await;
    Tables::Postgres(&a).load(FIXTURE).await;
    let now = at("2026-01-06T00:00:00Z");
    let (ra, rb) = tokio::join!(
        a.unsubscribe(&[2, 3], StopSource::OneClick, "a", now),
        b.unsubscribe(&[3, 2], StopSource::Mail, "b", now)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.stopped + rb.stopped, 2);
    assert_eq!(ra.already + rb.already, 2);
    assert_eq!(ra.messages_withheld + rb.messages_withheld, 2);
    let stops = a.unsubscribes_since(None).await.unwrap();
    assert_eq!(stops.len(), 2);
    // Stamped by the database's clock once the locks were held: never before `now`.
    assert!(stops.iter().all(|s| s.stopped_at >= now));
}
