//! Delivery, the outbox, bounces, suppressions and retention on PostgreSQL: the same scenario
//! gives the same values as on SQLite, and workers with pools of their own (as in separate
//! processes or hosts) share one queue: every message claimed and sent once, a lapsed claim
//! taken over and its first worker fenced off.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::postgres::TestDatabase;
use mcap_notify::model::{BounceVerdict, SendOutcome, SuppressionReason};
use mcap_notify::store::prelude::*;
use mcap_notify::store::{
    AttemptResult, BounceRecord, NewBounceMail, PgStore, Renewal, SqliteStore,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// A message to put in the outbox: its recipient and when it is due.
struct Message {
    recipient: String,
    due: DateTime<Utc>,
}

fn messages(n: usize) -> Vec<Message> {
    (1..=n)
        .map(|i| Message {
            recipient: format!("R{i}@Example.org"),
            due: t0(),
        })
        .collect()
}

async fn pg_store(db: &TestDatabase) -> PgStore {
    PgStore::connect(&db.url, 4, Duration::from_secs(30))
        .await
        .unwrap()
}

/// Queues `messages` (outbox ids 1, 2, ... in order) under one run and one account.
async fn seed_pg(store: &PgStore, messages: &[Message]) {
    let pool = store.pool();
    sqlx::query("INSERT INTO runs (status, started_at) VALUES ('done', $1)")
        .bind(t0())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO accounts VALUES ('acct', 'owner@example.org', true)")
        .execute(pool)
        .await
        .unwrap();
    for (i, m) in messages.iter().enumerate() {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id,
                                 subject, state, created_at, lifetime_from, next_attempt_at)
             VALUES (1, 'acct', $1, 'bounces@example.org', $2, $3, 'queued', $4, $4, $5)
             RETURNING outbox_id",
        )
        .bind(&m.recipient)
        .bind(format!("<m{i}@example.org>"))
        .bind(format!("Digest {i}"))
        .bind(t0())
        .bind(m.due)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO outbox_bodies VALUES ($1, $2)")
            .bind(id)
            .bind(format!("body of {id}").into_bytes())
            .execute(pool)
            .await
            .unwrap();
    }
}

/// The same rows as [`seed_pg`], in SQLite's types.
async fn seed_sqlite(store: &SqliteStore, messages: &[Message]) {
    let pool = store.pool();
    sqlx::query("INSERT INTO runs (status, started_at) VALUES ('done', ?)")
        .bind(t0().timestamp_micros())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO accounts VALUES ('acct', 'owner@example.org', 1)")
        .execute(pool)
        .await
        .unwrap();
    for (i, m) in messages.iter().enumerate() {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id,
                                 subject, state, created_at, lifetime_from, next_attempt_at)
             VALUES (1, 'acct', ?1, 'bounces@example.org', ?2, ?3, 'queued', ?4, ?4, ?5)
             RETURNING outbox_id",
        )
        .bind(&m.recipient)
        .bind(format!("<m{i}@example.org>"))
        .bind(format!("Digest {i}"))
        .bind(t0().timestamp_micros())
        .bind(m.due.timestamp_micros())
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO outbox_bodies VALUES (?, ?)")
            .bind(id)
            .bind(format!("body of {id}").into_bytes())
            .execute(pool)
            .await
            .unwrap();
    }
}

fn attempt(outbox_id: i64, at: DateTime<Utc>, outcome: SendOutcome) -> AttemptResult {
    AttemptResult {
        outbox_id,
        attempt: 1,
        at,
        outcome,
        reply_code: (outcome != SendOutcome::Sent).then_some(550),
        status: (outcome != SendOutcome::Sent).then(|| "5.1.1".to_string()),
        detail: format!("{outcome:?}"),
        retry_at: None,
    }
}

fn bounce(outbox_id: i64, verdict: BounceVerdict, at: DateTime<Utc>) -> BounceRecord {
    BounceRecord {
        at,
        email: format!("R{outbox_id}@Example.org"),
        verdict,
        status: Some("4.2.2".into()),
        detail: "mailbox full".into(),
        outbox_id: Some(outbox_id),
        bounce_mail_id: None,
        proven: true,
    }
}

