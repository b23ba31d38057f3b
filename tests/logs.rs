//! Logs as journald or a shipper reads them: the real program with standard error captured (not
//! a terminal) at level info writes one JSON object per line, each carrying its run or delivery
//! pass and its message; skipped accounts, dead letters and suppressions are there with their
//! reasons; and no line holds a password, a token, a full address or a message body.

mod common;

use std::process::Output;

use common::policy_server::PolicyServer;
use common::smtp_sink::SmtpSink;
use common::*;
use mcap_notify::bounce::ReturnPaths;
use mcap_notify::ingest::FeedKind;
use serde_json::Value;

const CASE: &str = "2616-CV00001";
const ANN: &str = "ann.logcheck@example.org";
const HAL: &str = "hard-hal.logcheck@example.org";
const UMA: &str = "uma.logcheck@example.org";
const SAM: &str = "soft-sam.logcheck@example.org";
const PASSWORD: &str = "Sm7p-pa55word-in-the-url";
const TOKEN_SECRET: &str = "a-test-secret-of-32-characters!!";
const BODY_PHRASE: &str = "quokka inventory";

/// One program run: its log lines, parsed (the test fails on any line that is not JSON), and
/// its raw standard error.
struct Logged {
    lines: Vec<Value>,
    raw: String,
    /// What it printed on standard output.
    stdout: String,
}

fn logged(out: Output) -> Logged {
    let raw = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{raw}");
    let lines = raw
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "{l}");
            let at = v["timestamp"].as_str().unwrap_or_else(|| panic!("{l}"));
            assert!(
                at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(at).is_ok(),
                "timestamp in RFC 3339 UTC: {l}"
            );
            assert!(v["level"].is_string() && v["message"].is_string(), "{l}");
            v
        })
        .collect();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Logged { lines, raw, stdout }
}

/// A field of a line: the event's own, else the innermost enclosing span's that has it.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = line.get(name) {
        return Some(v);
    }
    line["spans"]
        .as_array()?
        .iter()
        .rev()
        .find_map(|span| span.get(name))
}

/// A line of the program's own (not of a library it uses).
fn ours(line: &Value) -> bool {
    line["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("mcap_notify"))
}

fn in_span(line: &Value, name: &str) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["name"] == name))
}

impl Logged {
    fn with_message(&self, message: &str) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["message"] == message)
            .collect()
    }
}

/// The program on the test's database, logging at info to a pipe.
fn program(t: &TestApp, smtp_url: Option<&str>) -> std::process::Command {
    let mut c = t.command();
    c.env("MCAP_NOTIFY__LOG__LEVEL", "info")
        .stdout(std::process::Stdio::piped());
    if let Some(url) = smtp_url {
        c.env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
            .env("MCAP_NOTIFY__SMTP__URL", url);
    }
    c
}

fn outbox_ids(lines: &[&Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = lines
        .iter()
        .map(|l| {
            field(l, "outbox_id")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| panic!("outbox_id: {l}"))
        })
        .collect();
    ids.sort();
    ids
}

fn entry_with_body(id: &str, posted_at: &str) -> Value {
    let mut e = entry(id, CASE, "MOT", posted_at);
    e["description"] = format!("Motion to compel the {BODY_PHRASE}").into();
    e
}

