//! Stopping and surviving: `deliver` and the daemon stop on SIGTERM between messages (the send
//! in flight finishes and is recorded, unsent claims are released), the daemon tells systemd
//! when it is ready and when it stops, and the timer units keep delivery apart from the batch.
//! Signals are sent only once the program is known to be mid-send (the test server holds the
//! answer and says so), and the send completes only once the program says it took the stop
//! in (its log line, or STOPPING=1 to systemd), never after a sleep.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::gate_server::GateServer;
use common::*;

const RECIPIENTS: [&str; 3] = ["gate-a@example.org", "b@example.org", "c@example.org"];

/// (recipient, state, lease owner) of every message, by recipient.
async fn rows(t: &TestApp) -> Vec<(String, String, Option<String>)> {
    t.db()
        .rows("SELECT recipient, state, lease_owner FROM outbox ORDER BY recipient")
        .await
}

fn sigterm(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The program on the test's database, sending one message at a time to `server`.
fn one_at_a_time(t: &TestApp, server: &GateServer) -> std::process::Command {
    let mut c = t.command();
    c.env("MCAP_NOTIFY__DELIVERY__TRANSPORT", "smtp")
        .env("MCAP_NOTIFY__SMTP__URL", server.url())
        .env("MCAP_NOTIFY__DELIVERY__CONCURRENCY", "1")
        .env("MCAP_NOTIFY__DELIVERY__BATCH_SIZE", "5")
        .stdout(std::process::Stdio::null());
    c
}

/// What a clean stop between messages leaves: the first message sent once, the other two
/// queued and free for the next pass.
async fn stopped_after_the_first(t: &TestApp, server: &GateServer) {
    assert_eq!(server.received(), vec!["gate-a@example.org"]);
    assert_eq!(
        rows(t).await,
        vec![
            ("b@example.org".into(), "queued".into(), None),
            ("c@example.org".into(), "queued".into(), None),
            ("gate-a@example.org".into(), "sent".into(), None),
        ]
    );
}

#[tokio::test]
async fn sigterm_stops_deliver_between_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = GateServer::start(dir.path());
    let t = TestApp::new().await;
    t.digests_for(&RECIPIENTS).await;
    let mut deliver = one_at_a_time(&t, &server)
        .env("MCAP_NOTIFY__LOG__LEVEL", "info")
        .env("MCAP_NOTIFY__LOG__FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .args(["deliver", "--ignore-windows"])
        .spawn()
        .unwrap();
    assert_eq!(server.held().await, "gate-a@example.org");
    sigterm(&deliver);
    // Only once the program has taken the stop in does the held send complete.
    let stderr = std::io::BufReader::new(deliver.stderr.take().unwrap());
    let mut lines = std::io::BufRead::lines(stderr);
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("stop requested")),
        "the program says it took the stop in"
    );
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).count());
    server.release();
    let status = deliver.wait().unwrap();
    rest.join().unwrap();
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    stopped_after_the_first(&t, &server).await;
}

#[tokio::test]
async fn sigterm_stops_the_daemon_between_messages_and_it_reports_to_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = GateServer::start(dir.path());
    let t = TestApp::new().await;
    t.digests_for(&RECIPIENTS).await;
    let config = t.dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        "[calendar]\nopen_days = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n\
         opens = \"00:00\"\ncloses = \"00:00\"\n\n[schedule]\ndelivery_every_secs = 1\n",
    )
    .unwrap();
    let socket_path = t.dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&socket_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let daemon = one_at_a_time(&t, &server)
        .env("NOTIFY_SOCKET", &socket_path)
        .arg("--config")
        .arg(&config)
        .arg("daemon")
        .spawn()
        .unwrap();
    assert_eq!(server.held().await, "gate-a@example.org");
    sigterm(&daemon);
    // The daemon tells systemd it is stopping once it has taken the stop in; only then does
    // the held send complete.
    let mut said = Vec::new();
    let mut buffer = [0u8; 256];
    while let Ok(n) = systemd.recv(&mut buffer) {
        said.push(String::from_utf8_lossy(&buffer[..n]).trim().to_string());
        if said.len() == 2 {
            break;
        }
    }
    assert_eq!(said, vec!["READY=1", "STOPPING=1"]);
    server.release();
    let status = daemon.wait_with_output().unwrap().status;
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    stopped_after_the_first(&t, &server).await;
}

/// `Key=value` lines of a unit file, in order.
fn unit(name: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/systemd")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn values<'a>(unit: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    unit.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_timer_units_run_delivery_apart_from_the_batch() {
    // A failed or long batch run must not stop delivery, nor a long delivery pass swallow the
    // next batch tick: each has its own service and timer.
    let batch = unit("mcap-notify-batch.service");
    let commands: Vec<&str> = batch
        .iter()
        .filter(|(k, _)| k.starts_with("Exec"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(commands[0].ends_with(" run-now"), "{commands:?}");

    let deliver = unit("mcap-notify-deliver.service");
    let exec = values(&deliver, "ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].ends_with(" deliver"), "{exec:?}");
    for service in [&batch, &deliver] {
        assert!(values(service, "After")
            .iter()
            .all(|a| !a.contains("mcap-notify")));
        assert!(values(service, "Requires")
            .iter()
            .all(|a| !a.contains("mcap-notify")));
    }
    let timer = unit("mcap-notify-deliver.timer");
    assert_eq!(values(&timer, "Unit"), Vec::<&str>::new());
    assert!(!values(&timer, "OnCalendar").is_empty());

    // The daemon replaces both timers and says when it is ready.
    let daemon = unit("mcap-notify.service");
    assert_eq!(values(&daemon, "Type"), vec!["notify"]);
    let conflicts = values(&daemon, "Conflicts").join(" ");
    assert!(
        conflicts.contains("mcap-notify-batch.timer")
            && conflicts.contains("mcap-notify-deliver.timer"),
        "{conflicts}"
    );
}
