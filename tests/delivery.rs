//! Delivery through real transports and real SMTP servers on 127.0.0.1: Postfix's smtp-sink in
//! its accept, hard-reject, soft-reject, 421 and slow modes, and a per-recipient policy server.
//! Time is injected, never slept through: retries and dead-lettering run on a test clock.

mod common;

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use common::policy_server::PolicyServer;
use common::smtp_sink::{free_port, SmtpSink};
use common::*;
use mcap_notify::config::{Secret, Settings, TransportKind};
use mcap_notify::delivery::Clock;
use mcap_notify::ingest::FeedKind;
use mcap_notify::store::prelude::*;

const C1: &str = "2616-CV00001";

/// A clock the test moves by hand.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> TestClock {
        TestClock(Mutex::new(Utc::now()))
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn smtp(url: String) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.delivery.transport = TransportKind::Smtp;
        s.smtp.url = Some(Secret::new(url));
        s.smtp.timeout_secs = 5;
    }
}

async fn states(t: &TestApp) -> Vec<(String, String)> {
    t.db()
        .rows("SELECT recipient, state FROM outbox ORDER BY recipient, outbox_id")
        .await
}

async fn attempt_times(t: &TestApp, outbox_id: i64) -> Vec<i64> {
    let db = t.db();
    db.column(&format!(
        "SELECT {} FROM delivery_attempts WHERE outbox_id = {outbox_id} ORDER BY attempt",
        db.micros("at")
    ))
    .await
}

#[tokio::test]
async fn smtp_delivery_reaches_each_recipient_once_with_a_verp_return_path() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &[]);
    let t = TestApp::with(smtp(sink.url())).await;
    t.digests_for(&["ann@example.org", "bob@example.net", "cy@example.com"])
        .await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 3);

    let received = sink.messages();
    assert_eq!(received.len(), 3);
    let mut envelopes: Vec<(String, String)> = received
        .iter()
        .map(|m| {
            let field = |name: &str| {
                m.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap()
                    .to_string()
            };
            (field("X-Rcpt-Args: "), field("To: "))
        })
        .collect();
    envelopes.sort();
    assert_eq!(
        envelopes,
        vec![
            (
                "<ann@example.org>".to_string(),
                "ann@example.org".to_string()
            ),
            ("<bob@example.net>".into(), "bob@example.net".into()),
            ("<cy@example.com>".into(), "cy@example.com".into()),
        ]
    );
    // Each return path names its message's outbox id under the token secret's MAC.
    let paths = mcap_notify::bounce::ReturnPaths::new(&t.app.settings.mail);
    let mut ids: Vec<i64> = received
        .iter()
        .map(|m| {
            let sender = m
                .lines()
                .find_map(|l| l.strip_prefix("X-Mail-Args: <"))
                .unwrap()
                .trim_end_matches('>');
            paths
                .outbox_id(sender)
                .unwrap_or_else(|| panic!("VERP return path: {sender}"))
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(states(&t).await.iter().all(|(_, s)| s == "sent"));
    let again = t.app.deliver(true).await.unwrap();
    assert_eq!(again.sent, 0, "nothing is sent twice");
    assert_eq!(sink.messages().len(), 3);
}

#[tokio::test]
async fn a_hard_reject_bounces_suppresses_and_stops_further_digests() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(
        &dir.path().join("sink"),
        &[
            "-f",
            "RCPT",
            "-B",
            "550 5.1.1 Recipient address rejected: User unknown",
        ],
    );
    let t = TestApp::with(smtp(sink.url())).await;
    t.digests_for(&["gone@example.org"]).await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.bounced, report.suppressed), (0, 1, 1));
    assert_eq!(
        states(&t).await,
        vec![("gone@example.org".into(), "dead".into())]
    );
    let suppressed = t.app.store.suppressions().await.unwrap();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0].email, "gone@example.org");
    assert_eq!(suppressed[0].reason, "hard-bounce");
    assert!(
        suppressed[0].evidence.contains("5.1.1"),
        "{}",
        suppressed[0].evidence
    );

    // The next run finds news for the account but sends it nothing, and says so.
    t.ingest(
        FeedKind::Entries,
        &[entry("e-next", C1, "JE", "2026-02-02T10:00:00Z")],
    )
    .await;
    let run = t.run().await;
    assert_eq!(
        (run.totals.digests_queued, run.totals.skipped_suppressed),
        (0, 1)
    );

    // A new address on the account is not suppressed.
    t.ingest(
        FeedKind::Accounts,
        &[account("acct0", "new@example.org", true)],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e-later", C1, "JE", "2026-02-03T10:00:00Z")],
    )
    .await;
    assert_eq!(t.run().await.totals.digests_queued, 1);
}

