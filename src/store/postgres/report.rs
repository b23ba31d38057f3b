//! The report's reads on PostgreSQL: a handful of read-only queries over one period, each kept
//! in its own file under `sql/postgres/queries/`, turned into the plain rows of [`ReportRows`].

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::rows::RunRow;
use crate::store::rows::{dead_letter_from_row, report_failure_from_row, suppression_from_row};
use crate::store::{ReportRows, RunRecord, StoreError};

const RUNS: &str = include_str!("../../../sql/postgres/queries/report_runs.sql");
const FAILURES: &str = include_str!("../../../sql/postgres/queries/report_run_failures.sql");
const SENT_PER_HOUR: &str = include_str!("../../../sql/postgres/queries/report_sent_per_hour.sql");
const LATENCIES: &str = include_str!("../../../sql/postgres/queries/report_latencies.sql");
const BOUNCES: &str = include_str!("../../../sql/postgres/queries/report_bounces.sql");
const DEAD_LETTERS: &str = include_str!("../../../sql/postgres/queries/report_dead_letters.sql");
const SUPPRESSIONS: &str = include_str!("../../../sql/postgres/queries/report_suppressions.sql");

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

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
    let sent: Vec<(Instant, i64)> = sqlx::query_as(SENT_PER_HOUR)
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
    let dead: Vec<(i64, String, String, Option<String>, Instant)> = sqlx::query_as(DEAD_LETTERS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let suppressed: Vec<(String, String, String, Instant)> = sqlx::query_as(SUPPRESSIONS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;

    Ok(ReportRows {
        runs: runs
            .into_iter()
            .map(RunRecord::try_from)
            .collect::<Result<_, _>>()?,
        failures: failures
            .into_iter()
            .map(report_failure_from_row)
            .collect::<Result<_, _>>()?,
        sent_per_hour: sent.into_iter().map(|(hour, n)| (hour, count(n))).collect(),
        latencies: latencies
            .into_iter()
            .map(|(at, us)| (at, chrono::Duration::microseconds(us.max(0))))
            .collect(),
        bounces: bounces.into_iter().map(|(v, n)| (v, count(n))).collect(),
        dead_letters: dead
            .into_iter()
            .map(dead_letter_from_row)
            .collect::<Result<_, _>>()?,
        suppressions: suppressed
            .into_iter()
            .map(suppression_from_row)
            .collect::<Result<_, _>>()?,
    })
}
