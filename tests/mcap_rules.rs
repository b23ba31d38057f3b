//! The Track This Case rules, end to end on real SQLite files: who is told of which entry.

mod common;

use common::*;
use mcap_notify::ingest::FeedKind;

const C1: &str = "2616-CV00001";
const C2: &str = "2616-CR00002";
const C3: &str = "2631-FC00003";

/// Three cases in two built-in circuits, one verified account tracking all of them since January.
async fn tracked_world() -> TestApp {
    let t = TestApp::new().await;
    t.ingest(
        FeedKind::Cases,
        &[
            case(C1, "CT16", "CV", "Smith v. Jones"),
            case(C2, "CT16", "CR", "State of Missouri v. Doe"),
            case(C3, "CT31", "FC", "In Re the Marriage of: A and B"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("ann", C1, "2026-01-10T00:00:00Z"),
            track("ann", C2, "2026-01-10T00:00:00Z"),
            track("ann", C3, "2026-01-10T00:00:00Z"),
        ],
    )
    .await;
    t
}

#[tokio::test]
async fn an_account_tracking_three_changed_cases_gets_one_digest_listing_all_three() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", C2, "WARI", "2026-02-01T11:00:00Z"),
            entry("e3", C3, "CONT", "2026-02-01T12:00:00Z"),
            entry("e4", C1, "JE", "2026-02-01T13:00:00Z"),
        ],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.digests_queued, 1);
    assert_eq!(report.totals.pairs_matched, 4);
    let digests = t.digests().await;
    assert_eq!(
        digests,
        vec![(
            "ann".to_string(),
            "ann@example.org".to_string(),
            vec!["e1".into(), "e2".into(), "e3".into(), "e4".into()]
        )]
    );
    let raw = String::from_utf8(t.outbox_raw().await.remove(0)).unwrap();
    for number in [C1, C2, C3] {
        assert!(raw.contains(number), "digest lists {number}");
    }
}

#[tokio::test]
async fn a_second_run_without_new_entries_queues_nothing() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", C1, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    assert_eq!(t.run().await.totals.digests_queued, 1);
    let second = t.run().await;
    assert_eq!(second.entries_scanned, 0);
    assert_eq!(second.totals.digests_queued, 0);
    let third = t.run().await;
    assert_eq!(third.totals.digests_queued, 0);
    assert_eq!(t.digests().await.len(), 1);
}

#[tokio::test]
async fn entries_on_a_court_that_left_mcap_are_withheld() {
    let t = tracked_world().await;
    t.ingest(FeedKind::Courts, &[court("CT16", false, &[])])
        .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-01T10:00:00Z"),
            entry("e3", C3, "CONT", "2026-02-01T12:00:00Z"),
        ],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.drops.excluded_court, 1);
    assert_eq!(t.ledger().await, vec![("ann".into(), "e3".into())]);
}

#[tokio::test]
async fn entries_of_an_excluded_case_type_are_withheld() {
    let t = tracked_world().await;
    t.ingest(FeedKind::Courts, &[court("CT16", true, &["CR"])])
        .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", C2, "WARI", "2026-02-01T11:00:00Z"),
        ],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.drops.excluded_case_type, 1);
    assert_eq!(t.ledger().await, vec![("ann".into(), "e1".into())]);
}

#[tokio::test]
async fn tracking_is_refused_where_the_button_is_absent() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Courts,
        &[court("MUNI", false, &[]), court("CT16", true, &["CR"])],
    )
    .await;
    t.ingest(
        FeedKind::Cases,
        &[case("2601-MU00009", "MUNI", "MU", "City v. Roe")],
    )
    .await;
    let err = t
        .try_ingest(
            FeedKind::Subscriptions,
            &[track("ann", "2601-MU00009", "2026-01-10T00:00:00Z")],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":1: ") && err.contains("does not take part in MCAP"),
        "{err}"
    );
    let err = t
        .try_ingest(
            FeedKind::Subscriptions,
            &[track("ann", C2, "2026-03-10T00:00:00Z")],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("case type `CR` is excluded"), "{err}");
}

