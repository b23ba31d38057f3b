//! The outbox on SQLite as operators and bounce matching read it, and dead letters requeued.

use chrono::{DateTime, Utc};

use super::rows::{instant, micros, OutboxEntryRow, OutboxRefRow, OUTBOX_ENTRY_COLUMNS};
use super::SqliteStore;
use crate::store::{AttemptRow, OutboxEntry, OutboxRef, OutboxStore, StoreError};

impl OutboxStore for SqliteStore {
    async fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxEntryRow> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox WHERE ?1 IS NULL OR state = ?1
             ORDER BY outbox_id DESC LIMIT ?2"
        ))
        .bind(state)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxEntry::try_from).collect()
    }

    async fn outbox_raw(&self, outbox_id: i64) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT b.raw FROM outbox o LEFT JOIN outbox_bodies b ON b.outbox_id = o.outbox_id
             WHERE o.outbox_id = ?",
        )
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(raw,)| raw))
    }

    async fn outbox_entry(
        &self,
        outbox_id: i64,
    ) -> Result<Option<(OutboxEntry, Vec<AttemptRow>)>, StoreError> {
        let row: Option<OutboxEntryRow> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox WHERE outbox_id = ?"
        ))
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        #[allow(clippy::type_complexity)]
        let attempts: Vec<(i64, i64, String, Option<i64>, Option<String>, String)> =
            sqlx::query_as(
                "SELECT attempt, at, outcome, reply_code, status, detail FROM delivery_attempts
                 WHERE outbox_id = ? ORDER BY attempt",
            )
            .bind(outbox_id)
            .fetch_all(&self.pool)
            .await?;
        let attempts = attempts
            .into_iter()
            .map(|(attempt, at, outcome, reply_code, status, detail)| {
                Ok(AttemptRow {
                    attempt: attempt.max(0) as u32,
                    at: instant(at)?,
                    outcome,
                    reply_code: reply_code.map(|c| c as u16),
                    status,
                    detail,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((OutboxEntry::try_from(row)?, attempts)))
    }

    async fn requeue_dead(
        &self,
        outbox_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?1, lifetime_from = ?1,
                finished_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE state = 'dead' AND (?2 IS NULL OR outbox_id = ?2)
               AND outbox_id IN (SELECT outbox_id FROM outbox_bodies)",
        )
        .bind(micros(now))
        .bind(outbox_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn outbox_by_id(&self, outbox_id: i64) -> Result<Option<OutboxRef>, StoreError> {
        let row: Option<OutboxRefRow> = sqlx::query_as(
            "SELECT outbox_id, account_id, recipient, message_id FROM outbox WHERE outbox_id = ?",
        )
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(OutboxRef::from))
    }

    async fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxRef>, StoreError> {
        let row: Option<OutboxRefRow> = sqlx::query_as(
            "SELECT outbox_id, account_id, recipient, message_id FROM outbox WHERE message_id = ?",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(OutboxRef::from))
    }
}
