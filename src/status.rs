//! The `status` report for operators: the database it read (so nobody mistakes one database
//! for another), watermark, pending entries, queue counts, the service window, how late the
//! work is, the last success of each job, the alert conditions that hold now, and recent runs,
//! as a table for people or JSON for scripts.

use std::fmt;

use crate::batch::render::central_time;
use crate::health::{span, Health};
use crate::store::StatusReport;

/// The report, the database it was read from (its URL with any password masked), and the
/// health of the service when it was read.
pub struct Status(pub StatusReport, pub String, pub Health);

impl Status {
    pub fn database(&self) -> &str {
        &self.1
    }

    /// The report as JSON, with a `database` field naming where it was read and the health
    /// fields beside the others; each alert carries its `name` and `message`.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.0).expect("status serialises");
        value["database"] = serde_json::Value::String(self.1.clone());
        let health = serde_json::to_value(&self.2).expect("health serialises");
        if let serde_json::Value::Object(fields) = health {
            for (key, field) in fields {
                value[key] = field;
            }
        }
        value["alerts"] = self
            .2
            .alerts
            .iter()
            .map(|alert| {
                let mut v = serde_json::to_value(alert).expect("alert serialises");
                v["name"] = alert.name().into();
                v["message"] = alert.sentence().into();
                v
            })
            .collect();
        serde_json::to_string_pretty(&value).expect("status serialises")
    }
}

/// How many recent runs `status` reads, and how many lines it shows of them (after folding).
pub const RUNS_READ: u32 = 100;
pub const RUN_LINES: usize = 5;

/// A done run that claimed no entries and queued or held nothing.
fn found_nothing(r: &crate::store::RunRecord) -> bool {
    r.status == "done"
        && r.entries_claimed == 0
        && r.totals.digests_queued == 0
        && r.totals.accounts_held == 0
}

/// The health lines of the report.
fn write_health(f: &mut fmt::Formatter<'_>, h: &Health) -> fmt::Result {
    let w = &h.window;
    match (&w.closed_reason, w.next_open_at) {
        (None, _) => match w.open_since {
            Some(since) => writeln!(f, "window           open since {}", central_time(since))?,
            None => writeln!(f, "window           open")?,
        },
        (Some(reason), Some(next)) => writeln!(
            f,
            "window           closed ({reason}); opens {}",
            central_time(next)
        )?,
        (Some(reason), None) => writeln!(
            f,
            "window           closed ({reason}); no opening within a year"
        )?,
    }
    match h.watermark_lag_seconds {
        Some(lag) => writeln!(
            f,
            "watermark lag    {} (the oldest entry not yet in a finished run)",
            span(lag)
        )?,
        None => writeln!(
            f,
            "watermark lag    none (every entry is in a finished run)"
        )?,
    }
    match h.oldest_due_seconds {
        Some(due) => writeln!(
            f,
            "oldest due       {} (the longest a queued message has been due)",
            span(due)
        )?,
        None => writeln!(f, "oldest due       none (no queued message is due)")?,
    }
    let ago = |at: Option<chrono::DateTime<chrono::Utc>>| match at {
        Some(at) => format!(
            "{} ({} ago)",
            central_time(at),
            span((h.at - at).num_seconds())
        ),
        None => "never".to_string(),
    };
    writeln!(f, "last batch       {}", ago(h.last_success.batch))?;
    writeln!(f, "last delivery    {}", ago(h.last_success.deliver))?;
    if h.alerts.is_empty() {
        writeln!(f, "alerts           none")?;
    } else {
        writeln!(f, "alerts           {}", h.alerts.len())?;
        for alert in &h.alerts {
            writeln!(f, "  ALERT {}", alert.sentence())?;
        }
    }
    Ok(())
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        writeln!(f, "database         {}", self.database())?;
        writeln!(f, "watermark        {}", s.watermark)?;
        writeln!(
            f,
            "docket entries   {} ({} not yet taken by a run)",
            s.entries_total, s.entries_pending
        )?;
        let queue = if s.outbox.is_empty() {
            "empty".to_string()
        } else {
            s.outbox
                .iter()
                .map(|(state, n)| format!("{state} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "outbox           {queue}")?;
        let notices = if s.dates.notices.is_empty() {
            "no notices yet".to_string()
        } else {
            s.dates
                .notices
                .iter()
                .map(|(notice, state, n)| format!("{notice}s {state} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "court dates      {} ahead; {notices}", s.dates.ahead)?;
        let w = &s.watches;
        writeln!(
            f,
            "party watches    {} running, {} paused, {} stopped; {} cases matched ({} told or queued, {} waiting, {} auto-tracked)",
            w.active, w.paused, w.stopped, w.matches, w.notices_queued, w.notices_waiting, w.auto_tracked
        )?;
        write_health(f, &self.2)?;
        if !s.held.is_empty() {
            writeln!(
                f,
                "held aside       {} accounts (tried again by every run)",
                s.held.len()
            )?;
            for h in &s.held {
                writeln!(
                    f,
                    "  {}: {} entries since run {}: {}",
                    h.account_id, h.pairs, h.run_id, h.reason
                )?;
            }
        }
        if s.recent_runs.is_empty() {
            return writeln!(f, "runs             none yet");
        }
        writeln!(f, "recent runs")?;
        writeln!(
            f,
            "  {:>5}  {:<8}  {:<30}  {:>8}  {:>8}  {:>7}  {:>7}",
            "run", "status", "started (Central)", "entries", "matched", "digests", "skipped"
        )?;
        let runs = &s.recent_runs;
        let mut i = 0;
        let mut shown = 0;
        while i < runs.len() && shown < RUN_LINES {
            shown += 1;
            let r = &runs[i];
            i += 1;
            // A stretch of runs that found nothing new is one line, as in `runs`.
            let quiet = runs[i - 1..]
                .iter()
                .take_while(|r| found_nothing(r))
                .count();
            if quiet >= 2 {
                let (newest, oldest) = (r, &runs[i - 1 + quiet - 1]);
                let until = newest.finished_at.unwrap_or(newest.started_at);
                writeln!(
                    f,
                    "  {:>5}  {:<8}  {:<30}  nothing new ({quiet} runs until {})",
                    format!("{}-{}", oldest.run_id, newest.run_id),
                    "done",
                    central_time(oldest.started_at),
                    central_time(until)
                )?;
                i += quiet - 1;
                continue;
            }
            if let Some(reason) = &r.skip_reason {
                let stretch = match (r.ticks, r.finished_at) {
                    (2.., Some(last)) => {
                        format!(", {} ticks until {}", r.ticks, central_time(last))
                    }
                    _ => String::new(),
                };
                writeln!(
                    f,
                    "  {:>5}  {:<8}  {:<30}  service closed ({reason}){stretch}",
                    r.run_id,
                    r.status,
                    central_time(r.started_at)
                )?;
                continue;
            }
            writeln!(
                f,
                "  {:>5}  {:<8}  {:<30}  {:>8}  {:>8}  {:>7}  {:>7}",
                r.run_id,
                r.status,
                central_time(r.started_at),
                r.entries_claimed,
                r.totals.pairs_matched,
                r.totals.digests_queued,
                r.totals.skipped_unverified + r.totals.skipped_suppressed
            )?;
        }
        Ok(())
    }
}
