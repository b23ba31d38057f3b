//! The embedded backend: one SQLite file in WAL mode, with a busy timeout so that a reader and
//! a writer (the batch streams while it commits) never trip over each other.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::{
    AccountStanding, AttemptResult, AttemptRow, BounceRecord, ClaimedMessage, DropCounts,
    HeldAccount, HeldDigest, LeaseInfo, Mail, MetricsSnapshot, NewBounceMail, NewOutage, OpenedRun,
    OutboxEntry, OutboxRef, PreviewRange, PruneCounts, QueuedMessage, ReportRows, RunRecord,
    RunScope, RunTotals, StageTimings, StatusReport, StopSource, Store, StoreError, Suppression,
    UnmatchedBounce, UnsubscribeRecord, UnsubscribeTarget, Unsubscribed, Withheld,
};
use crate::circuits::CIRCUITS;
use crate::model::{MatchRow, SendOutcome, SuppressionReason};

mod ingest;

use ingest::SqliteIngest;

const MATCH_ROWS: &str = include_str!("../../sql/sqlite/queries/match_rows.sql");
const UNNOTIFIABLE_PAIRS: &str = include_str!("../../sql/sqlite/queries/unnotifiable_pairs.sql");
const DROP_COUNTS: &str = include_str!("../../sql/sqlite/queries/drop_counts.sql");
const METRICS_RUN_TOTALS: &str = include_str!("../../sql/sqlite/queries/metrics_run_totals.sql");
const METRICS_RUNS_BY_OUTCOME: &str =
    include_str!("../../sql/sqlite/queries/metrics_runs_by_outcome.sql");
const METRICS_STAGE_TIMES: &str = include_str!("../../sql/sqlite/queries/metrics_stage_times.sql");
const METRICS_LAG: &str = include_str!("../../sql/sqlite/queries/metrics_lag.sql");

/// Instants are stored as microseconds since the epoch.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

/// A suppression as read: (email, reason, evidence, created_at).
pub(super) fn suppression_from_row(
    (email, reason, evidence, at): (String, String, String, i64),
) -> Result<Suppression, StoreError> {
    Ok(Suppression {
        email,
        reason,
        evidence,
        created_at: instant(at)?,
    })
}

