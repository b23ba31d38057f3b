//! Plain domain values shared by every stage: what the feeds carry and what the store returns.
//! Nothing here knows about a database, a template or a transport.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A circuit court as the courts feed describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Court {
    pub court_id: String,
    pub name: String,
    /// Whether the court takes part in the Missouri Court Automation Program.
    pub mcap: bool,
    /// Case types for which Track This Case is not offered in this court.
    pub track_excluded_case_types: Vec<String>,
}

/// A party named on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    pub role: String,
}

/// A court case as the cases feed describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub case_number: String,
    pub court_id: String,
    pub case_type: String,
    pub caption: String,
    #[serde(deserialize_with = "micros::instant")]
    pub filed_at: DateTime<Utc>,
    pub confidential: bool,
    #[serde(default, deserialize_with = "micros::optional_instant")]
    pub closed_at: Option<DateTime<Utc>>,
    pub parties: Vec<Party>,
}

/// A docket entry posted by a clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocketEntry {
    pub entry_id: String,
    pub case_number: String,
    pub code: String,
    pub description: String,
    pub text: String,
    pub filed_by: String,
    #[serde(deserialize_with = "micros::instant")]
    pub posted_at: DateTime<Utc>,
}

/// What a court date is: a hearing to attend, or a day by which something must be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Hearing,
    PaymentDue,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Hearing => "hearing",
            EventKind::PaymentDue => "payment_due",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        match text {
            "hearing" => Some(EventKind::Hearing),
            "payment_due" => Some(EventKind::PaymentDue),
            _ => None,
        }
    }
}

/// Whether a court date still stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Scheduled,
    Cancelled,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Scheduled => "scheduled",
            EventStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<EventStatus> {
        match text {
            "scheduled" => Some(EventStatus::Scheduled),
            "cancelled" => Some(EventStatus::Cancelled),
            _ => None,
        }
    }
}

/// A notice about a court date, as the ledger of date notices records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Notice {
    /// The reminder this many days before.
    Reminder(u32),
    /// The notice that the date moved, changed place or was cancelled.
    Change,
}

impl Notice {
    /// The ledger's (notice, days) columns.
    pub fn columns(self) -> (&'static str, i64) {
        match self {
            Notice::Reminder(days) => ("reminder", i64::from(days)),
            Notice::Change => ("change", 0),
        }
    }

    pub fn from_columns(notice: &str, days: i64) -> Option<Notice> {
        match notice {
            "reminder" => u32::try_from(days).ok().map(Notice::Reminder),
            "change" => Some(Notice::Change),
            _ => None,
        }
    }
}

/// An instant as a notice shows it: its seconds dropped.
pub fn to_the_minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// A hearing or a payment deadline as the events feed describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourtEvent {
    pub event_id: String,
    pub case_number: String,
    pub kind: EventKind,
    /// "Arraignment", "Pre-Trial Conference", "Fine/Costs Due".
    pub title: String,
    #[serde(deserialize_with = "micros::instant")]
    pub starts_at: DateTime<Utc>,
    /// Courtroom, division, address; may be empty, null or left out.
    #[serde(default, deserialize_with = "empty_if_null")]
    pub location: String,
    #[serde(default, deserialize_with = "empty_if_null")]
    pub judge: String,
    /// What to bring, if the court says (papers, proof of insurance); may be empty.
    #[serde(default, deserialize_with = "empty_if_null")]
    pub bring: String,
    pub status: EventStatus,
}

impl CourtEvent {
    /// Whether `other` moves this event in time, place or status: a change people are told
    /// of. (A new title, judge or list of things to bring is not.)
    /// Times are compared to the minute and places by their words, as a notice shows them: a
    /// few seconds or a stray space is no change to tell anyone of.
    pub fn is_moved_by(&self, other: &CourtEvent) -> bool {
        to_the_minute(self.starts_at) != to_the_minute(other.starts_at)
            || !self
                .location
                .split_whitespace()
                .eq(other.location.split_whitespace())
            || self.status != other.status
    }
}

/// Whether a party watch names a person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyKind {
    Person,
    #[serde(alias = "organization")]
    Organisation,
}

impl PartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Person => "person",
            PartyKind::Organisation => "organisation",
        }
    }

    pub fn parse(text: &str) -> Option<PartyKind> {
        match text {
            "person" => Some(PartyKind::Person),
            "organisation" | "organization" => Some(PartyKind::Organisation),
            _ => None,
        }
    }
}

/// A party watch: an account's standing search for a name among the parties of new cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watch {
    pub watch_id: String,
    pub account_id: String,
    pub name: String,
    pub kind: PartyKind,
    /// Courts (`CTnn`) the watch is limited to; empty for every court.
    pub circuits: Vec<String>,
    /// Case types the watch is limited to; empty for every type.
    pub case_types: Vec<String>,
    /// Party roles the watch is limited to (Defendant, Petitioner...); empty for every role.
    pub roles: Vec<String>,
    /// Whether common short forms of a first name count (William and Bill).
    pub nicknames: bool,
    /// Whether a matched case is also tracked, from its filing time.
    pub auto_track: bool,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// A registered CaseNet account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
}

/// What the store knows of a case when a subscription or an entry refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseTrackability {
    pub court_mcap: bool,
    pub case_type: String,
    pub case_type_excluded: bool,
}

/// One (account, entry) pair the batch must consider, with everything a digest shows.
/// The store yields these ordered by account, case number, posted time and arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRow {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub subscription_id: i64,
    pub case_number: String,
    pub caption: String,
    pub court_id: String,
    pub court_name: String,
    pub entry_seq: i64,
    pub entry_id: String,
    pub code: String,
    pub description: String,
    pub text: String,
    pub filed_by: String,
    pub posted_at: DateTime<Utc>,
}

