//! The operator always knows what they touch: `status` names its database, the demo's directory
//! configures the commands run in it, and the run history says when runs really finished, what
//! a resumed run did in all, and folds a closed weekend into one line. `status` says whether the
//! service is open (and if not, why and until when), how late the work is, and each alert
//! condition that holds now, and nothing when all is well.

mod common;

use chrono::{DateTime, Utc};
use common::policy_server::PolicyServer;
use common::*;
use mcap_notify::app::RunOutcome;
use mcap_notify::batch::{RunError, RunOptions};
use mcap_notify::ingest::FeedKind;
use mcap_notify::store::prelude::*;
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

/// One tracked case with one new entry, and run options that ignore the service window.
async fn one_entry_tracked() -> (TestApp, RunOptions) {
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
    (t, options)
}

#[tokio::test]
async fn a_run_records_when_it_really_finished() {
    let (t, options) = one_entry_tracked().await;
    let started = at("2026-02-02T09:00:00-06:00");
    let RunOutcome::Ran(_) = t.app.run_at(&options, started).await.unwrap() else {
        panic!("windows are ignored")
    };
    let db = t.db();
    let (first, last): (i64, i64) = db
        .rows(&format!(
            "SELECT {}, {} FROM runs WHERE status = 'done'",
            db.micros("started_at"),
            db.micros("finished_at")
        ))
        .await[0];
    assert_eq!(first, started.timestamp_micros());
    assert!(last > first, "finished {last} after starting {first}");
}

#[tokio::test]
async fn runs_that_found_nothing_new_are_one_line_of_status_and_keep_the_last_work_in_view() {
    let (t, options) = one_entry_tracked().await;
    let first = at("2026-02-02T09:00:00-06:00");
    // One run with work, then a quiet hour of ticks: more than status shows lines.
    for minute in 0..40 {
        let RunOutcome::Ran(_) = t
            .app
            .run_at(&options, first + chrono::Duration::minutes(minute))
            .await
            .unwrap()
        else {
            panic!("windows are ignored")
        };
    }
    let shown = t.app.status().await.unwrap().to_string();
    assert!(
        shown.contains("  2-40  done") && shown.contains("nothing new (39 runs until"),
        "{shown}"
    );
    let runs_shown: Vec<&str> = shown
        .lines()
        .skip_while(|l| *l != "recent runs")
        .skip(2)
        .collect();
    assert_eq!(runs_shown.len(), 2, "{shown}");
    assert!(runs_shown[1].trim_start().starts_with("1  done"), "{shown}");
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
    let (digests, pairs): (i64, i64) = t
        .db()
        .rows(&format!(
            "SELECT digests_queued, pairs_matched FROM runs WHERE run_id = {}",
            resumed.run_id.unwrap()
        ))
        .await[0];
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

/// A calendar open all day, every day: only outages close it.
const ALWAYS_OPEN: &str = "[calendar]\nopen_days = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\nopens = \"00:00\"\ncloses = \"00:00\"\n";

fn always_open(s: &mut mcap_notify::config::Settings) {
    use chrono::Weekday::*;
    s.calendar.open_days = vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun];
    s.calendar.opens = chrono::NaiveTime::MIN;
    s.calendar.closes = chrono::NaiveTime::MIN;
}

#[tokio::test]
async fn status_says_why_the_service_is_closed_and_when_it_opens() {
    let t = TestApp::with(always_open).await;
    let now = Utc::now();
    let ends = at("2031-01-06T09:30:00-06:00");
    t.app
        .store
        .add_outages(
            &[mcap_notify::model::NewOutage {
                starts_at: now - chrono::Duration::hours(1),
                ends_at: ends,
                reason: "database upgrade".into(),
            }],
            now,
        )
        .await
        .unwrap()
        .unwrap();
    let status = t.app.status().await.unwrap();
    let window = &status.2.window;
    assert!(!window.open);
    assert_eq!(
        window.closed_reason.as_deref(),
        Some("outage: database upgrade")
    );
    assert_eq!(window.next_open_at, Some(ends));
    // Nothing ever ran, but the service is closed: nothing is late.
    assert_eq!(status.2.alerts, vec![]);
    let shown = status.to_string();
    assert!(
        shown.contains(
            "window           closed (outage: database upgrade); opens Mon Jan 6, 2031 9:30 AM CST"
        ),
        "{shown}"
    );
    assert!(shown.contains("alerts           none"), "{shown}");

    let config = t.dir.path().join("open.toml");
    std::fs::write(&config, ALWAYS_OPEN).unwrap();
    let out = t
        .command()
        .arg("--config")
        .arg(&config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["window"]["open"], false);
    assert_eq!(json["window"]["closed_reason"], "outage: database upgrade");
    assert_eq!(
        json["window"]["next_open_at"].as_str().map(at),
        Some(ends),
        "{json}"
    );
    assert_eq!(json["alerts"], serde_json::json!([]));
}

