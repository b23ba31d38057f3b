//! Bounces on PostgreSQL: each bounce mail kept once with what it reported, and the counts the
//! soft-bounce threshold reads. Unique indexes decide what is new, so two processes reading the
//! same bounce at once record it once (the second waits for the first and then finds it).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{CounterBumps, PgStore};
use crate::store::{BounceRecord, BounceStore, NewBounceMail, StoreError, UnmatchedBounce};

/// Records a bounce; None for a send-time refusal already recorded for its message and verdict.
async fn insert_bounce(
    conn: &mut PgConnection,
    b: &BounceRecord,
    counters: &mut CounterBumps,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO bounces (at, email, verdict, status, detail, outbox_id, bounce_mail_id, proven)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (outbox_id, verdict) WHERE bounce_mail_id IS NULL DO NOTHING
         RETURNING bounce_id",
    )
    .bind(b.at)
    .bind(b.email.to_lowercase())
    .bind(b.verdict.as_str())
    .bind(b.status.as_deref())
    .bind(&b.detail)
    .bind(b.outbox_id)
    .bind(b.bounce_mail_id)
    .bind(b.proven)
    .fetch_optional(&mut *conn)
    .await?;
    if id.is_some() {
        counters.add("bounces", b.verdict.as_str(), 1);
    }
    Ok(id)
}

impl BounceStore for PgStore {
    async fn store_bounce_mail(
        &self,
        mail: &NewBounceMail<'_>,
        bounces: &[BounceRecord],
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let mut tx = self.begin().await?;
        let mail_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO bounce_mails (received_at, source, raw, matched, mail_key)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mail_key) DO NOTHING
             RETURNING bounce_mail_id",
        )
        .bind(mail.at)
        .bind(mail.source)
        .bind(mail.raw)
        .bind(mail.matched)
        .bind(mail.key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mail_id) = mail_id else {
            return Ok(None);
        };
        let mut counters = CounterBumps::default();
        let mut ids = Vec::with_capacity(bounces.len());
        for bounce in bounces {
            let bounce = BounceRecord {
                bounce_mail_id: Some(mail_id),
                ..bounce.clone()
            };
            ids.push(
                insert_bounce(&mut tx, &bounce, &mut counters)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(
                            "a bounce of a new bounce mail was already recorded".into(),
                        )
                    })?,
            );
        }
        counters.write(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(ids))
    }

    async fn record_bounce(&self, b: &BounceRecord) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let mut counters = CounterBumps::default();
        let id = insert_bounce(&mut tx, b, &mut counters).await?;
        counters.write(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn soft_bounces_since(
        &self,
        email: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT outbox_id) FROM bounces
             WHERE email = $1 AND verdict = 'soft' AND proven AND at >= $2",
        )
        .bind(email.to_lowercase())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn unmatched_bounces(&self, limit: u32) -> Result<Vec<UnmatchedBounce>, StoreError> {
        let rows: Vec<(i64, DateTime<Utc>, String, i64)> = sqlx::query_as(
            "SELECT bounce_mail_id, received_at, source, octet_length(raw)::bigint
             FROM bounce_mails WHERE NOT matched ORDER BY bounce_mail_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(bounce_mail_id, received_at, source, size)| UnmatchedBounce {
                    bounce_mail_id,
                    received_at,
                    source,
                    size: size.max(0) as u64,
                },
            )
            .collect())
    }
}
