//! The service calendar: one answer, everywhere, to "is the service open at instant T, and if
//! not, why and until when". A weekly window in a named zone (by default Monday to Friday,
//! 06:00 to 01:00 the next morning, Central time: CaseNet's hours), less holidays and the
//! outages operators record.
//!
//! Local times are resolved deliberately on the days clocks change: a time that does not exist
//! (spring forward) means the first instant after the gap; a time that occurs twice (fall back)
//! means its first occurrence.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::CalendarSettings;
use crate::model::{NewOutage, Outage};

/// Why the service is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosedReason {
    Night,
    Weekend,
    Holiday,
    Outage(String),
}

impl ClosedReason {
    pub fn kind(&self) -> &'static str {
        match self {
            ClosedReason::Night => "night",
            ClosedReason::Weekend => "weekend",
            ClosedReason::Holiday => "holiday",
            ClosedReason::Outage(_) => "outage",
        }
    }

    /// For people and run records: `outage: database upgrade`, `weekend`.
    pub fn describe(&self) -> String {
        match self {
            ClosedReason::Outage(why) => format!("outage: {why}"),
            other => other.kind().to_string(),
        }
    }
}

/// The answer at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    pub at: DateTime<Utc>,
    pub closed: Option<ClosedReason>,
    /// When the service opens again (None while open).
    pub reopens_at: Option<DateTime<Utc>>,
}

impl WindowState {
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }
}

/// The weekly window, holidays and outages.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Tz,
    open_days: [bool; 7],
    opens: NaiveTime,
    closes: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
    outages: Vec<Outage>,
}

/// How far ahead the calendar looks for an opening before it gives up.
const HORIZON_DAYS: i64 = 400;

impl Calendar {
    /// The calendar the settings describe (parsed when the configuration loaded), without
    /// outages.
    pub fn from_settings(s: &CalendarSettings) -> Calendar {
        let mut open_days = [false; 7];
        for day in &s.open_days {
            open_days[day.num_days_from_monday() as usize] = true;
        }
        Calendar {
            zone: s.zone,
            open_days,
            opens: s.opens,
            closes: s.closes,
            holidays: s.holidays.iter().copied().collect(),
            outages: Vec::new(),
        }
    }

    /// The same calendar with these outages.
    pub fn with_outages(mut self, mut outages: Vec<Outage>) -> Calendar {
        outages.sort_by_key(|o| o.starts_at);
        self.outages = outages;
        self
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The instant a local date and time names (see the module note on DST).
    pub fn resolve(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let mut local = date.and_time(time);
        for _ in 0..(24 * 60) {
            match self.zone.from_local_datetime(&local) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => local += Duration::minutes(1),
            }
        }
        Utc.from_utc_datetime(&date.and_time(time))
    }

