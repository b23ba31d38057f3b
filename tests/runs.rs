//! The run history, read through the real program from a real database: `runs` lists done
//! runs, a closed stretch as one row with its tick count, and the attempts that did not finish
//! (an error, a stop asked for, a process killed mid-run, one that failed before opening a run);
//! `runs show` gives the stage times and counts the run itself reported, and every attempt once.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use mcap_notify::app::{App, RunOutcome};
use mcap_notify::batch::{RunError, RunOptions};
use mcap_notify::ingest::FeedKind;
use serde_json::Value;

const CASE: &str = "2616-CV00001";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `accounts` verified accounts tracking one case since January, and one new entry on it.
async fn news_for(t: &TestApp, accounts: usize) {
    t.ingest(
        FeedKind::Cases,
        &[case(CASE, "CT16", "CV", "Smith v. Jones")],
    )
    .await;
    let list: Vec<_> = (0..accounts)
        .map(|i| account(&format!("acct{i}"), &format!("a{i}@example.org"), true))
        .collect();
    t.ingest(FeedKind::Accounts, &list).await;
    let subs: Vec<_> = (0..accounts)
        .map(|i| track(&format!("acct{i}"), CASE, "2026-01-01T00:00:00Z"))
        .collect();
    t.ingest(FeedKind::Subscriptions, &subs).await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", CASE, "MOT", "2026-02-02T10:00:00Z")],
    )
    .await;
}

/// The program's standard output for `args`, which must succeed.
/// A template folder whose subject template is `subject` (one that does not parse).
fn broken_templates(t: &TestApp, subject: &str) -> std::path::PathBuf {
    let templates = t.dir.path().join("templates");
    std::fs::create_dir_all(templates.join("detailed")).unwrap();
    std::fs::write(templates.join("detailed/subject.hbs"), subject).unwrap();
    templates
}

/// The test's settings with `templates` as the template folder.
fn with_templates(t: &TestApp, templates: std::path::PathBuf) -> mcap_notify::config::Settings {
    let mut settings = t.app.settings.clone();
    settings.digest.template_dir = Some(templates);
    settings
}