#[tokio::test]
async fn logs_are_json_lines_with_ids_and_reasons_and_hide_secrets_addresses_and_bodies() {
    let t = TestApp::new().await;
    t.ingest(
        FeedKind::Cases,
        &[case(CASE, "CT16", "CV", "Smith v. Jones")],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("acct-a", ANN, true),
            account("acct-h", HAL, true),
            account("acct-u", UMA, false),
            account("acct-s", SAM, true),
        ],
    )
    .await;
    let tracks: Vec<_> = ["acct-a", "acct-h", "acct-u", "acct-s"]
        .iter()
        .map(|a| track(a, CASE, "2026-01-01T00:00:00Z"))
        .collect();
    t.ingest(FeedKind::Subscriptions, &tracks).await;
    t.ingest(
        FeedKind::Entries,
        &[entry_with_body("e1", "2026-02-01T10:00:00Z")],
    )
    .await;
    let mut all = Vec::new();
    let mut deliver_summaries = String::new();

    // Run 1: Ann, Hal and Sam get a digest, Uma is skipped as unverified.
    let run1 = logged(
        program(&t, None)
            .args(["run-now", "--ignore-windows"])
            .output()
            .unwrap(),
    );
    let finished = run1.with_message("batch run finished");
    assert_eq!(finished.len(), 1, "{}", run1.raw);
    let run_id = field(finished[0], "run_id").unwrap().clone();
    assert!(run_id.is_i64(), "{}", finished[0]);
    assert_eq!(finished[0]["digests"], 3);
    assert_eq!(finished[0]["skipped_unverified"], 1);
    // Every line of the run carries its id, from the span it runs in.
    let in_run: Vec<_> = run1
        .lines
        .iter()
        .filter(|l| in_span(l, "batch_run"))
        .collect();
    assert!(in_run.len() >= 3, "{}", run1.raw);
    for line in &in_run {
        assert_eq!(field(line, "run_id"), Some(&run_id), "{line}");
    }
    let skipped = run1.with_message("account skipped");
    assert_eq!(skipped.len(), 1, "{}", run1.raw);
    assert_eq!(
        (&skipped[0]["reason"], &skipped[0]["account_id"]),
        (&"unverified".into(), &"acct-u".into())
    );
    assert_eq!(field(skipped[0], "run_id"), Some(&run_id));
    all.push(run1);

    // The bodies hold the phrase and the unsubscribe tokens that must stay out of the logs.
    let bodies: Vec<String> = t
        .outbox_raw()
        .await
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(bodies.iter().all(|b| b.contains(BODY_PHRASE)), "{bodies:?}");
    let unsubscribe_tokens = unsubscribe_tokens(&bodies);
    assert_eq!(unsubscribe_tokens.len(), 3, "{bodies:?}");

    // Delivery 1, through a server that refuses Hal's address for good and Sam's for now,
    // echoing each in its reply.
    let dir = tempfile::tempdir().unwrap();
    let policy = PolicyServer::start(dir.path());
    let deliver1 = logged(
        program(&t, Some(&policy.url()))
            .args(["deliver", "--ignore-windows"])
            .output()
            .unwrap(),
    );
    let sent = deliver1.with_message("message sent");
    let dead = deliver1.with_message("message dead-lettered");
    assert_eq!((sent.len(), dead.len()), (1, 1), "{}", deliver1.raw);
    let (ann_first, hal_id) = (outbox_ids(&sent)[0], outbox_ids(&dead)[0]);
    assert_ne!(ann_first, hal_id);
    assert_eq!(dead[0]["reason"], "permanent failure");
    assert_eq!(dead[0]["recipient"], "h***@example.org");
    // The summary on standard output is what a deliver timer's journal keeps: masked too.
    assert!(
        deliver1
            .stdout
            .contains(&format!("message {hal_id} to h***@example.org: ")),
        "{}",
        deliver1.stdout
    );
    let retry = deliver1.with_message("delivery failed; will retry");
    assert_eq!(retry.len(), 1, "{}", deliver1.raw);
    let sam_id = outbox_ids(&retry)[0];
    assert_eq!(
        (&retry[0]["class"], &retry[0]["recipient"]),
        (&"transient".into(), &"s***@example.org".into())
    );
    assert!(retry[0]["retry_at"].is_string(), "{}", retry[0]);
    assert!(
        retry[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("<s***@example.org>")),
        "{}",
        retry[0]
    );
    let detail = dead[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("5.1.1") && detail.contains("<h***@example.org>"),
        "the server's reply, its address masked: {detail}"
    );
    let suppressed = deliver1.with_message("address suppressed");
    assert_eq!(suppressed.len(), 1, "{}", deliver1.raw);
    assert_eq!(suppressed[0]["reason"], "hard-bounce");
    assert_eq!(suppressed[0]["address"], "h***@example.org");
    assert_eq!(outbox_ids(&suppressed), vec![hal_id]);
    for line in deliver1.lines.iter().filter(|l| ours(l)) {
        assert!(
            field(line, "pass_id").is_some_and(Value::is_string),
            "every line of the pass names it: {line}"
        );
    }
    deliver_summaries.push_str(&deliver1.stdout);
    all.push(deliver1);

    // Run 2: Ann and Sam again; Hal is skipped as suppressed, Uma as unverified.
    t.ingest(
        FeedKind::Entries,
        &[entry_with_body("e2", "2026-02-02T10:00:00Z")],
    )
    .await;
    let run2 = logged(
        program(&t, None)
            .args(["run-now", "--ignore-windows"])
            .output()
            .unwrap(),
    );
    let mut reasons: Vec<(String, String)> = run2
        .with_message("account skipped")
        .iter()
        .map(|l| {
            (
                l["account_id"].as_str().unwrap().into(),
                l["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("acct-h".into(), "suppressed".into()),
            ("acct-u".into(), "unverified".into())
        ]
    );
    let finished = run2.with_message("batch run finished");
    assert_eq!(
        (
            &finished[0]["digests"],
            &finished[0]["skipped_suppressed"],
            &finished[0]["skipped_unverified"]
        ),
        (&2.into(), &1.into(), &1.into())
    );
    all.push(run2);

    // Delivery 2, through a server that takes a login: the password is in smtp.url.
    let sink = SmtpSink::start(&dir.path().join("sink"), &[]);
    let url = format!("smtp://alerts:{PASSWORD}@127.0.0.1:{}", sink.port);
    let deliver2 = logged(
        program(&t, Some(&url))
            .args(["deliver", "--ignore-windows"])
            .output()
            .unwrap(),
    );
    // Sam's first message waits for its retry; both second digests go.
    let sent = deliver2.with_message("message sent");
    assert_eq!(sent.len(), 2, "{}", deliver2.raw);
    assert!(!outbox_ids(&sent).contains(&sam_id));
    let ann_sent: Vec<_> = sent
        .into_iter()
        .filter(|l| l["recipient"] == "a***@example.org")
        .collect();
    let ann_second = outbox_ids(&ann_sent)[0];
    assert_eq!(sink.messages().len(), 2);
    deliver_summaries.push_str(&deliver2.stdout);
    all.push(deliver2);

    // A bounce mail for Ann's second message, back through its VERP return path.
    let return_paths = ReturnPaths::new(&t.app.settings.mail);
    let verp = return_paths.address(ann_second);
    let bounce = dir.path().join("bounce.eml");
    std::fs::write(
        &bounce,
        dsn(
            &verp,
            ANN,
            "5.1.1",
            &format!("550 5.1.1 <{ANN}>: User unknown"),
        ),
    )
    .unwrap();
    let ingest = logged(
        program(&t, None)
            .args(["bounces", "ingest"])
            .arg(&bounce)
            .output()
            .unwrap(),
    );
    let recorded = ingest.with_message("bounce recorded");
    assert_eq!(outbox_ids(&recorded), vec![ann_second], "{}", ingest.raw);
    assert_eq!(recorded[0]["verdict"], "hard");
    let suppressed = ingest.with_message("address suppressed");
    assert_eq!(outbox_ids(&suppressed), vec![ann_second], "{}", ingest.raw);
    assert_eq!(
        (&suppressed[0]["reason"], &suppressed[0]["address"]),
        (&"hard-bounce".into(), &"a***@example.org".into())
    );
    all.push(ingest);

    // An operator lifts Ann's suppression.
    let lifted = logged(
        program(&t, None)
            .args(["suppressions", "remove", ANN])
            .output()
            .unwrap(),
    );
    let line = lifted.with_message("suppression lifted");
    assert_eq!(line.len(), 1, "{}", lifted.raw);
    assert_eq!(line[0]["address"], "a***@example.org");
    assert_eq!(line[0]["reason"], "operator request");
    all.push(lifted);

    // Nothing secret or personal anywhere in what was said.
    let mut said: String = all.iter().map(|l| l.raw.as_str()).collect();
    said.push_str(&deliver_summaries);
    let verp_token = verp.split_once('+').unwrap().1.split('@').next().unwrap();
    let other_verp = return_paths.address(ann_first);
    let mut forbidden = vec![
        PASSWORD.to_string(),
        TOKEN_SECRET.to_string(),
        verp.clone(),
        verp_token.to_string(),
        other_verp,
        return_paths.address(hal_id),
        return_paths.address(sam_id),
        BODY_PHRASE.to_string(),
    ];
    for address in [ANN, HAL, UMA, SAM] {
        forbidden.push(address.to_string());
        forbidden.push(address.split('@').next().unwrap()[1..].to_string());
    }
    forbidden.extend(unsubscribe_tokens);
    for secret in &forbidden {
        assert!(
            !said.contains(secret.as_str()),
            "logs hold {secret}: {said}"
        );
    }
}

/// The unsubscribe tokens in the `List-Unsubscribe` headers of `bodies`.
fn unsubscribe_tokens(bodies: &[String]) -> Vec<String> {
    bodies
        .iter()
        .filter_map(|b| {
            let header = b
                .lines()
                .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))?;
            let url = header.split('>').next()?;
            let token = url.rsplit(['/', '=']).next()?;
            (token.len() > 16).then(|| token.to_string())
        })
        .collect()
}

