//! Service windows: the calendar against an independent statement of the rule, the window
//! edges through the CLI, runs skipped while closed and the backlog caught up, one batch at a
//! time across processes, and the daemon's cadence across both 2026 DST changes.

mod common;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::America::Chicago;
use common::*;
use mcap_notify::app::RunOutcome;
use mcap_notify::batch::RunOptions;
use mcap_notify::calendar::Calendar;
use mcap_notify::config::{Cadence, CalendarSettings};
use mcap_notify::ingest::FeedKind;
use mcap_notify::model::Outage;
use mcap_notify::store::prelude::*;
use proptest::prelude::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The rule as CaseNet states it, read straight off the local clock: open Monday to Friday from
/// 06:00, until 01:00 the next morning; not on holidays; never during an outage.
fn rule_says_open(t: DateTime<Utc>, holidays: &[NaiveDate], outages: &[Outage]) -> bool {
    if outages.iter().any(|o| o.starts_at <= t && t < o.ends_at) {
        return false;
    }
    let local = t.with_timezone(&Chicago);
    let weekday = |d: NaiveDate| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    let today = local.date_naive();
    let yesterday = today.pred_opt().unwrap();
    let time = local.time();
    (weekday(today)
        && time >= NaiveTime::from_hms_opt(6, 0, 0).unwrap()
        && !holidays.contains(&today))
        || (weekday(yesterday)
            && time < NaiveTime::from_hms_opt(1, 0, 0).unwrap()
            && !holidays.contains(&yesterday))
}

/// The first whole minute at or after `t` when the rule says open (scanning, up to 20 days).
fn rule_reopens(
    t: DateTime<Utc>,
    holidays: &[NaiveDate],
    outages: &[Outage],
) -> Option<DateTime<Utc>> {
    let mut m = t.with_second(0).unwrap().with_nanosecond(0).unwrap();
    if m < t {
        m += Duration::minutes(1);
    }
    (0..20 * 24 * 60)
        .map(|i| m + Duration::minutes(i))
        .find(|c| rule_says_open(*c, holidays, outages))
}

fn instant_strategy() -> impl Strategy<Value = DateTime<Utc>> {
    // 2024 to 2028: several years, both DST changes each year.
    (1_704_067_200i64..1_861_920_000i64).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_calendar_agrees_with_the_rule_at_random_instants(
        t in instant_strategy(),
        holiday_offsets in prop::collection::vec(-3i64..4, 0..2),
        outage_specs in prop::collection::vec((-72i64..72, 1i64..(36 * 60)), 0..3),
    ) {
        let local_day = t.with_timezone(&Chicago).date_naive();
        let holidays: Vec<NaiveDate> = holiday_offsets.iter().map(|d| local_day + Duration::days(*d)).collect();
        // Outages on whole minutes around t, made disjoint.
        let base = t.with_second(0).unwrap().with_nanosecond(0).unwrap();
        let mut outages: Vec<Outage> = Vec::new();
        for (i, (start_hours, minutes)) in outage_specs.iter().enumerate() {
            let starts_at = base + Duration::hours(*start_hours);
            let ends_at = starts_at + Duration::minutes(*minutes);
            if outages.iter().all(|o| ends_at <= o.starts_at || starts_at >= o.ends_at) {
                outages.push(Outage { outage_id: i as i64, starts_at, ends_at, reason: format!("outage {i}") });
            }
        }
        let settings = CalendarSettings {
            holidays: holidays.clone(),
            ..CalendarSettings::default()
        };
        let calendar = Calendar::from_settings(&settings).with_outages(outages.clone());
        let state = calendar.state_at(t);
        let open = rule_says_open(t, &holidays, &outages);
        prop_assert_eq!(state.is_open(), open, "at {}", t.with_timezone(&Chicago));
        if open {
            prop_assert!(state.reopens_at.is_none());
        } else {
            prop_assert_eq!(state.reopens_at, rule_reopens(t, &holidays, &outages), "at {}", t.with_timezone(&Chicago));
            let in_outage = outages.iter().any(|o| o.starts_at <= t && t < o.ends_at);
            let reason = state.closed.as_ref().unwrap().kind();
            prop_assert_eq!(reason == "outage", in_outage);
            if !in_outage && holidays.is_empty() {
                let local = t.with_timezone(&Chicago);
                let morning = local.time() < NaiveTime::from_hms_opt(6, 0, 0).unwrap();
                let weekend = match local.weekday() {
                    Weekday::Sat | Weekday::Sun => true,
                    Weekday::Mon => morning,
                    _ => false,
                };
                prop_assert_eq!(reason, if weekend { "weekend" } else { "night" }, "at {}", local);
            }
        }
    }
}