#[tokio::test]
async fn soft_rejects_retry_with_doubling_backoff_then_dead_letter_after_five_days() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &["-r", "RCPT"]);
    let t = TestApp::with(|s| {
        smtp(sink.url())(s);
        s.retry.jitter = 0.0;
    })
    .await;
    t.digests_for(&["busy@example.org"]).await;
    let clock = TestClock::new();
    let first = t.app.deliver_at(&clock, true).await.unwrap();
    assert_eq!((first.sent, first.deferred), (0, 1));
    // Not due again before its retry time.
    clock.advance(Duration::minutes(4));
    assert_eq!(t.app.deliver_at(&clock, true).await.unwrap().deferred, 0);
    let mut expired = 0;
    for _ in 0..500 {
        let (entry, _) = t.app.store.outbox_entry(1).await.unwrap().unwrap();
        if entry.state != "queued" {
            break;
        }
        clock.advance(entry.next_attempt_at - clock.now());
        expired += t.app.deliver_at(&clock, true).await.unwrap().expired;
    }
    assert_eq!(expired, 1, "dead-lettered once the lifetime is over");
    let times = attempt_times(&t, 1).await;
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) / 60_000_000)
        .collect();
    assert_eq!(
        &gaps[..6],
        &[5, 10, 20, 40, 66, 66],
        "minutes between attempts"
    );
    let span = Duration::microseconds(times.last().unwrap() - times[0]);
    assert!(span >= Duration::days(5) && span < Duration::days(5) + Duration::hours(2));

    let (entry, attempts) = t.app.store.outbox_entry(1).await.unwrap().unwrap();
    assert_eq!(entry.state, "dead");
    assert_eq!(attempts.len(), times.len());
    assert!(entry.last_error.unwrap().contains("4.3.0"));
    assert!(
        t.app.store.suppressions().await.unwrap().is_empty(),
        "a soft failure suppresses nothing"
    );

    // An operator requeues it; it is due at once with a fresh lifetime.
    assert_eq!(
        t.app.store.requeue_dead(None, clock.now()).await.unwrap(),
        1
    );
    let retried = t.app.deliver_at(&clock, true).await.unwrap();
    assert_eq!(retried.deferred, 1);
}

#[tokio::test]
async fn a_421_disconnect_defers_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &["-Q", "RCPT"]);
    let t = TestApp::with(smtp(sink.url())).await;
    t.digests_for(&["ann@example.org", "bob@example.org"]).await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.deferred, report.bounced), (0, 2, 0));
    assert!(states(&t).await.iter().all(|(_, s)| s == "queued"));
}

#[tokio::test]
async fn a_slow_server_times_out_and_the_message_is_deferred() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &["-W", "DATA:3"]);
    let t = TestApp::with(|s| {
        smtp(sink.url())(s);
        s.smtp.timeout_secs = 1;
    })
    .await;
    t.digests_for(&["ann@example.org"]).await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.deferred), (0, 1));
    assert!(
        report.failures[0].2.contains("no answer"),
        "{:?}",
        report.failures
    );
}

#[tokio::test]
async fn an_unreachable_server_leaves_every_message_queued() {
    let port = free_port();
    let t = TestApp::with(smtp(format!("smtp://127.0.0.1:{port}"))).await;
    t.digests_for(&["ann@example.org", "bob@example.org"]).await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.deferred), (0, 2));
    assert!(states(&t).await.iter().all(|(_, s)| s == "queued"));
}

