//! Status, metrics, the report and the run history on PostgreSQL: each method on a fixture
//! loaded by plain SQL, its figures asserted, and the same scenario run on SQLite giving the
//! same values.

mod common;

use chrono::Duration;
use common::backends::{self, at, Tables};
use common::postgres::TestDatabase;
use mcap_notify::store::history::{AttemptEnd, AttemptRun, Job};
use mcap_notify::store::prelude::*;
use mcap_notify::store::LeaseInfo;

/// Two days of a small service: a finished run, a stretch of skipped ticks, a run in progress;
/// messages sent, queued and dead; a bounce, a suppression, held pairs and failed attempts.
const FIXTURE: &str = "
INSERT INTO courts (court_id, name, mcap) VALUES ('tc', 'Test Court', true);
INSERT INTO cases (case_number, court_id, case_type, caption, filed_at, confidential) VALUES
    ('C-1', 'tc', 'civil', 'A v B', ts(2026-01-01T00:00:00Z), false),
    ('C-2', 'tc', 'civil', 'C v D', ts(2026-01-01T00:00:00Z), false);
INSERT INTO runs (status, skip_reason, started_at, finished_at, first_seq, last_seq,
                  entries_claimed, entries_notifiable, pairs_matched, digests_queued,
                  snapshot_ms, filter_ms, match_render_ms, commit_ms, ticks) VALUES
    ('done', NULL, ts(2026-01-05T10:00:00Z), ts(2026-01-05T10:00:05Z), 1, 2, 2, 2, 3, 3,
     5, 6, 7, 8, 1),
    ('skipped', 'night', ts(2026-01-05T22:00:00Z), ts(2026-01-06T02:00:00Z), NULL, NULL,
     0, 0, 0, 0, NULL, NULL, NULL, NULL, 3),
    ('running', NULL, ts(2026-01-06T10:00:00Z), NULL, 3, 3, 1, 0, 0, 0,
     NULL, NULL, NULL, NULL, 1);
INSERT INTO docket_entries (entry_id, case_number, code, description, text, filed_by,
                            posted_at, run_id) VALUES
    ('e1', 'C-1', 'ORD', 'Order', 'text', 'Court', ts(2026-01-05T09:00:00Z), 1),
    ('e2', 'C-2', 'ORD', 'Order', 'text', 'Court', ts(2026-01-05T09:30:00Z), 1),
    ('e3', 'C-1', 'MOT', 'Motion', 'text', 'A', ts(2026-01-06T09:00:00Z), 3),
    ('e4', 'C-2', 'MOT', 'Motion', 'text', 'C', ts(2026-01-06T09:45:00Z), NULL);
UPDATE watermark SET last_seq = 2;
INSERT INTO accounts (account_id, email, email_verified) VALUES
    ('a1', 'a1@example.org', true), ('a2', 'a2@example.org', true),
    ('a3', 'a3@example.org', true);
INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id, subject, state,
                    created_at, lifetime_from, next_attempt_at, attempts, last_error,
                    finished_at) VALUES
    (1, 'a1', 'a1@example.org', 'b@example.org', 'm1', 'Digest 1', 'sent',
     ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), 1, NULL,
     ts(2026-01-05T11:30:00Z)),
    (1, 'a2', 'a2@example.org', 'b@example.org', 'm2', 'Digest 2', 'queued',
     ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:01:00Z), 1,
     'try later', NULL),
    (1, 'a3', 'a3@example.org', 'b@example.org', 'm3', 'Digest 3', 'dead',
     ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), ts(2026-01-05T10:00:05Z), 1,
     'refused', ts(2026-01-05T12:00:00Z));
INSERT INTO notification_ledger (account_id, entry_seq, outbox_id) VALUES
    ('a1', 1, 1), ('a1', 2, 1), ('a2', 1, 2), ('a3', 2, 3);
INSERT INTO delivery_attempts (outbox_id, attempt, at, outcome, reply_code, status, detail)
VALUES
    (1, 1, ts(2026-01-05T11:30:00Z), 'sent', 250, NULL, 'ok'),
    (2, 1, ts(2026-01-05T10:00:30Z), 'transient', 451, '4.3.0', 'later'),
    (3, 1, ts(2026-01-05T12:00:00Z), 'policy', 550, '5.7.1', 'blocked');
INSERT INTO bounces (at, email, verdict, status, detail, outbox_id) VALUES
    (ts(2026-01-05T13:00:00Z), 'a3@example.org', 'hard', '5.1.1', 'gone', 3),
    (ts(2026-01-05T13:05:00Z), 'a3@example.org', 'auto-reply', NULL, 'away', NULL);
