//! Points where a test stops the pipeline as a crash would, to prove recovery. They exist only
//! in builds with the `test-hooks` feature (the test suite enables it); elsewhere every point is
//! a constant `false` the compiler removes.

#[cfg(feature = "test-hooks")]
tokio::task_local! {
    static CRASH_AFTER_COMMITS: usize;
}

/// Runs `work` so that a batch run inside it stops, as if killed, once `commits` transactions
/// have committed after the run was opened.
#[cfg(feature = "test-hooks")]
pub async fn crash_after_commits<F: std::future::Future>(commits: usize, work: F) -> F::Output {
    CRASH_AFTER_COMMITS.scope(commits, work).await
}

/// Whether a run that has made `commits_done` commits must stop here.
pub(crate) fn crash_point(commits_done: usize) -> bool {
    #[cfg(feature = "test-hooks")]
    {
        CRASH_AFTER_COMMITS
            .try_with(|limit| commits_done >= *limit)
            .unwrap_or(false)
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        let _ = commits_done;
        false
    }
}