#[tokio::test]
async fn each_recipient_gets_its_own_verdict_and_a_dropped_connection_fails_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = PolicyServer::start(dir.path());
    let t = TestApp::with(|s| {
        smtp(server.url())(s);
        // One at a time, so the messages after the 421 reuse the pool.
        s.delivery.concurrency = 1;
    })
    .await;
    let emails = [
        "a-ok@example.org",
        "drop-me@example.org",
        "full-box@example.org",
        "hard-gone@example.org",
        "policy-x@example.org",
        "soft-later@example.org",
        "z-ok@example.org",
    ];
    t.digests_for(&emails).await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(report.bounced, 1);
    assert_eq!(report.policy_blocked, 1);
    assert_eq!(report.deferred, 3, "421, 552 and 451 retry");
    let mut accepted: Vec<String> = server.accepted().into_iter().flat_map(|a| a.1).collect();
    accepted.sort();
    assert_eq!(accepted, vec!["a-ok@example.org", "z-ok@example.org"]);
    assert_eq!(
        states(&t).await,
        vec![
            ("a-ok@example.org".to_string(), "sent".to_string()),
            ("drop-me@example.org".into(), "queued".into()),
            ("full-box@example.org".into(), "queued".into()),
            ("hard-gone@example.org".into(), "dead".into()),
            ("policy-x@example.org".into(), "queued".into()),
            ("soft-later@example.org".into(), "queued".into()),
            ("z-ok@example.org".into(), "sent".into()),
        ]
    );
    let suppressed: Vec<String> = t
        .app
        .store
        .suppressions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.email)
        .collect();
    assert_eq!(
        suppressed,
        vec!["hard-gone@example.org"],
        "policy blocks never suppress"
    );
    let flagged = t.app.store.outbox_list(Some("queued"), 10).await.unwrap();
    let policy = flagged
        .iter()
        .find(|m| m.recipient.starts_with("policy"))
        .unwrap();
    assert!(
        policy.policy_flag,
        "a policy block is flagged for operators"
    );
}

/// A wait in whole minutes, rounded (stored instants keep microseconds).
fn minutes(wait: Duration) -> i64 {
    (wait.num_milliseconds() + 30_000).div_euclid(60_000)
}

#[tokio::test]
async fn send_time_refusals_blame_the_address_only_when_they_are_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = PolicyServer::start(dir.path());
    let t = TestApp::with(|s| {
        smtp(server.url())(s);
        s.retry.jitter = 0.0;
    })
    .await;
    t.digests_for(&[
        "big-digest@example.org",
        "disabled-box@example.org",
        "full-box@example.org",
        "policy-x@example.org",
        "sender-x@example.org",
    ])
    .await;
    let clock = TestClock::new();
    let report = t.app.deliver_at(&clock, true).await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(report.policy_blocked, 2, "5.7.1 and 5.1.8 are about us");
    assert_eq!(report.deferred, 2, "5.2.1 and 5.2.2 are soft");
    // (recipient, state, policy flag, minutes to the next attempt while queued)
    let mut seen = Vec::new();
    for m in t.app.store.outbox_list(None, 10).await.unwrap() {
        let wait = (m.state == "queued").then(|| minutes(m.next_attempt_at - clock.now()));
        seen.push((m.recipient, m.state, m.policy_flag, wait, m.last_error));
    }
    seen.sort();
    let summary: Vec<_> = seen
        .iter()
        .map(|(r, s, f, w, _)| (r.as_str(), s.as_str(), *f, *w))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("big-digest@example.org", "dead", false, None),
            ("disabled-box@example.org", "queued", false, Some(5)),
            ("full-box@example.org", "queued", false, Some(5)),
            ("policy-x@example.org", "queued", true, Some(60)),
            ("sender-x@example.org", "queued", true, Some(60)),
        ]
    );
    let too_large = seen[0].4.as_deref().unwrap();
    assert!(
        too_large.contains("too large") && too_large.contains("5.3.4"),
        "{too_large}"
    );
    assert!(
        t.app.store.suppressions().await.unwrap().is_empty(),
        "no refusal here is proof that an address is bad"
    );
    let bounces = || async {
        t.db()
            .rows::<(String, String)>(
                "SELECT email, verdict FROM bounces ORDER BY email, bounce_id",
            )
            .await
    };
    let soft = vec![
        ("disabled-box@example.org".to_string(), "soft".to_string()),
        ("full-box@example.org".into(), "soft".into()),
    ];
    assert_eq!(bounces().await, soft);

    // The soft ones are tried again on time and count once per message; the policy blocks wait.
    clock.advance(Duration::minutes(5));
    let again = t.app.deliver_at(&clock, true).await.unwrap();
    assert_eq!((again.deferred, again.policy_blocked), (2, 0));
    assert_eq!(bounces().await, soft);
    clock.advance(Duration::minutes(55));
    let later = t.app.deliver_at(&clock, true).await.unwrap();
    assert_eq!(later.policy_blocked, 2);
    let policy = t.app.store.outbox_entry(4).await.unwrap().unwrap().0;
    assert_eq!(policy.recipient, "policy-x@example.org");
    assert_eq!(
        minutes(policy.next_attempt_at - clock.now()),
        120,
        "policy blocks back off from an hour, doubling"
    );
}

