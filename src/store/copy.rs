//! Moving house: a SQLite deployment copied whole into an empty PostgreSQL database, so that an
//! operator changes backend without sending anything again or losing anything. Every table the
//! two schemas share is copied with its ids (the watermark, runs, ledger, outbox with bodies,
//! bounces, suppressions, outages and the rest), read from one SQLite snapshot and written in
//! one PostgreSQL transaction that checks every table's count before it commits.
//!
//! The copy is driven by PostgreSQL's catalogue rather than a list kept by hand: the tables in
//! the order their foreign keys need, and for each column its type, which says how SQLite's
//! value converts (microseconds to `timestamptz`, 0/1 to `boolean`). A column SQLite has and
//! PostgreSQL lacks stops the copy before anything is written, since it would be lost.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{PgPool, Postgres, Row, SqlitePool, Transaction};

use super::rows::StoredInstant;
use super::{PgStore, SqliteStore, StoreError};

/// Rows written per statement.
const ROWS_PER_BATCH: usize = 5_000;

/// Tables the migrations fill on an empty database: emptied before the copy instead of
/// counting as data already there.
const SEEDED: [&str; 3] = ["courts", "watermark", "counter_totals"];

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the target database is not empty: table `{table}` holds {rows} row(s); \
         migrate-data copies into a new, empty database only"
    )]
    TargetNotEmpty { table: String, rows: i64 },
    #[error(
        "column `{table}.{column}` of the SQLite database has no place in the PostgreSQL \
         schema; nothing was copied"
    )]
    ColumnMissing { table: String, column: String },
    #[error("table `{table}`: column `{column}` has type {kind}, which the copy cannot convert")]
    UnknownType {
        table: String,
        column: String,
        kind: String,
    },
    #[error("table `{table}` of the SQLite database has no place in the PostgreSQL schema")]
    TableMissing { table: String },
    #[error("table `{table}`: {copied} row(s) arrived of {read} read; nothing was kept")]
    CountMismatch {
        table: String,
        read: u64,
        copied: u64,
    },
    #[error(
        "the SQLite database is in use: {0}; stop every timer and service that uses it \
         (batch, deliver, the daemon, serve, bounce and unsubscribe mail jobs) and copy again"
    )]
    SourceInUse(String),
    #[error("table `{table}`: {source}; nothing was copied")]
    InTable {
        table: String,
        #[source]
        source: StoreError,
    },
    #[error("the foreign keys of the PostgreSQL schema form a cycle through `{0}`")]
    Cycle(String),
    #[error("table `{table}`, column `{column}`: {reason}")]
    BadValue {
        table: String,
        column: String,
        reason: String,
    },
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(StoreError::Database(e))
    }
}

/// One table copied: how many rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopied {
    pub table: String,
    pub rows: u64,
}

/// How a PostgreSQL column's values are read from SQLite and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Boolean,
    Instant,
    Text,
    Bytes,
}

impl Kind {
    fn of(pg_type: &str) -> Option<Kind> {
        Some(match pg_type {
            "bigint" | "integer" | "smallint" => Kind::Integer,
            "boolean" => Kind::Boolean,
            "timestamp with time zone" => Kind::Instant,
            "text" | "character varying" => Kind::Text,
            "bytea" => Kind::Bytes,
            _ => return None,
        })
    }

    fn array_type(self) -> &'static str {
        match self {
            Kind::Integer => "bigint[]",
            Kind::Boolean => "boolean[]",
            Kind::Instant => "timestamptz[]",
            Kind::Text => "text[]",
            Kind::Bytes => "bytea[]",
        }
    }
}