/// What the scenario saw, line by line, for comparing two backends.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    fn note(&mut self, what: &str, value: impl std::fmt::Debug) {
        self.0.push(format!("{what}: {value:?}"));
    }
}

/// The scenario both backends play: six messages, the sixth due later.
fn scenario_messages() -> Vec<Message> {
    let mut m = messages(6);
    m[5].due = t0() + minutes(60);
    m
}

async fn scenario<S>(store: &S) -> Transcript
where
    S: DeliveryStore + OutboxStore + BounceStore + SuppressionStore + RetentionStore,
{
    let mut t = Transcript::default();
    let now = t0();
    let lease = now + minutes(5);
    let first = store.claim_due("w1", now, lease, 3).await.unwrap();
    t.note("w1 claims", &first);
    let second = store.claim_due("w2", now, lease, 10).await.unwrap();
    t.note(
        "w2 claims",
        second.iter().map(|m| m.outbox_id).collect::<Vec<_>>(),
    );
    t.note(
        "nothing left",
        store.claim_due("w3", now, lease, 10).await.unwrap(),
    );
    t.note(
        "w1 renews its own",
        store
            .renew_lease("w1", 1, now, lease + minutes(1))
            .await
            .unwrap(),
    );
    t.note(
        "w2 renews w1's",
        store.renew_lease("w2", 1, now, lease).await.unwrap(),
    );
    let mut transient = attempt(2, now + minutes(1), SendOutcome::Transient);
    transient.retry_at = Some(now + minutes(10));
    store
        .record_attempts(
            "w1",
            &[
                attempt(1, now + minutes(1), SendOutcome::Sent),
                transient,
                attempt(3, now + minutes(1), SendOutcome::Permanent),
            ],
        )
        .await
        .unwrap();
    store
        .record_attempts("w2", &[attempt(4, now + minutes(2), SendOutcome::Policy)])
        .await
        .unwrap();
    t.note("w2 releases", store.release_leases("w2").await.unwrap());
    t.note("all", store.outbox_list(None, 10).await.unwrap());
    t.note("dead", store.outbox_list(Some("dead"), 10).await.unwrap());
    t.note("entry 2", store.outbox_entry(2).await.unwrap());
    t.note("entry 99", store.outbox_entry(99).await.unwrap());
    t.note("raw 1", store.outbox_raw(1).await.unwrap());
    t.note("raw 99", store.outbox_raw(99).await.unwrap());
    t.note("by id", store.outbox_by_id(4).await.unwrap());
    t.note(
        "by message id",
        store
            .outbox_by_message_id("<m3@example.org>")
            .await
            .unwrap(),
    );
    // Message 2 retries at +10 minutes; 5 was released.
    t.note(
        "due at +10",
        store
            .claim_due("w3", now + minutes(10), now + minutes(15), 10)
            .await
            .unwrap()
            .iter()
            .map(|m| (m.outbox_id, m.attempts))
            .collect::<Vec<_>>(),
    );
    t.note("w3 releases", store.release_leases("w3").await.unwrap());

    // Bounces: a send-time refusal counts once per message and verdict.
    let soft = bounce(2, BounceVerdict::Soft, now + minutes(1));
    t.note("refusal", store.record_bounce(&soft).await.unwrap());
    t.note("same refusal", store.record_bounce(&soft).await.unwrap());
    let mail = NewBounceMail {
        key: "<dsn-1@mx.example.org>",
        source: "imap",
        raw: b"a bounce mail",
        matched: true,
        at: now + minutes(3),
    };
    let reported = [
        bounce(2, BounceVerdict::Soft, now + minutes(3)),
        bounce(2, BounceVerdict::Soft, now + minutes(3)),
    ];
    t.note(
        "bounce mail",
        store.store_bounce_mail(&mail, &reported).await.unwrap(),
    );
    t.note(
        "same bounce mail",
        store.store_bounce_mail(&mail, &reported).await.unwrap(),
    );
    let unmatched = NewBounceMail {
        key: "<dsn-2@mx.example.org>",
        matched: false,
        ..mail
    };
    t.note(
        "unmatched mail",
        store.store_bounce_mail(&unmatched, &[]).await.unwrap(),
    );
    // PostgreSQL spends an identity value on an insert that finds a conflict, so ids of rows
    // added after one may differ from SQLite's: compare what the rows say.
    t.note("unmatched", unmatched_mails(store).await);
    t.note(
        "soft bounces",
        store
            .soft_bounces_since("r2@example.org", now)
            .await
            .unwrap(),
    );
    t.note(
        "soft bounces later",
        store
            .soft_bounces_since("R2@EXAMPLE.ORG", now + minutes(2))
            .await
            .unwrap(),
    );

    // Suppressing cancels what is queued for the address and not held by a worker.
    t.note(
        "suppress",
        store
            .suppress("r5@EXAMPLE.org", SuppressionReason::HardBounce, "dsn", now)
            .await
            .unwrap(),
    );
    t.note(
        "suppress again",
        store
            .suppress("R5@example.org", SuppressionReason::Complaint, "fbl", now)
            .await
            .unwrap(),
    );
    store
        .suppress(
            "r6@example.org",
            SuppressionReason::SoftBounces,
            "3 soft",
            now,
        )
        .await
        .unwrap();
    t.note("suppressions", store.suppressions().await.unwrap());
    t.note(
        "unsuppress 6",
        store.unsuppress("R6@example.org").await.unwrap(),
    );
    t.note(
        "unsuppress 6 again",
        store.unsuppress("r6@example.org").await.unwrap(),
    );
    t.note("entry 5", store.outbox_entry(5).await.unwrap());

    // Dead letters back in the queue, then retention.
    t.note(
        "requeue 3",
        store
            .requeue_dead(Some(3), now + minutes(20))
            .await
            .unwrap(),
    );
    t.note(
        "requeue 3 again",
        store.requeue_dead(Some(3), now).await.unwrap(),
    );
    let cutoff = now + minutes(30);
    let dry = store.prune(cutoff, cutoff, true).await.unwrap();
    t.note("prune dry run", &dry);
    t.note(
        "prune dry run again",
        store.prune(cutoff, cutoff, true).await.unwrap(),
    );
    t.note("prune", store.prune(cutoff, cutoff, false).await.unwrap());
    t.note(
        "prune again",
        store.prune(cutoff, cutoff, false).await.unwrap(),
    );
    t.note("raw 1 pruned", store.outbox_raw(1).await.unwrap());
    t.note("entry 4 pruned", store.outbox_entry(4).await.unwrap());
    t.note(
        "requeue 4 without its body",
        store.requeue_dead(Some(4), now).await.unwrap(),
    );
    t.note("requeue all", store.requeue_dead(None, now).await.unwrap());
    t.note("unmatched pruned", unmatched_mails(store).await);
    t.note("all at the end", store.outbox_list(None, 10).await.unwrap());
    t
}

