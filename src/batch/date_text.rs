//! The words of a date notice, written once for the digest's templates and the calendar entry:
//! when and where in plain words (weekday, Central time), what changed, what to do, and what
//! can happen if the date is missed.

use chrono::{DateTime, Datelike, Duration, LocalResult, TimeZone, Utc};
use chrono_tz::America::Chicago;

use super::render::{central_time, single_line};
use crate::hearings::DateItem;
use crate::model::{EventKind, EventStatus};
use crate::store::EventVersion;

/// The long form, for the body: `Thursday, December 17, 2026 at 1:30 PM Central time`. In the
/// hour the clocks go back, which comes twice, it says which of the two it is.
pub fn long_when(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Chicago);
    let day_and_time = local.format("%A, %B %-d, %Y at %-I:%M %p");
    match repeated_hour(t) {
        None => format!("{day_and_time} Central time"),
        Some(Observance::Daylight) => {
            format!("{day_and_time} Central daylight time (CDT), before the clocks go back")
        }
        Some(Observance::Standard) => {
            format!("{day_and_time} Central standard time (CST), after the clocks go back")
        }
    }
}

/// The short form, for subjects and changes: `Thu Dec 17, 1:30 PM`, with the year when it is
/// not `this_year` (`Fri Jan 1, 2027, 9:00 AM`), and `CDT` or `CST` in the hour that comes
/// twice.
pub fn short_when(t: DateTime<Utc>, this_year: i32) -> String {
    let local = t.with_timezone(&Chicago);
    let day = if local.year() == this_year {
        local.format("%a %b %-d").to_string()
    } else {
        local.format("%a %b %-d, %Y").to_string()
    };
    let zone = if repeated_hour(t).is_some() {
        local.format(" %Z").to_string()
    } else {
        String::new()
    };
    format!("{day}, {}{zone}", local.format("%-I:%M %p"))
}

/// Which side of the clock change a time is on, when its local time comes twice.
enum Observance {
    Daylight,
    Standard,
}

/// For a time whose local wall-clock reading comes twice (the hour the clocks go back), which of
/// the two it is; None for any other time.
fn repeated_hour(t: DateTime<Utc>) -> Option<Observance> {
    let local = t.with_timezone(&Chicago);
    match Chicago.from_local_datetime(&local.naive_local()) {
        LocalResult::Ambiguous(first, _) if first == local => Some(Observance::Daylight),
        LocalResult::Ambiguous(..) => Some(Observance::Standard),
        _ => None,
    }
}

/// The local year of the run that tells of `item`: its date's year less the days ahead.
fn run_year(item: &DateItem) -> i32 {
    let day = item.event.starts_at.with_timezone(&Chicago).date_naive();
    (day - Duration::days(item.days_ahead.max(0))).year()
}

/// What the date is, in a word: `hearing`, `payment`.
fn noun(item: &DateItem) -> &'static str {
    match item.event.kind {
        EventKind::Hearing => "hearing",
        EventKind::PaymentDue => "payment",
    }
}

/// `today`, `tomorrow`, `in 9 days`.
fn in_days(days: i64) -> String {
    match days {
        i64::MIN..=0 => "today".into(),
        1 => "tomorrow".into(),
        n => format!("in {n} days"),
    }
}

/// A place in a change line, or nothing when there is none.
fn at_place(location: &str) -> String {
    let place = single_line(location);
    if place.is_empty() {
        String::new()
    } else {
        format!(", {place}")
    }
}

/// What changed, in one line: `Moved from Tue Dec 8, 9:00 AM, Div 7 to Thu Dec 17, 1:30 PM,
/// Div 3`; `Cancelled: it was set for ...`. None for a reminder alone.
pub fn change_line(item: &DateItem) -> Option<String> {
    let was: &EventVersion = item.was.as_ref()?;
    let now = &item.event;
    let year = run_year(item);
    let short_when = |t| short_when(t, year);
    let then = format!("{}{}", short_when(was.starts_at), at_place(&was.location));
    let line = if now.status == EventStatus::Cancelled {
        format!("Cancelled. It was set for {then}.")
    } else if was.status == EventStatus::Cancelled {
        format!(
            "Back on the calendar: now set for {}{}.",
            short_when(now.starts_at),
            at_place(&now.location)
        )
    } else if was.starts_at != now.starts_at && was.location == now.location {
        format!(
            "Moved from {} to {}.",
            short_when(was.starts_at),
            short_when(now.starts_at)
        )
    } else if was.starts_at != now.starts_at {
        format!(
            "Moved from {then} to {}{}.",
            short_when(now.starts_at),
            at_place(&now.location)
        )
    } else {
        format!(
            "Place changed from {} to {}.",
            nonempty_place(&was.location),
            nonempty_place(&now.location)
        )
    };
    Some(line)
}

