//! Scale-out on PostgreSQL, with real processes: the commands work on a `postgres://` database
//! as on SQLite; a second batch leader is refused while the first holds the lease and takes
//! over at once when it dies; a leader cut off from the database mid-run writes nothing more
//! (its writes are fenced) while the new leader finishes its run; delivery workers in several
//! processes share one queue, and one killed mid-send costs only what it had sent but not
//! recorded, sent twice; ingesters committing out of order while runs run leave every
//! (account, entry) pair notified exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::gate_server::GateServer;
use common::postgres::TestDatabase;
use common::*;
use mcap_notify::app::App;
use mcap_notify::batch::RunOptions;
use mcap_notify::ingest::FeedKind;
use serde_json::Value;

/// The program on `url`, writing files under `dir`, delivering on any day (its runs are given
/// `--ignore-windows`: the suite runs on weekends too).
fn program(dir: &Path, url: &str) -> std::process::Command {
    let mut c = binary();
    c.current_dir(dir)
        .env("MCAP_NOTIFY__DATABASE__URL", url)
        .env("MCAP_NOTIFY__DELIVERY__FILE_DIR", dir.join("outbox"))
        .env("MCAP_NOTIFY__DELIVERY__RESPECT_WINDOWS", "false");
    c
}

fn write_feed(dir: &Path, name: &str, lines: &[Value]) -> std::path::PathBuf {
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn ok(mut command: std::process::Command, args: &[&str]) -> String {
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const CASE: &str = "2616-CV00001";

/// Feeds for `accounts` accounts tracking one case with two entries.
fn small_feeds(dir: &Path, accounts: usize) -> Vec<(&'static str, std::path::PathBuf)> {
    let account_lines: Vec<Value> = (0..accounts)
        .map(|i| account(&format!("a{i}"), &format!("a{i}@example.org"), true))
        .collect();
    let tracks: Vec<Value> = (0..accounts)
        .map(|i| track(&format!("a{i}"), CASE, "2026-01-01T00:00:00Z"))
        .collect();
    vec![
        (
            "cases",
            write_feed(
                dir,
                "cases.jsonl",
                &[case(CASE, "CT16", "CV", "Smith v. Jones")],
            ),
        ),
        (
            "accounts",
            write_feed(dir, "accounts.jsonl", &account_lines),
        ),
        ("subscriptions", write_feed(dir, "subs.jsonl", &tracks)),
        (
            "entries",
            write_feed(
                dir,
                "entries.jsonl",
                &[
                    entry("e1", CASE, "MOT", "2026-02-01T10:00:00Z"),
                    entry("e2", CASE, "ORD", "2026-02-01T11:00:00Z"),
                ],
            ),
        ),
    ]
}

/// Ingests the small feeds for `accounts` accounts on `url`, and on PostgreSQL waits until
/// a run can claim every entry (other tests' transactions on the server hold claims back for
/// a moment).
async fn ingest_small_feeds(dir: &Path, url: &str, accounts: usize) {
    for (kind, file) in small_feeds(dir, accounts) {
        ok(program(dir, url), &["ingest", kind, file.to_str().unwrap()]);
    }
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        common::postgres::wait_until_claimable(&pool).await;
    }
}

/// Runs the same commands on `url`; returns what an operator would compare.
async fn commands_on(dir: &Path, url: &str) -> (Value, usize, Value) {
    ingest_small_feeds(dir, url, 3).await;
    let run: Value = serde_json::from_str(&ok(
        program(dir, url),
        &["run-now", "--ignore-windows", "--json"],
    ))
    .unwrap();
    ok(program(dir, url), &["deliver", "--json"]);
    let sent = std::fs::read_dir(dir.join("outbox")).unwrap().count();
    let status: Value =
        serde_json::from_str(&ok(program(dir, url), &["status", "--json"])).unwrap();
    for args in [
        &["outbox", "--json"][..],
        &["runs", "--json"],
        &["suppressions", "--json"],
        &["outages", "list"],
        &["unsubscribes", "list", "--json"],
        &["bounces", "unmatched"],
        &["calendar", "--json"],
        &["prune", "--dry-run", "--json"],
    ] {
        ok(program(dir, url), args);
    }
    (run["totals"].clone(), sent, status["outbox"].clone())
}

#[tokio::test]
async fn the_commands_work_on_postgres_as_on_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let on_sqlite = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", on_sqlite.path().join("m.db").display());
    let on_postgres = tempfile::tempdir().unwrap();
    let sqlite = commands_on(on_sqlite.path(), &sqlite_url).await;
    let postgres = commands_on(on_postgres.path(), &db.url).await;
    assert_eq!(postgres, sqlite);
    assert_eq!(postgres.1, 3, "one digest for each of three accounts");
}

