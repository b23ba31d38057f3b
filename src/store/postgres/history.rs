//! [`RunHistory`] on PostgreSQL: the run history, job successes and health facts.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::rows::HistoryRow;
use super::PgStore;
use crate::store::history::{
    AttemptEnd, AttemptRun, HealthFacts, Job, RunDetail, RunFailure, RunHistory, RunSummary,
};
use crate::store::rows::{run_failure_from_row, FAILURE_COLUMNS, HISTORY_COLUMNS};
use crate::store::{LeaseInfo, StoreError};

type Instant = DateTime<Utc>;
type FailureRow = (i64, Option<i64>, Instant, String, String);

/// Notes a success of `job` at `at` on `conn` (inside the transaction of what succeeded). The
/// upsert keeps the later of the two instants, so jobs on several hosts succeeding at once
/// never move it back.
pub(super) async fn note_success(
    conn: &mut PgConnection,
    job: Job,
    at: Instant,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_successes (job, last_success_at) VALUES ($1, $2)
         ON CONFLICT (job) DO UPDATE
         SET last_success_at = GREATEST(job_successes.last_success_at, excluded.last_success_at)",
    )
    .bind(job.as_str())
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

impl RunHistory for PgStore {
    async fn record_run_failure(
        &self,
        run: AttemptRun,
        outcome: AttemptEnd,
        error: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        // (known run, whether to take the open run when it is not known)
        let (run_id, take_open) = match run {
            AttemptRun::Known(id) => (Some(id), false),
            AttemptRun::Open => (None, true),
            AttemptRun::Unopened => (None, false),
        };
        sqlx::query(
            "INSERT INTO run_failures (run_id, at, outcome, error) VALUES (
                COALESCE($1, CASE WHEN $5 THEN
                    (SELECT MIN(run_id) FROM runs WHERE status = 'running') END), $2, $3, $4)",
        )
        .bind(run_id)
        .bind(at)
        .bind(outcome.as_str())
        .bind(error)
        .bind(take_open)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn batch_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        let row: Option<(String, String, i64, Instant, Instant)> = sqlx::query_as(
            "SELECT holder, host, pid, since, expires_at FROM batch_lease WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(holder, host, pid, since, expires_at)| LeaseInfo {
            holder,
            host,
            pid,
            since,
            expires_at,
        }))
    }

    async fn record_dead_attempt(
        &self,
        dead: &LeaseInfo,
        at: Instant,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin().await?;
        // The open run's row stays locked until commit: a second process finding the same dead
        // lease waits here, then (each statement reading afresh) sees the attempt recorded by
        // the first and records none of its own.
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT run_id FROM runs WHERE status = 'running' ORDER BY run_id LIMIT 1 FOR UPDATE",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(run_id) = open else {
            return Ok(None);
        };
        // The dead attempt may have recorded its end and died before releasing the lease.
        let recorded: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM run_failures WHERE run_id = $1 AND at >= $2 LIMIT 1")
                .bind(run_id)
                .bind(dead.since)
                .fetch_optional(&mut *tx)
                .await?;
        if recorded.is_some() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO run_failures (run_id, at, outcome, error)
             VALUES ($1, $2, 'interrupted', $3)",
        )
        .bind(run_id)
        .bind(at)
        .bind(format!(
            "the process running it (pid {} on {}) ended without a word, killed or crashed; \
             resumed by a later run",
            dead.pid, dead.host
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(run_id))
    }

    async fn record_job_success(
        &self,
        job: Job,
        at: Instant,
        changed: bool,
        min_interval: chrono::Duration,
    ) -> Result<(), StoreError> {
        if !changed {
            let last: Option<Instant> =
                sqlx::query_scalar("SELECT last_success_at FROM job_successes WHERE job = $1")
                    .bind(job.as_str())
                    .fetch_optional(self.pool())
                    .await?;
            if last.is_some_and(|last| at - last < min_interval) {
                return Ok(());
            }
        }
        let mut conn = self.pool().acquire().await?;
        note_success(&mut conn, job, at).await
    }

    async fn run_history(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        let rows: Vec<HistoryRow> = sqlx::query_as(&format!(
            "SELECT {HISTORY_COLUMNS} FROM runs r ORDER BY r.run_id DESC LIMIT $1"
        ))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(RunSummary::try_from).collect()
    }

    async fn runless_failures(&self, limit: u32) -> Result<Vec<RunFailure>, StoreError> {
        let rows: Vec<FailureRow> = sqlx::query_as(&format!(
            "SELECT {FAILURE_COLUMNS} FROM run_failures WHERE run_id IS NULL
             ORDER BY at DESC, failure_id DESC LIMIT $1"
        ))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(run_failure_from_row).collect()
    }

    async fn run_detail(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
        // One snapshot: the run, its attempts and its messages as they were together.
        let mut tx = self.begin_snapshot().await?;
        let row: Option<HistoryRow> = sqlx::query_as(&format!(
            "SELECT {HISTORY_COLUMNS} FROM runs r WHERE r.run_id = $1"
        ))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts: Vec<FailureRow> = sqlx::query_as(&format!(
            "SELECT {FAILURE_COLUMNS} FROM run_failures WHERE run_id = $1 ORDER BY at, failure_id"
        ))
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await?;
        let messages: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE run_id = $1 GROUP BY state ORDER BY state",
        )
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await?;
        let notices: Vec<(String, i64)> =
            sqlx::query_as(&crate::store::history::run_notices_query("$1"))
                .bind(run_id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Some(RunDetail {
            summary: RunSummary::try_from(row)?,
            attempts: attempts
                .into_iter()
                .map(run_failure_from_row)
                .collect::<Result<_, _>>()?,
            messages: messages
                .into_iter()
                .map(|(state, n)| (state, n.max(0) as u64))
                .collect(),
            notices: notices
                .into_iter()
                .map(|(kind, n)| (kind, n.max(0) as u64))
                .collect(),
        }))
    }

    async fn health_facts(
        &self,
        now: Instant,
        since: Instant,
        failures_since: Instant,
    ) -> Result<HealthFacts, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let oldest_unfinished: Option<Instant> = sqlx::query_scalar(
            "SELECT MIN(posted_at) FROM (
                SELECT posted_at FROM docket_entries WHERE run_id IS NULL
                UNION ALL
                SELECT posted_at FROM docket_entries
                WHERE run_id IN (SELECT run_id FROM runs WHERE status = 'running')) AS unfinished",
        )
        .fetch_one(&mut *tx)
        .await?;
        let oldest_due: Option<Instant> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM outbox
             WHERE state = 'queued' AND next_attempt_at <= $1",
        )
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let successes: Vec<(String, Instant)> =
            sqlx::query_as("SELECT job, last_success_at FROM job_successes")
                .fetch_all(&mut *tx)
                .await?;
        let last = |job: Job| {
            successes
                .iter()
                .find(|(name, _)| name == job.as_str())
                .map(|(_, at)| *at)
        };
        let dead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE state = 'dead' AND finished_at >= $1",
        )
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let (sent, policy): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE outcome = 'sent'),
                    COUNT(*) FILTER (WHERE outcome = 'policy')
             FROM delivery_attempts WHERE at >= $1",
        )
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let bounces: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bounces WHERE verdict IN ('hard', 'soft') AND at >= $1",
        )
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let failures: Vec<(Instant, String)> = sqlx::query_as(
            "SELECT at, error FROM run_failures WHERE outcome = 'failed' AND at >= $1
             ORDER BY at DESC, failure_id DESC",
        )
        .bind(failures_since)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let n = |v: i64| v.max(0) as u64;
        Ok(HealthFacts {
            batch_failures: failures.len() as u64,
            last_batch_failure: failures.into_iter().next(),
            oldest_unfinished_posted_at: oldest_unfinished,
            oldest_due_at: oldest_due,
            last_batch_success: last(Job::Batch),
            last_deliver_success: last(Job::Deliver),
            messages_dead: n(dead),
            messages_sent: n(sent),
            bounces: n(bounces),
            policy_blocks: n(policy),
        })
    }
}