fn output(t: &TestApp, args: &[&str]) -> String {
    let out = t.command().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(t: &TestApp, args: &[&str]) -> Value {
    let text = output(t, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {text}"))
}

#[tokio::test]
async fn runs_lists_done_skipped_and_failed_runs_newest_first() {
    let t = TestApp::with(|s| s.batch.accounts_per_commit = 1).await;
    news_for(&t, 2).await;
    // A closed Saturday: two ticks, one row.
    for when in ["2026-11-21T09:00:00-06:00", "2026-11-21T10:00:00-06:00"] {
        let outcome = t.app.run_at(&RunOptions::default(), at(when)).await;
        assert!(matches!(outcome, Ok(RunOutcome::Skipped { .. })));
    }
    // A run that fails after its first commit, and the run that finishes it.
    let crashed = mcap_notify::hooks::crash_after_commits(1, t.run_with(RunOptions::default()))
        .await
        .expect_err("stopped on purpose");
    assert!(matches!(
        crashed.downcast_ref::<RunError>(),
        Some(RunError::InjectedCrash(1))
    ));
    let finished = t.run().await;
    assert!(finished.resumed);
    let run_id = finished.run_id.unwrap();
    // An attempt that fails before it can open a run: a digest template that does not parse.
    let broken = App::open(with_templates(&t, broken_templates(&t, "{{#if}")))
        .await
        .unwrap();
    let options = RunOptions {
        ignore_windows: true,
        ..RunOptions::default()
    };
    broken
        .run_now(&options)
        .await
        .expect_err("the templates are broken");

    let lines = json(&t, &["runs", "--json"]);
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let failed = &lines[0];
    assert_eq!(failed["kind"], "attempt");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["run_id"], Value::Null);
    assert!(
        failed["error"].as_str().unwrap().contains("subject.hbs"),
        "{failed}"
    );
    let done = &lines[1];
    assert_eq!(done["kind"], "run");
    assert_eq!(done["run_id"], run_id);
    assert_eq!(done["outcome"], "done");
    assert_eq!(done["entries"], 1);
    assert_eq!(done["digests"], finished.totals.digests_queued);
    assert_eq!(done["digests"], 2);
    assert_eq!(done["failed_attempts"], 1);
    assert_eq!(done["interrupted_attempts"], 0);
    assert!(done["duration_ms"].as_i64().unwrap() >= 0, "{done}");
    let skipped = &lines[2];
    assert_eq!(skipped["outcome"], "skipped");
    assert_eq!(skipped["skip_reason"], "weekend");
    assert_eq!(skipped["ticks"], 2);

    let text = output(&t, &["runs"]);
    assert!(text.contains("failed with no run open: "), "{text}");
    assert!(text.contains("done (attempts: 1 failed;"), "{text}");
    let weekend = text
        .lines()
        .find(|l| l.ends_with("skipped (weekend), 2 ticks"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        weekend.contains("Sat 2026-11-21 09:00:00 CST  10:00:00"),
        "first and last tick: {weekend}"
    );
    let newest = json(&t, &["runs", "--limit", "1", "--json"]);
    assert_eq!(newest.as_array().unwrap().len(), 1);

    let show = json(&t, &["runs", "show", &run_id.to_string(), "--json"]);
    let attempts = show["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "failed");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("stopped on purpose after 1 commits"),
        "{show}"
    );
}

#[tokio::test]
async fn a_stopped_attempt_and_a_killed_one_are_each_recorded_once() {
    let t = TestApp::new().await;
    news_for(&t, 12).await;
    let run_now = |extra: &[&str]| {
        let mut c = t.command();
        c.env("MCAP_NOTIFY__BATCH__ACCOUNTS_PER_COMMIT", "2")
            .args(["run-now", "--ignore-windows"])
            .args(extra)
            .stdout(std::process::Stdio::piped());
        c
    };
    // Asked to stop (SIGTERM) before its second commit: it records that itself.
    let mut stopped = start_paused(run_now(&[]), "batch-commit:1");
    stopped.signal("TERM");
    stopped.wait_for("stop requested");
    stopped.resume();
    let (status, stderr) = stopped.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    // Killed before its third commit: it can record nothing.
    let killed = start_paused(run_now(&[]), "batch-commit:2");
    killed.signal("KILL");
    killed.finish();
    // The next run resumes the run, and notes that the one before it died.
    let out = run_now(&["--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["resumed"], true);
    assert_eq!(report["totals"]["digests_queued"], 12);
    let run_id = report["run_id"].as_i64().unwrap();
    // A run after that has nothing to resume and records nothing more.
    output(&t, &["run-now", "--ignore-windows"]);

    let show = json(&t, &["runs", "show", &run_id.to_string(), "--json"]);
    assert_eq!(show["outcome"], "done");
    assert_eq!(show["timings"], report["timings"], "{show}");
    assert_eq!(show["totals"], report["totals"], "{show}");
    assert_eq!(show["first_seq"], report["first_seq"]);
    assert_eq!(show["last_seq"], report["last_seq"]);
    assert_eq!(show["messages"], serde_json::json!([["queued", 12]]));
    let attempts = show["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{show}");
    assert!(attempts.iter().all(|a| a["outcome"] == "interrupted"));
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{show}"
    );
    assert!(
        attempts[1]["error"]
            .as_str()
            .unwrap()
            .contains("ended without a word"),
        "{show}"
    );

    let text = output(&t, &["runs", "show", &run_id.to_string()]);
    let tm = &report["timings"];
    let stages = format!(
        "stages     snapshot {} ms, filter {} ms, match+render {} ms, commit {} ms",
        tm["snapshot_ms"], tm["filter_ms"], tm["match_render_ms"], tm["commit_ms"]
    );
    assert!(text.contains(&stages), "{text}");
    assert!(text.contains("digests    12 queued"), "{text}");
    assert!(text.contains("attempts   2 did not finish"), "{text}");
    let listed = output(&t, &["runs"]);
    assert!(
        listed.contains("done (attempts: 2 interrupted;"),
        "{listed}"
    );
}

#[tokio::test]
async fn a_failure_before_the_lease_is_not_booked_against_another_process_run() {
    let t = TestApp::new().await;
    news_for(&t, 6).await;
    let mut holder = t.command();
    holder
        .env("MCAP_NOTIFY__BATCH__ACCOUNTS_PER_COMMIT", "2")
        .args(["run-now", "--ignore-windows"])
        .stdout(std::process::Stdio::piped());
    // Process A holds the lease with its run open...
    let holder = start_paused(holder, "batch-commit:1");
    // ...when process B fails before it could take the lease (its templates do not parse).
    let templates = broken_templates(&t, "{{#if}");
    let failed = t
        .command()
        .env("MCAP_NOTIFY__DIGEST__TEMPLATE_DIR", &templates)
        .args(["run-now", "--ignore-windows"])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    // A dies; the next run resumes A's run and records that A died.
    holder.signal("KILL");
    holder.finish();
    output(&t, &["run-now", "--ignore-windows"]);

    let rows: Vec<(Option<i64>, String, String)> = t
        .db()
        .rows("SELECT run_id, outcome, error FROM run_failures ORDER BY failure_id")
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, None, "B's failure belongs to no run: {rows:?}");
    assert_eq!(rows[0].1, "failed");
    assert_eq!(
        rows[1].0,
        Some(1),
        "A's death is recorded on A's run: {rows:?}"
    );
    assert_eq!(rows[1].1, "interrupted");
    let show = json(&t, &["runs", "show", "1", "--json"]);
    let attempts = show["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{show}");
    assert_eq!(attempts[0]["outcome"], "interrupted");
}

#[test]
fn an_unknown_run_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .args(["runs", "show", "42"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no run 42"), "{stderr}");
    let out = binary()
        .current_dir(dir.path())
        .args(["runs", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn runs_that_found_nothing_new_are_one_row_and_the_limit_counts_rows() {
    let t = TestApp::new().await;
    // Three empty runs, a run with work, then four more empty ones.
    for _ in 0..3 {
        t.run().await;
    }
    news_for(&t, 1).await;
    let busy = t.run().await.run_id.unwrap();
    let mut quiet = Vec::new();
    for _ in 0..4 {
        quiet.push(t.run().await.run_id.unwrap());
    }

    let lines = json(&t, &["runs", "--json"]);
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0]["kind"], "empty_runs");
    assert_eq!(lines[0]["runs"], 4);
    assert_eq!(lines[0]["first_run_id"], quiet[0]);
    assert_eq!(lines[0]["last_run_id"], quiet[3]);
    assert_eq!(lines[1]["run_id"], busy);
    assert_eq!(lines[2]["kind"], "empty_runs");
    assert_eq!(lines[2]["runs"], 3);
    assert_eq!(lines[2]["first_run_id"], 1);

    // Two rows shown: the second stretch is not counted as runs, and arrives whole.
    let two = json(&t, &["runs", "--limit", "2", "--json"]);
    assert_eq!(two.as_array().unwrap().len(), 2, "{two:#}");
    let one = json(&t, &["runs", "--limit", "1", "--json"]);
    assert_eq!(one[0]["runs"], 4, "{one:#}");

    let text = output(&t, &["runs"]);
    assert_eq!(text.lines().count(), 4, "a header and three rows: {text}");
    assert!(
        text.lines()
            .any(|l| l.contains("done, nothing new (4 runs until ")),
        "{text}"
    );
    // Every run folded away is still there to show.
    let show = json(&t, &["runs", "show", &quiet[1].to_string(), "--json"]);
    assert_eq!(show["outcome"], "done");
    assert_eq!(show["run_id"], quiet[1]);
}

#[tokio::test]
async fn an_error_over_several_lines_is_one_row_of_runs() {
    let t = TestApp::new().await;
    t.run().await;
    let broken = App::open(with_templates(
        &t,
        broken_templates(&t, "line one\n{{#if}\n"),
    ))
    .await
    .unwrap();
    let options = RunOptions {
        ignore_windows: true,
        ..RunOptions::default()
    };
    let error = broken
        .run_now(&options)
        .await
        .expect_err("broken templates");
    assert!(
        format!("{error:#}").contains('\n'),
        "the error spans lines: {error:#}"
    );

    let text = output(&t, &["runs"]);
    assert_eq!(text.lines().count(), 3, "a header and two rows: {text}");
    let row = text
        .lines()
        .find(|l| l.contains("failed with no run open: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.chars().count() < 250, "shortened: {row}");
    // The full text stays in the JSON.
    let lines = json(&t, &["runs", "--json"]);
    assert!(lines[0]["error"].as_str().unwrap().contains('\n'));
}
