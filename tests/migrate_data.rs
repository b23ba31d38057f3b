//! `migrate-data`: a live SQLite deployment copied into PostgreSQL with every row and id, its
//! counts checked; a target holding data, a missing source, a source that is not this
//! version's database, one a batch run or a delivery worker is working on, and a URL of the
//! wrong kind are refused with nothing written, the source
//! file left as it was.

mod common;

use common::postgres::TestDatabase;
use common::*;
use mcap_notify::ingest::FeedKind;
use mcap_notify::model::{NewOutage, SuppressionReason};
use mcap_notify::store::prelude::*;
use mcap_notify::store::PgStore;

/// A deployment with something in every part: cases, accounts, tracking periods, entries (one
/// claimed and sent, one still unclaimed), a run, sent mail with its body, a suppression and
/// an outage.
async fn deployment() -> TestApp {
    let t = TestApp::new().await;
    t.digests_for(&["ann@example.org", "bob@example.org"]).await;
    assert_eq!(t.app.deliver(true).await.unwrap().sent, 2);
    t.ingest(
        FeedKind::Entries,
        &[entry("e2", "2616-CV00001", "ORD", "2026-02-02T10:00:00Z")],
    )
    .await;
    t.app
        .store
        .suppress(
            "gone@example.org",
            SuppressionReason::HardBounce,
            "550 5.1.1 no such user",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    t.app
        .store
        .add_outages(
            &[NewOutage {
                starts_at: start,
                ends_at: start + chrono::Duration::hours(3),
                reason: "server move".into(),
            }],
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    t
}

fn migrate_data(t: &TestApp, from: &str, to: &str) -> (bool, String, String) {
    let out = t
        .command()
        .args(["migrate-data", "--from", from, "--to", to])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn sqlite_rows(t: &TestApp, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(t.pool()).await.unwrap()
}

async fn pg_rows(pg: &PgStore, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(pg.pool()).await.unwrap()
}

/// How many tables the target database holds.
async fn tables_in(db: &TestDatabase) -> i64 {
    let pg = PgStore::connect(&db.url, 2, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_deployment_moves_with_every_row_and_id_and_a_second_copy_is_refused() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let t = deployment().await;
    let from = t.app.settings.database.url.clone();
    let (ok, stdout, stderr) = migrate_data(&t, &from, &db.url);
    assert!(ok, "migrate-data failed: {stderr}");
    assert!(stdout.contains("every count checked"), "{stdout}");

    let pg = PgStore::connect(&db.url, 2, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    // Row for row, ids and instants included (instants compared as microseconds).
    let pairs = [
        (
            "SELECT outbox_id || ' ' || message_id || ' ' || state || ' ' || created_at
             FROM outbox ORDER BY outbox_id",
            "SELECT outbox_id || ' ' || message_id || ' ' || state || ' ' ||
                    (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint
             FROM outbox ORDER BY outbox_id",
        ),
        (
            "SELECT outbox_id || ' ' || hex(raw) FROM outbox_bodies ORDER BY outbox_id",
            "SELECT outbox_id || ' ' || upper(encode(raw, 'hex')) FROM outbox_bodies
             ORDER BY outbox_id",
        ),
        (
            "SELECT account_id || ' ' || entry_seq || ' ' || outbox_id FROM notification_ledger
             ORDER BY account_id, entry_seq",
            "SELECT account_id || ' ' || entry_seq || ' ' || outbox_id FROM notification_ledger
             ORDER BY account_id, entry_seq",
        ),
        (
            "SELECT seq || ' ' || entry_id || ' ' || COALESCE(run_id, 0) || ' ' || posted_at
             FROM docket_entries ORDER BY seq",
            "SELECT seq || ' ' || entry_id || ' ' || COALESCE(run_id, 0) || ' ' ||
                    (EXTRACT(EPOCH FROM posted_at) * 1000000)::bigint
             FROM docket_entries ORDER BY seq",
        ),
        (
            "SELECT run_id || ' ' || status FROM runs ORDER BY run_id",
            "SELECT run_id || ' ' || status FROM runs ORDER BY run_id",
        ),
        (
            "SELECT CAST(last_seq AS TEXT) FROM watermark",
            "SELECT last_seq::text FROM watermark",
        ),
        (
            "SELECT email || ' ' || reason FROM suppressions ORDER BY email",
            "SELECT email || ' ' || reason FROM suppressions ORDER BY email",
        ),
        (
            "SELECT outage_id || ' ' || reason FROM outages ORDER BY outage_id",
            "SELECT outage_id || ' ' || reason FROM outages ORDER BY outage_id",
        ),
        (
            "SELECT account_id || ' ' || email_verified FROM accounts ORDER BY account_id",
            "SELECT account_id || ' ' || email_verified::int FROM accounts ORDER BY account_id",
        ),
        (
            "SELECT court_id FROM courts ORDER BY court_id",
            "SELECT court_id FROM courts ORDER BY court_id",
        ),
    ];
    for (sqlite, postgres) in pairs {
        let before = sqlite_rows(&t, sqlite).await;
        assert!(!before.is_empty(), "nothing to compare in: {sqlite}");
        assert_eq!(pg_rows(&pg, postgres).await, before, "{postgres}");
    }
    // The next id follows the copied ones.
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO outages (starts_at, ends_at, reason, created_at)
         VALUES (now(), now() + interval '1 hour', 'x', now()) RETURNING outage_id",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap();
    let highest: i64 = sqlx::query_scalar("SELECT MAX(outage_id) FROM outages")
        .fetch_one(t.pool())
        .await
        .unwrap();
    assert_eq!(next, highest + 1);

    // Copying again would double everything: refused, naming a table, nothing changed.
    let outbox_before = pg_rows(&pg, "SELECT outbox_id::text FROM outbox").await;
    let (ok, _, stderr) = migrate_data(&t, &from, &db.url);
    assert!(!ok);
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(
        pg_rows(&pg, "SELECT outbox_id::text FROM outbox").await,
        outbox_before
    );
}

#[tokio::test]
async fn a_missing_source_or_a_wrong_url_is_refused_before_anything_is_written() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let t = TestApp::new().await;
    let missing = format!("sqlite://{}/nothing-here.db", t.dir.path().display());
    let (ok, _, stderr) = migrate_data(&t, &missing, &db.url);
    assert!(!ok);
    assert!(stderr.contains("no SQLite database at"), "{stderr}");
    assert!(!t.dir.path().join("nothing-here.db").exists());

    let from = t.app.settings.database.url.clone();
    let (ok, _, stderr) = migrate_data(&t, &from, &from);
    assert!(!ok);
    assert!(stderr.contains("not a PostgreSQL database URL"), "{stderr}");
    let (ok, _, stderr) = migrate_data(&t, &db.url, &db.url);
    assert!(!ok);
    assert!(stderr.contains("not a SQLite database URL"), "{stderr}");

    assert_eq!(tables_in(&db).await, 0, "nothing was created in the target");
}

/// Makes an mcap-notify database at `path` whose migration record `edit` then changes (as an
/// older or a newer version would have left it), checkpointed into the file and closed.
async fn database_with_migrations_edited(path: &std::path::Path, edit: &str) {
    let app = TestApp::with(|s| {
        s.database.url = format!("sqlite://{}", path.display());
    })
    .await;
    for statement in [edit, "PRAGMA wal_checkpoint(TRUNCATE)"] {
        sqlx::query(statement).execute(app.pool()).await.unwrap();
    }
    app.pool().close().await;
}

#[tokio::test]
async fn a_source_that_is_not_this_versions_database_is_refused_and_left_as_it_was() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let t = TestApp::new().await;
    // Another program's database, an empty file, and an mcap-notify database one migration
    // behind.
    let foreign = t.dir.path().join("foreign.db");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}?mode=rwc",
        foreign.display()
    ))
    .await
    .unwrap();
    sqlx::query("CREATE TABLE foo (x)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let empty = t.dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let behind = t.dir.path().join("behind.db");
    database_with_migrations_edited(
        &behind,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let ahead = t.dir.path().join("ahead.db");
    database_with_migrations_edited(
        &ahead,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a later release', 1, x'00', 0)",
    )
    .await;

    for (file, said) in [
        (&foreign, "is not an mcap-notify database"),
        (&empty, "is not an mcap-notify database"),
        (&behind, "is an older version's"),
        (&ahead, "made by a newer mcap-notify"),
    ] {
        let before = std::fs::read(file).unwrap();
        let (ok, _, stderr) = migrate_data(&t, &format!("sqlite://{}", file.display()), &db.url);
        assert!(!ok, "{}", file.display());
        assert!(stderr.contains(said), "{stderr}");
        assert_eq!(
            std::fs::read(file).unwrap(),
            before,
            "{} is unchanged",
            file.display()
        );
    }
    assert_eq!(tables_in(&db).await, 0, "nothing was created in the target");
}

#[tokio::test]
async fn a_source_a_process_is_working_on_is_refused() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let t = TestApp::new().await;
    t.digests_for(&["ann@example.org"]).await;
    let from = t.app.settings.database.url.clone();
    let now = chrono::Utc::now();
    // A batch run holds the lease.
    let lease = mcap_notify::store::LeaseInfo {
        holder: "batch-host:42:1".into(),
        host: "batch-host".into(),
        pid: 42,
        since: now,
        expires_at: now + chrono::Duration::minutes(5),
    };
    t.app
        .store
        .acquire_batch_lease(&lease, now)
        .await
        .unwrap()
        .unwrap();
    let (ok, _, stderr) = migrate_data(&t, &from, &db.url);
    assert!(!ok);
    assert!(
        stderr.contains("in use: a batch run holds its lease (batch-host:42:1, pid 42"),
        "{stderr}"
    );
    t.app
        .store
        .release_batch_lease("batch-host:42:1")
        .await
        .unwrap();
    // A delivery worker has the message claimed.
    let claimed = t
        .app
        .store
        .claim_due("worker:7:1", now, now + chrono::Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let (ok, _, stderr) = migrate_data(&t, &from, &db.url);
    assert!(!ok);
    assert!(
        stderr.contains("a delivery worker has 1 message(s) claimed"),
        "{stderr}"
    );
    // Once the worker has let go, the copy goes ahead and says what to do next.
    t.app.store.release_leases("worker:7:1").await.unwrap();
    let (ok, stdout, stderr) = migrate_data(&t, &from, &db.url);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("next: set database.url"), "{stdout}");
}