fn nonempty_place(location: &str) -> String {
    let place = single_line(location);
    if place.is_empty() {
        "no place given".into()
    } else {
        place
    }
}

/// The item's heading: `Reminder: Arraignment in 2 days`, `Changed: Arraignment`,
/// `Cancelled: Arraignment`.
pub fn headline(item: &DateItem) -> String {
    let title = single_line(&item.event.title);
    if item.event.status == EventStatus::Cancelled {
        return format!("Cancelled: {title}");
    }
    if item.is_change() {
        return format!("Changed: {title}, {}", in_days(item.days_ahead));
    }
    format!("Reminder: {title}, {}", in_days(item.days_ahead))
}

/// The subject a message of this item alone would have.
pub fn subject(item: &DateItem) -> String {
    let case = single_line(&item.case_number);
    let when = short_when(item.event.starts_at, run_year(item));
    let noun = noun(item);
    if item.event.status == EventStatus::Cancelled {
        return format!("Cancelled: {noun} in {case} on {when}");
    }
    let same_time_and_status = |was: &EventVersion| {
        was.starts_at == item.event.starts_at && was.status == item.event.status
    };
    if item.was.as_ref().is_some_and(same_time_and_status) {
        return format!("Changed: place of {noun} in {case} on {when}");
    }
    if item.is_change() {
        return format!("Changed: {noun} in {case}, now {when}");
    }
    match item.event.kind {
        EventKind::Hearing => format!("Reminder: hearing in {case} on {when}"),
        EventKind::PaymentDue => format!("Reminder: payment due in {case} on {when}"),
    }
}

/// The subject without the date's time: `Reminder: hearing in 2622-CR01234`.
pub fn short_subject(item: &DateItem) -> String {
    let case = single_line(&item.case_number);
    let noun = noun(item);
    if item.event.status == EventStatus::Cancelled {
        return format!("Cancelled: {noun} in {case}");
    }
    if item.is_change() {
        return format!("Changed: {noun} in {case}");
    }
    match item.event.kind {
        EventKind::Hearing => format!("Reminder: hearing in {case}"),
        EventKind::PaymentDue => format!("Reminder: payment due in {case}"),
    }
}

/// Whether missing a date in a case of this type can bring a warrant: criminal cases, and
/// municipal ordinance and traffic cases.
fn warrant_may_follow(case_type: &str) -> bool {
    let t = case_type.trim().to_ascii_uppercase();
    t.starts_with("CR") || t == "MU" || t == "TR"
}

/// What to do, and what can happen if the date is missed.
pub fn advice(item: &DateItem) -> Vec<String> {
    if item.event.status == EventStatus::Cancelled {
        return vec![
            "The court has taken this date off its calendar. Confirm it with the court clerk \
             before you skip it, and ask whether a new date is set."
                .into(),
        ];
    }
    match item.event.kind {
        EventKind::Hearing => {
            let miss = if warrant_may_follow(&item.case_type) {
                "If the defendant does not appear, the judge may issue a warrant for their \
                 arrest."
            } else {
                "If a party does not appear, the court may go ahead without them, and may \
                 decide against them."
            };
            vec![
                "Plan your trip now: how you will get there, parking, and time off work or \
                 childcare. Arrive early to get through security."
                    .into(),
                format!(
                    "{miss} Anyone who cannot be there should contact the court or their \
                     attorney before the date."
                ),
            ]
        }
        EventKind::PaymentDue => vec![
            "Pay by this date, or contact the court before it if you cannot pay in full.".into(),
            "A missed payment can lead to added costs and further action by the court.".into(),
        ],
    }
}

/// The `casenet` style's one line: only the case number, the date and "a hearing".
pub fn casenet_line(item: &DateItem) -> String {
    let case = single_line(&item.case_number);
    let when = central_time(item.event.starts_at);
    let what = match item.event.kind {
        EventKind::Hearing => "A hearing",
        EventKind::PaymentDue => "A payment",
    };
    if item.event.status == EventStatus::Cancelled {
        format!("{what} in {case} set for {when} was cancelled.")
    } else if item.is_change() {
        format!("{what} in {case} was changed. It is now set for {when}.")
    } else {
        format!("{what} in {case} is set for {when}.")
    }
}

/// The `casenet` style's subject: `a hearing in 2622-CR01234 on Thu Dec 17, 1:30 PM`, with
/// `changed to` or `cancelled` when it is news of a change.
pub fn casenet_subject(item: &DateItem) -> String {
    let case = single_line(&item.case_number);
    let when = short_when(item.event.starts_at, run_year(item));
    let what = casenet_noun(item);
    if item.event.status == EventStatus::Cancelled {
        format!("{what} in {case} on {when}, cancelled")
    } else if item.is_change() {
        format!("{what} in {case}, changed to {when}")
    } else {
        format!("{what} in {case} on {when}")
    }
}

