//! The batch lease on PostgreSQL: a session-level advisory lock, held by a connection of its
//! own for as long as this process leads the batch, so two daemons on two hosts never run the
//! batch at once. The lock ends with its session: when the leader exits, crashes or loses its
//! host, the server ends the session (at once, or within about a minute for a host that went
//! silent, by TCP keepalives) and the next daemon's acquire succeeds. The `batch_lease` row
//! beside it names the holder for status, health and a refused daemon.
//!
//! Fencing: a renewal succeeds only through the leader's own session and only while that
//! session still holds the lock; a lost session makes it false.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{ConnectOptions, PgConnection};

use super::PgStore;
use crate::store::{LeaseInfo, LeaseStore, StoreError};

/// The advisory lock key: one bigint, which `pg_locks` shows as (classid, objid) =
/// (high 32 bits, low 32 bits) with objsubid 1.
const BATCH_LOCK: i64 = 0x6d63_6170_6261_7463; // "mcapbatc"
const BATCH_LOCK_HIGH: i64 = BATCH_LOCK >> 32;
const BATCH_LOCK_LOW: i64 = BATCH_LOCK & 0xffff_ffff;

/// How soon the server gives up on a silent leader's host: idle seconds before the first
/// probe, seconds between probes, and probes unanswered.
const KEEPALIVES: [&str; 3] = [
    "SET tcp_keepalives_idle = 20",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
];

/// A condition true when the statement's own session holds the batch lock.
fn holds_lock() -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_locks
            WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
              AND objsubid = 1 AND classid::bigint = {BATCH_LOCK_HIGH}
              AND objid::bigint = {BATCH_LOCK_LOW})"
    )
}

/// The session that holds the batch lock, and the lease it was taken for.
#[derive(Debug)]
pub(super) struct LockSession {
    lease: LeaseInfo,
    conn: PgConnection,
}

type LeaseRow = (String, String, i64, DateTime<Utc>, DateTime<Utc>);

fn lease_info((holder, host, pid, since, expires_at): LeaseRow) -> LeaseInfo {
    LeaseInfo {
        holder,
        host,
        pid,
        since,
        expires_at,
    }
}

impl PgStore {
    /// The bound on each statement of the lock session: one that takes longer counts as a
    /// lost session.
    fn lock_wait(&self) -> Duration {
        self.pool.options().get_acquire_timeout()
    }

    /// Opens a session of its own and tries the batch lock on it: None when another session
    /// holds it.
    async fn try_lock_session(&self) -> Result<Option<PgConnection>, StoreError> {
        let options = (*self.pool.connect_options())
            .clone()
            .application_name("mcap-notify batch lease");
        let mut conn = options.connect().await?;
        for setting in KEEPALIVES {
            sqlx::query(setting).execute(&mut conn).await?;
        }
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(BATCH_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(conn))
        } else {
            let _ = sqlx::Connection::close(conn).await;
            Ok(None)
        }
    }

    /// Who holds the lock, as the row names them; when the row is missing (its holder has not
    /// written it yet, or it was cleared), the session holding the lock.
    async fn lock_holder(&self, now: DateTime<Utc>) -> Result<LeaseInfo, StoreError> {
        let row: Option<LeaseRow> = sqlx::query_as(
            "SELECT holder, host, pid, since, expires_at FROM batch_lease WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(lease_info(row));
        }
        let session: Option<(i32, Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT a.pid, host(a.client_addr), a.backend_start
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.classid::bigint = $1 AND l.objid::bigint = $2
               AND l.database = (SELECT oid FROM pg_database
                                 WHERE datname = current_database())",
        )
        .bind(BATCH_LOCK_HIGH)
        .bind(BATCH_LOCK_LOW)
        .fetch_optional(&self.pool)
        .await?;
        let (pid, host, since) = session.unwrap_or((0, None, None));
        Ok(LeaseInfo {
            holder: format!("PostgreSQL session {pid}"),
            host: host.unwrap_or_else(|| "unknown".to_string()),
            pid: 0,
            since: since.unwrap_or(now),
            expires_at: now,
        })
    }
}

