//! A feed file checked without the write lock, then written in one short transaction. Checking
//! a big file line by line takes long; holding SQLite's single write lock that long made every
//! other command (a run, a delivery pass, bounce ingest) give up with "database is locked".
//! So the session answers the checks from the database and from what the file has staged so
//! far, remembers every answer the database gave, and at commit takes the write lock, asks the
//! same questions again in bulk, and writes everything in a few statements only if every answer
//! is unchanged. If another writer changed something the checks relied on, nothing is written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::rows::{instant, micros, opt_instant};
use super::SqliteStore;
use crate::model::{Account, Case, CaseTrackability, Court, DocketEntry};
use crate::store::{IngestSession, IngestStore, StoreError, StoredEntry, SubscriptionRow};

/// Keys per `IN (...)` list and rows per multi-row insert: well under SQLite's limit of 32766
/// parameters per statement.
const CHUNK: usize = 2_000;

/// What decides whether cases of a court can be tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CourtRules {
    mcap: bool,
    excluded: Vec<String>,
}

/// What a case contributes to its trackability.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CaseKey {
    court_id: String,
    case_type: String,
}

/// The database's answers to the checks, as they were given.
#[derive(Debug, Default)]
struct Answers {
    courts: HashMap<String, Option<CourtRules>>,
    cases: HashMap<String, Option<CaseKey>>,
    /// Boxed: most answers for a big file are "no such entry", and stay small.
    entries: HashMap<String, Option<Box<StoredEntry>>>,
    accounts: HashMap<String, bool>,
    subscriptions: HashMap<(String, String), Vec<SubscriptionRow>>,
}

/// One write, in file order.
#[derive(Debug)]
enum Write {
    Court(Box<Court>),
    Case(Box<Case>),
    Entry(DocketEntry),
    Void {
        entry_id: String,
        at: DateTime<Utc>,
    },
    Account(Account),
    /// A new tracking period, stopped too if the file also stops it.
    Track {
        account_id: String,
        case_number: String,
        tracked_at: DateTime<Utc>,
        stopped_at: Option<DateTime<Utc>>,
    },
    Stop {
        subscription_id: i64,
        at: DateTime<Utc>,
    },
}

/// An entry as the file leaves it: one it inserted (the index of its write, so the entry is
/// kept once), or one already stored, with the void the file adds.
#[derive(Debug)]
enum StagedEntry {
    Inserted {
        write: usize,
        voided_at: Option<DateTime<Utc>>,
    },
    Stored(StoredEntry),
}

/// One feed file's checks and writes (see the module notes).
pub struct StagedIngest {
    /// One connection for the whole file: its checks, then its write transaction.
    conn: PoolConnection<Sqlite>,
    answers: Answers,
    courts: HashMap<String, CourtRules>,
    cases: HashMap<String, CaseKey>,
    /// Entries the file inserted or voided, as it leaves them.
    entries: HashMap<String, StagedEntry>,
    accounts: HashSet<String>,
    /// Tracking periods as the file leaves them, per (account, case) it touched.
    subscriptions: HashMap<(String, String), Vec<SubscriptionRow>>,
    writes: Vec<Write>,
    #[cfg(feature = "test-hooks")]
    pause: Option<std::sync::Arc<crate::hooks::Pause>>,
}

impl StagedIngest {
    pub async fn new(pool: &SqlitePool) -> Result<Self, StoreError> {
        Ok(StagedIngest {
            conn: pool.acquire().await?,
            answers: Answers::default(),
            courts: HashMap::new(),
            cases: HashMap::new(),
            entries: HashMap::new(),
            accounts: HashSet::new(),
            subscriptions: HashMap::new(),
            writes: Vec::new(),
            #[cfg(feature = "test-hooks")]
            pause: crate::hooks::ingest_pause(),
        })
    }

    async fn stage(&mut self, write: Write) {
        self.writes.push(write);
        #[cfg(feature = "test-hooks")]
        if let Some(pause) = &self.pause {
            pause.reached(self.writes.len()).await;
        }
    }

    async fn court_rules(&mut self, court_id: &str) -> Result<Option<CourtRules>, StoreError> {
        if let Some(rules) = self.courts.get(court_id) {
            return Ok(Some(rules.clone()));
        }
        if let Some(answer) = self.answers.courts.get(court_id) {
            return Ok(answer.clone());
        }
        let answer = load_court_rules(&mut *self.conn, court_id).await?;
        self.answers
            .courts
            .insert(court_id.to_string(), answer.clone());
        Ok(answer)
    }

