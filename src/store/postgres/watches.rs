//! Party watches on PostgreSQL: the watches feed's locked reads and writes, the matching
//! step's input (one snapshot) and its one transaction, the waiting notices, and the
//! operators' views.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::leases::check_leader;
use super::PgStore;
use crate::model::Watch;
use crate::store::rows::{
    list_column, ArrivalRecord, PartyOnCaseRecord, WatchNoticeRecord, WatchRecord,
    WatchSummaryRecord, WATCH_COLUMNS,
};
use crate::store::watches::*;
use crate::store::{QueuedMessage, StoreError};

const ARRIVALS: &str = include_str!("../../../sql/postgres/queries/watch_arrivals.sql");
const WAITING: &str = include_str!("../../../sql/postgres/queries/watch_waiting.sql");
const SUMMARIES: &str = include_str!("../../../sql/postgres/queries/watch_summaries.sql");

type Time = DateTime<Utc>;

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The names of the parties on each of the cases that exist, the cases locked first so that
/// no other file changes their parties before this one commits.
pub(super) async fn load_parties(
    db: &mut PgConnection,
    case_numbers: &[&str],
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let keys = sorted(case_numbers);
    sqlx::query(
        "SELECT 1 FROM cases WHERE case_number = ANY($1::text[])
         ORDER BY case_number FOR NO KEY UPDATE",
    )
    .bind(&keys)
    .execute(&mut *db)
    .await?;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.case_number, p.name FROM cases c
         LEFT JOIN parties p ON p.case_number = c.case_number
         WHERE c.case_number = ANY($1::text[])",
    )
    .bind(&keys)
    .fetch_all(&mut *db)
    .await?;
    let mut parties: HashMap<String, Vec<String>> = HashMap::new();
    for (case_number, name) in rows {
        parties.entry(case_number).or_default().extend(name);
    }
    Ok(parties)
}

/// The stored watches with these ids, locked until the file commits.
pub(super) async fn load_watches(
    db: &mut PgConnection,
    watch_ids: &[&str],
) -> Result<Vec<WatchRecord<Time>>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {WATCH_COLUMNS} FROM watches w WHERE w.watch_id = ANY($1::text[])
         ORDER BY w.watch_id FOR NO KEY UPDATE"
    ))
    .bind(sorted(watch_ids))
    .fetch_all(db)
    .await
}

/// What the watches feed checks of these accounts: their rows locked first, which serialises
/// every watches file touching the account (its count of watches is checked).
pub(super) async fn load_owners(
    db: &mut PgConnection,
    account_ids: &[&str],
) -> Result<HashMap<String, WatchOwner>, sqlx::Error> {
    let keys = sorted(account_ids);
    sqlx::query(
        "SELECT 1 FROM accounts WHERE account_id = ANY($1::text[])
         ORDER BY account_id FOR NO KEY UPDATE",
    )
    .bind(&keys)
    .execute(&mut *db)
    .await?;
    let rows: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT a.account_id, a.email_verified, w.watch_id FROM accounts a
         LEFT JOIN watches w ON w.account_id = a.account_id
             AND (w.stopped_at IS NULL OR w.stopped_at > now())
             AND w.unsubscribed_at IS NULL
         WHERE a.account_id = ANY($1::text[])",
    )
    .bind(&keys)
    .fetch_all(&mut *db)
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
    db: &mut PgConnection,
    arrivals: &[PartyArrival],
) -> Result<(), sqlx::Error> {
    let cases: Vec<&str> = arrivals.iter().map(|a| a.case_number.as_str()).collect();
    let names: Vec<&str> = arrivals.iter().map(|a| a.name.as_str()).collect();
    let roles: Vec<&str> = arrivals.iter().map(|a| a.role.as_str()).collect();
    let at: Vec<Time> = arrivals.iter().map(|a| a.arrived_at).collect();
    sqlx::query(
        "INSERT INTO party_arrivals (case_number, name, role, arrived_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])",
    )
    .bind(&cases)
    .bind(&names)
    .bind(&roles)
    .bind(&at)
    .execute(db)
    .await?;
    Ok(())
}

