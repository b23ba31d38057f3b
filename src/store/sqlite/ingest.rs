//! A feed file against SQLite: checked without the write lock, then written in one short
//! transaction. Checking a big file takes long; holding SQLite's single write lock that long
//! made every other command (a run, a delivery pass, bounce ingest) give up with "database is
//! locked". So the session answers the ingest stage's questions from a plain connection and
//! remembers every answer; at the first write it takes the write lock and asks the same
//! questions again in bulk, and writes only if every answer is unchanged. If another writer
//! changed something the checks relied on, nothing is written.
//!
//! Keys and rows go to SQLite many to a statement, never more than [`MAX_PARAMETERS`] bound
//! values at once.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::rows::{instant, micros, opt_instant};
use super::SqliteStore;
use crate::model::{Account, Case, CaseTrackability, Court, DocketEntry, Watch};
use crate::store::watches::{PartyArrival, StoredWatch, WatchOwner};
use crate::store::{
    EntryVoid, EventWrite, IngestSession, IngestStore, NewSubscription, StoreError, StoredEntry,
    StoredEvent, SubscriptionKey, SubscriptionRow, SubscriptionStop,
};

/// Bound values per statement: under SQLite's limit of 32766.
const MAX_PARAMETERS: usize = 32_000;

/// How many keys or rows of `width` values each fit in one statement.
pub(super) fn per_statement(width: usize) -> usize {
    MAX_PARAMETERS / width
}

/// The database's answers to the checks, as they were given (`None`: not there).
#[derive(Debug, Default)]
struct Answers {
    courts: HashMap<String, bool>,
    cases: HashMap<String, Option<CaseTrackability>>,
    /// Boxed: most answers for a big file are "no such entry", and stay small.
    entries: HashMap<String, Option<Box<StoredEntry>>>,
    events: HashMap<String, Option<Box<StoredEvent>>>,
    accounts: HashMap<String, bool>,
    subscriptions: HashMap<SubscriptionKey, Vec<SubscriptionRow>>,
    watches: HashMap<String, Option<Box<StoredWatch>>>,
    owners: HashMap<String, Option<WatchOwner>>,
}

/// Where the session is: still checking on a plain connection, or writing under the lock.
enum Phase {
    Checking(PoolConnection<Sqlite>),
    Writing {
        tx: Transaction<'static, Sqlite>,
        locked: Instant,
        rows: usize,
    },
}

/// One feed file's checks and writes (see the module notes).
pub struct SqliteIngest {
    pool: SqlitePool,
    phase: Phase,
    answers: Answers,
}

impl SqliteIngest {
    pub async fn new(pool: &SqlitePool) -> Result<Self, StoreError> {
        Ok(SqliteIngest {
            pool: pool.clone(),
            phase: Phase::Checking(pool.acquire().await?),
            answers: Answers::default(),
        })
    }

    /// The connection the checks read from.
    fn reader(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        match &mut self.phase {
            Phase::Checking(conn) => Ok(&mut **conn),
            Phase::Writing { .. } => Err(StoreError::Corrupt(
                "a feed was checked again after its writes began".into(),
            )),
        }
    }

    /// The write transaction, taking the write lock (and checking that every answer still
    /// holds) the first time; `rows` are about to be written.
    async fn writer(&mut self, rows: usize) -> Result<&mut SqliteConnection, StoreError> {
        if let Phase::Checking(_) = self.phase {
            // The checking connection goes back to the pool before the write lock is taken.
            self.phase = Phase::Writing {
                tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                locked: Instant::now(),
                rows: 0,
            };
            let Phase::Writing { tx, .. } = &mut self.phase else {
                unreachable!("just began writing")
            };
            self.answers.still_hold(tx).await?;
        }
        let Phase::Writing {
            tx, rows: count, ..
        } = &mut self.phase
        else {
            unreachable!("writing")
        };
        *count += rows;
        Ok(&mut **tx)
    }
}