    /// An instant an operator typed: RFC 3339, or `YYYY-MM-DD HH:MM` local to the zone.
    pub fn parse_instant(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(t.with_timezone(&Utc));
        }
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .ok()
            .map(|local| self.resolve(local.date(), local.time()))
    }

    fn is_open_day(&self, date: NaiveDate) -> bool {
        self.open_days[date.weekday().num_days_from_monday() as usize]
    }

    /// The opening that starts on `date` per the weekly rule alone (holidays included).
    fn weekly_interval(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_open_day(date) {
            return None;
        }
        let close_date = if self.closes <= self.opens {
            date.succ_opt()?
        } else {
            date
        };
        Some((
            self.resolve(date, self.opens),
            self.resolve(close_date, self.closes),
        ))
    }

    /// The opening that starts on `date`, if the service opens that day.
    fn interval(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return None;
        }
        self.weekly_interval(date)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.zone).date_naive()
    }

    fn within_weekly(&self, t: DateTime<Utc>) -> bool {
        let today = self.local_date(t);
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.interval(d))
            .any(|(open, close)| open <= t && t < close)
    }

    fn outage_at(&self, t: DateTime<Utc>) -> Option<&Outage> {
        self.outages
            .iter()
            .find(|o| o.starts_at <= t && t < o.ends_at)
    }

    /// The first instant at or after `t` inside the weekly window (outages aside).
    fn next_weekly_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.within_weekly(t) {
            return Some(t);
        }
        let today = self.local_date(t);
        (-1..HORIZON_DAYS)
            .filter_map(|offset| self.interval(today + Duration::days(offset)))
            .map(|(open, _)| open)
            .find(|open| *open >= t)
    }

    /// The end of the day's opening `t` falls in, by the weekly rule and the holidays, with no
    /// regard to outages inside it: an outage that splits a day's opening leaves it one day.
    /// None when `t` falls in no opening.
    pub fn opening_end(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = self.local_date(t);
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.interval(d))
            .filter(|(open, close)| *open <= t && t < *close)
            .map(|(_, close)| close)
            .max()
    }

    /// The first instant at or after `t` when the service is open.
    pub fn next_open(&self, mut t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        for _ in 0..10_000 {
            let candidate = self.next_weekly_open(t)?;
            match self.outage_at(candidate) {
                Some(outage) => t = outage.ends_at,
                None => return Some(candidate),
            }
        }
        None
    }

    /// The first instant at or after `t` when the service is closed: `t` itself when it is
    /// closed then, else the end of the opening `t` is in, or an outage that begins first.
    pub fn next_close(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.outage_at(t).is_some() {
            return t;
        }
        let today = self.local_date(t);
        let Some(close) = [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.interval(d))
            .filter(|(open, close)| *open <= t && t < *close)
            .map(|(_, close)| close)
            .max()
        else {
            return t;
        };
        self.outages
            .iter()
            .map(|o| o.starts_at)
            .filter(|starts| *starts > t && *starts < close)
            .min()
            .unwrap_or(close)
    }

    /// The local calendar date of `t` in the service's zone.
    pub fn date_of(&self, t: DateTime<Utc>) -> NaiveDate {
        self.local_date(t)
    }

    /// The first instant of a local date (midnight, or the first instant after a gap).
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.resolve(date, NaiveTime::MIN)
    }

    /// The last closing of the weekly window at or before `t`.
    fn previous_weekly_close(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = self.local_date(t);
        (0..HORIZON_DAYS)
            .filter_map(|back| self.interval(today - Duration::days(back)))
            .map(|(_, close)| close)
            .find(|close| *close <= t)
    }

    /// Is the service open at `t`; if not, why and until when.
    pub fn state_at(&self, t: DateTime<Utc>) -> WindowState {
        let closed = if let Some(outage) = self.outage_at(t) {
            Some(ClosedReason::Outage(outage.reason.clone()))
        } else if self.within_weekly(t) {
            None
        } else {
            let closed_from = self.previous_weekly_close(t).unwrap_or(t);
            let open_again = self.next_weekly_open(t).unwrap_or(t);
            let holiday_in_gap = self.holidays.iter().any(|h| {
                self.weekly_interval(*h)
                    .is_some_and(|(open, close)| open < open_again && close > closed_from)
            });
            Some(if holiday_in_gap {
                ClosedReason::Holiday
            } else if open_again - closed_from > Duration::hours(24) {
                ClosedReason::Weekend
            } else {
                ClosedReason::Night
            })
        };
        let reopens_at = closed.as_ref().and_then(|_| self.next_open(t));
        WindowState {
            at: t,
            closed,
            reopens_at,
        }
    }
}

/// A stretch of time the service is closed, for one reason (an outage with its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedSpan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: ClosedReason,
}

