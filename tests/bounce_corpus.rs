//! Accuracy on real bounce mails: the corpus in ../shared/corpus/bounces (612 mails with the
//! expected recipient and hard/soft verdict, and two mails that are no bounce), or in
//! `$MCAP_NOTIFY_SHARED_DIR/corpus/bounces` when that is set. Where the corpus is absent the
//! test fails under CI (the `CI` environment variable set, as `.ci/run` does) and is skipped,
//! with the reason printed, elsewhere. Set MCAP_BOUNCE_MISSES=1 to list misses.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use mcap_notify::bounce::parse_bounce;
use mcap_notify::model::BounceVerdict;

fn corpus() -> Option<PathBuf> {
    let shared = std::env::var_os("MCAP_NOTIFY_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("corpus/bounces");
    dir.join("expected.tsv").exists().then_some(dir)
}

struct Expected {
    recipient: String,
    hard: bool,
}

#[test]
fn the_parser_finds_the_recipients_and_verdicts_of_real_bounces() {
    let Some(dir) = corpus() else {
        assert!(
            !common::under_ci(),
            "the bounce corpus (../shared/corpus/bounces, or $MCAP_NOTIFY_SHARED_DIR/corpus/bounces) \
             is not present, and under CI the corpus must be checked"
        );
        println!("skipped: ../shared/corpus/bounces is not present");
        return;
    };
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut expected: BTreeMap<String, Vec<Expected>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        expected
            .entry(cols[0].to_string())
            .or_default()
            .push(Expected {
                recipient: cols[2].to_lowercase(),
                hard: cols[6] == "true",
            });
    }
    let show = std::env::var("MCAP_BOUNCE_MISSES").is_ok();
    let (mut rows, mut found, mut agree) = (0usize, 0usize, 0usize);
    for (file, wanted) in &expected {
        let raw = std::fs::read(dir.join("messages").join(file)).unwrap();
        let parsed = parse_bounce(&raw);
        for w in wanted {
            rows += 1;
            match parsed.recipients.iter().find(|r| r.address == w.recipient) {
                Some(r) => {
                    found += 1;
                    if (r.verdict == BounceVerdict::Hard) == w.hard {
                        agree += 1;
                    } else if show {
                        println!(
                            "VERDICT {file}: {} expected hard={} got {:?} {:?} [{}]",
                            w.recipient,
                            w.hard,
                            r.verdict,
                            r.status,
                            r.diagnostic.chars().take(160).collect::<String>()
                        );
                    }
                }
                None if show => println!(
                    "MISSING {file}: {} (found {:?})",
                    w.recipient,
                    parsed
                        .recipients
                        .iter()
                        .map(|r| r.address.as_str())
                        .collect::<Vec<_>>()
                ),
                None => {}
            }
        }
    }
    let found_rate = found as f64 / rows as f64;
    let agree_rate = agree as f64 / found.max(1) as f64;
    println!(
        "bounce corpus: {found}/{rows} expected recipients found ({:.1}%), hard/not-hard agreement {agree}/{found} ({:.1}%)",
        found_rate * 100.0,
        agree_rate * 100.0
    );
    for entry in std::fs::read_dir(dir.join("not-bounces")).unwrap() {
        let path = entry.unwrap().path();
        let parsed = parse_bounce(&std::fs::read(&path).unwrap());
        assert!(
            parsed.recipients.is_empty(),
            "{} is no bounce, yet {:?} were reported",
            path.display(),
            parsed.recipients
        );
    }
    assert!(
        found_rate >= 0.97,
        "recipients found: {:.1}%",
        found_rate * 100.0
    );
    assert!(
        agree_rate >= 0.90,
        "hard/not-hard agreement: {:.1}%",
        agree_rate * 100.0
    );
}
