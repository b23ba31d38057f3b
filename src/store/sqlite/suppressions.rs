//! The suppression list on SQLite: suppressing an address cancels what is queued for it in the
//! same transaction.

use chrono::{DateTime, Utc};

use super::bump_counter;
use super::rows::{micros, suppression_from_row};
use super::SqliteStore;
use crate::model::SuppressionReason;
use crate::store::{StoreError, Suppression, SuppressionStore};

impl SuppressionStore for SqliteStore {
    async fn suppress(
        &self,
        email: &str,
        reason: SuppressionReason,
        evidence: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO suppressions (email, reason, evidence, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(email.to_lowercase())
        .bind(reason.as_str())
        .bind(evidence)
        .bind(micros(at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            bump_counter(&mut tx, "suppressions", reason.as_str(), 1).await?;
        }
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?, last_error = 'address suppressed'
             WHERE state = 'queued' AND lower(recipient) = ? AND lease_owner IS NULL",
        )
        .bind(micros(at))
        .bind(email.to_lowercase())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT email, reason, evidence, created_at FROM suppressions ORDER BY created_at, email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(suppression_from_row).collect()
    }

    async fn unsuppress(&self, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM suppressions WHERE email = ?")
            .bind(email.to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