/// A column of values gathered for one batch.
enum Values {
    Integer(Vec<Option<i64>>),
    Boolean(Vec<Option<bool>>),
    Instant(Vec<Option<DateTime<Utc>>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Values {
    fn new(kind: Kind) -> Values {
        match kind {
            Kind::Integer => Values::Integer(Vec::new()),
            Kind::Boolean => Values::Boolean(Vec::new()),
            Kind::Instant => Values::Instant(Vec::new()),
            Kind::Text => Values::Text(Vec::new()),
            Kind::Bytes => Values::Bytes(Vec::new()),
        }
    }

    /// Reads column `index` of a SQLite row into the batch.
    fn push(&mut self, row: &sqlx::sqlite::SqliteRow, index: usize) -> Result<(), String> {
        let fail = |e: sqlx::Error| e.to_string();
        match self {
            Values::Integer(v) => v.push(row.try_get(index).map_err(fail)?),
            Values::Boolean(v) => {
                let n: Option<i64> = row.try_get(index).map_err(fail)?;
                v.push(n.map(|n| n != 0));
            }
            Values::Instant(v) => {
                let us: Option<i64> = row.try_get(index).map_err(fail)?;
                let at = us
                    .map(StoredInstant::into_instant)
                    .transpose()
                    .map_err(|e| e.to_string())?;
                v.push(at);
            }
            Values::Text(v) => v.push(row.try_get(index).map_err(fail)?),
            Values::Bytes(v) => v.push(row.try_get(index).map_err(fail)?),
        }
        Ok(())
    }

    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        match self {
            Values::Integer(v) => query.bind(v),
            Values::Boolean(v) => query.bind(v),
            Values::Instant(v) => query.bind(v),
            Values::Text(v) => query.bind(v),
            Values::Bytes(v) => query.bind(v),
        }
    }
}

/// What the copy knows of one table: the shared columns with their kinds, and its identity
/// column if it has one.
struct TablePlan {
    name: String,
    columns: Vec<(String, Kind)>,
    identity: Option<String>,
}

/// Copies everything in `from` into the empty database `to`, calling `progress(table, rows)`
/// as rows arrive; both are migrated first. Nothing is kept unless every table's count agrees.
pub async fn copy_sqlite_to_postgres(
    from: &SqliteStore,
    to: &PgStore,
    mut progress: impl FnMut(&str, u64),
) -> Result<Vec<TableCopied>, CopyError> {
    let (source, target) = (from.pool(), to.pool());
    let sqlite_tables = sqlite_columns(source).await?;
    let plans = plan(target, &sqlite_tables).await?;
    // One snapshot of the source: a deferred transaction reads one state of a WAL database
    // however much is written meanwhile.
    let mut read = source.begin().await?;
    refuse_if_in_use(&mut read).await?;
    let mut tx = target.begin().await?;
    refuse_unless_empty(&mut tx, &plans).await?;
    for table in SEEDED {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut copied = Vec::new();
    for plan in &plans {
        let rows = copy_table(&mut read, &mut tx, plan, &mut progress)
            .await
            .map_err(|e| match e {
                CopyError::Store(source) => CopyError::InTable {
                    table: plan.name.clone(),
                    source,
                },
                other => other,
            })?;
        let arrived: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", plan.name))
            .fetch_one(&mut *tx)
            .await?;
        if arrived as u64 != rows {
            return Err(CopyError::CountMismatch {
                table: plan.name.clone(),
                read: rows,
                copied: arrived.max(0) as u64,
            });
        }
        if let Some(column) = &plan.identity {
            // The next id PostgreSQL hands out follows the highest copied.
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)",
                table = plan.name
            ))
            .execute(&mut *tx)
            .await?;
        }
        copied.push(TableCopied {
            table: plan.name.clone(),
            rows,
        });
    }
    tx.commit().await?;
    read.rollback().await?;
    // The planner's statistics for the new rows, so the first runs do not plan as if the
    // tables were empty.
    sqlx::query("ANALYZE").execute(target).await?;
    Ok(copied)
}

