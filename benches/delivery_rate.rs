//! Delivery rate against Postfix's own `smtp-source`, side by side: the same `smtp-sink` on
//! 127.0.0.1, the same concurrency, the same message (one of our digests, byte for byte). Ours
//! is the whole `mcap-notify deliver` process, timed from its start to its exit, as an operator
//! runs it: start-up, opening the database, every claim, send and record.
//!
//!   cargo bench --bench delivery_rate -- [MESSAGES] [CONCURRENCY] [ROUNDS]
//!
//! Defaults: 20000 messages, 8 connections, 3 rounds. Prints per-round rates, the medians,
//! and our median as a fraction of smtp-source's.

#[path = "../tests/common/smtp_sink.rs"]
#[allow(dead_code)]
mod smtp_sink;

use std::process::Command;
use std::time::Instant;

use smtp_sink::SmtpSink;

use mcap_notify::app::App;
use mcap_notify::config::{Secret, Settings, TransportKind};
use mcap_notify::ingest::{ingest_reader, FeedKind};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

async fn feed(app: &App, kind: FeedKind, lines: Vec<String>) {
    let text = lines.join("\n");
    ingest_reader(&app.store, kind, "bench", text.as_bytes(), None)
        .await
        .expect("bench feed accepted");
}

const USAGE: &str = "usage: cargo bench --bench delivery_rate -- [MESSAGES] [CONCURRENCY] [ROUNDS]";
const ABOUT: &str =
    "Sends MESSAGES copies of one digest (default 20000) to a local smtp-sink over \
CONCURRENCY connections (default 8), first with Postfix's smtp-source, then with the whole \
`mcap-notify deliver` process, ROUNDS times (default 3), and prints the rates, their medians \
and the ratio. BENCH_BATCH=N sets delivery.batch_size (default 8 per connection).";

