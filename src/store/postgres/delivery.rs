//! Delivery on PostgreSQL: workers in several processes or hosts claim due messages from one
//! queue under row locks that skip what another worker is claiming, hold them under leases,
//! fence each send on their lease, and record what each attempt did.

use chrono::{DateTime, Utc};

use super::withhold::{has_unsendable_dates, has_unsendable_watch_notices, withhold_in};
use super::{CounterBumps, PgStore};
use crate::model::SendOutcome;
use crate::store::rows::ClaimRow;
use crate::store::{AttemptResult, ClaimedMessage, DeliveryStore, Renewal, StoreError};

impl DeliveryStore for PgStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        // One statement. The due rows are locked as they are picked, and rows another worker
        // is claiming at this moment are skipped rather than waited for. A row a concurrent
        // claim leased and committed after this statement's snapshot is re-read once locked
        // and fails the lease test on its new version (READ COMMITTED rechecks a locked row's
        // conditions), so no message is leased to two workers at once.
        let rows: Vec<ClaimRow<DateTime<Utc>>> = sqlx::query_as(
            "WITH due AS (
                SELECT outbox_id FROM outbox
                WHERE state = 'queued' AND next_attempt_at <= $3
                  AND (lease_until IS NULL OR (lease_until <= $3 AND lease_owner <> $1))
                  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(recipient))
                ORDER BY next_attempt_at, outbox_id LIMIT $4
                FOR UPDATE SKIP LOCKED)
             UPDATE outbox o SET lease_owner = $1, lease_until = $2
             FROM due JOIN outbox_bodies b ON b.outbox_id = due.outbox_id
             WHERE o.outbox_id = due.outbox_id
             RETURNING o.outbox_id, o.attempts, o.lifetime_from, o.account_id, o.recipient,
                       o.envelope_from, o.message_id, o.subject, b.raw",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
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
        let mut tx = self.begin().await?;
        // The update locks the row: a worker taking the message over waits for this
        // transaction, and then finds the lease live and not its own.
        // A court date it tells of may have been sealed, moved or passed since it was queued.
        // So may a new case a watch found.
        let dates_unsendable = has_unsendable_dates(&mut tx, now, outbox_id).await?
            || has_unsendable_watch_notices(&mut tx, now, outbox_id).await?;
        let done = sqlx::query(
            "UPDATE outbox SET lease_until = $1
             WHERE outbox_id = $2 AND state = 'queued' AND lease_owner = $3 AND lease_until > $4
               AND NOT $5::boolean
               AND NOT EXISTS (SELECT 1 FROM ledger_pairs_not_notifiable n
                               WHERE n.outbox_id = $2)",
        )
        .bind(lease_until)
        .bind(outbox_id)
        .bind(owner)
        .bind(now)
        .bind(dates_unsendable)
        .execute(&mut *tx)
        .await?;
        let mut renewal = if done.rows_affected() == 1 {
            Renewal::Renewed
        } else {
            Renewal::Lost
        };
        if done.rows_affected() == 0 {
            // Locked, so the batch's withholding of the same message waits for this one.
            let ours: Option<i64> = sqlx::query_scalar(
                "SELECT outbox_id FROM outbox
                 WHERE outbox_id = $1 AND lease_owner = $2 AND state = 'queued'
                 FOR UPDATE",
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
        let mut tx = self.begin().await?;
        let mut ids: Vec<i64> = results.iter().map(|r| r.outbox_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // Attempts are numbered from those recorded: two workers recording the same message
        // (its lease ran out under a slow send, both sent it) must not both take the same
        // number, so its row is locked first; in id order, so two workers never each hold
        // what the other waits for.
        sqlx::query(
            "SELECT outbox_id FROM outbox WHERE outbox_id = ANY($1) ORDER BY outbox_id
             FOR UPDATE",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        // Numbered here, not from the claim: a message can be sent twice when a lease
        // expires under a slow send, and both attempts belong in its history.
        sqlx::query(
            "INSERT INTO delivery_attempts (outbox_id, attempt, at, outcome, reply_code,
                                            status, detail)
             SELECT r.outbox_id,
                    COALESCE((SELECT MAX(a.attempt) FROM delivery_attempts a
                              WHERE a.outbox_id = r.outbox_id), 0)
                      + row_number() OVER (PARTITION BY r.outbox_id ORDER BY r.ord),
                    r.at, r.outcome, r.reply_code, r.status, r.detail
             FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[],
                         $5::text[], $6::text[])
                  WITH ORDINALITY AS r (outbox_id, at, outcome, reply_code, status, detail, ord)",
        )
        .bind(results.iter().map(|r| r.outbox_id).collect::<Vec<_>>())
        .bind(results.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(
            results
                .iter()
                .map(|r| r.outcome.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            results
                .iter()
                .map(|r| r.reply_code.map(i64::from))
                .collect::<Vec<_>>(),
        )
        .bind(results.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
        .bind(
            results
                .iter()
                .map(|r| r.detail.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        let mut counters = CounterBumps::default();
        // The common case, sent, in one statement.
        let sent: Vec<&AttemptResult> = results
            .iter()
            .filter(|r| r.outcome == SendOutcome::Sent)
            .collect();
        if !sent.is_empty() {
            // Sent is final: whoever else tried the message, it arrived.
            let moved = sqlx::query(
                "UPDATE outbox SET state = 'sent', lease_owner = NULL, lease_until = NULL,
                    attempts = attempts + 1, finished_at = $1
                 WHERE state = 'queued' AND outbox_id = ANY($2)",
            )
            .bind(sent[0].at)
            .bind(sent.iter().map(|r| r.outbox_id).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counters.add("messages_sent", "", moved);
        }
        for r in results.iter().filter(|r| r.outcome != SendOutcome::Sent) {
            let dead = r.retry_at.is_none();
            counters.add("delivery_failures", r.outcome.as_str(), 1);
            let moved = sqlx::query(
                "UPDATE outbox SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at),
                    attempts = attempts + 1, last_error = $3,
                    policy_flag = policy_flag OR $4, finished_at = $5,
                    lease_owner = NULL, lease_until = NULL
                 WHERE outbox_id = $6 AND state = 'queued' AND lease_owner = $7",
            )
            .bind(if dead { "dead" } else { "queued" })
            .bind(r.retry_at)
            .bind(&r.detail)
            .bind(r.outcome == SendOutcome::Policy)
            .bind(dead.then_some(r.at))
            .bind(r.outbox_id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if dead {
                counters.add("messages_dead", "", moved);
            }
        }
        counters.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1 AND state = 'queued'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