    async fn case_key(&mut self, case_number: &str) -> Result<Option<CaseKey>, StoreError> {
        if let Some(key) = self.cases.get(case_number) {
            return Ok(Some(key.clone()));
        }
        if let Some(answer) = self.answers.cases.get(case_number) {
            return Ok(answer.clone());
        }
        let mut found = load_case_keys(&mut *self.conn, &[case_number]).await?;
        let answer = found.remove(case_number);
        self.answers
            .cases
            .insert(case_number.to_string(), answer.clone());
        Ok(answer)
    }

    async fn periods(
        &mut self,
        account_id: &str,
        case_number: &str,
    ) -> Result<&mut Vec<SubscriptionRow>, StoreError> {
        let key = (account_id.to_string(), case_number.to_string());
        if !self.subscriptions.contains_key(&key) {
            let rows = load_subscriptions(&mut *self.conn, &[account_id])
                .await?
                .remove(&key)
                .unwrap_or_default();
            self.answers.subscriptions.insert(key.clone(), rows.clone());
            self.subscriptions.insert(key.clone(), rows);
        }
        Ok(self.subscriptions.get_mut(&key).expect("just inserted"))
    }
}

impl Answers {
    /// Asks the database every question again, under the write lock: the checks hold only if
    /// every answer is the same.
    async fn still_hold(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<(), StoreError> {
        let changed = |what: String| -> Result<(), StoreError> {
            Err(StoreError::Changed(format!(
                "{what} changed while the file was being checked (another ingest?); \
                 nothing was applied: ingest the file again"
            )))
        };
        for (court_id, answer) in &self.courts {
            if &load_court_rules(&mut **tx, court_id).await? != answer {
                return changed(format!("court `{court_id}`"));
            }
        }
        let keys: Vec<&str> = self.cases.keys().map(String::as_str).collect();
        for chunk in keys.chunks(CHUNK) {
            let now = load_case_keys(&mut **tx, chunk).await?;
            for case_number in chunk {
                if now.get(*case_number) != self.cases[*case_number].as_ref() {
                    return changed(format!("case `{case_number}`"));
                }
            }
        }
        let keys: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        for chunk in keys.chunks(CHUNK) {
            let now = load_entries(&mut **tx, chunk).await?;
            for entry_id in chunk {
                if now.get(*entry_id) != self.entries[*entry_id].as_deref() {
                    return changed(format!("docket entry `{entry_id}`"));
                }
            }
        }
        let keys: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        for chunk in keys.chunks(CHUNK) {
            let now = load_accounts(&mut **tx, chunk).await?;
            for account_id in chunk {
                if now.contains(*account_id) != self.accounts[*account_id] {
                    return changed(format!("account `{account_id}`"));
                }
            }
        }
        let accounts: HashSet<&str> = self.subscriptions.keys().map(|(a, _)| a.as_str()).collect();
        let accounts: Vec<&str> = accounts.into_iter().collect();
        for chunk in accounts.chunks(CHUNK) {
            let now = load_subscriptions(&mut **tx, chunk).await?;
            for ((account_id, case_number), answer) in &self.subscriptions {
                if !chunk.contains(&account_id.as_str()) {
                    continue;
                }
                let key = (account_id.clone(), case_number.clone());
                if now.get(&key).unwrap_or(&Vec::new()) != answer {
                    return changed(format!("tracking of `{case_number}` by `{account_id}`"));
                }
            }
        }
        Ok(())
    }
}

impl IngestSession for StagedIngest {
    async fn court_exists(&mut self, court_id: &str) -> Result<bool, StoreError> {
        Ok(self.court_rules(court_id).await?.is_some())
    }

