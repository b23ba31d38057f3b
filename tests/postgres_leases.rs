//! The batch lease on PostgreSQL: the same answers as on SQLite within one process, and across
//! processes an advisory lock that ends with its holder's session, so another daemon takes over
//! at once when the leader dies, and the dead leader's renewals fail.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::postgres::TestDatabase;
use mcap_notify::store::prelude::*;
use mcap_notify::store::{LeaseInfo, PgStore, SqliteStore, StoreError};

async fn pg_store(db: &TestDatabase) -> PgStore {
    let store = PgStore::connect(&db.url, 4, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, minute, 0).unwrap()
}

fn lease(holder: &str, host: &str, now: DateTime<Utc>) -> LeaseInfo {
    LeaseInfo {
        holder: holder.to_string(),
        host: host.to_string(),
        pid: 4242,
        since: now,
        expires_at: now + Duration::minutes(5),
    }
}

/// What a backend answers to one sequence of calls.
#[derive(Debug, PartialEq)]
struct Answers {
    first: Result<(), LeaseInfo>,
    again_by_holder: Result<(), LeaseInfo>,
    other_refused: Result<(), LeaseInfo>,
    renewed: bool,
    renewed_by_other: bool,
    other_after_release: Result<(), LeaseInfo>,
    renewed_after_release: bool,
}

async fn scenario(store: &impl LeaseStore) -> Result<Answers, StoreError> {
    let a = lease("a", "host-a", at(0));
    let b = lease("b", "host-b", at(1));
    let first = store.acquire_batch_lease(&a, at(0)).await?;
    let again_by_holder = store.acquire_batch_lease(&a, at(1)).await?;
    let other_refused = store.acquire_batch_lease(&b, at(1)).await?;
    let renewed = store.renew_batch_lease("a", at(8)).await?;
    let renewed_by_other = store.renew_batch_lease("b", at(8)).await?;
    store.release_batch_lease("a").await?;
    let other_after_release = store.acquire_batch_lease(&b, at(2)).await?;
    let renewed_after_release = store.renew_batch_lease("a", at(9)).await?;
    store.release_batch_lease("b").await?;
    Ok(Answers {
        first,
        again_by_holder,
        other_refused,
        renewed,
        renewed_by_other,
        other_after_release,
        renewed_after_release,
    })
}

#[tokio::test]
async fn the_lease_answers_as_on_sqlite() {
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
    assert_eq!(got.other_refused, Err(lease("a", "host-a", at(0))));
}

/// The backend process of the session holding the batch lock on the store's database, if any
/// (advisory locks are per database).
async fn lock_session(store: &PgStore) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND classid::bigint = x'6d636170'::bigint AND objid::bigint = x'62617463'::bigint
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_optional(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn another_daemon_takes_over_as_soon_as_the_leader_dies() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (leader, follower) = (pg_store(&db).await, pg_store(&db).await);
    // Times a microsecond-precise column keeps as they are.
    let a = lease("a", "host-a", at(0));
    let b = lease("b", "host-b", at(1));
    leader
        .acquire_batch_lease(&a, Utc::now())
        .await
        .unwrap()
        .unwrap();
    // The lease's expiry does not matter: the lock does.
    let refused = follower
        .acquire_batch_lease(&b, Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(refused, Err(a.clone()));
    assert!(leader
        .renew_batch_lease("a", Utc::now() + Duration::minutes(5))
        .await
        .unwrap());

    // The leader's session dies (its host is gone, or the server ended it): waiting for the
    // backend to exit means the lock is free when this returns.
    let pid = lock_session(&leader)
        .await
        .expect("the leader holds the lock");
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 10000)")
        .bind(pid)
        .fetch_one(follower.pool())
        .await
        .unwrap();
    assert!(ended);

    follower
        .acquire_batch_lease(&b, Utc::now())
        .await
        .unwrap()
        .expect("the follower takes over at once");
    let holder: String = sqlx::query_scalar("SELECT holder FROM batch_lease")
        .fetch_one(follower.pool())
        .await
        .unwrap();
    assert_eq!(holder, "b");
    // The dead leader is fenced off: its renewals fail, and its release leaves the new
    // leader's lease alone.
    assert!(!leader
        .renew_batch_lease("a", Utc::now() + Duration::minutes(5))
        .await
        .unwrap());
    leader.release_batch_lease("a").await.unwrap();
    assert!(follower
        .renew_batch_lease("b", Utc::now() + Duration::minutes(5))
        .await
        .unwrap());
    assert_eq!(
        leader
            .acquire_batch_lease(&a, Utc::now())
            .await
            .unwrap()
            .unwrap_err()
            .holder,
        "b"
    );
}

#[tokio::test]
async fn a_released_lease_frees_the_lock_and_clears_the_row() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (one, two) = (pg_store(&db).await, pg_store(&db).await);
    let a = lease("a", "host-a", Utc::now());
    one.acquire_batch_lease(&a, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert!(lock_session(&one).await.is_some());
    one.release_batch_lease("a").await.unwrap();
    assert_eq!(lock_session(&one).await, None);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM batch_lease")
        .fetch_one(one.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);
    two.acquire_batch_lease(&lease("b", "host-b", Utc::now()), Utc::now())
        .await
        .unwrap()
        .unwrap();
    // A lease row left by a leader whose session ended names nobody who holds the lock: the
    // next leader overwrites it.
    sqlx::query("UPDATE batch_lease SET holder = 'ghost', expires_at = now() + interval '1 day'")
        .execute(two.pool())
        .await
        .unwrap();
    two.release_batch_lease("b").await.unwrap();
    one.acquire_batch_lease(&a, Utc::now())
        .await
        .unwrap()
        .expect("the lock is free, whatever the row says");
}