INSERT INTO suppressions (email, reason, evidence, created_at) VALUES
    ('a3@example.org', 'hard-bounce', 'bounce 1', ts(2026-01-05T13:00:00Z));
INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at) VALUES
    ('a2', 3, 3, 'address refused', ts(2026-01-06T10:00:01Z)),
    ('a2', 4, 3, 'address refused', ts(2026-01-06T10:00:02Z));
INSERT INTO run_failures (run_id, at, outcome, error) VALUES
    (1, ts(2026-01-05T09:59:00Z), 'failed', 'database busy'),
    (NULL, ts(2026-01-05T08:00:00Z), 'failed', 'no database');
INSERT INTO counter_totals (name, label, value) VALUES
    ('messages_sent', '', 1), ('bounces', 'hard', 1)
ON CONFLICT (name, label) DO UPDATE SET value = excluded.value;
";

/// The whole scenario on one backend, asserting what it can on its own; returns every value
/// read, to be compared across backends.
async fn scenario<S: StatusStore + RunHistory>(store: &S, tables: Tables<'_>) -> Vec<String> {
    let mut seen = Vec::new();

    // An empty database.
    let empty = store.status(10).await.unwrap();
    assert_eq!(
        (empty.watermark, empty.entries_total, empty.entries_pending),
        (0, 0, 0)
    );
    assert!(empty.outbox.is_empty() && empty.recent_runs.is_empty() && empty.held.is_empty());
    let empty_metrics = store
        .metrics_snapshot(at("2026-01-06T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(empty_metrics.entries_claimed, 0);
    assert_eq!(empty_metrics.oldest_due_at, None);
    seen.push(format!("{empty:?}"));
    seen.push(format!("{empty_metrics:?}"));

    tables.load(FIXTURE).await;

    let status = store.status(2).await.unwrap();
    assert_eq!(status.watermark, 2);
    assert_eq!((status.entries_total, status.entries_pending), (4, 1));
    assert_eq!(
        status.outbox,
        [("dead".into(), 1), ("queued".into(), 1), ("sent".into(), 1)]
    );
    let recent: Vec<i64> = status.recent_runs.iter().map(|r| r.run_id).collect();
    assert_eq!(recent, [3, 2]);
    assert_eq!(status.recent_runs[1].ticks, 3);
    assert_eq!(status.held.len(), 1);
    assert_eq!(
        (
            status.held[0].pairs,
            status.held[0].run_id,
            status.held[0].held_at
        ),
        (2, 3, at("2026-01-06T10:00:02Z"))
    );
    seen.push(format!("{status:?}"));

    let metrics = store
        .metrics_snapshot(at("2026-01-06T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(metrics.entries_claimed, 3);
    assert_eq!(metrics.run_totals.pairs_matched, 3);
    assert_eq!(metrics.run_totals.drops.notifiable, 2);
    let mut runs = metrics.runs.clone();
    runs.sort();
    assert_eq!(
        runs,
        [
            ("done".into(), "".into(), 1),
            ("failed".into(), "".into(), 2),
            ("skipped".into(), "night".into(), 3),
        ]
    );
    let mut stages = metrics.stage_times.clone();
    stages.sort();
    assert_eq!(
        stages,
        [
            ("commit".into(), 8, 1),
            ("filter".into(), 6, 1),
            ("match_render".into(), 7, 1),
            ("snapshot".into(), 5, 1),
        ]
    );
    let counted: Vec<_> = metrics
        .counters
        .iter()
        .filter(|c| c.2 > 0)
        .cloned()
        .collect();
    assert_eq!(
        counted,
        [
            ("bounces".into(), "hard".into(), 1),
            ("messages_sent".into(), "".into(), 1)
        ]
    );
    assert_eq!(metrics.oldest_due_at, Some(at("2026-01-05T10:01:00Z")));
    assert_eq!(
        metrics.oldest_unfinished_posted_at,
        Some(at("2026-01-06T09:00:00Z"))
    );
    assert!(metrics.last_success.is_empty());
    // Nothing is due before the queued message's time.
    let early = store
        .metrics_snapshot(at("2026-01-05T10:00:30Z"))
        .await
        .unwrap();
    assert_eq!(early.oldest_due_at, None);
    seen.push(format!(
        "{:?}",
        (runs, stages, &metrics.counters, &metrics.outbox)
    ));
    seen.push(format!(
        "{:?}",
        (&metrics.run_totals, metrics.oldest_due_at)
    ));

    let report = store
        .report_rows(at("2026-01-05T00:00:00Z"), at("2026-01-06T00:00:00Z"))
        .await
        .unwrap();
    let report_runs: Vec<i64> = report.runs.iter().map(|r| r.run_id).collect();
    assert_eq!(report_runs, [1, 2]);
    assert_eq!(report.failures.len(), 2);
    assert_eq!(report.failures[0].run_id, None);
    assert_eq!(report.sent_per_hour, [(at("2026-01-05T11:00:00Z"), 1)]);
    assert_eq!(
        report.latencies,
        [
            (at("2026-01-05T11:30:00Z"), Duration::minutes(150)),
            (at("2026-01-05T11:30:00Z"), Duration::minutes(120)),
        ]
    );
    assert_eq!(
        report.bounces,
        [("auto-reply".into(), 1), ("hard".into(), 1)]
    );
    assert_eq!(report.dead_letters.len(), 1);
    assert_eq!(report.dead_letters[0].outbox_id, 3);
    assert_eq!(
        report.dead_letters[0].last_error.as_deref(),
        Some("refused")
    );
    assert_eq!(report.suppressions.len(), 1);
    seen.push(format!("{report:?}"));
    // The period is half-open: what happened at its end belongs to the next one.
    let later = store
        .report_rows(
            at("2026-01-05T11:30:00.000001Z"),
            at("2026-01-05T12:00:00Z"),
        )
        .await
        .unwrap();
    assert!(later.sent_per_hour.is_empty() && later.dead_letters.is_empty());
    assert_eq!(later.runs.len(), 0);
    seen.push(format!("{later:?}"));

    // The run history.
    let history = store.run_history(10).await.unwrap();
    let ids: Vec<i64> = history.iter().map(|r| r.record.run_id).collect();
    assert_eq!(ids, [3, 2, 1]);
    assert_eq!(history[2].failed_attempts, 1);
    assert_eq!(history[2].timings.as_ref().map(|t| t.commit_ms), Some(8));
    assert_eq!(history[0].timings, None);
    seen.push(format!("{history:?}"));
    let detail = store.run_detail(1).await.unwrap().unwrap();
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(
        detail.messages,
        [("dead".into(), 1), ("queued".into(), 1), ("sent".into(), 1)]
    );
    seen.push(format!("{detail:?}"));
    assert!(store.run_detail(99).await.unwrap().is_none());
    let runless = store.runless_failures(10).await.unwrap();
    assert_eq!(runless.len(), 1);
    assert_eq!(runless[0].error, "no database");
    seen.push(format!("{runless:?}"));

    // Attempts that did not finish: the open run is run 3.
    let stop_at = at("2026-01-06T10:05:00Z");
    store
        .record_run_failure(
            AttemptRun::Open,
            AttemptEnd::Interrupted,
            "stopped",
            stop_at,
        )
        .await
        .unwrap();
    store
        .record_run_failure(
            AttemptRun::Unopened,
            AttemptEnd::Failed,
            "no lease",
            stop_at,
        )
        .await
        .unwrap();
    store
        .record_run_failure(AttemptRun::Known(1), AttemptEnd::Failed, "late", stop_at)
        .await
        .unwrap();
    let detail3 = store.run_detail(3).await.unwrap().unwrap();
    assert_eq!(detail3.summary.interrupted_attempts, 1);
    assert_eq!(
        store.runless_failures(1).await.unwrap()[0].error,
        "no lease"
    );
    assert_eq!(
        store.run_detail(1).await.unwrap().unwrap().attempts.len(),
        2
    );
    seen.push(format!("{detail3:?}"));

    // A dead batch process: an attempt is recorded for the open run unless its own end was.
    assert_eq!(store.batch_lease().await.unwrap(), None);
    let dead = |since: &str| LeaseInfo {
        holder: "h1".into(),
        host: "host1".into(),
        pid: 42,
        since: at(since),
        expires_at: at("2026-01-06T11:00:00Z"),
    };
    let recorded_own_end = dead("2026-01-06T10:00:00Z");
    assert_eq!(
        store
            .record_dead_attempt(&recorded_own_end, at("2026-01-06T11:01:00Z"))
            .await
            .unwrap(),
        None
    );
    let silent = dead("2026-01-06T10:10:00Z");
    assert_eq!(
        store
            .record_dead_attempt(&silent, at("2026-01-06T11:01:00Z"))
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(
        store
            .run_detail(3)
            .await
            .unwrap()
            .unwrap()
            .summary
            .interrupted_attempts,
        2
    );
    tables
        .load(
            "INSERT INTO batch_lease (id, holder, host, pid, since, expires_at) VALUES
             (1, 'h1', 'host1', 42, ts(2026-01-06T10:10:00Z), ts(2026-01-06T11:00:00Z));",
        )
        .await;
    assert_eq!(store.batch_lease().await.unwrap(), Some(silent));

    // Job successes: an idle pass within the interval writes nothing; a pass that changed
    // something, or one past the interval, does.
    let t0 = at("2026-01-06T12:00:00Z");
    let min = Duration::minutes(1);
    let last = || async move {
        tables
            .pairs("SELECT CAST(0 AS BIGINT), job FROM job_successes ORDER BY job")
            .await
            .len()
    };
    store
        .record_job_success(Job::Batch, t0, false, min)
        .await
        .unwrap();
    assert_eq!(last().await, 1);
    store
        .record_job_success(Job::Batch, t0 + Duration::seconds(30), false, min)
        .await
        .unwrap();
    let metrics = store.metrics_snapshot(t0).await.unwrap();
    assert_eq!(metrics.last_success, [("batch".into(), t0)]);
    store
        .record_job_success(Job::Batch, t0 + Duration::seconds(30), true, min)
        .await
        .unwrap();
    store
        .record_job_success(Job::Deliver, t0 + Duration::seconds(40), false, min)
        .await
        .unwrap();
    // An older success never moves the time back.
    store
        .record_job_success(Job::Deliver, t0, true, min)
        .await
        .unwrap();
    let metrics = store.metrics_snapshot(t0).await.unwrap();
    assert_eq!(
        metrics.last_success,
        [
            ("batch".into(), t0 + Duration::seconds(30)),
            ("deliver".into(), t0 + Duration::seconds(40))
        ]
    );
    store
        .record_job_success(Job::Batch, t0 + Duration::minutes(2), false, min)
        .await
        .unwrap();

    // The health facts.
    let health = store
        .health_facts(
            at("2026-01-06T12:00:00Z"),
            at("2026-01-05T11:00:00Z"),
            at("2026-01-05T09:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        health.oldest_unfinished_posted_at,
        Some(at("2026-01-06T09:00:00Z"))
    );
    assert_eq!(health.oldest_due_at, Some(at("2026-01-05T10:01:00Z")));
    assert_eq!(health.last_batch_success, Some(t0 + Duration::minutes(2)));
    assert_eq!(
        health.last_deliver_success,
        Some(t0 + Duration::seconds(40))
    );
    assert_eq!(
        (
            health.messages_dead,
            health.messages_sent,
            health.bounces,
            health.policy_blocks
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(health.batch_failures, 3);
    assert_eq!(
        health.last_batch_failure,
        Some((stop_at, "late".to_string()))
    );
    seen.push(format!("{health:?}"));
    seen
}

#[tokio::test]
async fn status_metrics_report_and_history_agree_with_sqlite() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = backends::postgres(&db).await;
    let (lite, _dir) = backends::sqlite().await;
    let on_pg = scenario(&pg, Tables::Postgres(&pg)).await;
    let on_sqlite = scenario(&lite, Tables::Sqlite(&lite)).await;
    for (p, s) in on_pg.iter().zip(&on_sqlite) {
        assert_eq!(p, s);
    }
    assert_eq!(on_pg.len(), on_sqlite.len());
}

/// Two processes finding the same dead lease at once record one interrupted attempt.
#[tokio::test]
async fn a_dead_attempt_found_by_two_processes_is_recorded_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let a = backends::postgres(&db).await;
    let b = backends::postgres(&db).await;
    Tables::Postgres(&a).load(FIXTURE).await;
    let dead = LeaseInfo {
        holder: "h1".into(),
        host: "host1".into(),
        pid: 42,
        since: at("2026-01-06T10:10:00Z"),
        expires_at: at("2026-01-06T11:00:00Z"),
    };
    let now = at("2026-01-06T11:01:00Z");
    let (ra, rb) = tokio::join!(
        a.record_dead_attempt(&dead, now),
        b.record_dead_attempt(&dead, now)
    );
    let mut recorded = [ra.unwrap(), rb.unwrap()];
    recorded.sort();
    assert_eq!(recorded, [None, Some(3)]);
}