/// The unmatched bounce mails without their ids: (received at, source, size).
async fn unmatched_mails(store: &impl BounceStore) -> Vec<(DateTime<Utc>, String, u64)> {
    let unmatched = store.unmatched_bounces(10).await.unwrap();
    unmatched
        .into_iter()
        .map(|u| (u.received_at, u.source, u.size))
        .collect()
}

#[tokio::test]
async fn the_roles_give_the_same_values_as_on_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = pg_store(&db).await;
    pg.migrate().await.unwrap();
    seed_pg(&pg, &scenario_messages()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let lite = SqliteStore::connect(&url, 4, Duration::from_secs(10))
        .await
        .unwrap();
    lite.migrate().await.unwrap();
    seed_sqlite(&lite, &scenario_messages()).await;

    let on_pg = scenario(&pg).await;
    let on_sqlite = scenario(&lite).await;
    for (p, s) in on_pg.0.iter().zip(&on_sqlite.0) {
        assert_eq!(p, s);
    }
    assert_eq!(on_pg.0.len(), on_sqlite.0.len());

    let counters_pg: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, label, value FROM counter_totals ORDER BY 1, 2")
            .fetch_all(pg.pool())
            .await
            .unwrap();
    let counters_sqlite: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, label, value FROM counter_totals ORDER BY 1, 2")
            .fetch_all(lite.pool())
            .await
            .unwrap();
    assert_eq!(counters_pg, counters_sqlite);
    assert!(counters_pg.contains(&("messages_sent".into(), "".into(), 1)));
}

