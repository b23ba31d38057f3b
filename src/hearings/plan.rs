//! A run's date notices: from the trackers of the court dates ahead, the dates' versions and
//! the notices already given, what each account is told in this run, one item per date (a
//! change and a reminder of the same date are one item).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::due::{change_due, offsets, reminder_late_at, reminders_due};
use crate::calendar::Calendar;
use crate::config::{ReminderSettings, MAX_REMINDER_DAYS};
use crate::model::{to_the_minute, CourtEvent, Notice};
use crate::store::{DateCandidates, DateNoticeKey, EventVersion, QueuedDateNotice};

/// What one account is told about one court date in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateItem {
    pub case_number: String,
    pub caption: String,
    pub case_type: String,
    pub court_id: String,
    pub court_name: String,
    pub subscription_id: i64,
    pub event: CourtEvent,
    pub version: i64,
    /// For a change notice, the date as this account last knew it (or as it stood before the
    /// change); None when the item is a reminder alone.
    pub was: Option<EventVersion>,
    /// The reminders (days before) the item stands for, nearest first.
    pub reminders: Vec<u32>,
    /// Calendar days from the run's day to the date's (0: today).
    pub days_ahead: i64,
    /// The first instant one of its reminders is late (`due::reminder_late_at`): a message
    /// still queued then is not sent. None for a change notice alone.
    pub late_at: Option<DateTime<Utc>>,
}

impl DateItem {
    /// The ledger rows the item records for `account_id`, each with when it is late.
    pub fn queued(&self, account_id: &str) -> Vec<QueuedDateNotice> {
        (self.keys(account_id).into_iter())
            .map(|key| QueuedDateNotice {
                key,
                late_at: self.late_at,
            })
            .collect()
    }

    /// The ledger keys the item records for `account_id`.
    pub fn keys(&self, account_id: &str) -> Vec<DateNoticeKey> {
        let change = self.was.as_ref().map(|_| Notice::Change);
        let reminders = self.reminders.iter().map(|&d| Notice::Reminder(d));
        change
            .into_iter()
            .chain(reminders)
            .map(|notice| DateNoticeKey {
                account_id: account_id.to_string(),
                event_id: self.event.event_id.clone(),
                version: self.version,
                notice,
            })
            .collect()
    }

    /// Whether the item tells of a change.
    pub fn is_change(&self) -> bool {
        self.was.is_some()
    }
}

/// One account's date items in a run, with what the digest needs of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDates {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    /// In order of the dates.
    pub items: Vec<DateItem>,
}

/// How far ahead a run reads court dates: past the longest reminder from the next opening.
pub fn horizon(calendar: &Calendar, now: DateTime<Utc>) -> DateTime<Utc> {
    let reopens = calendar.next_open(calendar.next_close(now)).unwrap_or(now);
    reopens.max(now) + Duration::days(i64::from(MAX_REMINDER_DAYS) + 2)
}

