//! The batch on PostgreSQL: every method answers as on SQLite for the same data and calls;
//! runs claim entries by the transaction that inserted them, so an entry committed late is
//! never skipped; and two processes opening runs at the same moment never claim an entry twice.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::postgres::TestDatabase;
use futures_util::TryStreamExt;
use mcap_notify::model::MatchRow;
use mcap_notify::store::prelude::*;
use mcap_notify::store::{
    HeldDigest, Mail, PgStore, QueuedMessage, RunScope, RunTotals, SqliteStore, StageTimings,
};

/// A run claims only entries older than every writing transaction open anywhere on the server
/// (creating a database, migrating one): the tests here take turns, and each waits for the
/// server to settle (see [`Fixtures::settle`]) before it claims.
static CLAIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
}

/// A fixture value, bound as each backend stores it.
enum V {
    T(&'static str),
    B(bool),
    At(DateTime<Utc>),
}
use V::*;

/// Plain SQL on either backend, written once with `$n` parameters.
trait Fixtures {
    async fn exec(&self, sql: &str, args: &[V]);
    /// One text per row (the query renders each row as text).
    async fn texts(&self, sql: &str) -> Vec<String>;
    /// Waits until every entry stored so far can be claimed: on PostgreSQL, until no
    /// transaction that began before the last entry was written is still open on the server.
    async fn settle(&self);
}

impl Fixtures for SqliteStore {
    async fn exec(&self, sql: &str, args: &[V]) {
        let sql = sql.replace('$', "?");
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = match arg {
                T(s) => query.bind(*s),
                B(b) => query.bind(*b),
                At(t) => query.bind(t.timestamp_micros()),
            };
        }
        query.execute(self.pool()).await.unwrap();
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        sqlx::query_scalar(sql)
            .fetch_all(self.pool())
            .await
            .unwrap()
    }

    async fn settle(&self) {}
}

impl Fixtures for PgStore {
    async fn exec(&self, sql: &str, args: &[V]) {
        let mut query = sqlx::query(sql);
        for arg in args {
            query = match arg {
                T(s) => query.bind(*s),
                B(b) => query.bind(*b),
                At(t) => query.bind(*t),
            };
        }
        query.execute(self.pool()).await.unwrap();
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        sqlx::query_scalar(sql)
            .fetch_all(self.pool())
            .await
            .unwrap()
    }

    async fn settle(&self) {
        common::postgres::wait_until_claimable(self.pool()).await;
    }
}

