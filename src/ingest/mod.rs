//! Feed ingestion: JSON Lines files of courts, cases, docket entries, court dates (events),
//! accounts, subscriptions and party watches. A file is read a chunk of lines at a time: each
//! chunk is parsed, the store is asked in bulk what checking it needs, and every line is checked in file order against the
//! store's answers and the lines before it. Only once the whole file has passed are its rows
//! handed to the store, in batches, and committed in one transaction, so a single bad line
//! rejects the whole file with `FILE:LINE: reason` and changes nothing. A UTF-8 byte order
//! mark at the start of a file is accepted; records over the limits of [`crate::feed_limits`]
//! are refused. One module per feed kind holds its checks; this one drives them.

mod accounts;
mod cases;
mod courts;
mod entries;
mod events;
mod lines;
mod parse;
mod subscriptions;
mod watches;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::io::{AsyncBufRead, BufReader};

use crate::store::{IngestSession, IngestStore, StoreError};
use lines::{ChunkEnd, LineReader};
use parse::Rejection;

/// The kinds of feed, one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    Courts,
    Cases,
    Entries,
    Events,
    Accounts,
    Subscriptions,
    Watches,
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedKind::Courts => "courts",
            FeedKind::Cases => "cases",
            FeedKind::Entries => "entries",
            FeedKind::Events => "events",
            FeedKind::Accounts => "accounts",
            FeedKind::Subscriptions => "subscriptions",
            FeedKind::Watches => "watches",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: cannot read: {source}")]
    Read {
        file: String,
        line: u64,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {reason}")]
    BadLine {
        file: String,
        line: u64,
        reason: String,
    },
    #[error("{file}: {source}")]
    Store { file: String, source: StoreError },
}

/// What one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    /// Records read (blank lines aside).
    pub records: u64,
    /// Records that changed something.
    pub applied: u64,
    /// Records identical to what was stored already.
    pub unchanged: u64,
}

/// Whether a record changed the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Changed,
    Unchanged,
}

/// Large reads: each read of a tokio file is a trip to the blocking pool.
const READ_BUFFER: usize = 256 * 1024;

/// What some feeds check against the settings.
#[derive(Debug, Clone)]
pub struct FeedRules {
    /// `watches.per_account`.
    pub watches_per_account: u32,
}

impl Default for FeedRules {
    fn default() -> Self {
        FeedRules {
            watches_per_account: crate::config::WatchSettings::default().per_account,
        }
    }
}

/// Reads `path` (`-` for standard input) as a feed of `kind` and commits it whole or not at all.
pub async fn ingest_path<S: IngestStore>(
    store: &S,
    kind: FeedKind,
    path: &Path,
) -> Result<IngestSummary, IngestError> {
    ingest_path_with(store, kind, path, &FeedRules::default()).await
}

/// [`ingest_path`] under the settings' rules.
pub async fn ingest_path_with<S: IngestStore>(
    store: &S,
    kind: FeedKind,
    path: &Path,
    rules: &FeedRules,
) -> Result<IngestSummary, IngestError> {
    if path == Path::new("-") {
        let reader = BufReader::with_capacity(READ_BUFFER, tokio::io::stdin());
        return ingest_reader_with(store, kind, "<stdin>", reader, None, rules).await;
    }
    let open_error = |source| IngestError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(open_error)?;
    let size = file.metadata().await.map_err(open_error)?.len();
    let name = path.display().to_string();
    let reader = BufReader::with_capacity(READ_BUFFER, file);
    ingest_reader_with(store, kind, &name, reader, Some(size), rules).await
}

/// Lines checked together: each chunk asks the store once per kind of question.
const CHUNK_LINES: usize = 4_096;

/// Rows handed to the store in one call.
const ROWS_PER_BATCH: usize = 4_096;

/// Reads a feed from any buffered reader; `name` is used in messages, `size` for progress.
pub async fn ingest_reader<S: IngestStore, R: AsyncBufRead + Unpin>(
    store: &S,
    kind: FeedKind,
    name: &str,
    reader: R,
    size: Option<u64>,
) -> Result<IngestSummary, IngestError> {
    ingest_reader_with(store, kind, name, reader, size, &FeedRules::default()).await
}

/// [`ingest_reader`] under the settings' rules.
pub async fn ingest_reader_with<S: IngestStore, R: AsyncBufRead + Unpin>(
    store: &S,
    kind: FeedKind,
    name: &str,
    reader: R,
    size: Option<u64>,
    rules: &FeedRules,
) -> Result<IngestSummary, IngestError> {
    let progress = progress_bar(size, name);
    let reader = LineReader::new(reader, name, &progress);
    let ingested = match kind {
        FeedKind::Watches => {
            let feed = watches::WatchesFeed::new(rules.watches_per_account);
            ingest_feed_into(feed, store, name, reader).await
        }
        FeedKind::Courts => ingest_feed::<courts::CourtsFeed, _, _>(store, name, reader).await,
        FeedKind::Cases => ingest_feed::<cases::CasesFeed, _, _>(store, name, reader).await,
        FeedKind::Entries => ingest_feed::<entries::EntriesFeed, _, _>(store, name, reader).await,
        FeedKind::Events => ingest_feed::<events::EventsFeed, _, _>(store, name, reader).await,
        FeedKind::Accounts => {
            ingest_feed::<accounts::AccountsFeed, _, _>(store, name, reader).await
        }
        FeedKind::Subscriptions => {
            ingest_feed::<subscriptions::SubscriptionsFeed, _, _>(store, name, reader).await
        }
    };
    progress.finish_and_clear();
    ingested
}