/// Each account's items for a run at `now`, by account id.
pub fn plan(
    calendar: &Calendar,
    settings: &ReminderSettings,
    candidates: DateCandidates,
    now: DateTime<Utc>,
) -> BTreeMap<String, AccountDates> {
    // A notice withheld (its case sealed, its recipient no longer tracking) is owed again once
    // that no longer holds: only the notices that went out count as given.
    let told: HashSet<DateNoticeKey> = candidates
        .told
        .iter()
        .filter(|(_, withheld)| !withheld)
        .map(|(k, _)| k.clone())
        .collect();
    // The versions each account heard of, per date (a withheld notice was not heard).
    let mut heard: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
    for (key, _) in candidates.told.iter().filter(|(_, withheld)| !withheld) {
        heard
            .entry((key.account_id.as_str(), key.event_id.as_str()))
            .or_default()
            .push(key.version);
    }
    let mut versions: HashMap<&str, Vec<&EventVersion>> = HashMap::new();
    for v in &candidates.versions {
        versions.entry(v.event_id.as_str()).or_default().push(v);
    }
    let mut accounts: BTreeMap<String, AccountDates> = BTreeMap::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for tracker in &candidates.trackers {
        // One item per account and date, even when two tracking periods cover it.
        if !seen.insert((tracker.account_id.clone(), tracker.event.event_id.clone())) {
            continue;
        }
        let key = |notice| DateNoticeKey {
            account_id: tracker.account_id.clone(),
            event_id: tracker.event.event_id.clone(),
            version: tracker.version,
            notice,
        };
        // A reminder given for an earlier version at the same time (a date moved and moved
        // back, a new courtroom) is not given again.
        let same_time_versions: Vec<i64> = versions
            .get(tracker.event.event_id.as_str())
            .into_iter()
            .flatten()
            .filter(|v| to_the_minute(v.starts_at) == to_the_minute(tracker.event.starts_at))
            .map(|v| v.version)
            .chain([tracker.version])
            .collect();
        let reminded = |d: u32| {
            same_time_versions.iter().any(|&version| {
                told.contains(&DateNoticeKey {
                    version,
                    ..key(Notice::Reminder(d))
                })
            })
        };
        let reminders: Vec<u32> = reminders_due(
            calendar,
            offsets(settings, tracker.event.kind),
            &tracker.event,
            now,
        )
        .into_iter()
        .filter(|&d| !reminded(d))
        .collect();
        let change = change_due(
            &tracker.event,
            tracker.version,
            tracker.changed_at,
            tracker.tracked_at,
            now,
        ) && !told.contains(&key(Notice::Change));
        if reminders.is_empty() && !change {
            continue;
        }
        // The change is told from the version the account last heard of (else the one before),
        // as recorded beside the event. A date that came back to where the account last knew
        // it is no change to tell: the notice is not given (nor recorded; later runs decide
        // the same).
        let was = change
            .then(|| {
                let event_id = tracker.event.event_id.as_str();
                let last_heard = heard
                    .get(&(tracker.account_id.as_str(), event_id))
                    .and_then(|v| v.iter().copied().filter(|&v| v < tracker.version).max());
                let before = last_heard.unwrap_or(tracker.version - 1);
                versions
                    .get(event_id)?
                    .iter()
                    .filter(|v| v.version <= before)
                    .max_by_key(|v| v.version)
                    .map(|v| (*v).clone())
            })
            .flatten()
            .filter(|was| {
                tracker.event.is_moved_by(&CourtEvent {
                    starts_at: was.starts_at,
                    location: was.location.clone(),
                    status: was.status,
                    ..tracker.event.clone()
                })
            });
        if reminders.is_empty() && was.is_none() {
            continue;
        }
        let item = DateItem {
            case_number: tracker.case_number.clone(),
            caption: tracker.caption.clone(),
            case_type: tracker.case_type.clone(),
            court_id: tracker.court_id.clone(),
            court_name: tracker.court_name.clone(),
            subscription_id: tracker.subscription_id,
            event: tracker.event.clone(),
            version: tracker.version,
            was,
            days_ahead: super::due::days_until(calendar, now, tracker.event.starts_at),
            late_at: (reminders.iter())
                .map(|&d| reminder_late_at(calendar, tracker.event.starts_at, d))
                .min(),
            reminders,
        };
        accounts
            .entry(tracker.account_id.clone())
            .or_insert_with(|| AccountDates {
                account_id: tracker.account_id.clone(),
                email: tracker.email.clone(),
                email_verified: tracker.email_verified,
                suppressed: tracker.suppressed,
                items: Vec::new(),
            })
            .items
            .push(item);
    }
    for dates in accounts.values_mut() {
        dates.items.sort_by(|a, b| {
            (a.event.starts_at, &a.event.event_id).cmp(&(b.event.starts_at, &b.event.event_id))
        });
    }
    accounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CalendarSettings;
    use crate::model::{EventKind, EventStatus};
    use crate::store::DateTracker;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn version(version: i64, starts_at: &str) -> EventVersion {
        EventVersion {
            event_id: "h1".into(),
            version,
            starts_at: t(starts_at),
            location: "Division 7".into(),
            status: EventStatus::Scheduled,
        }
    }

    fn tracker(version: i64, starts_at: &str) -> DateTracker {
        DateTracker {
            account_id: "ann".into(),
            email: "ann@example.org".into(),
            email_verified: true,
            suppressed: false,
            subscription_id: 1,
            tracked_at: t("2026-11-01T00:00:00Z"),
            case_number: "2622-CR01234".into(),
            caption: "State v. Doe".into(),
            case_type: "CR".into(),
            court_id: "CT22".into(),
            court_name: "22nd Judicial Circuit".into(),
            event: CourtEvent {
                event_id: "h1".into(),
                case_number: "2622-CR01234".into(),
                kind: EventKind::Hearing,
                title: "Plea".into(),
                starts_at: t(starts_at),
                location: "Division 7".into(),
                judge: String::new(),
                bring: String::new(),
                status: EventStatus::Scheduled,
            },
            version,
            changed_at: t("2026-12-01T16:00:00Z"),
        }
    }

    fn told(version: i64, withheld: bool) -> (DateNoticeKey, bool) {
        let key = DateNoticeKey {
            account_id: "ann".into(),
            event_id: "h1".into(),
            version,
            notice: Notice::Reminder(2),
        };
        (key, withheld)
    }

    #[test]
    fn a_change_is_told_from_the_version_last_heard_not_one_withheld() {
        let calendar = Calendar::from_settings(&CalendarSettings::default());
        let settings = ReminderSettings::default();
        let now = t("2026-12-01T17:00:00Z");
        let versions = vec![
            version(1, "2026-12-08T15:00:00Z"),
            version(2, "2026-12-10T15:00:00Z"),
            version(3, "2026-12-17T19:30:00Z"),
        ];
        let was = |told: Vec<(DateNoticeKey, bool)>| {
            let candidates = DateCandidates {
                trackers: vec![tracker(3, "2026-12-17T19:30:00Z")],
                versions: versions.clone(),
                told,
            };
            let plan = plan(&calendar, &settings, candidates, now);
            plan["ann"].items[0].was.as_ref().map(|v| v.version)
        };
        // Heard nothing: from the version before.
        assert_eq!(was(vec![]), Some(2));
        // Heard version 1; version 2's reminder was withheld: from version 1.
        assert_eq!(was(vec![told(1, false), told(2, true)]), Some(1));
        // Heard version 2.
        assert_eq!(was(vec![told(1, false), told(2, false)]), Some(2));
    }

    #[test]
    fn a_date_moved_and_moved_back_tells_nothing_new() {
        let calendar = Calendar::from_settings(&CalendarSettings::default());
        let settings = ReminderSettings::default();
        // Version 1 on Tuesday Dec 8 at 9:00; its 2-day reminder went out; version 2 moved it,
        // version 3 moved it back. On Sunday Dec 6 (the reminder's day, service closed: a forced
        // run), nothing is owed.
        let versions = vec![
            version(1, "2026-12-08T15:00:00Z"),
            version(2, "2026-12-10T15:00:00Z"),
            version(3, "2026-12-08T15:00:00Z"),
        ];
        let candidates = DateCandidates {
            trackers: vec![tracker(3, "2026-12-08T15:00:00Z")],
            versions,
            told: vec![told(1, false)],
        };
        let plan = plan(&calendar, &settings, candidates, t("2026-12-06T16:00:00Z"));
        assert!(plan.is_empty(), "{plan:?}");
    }
}
