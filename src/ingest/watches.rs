//! The watches feed: each line starts a party watch or restates one (a stop is a restatement
//! with `stopped_at`). A watch belongs to one verified account, which may keep at most
//! `watches.per_account` that are not stopped; its name must be one the matching rules can use
//! (a person's first name whole, an organisation's more than "The" and a business form).
//! A restated watch that changes anything is no longer paused; an identical one changes
//! nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::parse::{parse, reject, require_printable_id, require_text, within_limits, Rejection};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits::{self as limits, check_items};
use crate::model::{PartyKind, Watch};
use crate::store::watches::{StoredWatch, WatchOwner};
use crate::store::{IngestSession, StoreError};
use crate::watches::NamePattern;

/// A line of the watches feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WatchLine {
    watch_id: String,
    account_id: String,
    name: String,
    kind: PartyKind,
    #[serde(default)]
    circuits: Vec<String>,
    #[serde(default)]
    case_types: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    nicknames: bool,
    auto_track: bool,
    #[serde(default, deserialize_with = "crate::model::micros::optional_instant")]
    started_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::model::micros::optional_instant")]
    stopped_at: Option<DateTime<Utc>>,
}

pub(super) struct WatchesFeed {
    per_account: u32,
    stored: HashMap<String, StoredWatch>,
    asked_watches: HashSet<String>,
    owners: HashMap<String, WatchOwner>,
    known_courts: HashSet<String>,
    writes: Vec<Watch>,
    row_of: HashMap<String, usize>,
    now: Option<DateTime<Utc>>,
}

impl Default for WatchesFeed {
    fn default() -> Self {
        WatchesFeed::new(crate::config::WatchSettings::default().per_account)
    }
}

impl WatchesFeed {
    pub(super) fn new(per_account: u32) -> WatchesFeed {
        WatchesFeed {
            per_account,
            stored: HashMap::new(),
            asked_watches: HashSet::new(),
            owners: HashMap::new(),
            known_courts: HashSet::new(),
            writes: Vec::new(),
            row_of: HashMap::new(),
            now: None,
        }
    }

    /// The watch as the file leaves it so far.
    fn current(&self, watch_id: &str) -> Option<&Watch> {
        match self.row_of.get(watch_id) {
            Some(&row) => Some(&self.writes[row]),
            None => self.stored.get(watch_id).map(|s| &s.watch),
        }
    }

    /// The account's watches that are not stopped once this file's lines so far (and `watch`)
    /// are applied (a stop still ahead has not stopped a watch yet).
    fn active_after(&self, watch: &Watch, now: DateTime<Utc>) -> usize {
        let mut active: HashSet<&str> = self
            .owners
            .get(&watch.account_id)
            .map(|o| o.active_watches.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for w in self.writes.iter().chain(std::iter::once(watch)) {
            if w.account_id != watch.account_id {
                continue;
            }
            if w.stopped_at.is_none_or(|stop| stop > now) {
                active.insert(&w.watch_id);
            } else {
                active.remove(w.watch_id.as_str());
            }
        }
        active.len()
    }
}

fn check_lists(line: &WatchLine, known_courts: &HashSet<String>) -> Result<(), Rejection> {
    for (field, items) in [
        ("circuits", &line.circuits),
        ("case_types", &line.case_types),
        ("roles", &line.roles),
    ] {
        check_items(field, items.len(), limits::LIST_ITEMS).map_err(Rejection)?;
        for (i, item) in items.iter().enumerate() {
            let name = format!("{field}[{i}]");
            require_text(&name, item)?;
            within_limits(&[(&name, item, limits::NAME_CHARS)])?;
        }
    }
    for (i, circuit) in line.circuits.iter().enumerate() {
        if !known_courts.contains(circuit) {
            return reject(format!(
                "field `circuits[{i}]`: unknown court `{circuit}` (circuits are court ids like CT22)"
            ));
        }
    }
    Ok(())
}

impl Feed for WatchesFeed {
    type Record = WatchLine;

    fn parse(line: &str) -> Result<WatchLine, Rejection> {
        parse(line)
    }

