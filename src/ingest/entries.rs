//! The entries feed: each line posts a docket entry, or voids one (a line with `voided_at`).
//! An entry never changes once posted: posting it again as it was changes nothing, posting it
//! differently is refused. The file's own entries count as posted for the lines after them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::parse::{
    has_key, parse, reject, require_printable_id, require_text, within_limits, Rejection,
};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits as limits;
use crate::model::DocketEntry;
use crate::store::{EntryVoid, IngestSession, StoreError, StoredEntry};

/// A void line of the entries feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VoidLine {
    entry_id: String,
    #[serde(deserialize_with = "crate::model::micros::instant")]
    voided_at: DateTime<Utc>,
}

pub(super) enum EntryLine {
    Post(DocketEntry),
    Void(VoidLine),
}

impl EntryLine {
    fn entry_id(&self) -> &str {
        match self {
            EntryLine::Post(entry) => &entry.entry_id,
            EntryLine::Void(void) => &void.entry_id,
        }
    }
}

/// An entry as the file leaves it.
enum Known {
    /// Stored before the file (boxed: most entries a file names are its own, and stay small).
    Stored(Box<StoredEntry>),
    /// Posted by the file: its row in `inserts`.
    Posted {
        row: usize,
        voided_at: Option<DateTime<Utc>>,
    },
}

#[derive(Default)]
pub(super) struct EntriesFeed {
    /// Every entry the file names that exists, stored or posted by the file.
    entries: HashMap<String, Known>,
    known_cases: HashSet<String>,
    inserts: Vec<DocketEntry>,
    voids: Vec<EntryVoid>,
}

impl EntriesFeed {
    /// The entry as the file leaves it so far, with its void mark.
    fn get(&self, entry_id: &str) -> Option<(&DocketEntry, Option<DateTime<Utc>>)> {
        match self.entries.get(entry_id)? {
            Known::Stored(stored) => Some((&stored.entry, stored.voided_at)),
            Known::Posted { row, voided_at } => Some((&self.inserts[*row], *voided_at)),
        }
    }

    fn post(&mut self, entry: DocketEntry) -> Result<Applied, Rejection> {
        require_text("entry_id", &entry.entry_id)?;
        require_printable_id("entry_id", &entry.entry_id)?;
        require_text("code", &entry.code)?;
        within_limits(&[
            ("entry_id", &entry.entry_id, limits::ID_CHARS),
            ("case_number", &entry.case_number, limits::ID_CHARS),
            ("code", &entry.code, limits::CODE_CHARS),
            ("description", &entry.description, limits::CAPTION_CHARS),
            ("text", &entry.text, limits::TEXT_CHARS),
            ("filed_by", &entry.filed_by, limits::NAME_CHARS),
        ])?;
        if let Some((old, _)) = self.get(&entry.entry_id) {
            if *old == entry {
                return Ok(Applied::Unchanged);
            }
            let differs: Vec<&str> = [
                ("case_number", old.case_number != entry.case_number),
                ("code", old.code != entry.code),
                ("description", old.description != entry.description),
                ("text", old.text != entry.text),
                ("filed_by", old.filed_by != entry.filed_by),
                ("posted_at", old.posted_at != entry.posted_at),
            ]
            .into_iter()
            .filter_map(|(field, changed)| changed.then_some(field))
            .collect();
            return reject(format!(
                "entry `{}` already exists with a different {}; entries cannot be changed, only voided",
                entry.entry_id,
                differs.join(", ")
            ));
        }
        if !self.known_cases.contains(&entry.case_number) {
            return reject(format!("unknown case `{}`", entry.case_number));
        }
        self.entries.insert(
            entry.entry_id.clone(),
            Known::Posted {
                row: self.inserts.len(),
                voided_at: None,
            },
        );
        self.inserts.push(entry);
        Ok(Applied::Changed)
    }

    fn void(&mut self, void: VoidLine) -> Result<Applied, Rejection> {
        within_limits(&[("entry_id", &void.entry_id, limits::ID_CHARS)])?;
        let voided_at = match self.entries.get_mut(&void.entry_id) {
            None => return reject(format!("cannot void unknown entry `{}`", void.entry_id)),
            Some(Known::Stored(stored)) => &mut stored.voided_at,
            Some(Known::Posted { voided_at, .. }) => voided_at,
        };
        if voided_at.is_some() {
            return Ok(Applied::Unchanged);
        }
        *voided_at = Some(void.voided_at);
        self.voids.push(EntryVoid {
            entry_id: void.entry_id,
            voided_at: void.voided_at,
        });
        Ok(Applied::Changed)
    }
}

impl Feed for EntriesFeed {
    type Record = EntryLine;

    fn parse(line: &str) -> Result<EntryLine, Rejection> {
        if has_key(line, "voided_at")? {
            Ok(EntryLine::Void(parse(line)?))
        } else {
            Ok(EntryLine::Post(parse(line)?))
        }
    }

    /// The stored entries the chunk names, then the cases of the entries it posts anew.
    async fn look_up<I: IngestSession>(
        &mut self,
        session: &mut I,
        records: &[&EntryLine],
    ) -> Result<(), StoreError> {
        let unknown: HashSet<&str> = records
            .iter()
            .map(|record| record.entry_id())
            .filter(|entry_id| !self.entries.contains_key(*entry_id))
            .collect();
        if !unknown.is_empty() {
            let unknown: Vec<&str> = unknown.into_iter().collect();
            for (entry_id, stored) in session.stored_entries(&unknown).await? {
                self.entries
                    .insert(entry_id, Known::Stored(Box::new(stored)));
            }
        }
        let cases = records.iter().filter_map(|record| match record {
            EntryLine::Post(entry) if !self.entries.contains_key(&entry.entry_id) => {
                Some(entry.case_number.as_str())
            }
            _ => None,
        });
        super::learn_cases(session, &mut self.known_cases, cases).await
    }

    fn apply(&mut self, record: EntryLine) -> Result<Applied, Rejection> {
        match record {
            EntryLine::Post(entry) => self.post(entry),
            EntryLine::Void(void) => self.void(void),
        }
    }

    /// Posts first, then voids: a void may be of an entry the same file posts.
    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        for batch in self.inserts.chunks(ROWS_PER_BATCH) {
            session.insert_entries(batch).await?;
        }
        for batch in self.voids.chunks(ROWS_PER_BATCH) {
            session.void_entries(batch).await?;
        }
        Ok(())
    }
}
