//! The outbox on PostgreSQL as operators and bounce matching read it, and dead letters requeued.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::rows::{OutboxEntryRow, OutboxRefRow, OUTBOX_ENTRY_COLUMNS};
use crate::store::{AttemptRow, OutboxEntry, OutboxRef, OutboxStore, StoreError};

impl OutboxStore for PgStore {
    async fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxEntryRow<DateTime<Utc>>> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox WHERE $1::text IS NULL OR state = $1
             ORDER BY outbox_id DESC LIMIT $2"
        ))
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxEntry::try_from).collect()
    }

    async fn outbox_raw(&self, outbox_id: i64) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT b.raw FROM outbox o LEFT JOIN outbox_bodies b ON b.outbox_id = o.outbox_id
             WHERE o.outbox_id = $1",
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
        // One snapshot, so the attempts are those of the row read.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row: Option<OutboxEntryRow<DateTime<Utc>>> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox WHERE outbox_id = $1"
        ))
        .bind(outbox_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        #[allow(clippy::type_complexity)]
        let attempts: Vec<(
            i64,
            DateTime<Utc>,
            String,
            Option<i64>,
            Option<String>,
            String,
        )> = sqlx::query_as(
            "SELECT attempt, at, outcome, reply_code, status, detail FROM delivery_attempts
                 WHERE outbox_id = $1 ORDER BY attempt",
        )
        .bind(outbox_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let attempts = attempts
            .into_iter()
            .map(
                |(attempt, at, outcome, reply_code, status, detail)| AttemptRow {
                    attempt: attempt.max(0) as u32,
                    at,
                    outcome,
                    reply_code: reply_code.map(|c| c as u16),
                    status,
                    detail,
                },
            )
            .collect();
        Ok(Some((OutboxEntry::try_from(row)?, attempts)))
    }

    async fn requeue_dead(
        &self,
        outbox_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        // Pruning removes a dead message's body only under a lock on its outbox row (see
        // retention): once the dead rows are locked here, the next statement (a fresh
        // snapshot) sees every body that is gone, and none can go before this commits.
        sqlx::query(
            "SELECT outbox_id FROM outbox WHERE state = 'dead' AND ($1::bigint IS NULL OR outbox_id = $1)
             ORDER BY outbox_id FOR UPDATE",
        )
        .bind(outbox_id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE outbox o SET state = 'queued', next_attempt_at = $1, lifetime_from = $1,
                finished_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE o.state = 'dead' AND ($2::bigint IS NULL OR o.outbox_id = $2)
               AND EXISTS (SELECT 1 FROM outbox_bodies b WHERE b.outbox_id = o.outbox_id)",
        )
        .bind(now)
        .bind(outbox_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn outbox_by_id(&self, outbox_id: i64) -> Result<Option<OutboxRef>, StoreError> {
        let row: Option<OutboxRefRow> = sqlx::query_as(
            "SELECT outbox_id, account_id, recipient, message_id FROM outbox WHERE outbox_id = $1",
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
            "SELECT outbox_id, account_id, recipient, message_id FROM outbox WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(OutboxRef::from))
    }
}
