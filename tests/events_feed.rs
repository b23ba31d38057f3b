//! The events feed: court dates are scheduled, moved, cancelled and restated; a change of time,
//! place or status is a new version with its history, anything else is updated in place, and
//! a bad line rejects the whole file and changes nothing.

mod common;

use common::*;
use mcap_notify::ingest::FeedKind;
use serde_json::json;

const C1: &str = "2622-CR01234";

async fn world() -> TestApp {
    TestApp::one_case(|_| {}, C1, Some("2026-11-01T10:00:00Z")).await
}

/// (event id, version, status) of every event, and the history's (event id, version) rows.
async fn versions(t: &TestApp) -> (Vec<(String, i64, String)>, Vec<(String, i64)>) {
    let events = t
        .db()
        .rows("SELECT event_id, version, status FROM events ORDER BY event_id")
        .await;
    let history = t
        .db()
        .rows("SELECT event_id, version FROM event_versions ORDER BY event_id, version")
        .await;
    (events, history)
}

#[tokio::test]
async fn a_move_is_a_new_version_and_a_restatement_is_not() {
    let t = world().await;
    let first = hearing("h1", C1, "Arraignment", "2026-12-08T09:00:00-06:00");
    let summary = t
        .ingest(FeedKind::Events, std::slice::from_ref(&first))
        .await;
    assert_eq!((summary.applied, summary.unchanged), (1, 0));

    // Sent again as it was: nothing changes.
    let summary = t
        .ingest(FeedKind::Events, std::slice::from_ref(&first))
        .await;
    assert_eq!((summary.applied, summary.unchanged), (0, 1));

    let changed_at = format!("SELECT {} FROM events", t.db().micros("changed_at"));
    let first_changed_at: i64 = t.db().value(&changed_at).await;
    // A new judge or title is not a change people are told of: same version, same time of
    // change.
    let mut retitled = first.clone();
    retitled["title"] = json!("Arraignment on Information");
    retitled["judge"] = json!("Hon. B. Okafor");
    t.ingest(FeedKind::Events, std::slice::from_ref(&retitled))
        .await;
    let (events, history) = versions(&t).await;
    assert_eq!(events, vec![("h1".into(), 1, "scheduled".into())]);
    assert_eq!(history, vec![("h1".into(), 1)]);
    let title: String = t.db().value("SELECT title FROM events").await;
    assert_eq!(title, "Arraignment on Information");
    assert_eq!(t.db().value::<i64>(&changed_at).await, first_changed_at);

    // Seconds and stray spaces are no change a notice could show: same version.
    let mut respaced = retitled.clone();
    respaced["starts_at"] = json!("2026-12-08T09:00:20-06:00");
    respaced["location"] = json!(format!(
        "  {}  ",
        retitled["location"].as_str().unwrap().replace(", ", ",  ")
    ));
    t.ingest(FeedKind::Events, std::slice::from_ref(&respaced))
        .await;
    let (events, history) = versions(&t).await;
    assert_eq!(events, vec![("h1".into(), 1, "scheduled".into())]);
    assert_eq!(history, vec![("h1".into(), 1)]);

    // Moved, then moved again and given a new place in one file: one change from where it
    // stood.
    let mut moved = retitled.clone();
    moved["starts_at"] = json!("2026-12-10T09:00:00-06:00");
    let mut moved_again = moved.clone();
    moved_again["starts_at"] = json!("2026-12-17T13:30:00-06:00");
    moved_again["location"] = json!("Division 3");
    t.ingest(FeedKind::Events, &[moved, moved_again.clone()])
        .await;
    let mut cancelled = moved_again.clone();
    cancelled["status"] = json!("cancelled");
    t.ingest(FeedKind::Events, &[cancelled]).await;
    let (events, history) = versions(&t).await;
    assert_eq!(events, vec![("h1".into(), 3, "cancelled".into())]);
    assert_eq!(
        history,
        vec![("h1".into(), 1), ("h1".into(), 2), ("h1".into(), 3)]
    );
    let (starts, location): (i64, String) = t
        .db()
        .row(&format!(
            "SELECT {}, location FROM event_versions WHERE version = 2",
            t.db().micros("starts_at")
        ))
        .await;
    assert_eq!(
        starts,
        chrono::DateTime::parse_from_rfc3339("2026-12-17T13:30:00-06:00")
            .unwrap()
            .timestamp_micros()
    );
    assert_eq!(location, "Division 3");
}

