//! Party watches on SQLite: the watches feed's reads and writes, the matching step's input and
//! its one transaction, the waiting notices, and the operators' views.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::ingest::{per_statement, select_in};
use super::leases::check_leader;
use super::rows::micros;
use super::SqliteStore;
use crate::model::Watch;
use crate::store::rows::{
    list_column, ArrivalRecord, PartyOnCaseRecord, WatchNoticeRecord, WatchRecord,
    WatchSummaryRecord, WATCH_COLUMNS,
};
use crate::store::watches::*;
use crate::store::{QueuedMessage, StoreError};

const ARRIVALS: &str = include_str!("../../../sql/sqlite/queries/watch_arrivals.sql");
const WAITING: &str = include_str!("../../../sql/sqlite/queries/watch_waiting.sql");
const SUMMARIES: &str = include_str!("../../../sql/sqlite/queries/watch_summaries.sql");

/// The names of the parties on each of the cases that exist (a case with no parties has an
/// empty list; one not stored is absent).
pub(super) async fn load_parties(
    db: &mut SqliteConnection,
    case_numbers: &[&str],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let rows: Vec<(String, Option<String>)> = select_in(
        db,
        "SELECT c.case_number, p.name FROM cases c
         LEFT JOIN parties p ON p.case_number = c.case_number WHERE c.case_number",
        case_numbers,
    )
    .await?;
    let mut parties: HashMap<String, Vec<String>> = HashMap::new();
    for (case_number, name) in rows {
        let names = parties.entry(case_number).or_default();
        names.extend(name);
    }
    for names in parties.values_mut() {
        names.sort();
    }
    Ok(parties)
}

pub(super) async fn load_watches(
    db: &mut SqliteConnection,
    watch_ids: &[&str],
) -> Result<HashMap<String, StoredWatch>, StoreError> {
    let rows: Vec<WatchRecord<i64>> = select_in(
        db,
        &format!("SELECT {WATCH_COLUMNS} FROM watches w WHERE w.watch_id"),
        watch_ids,
    )
    .await?;
    rows.into_iter()
        .map(|r| {
            let watch = StoredWatch::try_from(r)?;
            Ok((watch.watch.watch_id.clone(), watch))
        })
        .collect()
}

pub(super) async fn load_owners(
    db: &mut SqliteConnection,
    account_ids: &[&str],
) -> Result<HashMap<String, WatchOwner>, StoreError> {
    // A stop still ahead has not stopped the watch yet.
    let rows: Vec<(String, bool, Option<String>)> = select_in(
        db,
        &format!(
            "SELECT a.account_id, a.email_verified, w.watch_id FROM accounts a
             LEFT JOIN watches w ON w.account_id = a.account_id
                 AND (w.stopped_at IS NULL OR w.stopped_at > {})
                 AND w.unsubscribed_at IS NULL
             WHERE a.account_id",
            micros(Utc::now())
        ),
        account_ids,
    )
    .await?;
    let mut owners: HashMap<String, WatchOwner> = HashMap::new();
    for (account_id, email_verified, watch_id) in rows {
        let owner = owners.entry(account_id).or_insert(WatchOwner {
            email_verified,
            active_watches: Vec::new(),
        });
        owner.active_watches.extend(watch_id);
    }
    for owner in owners.values_mut() {
        owner.active_watches.sort();
    }
    Ok(owners)
}

pub(super) async fn insert_arrivals(
    db: &mut SqliteConnection,
    arrivals: &[PartyArrival],
) -> Result<(), StoreError> {
    for chunk in arrivals.chunks(per_statement(4)) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO party_arrivals (case_number, name, role, arrived_at) ",
        );
        insert.push_values(chunk, |mut row, a| {
            row.push_bind(&a.case_number)
                .push_bind(&a.name)
                .push_bind(&a.role)
                .push_bind(micros(a.arrived_at));
        });
        insert.build().execute(&mut *db).await?;
    }
    Ok(())
}