#[tokio::test]
async fn a_second_leader_waits_and_takes_over_at_once_when_the_first_dies() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ingest_small_feeds(dir.path(), &db.url, 2).await;
    let leader = start_paused(
        {
            let mut c = program(dir.path(), &db.url);
            c.args(["run-now", "--ignore-windows"]);
            c
        },
        "batch-lease:0",
    );
    let refused = program(dir.path(), &db.url)
        .args(["run-now", "--ignore-windows"])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The leader's lock, as this database's advisory locks show it.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let key: i64 = sqlx::query_scalar(
        "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    leader.signal("KILL");
    let _ = leader.finish();
    // The server ends the dead leader's session (its socket closed) and with it the lock:
    // taking the lock here waits for exactly that, then gives it back.
    wait_for_lock_free(&pool, key).await;
    let run: Value = serde_json::from_str(&ok(
        program(dir.path(), &db.url),
        &["run-now", "--ignore-windows", "--json"],
    ))
    .unwrap();
    assert_eq!(run["totals"]["digests_queued"], 2, "{run}");
}

/// Takes the batch lock and gives it back: waits until no session holds it.
async fn wait_for_lock_free(pool: &sqlx::PgPool, key: i64) {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET statement_timeout = '60s'")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .expect("the lock is released");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_leader_cut_off_mid_run_writes_nothing_more_and_the_new_leader_finishes_its_run() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ingest_small_feeds(dir.path(), &db.url, 2).await;
    // The leader has claimed the entries and rendered its digests; it stops before its
    // first commit.
    let mut leader = start_paused(
        {
            let mut c = program(dir.path(), &db.url);
            c.args(["run-now", "--ignore-windows"]);
            c
        },
        "batch-commit:0",
    );
    // Its lock session is cut off, as a network partition or an operator's
    // pg_terminate_backend would: the lock goes with it.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let key: i64 = sqlx::query_scalar(
        "SELECT (l.classid::bigint << 32) | l.objid::bigint
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND a.application_name = 'mcap-notify batch lease'
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let ended: bool = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'mcap-notify batch lease' AND datname = current_database()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(ended);
    wait_for_lock_free(&pool, key).await;
    // A second process leads now: it resumes the open run and queues its digests.
    let run: Value = serde_json::from_str(&ok(
        program(dir.path(), &db.url),
        &["run-now", "--ignore-windows", "--json"],
    ))
    .unwrap();
    assert_eq!(run["resumed"], true, "{run}");
    assert_eq!(run["totals"]["digests_queued"], 2, "{run}");
    // The old leader, let go, finds the lease in other hands at its commit.
    leader.resume();
    let (status, stderr) = leader.finish();
    assert_eq!(status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("lost the batch lease"), "{stderr}");
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, 2, "each account's digest queued once");
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status = 'running'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(open, 0, "the run was finished by the new leader");
}

