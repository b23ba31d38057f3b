//! Batch runs: the summary `run-now` prints, or why the run was skipped.

use super::{local_time, print_json};
use crate::app::RunOutcome;
use crate::batch::RunReport;
use crate::{out, outln};

/// A human summary of a run.
pub fn describe_run(report: &RunReport) -> String {
    let t = &report.totals;
    let d = &t.drops;
    let mut out = String::new();
    let head = match (report.dry_run, report.run_id, report.resumed) {
        (true, _, _) => "dry run (nothing written)".to_string(),
        (false, Some(id), true) => format!("run {id} (resumed after an interruption)"),
        (false, Some(id), false) => format!("run {id}"),
        (false, None, _) => "run".to_string(),
    };
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!("entries #{a}..#{b}"),
        _ => "no new entries".to_string(),
    };
    out.push_str(&format!("{head}: {range}\n"));
    out.push_str(&format!(
        "  scanned   {:>8} entries ({} notifiable; dropped: {} voided, {} confidential, {} excluded court, {} excluded case type)\n",
        report.entries_scanned, d.notifiable, d.voided, d.confidential, d.excluded_court, d.excluded_case_type
    ));
    out.push_str(&format!(
        "  matched   {:>8} (account, entry) pairs\n",
        t.pairs_matched
    ));
    let n = |count: u64, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    let dates = &report.date_notices;
    out.push_str(&format!(
        "  dates     {:>8} {}, {} of court dates\n",
        dates.reminders,
        if dates.reminders == 1 {
            "reminder"
        } else {
            "reminders"
        },
        n(dates.changes, "change notice", "change notices")
    ));
    let w = &report.watches;
    out.push_str(&format!(
        "  watches   {:>8} {} ({}, {}, {}, {})\n",
        w.new_case_notices,
        if w.new_case_notices == 1 {
            "new-case notice"
        } else {
            "new-case notices"
        },
        n(w.step.parties_read, "party read", "parties read"),
        n(w.step.matches, "match", "matches"),
        n(
            w.step.auto_tracked,
            "case auto-tracked",
            "cases auto-tracked"
        ),
        n(w.step.paused, "watch paused", "watches paused"),
    ));
    out.push_str(&format!(
        "  skipped   {:>8} accounts ({} unverified, {} suppressed)\n",
        t.skipped_unverified + t.skipped_suppressed,
        t.skipped_unverified,
        t.skipped_suppressed
    ));
    let verb = if report.dry_run {
        "would queue"
    } else {
        "queued"
    };
    out.push_str(&format!("  {verb:<9} {:>8} digests\n", t.digests_queued));
    let tm = &report.timings;
    out.push_str(&format!(
        "  time      snapshot {} ms, filter {} ms, match+render {} ms, commit {} ms\n",
        tm.snapshot_ms, tm.filter_ms, tm.match_render_ms, tm.commit_ms
    ));
    for p in &report.previews {
        out.push_str(&format!(
            "  -> {} <{}>: {} ({} cases, {} entries)\n",
            p.account_id, p.recipient, p.subject, p.cases, p.entries
        ));
    }
    out
}

/// A batch run, or why it was skipped.
pub fn run_outcome(outcome: &RunOutcome, json: bool) -> anyhow::Result<()> {
    match outcome {
        RunOutcome::Ran(report) if json => print_json(report)?,
        RunOutcome::Ran(report) => out!("{}", describe_run(report)),
        RunOutcome::Skipped { run_id, state } => {
            let reason = state
                .closed
                .as_ref()
                .map(|c| c.describe())
                .unwrap_or_default();
            let reopens = state.reopens_at.map(|t| t.to_rfc3339());
            if json {
                let value = serde_json::json!({
                    "skipped": true, "run_id": run_id, "reason": reason, "reopens_at": reopens,
                });
                print_json(&value)?;
            } else {
                outln!(
                    "run {run_id} skipped: the service is closed ({reason}); it reopens {}; \
                     --ignore-windows runs anyway",
                    state
                        .reopens_at
                        .map(local_time)
                        .unwrap_or_else(|| "not within a year".into())
                );
            }
        }
    }
    Ok(())
}
