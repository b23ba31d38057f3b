//! A fresh PostgreSQL database for each test, on the server at 127.0.0.1:5432 (trust auth, user
//! `root`; `MCAP_NOTIFY_TEST_POSTGRES` names another server's maintenance database), dropped
//! when the test ends. Where no server answers, the test skips with a printed reason, except
//! under CI, where it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

const DEFAULT_ADMIN_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("MCAP_NOTIFY_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// A database made for one test; dropped (with any connections left to it) on drop.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDatabase {
    /// A new empty database, or None (after saying why) when no PostgreSQL answers outside CI.
    pub async fn create() -> Option<TestDatabase> {
        Self::create_with("").await
    }

    /// As [`TestDatabase::create`], with `options` after `CREATE DATABASE name` (a locale, say).
    pub async fn create_with(options: &str) -> Option<TestDatabase> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) => {
                assert!(
                    !super::under_ci(),
                    "PostgreSQL does not answer at {admin}: {e} (.ci/run starts it)"
                );
                eprintln!("skipping the PostgreSQL test: no server answers at {admin}: {e}");
                return None;
            }
        };
        let name = format!(
            "mcap_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        sqlx::query(&format!("CREATE DATABASE {name} {options}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let (base, _) = admin
            .rsplit_once('/')
            .expect("a database URL ends in /DATABASE");
        Some(TestDatabase {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with its own runtime drops the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// Waits until every entry stored so far can be claimed by a run: until no transaction that
/// began before the last entry was written is still open anywhere on the server (transaction
/// ids are the server's, so another database's open transaction counts too). A run that
/// starts sooner claims what it can and leaves the rest to the next one.
pub async fn wait_until_claimable(pool: &sqlx::PgPool) {
    let settled = async {
        loop {
            let claimable: bool = sqlx::query_scalar(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())
                        > COALESCE((SELECT MAX(inserted_xid) FROM docket_entries), '0')",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if claimable {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), settled)
        .await
        .expect("a writing transaction stayed open on the server for a minute");
}
