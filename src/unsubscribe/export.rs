//! The stops recipients asked for, written as a subscriptions feed (`{"account_id",
//! "case_number", "stopped_at"}` lines) for the system of record, so "My Cases" agrees with
//! what people unsubscribed from here. The lines are exactly what `ingest subscriptions`
//! takes, and taking them back in changes nothing.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::store::{StoreError, UnsubscribeRecord, UnsubscribeStore};

/// One line of the feed.
#[derive(Serialize)]
struct StopLine<'a> {
    account_id: &'a str,
    case_number: &'a str,
    stopped_at: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    pub feed: Vec<u8>,
    pub stops: usize,
    /// The latest stop written: the `--since` of the next export.
    pub latest: Option<DateTime<Utc>>,
}

/// The feed of every stop at or after `since`, oldest first.
pub async fn stops_feed<S: UnsubscribeStore>(
    store: &S,
    since: Option<DateTime<Utc>>,
) -> Result<Exported, StoreError> {
    let stops = store.unsubscribes_since(since).await?;
    Ok(Exported {
        feed: feed_lines(&stops),
        stops: stops.len(),
        latest: stops.last().map(|s| s.stopped_at),
    })
}

fn feed_lines(stops: &[UnsubscribeRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for stop in stops {
        let line = StopLine {
            account_id: &stop.account_id,
            case_number: &stop.case_number,
            stopped_at: stop.stopped_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        };
        serde_json::to_writer(&mut out, &line).expect("a stop line serialises");
        out.push(b'\n');
    }
    out
}
