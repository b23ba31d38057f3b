//! Party watches through the whole pipeline: a new case naming a watched person told once,
//! with why; a party added to an existing case; auto_track with the case's entries following;
//! the noise guard's pause and its notice; exactly once across a crash; sealed cases; and the
//! watches feed's refusals, each changing nothing.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use mail_parser::MessageParser;
use mcap_notify::batch::RunOptions;
use mcap_notify::ingest::FeedKind;
use serde_json::{json, Value};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A Tuesday morning, inside the service window.
const RUN_AT: &str = "2026-11-24T10:00:00-06:00";

fn watch(id: &str, account: &str, name: &str) -> Value {
    json!({
        "watch_id": id, "account_id": account, "name": name, "kind": "person",
        "auto_track": false, "started_at": "2026-11-01T00:00:00Z"
    })
}

/// A civil case in the 22nd circuit filed at `filed_at`, naming `parties` (name, role).
fn filed(number: &str, filed_at: &str, parties: &[(&str, &str)]) -> Value {
    let mut c = case(number, "CT22", "CV", "Midwest Credit Recovery LLC v. Doe");
    c["filed_at"] = json!(filed_at);
    c["parties"] = parties
        .iter()
        .map(|(name, role)| json!({"name": name, "role": role}))
        .collect();
    c
}

/// Files civil case `number` at `filed_at` with `defendant` its one party.
async fn file_case(t: &TestApp, number: &str, filed_at: &str, defendant: &str) {
    t.ingest(
        FeedKind::Cases,
        &[filed(number, filed_at, &[(defendant, "Defendant")])],
    )
    .await;
}

async fn with_accounts(adjust: impl FnOnce(&mut mcap_notify::config::Settings)) -> TestApp {
    let t = TestApp::with(adjust).await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("ann", "ann@example.org", true),
            account("bob", "bob@example.org", true),
            account("unverified", "u@example.org", false),
        ],
    )
    .await;
    t
}