fn calendar_json(dir: &std::path::Path, instant: &str) -> serde_json::Value {
    let out = binary()
        .current_dir(dir)
        .args(["calendar", "--json", "--at", instant])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_window_edges_as_the_calendar_command_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // (instant, open, reason, reopens_at)
        (
            "2026-11-24T05:59:59-06:00",
            false,
            Some("night"),
            Some("2026-11-24T06:00:00-06:00"),
        ),
        ("2026-11-24T06:00:00-06:00", true, None, None),
        ("2026-11-25T00:59:59-06:00", true, None, None),
        (
            "2026-11-25T01:00:00-06:00",
            false,
            Some("night"),
            Some("2026-11-25T06:00:00-06:00"),
        ),
        ("2026-11-28T00:59:59-06:00", true, None, None),
        (
            "2026-11-28T01:00:00-06:00",
            false,
            Some("weekend"),
            Some("2026-11-30T06:00:00-06:00"),
        ),
        (
            "2026-11-29T12:00:00-06:00",
            false,
            Some("weekend"),
            Some("2026-11-30T06:00:00-06:00"),
        ),
        (
            "2026-11-30T05:59:59-06:00",
            false,
            Some("weekend"),
            Some("2026-11-30T06:00:00-06:00"),
        ),
        // The Monday after spring forward opens at 06:00 CDT, after fall back at 06:00 CST.
        (
            "2026-03-08T12:00:00-05:00",
            false,
            Some("weekend"),
            Some("2026-03-09T06:00:00-05:00"),
        ),
        (
            "2026-11-01T12:00:00-06:00",
            false,
            Some("weekend"),
            Some("2026-11-02T06:00:00-06:00"),
        ),
    ];
    for (instant, open, reason, reopens) in cases {
        let json = calendar_json(dir.path(), instant);
        assert_eq!(json["open"], open, "{instant}: {json}");
        assert_eq!(json["reason"].as_str(), reason, "{instant}: {json}");
        assert_eq!(json["reopens_at"].as_str(), reopens, "{instant}: {json}");
    }
}

