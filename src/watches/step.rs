//! The matching step that opens each batch run: the parties that arrived since the last step
//! are matched against the watches a page at a time, each page's decisions written in one
//! transaction that also marks its arrivals matched. A crash between pages leaves the rest
//! for the next step; a page written twice is impossible, and a match recorded already is
//! left as it was (the ledger's key is the account, the watch and the case).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::WatchSettings;
use crate::store::watches::WatchStore;
use crate::store::StoreError;

/// Arrivals read and decided together.
const ARRIVALS_PER_PAGE: u32 = 20_000;

/// What a matching step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchStepReport {
    pub parties_read: u64,
    pub matches: u64,
    pub auto_tracked: u64,
    pub paused: u64,
}

/// Matches every party not matched yet, fenced by `leader`.
pub async fn match_new_parties<S: WatchStore>(
    store: &S,
    zone: Tz,
    settings: &WatchSettings,
    leader: Option<&str>,
    now: DateTime<Utc>,
) -> Result<WatchStepReport, StoreError> {
    let mut report = WatchStepReport::default();
    loop {
        let input = store.watch_input(ARRIVALS_PER_PAGE).await?;
        if input.watches.is_empty() {
            // No watch runs: the arrivals so far can match nothing, now or later.
            report.parties_read += store.pass_arrivals(leader, now).await?;
            break;
        }
        if input.arrivals.is_empty() {
            break;
        }
        let decisions = super::matching::decide(&input, zone, settings.max_matches_per_day);
        store
            .record_watch_decisions(leader, &decisions, now)
            .await?;
        report.parties_read += input.arrivals.len() as u64;
        report.matches += decisions.matches.len() as u64;
        report.auto_tracked += decisions.tracks.len() as u64;
        report.paused += decisions.pauses.len() as u64;
        for pause in &decisions.pauses {
            tracing::info!(watch_id = %pause.watch_id, reason = %pause.reason, "watch paused");
        }
        if (input.arrivals.len() as u32) < ARRIVALS_PER_PAGE {
            break;
        }
    }
    if report.parties_read > 0 {
        tracing::info!(
            parties = report.parties_read,
            matches = report.matches,
            auto_tracked = report.auto_tracked,
            paused = report.paused,
            "party watches matched"
        );
    }
    Ok(report)
}