/// One feed kind's checks and decisions over a whole file, kept apart from any database: the
/// store only answers questions and writes the rows decided here.
trait Feed: Default {
    type Record;

    /// Parses one line into a record.
    fn parse(line: &str) -> Result<Self::Record, Rejection>;

    /// Asks the store, in bulk, what checking `records` needs and the feed does not know yet.
    async fn look_up<I: IngestSession>(
        &mut self,
        session: &mut I,
        records: &[&Self::Record],
    ) -> Result<(), StoreError>;

    /// Checks one record against the store's answers and the file's lines before it, and
    /// stages what it changes.
    fn apply(&mut self, record: Self::Record) -> Result<Applied, Rejection>;

    /// Hands every staged row to the store, [`ROWS_PER_BATCH`] at a time.
    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError>;
}

/// The lines each chunk holds (smaller in tests that cross chunk boundaries).
fn chunk_lines() -> usize {
    #[cfg(feature = "test-hooks")]
    if let Some(lines) = crate::hooks::ingest_chunk_lines() {
        return lines.max(1);
    }
    CHUNK_LINES
}

async fn ingest_feed<F: Feed, S: IngestStore, R: AsyncBufRead + Unpin>(
    store: &S,
    name: &str,
    reader: LineReader<'_, R>,
) -> Result<IngestSummary, IngestError> {
    ingest_feed_into(F::default(), store, name, reader).await
}

async fn ingest_feed_into<F: Feed, S: IngestStore, R: AsyncBufRead + Unpin>(
    mut feed: F,
    store: &S,
    name: &str,
    mut reader: LineReader<'_, R>,
) -> Result<IngestSummary, IngestError> {
    let store_error = |source| IngestError::Store {
        file: name.to_string(),
        source,
    };
    #[cfg(feature = "test-hooks")]
    let pause = crate::hooks::ingest_pause();
    let chunk_lines = chunk_lines();
    let mut session = store.begin_ingest().await.map_err(store_error)?;
    let mut summary = IngestSummary::default();
    loop {
        let chunk = reader.next_chunk(chunk_lines).await;
        let parsed: Vec<(u64, Result<F::Record, Rejection>)> = chunk
            .lines
            .iter()
            .map(|line| (line.number, F::parse(&line.text)))
            .collect();
        let records: Vec<&F::Record> = parsed.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
        feed.look_up(&mut session, &records)
            .await
            .map_err(store_error)?;
        for (number, record) in parsed {
            summary.records += 1;
            match record.and_then(|record| feed.apply(record)) {
                Ok(Applied::Changed) => {
                    summary.applied += 1;
                    #[cfg(feature = "test-hooks")]
                    if let Some(pause) = &pause {
                        pause.reached(summary.applied as usize).await;
                    }
                }
                Ok(Applied::Unchanged) => summary.unchanged += 1,
                Err(Rejection(reason)) => {
                    return Err(IngestError::BadLine {
                        file: name.to_string(),
                        line: number,
                        reason,
                    })
                }
            }
        }
        match chunk.end {
            ChunkEnd::Full => {}
            ChunkEnd::Eof => break,
            ChunkEnd::Fault(fault) => return Err(fault),
        }
    }
    feed.write(&mut session).await.map_err(store_error)?;
    session.commit().await.map_err(store_error)?;
    Ok(summary)
}

fn progress_bar(size: Option<u64>, name: &str) -> ProgressBar {
    let bar = match size {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.with_message(format!("ingesting {name}"))
}

/// Adds to `known` those of `case_numbers` the store has (asking only about the ones not known
/// yet), for a feed whose records must name an existing case.
async fn learn_cases<'a, I: IngestSession>(
    session: &mut I,
    known: &mut std::collections::HashSet<String>,
    case_numbers: impl Iterator<Item = &'a str>,
) -> Result<(), StoreError> {
    let unknown: std::collections::HashSet<&str> =
        case_numbers.filter(|c| !known.contains(*c)).collect();
    if !unknown.is_empty() {
        let unknown: Vec<&str> = unknown.into_iter().collect();
        known.extend(session.case_trackability(&unknown).await?.into_keys());
    }
    Ok(())
}

/// Stages an added-or-replaced row: a key given again replaces its earlier row in place, so
/// each key is written once, with the file's last word on it.
fn stage_upsert<T>(rows: &mut Vec<T>, row_of: &mut HashMap<String, usize>, key: String, row: T) {
    match row_of.get(&key) {
        Some(&at) => rows[at] = row,
        None => {
            row_of.insert(key, rows.len());
            rows.push(row);
        }
    }
}
