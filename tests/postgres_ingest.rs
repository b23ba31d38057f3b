//! Feeds on PostgreSQL: the ingest stage leaves the same rows as on SQLite, a bad line in a later
//! chunk leaves nothing applied, files ingested at the same moment by two processes all apply,
//! and two files starting the same tracking period never leave two.

mod common;

use chrono::{DateTime, Utc};
use common::postgres::TestDatabase;
use common::{account, case, court, entry, stop, track, void};
use mcap_notify::hooks::{ingest_in_chunks_of, pause_ingest, Pause};
use mcap_notify::ingest::{ingest_reader, FeedKind, IngestError, IngestSummary};
use mcap_notify::store::prelude::*;
use mcap_notify::store::{PgStore, SqliteStore, StoreError};
use serde_json::Value;

const C1: &str = "2616-CV00001";
const C2: &str = "2616-CV00002";
const C3: &str = "2601-FA00003";

async fn pg_store(db: &TestDatabase) -> PgStore {
    let store = PgStore::connect(&db.url, 4, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn sqlite_store(dir: &tempfile::TempDir) -> SqliteStore {
    let url = format!("sqlite://{}", dir.path().join("mcap.db").display());
    let store = SqliteStore::connect(&url, 4, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn text(lines: &[Value]) -> String {
    lines.iter().map(|l| l.to_string() + "\n").collect()
}

async fn ingest<S: IngestStore>(
    store: &S,
    kind: FeedKind,
    lines: &[Value],
) -> Result<IngestSummary, IngestError> {
    let text = text(lines);
    ingest_reader(store, kind, "feed.jsonl", text.as_bytes(), None).await
}

fn summary(records: u64, applied: u64, unchanged: u64) -> IngestSummary {
    IngestSummary {
        records,
        applied,
        unchanged,
    }
}

fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap()
}

/// Rows as tuples, generic in how the backend stores an instant.
type CaseRow<I> = (String, String, String, String, I, bool, Option<I>);
type EntryRow<I> = (String, String, String, String, String, String, I, Option<I>);
type PeriodRow<I> = (String, String, I, Option<I>);
type Instant = DateTime<Utc>;

/// Everything the feeds write, as plain values, in a fixed order (entries in arrival order).
#[derive(Debug, PartialEq)]
struct Tables {
    courts: Vec<(String, String, bool)>,
    excluded: Vec<(String, String)>,
    cases: Vec<CaseRow<Instant>>,
    parties: Vec<(String, i64, String, String)>,
    entries: Vec<EntryRow<Instant>>,
    accounts: Vec<(String, String, bool)>,
    subscriptions: Vec<PeriodRow<Instant>>,
}

const COURTS: &str = "SELECT court_id, name, mcap FROM courts ORDER BY court_id";
const EXCLUDED: &str =
    "SELECT court_id, case_type FROM court_excluded_case_types ORDER BY court_id, case_type";
const CASES: &str = "SELECT case_number, court_id, case_type, caption, filed_at, confidential,
                            closed_at FROM cases ORDER BY case_number";
const PARTIES: &str =
    "SELECT case_number, position, name, role FROM parties ORDER BY case_number, position";
const ENTRIES: &str = "SELECT entry_id, case_number, code, description, text, filed_by,
                              posted_at, voided_at FROM docket_entries ORDER BY seq";
const ACCOUNTS: &str = "SELECT account_id, email, email_verified FROM accounts ORDER BY account_id";
const SUBSCRIPTIONS: &str = "SELECT account_id, case_number, tracked_at, stopped_at
                             FROM subscriptions ORDER BY account_id, case_number, tracked_at";

async fn pg_tables(store: &PgStore) -> Tables {
    let db = store.pool();
    Tables {
        courts: sqlx::query_as(COURTS).fetch_all(db).await.unwrap(),
        excluded: sqlx::query_as(EXCLUDED).fetch_all(db).await.unwrap(),
        cases: sqlx::query_as(CASES).fetch_all(db).await.unwrap(),
        parties: sqlx::query_as(PARTIES).fetch_all(db).await.unwrap(),
        entries: sqlx::query_as(ENTRIES).fetch_all(db).await.unwrap(),
        accounts: sqlx::query_as(ACCOUNTS).fetch_all(db).await.unwrap(),
        subscriptions: sqlx::query_as(SUBSCRIPTIONS).fetch_all(db).await.unwrap(),
    }
}

async fn sqlite_tables(store: &SqliteStore) -> Tables {
    let db = store.pool();
    let cases: Vec<CaseRow<i64>> = sqlx::query_as(CASES).fetch_all(db).await.unwrap();
    let entries: Vec<EntryRow<i64>> = sqlx::query_as(ENTRIES).fetch_all(db).await.unwrap();
    let subscriptions: Vec<PeriodRow<i64>> =
        sqlx::query_as(SUBSCRIPTIONS).fetch_all(db).await.unwrap();
    Tables {
        courts: sqlx::query_as(COURTS).fetch_all(db).await.unwrap(),
        excluded: sqlx::query_as(EXCLUDED).fetch_all(db).await.unwrap(),
        cases: (cases.into_iter())
            .map(|(n, c, t, cap, filed, conf, closed)| {
                (n, c, t, cap, at(filed), conf, closed.map(at))
            })
            .collect(),
        parties: sqlx::query_as(PARTIES).fetch_all(db).await.unwrap(),
        entries: (entries.into_iter())
            .map(|(id, c, code, d, t, f, posted, voided)| {
                (id, c, code, d, t, f, at(posted), voided.map(at))
            })
            .collect(),
        accounts: sqlx::query_as(ACCOUNTS).fetch_all(db).await.unwrap(),
        subscriptions: (subscriptions.into_iter())
            .map(|(a, c, tracked, stopped)| (a, c, at(tracked), stopped.map(at)))
            .collect(),
    }
}

fn with_parties(mut case: Value, parties: &[(&str, &str)]) -> Value {
    case["parties"] = parties
        .iter()
        .map(|(name, role)| serde_json::json!({"name": name, "role": role}))
        .collect();
    case
}

/// Files of every kind, twice over: the second round replaces, stops, voids and repeats.
fn rounds() -> Vec<Vec<(FeedKind, Vec<Value>)>> {
    let first = vec![
        (
            FeedKind::Courts,
            vec![
                court("SUP", false, &[]),
                court("CT16", true, &["AD", "JU"]),
                court("CT16", true, &["AD"]),
            ],
        ),
        (
            FeedKind::Cases,
            vec![
                case(C1, "CT16", "CV", "Smith v. Jones"),
                with_parties(
                    case(C2, "CT16", "CV", "Doe v. Roe"),
                    &[("Jane Doe", "Plaintiff"), ("Rick Roe", "Defendant")],
                ),
                case(C3, "CT01", "FA", "In re Smith"),
                case(C1, "CT16", "CV", "Smith v. Jones, amended"),
            ],
        ),
        (
            FeedKind::Accounts,
            vec![
                account("ann", "ann@example.org", true),
                account("bob", "bob@example.org", false),
                account("bob", "bob@example.net", true),
            ],
        ),
        (
            FeedKind::Subscriptions,
            vec![
                track("ann", C1, "2026-01-10T09:00:00Z"),
                track("ann", C1, "2026-01-11T09:00:00Z"),
                track("bob", C1, "2026-01-10T09:00:00Z"),
                stop("bob", C1, "2026-01-12T09:00:00Z"),
                track("bob", C1, "2026-01-13T09:00:00Z"),
                track("ann", C2, "2026-01-10T09:00:00Z"),
                track("bob", C3, "2026-01-10T09:00:00Z"),
            ],
        ),
        (
            FeedKind::Entries,
            (0..10)
                .map(|i| {
                    entry(
                        &format!("e{i}"),
                        [C1, C2, C3][i % 3],
                        "MOT",
                        "2026-02-02T10:00:00Z",
                    )
                })
                .chain([
                    void("e3", "2026-02-03T10:00:00Z"),
                    void("e3", "2026-02-04T10:00:00Z"),
                    entry("e1", C2, "MOT", "2026-02-02T10:00:00Z"),
                ])
                .collect(),
        ),
    ];
    let second = vec![
        (
            FeedKind::Courts,
            vec![court("CT16", true, &["AD", "PR", "PR"])],
        ),
        (
            FeedKind::Cases,
            vec![with_parties(
                case(C2, "CT16", "CV", "Doe v. Roe"),
                &[("Jane Doe", "Plaintiff")],
            )],
        ),
        (
            FeedKind::Subscriptions,
            vec![
                stop("ann", C1, "2026-01-20T09:00:00Z"),
                stop("ann", C1, "2026-01-20T09:00:00Z"),
                track("ann", C1, "2026-01-21T09:00:00Z"),
                stop("bob", C3, "2026-01-21T09:00:00Z"),
            ],
        ),
        (
            FeedKind::Entries,
            vec![
                entry("e0", C1, "MOT", "2026-02-02T10:00:00Z"),
                void("e0", "2026-02-05T10:00:00Z"),
                void("e3", "2026-02-05T10:00:00Z"),
                entry("e10", C3, "ORD", "2026-02-06T10:00:00Z"),
                void("e10", "2026-02-06T11:00:00Z"),
            ],
        ),
    ];
    vec![first, second]
}

/// Each file's outcome: its summary, or the message that refused it.
async fn ingest_all<S: IngestStore>(store: &S) -> Vec<Result<IngestSummary, String>> {
    let mut outcomes = Vec::new();
    for round in rounds() {
        for (kind, lines) in round {
            let outcome = ingest_in_chunks_of(2, ingest(store, kind, &lines)).await;
            outcomes.push(outcome.map_err(|e| e.to_string()));
        }
    }
    outcomes
}

#[tokio::test]
async fn feeds_leave_the_same_rows_as_on_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = pg_store(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_store(&dir).await;
    let on_pg = ingest_all(&pg).await;
    let on_sqlite = ingest_all(&sqlite).await;
    assert!(on_pg.iter().all(Result::is_ok), "{on_pg:?}");
    assert_eq!(on_pg, on_sqlite);
    let tables = pg_tables(&pg).await;
    assert_eq!(tables, sqlite_tables(&sqlite).await);
    assert_eq!(tables.entries.len(), 11);
    assert_eq!(tables.subscriptions.len(), 6);
    // The files' outcomes are what the feeds' rules say, so the comparison compares something.
    assert_eq!(on_pg[3], Ok(summary(7, 6, 1)));
    assert_eq!(on_pg[4], Ok(summary(13, 11, 2)));
}

#[tokio::test]
async fn entries_carry_the_inserting_transaction() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = pg_store(&db).await;
    ingest(&pg, FeedKind::Cases, &[case(C1, "CT16", "CV", "A v. B")])
        .await
        .unwrap();
    for file in [["a1", "a2"], ["b1", "b2"]] {
        let lines: Vec<Value> = (file.iter())
            .map(|id| entry(id, C1, "MOT", "2026-02-02T10:00:00Z"))
            .collect();
        ingest(&pg, FeedKind::Entries, &lines).await.unwrap();
    }
    let xids: Vec<(String, String)> =
        sqlx::query_as("SELECT entry_id, inserted_xid::text FROM docket_entries ORDER BY seq")
            .fetch_all(pg.pool())
            .await
            .unwrap();
    let ids: Vec<&str> = xids.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "b1", "b2"]);
    assert_eq!(xids[0].1, xids[1].1, "one file, one transaction");
    assert_ne!(xids[1].1, xids[2].1);
}

