//! A digest too large for one message is split into parts that each fit the cap, each saying
//! which part it is; every entry is in exactly one part.

mod common;

use common::*;
use mcap_notify::ingest::FeedKind;

const C1: &str = "2616-CV00001";
const CAP: usize = 50_000;

/// Each queued message's subject and raw mail, in the order they were queued.
async fn subjects_and_bodies(t: &TestApp) -> Vec<(String, Vec<u8>)> {
    t.db()
        .rows(
            "SELECT o.subject, b.raw FROM outbox o JOIN outbox_bodies b USING (outbox_id)
             ORDER BY o.outbox_id",
        )
        .await
}

#[tokio::test]
async fn a_digest_over_the_size_cap_is_split_into_numbered_parts_that_fit() {
    let t = TestApp::one_case(
        |s| s.digest.max_message_bytes = CAP,
        C1,
        Some("2026-01-01T00:00:00Z"),
    )
    .await;
    // A long day in a busy case: 120 entries, each with a page of text.
    let page = "The Court has reviewed the motion and the suggestions in opposition. ".repeat(20);
    let lines: Vec<_> = (0..120)
        .map(|i| {
            let mut e = entry(
                &format!("e{i:03}"),
                C1,
                "MOT",
                &format!("2026-02-02T{:02}:{:02}:00Z", 10 + i / 60, i % 60),
            );
            e["text"] = page.clone().into();
            e
        })
        .collect();
    t.ingest(FeedKind::Entries, &lines).await;
    let report = t.run().await;
    assert!(report.totals.digests_queued > 1, "{report:?}");

    let rows = subjects_and_bodies(&t).await;
    let parts = rows.len();
    assert_eq!(parts as u64, report.totals.digests_queued);
    for (i, (subject, raw)) in rows.iter().enumerate() {
        assert!(raw.len() <= CAP, "part {} is {} bytes", i + 1, raw.len());
        assert!(
            subject.ends_with(&format!("(part {} of {parts})", i + 1)),
            "{subject}"
        );
    }
    let ledger = t.ledger().await;
    assert_eq!(ledger.len(), 120, "every entry in exactly one part");
    let mut entries: Vec<String> = t
        .digests()
        .await
        .into_iter()
        .flat_map(|(_, _, entries)| entries)
        .collect();
    entries.sort();
    entries.dedup();
    assert_eq!(entries.len(), 120);
}

#[test]
fn a_cap_below_one_entry_is_refused_at_start_and_a_larger_one_taken() {
    let dir = tempfile::tempdir().unwrap();
    let status_with = |cap: &str| {
        binary()
            .current_dir(dir.path())
            .env("MCAP_NOTIFY__DIGEST__MAX_MESSAGE_BYTES", cap)
            .arg("status")
            .output()
            .unwrap()
    };
    let refused = status_with("1000");
    assert_eq!(refused.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("digest.max_message_bytes") && stderr.contains("at least 50000"),
        "{stderr}"
    );
    let taken = status_with("100000");
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
}

#[tokio::test]
async fn an_account_with_many_court_dates_gets_parts_that_fit_with_every_date_once() {
    let t = TestApp::with(|s| s.digest.max_message_bytes = CAP).await;
    // An attorney tracking 60 cases, each with a hearing on Thursday Dec 17 and a long list of
    // what to bring: far more than one message of 50,000 bytes holds.
    let numbers: Vec<String> = (0..60).map(|i| format!("2622-CR{:05}", 1000 + i)).collect();
    let cases: Vec<_> = (numbers.iter())
        .map(|n| case(n, "CT22", "CR", "State of Missouri v. Pat Doe"))
        .collect();
    t.ingest(FeedKind::Cases, &cases).await;
    t.ingest(
        FeedKind::Accounts,
        &[account("atty", "atty@example.org", true)],
    )
    .await;
    let tracking: Vec<_> = (numbers.iter())
        .map(|n| track("atty", n, "2026-11-01T10:00:00Z"))
        .collect();
    t.ingest(FeedKind::Subscriptions, &tracking).await;
    let bring =
        "Photo ID, the summons, proof of insurance and every paper the court sent. ".repeat(6);
    let hearings: Vec<_> = (numbers.iter().enumerate())
        .map(|(i, n)| {
            let mut h = hearing(
                &format!("h{i:02}"),
                n,
                "Arraignment",
                "2026-12-17T13:30:00-06:00",
            );
            h["bring"] = bring.clone().into();
            h
        })
        .collect();
    t.ingest(FeedKind::Events, &hearings).await;
    let run_at = common::backends::at("2026-12-15T14:00:00Z");
    t.app
        .run_at(&mcap_notify::batch::RunOptions::default(), run_at)
        .await
        .unwrap();

    let rows = subjects_and_bodies(&t).await;
    let parts = rows.len();
    assert!(parts > 1, "{parts} message(s)");
    let mut attachments = 0;
    for (i, (subject, raw)) in rows.iter().enumerate() {
        assert!(raw.len() <= CAP, "part {} is {} bytes", i + 1, raw.len());
        assert!(
            subject.starts_with("Reminder: hearing in 2622-CR")
                && subject.ends_with(&format!("(part {} of {parts})", i + 1)),
            "{subject}"
        );
        attachments += String::from_utf8_lossy(raw)
            .matches("BEGIN:VCALENDAR")
            .count();
    }
    assert_eq!(attachments, 60, "one calendar entry per date, in one part");
    let notices: Vec<(String, i64)> = t
        .db()
        .rows("SELECT event_id, COUNT(DISTINCT outbox_id) FROM date_notices GROUP BY event_id")
        .await;
    assert_eq!(notices.len(), 60);
    assert!(
        notices.iter().all(|(_, messages)| *messages == 1),
        "{notices:?}"
    );
}
