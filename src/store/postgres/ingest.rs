//! A feed file against PostgreSQL: checked and written in one transaction. Other processes
//! keep working while it runs, so whatever a check reads is locked as it is read, and a
//! concurrent writer that would change it waits until the file commits (or gives up):
//!
//! - courts and accounts whose existence a check needs: `FOR KEY SHARE` (nothing deletes
//!   them; it is the lock the inserts referring to them take anyway);
//! - the cases a check reads, then their courts: `FOR SHARE`, which holds a cases or courts
//!   feed back at its upsert. A court's excluded case types are rewritten only by the courts
//!   feed, right after it upserts (and so locks) the court row: the court's lock guards them;
//! - stored docket entries: `FOR NO KEY UPDATE`, since the file may void them; two files
//!   naming the same entries run one after the other instead of deadlocking on an upgrade;
//! - the tracking periods of each (account, case) pair: first the account row, `FOR NO KEY
//!   UPDATE`, which serialises every subscriptions file touching the account (a pair with no
//!   period yet has no row to lock: two files must not both start its first period), then the
//!   periods themselves, `FOR NO KEY UPDATE`, which holds an unsubscribe back at its stop.
//!
//! Each lookup locks first and reads in a second statement: at READ COMMITTED the read sees
//! every commit up to the moment the locks were held, and nothing it read can change before
//! the file commits. Rows are locked in key order within a statement; files whose chunks lock
//! the same rows in opposite orders can still deadlock, and PostgreSQL then aborts one: that
//! file is refused whole with [`StoreError::Changed`], to be ingested again.
//!
//! Writes go a batch to a statement, the rows as arrays unnested on the server: one round trip
//! per batch and no limit on bound values. Entries get `inserted_xid` from its column default.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};

use super::PgStore;
use crate::model::{Account, Case, CaseTrackability, Court, CourtEvent, DocketEntry, Watch};
use crate::store::rows::{PeriodRow, StoredEntryRow, StoredEventRow};
use crate::store::watches::{PartyArrival, StoredWatch, WatchOwner};
use crate::store::{
    EntryVoid, EventWrite, IngestSession, IngestStore, NewSubscription, StoreError, StoredEntry,
    StoredEvent, SubscriptionKey, SubscriptionRow, SubscriptionStop,
};

/// One feed file's checks and writes, in one transaction (see the module notes).
pub struct PgIngest {
    tx: Transaction<'static, Postgres>,
    began: Instant,
    rows: usize,
}

/// A database error, with the aborts of contention (a deadlock between two files, a
/// serialisation failure) told apart: the file may be ingested again as it is.
fn contended(error: sqlx::Error) -> StoreError {
    const DEADLOCK_DETECTED: &str = "40P01";
    const SERIALIZATION_FAILURE: &str = "40001";
    if let sqlx::Error::Database(e) = &error {
        if matches!(
            e.code().as_deref(),
            Some(DEADLOCK_DETECTED | SERIALIZATION_FAILURE)
        ) {
            return StoreError::Changed(format!(
                "another writer was changing the same rows at the same time ({}); \
                 nothing was applied: ingest the file again",
                e.message()
            ));
        }
    }
    StoreError::Database(error)
}