/// The positional argument at `index` (`what` names it in an error), or `default`.
fn argument<T: std::str::FromStr>(args: &[String], index: usize, what: &str, default: T) -> T {
    match args.get(index) {
        None => default,
        Some(text) => match text.parse() {
            Ok(value) => value,
            Err(_) => {
                eprintln!(
                    "{what} must be a whole number, not {text:?}\n\
                     {USAGE}"
                );
                std::process::exit(2)
            }
        },
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}\n\n{ABOUT}");
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let messages: usize = argument(&args, 0, "MESSAGES", 20_000);
    let concurrency: u32 = argument(&args, 1, "CONCURRENCY", 8);
    let rounds: usize = argument(&args, 2, "ROUNDS", 3);
    if messages == 0 || concurrency == 0 || rounds == 0 {
        eprintln!("MESSAGES, CONCURRENCY and ROUNDS must each be at least 1");
        std::process::exit(2);
    }
    let sink = SmtpSink::discarding(&["-m", "512"], 512);
    let port = sink.port;

    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.database.url = format!("sqlite://{}", dir.path().join("bench.db").display());
    settings.delivery.transport = TransportKind::Smtp;
    settings.smtp.url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
    settings.delivery.concurrency = concurrency;
    settings.mail.token_secret = Secret::new("a-benchmark-secret-of-enough-length".to_string());
    // A claim must outlast its batch sent at the slowest: at most eight rounds of the
    // connections per claim (the default, 64 at 8 connections), unless BENCH_BATCH says.
    settings.delivery.batch_size = match std::env::var("BENCH_BATCH") {
        Ok(b) => b.parse().expect("BENCH_BATCH is a whole number"),
        Err(_) => concurrency.saturating_mul(8),
    };
    let app = App::open(settings).await.unwrap();
    feed(
        &app,
        FeedKind::Cases,
        vec![serde_json::json!({
        "case_number": "2616-CV00001", "court_id": "CT16", "case_type": "CV",
        "caption": "Midwest Credit Recovery LLC v. Keisha Brooks",
        "filed_at": "2026-01-05T09:00:00-06:00", "confidential": false, "closed_at": null,
        "parties": []})
        .to_string()],
    )
    .await;
    feed(
        &app,
        FeedKind::Accounts,
        (0..messages)
            .map(|i| {
                serde_json::json!({
        "account_id": format!("a{i:06}"), "email": format!("reader{i}@example.org"),
        "email_verified": true})
                .to_string()
            })
            .collect(),
    )
    .await;
    feed(
        &app,
        FeedKind::Subscriptions,
        (0..messages)
            .map(|i| {
                serde_json::json!({
        "account_id": format!("a{i:06}"), "case_number": "2616-CV00001",
        "tracked_at": "2026-01-06T00:00:00Z"})
                .to_string()
            })
            .collect(),
    )
    .await;
    feed(&app, FeedKind::Entries, vec![serde_json::json!({
        "entry_id": "e1", "case_number": "2616-CV00001", "code": "JE",
        "description": "Judgment Entered", "text": "Judgment for Plaintiff in the amount of $4,218.37",
        "filed_by": "Court Clerk", "posted_at": "2026-02-01T10:00:00Z"}).to_string()]).await;
    let options = mcap_notify::batch::RunOptions {
        ignore_windows: true,
        ..Default::default()
    };
    app.run_now(&options).await.unwrap();
    let pool = app
        .store
        .sqlite()
        .expect("the benchmark runs on SQLite")
        .pool();
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM outbox_bodies LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let sample = dir.path().join("sample.eml");
    std::fs::write(&sample, &raw).unwrap();
    println!(
        "{messages} messages of {} bytes, concurrency {concurrency}, {rounds} rounds",
        raw.len()
    );

    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let started = Instant::now();
        let status = Command::new("smtp-source")
            .args([
                "-s",
                &concurrency.to_string(),
                "-m",
                &messages.to_string(),
                "-d",
            ])
            .arg("-F")
            .arg(&sample)
            .args([
                "-f",
                "bounces@alerts.example.org",
                "-t",
                "reader@example.org",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .status()
            .expect("smtp-source (Debian package postfix)");
        assert!(status.success());
        let source_rate = messages as f64 / started.elapsed().as_secs_f64();

        sqlx::query("UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = 0, lease_owner = NULL, lease_until = NULL, finished_at = NULL")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM delivery_attempts")
            .execute(pool)
            .await
            .unwrap();
        let mut deliver = Command::new(env!("CARGO_BIN_EXE_mcap-notify"));
        // Only the settings given here count, as in the process above.
        for (key, _) in std::env::vars() {
            if key.starts_with("MCAP_NOTIFY") {
                deliver.env_remove(key);
            }
        }
        let started = Instant::now();
        let out = deliver
            .args(["deliver", "--ignore-windows", "--json"])
            .current_dir(dir.path())
            .env("MCAP_NOTIFY__DATABASE__URL", &app.settings.database.url)
            .env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
            .env("MCAP_NOTIFY__SMTP__URL", format!("smtp://127.0.0.1:{port}"))
            .env(
                "MCAP_NOTIFY__DELIVERY__CONCURRENCY",
                concurrency.to_string(),
            )
            .env(
                "MCAP_NOTIFY__DELIVERY__BATCH_SIZE",
                app.settings.delivery.batch_size.to_string(),
            )
            .env(
                "MCAP_NOTIFY__MAIL__TOKEN_SECRET",
                app.settings.mail.token_secret.expose(),
            )
            .output()
            .expect("the mcap-notify binary runs");
        let our_rate = messages as f64 / started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["sent"], messages, "{report}");
        println!("round {round}: smtp-source {source_rate:>8.0} msg/s   mcap-notify {our_rate:>8.0} msg/s");
        theirs.push(source_rate);
        ours.push(our_rate);
    }
    let (t, o) = (median(&mut theirs), median(&mut ours));
    println!(
        "median: smtp-source {t:.0} msg/s, mcap-notify {o:.0} msg/s, ratio {:.2}",
        o / t
    );
}
