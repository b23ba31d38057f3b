//! The courts feed: each line adds a court or replaces one, with the case types it keeps out
//! of Track This Case.

use std::collections::HashMap;

use super::parse::{parse, require_printable_id, require_text, within_limits, Rejection};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits::{self as limits, check_items, check_text};
use crate::model::Court;
use crate::store::{IngestSession, StoreError};

/// The courts to write, one row per court: a court given again replaces its earlier line.
#[derive(Default)]
pub(super) struct CourtsFeed {
    rows: Vec<Court>,
    row_of: HashMap<String, usize>,
}

impl Feed for CourtsFeed {
    type Record = Court;

    fn parse(line: &str) -> Result<Court, Rejection> {
        parse(line)
    }

    async fn look_up<I: IngestSession>(
        &mut self,
        _session: &mut I,
        _records: &[&Court],
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn apply(&mut self, court: Court) -> Result<Applied, Rejection> {
        within_limits(&[
            ("court_id", &court.court_id, limits::ID_CHARS),
            ("name", &court.name, limits::NAME_CHARS),
        ])?;
        let excluded = &court.track_excluded_case_types;
        check_items(
            "track_excluded_case_types",
            excluded.len(),
            limits::LIST_ITEMS,
        )
        .map_err(Rejection)?;
        for (i, case_type) in excluded.iter().enumerate() {
            check_text(
                &format!("track_excluded_case_types[{i}]"),
                case_type,
                limits::CODE_CHARS,
            )
            .map_err(Rejection)?;
        }
        require_text("court_id", &court.court_id)?;
        require_printable_id("court_id", &court.court_id)?;
        require_text("name", &court.name)?;
        super::stage_upsert(
            &mut self.rows,
            &mut self.row_of,
            court.court_id.clone(),
            court,
        );
        Ok(Applied::Changed)
    }

    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        for batch in self.rows.chunks(ROWS_PER_BATCH) {
            session.upsert_courts(batch).await?;
        }
        Ok(())
    }
}