pub(super) fn opt_instant(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(instant).transpose()
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

/// The bounds of a scope as the two query parameters: the claiming run (NULL for the unclaimed
/// entries) and the highest seq.
fn scope_params(scope: RunScope) -> (Option<i64>, i64) {
    match scope {
        RunScope::Claimed { run_id } => (Some(run_id), i64::MAX),
        RunScope::Preview { up_to_seq } => (None, up_to_seq),
    }
}

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
            // A batch keeps its match query open while it renders and commits, so sqlx's
            // slow-statement warning would measure our work, not the database's; the run
            // reports its own stage timings instead.
            .disable_statement_logging();
        let path = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .connect_with(options)
            .await?;
        let file = file_identity(&path).map(|id| (path, id));
        Ok(SqliteStore { pool, file })
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

    /// Whether every migration has been applied, as it is now, and nothing else.
    async fn schema_is_current(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<bool, StoreError> {
        let table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if table.is_none() {
            return Ok(false);
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
        Ok(applied == wanted)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        // IMMEDIATE takes the write lock up front, so a transaction never fails half-way while
        // upgrading from a stale read snapshot.
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[derive(sqlx::FromRow)]
struct MatchRecord {
    account_id: String,
    email: String,
    email_verified: bool,
    suppressed: bool,
    subscription_id: i64,
    case_number: String,
    caption: String,
    court_id: String,
    court_name: String,
    entry_seq: i64,
    entry_id: String,
    code: String,
    description: String,
    text: String,
    filed_by: String,
    posted_at: i64,
}

impl TryFrom<MatchRecord> for MatchRow {
    type Error = StoreError;
    fn try_from(r: MatchRecord) -> Result<Self, StoreError> {
        Ok(MatchRow {
            account_id: r.account_id,
            email: r.email,
            email_verified: r.email_verified,
            suppressed: r.suppressed,
            subscription_id: r.subscription_id,
            case_number: r.case_number,
            caption: r.caption,
            court_id: r.court_id,
            court_name: r.court_name,
            entry_seq: r.entry_seq,
            entry_id: r.entry_id,
            code: r.code,
            description: r.description,
            text: r.text,
            filed_by: r.filed_by,
            posted_at: instant(r.posted_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    run_id: i64,
    status: String,
    skip_reason: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
    first_seq: Option<i64>,
    last_seq: Option<i64>,
    entries_claimed: i64,
    entries_notifiable: i64,
    pairs_matched: i64,
    digests_queued: i64,
    skipped_unverified: i64,
    skipped_suppressed: i64,
    accounts_held: i64,
    dropped_voided: i64,
    dropped_confidential: i64,
    dropped_excluded_court: i64,
    dropped_excluded_type: i64,
    ticks: i64,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        let n = |v: i64| v.max(0) as u64;
        Ok(RunRecord {
            run_id: r.run_id,
            status: r.status,
            skip_reason: r.skip_reason,
            started_at: instant(r.started_at)?,
            finished_at: opt_instant(r.finished_at)?,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            entries_claimed: n(r.entries_claimed),
            totals: RunTotals {
                drops: DropCounts {
                    voided: n(r.dropped_voided),
                    confidential: n(r.dropped_confidential),
                    excluded_court: n(r.dropped_excluded_court),
                    excluded_case_type: n(r.dropped_excluded_type),
                    notifiable: n(r.entries_notifiable),
                },
                pairs_matched: n(r.pairs_matched),
                digests_queued: n(r.digests_queued),
                skipped_unverified: n(r.skipped_unverified),
                skipped_suppressed: n(r.skipped_suppressed),
                accounts_held: n(r.accounts_held),
            },
            ticks: n(r.ticks),
        })
    }
}

/// The row of `metrics_run_totals.sql`.
#[derive(sqlx::FromRow)]
struct RunSumsRow {
    entries_claimed: i64,
    entries_notifiable: i64,
    dropped_voided: i64,
    dropped_confidential: i64,
    dropped_excluded_court: i64,
    dropped_excluded_type: i64,
    pairs_matched: i64,
    digests_queued: i64,
    skipped_unverified: i64,
    skipped_suppressed: i64,
    accounts_held: i64,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    outbox_id: i64,
    attempts: i64,
    lifetime_from: i64,
    account_id: String,
    recipient: String,
    envelope_from: String,
    message_id: String,
    subject: String,
    raw: Vec<u8>,
}

impl TryFrom<ClaimRow> for ClaimedMessage {
    type Error = StoreError;
    fn try_from(r: ClaimRow) -> Result<Self, StoreError> {
        Ok(ClaimedMessage {
            outbox_id: r.outbox_id,
            attempts: r.attempts.max(0) as u32,
            lifetime_from: instant(r.lifetime_from)?,
            mail: Mail {
                account_id: r.account_id,
                recipient: r.recipient,
                envelope_from: r.envelope_from,
                message_id: r.message_id,
                subject: r.subject,
                raw: r.raw,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct OutboxEntryRow {
    outbox_id: i64,
    account_id: String,
    recipient: String,
    message_id: String,
    subject: String,
    state: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    policy_flag: bool,
    finished_at: Option<i64>,
}

const OUTBOX_ENTRY_COLUMNS: &str = "outbox_id, account_id, recipient, message_id, subject, state,
    attempts, created_at, next_attempt_at, last_error, policy_flag, finished_at";

impl TryFrom<OutboxEntryRow> for OutboxEntry {
    type Error = StoreError;
    fn try_from(r: OutboxEntryRow) -> Result<Self, StoreError> {
        Ok(OutboxEntry {
            outbox_id: r.outbox_id,
            account_id: r.account_id,
            recipient: r.recipient,
            message_id: r.message_id,
            subject: r.subject,
            state: r.state,
            attempts: r.attempts.max(0) as u32,
            created_at: instant(r.created_at)?,
            next_attempt_at: instant(r.next_attempt_at)?,
            last_error: r.last_error,
            policy_flag: r.policy_flag,
            finished_at: opt_instant(r.finished_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRefRow {
    outbox_id: i64,
    account_id: String,
    recipient: String,
    message_id: String,
}

impl From<OutboxRefRow> for OutboxRef {
    fn from(r: OutboxRefRow) -> Self {
        OutboxRef {
            outbox_id: r.outbox_id,
            account_id: r.account_id,
            recipient: r.recipient,
            message_id: r.message_id,
        }
    }
}

/// Records a bounce; None for a send-time refusal already recorded for its message and verdict.
async fn insert_bounce(
    conn: &mut SqliteConnection,
    b: &BounceRecord,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO bounces (at, email, verdict, status, detail, outbox_id, bounce_mail_id, proven)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (outbox_id, verdict) WHERE bounce_mail_id IS NULL DO NOTHING
         RETURNING bounce_id",
    )
    .bind(micros(b.at))
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
        bump_counter(conn, "bounces", b.verdict.as_str(), 1).await?;
    }
    Ok(id)
}

/// Withholds what may no longer be sent from queued messages not under a live lease, or from
/// the one message `only` (its worker's check before sending found it).
pub(super) async fn withhold_in(
    tx: &mut Transaction<'static, Sqlite>,
    now: DateTime<Utc>,
    only: Option<i64>,
) -> Result<Withheld, StoreError> {
    let pairs: Vec<(i64, String, i64)> = sqlx::query_as(UNNOTIFIABLE_PAIRS)
        .bind(micros(now))
        .bind(only)
        .fetch_all(&mut **tx)
        .await?;
    let mut done = Withheld::default();
    let mut outbox_ids: Vec<i64> = pairs.iter().map(|(id, _, _)| *id).collect();
    outbox_ids.dedup();
    for (outbox_id, reason, seq) in &pairs {
        sqlx::query(
            "UPDATE notification_ledger SET withheld_reason = ?, withheld_at = ?
                 WHERE outbox_id = ? AND entry_seq = ?",
        )
        .bind(reason)
        .bind(micros(now))
        .bind(outbox_id)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        done.pairs += 1;
    }
    for outbox_id in outbox_ids {
        let reasons: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT withheld_reason FROM notification_ledger
                 WHERE outbox_id = ? AND withheld_reason IS NOT NULL ORDER BY 1",
        )
        .bind(outbox_id)
        .fetch_all(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?, lease_owner = NULL,
                    lease_until = NULL, last_error = ?
                 WHERE outbox_id = ?",
        )
        .bind(micros(now))
        .bind(format!("withheld: {}", reasons.join(", ")))
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        let requeued = sqlx::query(
            "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at)
                 SELECT l.account_id, l.entry_seq, o.run_id,
                        'to be queued again: its digest was withheld', ?
                 FROM notification_ledger l JOIN outbox o ON o.outbox_id = l.outbox_id
                 WHERE l.outbox_id = ? AND l.withheld_reason IS NULL
                 ON CONFLICT (account_id, entry_seq) DO NOTHING",
        )
        .bind(micros(now))
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "DELETE FROM notification_ledger WHERE outbox_id = ? AND withheld_reason IS NULL",
        )
        .bind(outbox_id)
        .execute(&mut **tx)
        .await?;
        done.messages += 1;
        done.requeued += requeued.rows_affected();
    }
    Ok(done)
}

impl Store for SqliteStore {
    type Ingest<'a> = SqliteIngest;

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate!("sql/sqlite");
        // Every command migrates; one that finds the schema current must not wait for the
        // write lock (a long ingest or run may hold it), so it only reads.
        if self.schema_is_current(&migrator).await? {
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

    async fn begin_ingest(&self) -> Result<SqliteIngest, StoreError> {
        SqliteIngest::new(&self.pool).await
    }

    async fn open_run(
        &self,
        max_entries: u32,
        now: DateTime<Utc>,
    ) -> Result<OpenedRun, StoreError> {
        let mut tx = self.begin_write().await?;
        let unfinished: Option<(i64, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
            "SELECT run_id, first_seq, last_seq, entries_claimed FROM runs
             WHERE status = 'running' ORDER BY run_id LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((run_id, first_seq, last_seq, claimed)) = unfinished {
            let (digests, pairs): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(DISTINCT o.outbox_id), COUNT(l.outbox_id)
                 FROM outbox o LEFT JOIN notification_ledger l ON l.outbox_id = o.outbox_id
                 WHERE o.run_id = ?",
            )
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(OpenedRun {
                run_id,
                resumed: true,
                first_seq,
                last_seq,
                entries_claimed: claimed.max(0) as u64,
                queued_before: RunTotals {
                    digests_queued: digests.max(0) as u64,
                    pairs_matched: pairs.max(0) as u64,
                    ..RunTotals::default()
                },
            });
        }
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (status, started_at) VALUES ('running', ?) RETURNING run_id",
        )
        .bind(micros(now))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE docket_entries SET run_id = ?1 WHERE seq IN (
                SELECT seq FROM docket_entries WHERE run_id IS NULL ORDER BY seq LIMIT ?2)",
        )
        .bind(run_id)
        .bind(max_entries as i64)
        .execute(&mut *tx)
        .await?;
        let (first_seq, last_seq, claimed): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(seq), MAX(seq), COUNT(*) FROM docket_entries WHERE run_id = ?",
        )
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE runs SET first_seq = ?, last_seq = ?, entries_claimed = ? WHERE run_id = ?",
        )
        .bind(first_seq)
        .bind(last_seq)
        .bind(claimed)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(OpenedRun {
            run_id,
            resumed: false,
            first_seq,
            last_seq,
            entries_claimed: claimed.max(0) as u64,
            queued_before: RunTotals::default(),
        })
    }

    async fn preview_run(&self, max_entries: u32) -> Result<PreviewRange, StoreError> {
        let (first_seq, last_seq, entries): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(seq), MAX(seq), COUNT(*) FROM (
                SELECT seq FROM docket_entries WHERE run_id IS NULL ORDER BY seq LIMIT ?)",
        )
        .bind(max_entries as i64)
        .fetch_one(&self.pool)
        .await?;
        let unfinished_run: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_id) FROM runs WHERE status = 'running'")
                .fetch_one(&self.pool)
                .await?;
        Ok(PreviewRange {
            first_seq,
            last_seq,
            entries: entries.max(0) as u64,
            unfinished_run,
        })
    }

    async fn account_standing(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountStanding>, StoreError> {
        let row: Option<(String, bool, bool)> = sqlx::query_as(
            "SELECT a.email, a.email_verified,
                    EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email))
             FROM accounts a WHERE a.account_id = ?",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(email, email_verified, suppressed)| AccountStanding {
                email,
                email_verified,
                suppressed,
            }),
        )
    }

    async fn drop_counts(&self, scope: RunScope) -> Result<DropCounts, StoreError> {
        let (run_id, up_to) = scope_params(scope);
        let (total, voided, confidential, excluded_court, excluded_case_type): (
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(DROP_COUNTS)
            .bind(run_id)
            .bind(up_to)
            .fetch_one(&self.pool)
            .await?;
        let n = |v: i64| v.max(0) as u64;
        Ok(DropCounts {
            voided: n(voided),
            confidential: n(confidential),
            excluded_court: n(excluded_court),
            excluded_case_type: n(excluded_case_type),
            notifiable: n(total - voided - confidential - excluded_court - excluded_case_type),
        })
    }

    fn match_rows(&self, scope: RunScope) -> BoxStream<'_, Result<MatchRow, StoreError>> {
        let (run_id, up_to) = scope_params(scope);
        sqlx::query_as::<_, MatchRecord>(MATCH_ROWS)
            .bind(run_id)
            .bind(up_to)
            .fetch(&self.pool)
            .map_err(StoreError::from)
            .and_then(|r| async move { MatchRow::try_from(r) })
            .boxed()
    }

    async fn queue_digests(
        &self,
        run_id: i64,
        messages: &[QueuedMessage],
        held: &[HeldDigest],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if messages.is_empty() && held.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut ledger: Vec<(&str, i64, i64)> = Vec::new();
        for QueuedMessage {
            mail,
            entry_seqs,
            scope_key,
            subscription_ids,
        } in messages
        {
            let outbox_id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id,
                                     subject, state, created_at, lifetime_from, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?7) RETURNING outbox_id",
            )
            .bind(run_id)
            .bind(&mail.account_id)
            .bind(&mail.recipient)
            .bind(&mail.envelope_from)
            .bind(&mail.message_id)
            .bind(&mail.subject)
            .bind(micros(now))
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO outbox_bodies (outbox_id, raw) VALUES (?, ?)")
                .bind(outbox_id)
                .bind(&mail.raw)
                .execute(&mut *tx)
                .await?;
            super::sqlite_unsubscribe::record_scope(&mut tx, scope_key, subscription_ids, now)
                .await?;
            ledger.extend(
                entry_seqs
                    .iter()
                    .map(|&seq| (mail.account_id.as_str(), seq, outbox_id)),
            );
        }
        // Three parameters a row; SQLite allows 32766 per statement.
        for chunk in ledger.chunks(5_000) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO notification_ledger (account_id, entry_seq, outbox_id) ",
            );
            insert.push_values(chunk, |mut row, (account_id, seq, outbox_id)| {
                row.push_bind(*account_id)
                    .push_bind(*seq)
                    .push_bind(*outbox_id);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for (account_id, seq, _) in &ledger {
            sqlx::query("DELETE FROM held_pairs WHERE account_id = ? AND entry_seq = ?")
                .bind(account_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        for digest in held {
            for seq in &digest.entry_seqs {
                sqlx::query(
                    "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (account_id, entry_seq) DO UPDATE SET run_id = excluded.run_id,
                        reason = excluded.reason, held_at = excluded.held_at",
                )
                .bind(&digest.account_id)
                .bind(seq)
                .bind(run_id)
                .bind(&digest.reason)
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: i64,
        totals: &RunTotals,
        timings: &StageTimings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let d = &totals.drops;
        sqlx::query(
            "UPDATE runs SET status = 'done', finished_at = ?, entries_notifiable = ?,
                pairs_matched = ?, digests_queued = ?, skipped_unverified = ?,
                skipped_suppressed = ?, accounts_held = ?, dropped_voided = ?,
                dropped_confidential = ?,
                dropped_excluded_court = ?, dropped_excluded_type = ?,
                snapshot_ms = ?, filter_ms = ?, match_render_ms = ?, commit_ms = ?
             WHERE run_id = ?",
        )
        .bind(micros(now))
        .bind(d.notifiable as i64)
        .bind(totals.pairs_matched as i64)
        .bind(totals.digests_queued as i64)
        .bind(totals.skipped_unverified as i64)
        .bind(totals.skipped_suppressed as i64)
        .bind(totals.accounts_held as i64)
        .bind(d.voided as i64)
        .bind(d.confidential as i64)
        .bind(d.excluded_court as i64)
        .bind(d.excluded_case_type as i64)
        .bind(timings.snapshot_ms as i64)
        .bind(timings.filter_ms as i64)
        .bind(timings.match_render_ms as i64)
        .bind(timings.commit_ms as i64)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        super::sqlite_history::note_success(&mut tx, super::history::Job::Batch, now).await?;
        sqlx::query(
            "UPDATE watermark SET last_seq = MAX(last_seq,
                COALESCE((SELECT last_seq FROM runs WHERE run_id = ?), 0))
             WHERE id = 1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cancel_suppressed(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?, lease_owner = NULL,
                lease_until = NULL, last_error = 'address suppressed'
             WHERE state = 'queued' AND lower(recipient) IN (SELECT email FROM suppressions)",
        )
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn withhold_unnotifiable(&self, now: DateTime<Utc>) -> Result<Withheld, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = withhold_in(&mut tx, now, None).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET lease_owner = ?1, lease_until = ?2
             WHERE outbox_id IN (
                SELECT outbox_id FROM outbox
                WHERE state = 'queued' AND next_attempt_at <= ?3
                  AND (lease_until IS NULL OR (lease_until <= ?3 AND lease_owner <> ?1))
                  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(recipient))
                ORDER BY next_attempt_at, outbox_id LIMIT ?4)
             RETURNING outbox_id",
        )
        .bind(owner)
        .bind(micros(lease_until))
        .bind(micros(now))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "SELECT o.outbox_id, o.attempts, o.lifetime_from, o.account_id, o.recipient,
                    o.envelope_from, o.message_id, o.subject, b.raw
             FROM outbox o JOIN outbox_bodies b ON b.outbox_id = o.outbox_id
             WHERE o.lease_owner = ?1 AND o.outbox_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(owner)
        .bind(serde_json::to_string(&claimed).expect("ids serialise"))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut claimed = rows
            .into_iter()
            .map(ClaimedMessage::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|m| m.outbox_id);
        Ok(claimed)
    }

    async fn renew_lease(
        &self,
        owner: &str,
        outbox_id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET lease_until = ?1
             WHERE outbox_id = ?2 AND state = 'queued' AND lease_owner = ?3 AND lease_until > ?4
               AND NOT EXISTS (SELECT 1 FROM ledger_pairs_not_notifiable n
                               WHERE n.outbox_id = ?2)",
        )
        .bind(micros(lease_until))
        .bind(outbox_id)
        .bind(owner)
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let ours: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM outbox WHERE outbox_id = ? AND lease_owner = ? AND state = 'queued'",
            )
            .bind(outbox_id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            if ours.is_some() {
                // Still ours, so something in it may no longer be sent: withhold it now.
                withhold_in(&mut tx, now, Some(outbox_id)).await?;
            }
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_attempts(
        &self,
        owner: &str,
        results: &[AttemptResult],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // Nine parameters a row; SQLite allows 32766 per statement.
        for chunk in results.chunks(2_000) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO delivery_attempts (outbox_id, attempt, at, outcome, reply_code,
                                                status, detail) ",
            );
            // Numbered here, not from the claim: a message can be sent twice when a lease
            // expires under a slow send, and both attempts belong in its history.
            insert.push_values(chunk, |mut row, r| {
                row.push_bind(r.outbox_id)
                    .push_unseparated(", (SELECT COALESCE(MAX(a.attempt), 0) + 1 FROM delivery_attempts a WHERE a.outbox_id = ")
                    .push_bind_unseparated(r.outbox_id)
                    .push_unseparated(")")
                    .push_bind(micros(r.at))
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.reply_code.map(i64::from))
                    .push_bind(r.status.as_deref())
                    .push_bind(r.detail.as_str());
            });
            insert.build().execute(&mut *tx).await?;
            // The common case, sent, in one statement.
            let sent: Vec<&AttemptResult> = chunk
                .iter()
                .filter(|r| r.outcome == SendOutcome::Sent)
                .collect();
            if !sent.is_empty() {
                let mut update = QueryBuilder::<Sqlite>::new(
                    "UPDATE outbox SET state = 'sent', lease_owner = NULL, lease_until = NULL, \
                     attempts = attempts + 1, finished_at = ",
                );
                update.push_bind(micros(sent[0].at));
                // Sent is final: whoever else tried the message, it arrived.
                update.push(" WHERE state = 'queued' AND outbox_id IN (");
                let mut ids = update.separated(", ");
                for r in &sent {
                    ids.push_bind(r.outbox_id);
                }
                update.push(")");
                let sent = update.build().execute(&mut *tx).await?.rows_affected();
                bump_counter(&mut tx, "messages_sent", "", sent).await?;
            }
            for r in chunk.iter().filter(|r| r.outcome != SendOutcome::Sent) {
                let dead = r.retry_at.is_none();
                bump_counter(&mut tx, "delivery_failures", r.outcome.as_str(), 1).await?;
                let moved = sqlx::query(
                    "UPDATE outbox SET state = ?1, next_attempt_at = COALESCE(?2, next_attempt_at),
                        attempts = attempts + 1, last_error = ?3,
                        policy_flag = MAX(policy_flag, ?4), finished_at = ?5,
                        lease_owner = NULL, lease_until = NULL
                     WHERE outbox_id = ?6 AND state = 'queued' AND lease_owner = ?7",
                )
                .bind(if dead { "dead" } else { "queued" })
                .bind(r.retry_at.map(micros))
                .bind(&r.detail)
                .bind(r.outcome == SendOutcome::Policy)
                .bind(dead.then(|| micros(r.at)))
                .bind(r.outbox_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if dead {
                    bump_counter(&mut tx, "messages_dead", "", moved).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = ? AND state = 'queued'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxEntryRow> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox WHERE ?1 IS NULL OR state = ?1
             ORDER BY outbox_id DESC LIMIT ?2"
        ))
        .bind(state)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxEntry::try_from).collect()
    }

    async fn outbox_raw(&self, outbox_id: i64) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT b.raw FROM outbox o LEFT JOIN outbox_bodies b ON b.outbox_id = o.outbox_id
             WHERE o.outbox_id = ?",
        )
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(raw,)| raw))
    }

    async fn outbox_entry(
        &self,
        outbox_id: i64,
    ) -> Result<Option<(OutboxEntry, Vec<AttemptRow>)>, StoreError> {
        let row: Option<OutboxEntryRow> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox WHERE outbox_id = ?"
        ))
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        #[allow(clippy::type_complexity)]
        let attempts: Vec<(i64, i64, String, Option<i64>, Option<String>, String)> =
            sqlx::query_as(
                "SELECT attempt, at, outcome, reply_code, status, detail FROM delivery_attempts
                 WHERE outbox_id = ? ORDER BY attempt",
            )
            .bind(outbox_id)
            .fetch_all(&self.pool)
            .await?;
        let attempts = attempts
            .into_iter()
            .map(|(attempt, at, outcome, reply_code, status, detail)| {
                Ok(AttemptRow {
                    attempt: attempt.max(0) as u32,
                    at: instant(at)?,
                    outcome,
                    reply_code: reply_code.map(|c| c as u16),
                    status,
                    detail,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((OutboxEntry::try_from(row)?, attempts)))
    }

    async fn requeue_dead(
        &self,
        outbox_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?1, lifetime_from = ?1,
                finished_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE state = 'dead' AND (?2 IS NULL OR outbox_id = ?2)
               AND outbox_id IN (SELECT outbox_id FROM outbox_bodies)",
        )
        .bind(micros(now))
        .bind(outbox_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn prune(
        &self,
        cutoff: DateTime<Utc>,
        links_cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneCounts, StoreError> {
        const FINISHED: &str = "SELECT outbox_id FROM outbox
            WHERE state IN ('sent', 'dead', 'cancelled') AND finished_at < ?1";
        // A dry run does the same work and rolls it back, so its counts are the real ones.
        let mut tx = self.begin_write().await?;
        let attempts = sqlx::query(&format!(
            "DELETE FROM delivery_attempts WHERE outbox_id IN ({FINISHED})"
        ))
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        let bodies = sqlx::query(&format!(
            "DELETE FROM outbox_bodies WHERE outbox_id IN ({FINISHED})"
        ))
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        let scopes = sqlx::query("DELETE FROM unsubscribe_scopes WHERE created_at < ?1")
            .bind(micros(links_cutoff))
            .execute(&mut *tx)
            .await?;
        let bounce_mails = sqlx::query(
            "UPDATE bounce_mails SET raw = X'' WHERE received_at < ?1 AND length(raw) > 0",
        )
        .bind(micros(cutoff))
        .execute(&mut *tx)
        .await?;
        let counts = PruneCounts {
            message_bodies: bodies.rows_affected(),
            unsubscribe_scopes: scopes.rows_affected(),
            delivery_attempts: attempts.rows_affected(),
            bounce_mail_bodies: bounce_mails.rows_affected(),
        };
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(counts)
    }

    async fn store_bounce_mail(
        &self,
        mail: &NewBounceMail<'_>,
        bounces: &[BounceRecord],
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mail_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO bounce_mails (received_at, source, raw, matched, mail_key)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (mail_key) DO NOTHING RETURNING bounce_mail_id",
        )
        .bind(micros(mail.at))
        .bind(mail.source)
        .bind(mail.raw)
        .bind(mail.matched)
        .bind(mail.key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mail_id) = mail_id else {
            return Ok(None);
        };
        let mut ids = Vec::with_capacity(bounces.len());
        for bounce in bounces {
            let bounce = BounceRecord {
                bounce_mail_id: Some(mail_id),
                ..bounce.clone()
            };
            ids.push(insert_bounce(&mut tx, &bounce).await?.ok_or_else(|| {
                StoreError::Corrupt("a bounce of a new bounce mail was already recorded".into())
            })?);
        }
        tx.commit().await?;
        Ok(Some(ids))
    }

    async fn record_bounce(&self, b: &BounceRecord) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_bounce(&mut tx, b).await?;
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
             WHERE email = ? AND verdict = 'soft' AND proven = 1 AND at >= ?",
        )
        .bind(email.to_lowercase())
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn suppress(
        &self,
        email: &str,
        reason: SuppressionReason,
        evidence: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO suppressions (email, reason, evidence, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(email.to_lowercase())
        .bind(reason.as_str())
        .bind(evidence)
        .bind(micros(at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            bump_counter(&mut tx, "suppressions", reason.as_str(), 1).await?;
        }
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?, last_error = 'address suppressed'
             WHERE state = 'queued' AND lower(recipient) = ? AND lease_owner IS NULL",
        )
        .bind(micros(at))
        .bind(email.to_lowercase())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT email, reason, evidence, created_at FROM suppressions ORDER BY created_at, email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(suppression_from_row).collect()
    }

    async fn unsuppress(&self, email: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM suppressions WHERE email = ?")
            .bind(email.to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn outbox_by_id(&self, outbox_id: i64) -> Result<Option<OutboxRef>, StoreError> {
        let row: Option<OutboxRefRow> = sqlx::query_as(
            "SELECT outbox_id, account_id, recipient, message_id FROM outbox WHERE outbox_id = ?",
        )
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(OutboxRef::from))
    }

    async fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxRef>, StoreError> {
        let row: Option<OutboxRefRow> = sqlx::query_as(
            "SELECT outbox_id, account_id, recipient, message_id FROM outbox WHERE message_id = ?",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(OutboxRef::from))
    }

    async fn unmatched_bounces(&self, limit: u32) -> Result<Vec<UnmatchedBounce>, StoreError> {
        let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT bounce_mail_id, received_at, source, length(raw) FROM bounce_mails
             WHERE matched = 0 ORDER BY bounce_mail_id DESC LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(bounce_mail_id, at, source, size)| {
                Ok(UnmatchedBounce {
                    bounce_mail_id,
                    received_at: instant(at)?,
                    source,
                    size: size.max(0) as u64,
                })
            })
            .collect()
    }

    async fn record_skipped_run(&self, at: DateTime<Utc>, reason: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let extended: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET ticks = ticks + 1, finished_at = MAX(finished_at, ?1)
             WHERE run_id = (SELECT MAX(run_id) FROM runs)
               AND status = 'skipped' AND skip_reason = ?2
             RETURNING run_id",
        )
        .bind(micros(at))
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let run_id = match extended {
            Some(run_id) => run_id,
            None => {
                sqlx::query_scalar(
                    "INSERT INTO runs (status, started_at, finished_at, skip_reason)
                     VALUES ('skipped', ?1, ?1, ?2) RETURNING run_id",
                )
                .bind(micros(at))
                .bind(reason)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        super::sqlite_history::note_success(&mut tx, super::history::Job::Batch, at).await?;
        tx.commit().await?;
        Ok(run_id)
    }

    async fn outages(&self) -> Result<Vec<crate::calendar::Outage>, StoreError> {
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT outage_id, starts_at, ends_at, reason FROM outages ORDER BY starts_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(outage_id, starts, ends, reason)| {
                Ok(crate::calendar::Outage {
                    outage_id,
                    starts_at: instant(starts)?,
                    ends_at: instant(ends)?,
                    reason,
                })
            })
            .collect()
    }

    async fn add_outages(
        &self,
        outages: &[NewOutage],
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<i64>, crate::calendar::Outage>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::new();
        for o in outages {
            let clash: Option<(i64, i64, i64, String)> = sqlx::query_as(
                "SELECT outage_id, starts_at, ends_at, reason FROM outages
                 WHERE starts_at < ?2 AND ends_at > ?1 LIMIT 1",
            )
            .bind(micros(o.starts_at))
            .bind(micros(o.ends_at))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((outage_id, starts, ends, reason)) = clash {
                // Dropping the transaction undoes the outages already added.
                return Ok(Err(crate::calendar::Outage {
                    outage_id,
                    starts_at: instant(starts)?,
                    ends_at: instant(ends)?,
                    reason,
                }));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outages (starts_at, ends_at, reason, created_at) VALUES (?, ?, ?, ?)
                 RETURNING outage_id",
            )
            .bind(micros(o.starts_at))
            .bind(micros(o.ends_at))
            .bind(&o.reason)
            .bind(micros(now))
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    async fn remove_outage(&self, outage_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM outages WHERE outage_id = ?")
            .bind(outage_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

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

    async fn report_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReportRows, StoreError> {
        super::sqlite_report::report_rows(&self.pool, from, to).await
    }

    async fn message_scope(&self, scope_key: &str) -> Result<Vec<i64>, StoreError> {
        super::sqlite_unsubscribe::message_scope(&self.pool, scope_key).await
    }

    async fn unsubscribe_targets(
        &self,
        subscription_ids: &[i64],
    ) -> Result<Vec<UnsubscribeTarget>, StoreError> {
        super::sqlite_unsubscribe::unsubscribe_targets(&self.pool, subscription_ids).await
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
        super::sqlite_unsubscribe::unsubscribe(tx, subscription_ids, source, evidence, now).await
    }

    async fn unsubscribes_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<UnsubscribeRecord>, StoreError> {
        super::sqlite_unsubscribe::unsubscribes_since(&self.pool, since).await
    }

    async fn status(&self, recent_runs: u32) -> Result<StatusReport, StoreError> {
        let watermark: i64 = sqlx::query_scalar("SELECT last_seq FROM watermark WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let (entries_total, entries_pending): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(run_id IS NULL), 0) FROM docket_entries")
                .fetch_one(&self.pool)
                .await?;
        let outbox: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?;
        let runs: Vec<RunRow> = sqlx::query_as("SELECT * FROM runs ORDER BY run_id DESC LIMIT ?")
            .bind(recent_runs as i64)
            .fetch_all(&self.pool)
            .await?;
        let held: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT account_id, COUNT(*), MAX(reason), MAX(run_id), MAX(held_at)
             FROM held_pairs GROUP BY account_id ORDER BY account_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(StatusReport {
            watermark,
            entries_total: entries_total.max(0) as u64,
            entries_pending: entries_pending.max(0) as u64,
            outbox: outbox
                .into_iter()
                .map(|(state, n)| (state, n.max(0) as u64))
                .collect(),
            recent_runs: runs
                .into_iter()
                .map(RunRecord::try_from)
                .collect::<Result<_, _>>()?,
            held: held
                .into_iter()
                .map(|(account_id, pairs, reason, run_id, held_at)| {
                    Ok(HeldAccount {
                        account_id,
                        pairs: pairs.max(0) as u64,
                        reason,
                        run_id,
                        held_at: instant(held_at)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }

    async fn metrics_snapshot(&self, now: DateTime<Utc>) -> Result<MetricsSnapshot, StoreError> {
        let n = |v: i64| v.max(0) as u64;
        // One read transaction: every figure comes from the same state of the database.
        let mut tx = self.pool.begin().await?;
        let sums: RunSumsRow = sqlx::query_as(METRICS_RUN_TOTALS)
            .fetch_one(&mut *tx)
            .await?;
        let runs: Vec<(String, String, i64)> = sqlx::query_as(METRICS_RUNS_BY_OUTCOME)
            .fetch_all(&mut *tx)
            .await?;
        let stage_times: Vec<(String, i64, i64)> = sqlx::query_as(METRICS_STAGE_TIMES)
            .fetch_all(&mut *tx)
            .await?;
        let counters: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT name, label, value FROM counter_totals ORDER BY name, label")
                .fetch_all(&mut *tx)
                .await?;
        let outbox: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(&mut *tx)
                .await?;
        let (oldest_due_at, oldest_unfinished): (Option<i64>, Option<i64>) =
            sqlx::query_as(METRICS_LAG)
                .bind(micros(now))
                .fetch_one(&mut *tx)
                .await?;
        let last_success: Vec<(String, i64)> =
            sqlx::query_as("SELECT job, last_success_at FROM job_successes ORDER BY job")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(MetricsSnapshot {
            entries_claimed: n(sums.entries_claimed),
            run_totals: RunTotals {
                drops: DropCounts {
                    voided: n(sums.dropped_voided),
                    confidential: n(sums.dropped_confidential),
                    excluded_court: n(sums.dropped_excluded_court),
                    excluded_case_type: n(sums.dropped_excluded_type),
                    notifiable: n(sums.entries_notifiable),
                },
                pairs_matched: n(sums.pairs_matched),
                digests_queued: n(sums.digests_queued),
                skipped_unverified: n(sums.skipped_unverified),
                skipped_suppressed: n(sums.skipped_suppressed),
                accounts_held: n(sums.accounts_held),
            },
            runs: runs
                .into_iter()
                .map(|(outcome, reason, count)| (outcome, reason, n(count)))
                .collect(),
            stage_times: stage_times
                .into_iter()
                .map(|(stage, ms, runs)| (stage, n(ms), n(runs)))
                .collect(),
            counters: counters
                .into_iter()
                .map(|(name, label, value)| (name, label, n(value)))
                .collect(),
            outbox: outbox.into_iter().map(|(s, c)| (s, n(c))).collect(),
            oldest_due_at: opt_instant(oldest_due_at)?,
            oldest_unfinished_posted_at: opt_instant(oldest_unfinished)?,
            last_success: last_success
                .into_iter()
                .map(|(job, at)| Ok((job, instant(at)?)))
                .collect::<Result<_, StoreError>>()?,
        })
    }
}