#[tokio::test]
async fn rust_log_chooses_what_is_said() {
    let t = TestApp::one_case(|_| {}, CASE, Some("2026-01-01T00:00:00Z")).await;
    let run = |filter: &str| {
        let out = t
            .command()
            // RUST_LOG wins over the configured level.
            .env("MCAP_NOTIFY__LOG__LEVEL", "info")
            .env("RUST_LOG", filter)
            .args(["run-now", "--ignore-windows"])
            .output()
            .unwrap();
        logged(out)
    };
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", CASE, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    let quiet = run("warn");
    assert!(quiet.lines.is_empty(), "{}", quiet.raw);

    t.ingest(
        FeedKind::Entries,
        &[entry("e2", CASE, "MOT", "2026-02-02T10:00:00Z")],
    )
    .await;
    let batch = run("warn,mcap_notify::batch=info");
    let finished = batch.with_message("batch run finished");
    assert_eq!(finished.len(), 1, "{}", batch.raw);
    assert_eq!(finished[0]["digests"], 1);
    assert!(batch.lines.iter().all(|l| l["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("mcap_notify::batch"))));
}

#[tokio::test]
async fn an_account_held_aside_is_logged_with_its_reason_and_no_address() {
    let t = TestApp::one_case(|_| {}, CASE, Some("2026-01-01T00:00:00Z")).await;
    // An address the mailer refuses, written by an older import straight into the table.
    let malformed = "zed.logcheck at example.org";
    t.db()
        .exec(&format!(
            "UPDATE accounts SET email = '{malformed}' WHERE account_id = 'ann'"
        ))
        .await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e1", CASE, "MOT", "2026-02-01T10:00:00Z")],
    )
    .await;
    let run = logged(
        program(&t, None)
            .args(["run-now", "--ignore-windows"])
            .output()
            .unwrap(),
    );
    let held = run.with_message("account skipped");
    assert_eq!(held.len(), 1, "{}", run.raw);
    assert_eq!(
        (
            &held[0]["account_id"],
            &held[0]["reason"],
            &held[0]["level"]
        ),
        (&"ann".into(), &"held".into(), &"WARN".into())
    );
    let error = held[0]["error"].as_str().unwrap();
    assert!(error.contains("z***"), "{error}");
    assert!(!run.raw.contains("zed.logcheck"), "{}", run.raw);
    assert_eq!(run.with_message("batch run finished")[0]["held"], 1);
}
