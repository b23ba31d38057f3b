//! Both backends side by side for the PostgreSQL tests: a migrated SQLite store in a temporary
//! directory and a migrated PostgreSQL store on a fresh database, with fixtures written once in
//! plain SQL (`ts(2026-01-05T10:00:00Z)` stands for an instant, written as each backend stores
//! it) and loaded into either.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mcap_notify::store::prelude::*;
use mcap_notify::store::{PgStore, SqliteStore};

use super::postgres::TestDatabase;

/// A migrated SQLite store; the directory holds its file.
pub async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::connect(&url, 4, Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// A migrated PostgreSQL store on `db`.
pub async fn postgres(db: &TestDatabase) -> PgStore {
    let store = PgStore::connect(&db.url, 4, Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// Either backend's tables, for fixtures and for reading back the rows a method left.
#[derive(Clone, Copy)]
pub enum Tables<'a> {
    Sqlite(&'a SqliteStore),
    Postgres(&'a PgStore),
}

impl Tables<'_> {
    /// Runs `sql` (several statements), its `ts(...)` instants written for this backend.
    pub async fn load(self, sql: &str) {
        let sql = self.instants(sql);
        match self {
            Tables::Sqlite(s) => sqlx::raw_sql(&sql).execute(s.pool()).await.map(|_| ()),
            Tables::Postgres(s) => sqlx::raw_sql(&sql).execute(s.pool()).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("loading the fixture: {e}\n{sql}"));
    }

    /// The rows of `sql`, which selects an integer and a text.
    pub async fn pairs(self, sql: &str) -> Vec<(i64, String)> {
        match self {
            Tables::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
            Tables::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn instants(self, sql: &str) -> String {
        let mut out = String::new();
        let mut rest = sql;
        while let Some(start) = rest.find("ts(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 3..];
            let end = after.find(')').expect("ts( is closed");
            let at: DateTime<Utc> = after[..end].parse().expect("an RFC 3339 instant");
            out.push_str(&match self {
                Tables::Sqlite(_) => at.timestamp_micros().to_string(),
                Tables::Postgres(_) => format!("TIMESTAMPTZ '{}'", at.to_rfc3339()),
            });
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// An instant of the fixtures.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().unwrap()
}
