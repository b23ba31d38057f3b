//! The batch on SQLite: runs claim entries under the write lock, stream their matches, and queue
//! digests with their ledger rows in one transaction.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::ingest::per_statement;
use super::leases::check_leader;
use super::rows::{micros, MatchRecord};
use super::withhold::{forgo_held_pairs_in, withhold_in};
use super::SqliteStore;
use crate::model::MatchRow;
use crate::store::history::Job;
use crate::store::{
    AccountStanding, BatchStore, DropCounts, HeldDigest, OpenedRun, PreviewRange, QueuedMessage,
    RunScope, RunTotals, StageTimings, StoreError, Withheld,
};

const MATCH_PAIRS: &str = include_str!("../../../sql/sqlite/queries/match_pairs.sql");
const MATCH_PAGE: &str = include_str!("../../../sql/sqlite/queries/match_page.sql");

/// Matched pairs read per query (see [`BatchStore::match_rows`]).
const PAIRS_PER_PAGE: i64 = 4_096;

/// Where reading the matched pairs is: on the connection that holds them, at a position.
struct Paging {
    conn: PoolConnection<Sqlite>,
    next: i64,
    last: i64,
    /// Whether the temp table was emptied after the last page.
    emptied: bool,
}

impl Drop for Paging {
    /// A run that stops reading early (an error, a stop) leaves pairs in the temp table: the
    /// connection is closed rather than returned to the pool holding them.
    fn drop(&mut self) {
        if !self.emptied {
            self.conn.close_on_drop();
        }
    }
}

