//! Court dates through the whole pipeline: reminders on their days, change notices for every
//! move and the cancellation, one message per account with the dates first, a calendar entry
//! that follows the hearing (read back by python3-icalendar), nothing for a sealed case, and
//! exactly once across a crash.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use mail_parser::{MessageParser, MimeHeaders};
use mcap_notify::batch::RunOptions;
use mcap_notify::ingest::FeedKind;
use serde_json::{json, Value};

const CR: &str = "2622-CR01234";
const TRACKED_SINCE: &str = "2026-11-01T10:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A criminal case tracked by `ann`.
async fn world() -> TestApp {
    world_with(|_| {}).await
}

async fn world_with(adjust: impl FnOnce(&mut mcap_notify::config::Settings)) -> TestApp {
    let t = TestApp::with(adjust).await;
    t.ingest(
        FeedKind::Cases,
        &[case(CR, "CT22", "CR", "State of Missouri v. Pat Doe")],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await;
    t.ingest(FeedKind::Subscriptions, &[track("ann", CR, TRACKED_SINCE)])
        .await;
    t
}

/// The arraignment most tests use: Thursday Dec 17, 1:30 PM, its 2-day reminder due Tuesday.
async fn schedule_arraignment(t: &TestApp) {
    t.ingest(
        FeedKind::Events,
        &[hearing(
            "h1",
            CR,
            "Arraignment",
            "2026-12-17T13:30:00-06:00",
        )],
    )
    .await;
}

async fn seal_the_case(t: &TestApp) {
    let mut sealed = case(CR, "CT22", "CR", "State of Missouri v. Pat Doe");
    sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[sealed]).await;
}

/// A run at `now` (inside the service window); the messages it queued.
async fn run_at(t: &TestApp, now: &str) -> Vec<Mail> {
    let before = t.outbox_raw().await.len();
    match t.app.run_at(&RunOptions::default(), at(now)).await.unwrap() {
        mcap_notify::app::RunOutcome::Ran(_) => {}
        other => panic!("the run at {now} did not run: {other:?}"),
    }
    t.outbox_raw().await[before..]
        .iter()
        .map(|raw| Mail::parse(raw))
        .collect()
}

/// What a test reads of one queued message.
#[derive(Debug)]
struct Mail {
    subject: String,
    text: String,
    /// (content type with its parameters, text) of each calendar attachment.
    calendars: Vec<(String, String)>,
}

impl Mail {
    fn parse(raw: &[u8]) -> Mail {
        let message = MessageParser::default().parse(raw).expect("a mail");
        let calendars = message
            .attachments()
            .filter(|part| {
                part.content_type()
                    .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar"))
            })
            .map(|part| {
                let ct = part.content_type().unwrap();
                let method = ct.attribute("method").unwrap_or("").to_string();
                (method, String::from_utf8(part.contents().to_vec()).unwrap())
            })
            .collect();
        Mail {
            subject: message.subject().unwrap_or("").to_string(),
            text: message.body_text(0).unwrap_or_default().to_string(),
            calendars,
        }
    }

    /// The plain text with its lines joined and its spaces collapsed, as a sentence reads.
    fn flat_text(&self) -> String {
        self.text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The one calendar entry's property `name` (unfolded), e.g. `SEQUENCE`.
    fn calendar_property(&self, name: &str) -> String {
        assert_eq!(self.calendars.len(), 1, "one calendar entry: {self:?}");
        let unfolded = self.calendars[0].1.replace("\r\n ", "");
        unfolded
            .lines()
            .skip_while(|line| *line != "BEGIN:VEVENT")
            .take_while(|line| *line != "BEGIN:VALARM")
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.split(';').next() == Some(name)).then(|| value.to_string())
            })
            .unwrap_or_else(|| panic!("no {name} in {}", self.calendars[0].1))
    }
}

fn moved(event: &Value, starts_at: &str, location: &str) -> Value {
    let mut event = event.clone();
    event["starts_at"] = json!(starts_at);
    event["location"] = json!(location);
    event
}

