//! One batch run: claim every new entry (or resume the interrupted run), count what the
//! filters drop, stream the matched pairs in account order, build one digest per account (a
//! batch of accounts at a time, on every core, while the batch before commits), and commit
//! digests and ledger rows a batch of accounts at a time. The run record and the
//! watermark close the run once its whole range is done, so a crash anywhere is repaired by the
//! next run, which resumes the same range and lets the ledger skip what was already queued.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;

use std::collections::BTreeMap;

use super::digest::{AccountNews, Digest, DigestGrouper};
use super::message::{BuiltPart, MessageError, MessageFactory};
use crate::config::BatchSettings;
use crate::config::WatchSettings;
use crate::hearings::DateRules;
use crate::store::watches::WatchStore;
use crate::store::{
    BatchStore, DateStore, HeldDigest, QueuedMessage, RunScope, RunTotals, StoreError, EVERY_ENTRY,
};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stop was requested (SIGTERM, SIGINT); the run stays open and the next one resumes it.
    #[error("run {0} interrupted; the next run resumes it")]
    Interrupted(i64),
    /// This process lost the batch lease (its renewals failed, or another process holds it
    /// now): it wrote nothing after the loss; a run it had opened stays open and the leader
    /// resumes it. None: lost before a run was opened.
    #[error("{}", lease_lost(*.0))]
    LeaseLost(Option<i64>),
    /// A digest's rendering panicked.
    #[error("rendering a batch of digests failed: {0}")]
    Render(tokio::task::JoinError),
    /// Raised at a crash point set by a test (see [`crate::hooks`]).
    #[cfg(feature = "test-hooks")]
    #[error("run stopped on purpose after {0} commits")]
    InjectedCrash(usize),
}

fn lease_lost(run_id: Option<i64>) -> String {
    match run_id {
        Some(run_id) => format!(
            "run {run_id} stopped: this process lost the batch lease; the leader resumes the run"
        ),
        None => "no run opened: this process lost the batch lease before it could".to_string(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Render and report, write nothing.
    pub dry_run: bool,
    /// Run even when the service window is closed.
    pub ignore_windows: bool,
    /// Set to stop between commits (a signal handler sets it).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The batch lease the run is led under; None for a dry run or a caller that leads alone.
    pub lease: Option<RunLease>,
}

/// The lease a run is led under: its writes are fenced by the holder's name, and it stops at
/// its next commit once `lost` is set (by the renewer that keeps the lease alive).
#[derive(Debug, Clone)]
pub struct RunLease {
    pub holder: String,
    pub lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A digest as a dry run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestPreview {
    pub account_id: String,
    pub recipient: String,
    pub subject: String,
    pub cases: usize,
    pub entries: usize,
}

pub use crate::store::StageTimings;

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// None for a dry run.
    pub run_id: Option<i64>,
    pub resumed: bool,
    pub dry_run: bool,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub entries_scanned: u64,
    pub totals: RunTotals,
    pub timings: StageTimings,
    /// The first digests a dry run would queue.
    pub previews: Vec<DigestPreview>,
    /// The court-date notices this attempt queued (a dry run: would queue).
    pub date_notices: DateNoticeTotals,
    /// What the party watches found in this attempt, and the notices it queued (boxed: a
    /// report travels in every run's outcome).
    pub watches: Box<WatchTotals>,
}

/// Party watches in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchTotals {
    /// What the matching step did (nothing for a dry run).
    pub step: crate::watches::step::WatchStepReport,
    /// New-case notices queued (a dry run: would queue).
    pub new_case_notices: u64,
    /// Pauses told to their owners.
    pub pauses_told: u64,
}

/// Court-date notices by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DateNoticeTotals {
    pub reminders: u64,
    pub changes: u64,
}

const PREVIEW_LIMIT: usize = 20;

fn ms_since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Counts commits and stops the run where a test asked it to, when a stop is requested, or
/// when the lease it runs under is lost.
struct CommitGate<'a> {
    done: usize,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    lease: Option<&'a RunLease>,
    run_id: i64,
}

