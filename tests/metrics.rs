//! The Prometheus metrics: a real run and delivery read back from the textfile the one-shot
//! commands write, the daemon's `/metrics`, `/healthz` and `/readyz`, `promtool check metrics`
//! on both, atomic replacement of the textfile, and counters that never go down when the rows
//! they came from are pruned or requeued. promtool (Debian `prometheus`) is required under CI
//! (the `CI` environment variable set, as `.ci/run` does); elsewhere its checks are skipped
//! with the reason printed.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::*;
use mcap_notify::atomic_file;
use mcap_notify::bounce::ReturnPaths;
use mcap_notify::ingest::FeedKind;
use mcap_notify::metrics::{gather, render};
use mcap_notify::model::{BounceVerdict, SendOutcome, SuppressionReason};
use mcap_notify::store::prelude::*;
use mcap_notify::store::{AttemptResult, BounceRecord, LeaseInfo, MetricsSnapshot};

/// Every family, with its type.
const FAMILIES: [(&str, &str); 19] = [
    ("mcap_notify_entries_claimed_total", "counter"),
    ("mcap_notify_entries_dropped_total", "counter"),
    ("mcap_notify_pairs_matched_total", "counter"),
    ("mcap_notify_digests_queued_total", "counter"),
    ("mcap_notify_accounts_skipped_total", "counter"),
    ("mcap_notify_runs_total", "counter"),
    ("mcap_notify_messages_sent_total", "counter"),
    ("mcap_notify_delivery_failures_total", "counter"),
    ("mcap_notify_messages_dead_total", "counter"),
    ("mcap_notify_bounces_total", "counter"),
    ("mcap_notify_suppressions_total", "counter"),
    ("mcap_notify_run_stage_seconds", "histogram"),
    ("mcap_notify_outbox_messages", "gauge"),
    ("mcap_notify_oldest_due_message_age_seconds", "gauge"),
    ("mcap_notify_watermark_lag_seconds", "gauge"),
    ("mcap_notify_last_success_timestamp_seconds", "gauge"),
    ("mcap_notify_service_open", "gauge"),
    ("mcap_notify_court_dates_ahead", "gauge"),
    ("mcap_notify_date_notices", "gauge"),
];

/// The samples of a text exposition: (name, sorted labels) to value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

fn parse(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("labels close");
                let mut labels: Vec<(String, String)> = rest
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                labels.sort();
                (name.to_string(), labels)
            }
        };
        assert!(
            out.insert((name, labels), value).is_none(),
            "a series appears twice: {line}"
        );
    }
    out
}

/// The value of one series; panics when it is missing.
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut key: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    key.sort();
    *samples
        .get(&(name.to_string(), key))
        .unwrap_or_else(|| panic!("no series {name}{labels:?} in {samples:#?}"))
}

/// Every family is there with its HELP and TYPE.
fn assert_all_families(text: &str) {
    for (name, kind) in FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "TYPE of {name} missing:\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "HELP of {name} missing"
        );
    }
}