#[tokio::test]
async fn a_reminder_says_when_where_and_what_missing_it_costs_with_a_calendar_entry() {
    let t = world().await;
    let mut hearing = hearing("h1", CR, "Arraignment", "2026-12-17T13:30:00-06:00");
    hearing["bring"] = json!("Photo ID and your bond paperwork");
    t.ingest(FeedKind::Events, &[hearing]).await;

    // Monday Dec 14: the 2-day reminder (Tuesday) is not due yet; nothing goes.
    assert!(run_at(&t, "2026-12-14T10:00:00-06:00").await.is_empty());
    // Tuesday: due; the run's summary counts it.
    let outcome = t
        .app
        .run_at(&RunOptions::default(), at("2026-12-15T08:00:00-06:00"))
        .await
        .unwrap();
    let mcap_notify::app::RunOutcome::Ran(report) = outcome else {
        panic!("the run ran: {outcome:?}");
    };
    assert_eq!(
        (report.date_notices.reminders, report.date_notices.changes),
        (1, 0)
    );
    assert!(mcap_notify::cli::presenters::describe_run(&report)
        .contains("dates            1 reminder, 0 change notices of court dates"));
    let mails: Vec<Mail> = t
        .outbox_raw()
        .await
        .iter()
        .map(|raw| Mail::parse(raw))
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(
        mail.subject,
        "Reminder: hearing in 2622-CR01234 on Thu Dec 17, 1:30 PM"
    );
    for expected in [
        "Reminder: Arraignment, in 2 days",
        "When: Thursday, December 17, 2026 at 1:30 PM Central time",
        "Where: Division 7, Courtroom 7A, 10 N Tucker Blvd, St. Louis",
        "Bring: Photo ID and your bond paperwork",
        "Plan your trip now",
        "the judge may issue a warrant for their arrest",
        "not official court notice",
    ] {
        assert!(
            mail.flat_text().contains(expected),
            "{expected:?} in:\n{}",
            mail.text
        );
    }
    assert_eq!(mail.calendars.len(), 1);
    assert_eq!(mail.calendars[0].0, "PUBLISH");
    assert_eq!(mail.calendar_property("SEQUENCE"), "0");
    assert_eq!(mail.calendar_property("STATUS"), "CONFIRMED");
    assert_eq!(
        mail.calendar_property("DTSTART"),
        "20261217T133000",
        "local time with TZID"
    );
    check_with_python(mail, "2026-12-17 13:30", 0, "CONFIRMED", "PUBLISH");

    // Exactly once: later runs that day and the next send nothing more.
    assert!(run_at(&t, "2026-12-15T15:00:00-06:00").await.is_empty());
    assert!(run_at(&t, "2026-12-16T09:00:00-06:00").await.is_empty());
    let notices: Vec<(String, String, i64)> = t
        .db()
        .rows("SELECT account_id, notice, days FROM date_notices")
        .await;
    assert_eq!(notices, vec![("ann".into(), "reminder".into(), 2)]);
}

