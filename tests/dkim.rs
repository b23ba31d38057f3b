//! DKIM as a receiver sees it: keys made with the `openssl` CLI, messages signed when they are
//! queued, written by the file transport or received by a real SMTP server, and checked by
//! dkimpy (Debian's python3-dkim) against the TXT record that `dkim-record` prints.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::smtp_sink::SmtpSink;
use common::*;
use mcap_notify::ingest::FeedKind;

/// `mail.from` is `alerts@alerts.example.org` by default: aligned with its parent domain.
const DOMAIN: &str = "example.org";
const SELECTOR: &str = "s2026";
const CASE: &str = "2616-CV00001";

/// Environment variables given to the program.
type Env = Vec<(&'static str, String)>;

/// How `openssl` makes each kind of key the program takes.
const RSA_PKCS1: &[&str] = &["genrsa", "-traditional", "2048"];
const RSA_PKCS8: &[&str] = &[
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
];
const ED25519: &[&str] = &["genpkey", "-algorithm", "ed25519"];

/// A key made by `openssl COMMAND -out DIR/NAME OPTIONS...`.
fn make_key(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("openssl")
        .arg(args[0])
        .arg("-out")
        .arg(&path)
        .args(&args[1..])
        .output()
        .expect("the openssl command runs (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The program configured to sign with `key`.
fn signing(mut command: Command, key: &Path) -> Command {
    command
        .env("MCAP_NOTIFY__DKIM__DOMAIN", DOMAIN)
        .env("MCAP_NOTIFY__DKIM__SELECTOR", SELECTOR)
        .env("MCAP_NOTIFY__DKIM__PRIVATE_KEY_FILE", key);
    command
}

fn run(mut command: Command, args: &[&str]) -> Output {
    command.args(args).output().expect("the program runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tracked case with news whose entry text has a line that starts with a dot (SMTP doubles
/// it on the way and the server takes it off) and a line longer than a mail line may be.
async fn case_with_news(adjust: impl FnOnce(&mut mcap_notify::config::Settings)) -> TestApp {
    let t = TestApp::one_case(adjust, CASE, Some("2026-01-01T00:00:00Z")).await;
    let mut news = entry("e1", CASE, "ORD", "2026-02-01T10:00:00Z");
    news["text"] = format!(
        "Order entered.\n.5 hours of hearing time reserved.\n{}",
        "Continued to a date to be set by the court on the motion of either party. ".repeat(20)
    )
    .into();
    t.ingest(FeedKind::Entries, &[news]).await;
    t
}

/// Queues the digest and delivers it through the configured transport, signing with `key`.
fn queue_and_deliver(t: &TestApp, key: &Path, extra_env: &[(&str, &str)]) {
    for args in [
        &["run-now", "--ignore-windows"][..],
        &["deliver", "--ignore-windows"],
    ] {
        let mut command = signing(t.command(), key);
        command.envs(extra_env.iter().copied());
        let out = run(command, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
}

/// The TXT record `dkim-record` prints for `key`, written to a file.
fn record(t: &TestApp, key: &Path) -> PathBuf {
    let out = run(signing(t.command(), key), &["dkim-record"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = t.dir.path().join("record.txt");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// dkimpy's verdict on each message: whether all pass, and what it said.
fn verify(record: &Path, messages: &[PathBuf]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dkim_verify.py");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(record)
        .args(messages)
        .output()
        .expect("python3 runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the checker itself failed (is python3-dkim installed?): {}",
        text(&out.stderr)
    );
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The value of the `DKIM-Signature` header, unfolded.
fn signature_of(raw: &[u8]) -> String {
    let raw = text(raw);
    let start = raw.find("DKIM-Signature: ").expect("the message is signed");
    let rest = &raw[start + "DKIM-Signature: ".len()..];
    let end = rest
        .match_indices("\r\n")
        .map(|(i, _)| i)
        .find(|&i| !rest[i + 2..].starts_with([' ', '\t']))
        .unwrap();
    rest[..end].replace("\r\n", "")
}

#[tokio::test]
async fn messages_written_by_the_file_transport_verify_with_rsa_and_ed25519_keys() {
    for (name, args, algorithm) in [
        ("rsa-pkcs1.pem", RSA_PKCS1, "rsa-sha256"),
        ("rsa-pkcs8.pem", RSA_PKCS8, "rsa-sha256"),
        ("ed25519.pem", ED25519, "ed25519-sha256"),
    ] {
        let t = case_with_news(|_| {}).await;
        let key = make_key(t.dir.path(), name, args);
        queue_and_deliver(&t, &key, &[]);
        let stored = t.outbox_raw().await;
        assert_eq!(stored.len(), 1, "{name}");
        assert_eq!(
            text(&stored[0]).matches("DKIM-Signature:").count(),
            1,
            "{name}: signed once"
        );
        let signature = signature_of(&stored[0]);
        assert!(
            signature.contains(&format!("a={algorithm};")),
            "{signature}"
        );
        assert!(signature.contains("c=relaxed/relaxed;"), "{signature}");
        assert!(
            signature.contains(&format!("d={DOMAIN};")) && signature.contains("s=s2026;"),
            "{signature}"
        );
        let signed: Vec<String> = mcap_notify::dkim::SIGNED_HEADERS
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        assert!(
            signature.contains(&format!("h={};", signed.join(":"))),
            "{signature}"
        );
        assert!(
            signature.contains("h=from:from:to:to:subject:subject:"),
            "the headers a reader sees are oversigned: {signature}"
        );
        let written = files_in(&t.app.settings.delivery.file_dir);
        assert_eq!(written.len(), 1, "{name}");
        assert_eq!(
            std::fs::read(&written[0]).unwrap(),
            stored[0],
            "{name}: delivery sends the stored message unchanged"
        );
        let (ok, said) = verify(&record(&t, &key), &written);
        assert!(ok, "{name}: {said}");
    }
}

#[tokio::test]
async fn a_signed_message_survives_smtp_with_dot_stuffing_and_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("sink"), &[]);
    let t = case_with_news(|_| {}).await;
    let key = make_key(t.dir.path(), "ed25519.pem", ED25519);
    // What clerks type cannot start a line, so a template of the operator's own puts dots
    // at the starts of lines, and one line far beyond 78 characters.
    let templates = t.dir.path().join("templates");
    std::fs::create_dir_all(templates.join("detailed")).unwrap();
    std::fs::write(
        templates.join("detailed/text.hbs"),
        format!(
            "{{{{#each cases}}}}\n.{{{{case_number}}}} starts a line with a dot\n{{{{/each}}}}\n\
             ..two dots\n.\n{}\n",
            "long ".repeat(300)
        ),
    )
    .unwrap();
    let templates = templates.display().to_string();
    queue_and_deliver(
        &t,
        &key,
        &[
            ("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp"),
            ("MCAP_NOTIFY__SMTP__URL", &sink.url()),
            ("MCAP_NOTIFY__DIGEST__TEMPLATE_DIR", &templates),
        ],
    );
    // The stored message has a line that SMTP must dot-stuff, and its long lines were wrapped.
    let stored = text(&t.outbox_raw().await[0]);
    assert!(
        stored.contains("\r\n."),
        "no line starts with a dot:\n{stored}"
    );
    assert!(stored.split("\r\n").all(|l| l.len() <= 998));
    let received = files_in(&sink.dump_dir);
    assert_eq!(received.len(), 1);
    let (ok, said) = verify(&record(&t, &key), &received);
    assert!(ok, "{said}");
}

#[tokio::test]
async fn tampering_with_a_signed_header_fails_verification() {
    let t = case_with_news(|_| {}).await;
    let key = make_key(t.dir.path(), "rsa.pem", RSA_PKCS8);
    queue_and_deliver(&t, &key, &[]);
    let written = files_in(&t.app.settings.delivery.file_dir);
    let record = record(&t, &key);
    let (ok, said) = verify(&record, &written);
    assert!(ok, "{said}");
    let original = text(&std::fs::read(&written[0]).unwrap());
    let tampered = original.replacen("\r\nSubject: ", "\r\nSubject: URGENT ", 1);
    assert_ne!(tampered, original);
    let path = t.dir.path().join("tampered.eml");
    std::fs::write(&path, tampered).unwrap();
    let (ok, said) = verify(&record, &[path]);
    assert!(!ok, "a changed subject must fail: {said}");
    // Headers added on the way: a second Subject above the first, or a Reply-To.
    for added in [
        "Subject: URGENT: warrant issued",
        "Reply-To: someone@elsewhere.example",
    ] {
        let path = t.dir.path().join("added.eml");
        std::fs::write(&path, format!("{added}\r\n{original}")).unwrap();
        let (ok, said) = verify(&record, &[path]);
        assert!(!ok, "an added `{added}` must fail: {said}");
    }
}

#[tokio::test]
async fn bad_dkim_settings_exit_78_naming_the_key_and_queue_nothing() {
    let t = case_with_news(|_| {}).await;
    let keys = t.dir.path();
    let good = make_key(keys, "good.pem", ED25519);
    let weak = make_key(keys, "weak.pem", &["genrsa", "-traditional", "1024"]);
    let ec = make_key(
        keys,
        "ec.pem",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
    );
    let not_a_key = keys.join("notes.txt");
    std::fs::write(&not_a_key, "a shopping list\n").unwrap();
    let missing = keys.join("missing.pem");
    let path = |p: &Path| p.display().to_string();
    let all = |domain: &str, key: &Path| -> Env {
        vec![
            ("MCAP_NOTIFY__DKIM__DOMAIN", domain.into()),
            ("MCAP_NOTIFY__DKIM__SELECTOR", SELECTOR.into()),
            ("MCAP_NOTIFY__DKIM__PRIVATE_KEY_FILE", path(key)),
        ]
    };
    // Each setting, and what its refusal must name.
    let cases: Vec<(Env, Vec<String>)> = vec![
        (
            vec![("MCAP_NOTIFY__DKIM__DOMAIN", DOMAIN.into())],
            vec!["dkim.selector".into()],
        ),
        (all(DOMAIN, &good).split_off(1), vec!["dkim.domain".into()]),
        (
            all(DOMAIN, &missing),
            vec!["dkim.private_key_file".into(), path(&missing)],
        ),
        (
            all(DOMAIN, &not_a_key),
            vec!["dkim.private_key_file".into(), path(&not_a_key)],
        ),
        (
            all(DOMAIN, &weak),
            vec!["dkim.private_key_file".into(), "1024-bit".into()],
        ),
        (
            all(DOMAIN, &ec),
            vec![
                "dkim.private_key_file".into(),
                "unsupported algorithm".into(),
            ],
        ),
        (
            all("example.com", &good),
            vec!["dkim.domain".into(), "mail.from".into()],
        ),
    ];
    // A line of key material, which no message may show.
    let secret_line = std::fs::read_to_string(&weak)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let before = t.dump().await;
    for (env, named) in cases {
        let mut command = t.command();
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let out = run(command, &["run-now", "--ignore-windows"]);
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{env:?}: {said}");
        for word in &named {
            assert!(said.contains(word.as_str()), "{env:?} names {word}: {said}");
        }
        assert!(!said.contains(&secret_line), "the key never shows: {said}");
    }
    assert_eq!(t.dump().await, before, "nothing was queued");
    assert!(t.outbox_raw().await.is_empty());
}

#[test]
fn dkim_record_without_dkim_configured_says_which_keys_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .arg("dkim-record")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let said = text(&out.stderr);
    for key in ["dkim.domain", "dkim.selector", "dkim.private_key_file"] {
        assert!(said.contains(key), "{said}");
    }
}

#[test]
fn dkim_record_splits_a_long_key_into_strings_of_at_most_255_characters() {
    let dir = tempfile::tempdir().unwrap();
    let key = make_key(dir.path(), "rsa.pem", RSA_PKCS1);
    let out = run(signing(binary(), &key), &["dkim-record"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let line = printed
        .lines()
        .find(|l| l.starts_with("s2026._domainkey.example.org. IN TXT ( \""))
        .unwrap_or_else(|| panic!("{printed}"));
    let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert!(strings.len() >= 2, "{line}");
    assert!(strings.iter().all(|s| s.len() <= 255), "{line}");
    assert!(strings[0].starts_with("v=DKIM1; k=rsa; p=MII"), "{line}");
    assert!(printed.contains("Publish"), "{printed}");
}