impl CommitGate<'_> {
    fn check(&self) -> Result<(), RunError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.stop.as_ref().is_some_and(|s| s.load(SeqCst)) {
            return Err(RunError::Interrupted(self.run_id));
        }
        if self.lease.is_some_and(|l| l.lost.load(SeqCst)) {
            return Err(RunError::LeaseLost(Some(self.run_id)));
        }
        #[cfg(feature = "test-hooks")]
        if crate::hooks::crash_point(self.done) {
            return Err(RunError::InjectedCrash(self.done));
        }
        Ok(())
    }

    /// The holder a write is fenced by.
    fn leader(&self) -> Option<&str> {
        self.lease.map(|l| l.holder.as_str())
    }

    /// See [`fenced`].
    fn fenced(&self, error: StoreError) -> RunError {
        fenced(Some(self.run_id), error)
    }
}

/// A write refused by the lease's fence is the loss of the lease (of run `run_id`, if one was
/// opened); other errors pass unchanged.
fn fenced(run_id: Option<i64>, error: StoreError) -> RunError {
    match error {
        StoreError::Fenced(holder) => {
            tracing::error!(?run_id, %holder, "the batch lease is lost; stopping");
            RunError::LeaseLost(run_id)
        }
        other => RunError::Store(other),
    }
}