    async fn case_trackability(
        &mut self,
        case_number: &str,
    ) -> Result<Option<CaseTrackability>, StoreError> {
        let Some(case) = self.case_key(case_number).await? else {
            return Ok(None);
        };
        let rules = self.court_rules(&case.court_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("case {case_number} names no known court"))
        })?;
        Ok(Some(CaseTrackability {
            court_mcap: rules.mcap,
            case_type_excluded: rules.excluded.contains(&case.case_type),
            case_type: case.case_type,
        }))
    }

    async fn entry(&mut self, entry_id: &str) -> Result<Option<StoredEntry>, StoreError> {
        match self.entries.get(entry_id) {
            Some(StagedEntry::Stored(stored)) => return Ok(Some(stored.clone())),
            Some(StagedEntry::Inserted { write, voided_at }) => {
                let Some(Write::Entry(entry)) = self.writes.get(*write) else {
                    return Err(StoreError::Corrupt(format!(
                        "staged entry {entry_id} lost its write"
                    )));
                };
                return Ok(Some(StoredEntry {
                    entry: entry.clone(),
                    voided_at: *voided_at,
                }));
            }
            None => {}
        }
        if let Some(answer) = self.answers.entries.get(entry_id) {
            return Ok(answer.as_deref().cloned());
        }
        let answer = load_entries(&mut *self.conn, &[entry_id])
            .await?
            .remove(entry_id);
        self.answers
            .entries
            .insert(entry_id.to_string(), answer.clone().map(Box::new));
        Ok(answer)
    }

    async fn account_exists(&mut self, account_id: &str) -> Result<bool, StoreError> {
        if self.accounts.contains(account_id) {
            return Ok(true);
        }
        if let Some(answer) = self.answers.accounts.get(account_id) {
            return Ok(*answer);
        }
        let answer = load_accounts(&mut *self.conn, &[account_id])
            .await?
            .contains(account_id);
        self.answers.accounts.insert(account_id.to_string(), answer);
        Ok(answer)
    }

    async fn subscriptions(
        &mut self,
        account_id: &str,
        case_number: &str,
    ) -> Result<Vec<SubscriptionRow>, StoreError> {
        Ok(self.periods(account_id, case_number).await?.clone())
    }

    async fn upsert_court(&mut self, court: &Court) -> Result<(), StoreError> {
        self.courts.insert(
            court.court_id.clone(),
            CourtRules {
                mcap: court.mcap,
                excluded: court.track_excluded_case_types.clone(),
            },
        );
        self.stage(Write::Court(Box::new(court.clone()))).await;
        Ok(())
    }

    async fn upsert_case(&mut self, case: &Case) -> Result<(), StoreError> {
        self.cases.insert(
            case.case_number.clone(),
            CaseKey {
                court_id: case.court_id.clone(),
                case_type: case.case_type.clone(),
            },
        );
        self.stage(Write::Case(Box::new(case.clone()))).await;
        Ok(())
    }

    async fn insert_entry(&mut self, entry: &DocketEntry) -> Result<(), StoreError> {
        self.entries.insert(
            entry.entry_id.clone(),
            StagedEntry::Inserted {
                write: self.writes.len(),
                voided_at: None,
            },
        );
        self.stage(Write::Entry(entry.clone())).await;
        Ok(())
    }

    async fn void_entry(&mut self, entry_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        match self.entries.get_mut(entry_id) {
            Some(StagedEntry::Inserted { voided_at, .. }) => *voided_at = Some(at),
            _ => {
                let Some(mut stored) = self.entry(entry_id).await? else {
                    return Err(StoreError::Corrupt(format!(
                        "void of entry {entry_id}, which does not exist"
                    )));
                };
                stored.voided_at = Some(at);
                self.entries
                    .insert(entry_id.to_string(), StagedEntry::Stored(stored));
            }
        }
        self.stage(Write::Void {
            entry_id: entry_id.to_string(),
            at,
        })
        .await;
        Ok(())
    }

    async fn upsert_account(&mut self, account: &Account) -> Result<(), StoreError> {
        self.accounts.insert(account.account_id.clone());
        self.stage(Write::Account(account.clone())).await;
        Ok(())
    }

    async fn insert_subscription(
        &mut self,
        account_id: &str,
        case_number: &str,
        tracked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // A staged period's id is below zero and names its write: `-(index in writes) - 1`.
        let subscription_id = -(self.writes.len() as i64) - 1;
        self.periods(account_id, case_number)
            .await?
            .push(SubscriptionRow {
                subscription_id,
                tracked_at,
                stopped_at: None,
                unsubscribed: false,
            });
        self.stage(Write::Track {
            account_id: account_id.to_string(),
            case_number: case_number.to_string(),
            tracked_at,
            stopped_at: None,
        })
        .await;
        Ok(())
    }

    async fn stop_subscription(
        &mut self,
        subscription_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for periods in self.subscriptions.values_mut() {
            for period in periods.iter_mut() {
                if period.subscription_id == subscription_id {
                    period.stopped_at = Some(at);
                }
            }
        }
        if subscription_id < 0 {
            let index = (-subscription_id - 1) as usize;
            if let Some(Write::Track { stopped_at, .. }) = self.writes.get_mut(index) {
                *stopped_at = Some(at);
                return Ok(());
            }
            return Err(StoreError::Corrupt(format!(
                "stop of staged tracking period {subscription_id}, which does not exist"
            )));
        }
        self.stage(Write::Stop {
            subscription_id,
            at,
        })
        .await;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        let StagedIngest {
            mut conn,
            answers,
            writes,
            ..
        } = self;
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let locked = std::time::Instant::now();
        answers.still_hold(&mut tx).await?;
        let mut rest = &writes[..];
        while let Some(first) = rest.first() {
            // A stretch of writes of one kind goes in together, in file order.
            let same = rest
                .iter()
                .take_while(|w| std::mem::discriminant(*w) == std::mem::discriminant(first))
                .count();
            write_stretch(&mut tx, &rest[..same]).await?;
            rest = &rest[same..];
        }
        tx.commit().await?;
        tracing::info!(
            records = writes.len(),
            write_lock_ms = locked.elapsed().as_millis() as u64,
            "feed written"
        );
        Ok(())
    }
}

