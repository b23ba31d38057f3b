//! Unsubscribes on SQLite: what a link stops, the stop itself (recorded with its source, the
//! queued messages that reported the subscriptions withheld in the same transaction), and the
//! stops read back for the subscriptions export.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::rows::{instant, micros, opt_instant};
use super::withhold::{forgo_held_pairs_in, withhold_in};
use super::{bump_counter, SqliteStore};
use crate::store::{
    StopSource, StoreError, UnsubscribeRecord, UnsubscribeStore, UnsubscribeTarget, Unsubscribed,
};

/// SQLite allows 32766 parameters a statement; ids go in chunks well below that.
const IDS_PER_STATEMENT: usize = 5_000;

/// Records, with the queued messages, which subscriptions each one's unsubscribe link stops:
/// (the message's scope key, a subscription id) pairs.
pub(super) async fn record_scopes(
    tx: &mut Transaction<'static, Sqlite>,
    scopes: &[(&str, i64)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in scopes.chunks(IDS_PER_STATEMENT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO unsubscribe_scopes (scope_key, subscription_id, created_at) ",
        );
        insert.push_values(chunk, |mut row, (scope_key, id)| {
            row.push_bind(*scope_key)
                .push_bind(*id)
                .push_bind(micros(now));
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

pub(super) async fn message_scope(
    pool: &SqlitePool,
    scope_key: &str,
) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT subscription_id FROM unsubscribe_scopes WHERE scope_key = ?
         ORDER BY subscription_id",
    )
    .bind(scope_key)
    .fetch_all(pool)
    .await?)
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    subscription_id: i64,
    account_id: String,
    email: String,
    case_number: String,
    caption: String,
    court_name: String,
    unsubscribed_at: Option<i64>,
}

pub(super) async fn unsubscribe_targets(
    pool: &SqlitePool,
    subscription_ids: &[i64],
) -> Result<Vec<UnsubscribeTarget>, StoreError> {
    let mut targets = Vec::new();
    for chunk in subscription_ids.chunks(IDS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
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
             WHERE named.subscription_id IN ",
        );
        query.push_tuples(chunk, |mut t, id| {
            t.push_bind(*id);
        });
        let rows: Vec<TargetRow> = query.build_query_as().fetch_all(pool).await?;
        for r in rows {
            targets.push(UnsubscribeTarget {
                subscription_id: r.subscription_id,
                account_id: r.account_id,
                email: r.email,
                case_number: r.case_number,
                caption: r.caption,
                court_name: r.court_name,
                unsubscribed_at: opt_instant(r.unsubscribed_at)?,
            });
        }
    }
    targets.sort_by(|a, b| a.case_number.cmp(&b.case_number));
    targets.dedup_by_key(|t| t.subscription_id);
    Ok(targets)
}

pub(super) async fn unsubscribe(
    mut tx: Transaction<'static, Sqlite>,
    subscription_ids: &[i64],
    source: StopSource,
    evidence: &str,
    now: DateTime<Utc>,
) -> Result<Unsubscribed, StoreError> {
    let mut done = Unsubscribed::default();
    for id in subscription_ids {
        let recorded = sqlx::query(
            "INSERT INTO unsubscribes (subscription_id, stopped_at, source, evidence)
             SELECT subscription_id, ?2, ?3, ?4 FROM subscriptions WHERE subscription_id = ?1
             ON CONFLICT (subscription_id) DO NOTHING",
        )
        .bind(id)
        .bind(micros(now))
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
            "UPDATE subscriptions SET stopped_at = ?2
             WHERE subscription_id = ?1 AND (stopped_at IS NULL OR stopped_at > ?2)",
        )
        .bind(id)
        .bind(micros(now))
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

pub(super) async fn unsubscribes_since(
    pool: &SqlitePool,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<UnsubscribeRecord>, StoreError> {
    let rows: Vec<(String, String, i64, i64, String, String)> = sqlx::query_as(
        "SELECT s.account_id, s.case_number, s.tracked_at, u.stopped_at, u.source, u.evidence
         FROM unsubscribes u JOIN subscriptions s ON s.subscription_id = u.subscription_id
         WHERE u.stopped_at >= ?
         ORDER BY u.stopped_at, u.subscription_id",
    )
    .bind(since.map_or(i64::MIN, micros))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(
            |(account_id, case_number, tracked_at, stopped_at, source, evidence)| {
                Ok(UnsubscribeRecord {
                    account_id,
                    case_number,
                    tracked_at: instant(tracked_at)?,
                    stopped_at: instant(stopped_at)?,
                    source,
                    evidence,
                })
            },
        )
        .collect()
}

impl UnsubscribeStore for SqliteStore {
    async fn message_scope(&self, scope_key: &str) -> Result<Vec<i64>, StoreError> {
        message_scope(&self.pool, scope_key).await
    }

    async fn unsubscribe_targets(
        &self,
        subscription_ids: &[i64],
    ) -> Result<Vec<UnsubscribeTarget>, StoreError> {
        unsubscribe_targets(&self.pool, subscription_ids).await
    }

    async fn unsubscribe(
        &self,
        subscription_ids: &[i64],
        source: StopSource,
        evidence: &str,
        now: DateTime<Utc>,
    ) -> Result<Unsubscribed, StoreError> {
        let tx = self.begin_write().await?;
        // Stamped once the write lock is held, so stops are stamped in the order they commit
        // and an export `--since` the latest it wrote misses none.
        let now = now.max(Utc::now());
        unsubscribe(tx, subscription_ids, source, evidence, now).await
    }

    async fn unsubscribes_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<UnsubscribeRecord>, StoreError> {
        unsubscribes_since(&self.pool, since).await
    }
}
