//! The cases feed: each line adds a case or replaces one (its parties with it); its court must
//! exist. Each party that was not on the case before is recorded as arriving, for the party
//! watches: with a new case at its filing time, on an existing case when the file brings it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::parse::{parse, reject, require_text, within_limits, Rejection};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits::{self as limits, check_items};
use crate::model::{is_circuit_case_number, Case};
use crate::store::watches::PartyArrival;
use crate::store::{IngestSession, StoreError};

/// The courts the store has, and the cases to write, one row per case: a case given again
/// replaces its earlier line.
#[derive(Default)]
pub(super) struct CasesFeed {
    known_courts: HashSet<String>,
    /// The party names of each stored case the file names (absent: a new case).
    stored_parties: HashMap<String, Vec<String>>,
    asked_parties: HashSet<String>,
    rows: Vec<Case>,
    row_of: HashMap<String, usize>,
}

impl CasesFeed {
    /// The parties that arrive with the file's cases: all of a new case's, at its filing time;
    /// those an existing case did not have before, at `now`. Names are compared as the
    /// watches compare them (case, accents, punctuation), so a name only corrected or
    /// re-cased is no new party.
    fn arrivals(&self, now: DateTime<Utc>) -> Vec<PartyArrival> {
        let mut arrivals = Vec::new();
        for case in &self.rows {
            let before = self.stored_parties.get(&case.case_number);
            let arrived_at = if before.is_some() { now } else { case.filed_at };
            let mut seen: HashSet<Vec<String>> = before
                .into_iter()
                .flatten()
                .map(|name| crate::watches::names::fold(name))
                .collect();
            for party in &case.parties {
                if !seen.insert(crate::watches::names::fold(&party.name)) {
                    continue;
                }
                arrivals.push(PartyArrival {
                    case_number: case.case_number.clone(),
                    name: party.name.clone(),
                    role: party.role.clone(),
                    arrived_at,
                });
            }
        }
        arrivals
    }
}

impl Feed for CasesFeed {
    type Record = Case;

    fn parse(line: &str) -> Result<Case, Rejection> {
        parse(line)
    }

    async fn look_up<I: IngestSession>(
        &mut self,
        session: &mut I,
        records: &[&Case],
    ) -> Result<(), StoreError> {
        let unknown: HashSet<&str> = records
            .iter()
            .map(|case| case.court_id.as_str())
            .filter(|court_id| !self.known_courts.contains(*court_id))
            .collect();
        if !unknown.is_empty() {
            let unknown: Vec<&str> = unknown.into_iter().collect();
            self.known_courts
                .extend(session.known_courts(&unknown).await?);
        }
        let unasked: HashSet<&str> = records
            .iter()
            .map(|case| case.case_number.as_str())
            .filter(|number| !self.asked_parties.contains(*number))
            .collect();
        if !unasked.is_empty() {
            let unasked: Vec<&str> = unasked.into_iter().collect();
            self.stored_parties
                .extend(session.stored_parties(&unasked).await?);
            self.asked_parties
                .extend(unasked.into_iter().map(str::to_string));
        }
        Ok(())
    }

    fn apply(&mut self, case: Case) -> Result<Applied, Rejection> {
        if !is_circuit_case_number(&case.case_number) {
            return reject(format!(
                "field `case_number`: `{}` is not a circuit case number (like 14BA-CV01093)",
                case.case_number
            ));
        }
        require_text("case_type", &case.case_type)?;
        require_text("caption", &case.caption)?;
        within_limits(&[
            ("court_id", &case.court_id, limits::ID_CHARS),
            ("case_type", &case.case_type, limits::CODE_CHARS),
            ("caption", &case.caption, limits::CAPTION_CHARS),
        ])?;
        check_items("parties", case.parties.len(), limits::LIST_ITEMS).map_err(Rejection)?;
        for (i, party) in case.parties.iter().enumerate() {
            within_limits(&[
                (
                    &format!("parties[{i}].name"),
                    &party.name,
                    limits::NAME_CHARS,
                ),
                (
                    &format!("parties[{i}].role"),
                    &party.role,
                    limits::NAME_CHARS,
                ),
            ])?;
        }
        if !self.known_courts.contains(&case.court_id) {
            return reject(format!("unknown court `{}`", case.court_id));
        }
        let key = case.case_number.clone();
        super::stage_upsert(&mut self.rows, &mut self.row_of, key, case);
        Ok(Applied::Changed)
    }

    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        let arrivals = self.arrivals(Utc::now());
        for batch in self.rows.chunks(ROWS_PER_BATCH) {
            session.upsert_cases(batch).await?;
        }
        for batch in arrivals.chunks(ROWS_PER_BATCH) {
            session.add_party_arrivals(batch).await?;
        }
        Ok(())
    }
}