#[tokio::test]
async fn the_casenet_style_names_only_the_case_number_the_date_and_a_hearing_calendar_too() {
    let t = world_with(|s| s.digest.style = mcap_notify::config::DigestStyle::Casenet).await;
    let mut arraignment = hearing("h1", CR, "Arraignment", "2026-12-17T13:30:00-06:00");
    arraignment["bring"] = json!("Photo ID and your bond paperwork");
    arraignment["judge"] = json!("Hon. R. Alvarez");
    t.ingest(FeedKind::Events, &[arraignment.clone()]).await;
    let mails = run_at(&t, "2026-12-15T08:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject,
        "Case.net: a hearing in 2622-CR01234 on Thu Dec 17, 1:30 PM"
    );
    let calendar = &mails[0].calendars[0].1;
    assert_eq!(
        mails[0].calendar_property("SUMMARY"),
        "Hearing in 2622-CR01234"
    );
    for hidden in [
        "Pat Doe",
        "Arraignment",
        "Division 7",
        "Photo ID",
        "Alvarez",
        "LOCATION",
    ] {
        assert!(!calendar.contains(hidden), "{hidden:?} in:\n{calendar}");
    }
    // A change and a cancellation say so, with the date.
    let moved = moved(&arraignment, "2026-12-18T09:00:00-06:00", "Division 3");
    t.ingest(FeedKind::Events, std::slice::from_ref(&moved))
        .await;
    let mails = run_at(&t, "2026-12-15T09:00:00-06:00").await;
    assert_eq!(
        mails[0].subject,
        "Case.net: a hearing in 2622-CR01234, changed to Fri Dec 18, 9:00 AM"
    );
    let mut cancelled = moved;
    cancelled["status"] = json!("cancelled");
    t.ingest(FeedKind::Events, &[cancelled]).await;
    let mails = run_at(&t, "2026-12-15T10:00:00-06:00").await;
    assert_eq!(
        mails[0].subject,
        "Case.net: a hearing in 2622-CR01234 on Fri Dec 18, 9:00 AM, cancelled"
    );
}

#[tokio::test]
async fn a_new_courtroom_is_said_in_the_subject_and_each_calendar_file_has_its_own_name() {
    let t = world().await;
    // Two ids that make the same file name once their slash and dot are replaced.
    let first = hearing("a.b", CR, "Arraignment", "2026-12-17T13:30:00-06:00");
    let second = hearing("a/b", CR, "Plea", "2026-12-17T15:00:00-06:00");
    t.ingest(FeedKind::Events, &[first.clone(), second]).await;
    let raw = {
        assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
        t.outbox_raw().await.pop().unwrap()
    };
    let message = MessageParser::default().parse(&raw[..]).unwrap();
    let mut names: Vec<&str> = message
        .attachments()
        .filter_map(|part| part.attachment_name())
        .collect();
    names.sort_unstable();
    assert_eq!(names, vec!["court-date-a_b-2.ics", "court-date-a_b.ics"]);
    // The reminders go out; then only the place of one changes: the subject says so.
    let report = t
        .app
        .deliver_at(&At(at("2026-12-15T08:30:00-06:00")), true)
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    t.ingest(
        FeedKind::Events,
        &[moved(&first, "2026-12-17T13:30:00-06:00", "Division 3")],
    )
    .await;
    let mails = run_at(&t, "2026-12-15T09:00:00-06:00").await;
    assert_eq!(
        mails[0].subject,
        "Changed: place of hearing in 2622-CR01234 on Thu Dec 17, 1:30 PM"
    );
}

