//! Status and metrics on PostgreSQL, each read in one snapshot so the figures agree.

use chrono::{DateTime, Utc};

use super::rows::{MetricsRows, RunRow};
use super::PgStore;
use crate::store::rows::{held_account_from_row, RunSumsRow};
use crate::store::{MetricsSnapshot, ReportRows, RunRecord, StatusReport, StatusStore, StoreError};

const METRICS_RUN_TOTALS: &str =
    include_str!("../../../sql/postgres/queries/metrics_run_totals.sql");
const METRICS_RUNS_BY_OUTCOME: &str =
    include_str!("../../../sql/postgres/queries/metrics_runs_by_outcome.sql");
const METRICS_STAGE_TIMES: &str =
    include_str!("../../../sql/postgres/queries/metrics_stage_times.sql");
const METRICS_LAG: &str = include_str!("../../../sql/postgres/queries/metrics_lag.sql");

const OUTBOX_BY_STATE: &str = "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state";

impl StatusStore for PgStore {
    async fn status(&self, recent_runs: u32) -> Result<StatusReport, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let watermark: i64 = sqlx::query_scalar("SELECT last_seq FROM watermark WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let (entries_total, entries_pending): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE run_id IS NULL) FROM docket_entries",
        )
        .fetch_one(&mut *tx)
        .await?;
        let outbox: Vec<(String, i64)> =
            sqlx::query_as(OUTBOX_BY_STATE).fetch_all(&mut *tx).await?;
        let runs: Vec<RunRow> = sqlx::query_as("SELECT * FROM runs ORDER BY run_id DESC LIMIT $1")
            .bind(recent_runs as i64)
            .fetch_all(&mut *tx)
            .await?;
        let held: Vec<(String, i64, String, i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT account_id, COUNT(*), MAX(reason), MAX(run_id), MAX(held_at)
             FROM held_pairs GROUP BY account_id ORDER BY account_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let mut tx = self.begin_snapshot().await?;
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
        let outbox = sqlx::query_as(OUTBOX_BY_STATE).fetch_all(&mut *tx).await?;
        let (oldest_due_at, oldest_unfinished_posted_at) = sqlx::query_as(METRICS_LAG)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let last_success =
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
        let tx = self.begin_snapshot().await?;
        super::report::report_rows(tx, from, to).await
    }
}
