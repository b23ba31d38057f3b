//! Party watches: the operators' list, and what `watches test` found for a name.

use super::{local_time, print_json};
use crate::batch::render::single_line as shown;
use crate::cli::handlers::WatchList;
use crate::outln;
use crate::watches::trial::Trial;

pub fn watches(list: &WatchList, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(list);
    }
    let c = &list.counts;
    outln!(
        "{} watches running, {} paused, {} stopped; {} cases matched ({} waiting for a digest, {} tracked by auto_track)",
        c.active, c.paused, c.stopped, c.matches, c.notices_waiting, c.auto_tracked
    );
    if list.watches.is_empty() {
        outln!("no watches");
        return Ok(());
    }
    let width = |f: fn(&crate::store::watches::WatchSummary) -> usize, least: usize| {
        list.watches.iter().map(f).max().unwrap_or(0).max(least)
    };
    let id_w = width(|w| w.watch_id.chars().count(), 5);
    let account_w = width(|w| w.account_id.chars().count(), 7);
    let name_w = width(|w| w.name.chars().count(), 4).min(40);
    let limits: Vec<String> = list.watches.iter().map(limits).collect();
    let limits_w = limits
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 40);
    outln!(
        "{:<id_w$}  {:<account_w$}  {:<name_w$}  {:<limits_w$}  {:>7}  {:>7}  {:<30} STATE",
        "WATCH",
        "ACCOUNT",
        "NAME",
        "LIMITS",
        "MATCHES",
        "WAITING",
        "LAST MATCH"
    );
    for (w, limits) in list.watches.iter().zip(&limits) {
        let state = match (&w.stopped_at, &w.paused_at) {
            _ if w.unsubscribed_at.is_some() => format!(
                "stopped by its owner's unsubscribe {}",
                local_time(w.unsubscribed_at.unwrap_or_default())
            ),
            (Some(stop), _) => format!("stopped {}", local_time(*stop)),
            (None, Some(_)) => format!(
                "PAUSED: {}",
                shown(w.paused_reason.as_deref().unwrap_or("by the noise guard"))
            ),
            (None, None) => "running".to_string(),
        };
        outln!(
            "{:<id_w$}  {:<account_w$}  {:<name_w$}  {:<limits_w$}  {:>7}  {:>7}  {:<30} {state}",
            shown(&w.watch_id),
            shown(&w.account_id),
            shown(&w.name),
            shown(limits),
            w.matches,
            w.waiting,
            w.last_match_at
                .map(local_time)
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}

/// A watch's kind and limits in a few words: `person; CT22; CV; Defendant; nicknames;
/// auto_track`.
fn limits(w: &crate::store::watches::WatchSummary) -> String {
    let mut parts = vec![w.kind.clone()];
    for list in [&w.circuits, &w.case_types, &w.roles] {
        if !list.is_empty() {
            parts.push(list.join(","));
        }
    }
    if w.nicknames {
        parts.push("nicknames".into());
    }
    if w.auto_track {
        parts.push("auto_track".into());
    }
    parts.join("; ")
}

pub fn watch_trial(trial: &Trial, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(trial);
    }
    outln!(
        "{:?} ({}) matches {} of {} parties on stored cases, {} of them on cases a watch may be told of. A watch sees only parties that arrive after it starts. Nothing was changed.",
        shown(&trial.name),
        trial.kind.as_str(),
        trial.matches,
        trial.parties_read,
        trial.notifiable
    );
    for hit in &trial.hits {
        outln!("");
        outln!("  {}  {}", shown(&hit.case_number), shown(&hit.caption));
        outln!(
            "    {}, {}, filed {}{}",
            shown(&hit.court_id),
            shown(&hit.case_type),
            local_time(hit.filed_at),
            if hit.would_notify {
                ""
            } else {
                "; confidential or excluded: never told"
            }
        );
        outln!(
            "    {} ({}): {}",
            shown(&hit.party),
            shown(&hit.role),
            hit.why
        );
    }
    if trial.matches > trial.hits.len() {
        outln!("");
        outln!(
            "  ... and {} more (--limit)",
            trial.matches - trial.hits.len()
        );
    }
    Ok(())
}