async fn pg_store(db: &TestDatabase) -> PgStore {
    let store = PgStore::connect(&db.url, 4, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn sqlite_store(dir: &tempfile::TempDir) -> SqliteStore {
    let url = format!("sqlite://{}", dir.path().join("mcap.db").display());
    let store = SqliteStore::connect(&url, 2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn add_entry(store: &impl Fixtures, entry_id: &'static str, case: &'static str, hour: u32) {
    store
        .exec(
            "INSERT INTO docket_entries (entry_id, case_number, code, description, text,
                                         filed_by, posted_at)
             VALUES ($1, $2, 'MOT', 'Motion', 'A motion.', 'Counsel', $3)",
            &[T(entry_id), T(case), At(at(hour))],
        )
        .await;
}

/// Courts in and out of MCAP, an excluded case type, sealed and open cases, verified,
/// unverified and suppressed accounts, and seven entries (one voided).
async fn load(store: &impl Fixtures) {
    for (court, name, mcap) in [("TC", "Test Court", true), ("XC", "Left Court", false)] {
        store
            .exec(
                "INSERT INTO courts (court_id, name, mcap) VALUES ($1, $2, $3)",
                &[T(court), T(name), B(mcap)],
            )
            .await;
    }
    store
        .exec(
            "INSERT INTO court_excluded_case_types (court_id, case_type) VALUES ('TC', 'probate')",
            &[],
        )
        .await;
    for (case, court, case_type, confidential) in [
        ("C1", "TC", "civil", false),
        ("C2", "TC", "civil", true),
        ("C3", "XC", "civil", false),
        ("C4", "TC", "probate", false),
    ] {
        store
            .exec(
                "INSERT INTO cases (case_number, court_id, case_type, caption, filed_at,
                                    confidential)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    T(case),
                    T(court),
                    T(case_type),
                    T(case),
                    At(at(0)),
                    B(confidential),
                ],
            )
            .await;
    }
    for (account, email, verified) in [
        ("a1", "a1@example.org", true),
        ("a2", "a2@example.org", false),
        ("a3", "A3@Example.org", true),
    ] {
        store
            .exec(
                "INSERT INTO accounts (account_id, email, email_verified) VALUES ($1, $2, $3)",
                &[T(account), T(email), B(verified)],
            )
            .await;
    }
    store
        .exec(
            "INSERT INTO suppressions (email, reason, evidence, created_at)
             VALUES ('a3@example.org', 'hard-bounce', 'a bounce', $1)",
            &[At(at(0))],
        )
        .await;
    for (account, case) in [
        ("a1", "C1"),
        ("a1", "C2"),
        ("a1", "C3"),
        ("a1", "C4"),
        ("a2", "C1"),
        ("a3", "C1"),
    ] {
        store
            .exec(
                "INSERT INTO subscriptions (account_id, case_number, tracked_at)
                 VALUES ($1, $2, $3)",
                &[T(account), T(case), At(at(0))],
            )
            .await;
    }
    for (entry, case, hour) in [
        ("e1", "C1", 1),
        ("e2", "C2", 2),
        ("e3", "C3", 3),
        ("e4", "C4", 4),
        ("e5", "C1", 5),
        ("e6", "C1", 7),
        ("e7", "C1", 8),
    ] {
        add_entry(store, entry, case, hour).await;
    }
    store
        .exec(
            "UPDATE docket_entries SET voided_at = $1 WHERE entry_id = 'e5'",
            &[At(at(6))],
        )
        .await;
}

fn message(account: &str, recipient: &str, key: &str, seqs: &[i64], subs: &[i64]) -> QueuedMessage {
    QueuedMessage {
        mail: Mail {
            account_id: account.to_string(),
            recipient: recipient.to_string(),
            envelope_from: "bounces@example.org".to_string(),
            message_id: format!("<{key}@example.org>"),
            subject: format!("Digest {key}"),
            raw: format!("message {key}").into_bytes(),
        },
        entry_seqs: seqs.to_vec(),
        scope_key: key.to_string(),
        subscription_ids: subs.to_vec(),
        date_notices: Vec::new(),
        watch_notices: Vec::new(),
        watch_pauses: Vec::new(),
    }
}

async fn matches(store: &impl BatchStore, scope: RunScope) -> Vec<MatchRow> {
    store.match_rows(scope).try_collect().await.unwrap()
}

/// Every batch method, in the order a run calls them and then some, with what each answered
/// and the rows left behind, labelled step by step.
async fn scenario<S: BatchStore + Fixtures>(store: &S) -> Vec<(&'static str, String)> {
    let mut seen: Vec<(&'static str, String)> = Vec::new();
    let mut note = |step: &'static str, value: String| seen.push((step, value));
    load(store).await;
    store.settle().await;
    let now = at(10);
    let preview = store.preview_run(4).await.unwrap();
    note("preview", format!("{preview:?}"));
    let up_to_seq = preview.last_seq.unwrap();
    note(
        "preview drops",
        format!(
            "{:?}",
            store
                .drop_counts(RunScope::Preview { up_to_seq })
                .await
                .unwrap()
        ),
    );
    note(
        "preview matches",
        format!(
            "{:?}",
            matches(store, RunScope::Preview { up_to_seq }).await
        ),
    );
    let run = store.open_run(None, 4, now).await.unwrap();
    note("opened", format!("{run:?}"));
    note(
        "reopened",
        format!("{:?}", store.open_run(None, 4, now).await.unwrap()),
    );
    note(
        "preview while running",
        format!("{:?}", store.preview_run(4).await.unwrap()),
    );
    let claimed = RunScope::Claimed { run_id: run.run_id };
    note(
        "drops",
        format!("{:?}", store.drop_counts(claimed).await.unwrap()),
    );
    note("matches", format!("{:?}", matches(store, claimed).await));
    for account in ["a1", "a3", "nobody"] {
        note(
            "standing",
            format!("{:?}", store.account_standing(account).await.unwrap()),
        );
    }
    store
        .queue_digests(
            run.run_id,
            None,
            &[
                message("a1", "a1@example.org", "k1", &[1], &[1]),
                message("a3", "A3@Example.org", "k3", &[1], &[6]),
            ],
            &[HeldDigest {
                account_id: "a2".to_string(),
                entry_seqs: vec![1],
                reason: "the mailer refused the address".to_string(),
            }],
            now,
        )
        .await
        .unwrap();
    store
        .queue_digests(run.run_id, None, &[], &[], now)
        .await
        .unwrap();
    note(
        "resumed",
        format!("{:?}", store.open_run(None, 4, now).await.unwrap()),
    );
    note(
        "matches left",
        format!("{:?}", matches(store, claimed).await),
    );
    note(
        "cancelled",
        format!("{:?}", store.cancel_suppressed(now).await.unwrap()),
    );
    let totals = RunTotals {
        pairs_matched: 2,
        digests_queued: 2,
        ..RunTotals::default()
    };
    let timings = StageTimings {
        snapshot_ms: 1,
        filter_ms: 2,
        match_render_ms: 3,
        commit_ms: 4,
    };
    store
        .finish_run(run.run_id, None, &totals, &timings, at(11))
        .await
        .unwrap();
    let second = store.open_run(None, 10, at(12)).await.unwrap();
    note("second run", format!("{second:?}"));
    let claimed = RunScope::Claimed {
        run_id: second.run_id,
    };
    note(
        "second drops",
        format!("{:?}", store.drop_counts(claimed).await.unwrap()),
    );
    note(
        "second matches",
        format!("{:?}", matches(store, claimed).await),
    );
    store
        .queue_digests(
            second.run_id,
            None,
            &[message("a1", "a1@example.org", "k4", &[6, 7], &[1])],
            &[],
            at(12),
        )
        .await
        .unwrap();
    // The case is sealed after its digests were queued: both are withheld, and what else
    // they owed is held for the next run.
    store
        .exec(
            "UPDATE cases SET confidential = $1 WHERE case_number = 'C1'",
            &[B(true)],
        )
        .await;
    note(
        "withheld",
        format!("{:?}", store.withhold_unnotifiable(at(13)).await.unwrap()),
    );
    note(
        "withheld again",
        format!("{:?}", store.withhold_unnotifiable(at(13)).await.unwrap()),
    );
    store
        .finish_run(second.run_id, None, &totals, &timings, at(14))
        .await
        .unwrap();
    for (hour, reason) in [(20, "night"), (21, "night"), (22, "weekend")] {
        note(
            "skipped",
            format!(
                "{:?}",
                store.record_skipped_run(at(hour), reason).await.unwrap()
            ),
        );
    }
    note(
        "third run",
        format!("{:?}", store.open_run(None, 10, at(23)).await.unwrap()),
    );
    for (step, sql) in [
        (
            "runs",
            "SELECT run_id || ' ' || status || ' ' || COALESCE(first_seq, -1) || ' '
                    || COALESCE(last_seq, -1) || ' ' || entries_claimed || ' ' || ticks
                    || ' ' || COALESCE(skip_reason, '-') || ' ' || COALESCE(commit_ms, -1)
             FROM runs ORDER BY run_id",
        ),
        ("watermark", "SELECT '' || last_seq FROM watermark"),
        (
            "claims",
            "SELECT entry_id || ' ' || COALESCE(run_id, -1) FROM docket_entries ORDER BY seq",
        ),
        (
            "outbox",
            "SELECT outbox_id || ' ' || account_id || ' ' || state || ' ' || run_id || ' '
                    || COALESCE(last_error, '-')
             FROM outbox ORDER BY outbox_id",
        ),
        (
            "ledger",
            "SELECT account_id || ' ' || entry_seq || ' ' || outbox_id || ' '
                    || COALESCE(withheld_reason, '-')
             FROM notification_ledger ORDER BY account_id, entry_seq",
        ),
        (
            "held",
            "SELECT account_id || ' ' || entry_seq || ' ' || run_id || ' ' || reason
             FROM held_pairs ORDER BY account_id, entry_seq",
        ),
        (
            "scopes",
            "SELECT scope_key || ' ' || subscription_id FROM unsubscribe_scopes
             ORDER BY scope_key, subscription_id",
        ),
        ("successes", "SELECT job FROM job_successes ORDER BY job"),
    ] {
        note(step, format!("{:?}", store.texts(sql).await));
    }
    seen
}

#[tokio::test]
async fn every_batch_method_answers_as_on_sqlite() {
    let _turn = CLAIMING.lock().await;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expected = scenario(&sqlite_store(&dir).await).await;
    let got = scenario(&pg_store(&db).await).await;
    for (expected, got) in expected.iter().zip(&got) {
        assert_eq!(got, expected);
    }
    assert_eq!(got.len(), expected.len());
    let withheld = got.iter().find(|(step, _)| *step == "withheld").unwrap();
    assert_eq!(
        withheld.1, "Withheld { messages: 2, pairs: 3, requeued: 0 }",
        "both of a1's digests report the sealed case"
    );
}

/// The seq of an entry, by its id.
async fn seq_of(store: &PgStore, entry_id: &str) -> i64 {
    sqlx::query_scalar("SELECT seq FROM docket_entries WHERE entry_id = $1")
        .bind(entry_id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_run_claims_only_what_no_open_transaction_can_still_precede() {
    let _turn = CLAIMING.lock().await;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = pg_store(&db).await;
    load(&store).await;
    store.settle().await;
    let drained = store.open_run(None, 100, at(10)).await.unwrap();
    assert_eq!(drained.entries_claimed, 7);
    let done = RunTotals::default();
    let timings = StageTimings::default();
    store
        .finish_run(drained.run_id, None, &done, &timings, at(10))
        .await
        .unwrap();

    // Two feeds write at once: `early` took its transaction id first but inserts its entry
    // last, so its entry has the higher seq; `late` commits first.
    let mut early = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *early)
        .await
        .unwrap();
    let mut late = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *late)
        .await
        .unwrap();
    for (tx, entry_id) in [(&mut late, "from-late"), (&mut early, "from-early")] {
        sqlx::query(
            "INSERT INTO docket_entries (entry_id, case_number, code, description, text,
                                         filed_by, posted_at)
             VALUES ($1, 'C1', 'MOT', 'Motion', 'A motion.', 'Counsel', $2)",
        )
        .bind(entry_id)
        .bind(at(9))
        .execute(&mut **tx)
        .await
        .unwrap();
    }
    late.commit().await.unwrap();
    assert!(seq_of(&store, "from-late").await > 0);

    // While `early` is open, the committed entry may still be preceded: nothing is claimed.
    let preview = store.preview_run(100).await.unwrap();
    assert_eq!(preview.entries, 0);
    let held_back = store.open_run(None, 100, at(11)).await.unwrap();
    assert_eq!(held_back.entries_claimed, 0);
    store
        .finish_run(held_back.run_id, None, &done, &timings, at(11))
        .await
        .unwrap();

    early.commit().await.unwrap();
    store.settle().await;
    let (early_seq, late_seq) = (
        seq_of(&store, "from-early").await,
        seq_of(&store, "from-late").await,
    );
    assert!(early_seq > late_seq);
    // Claims go in transaction order: the earlier transaction's entry first, though its seq
    // is higher.
    let first = store.open_run(None, 1, at(12)).await.unwrap();
    assert_eq!(
        (first.first_seq, first.entries_claimed),
        (Some(early_seq), 1)
    );
    let recorded: bool = sqlx::query_scalar(
        "SELECT r.last_xid = e.inserted_xid FROM runs r, docket_entries e
         WHERE r.run_id = $1 AND e.entry_id = 'from-early'",
    )
    .bind(first.run_id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        recorded,
        "the run records the transaction of its last entry"
    );
    store
        .finish_run(first.run_id, None, &done, &timings, at(12))
        .await
        .unwrap();
    let next = store.open_run(None, 1, at(13)).await.unwrap();
    assert_eq!((next.first_seq, next.entries_claimed), (Some(late_seq), 1));
    store
        .finish_run(next.run_id, None, &done, &timings, at(13))
        .await
        .unwrap();
    let watermark_moved: bool = sqlx::query_scalar(
        "SELECT w.last_xid = e.inserted_xid FROM watermark w, docket_entries e
         WHERE e.entry_id = 'from-late'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(watermark_moved);
}

#[tokio::test]
async fn a_run_waits_for_an_older_writer_that_ends_soon_and_claims_its_entries() {
    let _turn = CLAIMING.lock().await;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = pg_store(&db).await;
    load(&store).await;
    store.settle().await;
    // A writer older than the entry committed next holds the entry back while it is open.
    let mut older = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *older)
        .await
        .unwrap();
    add_entry(&store, "after-older", "C1", 9).await;
    let run = tokio::spawn({
        let store = store.clone();
        async move { store.open_run(None, 100, at(10)).await.unwrap() }
    });
    // The run is seen waiting (its settle query running on the server); then the older
    // writer ends, within the run's wait.
    let waiting = async {
        loop {
            let seen: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND query LIKE '%inserted_xid >= pg_snapshot_xmin%')",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            if seen {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("the run waits for the older writer");
    older.commit().await.unwrap();
    let opened = run.await.unwrap();
    assert_eq!(
        opened.entries_claimed, 8,
        "the seven loaded entries and the one the older writer held back"
    );
}

#[tokio::test]
async fn two_processes_opening_runs_at_once_share_one_run() {
    let _turn = CLAIMING.lock().await;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (pg_store(&db).await, pg_store(&db).await);
    load(&a).await;
    a.settle().await;
    let (ra, rb) = tokio::join!(a.open_run(None, 100, at(10)), b.open_run(None, 100, at(10)));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.run_id, rb.run_id);
    assert!(
        ra.resumed != rb.resumed,
        "one opens the run, the other resumes it"
    );
    assert_eq!((ra.entries_claimed, rb.entries_claimed), (7, 7));
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(runs, 1);
}

/// A leader's writes after its lease passed to another holder: refused, and nothing written.
async fn fenced_writes<S: BatchStore + LeaseStore + Fixtures>(store: &S) -> Vec<String> {
    let lease = |holder: &str| mcap_notify::store::LeaseInfo {
        holder: holder.to_string(),
        host: "host".to_string(),
        pid: 1,
        since: at(9),
        expires_at: at(23),
    };
    let outbox = || store.texts("SELECT CAST(COUNT(*) AS TEXT) FROM outbox");
    load(store).await;
    store.settle().await;
    let mut seen = Vec::new();
    store
        .acquire_batch_lease(&lease("a"), at(10))
        .await
        .unwrap()
        .unwrap();
    let run = store.open_run(None, 10, at(10)).await.unwrap();
    let digest = || [message("a1", "a1@example.org", "k1", &[1], &[1])];
    // "a" is taken for dead (its session ended): "b" leads now.
    store.release_batch_lease("a").await.unwrap();
    store
        .acquire_batch_lease(&lease("b"), at(11))
        .await
        .unwrap()
        .unwrap();
    let totals = RunTotals::default();
    let timings = StageTimings::default();
    let reopened = store.open_run(Some("a"), 10, at(11)).await;
    seen.push(format!("opened by a: {:?}", reopened.map(|r| r.run_id)));
    for leader in ["a", "b"] {
        let queued = store
            .queue_digests(run.run_id, Some(leader), &digest(), &[], at(11))
            .await;
        seen.push(format!(
            "queued by {leader}: {queued:?}, outbox {:?}",
            outbox().await
        ));
        let finished = store
            .finish_run(run.run_id, Some(leader), &totals, &timings, at(12))
            .await;
        let status = store
            .texts("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1")
            .await;
        seen.push(format!(
            "finished by {leader}: {finished:?}, run {status:?}"
        ));
    }
    store.release_batch_lease("b").await.unwrap();
    seen
}

#[tokio::test]
async fn a_leader_that_lost_the_lease_writes_nothing() {
    let _turn = CLAIMING.lock().await;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expected = fenced_writes(&sqlite_store(&dir).await).await;
    assert_eq!(
        expected,
        [
            r#"opened by a: Err(Fenced("b"))"#,
            r#"queued by a: Err(Fenced("b")), outbox ["0"]"#,
            r#"finished by a: Err(Fenced("b")), run ["running"]"#,
            r#"queued by b: Ok(()), outbox ["1"]"#,
            r#"finished by b: Ok(()), run ["done"]"#,
        ]
    );
    assert_eq!(fenced_writes(&pg_store(&db).await).await, expected);
}

/// How many messages [`a_chunk_wider_than_one_statement`] queues in one call: more than one
/// statement of ten values a row may carry on SQLite (32,766 parameters).
const WIDE_CHUNK: usize = 5_000;

/// Queues [`WIDE_CHUNK`] digests of 14 kB each (70 MB in all, more than PostgreSQL is sent in one
/// statement) and as many held digests in one call; returns what each table then holds.
async fn a_chunk_wider_than_one_statement<S: BatchStore + Fixtures>(store: &S) -> Vec<String> {
    load(store).await;
    store.settle().await;
    store
        .exec(
            &format!(
                "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {WIDE_CHUNK})
                 INSERT INTO accounts (account_id, email, email_verified)
                 SELECT 'bulk' || i, 'bulk' || i || '@example.org', true FROM n"
            ),
            &[],
        )
        .await;
    let run = store.open_run(None, 10, at(10)).await.unwrap();
    let messages: Vec<QueuedMessage> = (1..=WIDE_CHUNK)
        .map(|i| {
            let account = format!("bulk{i}");
            let mut m = message(
                &account,
                &format!("{account}@example.org"),
                &account,
                &[1],
                &[1],
            );
            m.mail.raw = vec![b'x'; 14_000];
            m
        })
        .collect();
    let held: Vec<HeldDigest> = (1..=WIDE_CHUNK)
        .map(|i| HeldDigest {
            account_id: format!("bulk{i}"),
            entry_seqs: vec![2],
            reason: "not built".to_string(),
        })
        .collect();
    store
        .queue_digests(run.run_id, None, &messages, &held, at(10))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for (table, what) in [
        ("outbox", "COUNT(DISTINCT outbox_id)"),
        ("outbox_bodies", "SUM(LENGTH(raw))"),
        ("notification_ledger", "COUNT(*)"),
        ("unsubscribe_scopes", "COUNT(*)"),
        ("held_pairs", "COUNT(*)"),
    ] {
        let got = store
            .texts(&format!("SELECT CAST({what} AS TEXT) FROM {table}"))
            .await;
        seen.push(format!("{table}: {}", got.join(",")));
    }
    seen
}

#[tokio::test]
async fn a_chunk_wider_than_one_statement_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let expected = [
        format!("outbox: {WIDE_CHUNK}"),
        format!("outbox_bodies: {}", WIDE_CHUNK * 14_000),
        format!("notification_ledger: {WIDE_CHUNK}"),
        format!("unsubscribe_scopes: {WIDE_CHUNK}"),
        format!("held_pairs: {WIDE_CHUNK}"),
    ];
    assert_eq!(
        a_chunk_wider_than_one_statement(&sqlite_store(&dir).await).await,
        expected
    );
    let _turn = CLAIMING.lock().await;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    assert_eq!(
        a_chunk_wider_than_one_statement(&pg_store(&db).await).await,
        expected
    );
}

