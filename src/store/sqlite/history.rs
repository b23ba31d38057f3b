//! [`RunHistory`] on SQLite: the run history, job successes and health facts.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::rows::{instant, micros, opt_instant};
use super::SqliteStore;
use crate::store::history::{
    AttemptEnd, AttemptRun, HealthFacts, Job, RunDetail, RunFailure, RunHistory, RunSummary,
};
use crate::store::rows::{run_failure_from_row, FAILURE_COLUMNS, HISTORY_COLUMNS};
use crate::store::{LeaseInfo, StoreError};

/// Notes a success of `job` at `at` on `conn` (inside the transaction of what succeeded).
pub(super) async fn note_success(
    conn: &mut SqliteConnection,
    job: Job,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_successes (job, last_success_at) VALUES (?, ?)
         ON CONFLICT (job) DO UPDATE
         SET last_success_at = MAX(last_success_at, excluded.last_success_at)",
    )
    .bind(job.as_str())
    .bind(micros(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// The run history's rows with SQLite's instants (see [`crate::store::rows`]).
type HistoryRow = crate::store::rows::HistoryRow<i64>;
type FailureRow = (i64, Option<i64>, i64, String, String);

impl RunHistory for SqliteStore {
    async fn record_run_failure(
        &self,
        run: AttemptRun,
        outcome: AttemptEnd,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // (known run, whether to take the open run when it is not known)
        let (run_id, take_open) = match run {
            AttemptRun::Known(id) => (Some(id), false),
            AttemptRun::Open => (None, true),
            AttemptRun::Unopened => (None, false),
        };
        sqlx::query(
            "INSERT INTO run_failures (run_id, at, outcome, error) VALUES (
                COALESCE(?1, CASE WHEN ?5 THEN
                    (SELECT MIN(run_id) FROM runs WHERE status = 'running') END), ?2, ?3, ?4)",
        )
        .bind(run_id)
        .bind(micros(at))
        .bind(outcome.as_str())
        .bind(error)
        .bind(take_open)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn batch_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        let row: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT holder, host, pid, since, expires_at FROM batch_lease WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|(holder, host, pid, since, expires)| {
            Ok(LeaseInfo {
                holder,
                host,
                pid,
                since: instant(since)?,
                expires_at: instant(expires)?,
            })
        })
        .transpose()
    }

    async fn record_dead_attempt(
        &self,
        dead: &LeaseInfo,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let open: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_id) FROM runs WHERE status = 'running'")
                .fetch_one(&mut *tx)
                .await?;
        let Some(run_id) = open else {
            return Ok(None);
        };
        // The dead attempt may have recorded its end and died before releasing the lease.
        let recorded: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM run_failures WHERE run_id = ? AND at >= ? LIMIT 1")
                .bind(run_id)
                .bind(micros(dead.since))
                .fetch_optional(&mut *tx)
                .await?;
        if recorded.is_some() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO run_failures (run_id, at, outcome, error) VALUES (?, ?, 'interrupted', ?)",
        )
        .bind(run_id)
        .bind(micros(at))
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
        at: DateTime<Utc>,
        changed: bool,
        min_interval: chrono::Duration,
    ) -> Result<(), StoreError> {
        if !changed {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT last_success_at FROM job_successes WHERE job = ?")
                    .bind(job.as_str())
                    .fetch_optional(self.pool())
                    .await?;
            if last.is_some_and(|last| micros(at) - last < micros_of(min_interval)) {
                return Ok(());
            }
        }
        let mut conn = self.pool().acquire().await?;
        note_success(&mut conn, job, at).await
    }

    async fn run_history(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        let rows: Vec<HistoryRow> = sqlx::query_as(&format!(
            "SELECT {HISTORY_COLUMNS} FROM runs r ORDER BY r.run_id DESC LIMIT ?"
        ))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(RunSummary::try_from).collect()
    }

    async fn runless_failures(&self, limit: u32) -> Result<Vec<RunFailure>, StoreError> {
        let rows: Vec<FailureRow> = sqlx::query_as(&format!(
            "SELECT {FAILURE_COLUMNS} FROM run_failures WHERE run_id IS NULL
             ORDER BY at DESC, failure_id DESC LIMIT ?"
        ))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(run_failure_from_row).collect()
    }

    async fn run_detail(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
        let row: Option<HistoryRow> = sqlx::query_as(&format!(
            "SELECT {HISTORY_COLUMNS} FROM runs r WHERE r.run_id = ?"
        ))
        .bind(run_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts: Vec<FailureRow> = sqlx::query_as(&format!(
            "SELECT {FAILURE_COLUMNS} FROM run_failures WHERE run_id = ? ORDER BY at, failure_id"
        ))
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        let messages: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE run_id = ? GROUP BY state ORDER BY state",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        let notices: Vec<(String, i64)> =
            sqlx::query_as(&crate::store::history::run_notices_query("?1"))
                .bind(run_id)
                .fetch_all(self.pool())
                .await?;
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
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        failures_since: DateTime<Utc>,
    ) -> Result<HealthFacts, StoreError> {
        let pool = self.pool();
        let oldest_unfinished: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(posted_at) FROM (
                SELECT posted_at FROM docket_entries WHERE run_id IS NULL
                UNION ALL
                SELECT posted_at FROM docket_entries
                WHERE run_id IN (SELECT run_id FROM runs WHERE status = 'running'))",
        )
        .fetch_one(pool)
        .await?;
        let oldest_due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM outbox
             WHERE state = 'queued' AND next_attempt_at <= ?",
        )
        .bind(micros(now))
        .fetch_one(pool)
        .await?;
        let successes: Vec<(String, i64)> =
            sqlx::query_as("SELECT job, last_success_at FROM job_successes")
                .fetch_all(pool)
                .await?;
        let last = |job: Job| {
            opt_instant(
                successes
                    .iter()
                    .find(|(name, _)| name == job.as_str())
                    .map(|(_, at)| *at),
            )
        };
        let dead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE state = 'dead' AND finished_at >= ?",
        )
        .bind(micros(since))
        .fetch_one(pool)
        .await?;
        let (sent, policy): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(outcome = 'sent'), 0), COALESCE(SUM(outcome = 'policy'), 0)
             FROM delivery_attempts WHERE at >= ?",
        )
        .bind(micros(since))
        .fetch_one(pool)
        .await?;
        let bounces: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bounces WHERE verdict IN ('hard', 'soft') AND at >= ?",
        )
        .bind(micros(since))
        .fetch_one(pool)
        .await?;
        let failures: Vec<(i64, String)> = sqlx::query_as(
            "SELECT at, error FROM run_failures WHERE outcome = 'failed' AND at >= ?
             ORDER BY at DESC, failure_id DESC",
        )
        .bind(micros(failures_since))
        .fetch_all(pool)
        .await?;
        let last_batch_failure = match failures.first() {
            Some((at, error)) => Some((instant(*at)?, error.clone())),
            None => None,
        };
        let n = |v: i64| v.max(0) as u64;
        Ok(HealthFacts {
            batch_failures: failures.len() as u64,
            last_batch_failure,
            oldest_unfinished_posted_at: opt_instant(oldest_unfinished)?,
            oldest_due_at: opt_instant(oldest_due)?,
            last_batch_success: last(Job::Batch)?,
            last_deliver_success: last(Job::Deliver)?,
            messages_dead: n(dead),
            messages_sent: n(sent),
            bounces: n(bounces),
            policy_blocks: n(policy),
        })
    }
}

fn micros_of(d: chrono::Duration) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}
