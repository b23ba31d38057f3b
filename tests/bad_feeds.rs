//! A feed file with one bad line is rejected whole, names the file and line, and leaves the
//! database exactly as it was.

mod common;

use common::*;
use mcap_notify::ingest::FeedKind;
use serde_json::json;

const C1: &str = "2616-CV00001";

async fn world() -> TestApp {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e0", C1, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    t
}

fn good_entry(id: &str) -> String {
    entry(id, C1, "JE", "2026-02-02T10:00:00Z").to_string()
}

#[tokio::test]
async fn a_malformed_line_rejects_the_file() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[
                good_entry("e1"),
                good_entry("e2"),
                "{\"entry_id\": \"e3\",".into(),
            ],
        )
        .await;
    assert!(err.contains(":3: not valid JSON"), "{err}");
}

#[tokio::test]
async fn a_missing_field_is_named() {
    let t = world().await;
    let mut line = entry("e2", C1, "JE", "2026-02-02T10:00:00Z");
    line.as_object_mut().unwrap().remove("filed_by");
    let err = t
        .ingest_rejected(FeedKind::Entries, &[good_entry("e1"), line.to_string()])
        .await;
    assert!(err.contains(":2: missing field `filed_by`"), "{err}");
}

#[tokio::test]
async fn a_nul_character_in_any_text_is_refused_with_its_field() {
    let t = world().await;
    let mut text = entry("e2", C1, "JE", "2026-02-02T10:00:00Z");
    text["description"] = json!("Judgment\u{0}Entered");
    let err = t
        .ingest_rejected(FeedKind::Entries, &[good_entry("e1"), text.to_string()])
        .await;
    assert!(
        err.contains(":2: field `description` holds a NUL character"),
        "{err}"
    );
    let mut party = case("2616-CV00009", "CT16", "CV", "Doe v. Roe");
    party["parties"][0]["name"] = json!("Pat\u{0}Doe");
    let err = t
        .ingest_rejected(FeedKind::Cases, &[party.to_string()])
        .await;
    assert!(
        err.contains(":1: field `parties[0].name` holds a NUL character"),
        "{err}"
    );
    // An escaped backslash before `u0000` is text, not a NUL: it goes in.
    let mut backslash = entry("e3", C1, "JE", "2026-02-02T10:00:00Z");
    backslash["text"] = json!("C:\\u0000 is a path");
    t.ingest(FeedKind::Entries, &[backslash]).await;
}

#[tokio::test]
async fn a_wrong_type_is_named_with_its_field() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Accounts,
            &[
                account("bob", "bob@example.org", true).to_string(),
                r#"{"account_id":"cy","email":"cy@example.org","email_verified":"yes"}"#.into(),
            ],
        )
        .await;
    assert!(
        err.contains(":2: field `email_verified`: invalid type"),
        "{err}"
    );
}

#[tokio::test]
async fn a_timestamp_without_offset_is_refused() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[entry("e1", C1, "JE", "2026-02-02T10:00:00").to_string()],
        )
        .await;
    assert!(err.contains(":1: field `posted_at`"), "{err}");
}

#[tokio::test]
async fn an_entry_for_an_unknown_case_is_refused() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[
                good_entry("e1"),
                entry("e2", "2699-CV99999", "JE", "2026-02-02T10:00:00Z").to_string(),
            ],
        )
        .await;
    assert!(err.contains(":2: unknown case `2699-CV99999`"), "{err}");
}

#[tokio::test]
async fn a_case_in_an_unknown_court_is_refused() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Cases,
            &[case("2601-CV00002", "CT99", "CV", "A v. B").to_string()],
        )
        .await;
    assert!(err.contains(":1: unknown court `CT99`"), "{err}");
}

#[tokio::test]
async fn a_ticket_number_is_not_a_case_number() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Cases,
            &[case("171155061", "CT16", "TR", "State v. Roe").to_string()],
        )
        .await;
    assert!(err.contains("is not a circuit case number"), "{err}");
}