/// A run at `now`; the (recipient, subject, text) of each message it queued.
async fn run_at(t: &TestApp, now: &str) -> Vec<(String, String, String)> {
    let before = t.outbox_raw().await.len();
    match t.app.run_at(&RunOptions::default(), at(now)).await.unwrap() {
        mcap_notify::app::RunOutcome::Ran(_) => {}
        other => panic!("the run at {now} did not run: {other:?}"),
    }
    t.outbox_raw().await[before..]
        .iter()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).expect("a mail");
            let to = m.to().and_then(|a| a.first()).and_then(|a| a.address());
            (
                to.unwrap_or("").to_string(),
                m.subject().unwrap_or("").to_string(),
                m.body_text(0).unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_new_case_naming_a_watched_person_is_told_once_and_says_why() {
    let t = with_accounts(|_| {}).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Q. Doe")])
        .await;
    t.ingest(
        FeedKind::Cases,
        &[
            filed(
                "2622-CV01234",
                "2026-11-20T09:00:00-06:00",
                &[
                    ("Midwest Credit Recovery LLC", "Plaintiff"),
                    ("DOE, JANE QUINN", "Defendant"),
                ],
            ),
            // Another Jane Doe: her middle initial conflicts.
            filed(
                "2622-CV01235",
                "2026-11-20T10:00:00-06:00",
                &[("DOE, JANE R", "Defendant")],
            ),
            // Filed before the watch started.
            filed(
                "2622-CV01236",
                "2026-10-20T10:00:00-06:00",
                &[("DOE, JANE", "Defendant")],
            ),
        ],
    )
    .await;
    let mails = run_at(&t, RUN_AT).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (to, subject, text) = &mails[0];
    assert_eq!(to, "ann@example.org");
    assert_eq!(subject, "New case naming Jane Q. Doe: 2622-CV01234");
    let text = flat(text);
    for expected in [
        "New case naming Jane Q. Doe",
        "2622-CV01234 Midwest Credit Recovery LLC v. Doe",
        "; Civil (CV); filed Fri Nov 20, 2026",
        "Named: DOE, JANE QUINN (Defendant)",
        "Why it matched: same last name; same first name; middle Quinn fits initial Q",
        "check the case on Case.net",
    ] {
        assert!(text.contains(expected), "`{expected}` in: {text}");
    }
    assert!(!text.contains("2622-CV01235") && !text.contains("2622-CV01236"));
    // The next run tells nothing again.
    assert!(run_at(&t, "2026-11-24T11:00:00-06:00").await.is_empty());
    let matches: Vec<(String, String, String)> = t
        .db()
        .rows("SELECT account_id, watch_id, case_number FROM watch_matches")
        .await;
    assert_eq!(
        matches,
        vec![("ann".into(), "w1".into(), "2622-CV01234".into())]
    );
}

#[tokio::test]
async fn a_party_added_to_an_existing_case_is_matched_when_it_arrives() {
    let t = with_accounts(|_| {}).await;
    let before = filed(
        "2622-CV01234",
        "2026-10-01T09:00:00-06:00",
        &[("Acme Co", "Plaintiff")],
    );
    t.ingest(FeedKind::Cases, std::slice::from_ref(&before))
        .await;
    let mut w = watch("w1", "bob", "Robert Hill");
    w["nicknames"] = json!(true);
    w["roles"] = json!(["Defendant"]);
    t.ingest(FeedKind::Watches, &[w]).await;
    assert!(run_at(&t, RUN_AT).await.is_empty(), "nothing names him yet");
    // The case, restated with a defendant added: it arrives now, after the watch started.
    let mut after = before.clone();
    after["parties"] = json!([
        {"name": "Acme Co", "role": "Plaintiff"},
        {"name": "HILL, BOB", "role": "Defendant"}
    ]);
    t.ingest(FeedKind::Cases, &[after.clone()]).await;
    // The same case again changes nothing.
    t.ingest(FeedKind::Cases, &[after]).await;
    let mails = run_at(&t, "2026-11-24T11:00:00-06:00").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let text = flat(&mails[0].2);
    assert!(text.contains("Named: HILL, BOB (Defendant)"), "{text}");
    assert!(
        text.contains("first name Bob for Robert (nicknames)"),
        "{text}"
    );
    let arrivals: i64 = t.db().value("SELECT COUNT(*) FROM party_arrivals").await;
    assert_eq!(
        arrivals, 2,
        "one party on filing, one added; the restatement adds none"
    );
}

#[tokio::test]
async fn auto_track_tracks_the_case_from_its_filing_so_its_entries_follow() {
    let t = with_accounts(|_| {}).await;
    let mut w = watch("w1", "ann", "Jane Doe");
    w["auto_track"] = json!(true);
    t.ingest(FeedKind::Watches, &[w]).await;
    file_case(&t, "2622-CV01234", "2026-11-20T09:00:00-06:00", "Doe, Jane").await;
    t.ingest(
        FeedKind::Entries,
        &[entry(
            "e1",
            "2622-CV01234",
            "SUMM",
            "2026-11-20T11:00:00-06:00",
        )],
    )
    .await;
    let mails = run_at(&t, RUN_AT).await;
    assert_eq!(
        mails.len(),
        1,
        "one message with the new case and its entry: {mails:?}"
    );
    let text = flat(&mails[0].2);
    assert!(text.contains("You now track this case"), "{text}");
    assert!(
        text.contains("SUMM description"),
        "the entry follows: {text}"
    );
    assert_eq!(
        mails[0].1,
        "New case naming Jane Doe: 2622-CV01234; 1 new filing"
    );
    let tracked: Vec<(String, String, Option<String>)> = t
        .db()
        .rows("SELECT account_id, case_number, source FROM subscriptions")
        .await;
    assert_eq!(
        tracked,
        vec![("ann".into(), "2622-CV01234".into(), Some("watch:w1".into()))]
    );
    let since: i64 = t
        .db()
        .value(&format!(
            "SELECT {} FROM subscriptions",
            t.db().micros("tracked_at")
        ))
        .await;
    assert_eq!(since, at("2026-11-20T09:00:00-06:00").timestamp_micros());
    // The message's unsubscribe link stops the tracking auto_track started.
    let scoped: Vec<i64> = t
        .db()
        .column("SELECT subscription_id FROM unsubscribe_scopes")
        .await;
    let tracked_id: i64 = t
        .db()
        .value("SELECT subscription_id FROM subscriptions")
        .await;
    assert_eq!(scoped, vec![tracked_id]);
    // The export of tracking changes carries the start, with its source.
    let out = t
        .command()
        .args(["subscriptions", "export"])
        .output()
        .unwrap();
    let export = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        export.contains(r#""source":"watch:w1""#) && export.contains("2622-CV01234"),
        "{export}"
    );
}

#[tokio::test]
async fn a_watch_matching_too_many_cases_in_a_day_is_paused_and_its_owner_told() {
    let t = with_accounts(|s| s.watches.max_matches_per_day = 3).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "John Smith")])
        .await;
    let cases: Vec<Value> = (0..5)
        .map(|i| {
            filed(
                &format!("2622-CV0200{i}"),
                &format!("2026-11-20T0{}:00:00-06:00", i + 1),
                &[("SMITH, JOHN", "Defendant")],
            )
        })
        .collect();
    t.ingest(FeedKind::Cases, &cases).await;
    let mails = run_at(&t, RUN_AT).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let text = flat(&mails[0].2);
    assert!(
        text.contains(
            "Your watch on John Smith is paused: it matched more than 3 new cases filed on Fri Nov 20, 2026"
        ),
        "{text}"
    );
    let told: i64 = t.db().value("SELECT COUNT(*) FROM watch_matches").await;
    assert_eq!(told, 3, "the cases up to the limit are told");
    // Paused, it matches nothing more; operators see it.
    file_case(
        &t,
        "2622-CV02010",
        "2026-11-23T09:00:00-06:00",
        "SMITH, JOHN",
    )
    .await;
    assert!(run_at(&t, "2026-11-24T11:00:00-06:00").await.is_empty());
    let out = t.command().args(["watches", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["watches"][0]["watch_id"], "w1");
    assert!(listed["watches"][0]["paused_at"].is_string(), "{listed}");
    assert_eq!(listed["watches"][0]["matches"], 3);
    // Narrowed, it runs again.
    let mut narrowed = watch("w1", "ann", "John Smith");
    narrowed["circuits"] = json!(["CT22"]);
    t.ingest(FeedKind::Watches, &[narrowed]).await;
    file_case(
        &t,
        "2622-CV02011",
        "2026-11-24T08:00:00-06:00",
        "SMITH, JOHN",
    )
    .await;
    let mails = run_at(&t, "2026-11-24T12:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].2.contains("2622-CV02011"));
}

#[tokio::test]
async fn each_new_case_is_told_exactly_once_across_a_crash() {
    let t = TestApp::with(|s| s.batch.accounts_per_commit = 1).await;
    let accounts: Vec<Value> = (0..5)
        .map(|i| account(&format!("a{i}"), &format!("a{i}@example.org"), true))
        .collect();
    t.ingest(FeedKind::Accounts, &accounts).await;
    let watches: Vec<Value> = (0..5)
        .map(|i| watch(&format!("w{i}"), &format!("a{i}"), "Jane Doe"))
        .collect();
    t.ingest(FeedKind::Watches, &watches).await;
    file_case(&t, "2622-CV01234", "2026-11-20T09:00:00-06:00", "DOE, JANE").await;
    let now = at(RUN_AT);
    let crashed =
        mcap_notify::hooks::crash_after_commits(2, t.app.run_at(&RunOptions::default(), now)).await;
    assert!(crashed.is_err(), "the run stopped after two commits");
    let queued: i64 = t.db().value("SELECT COUNT(*) FROM outbox").await;
    assert_eq!(queued, 2);
    t.app
        .run_at(&RunOptions::default(), now + chrono::Duration::minutes(5))
        .await
        .unwrap();
    t.app
        .run_at(&RunOptions::default(), now + chrono::Duration::minutes(10))
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
    let waiting: i64 = t
        .db()
        .value("SELECT COUNT(*) FROM watch_matches WHERE outbox_id IS NULL")
        .await;
    assert_eq!(waiting, 0);
}

#[tokio::test]
async fn a_sealed_case_never_matches_and_one_sealed_after_its_match_waits_until_unsealed() {
    let t = with_accounts(|_| {}).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Doe")])
        .await;
    let mut sealed = filed(
        "2622-CV01234",
        "2026-11-20T09:00:00-06:00",
        &[("DOE, JANE", "Defendant")],
    );
    sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[sealed]).await;
    assert!(
        run_at(&t, RUN_AT).await.is_empty(),
        "a sealed case names no one"
    );
    let matches: i64 = t.db().value("SELECT COUNT(*) FROM watch_matches").await;
    assert_eq!(matches, 0);

    // Matched while open, then sealed before a digest could tell it.
    let open = filed(
        "2622-CV01240",
        "2026-11-21T09:00:00-06:00",
        &[("DOE, JANE", "Defendant")],
    );
    t.ingest(FeedKind::Cases, std::slice::from_ref(&open)).await;
    mcap_notify::watches::step::match_new_parties(
        &t.app.store,
        chrono_tz::America::Chicago,
        &t.app.settings.watches,
        None,
        at(RUN_AT),
    )
    .await
    .unwrap();
    let mut now_sealed = open.clone();
    now_sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[now_sealed]).await;
    assert!(run_at(&t, "2026-11-24T11:00:00-06:00").await.is_empty());
    t.ingest(FeedKind::Cases, &[open]).await;
    let mails = run_at(&t, "2026-11-24T12:00:00-06:00").await;
    assert_eq!(mails.len(), 1, "told once the case is open again");
    assert!(mails[0].2.contains("2622-CV01240"));
}

