//! Status and metrics on SQLite, each read in one transaction so the figures agree.

use chrono::{DateTime, Utc};

use super::rows::{micros, MetricsRows, RunRow, RunSumsRow};
use super::SqliteStore;
use crate::store::rows::held_account_from_row;
use crate::store::{MetricsSnapshot, ReportRows, RunRecord, StatusReport, StatusStore, StoreError};

const METRICS_RUN_TOTALS: &str = include_str!("../../../sql/sqlite/queries/metrics_run_totals.sql");
const METRICS_RUNS_BY_OUTCOME: &str =
    include_str!("../../../sql/sqlite/queries/metrics_runs_by_outcome.sql");
const METRICS_STAGE_TIMES: &str =
    include_str!("../../../sql/sqlite/queries/metrics_stage_times.sql");
const METRICS_LAG: &str = include_str!("../../../sql/sqlite/queries/metrics_lag.sql");

impl StatusStore for SqliteStore {
    async fn status(&self, recent_runs: u32) -> Result<StatusReport, StoreError> {
        let watermark: i64 = sqlx::query_scalar("SELECT last_seq FROM watermark WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let (entries_total, entries_pending): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(run_id IS NULL), 0) FROM docket_entries")
                .fetch_one(&self.pool)
                .await?;
        let outbox: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?;
        let runs: Vec<RunRow> = sqlx::query_as("SELECT * FROM runs ORDER BY run_id DESC LIMIT ?")
            .bind(recent_runs as i64)
            .fetch_all(&self.pool)
            .await?;
        let held: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT account_id, COUNT(*), MAX(reason), MAX(run_id), MAX(held_at)
             FROM held_pairs GROUP BY account_id ORDER BY account_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(StatusReport {
            watermark,
            entries_total: entries_total.max(0) as u64,
            entries_pending: entries_pending.max(0) as u64,
            outbox: outbox
                .into_iter()
                .map(|(state, n)| (state, n.max(0) as u64))
                .collect(),
            recent_runs: runs
                .into_iter()
                .map(RunRecord::try_from)
                .collect::<Result<_, _>>()?,
            held: held
                .into_iter()
                .map(held_account_from_row)
                .collect::<Result<_, _>>()?,
            // Filled by the caller, which knows the time.
            dates: crate::store::DateCounts::default(),
            watches: crate::store::watches::WatchCounts::default(),
        })
    }

    async fn metrics_snapshot(&self, now: DateTime<Utc>) -> Result<MetricsSnapshot, StoreError> {
        // One read transaction: every figure comes from the same state of the database.
        let mut tx = self.pool.begin().await?;
        let sums: RunSumsRow = sqlx::query_as(METRICS_RUN_TOTALS)
            .fetch_one(&mut *tx)
            .await?;
        let runs = sqlx::query_as(METRICS_RUNS_BY_OUTCOME)
            .fetch_all(&mut *tx)
            .await?;
        let stage_times = sqlx::query_as(METRICS_STAGE_TIMES)
            .fetch_all(&mut *tx)
            .await?;
        let counters =
            sqlx::query_as("SELECT name, label, value FROM counter_totals ORDER BY name, label")
                .fetch_all(&mut *tx)
                .await?;
        let outbox =
            sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(&mut *tx)
                .await?;
        let (oldest_due_at, oldest_unfinished_posted_at): (Option<i64>, Option<i64>) =
            sqlx::query_as(METRICS_LAG)
                .bind(micros(now))
                .fetch_one(&mut *tx)
                .await?;
        let last_success: Vec<(String, i64)> =
            sqlx::query_as("SELECT job, last_success_at FROM job_successes ORDER BY job")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        MetricsSnapshot::try_from(MetricsRows {
            sums,
            runs,
            stage_times,
            counters,
            outbox,
            oldest_due_at,
            oldest_unfinished_posted_at,
            last_success,
        })
    }

    async fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReportRows, StoreError> {
        super::report::report_rows(&self.pool, from, to).await
    }
}
