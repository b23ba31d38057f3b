//! Bounce mails after the fact: matched to our message through its keyed VERP return path (or,
//! proving nothing, the quoted Message-ID), recorded against the one address that message went
//! to, and turned into suppressions; unmatched ones kept and listed; read twice, counted once.

mod common;

use chrono::{Duration, Utc};
use common::*;
use mcap_notify::bounce::ingest::SourceMail;
use mcap_notify::bounce::{
    ingest_mails, read_mails, BounceIngestReport, ReturnPaths, SuppressionPolicy,
};
use mcap_notify::ingest::FeedKind;
use mcap_notify::store::prelude::*;

const C1: &str = "2616-CV00001";

/// Queues and sends one digest per address and returns (recipient, VERP return path,
/// Message-ID), by recipient.
async fn queued(t: &TestApp, emails: &[&str]) -> Vec<(String, String, String)> {
    t.digests_for(emails).await;
    t.app.deliver(true).await.unwrap();
    let rows: Vec<(i64, String, String)> = t
        .db()
        .rows("SELECT outbox_id, recipient, message_id FROM outbox ORDER BY recipient")
        .await;
    let paths = ReturnPaths::new(&t.app.settings.mail);
    rows.into_iter()
        .map(|(id, recipient, message_id)| (recipient, paths.address(id), message_id))
        .collect()
}

async fn ingest(
    t: &TestApp,
    mails: Vec<SourceMail>,
    at: chrono::DateTime<Utc>,
) -> BounceIngestReport {
    let policy = SuppressionPolicy::from(&t.app.settings.bounces);
    let paths = ReturnPaths::new(&t.app.settings.mail);
    ingest_mails(&t.app.store, &paths, &policy, mails, at)
        .await
        .unwrap()
}

async fn ingest_path(t: &TestApp, path: &std::path::Path) -> BounceIngestReport {
    ingest(t, read_mails(path).unwrap(), Utc::now()).await
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

    let mails = read_mails(&path).unwrap();
    assert_eq!(mails.len(), 3);
    let report = ingest(&t, mails, Utc::now()).await;
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
async fn a_bounce_found_by_its_quoted_message_id_alone_is_recorded_but_suppresses_nobody() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["ann@example.org"]).await;
    let (ann, _, message_id) = &sent[0];
    // Anyone who received the mail has seen its Message-ID: it finds the message, proves nothing.
    let mail = format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: alerts@alerts.example.org\r\n\
Subject: failure notice\r\n\r\nHi. This is the qmail-send program at mx.example.net.\r\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n\
<{ann}>:\r\n192.0.2.1 does not like recipient.\r\nRemote host said: 550 5.1.1 no such user\r\n\r\n\
--- Below this line is a copy of the message.\r\n\r\nMessage-ID: {message_id}\r\nSubject: x\r\n\r\nbody\r\n"
    );
    let file = t.dir.path().join("qmail.eml");
    std::fs::write(&file, mail).unwrap();
    let report = ingest_path(&t, &file).await;
    assert_eq!(
        (
            report.matched,
            report.unproven,
            report.bounces_recorded,
            report.suppressed
        ),
        (1, 1, 1, 0)
    );
    assert!(suppressed_emails(&t).await.is_empty());
    assert_eq!(
        bounce_rows(&t).await,
        vec![("ann@example.org".to_string(), "hard".to_string())]
    );
}

#[tokio::test]
async fn soft_bounces_suppress_only_past_the_threshold_within_the_window() {
    let t = TestApp::new().await;
    // Seven digests to one address, from seven runs: soft bounces count once per message.
    t.digests_for(&["full@example.org"]).await;
    for i in 2..=7 {
        t.ingest(
            FeedKind::Entries,
            &[entry(&format!("e{i}"), C1, "MOT", "2026-02-01T11:00:00Z")],
        )
        .await;
        t.run().await;
    }
    t.app.deliver(true).await.unwrap();
    let ids: Vec<i64> = t
        .db()
        .column("SELECT outbox_id FROM outbox ORDER BY outbox_id")
        .await;
    assert_eq!(ids.len(), 7);
    let paths = ReturnPaths::new(&t.app.settings.mail);
    let full = "full@example.org";
    // Each report a separate mail (its own Message-ID) about its own message.
    let soft = |n: i64, message: usize| {
        let mail = dsn(
            &paths.address(ids[message]),
            full,
            "4.2.2",
            "452 4.2.2 Mailbox full",
        )
        .replace(
            "Subject:",
            &format!("Message-ID: <soft{n}@mx.example.net>\r\nSubject:"),
        );
        vec![SourceMail::new("test", mail.into_bytes())]
    };
    let start = Utc::now();
    // Four soft bounces spread over ten days: never five within seven days.
    for (message, day) in [0, 3, 8, 10].into_iter().enumerate() {
        let at = start + Duration::days(day);
        let report = ingest(&t, soft(day, message), at).await;
        assert_eq!(report.suppressed, 0, "day {day}");
    }
    // Three more inside the last week make five within seven days.
    let mut suppressed = 0;
    for hour in [1, 2, 3] {
        let at = start + Duration::days(10) + Duration::hours(hour);
        suppressed += ingest(&t, soft(100 + hour, 3 + hour as usize), at)
            .await
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

/// The bounce rows recorded so far: (email, verdict).
async fn bounce_rows(t: &TestApp) -> Vec<(String, String)> {
    t.db()
        .rows("SELECT email, verdict FROM bounces ORDER BY bounce_id")
        .await
}

async fn suppressed_emails(t: &TestApp) -> Vec<String> {
    t.app
        .store
        .suppressions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.email)
        .collect()
}

#[tokio::test]
async fn a_return_path_made_from_the_run_and_account_ids_is_not_trusted() {
    use sha2::{Digest as _, Sha256};
    let t = TestApp::new().await;
    queued(&t, &["ann@example.org"]).await;
    // Anyone who knows an account id and can guess a run number can compute this address.
    let key = hex::encode(&Sha256::digest(b"1\nacct0")[..10]);
    let forged = format!("bounces+1.{key}@alerts.example.org");
    let path = t.dir.path().join("forged.eml");
    std::fs::write(
        &path,
        dsn(
            &forged,
            "ann@example.org",
            "5.1.1",
            "550 5.1.1 User unknown",
        ),
    )
    .unwrap();
    let report = ingest_path(&t, &path).await;
    assert_eq!((report.matched, report.unmatched), (0, 1));
    assert!(suppressed_emails(&t).await.is_empty(), "nobody suppressed");
}

#[tokio::test]
async fn a_bounce_acts_only_on_the_address_its_message_went_to() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["ann@example.org", "bob@example.org"]).await;
    let (ann, ann_return_path, _) = &sent[0];
    // A report on Ann's message that also names Bob, another of our subscribers.
    let mail = dsn(ann_return_path, ann, "5.1.1", "550 5.1.1 User unknown").replace(
        "\r\n--b1--",
        "\r\nFinal-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--b1--",
    );
    let path = t.dir.path().join("two.eml");
    std::fs::write(&path, mail).unwrap();
    let report = ingest_path(&t, &path).await;
    assert_eq!((report.matched, report.suppressed), (1, 1));
    assert_eq!(suppressed_emails(&t).await, vec!["ann@example.org"]);
    assert_eq!(
        bounce_rows(&t).await,
        vec![("ann@example.org".to_string(), "hard".to_string())],
        "Bob, named by a report on Ann's message, is not recorded against"
    );
}