/// Worker `i`'s store: a pool of its own, as another process would have.
async fn workers(db: &TestDatabase, n: usize) -> Vec<PgStore> {
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(pg_store(db).await);
    }
    stores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_claiming_at_once_claim_every_message_exactly_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let first = pg_store(&db).await;
    first.migrate().await.unwrap();
    seed_pg(&first, &messages(200)).await;
    let stores = workers(&db, 4).await;
    let claims = stores.into_iter().enumerate().map(|(i, store)| {
        tokio::spawn(async move {
            let owner = format!("worker-{i}");
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_due(&owner, t0(), t0() + minutes(5), 7)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                assert!(claimed
                    .iter()
                    .all(|m| m.mail.raw == format!("body of {}", m.outbox_id).into_bytes()));
                mine.extend(claimed.into_iter().map(|m| m.outbox_id));
            }
        })
    });
    let mut all: Vec<i64> = Vec::new();
    for claim in claims {
        all.extend(claim.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<i64>>());
    let unleased: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE lease_owner IS NULL")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(unleased, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_draining_one_queue_send_each_message_once_and_leave_none() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let first = pg_store(&db).await;
    first.migrate().await.unwrap();
    seed_pg(&first, &messages(200)).await;
    let sends: Arc<Mutex<HashMap<i64, u32>>> = Arc::default();
    let stores = workers(&db, 5).await;
    let loops = stores.into_iter().enumerate().map(|(i, store)| {
        let sends = sends.clone();
        tokio::spawn(async move {
            let owner = format!("worker-{i}");
            let now = t0();
            loop {
                let claimed = store
                    .claim_due(&owner, now, now + minutes(5), 9)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return;
                }
                let mut results = Vec::new();
                for m in &claimed {
                    // The fence before each send.
                    assert_eq!(
                        store
                            .renew_lease(&owner, m.outbox_id, now, now + minutes(5))
                            .await
                            .unwrap(),
                        Renewal::Renewed
                    );
                    *sends.lock().unwrap().entry(m.outbox_id).or_default() += 1;
                    results.push(attempt(m.outbox_id, now, SendOutcome::Sent));
                }
                store.record_attempts(&owner, &results).await.unwrap();
            }
        })
    });
    for worker in loops {
        worker.await.unwrap();
    }
    let sends = sends.lock().unwrap().clone();
    assert_eq!(sends.len(), 200);
    assert!(sends.values().all(|&n| n == 1), "{sends:?}");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let attempts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM delivery_attempts WHERE attempt = 1")
            .fetch_one(first.pool())
            .await
            .unwrap();
    assert_eq!(attempts, 200);
    let sent: i64 = sqlx::query_scalar(
        "SELECT value FROM counter_totals WHERE name = 'messages_sent' AND label = ''",
    )
    .fetch_one(first.pool())
    .await
    .unwrap();
    assert_eq!(sent, 200);
    let leased: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE lease_owner IS NOT NULL")
            .fetch_one(first.pool())
            .await
            .unwrap();
    assert_eq!(leased, 0);
}

