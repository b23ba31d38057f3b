//! A digest too large for one message is split into parts that each fit the cap, each saying
//! which part it is; every entry is in exactly one part.

mod common;

use common::*;
use mcap_notify::ingest::FeedKind;

const C1: &str = "2616-CV00001";
const CAP: usize = 50_000;

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

    let rows: Vec<(String, Vec<u8>)> = t
        .db()
        .rows(
            "SELECT o.subject, b.raw FROM outbox o JOIN outbox_bodies b USING (outbox_id)
         ORDER BY o.outbox_id",
        )
        .await;
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
