//! The matching step's decisions: which watches the new parties match, which of those become
//! notices, which cases are tracked for a watch's auto_track, and which watches the noise
//! guard pauses. A plain function of what the store read, so that a step repeated after a
//! crash decides the same again.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::names::{filed_keys, fold, NamePattern};
use crate::model::Watch;
use crate::store::watches::{
    ArrivalRow, AutoTrack, NewWatchMatch, WatchDecisions, WatchInput, WatchPause,
};

/// Watches, each with its name read once, by the key a filed name must share.
pub struct WatchIndex<'w> {
    by_key: HashMap<String, Vec<(&'w Watch, NamePattern)>>,
}

impl<'w> WatchIndex<'w> {
    pub fn new(watches: &'w [Watch]) -> WatchIndex<'w> {
        let mut by_key: HashMap<String, Vec<(&Watch, NamePattern)>> = HashMap::new();
        for watch in watches {
            // The feed refuses a name the rules cannot use; a stored one is read the same way.
            if let Ok(pattern) = NamePattern::new(watch.kind, &watch.name, watch.nicknames) {
                by_key
                    .entry(pattern.key())
                    .or_default()
                    .push((watch, pattern));
            }
        }
        WatchIndex { by_key }
    }

    /// The watches whose name `filed` names, each with why.
    pub fn candidates(&self, filed: &str) -> Vec<(&'w Watch, String)> {
        let mut found: Vec<(&Watch, String)> = Vec::new();
        for key in filed_keys(filed) {
            for (watch, pattern) in self.by_key.get(&key).into_iter().flatten() {
                if found.iter().any(|(w, _)| w.watch_id == watch.watch_id) {
                    continue;
                }
                if let Some(why) = pattern.explain(filed) {
                    found.push((watch, why));
                }
            }
        }
        found
    }
}

/// Whether a watch's limits (circuits, case types, roles) let a party of this case through.
pub fn within_limits(watch: &Watch, court_id: &str, case_type: &str, role: &str) -> bool {
    let circuit_ok = watch.circuits.is_empty() || watch.circuits.iter().any(|c| c == court_id);
    let type_ok = watch.case_types.is_empty()
        || (watch.case_types.iter()).any(|t| t.trim().eq_ignore_ascii_case(case_type.trim()));
    let role_ok = watch.roles.is_empty() || watch.roles.iter().any(|r| fold(r) == fold(role));
    circuit_ok && type_ok && role_ok
}

/// Whether the watch ran when the party arrived.
fn watching_at(watch: &Watch, at: DateTime<Utc>) -> bool {
    watch.started_at <= at && watch.stopped_at.is_none_or(|stop| at < stop)
}

/// Decides one page of arrivals. `zone` gives the day the noise guard counts by;
/// `max_per_day` is `watches.max_matches_per_day`.
pub fn decide(input: &WatchInput, zone: Tz, max_per_day: u32) -> WatchDecisions {
    let index = WatchIndex::new(&input.watches);
    // In the order the parties arrived: the noise guard tells the first of a day's cases.
    let mut arrivals: Vec<&ArrivalRow> = input.arrivals.iter().collect();
    arrivals.sort_by_key(|a| (a.arrived_at, a.seq));
    let mut decisions = WatchDecisions::default();
    let mut day_counts = input.day_counts.clone();
    let mut matched: HashSet<(String, String)> = input.matched.clone();
    let mut tracked = input.tracked.clone();
    let mut paused: HashSet<String> = HashSet::new();
    for arrival in arrivals {
        decisions.arrivals_done.push(arrival.seq);
        // Confidential cases, courts outside MCAP and excluded case types never match.
        if !arrival.notifiable {
            continue;
        }
        for (watch, why) in index.candidates(&arrival.name) {
            if paused.contains(&watch.watch_id)
                || !watching_at(watch, arrival.arrived_at)
                || !within_limits(watch, &arrival.court_id, &arrival.case_type, &arrival.role)
            {
                continue;
            }
            // Once per (watch, case): a second party of the same name on the case adds nothing.
            if !matched.insert((watch.watch_id.clone(), arrival.case_number.clone())) {
                continue;
            }
            let day = arrival.arrived_at.with_timezone(&zone).date_naive();
            let count = day_counts
                .entry((watch.watch_id.clone(), day.to_string()))
                .or_insert(0);
            if *count >= max_per_day {
                paused.insert(watch.watch_id.clone());
                decisions.pauses.push(WatchPause {
                    watch_id: watch.watch_id.clone(),
                    reason: pause_reason(watch, max_per_day, day),
                });
                continue;
            }
            *count += 1;
            decisions
                .matches
                .push(new_match(watch, arrival, why, &day.to_string()));
            if watch.auto_track
                && tracked.insert((watch.account_id.clone(), arrival.case_number.clone()))
            {
                decisions
                    .matches
                    .last_mut()
                    .expect("just pushed")
                    .auto_tracked = true;
                decisions.tracks.push(AutoTrack {
                    account_id: watch.account_id.clone(),
                    case_number: arrival.case_number.clone(),
                    tracked_at: arrival.filed_at,
                    source: format!("watch:{}", watch.watch_id),
                });
            }
        }
    }
    decisions
}

fn new_match(watch: &Watch, arrival: &ArrivalRow, why: String, day: &str) -> NewWatchMatch {
    NewWatchMatch {
        account_id: watch.account_id.clone(),
        watch_id: watch.watch_id.clone(),
        case_number: arrival.case_number.clone(),
        party_name: arrival.name.clone(),
        party_role: arrival.role.clone(),
        why,
        match_day: day.to_string(),
        auto_tracked: false,
    }
}

/// Why the noise guard paused a watch, as its owner and operators read it: with the limits
/// the watch does not use yet.
pub fn pause_reason(watch: &Watch, max_per_day: u32, day: chrono::NaiveDate) -> String {
    let unused: Vec<&str> = [
        (watch.circuits.is_empty(), "court"),
        (watch.case_types.is_empty(), "case type"),
        (watch.roles.is_empty(), "role"),
    ]
    .into_iter()
    .filter_map(|(unused, what)| unused.then_some(what))
    .collect();
    let narrow = match unused.as_slice() {
        [] => "a narrower name".to_string(),
        [one] => format!("a {one}"),
        [a, b] => format!("a {a} or {b}"),
        [a, b, c, ..] => format!("a {a}, {b} or {c}"),
    };
    format!(
        "it matched more than {max_per_day} new cases filed on {}, so it stopped before it \
         flooded your inbox. A watch narrowed to {narrow} resumes it.",
        day.format("%a %b %-d, %Y")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PartyKind;

    fn watch(id: &str, name: &str) -> Watch {
        Watch {
            watch_id: id.into(),
            account_id: format!("acct-{id}"),
            name: name.into(),
            kind: PartyKind::Person,
            circuits: Vec::new(),
            case_types: Vec::new(),
            roles: Vec::new(),
            nicknames: false,
            auto_track: false,
            started_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            stopped_at: None,
        }
    }

    fn arrival(seq: i64, case: &str, name: &str, court: &str) -> ArrivalRow {
        let at = DateTime::from_timestamp(1_760_000_000 + seq * 60, 0).unwrap();
        ArrivalRow {
            seq,
            case_number: case.into(),
            name: name.into(),
            role: "Defendant".into(),
            arrived_at: at,
            court_id: court.into(),
            case_type: "CV".into(),
            filed_at: at,
            notifiable: true,
        }
    }

    #[test]
    fn a_common_name_limited_by_circuit_matches_only_there() {
        let mut smith = watch("w1", "John Smith");
        smith.circuits = vec!["CT22".into()];
        let input = WatchInput {
            arrivals: vec![
                arrival(1, "C1", "SMITH, JOHN", "CT16"),
                arrival(2, "C2", "SMITH, JOHN A", "CT22"),
                arrival(3, "C3", "SMITH, JOHNNY", "CT22"),
            ],
            watches: vec![smith],
            ..WatchInput::default()
        };
        let decisions = decide(&input, chrono_tz::America::Chicago, 20);
        let cases: Vec<&str> = decisions
            .matches
            .iter()
            .map(|m| m.case_number.as_str())
            .collect();
        assert_eq!(cases, vec!["C2"]);
        assert_eq!(decisions.arrivals_done, vec![1, 2, 3]);
    }

    #[test]
    fn roles_and_case_types_limit_a_watch() {
        let mut w = watch("w1", "Jane Doe");
        w.roles = vec!["defendant".into()];
        w.case_types = vec!["cv".into()];
        assert!(within_limits(&w, "CT22", "CV", "Defendant"));
        assert!(!within_limits(&w, "CT22", "CV", "Plaintiff"));
        assert!(!within_limits(&w, "CT22", "CR", "Defendant"));
    }

    #[test]
    fn the_match_past_the_daily_limit_pauses_the_watch_once() {
        let input = WatchInput {
            arrivals: (1..=5)
                .map(|i| arrival(i, &format!("C{i}"), "DOE, JANE", "CT22"))
                .collect(),
            watches: vec![watch("w1", "Jane Doe")],
            ..WatchInput::default()
        };
        let decisions = decide(&input, chrono_tz::America::Chicago, 3);
        assert_eq!(decisions.matches.len(), 3);
        assert_eq!(decisions.pauses.len(), 1);
        let reason = &decisions.pauses[0].reason;
        assert!(
            reason.starts_with("it matched more than 3 new cases"),
            "{reason}"
        );
        assert!(
            reason.ends_with("narrowed to a court, case type or role resumes it."),
            "{reason}"
        );
        assert_eq!(decisions.arrivals_done.len(), 5);
    }

    #[test]
    fn a_party_before_the_watch_started_or_on_a_sealed_case_is_not_matched() {
        let mut late = watch("w1", "Jane Doe");
        late.started_at = DateTime::from_timestamp(1_760_000_000 + 150, 0).unwrap();
        let mut sealed = arrival(4, "C4", "DOE, JANE", "CT22");
        sealed.notifiable = false;
        let input = WatchInput {
            arrivals: vec![
                arrival(1, "C1", "DOE, JANE", "CT22"),
                arrival(3, "C3", "DOE, JANE", "CT22"),
                sealed,
            ],
            watches: vec![late],
            ..WatchInput::default()
        };
        let decisions = decide(&input, chrono_tz::America::Chicago, 20);
        let cases: Vec<&str> = decisions
            .matches
            .iter()
            .map(|m| m.case_number.as_str())
            .collect();
        assert_eq!(cases, vec!["C3"]);
    }
}