#[tokio::test]
async fn a_lapsed_claim_is_taken_over_and_its_first_worker_fenced_off() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (pg_store(&db).await, pg_store(&db).await);
    a.migrate().await.unwrap();
    seed_pg(&a, &messages(1)).await;
    let now = t0();
    let claimed = a.claim_due("a", now, now + minutes(1), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // Under a's live lease, b finds nothing; once it has lapsed, b takes the message over.
    assert!(b
        .claim_due("b", now, now + minutes(5), 10)
        .await
        .unwrap()
        .is_empty());
    let later = now + minutes(2);
    let taken = b
        .claim_due("b", later, later + minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    // a, back from a stall, must not send: its fence fails; b's holds.
    assert_eq!(
        a.renew_lease("a", 1, later, later + minutes(5))
            .await
            .unwrap(),
        Renewal::Lost
    );
    assert_eq!(
        b.renew_lease("b", 1, later, later + minutes(5))
            .await
            .unwrap(),
        Renewal::Renewed
    );
    // a's late failure is recorded in the history but moves nothing; b's send finishes it.
    let mut failed = attempt(1, later, SendOutcome::Transient);
    failed.retry_at = Some(later + minutes(10));
    a.record_attempts("a", &[failed]).await.unwrap();
    let entry = a.outbox_entry(1).await.unwrap().unwrap();
    assert_eq!((entry.0.state.as_str(), entry.0.attempts), ("queued", 0));
    b.record_attempts("b", &[attempt(1, later, SendOutcome::Sent)])
        .await
        .unwrap();
    let (entry, attempts) = a.outbox_entry(1).await.unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.attempts), ("sent", 1));
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.attempt, a.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(1, "transient"), (2, "sent")]
    );
    // Its own lapsed lease is no longer renewable either.
    assert_eq!(
        b.renew_lease("b", 1, later, later + minutes(5))
            .await
            .unwrap(),
        Renewal::Lost
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_recording_the_same_message_number_their_attempts_apart() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (pg_store(&db).await, pg_store(&db).await);
    a.migrate().await.unwrap();
    seed_pg(&a, &messages(50)).await;
    let now = t0();
    let all: Vec<AttemptResult> = (1..=50)
        .map(|id| attempt(id, now, SendOutcome::Sent))
        .collect();
    let (ra, rb) = tokio::join!(a.record_attempts("a", &all), b.record_attempts("b", &all));
    ra.unwrap();
    rb.unwrap();
    let numbers: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT (outbox_id, attempt)) FROM delivery_attempts",
    )
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(numbers, [(100, 100)]);
    let sent: i64 = sqlx::query_scalar(
        "SELECT value FROM counter_totals WHERE name = 'messages_sent' AND label = ''",
    )
    .fetch_one(a.pool())
    .await
    .unwrap();
    assert_eq!(sent, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_bounce_read_by_two_processes_at_once_is_kept_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (pg_store(&db).await, pg_store(&db).await);
    a.migrate().await.unwrap();
    seed_pg(&a, &messages(1)).await;
    let mail = NewBounceMail {
        key: "<dsn@mx.example.org>",
        source: "imap",
        raw: b"bounce",
        matched: true,
        at: t0(),
    };
    let reported = [bounce(1, BounceVerdict::Soft, t0())];
    let refusal = bounce(1, BounceVerdict::Hard, t0());
    let (ma, mb, ra, rb) = tokio::join!(
        a.store_bounce_mail(&mail, &reported),
        b.store_bounce_mail(&mail, &reported),
        a.record_bounce(&refusal),
        b.record_bounce(&refusal),
    );
    let (ma, mb, ra, rb) = (ma.unwrap(), mb.unwrap(), ra.unwrap(), rb.unwrap());
    assert_eq!(u8::from(ma.is_some()) + u8::from(mb.is_some()), 1);
    assert_eq!(u8::from(ra.is_some()) + u8::from(rb.is_some()), 1);
    let counters: Vec<(String, i64)> = sqlx::query_as(
        "SELECT label, value FROM counter_totals WHERE name = 'bounces' ORDER BY label",
    )
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(counters, [("hard".to_string(), 1), ("soft".to_string(), 1)]);
}

