//! Delivery on SQLite: workers claim due messages under leases (the write lock orders the claims),
//! check their lease before each send, and record what each attempt did.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};

use super::bump_counter;
use super::rows::{micros, ClaimRow};
use super::withhold::{has_unsendable_dates, has_unsendable_watch_notices, withhold_in};
use super::SqliteStore;
use crate::model::SendOutcome;
use crate::store::{AttemptResult, ClaimedMessage, DeliveryStore, Renewal, StoreError};

impl DeliveryStore for SqliteStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET lease_owner = ?1, lease_until = ?2
             WHERE outbox_id IN (
                SELECT outbox_id FROM outbox
                WHERE state = 'queued' AND next_attempt_at <= ?3
                  AND (lease_until IS NULL OR (lease_until <= ?3 AND lease_owner <> ?1))
                  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(recipient))
                ORDER BY next_attempt_at, outbox_id LIMIT ?4)
             RETURNING outbox_id",
        )
        .bind(owner)
        .bind(micros(lease_until))
        .bind(micros(now))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "SELECT o.outbox_id, o.attempts, o.lifetime_from, o.account_id, o.recipient,
                    o.envelope_from, o.message_id, o.subject, b.raw
             FROM outbox o JOIN outbox_bodies b ON b.outbox_id = o.outbox_id
             WHERE o.lease_owner = ?1 AND o.outbox_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(owner)
        .bind(serde_json::to_string(&claimed).expect("ids serialise"))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut claimed = rows
            .into_iter()
            .map(ClaimedMessage::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|m| m.outbox_id);
        Ok(claimed)
    }

    async fn renew_lease(
        &self,
        owner: &str,
        outbox_id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Renewal, StoreError> {
        let mut tx = self.begin_write().await?;
        // A court date it tells of may have been sealed, moved or passed since it was queued.
        // So may a new case a watch found.
        let dates_unsendable = has_unsendable_dates(&mut tx, now, outbox_id).await?
            || has_unsendable_watch_notices(&mut tx, now, outbox_id).await?;
        let done = sqlx::query(
            "UPDATE outbox SET lease_until = ?1
             WHERE outbox_id = ?2 AND state = 'queued' AND lease_owner = ?3 AND lease_until > ?4
               AND NOT ?5
               AND NOT EXISTS (SELECT 1 FROM ledger_pairs_not_notifiable n
                               WHERE n.outbox_id = ?2)",
        )
        .bind(micros(lease_until))
        .bind(outbox_id)
        .bind(owner)
        .bind(micros(now))
        .bind(dates_unsendable)
        .execute(&mut *tx)
        .await?;
        let mut renewal = if done.rows_affected() == 1 {
            Renewal::Renewed
        } else {
            Renewal::Lost
        };
        if done.rows_affected() == 0 {
            let ours: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM outbox WHERE outbox_id = ? AND lease_owner = ? AND state = 'queued'",
            )
            .bind(outbox_id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            if ours.is_some() {
                // Still ours, so something in it may no longer be sent: withhold it now.
                if withhold_in(&mut tx, now, Some(&[outbox_id]))
                    .await?
                    .messages
                    > 0
                {
                    renewal = Renewal::Withheld;
                }
            }
        }
        tx.commit().await?;
        Ok(renewal)
    }

    async fn record_attempts(
        &self,
        owner: &str,
        results: &[AttemptResult],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // Nine parameters a row; SQLite allows 32766 per statement.
        for chunk in results.chunks(2_000) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO delivery_attempts (outbox_id, attempt, at, outcome, reply_code,
                                                status, detail) ",
            );
            // Numbered here, not from the claim: a message can be sent twice when a lease
            // expires under a slow send, and both attempts belong in its history.
            insert.push_values(chunk, |mut row, r| {
                row.push_bind(r.outbox_id)
                    .push_unseparated(", (SELECT COALESCE(MAX(a.attempt), 0) + 1 FROM delivery_attempts a WHERE a.outbox_id = ")
                    .push_bind_unseparated(r.outbox_id)
                    .push_unseparated(")")
                    .push_bind(micros(r.at))
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.reply_code.map(i64::from))
                    .push_bind(r.status.as_deref())
                    .push_bind(r.detail.as_str());
            });
            insert.build().execute(&mut *tx).await?;
            // The common case, sent, in one statement.
            let sent: Vec<&AttemptResult> = chunk
                .iter()
                .filter(|r| r.outcome == SendOutcome::Sent)
                .collect();
            if !sent.is_empty() {
                let mut update = QueryBuilder::<Sqlite>::new(
                    "UPDATE outbox SET state = 'sent', lease_owner = NULL, lease_until = NULL, \
                     attempts = attempts + 1, finished_at = ",
                );
                update.push_bind(micros(sent[0].at));
                // Sent is final: whoever else tried the message, it arrived. (`+state`: the
                // messages are found by id, not by reading the index of every queued one.)
                update.push(" WHERE +state = 'queued' AND outbox_id IN (");
                let mut ids = update.separated(", ");
                for r in &sent {
                    ids.push_bind(r.outbox_id);
                }
                update.push(")");
                let sent = update.build().execute(&mut *tx).await?.rows_affected();
                bump_counter(&mut tx, "messages_sent", "", sent).await?;
            }
            for r in chunk.iter().filter(|r| r.outcome != SendOutcome::Sent) {
                let dead = r.retry_at.is_none();
                bump_counter(&mut tx, "delivery_failures", r.outcome.as_str(), 1).await?;
                let moved = sqlx::query(
                    "UPDATE outbox SET state = ?1, next_attempt_at = COALESCE(?2, next_attempt_at),
                        attempts = attempts + 1, last_error = ?3,
                        policy_flag = MAX(policy_flag, ?4), finished_at = ?5,
                        lease_owner = NULL, lease_until = NULL
                     WHERE outbox_id = ?6 AND state = 'queued' AND lease_owner = ?7",
                )
                .bind(if dead { "dead" } else { "queued" })
                .bind(r.retry_at.map(micros))
                .bind(&r.detail)
                .bind(r.outcome == SendOutcome::Policy)
                .bind(dead.then(|| micros(r.at)))
                .bind(r.outbox_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if dead {
                    bump_counter(&mut tx, "messages_dead", "", moved).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = ? AND state = 'queued'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
