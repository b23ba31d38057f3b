//! Each job's last success, noted inside the transaction of what succeeded.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::store::history::Job;
use crate::store::StoreError;

/// Notes a success of `job` at `at` on `conn`. An upsert keeping the later instant: two
/// processes noting successes at once each leave the latest.
pub(super) async fn note_success(
    conn: &mut PgConnection,
    job: Job,
    at: DateTime<Utc>,
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
