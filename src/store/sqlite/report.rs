//! The report's reads on SQLite: a handful of read-only queries over one period, each kept in
//! its own file under `sql/sqlite/queries/`, turned into the plain rows of [`ReportRows`].

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::rows::{instant, micros, RunRow};
use crate::store::{ReportDeadLetter, ReportFailure, ReportRows, RunRecord, StoreError};

const RUNS: &str = include_str!("../../../sql/sqlite/queries/report_runs.sql");
const FAILURES: &str = include_str!("../../../sql/sqlite/queries/report_run_failures.sql");
const SENT_PER_HOUR: &str = include_str!("../../../sql/sqlite/queries/report_sent_per_hour.sql");
const LATENCIES: &str = include_str!("../../../sql/sqlite/queries/report_latencies.sql");
const BOUNCES: &str = include_str!("../../../sql/sqlite/queries/report_bounces.sql");
const DEAD_LETTERS: &str = include_str!("../../../sql/sqlite/queries/report_dead_letters.sql");
const SUPPRESSIONS: &str = include_str!("../../../sql/sqlite/queries/report_suppressions.sql");

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

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
    let runs = runs
        .into_iter()
        .map(RunRecord::try_from)
        .collect::<Result<_, _>>()?;

    let failures: Vec<(Option<i64>, i64, String, String)> = sqlx::query_as(FAILURES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let failures = failures
        .into_iter()
        .map(|(run_id, at, outcome, error)| {
            Ok(ReportFailure {
                run_id,
                at: instant(at)?,
                outcome,
                error,
            })
        })
        .collect::<Result<_, StoreError>>()?;

    let sent: Vec<(i64, i64)> = sqlx::query_as(SENT_PER_HOUR)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let sent_per_hour = sent
        .into_iter()
        .map(|(hour, n)| Ok((instant(hour)?, count(n))))
        .collect::<Result<_, StoreError>>()?;

    let latencies: Vec<(i64, i64)> = sqlx::query_as(LATENCIES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let latencies = latencies
        .into_iter()
        .map(|(at, us)| Ok((instant(at)?, chrono::Duration::microseconds(us.max(0)))))
        .collect::<Result<_, StoreError>>()?;

    let bounces: Vec<(String, i64)> = sqlx::query_as(BOUNCES)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let bounces = bounces.into_iter().map(|(v, n)| (v, count(n))).collect();

    let dead: Vec<(i64, String, String, Option<String>, i64)> = sqlx::query_as(DEAD_LETTERS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let dead_letters = dead
        .into_iter()
        .map(|(outbox_id, recipient, subject, last_error, at)| {
            Ok(ReportDeadLetter {
                outbox_id,
                recipient,
                subject,
                last_error,
                at: instant(at)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;

    let suppressed: Vec<(String, String, String, i64)> = sqlx::query_as(SUPPRESSIONS)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
    let suppressions = suppressed
        .into_iter()
        .map(super::rows::suppression_from_row)
        .collect::<Result<_, StoreError>>()?;

    tx.commit().await?;
    Ok(ReportRows {
        runs,
        failures,
        sent_per_hour,
        latencies,
        bounces,
        dead_letters,
        suppressions,
    })
}