#[tokio::test]
async fn a_bad_line_in_a_later_chunk_leaves_nothing_applied() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = pg_store(&db).await;
    ingest(&pg, FeedKind::Cases, &[case(C1, "CT16", "CV", "A v. B")])
        .await
        .unwrap();
    ingest(
        &pg,
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await
    .unwrap();
    let before = pg_tables(&pg).await;
    let mut lines: Vec<Value> = (0..7)
        .map(|i| entry(&format!("e{i}"), C1, "MOT", "2026-02-02T10:00:00Z"))
        .collect();
    lines.push(entry("e7", "2616-CV09999", "MOT", "2026-02-02T10:00:00Z"));
    let err = ingest_in_chunks_of(3, ingest(&pg, FeedKind::Entries, &lines))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "feed.jsonl:8: unknown case `2616-CV09999`");
    let tracks = [
        track("ann", C1, "2026-01-10T09:00:00Z"),
        stop("ann", C1, "2026-01-11T09:00:00Z"),
        track("ann", C1, "2026-01-12T09:00:00Z"),
        stop("ann", C1, "2026-01-09T09:00:00Z"),
    ];
    let err = ingest_in_chunks_of(3, ingest(&pg, FeedKind::Subscriptions, &tracks))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("feed.jsonl:4: "), "{err}");
    assert_eq!(pg_tables(&pg).await, before);
}

