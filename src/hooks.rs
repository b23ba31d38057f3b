//! Points where a test stops the pipeline as a crash would, to prove recovery. They exist only
//! in builds with the `test-hooks` feature (the test suite enables it); elsewhere the points
//! and their calls are not compiled at all.

#[cfg(feature = "test-hooks")]
tokio::task_local! {
    static CRASH_AFTER_COMMITS: usize;
    static INGEST_PAUSE: std::sync::Arc<Pause>;
    static INGEST_CHUNK_LINES: usize;
}

/// A point where an ingest waits, once it has checked a number of records that change
/// something (before any is written), until the test lets it go on: the test does its
/// concurrent work in between.
#[cfg(feature = "test-hooks")]
#[derive(Debug)]
pub struct Pause {
    after_records: usize,
    reached: tokio::sync::Notify,
    resume: tokio::sync::Notify,
}

#[cfg(feature = "test-hooks")]
impl Pause {
    pub fn after_records(after_records: usize) -> std::sync::Arc<Pause> {
        std::sync::Arc::new(Pause {
            after_records,
            reached: tokio::sync::Notify::new(),
            resume: tokio::sync::Notify::new(),
        })
    }

    /// Waits until the ingest has reached the point.
    pub async fn wait_reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the ingest go on.
    pub fn resume(&self) {
        self.resume.notify_one();
    }

    pub(crate) async fn reached(&self, records: usize) {
        if records == self.after_records {
            self.reached.notify_one();
            self.resume.notified().await;
        }
    }
}

/// Runs `work` so that an ingest inside it stops at `pause`.
#[cfg(feature = "test-hooks")]
pub async fn pause_ingest<F: std::future::Future>(
    pause: std::sync::Arc<Pause>,
    work: F,
) -> F::Output {
    INGEST_PAUSE.scope(pause, work).await
}

#[cfg(feature = "test-hooks")]
pub(crate) fn ingest_pause() -> Option<std::sync::Arc<Pause>> {
    INGEST_PAUSE.try_with(|p| p.clone()).ok()
}

/// Runs `work` so that a batch run inside it stops, as if killed, once `commits` transactions
/// have committed after the run was opened.
#[cfg(feature = "test-hooks")]
pub async fn crash_after_commits<F: std::future::Future>(commits: usize, work: F) -> F::Output {
    CRASH_AFTER_COMMITS.scope(commits, work).await
}

/// Whether a run that has made `commits_done` commits must stop here.
#[cfg(feature = "test-hooks")]
pub(crate) fn crash_point(commits_done: usize) -> bool {
    CRASH_AFTER_COMMITS
        .try_with(|limit| commits_done >= *limit)
        .unwrap_or(false)
}

/// The environment variable that stops a process at a point, for tests that kill or signal a
/// running command: `POINT:N` (see [`process_pause`]).
#[cfg(feature = "test-hooks")]
pub const PAUSE_VARIABLE: &str = "MCAP_NOTIFY_TEST_PAUSE";

/// When [`PAUSE_VARIABLE`] names this point and count, says `paused at POINT N` on standard
/// error and waits until a line arrives on standard input (or it closes): the test knows where
/// the process is when it kills or signals it. Points: `batch-lease` (the batch lease is held,
/// count 0), `batch-commit` (before a run's commit number N+1, count N), `deliver-sent` (the
/// transport has accepted N messages, before they are recorded).
#[cfg(feature = "test-hooks")]
pub(crate) async fn process_pause(point: &str, count: usize) {
    let Ok(spec) = std::env::var(PAUSE_VARIABLE) else {
        return;
    };
    if spec != format!("{point}:{count}") {
        return;
    }
    eprintln!("paused at {point} {count}");
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
}

/// Runs `work` so that an ingest inside it checks its file `lines` lines at a time, to cross
/// chunk boundaries in small files.
#[cfg(feature = "test-hooks")]
pub async fn ingest_in_chunks_of<F: std::future::Future>(lines: usize, work: F) -> F::Output {
    INGEST_CHUNK_LINES.scope(lines, work).await
}

#[cfg(feature = "test-hooks")]
pub(crate) fn ingest_chunk_lines() -> Option<usize> {
    INGEST_CHUNK_LINES.try_with(|lines| *lines).ok()
}

/// The account whose digest panics while it is built, to prove a bug in one digest holds that
/// account aside and never ends the run.
#[cfg(feature = "test-hooks")]
pub const PANICKING_ACCOUNT: &str = "test-hook-render-panics";

/// Panics when `account_id` is [`PANICKING_ACCOUNT`].
#[cfg(feature = "test-hooks")]
pub(crate) fn render_panic_point(account_id: &str) {
    if account_id == PANICKING_ACCOUNT {
        panic!("rendering stopped by the test hook");
    }
}