#[tokio::test]
async fn the_file_transport_writes_one_valid_message_per_digest() {
    let t = TestApp::new().await;
    t.digests_for(&["ann@example.org", "bob@example.net", "cy@example.com"])
        .await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 3);
    let dir = t.dir.path().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    for file in files {
        assert_eq!(file.extension().unwrap(), "eml");
        let raw = std::fs::read(&file).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.text_body_count(), 1);
        assert_eq!(parsed.html_body_count(), 1);
    }
    assert!(states(&t).await.iter().all(|(_, s)| s == "sent"));
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_loses_nothing_and_resends_with_the_same_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &[]);
    let t = TestApp::new().await;
    let emails: Vec<String> = (0..6).map(|i| format!("reader{i}@example.org")).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    t.digests_for(&emails).await;
    let deliver = || {
        let mut c = t.command();
        c.env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
            .env("MCAP_NOTIFY__SMTP__URL", sink.url())
            // One at a time: while the accepted message waits to be recorded, nothing else
            // moves, so the kill lands at a known point.
            .env("MCAP_NOTIFY__DELIVERY__CONCURRENCY", "1")
            .env("MCAP_NOTIFY__DELIVERY__LEASE_SECS", "10")
            .env("MCAP_NOTIFY__DELIVERY__BATCH_SIZE", "2")
            .env("MCAP_NOTIFY__SMTP__TIMEOUT_SECS", "2")
            .args(["deliver", "--ignore-windows"])
            .stdout(std::process::Stdio::null());
        c
    };
    // Killed once the server has accepted one message, before the worker records it.
    let worker = start_paused(deliver(), "deliver-sent:1");
    worker.signal("KILL");
    worker.finish();
    let before_restart = sink.messages().len();
    // The dead worker's claims run out (here at once, as if ten seconds had passed).
    let db = t.db();
    db.exec(&format!(
        "UPDATE outbox SET lease_until = {} WHERE lease_owner IS NOT NULL",
        db.at(chrono::DateTime::UNIX_EPOCH)
    ))
    .await;
    let finish = deliver().output().unwrap();
    assert!(
        finish.status.success(),
        "{}",
        String::from_utf8_lossy(&finish.stderr)
    );

    assert!(
        states(&t).await.iter().all(|(_, s)| s == "sent"),
        "nothing lost"
    );
    let queued: Vec<String> = t
        .db()
        .column("SELECT message_id FROM outbox ORDER BY 1")
        .await;
    let received = sink.messages();
    let mut ids: Vec<String> = received
        .iter()
        .map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    let resent = ids.len() - queued.len();
    ids.dedup();
    assert_eq!(
        ids, queued,
        "every message arrived, under its own Message-ID"
    );
    eprintln!("{before_restart} accepted before the kill; {resent} sent twice after it");
    // The message accepted but not recorded goes again, under the same Message-ID; no other.
    assert_eq!(before_restart, 1);
    assert_eq!(
        resent, 1,
        "only the message in flight at the kill is sent twice"
    );
}

#[tokio::test]
async fn a_rate_limit_spaces_the_sends() {
    // Seven messages at five a second cannot take less than six intervals of 200 ms.
    let t = TestApp::with(|s| s.delivery.rate_per_second = Some(5.0)).await;
    let emails: Vec<String> = (0..7).map(|i| format!("reader{i}@example.org")).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    t.digests_for(&emails).await;
    let started = std::time::Instant::now();
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 7);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1150),
        "sent in {:?}",
        started.elapsed()
    );
}