/// Adds or replaces watches; a watch given again is no longer paused.
pub(super) async fn upsert_watches(
    db: &mut PgConnection,
    watches: &[Watch],
) -> Result<(), sqlx::Error> {
    let mut watches: Vec<&Watch> = watches.iter().collect();
    watches.sort_unstable_by(|a, b| a.watch_id.cmp(&b.watch_id));
    let text = |f: fn(&Watch) -> String| -> Vec<String> { watches.iter().map(|w| f(w)).collect() };
    let ids = text(|w| w.watch_id.clone());
    let accounts = text(|w| w.account_id.clone());
    let names = text(|w| w.name.clone());
    let kinds = text(|w| w.kind.as_str().to_string());
    let circuits = text(|w| list_column(&w.circuits));
    let case_types = text(|w| list_column(&w.case_types));
    let roles = text(|w| list_column(&w.roles));
    let nicknames: Vec<bool> = watches.iter().map(|w| w.nicknames).collect();
    let auto_track: Vec<bool> = watches.iter().map(|w| w.auto_track).collect();
    let started: Vec<Time> = watches.iter().map(|w| w.started_at).collect();
    let stopped: Vec<Option<Time>> = watches.iter().map(|w| w.stopped_at).collect();
    sqlx::query(
        "INSERT INTO watches (watch_id, account_id, name, kind, circuits, case_types, roles,
                              nicknames, auto_track, started_at, stopped_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::boolean[], $9::boolean[],
                              $10::timestamptz[], $11::timestamptz[])
         ON CONFLICT (watch_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
            circuits = excluded.circuits, case_types = excluded.case_types,
            roles = excluded.roles, nicknames = excluded.nicknames,
            auto_track = excluded.auto_track, started_at = excluded.started_at,
            stopped_at = excluded.stopped_at, paused_at = NULL, paused_reason = NULL,
            pause_outbox_id = NULL",
    )
    .bind(&ids)
    .bind(&accounts)
    .bind(&names)
    .bind(&kinds)
    .bind(&circuits)
    .bind(&case_types)
    .bind(&roles)
    .bind(&nicknames)
    .bind(&auto_track)
    .bind(&started)
    .bind(&stopped)
    .execute(db)
    .await?;
    Ok(())
}