#[test]
fn outages_refuse_overlaps_and_inversions_and_import_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        binary()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&[
        "outages",
        "add",
        "--from",
        "2026-12-02 22:00",
        "--to",
        "2026-12-03 02:00",
        "--reason",
        "database upgrade",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let overlap = run(&[
        "outages",
        "add",
        "--from",
        "2026-12-03T01:00:00-06:00",
        "--to",
        "2026-12-03T03:00:00-06:00",
        "--reason",
        "x",
    ]);
    assert!(!overlap.status.success());
    assert!(String::from_utf8_lossy(&overlap.stderr).contains("overlaps outage 1"));
    let inverted = run(&[
        "outages",
        "add",
        "--from",
        "2026-12-05 10:00",
        "--to",
        "2026-12-05 09:00",
        "--reason",
        "x",
    ]);
    assert!(!inverted.status.success());
    assert!(String::from_utf8_lossy(&inverted.stderr).contains("ends"));
    // An import with one overlapping row records nothing.
    std::fs::write(
        dir.path().join("log.csv"),
        "start,end,reason\n2026-12-07 08:00,2026-12-07 09:00,network\n2026-12-02 23:00,2026-12-02 23:30,clash\n",
    )
    .unwrap();
    let import = run(&["outages", "import", "log.csv"]);
    assert!(!import.status.success());
    // A reason with a NUL byte could be stored by SQLite but copied nowhere: refused by line.
    std::fs::write(
        dir.path().join("nul.csv"),
        "2026-12-07 08:00,2026-12-07 09:00,network\n2026-12-08 08:00,2026-12-08 09:00,bad\0byte\n",
    )
    .unwrap();
    let nul = run(&["outages", "import", "nul.csv"]);
    assert!(!nul.status.success());
    let said = String::from_utf8_lossy(&nul.stderr);
    assert!(
        said.contains("nul.csv:2: column 3 (reason)") && said.contains("NUL"),
        "{said}"
    );
    let list = run(&["outages", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // During the outage the calendar says so.
    let json = calendar_json(dir.path(), "2026-12-02T23:00:00-06:00");
    assert_eq!(json["reason"], "outage");
    assert_eq!(json["detail"], "outage: database upgrade");
    assert_eq!(json["reopens_at"], "2026-12-03T06:00:00-06:00");
}

#[tokio::test]
async fn a_weekend_backlog_waits_and_goes_out_in_one_monday_run() {
    let t = TestApp::one_case(|_| {}, "2616-CV00001", Some("2026-01-01T00:00:00Z")).await;
    let options = RunOptions::default();
    let mut skipped = 0;
    // Entries keep coming over the weekend; every scheduled run is skipped and recorded.
    for (i, when) in [
        "2026-11-28T09:00:00-06:00",
        "2026-11-29T15:00:00-06:00",
        "2026-11-30T05:30:00-06:00",
    ]
    .iter()
    .enumerate()
    {
        t.ingest(
            FeedKind::Entries,
            &[entry(&format!("w{i}"), "2616-CV00001", "MOT", when)],
        )
        .await;
        match t.app.run_at(&options, at(when)).await.unwrap() {
            RunOutcome::Skipped { state, .. } => {
                assert_eq!(state.closed.unwrap().kind(), "weekend");
                skipped += 1;
            }
            RunOutcome::Ran(_) => panic!("ran at {when} while closed"),
        }
    }
    assert_eq!(skipped, 3);
    assert!(t.digests().await.is_empty(), "nothing sent while closed");
    let monday = t
        .app
        .run_at(&options, at("2026-11-30T06:00:00-06:00"))
        .await
        .unwrap();
    let RunOutcome::Ran(report) = monday else {
        panic!("Monday 06:00 is open")
    };
    assert_eq!(report.entries_scanned, 3);
    assert_eq!(
        t.digests().await,
        vec![(
            "ann".to_string(),
            "ann@example.org".to_string(),
            vec!["w0".into(), "w1".into(), "w2".into()]
        )]
    );
    let status = t.app.status().await.unwrap();
    let skipped_runs: Vec<_> = status
        .0
        .recent_runs
        .iter()
        .filter(|r| r.status == "skipped")
        .collect();
    // The three weekend ticks are one row that counts them.
    assert_eq!(skipped_runs.len(), 1);
    assert_eq!(skipped_runs[0].ticks, 3);
    assert_eq!(skipped_runs[0].skip_reason.as_deref(), Some("weekend"));
}

#[tokio::test]
async fn delivery_holds_while_closed_unless_told_otherwise() {
    let t = TestApp::with(|s| s.delivery.respect_windows = true).await;
    struct Fixed(DateTime<Utc>);
    impl mcap_notify::delivery::Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }
    let sunday = Fixed(at("2026-11-29T12:00:00-06:00"));
    let held = t.app.deliver_at(&sunday, false).await.unwrap();
    assert_eq!(held.held.as_deref(), Some("weekend"));
    let forced = t.app.deliver_at(&sunday, true).await.unwrap();
    assert_eq!(forced.held, None);
}

#[test]
fn scheduled_runs_do_work_at_the_right_local_times_across_both_dst_changes() {
    let calendar = Calendar::from_settings(&CalendarSettings::default());
    let every_five = Cadence::parse("0 */5 * * * *").unwrap();
    let next = |after: &str| {
        mcap_notify::scheduler::next_working_runs(every_five.cron(), &calendar, at(after), 2)
    };
    // Spring forward on Sunday 2026-03-08: Monday's first run is 06:00 CDT (11:00 UTC).
    assert_eq!(
        next("2026-03-07T12:00:00-06:00"),
        vec![
            at("2026-03-09T06:00:00-05:00"),
            at("2026-03-09T06:05:00-05:00")
        ]
    );
    // The last run before the weekend: Friday night 00:55 (Saturday 00:55 local), CST.
    assert_eq!(
        next("2026-03-07T00:52:00-06:00")[0],
        at("2026-03-07T00:55:00-06:00")
    );
    // Fall back on Sunday 2026-11-01: Monday's first run is 06:00 CST (12:00 UTC).
    assert_eq!(
        next("2026-10-31T12:00:00-05:00"),
        vec![
            at("2026-11-02T06:00:00-06:00"),
            at("2026-11-02T06:05:00-06:00")
        ]
    );
    // A zone-fixed cron job made in summer would fire at 07:00 CST in winter; ours does not.
    let winter_first = next("2026-12-06T12:00:00-06:00")[0];
    assert_eq!(winter_first.with_timezone(&Chicago).hour(), 6);
    let summer_first = next("2026-07-05T12:00:00-05:00")[0];
    assert_eq!(summer_first.with_timezone(&Chicago).hour(), 6);
}

/// A database with enough digests that a run takes a while.
async fn busy(t: &TestApp, accounts: usize) {
    t.ingest(
        FeedKind::Cases,
        &[case("2616-CV00001", "CT16", "CV", "Smith v. Jones")],
    )
    .await;
    let people: Vec<_> = (0..accounts)
        .map(|a| account(&format!("acct{a:05}"), &format!("a{a}@example.org"), true))
        .collect();
    t.ingest(FeedKind::Accounts, &people).await;
    let subs: Vec<_> = (0..accounts)
        .map(|a| {
            track(
                &format!("acct{a:05}"),
                "2616-CV00001",
                "2026-01-01T00:00:00Z",
            )
        })
        .collect();
    t.ingest(FeedKind::Subscriptions, &subs).await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", "2616-CV00001", "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
}

#[tokio::test]
async fn a_second_run_while_one_is_active_exits_75_and_names_the_holder() {
    let t = TestApp::new().await;
    busy(&t, 1500).await;
    let run_now = || {
        let mut c = t.command();
        c.args(["run-now", "--ignore-windows"]);
        c
    };
    // The first run stops while it holds the lease.
    let mut first_command = run_now();
    first_command.stdout(std::process::Stdio::null());
    let mut first = start_paused(first_command, "batch-lease:0");
    let first_pid = first.child.id();
    let second = run_now().output().unwrap();
    first.resume();
    let (first_done, _) = first.finish();
    assert!(first_done.success());
    assert_eq!(
        second.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("holds the lease") && message.contains(&format!("pid {first_pid}")),
        "{message}"
    );
    // Refused the lease, the second run made no attempt: nothing failed.
    let failures: i64 = t.db().value("SELECT COUNT(*) FROM run_failures").await;
    assert_eq!(failures, 0);
}

#[tokio::test]
async fn sigterm_during_a_run_leaves_nothing_half_written() {
    let reference = TestApp::with(|s| s.batch.accounts_per_commit = 5).await;
    busy(&reference, 1500).await;
    reference.run().await;
    let expected = reference.digests().await;

    let t = TestApp::new().await;
    busy(&t, 1500).await;
    let mut command = t.command();
    command
        .env("MCAP_NOTIFY__BATCH__ACCOUNTS_PER_COMMIT", "5")
        .args(["run-now", "--ignore-windows"])
        .stdout(std::process::Stdio::null());
    // SIGTERM lands between the third and the fourth commit; the run goes on only once it
    // has taken the stop in.
    let mut run = start_paused(command, "batch-commit:3");
    run.signal("TERM");
    run.wait_for("stop requested");
    run.resume();
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(
        t.digests().await.len(),
        15,
        "three commits of five, nothing half-written"
    );
    // Every queued message has its ledger rows and every ledger row its message.
    let orphans: i64 = t
        .db()
        .value(
            "SELECT (SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS
                   (SELECT 1 FROM notification_ledger l WHERE l.outbox_id = o.outbox_id))
              + (SELECT COUNT(*) FROM notification_ledger l WHERE NOT EXISTS
                   (SELECT 1 FROM outbox o WHERE o.outbox_id = l.outbox_id))",
        )
        .await;
    assert_eq!(orphans, 0);
    let lease: i64 = t.db().value("SELECT COUNT(*) FROM batch_lease").await;
    assert_eq!(lease, 0, "the lease was released");
    t.run().await;
    assert_eq!(t.digests().await.len(), expected.len());
    let mut got: Vec<_> = t.digests().await.into_iter().map(|d| (d.0, d.2)).collect();
    let mut want: Vec<_> = expected.into_iter().map(|d| (d.0, d.2)).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_expired_lease_from_another_host_is_taken_over() {
    // PostgreSQL's lease ends with its holder's session, not by expiry: tests/postgres_leases.rs.
    if common::sqlite_only("a lease that ends by its expiry") {
        return;
    }
    let t = TestApp::new().await;
    let stale = mcap_notify::store::LeaseInfo {
        holder: "elsewhere:1:1".into(),
        host: "elsewhere".into(),
        pid: 1,
        since: Utc::now() - Duration::hours(1),
        expires_at: Utc::now() - Duration::minutes(1),
    };
    t.app
        .store
        .acquire_batch_lease(&stale, stale.since)
        .await
        .unwrap()
        .unwrap();
    t.run().await;
    let live = mcap_notify::store::LeaseInfo {
        expires_at: Utc::now() + Duration::minutes(5),
        ..stale
    };
    t.app
        .store
        .acquire_batch_lease(&live, Utc::now())
        .await
        .unwrap()
        .unwrap();
    let refused = t.run_with(RunOptions::default()).await.unwrap_err();
    assert!(refused
        .downcast_ref::<mcap_notify::app::LeaseHeld>()
        .is_some());
}

#[test]
fn the_example_production_configuration_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/mcap-notify.toml");
    let settings = mcap_notify::config::Settings::load_from(Some(&path), Vec::new()).unwrap();
    assert_eq!(settings.calendar.zone, Chicago);
}

