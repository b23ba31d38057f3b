//! Nothing sealed goes out: a digest queued before its case was sealed (or its court left
//! MCAP, or an entry was voided) is withheld before it is sent, the pairs recorded as withheld,
//! and whatever else it reported is sent in a new digest.

mod common;

use common::gate_server::GateServer;
use common::*;
use mcap_notify::config::{Secret, TransportKind};
use mcap_notify::ingest::FeedKind;
use serde_json::json;

const SEALED: &str = "2616-CV00001";
const OPEN: &str = "2616-CV00002";

/// `ann` tracks two cases with one new entry each; the run queues one digest with both.
async fn one_digest_of_two_cases() -> TestApp {
    let t = TestApp::one_case(|_| {}, SEALED, Some("2026-01-01T00:00:00Z")).await;
    t.ingest(FeedKind::Cases, &[case(OPEN, "CT16", "CV", "Doe v. Roe")])
        .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[track("ann", OPEN, "2026-01-01T00:00:00Z")],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("sealed-entry", SEALED, "MOT", "2026-02-02T10:00:00Z"),
            entry("open-entry", OPEN, "JE", "2026-02-02T11:00:00Z"),
        ],
    )
    .await;
    t.run().await;
    assert_eq!(t.digests().await.len(), 1);
    t
}

/// The text of every message the file transport wrote.
fn delivered(t: &TestApp) -> Vec<String> {
    let dir = &t.app.settings.delivery.file_dir;
    let Ok(files) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    files
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect()
}

async fn withheld_pairs(t: &TestApp) -> Vec<(String, String)> {
    t.db()
        .rows(
            "SELECT e.entry_id, l.withheld_reason FROM notification_ledger l
         JOIN docket_entries e ON e.seq = l.entry_seq
         WHERE l.withheld_reason IS NOT NULL ORDER BY 1",
        )
        .await
}

async fn states(t: &TestApp) -> Vec<(String, Option<String>)> {
    t.db()
        .rows("SELECT state, last_error FROM outbox ORDER BY outbox_id")
        .await
}

#[tokio::test]
async fn a_case_sealed_after_queueing_is_withheld_and_the_rest_is_sent_without_it() {
    let t = one_digest_of_two_cases().await;
    // The case is sealed after the digest was queued, before delivery.
    let mut sealed = case(SEALED, "CT16", "CV", "Smith v. Jones");
    sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[sealed]).await;

    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.withheld, 1);
    assert_eq!(
        report.sent, 0,
        "the digest naming the sealed case never left"
    );
    assert!(delivered(&t).is_empty());
    assert_eq!(
        withheld_pairs(&t).await,
        vec![("sealed-entry".into(), "case confidential".into())]
    );
    assert_eq!(
        states(&t).await,
        vec![(
            "cancelled".into(),
            Some("withheld: case confidential".into())
        )]
    );

    // The next run queues the open case's entry again, alone; delivery sends it.
    let run = t.run().await;
    assert_eq!(run.totals.digests_queued, 1);
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 1);
    let mails = delivered(&t);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(OPEN), "the open case is reported");
    assert!(!mails[0].contains(SEALED), "the sealed case is not named");
    assert!(!mails[0].contains("Smith v. Jones"));
    assert_eq!(
        t.ledger().await,
        vec![
            ("ann".to_string(), "open-entry".to_string()),
            ("ann".into(), "sealed-entry".into())
        ],
        "each pair once: one sent, one withheld"
    );
    // Nothing more comes of it.
    assert_eq!(t.run().await.totals.digests_queued, 0);
    assert_eq!(t.app.deliver(true).await.unwrap().sent, 0);
}

#[tokio::test]
async fn a_court_leaving_mcap_withholds_the_whole_digest() {
    let t = one_digest_of_two_cases().await;
    t.ingest(FeedKind::Courts, &[court("CT16", false, &[])])
        .await;
    // The batch's own sweep, before it claims anything, finds it first.
    let run = t.run().await;
    assert_eq!(run.totals.digests_queued, 0);
    assert_eq!(t.app.deliver(true).await.unwrap().sent, 0);
    assert!(delivered(&t).is_empty());
    assert_eq!(
        withheld_pairs(&t).await,
        vec![
            ("open-entry".into(), "court left MCAP".into()),
            ("sealed-entry".into(), "court left MCAP".into())
        ]
    );
    assert!(t.app.status().await.unwrap().0.held.is_empty());
}

/// The digest of [`one_digest_of_two_cases`] withheld by delivery for its sealed case: the
/// open case's entry is held aside for the next run.
async fn open_entry_held_aside() -> TestApp {
    let t = one_digest_of_two_cases().await;
    let mut sealed = case(SEALED, "CT16", "CV", "Smith v. Jones");
    sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[sealed]).await;
    assert_eq!(t.app.deliver(true).await.unwrap().withheld, 1);
    let held = t.app.status().await.unwrap().0.held;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].account_id.as_str(), held[0].pairs), ("ann", 1));
    t
}

