//! The events feed: each line schedules a hearing or a payment deadline, or restates one. A
//! restatement with a new time, place or status is a change: the event's version grows by one
//! and its trackers are told in the next run. One with only a new title, judge or list of
//! things to bring updates the event in place; an identical one changes nothing. An event
//! never moves to another case or kind. Confidential cases and excluded case types are
//! accepted here and notified nothing, as for docket entries.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::parse::{parse, reject, require_printable_id, require_text, within_limits, Rejection};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits as limits;
use crate::model::CourtEvent;
use crate::store::{EventWrite, IngestSession, StoreError, StoredEvent};

#[derive(Default)]
pub(super) struct EventsFeed {
    /// Every event the file names that is stored, as stored before the file.
    stored: HashMap<String, StoredEvent>,
    known_cases: HashSet<String>,
    /// The rows to write, one per event, with the file's last word on it.
    writes: Vec<EventWrite>,
    row_of: HashMap<String, usize>,
    /// When this file's changes are recorded.
    now: Option<DateTime<Utc>>,
}

impl EventsFeed {
    /// The event as the file leaves it so far.
    fn current(&self, event_id: &str) -> Option<&CourtEvent> {
        if let Some(&row) = self.row_of.get(event_id) {
            return Some(&self.writes[row].event);
        }
        self.stored.get(event_id).map(|s| &s.event)
    }
}

fn check(event: &CourtEvent) -> Result<(), Rejection> {
    within_limits(&[
        ("event_id", &event.event_id, limits::ID_CHARS),
        ("case_number", &event.case_number, limits::ID_CHARS),
        ("title", &event.title, limits::NAME_CHARS),
        ("location", &event.location, limits::CAPTION_CHARS),
        ("judge", &event.judge, limits::NAME_CHARS),
        ("bring", &event.bring, limits::CAPTION_CHARS),
    ])?;
    require_text("event_id", &event.event_id)?;
    require_printable_id("event_id", &event.event_id)?;
    require_text("case_number", &event.case_number)?;
    require_text("title", &event.title)
}

impl Feed for EventsFeed {
    type Record = CourtEvent;

    fn parse(line: &str) -> Result<CourtEvent, Rejection> {
        parse(line)
    }

    /// The stored events the chunk names, and the cases of those it schedules anew.
    async fn look_up<I: IngestSession>(
        &mut self,
        session: &mut I,
        records: &[&CourtEvent],
    ) -> Result<(), StoreError> {
        let unknown: HashSet<&str> = records
            .iter()
            .map(|e| e.event_id.as_str())
            .filter(|id| !self.stored.contains_key(*id) && !self.row_of.contains_key(*id))
            .collect();
        if !unknown.is_empty() {
            let unknown: Vec<&str> = unknown.into_iter().collect();
            self.stored.extend(session.stored_events(&unknown).await?);
        }
        let cases = records.iter().map(|e| e.case_number.as_str());
        super::learn_cases(session, &mut self.known_cases, cases).await
    }

    fn apply(&mut self, event: CourtEvent) -> Result<Applied, Rejection> {
        check(&event)?;
        let now = *self.now.get_or_insert_with(Utc::now);
        match self.current(&event.event_id) {
            None if !self.known_cases.contains(&event.case_number) => {
                return reject(format!("unknown case `{}`", event.case_number));
            }
            None => {}
            Some(old) if *old == event => return Ok(Applied::Unchanged),
            Some(old) => {
                if old.case_number != event.case_number {
                    return reject(moved_elsewhere(&event, "case_number", &old.case_number));
                }
                if old.kind != event.kind {
                    return reject(moved_elsewhere(&event, "kind", old.kind.as_str()));
                }
            }
        }
        // Against the event as stored: a file that moves an event twice records one change,
        // from where it stood to where the file leaves it.
        // A version keeps the time it came: a new title or judge is no change people are told
        // of, and must not make the change look newer than it is.
        let (version, new_version, changed_at) = match self.stored.get(&event.event_id) {
            None => (1, true, now),
            Some(stored) if stored.event.is_moved_by(&event) => (stored.version + 1, true, now),
            Some(stored) => (stored.version, false, stored.changed_at),
        };
        let key = event.event_id.clone();
        super::stage_upsert(
            &mut self.writes,
            &mut self.row_of,
            key,
            EventWrite {
                event,
                version,
                new_version,
                changed_at,
            },
        );
        Ok(Applied::Changed)
    }

    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        for batch in self.writes.chunks(ROWS_PER_BATCH) {
            session.write_events(batch).await?;
        }
        Ok(())
    }
}

fn moved_elsewhere(event: &CourtEvent, field: &str, was: &str) -> String {
    format!(
        "event `{}` already exists with a different {field} (`{was}`); an event cannot move \
         to another case or kind: cancel it and schedule a new one",
        event.event_id
    )
}