#[tokio::test]
async fn status_is_quiet_when_all_is_well_and_names_each_condition_that_holds() {
    let dir = tempfile::tempdir().unwrap();
    let server = PolicyServer::start(dir.path());
    let t = TestApp::with(|s| {
        always_open(s);
        s.delivery.transport = mcap_notify::config::TransportKind::Smtp;
        s.smtp.url = Some(mcap_notify::config::Secret::new(server.url()));
        s.smtp.timeout_secs = 5;
    })
    .await;
    t.digests_for(&["a-ok@example.org"]).await;
    let report = t.app.deliver(false).await.unwrap();
    assert_eq!(report.sent, 1);
    let status = t.app.status().await.unwrap();
    assert_eq!(status.2.alerts, vec![], "{}", status);
    assert_eq!(status.2.watermark_lag_seconds, None);
    assert_eq!(status.2.oldest_due_seconds, None);
    assert!(status.2.last_success.batch.is_some());
    assert!(status.2.last_success.deliver.is_some());
    let shown = status.to_string();
    for line in [
        "window           open",
        "watermark lag    none",
        "oldest due       none",
        "alerts           none",
    ] {
        assert!(shown.contains(line), "{line}: {shown}");
    }
    assert!(!shown.contains("last delivery    never"), "{shown}");

    // Trouble: a message refused for good (a dead letter) and one refused on policy grounds...
    t.ingest(
        FeedKind::Accounts,
        &[
            account("gone", "hard-gone@example.org", true),
            account("blocked", "policy-x@example.org", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("gone", "2616-CV00001", "2026-01-01T00:00:00Z"),
            track("blocked", "2616-CV00001", "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e2", "2616-CV00001", "JE", "2026-02-03T10:00:00Z")],
    )
    .await;
    t.run().await;
    let report = t.app.deliver(false).await.unwrap();
    assert_eq!(
        (report.bounced, report.policy_blocked),
        (1, 1),
        "{report:?}"
    );
    // ...a digest queued two hours ago and due since...
    t.ingest(
        FeedKind::Entries,
        &[entry("e3", "2616-CV00001", "JE", "2026-02-04T10:00:00Z")],
    )
    .await;
    let options = RunOptions {
        ignore_windows: true,
        ..RunOptions::default()
    };
    t.app
        .run_at(&options, Utc::now() - chrono::Duration::hours(2))
        .await
        .unwrap();
    // ...and an entry posted long ago that no run has taken yet.
    t.ingest(
        FeedKind::Entries,
        &[entry("e4", "2616-CV00001", "JE", "2026-02-05T10:00:00Z")],
    )
    .await;

    let status = t.app.status().await.unwrap();
    let names: Vec<&str> = status.2.alerts.iter().map(|a| a.name()).collect();
    assert_eq!(
        names,
        [
            "McapNotifyWatermarkLag",
            "McapNotifyOldestDueMessage",
            "McapNotifyDeadLetters",
            "McapNotifyPolicyBlock"
        ],
        "{status}"
    );
    let due = status.2.oldest_due_seconds.unwrap();
    assert!((7200..7300).contains(&due), "{due}");
    assert!(status.2.watermark_lag_seconds.unwrap() > 3600);
    let shown = status.to_string();
    assert!(shown.contains("alerts           4"), "{shown}");
    assert!(
        shown.contains("ALERT oldest due message: a queued message has been due for 2h 00m"),
        "{shown}"
    );
    assert!(
        shown.contains("ALERT dead letters: 1 message(s) dead-lettered in the last hour"),
        "{shown}"
    );
    assert!(
        shown.contains("ALERT policy block: 1 delivery attempt(s)"),
        "{shown}"
    );

    let config = t.dir.path().join("open.toml");
    std::fs::write(&config, ALWAYS_OPEN).unwrap();
    let out = t
        .command()
        .arg("--config")
        .arg(&config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let alerts = json["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 4, "{json}");
    assert_eq!(alerts[2]["name"], "McapNotifyDeadLetters");
    assert_eq!(alerts[2]["condition"], "dead_letters");
    assert_eq!(alerts[2]["count"], 1);
    assert!(alerts[2]["message"]
        .as_str()
        .unwrap()
        .starts_with("dead letters"));
    assert!(json["watermark_lag_seconds"].as_i64().unwrap() > 3600);
    assert_eq!(json["window"]["open"], true);
}

/// A clock standing still at one instant.
struct At(DateTime<Utc>);

impl mcap_notify::delivery::Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[tokio::test]
async fn an_idle_delivery_pass_notes_its_success_at_most_once_a_minute() {
    let t = TestApp::new().await;
    t.digests_for(&["a@example.org"]).await;
    let last = || async {
        t.app
            .status()
            .await
            .unwrap()
            .2
            .last_success
            .deliver
            .unwrap()
    };
    // Stored to the microsecond.
    let t0 = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let report = t.app.deliver_at(&At(t0), true).await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(last().await, t0);
    // Nothing to do half a minute later: the success kept is recent enough, nothing is written.
    t.app
        .deliver_at(&At(t0 + chrono::Duration::seconds(30)), true)
        .await
        .unwrap();
    assert_eq!(last().await, t0);
    let later = t0 + chrono::Duration::seconds(61);
    t.app.deliver_at(&At(later), true).await.unwrap();
    assert_eq!(last().await, later);
}
