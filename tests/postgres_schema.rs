//! The PostgreSQL schema: migrations apply on a fresh database, once, however many processes
//! start at the same moment, and install the built-in courts.

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
