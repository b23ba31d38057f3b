//! The shared backend: one PostgreSQL database that delivery workers and batch daemons on
//! several hosts use at once. Claims take row locks and skip what another worker holds;
//! instants are `timestamptz`; entries carry the transaction that inserted them, so a run
//! claims only what no open transaction can still add to (see `sql/postgres/0001_core.sql`).

mod batch;
mod calendar;
mod leases;
mod scopes;
mod successes;
mod withhold;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool, Postgres, Transaction};

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
