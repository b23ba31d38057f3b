//! A per-recipient SMTP server for tests (tests/support/policy_smtp.py on Debian's
//! python3-aiosmtpd), bound to 127.0.0.1 on a free port and stopped by its own PID.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::smtp_sink::free_port;

pub struct PolicyServer {
    pub port: u16,
    log: PathBuf,
    child: Child,
}

/// One accepted message: (envelope sender, recipients, Message-ID).
pub type Accepted = (String, Vec<String>, String);

impl PolicyServer {
    pub fn start(dir: &Path) -> PolicyServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/policy_smtp.py");
        let log = dir.join("accepted.jsonl");
        let port = free_port();
        // Debian's interpreter, where python3-aiosmtpd is installed.
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| !p.starts_with('/') || Path::new(p).exists())
            .unwrap();
        let mut child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the policy SMTP server starts (needs python3-aiosmtpd; see .ci/run)");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(
            ready.trim(),
            "ready",
            "policy SMTP server did not start (is python3-aiosmtpd installed?)"
        );
        PolicyServer { port, log, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["mail_from"].as_str().unwrap().to_string(),
                    v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect(),
                    v["message_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