#[tokio::test]
async fn a_hearing_moved_twice_then_cancelled_is_followed_by_the_same_calendar_entry() {
    let t = world().await;
    let first = hearing(
        "h1",
        CR,
        "Pre-Trial Conference",
        "2026-12-08T09:00:00-06:00",
    );
    t.ingest(FeedKind::Events, std::slice::from_ref(&first))
        .await;
    // Scheduled 8 days out: the 10-day reminder's day is past, the 2-day one not yet due.
    assert!(run_at(&t, "2026-11-30T10:00:00-06:00").await.is_empty());

    let second = moved(&first, "2026-12-17T13:30:00-06:00", "Division 3");
    t.ingest(FeedKind::Events, std::slice::from_ref(&second))
        .await;
    let mails = run_at(&t, "2026-12-01T10:00:00-06:00").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].subject,
        "Changed: hearing in 2622-CR01234, now Thu Dec 17, 1:30 PM"
    );
    assert!(
        mails[0].flat_text().contains(
            "Moved from Tue Dec 8, 9:00 AM, Division 7, Courtroom 7A, 10 N Tucker Blvd, St. \
             Louis to Thu Dec 17, 1:30 PM, Division 3."
        ),
        "{}",
        mails[0].text
    );
    let uid = mails[0].calendar_property("UID");
    assert_eq!(mails[0].calendar_property("SEQUENCE"), "1");

    // Moved again: told from where ann last knew it.
    let third = moved(&second, "2026-12-18T09:00:00-06:00", "Division 3");
    t.ingest(FeedKind::Events, std::slice::from_ref(&third))
        .await;
    let mails = run_at(&t, "2026-12-02T10:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .flat_text()
            .contains("Moved from Thu Dec 17, 1:30 PM to Fri Dec 18, 9:00 AM."),
        "{}",
        mails[0].text
    );
    assert_eq!(mails[0].calendar_property("UID"), uid);
    assert_eq!(mails[0].calendar_property("SEQUENCE"), "2");
    check_with_python(&mails[0], "2026-12-18 09:00", 2, "CONFIRMED", "PUBLISH");

    // Cancelled: the same entry, removed.
    let mut cancelled = third.clone();
    cancelled["status"] = json!("cancelled");
    t.ingest(FeedKind::Events, &[cancelled]).await;
    let mails = run_at(&t, "2026-12-03T10:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject,
        "Cancelled: hearing in 2622-CR01234 on Fri Dec 18, 9:00 AM"
    );
    assert!(mails[0]
        .flat_text()
        .contains("Confirm it with the court clerk before you skip it"));
    assert_eq!(mails[0].calendars[0].0, "CANCEL");
    assert_eq!(mails[0].calendar_property("UID"), uid);
    assert_eq!(mails[0].calendar_property("SEQUENCE"), "3");
    check_with_python(&mails[0], "2026-12-18 09:00", 3, "CANCELLED", "CANCEL");

    // No reminder for a cancelled hearing.
    assert!(run_at(&t, "2026-12-16T10:00:00-06:00").await.is_empty());
}