impl Answers {
    /// Asks the database every question again, under the write lock: the checks hold only if
    /// every answer is the same.
    async fn still_hold(&self, db: &mut SqliteConnection) -> Result<(), StoreError> {
        let changed = |what: String| -> Result<(), StoreError> {
            Err(StoreError::Changed(format!(
                "{what} changed while the file was being checked (another ingest?); \
                 nothing was applied: ingest the file again"
            )))
        };
        let keys: Vec<&str> = self.courts.keys().map(String::as_str).collect();
        let now = load_courts(db, &keys).await?;
        for (court_id, known) in &self.courts {
            if now.contains(court_id) != *known {
                return changed(format!("court `{court_id}`"));
            }
        }
        let keys: Vec<&str> = self.cases.keys().map(String::as_str).collect();
        let now = load_trackability(db, &keys).await?;
        for (case_number, answer) in &self.cases {
            if now.get(case_number) != answer.as_ref() {
                return changed(format!("case `{case_number}`"));
            }
        }
        let keys: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        let now = load_entries(db, &keys).await?;
        for (entry_id, answer) in &self.entries {
            if now.get(entry_id) != answer.as_deref() {
                return changed(format!("docket entry `{entry_id}`"));
            }
        }
        let keys: Vec<&str> = self.events.keys().map(String::as_str).collect();
        let now = load_events(db, &keys).await?;
        for (event_id, answer) in &self.events {
            if now.get(event_id) != answer.as_deref() {
                return changed(format!("event `{event_id}`"));
            }
        }
        let keys: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        let now = load_accounts(db, &keys).await?;
        for (account_id, known) in &self.accounts {
            if now.contains(account_id) != *known {
                return changed(format!("account `{account_id}`"));
            }
        }
        let pairs: Vec<(&str, &str)> = self
            .subscriptions
            .keys()
            .map(|(a, c)| (a.as_str(), c.as_str()))
            .collect();
        let now = load_subscriptions(db, &pairs).await?;
        for (key, answer) in &self.subscriptions {
            if now.get(key).map_or(&[][..], Vec::as_slice) != answer.as_slice() {
                let (account_id, case_number) = key;
                return changed(format!("tracking of `{case_number}` by `{account_id}`"));
            }
        }
        let keys: Vec<&str> = self.watches.keys().map(String::as_str).collect();
        let now = super::watches::load_watches(db, &keys).await?;
        for (watch_id, answer) in &self.watches {
            if now.get(watch_id) != answer.as_deref() {
                return changed(format!("watch `{watch_id}`"));
            }
        }
        let keys: Vec<&str> = self.owners.keys().map(String::as_str).collect();
        let now = super::watches::load_owners(db, &keys).await?;
        for (account_id, answer) in &self.owners {
            if now.get(account_id) != answer.as_ref() {
                return changed(format!("the watches of account `{account_id}`"));
            }
        }
        Ok(())
    }
}

impl IngestSession for SqliteIngest {
    async fn stored_parties(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        // Not asked again under the write lock: a party another file added meanwhile is at
        // worst recorded as arriving twice, which the watches' ledger tells once.
        super::watches::load_parties(self.reader()?, case_numbers).await
    }

    async fn stored_watches(
        &mut self,
        watch_ids: &[&str],
    ) -> Result<HashMap<String, StoredWatch>, StoreError> {
        let found = super::watches::load_watches(self.reader()?, watch_ids).await?;
        for id in watch_ids {
            self.answers
                .watches
                .insert(id.to_string(), found.get(*id).cloned().map(Box::new));
        }
        Ok(found)
    }

    async fn watch_owners(
        &mut self,
        account_ids: &[&str],
    ) -> Result<HashMap<String, WatchOwner>, StoreError> {
        let found = super::watches::load_owners(self.reader()?, account_ids).await?;
        for id in account_ids {
            self.answers
                .owners
                .insert(id.to_string(), found.get(*id).cloned());
        }
        Ok(found)
    }

    async fn add_party_arrivals(&mut self, arrivals: &[PartyArrival]) -> Result<(), StoreError> {
        let db = self.writer(arrivals.len()).await?;
        super::watches::insert_arrivals(db, arrivals).await
    }

    async fn upsert_watches(&mut self, watches: &[Watch]) -> Result<(), StoreError> {
        let db = self.writer(watches.len()).await?;
        super::watches::upsert_watches(db, watches).await
    }

    async fn known_courts(&mut self, court_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let found = load_courts(self.reader()?, court_ids).await?;
        for id in court_ids {
            self.answers
                .courts
                .insert(id.to_string(), found.contains(*id));
        }
        Ok(found)
    }