#[tokio::test]
async fn bad_watch_lines_are_refused_with_the_reason_and_change_nothing() {
    let t = with_accounts(|s| s.watches.per_account = 2).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Doe")])
        .await;
    let line = |v: Value| v.to_string();
    let mut bad_circuit = watch("w2", "ann", "Jane Doe");
    bad_circuit["circuits"] = json!(["CT99"]);
    let mut bad_kind = watch("w2", "ann", "Jane Doe");
    bad_kind["kind"] = json!("robot");
    // A stop still ahead has not stopped the watch: it counts.
    let mut stops_later = watch("w3", "ann", "Jim Doe");
    stops_later["stopped_at"] = json!("2099-01-01T00:00:00Z");
    let mut stops_early = watch("w2", "ann", "Jane Doe");
    stops_early["stopped_at"] = json!("2026-10-01T00:00:00Z");
    for (lines, expected) in [
        (
            vec![line(watch("w2", "nobody", "Jane Doe"))],
            "unknown account `nobody`",
        ),
        (
            vec![line(watch("w2", "unverified", "Jane Doe"))],
            "has not verified its e-mail address",
        ),
        (
            vec![line(watch("w2", "ann", "J. Doe"))],
            "the first name `j` is an initial",
        ),
        (
            vec![line(watch("w2", "ann", "Cher"))],
            "needs a first and a last name",
        ),
        (
            vec![line(bad_circuit)],
            "field `circuits[0]`: unknown court `CT99`",
        ),
        (vec![line(bad_kind)], "kind"),
        (vec![line(stops_early)], "field `stopped_at`"),
        (
            vec![line(watch("w1", "bob", "Jane Doe"))],
            "a watch cannot move to another account",
        ),
        (
            vec![
                line(watch("w2", "ann", "John Doe")),
                line(watch("w3", "ann", "Jim Doe")),
            ],
            "at most 2 may run at once",
        ),
        (
            vec![line(watch("w2", "ann", "John Doe")), line(stops_later)],
            "at most 2 may run at once",
        ),
    ] {
        let error = t.ingest_rejected(FeedKind::Watches, &lines).await;
        assert!(error.contains(expected), "`{expected}` in: {error}");
        assert!(
            error.contains(":1: ") || error.contains(":2: "),
            "names the line: {error}"
        );
    }
    // Stopping one makes room for another.
    let mut stop = watch("w1", "ann", "Jane Doe");
    stop["stopped_at"] = json!("2026-11-25T00:00:00Z");
    t.ingest(
        FeedKind::Watches,
        &[
            stop,
            watch("w2", "ann", "John Doe"),
            watch("w3", "ann", "Jim Doe"),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_notice_queued_before_its_case_is_sealed_is_withheld_and_told_once_unsealed() {
    let t = with_accounts(|_| {}).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Doe")])
        .await;
    let open = filed(
        "2622-CV01240",
        "2026-11-21T09:00:00-06:00",
        &[("DOE, JANE", "Defendant")],
    );
    t.ingest(FeedKind::Cases, std::slice::from_ref(&open)).await;
    assert_eq!(run_at(&t, RUN_AT).await.len(), 1, "queued");
    let mut sealed = open.clone();
    sealed["confidential"] = json!(true);
    t.ingest(FeedKind::Cases, &[sealed]).await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 0, "{report:?}");
    let (state, error): (String, Option<String>) =
        t.db().row("SELECT state, last_error FROM outbox").await;
    assert_eq!(state, "cancelled");
    assert!(error
        .unwrap_or_default()
        .contains("new case: case confidential"));
    // Open again: told once, by the next run.
    t.ingest(FeedKind::Cases, &[open]).await;
    let mails = run_at(&t, "2026-11-24T11:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].2.contains("2622-CV01240"));
    assert!(run_at(&t, "2026-11-24T12:00:00-06:00").await.is_empty());
}

#[tokio::test]
async fn an_account_no_longer_verified_keeps_its_matches_until_it_is_verified_again() {
    let t = with_accounts(|_| {}).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Doe")])
        .await;
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", false)],
    )
    .await;
    file_case(&t, "2622-CV01234", "2026-11-20T09:00:00-06:00", "DOE, JANE").await;
    assert!(
        run_at(&t, RUN_AT).await.is_empty(),
        "nothing to an unverified address"
    );
    let waiting: i64 = t
        .db()
        .value("SELECT COUNT(*) FROM watch_matches WHERE outbox_id IS NULL")
        .await;
    assert_eq!(waiting, 1, "the match is kept");
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await;
    let mails = run_at(&t, "2026-11-24T11:00:00-06:00").await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].2.contains("2622-CV01234"));
}