#[tokio::test]
async fn workers_in_several_processes_share_one_queue_and_a_killed_one_resends_only_its_sends_in_flight(
) {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server_dir = tempfile::tempdir().unwrap();
    let server = GateServer::start(server_dir.path());
    ingest_small_feeds(dir.path(), &db.url, 40).await;
    ok(
        program(dir.path(), &db.url),
        &["run-now", "--ignore-windows"],
    );
    let worker = || {
        let mut c = program(dir.path(), &db.url);
        c.env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
            .env("MCAP_NOTIFY__SMTP__URL", server.url())
            .env("MCAP_NOTIFY__DELIVERY__BATCH_SIZE", "4")
            .env("MCAP_NOTIFY__DELIVERY__CONCURRENCY", "2")
            .env("MCAP_NOTIFY__DELIVERY__LEASE_SECS", "60")
            .env("MCAP_NOTIFY__SMTP__TIMEOUT_SECS", "5")
            .arg("deliver");
        c
    };
    // One worker is killed after its server accepted a message, before it recorded it. It
    // sends one at a time, so that message is the only one it leaves sent but unrecorded.
    let doomed = start_paused(
        {
            let mut c = worker();
            c.env("MCAP_NOTIFY__DELIVERY__CONCURRENCY", "1");
            c
        },
        "deliver-sent:1",
    );
    let others: Vec<_> = (0..3)
        .map(|_| {
            worker()
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    doomed.signal("KILL");
    let _ = doomed.finish();
    for mut other in others {
        assert!(other.wait().unwrap().success());
    }
    // What the dead worker claimed comes due again once its lease runs out: end it now, as
    // the passing of `lease_secs` would.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "UPDATE outbox SET lease_until = now() - interval '1 second' WHERE state = 'queued'",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(worker().status().unwrap().success());

    let ids = server.received_message_ids();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        *times.entry(id.clone()).or_default() += 1;
    }
    let queued: Vec<String> = sqlx::query_scalar("SELECT message_id FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(queued.len(), 40);
    let got: BTreeSet<String> = times.keys().cloned().collect();
    let wanted: BTreeSet<String> = queued.into_iter().collect();
    assert_eq!(got, wanted, "every message arrived");
    // Only the message the dead worker had sent but not recorded went out twice.
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.len() == 1 && twice.iter().all(|(_, n)| **n == 2),
        "{twice:?}"
    );
    let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingesters_and_runs_at_once_notify_every_pair_exactly_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = |dir: &Path| {
        let mut settings = settings_in(dir);
        settings.database.url = db.url.clone();
        App::open(settings)
    };
    let setup = app(dir.path()).await.unwrap();
    const CASES: usize = 4;
    const ACCOUNTS: usize = 6;
    let cases: Vec<Value> = (0..CASES)
        .map(|c| case(&format!("2616-CV{c:05}"), "CT16", "CV", "A v. B"))
        .collect();
    setup
        .ingest(FeedKind::Cases, &write_feed(dir.path(), "c.jsonl", &cases))
        .await
        .unwrap();
    let accounts: Vec<Value> = (0..ACCOUNTS)
        .map(|a| account(&format!("a{a}"), &format!("a{a}@example.org"), true))
        .collect();
    setup
        .ingest(
            FeedKind::Accounts,
            &write_feed(dir.path(), "a.jsonl", &accounts),
        )
        .await
        .unwrap();
    // Account a tracks case a % CASES.
    let tracks: Vec<Value> = (0..ACCOUNTS)
        .map(|a| {
            track(
                &format!("a{a}"),
                &format!("2616-CV{:05}", a % CASES),
                "2026-01-01T00:00:00Z",
            )
        })
        .collect();
    setup
        .ingest(
            FeedKind::Subscriptions,
            &write_feed(dir.path(), "s.jsonl", &tracks),
        )
        .await
        .unwrap();

    const INGESTERS: usize = 3;
    const FILES: usize = 8;
    const PER_FILE: usize = 5;
    let mut ingesters = Vec::new();
    for i in 0..INGESTERS {
        let app = app(dir.path()).await.unwrap();
        let dir = dir.path().to_path_buf();
        ingesters.push(tokio::spawn(async move {
            for f in 0..FILES {
                let lines: Vec<Value> = (0..PER_FILE)
                    .map(|n| {
                        let id = format!("i{i}-f{f}-n{n}");
                        entry(
                            &id,
                            &format!("2616-CV{:05}", (i + f + n) % CASES),
                            "MOT",
                            "2026-02-01T10:00:00Z",
                        )
                    })
                    .collect();
                let path = write_feed(&dir, &format!("e-{i}-{f}.jsonl"), &lines);
                app.ingest(FeedKind::Entries, &path).await.unwrap();
            }
        }));
    }
    let runner = {
        let app = app(dir.path()).await.unwrap();
        tokio::spawn(async move {
            let options = RunOptions {
                ignore_windows: true,
                ..RunOptions::default()
            };
            let mut runs = 0;
            loop {
                // Read before the run: the run after the ingesters finished still counts.
                let last = STOP.load(std::sync::atomic::Ordering::SeqCst);
                match app.run_now(&options).await {
                    Ok(_) => runs += 1,
                    Err(e) if e.downcast_ref::<mcap_notify::app::LeaseHeld>().is_some() => {}
                    Err(e) => panic!("run failed: {e:#}"),
                }
                if last {
                    break runs;
                }
            }
        })
    };
    for ingester in ingesters {
        ingester.await.unwrap();
    }
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = runner.await.unwrap();
    assert!(runs > 1, "runs ran while files arrived");
    // A last run takes whatever the others could not yet see.
    let options = RunOptions {
        ignore_windows: true,
        ..RunOptions::default()
    };
    setup.run_now(&options).await.unwrap();

    let pg = setup.store.postgres().unwrap();
    let ledger: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.account_id, e.entry_id FROM notification_ledger l
         JOIN docket_entries e ON e.seq = l.entry_seq",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    let mut expected = BTreeSet::new();
    for i in 0..INGESTERS {
        for f in 0..FILES {
            for n in 0..PER_FILE {
                let case = (i + f + n) % CASES;
                for a in (0..ACCOUNTS).filter(|a| a % CASES == case) {
                    expected.insert((format!("a{a}"), format!("i{i}-f{f}-n{n}")));
                }
            }
        }
    }
    let got: BTreeSet<_> = ledger.iter().cloned().collect();
    assert_eq!(ledger.len(), got.len(), "a pair was notified twice");
    assert_eq!(got, expected, "every pair notified, none skipped");
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
