//! The statewide benchmark (`benches/statewide.sh`) at a tiny scale, as a smoke test: it
//! generates a day, loads it into the sqlite3 shell's floor and into mcap-notify, runs both
//! batches, and this test checks that one run drained the day into the same digests as the
//! floor. It asserts no time: timings belong to the benchmark run at full scale.

mod common;

use std::process::Command;

/// The tools the script needs, each with the Debian package that brings it.
const TOOLS: &[(&str, &str)] = &[
    ("sqlite3", "sqlite3"),
    ("jq", "jq"),
    ("bc", "bc"),
    ("/usr/bin/time", "time"),
];

fn missing_tools() -> Vec<&'static str> {
    TOOLS
        .iter()
        .filter(|(tool, _)| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map_or(true, |out| !out.status.success())
        })
        .map(|(_, package)| *package)
        .collect()
}

/// `label N` in `line`: the number just before `label`.
fn number_before(line: &str, label: &str) -> u64 {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in {line}"));
    let words: Vec<&str> = line[..at].split_whitespace().collect();
    words
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before `{label}` in {line}"))
}

#[test]
fn the_statewide_benchmark_drains_the_day_in_one_run_into_the_floors_digests() {
    let missing = missing_tools();
    if !missing.is_empty() {
        assert!(
            !common::under_ci(),
            "the benchmark needs the Debian packages {missing:?}"
        );
        eprintln!("skipped: the benchmark needs the Debian packages {missing:?}");
        return;
    }
    let mut script = Command::new("bash");
    script
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/statewide.sh"))
        .args([env!("CARGO_BIN_EXE_mcap-notify"), "0.002", "1"]);
    for (key, _) in std::env::vars() {
        if key.starts_with("MCAP_NOTIFY") || key.starts_with("BENCH_") {
            script.env_remove(key);
        }
    }
    // Set after the caller's settings are removed, so that a BENCH_NOW of theirs cannot undo it.
    script.env("BENCH_NOW", "2026-11-24T22:00:00Z");
    let out = script.output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let round = stdout
        .lines()
        .find(|l| l.starts_with("round 1:"))
        .unwrap_or_else(|| panic!("no round in {stdout}\n{stderr}"));
    let (ours, floors) = round.rsplit_once("(floor").expect("the floor's part");
    let digests = number_before(ours, "digests");
    assert!(digests > 0, "{round}");
    assert_eq!(digests, number_before(floors, "digests"), "{round}");
    assert_eq!(
        number_before(ours, "runs"),
        1,
        "one run drains the day: {round}"
    );
    assert!(stdout.contains("median: ingest"), "{stdout}");
}