#[tokio::test]
async fn dates_come_first_in_the_digest_that_goes_out_anyway() {
    let t = world().await;
    t.ingest(
        FeedKind::Events,
        &[
            hearing("h1", CR, "Arraignment", "2026-12-17T13:30:00-06:00"),
            json!({
                "event_id": "p1", "case_number": CR, "kind": "payment_due",
                "title": "Fine/Costs Due", "starts_at": "2026-12-17T16:00:00-06:00",
                "status": "scheduled"
            }),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", CR, "MOT", "2026-12-15T07:00:00-06:00")],
    )
    .await;
    let mails = run_at(&t, "2026-12-15T08:00:00-06:00").await;
    assert_eq!(mails.len(), 1, "one message per account: {mails:?}");
    let mail = &mails[0];
    // Too long with the first date's time: the time gives way, the counts stay.
    assert_eq!(
        mail.subject,
        "Reminder: hearing in 2622-CR01234 and 1 more date; 1 new filing"
    );
    let dates = mail.text.find("Court dates").expect("a dates section");
    let filings = mail.text.find("1 new docket entry").expect("the filings");
    assert!(dates < filings, "dates before filings:\n{}", mail.text);
    assert!(mail.text.contains("Reminder: Fine/Costs Due, in 2 days"));
    assert!(mail
        .text
        .contains("A missed payment can lead to added costs"));
    assert_eq!(mail.calendars.len(), 2);
    assert_eq!(t.ledger().await, vec![("ann".into(), "e1".into())]);
}

#[tokio::test]
async fn a_case_sealed_before_its_reminder_gets_none() {
    let t = world().await;
    schedule_arraignment(&t).await;
    seal_the_case(&t).await;
    assert!(run_at(&t, "2026-12-15T08:00:00-06:00").await.is_empty());
    let notices: i64 = t.db().value("SELECT COUNT(*) FROM date_notices").await;
    assert_eq!(notices, 0);
}

#[tokio::test]
async fn a_run_killed_between_commits_sends_each_reminder_once() {
    let t = TestApp::with(|s| s.batch.accounts_per_commit = 1).await;
    t.ingest(
        FeedKind::Cases,
        &[case(CR, "CT22", "CR", "State of Missouri v. Pat Doe")],
    )
    .await;
    let accounts: Vec<Value> = (0..5)
        .map(|i| account(&format!("a{i}"), &format!("a{i}@example.org"), true))
        .collect();
    t.ingest(FeedKind::Accounts, &accounts).await;
    let tracks: Vec<Value> = (0..5)
        .map(|i| track(&format!("a{i}"), CR, TRACKED_SINCE))
        .collect();
    t.ingest(FeedKind::Subscriptions, &tracks).await;
    schedule_arraignment(&t).await;
    let now = at("2026-12-15T08:00:00-06:00");
    let crashed =
        mcap_notify::hooks::crash_after_commits(2, t.app.run_at(&RunOptions::default(), now)).await;
    assert!(crashed.is_err(), "the run stopped after two commits");
    let queued: i64 = t.db().value("SELECT COUNT(*) FROM outbox").await;
    assert_eq!(queued, 2);
    // The next run resumes and queues the other three, once each.
    t.app
        .run_at(&RunOptions::default(), now + chrono::Duration::minutes(5))
        .await
        .unwrap();
    let per_account: Vec<(String, i64)> = t
        .db()
        .rows("SELECT account_id, COUNT(*) FROM outbox GROUP BY account_id ORDER BY 1")
        .await;
    assert_eq!(
        per_account,
        (0..5).map(|i| (format!("a{i}"), 1)).collect::<Vec<_>>()
    );
    let notices: i64 = t.db().value("SELECT COUNT(*) FROM date_notices").await;
    assert_eq!(notices, 5);
}

/// Reads the message's calendar entry back with python3-icalendar (`tests/support/check_ics.py`)
/// and checks its local start, UID, SEQUENCE, STATUS and METHOD there.
fn check_with_python(mail: &Mail, local_start: &str, sequence: u32, status: &str, method: &str) {
    const PYTHON: &str = "/usr/bin/python3";
    let available = std::process::Command::new(PYTHON)
        .args(["-c", "import icalendar, pytz"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !under_ci(),
            "CI must install python3-icalendar (see .ci/run)"
        );
        eprintln!("SKIP: python3-icalendar is not installed; the calendar entry was not read back");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entry.ics");
    std::fs::write(&path, &mail.calendars[0].1).unwrap();
    let utc = chrono::NaiveDateTime::parse_from_str(local_start, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_local_timezone(chrono_tz::America::Chicago)
        .unwrap()
        .with_timezone(&Utc)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let expected = json!({
        "uid": mail.calendar_property("UID"),
        "sequence": sequence,
        "local_start": local_start,
        "utc_start": utc,
        "zone": "America/Chicago",
        "status": status,
        "method": method,
        "duration_minutes": 60,
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_ics.py");
    let out = std::process::Command::new(PYTHON)
        .arg(script)
        .arg(&path)
        .arg(expected.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_ics.py: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        mail.calendars[0].1
    );
}

/// The date notices' (notice, days, withheld reason), in key order.
async fn date_notices(t: &TestApp) -> Vec<(String, i64, Option<String>)> {
    t.db()
        .rows(
            "SELECT notice, days, withheld_reason FROM date_notices ORDER BY version, notice, days",
        )
        .await
}

#[tokio::test]
async fn a_reminder_queued_before_its_case_is_sealed_is_withheld_at_delivery() {
    let t = world().await;
    schedule_arraignment(&t).await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    seal_the_case(&t).await;

    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.withheld), (0, 1));
    assert_eq!(
        date_notices(&t).await,
        vec![("reminder".into(), 2, Some("case confidential".into()))]
    );
    // And no later run sends it.
    assert!(run_at(&t, "2026-12-15T09:00:00-06:00").await.is_empty());
}

#[tokio::test]
async fn a_reminder_queued_for_a_time_that_changed_is_withheld_and_the_change_told() {
    let t = world().await;
    let first = hearing("h1", CR, "Arraignment", "2026-12-17T13:30:00-06:00");
    t.ingest(FeedKind::Events, std::slice::from_ref(&first))
        .await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    // Moved before the reminder went: it would tell the wrong time.
    t.ingest(
        FeedKind::Events,
        &[moved(&first, "2026-12-17T15:00:00-06:00", "Division 3")],
    )
    .await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!((report.sent, report.withheld), (0, 1));
    assert_eq!(
        date_notices(&t).await,
        vec![("reminder".into(), 2, Some("court date changed".into()))]
    );
    // The next run tells the change, with the reminder of the new time.
    let mails = run_at(&t, "2026-12-15T09:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject,
        "Changed: hearing in 2622-CR01234, now Thu Dec 17, 3:00 PM"
    );
    assert!(mails[0]
        .flat_text()
        .contains("Moved from Thu Dec 17, 1:30 PM, Division 7"));
    assert_eq!(mails[0].calendar_property("SEQUENCE"), "1");
    assert_eq!(
        date_notices(&t).await,
        vec![
            ("reminder".into(), 2, Some("court date changed".into())),
            ("change".into(), 0, None),
            ("reminder".into(), 2, None),
        ]
    );
    let states: Vec<String> = t
        .db()
        .column("SELECT state FROM outbox ORDER BY outbox_id")
        .await;
    assert_eq!(states, vec!["cancelled", "queued"]);
}

#[tokio::test]
async fn operators_see_the_dates_ahead_and_the_notices_by_state() {
    let t = world().await;
    t.ingest(
        FeedKind::Events,
        &[
            hearing("h1", CR, "Arraignment", "2026-12-17T13:30:00-06:00"),
            hearing("h2", CR, "Trial", "2027-02-01T09:00:00-06:00"),
        ],
    )
    .await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    let now = at("2026-12-15T09:00:00-06:00");
    let text = mcap_notify::metrics::gather(&t.app, now).await.unwrap();
    for line in [
        "mcap_notify_court_dates_ahead 2",
        "mcap_notify_date_notices{notice=\"reminder\",state=\"queued\"} 1",
        "mcap_notify_date_notices{notice=\"change\",state=\"queued\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let status = t.app.status().await.unwrap();
    assert_eq!(
        status.0.dates.notices,
        vec![("reminder".to_string(), "queued".to_string(), 1)]
    );
    assert!(status.to_string().contains("court dates      "), "{status}");
    // The run's history says what its messages carried.
    let run_id: i64 = t.db().value("SELECT MAX(run_id) FROM runs").await;
    let shown = t
        .command()
        .args(["runs", "show", &run_id.to_string()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("notices    1 reminder\n"), "{shown}");
}

#[tokio::test]
async fn the_preview_shows_the_reminders_a_run_would_send_and_changes_nothing() {
    let t = world().await;
    schedule_arraignment(&t).await;
    let factory = t.app.message_factory().unwrap();
    let rules = t.app.date_rules().await.unwrap();
    let now = at("2026-12-15T08:00:00-06:00");
    let preview = mcap_notify::preview::preview(&t.app.store, &factory, Some(&rules), "ann", now)
        .await
        .unwrap();
    let mcap_notify::preview::Preview::Messages(messages) = preview else {
        panic!("a message to preview: {preview:?}");
    };
    assert_eq!(
        messages[0].subject,
        "Reminder: hearing in 2622-CR01234 on Thu Dec 17, 1:30 PM"
    );
    let notices: i64 = t.db().value("SELECT COUNT(*) FROM date_notices").await;
    assert_eq!(notices, 0);
    // The day before, nothing is due yet.
    let before = mcap_notify::preview::preview(
        &t.app.store,
        &factory,
        Some(&rules),
        "ann",
        at("2026-12-14T10:00:00-06:00"),
    )
    .await
    .unwrap();
    assert!(
        matches!(before, mcap_notify::preview::Preview::Nothing { .. }),
        "{before:?}"
    );
}

/// A delivery clock standing at one instant.
struct At(DateTime<Utc>);

impl mcap_notify::delivery::worker::Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[tokio::test]
async fn the_check_before_each_send_withholds_a_date_sealed_after_the_claim() {
    use mcap_notify::store::prelude::*;
    let t = world().await;
    schedule_arraignment(&t).await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    // A worker claims it; the case is sealed before its turn comes.
    let now = at("2026-12-15T08:05:00-06:00");
    let claimed = t
        .app
        .store
        .claim_due("w1", now, now + chrono::Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    seal_the_case(&t).await;
    let sendable = t
        .app
        .store
        .renew_lease(
            "w1",
            claimed[0].outbox_id,
            now,
            now + chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(
        sendable,
        mcap_notify::store::Renewal::Withheld,
        "a sealed case's reminder must not be sent"
    );
    assert_eq!(
        date_notices(&t).await,
        vec![("reminder".into(), 2, Some("case confidential".into()))]
    );
}

#[tokio::test]
async fn a_reminder_still_queued_when_its_date_has_passed_is_not_sent() {
    let t = world().await;
    schedule_arraignment(&t).await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    // Delivery stalled until after the hearing (an outage of the mail server, say).
    let report = t
        .app
        .deliver_at(&At(at("2026-12-18T09:00:00-06:00")), true)
        .await
        .unwrap();
    assert_eq!((report.sent, report.withheld), (0, 1));
    assert_eq!(
        date_notices(&t).await,
        vec![("reminder".into(), 2, Some("court date passed".into()))]
    );
}

#[tokio::test]
async fn a_reminder_still_queued_after_its_day_is_not_sent_late() {
    let t = world().await;
    schedule_arraignment(&t).await;
    // The 2-day reminder of the Thursday hearing is due Tuesday and queued then.
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    // The mail server was down all Tuesday; on Wednesday the reminder would say "in 2 days"
    // of a hearing the next day, after its day: it is withheld, at delivery and before it.
    let report = t
        .app
        .deliver_at(&At(at("2026-12-16T00:00:00-06:00")), true)
        .await
        .unwrap();
    assert_eq!((report.sent, report.withheld), (0, 1));
    assert_eq!(
        date_notices(&t).await,
        vec![("reminder".into(), 2, Some("reminder day passed".into()))]
    );
    // Nor is it queued again: its day has passed.
    assert!(run_at(&t, "2026-12-16T08:00:00-06:00").await.is_empty());
}

#[tokio::test]
async fn a_reminder_delivered_late_on_its_own_day_still_goes() {
    let t = world().await;
    schedule_arraignment(&t).await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    let report = t
        .app
        .deliver_at(&At(at("2026-12-15T23:59:00-06:00")), true)
        .await
        .unwrap();
    assert_eq!((report.sent, report.withheld), (1, 0));
}

#[tokio::test]
async fn a_reminder_withheld_while_the_case_was_sealed_goes_once_it_is_unsealed() {
    let t = world().await;
    schedule_arraignment(&t).await;
    assert_eq!(run_at(&t, "2026-12-15T08:00:00-06:00").await.len(), 1);
    seal_the_case(&t).await;
    assert_eq!(t.app.deliver(true).await.unwrap().withheld, 1);
    // Sealed: nothing.
    assert!(run_at(&t, "2026-12-15T08:30:00-06:00").await.is_empty());
    // Unsealed the same day: the reminder is owed again, and goes once.
    t.ingest(
        FeedKind::Cases,
        &[case(CR, "CT22", "CR", "State of Missouri v. Pat Doe")],
    )
    .await;
    let mails = run_at(&t, "2026-12-15T09:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(date_notices(&t).await, vec![("reminder".into(), 2, None)]);
    assert!(run_at(&t, "2026-12-15T10:00:00-06:00").await.is_empty());
}
