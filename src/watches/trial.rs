//! `watches test NAME`: what a name would match among the cases already stored, under the same
//! rules and limits a watch uses, read only. Operators use it to judge a watch before it runs
//! (is this name common here? does the order or the initial matter?).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::matching::within_limits;
use super::names::{NameError, NamePattern};
use crate::model::{PartyKind, Watch};
use crate::store::watches::PartyOnCase;

/// One party a name would match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialHit {
    pub case_number: String,
    pub court_id: String,
    pub case_type: String,
    pub caption: String,
    pub filed_at: DateTime<Utc>,
    pub party: String,
    pub role: String,
    pub why: String,
    /// False for a confidential case or one its court excludes: a watch is never told of it.
    pub would_notify: bool,
}

/// What a trial found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trial {
    pub name: String,
    pub kind: PartyKind,
    pub parties_read: usize,
    /// Every party the name matches.
    pub matches: usize,
    /// Those on cases a watch may be told of (not confidential, not excluded).
    pub notifiable: usize,
    /// The first `limit` matches, newest cases first.
    pub hits: Vec<TrialHit>,
}

/// Compares `watch`'s name (and limits) with every party given (newest cases first), keeping
/// the first `limit` matches.
pub fn run_trial(watch: &Watch, parties: &[PartyOnCase], limit: usize) -> Result<Trial, NameError> {
    let pattern = NamePattern::new(watch.kind, &watch.name, watch.nicknames)?;
    let hits: Vec<TrialHit> = parties
        .iter()
        .filter(|p| within_limits(watch, &p.court_id, &p.case_type, &p.role))
        .filter_map(|p| {
            pattern.explain(&p.name).map(|why| TrialHit {
                case_number: p.case_number.clone(),
                court_id: p.court_id.clone(),
                case_type: p.case_type.clone(),
                caption: p.caption.clone(),
                filed_at: p.filed_at,
                party: p.name.clone(),
                role: p.role.clone(),
                why,
                would_notify: p.notifiable,
            })
        })
        .collect();
    Ok(Trial {
        name: watch.name.clone(),
        kind: watch.kind,
        parties_read: parties.len(),
        matches: hits.len(),
        notifiable: hits.iter().filter(|h| h.would_notify).count(),
        hits: hits.into_iter().take(limit).collect(),
    })
}