/// Does one batch run at instant `now`, in a span that carries the run id once it is known.
#[tracing::instrument(
    name = "batch_run",
    skip_all,
    fields(run_id = tracing::field::Empty, dry_run = options.dry_run)
)]
#[allow(clippy::too_many_arguments)]
pub async fn run_batch<S: BatchStore + DateStore + WatchStore>(
    store: &S,
    factory: &Arc<MessageFactory>,
    settings: &BatchSettings,
    date_rules: Option<&DateRules>,
    watch_settings: Option<&WatchSettings>,
    options: &RunOptions,
    now: DateTime<Utc>,
) -> Result<RunReport, RunError> {
    let mut timings = StageTimings::default();
    let run_clock = Instant::now();
    // What earlier attempts of a resumed run queued: its totals cover the whole run.
    let mut queued_before = RunTotals::default();
    // (scope, run id, resumed, first seq, last seq, entries)
    let mut watch_step = crate::watches::step::WatchStepReport::default();
    let (scope, run_id, resumed, first_seq, last_seq, entries_scanned) = if options.dry_run {
        let range = store.preview_run(EVERY_ENTRY).await?;
        let scope = RunScope::Preview {
            up_to_seq: range.last_seq.unwrap_or(0),
        };
        (
            scope,
            None,
            false,
            range.first_seq,
            range.last_seq,
            range.entries,
        )
    } else {
        let leader = options.lease.as_ref().map(|l| l.holder.as_str());
        // Digests queued earlier that may no longer go out are cancelled first, so that what
        // else they held is queued again by this very run.
        super::withhold(store, now).await?;
        super::forgo_held(store).await?;
        let run = store
            .open_run(leader, EVERY_ENTRY, now)
            .await
            .map_err(|e| fenced(None, e))?;
        queued_before = run.queued_before;
        tracing::Span::current().record("run_id", run.run_id);
        // Parties new on cases are matched against the watches before the run reads its
        // pairs, so that a case a watch tracks from now on has its entries in this very run.
        if let Some(watch_settings) = watch_settings {
            let zone = date_rules.map_or(chrono_tz::America::Chicago, |r| r.calendar.zone());
            watch_step =
                crate::watches::step::match_new_parties(store, zone, watch_settings, leader, now)
                    .await
                    .map_err(|e| fenced(Some(run.run_id), e))?;
        }
        tracing::info!(
            run_id = run.run_id,
            resumed = run.resumed,
            entries = run.entries_claimed,
            "batch run opened"
        );
        let scope = RunScope::Claimed { run_id: run.run_id };
        let claimed = run.entries_claimed;
        (
            scope,
            Some(run.run_id),
            run.resumed,
            run.first_seq,
            run.last_seq,
            claimed,
        )
    };
    let mut report = RunReport {
        run_id,
        resumed,
        dry_run: options.dry_run,
        first_seq,
        last_seq,
        entries_scanned,
        totals: queued_before,
        timings: StageTimings::default(),
        previews: Vec::new(),
        date_notices: DateNoticeTotals::default(),
        watches: Box::new(WatchTotals {
            step: watch_step,
            ..WatchTotals::default()
        }),
    };
    timings.snapshot_ms = ms_since(run_clock);

    let started = Instant::now();
    report.totals.drops = store.drop_counts(scope).await?;
    // The court dates each account is told of in this run, joined to its digest.
    let dates = match date_rules {
        Some(rules) => {
            let horizon = crate::hearings::plan::horizon(&rules.calendar, now);
            let candidates = store.date_candidates(now, horizon).await?;
            crate::hearings::plan::plan(&rules.calendar, &rules.reminders, candidates, now)
        }
        None => BTreeMap::new(),
    };
    // The new cases the account's watches found, and the pauses to tell of.
    let waiting = match watch_settings {
        Some(_) => store.waiting_watch_notices().await?,
        None => Default::default(),
    };
    let news = AccountNews::gather(dates, waiting.notices, waiting.pauses);
    timings.filter_ms = ms_since(started);

    let mut gate = CommitGate {
        done: 0,
        stop: options.stop.clone(),
        lease: options.lease.as_ref(),
        run_id: report.run_id.unwrap_or(0),
    };
    let chunk_size = settings.accounts_per_commit.max(1) as usize;
    let mut chunk = Chunk::default();
    let mut gatherer = Gatherer {
        rows: store.match_rows(scope),
        grouper: DigestGrouper::default(),
        news,
        counts: RunTotals::default(),
        done: false,
    };
    let started = Instant::now();
    let mut commit_time = std::time::Duration::ZERO;
    let run_number = report.run_id.unwrap_or(0);
    // Three stages overlap: while a batch of accounts' digests renders on every core, the batch
    // before it commits and the batch after it is read from the database.
    let mut batch = gatherer.next_batch(chunk_size).await?;
    let mut rendering: Option<tokio::task::JoinHandle<Vec<Rendered>>> = None;
    while batch.is_some() || rendering.is_some() {
        let started_rendering = batch
            .take()
            .map(|batch| render_batch(factory, run_number, batch, now));
        let previous = std::mem::replace(&mut rendering, started_rendering);
        let commit = async {
            let Some(previous) = previous else {
                return Ok(());
            };
            for rendered in previous.await.map_err(RunError::Render)? {
                take_rendered(&mut report, rendered, &mut chunk);
            }
            if let (Some(run_id), false) = (report.run_id, chunk.is_empty()) {
                #[cfg(feature = "test-hooks")]
                crate::hooks::process_pause("batch-commit", gate.done).await;
                gate.check()?;
                let t = Instant::now();
                let newly_held = commit_chunk(store, run_id, gate.leader(), &mut chunk, now)
                    .await
                    .map_err(|e| gate.fenced(e))?;
                report.totals.digests_queued -= newly_held;
                report.totals.accounts_held += newly_held;
                commit_time += t.elapsed();
                gate.done += 1;
            }
            chunk.clear();
            Ok::<(), RunError>(())
        };
        let (committed, gathered) = tokio::join!(commit, gatherer.next_batch(chunk_size));
        committed?;
        batch = gathered?;
    }
    let counts = &gatherer.counts;
    report.totals.pairs_matched += counts.pairs_matched;
    report.totals.skipped_unverified += counts.skipped_unverified;
    report.totals.skipped_suppressed += counts.skipped_suppressed;
    drop(gatherer);
    timings.match_render_ms = (started.elapsed() - commit_time).as_millis() as u64;

    // The closing write stores the stage times, so it is not among them.
    timings.commit_ms = commit_time.as_millis() as u64;
    if let Some(run_id) = report.run_id {
        gate.check()?;
        // The clock at the finish: the run's instant plus the time it took.
        let now = now + run_clock.elapsed();
        store
            .finish_run(run_id, gate.leader(), &report.totals, &timings, now)
            .await
            .map_err(|e| gate.fenced(e))?;
        let totals = &report.totals;
        tracing::info!(
            run_id,
            entries = report.entries_scanned,
            dropped_voided = totals.drops.voided,
            dropped_confidential = totals.drops.confidential,
            dropped_excluded_court = totals.drops.excluded_court,
            dropped_excluded_type = totals.drops.excluded_case_type,
            pairs = totals.pairs_matched,
            digests = totals.digests_queued,
            skipped_unverified = totals.skipped_unverified,
            skipped_suppressed = totals.skipped_suppressed,
            held = totals.accounts_held,
            "batch run finished"
        );
    }
    report.timings = timings;
    Ok(report)
}

