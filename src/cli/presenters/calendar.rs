//! The service calendar: open or closed at an instant and the next working runs, and the
//! recorded outages, all in the calendar's zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{print_json, print_rows};
use crate::cli::handlers::CalendarAnswer;
use crate::model::Outage;
use crate::outln;

/// An instant as `calendar` shows it: weekday, date, time and zone.
fn calendar_time(t: DateTime<Utc>, zone: Tz) -> impl std::fmt::Display {
    t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M:%S %Z")
}

/// An outage's start or end, in the calendar's zone.
pub fn outage_time(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Open or closed at an instant, why, when it reopens, and the next working runs.
pub fn calendar(answer: &CalendarAnswer, json: bool) -> anyhow::Result<()> {
    let CalendarAnswer {
        at,
        zone,
        state,
        next_runs,
    } = answer;
    if json {
        let value = serde_json::json!({
            "at": at.with_timezone(zone).to_rfc3339(),
            "open": state.is_open(),
            "reason": state.closed.as_ref().map(|c| c.kind()),
            "detail": state.closed.as_ref().map(|c| c.describe()),
            "reopens_at": state.reopens_at.map(|t| t.with_timezone(zone).to_rfc3339()),
            "next_runs": next_runs.iter().map(|t| t.with_timezone(zone).to_rfc3339()).collect::<Vec<_>>(),
        });
        return print_json(&value);
    }
    let local = calendar_time(*at, *zone);
    match (&state.closed, state.reopens_at) {
        (None, _) => outln!("{local}: open"),
        (Some(reason), Some(reopens)) => outln!(
            "{local}: closed ({}); reopens {}",
            reason.describe(),
            calendar_time(reopens, *zone)
        ),
        (Some(reason), None) => outln!(
            "{local}: closed ({}); no opening within a year",
            reason.describe()
        ),
    }
    for t in next_runs {
        outln!("  run at {}", calendar_time(*t, *zone));
    }
    Ok(())
}

pub fn outages(rows: &[Outage], zone: Tz, json: bool) -> anyhow::Result<()> {
    print_rows(rows, json, "no outages recorded", |o| {
        format!(
            "{:>5}  {}  to  {}  {}",
            o.outage_id,
            outage_time(o.starts_at, zone),
            outage_time(o.ends_at, zone),
            o.reason
        )
    })
}