    async fn case_trackability(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, CaseTrackability>, StoreError> {
        let found = load_trackability(self.reader()?, case_numbers).await?;
        for number in case_numbers {
            self.answers
                .cases
                .insert(number.to_string(), found.get(*number).cloned());
        }
        Ok(found)
    }

    async fn stored_entries(
        &mut self,
        entry_ids: &[&str],
    ) -> Result<HashMap<String, StoredEntry>, StoreError> {
        let found = load_entries(self.reader()?, entry_ids).await?;
        for id in entry_ids {
            self.answers
                .entries
                .insert(id.to_string(), found.get(*id).cloned().map(Box::new));
        }
        Ok(found)
    }

    async fn stored_events(
        &mut self,
        event_ids: &[&str],
    ) -> Result<HashMap<String, StoredEvent>, StoreError> {
        let found = load_events(self.reader()?, event_ids).await?;
        for id in event_ids {
            self.answers
                .events
                .insert(id.to_string(), found.get(*id).cloned().map(Box::new));
        }
        Ok(found)
    }

    async fn known_accounts(
        &mut self,
        account_ids: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        let found = load_accounts(self.reader()?, account_ids).await?;
        for id in account_ids {
            self.answers
                .accounts
                .insert(id.to_string(), found.contains(*id));
        }
        Ok(found)
    }

    async fn subscriptions(
        &mut self,
        pairs: &[(&str, &str)],
    ) -> Result<HashMap<SubscriptionKey, Vec<SubscriptionRow>>, StoreError> {
        let found = load_subscriptions(self.reader()?, pairs).await?;
        for (account_id, case_number) in pairs {
            let key = (account_id.to_string(), case_number.to_string());
            let periods = found.get(&key).cloned().unwrap_or_default();
            self.answers.subscriptions.insert(key, periods);
        }
        Ok(found)
    }

    async fn upsert_courts(&mut self, courts: &[Court]) -> Result<(), StoreError> {
        let db = self.writer(courts.len()).await?;
        for court in courts {
            sqlx::query(
                "INSERT INTO courts (court_id, name, mcap) VALUES (?, ?, ?)
                 ON CONFLICT (court_id) DO UPDATE SET name = excluded.name, mcap = excluded.mcap",
            )
            .bind(&court.court_id)
            .bind(&court.name)
            .bind(court.mcap)
            .execute(&mut *db)
            .await?;
            sqlx::query("DELETE FROM court_excluded_case_types WHERE court_id = ?")
                .bind(&court.court_id)
                .execute(&mut *db)
                .await?;
            for case_type in &court.track_excluded_case_types {
                sqlx::query(
                    "INSERT OR IGNORE INTO court_excluded_case_types (court_id, case_type)
                     VALUES (?, ?)",
                )
                .bind(&court.court_id)
                .bind(case_type)
                .execute(&mut *db)
                .await?;
            }
        }
        Ok(())
    }

    async fn upsert_cases(&mut self, cases: &[Case]) -> Result<(), StoreError> {
        let db = self.writer(cases.len()).await?;
        for chunk in cases.chunks(per_statement(7)) {
            let mut upsert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO cases (case_number, court_id, case_type, caption, filed_at,
                                    confidential, closed_at) ",
            );
            upsert.push_values(chunk, |mut row, case| {
                row.push_bind(&case.case_number)
                    .push_bind(&case.court_id)
                    .push_bind(&case.case_type)
                    .push_bind(&case.caption)
                    .push_bind(micros(case.filed_at))
                    .push_bind(case.confidential)
                    .push_bind(case.closed_at.map(micros));
            });
            upsert.push(
                " ON CONFLICT (case_number) DO UPDATE SET
                    court_id = excluded.court_id, case_type = excluded.case_type,
                    caption = excluded.caption, filed_at = excluded.filed_at,
                    confidential = excluded.confidential, closed_at = excluded.closed_at",
            );
            upsert.build().execute(&mut *db).await?;
            let mut delete =
                QueryBuilder::<Sqlite>::new("DELETE FROM parties WHERE case_number IN (");
            let mut list = delete.separated(", ");
            for case in chunk {
                list.push_bind(&case.case_number);
            }
            delete.push(")");
            delete.build().execute(&mut *db).await?;
        }
        let parties: Vec<_> = cases
            .iter()
            .flat_map(|case| {
                (case.parties.iter().enumerate()).map(move |(i, p)| (&case.case_number, i, p))
            })
            .collect();
        for chunk in parties.chunks(per_statement(4)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO parties (case_number, position, name, role) ",
            );
            insert.push_values(chunk, |mut row, (case_number, i, p)| {
                row.push_bind(*case_number)
                    .push_bind(*i as i64)
                    .push_bind(&p.name)
                    .push_bind(&p.role);
            });
            insert.build().execute(&mut *db).await?;
        }
        Ok(())
    }

    async fn insert_entries(&mut self, entries: &[DocketEntry]) -> Result<(), StoreError> {
        let db = self.writer(entries.len()).await?;
        for chunk in entries.chunks(per_statement(7)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO docket_entries (entry_id, case_number, code, description, text,
                                             filed_by, posted_at) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(&e.entry_id)
                    .push_bind(&e.case_number)
                    .push_bind(&e.code)
                    .push_bind(&e.description)
                    .push_bind(&e.text)
                    .push_bind(&e.filed_by)
                    .push_bind(micros(e.posted_at));
            });
            insert.build().execute(&mut *db).await?;
        }
        Ok(())
    }

    async fn void_entries(&mut self, voids: &[EntryVoid]) -> Result<(), StoreError> {
        let db = self.writer(voids.len()).await?;
        for void in voids {
            sqlx::query("UPDATE docket_entries SET voided_at = ? WHERE entry_id = ?")
                .bind(micros(void.voided_at))
                .bind(&void.entry_id)
                .execute(&mut *db)
                .await?;
        }
        Ok(())
    }

    async fn write_events(&mut self, events: &[EventWrite]) -> Result<(), StoreError> {
        let db = self.writer(events.len()).await?;
        for chunk in events.chunks(per_statement(11)) {
            let mut upsert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (event_id, case_number, kind, title, starts_at, location,
                                     judge, bring, status, version, changed_at) ",
            );
            upsert.push_values(chunk, |mut row, w| {
                let e = &w.event;
                row.push_bind(&e.event_id)
                    .push_bind(&e.case_number)
                    .push_bind(e.kind.as_str())
                    .push_bind(&e.title)
                    .push_bind(micros(e.starts_at))
                    .push_bind(&e.location)
                    .push_bind(&e.judge)
                    .push_bind(&e.bring)
                    .push_bind(e.status.as_str())
                    .push_bind(w.version)
                    .push_bind(micros(w.changed_at));
            });
            upsert.push(
                " ON CONFLICT (event_id) DO UPDATE SET
                    title = excluded.title, starts_at = excluded.starts_at,
                    location = excluded.location, judge = excluded.judge,
                    bring = excluded.bring, status = excluded.status,
                    version = excluded.version, changed_at = excluded.changed_at",
            );
            upsert.build().execute(&mut *db).await?;
        }
        let versions: Vec<&EventWrite> = events.iter().filter(|w| w.new_version).collect();
        for chunk in versions.chunks(per_statement(6)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO event_versions (event_id, version, starts_at, location, status,
                                             recorded_at) ",
            );
            insert.push_values(chunk, |mut row, w| {
                let e = &w.event;
                row.push_bind(&e.event_id)
                    .push_bind(w.version)
                    .push_bind(micros(e.starts_at))
                    .push_bind(&e.location)
                    .push_bind(e.status.as_str())
                    .push_bind(micros(w.changed_at));
            });
            insert.build().execute(&mut *db).await?;
        }
        Ok(())
    }

    async fn upsert_accounts(&mut self, accounts: &[Account]) -> Result<(), StoreError> {
        let db = self.writer(accounts.len()).await?;
        for chunk in accounts.chunks(per_statement(3)) {
            let mut upsert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO accounts (account_id, email, email_verified) ",
            );
            upsert.push_values(chunk, |mut row, a| {
                row.push_bind(&a.account_id)
                    .push_bind(&a.email)
                    .push_bind(a.email_verified);
            });
            upsert.push(
                " ON CONFLICT (account_id) DO UPDATE SET
                    email = excluded.email, email_verified = excluded.email_verified",
            );
            upsert.build().execute(&mut *db).await?;
        }
        Ok(())
    }

    async fn start_subscriptions(&mut self, starts: &[NewSubscription]) -> Result<(), StoreError> {
        let db = self.writer(starts.len()).await?;
        for chunk in starts.chunks(per_statement(4)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO subscriptions (account_id, case_number, tracked_at, stopped_at) ",
            );
            insert.push_values(chunk, |mut row, s| {
                row.push_bind(&s.account_id)
                    .push_bind(&s.case_number)
                    .push_bind(micros(s.tracked_at))
                    .push_bind(s.stopped_at.map(micros));
            });
            insert.build().execute(&mut *db).await?;
        }
        Ok(())
    }

    async fn stop_subscriptions(&mut self, stops: &[SubscriptionStop]) -> Result<(), StoreError> {
        let db = self.writer(stops.len()).await?;
        for stop in stops {
            sqlx::query("UPDATE subscriptions SET stopped_at = ? WHERE subscription_id = ?")
                .bind(micros(stop.stopped_at))
                .bind(stop.subscription_id)
                .execute(&mut *db)
                .await?;
        }
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        if let Phase::Writing { tx, locked, rows } = self.phase {
            tx.commit().await?;
            tracing::info!(
                records = rows,
                write_lock_ms = locked.elapsed().as_millis() as u64,
                "feed written"
            );
        }
        Ok(())
    }
}

