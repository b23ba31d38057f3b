//! The PostgreSQL schema: migrations apply on a fresh database, once, however many processes
//! start at the same moment, and install the built-in courts; the server's errors are sorted
//! into data refused and work a retry may finish.

mod common;

use common::postgres::TestDatabase;
use mcap_notify::store::prelude::*;
use mcap_notify::store::PgStore;

async fn store(db: &TestDatabase) -> PgStore {
    PgStore::connect(&db.url, 4, std::time::Duration::from_secs(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn stores_starting_together_migrate_once_and_install_the_courts() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (store(&db).await, store(&db).await);
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(a.pool())
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/postgres"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".sql")
        })
        .count();
    assert_eq!(applied as usize, files);
    let courts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM courts WHERE mcap")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(courts as usize, mcap_notify::circuits::CIRCUITS.len());
}

/// Errors the server really gives, sorted as the stages need them: what a write holds (set
/// it aside, do not retry) apart from what a retry may cure.
#[tokio::test]
async fn the_servers_errors_are_told_apart_by_what_a_retry_can_do() {
    use mcap_notify::store::StoreError;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let migrated = store(&db).await;
    migrated.migrate().await.unwrap();
    let pool = migrated.pool().clone();
    let error = |e: sqlx::Error| StoreError::from(e);
    // A NUL byte, which no PostgreSQL text can hold (SQLSTATE 22021).
    let nul = sqlx::query("SELECT $1::text")
        .bind("a\0b")
        .execute(&pool)
        .await
        .map_err(error)
        .unwrap_err();
    // A duplicate key (23505).
    let twice = sqlx::query("INSERT INTO courts (court_id, name, mcap) VALUES ('CT16', 'x', true)")
        .execute(&pool)
        .await
        .map_err(error)
        .unwrap_err();
    // A row lock another transaction holds past lock_timeout (55P03).
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM courts WHERE court_id = 'CT16' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let mut waiter = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL lock_timeout = '50ms'")
        .execute(&mut *waiter)
        .await
        .unwrap();
    let locked = sqlx::query("SELECT 1 FROM courts WHERE court_id = 'CT16' FOR UPDATE")
        .execute(&mut *waiter)
        .await
        .map_err(error)
        .unwrap_err();
    drop(waiter);
    drop(holder);
    // A connection that cannot be made is neither.
    let unreachable = sqlx::PgPool::connect("postgres://root@127.0.0.1:1/none")
        .await
        .map_err(error)
        .unwrap_err();
    let sorted: Vec<(bool, bool)> = [&nul, &twice, &locked, &unreachable]
        .iter()
        .map(|e| (e.is_about_the_data(), e.is_busy()))
        .collect();
    assert_eq!(
        sorted,
        [(true, false), (true, false), (false, true), (false, false)],
        "{nul}\n{twice}\n{locked}\n{unreachable}"
    );
}
