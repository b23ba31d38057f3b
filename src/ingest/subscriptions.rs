//! The subscriptions feed: each line starts tracking a case for an account, or stops it (a
//! line with `stopped_at`). Tracking periods follow one another: a start while tracking, or at
//! a time already started, changes nothing; a start before an earlier period ended, or a stop
//! with nothing to stop, is refused. The file's own periods count for the lines after them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::parse::{has_key, parse, reject, within_limits, Rejection};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits as limits;
use crate::model::CaseTrackability;
use crate::store::{
    IngestSession, NewSubscription, StoreError, SubscriptionKey, SubscriptionRow, SubscriptionStop,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackStart {
    account_id: String,
    case_number: String,
    #[serde(deserialize_with = "crate::model::micros::instant")]
    tracked_at: DateTime<Utc>,
    /// Where the tracking came from, as `subscriptions export` writes it (`watch:ID`);
    /// informational.
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackStop {
    account_id: String,
    case_number: String,
    #[serde(deserialize_with = "crate::model::micros::instant")]
    stopped_at: DateTime<Utc>,
}

pub(super) enum TrackLine {
    Start(TrackStart),
    Stop(TrackStop),
}

impl TrackLine {
    fn pair(&self) -> (&str, &str) {
        match self {
            TrackLine::Start(t) => (&t.account_id, &t.case_number),
            TrackLine::Stop(t) => (&t.account_id, &t.case_number),
        }
    }
}

#[derive(Default)]
pub(super) struct SubscriptionsFeed {
    known_accounts: HashSet<String>,
    cases: HashMap<String, CaseTrackability>,
    /// Every period of each pair the file names, as the file leaves them. A period the file
    /// starts has the id `-(its row in starts) - 1`.
    periods: HashMap<SubscriptionKey, Vec<SubscriptionRow>>,
    starts: Vec<NewSubscription>,
    stops: Vec<SubscriptionStop>,
}

/// The row in `starts` of a period the file started, from its id.
fn start_row(subscription_id: i64) -> Option<usize> {
    (subscription_id < 0).then(|| (-subscription_id - 1) as usize)
}

impl SubscriptionsFeed {
    fn require_account_and_case(
        &self,
        account_id: &str,
        case_number: &str,
    ) -> Result<&CaseTrackability, Rejection> {
        within_limits(&[
            ("account_id", account_id, limits::ID_CHARS),
            ("case_number", case_number, limits::ID_CHARS),
        ])?;
        if !self.known_accounts.contains(account_id) {
            return reject(format!("unknown account `{account_id}`"));
        }
        match self.cases.get(case_number) {
            Some(t) => Ok(t),
            None => reject(format!("unknown case `{case_number}`")),
        }
    }

    fn periods(&mut self, account_id: String, case_number: String) -> &mut Vec<SubscriptionRow> {
        self.periods.entry((account_id, case_number)).or_default()
    }

    fn start(&mut self, t: TrackStart) -> Result<Applied, Rejection> {
        let case = self.require_account_and_case(&t.account_id, &t.case_number)?;
        if !case.court_mcap {
            return reject(format!(
                "case `{}` is in a court that does not take part in MCAP and cannot be tracked",
                t.case_number
            ));
        }
        if case.case_type_excluded {
            return reject(format!(
                "case `{}`: case type `{}` is excluded from Track This Case in its court",
                t.case_number, case.case_type
            ));
        }
        let subscription_id = -(self.starts.len() as i64) - 1;
        let periods = self.periods(t.account_id.clone(), t.case_number.clone());
        if periods
            .iter()
            .any(|p| p.tracked_at == t.tracked_at || p.stopped_at.is_none())
        {
            return Ok(Applied::Unchanged);
        }
        if let Some(last_stop) = periods.iter().filter_map(|p| p.stopped_at).max() {
            if t.tracked_at < last_stop {
                return reject(format!(
                    "field `tracked_at`: {} is before the end ({}) of an earlier tracking period",
                    t.tracked_at.to_rfc3339(),
                    last_stop.to_rfc3339()
                ));
            }
        }
        periods.push(SubscriptionRow {
            subscription_id,
            tracked_at: t.tracked_at,
            stopped_at: None,
            unsubscribed: false,
        });
        self.starts.push(NewSubscription {
            account_id: t.account_id,
            case_number: t.case_number,
            tracked_at: t.tracked_at,
            stopped_at: None,
        });
        Ok(Applied::Changed)
    }

    fn stop(&mut self, t: TrackStop) -> Result<Applied, Rejection> {
        self.require_account_and_case(&t.account_id, &t.case_number)?;
        let periods = self.periods(t.account_id.clone(), t.case_number.clone());
        if let Some(active) = periods.iter_mut().find(|p| p.stopped_at.is_none()) {
            if t.stopped_at < active.tracked_at {
                return reject(format!(
                    "field `stopped_at`: {} is before tracking started ({})",
                    t.stopped_at.to_rfc3339(),
                    active.tracked_at.to_rfc3339()
                ));
            }
            active.stopped_at = Some(t.stopped_at);
            let subscription_id = active.subscription_id;
            match start_row(subscription_id) {
                // Started by this file: it is written stopped.
                Some(row) => self.starts[row].stopped_at = Some(t.stopped_at),
                None => self.stops.push(SubscriptionStop {
                    subscription_id,
                    stopped_at: t.stopped_at,
                }),
            }
            return Ok(Applied::Changed);
        }
        if periods.iter().any(|p| p.stopped_at == Some(t.stopped_at)) {
            return Ok(Applied::Unchanged);
        }
        // Its recipient stopped it here already (and `subscriptions export` told the system of
        // record): the feed's own stop, at whatever time, changes nothing more.
        if periods
            .last()
            .is_some_and(|p| p.unsubscribed && t.stopped_at >= p.tracked_at)
        {
            return Ok(Applied::Unchanged);
        }
        reject(format!(
            "account `{}` is not tracking case `{}`",
            t.account_id, t.case_number
        ))
    }
}

impl Feed for SubscriptionsFeed {
    type Record = TrackLine;

    fn parse(line: &str) -> Result<TrackLine, Rejection> {
        if has_key(line, "stopped_at")? {
            Ok(TrackLine::Stop(parse(line)?))
        } else {
            Ok(TrackLine::Start(parse(line)?))
        }
    }

    /// The accounts, cases and tracking periods the chunk names that the feed has not seen.
    async fn look_up<I: IngestSession>(
        &mut self,
        session: &mut I,
        records: &[&TrackLine],
    ) -> Result<(), StoreError> {
        let mut accounts = HashSet::new();
        let mut cases = HashSet::new();
        let mut pairs = HashSet::new();
        for record in records {
            let (account_id, case_number) = record.pair();
            if !self.known_accounts.contains(account_id) {
                accounts.insert(account_id);
            }
            if !self.cases.contains_key(case_number) {
                cases.insert(case_number);
            }
            let key = (account_id.to_string(), case_number.to_string());
            if !self.periods.contains_key(&key) {
                pairs.insert((account_id, case_number));
            }
        }
        if !accounts.is_empty() {
            let accounts: Vec<&str> = accounts.into_iter().collect();
            self.known_accounts
                .extend(session.known_accounts(&accounts).await?);
        }
        if !cases.is_empty() {
            let cases: Vec<&str> = cases.into_iter().collect();
            self.cases.extend(session.case_trackability(&cases).await?);
        }
        if !pairs.is_empty() {
            let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
            let mut found = session.subscriptions(&pairs).await?;
            for (account_id, case_number) in pairs {
                let key = (account_id.to_string(), case_number.to_string());
                let periods = found.remove(&key).unwrap_or_default();
                self.periods.insert(key, periods);
            }
        }
        Ok(())
    }

    fn apply(&mut self, record: TrackLine) -> Result<Applied, Rejection> {
        match record {
            TrackLine::Start(t) => self.start(t),
            TrackLine::Stop(t) => self.stop(t),
        }
    }

    /// Starts and stops touch different periods (a stop of a period the file starts is
    /// written with its start).
    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        for batch in self.starts.chunks(ROWS_PER_BATCH) {
            session.start_subscriptions(batch).await?;
        }
        for batch in self.stops.chunks(ROWS_PER_BATCH) {
            session.stop_subscriptions(batch).await?;
        }
        Ok(())
    }
}
