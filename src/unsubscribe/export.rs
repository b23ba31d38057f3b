//! The tracking changes made here, written as a subscriptions feed for the system of record,
//! so "My Cases" agrees: the stops recipients asked for (`{"account_id", "case_number",
//! "stopped_at"}`) and the cases a party watch's auto_track started tracking
//! (`{"account_id", "case_number", "tracked_at", "source"}`), in the order they happened. The
//! lines are exactly what `ingest subscriptions` takes, and taking them back changes nothing.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::store::watches::{AutoTrackRecord, WatchStore};
use crate::store::{StoreError, UnsubscribeRecord, UnsubscribeStore};

/// One line of the feed.
#[derive(Serialize)]
struct StopLine<'a> {
    account_id: &'a str,
    case_number: &'a str,
    stopped_at: String,
}

/// A start line of the feed.
#[derive(Serialize)]
struct StartLine<'a> {
    account_id: &'a str,
    case_number: &'a str,
    tracked_at: String,
    source: &'a str,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    pub feed: Vec<u8>,
    pub stops: usize,
    /// Cases auto_track started tracking.
    pub starts: usize,
    /// The latest change written: the `--since` of the next export.
    pub latest: Option<DateTime<Utc>>,
}

/// The feed of every stop, and every start by auto_track, made at or after `since`, oldest
/// first.
pub async fn stops_feed<S: UnsubscribeStore + WatchStore>(
    store: &S,
    since: Option<DateTime<Utc>>,
) -> Result<Exported, StoreError> {
    let stops = store.unsubscribes_since(since).await?;
    let starts = store.auto_tracks_since(since).await?;
    let latest = (stops.last().map(|s| s.stopped_at)).max(starts.last().map(|s| s.recorded_at));
    Ok(Exported {
        feed: feed_lines(&stops, &starts),
        stops: stops.len(),
        starts: starts.len(),
        latest,
    })
}

fn feed_lines(stops: &[UnsubscribeRecord], starts: &[AutoTrackRecord]) -> Vec<u8> {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    // Both lists are oldest first: merged, the changes stay in the order they were made.
    let mut changes: Vec<(DateTime<Utc>, Vec<u8>)> = Vec::new();
    for stop in stops {
        let line = StopLine {
            account_id: &stop.account_id,
            case_number: &stop.case_number,
            stopped_at: time(stop.stopped_at),
        };
        let text = serde_json::to_vec(&line).expect("a stop line serialises");
        changes.push((stop.stopped_at, text));
    }
    for start in starts {
        let line = StartLine {
            account_id: &start.account_id,
            case_number: &start.case_number,
            tracked_at: time(start.tracked_at),
            source: &start.source,
        };
        let text = serde_json::to_vec(&line).expect("a start line serialises");
        changes.push((start.recorded_at, text));
    }
    changes.sort_by_key(|(at, _)| *at);
    let mut out = Vec::new();
    for (_, line) in changes {
        out.extend(line);
        out.push(b'\n');
    }
    out
}