/// Waits until a session of the database waits on a lock another holds.
async fn until_a_session_waits_on_a_lock(store: &PgStore) {
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
}

async fn two_stores_with_cases(db: &TestDatabase) -> (PgStore, PgStore) {
    let (a, b) = (pg_store(db).await, pg_store(db).await);
    let cases = [
        case(C1, "CT16", "CV", "A v. B"),
        case(C2, "CT16", "CV", "C v. D"),
    ];
    ingest(&a, FeedKind::Cases, &cases).await.unwrap();
    ingest(
        &a,
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await
    .unwrap();
    (a, b)
}

#[tokio::test]
async fn files_ingested_at_once_by_two_processes_both_apply() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = two_stores_with_cases(&db).await;
    let file = |prefix: &str, case_number: &str| -> Vec<Value> {
        (0..50)
            .map(|i| {
                entry(
                    &format!("{prefix}{i}"),
                    case_number,
                    "MOT",
                    "2026-02-02T10:00:00Z",
                )
            })
            .collect()
    };
    let (first, second) = (file("a", C1), file("b", C2));
    // The first file stops once checked, its locks held, while the second runs whole.
    let pause = Pause::after_records(50);
    let paused = tokio::spawn({
        let (a, pause) = (a.clone(), pause.clone());
        async move { pause_ingest(pause, ingest(&a, FeedKind::Entries, &first)).await }
    });
    pause.wait_reached().await;
    let other = ingest(&b, FeedKind::Entries, &second).await.unwrap();
    assert_eq!(other, summary(50, 50, 0));
    pause.resume();
    assert_eq!(paused.await.unwrap().unwrap(), summary(50, 50, 0));
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT case_number, COUNT(*) FROM docket_entries GROUP BY case_number ORDER BY 1",
    )
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(counts, [(C1.to_string(), 50), (C2.to_string(), 50)]);
}