/// In a digest's transaction: its new-case notices and pause notices are marked as told by
/// their message. A notice told already fails the commit (the ledger's guarantee).
pub(super) async fn mark_told(
    db: &mut PgConnection,
    messages: &[QueuedMessage],
    outbox_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (message, outbox_id) in messages.iter().zip(outbox_ids) {
        for watch_id in watch_scope(message) {
            sqlx::query(
                "INSERT INTO unsubscribe_watch_scopes (scope_key, watch_id, created_at)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&message.scope_key)
            .bind(watch_id)
            .bind(now)
            .execute(&mut *db)
            .await?;
        }
        for key in &message.watch_notices {
            let marked = sqlx::query(
                "UPDATE watch_matches SET outbox_id = $1
                 WHERE account_id = $2 AND watch_id = $3 AND case_number = $4
                   AND outbox_id IS NULL",
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
                "UPDATE watches SET pause_outbox_id = $1
                 WHERE watch_id = $2 AND pause_outbox_id IS NULL",
            )
            .bind(outbox_id)
            .bind(watch_id)
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(())
}

impl WatchStore for PgStore {
    async fn watch_input(&self, limit: u32) -> Result<WatchInput, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let watches: Vec<WatchRecord<Time>> = sqlx::query_as(&format!(
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
        let arrivals: Vec<ArrivalRecord<Time>> = sqlx::query_as(ARRIVALS)
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
                                     WHERE matched_at IS NULL AND seq <= $1)",
        )
        .bind(last_seq)
        .fetch_all(&mut *tx)
        .await?;
        let matched: Vec<(String, String)> = sqlx::query_as(
            "SELECT watch_id, case_number FROM watch_matches
             WHERE case_number IN (SELECT case_number FROM party_arrivals
                                   WHERE matched_at IS NULL AND seq <= $1)",
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
        let mut tx = self.begin().await?;
        check_leader(&mut tx, leader).await?;
        for m in &decisions.matches {
            sqlx::query(
                "INSERT INTO watch_matches (account_id, watch_id, case_number, party_name,
                     party_role, why, match_day, matched_at, auto_tracked)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (account_id, watch_id, case_number) DO NOTHING",
            )
            .bind(&m.account_id)
            .bind(&m.watch_id)
            .bind(&m.case_number)
            .bind(&m.party_name)
            .bind(&m.party_role)
            .bind(&m.why)
            .bind(&m.match_day)
            .bind(now)
            .bind(m.auto_tracked)
            .execute(&mut *tx)
            .await?;
        }
        for track in &decisions.tracks {
            // The account row, as the subscriptions feed locks it: a file starting the same
            // pair meanwhile is waited for, and then seen by the check below.
            sqlx::query("SELECT 1 FROM accounts WHERE account_id = $1 FOR NO KEY UPDATE")
                .bind(&track.account_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO subscriptions (account_id, case_number, tracked_at, source)
                 SELECT $1, $2, $3, $4
                 WHERE NOT EXISTS (SELECT 1 FROM subscriptions
                                   WHERE account_id = $1 AND case_number = $2)",
            )
            .bind(&track.account_id)
            .bind(&track.case_number)
            .bind(track.tracked_at)
            .bind(&track.source)
            .execute(&mut *tx)
            .await?;
        }
        for pause in &decisions.pauses {
            sqlx::query(
                "UPDATE watches SET paused_at = $1, paused_reason = $2
                 WHERE watch_id = $3 AND paused_at IS NULL",
            )
            .bind(now)
            .bind(&pause.reason)
            .bind(&pause.watch_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE party_arrivals SET matched_at = $1 WHERE seq = ANY($2::bigint[])")
            .bind(now)
            .bind(&decisions.arrivals_done)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pass_arrivals(
        &self,
        leader: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        check_leader(&mut tx, leader).await?;
        let passed =
            sqlx::query("UPDATE party_arrivals SET matched_at = $1 WHERE matched_at IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(passed)
    }

    async fn message_watch_scope(&self, scope_key: &str) -> Result<Vec<WatchTarget>, StoreError> {
        let rows: Vec<(String, String, String, Option<Time>)> = sqlx::query_as(
            "SELECT w.watch_id, w.name, a.email, w.unsubscribed_at
             FROM unsubscribe_watch_scopes s
             JOIN watches w ON w.watch_id = s.watch_id
             JOIN accounts a ON a.account_id = w.account_id
             WHERE s.scope_key = $1 ORDER BY w.name, w.watch_id",
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
        let mut tx = self.begin().await?;
        let mut done = WatchesStopped::default();
        for id in watch_ids {
            let stopped = sqlx::query(
                "UPDATE watches SET unsubscribed_at = $1
                 WHERE watch_id = $2 AND unsubscribed_at IS NULL",
            )
            .bind(now)
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
        let mut tx = self.begin_snapshot().await?;
        let notices: Vec<WatchNoticeRecord<Time>> =
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
        let rows: Vec<WatchSummaryRecord<Time>> =
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
        let rows: Vec<(String, String, Time, String, Time)> = sqlx::query_as(AUTO_TRACKS)
            .bind(since.unwrap_or(DateTime::UNIX_EPOCH))
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
        let rows: Vec<PartyOnCaseRecord<Time>> = sqlx::query_as(
            "SELECT c.case_number, c.court_id, c.case_type, c.caption, c.filed_at,
                    (NOT c.confidential AND ct.mcap
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
