//! The run history for operators: `runs` lists the batch runs newest first (what each did,
//! how long it took, how it ended, and the attempts that failed or were interrupted), `runs
//! show ID` gives one run in full. Times are in the service's zone; `--json` for scripts.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::app::App;
use crate::health::{one_line, span};
use crate::outln;
use crate::store::history::{RunDetail, RunFailure, RunHistory, RunSummary};

/// One line of the history: a run, or an attempt that failed before it could open one.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HistoryLine {
    Run(RunLine),
    /// Consecutive runs that found nothing new, one row.
    #[serde(rename = "empty_runs")]
    Empty(EmptyRuns),
    Attempt(RunFailure),
}

/// Consecutive done runs that claimed no entries, queued and held nothing, and whose attempts
/// all finished: the ticks of a quiet service, folded so that runs with work stay in view.
#[derive(Debug, Clone, Serialize)]
pub struct EmptyRuns {
    pub first_run_id: i64,
    pub last_run_id: i64,
    /// How many runs the row stands for.
    pub runs: u64,
    /// The start of the first.
    pub started_at: DateTime<Utc>,
    /// The end of the last.
    pub finished_at: Option<DateTime<Utc>>,
}

impl HistoryLine {
    fn at(&self) -> DateTime<Utc> {
        match self {
            HistoryLine::Run(r) => r.started_at,
            HistoryLine::Empty(e) => e.started_at,
            HistoryLine::Attempt(a) => a.at,
        }
    }
}

impl RunLine {
    /// A run that finished having found nothing to do.
    pub fn is_empty_done(&self) -> bool {
        self.outcome == "done"
            && self.entries == 0
            && self.digests == 0
            && self.held == 0
            && self.failed_attempts == 0
            && self.interrupted_attempts == 0
    }
}

/// Folds each stretch of two or more consecutive empty runs in `lines` (newest first) into one
/// row; everything else stays as it is.
pub fn fold_empty(lines: Vec<HistoryLine>) -> Vec<HistoryLine> {
    let mut out: Vec<HistoryLine> = Vec::with_capacity(lines.len());
    for line in lines {
        let empty = matches!(&line, HistoryLine::Run(r) if r.is_empty_done());
        if let (true, HistoryLine::Run(r)) = (empty, &line) {
            match out.last_mut() {
                Some(HistoryLine::Empty(e)) => {
                    e.first_run_id = r.run_id;
                    e.started_at = r.started_at;
                    e.runs += 1;
                    continue;
                }
                Some(HistoryLine::Run(newer)) if newer.is_empty_done() => {
                    let folded = EmptyRuns {
                        first_run_id: r.run_id,
                        last_run_id: newer.run_id,
                        runs: 2,
                        started_at: r.started_at,
                        finished_at: newer.finished_at,
                    };
                    *out.last_mut().expect("just matched") = HistoryLine::Empty(folded);
                    continue;
                }
                _ => {}
            }
        }
        out.push(line);
    }
    out
}

/// A run as the listing shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub run_id: i64,
    /// done, skipped or running.
    pub outcome: String,
    /// For a skipped run: why the service was closed.
    pub skip_reason: Option<String>,
    /// For a skipped run: how many consecutive skips it stands for.
    pub ticks: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// From start to finish, for a run that did work.
    pub duration_ms: Option<i64>,
    pub entries: u64,
    pub pairs: u64,
    pub digests: u64,
    /// Entries dropped, all reasons together.
    pub drops: u64,
    /// Accounts skipped (unverified or suppressed).
    pub skipped_accounts: u64,
    /// Accounts held aside.
    pub held: u64,
    pub failed_attempts: u64,
    pub interrupted_attempts: u64,
}

