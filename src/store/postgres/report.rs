//! The report's reads on PostgreSQL: a handful of read-only queries over one period, each kept
//! in its own file under `sql/postgres/queries/`, turned into the plain rows of [`ReportRows`].

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::rows::RunRow;
use crate::store::rows::ReportRecords;
use crate::store::{ReportRows, StoreError};

const RUNS: &str = include_str!("../../../sql/postgres/queries/report_runs.sql");
const FAILURES: &str = include_str!("../../../sql/postgres/queries/report_run_failures.sql");
const SENT_PER_HOUR: &str = include_str!("../../../sql/postgres/queries/report_sent_per_hour.sql");
const LATENCIES: &str = include_str!("../../../sql/postgres/queries/report_latencies.sql");
const BOUNCES: &str = include_str!("../../../sql/postgres/queries/report_bounces.sql");
const DEAD_LETTERS: &str = include_str!("../../../sql/postgres/queries/report_dead_letters.sql");
const SUPPRESSIONS: &str = include_str!("../../../sql/postgres/queries/report_suppressions.sql");

type Instant = DateTime<Utc>;

/// Every query of the report over `[from, to)`, read in `tx` (one snapshot, so the figures
/// agree), which it ends.
pub(super) async fn report_rows(
    mut tx: Transaction<'static, Postgres>,
    from: Instant,
    to: Instant,
) -> Result<ReportRows, StoreError> {
    let runs: Vec<RunRow> = sqlx::query_as(RUNS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let failures: Vec<(Option<i64>, Instant, String, String)> = sqlx::query_as(FAILURES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    // Each hour is the hour's start as a timestamptz (see the query).
    let sent_per_hour: Vec<(Instant, i64)> = sqlx::query_as(SENT_PER_HOUR)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let latencies: Vec<(Instant, i64)> = sqlx::query_as(LATENCIES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let bounces: Vec<(String, i64)> = sqlx::query_as(BOUNCES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let dead_letters: Vec<(i64, String, String, Option<String>, Instant)> =
        sqlx::query_as(DEAD_LETTERS)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *tx)
            .await?;
    let suppressions: Vec<(String, String, String, Instant)> = sqlx::query_as(SUPPRESSIONS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    ReportRows::try_from(ReportRecords {
        runs,
        failures,
        sent_per_hour,
        latencies,
        bounces,
        dead_letters,
        suppressions,
    })
}