/// Writes the matched pairs of `scope` in digest order into a temp table of one connection.
async fn match_pairs(pool: &SqlitePool, scope: RunScope) -> Result<Paging, StoreError> {
    let (run_id, up_to) = scope_params(scope);
    let mut conn = pool.acquire().await?;
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS match_pairs (
            pos INTEGER PRIMARY KEY, account_id TEXT NOT NULL, entry_seq INTEGER NOT NULL,
            subscription_id INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM temp.match_pairs")
        .execute(&mut *conn)
        .await?;
    // Positions count from 1 in an emptied table without AUTOINCREMENT.
    let written = sqlx::query(MATCH_PAIRS)
        .bind(run_id)
        .bind(up_to)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(Paging {
        conn,
        next: 1,
        last: written as i64,
        emptied: false,
    })
}

/// The next page of matched pairs, or None (and the temp table emptied) after the last.
async fn next_page(mut paging: Paging) -> Result<Option<(Vec<MatchRow>, Paging)>, StoreError> {
    if paging.next > paging.last {
        sqlx::query("DELETE FROM temp.match_pairs")
            .execute(&mut *paging.conn)
            .await?;
        paging.emptied = true;
        return Ok(None);
    }
    let to = paging.last.min(paging.next + PAIRS_PER_PAGE - 1);
    let records: Vec<MatchRecord> = sqlx::query_as(MATCH_PAGE)
        .bind(paging.next)
        .bind(to)
        .fetch_all(&mut *paging.conn)
        .await?;
    paging.next = to + 1;
    let rows = records
        .into_iter()
        .map(MatchRow::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((rows, paging)))
}
const DROP_COUNTS: &str = include_str!("../../../sql/sqlite/queries/drop_counts.sql");

/// The bounds of a scope as the two query parameters: the claiming run (NULL for the unclaimed
/// entries) and the highest seq.
fn scope_params(scope: RunScope) -> (Option<i64>, i64) {
    match scope {
        RunScope::Claimed { run_id } => (Some(run_id), i64::MAX),
        RunScope::Preview { up_to_seq } => (None, up_to_seq),
    }
}

impl BatchStore for SqliteStore {
    async fn open_run(
        &self,
        leader: Option<&str>,
        max_entries: u32,
        now: DateTime<Utc>,
    ) -> Result<OpenedRun, StoreError> {
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
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

    /// The pairs are first written, sorted, into a temp table by one statement inside SQLite,
    /// then read a page at a time, each page its own short read: a read transaction held open
    /// for the whole run would keep every page the run writes in the WAL.
    fn match_rows(&self, scope: RunScope) -> BoxStream<'_, Result<MatchRow, StoreError>> {
        let pool = self.pool.clone();
        futures_util::stream::once(async move { match_pairs(&pool, scope).await })
            .and_then(|paging| async move {
                Ok(futures_util::stream::try_unfold(paging, next_page)
                    .map_ok(|rows| futures_util::stream::iter(rows.into_iter().map(Ok)))
                    .try_flatten())
            })
            .try_flatten()
            .boxed()
    }

    async fn queue_digests(
        &self,
        run_id: i64,
        leader: Option<&str>,
        messages: &[QueuedMessage],
        held: &[HeldDigest],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if messages.is_empty() && held.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
        // The write lock is held, so the ids after the highest one ever given are ours: the
        // messages go in many to a statement, with their ids, and nothing waits on a
        // RETURNING row by row.
        let last_id: i64 = sqlx::query_scalar(
            "SELECT MAX(COALESCE((SELECT MAX(outbox_id) FROM outbox), 0),
                        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0))",
        )
        .fetch_one(&mut *tx)
        .await?;
        let numbered: Vec<(i64, &QueuedMessage)> = (last_id + 1..).zip(messages).collect();
        let at = micros(now);
        // Each outbox row binds this many values (the list below).
        const OUTBOX_ROW_VALUES: usize = 10;
        for chunk in numbered.chunks(per_statement(OUTBOX_ROW_VALUES)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO outbox (outbox_id, run_id, account_id, recipient, envelope_from,
                                     message_id, subject, state, created_at, lifetime_from,
                                     next_attempt_at) ",
            );
            insert.push_values(chunk, |mut row, (outbox_id, message)| {
                let mail = &message.mail;
                row.push_bind(*outbox_id)
                    .push_bind(run_id)
                    .push_bind(&mail.account_id)
                    .push_bind(&mail.recipient)
                    .push_bind(&mail.envelope_from)
                    .push_bind(&mail.message_id)
                    .push_bind(&mail.subject)
                    .push("'queued'")
                    .push_bind(at)
                    .push_bind(at)
                    .push_bind(at);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for chunk in numbered.chunks(per_statement(2)) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO outbox_bodies (outbox_id, raw) ");
            insert.push_values(chunk, |mut row, (outbox_id, message)| {
                row.push_bind(*outbox_id).push_bind(&message.mail.raw);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let scopes: Vec<(&str, i64)> = messages
            .iter()
            .flat_map(|m| (m.subscription_ids.iter()).map(|&id| (m.scope_key.as_str(), id)))
            .collect();
        super::unsubscribe::record_scopes(&mut tx, &scopes, now).await?;
        let ledger: Vec<(&str, i64, i64)> = numbered
            .iter()
            .flat_map(|(outbox_id, m)| {
                (m.entry_seqs.iter()).map(|&seq| (m.mail.account_id.as_str(), seq, *outbox_id))
            })
            .collect();
        for chunk in ledger.chunks(per_statement(3)) {
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
        let dates: Vec<(&crate::store::QueuedDateNotice, i64)> = numbered
            .iter()
            .flat_map(|(id, m)| m.date_notices.iter().map(move |notice| (notice, *id)))
            .collect();
        for chunk in dates.chunks(per_statement(7)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO date_notices \
                 (account_id, event_id, version, notice, days, outbox_id, late_at) ",
            );
            insert.push_values(chunk, |mut row, (queued, outbox_id)| {
                let key = &queued.key;
                let (notice, days) = key.notice.columns();
                row.push_bind(&key.account_id)
                    .push_bind(&key.event_id)
                    .push_bind(key.version)
                    .push_bind(notice)
                    .push_bind(days)
                    .push_bind(*outbox_id)
                    .push_bind(queued.late_at.map(micros));
            });
            insert.push(crate::store::DATE_NOTICE_AGAIN);
            let written = insert.build().execute(&mut *tx).await?.rows_affected();
            crate::store::check_date_notices_written(written, chunk.len())?;
        }
        super::watches::mark_told(&mut tx, &numbered, now).await?;
        // Pairs held aside by an earlier run are released once queued; there are seldom any.
        let any_held: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM held_pairs)")
            .fetch_one(&mut *tx)
            .await?;
        if any_held {
            for chunk in ledger.chunks(per_statement(2)) {
                let mut delete = QueryBuilder::<Sqlite>::new(
                    "DELETE FROM held_pairs WHERE (account_id, entry_seq) IN (VALUES ",
                );
                let mut pairs = delete.separated(", ");
                for (account_id, seq, _) in chunk {
                    pairs.push("(");
                    pairs.push_bind_unseparated(*account_id);
                    pairs.push_unseparated(", ");
                    pairs.push_bind_unseparated(*seq);
                    pairs.push_unseparated(")");
                }
                delete.push(")");
                delete.build().execute(&mut *tx).await?;
            }
        }
        let held_rows: Vec<(&str, i64, &str)> = held
            .iter()
            .flat_map(|d| {
                (d.entry_seqs.iter()).map(|&seq| (d.account_id.as_str(), seq, d.reason.as_str()))
            })
            .collect();
        for chunk in held_rows.chunks(per_statement(5)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO held_pairs (account_id, entry_seq, run_id, reason, held_at) ",
            );
            insert.push_values(chunk, |mut row, (account_id, seq, reason)| {
                row.push_bind(*account_id)
                    .push_bind(*seq)
                    .push_bind(run_id)
                    .push_bind(*reason)
                    .push_bind(at);
            });
            insert.push(
                " ON CONFLICT (account_id, entry_seq) DO UPDATE SET run_id = excluded.run_id,
                    reason = excluded.reason, held_at = excluded.held_at",
            );
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: i64,
        leader: Option<&str>,
        totals: &RunTotals,
        timings: &StageTimings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
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
        super::history::note_success(&mut tx, Job::Batch, now).await?;
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

    async fn forgo_held_pairs(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let forgone = forgo_held_pairs_in(&mut tx).await?;
        tx.commit().await?;
        Ok(forgone)
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
        super::history::note_success(&mut tx, Job::Batch, at).await?;
        tx.commit().await?;
        Ok(run_id)
    }
}