/// Writes a stretch of writes of one kind.
async fn write_stretch(
    tx: &mut Transaction<'_, Sqlite>,
    writes: &[Write],
) -> Result<(), StoreError> {
    match writes.first() {
        Some(Write::Entry(_)) => {
            let entries: Vec<&DocketEntry> = writes
                .iter()
                .filter_map(|w| match w {
                    Write::Entry(e) => Some(e),
                    _ => None,
                })
                .collect();
            for chunk in entries.chunks(CHUNK) {
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
                insert.build().execute(&mut **tx).await?;
            }
        }
        Some(Write::Account(_)) => {
            let accounts: Vec<&Account> = writes
                .iter()
                .filter_map(|w| match w {
                    Write::Account(a) => Some(a),
                    _ => None,
                })
                .collect();
            for chunk in accounts.chunks(CHUNK) {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO accounts (account_id, email, email_verified) ",
                );
                insert.push_values(chunk, |mut row, a| {
                    row.push_bind(&a.account_id)
                        .push_bind(&a.email)
                        .push_bind(a.email_verified);
                });
                insert.push(
                    " ON CONFLICT (account_id) DO UPDATE SET
                        email = excluded.email, email_verified = excluded.email_verified",
                );
                insert.build().execute(&mut **tx).await?;
            }
        }
        Some(Write::Track { .. }) => {
            let tracks: Vec<_> = writes
                .iter()
                .filter_map(|w| match w {
                    Write::Track {
                        account_id,
                        case_number,
                        tracked_at,
                        stopped_at,
                    } => Some((account_id, case_number, *tracked_at, *stopped_at)),
                    _ => None,
                })
                .collect();
            for chunk in tracks.chunks(CHUNK) {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO subscriptions (account_id, case_number, tracked_at, stopped_at) ",
                );
                insert.push_values(chunk, |mut row, (account_id, case_number, from, to)| {
                    row.push_bind(*account_id)
                        .push_bind(*case_number)
                        .push_bind(micros(*from))
                        .push_bind(to.map(micros));
                });
                insert.build().execute(&mut **tx).await?;
            }
        }
        _ => {
            for write in writes {
                write_one(tx, write).await?;
            }
        }
    }
    Ok(())
}

/// Writes one court, case, void or stop.
async fn write_one(tx: &mut Transaction<'_, Sqlite>, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Court(court) => {
            sqlx::query(
                "INSERT INTO courts (court_id, name, mcap) VALUES (?, ?, ?)
                 ON CONFLICT (court_id) DO UPDATE SET name = excluded.name, mcap = excluded.mcap",
            )
            .bind(&court.court_id)
            .bind(&court.name)
            .bind(court.mcap)
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM court_excluded_case_types WHERE court_id = ?")
                .bind(&court.court_id)
                .execute(&mut **tx)
                .await?;
            for case_type in &court.track_excluded_case_types {
                sqlx::query(
                    "INSERT OR IGNORE INTO court_excluded_case_types (court_id, case_type)
                     VALUES (?, ?)",
                )
                .bind(&court.court_id)
                .bind(case_type)
                .execute(&mut **tx)
                .await?;
            }
        }
        Write::Case(case) => {
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
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM parties WHERE case_number = ?")
                .bind(&case.case_number)
                .execute(&mut **tx)
                .await?;
            if !case.parties.is_empty() {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO parties (case_number, position, name, role) ",
                );
                insert.push_values(case.parties.iter().enumerate(), |mut row, (i, p)| {
                    row.push_bind(&case.case_number)
                        .push_bind(i as i64)
                        .push_bind(&p.name)
                        .push_bind(&p.role);
                });
                insert.build().execute(&mut **tx).await?;
            }
        }
        Write::Void { entry_id, at } => {
            sqlx::query("UPDATE docket_entries SET voided_at = ? WHERE entry_id = ?")
                .bind(micros(*at))
                .bind(entry_id)
                .execute(&mut **tx)
                .await?;
        }
        Write::Stop {
            subscription_id,
            at,
        } => {
            sqlx::query("UPDATE subscriptions SET stopped_at = ? WHERE subscription_id = ?")
                .bind(micros(*at))
                .bind(subscription_id)
                .execute(&mut **tx)
                .await?;
        }
        Write::Entry(_) | Write::Account(_) | Write::Track { .. } => {
            unreachable!("written in bulk by write_stretch")
        }
    }
    Ok(())
}

