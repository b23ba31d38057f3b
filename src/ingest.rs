//! Feed ingestion: JSON Lines files of courts, cases, docket entries, accounts and
//! subscriptions. A file is validated line by line and then written in one transaction, so a
//! single bad line rejects the whole file with `FILE:LINE: reason` and changes nothing. A UTF-8
//! byte order mark at the start of a file is accepted; records over the limits of
//! [`crate::feed_limits`] are refused.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::feed_limits::{self as limits, check_items, check_text};
use crate::model::{is_circuit_case_number, Account, Case, Court, DocketEntry};
use crate::store::{IngestFault, IngestSession, IngestStore, StoreError};

/// The kinds of feed, one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    Courts,
    Cases,
    Entries,
    Accounts,
    Subscriptions,
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedKind::Courts => "courts",
            FeedKind::Cases => "cases",
            FeedKind::Entries => "entries",
            FeedKind::Accounts => "accounts",
            FeedKind::Subscriptions => "subscriptions",
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
enum Applied {
    Changed,
    Unchanged,
}

/// A void line of the entries feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryVoid {
    entry_id: String,
    #[serde(deserialize_with = "crate::model::micros::instant")]
    voided_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackStart {
    account_id: String,
    case_number: String,
    #[serde(deserialize_with = "crate::model::micros::instant")]
    tracked_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackStop {
    account_id: String,
    case_number: String,
    #[serde(deserialize_with = "crate::model::micros::instant")]
    stopped_at: DateTime<Utc>,
}

/// Large reads: each read of a tokio file is a trip to the blocking pool.
const READ_BUFFER: usize = 256 * 1024;

/// Reads `path` (`-` for standard input) as a feed of `kind` and commits it whole or not at all.
pub async fn ingest_path<S: IngestStore>(
    store: &S,
    kind: FeedKind,
    path: &Path,
) -> Result<IngestSummary, IngestError> {
    if path == Path::new("-") {
        let reader = BufReader::with_capacity(READ_BUFFER, tokio::io::stdin());
        return ingest_reader(store, kind, "<stdin>", reader, None).await;
    }
    let open_error = |source| IngestError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(open_error)?;
    let size = file.metadata().await.map_err(open_error)?.len();
    let name = path.display().to_string();
    let reader = BufReader::with_capacity(READ_BUFFER, file);
    ingest_reader(store, kind, &name, reader, Some(size)).await
}

/// Reads a feed from any buffered reader; `name` is used in messages, `size` for progress.
pub async fn ingest_reader<S: IngestStore, R: AsyncBufRead + Unpin>(
    store: &S,
    kind: FeedKind,
    name: &str,
    mut reader: R,
    size: Option<u64>,
) -> Result<IngestSummary, IngestError> {
    let store_error = |source| IngestError::Store {
        file: name.to_string(),
        source,
    };
    let progress = progress_bar(size, name);
    let mut session = store.begin_ingest().await.map_err(store_error)?;
    let mut summary = IngestSummary::default();
    let mut line = String::new();
    let mut number = 0u64;
    let bad_line = |number, reason: String| IngestError::BadLine {
        file: name.to_string(),
        line: number,
        reason,
    };
    loop {
        line.clear();
        number += 1;
        // One byte past the limit (and its newline) is enough to know a line is too long.
        let read = (&mut reader)
            .take(limits::MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut line)
            .await
            .map_err(|source| IngestError::Read {
                file: name.to_string(),
                line: number,
                source,
            })?;
        if read == 0 {
            break;
        }
        progress.inc(read as u64);
        if line.strip_suffix('\n').unwrap_or(&line).len() > limits::MAX_LINE_BYTES {
            progress.finish_and_clear();
            return Err(bad_line(
                number,
                format!(
                    "the line is longer than {} bytes, the limit for one record",
                    limits::MAX_LINE_BYTES
                ),
            ));
        }
        let text = match number {
            1 => line.strip_prefix('\u{feff}').unwrap_or(&line),
            _ => &line,
        };
        if text.trim().is_empty() {
            continue;
        }
        summary.records += 1;
        match apply_line(&mut session, kind, text.trim_end()).await {
            Ok(Applied::Changed) => summary.applied += 1,
            Ok(Applied::Unchanged) => summary.unchanged += 1,
            Err(IngestFault::Rejected(reason)) => {
                progress.finish_and_clear();
                return Err(bad_line(number, reason));
            }
            Err(IngestFault::Store(source)) => {
                progress.finish_and_clear();
                return Err(IngestError::Store {
                    file: format!("{name}:{number}"),
                    source,
                });
            }
        }
    }
    session.commit().await.map_err(store_error)?;
    progress.finish_and_clear();
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

/// Parses one JSON object, naming the field at fault.
fn parse<T: DeserializeOwned>(line: &str) -> Result<T, IngestFault> {
    let mut de = serde_json::Deserializer::from_str(line);
    let value = parse_value(&mut de, line)?;
    // One record a line: anything after it (a second record, stray text) refuses the line.
    de.end().map_err(|_| {
        IngestFault::Rejected(
            "not valid JSON: more than one record on the line (one JSON object per line)".into(),
        )
    })?;
    Ok(value)
}

fn parse_value<T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
    line: &str,
) -> Result<T, IngestFault> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let message = match message.rfind(" at line ") {
            Some(cut) => message[..cut].to_string(),
            None => message,
        };
        if inner.is_syntax() || inner.is_eof() {
            IngestFault::Rejected(format!("not valid JSON: {message}"))
        } else if path == "." {
            IngestFault::Rejected(message)
        } else if let Some(local) = time_without_offset(line, &path) {
            IngestFault::Rejected(format!(
                "field `{path}`: `{local}` has no UTC offset; give one, like `{local}-06:00` or `{local}Z`"
            ))
        } else {
            IngestFault::Rejected(format!("field `{path}`: {message}"))
        }
    })
}

