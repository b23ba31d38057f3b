//! Recovery meets change: a run interrupted part-way, then feeds that change before the next
//! run resumes it, and accounts whose digest cannot be built or stored. The batch always
//! finishes, every pair is notified once, and one bad account never blocks the others.

mod common;

use common::*;
use mcap_notify::batch::{RunError, RunOptions};
use mcap_notify::ingest::FeedKind;

const C1: &str = "2616-CV00001";
const C2: &str = "2616-CV00002";

/// Two cases with one entry each in the next run; `acct0` tracks the first, `acct1` both.
async fn two_accounts_two_cases(accounts_per_commit: u32) -> TestApp {
    let t = TestApp::with(|s| s.batch.accounts_per_commit = accounts_per_commit).await;
    t.ingest(
        FeedKind::Cases,
        &[
            case(C1, "CT16", "CV", "Smith v. Jones"),
            case(C2, "CT16", "CV", "Doe v. Roe"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("acct0", "a0@example.org", true),
            account("acct1", "a1@example.org", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("acct0", C1, "2026-01-01T00:00:00Z"),
            track("acct1", C1, "2026-01-01T00:00:00Z"),
            track("acct1", C2, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", C1, "MOT", "2026-02-02T10:00:00Z"),
            entry("e2", C2, "JE", "2026-02-02T11:00:00Z"),
        ],
    )
    .await;
    t
}

async fn crash_after(t: &TestApp, commits: usize) {
    let outcome =
        mcap_notify::hooks::crash_after_commits(commits, t.run_with(RunOptions::default())).await;
    let err = outcome.expect_err("the run stops at the crash point");
    assert!(
        matches!(
            err.downcast_ref::<RunError>(),
            Some(RunError::InjectedCrash(_))
        ),
        "{err:#}"
    );
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, e)| (a.to_string(), e.to_string()))
        .collect()
}

#[tokio::test]
async fn a_late_subscription_before_the_resume_gets_its_own_digest_and_the_run_finishes() {
    let t = two_accounts_two_cases(1).await;
    // acct0's digest (e1) is committed, then the run dies.
    crash_after(&t, 1).await;
    assert_eq!(t.digests().await.len(), 1);
    // Before the run resumes, acct0 turns out to have tracked the second case since January.
    t.ingest(
        FeedKind::Subscriptions,
        &[track("acct0", C2, "2026-01-15T00:00:00Z")],
    )
    .await;
    let resumed = t.run().await;
    assert!(resumed.resumed);
    // The run is closed: the next run is a new one with nothing to do, and so is the one after.
    let next = t.run().await;
    assert!(!next.resumed);
    assert_eq!(next.totals.digests_queued, 0);
    t.run().await;
    assert_eq!(
        t.ledger().await,
        pairs(&[
            ("acct0", "e1"),
            ("acct0", "e2"),
            ("acct1", "e1"),
            ("acct1", "e2")
        ])
    );
    let ids: Vec<String> = t.db().column("SELECT message_id FROM outbox").await;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "each digest has its own Message-ID"
    );
    assert_eq!(ids.len(), 3, "acct0 has two digests of that run, acct1 one");
}

async fn run_row(t: &TestApp, run_id: i64) -> (String, i64, i64) {
    t.db()
        .row(&format!(
            "SELECT status, digests_queued, accounts_held FROM runs WHERE run_id = {run_id}"
        ))
        .await
}

#[tokio::test]
async fn an_account_whose_digest_cannot_be_built_is_held_aside_and_sent_once_fixed() {
    let t = two_accounts_two_cases(1).await;
    // An address the mailer refuses, left by an older import that wrote the table directly.
    t.db()
        .exec("UPDATE accounts SET email = 'a0 at example.org' WHERE account_id = 'acct0'")
        .await;
    let report = t.run().await;
    assert_eq!(report.totals.accounts_held, 1);
    assert_eq!(report.totals.digests_queued, 1);
    let run_id = report.run_id.unwrap();
    assert_eq!(run_row(&t, run_id).await, ("done".into(), 1, 1));
    assert_eq!(t.ledger().await, pairs(&[("acct1", "e1"), ("acct1", "e2")]));

    let status = t.app.status().await.unwrap();
    let held = &status.0.held;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].account_id, "acct0");
    assert_eq!(held[0].pairs, 1);
    assert!(
        held[0].reason.contains("a0 at example.org"),
        "{}",
        held[0].reason
    );
    let shown = status.to_string();
    assert!(shown.contains("held aside"), "{shown}");
    assert!(shown.contains("acct0"), "{shown}");

    // Still wrong: held again, not lost, not duplicated.
    let again = t.run().await;
    assert_eq!(again.totals.accounts_held, 1);
    assert_eq!(t.app.status().await.unwrap().0.held.len(), 1);

    // The address is corrected through the feed: the next run queues what was held.
    t.ingest(
        FeedKind::Accounts,
        &[account("acct0", "a0@example.org", true)],
    )
    .await;
    let fixed = t.run().await;
    assert_eq!(fixed.totals.accounts_held, 0);
    assert_eq!(fixed.totals.digests_queued, 1);
    assert!(t.app.status().await.unwrap().0.held.is_empty());
    assert_eq!(
        t.ledger().await,
        pairs(&[("acct0", "e1"), ("acct1", "e1"), ("acct1", "e2")])
    );
    assert_eq!(t.run().await.totals.digests_queued, 0);
}