/// `a hearing`, `a payment`: all the `casenet` style says of what a date is.
fn casenet_noun(item: &DateItem) -> &'static str {
    match item.event.kind {
        EventKind::Hearing => "a hearing",
        EventKind::PaymentDue => "a payment",
    }
}

/// The calendar entry's title in the `casenet` style: `Hearing in 2622-CR01234`.
pub fn casenet_calendar_summary(item: &DateItem) -> String {
    let what = match item.event.kind {
        EventKind::Hearing => "Hearing",
        EventKind::PaymentDue => "Payment due",
    };
    format!("{what} in {}", single_line(&item.case_number))
}

/// The calendar entry's notes in the `casenet` style: nothing of the case but its number.
pub fn casenet_calendar_description() -> String {
    "See the case on Case.net for the details. This is not official notice from the court. \
     Check the date with the court before you rely on it."
        .into()
}

/// The calendar entry's title: `Arraignment (2622-CR01234)`.
pub fn calendar_summary(item: &DateItem) -> String {
    format!(
        "{} ({})",
        single_line(&item.event.title),
        single_line(&item.case_number)
    )
}

/// The calendar entry's notes: the case, what changed, the judge, what to bring, the advice
/// and that this is not official notice.
pub fn calendar_description(item: &DateItem) -> String {
    let one = single_line;
    let mut lines = vec![format!("{} {}", one(&item.case_number), one(&item.caption))];
    lines.extend(change_line(item));
    if item.event.status != EventStatus::Cancelled && !item.event.judge.trim().is_empty() {
        lines.push(format!("Judge: {}", one(&item.event.judge)));
    }
    let cancelled = item.event.status == EventStatus::Cancelled;
    if !cancelled && !item.event.bring.trim().is_empty() {
        lines.push(format!("Bring: {}", one(&item.event.bring)));
    }
    lines.extend(advice(item));
    lines.push(
        "This is not official notice from the court. Check the date with the court before \
         you rely on it."
            .into(),
    );
    lines.join("\n")
}

/// How long the calendar entry lasts: an hour for a hearing, a moment for a deadline.
pub fn calendar_duration(item: &DateItem) -> Duration {
    match item.event.kind {
        EventKind::Hearing => Duration::hours(1),
        EventKind::PaymentDue => Duration::zero(),
    }
}

#[cfg(test)]
mod tests {
    use super::{long_when, short_when, warrant_may_follow};
    use chrono::{DateTime, Utc};

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a test instant")
    }

    #[test]
    fn the_hour_that_comes_twice_says_which_of_the_two_it_is() {
        // Sun Nov 1, 2026: 1:30 AM comes at 06:30 UTC (CDT) and again at 07:30 UTC (CST).
        let first = utc("2026-11-01T06:30:00Z");
        let second = utc("2026-11-01T07:30:00Z");
        assert_eq!(
            long_when(first),
            "Sunday, November 1, 2026 at 1:30 AM Central daylight time (CDT), before the \
             clocks go back"
        );
        assert_eq!(
            long_when(second),
            "Sunday, November 1, 2026 at 1:30 AM Central standard time (CST), after the clocks \
             go back"
        );
        assert_eq!(short_when(first, 2026), "Sun Nov 1, 1:30 AM CDT");
        assert_eq!(short_when(second, 2026), "Sun Nov 1, 1:30 AM CST");
        // The hour before and after are said as usual.
        let before = utc("2026-11-01T05:30:00Z");
        assert_eq!(
            long_when(before),
            "Sunday, November 1, 2026 at 12:30 AM Central time"
        );
        assert_eq!(
            short_when(utc("2026-11-01T08:30:00Z"), 2026),
            "Sun Nov 1, 2:30 AM"
        );
    }

    #[test]
    fn a_date_in_another_year_carries_its_year() {
        let new_year = utc("2027-01-01T15:00:00Z");
        assert_eq!(short_when(new_year, 2026), "Fri Jan 1, 2027, 9:00 AM");
        assert_eq!(short_when(new_year, 2027), "Fri Jan 1, 9:00 AM");
        // Local time decides the year: 03:00 UTC on Jan 1 is still Dec 31 in Chicago.
        assert_eq!(
            short_when(utc("2027-01-01T03:00:00Z"), 2026),
            "Thu Dec 31, 9:00 PM"
        );
    }

    #[test]
    fn only_criminal_municipal_and_traffic_cases_warn_of_a_warrant() {
        for t in ["CR", "cr", "CR-F", "MU", "TR"] {
            assert!(warrant_may_follow(t), "{t}");
        }
        // Associate civil (AC) is a civil case: a missed date may lose it, not bring a warrant.
        for t in ["AC", "CV", "FC", "PR", "JU"] {
            assert!(!warrant_may_follow(t), "{t}");
        }
    }
}