#[tokio::test]
async fn a_match_read_stopped_early_leaves_no_connection_holding_its_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    load(&store).await;
    let run = store.open_run(None, 10, at(10)).await.unwrap();
    let mut rows = store.match_rows(RunScope::Claimed { run_id: run.run_id });
    assert!(rows.try_next().await.unwrap().is_some());
    drop(rows);
    // Every connection the pool hands out now, old or new, holds no matched pairs.
    let mut held = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..2 {
        let mut conn = store.pool().acquire().await.unwrap();
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_temp_master WHERE name = 'match_pairs')",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if exists {
            let pairs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM temp.match_pairs")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            held.push(pairs);
        }
        conns.push(conn);
    }
    assert!(held.iter().all(|&n| n == 0), "pairs left behind: {held:?}");
}

#[tokio::test]
async fn withholding_follows_the_queue_and_never_reads_the_whole_ledger() {
    // Withholding runs before every run and every delivery pass, and the check before each
    // send asks about one message: on a ledger of years, reading all of it each time would make
    // every send slower than the last. No step of the plan scans a table.
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    for only in [None, Some("[7, 8]")] {
        let rows = sqlx::query(&format!(
            "EXPLAIN QUERY PLAN {}",
            include_str!("../sql/sqlite/queries/unnotifiable_pairs.sql")
        ))
        .bind(0_i64)
        .bind(only)
        .fetch_all(store.pool())
        .await
        .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("notification_ledger_by_outbox")),
            "{plan:#?}"
        );
        // Only the list of messages (`m`, from the ids given or the queue's index) is read
        // whole.
        let scans = plan.iter().filter(|d| {
            d.starts_with("SCAN") && !d.starts_with("SCAN json_each") && d.as_str() != "SCAN m"
        });
        assert_eq!(scans.count(), 0, "{plan:#?}");
    }
}