impl From<&RunSummary> for RunLine {
    fn from(s: &RunSummary) -> Self {
        let r = &s.record;
        let t = &r.totals;
        let d = &t.drops;
        let did_work = r.status != "skipped";
        RunLine {
            run_id: r.run_id,
            outcome: r.status.clone(),
            skip_reason: r.skip_reason.clone(),
            ticks: r.ticks,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r
                .finished_at
                .filter(|_| did_work)
                .map(|end| (end - r.started_at).num_milliseconds()),
            entries: r.entries_claimed,
            pairs: t.pairs_matched,
            digests: t.digests_queued,
            drops: d.voided + d.confidential + d.excluded_court + d.excluded_case_type,
            skipped_accounts: t.skipped_unverified + t.skipped_suppressed,
            held: t.accounts_held,
            failed_attempts: s.failed_attempts,
            interrupted_attempts: s.interrupted_attempts,
        }
    }
}

/// The newest `limit` rows of the history, newest first, stretches of empty runs folded.
/// Reads further back until there is one row more than shown (so the last one shown is
/// complete) or the history ends.
pub async fn history<S: RunHistory>(store: &S, limit: u32) -> anyhow::Result<Vec<HistoryLine>> {
    let mut fetch = limit.max(1);
    loop {
        let runs = store.run_history(fetch).await?;
        let failures = store.runless_failures(fetch).await?;
        let full = |n: usize| n >= fetch as usize;
        // What was not read may lie before the oldest of a source read in full: rows from
        // there on may change with a longer read, so they count only when nothing is left.
        let horizon = [
            runs.last()
                .filter(|_| full(runs.len()))
                .map(|r| r.record.started_at),
            failures
                .last()
                .filter(|_| full(failures.len()))
                .map(|f| f.at),
        ]
        .into_iter()
        .flatten()
        .max();
        let mut lines: Vec<HistoryLine> = runs
            .iter()
            .map(|s| HistoryLine::Run(RunLine::from(s)))
            .chain(failures.into_iter().map(HistoryLine::Attempt))
            .filter(|l| horizon.is_none_or(|h| l.at() >= h))
            .collect();
        lines.sort_by_key(|l| std::cmp::Reverse(l.at()));
        let mut rows = fold_empty(lines);
        if horizon.is_none() || rows.len() > limit as usize {
            rows.truncate(limit as usize);
            return Ok(rows);
        }
        fetch = fetch.saturating_mul(4);
    }
}

/// How a run ended, in words: `done`, `skipped (weekend), 3 ticks[ until ...]`, `running`,
/// with the attempts that did not finish.
fn outcome_text(line: &RunLine, until: Option<&dyn Fn(DateTime<Utc>) -> String>) -> String {
    let mut text = match &line.skip_reason {
        Some(reason) => {
            let mut t = format!("skipped ({reason})");
            if line.ticks > 1 {
                t.push_str(&format!(", {} ticks", line.ticks));
                if let (Some(local), Some(last)) = (until, line.finished_at) {
                    t.push_str(&format!(" until {}", local(last)));
                }
            }
            t
        }
        None => line.outcome.clone(),
    };
    let mut attempts = Vec::new();
    if line.failed_attempts > 0 {
        attempts.push(format!("{} failed", line.failed_attempts));
    }
    if line.interrupted_attempts > 0 {
        attempts.push(format!("{} interrupted", line.interrupted_attempts));
    }
    if !attempts.is_empty() {
        text.push_str(&format!(
            " (attempts: {}; `runs show {}`)",
            attempts.join(", "),
            line.run_id
        ));
    }
    text
}

/// `done, nothing new (37 runs until 16:20)`.
fn empty_text(e: &EmptyRuns, until: &str) -> String {
    format!("done, nothing new ({} runs until {until})", e.runs)
}

/// An error's lines, trimmed, blank ones left out: `runs show` puts the first beside the
/// attempt and the rest indented under it.
fn error_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Longest error text on a row of `runs`; `runs show` has it in full.
const ROW_ERROR_CHARS: usize = 100;

fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Instants in the service's zone, as `Fri 2026-11-27 14:05:09 CST`.
fn local_in(zone: Tz) -> impl Fn(DateTime<Utc>) -> String {
    move |t| {
        t.with_timezone(&zone)
            .format("%a %Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }
}

/// The end of something that started at `start`, short: the time alone on the same local day.
fn end_in(zone: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let (start, end) = (start.with_timezone(&zone), end.with_timezone(&zone));
    let format = if start.date_naive() == end.date_naive() {
        "%H:%M:%S"
    } else {
        "%a %m-%d %H:%M"
    };
    end.format(format).to_string()
}

/// One line of the `runs` table.
fn row(cells: [&str; 11]) -> String {
    let [run, started, ended, took, entries, pairs, digests, drops, skipped, held, outcome] = cells;
    format!(
        "{run:>9}  {started:<27}  {ended:<15}  {took:>7}  {entries:>7}  {pairs:>7}  {digests:>7}  \
         {drops:>5}  {skipped:>7}  {held:>4}  {outcome}"
    )
}

/// `runs`: the history, a table or a JSON array.
pub async fn list(app: &App, limit: u32, json: bool) -> anyhow::Result<()> {
    let lines = history(&app.store, limit).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(());
    }
    if lines.is_empty() {
        outln!("no runs yet");
        return Ok(());
    }
    let zone = app.calendar().await?.zone();
    let local = local_in(zone);
    outln!(
        "{}",
        row([
            "run", "started", "ended", "took", "entries", "pairs", "digests", "drops", "skipped",
            "held", "outcome"
        ])
    );
    for line in &lines {
        let text = match line {
            HistoryLine::Run(r) => {
                let ended = r
                    .finished_at
                    .map(|end| end_in(zone, r.started_at, end))
                    .unwrap_or_else(|| "-".into());
                let took = r.duration_ms.map(seconds).unwrap_or_else(|| "-".into());
                let outcome = outcome_text(r, None);
                let n = |v: u64| {
                    if r.skip_reason.is_some() {
                        "-".to_string()
                    } else {
                        v.to_string()
                    }
                };
                row([
                    &r.run_id.to_string(),
                    &local(r.started_at),
                    &ended,
                    &took,
                    &n(r.entries),
                    &n(r.pairs),
                    &n(r.digests),
                    &n(r.drops),
                    &n(r.skipped_accounts),
                    &n(r.held),
                    &outcome,
                ])
            }
            HistoryLine::Empty(e) => {
                let ended = e
                    .finished_at
                    .map(|end| end_in(zone, e.started_at, end))
                    .unwrap_or_else(|| "-".into());
                row([
                    &format!("{}-{}", e.first_run_id, e.last_run_id),
                    &local(e.started_at),
                    &ended,
                    "-",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    &empty_text(e, &ended),
                ])
            }
            HistoryLine::Attempt(a) => row([
                "-",
                &local(a.at),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                &format!(
                    "{} with no run open: {}",
                    a.outcome,
                    one_line(&a.error, ROW_ERROR_CHARS)
                ),
            ]),
        };
        outln!("{text}");
    }
    Ok(())
}

/// `runs show ID`: one run in full.
pub async fn show(app: &App, run_id: i64, json: bool) -> anyhow::Result<()> {
    let Some(detail) = app.store.run_detail(run_id).await? else {
        anyhow::bail!("no run {run_id} (see `runs` for the run ids)");
    };
    let line = RunLine::from(&detail.summary);
    if json {
        let mut value = serde_json::to_value(&detail)?;
        value["outcome"] = line.outcome.clone().into();
        value["duration_ms"] = line.duration_ms.into();
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let local = local_in(app.calendar().await?.zone());
    for text in describe(&detail, &line, &local) {
        outln!("{text}");
    }
    Ok(())
}

/// The lines of `runs show`.
fn describe(
    detail: &RunDetail,
    line: &RunLine,
    local: &dyn Fn(DateTime<Utc>) -> String,
) -> Vec<String> {
    let r = &detail.summary.record;
    let t = &r.totals;
    let d = &t.drops;
    let mut out = vec![format!(
        "run {}: {}",
        r.run_id,
        outcome_text(line, Some(local))
    )];
    out.push(format!("  started    {}", local(r.started_at)));
    match (r.finished_at, line.duration_ms) {
        (Some(end), Some(ms)) => out.push(format!(
            "  finished   {} (took {})",
            local(end),
            seconds(ms)
        )),
        (Some(end), None) => out.push(format!(
            "  last tick  {} ({} after the first)",
            local(end),
            span((end - r.started_at).num_seconds())
        )),
        (None, _) => out.push("  finished   not yet".to_string()),
    }
    if r.skip_reason.is_some() {
        return out;
    }
    out.push(match (r.first_seq, r.last_seq) {
        (Some(a), Some(b)) => format!(
            "  range      entries #{a}..#{b} ({} claimed)",
            r.entries_claimed
        ),
        _ => "  range      no entries".to_string(),
    });
    out.push(match &detail.summary.timings {
        Some(tm) => format!(
            "  stages     snapshot {} ms, filter {} ms, match+render {} ms, commit {} ms",
            tm.snapshot_ms, tm.filter_ms, tm.match_render_ms, tm.commit_ms
        ),
        None => "  stages     not recorded (the run has not finished)".to_string(),
    });
    out.push(format!(
        "  entries    {} notifiable; dropped: {} voided, {} confidential, {} excluded court, {} excluded case type",
        d.notifiable, d.voided, d.confidential, d.excluded_court, d.excluded_case_type
    ));
    out.push(format!(
        "  matched    {} (account, entry) pairs",
        t.pairs_matched
    ));
    out.push(format!("  digests    {} queued", t.digests_queued));
    out.push(format!(
        "  skipped    {} accounts ({} unverified, {} suppressed)",
        t.skipped_unverified + t.skipped_suppressed,
        t.skipped_unverified,
        t.skipped_suppressed
    ));
    out.push(format!("  held       {} accounts", t.accounts_held));
    out.push(if detail.messages.is_empty() {
        "  messages   none".to_string()
    } else {
        format!(
            "  messages   {}",
            detail
                .messages
                .iter()
                .map(|(state, n)| format!("{state} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    out.push(if detail.notices.is_empty() {
        "  notices    none besides filings".to_string()
    } else {
        let named = |kind: &str, n: u64| {
            let (one, many) = match kind {
                "reminder" => ("reminder", "reminders"),
                "change" => ("change notice", "change notices"),
                "new case" => ("new-case notice", "new-case notices"),
                other => (other, other),
            };
            format!("{n} {}", if n == 1 { one } else { many })
        };
        format!(
            "  notices    {}",
            (detail.notices.iter())
                .map(|(kind, n)| named(kind, *n))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    if detail.attempts.is_empty() {
        out.push("  attempts   every attempt finished".to_string());
    } else {
        out.push(format!(
            "  attempts   {} did not finish",
            detail.attempts.len()
        ));
        for a in &detail.attempts {
            let mut lines = error_lines(&a.error).into_iter();
            out.push(format!(
                "    {}  {:<11}  {}",
                local(a.at),
                a.outcome,
                lines.next().unwrap_or_default()
            ));
            out.extend(lines.map(|l| format!("      {l}")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE_ERROR: &str = "loading the digest templates: detailed/subject.hbs:\n  \
        Template error: invalid handlebars syntax\n    --> Template error in \"subject\":1:5\n\n   |\n 1 | {{#if}";

    #[test]
    fn an_error_over_lines_becomes_one_line_cut_to_fit() {
        let flat = one_line(TEMPLATE_ERROR, 1000);
        assert!(!flat.contains('\n'), "{flat}");
        assert!(
            flat.starts_with("loading the digest templates: detailed/subject.hbs: Template error")
        );
        let cut = one_line(TEMPLATE_ERROR, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with('…'), "{cut}");
        assert_eq!(one_line("short", 40), "short");
    }

    #[test]
    fn runs_show_keeps_every_line_of_an_error() {
        let lines = error_lines(TEMPLATE_ERROR);
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(
            lines[0],
            "loading the digest templates: detailed/subject.hbs:"
        );
        assert_eq!(lines[4], "1 | {{#if}");
    }
}