/// Refuses a source that a process is working on: a batch lease not yet expired, or messages
/// a delivery worker has claimed. What such a process writes after the copy's snapshot would
/// be lost to PostgreSQL, and a message it is sending would be sent again from there.
async fn refuse_if_in_use(read: &mut Transaction<'static, sqlx::Sqlite>) -> Result<(), CopyError> {
    let now = chrono::Utc::now().timestamp_micros();
    let leader: Option<(String, i64, i64)> =
        sqlx::query_as("SELECT holder, pid, expires_at FROM batch_lease WHERE expires_at > ?")
            .bind(now)
            .fetch_optional(&mut **read)
            .await
            .map_err(StoreError::from)?;
    if let Some((holder, pid, until)) = leader {
        let until = chrono::DateTime::from_timestamp_micros(until)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        return Err(CopyError::SourceInUse(format!(
            "a batch run holds its lease ({holder}, pid {pid}; a lease left by a killed \
             process ends at {until})"
        )));
    }
    let claimed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE lease_owner IS NOT NULL AND lease_until > ?",
    )
    .bind(now)
    .fetch_one(&mut **read)
    .await
    .map_err(StoreError::from)?;
    if claimed > 0 {
        return Err(CopyError::SourceInUse(format!(
            "a delivery worker has {claimed} message(s) claimed"
        )));
    }
    Ok(())
}

/// Each SQLite table (but sqlx's own and SQLite's) with its columns.
async fn sqlite_columns(pool: &SqlitePool) -> Result<BTreeMap<String, Vec<String>>, CopyError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut out = BTreeMap::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(&table)
                .fetch_all(pool)
                .await?;
        out.insert(table, columns);
    }
    Ok(out)
}

/// The tables to copy, parents before the tables whose foreign keys name them.
async fn plan(
    target: &PgPool,
    sqlite: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<TablePlan>, CopyError> {
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text,
                c.is_identity = 'YES'
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
           AND c.table_name <> '_sqlx_migrations'
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(target)
    .await?;
    let mut pg: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    for (table, column, kind, identity) in columns {
        pg.entry(table).or_default().push((column, kind, identity));
    }
    let mut plans = BTreeMap::new();
    for (table, sqlite_columns) in sqlite {
        let Some(pg_columns) = pg.get(table) else {
            return Err(CopyError::TableMissing {
                table: table.clone(),
            });
        };
        let mut plan = TablePlan {
            name: table.clone(),
            columns: Vec::new(),
            identity: None,
        };
        for column in sqlite_columns {
            let Some((_, kind, identity)) = pg_columns.iter().find(|(c, _, _)| c == column) else {
                return Err(CopyError::ColumnMissing {
                    table: table.clone(),
                    column: column.clone(),
                });
            };
            let kind = Kind::of(kind).ok_or_else(|| CopyError::UnknownType {
                table: table.clone(),
                column: column.clone(),
                kind: kind.clone(),
            })?;
            if *identity {
                plan.identity = Some(column.clone());
            }
            plan.columns.push((column.clone(), kind));
        }
        plans.insert(table.clone(), plan);
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT c.conrelid::regclass::text, c.confrelid::regclass::text
         FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
    )
    .fetch_all(target)
    .await?;
    parents_first(plans, &edges)
}

/// Orders the tables so that every table comes after those it refers to.
fn parents_first(
    mut plans: BTreeMap<String, TablePlan>,
    edges: &[(String, String)],
) -> Result<Vec<TablePlan>, CopyError> {
    let mut ordered = Vec::new();
    let mut placed = BTreeSet::new();
    while !plans.is_empty() {
        let ready: Vec<String> = plans
            .keys()
            .filter(|table| {
                edges.iter().all(|(child, parent)| {
                    child != *table
                        || parent == *table
                        || placed.contains(parent)
                        || !plans.contains_key(parent)
                })
            })
            .cloned()
            .collect();
        let Some(first) = plans.keys().next().cloned() else {
            break;
        };
        if ready.is_empty() {
            return Err(CopyError::Cycle(first));
        }
        for table in ready {
            placed.insert(table.clone());
            ordered.push(plans.remove(&table).expect("a table still to place"));
        }
    }
    Ok(ordered)
}

/// Refuses a target holding data: any row outside the tables the migrations seed, a court
/// that is not built in, or a watermark that moved.
async fn refuse_unless_empty(
    tx: &mut Transaction<'static, Postgres>,
    plans: &[TablePlan],
) -> Result<(), CopyError> {
    for plan in plans {
        let filter = match plan.name.as_str() {
            "watermark" => " WHERE last_seq <> 0",
            "counter_totals" => " WHERE value <> 0",
            "courts" => " WHERE NOT mcap OR court_id NOT LIKE 'CT%'",
            _ => "",
        };
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}{filter}", plan.name))
            .fetch_one(&mut **tx)
            .await?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty {
                table: plan.name.clone(),
                rows,
            });
        }
    }
    Ok(())
}