    async fn look_up<I: IngestSession>(
        &mut self,
        session: &mut I,
        records: &[&WatchLine],
    ) -> Result<(), StoreError> {
        let watches: HashSet<&str> = records
            .iter()
            .map(|w| w.watch_id.as_str())
            .filter(|id| !self.asked_watches.contains(*id))
            .collect();
        if !watches.is_empty() {
            let watches: Vec<&str> = watches.into_iter().collect();
            self.stored.extend(session.stored_watches(&watches).await?);
            self.asked_watches
                .extend(watches.into_iter().map(str::to_string));
        }
        let accounts: HashSet<&str> = records
            .iter()
            .map(|w| w.account_id.as_str())
            .filter(|id| !self.owners.contains_key(*id))
            .collect();
        if !accounts.is_empty() {
            let accounts: Vec<&str> = accounts.into_iter().collect();
            self.owners.extend(session.watch_owners(&accounts).await?);
        }
        let courts: HashSet<&str> = records
            .iter()
            .flat_map(|w| w.circuits.iter().map(String::as_str))
            .filter(|c| !self.known_courts.contains(*c))
            .collect();
        if !courts.is_empty() {
            let courts: Vec<&str> = courts.into_iter().collect();
            self.known_courts
                .extend(session.known_courts(&courts).await?);
        }
        Ok(())
    }

    fn apply(&mut self, line: WatchLine) -> Result<Applied, Rejection> {
        within_limits(&[
            ("watch_id", &line.watch_id, limits::ID_CHARS),
            ("account_id", &line.account_id, limits::ID_CHARS),
            ("name", &line.name, limits::NAME_CHARS),
        ])?;
        require_text("watch_id", &line.watch_id)?;
        require_printable_id("watch_id", &line.watch_id)?;
        if let Err(e) = NamePattern::new(line.kind, &line.name, line.nicknames) {
            return reject(format!("field `name`: `{}`: {e}", line.name));
        }
        check_lists(&line, &self.known_courts)?;
        let Some(owner) = self.owners.get(&line.account_id) else {
            return reject(format!("unknown account `{}`", line.account_id));
        };
        if !owner.email_verified {
            return reject(format!(
                "account `{}` has not verified its e-mail address; only verified accounts may watch names",
                line.account_id
            ));
        }
        let now = *self.now.get_or_insert_with(Utc::now);
        let before = self.current(&line.watch_id).cloned();
        if let Some(before) = &before {
            if before.account_id != line.account_id {
                return reject(format!(
                    "watch `{}` belongs to account `{}`; a watch cannot move to another account",
                    line.watch_id, before.account_id
                ));
            }
        }
        // A restatement without `started_at` keeps the start it had.
        let started_at = line
            .started_at
            .or(before.as_ref().map(|b| b.started_at))
            .unwrap_or(now);
        if let Some(stopped_at) = line.stopped_at {
            if stopped_at < started_at {
                return reject(format!(
                    "field `stopped_at`: {stopped_at} is before the watch started ({started_at})"
                ));
            }
        }
        let watch = Watch {
            watch_id: line.watch_id,
            account_id: line.account_id,
            name: line.name,
            kind: line.kind,
            circuits: line.circuits,
            case_types: line.case_types,
            roles: line.roles,
            nicknames: line.nicknames,
            auto_track: line.auto_track,
            started_at,
            stopped_at: line.stopped_at,
        };
        if before.as_ref() == Some(&watch) {
            return Ok(Applied::Unchanged);
        }
        let active = self.active_after(&watch, now);
        let running = watch.stopped_at.is_none_or(|stop| stop > now);
        if running && active > self.per_account as usize {
            return reject(format!(
                "account `{}` would have {active} watches; at most {} may run at once \
                 (watches.per_account): stop one first",
                watch.account_id, self.per_account
            ));
        }
        let key = watch.watch_id.clone();
        super::stage_upsert(&mut self.writes, &mut self.row_of, key, watch);
        Ok(Applied::Changed)
    }

    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        for batch in self.writes.chunks(ROWS_PER_BATCH) {
            session.upsert_watches(batch).await?;
        }
        Ok(())
    }
}