/// Adds or replaces watches; a watch given again is no longer paused.
pub(super) async fn upsert_watches(
    db: &mut SqliteConnection,
    watches: &[Watch],
) -> Result<(), StoreError> {
    for chunk in watches.chunks(per_statement(11)) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO watches (watch_id, account_id, name, kind, circuits, case_types, roles,
                                  nicknames, auto_track, started_at, stopped_at) ",
        );
        upsert.push_values(chunk, |mut row, w| {
            row.push_bind(&w.watch_id)
                .push_bind(&w.account_id)
                .push_bind(&w.name)
                .push_bind(w.kind.as_str())
                .push_bind(list_column(&w.circuits))
                .push_bind(list_column(&w.case_types))
                .push_bind(list_column(&w.roles))
                .push_bind(w.nicknames)
                .push_bind(w.auto_track)
                .push_bind(micros(w.started_at))
                .push_bind(w.stopped_at.map(micros));
        });
        upsert.push(
            " ON CONFLICT (watch_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                circuits = excluded.circuits, case_types = excluded.case_types,
                roles = excluded.roles, nicknames = excluded.nicknames,
                auto_track = excluded.auto_track, started_at = excluded.started_at,
                stopped_at = excluded.stopped_at, paused_at = NULL, paused_reason = NULL,
                pause_outbox_id = NULL",
        );
        upsert.build().execute(&mut *db).await?;
    }
    Ok(())
}