/// `promtool check metrics` accepts `text` (lint problems included).
fn promtool_accepts(text: &str) {
    let Some(promtool) = promtool() else { return };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two cases with news for a verified account (one entry voided) and an unverified one.
async fn small_data_set(t: &TestApp) {
    t.ingest(
        FeedKind::Cases,
        &[
            case("2616-CV00001", "CT16", "CV", "Smith v. Jones"),
            case("2616-CV00002", "CT16", "CV", "Doe v. Roe"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("ann", "ann@example.org", true),
            account("bob", "bob@example.org", true),
            account("cy", "cy@example.org", false),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("ann", "2616-CV00001", "2026-01-01T00:00:00Z"),
            track("bob", "2616-CV00002", "2026-01-01T00:00:00Z"),
            track("cy", "2616-CV00001", "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", "2616-CV00001", "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", "2616-CV00001", "ORD", "2026-02-01T11:00:00Z"),
            entry("e3", "2616-CV00002", "MOT", "2026-02-01T12:00:00Z"),
            entry("e4", "2616-CV00002", "NOT", "2026-02-01T13:00:00Z"),
        ],
    )
    .await;
    t.ingest(FeedKind::Entries, &[void("e4", "2026-02-01T14:00:00Z")])
        .await;
}

/// Runs the program with `args` and the textfile at `path`; its output, checking it succeeded.
fn run_ok(t: &TestApp, path: &Path, args: &[&str]) -> String {
    let out = t
        .command()
        .env("MCAP_NOTIFY__METRICS__TEXTFILE", path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Only `expected` is left in its folder: no temporary file stays behind.
fn only_file_in_folder(expected: &Path) {
    let names: Vec<PathBuf> = std::fs::read_dir(expected.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names, vec![expected.to_path_buf()]);
}

#[tokio::test]
async fn a_real_run_and_delivery_read_back_from_the_textfile() {
    let t = TestApp::new().await;
    small_data_set(&t).await;
    let folder = t.dir.path().join("textfile");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("mcap-notify.prom");

    let report: serde_json::Value = serde_json::from_str(&run_ok(
        &t,
        &path,
        &["run-now", "--ignore-windows", "--json"],
    ))
    .unwrap();
    let digests = report["totals"]["digests_queued"].as_u64().unwrap();
    assert_eq!(digests, 2, "ann and bob get a digest: {report}");
    let text = std::fs::read_to_string(&path).unwrap();
    only_file_in_folder(&path);
    assert_all_families(&text);
    promtool_accepts(&text);
    let m = parse(&text);
    assert_eq!(
        value(&m, "mcap_notify_digests_queued_total", &[]),
        digests as f64
    );
    assert_eq!(value(&m, "mcap_notify_entries_claimed_total", &[]), 4.0);
    assert_eq!(
        value(
            &m,
            "mcap_notify_entries_dropped_total",
            &[("reason", "voided")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "mcap_notify_pairs_matched_total", &[]),
        report["totals"]["pairs_matched"].as_u64().unwrap() as f64
    );
    assert_eq!(
        value(
            &m,
            "mcap_notify_accounts_skipped_total",
            &[("reason", "unverified")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "mcap_notify_runs_total",
            &[("outcome", "done"), ("reason", "")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "mcap_notify_outbox_messages", &[("state", "queued")]),
        2.0
    );
    assert_eq!(
        value(&m, "mcap_notify_outbox_messages", &[("state", "sent")]),
        0.0
    );
    assert_eq!(value(&m, "mcap_notify_messages_sent_total", &[]), 0.0);
    // Everything posted went into the finished run.
    assert_eq!(value(&m, "mcap_notify_watermark_lag_seconds", &[]), 0.0);
    assert!(value(&m, "mcap_notify_oldest_due_message_age_seconds", &[]) >= 0.0);
    for stage in ["snapshot", "filter", "match_render", "commit"] {
        assert!(
            m.contains_key(&(
                "mcap_notify_run_stage_seconds_count".to_string(),
                vec![("stage".to_string(), stage.to_string())]
            )),
            "stage {stage} missing"
        );
    }

    run_ok(&t, &path, &["deliver", "--ignore-windows"]);
    let text = std::fs::read_to_string(&path).unwrap();
    only_file_in_folder(&path);
    promtool_accepts(&text);
    let m = parse(&text);
    assert_eq!(value(&m, "mcap_notify_messages_sent_total", &[]), 2.0);
    assert_eq!(
        value(&m, "mcap_notify_outbox_messages", &[("state", "sent")]),
        2.0
    );
    assert_eq!(
        value(&m, "mcap_notify_outbox_messages", &[("state", "queued")]),
        0.0
    );
    assert_eq!(
        value(&m, "mcap_notify_oldest_due_message_age_seconds", &[]),
        0.0
    );
    // The oneshot's file carries the totals from the database, not only its own work.
    assert_eq!(value(&m, "mcap_notify_digests_queued_total", &[]), 2.0);

    // A bounce ingest writes it too, with the bounce counted.
    let (outbox_id, recipient): (i64, String) = t
        .db()
        .row("SELECT outbox_id, recipient FROM outbox ORDER BY outbox_id LIMIT 1")
        .await;
    let return_path = ReturnPaths::new(&t.app.settings.mail).address(outbox_id);
    let bounce = t.dir.path().join("bounce.eml");
    std::fs::write(
        &bounce,
        dsn(&return_path, &recipient, "5.1.1", "550 5.1.1 no such user"),
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    run_ok(&t, &path, &["bounces", "ingest", bounce.to_str().unwrap()]);
    let m = parse(&std::fs::read_to_string(&path).unwrap());
    let bounces: f64 = [
        "hard",
        "soft",
        "policy",
        "too-large",
        "complaint",
        "auto-reply",
        "delivered",
    ]
    .iter()
    .map(|v| value(&m, "mcap_notify_bounces_total", &[("verdict", v)]))
    .sum();
    assert_eq!(bounces, 1.0, "the bounce mail is counted once");
    assert_eq!(
        value(&m, "mcap_notify_bounces_total", &[("verdict", "hard")]),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "mcap_notify_suppressions_total",
            &[("reason", "hard-bounce")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_failed_run_still_leaves_the_metrics_and_a_write_failure_only_warns() {
    let t = TestApp::new().await;
    small_data_set(&t).await;
    // Another host's live lease: the run is refused (exit 75).
    let now = Utc::now();
    let held = t
        .app
        .store
        .acquire_batch_lease(
            &LeaseInfo {
                holder: "elsewhere:1:1".into(),
                host: "elsewhere".into(),
                pid: 1,
                since: now,
                expires_at: now + chrono::Duration::hours(1),
            },
            now,
        )
        .await
        .unwrap();
    assert!(held.is_ok());
    let path = t.dir.path().join("after-failure.prom");
    let out = t
        .command()
        .env("MCAP_NOTIFY__METRICS__TEXTFILE", &path)
        .args(["run-now", "--ignore-windows"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
    let m = parse(&std::fs::read_to_string(&path).expect("written after the failed run"));
    assert_eq!(value(&m, "mcap_notify_entries_claimed_total", &[]), 0.0);
    t.app
        .store
        .release_batch_lease("elsewhere:1:1")
        .await
        .unwrap();

    // A folder that does not exist: the run succeeds, with a warning naming the path.
    let path = t.dir.path().join("no-such-folder").join("m.prom");
    let out = t
        .command()
        .env("MCAP_NOTIFY__METRICS__TEXTFILE", &path)
        .args(["run-now", "--ignore-windows"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "the warning names the path: {stderr}"
    );
    assert!(!path.exists());
}

#[test]
fn the_textfile_is_never_seen_half_written() {
    // Versions of very different sizes, each a real exposition with a numbered first line.
    let versions: Arc<Vec<String>> = Arc::new(
        (0..60u64)
            .map(|i| {
                let mut s = MetricsSnapshot {
                    entries_claimed: i,
                    ..MetricsSnapshot::default()
                };
                s.counters = (0..(i % 5) * 200)
                    .map(|n| ("bounces".to_string(), format!("v{n}"), n))
                    .collect();
                format!("# version {i}\n{}", render(&s, true, Utc::now()))
            })
            .collect(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.prom");
    atomic_file::replace(&path, versions[0].as_bytes()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, versions, done) = (path.clone(), versions.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                let mut text = String::new();
                std::fs::File::open(&path)
                    .expect("the file is always there")
                    .read_to_string(&mut text)
                    .unwrap();
                let n: usize = text
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("# version "))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no version line: {text:.80}"));
                assert!(text == versions[n], "version {n} read incomplete");
                reads += 1;
            }
            reads
        })
    };
    for round in 0..2 {
        for (i, v) in versions.iter().enumerate().skip(round % 2) {
            atomic_file::replace(&path, v.as_bytes()).unwrap_or_else(|e| panic!("{i}: {e}"));
        }
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.join().expect("every read was a complete file");
    assert!(reads > 0);
    only_file_in_folder(&path);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644, "readable by the exporter's user");
}

#[tokio::test]
async fn counters_never_go_down_when_rows_are_pruned_requeued_or_lifted() {
    let t = TestApp::new().await;
    t.digests_for(&["a@example.org", "b@example.org"]).await;
    let store = &t.app.store;
    let now = Utc::now();
    let claimed = store
        .claim_due("w", now, now + chrono::Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let result = |i: usize, outcome: SendOutcome| AttemptResult {
        outbox_id: claimed[i].outbox_id,
        attempt: 1,
        at: now,
        outcome,
        reply_code: None,
        status: None,
        detail: outcome.as_str().into(),
        retry_at: None,
    };
    store
        .record_attempts(
            "w",
            &[
                result(0, SendOutcome::Sent),
                result(1, SendOutcome::Permanent),
            ],
        )
        .await
        .unwrap();
    let counters = |m: &Samples| {
        [
            value(m, "mcap_notify_messages_sent_total", &[]),
            value(m, "mcap_notify_messages_dead_total", &[]),
            value(
                m,
                "mcap_notify_delivery_failures_total",
                &[("class", "permanent")],
            ),
            value(m, "mcap_notify_bounces_total", &[("verdict", "hard")]),
            value(
                m,
                "mcap_notify_suppressions_total",
                &[("reason", "hard-bounce")],
            ),
        ]
    };
    let read = || async { parse(&gather(&t.app, Utc::now()).await.unwrap()) };
    let m = read().await;
    assert_eq!(counters(&m), [1.0, 1.0, 1.0, 0.0, 0.0]);
    assert_eq!(
        value(&m, "mcap_notify_outbox_messages", &[("state", "dead")]),
        1.0
    );

    // The dead letter is requeued and then sent: dead stays counted.
    assert_eq!(store.requeue_dead(None, Utc::now()).await.unwrap(), 1);
    t.app.deliver(true).await.unwrap();
    let m = read().await;
    assert_eq!(counters(&m), [2.0, 1.0, 1.0, 0.0, 0.0]);
    assert_eq!(
        value(&m, "mcap_notify_outbox_messages", &[("state", "dead")]),
        0.0
    );

    // A bounce and a suppression; suppressing again and lifting it count nothing more.
    let bounce = BounceRecord {
        at: Utc::now(),
        email: "b@example.org".into(),
        verdict: BounceVerdict::Hard,
        status: Some("5.1.1".into()),
        detail: "no such user".into(),
        outbox_id: Some(claimed[1].outbox_id),
        bounce_mail_id: None,
        proven: true,
    };
    assert!(store.record_bounce(&bounce).await.unwrap().is_some());
    assert!(
        store.record_bounce(&bounce).await.unwrap().is_none(),
        "the same send-time refusal is recorded once"
    );
    for expect_new in [true, false] {
        let new = store
            .suppress(
                "b@example.org",
                SuppressionReason::HardBounce,
                "bounce",
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(new, expect_new);
    }
    assert!(store.unsuppress("b@example.org").await.unwrap());
    assert_eq!(counters(&read().await), [2.0, 1.0, 1.0, 1.0, 1.0]);

    // Pruning removes the attempts the counts came from; the counts stay.
    let pruned = store
        .prune(
            Utc::now() + chrono::Duration::days(1),
            Utc::now() + chrono::Duration::days(1),
            false,
        )
        .await
        .unwrap();
    assert_eq!(pruned.delivery_attempts, 3);
    assert_eq!(counters(&read().await), [2.0, 1.0, 1.0, 1.0, 1.0]);
}

#[tokio::test]
async fn skipped_runs_count_by_kind_of_closure_and_service_open_follows_the_calendar() {
    let t = TestApp::new().await;
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let sunday = at("2026-03-01T18:00:00Z");
    let tuesday_noon = at("2026-03-03T18:00:00Z");
    let tuesday_night = at("2026-03-03T09:00:00Z");
    t.app
        .store
        .add_outages(
            &[mcap_notify::model::NewOutage {
                starts_at: at("2026-03-04T17:00:00Z"),
                ends_at: at("2026-03-04T19:00:00Z"),
                reason: "database upgrade".into(),
            }],
            sunday,
        )
        .await
        .unwrap()
        .unwrap();
    let options = mcap_notify::batch::RunOptions::default();
    for when in [
        sunday,
        sunday + chrono::Duration::minutes(5),
        tuesday_night,
        at("2026-03-04T18:00:00Z"),
    ] {
        let outcome = t.app.run_at(&options, when).await.unwrap();
        assert!(
            matches!(outcome, mcap_notify::app::RunOutcome::Skipped { .. }),
            "{when} is closed"
        );
    }
    let m = parse(&gather(&t.app, sunday).await.unwrap());
    let runs = |outcome: &str, reason: &str| {
        value(
            &m,
            "mcap_notify_runs_total",
            &[("outcome", outcome), ("reason", reason)],
        )
    };
    assert_eq!(runs("skipped", "weekend"), 2.0, "two ticks in one row");
    assert_eq!(runs("skipped", "night"), 1.0);
    assert_eq!(runs("skipped", "outage"), 1.0);
    assert_eq!(runs("skipped", "holiday"), 0.0);
    assert_eq!(runs("done", ""), 0.0);
    assert_eq!(runs("failed", ""), 0.0);
    assert_eq!(runs("interrupted", ""), 0.0);
    assert_eq!(value(&m, "mcap_notify_service_open", &[]), 0.0);
    let m = parse(&gather(&t.app, tuesday_noon).await.unwrap());
    assert_eq!(value(&m, "mcap_notify_service_open", &[]), 1.0);
}

#[tokio::test]
async fn unfinished_entries_and_due_messages_show_as_lag() {
    let t = TestApp::new().await;
    t.digests_for(&["a@example.org"]).await;
    let posted = "2026-02-02T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
    t.ingest(
        FeedKind::Entries,
        &[entry("e2", "2616-CV00001", "ORD", "2026-02-02T10:00:00Z")],
    )
    .await;
    let db = t.db();
    let queued_at: i64 = db
        .value(&format!(
            "SELECT {} FROM outbox",
            db.micros("next_attempt_at")
        ))
        .await;
    let queued_at = DateTime::from_timestamp_micros(queued_at).unwrap();
    let now = queued_at + chrono::Duration::seconds(90);
    let m = parse(&gather(&t.app, now).await.unwrap());
    let lag = value(&m, "mcap_notify_watermark_lag_seconds", &[]);
    assert!(
        (lag - (now - posted).num_seconds() as f64).abs() < 1.0,
        "lag {lag} from the unclaimed entry's posting time"
    );
    let due = value(&m, "mcap_notify_oldest_due_message_age_seconds", &[]);
    assert!((due - 90.0).abs() < 0.01, "due for 90 s: {due}");
    // Before the message is due there is nothing overdue.
    let m = parse(
        &gather(&t.app, queued_at - chrono::Duration::seconds(1))
            .await
            .unwrap(),
    );
    assert_eq!(
        value(&m, "mcap_notify_oldest_due_message_age_seconds", &[]),
        0.0
    );
}

/// A daemon on a free port, with the address it printed.
struct Daemon {
    child: std::process::Child,
    address: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Daemon {
    fn start(t: &TestApp) -> Daemon {
        let mut child = t
            .command()
            .env("MCAP_NOTIFY__LOG__LEVEL", "info")
            .env("MCAP_NOTIFY__LOG__FORMAT", "json")
            .arg("daemon")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr =
            std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
        // The daemon says where it listens on standard output, whatever the log level.
        let mut said = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let address = loop {
            match said.next() {
                Some(Ok(line)) => {
                    if let Some((_, rest)) = line.split_once("metrics on http://") {
                        break rest.split('/').next().unwrap().to_string();
                    }
                }
                _ => panic!(
                    "the daemon ended before listening: {}",
                    stderr.join().unwrap()
                ),
            }
        };
        Daemon {
            child,
            address,
            stderr,
        }
    }

    /// GET `path`: the status code, the headers and the body.
    fn get(&self, path: &str) -> (u16, String, String) {
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("a response");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_lowercase(), body.to_string())
    }

    fn stop(mut self) -> String {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.join().unwrap();
        assert!(status.success(), "a clean stop: {status:?}\n{stderr}");
        stderr
    }
}

#[tokio::test]
async fn the_daemon_serves_metrics_health_and_readiness() {
    let t = TestApp::new().await;
    t.digests_for(&["a@example.org"]).await;
    let daemon = Daemon::start(&t);
    assert!(
        daemon.address.starts_with("127.0.0.1:") && !daemon.address.ends_with(":0"),
        "the port taken is shown: {}",
        daemon.address
    );

    let (status, head, body) = daemon.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_all_families(&body);
    promtool_accepts(&body);
    let m = parse(&body);
    assert_eq!(value(&m, "mcap_notify_digests_queued_total", &[]), 1.0);

    let (status, _, body) = daemon.get("/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));

    let (status, _, body) = daemon.get("/readyz");
    assert_eq!(status, 200);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["lease"], "free", "{body}");

    // While a run holds the batch lease, readiness says who and until when.
    let now = Utc::now();
    let lease = LeaseInfo {
        holder: "runner:7:7".into(),
        host: "runner".into(),
        pid: 7,
        since: now,
        expires_at: now + chrono::Duration::minutes(10),
    };
    t.app
        .store
        .acquire_batch_lease(&lease, now)
        .await
        .unwrap()
        .unwrap();
    let (status, _, body) = daemon.get("/readyz");
    assert_eq!(status, 200);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let said = ready["lease"].as_str().unwrap();
    assert!(said.starts_with("held by runner:7:7 until "), "{said}");

    // A database that cannot answer the question: not ready, with the reason.
    t.db()
        .exec("ALTER TABLE batch_lease RENAME TO batch_lease_away")
        .await;
    let (status, _, body) = daemon.get("/readyz");
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let said = ready["database"].as_str().unwrap();
    assert!(said.contains("batch_lease"), "the reason is given: {said}");
    t.db()
        .exec("ALTER TABLE batch_lease_away RENAME TO batch_lease")
        .await;
    assert_eq!(daemon.get("/readyz").0, 200);

    // The database file moved away under the daemon: its open connections still answer from
    // the old file, but it is not ready. (A PostgreSQL database has no file to move.)
    if !common::on_postgres() {
        let db = t.dir.path().join("test.db");
        let away = t.dir.path().join("moved.db");
        std::fs::rename(&db, &away).unwrap();
        let (status, _, body) = daemon.get("/readyz");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("is gone"), "{body}");
        std::fs::rename(&away, &db).unwrap();
        assert_eq!(daemon.get("/readyz").0, 200);
    }

    let (status, _, _) = daemon.get("/nothing-here");
    assert_eq!(status, 404);
    daemon.stop();
}

#[tokio::test]
async fn a_metrics_port_in_use_stops_the_daemon_with_an_error_naming_the_key() {
    let t = TestApp::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = t
        .command()
        .env("MCAP_NOTIFY__METRICS__LISTEN", &address)
        .arg("daemon")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("metrics.listen") && stderr.contains(&address),
        "{stderr}"
    );
}
