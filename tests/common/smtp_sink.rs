//! A real SMTP server for tests: Postfix's `smtp-sink`, bound to 127.0.0.1 on a free port,
//! dumping each transaction to a file, stopped by its own PID when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    pub port: u16,
    pub dump_dir: PathBuf,
    child: Child,
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn smtp_sink_binary() -> PathBuf {
    for candidate in ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("smtp-sink not found: install Debian's `postfix` package (see .ci/run)");
}

impl SmtpSink {
    /// Starts a sink that accepts everything; `extra` adds smtp-sink options.
    pub fn start(dump_dir: &Path, extra: &[&str]) -> SmtpSink {
        std::fs::create_dir_all(dump_dir).unwrap();
        // smtp-sink drops privileges to `nobody` when run as root; let it write its dumps.
        let mut perms = std::fs::metadata(dump_dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
        std::fs::set_permissions(dump_dir, perms).unwrap();
        let dump = format!("{}/%M.", dump_dir.display());
        let mut options = vec!["-d", &dump];
        options.extend_from_slice(extra);
        Self::listen(&options, 64, dump_dir)
    }

    /// Starts a sink that keeps nothing it is sent (for measuring a sender), with room for
    /// `backlog` connections waiting to be accepted.
    pub fn discarding(extra: &[&str], backlog: u32) -> SmtpSink {
        Self::listen(extra, backlog, Path::new(""))
    }

    /// Starts smtp-sink with `options` on a free port and returns once it accepts connections.
    fn listen(options: &[&str], backlog: u32, dump_dir: &Path) -> SmtpSink {
        let port = free_port();
        let mut command = Command::new(smtp_sink_binary());
        // Only root needs (and may use) -u.
        if is_root() {
            command.args(["-u", "nobody"]);
        }
        command
            .args(options)
            .arg(format!("127.0.0.1:{port}"))
            .arg(backlog.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Stopped by its own PID however the caller ends, a failed assertion included.
        let sink = SmtpSink {
            port,
            dump_dir: dump_dir.to_path_buf(),
            child: command.spawn().expect("smtp-sink starts"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "smtp-sink did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The dumped transactions, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.dump_dir)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        out.sort();
        out
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