/// Copies one table in batches; returns how many rows were read.
async fn copy_table(
    read: &mut Transaction<'static, sqlx::Sqlite>,
    tx: &mut Transaction<'static, Postgres>,
    plan: &TablePlan,
    progress: &mut impl FnMut(&str, u64),
) -> Result<u64, CopyError> {
    let names: Vec<&str> = plan.columns.iter().map(|(c, _)| c.as_str()).collect();
    let select = format!(
        "SELECT {} FROM {} ORDER BY rowid",
        names.join(", "),
        plan.name
    );
    let unnest: Vec<String> = plan
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{}", i + 1, kind.array_type()))
        .collect();
    let overriding = if plan.identity.is_some() {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let insert = format!(
        "INSERT INTO {} ({}){overriding} SELECT * FROM UNNEST({})",
        plan.name,
        names.join(", "),
        unnest.join(", ")
    );
    let fresh = || -> Vec<Values> { plan.columns.iter().map(|(_, k)| Values::new(*k)).collect() };
    let mut batch = fresh();
    let mut in_batch = 0usize;
    let mut total = 0u64;
    let mut rows = sqlx::query(&select).fetch(&mut **read);
    while let Some(row) = rows.try_next().await? {
        for (index, values) in batch.iter_mut().enumerate() {
            values
                .push(&row, index)
                .map_err(|reason| CopyError::BadValue {
                    table: plan.name.clone(),
                    column: plan.columns[index].0.clone(),
                    reason,
                })?;
        }
        in_batch += 1;
        if in_batch == ROWS_PER_BATCH {
            write_batch(tx, &insert, std::mem::replace(&mut batch, fresh())).await?;
            total += in_batch as u64;
            progress(&plan.name, total);
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        write_batch(tx, &insert, batch).await?;
        total += in_batch as u64;
        progress(&plan.name, total);
    }
    Ok(total)
}

async fn write_batch(
    tx: &mut Transaction<'static, Postgres>,
    insert: &str,
    batch: Vec<Values>,
) -> Result<(), CopyError> {
    let mut query = sqlx::query(insert);
    for values in batch {
        query = values.bind(query);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> (String, TablePlan) {
        (
            name.to_string(),
            TablePlan {
                name: name.to_string(),
                columns: Vec::new(),
                identity: None,
            },
        )
    }

    fn edge(child: &str, parent: &str) -> (String, String) {
        (child.to_string(), parent.to_string())
    }

    #[test]
    fn parents_come_before_the_tables_that_name_them() {
        let plans = ["outbox", "runs", "ledger", "cases", "courts"]
            .into_iter()
            .map(plan)
            .collect();
        let edges = [
            edge("ledger", "outbox"),
            edge("outbox", "runs"),
            edge("cases", "courts"),
            edge("runs", "runs"),
        ];
        let order: Vec<String> = parents_first(plans, &edges)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        let at = |t: &str| order.iter().position(|o| o == t).unwrap();
        assert!(at("runs") < at("outbox") && at("outbox") < at("ledger"));
        assert!(at("courts") < at("cases"));
        assert_eq!(order.len(), 5);
    }

    #[test]
    fn a_cycle_is_named() {
        let plans = ["a", "b"].into_iter().map(plan).collect();
        let edges = [edge("a", "b"), edge("b", "a")];
        assert!(matches!(
            parents_first(plans, &edges),
            Err(CopyError::Cycle(t)) if t == "a"
        ));
    }
}
