//! A feed is checked a chunk of lines at a time and written only once it is whole: a bad line in
//! a later chunk still leaves nothing applied, and a line sees every line before it, whether in
//! its own chunk or an earlier one (entries it posts, periods it starts, keys given again).

mod common;

use common::*;
use mcap_notify::hooks::ingest_in_chunks_of;
use mcap_notify::ingest::{FeedKind, IngestSummary};
use serde_json::Value;

const C1: &str = "2616-CV00001";

/// Lines per chunk in these tests: small, so that a short file crosses chunk boundaries.
const CHUNK: usize = 3;

async fn ingest_chunked(t: &TestApp, kind: FeedKind, lines: &[Value]) -> IngestSummary {
    ingest_in_chunks_of(CHUNK, t.ingest(kind, lines)).await
}

async fn rejected_chunked(t: &TestApp, kind: FeedKind, lines: &[Value]) -> String {
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    ingest_in_chunks_of(CHUNK, t.ingest_rejected(kind, &text)).await
}

fn summary(records: u64, applied: u64, unchanged: u64) -> IngestSummary {
    IngestSummary {
        records,
        applied,
        unchanged,
    }
}

fn posted(id: &str) -> Value {
    entry(id, C1, "MOT", "2026-02-02T10:00:00Z")
}

async fn entries(t: &TestApp) -> Vec<(String, Option<i64>)> {
    let db = t.db();
    db.rows(&format!(
        "SELECT entry_id, {} FROM docket_entries ORDER BY entry_id",
        db.micros("voided_at")
    ))
    .await
}

async fn periods(t: &TestApp) -> Vec<(i64, Option<i64>)> {
    let db = t.db();
    db.rows(&format!(
        "SELECT {}, {} FROM subscriptions
         WHERE account_id = 'ann' AND case_number = '{C1}' ORDER BY tracked_at",
        db.micros("tracked_at"),
        db.micros("stopped_at")
    ))
    .await
}

#[tokio::test]
async fn a_bad_line_in_a_later_chunk_leaves_nothing_applied() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let mut lines: Vec<Value> = (0..7).map(|i| posted(&format!("e{i}"))).collect();
    lines.push(entry("e7", "2616-CV09999", "MOT", "2026-02-02T10:00:00Z"));
    let err = rejected_chunked(&t, FeedKind::Entries, &lines).await;
    assert!(err.contains(":8: unknown case `2616-CV09999`"), "{err}");
    assert!(entries(&t).await.is_empty());
}

#[tokio::test]
async fn a_void_sees_the_entry_the_same_file_posts_in_its_chunk_or_an_earlier_one() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let lines = [
        posted("a"),
        void("a", "2026-02-03T10:00:00Z"), // same chunk
        posted("b"),
        posted("c"),
        void("b", "2026-02-03T11:00:00Z"), // the chunk after
        void("a", "2026-02-04T10:00:00Z"), // voided already: nothing changes
        void("b", "2026-02-04T11:00:00Z"),
    ];
    let done = ingest_chunked(&t, FeedKind::Entries, &lines).await;
    assert_eq!(done, summary(7, 5, 2));
    let voided_at = |at: &str| {
        Some(
            chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .timestamp_micros(),
        )
    };
    assert_eq!(
        entries(&t).await,
        vec![
            ("a".into(), voided_at("2026-02-03T10:00:00Z")),
            ("b".into(), voided_at("2026-02-03T11:00:00Z")),
            ("c".into(), None),
        ]
    );
}

#[tokio::test]
async fn an_entry_posted_again_in_the_same_file_is_unchanged_or_refused() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    // Once in the same chunk, once across a chunk boundary: unchanged both times.
    let lines = [
        posted("a"),
        posted("a"),
        posted("b"),
        posted("c"),
        posted("a"),
    ];
    assert_eq!(
        ingest_chunked(&t, FeedKind::Entries, &lines).await,
        summary(5, 3, 2)
    );
    // Worded differently in a later chunk than its first posting: the file is refused.
    let lines = [
        posted("d"),
        posted("e"),
        posted("f"),
        posted("g"),
        entry("d", C1, "JE", "2026-02-02T10:00:00Z"),
    ];
    let err = rejected_chunked(&t, FeedKind::Entries, &lines).await;
    assert!(
        err.contains(":5: entry `d` already exists with a different code"),
        "{err}"
    );
}