/// Returns once the daemon has said `count` more times that a message was sent (it says so
/// once the send is recorded), then checks the outbox holds `total` sent messages.
async fn sent(t: &TestApp, daemon: &mut Paused, count: usize, total: i64) {
    for _ in 0..count {
        daemon.wait_for("message sent");
    }
    let sent: i64 = t
        .db()
        .value("SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
        .await;
    assert_eq!(sent, total);
}

#[tokio::test]
async fn the_daemon_runs_the_batch_and_delivery_then_stops_cleanly_on_sigterm() {
    let t = TestApp::new().await;
    busy(&t, 3).await;
    // Always open, a run every second, delivery on its own only once an hour: a run that
    // queued digests has to wake delivery for them to leave.
    let config = t.dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        "[calendar]\nopen_days = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n\
         opens = \"00:00\"\ncloses = \"00:00\"\n\n[schedule]\nbatch = \"* * * * * *\"\n\
         delivery_every_secs = 3600\n\n[metrics]\nlisten = \"\"\n",
    )
    .unwrap();
    let mut command = t.command();
    command
        .env("MCAP_NOTIFY__LOG__FORMAT", "json")
        .arg("--config")
        .arg(&config)
        .arg("daemon");
    let mut daemon = start_talking(command);
    // The daemon queued and delivered the three digests.
    sent(&t, &mut daemon, 3, 3).await;
    // The pass at start-up is long over and the next timed one an hour away: the entry posted
    // now goes out because its run wakes delivery.
    t.ingest(
        FeedKind::Entries,
        &[entry("e2", "2616-CV00001", "JE", "2026-02-01T11:00:00Z")],
    )
    .await;
    // The next run's digests went out without waiting for the delivery interval.
    sent(&t, &mut daemon, 3, 6).await;
    daemon.signal("TERM");
    let started = std::time::Instant::now();
    let (status, said) = daemon.finish();
    assert!(status.success(), "a clean stop exits 0: {said}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let leases: i64 = t.db().value("SELECT (SELECT COUNT(*) FROM batch_lease) + (SELECT COUNT(*) FROM outbox WHERE lease_owner IS NOT NULL)").await;
    assert_eq!(leases, 0, "no lease is left behind");
}