/// `SELECT ... WHERE key IN (?, ...)` for each statement's share of `keys`, rows collected.
pub(super) async fn select_in<'k, T>(
    db: &mut SqliteConnection,
    select: &str,
    keys: &[&'k str],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let mut rows = Vec::new();
    for chunk in keys.chunks(per_statement(1)) {
        let mut query = QueryBuilder::<Sqlite>::new(select);
        query.push(" IN (");
        let mut list = query.separated(", ");
        for key in chunk {
            list.push_bind(*key);
        }
        query.push(")");
        rows.extend(query.build_query_as::<T>().fetch_all(&mut *db).await?);
    }
    Ok(rows)
}

async fn load_courts(
    db: &mut SqliteConnection,
    keys: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let rows: Vec<(String,)> =
        select_in(db, "SELECT court_id FROM courts WHERE court_id", keys).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

async fn load_trackability(
    db: &mut SqliteConnection,
    keys: &[&str],
) -> Result<HashMap<String, CaseTrackability>, StoreError> {
    let rows: Vec<(String, Option<bool>, String, bool)> = select_in(
        db,
        "SELECT c.case_number, ct.mcap, c.case_type,
                EXISTS (SELECT 1 FROM court_excluded_case_types x
                        WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
         FROM cases c LEFT JOIN courts ct ON ct.court_id = c.court_id
         WHERE c.case_number",
        keys,
    )
    .await?;
    rows.into_iter()
        .map(|(case_number, mcap, case_type, excluded)| {
            let court_mcap = mcap.ok_or_else(|| {
                StoreError::Corrupt(format!("case {case_number} names no known court"))
            })?;
            Ok((
                case_number,
                CaseTrackability {
                    court_mcap,
                    case_type,
                    case_type_excluded: excluded,
                },
            ))
        })
        .collect()
}

async fn load_entries(
    db: &mut SqliteConnection,
    keys: &[&str],
) -> Result<HashMap<String, StoredEntry>, StoreError> {
    let rows: Vec<crate::store::rows::StoredEntryRow<i64>> = select_in(
        db,
        "SELECT entry_id, case_number, code, description, text, filed_by, posted_at, voided_at
         FROM docket_entries WHERE entry_id",
        keys,
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.entry_id.clone(), StoredEntry::try_from(r)?)))
        .collect()
}