#[tokio::test]
async fn confidential_cases_are_withheld() {
    let t = tracked_world().await;
    t.ingest(FeedKind::Cases, &[confidential_case(C1, "CT16")])
        .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", C2, "WARI", "2026-02-01T11:00:00Z"),
        ],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.drops.confidential, 1);
    assert_eq!(t.ledger().await, vec![("ann".into(), "e2".into())]);
}

#[tokio::test]
async fn unverified_accounts_are_skipped_and_counted() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Accounts,
        &[account("bob", "bob@example.org", false)],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[track("bob", C1, "2026-01-10T00:00:00Z")],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", C1, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.skipped_unverified, 1);
    assert_eq!(report.totals.digests_queued, 1);
    assert_eq!(t.ledger().await, vec![("ann".into(), "e1".into())]);
}

#[tokio::test]
async fn a_stopped_subscription_hears_only_of_entries_posted_while_it_was_active() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Subscriptions,
        &[stop("ann", C1, "2026-02-01T12:00:00Z")],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("before-stop", C1, "MOT", "2026-02-01T11:59:59Z"),
            entry("after-stop", C1, "JE", "2026-02-01T12:00:00Z"),
        ],
    )
    .await;
    t.run().await;
    assert_eq!(t.ledger().await, vec![("ann".into(), "before-stop".into())]);
}

#[tokio::test]
async fn entries_posted_before_tracking_started_are_not_notified() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("old", C1, "MOT", "2026-01-09T23:59:59Z"),
            entry("at-start", C1, "JE", "2026-01-10T00:00:00Z"),
        ],
    )
    .await;
    t.run().await;
    assert_eq!(t.ledger().await, vec![("ann".into(), "at-start".into())]);
}

#[tokio::test]
async fn entries_voided_before_the_run_are_withheld() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", C1, "JE", "2026-02-01T11:00:00Z"),
            void("e1", "2026-02-01T12:00:00Z"),
        ],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.drops.voided, 1);
    assert_eq!(t.ledger().await, vec![("ann".into(), "e2".into())]);
}

#[tokio::test]
async fn an_address_changed_before_the_run_receives_the_digest() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", C1, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann.new@example.net", true)],
    )
    .await;
    t.run().await;
    let digests = t.digests().await;
    assert_eq!(digests[0].1, "ann.new@example.net");
    let raw = String::from_utf8(t.outbox_raw().await.remove(0)).unwrap();
    assert!(raw.contains("To: ann.new@example.net"), "{raw}");
}

#[tokio::test]
async fn a_backlog_goes_out_in_one_run_as_one_digest_per_account_even_with_the_old_cap_set() {
    let t = TestApp::one_case(
        |s| s.batch.max_entries_per_run = Some(3),
        C1,
        Some("2026-01-10T00:00:00Z"),
    )
    .await;
    assert!(
        t.app.settings.obsolete_keys()[0]
            .contains("batch.max_entries_per_run = 3 is no longer used"),
        "{:?}",
        t.app.settings.obsolete_keys()
    );
    let entries: Vec<_> = (0..7)
        .map(|i| entry(&format!("e{i}"), C1, "MOT", "2026-02-01T10:00:00Z"))
        .collect();
    t.ingest(FeedKind::Entries, &entries).await;
    let scanned: Vec<u64> = [t.run().await, t.run().await]
        .iter()
        .map(|r| r.entries_scanned)
        .collect();
    assert_eq!(scanned, vec![7, 0]);
    let digests = t.digests().await;
    assert_eq!(digests.len(), 1, "one digest for the whole backlog");
    assert_eq!(t.ledger().await.len(), 7);
}

#[tokio::test]
async fn a_dry_run_reports_but_writes_nothing() {
    let t = tracked_world().await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", C1, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    let before = t.dump().await;
    let report = t
        .run_with(mcap_notify::batch::RunOptions {
            dry_run: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.totals.digests_queued, 1);
    assert_eq!(report.previews.len(), 1);
    assert_eq!(report.previews[0].recipient, "ann@example.org");
    assert_eq!(t.dump().await, before);
    assert_eq!(t.run().await.totals.digests_queued, 1);
}