#[tokio::test]
async fn the_unsubscribe_link_of_a_watch_notice_stops_the_watch() {
    let t = with_accounts(|_| {}).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Doe")])
        .await;
    file_case(&t, "2622-CV01234", "2026-11-20T09:00:00-06:00", "DOE, JANE").await;
    assert_eq!(run_at(&t, RUN_AT).await.len(), 1);
    // The one-click link of that message, which told only of the watch's new case.
    let raw = t.outbox_raw().await.pop().unwrap();
    let parsed = MessageParser::default().parse(&raw[..]).unwrap();
    let header = parsed
        .header_raw("List-Unsubscribe")
        .unwrap()
        .trim()
        .to_string();
    let token = header
        .split(['<', '>'])
        .find(|p| p.starts_with("https://"))
        .and_then(|link| link.split("token=").nth(1))
        .expect("a web link")
        .to_string();
    let keys = mcap_notify::unsubscribe::token::TokenKeys::from_settings(&t.app.settings.mail);
    let request = mcap_notify::unsubscribe::resolve(&t.app.store, &keys, &token, Utc::now())
        .await
        .expect("the link names the watch");
    assert_eq!(request.watches.len(), 1);
    assert_eq!(request.watches[0].name, "Jane Doe");
    let done = mcap_notify::unsubscribe::stop(
        &t.app.store,
        &request,
        mcap_notify::store::StopSource::OneClick,
        "test",
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(done.stopped, 1);
    // The watch matches nothing more.
    file_case(&t, "2622-CV01299", "2026-11-23T09:00:00-06:00", "DOE, JANE").await;
    assert!(run_at(&t, "2026-11-24T11:00:00-06:00").await.is_empty());
    let stopped: i64 = t
        .db()
        .value("SELECT COUNT(*) FROM watches WHERE unsubscribed_at IS NOT NULL")
        .await;
    assert_eq!(stopped, 1);
    // The same link again stops nothing more.
    let again = mcap_notify::unsubscribe::resolve(&t.app.store, &keys, &token, Utc::now())
        .await
        .unwrap();
    assert!(again.all_stopped());
}

#[tokio::test]
async fn prune_removes_parties_matched_before_the_cutoff_and_keeps_the_matches() {
    use mcap_notify::store::RetentionStore;
    let t = with_accounts(|_| {}).await;
    t.ingest(FeedKind::Watches, &[watch("w1", "ann", "Jane Doe")])
        .await;
    file_case(&t, "2622-CV01234", "2026-11-20T09:00:00-06:00", "DOE, JANE").await;
    run_at(&t, RUN_AT).await;
    // A party arriving after the cutoff is kept, matched or not.
    file_case(
        &t,
        "2622-CV01235",
        "2026-11-22T09:00:00-06:00",
        "ROE, RICHARD",
    )
    .await;
    let cutoff = at("2026-11-25T00:00:00Z");
    let pruned = t.app.store.prune(cutoff, cutoff, false).await.unwrap();
    assert_eq!(pruned.party_arrivals, 1);
    let left: Vec<String> = t
        .db()
        .column("SELECT case_number FROM party_arrivals")
        .await;
    assert_eq!(left, vec!["2622-CV01235".to_string()]);
    let matches: i64 = t.db().value("SELECT COUNT(*) FROM watch_matches").await;
    assert_eq!(matches, 1, "the ledger stays");
}
