//! The embedded backend: one SQLite file in WAL mode, with a busy timeout so that a reader and
//! a writer (the batch streams while it commits) never trip over each other.

mod batch;
mod bounces;
mod calendar;
mod dates;
mod delivery;
mod history;
mod ingest;
pub use ingest::SqliteIngest;
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

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::circuits::CIRCUITS;
use crate::store::{Schema, StoreError};

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file and its identity (device, inode) when it was opened.
    file: Option<(std::path::PathBuf, (u64, u64))>,
}

fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true)
            // 32 MiB of page cache a connection (SQLite's default is 2 MiB): a run's inserts
            // into the ledger and the outbox's indexes land all over their B-trees, and each
            // page missing from the cache is a read from the file.
            .pragma("cache_size", "-32768")
            // A checkpoint every 64 MiB of WAL rather than every 4 MiB: each one syncs the
            // database file, and a run's commits write a few MiB apiece.
            .pragma("wal_autocheckpoint", "16384")
            // Statements that write a run's matched pairs or a whole chunk of digests take
            // long by design, so sqlx's slow-statement warning would measure our work, not the
            // database's; the run reports its own stage timings instead.
            .disable_statement_logging();
        let path = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .connect_with(options)
            .await?;
        let file = file_identity(&path).map(|id| (path, id));
        Ok(SqliteStore { pool, file })
    }

    /// Opens an existing database only to read it, changing nothing in its file (no schema
    /// upgrade, no journal mode set): what `migrate-data` copies from.
    pub async fn connect_read_only(url: &str, busy_timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(false)
            .read_only(true)
            .busy_timeout(busy_timeout)
            .disable_statement_logging();
        let path = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        let file = file_identity(&path).map(|id| (path, id));
        Ok(SqliteStore { pool, file })
    }

    /// Where this database's schema stands against this version's.
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        self.schema_against(&sqlx::migrate!("sql/sqlite")).await
    }

    /// Why the database this store opened is no longer the file at its path (removed or
    /// replaced: open connections would go on reading the old file while any new command
    /// would create an empty one); None while it still is.
    pub fn file_gone(&self) -> Option<String> {
        let (path, opened) = self.file.as_ref()?;
        match file_identity(path) {
            None => Some(format!("the database file {} is gone", path.display())),
            Some(now) if now != *opened => Some(format!(
                "the database file {} was replaced since it was opened",
                path.display()
            )),
            Some(_) => None,
        }
    }

    /// The pool, for tests that inspect tables directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether sqlx's migration table is there: the mark of a database mcap-notify made.
    async fn has_migrations(&self) -> Result<bool, StoreError> {
        let table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(table.is_some())
    }

    /// Compares the migrations applied to the ones `migrator` holds.
    async fn schema_against(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<SchemaState, StoreError> {
        if !self.has_migrations().await? {
            return Ok(SchemaState::Foreign);
        }
        let mut applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut wanted: Vec<(i64, Vec<u8>)> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        applied.sort();
        wanted.sort();
        let newest_known = wanted.last().map_or(0, |(version, _)| *version);
        Ok(if applied == wanted {
            SchemaState::Current
        } else if applied.iter().any(|(version, _)| *version > newest_known) {
            SchemaState::Newer
        } else {
            SchemaState::Older
        })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        // IMMEDIATE takes the write lock up front, so a transaction never fails half-way while
        // upgrading from a stale read snapshot.
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Adds `n` to an event counter (see `counter_totals`), in the caller's transaction, so the
/// count moves with the event it counts.
pub(super) async fn bump_counter(
    conn: &mut SqliteConnection,
    name: &str,
    label: &str,
    n: u64,
) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO counter_totals (name, label, value) VALUES (?, ?, ?)
         ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value",
    )
    .bind(name)
    .bind(label)
    .bind(n as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Where a database file's schema stands against this version of mcap-notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// Not a database mcap-notify made (no migration table).
    Foreign,
    /// Every migration of this version applied, and nothing else.
    Current,
    /// Made by an older version (or one whose migrations differ): this version can upgrade it.
    Older,
    /// Holds migrations this version does not know: made by a newer mcap-notify.
    Newer,
}

impl Schema for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate!("sql/sqlite");
        // Every command migrates; one that finds the schema current must not wait for the
        // write lock (a long ingest or run may hold it), so it only reads.
        if self.schema_against(&migrator).await? == SchemaState::Current {
            return Ok(());
        }
        migrator.run(&self.pool).await?;
        let mut tx = self.begin_write().await?;
        for circuit in CIRCUITS {
            sqlx::query("INSERT OR IGNORE INTO courts (court_id, name, mcap) VALUES (?, ?, 1)")
                .bind(circuit.court_id())
                .bind(circuit.court_name())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