impl Calendar {
    /// The outages that overlap `[from, to)`, whole (not cut to the range), in order.
    pub fn outages_over(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Outage> {
        self.outages
            .iter()
            .filter(|o| o.starts_at < to && from < o.ends_at)
            .cloned()
            .collect()
    }

    /// The closed stretches within `[from, to)`, in order, each cut to that range. The state
    /// only changes where a weekly opening starts or ends or an outage does, so it is asked
    /// once between each pair of such instants.
    pub fn closed_spans(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<ClosedSpan> {
        if to <= from {
            return Vec::new();
        }
        let mut edges = vec![from, to];
        let mut day = self.local_date(from) - Duration::days(1);
        let last = self.local_date(to) + Duration::days(1);
        while day <= last {
            for (open, close) in [self.weekly_interval(day), self.interval(day)]
                .into_iter()
                .flatten()
            {
                edges.extend([open, close]);
            }
            day += Duration::days(1);
        }
        for o in &self.outages {
            edges.extend([o.starts_at, o.ends_at]);
        }
        edges.retain(|t| (from..=to).contains(t));
        edges.sort();
        edges.dedup();
        let mut spans: Vec<ClosedSpan> = Vec::new();
        for pair in edges.windows(2) {
            let Some(reason) = self.state_at(pair[0]).closed else {
                continue;
            };
            match spans.last_mut() {
                Some(prev) if prev.to == pair[0] && prev.reason == reason => prev.to = pair[1],
                _ => spans.push(ClosedSpan {
                    from: pair[0],
                    to: pair[1],
                    reason,
                }),
            }
        }
        spans
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    #[error("{place}the outage ends ({end}) before it starts ({start})")]
    Inverted {
        place: String,
        start: String,
        end: String,
    },
    #[error("{place}overlaps another outage in the same import ({start} to {end})")]
    Overlap {
        place: String,
        start: String,
        end: String,
    },
    #[error("{place}the reason holds a NUL character (\\0), which cannot be stored")]
    NulInReason { place: String },
    #[error("{0}")]
    Csv(String),
}

/// Refuses a reason no database can store (PostgreSQL rejects NUL in text; SQLite keeps it
/// and then nothing can copy it).
fn check_reason(reason: &str, place: impl FnOnce() -> String) -> Result<(), OutageError> {
    if reason.contains('\0') {
        return Err(OutageError::NulInReason { place: place() });
    }
    Ok(())
}

/// Refuses inverted outages and outages that overlap each other; returns them sorted.
pub fn validate_outages(outages: &[NewOutage]) -> Result<Vec<NewOutage>, OutageError> {
    for (i, o) in outages.iter().enumerate() {
        let place = || {
            if outages.len() > 1 {
                format!("row {}: ", i + 1)
            } else {
                String::new()
            }
        };
        check_reason(&o.reason, place)?;
        if o.ends_at <= o.starts_at {
            return Err(OutageError::Inverted {
                place: place(),
                start: o.starts_at.to_rfc3339(),
                end: o.ends_at.to_rfc3339(),
            });
        }
    }
    let mut sorted = outages.to_vec();
    sorted.sort_by_key(|o| o.starts_at);
    for pair in sorted.windows(2) {
        if pair[1].starts_at < pair[0].ends_at {
            return Err(OutageError::Overlap {
                place: String::new(),
                start: pair[1].starts_at.to_rfc3339(),
                end: pair[1].ends_at.to_rfc3339(),
            });
        }
    }
    Ok(sorted)
}

/// Reads an unavailability log: CSV rows of start, end, reason (a header row is skipped);
/// times in RFC 3339 or `YYYY-MM-DD HH:MM` local to the calendar's zone.
pub fn read_outage_csv(
    path: &std::path::Path,
    calendar: &Calendar,
) -> Result<Vec<NewOutage>, OutageError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| OutageError::Csv(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record =
            record.map_err(|e| OutageError::Csv(format!("{}:{line}: {e}", path.display())))?;
        let field = |n: usize, name: &str| {
            record.get(n).filter(|v| !v.is_empty()).ok_or_else(|| {
                OutageError::Csv(format!("{}:{line}: missing {name}", path.display()))
            })
        };
        let start = field(0, "start")?;
        if line == 1 && start.eq_ignore_ascii_case("start") {
            continue;
        }
        let parse = |v: &str, name: &str| -> Result<DateTime<Utc>, OutageError> {
            calendar.parse_instant(v).ok_or_else(|| {
                OutageError::Csv(format!(
                    "{}:{line}: {name} `{v}` is neither RFC 3339 nor `YYYY-MM-DD HH:MM`",
                    path.display()
                ))
            })
        };
        let outage = NewOutage {
            starts_at: parse(start, "start")?,
            ends_at: parse(field(1, "end")?, "end")?,
            reason: field(2, "reason")?.to_string(),
        };
        check_reason(&outage.reason, || {
            format!("{}:{line}: column 3 (reason): ", path.display())
        })?;
        if outage.ends_at <= outage.starts_at {
            return Err(OutageError::Inverted {
                place: format!("{}:{line}: ", path.display()),
                start: outage.starts_at.to_rfc3339(),
                end: outage.ends_at.to_rfc3339(),
            });
        }
        out.push(outage);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> Calendar {
        Calendar::from_settings(&CalendarSettings::default())
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekday_edges_in_central_time() {
        let c = chicago();
        // Tuesday 2026-11-24, CST (UTC-6).
        assert!(!c.state_at(at("2026-11-24T05:59:59-06:00")).is_open());
        assert!(c.state_at(at("2026-11-24T06:00:00-06:00")).is_open());
        assert!(c.state_at(at("2026-11-25T00:59:59-06:00")).is_open());
        let night = c.state_at(at("2026-11-25T01:00:00-06:00"));
        assert_eq!(night.closed, Some(ClosedReason::Night));
        assert_eq!(night.reopens_at, Some(at("2026-11-25T06:00:00-06:00")));
    }

    #[test]
    fn friday_night_to_monday_morning_is_the_weekend() {
        let c = chicago();
        assert!(c.state_at(at("2026-11-28T00:59:59-06:00")).is_open());
        for t in [
            "2026-11-28T01:00:00-06:00",
            "2026-11-29T12:00:00-06:00",
            "2026-11-30T05:59:59-06:00",
        ] {
            let s = c.state_at(at(t));
            assert_eq!(s.closed, Some(ClosedReason::Weekend), "{t}");
            assert_eq!(s.reopens_at, Some(at("2026-11-30T06:00:00-06:00")), "{t}");
        }
    }

    #[test]
    fn closed_spans_cover_nights_weekends_holidays_and_outages_by_reason() {
        let s = CalendarSettings {
            holidays: vec![NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()],
            ..CalendarSettings::default()
        };
        let c = Calendar::from_settings(&s).with_outages(vec![Outage {
            outage_id: 1,
            starts_at: at("2026-11-24T10:00:00-06:00"),
            ends_at: at("2026-11-24T12:00:00-06:00"),
            reason: "upgrade".into(),
        }]);
        let spans = c.closed_spans(
            at("2026-11-24T00:00:00-06:00"),
            at("2026-11-30T12:00:00-06:00"),
        );
        let seen: Vec<(String, String, String)> = spans
            .iter()
            .map(|s| (s.from.to_rfc3339(), s.to.to_rfc3339(), s.reason.describe()))
            .collect();
        let span =
            |a: &str, b: &str, why: &str| (at(a).to_rfc3339(), at(b).to_rfc3339(), why.to_string());
        assert_eq!(
            seen,
            vec![
                span(
                    "2026-11-24T01:00:00-06:00",
                    "2026-11-24T06:00:00-06:00",
                    "night"
                ),
                span(
                    "2026-11-24T10:00:00-06:00",
                    "2026-11-24T12:00:00-06:00",
                    "outage: upgrade"
                ),
                span(
                    "2026-11-25T01:00:00-06:00",
                    "2026-11-25T06:00:00-06:00",
                    "night"
                ),
                span(
                    "2026-11-26T01:00:00-06:00",
                    "2026-11-27T06:00:00-06:00",
                    "holiday"
                ),
                span(
                    "2026-11-28T01:00:00-06:00",
                    "2026-11-30T06:00:00-06:00",
                    "weekend"
                ),
            ]
        );
    }

    #[test]
    fn a_nonexistent_local_time_means_the_end_of_the_gap() {
        let mut s = CalendarSettings {
            opens: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            ..CalendarSettings::default()
        };
        s.open_days.push(chrono::Weekday::Sun);
        let c = Calendar::from_settings(&s);
        // 2026-03-08 02:30 does not exist in Chicago: clocks go from 02:00 CST to 03:00 CDT.
        let opening = c.resolve(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(), c.opens);
        assert_eq!(opening, at("2026-03-08T03:00:00-05:00"));
        // 2026-11-01 01:30 happens twice: the first (CDT) is meant.
        let twice = c.resolve(
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            NaiveTime::from_hms_opt(1, 30, 0).unwrap(),
        );
        assert_eq!(twice, at("2026-11-01T01:30:00-05:00"));
    }
}