/// In a digest's transaction: its new-case notices and pause notices are marked as told by
/// their message. A notice told already fails the commit (the ledger's guarantee).
pub(super) async fn mark_told(
    db: &mut SqliteConnection,
    numbered: &[(i64, &QueuedMessage)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (outbox_id, message) in numbered {
        for watch_id in watch_scope(message) {
            sqlx::query(
                "INSERT OR IGNORE INTO unsubscribe_watch_scopes (scope_key, watch_id, created_at)
                 VALUES (?, ?, ?)",
            )
            .bind(&message.scope_key)
            .bind(watch_id)
            .bind(micros(now))
            .execute(&mut *db)
            .await?;
        }
        for key in &message.watch_notices {
            let marked = sqlx::query(
                "UPDATE watch_matches SET outbox_id = ?
                 WHERE account_id = ? AND watch_id = ? AND case_number = ? AND outbox_id IS NULL",
            )
            .bind(outbox_id)
            .bind(&key.account_id)
            .bind(&key.watch_id)
            .bind(&key.case_number)
            .execute(&mut *db)
            .await?
            .rows_affected();
            check_told_once(marked, key)?;
        }
        for watch_id in &message.watch_pauses {
            sqlx::query(
                "UPDATE watches SET pause_outbox_id = ?
                 WHERE watch_id = ? AND pause_outbox_id IS NULL",
            )
            .bind(outbox_id)
            .bind(watch_id)
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(())
}

impl WatchStore for SqliteStore {
    async fn watch_input(&self, limit: u32) -> Result<WatchInput, StoreError> {
        let mut tx = self.pool.begin().await?;
        let watches: Vec<WatchRecord<i64>> = sqlx::query_as(&format!(
            "SELECT {WATCH_COLUMNS} FROM watches w
             WHERE w.paused_at IS NULL AND w.unsubscribed_at IS NULL ORDER BY w.watch_id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        if watches.is_empty() {
            // Nothing to match against: the step passes the arrivals in one statement.
            tx.commit().await?;
            return Ok(WatchInput::default());
        }
        let arrivals: Vec<ArrivalRecord<i64>> = sqlx::query_as(ARRIVALS)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        // The cases of this page's arrivals (the first unmatched ones, up to this seq).
        let last_seq = arrivals.last().map_or(0, |a| a.seq);
        let counts: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT watch_id, match_day, COUNT(*) FROM watch_matches GROUP BY watch_id, match_day",
        )
        .fetch_all(&mut *tx)
        .await?;
        let tracked: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT s.account_id, s.case_number FROM subscriptions s
             WHERE s.case_number IN (SELECT case_number FROM party_arrivals
                                     WHERE matched_at IS NULL AND seq <= ?)",
        )
        .bind(last_seq)
        .fetch_all(&mut *tx)
        .await?;
        let matched: Vec<(String, String)> = sqlx::query_as(
            "SELECT watch_id, case_number FROM watch_matches
             WHERE case_number IN (SELECT case_number FROM party_arrivals
                                   WHERE matched_at IS NULL AND seq <= ?)",
        )
        .bind(last_seq)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WatchInput {
            matched: matched.into_iter().collect::<HashSet<_>>(),
            arrivals: arrivals
                .into_iter()
                .map(TryFrom::try_from)
                .collect::<Result<_, _>>()?,
            watches: watches
                .into_iter()
                .map(|r| StoredWatch::try_from(r).map(|w| w.watch))
                .collect::<Result<_, _>>()?,
            day_counts: counts
                .into_iter()
                .map(|(watch, day, n)| ((watch, day), n as u32))
                .collect(),
            tracked: tracked.into_iter().collect::<HashSet<_>>(),
        })
    }

    async fn record_watch_decisions(
        &self,
        leader: Option<&str>,
        decisions: &WatchDecisions,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if decisions.arrivals_done.is_empty() {
            return Ok(());
        }
        let at = micros(now);
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
        for m in &decisions.matches {
            sqlx::query(
                "INSERT INTO watch_matches (account_id, watch_id, case_number, party_name,
                     party_role, why, match_day, matched_at, auto_tracked)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (account_id, watch_id, case_number) DO NOTHING",
            )
            .bind(&m.account_id)
            .bind(&m.watch_id)
            .bind(&m.case_number)
            .bind(&m.party_name)
            .bind(&m.party_role)
            .bind(&m.why)
            .bind(&m.match_day)
            .bind(at)
            .bind(m.auto_tracked)
            .execute(&mut *tx)
            .await?;
        }
        for track in &decisions.tracks {
            sqlx::query(
                "INSERT INTO subscriptions (account_id, case_number, tracked_at, source)
                 SELECT ?1, ?2, ?3, ?4
                 WHERE NOT EXISTS (SELECT 1 FROM subscriptions
                                   WHERE account_id = ?1 AND case_number = ?2)",
            )
            .bind(&track.account_id)
            .bind(&track.case_number)
            .bind(micros(track.tracked_at))
            .bind(&track.source)
            .execute(&mut *tx)
            .await?;
        }
        for pause in &decisions.pauses {
            sqlx::query(
                "UPDATE watches SET paused_at = ?, paused_reason = ?
                 WHERE watch_id = ? AND paused_at IS NULL",
            )
            .bind(at)
            .bind(&pause.reason)
            .bind(&pause.watch_id)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in decisions.arrivals_done.chunks(per_statement(1)) {
            let mut update = QueryBuilder::<Sqlite>::new("UPDATE party_arrivals SET matched_at = ");
            update.push_bind(at).push(" WHERE seq IN (");
            let mut list = update.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            update.push(")");
            update.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pass_arrivals(
        &self,
        leader: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        check_leader(&mut tx, leader).await?;
        let passed =
            sqlx::query("UPDATE party_arrivals SET matched_at = ? WHERE matched_at IS NULL")
                .bind(micros(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(passed)
    }

    async fn message_watch_scope(&self, scope_key: &str) -> Result<Vec<WatchTarget>, StoreError> {
        let rows: Vec<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT w.watch_id, w.name, a.email, w.unsubscribed_at
             FROM unsubscribe_watch_scopes s
             JOIN watches w ON w.watch_id = s.watch_id
             JOIN accounts a ON a.account_id = w.account_id
             WHERE s.scope_key = ? ORDER BY w.name, w.watch_id",
        )
        .bind(scope_key)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(watch_id, name, email, unsubscribed_at)| {
                Ok(WatchTarget {
                    watch_id,
                    name,
                    email,
                    unsubscribed_at: crate::store::rows::opt(unsubscribed_at)?,
                })
            })
            .collect()
    }

    async fn stop_watches(
        &self,
        watch_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<WatchesStopped, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut done = WatchesStopped::default();
        for id in watch_ids {
            let stopped = sqlx::query(
                "UPDATE watches SET unsubscribed_at = ?
                 WHERE watch_id = ? AND unsubscribed_at IS NULL",
            )
            .bind(micros(now))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if stopped == 1 {
                done.stopped += 1;
            } else {
                done.already += 1;
            }
        }
        if done.stopped > 0 {
            done.messages_withheld = super::withhold::withhold_in(&mut tx, now, None)
                .await?
                .messages;
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn waiting_watch_notices(&self) -> Result<WaitingWatchNotices, StoreError> {
        let mut tx = self.pool.begin().await?;
        let notices: Vec<WatchNoticeRecord<i64>> =
            sqlx::query_as(WAITING).fetch_all(&mut *tx).await?;
        let pauses: Vec<(String, String, bool, bool, String, String, String)> = sqlx::query_as(
            "SELECT w.account_id, a.email, a.email_verified,
                    EXISTS (SELECT 1 FROM suppressions sp WHERE sp.email = lower(a.email)),
                    w.watch_id, w.name, COALESCE(w.paused_reason, '')
             FROM watches w JOIN accounts a ON a.account_id = w.account_id
             WHERE w.paused_at IS NOT NULL AND w.pause_outbox_id IS NULL
               AND w.unsubscribed_at IS NULL
             ORDER BY w.account_id, w.watch_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WaitingWatchNotices {
            notices: notices
                .into_iter()
                .map(TryFrom::try_from)
                .collect::<Result<_, _>>()?,
            pauses: pauses.into_iter().map(pause_notice).collect(),
        })
    }

    async fn watch_summaries(&self) -> Result<Vec<WatchSummary>, StoreError> {
        let rows: Vec<WatchSummaryRecord<i64>> =
            sqlx::query_as(SUMMARIES).fetch_all(&self.pool).await?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    async fn watch_counts(&self) -> Result<WatchCounts, StoreError> {
        let row: (i64, i64, i64, i64, i64, i64, i64) =
            sqlx::query_as(WATCH_COUNTS).fetch_one(&self.pool).await?;
        Ok(WatchCounts::from(row))
    }

    async fn auto_tracks_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AutoTrackRecord>, StoreError> {
        let rows: Vec<(String, String, i64, String, i64)> = sqlx::query_as(AUTO_TRACKS)
            .bind(since.map_or(i64::MIN, micros))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(
                |(account_id, case_number, tracked_at, source, recorded_at)| {
                    use crate::store::rows::StoredInstant;
                    Ok(AutoTrackRecord {
                        account_id,
                        case_number,
                        tracked_at: tracked_at.into_instant()?,
                        source,
                        recorded_at: recorded_at.into_instant()?,
                    })
                },
            )
            .collect()
    }

    async fn parties_on_cases(&self) -> Result<Vec<PartyOnCase>, StoreError> {
        let rows: Vec<PartyOnCaseRecord<i64>> = sqlx::query_as(
            "SELECT c.case_number, c.court_id, c.case_type, c.caption, c.filed_at,
                    (c.confidential = 0 AND ct.mcap = 1
                     AND NOT EXISTS (SELECT 1 FROM court_excluded_case_types x
                                     WHERE x.court_id = c.court_id
                                       AND x.case_type = c.case_type)) AS notifiable,
                    p.name, p.role
             FROM parties p
             JOIN cases c ON c.case_number = p.case_number
             JOIN courts ct ON ct.court_id = c.court_id
             ORDER BY c.filed_at DESC, c.case_number, p.position",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }
}
