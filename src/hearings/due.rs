//! The day rules: which reminders and change notices a run sends. A reminder `d` days before
//! a court date falls due at the start of the local day `d` calendar days before the date's own
//! day, in the service's zone. A run sends the reminders already due, and those that fall due
//! after its window closes and before the service opens again (a night, a weekend, a holiday,
//! an outage), so a reminder goes out in the last open window before its day and never after
//! it; a reminder for a day on which the service never opens, or due in the closure after a
//! day's opening, goes with that whole opening from its start, not in the hour it runs past
//! the day's midnight nor in a sliver an outage left of it. A reminder whose
//! day has passed is not sent late (a hearing set three days out gets the
//! 2-day reminder only), and nothing is sent for a date already past or cancelled, except the
//! notice that it was cancelled.

use chrono::{DateTime, Utc};

use crate::calendar::Calendar;
use crate::config::ReminderSettings;
pub use crate::model::Notice;
use crate::model::{CourtEvent, EventKind, EventStatus};

/// The reminder days that apply to a kind of date.
pub fn offsets(settings: &ReminderSettings, kind: EventKind) -> &[u32] {
    match kind {
        EventKind::Hearing => &settings.hearing_days,
        EventKind::PaymentDue => &settings.payment_days,
    }
}

/// The reminders (days before) of `event` a run at `now` sends, nearest first: due now, or
/// falling due while the service is closed after this window; not for a day already past.
pub fn reminders_due(
    calendar: &Calendar,
    days: &[u32],
    event: &CourtEvent,
    now: DateTime<Utc>,
) -> Vec<u32> {
    if event.status == EventStatus::Cancelled || event.starts_at <= now {
        return Vec::new();
    }
    let event_day = calendar.date_of(event.starts_at);
    let today = calendar.date_of(now);
    // The instant the service opens again after this window (now, if it is closed now).
    let closes = calendar.next_close(now);
    let reopens = calendar.next_open(closes).unwrap_or(closes);
    // The same for the day's whole opening, across any outage inside it: a reminder due in
    // the closure after it goes with the whole of it, not with a sliver an outage left.
    let day_closes = calendar.opening_end(now).unwrap_or(closes).max(closes);
    let day_reopens = calendar.next_open(day_closes).unwrap_or(day_closes);
    let mut due: Vec<u32> = days
        .iter()
        .copied()
        .filter(|&d| {
            let Some(day) = event_day.checked_sub_days(chrono::Days::new(u64::from(d))) else {
                return false;
            };
            if day < today {
                return false;
            }
            let from = calendar.start_of_day(day);
            // A day on which the service never opens (a weekend, a holiday) is a closed day
            // even when the opening before it runs past its midnight: its reminder goes with
            // that opening, not in the hour between the day's midnight and the close.
            let next_day = day.succ_opt().map(|d| calendar.start_of_day(d));
            let closed_day = next_day.is_some_and(|next| day_reopens >= next);
            from <= now
                || (closes <= from && from < reopens)
                || (from < day_reopens && (day_closes <= from || closed_day))
        })
        .collect();
    due.sort_unstable();
    due.dedup();
    due
}

/// When reminder `d` of a date at `starts_at` is late: the start of the local day after its
/// own. A message still queued then with that reminder is not sent: its "in 2 days" no longer
/// holds, and a reminder never goes out after its day.
pub fn reminder_late_at(calendar: &Calendar, starts_at: DateTime<Utc>, d: u32) -> DateTime<Utc> {
    let day_after = calendar
        .date_of(starts_at)
        .checked_sub_days(chrono::Days::new(u64::from(d)))
        .and_then(|day| day.succ_opt());
    match day_after {
        Some(day) => calendar.start_of_day(day),
        None => starts_at,
    }
}

/// Whether a tracker is told of the change that made the event's current version: only once
/// it changed (version 2 on), while the date is still ahead (or it was cancelled before it),
/// and only to an account that was tracking the case when it changed.
pub fn change_due(
    event: &CourtEvent,
    version: i64,
    changed_at: DateTime<Utc>,
    tracked_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    version > 1 && event.starts_at > now && tracked_at <= changed_at
}

