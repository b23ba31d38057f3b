//! Retention on SQLite: bodies, attempts and bounce texts removed once retention no longer needs them.

use chrono::{DateTime, Utc};

use super::rows::micros;
use super::SqliteStore;
use crate::store::{PruneCounts, RetentionStore, StoreError};

impl RetentionStore for SqliteStore {
    async fn prune(
        &self,
        cutoff: DateTime<Utc>,
        links_cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneCounts, StoreError> {
        const FINISHED: &str = "SELECT outbox_id FROM outbox
            WHERE state IN ('sent', 'dead', 'cancelled') AND finished_at < ?1";
        // A dry run does the same work and rolls it back, so its counts are the real ones.
        let mut tx = self.begin_write().await?;
        let attempts = sqlx::query(&format!(
            "DELETE FROM delivery_attempts WHERE outbox_id IN ({FINISHED})"
        ))
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        let bodies = sqlx::query(&format!(
            "DELETE FROM outbox_bodies WHERE outbox_id IN ({FINISHED})"
        ))
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        let arrivals = sqlx::query(
            "DELETE FROM party_arrivals WHERE matched_at IS NOT NULL AND matched_at < ?1",
        )
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM unsubscribe_watch_scopes WHERE created_at < ?1")
            .bind(micros(links_cutoff))
            .execute(&mut *tx)
            .await?;
        let scopes = sqlx::query("DELETE FROM unsubscribe_scopes WHERE created_at < ?1")
            .bind(micros(links_cutoff))
            .execute(&mut *tx)
            .await?;
        let bounce_mails = sqlx::query(
            "UPDATE bounce_mails SET raw = X'' WHERE received_at < ?1 AND length(raw) > 0",
        )
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        let counts = PruneCounts {
            message_bodies: bodies.rows_affected(),
            unsubscribe_scopes: scopes.rows_affected(),
            party_arrivals: arrivals.rows_affected(),
            delivery_attempts: attempts.rows_affected(),
            bounce_mail_bodies: bounce_mails.rows_affected(),
        };
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(counts)
    }
}
