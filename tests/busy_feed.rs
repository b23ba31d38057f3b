//! A big feed never locks the other commands out: the file is checked without the write lock
//! and written in one short transaction, so a run, a delivery pass, `status` and bounce ingest
//! go on while it is checked; and if what it was checked against changed meanwhile, nothing of it is written.

mod common;

use common::*;
use mcap_notify::bounce::ReturnPaths;
use mcap_notify::hooks::{pause_ingest, Pause};
use mcap_notify::ingest::FeedKind;
use serde_json::Value;

const C1: &str = "2616-CV00001";
const LINES: usize = 2_000;

fn entries(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| entry(&format!("{prefix}{i}"), C1, "MOT", "2026-02-02T10:00:00Z"))
        .collect()
}

/// A tracked case with one entry already waiting for a run; other commands give up on a
/// locked database after half a second.
async fn world() -> TestApp {
    let t = TestApp::one_case(
        |s| s.database.busy_timeout_ms = 500,
        C1,
        Some("2026-01-01T00:00:00Z"),
    )
    .await;
    t.ingest(FeedKind::Entries, &entries("early", 1)).await;
    t
}

fn feed(t: &TestApp, lines: &[Value]) -> std::path::PathBuf {
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    t.feed_file(&text)
}

#[tokio::test]
async fn runs_delivery_and_status_go_on_while_a_big_feed_is_checked() {
    let t = world().await;
    let path = feed(&t, &entries("big", LINES));
    let pause = Pause::after_records(LINES / 2);
    let ingest = pause_ingest(pause.clone(), t.app.ingest(FeedKind::Entries, &path));
    let others = async {
        pause.wait_reached().await;
        // Half the file is checked; every other command works meanwhile.
        let run = t
            .run_with(Default::default())
            .await
            .expect("a run while a feed is checked");
        let delivered = t
            .app
            .deliver(true)
            .await
            .expect("delivery while a feed is checked");
        let status = t
            .app
            .status()
            .await
            .expect("status while a feed is checked");
        // A bounce for the message just sent, read by the command an operator's cron runs.
        let (outbox_id, recipient): (i64, String) =
            t.db().row("SELECT outbox_id, recipient FROM outbox").await;
        let return_path = ReturnPaths::new(&t.app.settings.mail).address(outbox_id);
        let bounce = t.dir.path().join("bounce.eml");
        std::fs::write(
            &bounce,
            dsn(&return_path, &recipient, "5.1.1", "550 5.1.1 no such user"),
        )
        .unwrap();
        let ingested = t
            .command()
            .env("MCAP_NOTIFY__DATABASE__BUSY_TIMEOUT_MS", "500")
            .arg("bounces")
            .arg("ingest")
            .arg(&bounce)
            .output()
            .unwrap();
        pause.resume();
        (run, delivered, status, ingested)
    };
    let (ingested, (run, delivered, status, bounce)) = tokio::join!(ingest, others);
    assert!(
        bounce.status.success(),
        "bounce ingest while a feed is checked: {}",
        String::from_utf8_lossy(&bounce.stderr)
    );
    let suppressed: i64 = t.db().value("SELECT COUNT(*) FROM suppressions").await;
    assert_eq!(suppressed, 1, "the hard bounce was recorded and acted on");
    assert_eq!(run.totals.digests_queued, 1);
    assert_eq!(delivered.sent, 1);
    assert_eq!(
        status.0.entries_total, 1,
        "nothing of the feed is visible before it is whole"
    );
    assert_eq!(
        ingested.expect("the feed is accepted").applied,
        LINES as u64
    );
    let report = t.run().await;
    assert_eq!(report.entries_scanned, LINES as u64);
    assert_eq!(report.totals.pairs_matched, LINES as u64);
}

#[tokio::test]
async fn a_feed_whose_checks_no_longer_hold_when_it_is_written_is_refused_whole() {
    let t = world().await;
    let mut lines = entries("big", 10);
    lines.push(entry("contested", C1, "JE", "2026-02-02T11:00:00Z"));
    let path = feed(&t, &lines);
    let pause = Pause::after_records(lines.len());
    let ingest = pause_ingest(pause.clone(), t.app.ingest(FeedKind::Entries, &path));
    let other = async {
        pause.wait_reached().await;
        // Another feed posts the same entry id, worded differently, and commits first.
        t.ingest(
            FeedKind::Entries,
            &[entry("contested", C1, "CONT", "2026-02-02T12:00:00Z")],
        )
        .await;
        let before = t.dump().await;
        pause.resume();
        before
    };
    let (ingested, before) = tokio::join!(ingest, other);
    let err = ingested.expect_err("the first feed is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("docket entry `contested` changed"),
        "{message}"
    );
    assert!(message.contains("nothing was applied"), "{message}");
    assert_eq!(
        t.dump().await,
        before,
        "the database is as the other feed left it"
    );
}
