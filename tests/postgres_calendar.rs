//! Outages on PostgreSQL: the same answers as on SQLite, added all or nothing, and never
//! overlapping even when two processes add them at the same moment.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::postgres::TestDatabase;
use mcap_notify::model::{NewOutage, Outage};
use mcap_notify::store::prelude::*;
use mcap_notify::store::{PgStore, SqliteStore, StoreError};

async fn pg_store(db: &TestDatabase) -> PgStore {
    let store = PgStore::connect(&db.url, 4, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
}

fn outage(from: u32, to: u32, reason: &str) -> NewOutage {
    NewOutage {
        starts_at: at(from),
        ends_at: at(to),
        reason: reason.to_string(),
    }
}

/// An outage without its id: PostgreSQL does not take back the ids of a refused batch of
/// outages as SQLite does, so ids past a refusal differ.
type Stretch = (DateTime<Utc>, DateTime<Utc>, String);

fn stretches(outages: Vec<Outage>) -> Vec<Stretch> {
    outages
        .into_iter()
        .map(|o| (o.starts_at, o.ends_at, o.reason))
        .collect()
}

/// What a backend answers to one sequence of calls.
#[derive(Debug, PartialEq)]
struct Answers {
    added: Result<Vec<i64>, Outage>,
    refused: Result<Vec<i64>, Outage>,
    adjacent_added: Result<usize, Outage>,
    listed: Vec<Stretch>,
    removed: bool,
    removed_again: bool,
    left: Vec<Stretch>,
}

async fn scenario(store: &impl CalendarStore) -> Result<Answers, StoreError> {
    let now = at(1);
    let added = store
        .add_outages(&[outage(10, 12, "upgrade"), outage(14, 15, "network")], now)
        .await?;
    // The second overlaps the first outage: neither is added.
    let refused = store
        .add_outages(&[outage(16, 17, "fine"), outage(11, 13, "overlaps")], now)
        .await?;
    let adjacent_added = store
        .add_outages(&[outage(12, 14, "between, touching both")], now)
        .await?
        .map(|ids| ids.len());
    let listed = store.outages().await?;
    let first = listed[0].outage_id;
    Ok(Answers {
        added,
        refused,
        adjacent_added,
        listed: stretches(listed),
        removed: store.remove_outage(first).await?,
        removed_again: store.remove_outage(first).await?,
        left: stretches(store.outages().await?),
    })
}

#[tokio::test]
async fn outages_answer_as_on_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mcap.db").display());
    let sqlite = SqliteStore::connect(&url, 2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    let expected = scenario(&sqlite).await.unwrap();
    let got = scenario(&pg_store(&db).await).await.unwrap();
    assert_eq!(got, expected);
    assert_eq!(got.listed.len(), 3);
    assert_eq!(got.refused.unwrap_err().reason, "upgrade");
}

#[tokio::test]
async fn two_processes_adding_overlapping_outages_at_once_add_one() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (pg_store(&db).await, pg_store(&db).await);
    for round in 0..10u32 {
        let hour = round * 2;
        let (from_a, from_b) = (
            [outage(hour, hour + 2, "from a")],
            [outage(hour + 1, hour + 2, "from b")],
        );
        let (ra, rb) = tokio::join!(a.add_outages(&from_a, at(0)), b.add_outages(&from_b, at(0)),);
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(
            ra.is_ok() != rb.is_ok(),
            "exactly one of two overlapping outages is added: {ra:?} {rb:?}"
        );
        let winner = match (&ra, &rb) {
            (Ok(ids), Err(clash)) | (Err(clash), Ok(ids)) => {
                assert_eq!(vec![clash.outage_id], *ids);
                ids[0]
            }
            _ => unreachable!(),
        };
        let stored = a.outages().await.unwrap();
        assert_eq!(stored.len() as u32, round + 1);
        assert!(stored.iter().any(|o| o.outage_id == winner));
    }
}

#[tokio::test]
async fn the_table_refuses_an_overlap_whoever_writes_it() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = pg_store(&db).await;
    store
        .add_outages(&[outage(10, 12, "upgrade")], at(0))
        .await
        .unwrap()
        .unwrap();
    let direct = sqlx::query(
        "INSERT INTO outages (starts_at, ends_at, reason, created_at) VALUES ($1, $2, 'x', $1)",
    )
    .bind(at(11))
    .bind(at(13))
    .execute(store.pool())
    .await
    .unwrap_err();
    assert!(
        direct.to_string().contains("outages_never_overlap"),
        "{direct}"
    );
}