#[tokio::test]
async fn a_bad_event_line_rejects_the_file_and_names_the_line() {
    let t = world().await;
    t.ingest(
        FeedKind::Events,
        &[hearing(
            "h1",
            C1,
            "Arraignment",
            "2026-12-08T09:00:00-06:00",
        )],
    )
    .await;
    // A place, judge or list given as null is none.
    let mut no_place = hearing("h0", C1, "Status", "2026-12-10T09:00:00-06:00");
    no_place["location"] = serde_json::Value::Null;
    no_place["judge"] = serde_json::Value::Null;
    t.ingest(FeedKind::Events, &[no_place]).await;
    // An old system's placeholder date is no slip: it passes.
    let mut placeholder = case("2622-CR00001", "CT22", "CR", "State of Missouri v. Lee Roe");
    placeholder["filed_at"] = json!("1899-12-30T00:00:00-06:00");
    t.ingest(FeedKind::Cases, &[placeholder]).await;
    let before = t.dump().await;
    let good = hearing("h2", C1, "Plea", "2026-12-09T09:00:00-06:00").to_string();

    let mut other_case = hearing("h1", C1, "Arraignment", "2026-12-08T09:00:00-06:00");
    other_case["case_number"] = json!("2622-CR09999");
    let mut other_kind = hearing("h1", C1, "Arraignment", "2026-12-08T09:00:00-06:00");
    other_kind["kind"] = json!("payment_due");
    let mut bad_kind = hearing("h3", C1, "Arraignment", "2026-12-08T09:00:00-06:00");
    bad_kind["kind"] = json!("trial");
    let mut bad_status = hearing("h3", C1, "Arraignment", "2026-12-08T09:00:00-06:00");
    bad_status["status"] = json!("postponed");
    let mut no_title = hearing("h3", C1, " ", "2026-12-08T09:00:00-06:00");
    no_title["title"] = json!(" ");
    let mut long_place = hearing("h3", C1, "Plea", "2026-12-08T09:00:00-06:00");
    long_place["location"] = json!("x".repeat(501));
    let cases: [(String, &str); 16] = [
        (
            hearing("h3", "2622-CR09999", "Plea", "2026-12-08T09:00:00-06:00").to_string(),
            "unknown case `2622-CR09999`",
        ),
        (other_case.to_string(), "a different case_number"),
        (other_kind.to_string(), "a different kind (`hearing`)"),
        (
            bad_kind.to_string(),
            "field `kind`: unknown variant `trial`",
        ),
        (
            bad_status.to_string(),
            "field `status`: unknown variant `postponed`",
        ),
        (no_title.to_string(), "field `title` must not be empty"),
        (
            long_place.to_string(),
            "field `location` has 501 characters",
        ),
        (
            hearing("h3", C1, "Plea", "2026-12-08T09:00:00").to_string(),
            "`2026-12-08T09:00:00` has no UTC offset",
        ),
        (
            hearing("h3", C1, "Plea", "2026-12-08 09:00").to_string(),
            "`2026-12-08 09:00` has no UTC offset; give one, like `2026-12-08T09:00:00-06:00`",
        ),
        (
            hearing("h3", C1, "Plea", "2026-12-08T09:00-06:00").to_string(),
            "`2026-12-08T09:00-06:00` has no seconds; give them, like `2026-12-08T09:00:00-06:00`",
        ),
        (
            hearing("h3", C1, "Plea", "2026-12-08 09:00Z").to_string(),
            "`2026-12-08 09:00Z` has no seconds; give them, like `2026-12-08T09:00:00Z`",
        ),
        (
            hearing("h3", C1, "Plea", "2026-12-08").to_string(),
            "`2026-12-08` is a date without a time",
        ),
        (
            hearing("h3\u{7}", C1, "Plea", "2026-12-08T09:00:00-06:00").to_string(),
            "field `event_id` holds a control character",
        ),
        (
            hearing("h3\u{202E}x", C1, "Plea", "2026-12-08T09:00:00-06:00").to_string(),
            "field `event_id` holds a character that reorders text",
        ),
        (
            hearing("h3", C1, "Plea", "9999-12-08T09:00:00-06:00").to_string(),
            "field `starts_at`: the year 9999 is out of range: a time here falls no later than \
             2099",
        ),
        (
            hearing("h3", C1, "Plea", "2100-01-01T09:00:00-06:00").to_string(),
            "the year 2100 is out of range",
        ),
    ];
    for (line, expected) in cases {
        let err = t
            .ingest_rejected(FeedKind::Events, &[good.clone(), line])
            .await;
        assert!(err.contains(":2: ") && err.contains(expected), "{err}");
        assert_eq!(t.dump().await, before, "a rejected file changed nothing");
    }
}
