//! Party watches as the store keeps them: the watches feed's rows, the parties as they arrive
//! on cases, each match (the exactly-once ledger of new-case notices) and the notices waiting
//! for a digest. The decisions are made in [`crate::watches`]; the store reads and writes.

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;
use crate::model::Watch;

/// A party that first appeared on a case: with the case when it was filed (at the filing
/// time), or added later (when the cases feed brought it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyArrival {
    pub case_number: String,
    pub name: String,
    pub role: String,
    pub arrived_at: DateTime<Utc>,
}

/// A stored watch, with whether the noise guard paused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWatch {
    pub watch: Watch,
    pub paused: bool,
}

/// What the watches feed checks of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOwner {
    pub email_verified: bool,
    /// Its watches that are not stopped.
    pub active_watches: Vec<String>,
}

/// A party arrival not matched yet, with what decides whether its case can be told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivalRow {
    pub seq: i64,
    pub case_number: String,
    pub name: String,
    pub role: String,
    pub arrived_at: DateTime<Utc>,
    pub court_id: String,
    pub case_type: String,
    pub filed_at: DateTime<Utc>,
    /// False for a confidential case, a court outside MCAP or an excluded case type.
    pub notifiable: bool,
}

/// What the matching step reads: the parties not matched yet, the watches that may match
/// them, and how many cases each watch has matched per local day already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchInput {
    pub arrivals: Vec<ArrivalRow>,
    /// Watches not paused (stopped ones too: they matched until they stopped). An account
    /// that is no longer verified keeps its matches, which wait until it is verified again.
    pub watches: Vec<Watch>,
    /// (watch id, local day `YYYY-MM-DD`) to the cases matched on that day.
    pub day_counts: HashMap<(String, String), u32>,
    /// (account, case) pairs that have a tracking period already (auto_track leaves them).
    pub tracked: std::collections::HashSet<(String, String)>,
    /// (watch, case) pairs matched already, of the cases the arrivals are on.
    pub matched: std::collections::HashSet<(String, String)>,
}

/// A case a watch matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWatchMatch {
    pub account_id: String,
    pub watch_id: String,
    pub case_number: String,
    pub party_name: String,
    pub party_role: String,
    pub why: String,
    pub match_day: String,
    pub auto_tracked: bool,
}

/// A case tracked because a watch with auto_track matched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoTrack {
    pub account_id: String,
    pub case_number: String,
    pub tracked_at: DateTime<Utc>,
    /// `watch:ID`.
    pub source: String,
}

/// A watch the noise guard pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchPause {
    pub watch_id: String,
    pub reason: String,
}

/// What one matching step decided, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchDecisions {
    pub matches: Vec<NewWatchMatch>,
    pub tracks: Vec<AutoTrack>,
    pub pauses: Vec<WatchPause>,
    /// The arrivals matched (whether or not anything matched them).
    pub arrivals_done: Vec<i64>,
}

/// A new-case notice waiting for its account's next digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchNotice {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub watch_id: String,
    pub watch_name: String,
    pub case_number: String,
    pub court_id: String,
    pub court_name: String,
    pub case_type: String,
    pub caption: String,
    pub filed_at: DateTime<Utc>,
    pub party_name: String,
    pub party_role: String,
    pub why: String,
    pub auto_tracked: bool,
    /// The tracking period auto_track started for it, which the message's unsubscribe link
    /// stops too.
    pub auto_subscription_id: Option<i64>,
}

/// A pause whose owner has not been told yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PauseNotice {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub watch_id: String,
    pub watch_name: String,
    pub reason: String,
}

/// The notices waiting, in account order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitingWatchNotices {
    pub notices: Vec<WatchNotice>,
    pub pauses: Vec<PauseNotice>,
}

/// The ledger key of a new-case notice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchNoticeKey {
    pub account_id: String,
    pub watch_id: String,
    pub case_number: String,
}

/// One watch as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchSummary {
    pub watch_id: String,
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub circuits: Vec<String>,
    pub case_types: Vec<String>,
    pub roles: Vec<String>,
    pub nicknames: bool,
    pub auto_track: bool,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub paused_reason: Option<String>,
    /// When its owner stopped it from a message's unsubscribe link.
    pub unsubscribed_at: Option<DateTime<Utc>>,
    pub matches: u64,
    pub waiting: u64,
    pub last_match_at: Option<DateTime<Utc>>,
}

/// A party on a stored case, for `watches test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyOnCase {
    pub case_number: String,
    pub court_id: String,
    pub case_type: String,
    pub caption: String,
    pub filed_at: DateTime<Utc>,
    pub notifiable: bool,
    pub name: String,
    pub role: String,
}

/// Counts for `status` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchCounts {
    pub active: u64,
    pub paused: u64,
    pub stopped: u64,
    pub matches: u64,
    pub notices_waiting: u64,
    pub notices_queued: u64,
    pub auto_tracked: u64,
}

/// A watch a message's unsubscribe link stops, described for the page behind the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchTarget {
    pub watch_id: String,
    pub name: String,
    pub email: String,
    /// When its owner stopped it from a link, if they have.
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// What stopping watches from a link did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchesStopped {
    pub stopped: u64,
    pub already: u64,
    /// Queued messages that told of them, cancelled.
    pub messages_withheld: u64,
}