async fn load_events(
    db: &mut SqliteConnection,
    keys: &[&str],
) -> Result<HashMap<String, StoredEvent>, StoreError> {
    let rows: Vec<crate::store::rows::StoredEventRow<i64>> = select_in(
        db,
        "SELECT event_id, case_number, kind, title, starts_at, location, judge, bring, status,
                version, changed_at
         FROM events WHERE event_id",
        keys,
    )
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.event_id.clone(), StoredEvent::try_from(r)?)))
        .collect()
}

async fn load_accounts(
    db: &mut SqliteConnection,
    keys: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let rows: Vec<(String,)> =
        select_in(db, "SELECT account_id FROM accounts WHERE account_id", keys).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Every tracking period of the pairs, per pair, in order of start.
async fn load_subscriptions(
    db: &mut SqliteConnection,
    pairs: &[(&str, &str)],
) -> Result<HashMap<SubscriptionKey, Vec<SubscriptionRow>>, StoreError> {
    let mut periods: HashMap<SubscriptionKey, Vec<SubscriptionRow>> = HashMap::new();
    for chunk in pairs.chunks(per_statement(2)) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT account_id, case_number, subscription_id, tracked_at, stopped_at,
                    EXISTS (SELECT 1 FROM unsubscribes u
                            WHERE u.subscription_id = subscriptions.subscription_id)
             FROM subscriptions WHERE (account_id, case_number) IN (",
        );
        query.push_values(chunk, |mut row, (account_id, case_number)| {
            row.push_bind(*account_id).push_bind(*case_number);
        });
        query.push(") ORDER BY tracked_at, subscription_id");
        let rows = query
            .build_query_as::<(String, String, i64, i64, Option<i64>, bool)>()
            .fetch_all(&mut *db)
            .await?;
        for (account_id, case_number, subscription_id, tracked_at, stopped_at, unsubscribed) in rows
        {
            periods
                .entry((account_id, case_number))
                .or_default()
                .push(SubscriptionRow {
                    subscription_id,
                    tracked_at: instant(tracked_at)?,
                    stopped_at: opt_instant(stopped_at)?,
                    unsubscribed,
                });
        }
    }
    Ok(periods)
}

impl IngestStore for SqliteStore {
    type Ingest<'a> = SqliteIngest;

    async fn begin_ingest(&self) -> Result<SqliteIngest, StoreError> {
        SqliteIngest::new(&self.pool).await
    }
}