/// Whole calendar days from the local day of `now` to that of `at` (0: the same day).
pub fn days_until(calendar: &Calendar, now: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
    (calendar.date_of(at) - calendar.date_of(now)).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CalendarSettings;
    use crate::model::Outage;
    use chrono::NaiveDate;

    fn calendar(holidays: &[&str], outages: Vec<(&str, &str)>) -> Calendar {
        let settings = CalendarSettings {
            holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
            ..CalendarSettings::default()
        };
        let outages = outages
            .into_iter()
            .enumerate()
            .map(|(i, (from, to))| Outage {
                outage_id: i as i64 + 1,
                starts_at: t(from),
                ends_at: t(to),
                reason: "upgrade".into(),
            })
            .collect();
        Calendar::from_settings(&settings).with_outages(outages)
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hearing(starts_at: &str) -> CourtEvent {
        CourtEvent {
            event_id: "h1".into(),
            case_number: "2622-CR01234".into(),
            kind: EventKind::Hearing,
            title: "Arraignment".into(),
            starts_at: t(starts_at),
            location: String::new(),
            judge: String::new(),
            bring: String::new(),
            status: EventStatus::Scheduled,
        }
    }

    /// The first run (every 15 minutes from `from`) that sends each of the 10- and 2-day
    /// reminders of `event`, as local times.
    fn first_sends(c: &Calendar, event: &CourtEvent, from: &str) -> Vec<(u32, String)> {
        let mut now = t(from);
        let mut sent: Vec<(u32, String)> = Vec::new();
        while now < event.starts_at {
            if c.state_at(now).is_open() {
                for d in reminders_due(c, &[10, 2], event, now) {
                    if !sent.iter().any(|(s, _)| *s == d) {
                        let local = now.with_timezone(&c.zone());
                        sent.push((d, local.format("%a %Y-%m-%d %H:%M %Z").to_string()));
                    }
                }
            }
            now += chrono::Duration::minutes(15);
        }
        sent
    }

    #[test]
    fn a_reminder_goes_out_at_the_start_of_its_local_day() {
        // Thursday Dec 17, 1:30 PM CST: the 2-day reminder is due from Tuesday 00:00 CST,
        // inside Monday's window (06:00 to 01:00). The 10-day one falls on Monday Dec 7 at
        // 00:00, while the service is closed for the weekend: it goes on the Friday before.
        let c = calendar(&[], vec![]);
        let event = hearing("2026-12-17T13:30:00-06:00");
        assert_eq!(
            first_sends(&c, &event, "2026-11-30T06:00:00-06:00"),
            vec![
                (10, "Fri 2026-12-04 06:00 CST".to_string()),
                (2, "Tue 2026-12-15 00:00 CST".to_string()),
            ]
        );
    }

    #[test]
    fn a_reminder_due_on_a_weekend_goes_out_on_the_friday_before() {
        // Tuesday Dec 15: its 2-day reminder falls on Sunday Dec 13, in the weekend closure.
        let c = calendar(&[], vec![]);
        let sends = first_sends(
            &c,
            &hearing("2026-12-15T09:00:00-06:00"),
            "2026-12-01T06:00:00-06:00",
        );
        assert_eq!(sends[1], (2, "Fri 2026-12-11 06:00 CST".to_string()));
        // And the 10-day one, Saturday Dec 5: its midnight falls in the last hour of Friday's
        // window, but the service never opens on Saturday, so it goes with Friday's window
        // from its start, not in that last hour.
        assert_eq!(sends[0], (10, "Fri 2026-12-04 06:00 CST".to_string()));
    }

    #[test]
    fn a_holiday_or_an_outage_brings_a_reminder_earlier_never_later() {
        // Hearing Friday Dec 11; the 2-day reminder falls on Wednesday Dec 9.
        let event = hearing("2026-12-11T09:00:00-06:00");
        let plain = first_sends(&calendar(&[], vec![]), &event, "2026-12-07T06:00:00-06:00");
        assert_eq!(plain, vec![(2, "Wed 2026-12-09 00:00 CST".to_string())]);
        // Tuesday a holiday: Monday's window is followed by a closure to Wednesday 06:00,
        // which covers Wednesday's midnight: sent on Monday.
        let holiday = first_sends(
            &calendar(&["2026-12-08"], vec![]),
            &event,
            "2026-12-07T06:00:00-06:00",
        );
        assert_eq!(holiday, vec![(2, "Mon 2026-12-07 06:00 CST".to_string())]);
        // An outage from Tuesday 20:00 to Wednesday 12:00: sent on Tuesday before it.
        let outage = calendar(
            &[],
            vec![("2026-12-08T20:00:00-06:00", "2026-12-09T12:00:00-06:00")],
        );
        assert_eq!(
            first_sends(&outage, &event, "2026-12-07T06:00:00-06:00"),
            vec![(2, "Tue 2026-12-08 06:00 CST".to_string())]
        );
    }

    #[test]
    fn an_outage_that_leaves_a_sliver_of_friday_does_not_keep_the_weekend_reminders_for_it() {
        // Friday Dec 11's opening (06:00 to Saturday 01:00) is cut by an outage from 23:00 to
        // Saturday 00:30, which leaves half an hour before a closure to Monday 06:00. The
        // 2-day reminders of Monday's, Tuesday's and Wednesday's hearings (Saturday, Sunday,
        // Monday) go with Friday's opening from its start, not in that half hour.
        let c = calendar(
            &[],
            vec![("2026-12-11T23:00:00-06:00", "2026-12-12T00:30:00-06:00")],
        );
        for starts in [
            "2026-12-14T09:00:00-06:00",
            "2026-12-15T09:00:00-06:00",
            "2026-12-16T09:00:00-06:00",
        ] {
            let sends = first_sends(&c, &hearing(starts), "2026-12-10T06:00:00-06:00");
            assert_eq!(
                sends,
                vec![(2, "Fri 2026-12-11 06:00 CST".to_string())],
                "{starts}"
            );
        }
        // A holiday on Wednesday: Wednesday's reminder goes with Tuesday's opening.
        let holiday = calendar(&["2026-12-16"], vec![]);
        let sends = first_sends(
            &holiday,
            &hearing("2026-12-18T09:00:00-06:00"),
            "2026-12-14T06:00:00-06:00",
        );
        assert_eq!(sends, vec![(2, "Tue 2026-12-15 06:00 CST".to_string())]);
    }

    #[test]
    fn days_are_local_days_across_both_clock_changes() {
        let c = calendar(&[], vec![]);
        // Spring forward on Sunday Mar 8, 2026. A hearing Tuesday Mar 10 at 9:00 CDT: its
        // 2-day reminder is Sunday Mar 8 (closed), so Friday Mar 6; its 10-day reminder is
        // Saturday Feb 28, a closed day too, so Friday Feb 27.
        let sends = first_sends(
            &c,
            &hearing("2026-03-10T09:00:00-05:00"),
            "2026-02-20T06:00:00-06:00",
        );
        assert_eq!(
            sends,
            vec![
                (10, "Fri 2026-02-27 06:00 CST".to_string()),
                (2, "Fri 2026-03-06 06:00 CST".to_string()),
            ]
        );
        // Fall back on Sunday Nov 1, 2026. A hearing Thursday Nov 5 at 8:30 CST: its 2-day
        // reminder is Tuesday Nov 3 from midnight CST, inside Monday's window; its 10-day one
        // is Monday Oct 26 at midnight CDT, during the weekend: the Friday before.
        let sends = first_sends(
            &c,
            &hearing("2026-11-05T08:30:00-06:00"),
            "2026-10-19T06:00:00-05:00",
        );
        assert_eq!(
            sends,
            vec![
                (10, "Fri 2026-10-23 06:00 CDT".to_string()),
                (2, "Tue 2026-11-03 00:00 CST".to_string()),
            ]
        );
        assert_eq!(
            c.start_of_day(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()),
            t("2026-11-02T06:00:00Z")
        );
    }

    #[test]
    fn a_date_too_close_gets_only_the_reminders_still_ahead() {
        let c = calendar(&[], vec![]);
        // Set on Monday Dec 14 for Thursday Dec 17: the 10-day day is long past.
        let event = hearing("2026-12-17T13:30:00-06:00");
        assert_eq!(
            reminders_due(&c, &[10, 2], &event, t("2026-12-14T10:00:00-06:00")),
            Vec::<u32>::new()
        );
        assert_eq!(
            first_sends(&c, &event, "2026-12-14T10:00:00-06:00"),
            vec![(2, "Tue 2026-12-15 00:00 CST".to_string())]
        );
        // Past, or cancelled: nothing.
        assert!(reminders_due(&c, &[10, 2], &event, t("2026-12-17T14:00:00-06:00")).is_empty());
        let cancelled = CourtEvent {
            status: EventStatus::Cancelled,
            ..event
        };
        assert!(reminders_due(&c, &[10, 2], &cancelled, t("2026-12-15T10:00:00-06:00")).is_empty());
    }

    #[test]
    fn a_run_while_closed_sends_what_falls_due_before_the_service_opens() {
        // A run forced on Saturday Dec 12 (closed until Monday 06:00): the 2-day reminders of a
        // Tuesday hearing (Sunday) and a Wednesday one (Monday 00:00, before the opening) go;
        // that of a Thursday hearing (Tuesday) does not.
        let c = calendar(&[], vec![]);
        let now = t("2026-12-12T10:00:00-06:00");
        for (starts_at, due) in [
            ("2026-12-15T09:00:00-06:00", vec![2]),
            ("2026-12-16T09:00:00-06:00", vec![2]),
            ("2026-12-17T09:00:00-06:00", vec![]),
        ] {
            assert_eq!(
                reminders_due(&c, &[2], &hearing(starts_at), now),
                due,
                "{starts_at}"
            );
        }
    }

    #[test]
    fn a_change_is_told_to_those_tracking_when_it_happened_while_the_date_is_ahead() {
        let event = hearing("2026-12-17T13:30:00-06:00");
        let changed = t("2026-12-01T10:00:00-06:00");
        let now = t("2026-12-01T10:15:00-06:00");
        assert!(change_due(
            &event,
            2,
            changed,
            t("2026-11-01T00:00:00Z"),
            now
        ));
        assert!(!change_due(
            &event,
            1,
            changed,
            t("2026-11-01T00:00:00Z"),
            now
        ));
        assert!(!change_due(
            &event,
            2,
            changed,
            t("2026-12-01T11:00:00-06:00"),
            now
        ));
        assert!(!change_due(
            &event,
            2,
            changed,
            t("2026-11-01T00:00:00Z"),
            event.starts_at
        ));
    }

    #[test]
    fn a_reminder_is_late_from_the_start_of_the_day_after_its_own() {
        let calendar = calendar(&[], vec![]);
        // Thursday Dec 17, 1:30 PM: the 2-day reminder's day is Tuesday; late from Wednesday.
        let starts = t("2026-12-17T13:30:00-06:00");
        assert_eq!(
            reminder_late_at(&calendar, starts, 2),
            t("2026-12-16T00:00:00-06:00")
        );
        assert_eq!(
            reminder_late_at(&calendar, starts, 0),
            t("2026-12-18T00:00:00-06:00")
        );
        // Across the fall-back change: a Tuesday Nov 3 hearing's 3-day reminder (Saturday
        // Oct 31) is late from Sunday Nov 1, 00:00 CDT.
        let starts = t("2026-11-03T09:00:00-06:00");
        assert_eq!(
            reminder_late_at(&calendar, starts, 3),
            t("2026-11-01T00:00:00-05:00")
        );
        // Its 2-day reminder (Sunday) is late from Monday 00:00 CST, 25 hours later.
        assert_eq!(
            reminder_late_at(&calendar, starts, 2),
            t("2026-11-02T00:00:00-06:00")
        );
    }
}
