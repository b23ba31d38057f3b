//! The report's reads on SQLite: a handful of read-only queries over one period, each kept in
//! its own file under `sql/sqlite/queries/`, turned into the plain rows of [`ReportRows`].

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::rows::{micros, RunRow};
use crate::store::rows::ReportRecords;
use crate::store::{ReportRows, StoreError};

const RUNS: &str = include_str!("../../../sql/sqlite/queries/report_runs.sql");
const FAILURES: &str = include_str!("../../../sql/sqlite/queries/report_run_failures.sql");
const SENT_PER_HOUR: &str = include_str!("../../../sql/sqlite/queries/report_sent_per_hour.sql");
const LATENCIES: &str = include_str!("../../../sql/sqlite/queries/report_latencies.sql");
const BOUNCES: &str = include_str!("../../../sql/sqlite/queries/report_bounces.sql");
const DEAD_LETTERS: &str = include_str!("../../../sql/sqlite/queries/report_dead_letters.sql");
const SUPPRESSIONS: &str = include_str!("../../../sql/sqlite/queries/report_suppressions.sql");

/// Every query of the report over `[from, to)`, read in one snapshot so the figures agree.
pub(super) async fn report_rows(
    pool: &SqlitePool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<ReportRows, StoreError> {
    let (from, to) = (micros(from), micros(to));
    let mut tx = pool.begin().await?;
    let runs: Vec<RunRow> = sqlx::query_as(RUNS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let failures = sqlx::query_as(FAILURES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let sent_per_hour = sqlx::query_as(SENT_PER_HOUR)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let latencies = sqlx::query_as(LATENCIES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let bounces = sqlx::query_as(BOUNCES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let dead_letters = sqlx::query_as(DEAD_LETTERS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let suppressions = sqlx::query_as(SUPPRESSIONS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    ReportRows::try_from(ReportRecords::<i64> {
        runs,
        failures,
        sent_per_hour,
        latencies,
        bounces,
        dead_letters,
        suppressions,
    })
}