impl PgIngest {
    fn db(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Counts `rows` about to be written and hands out the connection.
    fn writer(&mut self, rows: usize) -> &mut PgConnection {
        self.rows += rows;
        &mut self.tx
    }
}

/// SQLSTATE of a duplicate key.
const UNIQUE_VIOLATION: &str = "23505";

/// The keys, sorted and once each: rows are locked in this order.
fn sorted_keys(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl IngestSession for PgIngest {
    async fn stored_parties(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        super::watches::load_parties(self.db(), case_numbers)
            .await
            .map_err(contended)
    }

    async fn stored_watches(
        &mut self,
        watch_ids: &[&str],
    ) -> Result<HashMap<String, StoredWatch>, StoreError> {
        let rows = super::watches::load_watches(self.db(), watch_ids)
            .await
            .map_err(contended)?;
        rows.into_iter()
            .map(|r| {
                let watch = StoredWatch::try_from(r)?;
                Ok((watch.watch.watch_id.clone(), watch))
            })
            .collect()
    }

    async fn watch_owners(
        &mut self,
        account_ids: &[&str],
    ) -> Result<HashMap<String, WatchOwner>, StoreError> {
        super::watches::load_owners(self.db(), account_ids)
            .await
            .map_err(contended)
    }

    async fn add_party_arrivals(&mut self, arrivals: &[PartyArrival]) -> Result<(), StoreError> {
        let db = self.writer(arrivals.len());
        super::watches::insert_arrivals(db, arrivals)
            .await
            .map_err(contended)
    }

    async fn upsert_watches(&mut self, watches: &[Watch]) -> Result<(), StoreError> {
        let db = self.writer(watches.len());
        super::watches::upsert_watches(db, watches)
            .await
            .map_err(contended)
    }

    async fn known_courts(&mut self, court_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT court_id FROM courts WHERE court_id = ANY($1::text[])
             ORDER BY court_id FOR KEY SHARE",
        )
        .bind(sorted_keys(court_ids))
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn case_trackability(
        &mut self,
        case_numbers: &[&str],
    ) -> Result<HashMap<String, CaseTrackability>, StoreError> {
        let case_numbers = sorted_keys(case_numbers);
        // The cases first: once they are locked their court cannot change, so the courts
        // locked next are the ones the read below joins.
        let mut courts: Vec<String> = sqlx::query_scalar(
            "SELECT court_id FROM cases WHERE case_number = ANY($1::text[])
             ORDER BY case_number FOR SHARE",
        )
        .bind(&case_numbers)
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        courts.sort_unstable();
        courts.dedup();
        sqlx::query(
            "SELECT 1 FROM courts WHERE court_id = ANY($1::text[]) ORDER BY court_id FOR SHARE",
        )
        .bind(&courts)
        .execute(self.db())
        .await
        .map_err(contended)?;
        let rows: Vec<(String, Option<bool>, String, bool)> = sqlx::query_as(
            "SELECT c.case_number, ct.mcap, c.case_type,
                    EXISTS (SELECT 1 FROM court_excluded_case_types x
                            WHERE x.court_id = c.court_id AND x.case_type = c.case_type)
             FROM cases c LEFT JOIN courts ct ON ct.court_id = c.court_id
             WHERE c.case_number = ANY($1::text[])",
        )
        .bind(&case_numbers)
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        rows.into_iter()
            .map(|(case_number, mcap, case_type, excluded)| {
                let court_mcap = mcap.ok_or_else(|| {
                    StoreError::Corrupt(format!("case {case_number} names no known court"))
                })?;
                let trackability = CaseTrackability {
                    court_mcap,
                    case_type,
                    case_type_excluded: excluded,
                };
                Ok((case_number, trackability))
            })
            .collect()
    }

    async fn stored_entries(
        &mut self,
        entry_ids: &[&str],
    ) -> Result<HashMap<String, StoredEntry>, StoreError> {
        // Lock and read at once: the row is the whole answer, and a row changed while the
        // lock was awaited is read as it is now.
        let rows: Vec<StoredEntryRow<DateTime<Utc>>> = sqlx::query_as(
            "SELECT entry_id, case_number, code, description, text, filed_by, posted_at,
                    voided_at
             FROM docket_entries WHERE entry_id = ANY($1::text[])
             ORDER BY entry_id FOR NO KEY UPDATE",
        )
        .bind(sorted_keys(entry_ids))
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        rows.into_iter()
            .map(|row| Ok((row.entry_id.clone(), StoredEntry::try_from(row)?)))
            .collect()
    }

    async fn stored_events(
        &mut self,
        event_ids: &[&str],
    ) -> Result<HashMap<String, StoredEvent>, StoreError> {
        let rows: Vec<StoredEventRow<DateTime<Utc>>> = sqlx::query_as(
            "SELECT event_id, case_number, kind, title, starts_at, location, judge, bring,
                    status, version, changed_at
             FROM events WHERE event_id = ANY($1::text[])
             ORDER BY event_id FOR NO KEY UPDATE",
        )
        .bind(sorted_keys(event_ids))
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        rows.into_iter()
            .map(|row| Ok((row.event_id.clone(), StoredEvent::try_from(row)?)))
            .collect()
    }

    async fn known_accounts(
        &mut self,
        account_ids: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT account_id FROM accounts WHERE account_id = ANY($1::text[])
             ORDER BY account_id FOR KEY SHARE",
        )
        .bind(sorted_keys(account_ids))
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn subscriptions(
        &mut self,
        pairs: &[(&str, &str)],
    ) -> Result<HashMap<SubscriptionKey, Vec<SubscriptionRow>>, StoreError> {
        let accounts: Vec<&str> = pairs.iter().map(|(account_id, _)| *account_id).collect();
        sqlx::query(
            "SELECT 1 FROM accounts WHERE account_id = ANY($1::text[])
             ORDER BY account_id FOR NO KEY UPDATE",
        )
        .bind(sorted_keys(&accounts))
        .execute(self.db())
        .await
        .map_err(contended)?;
        let (account_ids, case_numbers): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
        sqlx::query(
            "SELECT 1 FROM subscriptions
             WHERE (account_id, case_number) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
             ORDER BY subscription_id FOR NO KEY UPDATE",
        )
        .bind(&account_ids)
        .bind(&case_numbers)
        .execute(self.db())
        .await
        .map_err(contended)?;
        let rows: Vec<PeriodRow<DateTime<Utc>>> = sqlx::query_as(
            "SELECT s.account_id, s.case_number, s.subscription_id, s.tracked_at, s.stopped_at,
                    EXISTS (SELECT 1 FROM unsubscribes u
                            WHERE u.subscription_id = s.subscription_id) AS unsubscribed
             FROM subscriptions s
             WHERE (s.account_id, s.case_number) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
             ORDER BY s.tracked_at, s.subscription_id",
        )
        .bind(&account_ids)
        .bind(&case_numbers)
        .fetch_all(self.db())
        .await
        .map_err(contended)?;
        let mut periods: HashMap<SubscriptionKey, Vec<SubscriptionRow>> = HashMap::new();
        for row in rows {
            let (key, period) = row.try_into()?;
            periods.entry(key).or_default().push(period);
        }
        Ok(periods)
    }

    async fn upsert_courts(&mut self, courts: &[Court]) -> Result<(), StoreError> {
        let mut courts: Vec<&Court> = courts.iter().collect();
        courts.sort_unstable_by(|a, b| a.court_id.cmp(&b.court_id));
        let ids: Vec<&str> = courts.iter().map(|c| c.court_id.as_str()).collect();
        let names: Vec<&str> = courts.iter().map(|c| c.name.as_str()).collect();
        let mcaps: Vec<bool> = courts.iter().map(|c| c.mcap).collect();
        let (excluded_courts, excluded_types): (Vec<&str>, Vec<&str>) = courts
            .iter()
            .flat_map(|c| {
                (c.track_excluded_case_types.iter()).map(|t| (c.court_id.as_str(), t.as_str()))
            })
            .unzip();
        let db = self.writer(courts.len());
        // The upsert locks each court row first: its excluded types below are rewritten under
        // that lock (see the module notes).
        sqlx::query(
            "INSERT INTO courts (court_id, name, mcap)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::boolean[])
             ON CONFLICT (court_id) DO UPDATE SET name = excluded.name, mcap = excluded.mcap",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&mcaps)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        sqlx::query("DELETE FROM court_excluded_case_types WHERE court_id = ANY($1::text[])")
            .bind(&ids)
            .execute(&mut *db)
            .await
            .map_err(contended)?;
        sqlx::query(
            "INSERT INTO court_excluded_case_types (court_id, case_type)
             SELECT * FROM UNNEST($1::text[], $2::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&excluded_courts)
        .bind(&excluded_types)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        Ok(())
    }

    async fn upsert_cases(&mut self, cases: &[Case]) -> Result<(), StoreError> {
        let mut cases: Vec<&Case> = cases.iter().collect();
        cases.sort_unstable_by(|a, b| a.case_number.cmp(&b.case_number));
        let numbers: Vec<&str> = cases.iter().map(|c| c.case_number.as_str()).collect();
        let courts: Vec<&str> = cases.iter().map(|c| c.court_id.as_str()).collect();
        let types: Vec<&str> = cases.iter().map(|c| c.case_type.as_str()).collect();
        let captions: Vec<&str> = cases.iter().map(|c| c.caption.as_str()).collect();
        let filed: Vec<DateTime<Utc>> = cases.iter().map(|c| c.filed_at).collect();
        let confidential: Vec<bool> = cases.iter().map(|c| c.confidential).collect();
        let closed: Vec<Option<DateTime<Utc>>> = cases.iter().map(|c| c.closed_at).collect();
        let db = self.writer(cases.len());
        // As on SQLite: the case replaced, and its parties with it, in the order given.
        sqlx::query(
            "INSERT INTO cases (case_number, court_id, case_type, caption, filed_at,
                                confidential, closed_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                  $5::timestamptz[], $6::boolean[], $7::timestamptz[])
             ON CONFLICT (case_number) DO UPDATE SET
                court_id = excluded.court_id, case_type = excluded.case_type,
                caption = excluded.caption, filed_at = excluded.filed_at,
                confidential = excluded.confidential, closed_at = excluded.closed_at",
        )
        .bind(&numbers)
        .bind(&courts)
        .bind(&types)
        .bind(&captions)
        .bind(&filed)
        .bind(&confidential)
        .bind(&closed)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        sqlx::query("DELETE FROM parties WHERE case_number = ANY($1::text[])")
            .bind(&numbers)
            .execute(&mut *db)
            .await
            .map_err(contended)?;
        let mut party_cases = Vec::new();
        let mut positions = Vec::new();
        let mut names = Vec::new();
        let mut roles = Vec::new();
        for case in &cases {
            for (position, party) in case.parties.iter().enumerate() {
                party_cases.push(case.case_number.as_str());
                positions.push(position as i64);
                names.push(party.name.as_str());
                roles.push(party.role.as_str());
            }
        }
        sqlx::query(
            "INSERT INTO parties (case_number, position, name, role)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[])",
        )
        .bind(&party_cases)
        .bind(&positions)
        .bind(&names)
        .bind(&roles)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        Ok(())
    }

    async fn insert_entries(&mut self, entries: &[DocketEntry]) -> Result<(), StoreError> {
        let column =
            |field: fn(&DocketEntry) -> &str| -> Vec<&str> { entries.iter().map(field).collect() };
        let ids = column(|e| &e.entry_id);
        let cases = column(|e| &e.case_number);
        let codes = column(|e| &e.code);
        let descriptions = column(|e| &e.description);
        let texts = column(|e| &e.text);
        let filers = column(|e| &e.filed_by);
        let posted: Vec<DateTime<Utc>> = entries.iter().map(|e| e.posted_at).collect();
        let db = self.writer(entries.len());
        // In file order, which is arrival order (seq). An entry another file posted since
        // this one checked it (the entry absent then, so there was no row to lock) is left
        // alone here, and the file refused below: checked again, it may be unchanged.
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO docket_entries (entry_id, case_number, code, description, text,
                                         filed_by, posted_at)
             SELECT entry_id, case_number, code, description, text, filed_by, posted_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::timestamptz[])
                  WITH ORDINALITY AS e (entry_id, case_number, code, description, text,
                                        filed_by, posted_at, position)
             ORDER BY position
             ON CONFLICT (entry_id) DO NOTHING
             RETURNING entry_id",
        )
        .bind(&ids)
        .bind(&cases)
        .bind(&codes)
        .bind(&descriptions)
        .bind(&texts)
        .bind(&filers)
        .bind(&posted)
        .fetch_all(&mut *db)
        .await
        .map_err(contended)?;
        if inserted.len() != entries.len() {
            let written: std::collections::HashSet<&str> =
                inserted.iter().map(String::as_str).collect();
            let taken: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| !written.contains(id))
                .collect();
            let more = match taken.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Err(StoreError::Changed(format!(
                "docket entry `{}`{more} changed while the file was being checked (posted by \
                 another ingest); nothing was applied: ingest the file again",
                taken[0]
            )));
        }
        Ok(())
    }

