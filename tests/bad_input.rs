//! Bad input of every kind gets a clear message and a distinct exit code, never a panic: odd
//! feed bytes, oversized fields, a reader that goes away, a bad database path, unsafe defaults
//! and look-alike environment variables.

mod common;

use std::process::Output;

use common::*;
use mcap_notify::ingest::FeedKind;

const C1: &str = "2616-CV00001";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn a_non_ascii_case_number_is_refused_not_a_panic() {
    let t = TestApp::new().await;
    for number in ["1éA-CV01093", "14BA-Cé12345", "14BA-CV01093-é"] {
        let err = t
            .ingest_rejected(
                FeedKind::Cases,
                &[case(number, "CT16", "CV", "Smith v. Jones").to_string()],
            )
            .await;
        assert!(
            err.contains(":1: field `case_number`") && err.contains("not a circuit case number"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_byte_order_mark_at_the_start_is_accepted() {
    let t = TestApp::new().await;
    let path = t.dir.path().join("accounts-bom.jsonl");
    let line = account("ann", "ann@example.org", true).to_string();
    std::fs::write(&path, format!("\u{feff}{line}\n")).unwrap();
    let summary = t
        .app
        .ingest(FeedKind::Accounts, &path)
        .await
        .expect("a leading BOM is accepted");
    assert_eq!(summary.records, 1);
}

#[tokio::test]
async fn a_timestamp_without_offset_says_an_offset_is_needed() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[entry("e1", C1, "JE", "2026-02-02T10:00:00").to_string()],
        )
        .await;
    assert!(err.contains(":1: field `posted_at`"), "{err}");
    assert!(err.contains("has no UTC offset"), "{err}");
    assert!(err.contains("2026-02-02T10:00:00-06:00"), "{err}");
}

#[tokio::test]
async fn a_field_over_its_limit_is_refused_with_file_and_line() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let mut long = entry("e2", C1, "JE", "2026-02-02T10:00:00Z");
    long["text"] = serde_json::json!("x".repeat(20_001));
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[
                entry("e1", C1, "JE", "2026-02-02T10:00:00Z").to_string(),
                long.to_string(),
            ],
        )
        .await;
    assert!(
        err.contains(":2: field `text` has 20001 characters; at most 20000 are allowed"),
        "{err}"
    );
    let err = t
        .ingest_rejected(
            FeedKind::Accounts,
            &[account(&"a".repeat(65), "ann@example.org", true).to_string()],
        )
        .await;
    assert!(
        err.contains(":1: field `account_id` has 65 characters"),
        "{err}"
    );
    // An id that reorders the text around it could pass for another in a listing.
    let err = t
        .ingest_rejected(
            FeedKind::Accounts,
            &[account("ann\u{202E}nna", "ann@example.org", true).to_string()],
        )
        .await;
    assert!(
        err.contains(":1: field `account_id` holds a character that reorders text"),
        "{err}"
    );
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[entry("e\u{2066}1", C1, "JE", "2026-02-02T10:00:00Z").to_string()],
        )
        .await;
    assert!(
        err.contains(":1: field `entry_id` holds a character that reorders text"),
        "{err}"
    );
}

#[tokio::test]
async fn a_line_over_the_limit_is_refused_without_reading_it_whole() {
    let t = TestApp::one_case(|_| {}, C1, None).await;
    let huge = format!("{{\"entry_id\": \"{}\"}}", "x".repeat(2 << 20));
    let err = t
        .ingest_rejected(
            FeedKind::Entries,
            &[
                entry("e1", C1, "JE", "2026-02-02T10:00:00Z").to_string(),
                huge,
            ],
        )
        .await;
    assert!(
        err.contains(":2: the line is longer than 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn status_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    // The reader is gone before the program writes a byte, as with `status | head -0`.
    drop(reader);
    let out = binary()
        .current_dir(dir.path())
        .arg("status")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "nothing to say on a closed pipe");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_database_that_cannot_be_opened_is_named_once_with_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir/mcap.db");
    let out = binary()
        .current_dir(dir.path())
        .env(
            "MCAP_NOTIFY__DATABASE__URL",
            format!("sqlite://{}", path.display()),
        )
        .arg("status")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert_eq!(
        text.matches("unable to open database file").count(),
        1,
        "each cause once: {text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_bad_enum_value_lists_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("MCAP_NOTIFY__DIGEST__STYLE", "fancy")
        .arg("status")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("digest.style"), "{text}");
    assert!(
        text.contains("fancy") && text.contains("detailed") && text.contains("casenet"),
        "{text}"
    );
}

#[test]
fn the_default_token_secret_is_refused_outside_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env_remove("MCAP_NOTIFY__MAIL__TOKEN_SECRET")
        .arg("status")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("mail.token_secret"), "{text}");
    assert!(text.contains("MCAP_NOTIFY__MAIL__TOKEN_SECRET"), "{text}");
    assert!(
        !dir.path().join("mcap-notify.db").exists(),
        "nothing was created"
    );
}

#[test]
fn an_empty_or_short_token_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for secret in ["", "x", "fifteen-chars!!"] {
        let out = binary()
            .current_dir(dir.path())
            .env("MCAP_NOTIFY__MAIL__TOKEN_SECRET", secret)
            .arg("status")
            .output()
            .unwrap();
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(78), "{secret:?}: {text}");
        assert!(text.contains("at least 16"), "{text}");
    }
}

#[test]
fn a_look_alike_environment_variable_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("MCAP_NOTIFY_DATABASE_URL", "sqlite://elsewhere.db")
        .arg("status")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("MCAP_NOTIFY_DATABASE_URL") && text.contains("MCAP_NOTIFY__DATABASE__URL"),
        "{text}"
    );
}
