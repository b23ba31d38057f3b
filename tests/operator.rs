//! The operator always knows what they touch: `status` names its database, the demo's directory
//! configures the commands run in it, and the run history says when runs really finished, what
//! a resumed run did in all, and folds a closed weekend into one line.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use mcap_notify::app::RunOutcome;
use mcap_notify::batch::{RunError, RunOptions};
use mcap_notify::ingest::FeedKind;
use serde_json::Value;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn status_names_the_database_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("database") && l.ends_with("sqlite://mcap-notify.db")),
        "{text}"
    );
    let out = binary()
        .current_dir(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["database"], "sqlite://mcap-notify.db");
}

#[test]
fn commands_run_in_the_demo_directory_use_the_demo_database_and_outbox() {
    let dir = tempfile::tempdir().unwrap();
    // The demo needs no secret of its own, and leaves one for the commands run beside it.
    let out = binary()
        .current_dir(dir.path())
        .env_remove("MCAP_NOTIFY__MAIL__TOKEN_SECRET")
        .args(["demo", "--dir", "demo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo = dir.path().join("demo").canonicalize().unwrap();
    let status = |args: &[&str]| {
        binary()
            .current_dir(&demo)
            .env_remove("MCAP_NOTIFY__MAIL__TOKEN_SECRET")
            .args(args)
            .output()
            .unwrap()
    };
    let out = status(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["database"],
        format!("sqlite://{}", demo.join("mcap-demo.db").display())
    );
    let sent = json["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "sent")
        .map(|pair| pair[1].as_u64().unwrap());
    assert!(sent.unwrap_or(0) > 50, "{json}");
    assert!(
        !demo.join("mcap-notify.db").exists(),
        "no stray default database"
    );
    // Delivery from there writes into the demo's outbox (nothing is due, so nothing new).
    let out = status(&["deliver", "--ignore-windows"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!demo.join("outbox").join("outbox").exists());
}

#[tokio::test]
async fn a_run_records_when_it_really_finished() {
    let t = TestApp::one_case(|_| {}, "2616-CV00001", Some("2026-01-01T00:00:00Z")).await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", "2616-CV00001", "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    let options = RunOptions {
        ignore_windows: true,
        ..RunOptions::default()
    };
    let started = at("2026-02-02T09:00:00-06:00");
    let RunOutcome::Ran(_) = t.app.run_at(&options, started).await.unwrap() else {
        panic!("windows are ignored")
    };
    let (first, last): (i64, i64) =
        sqlx::query_as("SELECT started_at, finished_at FROM runs WHERE status = 'done'")
            .fetch_one(t.app.store.pool())
            .await
            .unwrap();
    assert_eq!(first, started.timestamp_micros());
    assert!(last > first, "finished {last} after starting {first}");
}

#[tokio::test]
async fn a_resumed_run_counts_the_whole_run() {
    let t = TestApp::with(|s| s.batch.accounts_per_commit = 1).await;
    t.digests_for(&["a@example.org"]).await;
    // Three accounts with news in the second run; it stops after its first commit.
    let accounts: Vec<_> = (0..3)
        .map(|i| account(&format!("r{i}"), &format!("r{i}@example.org"), true))
        .collect();
    t.ingest(FeedKind::Accounts, &accounts).await;
    let subs: Vec<_> = (0..3)
        .map(|i| track(&format!("r{i}"), "2616-CV00001", "2026-01-01T00:00:00Z"))
        .collect();
    t.ingest(FeedKind::Subscriptions, &subs).await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e2", "2616-CV00001", "JE", "2026-02-03T10:00:00Z")],
    )
    .await;
    let crashed = mcap_notify::hooks::crash_after_commits(2, t.run_with(RunOptions::default()))
        .await
        .expect_err("stopped on purpose");
    assert!(matches!(
        crashed.downcast_ref::<RunError>(),
        Some(RunError::InjectedCrash(2))
    ));
    let resumed = t.run().await;
    assert!(resumed.resumed);
    // The whole second run: acct0 and r0..r2 each hear of e2.
    assert_eq!(resumed.totals.digests_queued, 4, "{resumed:?}");
    assert_eq!(resumed.totals.pairs_matched, 4, "{resumed:?}");
    let (digests, pairs): (i64, i64) =
        sqlx::query_as("SELECT digests_queued, pairs_matched FROM runs WHERE run_id = ?")
            .bind(resumed.run_id.unwrap())
            .fetch_one(t.app.store.pool())
            .await
            .unwrap();
    assert_eq!((digests, pairs), (4, 4));
}

#[tokio::test]
async fn consecutive_skips_for_one_reason_are_one_row_with_a_count() {
    let t = TestApp::new().await;
    let options = RunOptions::default();
    let mut ids = Vec::new();
    for when in [
        "2026-11-28T09:00:00-06:00",
        "2026-11-28T09:01:00-06:00",
        "2026-11-29T15:00:00-06:00",
        // Tuesday night, then Wednesday night after a run: new rows each.
        "2026-12-01T03:00:00-06:00",
        "2026-12-01T03:01:00-06:00",
    ] {
        match t.app.run_at(&options, at(when)).await.unwrap() {
            RunOutcome::Skipped { run_id, .. } => ids.push(run_id),
            RunOutcome::Ran(_) => panic!("ran at {when} while closed"),
        }
    }
    t.app
        .run_at(&options, at("2026-12-01T10:00:00-06:00"))
        .await
        .unwrap();
    let RunOutcome::Skipped { run_id, .. } = t
        .app
        .run_at(&options, at("2026-12-02T03:00:00-06:00"))
        .await
        .unwrap()
    else {
        panic!("closed at night")
    };
    ids.push(run_id);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    assert_ne!(ids[2], ids[3]);
    assert_eq!(ids[3], ids[4]);
    assert_ne!(ids[4], ids[5]);

    let status = t.app.status().await.unwrap();
    let runs = &status.0.recent_runs;
    assert_eq!(runs.len(), 4, "{runs:#?}");
    let weekend = runs.iter().find(|r| r.run_id == ids[0]).unwrap();
    assert_eq!(weekend.skip_reason.as_deref(), Some("weekend"));
    assert_eq!(weekend.ticks, 3);
    assert_eq!(weekend.started_at, at("2026-11-28T09:00:00-06:00"));
    assert_eq!(weekend.finished_at, Some(at("2026-11-29T15:00:00-06:00")));
    let night = runs.iter().find(|r| r.run_id == ids[3]).unwrap();
    assert_eq!(night.ticks, 2);
    let shown = status.to_string();
    assert!(shown.contains("3 ticks"), "{shown}");
}