#[tokio::test]
async fn tracking_periods_follow_the_lines_before_them_across_chunks() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let lines = [
        track("ann", C1, "2026-01-01T00:00:00Z"),
        track("ann", C1, "2026-01-01T00:00:00Z"), // the same start: nothing changes
        stop("ann", C1, "2026-01-10T00:00:00Z"),  // stops the period this file started
        stop("ann", C1, "2026-01-10T00:00:00Z"),  // the chunk after, that stop again: unchanged
        track("ann", C1, "2026-01-20T00:00:00Z"), // a new period
        stop("ann", C1, "2026-01-25T00:00:00Z"),
        track("ann", C1, "2026-02-01T00:00:00Z"),
    ];
    assert_eq!(
        ingest_chunked(&t, FeedKind::Subscriptions, &lines).await,
        summary(7, 5, 2)
    );
    let micros = |at: &str| {
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_micros()
    };
    assert_eq!(
        periods(&t).await,
        vec![
            (
                micros("2026-01-01T00:00:00Z"),
                Some(micros("2026-01-10T00:00:00Z"))
            ),
            (
                micros("2026-01-20T00:00:00Z"),
                Some(micros("2026-01-25T00:00:00Z"))
            ),
            (micros("2026-02-01T00:00:00Z"), None),
        ]
    );
    // A stop of a stored period, then a start before its end, in the next chunk: refused.
    let lines = [
        stop("ann", C1, "2026-02-10T00:00:00Z"),
        stop("ann", C1, "2026-02-10T00:00:00Z"),
        stop("ann", C1, "2026-02-10T00:00:00Z"),
        track("ann", C1, "2026-02-05T00:00:00Z"),
    ];
    let err = rejected_chunked(&t, FeedKind::Subscriptions, &lines).await;
    assert!(
        err.contains(":4: field `tracked_at`: 2026-02-05T00:00:00+00:00 is before the end"),
        "{err}"
    );
}

#[tokio::test]
async fn a_key_given_again_in_the_file_takes_its_last_line() {
    let t = TestApp::new().await;
    let lines = [
        account("bob", "bob@example.org", false),
        account("cat", "cat@example.org", true),
        account("bob", "bob@example.net", false),
        account("dan", "dan@example.org", true),
        account("bob", "robert@example.org", true),
    ];
    assert_eq!(
        ingest_chunked(&t, FeedKind::Accounts, &lines).await,
        summary(5, 5, 0)
    );
    let bob: (String, bool) = t
        .db()
        .row("SELECT email, email_verified FROM accounts WHERE account_id = 'bob'")
        .await;
    assert_eq!(bob, ("robert@example.org".into(), true));

    let lines = [
        case(C1, "CT16", "CV", "First caption"),
        case("2616-CV00002", "CT16", "CV", "Other"),
        case("2616-CV00003", "CT16", "CV", "Other"),
        case(C1, "CT16", "PR", "Last caption"),
    ];
    assert_eq!(
        ingest_chunked(&t, FeedKind::Cases, &lines).await,
        summary(4, 4, 0)
    );
    let c1: (String, String, i64) = t
        .db()
        .row(&format!(
            "SELECT case_type, caption, (SELECT COUNT(*) FROM parties p
                                         WHERE p.case_number = c.case_number)
             FROM cases c WHERE case_number = '{C1}'"
        ))
        .await;
    assert_eq!(c1, ("PR".into(), "Last caption".into(), 1));

    let lines = [
        court("XX1", true, &["CV"]),
        court("XX2", true, &[]),
        court("XX3", true, &[]),
        court("XX1", false, &["PR", "DR"]),
    ];
    assert_eq!(
        ingest_chunked(&t, FeedKind::Courts, &lines).await,
        summary(4, 4, 0)
    );
    let excluded: Vec<String> = t
        .db()
        .column("SELECT case_type FROM court_excluded_case_types WHERE court_id = 'XX1' ORDER BY 1")
        .await;
    assert_eq!(excluded, vec!["DR".to_string(), "PR".to_string()]);
}

#[tokio::test]
async fn a_file_bigger_than_a_chunk_of_the_default_size_goes_in_whole() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let lines: Vec<Value> = (0..10_000).map(|i| posted(&format!("n{i}"))).collect();
    let mut text: Vec<String> = lines.iter().map(Value::to_string).collect();
    text.push(void("n0", "2026-02-03T10:00:00Z").to_string());
    text.push(lines[4_500].to_string());
    let path = t.feed_file(&text);
    let done = t.app.ingest(FeedKind::Entries, &path).await.unwrap();
    assert_eq!(done, summary(10_002, 10_001, 1));
    assert_eq!(entries(&t).await.len(), 10_000);
}
