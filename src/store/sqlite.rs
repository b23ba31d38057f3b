//! The embedded backend: one SQLite file in WAL mode, with a busy timeout so that a reader and
//! a writer (the batch streams while it commits) never trip over each other.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::{
    DropCounts, IngestSession, Mail, OpenedRun, OutboxMessage, PreviewRange, QueuedMessage,
    RunRecord, RunScope, RunTotals, StatusReport, Store, StoreError, StoredEntry, SubscriptionRow,
};
use crate::circuits::CIRCUITS;
use crate::model::{Account, Case, CaseTrackability, Court, DocketEntry, MatchRow};

const MATCH_ROWS: &str = include_str!("../../sql/sqlite/queries/match_rows.sql");
const DROP_COUNTS: &str = include_str!("../../sql/sqlite/queries/drop_counts.sql");

/// Instants are stored as microseconds since the epoch.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

fn opt_instant(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(instant).transpose()
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
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    /// The pool, for tests that inspect tables directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
struct RunRow {
    run_id: i64,
    status: String,
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
    dropped_voided: i64,
    dropped_confidential: i64,
    dropped_excluded_court: i64,
    dropped_excluded_type: i64,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        let n = |v: i64| v.max(0) as u64;
        Ok(RunRecord {
            run_id: r.run_id,
            status: r.status,
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
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    outbox_id: i64,
    account_id: String,
    recipient: String,
    envelope_from: String,
    message_id: String,
    subject: String,
    raw: Vec<u8>,
}

impl From<OutboxRow> for OutboxMessage {
    fn from(r: OutboxRow) -> Self {
        OutboxMessage {
            outbox_id: r.outbox_id,
            mail: Mail {
                account_id: r.account_id,
                recipient: r.recipient,
                envelope_from: r.envelope_from,
                message_id: r.message_id,
                subject: r.subject,
                raw: r.raw,
            },
        }
    }
}

/// One feed file's transaction.
pub struct SqliteIngest {
    tx: Transaction<'static, Sqlite>,
}

impl IngestSession for SqliteIngest {
    async fn court_exists(&mut self, court_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM courts WHERE court_id = ?")
            .bind(court_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(found.is_some())
    }

    async fn case_trackability(
        &mut self,
        case_number: &str,
    ) -> Result<Option<CaseTrackability>, StoreError> {
        let row: Option<(bool, String, bool)> = sqlx::query_as(
            "SELECT ct.mcap, c.case_type,
                    EXISTS (SELECT 1 FROM court_excluded_case_types x
                            WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
             FROM cases c JOIN courts ct ON ct.court_id = c.court_id
             WHERE c.case_number = ?",
        )
        .bind(case_number)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(
            |(court_mcap, case_type, case_type_excluded)| CaseTrackability {
                court_mcap,
                case_type,
                case_type_excluded,
            },
        ))
    }

    async fn entry(&mut self, entry_id: &str) -> Result<Option<StoredEntry>, StoreError> {
        #[allow(clippy::type_complexity)]
        let row: Option<(String, String, String, String, String, i64, Option<i64>)> =
            sqlx::query_as(
                "SELECT case_number, code, description, text, filed_by, posted_at, voided_at
                 FROM docket_entries WHERE entry_id = ?",
            )
            .bind(entry_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(
            |(case_number, code, description, text, filed_by, posted_at, voided_at)| {
                Ok(StoredEntry {
                    entry: DocketEntry {
                        entry_id: entry_id.to_string(),
                        case_number,
                        code,
                        description,
                        text,
                        filed_by,
                        posted_at: instant(posted_at)?,
                    },
                    voided_at: opt_instant(voided_at)?,
                })
            },
        )
        .transpose()
    }

    async fn account_exists(&mut self, account_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(found.is_some())
    }

    async fn subscriptions(
        &mut self,
        account_id: &str,
        case_number: &str,
    ) -> Result<Vec<SubscriptionRow>, StoreError> {
        let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT subscription_id, tracked_at, stopped_at FROM subscriptions
             WHERE account_id = ? AND case_number = ? ORDER BY tracked_at",
        )
        .bind(account_id)
        .bind(case_number)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|(subscription_id, tracked_at, stopped_at)| {
                Ok(SubscriptionRow {
                    subscription_id,
                    tracked_at: instant(tracked_at)?,
                    stopped_at: opt_instant(stopped_at)?,
                })
            })
            .collect()
    }

    async fn upsert_court(&mut self, court: &Court) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO courts (court_id, name, mcap) VALUES (?, ?, ?)
             ON CONFLICT (court_id) DO UPDATE SET name = excluded.name, mcap = excluded.mcap",
        )
        .bind(&court.court_id)
        .bind(&court.name)
        .bind(court.mcap)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM court_excluded_case_types WHERE court_id = ?")
            .bind(&court.court_id)
            .execute(&mut *self.tx)
            .await?;
        for case_type in &court.track_excluded_case_types {
            sqlx::query(
                "INSERT OR IGNORE INTO court_excluded_case_types (court_id, case_type)
                 VALUES (?, ?)",
            )
            .bind(&court.court_id)
            .bind(case_type)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    async fn upsert_case(&mut self, case: &Case) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cases (case_number, court_id, case_type, caption, filed_at,
                                confidential, closed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (case_number) DO UPDATE SET
                court_id = excluded.court_id, case_type = excluded.case_type,
                caption = excluded.caption, filed_at = excluded.filed_at,
                confidential = excluded.confidential, closed_at = excluded.closed_at",
        )
        .bind(&case.case_number)
        .bind(&case.court_id)
        .bind(&case.case_type)
        .bind(&case.caption)
        .bind(micros(case.filed_at))
        .bind(case.confidential)
        .bind(case.closed_at.map(micros))
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM parties WHERE case_number = ?")
            .bind(&case.case_number)
            .execute(&mut *self.tx)
            .await?;
        for (position, party) in case.parties.iter().enumerate() {
            sqlx::query(
                "INSERT INTO parties (case_number, position, name, role) VALUES (?, ?, ?, ?)",
            )
            .bind(&case.case_number)
            .bind(position as i64)
            .bind(&party.name)
            .bind(&party.role)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    async fn insert_entry(&mut self, entry: &DocketEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO docket_entries (entry_id, case_number, code, description, text,
                                         filed_by, posted_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&entry.entry_id)
        .bind(&entry.case_number)
        .bind(&entry.code)
        .bind(&entry.description)
        .bind(&entry.text)
        .bind(&entry.filed_by)
        .bind(micros(entry.posted_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn void_entry(&mut self, entry_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE docket_entries SET voided_at = ? WHERE entry_id = ?")
            .bind(micros(at))
            .bind(entry_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn upsert_account(&mut self, account: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (account_id, email, email_verified) VALUES (?, ?, ?)
             ON CONFLICT (account_id) DO UPDATE SET
                email = excluded.email, email_verified = excluded.email_verified",
        )
        .bind(&account.account_id)
        .bind(&account.email)
        .bind(account.email_verified)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn insert_subscription(
        &mut self,
        account_id: &str,
        case_number: &str,
        tracked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subscriptions (account_id, case_number, tracked_at) VALUES (?, ?, ?)",
        )
        .bind(account_id)
        .bind(case_number)
        .bind(micros(tracked_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn stop_subscription(
        &mut self,
        subscription_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE subscriptions SET stopped_at = ? WHERE subscription_id = ?")
            .bind(micros(at))
            .bind(subscription_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store for SqliteStore {
    type Ingest<'a> = SqliteIngest;

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("sql/sqlite").run(&self.pool).await?;
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
        Ok(SqliteIngest {
            tx: self.begin_write().await?,
        })
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
            tx.commit().await?;
            return Ok(OpenedRun {
                run_id,
                resumed: true,
                first_seq,
                last_seq,
                entries_claimed: claimed.max(0) as u64,
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
        Ok(PreviewRange {
            first_seq,
            last_seq,
            entries: entries.max(0) as u64,
        })
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
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut ledger: Vec<(&str, i64, i64)> = Vec::new();
        for QueuedMessage { mail, entry_seqs } in messages {
            let outbox_id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (run_id, account_id, recipient, envelope_from, message_id,
                                     subject, raw, state, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?) RETURNING outbox_id",
            )
            .bind(run_id)
            .bind(&mail.account_id)
            .bind(&mail.recipient)
            .bind(&mail.envelope_from)
            .bind(&mail.message_id)
            .bind(&mail.subject)
            .bind(&mail.raw)
            .bind(micros(now))
            .fetch_one(&mut *tx)
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
        tx.commit().await?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: i64,
        totals: &RunTotals,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let d = &totals.drops;
        sqlx::query(
            "UPDATE runs SET status = 'done', finished_at = ?, entries_notifiable = ?,
                pairs_matched = ?, digests_queued = ?, skipped_unverified = ?,
                skipped_suppressed = ?, dropped_voided = ?, dropped_confidential = ?,
                dropped_excluded_court = ?, dropped_excluded_type = ?
             WHERE run_id = ?",
        )
        .bind(micros(now))
        .bind(d.notifiable as i64)
        .bind(totals.pairs_matched as i64)
        .bind(totals.digests_queued as i64)
        .bind(totals.skipped_unverified as i64)
        .bind(totals.skipped_suppressed as i64)
        .bind(d.voided as i64)
        .bind(d.confidential as i64)
        .bind(d.excluded_court as i64)
        .bind(d.excluded_case_type as i64)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
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

    async fn queued_messages(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT outbox_id, account_id, recipient, envelope_from, message_id, subject, raw
             FROM outbox WHERE state = 'queued' AND outbox_id > ?
             ORDER BY outbox_id LIMIT ?",
        )
        .bind(after_id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(OutboxMessage::from).collect())
    }

    async fn mark_sent(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = ? WHERE outbox_id = ? AND state = 'queued'",
        )
        .bind(micros(now))
        .bind(outbox_id)
        .execute(&self.pool)
        .await?;
        Ok(())
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
        })
    }
}
