//! The suppression list on PostgreSQL: suppressing an address cancels what is queued for it in
//! the same transaction.

use chrono::{DateTime, Utc};

use super::{bump_counter, PgStore};
use crate::model::SuppressionReason;
use crate::store::rows::suppression_from_row;
use crate::store::{StoreError, Suppression, SuppressionStore};

impl SuppressionStore for PgStore {
    async fn suppress(
        &self,
        email: &str,
        reason: SuppressionReason,
        evidence: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Two processes suppressing the same address at once: the second insert waits for the
        // first and then does nothing, so the counter moves once.
        let inserted = sqlx::query(
            "INSERT INTO suppressions (email, reason, evidence, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING",
        )
        .bind(email.to_lowercase())
        .bind(reason.as_str())
        .bind(evidence)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            bump_counter(&mut tx, "suppressions", reason.as_str(), 1).await?;
        }
        // A message a worker holds is left to it (its claim already saw the address free);
        // claims skip suppressed addresses from now on.
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = $1,
                last_error = 'address suppressed'
             WHERE state = 'queued' AND lower(recipient) = $2 AND lease_owner IS NULL",
        )
        .bind(at)
        .bind(email.to_lowercase())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        // Byte order, as SQLite sorts, whatever the database's collation.
        let rows: Vec<(String, String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT email, reason, evidence, created_at FROM suppressions
             ORDER BY created_at, email COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(suppression_from_row).collect()
    }

    async fn unsuppress(&self, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM suppressions WHERE email = $1")
            .bind(email.to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
