//! The `status` report for operators: the database it read (so nobody mistakes one database
//! for another), watermark, pending entries, queue counts, recent runs, as a table for people or
//! JSON for scripts.

use std::fmt;

use crate::batch::render::central_time;
use crate::store::StatusReport;

/// The report, and the database it was read from (its URL with any password masked).
pub struct Status(pub StatusReport, pub String);

impl Status {
    pub fn database(&self) -> &str {
        &self.1
    }

    /// The report as JSON, with a `database` field naming where it was read.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.0).expect("status serialises");
        value["database"] = serde_json::Value::String(self.1.clone());
        serde_json::to_string_pretty(&value).expect("status serialises")
    }
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
        for r in &s.recent_runs {
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
