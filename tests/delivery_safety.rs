//! Delivery where one failure meets another: two workers on one queue, a claim taken over while
//! its first holder is still busy, a connection lost after the final dot, a pooled connection
//! the server has closed, a database locked or failing while results are recorded. Real SMTP
//! servers and real SQLite files; every race is set up with pre-seeded rows or synchronised on
//! the server's own announcements, never on sleeps.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use common::gate_server::GateServer;
use common::*;
use mcap_notify::config::{Secret, Settings, TransportKind};
use mcap_notify::delivery::Clock;
use mcap_notify::store::prelude::*;
use sqlx::Connection;

/// A clock fixed where the test puts it: a second worker that believes a claim has expired.
struct FixedClock(Mutex<DateTime<Utc>>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn smtp(url: String) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.delivery.transport = TransportKind::Smtp;
        s.smtp.url = Some(Secret::new(url));
        s.smtp.timeout_secs = 20;
        // One at a time: the order of sends, and what is in flight, is the test's to know.
        s.delivery.concurrency = 1;
    }
}

/// (recipient, state, lease owner) of every message, by recipient.
async fn rows(t: &TestApp) -> Vec<(String, String, Option<String>)> {
    t.db()
        .rows("SELECT recipient, state, lease_owner FROM outbox ORDER BY recipient")
        .await
}

fn count(received: &[String], recipient: &str) -> usize {
    received.iter().filter(|r| *r == recipient).count()
}

#[tokio::test]
async fn a_worker_never_sends_what_another_holds_under_a_live_lease() {
    let t = TestApp::new().await;
    t.digests_for(&[
        "held@example.org",
        "expired@example.org",
        "free@example.org",
    ])
    .await;
    let now = Utc::now();
    for (recipient, until) in [
        ("held@example.org", now + Duration::minutes(5)),
        ("expired@example.org", now - Duration::minutes(1)),
    ] {
        let db = t.db();
        db.exec(&format!(
            "UPDATE outbox SET lease_owner = 'elsewhere:1:5eed', lease_until = {}
             WHERE recipient = '{recipient}'",
            db.at(until)
        ))
        .await;
    }
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 2);
    let files = std::fs::read_dir(t.dir.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(
        files, 2,
        "only the expired and the free message were written"
    );
    assert_eq!(
        rows(&t).await,
        vec![
            ("expired@example.org".into(), "sent".into(), None),
            ("free@example.org".into(), "sent".into(), None),
            (
                "held@example.org".into(),
                "queued".into(),
                Some("elsewhere:1:5eed".into())
            ),
        ]
    );
}

#[tokio::test]
async fn a_claim_taken_over_by_a_second_worker_is_not_sent_by_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = GateServer::start(dir.path());
    let t = TestApp::with(smtp(server.url())).await;
    t.digests_for(&["gate-a@example.org", "b@example.org", "c@example.org"])
        .await;

    let first = t.app.deliver(true);
    let second = async {
        // The first worker has claimed all three and its first send is in flight.
        assert_eq!(server.held().await, "gate-a@example.org");
        let db = t.db();
        let waiting: Vec<(String, i64)> = db
            .rows(&format!(
                "SELECT recipient, {} FROM outbox WHERE recipient <> 'gate-a@example.org'",
                db.micros("lease_until")
            ))
            .await;
        assert_eq!(waiting.len(), 2);
        // A second worker whose clock says the claims on the waiting two have run out (a slow
        // first worker, or a host whose clock is ahead) takes them over and sends them.
        let expired = waiting.iter().map(|w| w.1).max().unwrap();
        let clock = FixedClock(Mutex::new(
            DateTime::from_timestamp_micros(expired + 1).unwrap(),
        ));
        let report = t.app.deliver_at(&clock, true).await.unwrap();
        server.release();
        report
    };
    let (first, second) = tokio::join!(first, second);
    let first = first.unwrap();
    assert_eq!(
        second.sent, 2,
        "the second worker took over the waiting two"
    );
    assert_eq!(
        first.sent, 1,
        "the first worker sent only what it still held"
    );
    let received = server.received();
    for r in ["gate-a@example.org", "b@example.org", "c@example.org"] {
        assert_eq!(count(&received, r), 1, "{r} received once: {received:?}");
    }
    assert!(rows(&t)
        .await
        .iter()
        .all(|r| r.1 == "sent" && r.2.is_none()));
}

