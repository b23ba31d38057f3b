//! Unsubscribes on PostgreSQL: what a link stops, the stop itself (recorded with its source,
//! the queued messages that reported the subscriptions withheld in the same transaction), and
//! the stops read back for the subscriptions export.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::rows::TargetRow;
use super::withhold::{forgo_held_pairs_in, withhold_in};
use super::{bump_counter, PgStore};
use crate::store::rows::unsubscribe_record_from_row;
use crate::store::{
    StopSource, StoreError, UnsubscribeRecord, UnsubscribeStore, UnsubscribeTarget, Unsubscribed,
};

/// The transaction-level advisory lock every stop takes (any fixed key of our own): stops are
/// rare, so taking them one at a time costs nothing and gives them one order (see
/// [`UnsubscribeStore::unsubscribe`] below).
const STOPS_LOCK: i64 = 0x6d63_6170_7374_6f70; // "mcapstop"

/// Records, with the queued messages, which subscriptions each one's unsubscribe link stops:
/// the pairs (`scope_keys[i]`, `subscription_ids[i]`). A scope recorded twice (a run resumed)
/// keeps its first rows.
pub(super) async fn record_scopes(
    tx: &mut Transaction<'static, Postgres>,
    scope_keys: &[&str],
    subscription_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO unsubscribe_scopes (scope_key, subscription_id, created_at)
         SELECT key, id, $3 FROM UNNEST($1::text[], $2::bigint[]) AS s (key, id)
         ON CONFLICT DO NOTHING",
    )
    .bind(scope_keys)
    .bind(subscription_ids)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stops the subscriptions in `tx`, stamped `now`, which the caller took once it held the
/// locks that order stops.
async fn stop_in(
    mut tx: Transaction<'static, Postgres>,
    subscription_ids: &[i64],
    source: StopSource,
    evidence: &str,
    now: DateTime<Utc>,
) -> Result<Unsubscribed, StoreError> {
    let mut done = Unsubscribed::default();
    for id in subscription_ids {
        let recorded = sqlx::query(
            "INSERT INTO unsubscribes (subscription_id, stopped_at, source, evidence)
             SELECT subscription_id, $2, $3, $4 FROM subscriptions WHERE subscription_id = $1
             ON CONFLICT (subscription_id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .bind(source.as_str())
        .bind(evidence)
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() == 0 {
            done.already += 1;
            continue;
        }
        // The tracking period ends now (or when the feed already ended it), so the feed can
        // start a new one later.
        sqlx::query(
            "UPDATE subscriptions SET stopped_at = $2
             WHERE subscription_id = $1 AND (stopped_at IS NULL OR stopped_at > $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        done.stopped += 1;
    }
    bump_counter(&mut tx, "unsubscribes", source.as_str(), done.stopped).await?;
    if done.stopped > 0 {
        done.messages_withheld = withhold_in(&mut tx, now, None).await?.messages;
        // Pairs held aside for a later run that the stop leaves without a subscription are
        // owed no more.
        forgo_held_pairs_in(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(done)
}

impl UnsubscribeStore for PgStore {
    async fn message_scope(&self, scope_key: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT subscription_id FROM unsubscribe_scopes WHERE scope_key = $1
             ORDER BY subscription_id",
        )
        .bind(scope_key)
        .fetch_all(self.pool())
        .await?)
    }

    async fn unsubscribe_targets(
        &self,
        subscription_ids: &[i64],
    ) -> Result<Vec<UnsubscribeTarget>, StoreError> {
        let rows: Vec<TargetRow> = sqlx::query_as(
            "SELECT DISTINCT s.subscription_id, s.account_id, a.email, c.case_number, c.caption,
                    ct.name AS court_name, u.stopped_at AS unsubscribed_at
             FROM subscriptions named
             JOIN subscriptions s ON s.subscription_id = (
                 SELECT latest.subscription_id FROM subscriptions latest
                 WHERE latest.account_id = named.account_id
                   AND latest.case_number = named.case_number
                 ORDER BY latest.tracked_at DESC, latest.subscription_id DESC LIMIT 1)
             JOIN accounts a ON a.account_id = s.account_id
             JOIN cases c ON c.case_number = s.case_number
             JOIN courts ct ON ct.court_id = c.court_id
             LEFT JOIN unsubscribes u ON u.subscription_id = s.subscription_id
             WHERE named.subscription_id = ANY($1::bigint[])
             ORDER BY c.case_number, s.subscription_id",
        )
        .bind(subscription_ids)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(UnsubscribeTarget::try_from).collect()
    }

    async fn unsubscribe(
        &self,
        subscription_ids: &[i64],
        source: StopSource,
        evidence: &str,
        now: DateTime<Utc>,
    ) -> Result<Unsubscribed, StoreError> {
        let mut tx = self.begin().await?;
        // Stops are stamped once their locks are held, as SQLite stamps them under its write
        // lock, so that they are stamped in the order they commit and an export `--since` the
        // latest stop it wrote misses none:
        // - the subscriptions' rows are locked first (in id order, so two stops of overlapping
        //   lists cannot deadlock): the feed stopping one of them waits for this stop (or this
        //   stop for it), and a second stop of the same subscription waits, then finds it
        //   recorded and counts it as already stopped;
        // - row locks alone leave stops of different subscriptions unordered (one could stamp
        //   first and commit last, after an export read past its stamp), so every stop also
        //   takes one advisory lock until it commits;
        // - the stamp comes from the database's clock, not this host's, so stops made on hosts
        //   whose clocks differ are still stamped in order.
        sqlx::query(
            "SELECT subscription_id FROM subscriptions WHERE subscription_id = ANY($1::bigint[])
             ORDER BY subscription_id FOR UPDATE",
        )
        .bind(subscription_ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(STOPS_LOCK)
            .execute(&mut *tx)
            .await?;
        let clock: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&mut *tx)
            .await?;
        stop_in(tx, subscription_ids, source, evidence, now.max(clock)).await
    }

    async fn unsubscribes_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<UnsubscribeRecord>, StoreError> {
        let rows: Vec<crate::store::rows::UnsubscribeRecordRow<DateTime<Utc>>> = sqlx::query_as(
            "SELECT s.account_id, s.case_number, s.tracked_at, u.stopped_at, u.source,
                        u.evidence
                 FROM unsubscribes u JOIN subscriptions s ON s.subscription_id = u.subscription_id
                 WHERE $1::timestamptz IS NULL OR u.stopped_at >= $1
                 ORDER BY u.stopped_at, u.subscription_id",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(unsubscribe_record_from_row).collect()
    }
}
