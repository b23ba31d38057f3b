//! Bounce mails after the fact: matched to our message through the VERP return path (or the
//! quoted Message-ID), recorded, and turned into suppressions; unmatched ones kept and listed.

mod common;

use chrono::{Duration, Utc};
use common::*;
use mcap_notify::bounce::{ingest_mails, read_mails, SuppressionPolicy};
use mcap_notify::ingest::FeedKind;
use mcap_notify::store::Store;

const C1: &str = "2616-CV00001";

/// Queues one digest per address and returns (recipient, VERP return path, Message-ID).
async fn queued(t: &TestApp, emails: &[&str]) -> Vec<(String, String, String)> {
    t.digests_for(emails).await;
    t.app.deliver(true).await.unwrap();
    sqlx::query_as("SELECT recipient, envelope_from, message_id FROM outbox ORDER BY recipient")
        .fetch_all(t.app.store.pool())
        .await
        .unwrap()
}

/// A delivery-status report as a receiving server would send it back to `return_path`.
fn dsn(return_path: &str, recipient: &str, status: &str, diagnostic: &str) -> String {
    format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net\r\nTo: {return_path}\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n\
Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--b1--\r\n"
    )
}

fn mbox(mails: &[String]) -> String {
    mails
        .iter()
        .map(|m| {
            format!(
                "From MAILER-DAEMON Fri Nov 27 07:00:00 2026\n{}\n",
                m.replace("\r\n", "\n")
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bounce_mail_finds_its_message_through_verp_and_suppresses_the_address() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["ann@example.org", "bob@example.org"]).await;
    let (ann, ann_return_path, _) = &sent[0];
    assert!(ann_return_path.starts_with("bounces+"), "{ann_return_path}");
    let hard = dsn(
        ann_return_path,
        ann,
        "5.1.1",
        "550 5.1.1 <ann@example.org>: User unknown",
    );
    let stranger = dsn(
        "bounces@alerts.example.org",
        "who@example.com",
        "5.1.1",
        "550 User unknown",
    );
    let not_a_bounce = "From: friend@example.com\r\nTo: bounces@alerts.example.org\r\nSubject: hello\r\n\r\nJust saying hi.\r\n".to_string();
    let path = t.dir.path().join("bounces.mbox");
    std::fs::write(&path, mbox(&[hard, stranger, not_a_bounce])).unwrap();

    let policy = SuppressionPolicy::from(&t.app.settings.bounces);
    let mails = read_mails(&path).unwrap();
    assert_eq!(mails.len(), 3);
    let report = ingest_mails(&t.app.store, &policy, mails, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (
            report.matched,
            report.unmatched,
            report.not_bounces,
            report.suppressed
        ),
        (1, 1, 1, 1)
    );
    let suppressed = t.app.store.suppressions().await.unwrap();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0].email, "ann@example.org");
    assert!(suppressed[0].evidence.contains("5.1.1"));
    let unmatched = t.app.store.unmatched_bounces(10).await.unwrap();
    assert_eq!(unmatched.len(), 1, "the stranger's bounce is kept");

    // Ann hears nothing more; Bob still does.
    t.ingest(
        FeedKind::Entries,
        &[entry("e2", C1, "JE", "2026-02-02T10:00:00Z")],
    )
    .await;
    let run = t.run().await;
    assert_eq!(
        (run.totals.digests_queued, run.totals.skipped_suppressed),
        (1, 1)
    );
}

#[tokio::test]
async fn a_bounce_without_verp_is_matched_by_the_quoted_message_id() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["ann@example.org"]).await;
    let (ann, _, message_id) = &sent[0];
    let mail = format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: alerts@alerts.example.org\r\n\
Subject: failure notice\r\n\r\nHi. This is the qmail-send program at mx.example.net.\r\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n\
<{ann}>:\r\n192.0.2.1 does not like recipient.\r\nRemote host said: 550 5.1.1 no such user\r\n\r\n\
--- Below this line is a copy of the message.\r\n\r\nMessage-ID: {message_id}\r\nSubject: x\r\n\r\nbody\r\n"
    );
    let dir = t.dir.path().join("Maildir");
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::create_dir_all(dir.join("cur")).unwrap();
    std::fs::write(dir.join("new/1.mx"), mail).unwrap();
    let policy = SuppressionPolicy::from(&t.app.settings.bounces);
    let report = ingest_mails(&t.app.store, &policy, read_mails(&dir).unwrap(), Utc::now())
        .await
        .unwrap();
    assert_eq!((report.matched, report.suppressed), (1, 1));
}

#[tokio::test]
async fn soft_bounces_suppress_only_past_the_threshold_within_the_window() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["full@example.org"]).await;
    let (full, return_path, _) = &sent[0];
    let policy = SuppressionPolicy::from(&t.app.settings.bounces);
    let soft = || {
        vec![mcap_notify::bounce::ingest::SourceMail {
            source: "test".into(),
            raw: dsn(return_path, full, "4.2.2", "452 4.2.2 Mailbox full").into_bytes(),
        }]
    };
    let start = Utc::now();
    // Four soft bounces spread over ten days: never five within seven days.
    for day in [0, 3, 8, 10] {
        let at = start + Duration::days(day);
        let report = ingest_mails(&t.app.store, &policy, soft(), at)
            .await
            .unwrap();
        assert_eq!(report.suppressed, 0, "day {day}");
    }
    // Three more inside the last week make five within seven days.
    let mut suppressed = 0;
    for hour in [1, 2, 3] {
        let at = start + Duration::days(10) + Duration::hours(hour);
        suppressed += ingest_mails(&t.app.store, &policy, soft(), at)
            .await
            .unwrap()
            .suppressed;
    }
    assert_eq!(suppressed, 1);
    let s = t.app.store.suppressions().await.unwrap();
    assert_eq!(s[0].reason, "soft-bounces");
    // An operator lifts it once the mailbox is fixed.
    assert!(t.app.store.unsuppress(full).await.unwrap());
    assert!(t.app.store.suppressions().await.unwrap().is_empty());
}

#[test]
fn bounces_parse_prints_json_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dsn.eml");
    std::fs::write(
        &file,
        dsn(
            "bounces+1.ab@alerts.example.org",
            "gone@example.org",
            "5.1.1",
            "550 5.1.1 User unknown",
        ),
    )
    .unwrap();
    let plain = dir.path().join("plain.eml");
    std::fs::write(
        &plain,
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: lunch\r\n\r\nNoon?\r\n",
    )
    .unwrap();
    let out = binary()
        .current_dir(dir.path())
        .args(["bounces", "parse", "--json"])
        .arg(&file)
        .arg(&plain)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"file": file.display().to_string(), "recipients": [
                {"address": "gone@example.org", "status": "5.1.1", "action": "failed", "verdict": "hard"}
            ]},
            {"file": plain.display().to_string(), "recipients": []}
        ])
    );
    assert!(
        !dir.path().join("mcap-notify.db").exists(),
        "no database was touched"
    );
}
