//! An SMTP server for the moments around the end of a message (tests/support/gate_smtp.py on
//! Debian's python3-aiosmtpd): it can hold its answer until the test releases it, drop the
//! connection after the final dot, or close it after answering. Bound to 127.0.0.1 on a free
//! port, stopped by its own PID.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use super::smtp_sink::free_port;

pub struct GateServer {
    pub port: u16,
    log: PathBuf,
    child: Child,
    stdin: ChildStdin,
    events: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl GateServer {
    pub fn start(dir: &Path) -> GateServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/gate_smtp.py");
        let log = dir.join("gate-accepted.jsonl");
        let port = free_port();
        // Debian's interpreter, where python3-aiosmtpd is installed.
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the gate SMTP server starts (needs python3-aiosmtpd; see .ci/run)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "gate SMTP server did not start");
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        GateServer {
            port,
            log,
            child,
            stdin,
            events,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits until a `gate-*` message is in and its answer held; returns its recipient.
    pub async fn held(&mut self) -> String {
        let line = tokio::time::timeout(Duration::from_secs(60), self.events.recv())
            .await
            .expect("a held message within a minute")
            .expect("the gate server is running");
        line.strip_prefix("data ")
            .unwrap_or_else(|| panic!("unexpected gate event `{line}`"))
            .to_string()
    }

    /// Lets the held answer go.
    pub fn release(&mut self) {
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The Message-ID of every message the server took, in order (duplicates included).
    pub fn received_message_ids(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["message_id"].as_str().unwrap().to_string()
            })
            .collect()
    }

    /// The recipients of every message the server took, in order (duplicates included).
    pub fn received(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        text.lines()
            .flat_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for GateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
