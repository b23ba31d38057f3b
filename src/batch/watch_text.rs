//! How a digest words the news of party watches: the new cases grouped under the name each
//! watch follows, why each matched, and the pause of a watch the noise guard stopped.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::render::single_line;
use crate::store::watches::{PauseNotice, WatchNotice};

/// The new cases of one watch, under its name.
#[derive(Debug, Serialize)]
pub struct WatchGroupView {
    pub heading: String,
    pub cases: Vec<NewCaseView>,
}

#[derive(Debug, Serialize)]
pub struct NewCaseView {
    pub case_number: String,
    pub caption: String,
    pub court_name: String,
    pub case_type: String,
    pub filed: String,
    pub party: String,
    pub role: String,
    pub why: String,
    pub tracked: bool,
}

#[derive(Debug, Serialize)]
pub struct PausedWatchView {
    pub name: String,
    pub reason: String,
}

/// The new cases grouped by watch, in the digest's order (the store gives them by watch).
pub fn groups(notices: &[WatchNotice]) -> Vec<WatchGroupView> {
    let mut groups: Vec<(String, WatchGroupView)> = Vec::new();
    for notice in notices {
        let view = NewCaseView {
            case_number: single_line(&notice.case_number),
            caption: single_line(&notice.caption),
            court_name: single_line(&notice.court_name),
            case_type: case_type_name(&notice.case_type),
            filed: filed_day(notice.filed_at),
            party: single_line(&notice.party_name),
            role: single_line(&notice.party_role),
            why: single_line(&notice.why),
            tracked: notice.auto_tracked,
        };
        match groups.iter_mut().find(|(id, _)| *id == notice.watch_id) {
            Some((_, group)) => group.cases.push(view),
            None => groups.push((
                notice.watch_id.clone(),
                WatchGroupView {
                    heading: single_line(&notice.watch_name),
                    cases: vec![view],
                },
            )),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut group)| {
            let what = if group.cases.len() == 1 {
                "New case"
            } else {
                "New cases"
            };
            group.heading = format!("{what} naming {}", group.heading);
            group
        })
        .collect()
}

pub fn paused(pauses: &[PauseNotice]) -> Vec<PausedWatchView> {
    pauses
        .iter()
        .map(|p| PausedWatchView {
            name: single_line(&p.watch_name),
            reason: single_line(&p.reason),
        })
        .collect()
}

/// The subject's start for a digest whose first news is its watches'.
pub fn subject(notices: &[WatchNotice], pauses: &[PauseNotice]) -> Option<String> {
    match notices {
        [] => pauses
            .first()
            .map(|p| format!("Your watch on {} is paused", single_line(&p.watch_name))),
        [one] => Some(format!(
            "New case naming {}: {}",
            single_line(&one.watch_name),
            single_line(&one.case_number)
        )),
        [first, ..] => {
            let cases = distinct_cases(notices);
            let others = if notices.iter().any(|n| n.watch_name != first.watch_name) {
                " and others"
            } else {
                ""
            };
            Some(match cases {
                1 => format!(
                    "New case naming {}{others}: {}",
                    single_line(&first.watch_name),
                    single_line(&first.case_number)
                ),
                n => format!(
                    "{n} new cases naming {}{others}",
                    single_line(&first.watch_name)
                ),
            })
        }
    }
}

/// How many cases the notices name (two watches may name one case).
pub fn distinct_cases(notices: &[WatchNotice]) -> usize {
    let mut cases: Vec<&str> = notices.iter().map(|n| n.case_number.as_str()).collect();
    cases.sort_unstable();
    cases.dedup();
    cases.len()
}

/// The same in the `casenet` style: the case numbers' count only.
pub fn casenet_subject(notices: &[WatchNotice], pauses: &[PauseNotice]) -> Option<String> {
    match distinct_cases(notices) {
        0 => (!pauses.is_empty()).then(|| "a name watch paused".to_string()),
        1 => Some(format!("new case {}", single_line(&notices[0].case_number))),
        n => Some(format!("{n} new cases")),
    }
}

/// Missouri's case type codes in words, the code itself for one not known.
fn case_type_name(code: &str) -> String {
    let name = match code {
        "CR" => "Criminal",
        "CV" => "Civil",
        "AC" => "Associate Civil",
        "FC" => "Family",
        "PR" => "Probate",
        "TR" => "Traffic",
        "JU" => "Juvenile",
        "MU" => "Municipal",
        "AP" => "Appeal",
        other => return single_line(other),
    };
    format!("{name} ({code})")
}

fn filed_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::America::Chicago)
        .format("%a %b %-d, %Y")
        .to_string()
}