#[tokio::test]
async fn an_unknown_field_is_refused() {
    let t = world().await;
    let mut line = account("bob", "bob@example.org", true);
    line["emial"] = serde_json::json!("x");
    let err = t
        .ingest_rejected(FeedKind::Accounts, &[line.to_string()])
        .await;
    assert!(err.contains("unknown field `emial`"), "{err}");
}

#[tokio::test]
async fn a_bad_address_is_refused() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Accounts,
            &[account("bob", "bob@example.org\r\nBcc: x@example.net", true).to_string()],
        )
        .await;
    assert!(err.contains("field `email`"), "{err}");
}

#[tokio::test]
async fn a_subscription_for_an_unknown_account_or_case_is_refused() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Subscriptions,
            &[track("nobody", C1, "2026-01-01T00:00:00Z").to_string()],
        )
        .await;
    assert!(err.contains("unknown account `nobody`"), "{err}");
    let err = t
        .ingest_rejected(
            FeedKind::Subscriptions,
            &[track("ann", "2699-CV99999", "2026-01-01T00:00:00Z").to_string()],
        )
        .await;
    assert!(err.contains("unknown case"), "{err}");
    let err = t
        .ingest_rejected(
            FeedKind::Subscriptions,
            &[stop("ann", C1, "2026-01-01T00:00:00Z").to_string()],
        )
        .await;
    assert!(err.contains("is not tracking"), "{err}");
}

#[tokio::test]
async fn changing_an_entry_is_refused_but_resending_it_is_a_no_op() {
    let t = world().await;
    let same = t
        .ingest(
            FeedKind::Entries,
            &[entry("e0", C1, "MOT", "2026-02-01T10:00:00Z")],
        )
        .await;
    assert_eq!((same.applied, same.unchanged), (0, 1));
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[entry("e0", C1, "JE", "2026-02-01T10:00:00Z").to_string()],
        )
        .await;
    assert!(
        err.contains("already exists with a different code"),
        "{err}"
    );
}

#[tokio::test]
async fn voiding_an_unknown_entry_is_refused() {
    let t = world().await;
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[void("nope", "2026-02-01T10:00:00Z").to_string()],
        )
        .await;
    assert!(err.contains("cannot void unknown entry `nope`"), "{err}");
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let t = world().await;
    let err = t
        .app
        .ingest(
            FeedKind::Entries,
            std::path::Path::new("/nonexistent/feed.jsonl"),
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/feed.jsonl: cannot open"));
}

#[tokio::test]
async fn a_feed_with_nanosecond_times_sent_again_changes_nothing() {
    let t = TestApp::one_case(|_| {}, "2616-CV00001", None).await;
    let lines = [json!({"account_id": "ann", "case_number": "2616-CV00001",
               "tracked_at": "2026-01-01T09:00:00.123456789-06:00"})];
    t.ingest(FeedKind::Subscriptions, &lines).await;
    let entries = [json!({
        "entry_id": "e1", "case_number": "2616-CV00001", "code": "MOT",
        "description": "Motion Filed", "text": "", "filed_by": "Clerk",
        "posted_at": "2026-02-02T11:00:00.123456789-06:00"
    })];
    t.ingest(FeedKind::Entries, &entries).await;
    let before = t.dump().await;
    let again = t.ingest(FeedKind::Entries, &entries).await;
    assert_eq!((again.applied, again.unchanged), (0, 1));
    let again = t.ingest(FeedKind::Subscriptions, &lines).await;
    assert_eq!((again.applied, again.unchanged), (0, 1));
    assert_eq!(t.dump().await, before);
}

#[tokio::test]
async fn two_records_on_one_line_refuse_the_file() {
    let t = TestApp::one_case(|_| {}, "2616-CV00001", None).await;
    let one = entry("j1", "2616-CV00001", "JE", "2026-02-02T10:00:00Z");
    let two = entry("j2", "2616-CV00001", "JE", "2026-02-02T10:00:00Z");
    for line in [format!("{one}{two}"), format!("{one} trailing words")] {
        let message = t.ingest_rejected(FeedKind::Entries, &[line]).await;
        assert!(message.contains(":1: "), "{message}");
        assert!(message.contains("more than one record"), "{message}");
    }
}