#[tokio::test]
async fn a_held_pair_of_an_account_no_longer_verified_is_forgone_like_a_new_one() {
    let t = open_entry_held_aside().await;
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", false)],
    )
    .await;
    // Delivery leaves held pairs to the batch.
    t.app.deliver(true).await.unwrap();
    assert_eq!(t.app.status().await.unwrap().0.held.len(), 1);
    let run = t.run().await;
    assert_eq!(run.totals.digests_queued, 0);
    assert!(
        t.app.status().await.unwrap().0.held.is_empty(),
        "nothing waits for an account no run would write to"
    );
    let forgone: i64 = t
        .db()
        .value("SELECT value FROM counter_totals WHERE name = 'held_pairs_forgone'")
        .await;
    assert_eq!(forgone, 1, "the pair given up is counted");
    // Verified again, the account gets what is new from then on, as with any entry skipped
    // while it was unverified.
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await;
    assert_eq!(t.run().await.totals.digests_queued, 0);
    assert_eq!(t.app.deliver(true).await.unwrap().sent, 0);
    assert!(delivered(&t).is_empty());
}

#[tokio::test]
async fn a_held_pair_whose_case_is_sealed_too_is_forgone() {
    let t = open_entry_held_aside().await;
    let mut sealed = case(OPEN, "CT16", "CV", "Doe v. Roe");
    sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[sealed]).await;
    assert_eq!(t.run().await.totals.digests_queued, 0);
    assert!(t.app.status().await.unwrap().0.held.is_empty());
    // Unsealed later, the entry is not owed again: it was never queued, and held pairs are
    // owed only while they may be sent.
    t.ingest(FeedKind::Cases, &[case(OPEN, "CT16", "CV", "Doe v. Roe")])
        .await;
    assert_eq!(t.run().await.totals.digests_queued, 0);
    assert!(delivered(&t).is_empty());
}

#[tokio::test]
async fn an_entry_voided_after_queueing_is_withheld() {
    let t = one_digest_of_two_cases().await;
    t.ingest(
        FeedKind::Entries,
        &[void("open-entry", "2026-02-02T12:00:00Z")],
    )
    .await;
    assert_eq!(t.app.deliver(true).await.unwrap().withheld, 1);
    t.run().await;
    t.app.deliver(true).await.unwrap();
    let mails = delivered(&t);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(SEALED));
    assert!(
        !mails[0].contains(OPEN),
        "the voided entry's case is not reported"
    );
    assert_eq!(
        withheld_pairs(&t).await,
        vec![("open-entry".into(), "entry voided".into())]
    );
}

/// A case sealed while its digest is already claimed by a worker, before its turn to be sent:
/// the worker's check right before the send finds it and withholds it.
#[tokio::test]
async fn a_case_sealed_while_its_digest_waits_in_a_workers_claim_is_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = GateServer::start(dir.path());
    let url = server.url();
    let t = TestApp::with(move |s| {
        s.delivery.transport = TransportKind::Smtp;
        s.smtp.url = Some(Secret::new(url));
        s.smtp.timeout_secs = 20;
        // One at a time: the second message waits in the claim while the first is held.
        s.delivery.concurrency = 1;
    })
    .await;
    t.ingest(
        FeedKind::Cases,
        &[
            case(OPEN, "CT16", "CV", "Doe v. Roe"),
            case(SEALED, "CT16", "CV", "Smith v. Jones"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("a", "gate-a@example.org", true),
            account("b", "b@example.org", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("a", OPEN, "2026-01-01T00:00:00Z"),
            track("b", SEALED, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("open-entry", OPEN, "JE", "2026-02-02T10:00:00Z"),
            entry("sealed-entry", SEALED, "MOT", "2026-02-02T11:00:00Z"),
        ],
    )
    .await;
    t.run().await;

    let deliver = t.app.deliver(true);
    let seal = async {
        assert_eq!(server.held().await, "gate-a@example.org");
        let mut sealed = case(SEALED, "CT16", "CV", "Smith v. Jones");
        sealed["confidential"] = json!(true);
        t.ingest(FeedKind::Cases, &[sealed]).await;
        server.release();
    };
    let (report, ()) = tokio::join!(deliver, seal);
    assert_eq!(report.unwrap().sent, 1);
    assert_eq!(server.received(), vec!["gate-a@example.org"]);
    let waiting: (String, Option<String>, Option<String>) = t
        .db()
        .row("SELECT state, lease_owner, last_error FROM outbox WHERE recipient = 'b@example.org'")
        .await;
    assert_eq!(
        waiting,
        (
            "cancelled".into(),
            None,
            Some("withheld: case confidential".into())
        )
    );
    let next = t.app.deliver(true).await.unwrap();
    assert_eq!(next.sent, 0);
    assert_eq!(server.received(), vec!["gate-a@example.org"]);
    assert_eq!(
        withheld_pairs(&t).await,
        vec![("sealed-entry".into(), "case confidential".into())]
    );
}