/// The text at `path` (as serde_path_to_error prints it) when it is a date and time that lacks
/// only its offset, the commonest mistake in a hand-made feed.
fn time_without_offset(line: &str, path: &str) -> Option<String> {
    let root: serde_json::Value = serde_json::from_str(line).ok()?;
    let mut value = &root;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        value = value.get(key)?;
        if let Some(i) = index {
            value = value.get(i)?;
        }
    }
    let text = value.as_str()?;
    text.parse::<chrono::NaiveDateTime>()
        .is_ok()
        .then(|| text.to_string())
}

/// Each (field, text, limit) within its limit.
fn within_limits(fields: &[(&str, &str, usize)]) -> Result<(), IngestFault> {
    for (field, value, max) in fields {
        check_text(field, value, *max).map_err(IngestFault::Rejected)?;
    }
    Ok(())
}

/// Whether a JSON object line carries `key` (to tell a void from an entry, a stop from a start).
fn has_key(line: &str, key: &str) -> Result<bool, IngestFault> {
    let value: serde_json::Value = parse(line)?;
    match value {
        serde_json::Value::Object(map) => Ok(map.contains_key(key)),
        _ => Err(IngestFault::Rejected("expected a JSON object".into())),
    }
}

fn reject<T>(reason: impl Into<String>) -> Result<T, IngestFault> {
    Err(IngestFault::Rejected(reason.into()))
}

fn require_text(field: &str, value: &str) -> Result<(), IngestFault> {
    if value.trim().is_empty() {
        return reject(format!("field `{field}` must not be empty"));
    }
    Ok(())
}

async fn apply_line<I: IngestSession>(
    session: &mut I,
    kind: FeedKind,
    line: &str,
) -> Result<Applied, IngestFault> {
    match kind {
        FeedKind::Courts => apply_court(session, parse(line)?).await,
        FeedKind::Cases => apply_case(session, parse(line)?).await,
        FeedKind::Entries if has_key(line, "voided_at")? => apply_void(session, parse(line)?).await,
        FeedKind::Entries => apply_entry(session, parse(line)?).await,
        FeedKind::Accounts => apply_account(session, parse(line)?).await,
        FeedKind::Subscriptions if has_key(line, "stopped_at")? => {
            apply_stop(session, parse(line)?).await
        }
        FeedKind::Subscriptions => apply_track(session, parse(line)?).await,
    }
}