async fn periods(store: &PgStore) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    sqlx::query_as(
        "SELECT tracked_at, stopped_at FROM subscriptions
         WHERE account_id = 'ann' AND case_number = $1 ORDER BY tracked_at",
    )
    .bind(C1)
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_file_starting_a_period_another_is_starting_waits_and_finds_it_started() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = two_stores_with_cases(&db).await;
    let pause = Pause::after_records(1);
    let first = tokio::spawn({
        let (a, pause) = (a.clone(), pause.clone());
        let lines = [track("ann", C1, "2026-01-10T09:00:00Z")];
        async move { pause_ingest(pause, ingest(&a, FeedKind::Subscriptions, &lines)).await }
    });
    pause.wait_reached().await;
    // The second file's checks wait for the first file's lock on the account's periods.
    let second = tokio::spawn(async move {
        let lines = [track("ann", C1, "2026-01-11T09:00:00Z")];
        ingest(&b, FeedKind::Subscriptions, &lines).await
    });
    until_a_session_waits_on_a_lock(&a).await;
    pause.resume();
    assert_eq!(first.await.unwrap().unwrap(), summary(1, 1, 0));
    assert_eq!(second.await.unwrap().unwrap(), summary(1, 0, 1));
    let started = "2026-01-10T09:00:00Z".parse().unwrap();
    assert_eq!(periods(&a).await, [(started, None)]);
}

