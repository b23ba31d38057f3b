//! The program as operators use it: the binary, its exit codes and messages, the demo, and a
//! run killed with SIGKILL part-way and completed by the next `run-now`.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use mcap_notify::ingest::FeedKind;
use serde_json::Value;

fn in_dir(dir: &Path, args: &[&str]) -> Output {
    binary().current_dir(dir).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn runs_refuses_a_limit_of_zero_and_its_show_explains_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = in_dir(dir.path(), &["runs", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("--limit"), "{}", stderr(&out));
    let out = in_dir(dir.path(), &["runs", "show", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    let id = help
        .lines()
        .find(|l| l.trim_start().starts_with("<ID>"))
        .unwrap_or_else(|| panic!("{help}"));
    assert!(id.contains("run's id"), "{help}");
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = in_dir(dir.path(), &["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for command in [
        "run-now",
        "deliver",
        "ingest",
        "status",
        "demo",
        "migrate",
        "Exit codes",
    ] {
        assert!(text.contains(command), "--help mentions {command}");
    }
}

#[test]
fn a_misspelt_environment_key_stops_the_program_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("MCAP_NOTIFY__DELIVERY__TRANSPROT", "smtp")
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("MCAP_NOTIFY__DELIVERY__TRANSPROT"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("mcap-notify.db").exists(),
        "nothing was created"
    );
}

#[test]
fn a_bad_value_or_file_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("MCAP_NOTIFY__DIGEST__STYLE", "fancy")
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("digest.style"), "{}", stderr(&out));

    std::fs::write(
        dir.path().join("mcap-notify.toml"),
        "[batch]\nmax_entries = 5\n",
    )
    .unwrap();
    let out = in_dir(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("batch.max_entries"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("mcap-notify.toml"),
        "{}",
        stderr(&out)
    );

    let out = binary()
        .current_dir(dir.path())
        .args(["--config", "missing.toml", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));

    std::fs::write(dir.path().join("empty.toml"), "").unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
        .args(["--config", "empty.toml", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("smtp.url"), "{}", stderr(&out));
}

#[test]
fn a_bad_feed_fails_with_file_and_line_and_a_good_one_is_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("accounts.jsonl");
    std::fs::write(
        &feed,
        "{\"account_id\":\"a\",\"email\":\"a@example.org\",\"email_verified\":true}\n{\"account_id\":\"b\"}\n",
    )
    .unwrap();
    let out = in_dir(dir.path(), &["ingest", "accounts", "accounts.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("accounts.jsonl:2: missing field `email`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &feed,
        "{\"account_id\":\"a\",\"email\":\"a@example.org\",\"email_verified\":true}\n",
    )
    .unwrap();
    let out = in_dir(dir.path(), &["ingest", "accounts", "accounts.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 accounts records (1 applied, 0 unchanged)"));
    let out = in_dir(dir.path(), &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["watermark"], 0);
}

#[test]
fn the_demo_builds_runs_and_delivers_valid_multipart_mail() {
    let dir = tempfile::tempdir().unwrap();
    let out = in_dir(dir.path(), &["demo", "--dir", "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(summary.contains("digests"), "{summary}");
    // Every entry scanned is notifiable or dropped for a reason named with its count.
    let batch = summary
        .lines()
        .find(|l| l.trim_start().starts_with("batch"))
        .unwrap_or_else(|| panic!("{summary}"));
    let count_before = |words: &str| -> u64 {
        let head = &batch[..batch
            .find(words)
            .unwrap_or_else(|| panic!("{words}: {batch}"))];
        head.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| !w.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let parts: u64 = [
        " notifiable",
        " voided",
        " confidential withheld",
        " excluded case type",
        " court left MCAP",
    ]
    .iter()
    .map(|w| count_before(w))
    .sum();
    assert_eq!(parts, count_before(" entries scanned"), "{batch}");
    // As many runs as the history holds.
    let history: Value =
        serde_json::from_slice(&in_dir(&dir.path().join("demo"), &["runs", "--json"]).stdout)
            .unwrap();
    let recorded: u64 = history
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["runs"].as_u64().unwrap_or(1))
        .sum();
    assert!(recorded >= 2, "{history:#}");
    assert!(batch.contains(&format!(" {recorded} runs ")), "{batch}");
    let outbox = dir.path().join("demo/outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.len() > 50,
        "the demo sends many digests, got {}",
        files.len()
    );
    assert!(
        summary.contains(&format!("{} written", files.len())),
        "{summary}"
    );
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.text_body_count(), 1, "{}", file.display());
        assert_eq!(parsed.html_body_count(), 1, "{}", file.display());
        assert!(parsed
            .body_text(0)
            .unwrap()
            .contains("not official court notice"));
    }
    // A second demo in the same directory starts afresh.
    let out = in_dir(dir.path(), &["demo", "--dir", "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), files.len());
    // A directory that is not the demo's is left alone.
    std::fs::write(dir.path().join("precious.txt"), "keep").unwrap();
    let out = in_dir(dir.path(), &["demo", "--dir", "."]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a demo directory"));
}

/// Reads a demo feed written as JSON lines.
fn feed_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What a Missouri practitioner expects on each kind of docket, written out here apart from the
/// generator: the docket codes a case type may carry, and words its descriptions never contain.
fn docket_fits(case_type: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match case_type {
        "CR" | "TR" => (
            &[
                "INFO", "COMP", "WARI", "WARS", "ARRS", "ARRN", "BOND", "MOT", "EOA", "PLEA",
                "SENT", "NOLP", "CONT", "HRSC", "ORDR",
            ],
            &[
                "Garnish",
                "Summons",
                "Dissolution",
                "Letters",
                "Inventory",
                "Answer",
            ],
        ),
        "CV" | "AC" => (
            &[
                "PETF", "JGAS", "SMIS", "SERV", "ANSR", "EOA", "MOT", "CSRV", "NDEP", "HRSC",
                "CONT", "JE", "GARN", "SATJ", "DISM", "ORDR",
            ],
            &[
                "Arraign",
                "Warrant",
                "Plea",
                "Bond",
                "Sentence",
                "Letters",
                "Inventory",
                "Dissolution",
            ],
        ),
        "FC" => (
            &[
                "PETF", "SMIS", "SERV", "ANSR", "EOA", "MOT", "FRMF", "PPLN", "HRSC", "HRHD",
                "CONT", "JDIS", "ORDR",
            ],
            &[
                "Arraign",
                "Warrant",
                "Plea",
                "Bond",
                "Sentence",
                "Garnish",
                "Letters",
                "Inventory",
            ],
        ),
        "PR" => (
            &[
                "APLT", "LTRS", "PUBN", "INVF", "ASET", "EOA", "HRSC", "ORDR",
            ],
            &[
                "Arraign",
                "Warrant",
                "Plea",
                "Bond",
                "Sentence",
                "Garnish",
                "Summons",
                "Dissolution",
            ],
        ),
        "JU" | "MH" => (
            &["PETF", "EOA", "HRSC", "HRHD", "CONT", "ORDR"],
            &[
                "Arraign",
                "Warrant",
                "Plea",
                "Bond",
                "Garnish",
                "Letters",
                "Inventory",
                "Dissolution",
            ],
        ),
        other => panic!("the demo makes no {other} cases"),
    }
}

/// Entries the court makes itself: a clerk or a judge files them, never a party.
const COURT_CODES: &[&str] = &[
    "JGAS", "SMIS", "SERV", "WARI", "WARS", "ARRS", "ARRN", "BOND", "PLEA", "SENT", "CONT", "HRSC",
    "HRHD", "JE", "JDIS", "LTRS", "PUBN", "ORDR",
];

#[test]
fn demo_dockets_fit_their_case_types_captions_and_filers() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2026", "90210"] {
        let out = in_dir(dir.path(), &["demo", "--dir", seed, "--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
        let feeds = dir.path().join(seed).join("feeds");
        let cases: std::collections::HashMap<String, Value> =
            feed_lines(&feeds.join("cases.jsonl"))
                .into_iter()
                .map(|c| (c["case_number"].as_str().unwrap().to_string(), c))
                .collect();
        let mut kinds_seen = std::collections::HashSet::new();
        let mut opened = std::collections::HashSet::new();
        for case in cases.values() {
            let kind = case["case_type"].as_str().unwrap();
            let caption = case["caption"].as_str().unwrap();
            assert_eq!(
                caption.starts_with("State of Missouri v."),
                matches!(kind, "CR" | "TR"),
                "seed {seed}: {kind} case captioned {caption}"
            );
        }
        for entry in feed_lines(&feeds.join("entries.jsonl")) {
            if entry.get("voided_at").is_some() {
                continue;
            }
            let case = &cases[entry["case_number"].as_str().unwrap()];
            let kind = case["case_type"].as_str().unwrap();
            let code = entry["code"].as_str().unwrap();
            let description = entry["description"].as_str().unwrap();
            let filed_by = entry["filed_by"].as_str().unwrap();
            let text = entry["text"].as_str().unwrap();
            let what = format!("seed {seed}: {kind} entry {entry}");
            kinds_seen.insert(kind.to_string());
            // Entries come in posting order: a case's first is the filing that opens it.
            if opened.insert(entry["case_number"].as_str().unwrap().to_string()) {
                assert!(
                    ["INFO", "COMP", "PETF", "APLT"].contains(&code),
                    "opening filing: {what}"
                );
            }
            let (codes, never) = docket_fits(kind);
            assert!(codes.contains(&code), "{what}");
            for word in never {
                assert!(!description.contains(word), "{what}");
                assert!(!text.contains(word), "{what}");
            }
            if filed_by.contains("Prosecuting Attorney") {
                assert!(matches!(kind, "CR" | "TR"), "{what}");
            }
            if COURT_CODES.contains(&code) {
                assert!(
                    filed_by == "Court Clerk" || filed_by.contains(" Hon. "),
                    "{what}"
                );
                continue;
            }
            // A party's filing: by that party's attorney when it has one, else by the party.
            let parties = case["parties"].as_array().unwrap();
            let role_of = |name: &str| {
                parties
                    .iter()
                    .find(|p| p["name"] == name)
                    .map(|p| p["role"].as_str().unwrap().to_string())
            };
            let behalf = text
                .split("On Behalf Of: ")
                .nth(1)
                .unwrap_or_else(|| panic!("a party's filing names its party: {what}"));
            let behalf_role = role_of(behalf).unwrap_or_else(|| panic!("{what}"));
            assert_ne!(behalf_role, "Decedent", "{what}");
            if behalf == "State of Missouri" {
                assert!(
                    filed_by.contains("Prosecuting Attorney")
                        || filed_by.contains("Circuit Attorney"),
                    "{what}"
                );
            }
            let counsel = format!("Attorney for {behalf_role}");
            match parties.iter().find(|p| p["role"] == counsel.as_str()) {
                Some(attorney) => assert_eq!(attorney["name"], filed_by, "{what}"),
                None => assert_eq!(behalf, filed_by, "{what}"),
            }
            assert!(text.contains(&format!("Filed By: {filed_by}")), "{what}");
        }
        assert_eq!(kinds_seen.len(), 8, "seed {seed}: {kinds_seen:?}");
        // Courts sit on weekdays: every court date, and every date a docket entry sets.
        use chrono::Datelike;
        let weekend = |day: chrono::NaiveDate| day.weekday().num_days_from_monday() >= 5;
        for file in ["events.jsonl", "events-changes.jsonl"] {
            for event in feed_lines(&feeds.join(file)) {
                let starts: chrono::DateTime<chrono::Utc> =
                    event["starts_at"].as_str().unwrap().parse().unwrap();
                let local = starts.with_timezone(&chrono_tz::America::Chicago);
                assert!(!weekend(local.date_naive()), "seed {seed}: {event}");
            }
        }
        for entry in feed_lines(&feeds.join("entries.jsonl")) {
            let text = entry["text"].as_str().unwrap_or_default();
            for marker in ["Scheduled For: ", "Rescheduled to "] {
                if let Some((_, after)) = text.split_once(marker) {
                    let date = after.split(';').next().unwrap().trim();
                    let day = chrono::NaiveDate::parse_from_str(date, "%d-%b-%Y")
                        .unwrap_or_else(|e| panic!("seed {seed}: `{date}`: {e}"));
                    assert!(!weekend(day), "seed {seed}: {entry}");
                }
            }
        }
    }
}

/// Many accounts, each with a digest to come, so a run has many commits to be killed between.
async fn busy_world(t: &TestApp, accounts: usize) {
    let cases: Vec<Value> = (0..20)
        .map(|i| {
            case(
                &format!("2616-CV{:05}", i + 1),
                "CT16",
                "CV",
                &format!("Case {i}"),
            )
        })
        .collect();
    t.ingest(FeedKind::Cases, &cases).await;
    let people: Vec<Value> = (0..accounts)
        .map(|a| account(&format!("acct{a:05}"), &format!("a{a}@example.org"), true))
        .collect();
    t.ingest(FeedKind::Accounts, &people).await;
    let subs: Vec<Value> = (0..accounts)
        .map(|a| {
            track(
                &format!("acct{a:05}"),
                &format!("2616-CV{:05}", a % 20 + 1),
                "2026-01-01T00:00:00Z",
            )
        })
        .collect();
    t.ingest(FeedKind::Subscriptions, &subs).await;
    let entries: Vec<Value> = (0..60)
        .map(|i| {
            entry(
                &format!("e{i}"),
                &format!("2616-CV{:05}", i % 20 + 1),
                "MOT",
                "2026-02-01T10:00:00Z",
            )
        })
        .collect();
    t.ingest(FeedKind::Entries, &entries).await;
}

async fn digests_with_ids(t: &TestApp) -> Vec<(String, String, Vec<String>)> {
    let ids: Vec<String> = t
        .db()
        .column("SELECT message_id FROM outbox ORDER BY outbox_id")
        .await;
    let mut out: Vec<_> = ids
        .into_iter()
        .zip(t.digests().await)
        .map(|(id, (account, _, entries))| (id, account, entries))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_run_killed_with_sigkill_is_completed_by_the_next_run_now() {
    const ACCOUNTS: usize = 1500;
    let reference = TestApp::with(|s| s.batch.accounts_per_commit = 5).await;
    busy_world(&reference, ACCOUNTS).await;
    reference.run().await;
    let expected = digests_with_ids(&reference).await;
    assert_eq!(expected.len(), ACCOUNTS);

    let t = TestApp::new().await;
    busy_world(&t, ACCOUNTS).await;
    let run_now = || {
        let mut c = t.command();
        c.env("MCAP_NOTIFY__BATCH__ACCOUNTS_PER_COMMIT", "5")
            .args(["run-now", "--ignore-windows"])
            .stdout(std::process::Stdio::null());
        c
    };
    let mut queued_at_kill = Vec::new();
    // Killed at chosen points: before the second commit, the fifth, the tenth, the sixteenth
    // of each attempt (every attempt resumes the same run).
    for commits in [1, 4, 9, 15] {
        let paused = start_paused(run_now(), &format!("batch-commit:{commits}"));
        paused.signal("KILL");
        paused.finish();
        let queued: i64 = t.db().value("SELECT COUNT(*) FROM outbox").await;
        queued_at_kill.push(queued);
    }
    // Each attempt resumed where the last one stopped: 5 digests a commit.
    assert_eq!(queued_at_kill, vec![5, 25, 70, 145]);
    let last = run_now()
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(digests_with_ids(&t).await, expected);
    let runs: Vec<(i64, String)> = t
        .db()
        .rows("SELECT run_id, status FROM runs ORDER BY run_id")
        .await;
    assert_eq!(
        runs,
        vec![(1, "done".to_string())],
        "the killed run was resumed, not repeated"
    );
}

#[test]
fn bench_generate_refuses_a_scale_out_of_range_on_the_command_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for scale in ["-1", "0", "abc", "nan", "100.5"] {
        let out = in_dir(
            dir.path(),
            &["bench", "generate", "--scale", scale, "--dir", "day"],
        );
        assert_eq!(out.status.code(), Some(2), "{scale}: {}", stderr(&out));
        assert!(stderr(&out).contains("--scale"), "{}", stderr(&out));
        assert!(!dir.path().join("day").exists(), "{scale}");
    }
    // The smallest scales give a day with almost nothing in it, and no panic.
    let out = in_dir(
        dir.path(),
        &[
            "bench",
            "generate",
            "--scale",
            "0.00001",
            "--now",
            "2026-03-03T12:00:00Z",
            "--dir",
            "day",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("day/entries.jsonl").exists());
}