async fn apply_court<I: IngestSession>(s: &mut I, court: Court) -> Result<Applied, IngestFault> {
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
    .map_err(IngestFault::Rejected)?;
    for (i, case_type) in excluded.iter().enumerate() {
        check_text(
            &format!("track_excluded_case_types[{i}]"),
            case_type,
            limits::CODE_CHARS,
        )
        .map_err(IngestFault::Rejected)?;
    }
    require_text("court_id", &court.court_id)?;
    require_text("name", &court.name)?;
    s.upsert_court(&court).await?;
    Ok(Applied::Changed)
}

async fn apply_case<I: IngestSession>(s: &mut I, case: Case) -> Result<Applied, IngestFault> {
    if !is_circuit_case_number(&case.case_number) {
        return reject(format!(
            "field `case_number`: `{}` is not a circuit case number (like 14BA-CV01093)",
            case.case_number
        ));
    }
    require_text("case_type", &case.case_type)?;
    require_text("caption", &case.caption)?;
    within_limits(&[
        ("court_id", &case.court_id, limits::ID_CHARS),
        ("case_type", &case.case_type, limits::CODE_CHARS),
        ("caption", &case.caption, limits::CAPTION_CHARS),
    ])?;
    check_items("parties", case.parties.len(), limits::LIST_ITEMS)
        .map_err(IngestFault::Rejected)?;
    for (i, party) in case.parties.iter().enumerate() {
        within_limits(&[
            (
                &format!("parties[{i}].name"),
                &party.name,
                limits::NAME_CHARS,
            ),
            (
                &format!("parties[{i}].role"),
                &party.role,
                limits::NAME_CHARS,
            ),
        ])?;
    }
    if !s.court_exists(&case.court_id).await? {
        return reject(format!("unknown court `{}`", case.court_id));
    }
    s.upsert_case(&case).await?;
    Ok(Applied::Changed)
}