#[tokio::test]
async fn files_starting_the_same_period_at_once_leave_one() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = two_stores_with_cases(&db).await;
    // Each file names the pairs in the other's order, across chunks: whichever interleaving
    // happens, each file applies whole, or finds the period started, or is refused whole.
    let lines_a = [
        track("ann", C1, "2026-01-10T09:00:00Z"),
        track("ann", C2, "2026-01-10T09:00:00Z"),
    ];
    let lines_b = [
        track("ann", C2, "2026-01-11T09:00:00Z"),
        track("ann", C1, "2026-01-11T09:00:00Z"),
    ];
    for _ in 0..5 {
        sqlx::query("DELETE FROM subscriptions")
            .execute(a.pool())
            .await
            .unwrap();
        let (ra, rb) = tokio::join!(
            ingest_in_chunks_of(1, ingest(&a, FeedKind::Subscriptions, &lines_a)),
            ingest_in_chunks_of(1, ingest(&b, FeedKind::Subscriptions, &lines_b)),
        );
        for outcome in [&ra, &rb] {
            match outcome {
                Ok(_) => {}
                Err(IngestError::Store {
                    source: StoreError::Changed(why),
                    ..
                }) => assert!(why.contains("ingest the file again"), "{why}"),
                Err(e) => panic!("unexpected failure: {e}"),
            }
        }
        let applied: u64 = [&ra, &rb]
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|s| s.applied)
            .sum();
        assert_eq!(applied, 2, "{ra:?} {rb:?}");
        let pairs: Vec<(String, i64)> = sqlx::query_as(
            "SELECT case_number, COUNT(*) FROM subscriptions GROUP BY case_number ORDER BY 1",
        )
        .fetch_all(a.pool())
        .await
        .unwrap();
        assert_eq!(pairs, [(C1.to_string(), 1), (C2.to_string(), 1)]);
    }
}

/// The time to ingest a file of `lines` entries on 2 000 cases into a fresh store.
async fn time_entries_file<S: IngestStore>(store: &S, dir: &std::path::Path, lines: usize) -> f64 {
    let cases: Vec<Value> = (1..=2000)
        .map(|i| case(&format!("2616-CV{i:05}"), "CT16", "CV", "A v. B"))
        .collect();
    ingest(store, FeedKind::Cases, &cases).await.unwrap();
    let path = dir.join("entries.jsonl");
    if !path.exists() {
        let entries: Vec<Value> = (0..lines)
            .map(|i| {
                let case_number = format!("2616-CV{:05}", i % 2000 + 1);
                entry(
                    &format!("E{i:07}"),
                    &case_number,
                    "MOT",
                    "2026-02-02T10:00:00Z",
                )
            })
            .collect();
        std::fs::write(&path, text(&entries)).unwrap();
    }
    let started = std::time::Instant::now();
    let done = mcap_notify::ingest::ingest_path(store, FeedKind::Entries, &path)
        .await
        .unwrap();
    assert_eq!(done.applied as usize, lines);
    started.elapsed().as_secs_f64()
}

/// Not a check: prints the median time of three ingests of a big entries file on each backend
/// (`cargo test --test postgres_ingest -- --ignored --nocapture`; `MCAP_NOTIFY_BENCH_LINES`
/// sets the size, 100 000 by default).
#[tokio::test]
#[ignore]
async fn a_big_entries_file_on_each_backend() {
    let lines: usize = std::env::var("MCAP_NOTIFY_BENCH_LINES")
        .map(|v| v.parse().unwrap())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let (mut pg, mut sqlite) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        pg.push(time_entries_file(&pg_store(&db).await, dir.path(), lines).await);
        let scratch = tempfile::tempdir().unwrap();
        sqlite.push(time_entries_file(&sqlite_store(&scratch).await, dir.path(), lines).await);
    }
    for (name, mut times) in [("PostgreSQL", pg), ("SQLite", sqlite)] {
        times.sort_by(f64::total_cmp);
        println!(
            "{name}: {lines} entries, median {:.2} s of {times:.2?}",
            times[1]
        );
    }
}
