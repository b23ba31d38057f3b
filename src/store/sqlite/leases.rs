//! The batch lease on SQLite: one row, taken and renewed under the write lock.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::rows::{instant, micros};
use super::SqliteStore;
use crate::store::{LeaseInfo, LeaseStore, StoreError};

impl LeaseStore for SqliteStore {
    async fn acquire_batch_lease(
        &self,
        lease: &LeaseInfo,
        now: DateTime<Utc>,
    ) -> Result<Result<(), LeaseInfo>, StoreError> {
        let mut tx = self.begin_write().await?;
        let current: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT holder, host, pid, since, expires_at FROM batch_lease WHERE id = 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((holder, host, pid, since, expires)) = current {
            if holder != lease.holder && expires > micros(now) {
                return Ok(Err(LeaseInfo {
                    holder,
                    host,
                    pid,
                    since: instant(since)?,
                    expires_at: instant(expires)?,
                }));
            }
        }
        sqlx::query(
            "INSERT INTO batch_lease (id, holder, host, pid, since, expires_at)
             VALUES (1, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, host = excluded.host,
                pid = excluded.pid, since = excluded.since, expires_at = excluded.expires_at",
        )
        .bind(&lease.holder)
        .bind(&lease.host)
        .bind(lease.pid)
        .bind(micros(lease.since))
        .bind(micros(lease.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn renew_batch_lease(
        &self,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE batch_lease SET expires_at = ? WHERE id = 1 AND holder = ?")
            .bind(micros(expires_at))
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_batch_lease(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM batch_lease WHERE id = 1 AND holder = ?")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The fence of a leader's write, run inside the write's own transaction: fails with
/// [`StoreError::Fenced`] unless the lease still names `leader` (None: an unfenced write, such
/// as a test's). Under SQLite's write lock no takeover can come between this check and the
/// commit.
pub(super) async fn check_leader(
    conn: &mut SqliteConnection,
    leader: Option<&str>,
) -> Result<(), StoreError> {
    let Some(leader) = leader else {
        return Ok(());
    };
    let holder: Option<String> = sqlx::query_scalar("SELECT holder FROM batch_lease WHERE id = 1")
        .fetch_optional(conn)
        .await?;
    crate::store::fence(leader, holder)
}
