//! What each queued message's unsubscribe link stops, recorded with the message.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::store::StoreError;

/// Records that the message known by `scope_key` reports `subscription_ids`.
pub(super) async fn record_scope(
    conn: &mut PgConnection,
    scope_key: &str,
    subscription_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if subscription_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO unsubscribe_scopes (scope_key, subscription_id, created_at)
         SELECT $1, id, $3 FROM UNNEST($2::bigint[]) AS id
         ON CONFLICT DO NOTHING",
    )
    .bind(scope_key)
    .bind(subscription_ids)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