/// The watches each message's unsubscribe link stops: those of its new-case notices and the
/// pauses it tells of.
pub fn watch_scope(message: &super::QueuedMessage) -> Vec<&str> {
    let mut ids: Vec<&str> = (message.watch_notices.iter())
        .map(|k| k.watch_id.as_str())
        .chain(message.watch_pauses.iter().map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A case tracked for a watch's auto_track, as the subscriptions export writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoTrackRecord {
    pub account_id: String,
    pub case_number: String,
    pub tracked_at: DateTime<Utc>,
    /// `watch:ID`.
    pub source: String,
    /// When the match that started it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Party watches: the matching step's reads and its one write, the waiting notices, and the
/// operators' views.
pub trait WatchStore {
    /// Up to `limit` arrivals not matched yet (in arrival order) and what matching them needs.
    fn watch_input(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<WatchInput, StoreError>> + Send;
    /// Writes a matching step's decisions and marks its arrivals matched, in one transaction
    /// fenced by `leader`. A match already recorded is left as it was.
    fn record_watch_decisions(
        &self,
        leader: Option<&str>,
        decisions: &WatchDecisions,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks every arrival not matched yet as matched, when there is no watch to match them
    /// against (fenced by `leader`); returns how many.
    fn pass_arrivals(
        &self,
        leader: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The watches the unsubscribe link of the message `scope_key` stops.
    fn message_watch_scope(
        &self,
        scope_key: &str,
    ) -> impl Future<Output = Result<Vec<WatchTarget>, StoreError>> + Send;
    /// Stops watches at their owner's request, in one transaction: they match nothing more,
    /// what they matched is not told, and queued messages telling of them are withheld.
    fn stop_watches(
        &self,
        watch_ids: &[String],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<WatchesStopped, StoreError>> + Send;
    /// New-case notices and pauses not yet put in a message, of cases that can be told of now.
    fn waiting_watch_notices(
        &self,
    ) -> impl Future<Output = Result<WaitingWatchNotices, StoreError>> + Send;
    fn watch_summaries(&self)
        -> impl Future<Output = Result<Vec<WatchSummary>, StoreError>> + Send;
    fn watch_counts(&self) -> impl Future<Output = Result<WatchCounts, StoreError>> + Send;
    /// The tracking periods auto_track started, recorded at or after `since`, oldest first.
    fn auto_tracks_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Vec<AutoTrackRecord>, StoreError>> + Send;
    /// Every party of every stored case (for `watches test`; reads only).
    fn parties_on_cases(&self)
        -> impl Future<Output = Result<Vec<PartyOnCase>, StoreError>> + Send;
}

/// The tracking periods auto_track started: each with the time its match was recorded.
pub(crate) const AUTO_TRACKS: &str = "SELECT s.account_id, s.case_number, s.tracked_at, s.source,
        m.matched_at
    FROM subscriptions s
    JOIN watch_matches m ON m.account_id = s.account_id AND m.case_number = s.case_number
        AND s.source = 'watch:' || m.watch_id AND m.auto_tracked = true
    WHERE m.matched_at >= $1
    ORDER BY m.matched_at, s.subscription_id";

/// The counts of [`WatchCounts`], in its order; the same SQL on both backends.
pub(crate) const WATCH_COUNTS: &str = "SELECT
    (SELECT COUNT(*) FROM watches
     WHERE stopped_at IS NULL AND unsubscribed_at IS NULL AND paused_at IS NULL),
    (SELECT COUNT(*) FROM watches
     WHERE stopped_at IS NULL AND unsubscribed_at IS NULL AND paused_at IS NOT NULL),
    (SELECT COUNT(*) FROM watches WHERE stopped_at IS NOT NULL OR unsubscribed_at IS NOT NULL),
    (SELECT COUNT(*) FROM watch_matches),
    (SELECT COUNT(*) FROM watch_matches WHERE outbox_id IS NULL),
    (SELECT COUNT(*) FROM watch_matches WHERE outbox_id IS NOT NULL),
    (SELECT COUNT(*) FROM watch_matches WHERE auto_tracked = true)";

impl From<(i64, i64, i64, i64, i64, i64, i64)> for WatchCounts {
    fn from(
        (active, paused, stopped, matches, waiting, queued, auto_tracked): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ),
    ) -> WatchCounts {
        WatchCounts {
            active: active as u64,
            paused: paused as u64,
            stopped: stopped as u64,
            matches: matches as u64,
            notices_waiting: waiting as u64,
            notices_queued: queued as u64,
            auto_tracked: auto_tracked as u64,
        }
    }
}

/// A pause notice as read: (account, email, verified, suppressed, watch, name, reason).
pub(crate) fn pause_notice(
    (account_id, email, email_verified, suppressed, watch_id, watch_name, reason): (
        String,
        String,
        bool,
        bool,
        String,
        String,
        String,
    ),
) -> PauseNotice {
    PauseNotice {
        account_id,
        email,
        email_verified,
        suppressed,
        watch_id,
        watch_name,
        reason,
    }
}

/// Fails a digest's commit when one of its new-case notices was told already (the ledger's
/// guarantee: once per account, watch and case).
pub(crate) fn check_told_once(marked: u64, key: &WatchNoticeKey) -> Result<(), StoreError> {
    if marked == 1 {
        return Ok(());
    }
    Err(StoreError::Changed(format!(
        "the new case {} was told to {} for watch {} already; nothing was queued",
        key.case_number, key.account_id, key.watch_id
    )))
}

/// The reasons the new-case notices `found` give for withholding message `outbox_id`.
pub(crate) fn withheld_reasons(found: &[(i64, String)], outbox_id: i64) -> Vec<String> {
    found
        .iter()
        .filter(|(id, _)| *id == outbox_id)
        .map(|(_, reason)| format!("new case: {reason}"))
        .collect()
}