#[tokio::test]
async fn a_digest_whose_building_panics_holds_its_account_aside_and_the_run_goes_on() {
    let panicking = mcap_notify::hooks::PANICKING_ACCOUNT;
    let t = two_accounts_two_cases(10).await;
    t.ingest(
        FeedKind::Accounts,
        &[account(panicking, "p@example.org", true)],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[track(panicking, C2, "2026-01-01T00:00:00Z")],
    )
    .await;
    let report = t.run().await;
    assert_eq!(report.totals.accounts_held, 1);
    assert_eq!(report.totals.digests_queued, 2, "acct0 and acct1 go out");
    assert_eq!(
        run_row(&t, report.run_id.unwrap()).await,
        ("done".into(), 2, 1)
    );
    let held = t.app.status().await.unwrap().0.held;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].account_id, panicking);
    assert!(
        held[0].reason.contains("failed on a bug") && !held[0].reason.contains("test hook"),
        "{}",
        held[0].reason
    );
}

#[tokio::test]
async fn an_account_the_database_refuses_is_held_aside_and_the_others_are_queued() {
    // Both accounts in one commit: the refusal of one must not sink the other.
    let t = two_accounts_two_cases(10).await;
    // The database refuses acct0's row (a constraint added by a DBA, a value it cannot hold).
    t.db()
        .refuse_inserts("outbox", "NEW.account_id = 'acct0'", "refused for acct0")
        .await;
    let report = t.run().await;
    assert_eq!(report.totals.accounts_held, 1);
    assert_eq!(report.totals.digests_queued, 1);
    assert_eq!(t.ledger().await, pairs(&[("acct1", "e1"), ("acct1", "e2")]));
    let held = t.app.status().await.unwrap().0.held;
    assert_eq!(held.len(), 1);
    assert!(
        held[0].reason.contains("refused for acct0"),
        "{}",
        held[0].reason
    );

    t.db().allow_inserts("outbox").await;
    let fixed = t.run().await;
    assert_eq!(fixed.totals.digests_queued, 1);
    assert_eq!(
        t.ledger().await,
        pairs(&[("acct0", "e1"), ("acct1", "e1"), ("acct1", "e2")])
    );
    assert!(t.app.status().await.unwrap().0.held.is_empty());
}

#[tokio::test]
async fn a_digest_withheld_between_crash_and_resume_is_rebuilt_in_the_same_run() {
    let t = two_accounts_two_cases(1).await;
    // Both digests are committed (acct1's reports e1 and e2), then the run dies before closing.
    crash_after(&t, 2).await;
    // The second case is sealed before the resume: acct1's digest must not go as it is.
    let mut sealed = case(C2, "CT16", "CV", "Doe v. Roe");
    sealed["confidential"] = true.into();
    t.ingest(FeedKind::Cases, &[sealed]).await;
    let resumed = t.run().await;
    assert!(resumed.resumed);
    assert_eq!(resumed.totals.accounts_held, 0, "{resumed:?}");
    let states: Vec<(String, String)> = t
        .db()
        .rows("SELECT account_id, state FROM outbox ORDER BY outbox_id")
        .await;
    assert_eq!(
        states,
        vec![
            ("acct0".to_string(), "queued".to_string()),
            ("acct1".into(), "cancelled".into()),
            ("acct1".into(), "queued".into()),
        ],
        "acct1's digest is rebuilt without the sealed entry by the resumed run itself"
    );
    assert!(t.app.status().await.unwrap().0.held.is_empty());
}
