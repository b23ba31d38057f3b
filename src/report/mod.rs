//! `mcap-notify report`: one self-contained HTML page about a period (by default the last seven
//! days), for an operator to look at or mail on: runs on a timeline over the closed periods,
//! digests and messages per hour, posting-to-sending latency, bounces, dead letters and
//! suppressions. It reads the database only; the page fetches nothing.

pub mod data;
mod html;
mod svg;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::app::App;
use crate::calendar::Calendar;
use crate::store::StatusStore;
pub use data::{Period, ReportData};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{flag}: `{value}` is neither a date (YYYY-MM-DD, in {zone}) nor an RFC 3339 instant")]
    Date {
        flag: &'static str,
        value: String,
        zone: String,
    },
    #[error("--from {from} is not before --to {to}")]
    Inverted { from: String, to: String },
    #[error(
        "the period from {from} to {to} spans {days} days; a report covers at most {MAX_DAYS} \
         (write one per month for a longer stretch)"
    )]
    TooLong { from: String, to: String, days: i64 },
    #[error("writing the report to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The longest period one report covers: a page draws every run, and a month of runs on a
/// one-minute cadence is already some forty thousand marks.
pub const MAX_DAYS: i64 = 31;

/// Which end of the period a date names: `--from DAY` starts at that day's first instant,
/// `--to DAY` ends at the next day's (the day is included).
#[derive(Debug, Clone, Copy)]
enum End {
    From,
    To,
}

fn parse_end(text: &str, end: End, calendar: &Calendar) -> Result<DateTime<Utc>, ReportError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let zone = calendar.zone();
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => Ok(match end {
            End::From => data::local_midnight(zone, day),
            End::To => data::local_midnight(zone, day + Duration::days(1)),
        }),
        Err(_) => Err(ReportError::Date {
            flag: match end {
                End::From => "--from",
                End::To => "--to",
            },
            value: text.to_string(),
            zone: zone.name().to_string(),
        }),
    }
}

impl Period {
    /// The period the operator asked for: `to` defaults to `now`, `from` to seven days before
    /// `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Period, ReportError> {
        let (from_text, to_text) = (from, to);
        let to = match to {
            Some(t) => parse_end(t, End::To, calendar)?,
            None => now,
        };
        let from = match from {
            Some(f) => parse_end(f, End::From, calendar)?,
            None => to - Duration::days(7),
        };
        if from >= to {
            let show = |given: Option<&str>, t: DateTime<Utc>| {
                let resolved = t.with_timezone(&calendar.zone()).to_rfc3339();
                match given {
                    Some(text) => format!("`{}` ({resolved})", text.trim()),
                    None => format!("(default: {resolved})"),
                }
            };
            return Err(ReportError::Inverted {
                from: show(from_text, from),
                to: show(to_text, to),
            });
        }
        if to - from > Duration::days(MAX_DAYS) {
            let local = |t: DateTime<Utc>| t.with_timezone(&calendar.zone()).to_rfc3339();
            return Err(ReportError::TooLong {
                from: local(from),
                to: local(to),
                days: (to - from).num_days() + 1,
            });
        }
        Ok(Period { from, to })
    }
}

/// Reads the period's figures and the calendar's closed stretches over it.
pub async fn gather(
    app: &App,
    calendar: &Calendar,
    period: Period,
) -> Result<ReportData, ReportError> {
    let rows = app.store.report_rows(period.from, period.to).await?;
    let closed = calendar.closed_spans(period.from, period.to);
    let mut data = ReportData::build(rows, closed, period, calendar.zone());
    data.outages = calendar.outages_over(period.from, period.to);
    Ok(data)
}

/// The page for `data`, naming the database it was read from.
pub fn render(data: &ReportData, database: &str, generated_at: DateTime<Utc>) -> String {
    html::page(data, database, generated_at)
}

/// Writes `text` to `path` so that nobody sees it half-written (see [`crate::atomic_file`]).
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ReportError> {
    crate::atomic_file::replace(path, text.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The whole command: parse the period, gather, render, write; returns what the page shows.
pub async fn write_report(
    app: &App,
    from: Option<&str>,
    to: Option<&str>,
    path: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<ReportData> {
    let calendar = app.calendar().await?;
    let period = Period::parse(from, to, &calendar, now)?;
    let data = gather(app, &calendar, period).await?;
    let page = render(&data, &app.settings.database.shown_url(), now);
    write_atomically(path, &page)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CalendarSettings;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_are_whole_local_days_and_the_default_is_the_last_week() {
        let c = Calendar::from_settings(&CalendarSettings::default());
        let now = at("2026-11-27T12:00:00Z");
        let p = Period::parse(Some("2026-11-20"), Some("2026-11-26"), &c, now).unwrap();
        assert_eq!(p.from, at("2026-11-20T00:00:00-06:00"));
        assert_eq!(p.to, at("2026-11-27T00:00:00-06:00"));
        let p = Period::parse(None, None, &c, now).unwrap();
        assert_eq!((p.from, p.to), (now - Duration::days(7), now));
        let p = Period::parse(Some("2026-11-27T08:00:00Z"), None, &c, now).unwrap();
        assert_eq!(p.from, at("2026-11-27T08:00:00Z"));
    }

    #[test]
    fn a_bad_or_inverted_period_is_refused_by_name() {
        let c = Calendar::from_settings(&CalendarSettings::default());
        let now = at("2026-11-27T12:00:00Z");
        let err = Period::parse(Some("yesterday"), None, &c, now).unwrap_err();
        assert!(err.to_string().starts_with("--from: `yesterday`"), "{err}");
        let err = Period::parse(Some("2026-11-26"), Some("2026-11-20"), &c, now).unwrap_err();
        assert!(err.to_string().contains("is not before --to"), "{err}");
    }
}