/// The class of a send's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendOutcome {
    Sent,
    Transient,
    Permanent,
    Policy,
}

impl SendOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::Transient => "transient",
            SendOutcome::Permanent => "permanent",
            SendOutcome::Policy => "policy",
        }
    }
}

/// What a bounce (at send time or a bounce mail) says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BounceVerdict {
    /// The address itself is bad (unknown user, unknown host, moved).
    Hard,
    /// A passing failure (mailbox full, delayed, temporarily refused).
    Soft,
    /// A refusal aimed at us, not at the address (blocklists, authentication, content policy,
    /// our own sender address or domain).
    Policy,
    /// The message was refused as too large: nothing against the address, but sending the same
    /// message again is pointless.
    TooLarge,
    /// The recipient reported the message as unwanted (a feedback-loop report).
    Complaint,
    /// A vacation or other automatic reply.
    AutoReply,
    /// A delivery notice that reports success.
    Delivered,
}

impl BounceVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            BounceVerdict::Hard => "hard",
            BounceVerdict::Soft => "soft",
            BounceVerdict::Policy => "policy",
            BounceVerdict::TooLarge => "too-large",
            BounceVerdict::Complaint => "complaint",
            BounceVerdict::AutoReply => "auto-reply",
            BounceVerdict::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<BounceVerdict> {
        [
            BounceVerdict::Hard,
            BounceVerdict::Soft,
            BounceVerdict::Policy,
            BounceVerdict::TooLarge,
            BounceVerdict::Complaint,
            BounceVerdict::AutoReply,
            BounceVerdict::Delivered,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressionReason {
    HardBounce,
    Complaint,
    SoftBounces,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "hard-bounce",
            SuppressionReason::Complaint => "complaint",
            SuppressionReason::SoftBounces => "soft-bounces",
        }
    }
}

/// A closure of the service recorded by operators (the "System Unavailability Log").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub outage_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

/// An outage to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutage {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

/// Whether `number` has the shape of a circuit case number (Court Operating Rule 4.04.1):
/// two-digit year, a 2-3 character location code, a dash, a two-letter case type, a
/// five-digit sequence, and an optional `-NN` suffix; for example `14BA-CV01093` or
/// `1611-CR03626-01`. Ticket-style numbers of the Fine Collection Center do not qualify.
pub fn is_circuit_case_number(number: &str) -> bool {
    // Every character of the format is ASCII; checking that first keeps the byte slicing below
    // on character boundaries.
    if !number.is_ascii() {
        return false;
    }
    let (main, suffix) = match number.len() {
        n if n > 3 && number.as_bytes()[n - 3] == b'-' && number[..n - 3].contains('-') => {
            (&number[..n - 3], Some(&number[n - 2..]))
        }
        _ => (number, None),
    };
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    let digits = |s: &str| all(s, u8::is_ascii_digit);
    if suffix.is_some_and(|s| !digits(s)) {
        return false;
    }
    let Some((head, tail)) = main.split_once('-') else {
        return false;
    };
    let location_ok = (4..=5).contains(&head.len())
        && digits(&head[..2])
        && all(&head[2..], |b| b.is_ascii_digit() || b.is_ascii_uppercase());
    let tail_ok = tail.len() == 7 && all(&tail[..2], u8::is_ascii_uppercase) && digits(&tail[2..]);
    location_ok && tail_ok
}

#[cfg(test)]
mod tests {
    use super::is_circuit_case_number;

    #[test]
    fn case_numbers_follow_the_operating_rule() {
        for good in [
            "14BA-CV01093",
            "2216-CV12345",
            "1911-CR01411",
            "1611-CR03626-01",
        ] {
            assert!(is_circuit_case_number(good), "{good}");
        }
        for bad in [
            "171155061",
            "14BA-CV1093",
            "14ba-CV01093",
            "1-CV01093",
            "14BAXY-CV01093",
            "14BA-CV01093-1",
            "14BA-C101093",
            "1éA-CV01093",
            "",
        ] {
            assert!(!is_circuit_case_number(bad), "{bad}");
        }
    }
}

/// Feed instants as the store keeps them: to the microsecond. A feed that writes nanoseconds
/// sends the same instant again when it re-sends a line, and must be seen to.
/// A text a feed may leave empty, give as `null` or leave out: all three are empty.
fn empty_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

pub mod micros {
    use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Utc};
    use serde::{Deserialize, Deserializer};

    /// The last year a feed's time may fall in. A court's dates lie well before it; a time
    /// after it is a slip (`9999`, `+12026`) that would print and calendar as nonsense, and the
    /// zone data behind local times ends with it.
    pub const LAST_YEAR: i32 = 2099;
    /// The first: times are kept to the microsecond, which nanosecond arithmetic reaches back
    /// to 1677 only, and old placeholder dates (`1899-12-30`) come well after it.
    pub const FIRST_YEAR: i32 = 1700;

    fn checked<E: serde::de::Error>(t: DateTime<Utc>) -> Result<DateTime<Utc>, E> {
        if t.year() > LAST_YEAR {
            return Err(E::custom(format!(
                "the year {} is out of range: a time here falls no later than {LAST_YEAR}",
                t.year()
            )));
        }
        if t.year() < FIRST_YEAR {
            return Err(E::custom(format!(
                "the year {} is out of range: a time here falls in {FIRST_YEAR} or later",
                t.year()
            )));
        }
        Ok(t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t))
    }

    pub fn instant<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        checked(DateTime::<Utc>::deserialize(d)?)
    }

    pub fn optional_instant<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)?
            .map(checked)
            .transpose()
    }
}