#[test]
fn delivery_settings_whose_batch_cannot_be_sent_within_the_lease_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let deliver = |env: &[(&str, &str)]| {
        let mut c = binary();
        c.current_dir(dir.path())
            .env(
                "MCAP_NOTIFY__DATABASE__URL",
                format!("sqlite://{}", dir.path().join("t.db").display()),
            )
            .env("MCAP_NOTIFY__DELIVERY__FILE_DIR", dir.path().join("outbox"))
            .args(["deliver", "--ignore-windows"]);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // 200 messages, 8 at a time, 30 s each at worst: 750 s, past a 300 s lease.
    let slow = deliver(&[
        ("MCAP_NOTIFY__DELIVERY__BATCH_SIZE", "200"),
        ("MCAP_NOTIFY__DELIVERY__CONCURRENCY", "8"),
        ("MCAP_NOTIFY__SMTP__TIMEOUT_SECS", "30"),
        ("MCAP_NOTIFY__DELIVERY__LEASE_SECS", "300"),
    ]);
    let stderr = String::from_utf8_lossy(&slow.stderr);
    assert_eq!(slow.status.code(), Some(78), "{stderr}");
    for key in [
        "delivery.batch_size",
        "delivery.concurrency",
        "smtp.timeout_secs",
        "delivery.lease_secs",
    ] {
        assert!(stderr.contains(key), "names {key}: {stderr}");
    }
    // 40 messages at one every ten seconds: 400 s.
    let paced = deliver(&[
        ("MCAP_NOTIFY__DELIVERY__BATCH_SIZE", "40"),
        ("MCAP_NOTIFY__DELIVERY__RATE_PER_SECOND", "0.1"),
    ]);
    let stderr = String::from_utf8_lossy(&paced.stderr);
    assert_eq!(paced.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("delivery.rate_per_second"), "{stderr}");
    // The defaults fit.
    let defaults = deliver(&[]);
    assert!(
        defaults.status.success(),
        "{}",
        String::from_utf8_lossy(&defaults.stderr)
    );
}

#[tokio::test]
async fn a_connection_lost_after_the_final_dot_is_retried_later_not_resent_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = GateServer::start(dir.path());
    let t = TestApp::with(smtp(server.url())).await;
    // The first message leaves a pooled connection; the second goes over it and its
    // acknowledgement never comes.
    t.digests_for(&["a-first@example.org", "lost-b@example.org"])
        .await;
    let before = Utc::now();
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.deferred), (1, 1), "{report:?}");
    let received = server.received();
    assert_eq!(
        count(&received, "lost-b@example.org"),
        1,
        "received once, not resent at once: {received:?}"
    );
    let (entry, attempts) = t.app.store.outbox_entry(2).await.unwrap().unwrap();
    assert_eq!(entry.recipient, "lost-b@example.org");
    assert_eq!(entry.state, "queued");
    assert!(
        entry.next_attempt_at > before + Duration::minutes(3),
        "retried after the backoff: {}",
        entry.next_attempt_at
    );
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "transient");
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_replaced_and_the_next_message_goes_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = GateServer::start(dir.path());
    let t = TestApp::with(smtp(server.url())).await;
    // The server closes the connection after answering the first message.
    t.digests_for(&["last-a@example.org", "next-b@example.org"])
        .await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.deferred), (2, 0), "{report:?}");
    assert_eq!(
        server.received(),
        vec!["last-a@example.org", "next-b@example.org"]
    );
}

#[tokio::test]
async fn results_recorded_while_another_connection_holds_the_write_lock_wait_for_it() {
    if common::sqlite_only("a writer waiting for SQLite's single write lock") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = GateServer::start(dir.path());
    let t = TestApp::new().await;
    t.digests_for(&["gate-a@example.org"]).await;
    let mut deliver = t
        .command()
        .env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
        .env("MCAP_NOTIFY__SMTP__URL", server.url())
        .env("MCAP_NOTIFY__DATABASE__BUSY_TIMEOUT_MS", "50")
        .env("MCAP_NOTIFY__LOG__FORMAT", "json")
        .env("MCAP_NOTIFY__LOG__LEVEL", "warn")
        .args(["deliver", "--ignore-windows"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(deliver.stderr.take().unwrap());
    assert_eq!(server.held().await, "gate-a@example.org");
    // The send is in flight; lock the database before its result comes back.
    let mut lock = sqlx::SqliteConnection::connect(&t.app.settings.database.url)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    server.release();
    let mut waited = false;
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains("database busy") {
            waited = true;
            break;
        }
        seen.push(line);
    }
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let status = deliver.wait().unwrap();
    assert!(waited, "the recorder waited for the lock: {seen:#?}");
    assert!(status.success(), "{status:?}");
    assert_eq!(server.received(), vec!["gate-a@example.org"]);
    assert_eq!(
        rows(&t).await,
        vec![("gate-a@example.org".into(), "sent".into(), None)]
    );
}

#[tokio::test]
async fn a_failure_to_record_results_releases_the_leases() {
    let t = TestApp::with(|s| s.delivery.concurrency = 1).await;
    t.digests_for(&["a@example.org", "b@example.org", "c@example.org"])
        .await;
    t.db()
        .refuse_inserts("delivery_attempts", "1 = 1", "attempts refused")
        .await;
    let error = t.app.deliver(true).await.unwrap_err();
    assert!(
        format!("{error:#}").contains("attempts refused"),
        "{error:#}"
    );
    assert!(
        rows(&t)
            .await
            .iter()
            .all(|r| r.1 == "queued" && r.2.is_none()),
        "every claim released: {:?}",
        rows(&t).await
    );
}
