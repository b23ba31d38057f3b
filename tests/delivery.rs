//! Delivery through real transports: the file transport and a real SMTP server (smtp-sink).
//! A message is marked sent only once the transport accepted it.

mod common;

use common::smtp_sink::{free_port, SmtpSink};
use common::*;
use mcap_notify::config::{Secret, TransportKind};
use mcap_notify::ingest::FeedKind;

const C1: &str = "2616-CV00001";
const C2: &str = "2622-CR00002";

async fn three_accounts_with_news(t: &TestApp) {
    t.ingest(
        FeedKind::Cases,
        &[
            case(C1, "CT16", "CV", "Smith v. Jones"),
            case(C2, "CT22", "CR", "State of Missouri v. Roe"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("ann", "ann@example.org", true),
            account("bob", "bob@example.net", true),
            account("cy", "cy@example.com", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("ann", C1, "2026-01-01T00:00:00Z"),
            track("bob", C1, "2026-01-01T00:00:00Z"),
            track("bob", C2, "2026-01-01T00:00:00Z"),
            track("cy", C2, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", C2, "WARI", "2026-02-01T11:00:00Z"),
        ],
    )
    .await;
    assert_eq!(t.run().await.totals.digests_queued, 3);
}

async fn states(t: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT recipient, state FROM outbox ORDER BY recipient")
        .fetch_all(t.app.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn smtp_delivery_reaches_each_recipient_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &[]);
    let url = sink.url();
    let t = TestApp::with(|s| {
        s.delivery.transport = TransportKind::Smtp;
        s.smtp.url = Some(Secret::new(url));
    })
    .await;
    three_accounts_with_news(&t).await;
    let report = t.app.deliver().await.unwrap();
    assert_eq!((report.sent, report.failed), (3, 0));

    let received = sink.messages();
    assert_eq!(received.len(), 3);
    let mut envelopes: Vec<(String, String)> = received
        .iter()
        .map(|m| {
            let rcpt = m
                .lines()
                .find_map(|l| l.strip_prefix("X-Rcpt-Args: "))
                .unwrap();
            let to = m.lines().find_map(|l| l.strip_prefix("To: ")).unwrap();
            (rcpt.to_string(), to.to_string())
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
    let bob = received
        .iter()
        .find(|m| m.contains("X-Rcpt-Args: <bob@"))
        .unwrap();
    assert!(
        bob.contains(C1) && bob.contains(C2),
        "bob's one digest names both cases"
    );
    assert!(states(&t).await.iter().all(|(_, s)| s == "sent"));

    // Nothing is sent twice.
    let again = t.app.deliver().await.unwrap();
    assert_eq!(again.sent, 0);
    assert_eq!(sink.messages().len(), 3);
}

#[tokio::test]
async fn an_unreachable_server_leaves_every_message_queued() {
    let port = free_port();
    let t = TestApp::with(|s| {
        s.delivery.transport = TransportKind::Smtp;
        s.smtp.url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        s.smtp.timeout_secs = 5;
    })
    .await;
    three_accounts_with_news(&t).await;
    let report = t.app.deliver().await.unwrap();
    assert_eq!((report.sent, report.failed), (0, 3));
    assert!(states(&t).await.iter().all(|(_, s)| s == "queued"));
}

#[tokio::test]
async fn the_file_transport_writes_one_valid_message_per_digest() {
    let t = TestApp::new().await;
    three_accounts_with_news(&t).await;
    let report = t.app.deliver().await.unwrap();
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