/// `?, ?, ...` for an `IN` list of `n` keys.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

async fn load_court_rules<'e, E>(db: E, court_id: &str) -> Result<Option<CourtRules>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let row: Option<(bool, Option<String>)> = sqlx::query_as(
        "SELECT ct.mcap,
                (SELECT group_concat(case_type, char(31)) FROM
                    (SELECT case_type FROM court_excluded_case_types x
                     WHERE x.court_id = ct.court_id ORDER BY case_type))
         FROM courts ct WHERE ct.court_id = ?",
    )
    .bind(court_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(mcap, excluded)| CourtRules {
        mcap,
        excluded: excluded
            .map(|list| list.split('\u{1f}').map(str::to_string).collect())
            .unwrap_or_default(),
    }))
}

async fn load_case_keys<'e, E>(db: E, keys: &[&str]) -> Result<HashMap<String, CaseKey>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let sql = format!(
        "SELECT case_number, court_id, case_type FROM cases WHERE case_number IN ({})",
        placeholders(keys.len())
    );
    let mut query = sqlx::query_as::<_, (String, String, String)>(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    Ok(query
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(case_number, court_id, case_type)| {
            (
                case_number,
                CaseKey {
                    court_id,
                    case_type,
                },
            )
        })
        .collect())
}

type EntryRecord = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

async fn load_entries<'e, E>(
    db: E,
    keys: &[&str],
) -> Result<HashMap<String, StoredEntry>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let sql = format!(
        "SELECT entry_id, case_number, code, description, text, filed_by, posted_at, voided_at
         FROM docket_entries WHERE entry_id IN ({})",
        placeholders(keys.len())
    );
    let mut query = sqlx::query_as::<_, EntryRecord>(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    query
        .fetch_all(db)
        .await?
        .into_iter()
        .map(
            |(entry_id, case_number, code, description, text, filed_by, posted_at, voided_at)| {
                Ok((
                    entry_id.clone(),
                    StoredEntry {
                        entry: DocketEntry {
                            entry_id,
                            case_number,
                            code,
                            description,
                            text,
                            filed_by,
                            posted_at: instant(posted_at)?,
                        },
                        voided_at: opt_instant(voided_at)?,
                    },
                ))
            },
        )
        .collect()
}

async fn load_accounts<'e, E>(db: E, keys: &[&str]) -> Result<HashSet<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let sql = format!(
        "SELECT account_id FROM accounts WHERE account_id IN ({})",
        placeholders(keys.len())
    );
    let mut query = sqlx::query_scalar::<_, String>(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    Ok(query.fetch_all(db).await?.into_iter().collect())
}

/// Every tracking period of the accounts, per (account, case), in order of start.
async fn load_subscriptions<'e, E>(
    db: E,
    accounts: &[&str],
) -> Result<HashMap<(String, String), Vec<SubscriptionRow>>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let sql = format!(
        "SELECT account_id, case_number, subscription_id, tracked_at, stopped_at,
                EXISTS (SELECT 1 FROM unsubscribes u
                        WHERE u.subscription_id = subscriptions.subscription_id)
         FROM subscriptions WHERE account_id IN ({}) ORDER BY tracked_at, subscription_id",
        placeholders(accounts.len())
    );
    let mut query = sqlx::query_as::<_, (String, String, i64, i64, Option<i64>, bool)>(&sql);
    for account in accounts {
        query = query.bind(*account);
    }
    let mut periods: HashMap<(String, String), Vec<SubscriptionRow>> = HashMap::new();
    for (account_id, case_number, subscription_id, tracked_at, stopped_at, unsubscribed) in
        query.fetch_all(db).await?
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
    Ok(periods)
}

impl IngestStore for SqliteStore {
    type Ingest<'a> = StagedIngest;

    async fn begin_ingest(&self) -> Result<StagedIngest, StoreError> {
        StagedIngest::new(&self.pool).await
    }
}