#[tokio::test]
async fn an_address_named_only_in_a_reply_suppresses_nobody() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["ann@example.org"]).await;
    let (_, ann_return_path, _) = &sent[0];
    // Ann writes back (to the return path) about a colleague: her text holds another address
    // and a status code, and nothing about her own.
    let mail = format!(
        "From: ann@example.org\r\nTo: {ann_return_path}\r\nSubject: Re: New filings\r\n\r\n\
My colleague said your mail to him bounced with 550 5.1.1 user unknown.\r\n\
His address is carl@firm.example.com\r\n"
    );
    let path = t.dir.path().join("reply.eml");
    std::fs::write(&path, mail).unwrap();
    let report = ingest_path(&t, &path).await;
    assert_eq!(report.suppressed, 0, "{report:?}");
    assert!(suppressed_emails(&t).await.is_empty());
}

#[tokio::test]
async fn many_bounce_mails_about_one_message_count_as_one_soft_bounce() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["full@example.org"]).await;
    let (full, return_path, _) = &sent[0];
    // Delay notices and retries of one message, each its own mail: more than the threshold.
    let threshold = t.app.settings.bounces.soft_threshold as usize;
    let mails: Vec<String> = (0..threshold + 2)
        .map(|i| {
            dsn(return_path, full, "4.2.2", "452 4.2.2 Mailbox full").replace(
                "Subject:",
                &format!("Message-ID: <delay{i}@mx.example.net>\r\nSubject:"),
            )
        })
        .collect();
    let path = t.dir.path().join("delays.mbox");
    std::fs::write(&path, mbox(&mails)).unwrap();
    let report = ingest_path(&t, &path).await;
    assert_eq!(
        report.bounces_recorded as usize,
        threshold + 2,
        "{report:?}"
    );
    assert_eq!(
        report.suppressed, 0,
        "one message soft-bounced, whatever the mail count"
    );
    assert!(suppressed_emails(&t).await.is_empty());
}

#[tokio::test]
async fn reading_the_same_bounces_again_counts_nothing_twice() {
    let t = TestApp::new().await;
    let sent = queued(&t, &["full@example.org"]).await;
    let (full, return_path, _) = &sent[0];
    let soft = |n: u32| {
        dsn(return_path, full, "4.2.2", "452 4.2.2 Mailbox full").replace(
            "Subject:",
            &format!("Message-ID: <dsn{n}@mx.example.net>\r\nSubject:"),
        )
    };
    let soft_count = || async {
        let n: i64 = t
            .db()
            .value("SELECT COUNT(*) FROM bounces WHERE verdict = 'soft'")
            .await;
        n as u64
    };

    // One file, read twice.
    let file = t.dir.path().join("one.eml");
    std::fs::write(&file, soft(1)).unwrap();
    ingest_path(&t, &file).await;
    let again = ingest_path(&t, &file).await;
    assert_eq!(again.bounces_recorded, 0);
    assert_eq!(soft_count().await, 1);

    // An mbox, read twice; its second mail has no Message-ID and is known by its content.
    let mbox_path = t.dir.path().join("bounces.mbox");
    let no_id = dsn(return_path, full, "4.2.2", "452 4.2.2 Over quota");
    std::fs::write(&mbox_path, mbox(&[soft(2), no_id])).unwrap();
    ingest_path(&t, &mbox_path).await;
    ingest_path(&t, &mbox_path).await;
    assert_eq!(soft_count().await, 3);

    // A Maildir, read twice: read mail moves to cur/ marked seen.
    let maildir = t.dir.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("new/1700000000.1.mx"), soft(3)).unwrap();
    ingest_path(&t, &maildir).await;
    let second = ingest_path(&t, &maildir).await;
    assert_eq!(second.bounces_recorded, 0);
    assert_eq!(soft_count().await, 4);
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0);
    let cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(cur, vec!["1700000000.1.mx:2,S"]);
    assert_eq!(bounce_rows(&t).await.len(), 4, "one record per mail");
}