/// Writes `lease` as the holder, through the session holding the lock; false when that
/// session no longer holds it.
async fn write_lease(
    conn: &mut PgConnection,
    lease: &LeaseInfo,
    wait: Duration,
) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO batch_lease (id, holder, host, pid, since, expires_at)
         SELECT 1, $1, $2, $3, $4, $5 WHERE {}
         ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, host = excluded.host,
            pid = excluded.pid, since = excluded.since, expires_at = excluded.expires_at",
        holds_lock()
    );
    let write = sqlx::query(&sql)
        .bind(&lease.holder)
        .bind(&lease.host)
        .bind(lease.pid)
        .bind(lease.since)
        .bind(lease.expires_at)
        .execute(&mut *conn);
    match tokio::time::timeout(wait, write).await {
        Ok(done) => Ok(done?.rows_affected() > 0),
        Err(_) => Ok(false),
    }
}

impl LeaseStore for PgStore {
    async fn acquire_batch_lease(
        &self,
        lease: &LeaseInfo,
        now: DateTime<Utc>,
    ) -> Result<Result<(), LeaseInfo>, StoreError> {
        let mut session = self.batch_lock.lock().await;
        if let Some(held) = session.as_mut() {
            if held.lease.holder != lease.holder {
                // This process leads already, under another name.
                let current = self.lock_holder(now).await?;
                return Ok(Err(if current.holder == lease.holder {
                    held.lease.clone()
                } else {
                    current
                }));
            }
            if matches!(
                write_lease(&mut held.conn, lease, self.lock_wait()).await,
                Ok(true)
            ) {
                held.lease = lease.clone();
                return Ok(Ok(()));
            }
            // Our session is gone, and the lock with it: try again as a newcomer.
            *session = None;
        }
        let Some(mut conn) = self.try_lock_session().await? else {
            return Ok(Err(self.lock_holder(now).await?));
        };
        // Holding the lock, we lead: a row naming anyone else is left by a leader whose
        // session has ended.
        if !write_lease(&mut conn, lease, self.lock_wait()).await? {
            return Err(StoreError::Changed(
                "the batch lock was lost as soon as it was taken".to_string(),
            ));
        }
        *session = Some(LockSession {
            lease: lease.clone(),
            conn,
        });
        Ok(Ok(()))
    }

    async fn renew_batch_lease(
        &self,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut session = self.batch_lock.lock().await;
        let Some(held) = session.as_mut().filter(|s| s.lease.holder == holder) else {
            return Ok(false);
        };
        let renewed = LeaseInfo {
            expires_at,
            ..held.lease.clone()
        };
        let wait = self.lock_wait();
        let sql = format!(
            "UPDATE batch_lease SET expires_at = $2 WHERE id = 1 AND holder = $1 AND {}",
            holds_lock()
        );
        let renew = sqlx::query(&sql)
            .bind(&renewed.holder)
            .bind(renewed.expires_at)
            .execute(&mut held.conn);
        match tokio::time::timeout(wait, renew).await {
            Ok(Ok(done)) if done.rows_affected() > 0 => {
                held.lease = renewed;
                Ok(true)
            }
            // The row names someone else now (cleared by a takeover): not ours, though the
            // lock stays held until release.
            Ok(Ok(_)) => Ok(false),
            // The session is lost or silent: so is the lock. Dropping the connection closes
            // it, should it still be there.
            Ok(Err(_)) | Err(_) => {
                *session = None;
                Ok(false)
            }
        }
    }

    async fn release_batch_lease(&self, holder: &str) -> Result<(), StoreError> {
        let ours = {
            let mut session = self.batch_lock.lock().await;
            match session.as_ref() {
                Some(held) if held.lease.holder == holder => session.take(),
                _ => None,
            }
        };
        sqlx::query("DELETE FROM batch_lease WHERE id = 1 AND holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        if let Some(mut held) = ours {
            // Closing the session ends the lock too; unlocking first says so at once.
            let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(BATCH_LOCK)
                .execute(&mut held.conn);
            let _ = tokio::time::timeout(self.lock_wait(), unlock).await;
            let _ = sqlx::Connection::close(held.conn).await;
        }
        Ok(())
    }
}

/// The fence of a leader's write, run inside the write's own transaction: fails with
/// [`StoreError::Fenced`] unless the lease row still names `leader` (None: an unfenced write).
/// The row is read `FOR SHARE`, so a new leader's claim to it (which rewrites the row) waits
/// for this transaction to end, and one made before makes this check fail.
pub(super) async fn check_leader(
    conn: &mut PgConnection,
    leader: Option<&str>,
) -> Result<(), StoreError> {
    let Some(leader) = leader else {
        return Ok(());
    };
    let holder: Option<String> =
        sqlx::query_scalar("SELECT holder FROM batch_lease WHERE id = 1 FOR SHARE")
            .fetch_optional(conn)
            .await?;
    crate::store::fence(leader, holder)
}