async fn apply_entry<I: IngestSession>(
    s: &mut I,
    entry: DocketEntry,
) -> Result<Applied, IngestFault> {
    require_text("entry_id", &entry.entry_id)?;
    require_text("code", &entry.code)?;
    within_limits(&[
        ("entry_id", &entry.entry_id, limits::ID_CHARS),
        ("case_number", &entry.case_number, limits::ID_CHARS),
        ("code", &entry.code, limits::CODE_CHARS),
        ("description", &entry.description, limits::CAPTION_CHARS),
        ("text", &entry.text, limits::TEXT_CHARS),
        ("filed_by", &entry.filed_by, limits::NAME_CHARS),
    ])?;
    if let Some(stored) = s.entry(&entry.entry_id).await? {
        if stored.entry == entry {
            return Ok(Applied::Unchanged);
        }
        let old = &stored.entry;
        let differs: Vec<&str> = [
            ("case_number", old.case_number != entry.case_number),
            ("code", old.code != entry.code),
            ("description", old.description != entry.description),
            ("text", old.text != entry.text),
            ("filed_by", old.filed_by != entry.filed_by),
            ("posted_at", old.posted_at != entry.posted_at),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect();
        return reject(format!(
            "entry `{}` already exists with a different {}; entries cannot be changed, only voided",
            entry.entry_id,
            differs.join(", ")
        ));
    }
    if s.case_trackability(&entry.case_number).await?.is_none() {
        return reject(format!("unknown case `{}`", entry.case_number));
    }
    s.insert_entry(&entry).await?;
    Ok(Applied::Changed)
}

async fn apply_void<I: IngestSession>(s: &mut I, void: EntryVoid) -> Result<Applied, IngestFault> {
    within_limits(&[("entry_id", &void.entry_id, limits::ID_CHARS)])?;
    match s.entry(&void.entry_id).await? {
        None => reject(format!("cannot void unknown entry `{}`", void.entry_id)),
        Some(stored) if stored.voided_at.is_some() => Ok(Applied::Unchanged),
        Some(_) => {
            s.void_entry(&void.entry_id, void.voided_at).await?;
            Ok(Applied::Changed)
        }
    }
}

async fn apply_account<I: IngestSession>(
    s: &mut I,
    account: Account,
) -> Result<Applied, IngestFault> {
    require_text("account_id", &account.account_id)?;
    within_limits(&[
        ("account_id", &account.account_id, limits::ID_CHARS),
        ("email", &account.email, limits::EMAIL_CHARS),
    ])?;
    if let Err(e) = account.email.parse::<lettre::Address>() {
        return reject(format!(
            "field `email`: `{}` is not a mail address ({e})",
            account.email
        ));
    }
    s.upsert_account(&account).await?;
    Ok(Applied::Changed)
}

async fn require_account_and_case<I: IngestSession>(
    s: &mut I,
    account_id: &str,
    case_number: &str,
) -> Result<crate::model::CaseTrackability, IngestFault> {
    within_limits(&[
        ("account_id", account_id, limits::ID_CHARS),
        ("case_number", case_number, limits::ID_CHARS),
    ])?;
    if !s.account_exists(account_id).await? {
        return reject(format!("unknown account `{account_id}`"));
    }
    match s.case_trackability(case_number).await? {
        Some(t) => Ok(t),
        None => reject(format!("unknown case `{case_number}`")),
    }
}

async fn apply_track<I: IngestSession>(s: &mut I, t: TrackStart) -> Result<Applied, IngestFault> {
    let case = require_account_and_case(s, &t.account_id, &t.case_number).await?;
    if !case.court_mcap {
        return reject(format!(
            "case `{}` is in a court that does not take part in MCAP and cannot be tracked",
            t.case_number
        ));
    }
    if case.case_type_excluded {
        return reject(format!(
            "case `{}`: case type `{}` is excluded from Track This Case in its court",
            t.case_number, case.case_type
        ));
    }
    let periods = s.subscriptions(&t.account_id, &t.case_number).await?;
    if periods
        .iter()
        .any(|p| p.tracked_at == t.tracked_at || p.stopped_at.is_none())
    {
        return Ok(Applied::Unchanged);
    }
    if let Some(last_stop) = periods.iter().filter_map(|p| p.stopped_at).max() {
        if t.tracked_at < last_stop {
            return reject(format!(
                "field `tracked_at`: {} is before the end ({}) of an earlier tracking period",
                t.tracked_at.to_rfc3339(),
                last_stop.to_rfc3339()
            ));
        }
    }
    s.insert_subscription(&t.account_id, &t.case_number, t.tracked_at)
        .await?;
    Ok(Applied::Changed)
}

async fn apply_stop<I: IngestSession>(s: &mut I, t: TrackStop) -> Result<Applied, IngestFault> {
    require_account_and_case(s, &t.account_id, &t.case_number).await?;
    let periods = s.subscriptions(&t.account_id, &t.case_number).await?;
    if let Some(active) = periods.iter().find(|p| p.stopped_at.is_none()) {
        if t.stopped_at < active.tracked_at {
            return reject(format!(
                "field `stopped_at`: {} is before tracking started ({})",
                t.stopped_at.to_rfc3339(),
                active.tracked_at.to_rfc3339()
            ));
        }
        s.stop_subscription(active.subscription_id, t.stopped_at)
            .await?;
        return Ok(Applied::Changed);
    }
    if periods.iter().any(|p| p.stopped_at == Some(t.stopped_at)) {
        return Ok(Applied::Unchanged);
    }
    // Its recipient stopped it here already (and `subscriptions export` told the system of
    // record): the feed's own stop, at whatever time, changes nothing more.
    if periods
        .last()
        .is_some_and(|p| p.unsubscribed && t.stopped_at >= p.tracked_at)
    {
        return Ok(Applied::Unchanged);
    }
    reject(format!(
        "account `{}` is not tracking case `{}`",
        t.account_id, t.case_number
    ))
}