    async fn void_entries(&mut self, voids: &[EntryVoid]) -> Result<(), StoreError> {
        let ids: Vec<&str> = voids.iter().map(|v| v.entry_id.as_str()).collect();
        let at: Vec<DateTime<Utc>> = voids.iter().map(|v| v.voided_at).collect();
        let db = self.writer(voids.len());
        // Each entry once per file (a second void changes nothing and is not staged).
        sqlx::query(
            "UPDATE docket_entries d SET voided_at = v.voided_at
             FROM UNNEST($1::text[], $2::timestamptz[]) AS v (entry_id, voided_at)
             WHERE d.entry_id = v.entry_id",
        )
        .bind(&ids)
        .bind(&at)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        Ok(())
    }

    async fn write_events(&mut self, events: &[EventWrite]) -> Result<(), StoreError> {
        let mut events: Vec<&EventWrite> = events.iter().collect();
        events.sort_unstable_by(|a, b| a.event.event_id.cmp(&b.event.event_id));
        let text = |field: fn(&CourtEvent) -> &str| -> Vec<&str> {
            events.iter().map(|w| field(&w.event)).collect()
        };
        let ids = text(|e| &e.event_id);
        let cases = text(|e| &e.case_number);
        let kinds = text(|e| e.kind.as_str());
        let titles = text(|e| &e.title);
        let locations = text(|e| &e.location);
        let judges = text(|e| &e.judge);
        let brings = text(|e| &e.bring);
        let statuses = text(|e| e.status.as_str());
        let starts: Vec<DateTime<Utc>> = events.iter().map(|w| w.event.starts_at).collect();
        let versions: Vec<i64> = events.iter().map(|w| w.version).collect();
        let new_versions: Vec<bool> = events.iter().map(|w| w.new_version).collect();
        let changed: Vec<DateTime<Utc>> = events.iter().map(|w| w.changed_at).collect();
        let db = self.writer(events.len());
        // A new event another file scheduled since this one checked it (absent then, so there
        // was no row to lock) makes its version 1 a second time: the history's key refuses
        // it, and the file is refused whole.
        sqlx::query(
            "WITH given AS (
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                      $5::timestamptz[], $6::text[], $7::text[], $8::text[],
                                      $9::text[], $10::bigint[], $11::boolean[],
                                      $12::timestamptz[])
                     AS g (event_id, case_number, kind, title, starts_at, location, judge,
                           bring, status, version, new_version, changed_at)
             ), written AS (
                 INSERT INTO events (event_id, case_number, kind, title, starts_at, location,
                                     judge, bring, status, version, changed_at)
                 SELECT event_id, case_number, kind, title, starts_at, location, judge, bring,
                        status, version, changed_at
                 FROM given
                 ON CONFLICT (event_id) DO UPDATE SET
                    title = excluded.title, starts_at = excluded.starts_at,
                    location = excluded.location, judge = excluded.judge,
                    bring = excluded.bring, status = excluded.status,
                    version = excluded.version, changed_at = excluded.changed_at
                 RETURNING event_id
             )
             INSERT INTO event_versions (event_id, version, starts_at, location, status,
                                         recorded_at)
             SELECT g.event_id, g.version, g.starts_at, g.location, g.status, g.changed_at
             FROM given g JOIN written w ON w.event_id = g.event_id
             WHERE g.new_version",
        )
        .bind(&ids)
        .bind(&cases)
        .bind(&kinds)
        .bind(&titles)
        .bind(&starts)
        .bind(&locations)
        .bind(&judges)
        .bind(&brings)
        .bind(&statuses)
        .bind(&versions)
        .bind(&new_versions)
        .bind(&changed)
        .execute(&mut *db)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some(UNIQUE_VIOLATION) => {
                StoreError::Changed(
                    "an event of this file was scheduled by another ingest at the same time; \
                     nothing was applied: ingest the file again"
                        .into(),
                )
            }
            _ => contended(e),
        })?;
        Ok(())
    }

    async fn upsert_accounts(&mut self, accounts: &[Account]) -> Result<(), StoreError> {
        let mut accounts: Vec<&Account> = accounts.iter().collect();
        accounts.sort_unstable_by(|a, b| a.account_id.cmp(&b.account_id));
        let ids: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
        let emails: Vec<&str> = accounts.iter().map(|a| a.email.as_str()).collect();
        let verified: Vec<bool> = accounts.iter().map(|a| a.email_verified).collect();
        let db = self.writer(accounts.len());
        sqlx::query(
            "INSERT INTO accounts (account_id, email, email_verified)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::boolean[])
             ON CONFLICT (account_id) DO UPDATE SET
                email = excluded.email, email_verified = excluded.email_verified",
        )
        .bind(&ids)
        .bind(&emails)
        .bind(&verified)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        Ok(())
    }

    async fn start_subscriptions(&mut self, starts: &[NewSubscription]) -> Result<(), StoreError> {
        let accounts: Vec<&str> = starts.iter().map(|s| s.account_id.as_str()).collect();
        let cases: Vec<&str> = starts.iter().map(|s| s.case_number.as_str()).collect();
        let tracked: Vec<DateTime<Utc>> = starts.iter().map(|s| s.tracked_at).collect();
        let stopped: Vec<Option<DateTime<Utc>>> = starts.iter().map(|s| s.stopped_at).collect();
        let db = self.writer(starts.len());
        // The pairs' accounts are locked since their periods were read: no other file can
        // have started one of these periods in between.
        sqlx::query(
            "INSERT INTO subscriptions (account_id, case_number, tracked_at, stopped_at)
             SELECT account_id, case_number, tracked_at, stopped_at
             FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
                  WITH ORDINALITY AS s (account_id, case_number, tracked_at, stopped_at,
                                        position)
             ORDER BY position",
        )
        .bind(&accounts)
        .bind(&cases)
        .bind(&tracked)
        .bind(&stopped)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        Ok(())
    }

    async fn stop_subscriptions(&mut self, stops: &[SubscriptionStop]) -> Result<(), StoreError> {
        let ids: Vec<i64> = stops.iter().map(|s| s.subscription_id).collect();
        let at: Vec<DateTime<Utc>> = stops.iter().map(|s| s.stopped_at).collect();
        let db = self.writer(stops.len());
        sqlx::query(
            "UPDATE subscriptions s SET stopped_at = v.stopped_at
             FROM UNNEST($1::bigint[], $2::timestamptz[]) AS v (subscription_id, stopped_at)
             WHERE s.subscription_id = v.subscription_id",
        )
        .bind(&ids)
        .bind(&at)
        .execute(&mut *db)
        .await
        .map_err(contended)?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        let PgIngest { tx, began, rows } = self;
        tx.commit().await.map_err(contended)?;
        if rows > 0 {
            tracing::info!(
                records = rows,
                transaction_ms = began.elapsed().as_millis() as u64,
                "feed written"
            );
        }
        Ok(())
    }
}

impl IngestStore for PgStore {
    type Ingest<'a> = PgIngest;

    async fn begin_ingest(&self) -> Result<PgIngest, StoreError> {
        Ok(PgIngest {
            tx: self.begin().await?,
            began: Instant::now(),
            rows: 0,
        })
    }
}