/// The digests of a batch of accounts, committed together, and the accounts held aside.
#[derive(Debug, Default)]
struct Chunk {
    messages: Vec<QueuedMessage>,
    held: Vec<HeldDigest>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.messages.len() + self.held.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clear(&mut self) {
        self.messages.clear();
        self.held.clear();
    }
}

/// Commits a chunk. When the database refuses it for what one message holds (a constraint, a
/// value it cannot store), each message is tried on its own so that one bad account is held
/// aside with the database's reason and the others go out. Returns how many messages were
/// held aside that way; a busy or unreachable database is an error for the whole run.
async fn commit_chunk<S: BatchStore>(
    store: &S,
    run_id: i64,
    leader: Option<&str>,
    chunk: &mut Chunk,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    match store
        .queue_digests(run_id, leader, &chunk.messages, &chunk.held, now)
        .await
    {
        Err(e) if e.is_about_the_data() && !chunk.messages.is_empty() => {
            tracing::warn!(
                run_id,
                error = %crate::mask::Text(&e.to_string()),
                "a batch of digests was refused; trying each alone"
            );
        }
        other => return other.map(|()| 0),
    }
    let mut newly_held = 0;
    for message in std::mem::take(&mut chunk.messages) {
        match store
            .queue_digests(run_id, leader, std::slice::from_ref(&message), &[], now)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_about_the_data() => {
                tracing::warn!(
                    account_id = %message.mail.account_id,
                    reason = "held",
                    cause = "the database refused its digest",
                    error = %crate::mask::text_about(&e.to_string(), &message.mail.recipient),
                    "account skipped"
                );
                newly_held += 1;
                chunk.held.push(HeldDigest {
                    account_id: message.mail.account_id.clone(),
                    entry_seqs: message.entry_seqs,
                    reason: format!("not stored: {e}"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    store
        .queue_digests(run_id, leader, &[], &chunk.held, now)
        .await?;
    Ok(newly_held)
}

/// A digest and what building it gave.
struct Rendered {
    digest: Digest,
    parts: Result<Vec<BuiltPart>, MessageError>,
}

/// Reads the matched pairs and groups them into the digests to build, a batch at a time,
/// counting the pairs and the accounts skipped.
struct Gatherer<'s> {
    rows: futures_util::stream::BoxStream<'s, Result<crate::model::MatchRow, StoreError>>,
    grouper: DigestGrouper,
    /// The news (court dates, new cases) of accounts whose digest is not built yet.
    news: BTreeMap<String, AccountNews>,
    counts: RunTotals,
    done: bool,
}

impl Gatherer<'_> {
    /// Up to `size` digests to build, or None once every pair is read.
    async fn next_batch(&mut self, size: usize) -> Result<Option<Vec<Digest>>, StoreError> {
        let mut batch = Vec::with_capacity(size);
        while !self.done && batch.len() < size {
            let digest = match self.rows.try_next().await? {
                Some(row) => {
                    self.counts.pairs_matched += 1;
                    self.grouper.push(row)
                }
                None => {
                    self.done = true;
                    std::mem::take(&mut self.grouper).finish()
                }
            };
            let digest = digest.map(|digest| match self.news.remove(&digest.account_id) {
                Some(news) => digest.with_news(news),
                None => digest,
            });
            batch.extend(digest.and_then(|digest| self.renderable(digest)));
        }
        // Once every filing is read, the accounts with news alone.
        while self.done && batch.len() < size {
            let Some((_, news)) = self.news.pop_first() else {
                break;
            };
            batch.extend(self.renderable(Digest::of_news(news)));
        }
        Ok((!batch.is_empty()).then_some(batch))
    }

    /// The digest, unless its account is skipped (unverified, suppressed), which is counted.
    fn renderable(&mut self, digest: Digest) -> Option<Digest> {
        if !digest.email_verified {
            self.counts.skipped_unverified += 1;
            tracing::info!(account_id = %digest.account_id, reason = "unverified", "account skipped");
            return None;
        }
        if digest.suppressed {
            self.counts.skipped_suppressed += 1;
            tracing::info!(account_id = %digest.account_id, reason = "suppressed", "account skipped");
            return None;
        }
        Some(digest)
    }
}

/// Builds a batch of digests on the blocking pool, spread over every core, in their order.
fn render_batch(
    factory: &Arc<MessageFactory>,
    run_id: i64,
    batch: Vec<Digest>,
    now: DateTime<Utc>,
) -> tokio::task::JoinHandle<Vec<Rendered>> {
    let factory = Arc::clone(factory);
    tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        batch
            .into_par_iter()
            .map(|digest| Rendered {
                parts: build_guarded(&factory, run_id, &digest, now),
                digest,
            })
            .collect()
    })
}

/// Builds a digest's messages. A panic while building one (a bug, met by this digest alone) is
/// an error for that digest, so its account is held aside and the others go out.
fn build_guarded(
    factory: &MessageFactory,
    run_id: i64,
    digest: &Digest,
    now: DateTime<Utc>,
) -> Result<Vec<BuiltPart>, MessageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        #[cfg(feature = "test-hooks")]
        crate::hooks::render_panic_point(&digest.account_id);
        factory.build_parts(run_id, digest, now)
    }))
    .unwrap_or_else(|_| {
        Err(MessageError::Panicked {
            account_id: digest.account_id.clone(),
        })
    })
}