/// Two cases of a court in MCAP, an entry each, both reported by message 1; `at` is the
/// instant as the backend writes it in SQL.
fn reported_entries(at: &str) -> Vec<String> {
    let court = mcap_notify::circuits::CIRCUITS[0].court_id();
    vec![
        format!(
            "INSERT INTO cases (case_number, court_id, case_type, caption, filed_at, confidential)
             VALUES ('C-1', '{court}', 'CV', 'Doe v. Roe', {at}, FALSE),
                    ('C-2', '{court}', 'CV', 'Smith v. Jones', {at}, FALSE)"
        ),
        format!(
            "INSERT INTO docket_entries (entry_id, case_number, code, description, text,
                                         filed_by, posted_at, run_id)
             VALUES ('E-1', 'C-1', 'MOT', 'Motion', 'text', 'Doe', {at}, 1),
                    ('E-2', 'C-2', 'MOT', 'Motion', 'text', 'Smith', {at}, 1)"
        ),
        "INSERT INTO notification_ledger (account_id, entry_seq, outbox_id)
         VALUES ('acct', 1, 1), ('acct', 2, 1)"
            .to_string(),
    ]
}

/// A worker claims message 1, its first case is sealed, and the worker's fence before the
/// send finds it: what the fence said and the rows it left.
async fn seal_under_a_claim<S: DeliveryStore + OutboxStore>(
    store: &S,
    seal: impl std::future::Future<Output = ()>,
) -> Transcript {
    let mut t = Transcript::default();
    let now = t0();
    let claimed = store
        .claim_due("w", now, now + minutes(5), 10)
        .await
        .unwrap();
    t.note(
        "claimed",
        claimed.iter().map(|m| m.outbox_id).collect::<Vec<_>>(),
    );
    seal.await;
    t.note(
        "fence",
        store
            .renew_lease("w", 1, now + minutes(1), now + minutes(6))
            .await
            .unwrap(),
    );
    t.note("entry", store.outbox_entry(1).await.unwrap().unwrap().0);
    t.note(
        "fence again",
        store
            .renew_lease("w", 1, now + minutes(1), now + minutes(6))
            .await
            .unwrap(),
    );
    t
}

#[tokio::test]
async fn the_fence_withholds_a_message_sealed_under_its_claim_as_on_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = pg_store(&db).await;
    pg.migrate().await.unwrap();
    seed_pg(&pg, &messages(1)).await;
    for sql in reported_entries(&format!("'{}'", t0().to_rfc3339())) {
        sqlx::query(&sql).execute(pg.pool()).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let lite = SqliteStore::connect(&url, 4, Duration::from_secs(10))
        .await
        .unwrap();
    lite.migrate().await.unwrap();
    seed_sqlite(&lite, &messages(1)).await;
    for sql in reported_entries(&t0().timestamp_micros().to_string()) {
        sqlx::query(&sql).execute(lite.pool()).await.unwrap();
    }
    const SEAL: &str = "UPDATE cases SET confidential = TRUE WHERE case_number = 'C-1'";
    let on_pg = seal_under_a_claim(&pg, async {
        sqlx::query(SEAL).execute(pg.pool()).await.unwrap();
    })
    .await;
    let on_sqlite = seal_under_a_claim(&lite, async {
        sqlx::query(SEAL).execute(lite.pool()).await.unwrap();
    })
    .await;
    assert_eq!(on_pg.0, on_sqlite.0);
    assert!(on_pg.0[1].ends_with("Withheld"), "{:?}", on_pg.0);

    let ledger: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT entry_seq, withheld_reason FROM notification_ledger ORDER BY entry_seq",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    assert_eq!(ledger, [(1, Some("case confidential".to_string()))]);
    let held: Vec<(String, i64)> = sqlx::query_as("SELECT account_id, entry_seq FROM held_pairs")
        .fetch_all(pg.pool())
        .await
        .unwrap();
    assert_eq!(held, [("acct".to_string(), 2)]);
}
