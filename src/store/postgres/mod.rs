//! The shared backend: one PostgreSQL database that delivery workers and batch daemons on
//! several hosts use at once. Claims take row locks and skip what another worker holds;
//! instants are `timestamptz`; entries carry the transaction that inserted them, so a run
//! claims only what no open transaction can still add to (see `sql/postgres/0001_core.sql`).

mod batch;
mod bounces;
mod calendar;
mod dates;
mod delivery;
mod history;
mod ingest;
pub use ingest::PgIngest;
mod leases;
mod outbox;
mod report;
mod retention;
mod rows;
mod status;
mod suppressions;
mod unsubscribe;
mod watches;
mod withhold;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool, Postgres, Transaction};

use crate::circuits::CIRCUITS;
use crate::store::{Schema, StoreError};

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The session holding the batch lock while this process leads the batch (see `leases`).
    batch_lock: Arc<tokio::sync::Mutex<Option<leases::LockSession>>>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DATABASE`); the database
    /// must exist. `acquire_timeout` bounds the wait for a connection.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()?
            // As on SQLite: a batch holds its match query open while it renders, so sqlx's
            // slow-statement warning would measure our work; runs report their own timings.
            .disable_statement_logging()
            .application_name("mcap-notify");
        // One connection first, so that a server that is down or refuses us says why
        // ("connection refused", an unknown role) at once: the pool would retry until its
        // acquire timeout and then say only that it timed out.
        let first = tokio::time::timeout(acquire_timeout, options.connect()).await;
        match first {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no answer from the server within {} s",
                        acquire_timeout.as_secs()
                    ),
                ))))
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(PgStore {
            pool,
            batch_lock: Arc::default(),
        })
    }

    /// The pool, for tests that inspect tables directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// A read-only transaction whose statements all see one snapshot (taken at its first
    /// statement): PostgreSQL's default isolation gives each statement a snapshot of its own,
    /// so figures read one after another in it would not agree.
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?)
    }
}

/// Adds `n` to an event counter (see `counter_totals`), in the caller's transaction, so the
/// count moves with the event it counts. The row stays locked until the transaction ends: a
/// transaction that bumps several counters goes through [`CounterBumps`] instead.
pub(super) async fn bump_counter(
    conn: &mut PgConnection,
    name: &str,
    label: &str,
    n: u64,
) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO counter_totals (name, label, value) VALUES ($1, $2, $3)
         ON CONFLICT (name, label) DO UPDATE SET value = counter_totals.value + excluded.value",
    )
    .bind(name)
    .bind(label)
    .bind(n as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counter increments gathered over a transaction and written at its end in one order (by
/// name, then label): two transactions bumping the same counters then lock their rows in the
/// same order, and never each wait for the other.
#[derive(Debug, Default)]
pub(super) struct CounterBumps(BTreeMap<(&'static str, String), u64>);

impl CounterBumps {
    pub(super) fn add(&mut self, name: &'static str, label: &str, n: u64) {
        *self.0.entry((name, label.to_string())).or_default() += n;
    }

    pub(super) async fn write(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        for ((name, label), n) in self.0 {
            bump_counter(conn, name, &label, n).await?;
        }
        Ok(())
    }
}

impl Schema for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx holds an advisory lock while it migrates: processes starting together on
        // several hosts apply each migration once.
        sqlx::migrate!("sql/postgres").run(&self.pool).await?;
        let mut tx = self.begin().await?;
        for circuit in CIRCUITS {
            sqlx::query(
                "INSERT INTO courts (court_id, name, mcap) VALUES ($1, $2, true)
                 ON CONFLICT (court_id) DO NOTHING",
            )
            .bind(circuit.court_id())
            .bind(circuit.court_name())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