/// Counts a built digest and puts its messages into the chunk. An account whose digest cannot
/// be built is held aside with the reason; it never stops the run.
fn take_rendered(report: &mut RunReport, rendered: Rendered, chunk: &mut Chunk) {
    let Rendered { digest, parts } = rendered;
    let parts = match parts {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(
                account_id = %digest.account_id,
                reason = "held",
                cause = "its digest cannot be built",
                error = %crate::mask::text_about(&e.to_string(), &digest.email),
                "account skipped"
            );
            report.totals.accounts_held += 1;
            chunk.held.push(HeldDigest {
                account_id: digest.account_id.clone(),
                entry_seqs: digest.entry_seqs(),
                reason: format!("not built: {e}"),
            });
            return;
        }
    };
    for BuiltPart { cases, message } in parts {
        report.totals.digests_queued += 1;
        report.watches.new_case_notices += message.watch_notices.len() as u64;
        report.watches.pauses_told += message.watch_pauses.len() as u64;
        for notice in &message.date_notices {
            match notice.key.notice {
                crate::model::Notice::Reminder(_) => report.date_notices.reminders += 1,
                crate::model::Notice::Change => report.date_notices.changes += 1,
            }
        }
        if report.dry_run {
            if report.previews.len() < PREVIEW_LIMIT {
                report.previews.push(DigestPreview {
                    account_id: digest.account_id.clone(),
                    recipient: message.mail.recipient.clone(),
                    subject: message.mail.subject.clone(),
                    cases,
                    entries: message.entry_seqs.len(),
                });
            }
            continue;
        }
        chunk.messages.push(message);
    }
}