/// Accounts come back from the match in byte order whatever the database's collation, as the
/// program compares them: in a database that sorts `B1` after `a1` (ICU's en-US), the preview
/// of `B1` still finds its digest.
#[tokio::test]
async fn a_database_collation_other_than_byte_order_hides_no_account_from_the_preview() {
    let Some(icu) = TestDatabase::create_with(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )
    .await
    else {
        return;
    };
    let url = icu.url.clone();
    let t = common::TestApp::with(move |s| s.database.url = url).await;
    const CASE: &str = "2616-CV00077";
    t.ingest(
        mcap_notify::ingest::FeedKind::Cases,
        &[common::case(CASE, "CT16", "CV", "Smith v. Jones")],
    )
    .await;
    t.ingest(
        mcap_notify::ingest::FeedKind::Accounts,
        &[
            common::account("a1", "a1@example.org", true),
            common::account("B1", "b1@example.org", true),
        ],
    )
    .await;
    t.ingest(
        mcap_notify::ingest::FeedKind::Subscriptions,
        &[
            common::track("a1", CASE, "2026-01-01T00:00:00Z"),
            common::track("B1", CASE, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        mcap_notify::ingest::FeedKind::Entries,
        &[common::entry("e1", CASE, "MOT", "2026-02-02T10:00:00Z")],
    )
    .await;
    let factory = t.app.message_factory().unwrap();
    for account in ["a1", "B1"] {
        let preview =
            mcap_notify::preview::preview(&t.app.store, &factory, None, account, Utc::now())
                .await
                .unwrap();
        assert!(
            matches!(preview, mcap_notify::preview::Preview::Messages(_)),
            "{account}: {preview:?}"
        );
    }
    drop(t);
    drop(icu);
}
