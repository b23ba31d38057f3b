//! `preview`: what an account's next digest would be, shown without changing the database.

mod common;

use common::{account, case, entry, track, Db, TestApp};
use mcap_notify::app::App;
use mcap_notify::ingest::FeedKind;

const CASE: &str = "2616-CV00042";

/// On SQLite, checkpoints everything this test wrote into the database file and closes the test's
/// connections, so the file alone holds the database and only another process can change it.
async fn settle(t: &TestApp) {
    if let Db::Sqlite(pool) = t.db() {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

/// A case with two new entries tracked by `ann` (verified) and `bo` (not verified).
async fn two_pending_entries() -> TestApp {
    let t = TestApp::new().await;
    t.ingest(
        FeedKind::Cases,
        &[case(
            CASE,
            "CT16",
            "CV",
            "Prairie Lumber LLC v. Ann Whitcombe",
        )],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("ann", "ann@example.org", true),
            account("bo", "bo@example.org", false),
            account("cy", "cy@example.org", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("ann", CASE, "2026-01-01T00:00:00Z"),
            track("bo", CASE, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", CASE, "MOTC", "2026-02-01T10:00:00Z"),
            entry("e2", CASE, "ORDR", "2026-02-02T10:00:00Z"),
        ],
    )
    .await;
    t
}

fn preview(t: &TestApp, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = t.command().arg("preview").args(args).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The database as bytes to compare: SQLite's file itself, every row of PostgreSQL's tables.
async fn database_state(t: &TestApp) -> Vec<u8> {
    match t.db() {
        Db::Sqlite(_) => std::fs::read(t.dir.path().join("test.db")).unwrap(),
        Db::Postgres(_) => t.dump().await.into_bytes(),
    }
}

#[tokio::test]
async fn a_preview_shows_the_next_digest_and_changes_nothing() {
    let mut t = two_pending_entries().await;
    let html = t.dir.path().join("next.html");
    settle(&t).await;
    let before = database_state(&t).await;
    let (status, stdout, stderr) =
        preview(&t, &["--account", "ann", "--html", html.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("To: ann@example.org\n"), "{stdout}");
    assert!(
        stdout.contains("\nSubject: 2 new filings: 2616-CV00042 Prairie Lumber LLC\n"),
        "{stdout}"
    );
    for what in ["MOTC  MOTC description", "ORDR  ORDR description"] {
        assert!(stdout.contains(what), "{what}: {stdout}");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("MOTC description") && page.contains(CASE));
    // The preview's connections closed when it ended: a write of its would be in the file.
    let after = database_state(&t).await;
    let changed: Vec<usize> = (0..before.len().max(after.len()))
        .filter(|&i| before.get(i) != after.get(i))
        .collect();
    assert!(
        changed.is_empty(),
        "the database changed at {} offsets: {:?} {:?}",
        changed.len(),
        &changed[..changed.len().min(20)],
        changed
            .iter()
            .take(20)
            .map(|&i| (before.get(i), after.get(i)))
            .collect::<Vec<_>>()
    );
    assert!(
        !t.dir.path().join("test.db-wal").exists()
            || std::fs::metadata(t.dir.path().join("test.db-wal"))
                .unwrap()
                .len()
                == 0,
        "nothing waits in the WAL"
    );

    // The next run still sends what the preview showed.
    t.app = App::open(t.app.settings.clone()).await.unwrap();
    let report = t.run().await;
    assert_eq!(report.totals.digests_queued, 1);
    let digests = t.digests().await;
    assert_eq!(
        digests,
        vec![(
            "ann".to_string(),
            "ann@example.org".to_string(),
            vec!["e1".to_string(), "e2".to_string()]
        )]
    );
}

#[tokio::test]
async fn an_unknown_account_is_an_error_naming_it() {
    let t = two_pending_entries().await;
    let (status, stdout, stderr) = preview(&t, &["--account", "nobody"]);
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("no account `nobody`"), "{stderr}");
}

#[tokio::test]
async fn nothing_pending_and_a_skipped_account_are_said_plainly() {
    let t = two_pending_entries().await;
    let (status, stdout, stderr) = preview(&t, &["--account", "cy"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("account cy (cy@example.org): nothing pending"),
        "{stdout}"
    );
    let (status, stdout, stderr) = preview(&t, &["--account", "bo"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("would be skipped: its address is not verified; 2 pending entries"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_run_is_named_and_the_html_can_go_to_standard_output() {
    let t = two_pending_entries().await;
    // A run opened and never finished (killed), as the next run-now would find it.
    let db = t.db();
    db.exec(&format!(
        "INSERT INTO runs (status, started_at) VALUES ('running', {})",
        db.at(chrono::DateTime::UNIX_EPOCH)
    ))
    .await;
    let out = t
        .command()
        .args(["preview", "--account", "ann", "--html", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.starts_with("note: run 1 is unfinished"), "{said}");
    assert!(said.contains("<!DOCTYPE html>"), "{said}");
    assert!(!said.contains('\r'), "lines end as the terminal expects");
    assert!(!t.dir.path().join("-").exists());
    // A device or a link is never replaced by the HTML.
    let link = t.dir.path().join("preview.html");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let refused = t
        .command()
        .args(["preview", "--account", "ann", "--html"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a regular file"));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}
