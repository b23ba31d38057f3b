//! Test harness: a throwaway SQLite file and outbox directory, the application built on them,
//! and helpers to write feeds, run the batch and read back what was queued.
#![allow(dead_code)]

pub mod backends;
pub mod gate_server;
pub mod policy_server;
pub mod postgres;
pub mod smtp_sink;

use std::path::PathBuf;

use mcap_notify::app::App;
use mcap_notify::batch::{RunOptions, RunReport};
use mcap_notify::config::Settings;
use mcap_notify::ingest::{FeedKind, IngestSummary};
use serde_json::{json, Value};
use sqlx::Row;

/// The program, with none of this process's configuration leaking into it, and a token
/// secret set (the built-in one is refused outside the demo).
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mcap-notify"));
    for (key, _) in std::env::vars() {
        if key.starts_with("MCAP_NOTIFY") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env(
        "MCAP_NOTIFY__MAIL__TOKEN_SECRET",
        "a-test-secret-of-32-characters!!",
    );
    // Daemons of tests running side by side each take a free port for their metrics.
    command.env("MCAP_NOTIFY__METRICS__LISTEN", "127.0.0.1:0");
    command
}

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`, as `.ci/run`
/// does): there a test whose prerequisite is missing fails instead of skipping.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Where Chromium is, or why the check cannot run (a failure under CI, where .ci/run installs it).
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            !under_ci(),
            "chromium is missing (.ci/run installs Debian's chromium)"
        );
        eprintln!("skipping the screenshot check: chromium is not installed");
    }
    found
}

/// Runs headless Chromium (profile kept in `scratch`) on the file `page` with `args`, such as
/// `--screenshot=FILE` or `--dump-dom`. coreutils' timeout ends a browser that hangs, so the
/// test fails rather than waits.
pub fn chromium_on(
    chromium: &std::path::Path,
    scratch: &std::path::Path,
    page: &std::path::Path,
    args: &[String],
) -> std::process::Output {
    std::process::Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", scratch.join("chromium").display()),
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// Prometheus's promtool (Debian package `prometheus`, which `.ci/run` installs), or `None`
/// with the reason printed where it is missing outside CI; under CI a missing promtool fails.
pub fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !under_ci(),
            "promtool is not installed (Debian package `prometheus`), and under CI it must run"
        );
        println!(
            "skipped the promtool check: promtool is not installed (Debian package `prometheus`)"
        );
    }
    found
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub app: App,
    feeds_written: std::cell::Cell<usize>,
    /// The PostgreSQL database the application is on, dropped after it.
    database: Option<postgres::TestDatabase>,
}

/// Whether the suite's applications run on PostgreSQL (`MCAP_NOTIFY_TEST_BACKEND=postgres`,
/// as `.ci/run`'s second pass sets) rather than on SQLite files.
pub fn on_postgres() -> bool {
    std::env::var("MCAP_NOTIFY_TEST_BACKEND").is_ok_and(|v| v == "postgres")
}

/// For a test about SQLite itself (its files, its locks, its triggers): true, after saying so,
/// when the suite runs on PostgreSQL, where the test does not apply.
pub fn sqlite_only(what: &str) -> bool {
    if on_postgres() {
        eprintln!("not run on PostgreSQL: {what} is about SQLite");
    }
    on_postgres()
}

/// The test application's database, for reading its tables directly in SQL both backends
/// share (no bound values: tests write their literals into the text).
#[derive(Clone, Copy)]
pub enum Db<'a> {
    Sqlite(&'a sqlx::SqlitePool),
    Postgres(&'a sqlx::PgPool),
}

/// A value both backends decode.
pub trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + Send
    + Unpin
{
}
impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + Send
        + Unpin
{
}

/// A row both backends decode.
pub trait Record:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}
impl<T> Record for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

impl Db<'_> {
    /// An instant as an SQL literal of this backend (SQLite keeps microseconds since 1970).
    pub fn at(self, instant: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Db::Sqlite(_) => instant.timestamp_micros().to_string(),
            Db::Postgres(_) => format!("'{}'::timestamptz", instant.to_rfc3339()),
        }
    }

    /// An instant column read as microseconds since 1970, as SQLite keeps it.
    pub fn micros(self, column: &str) -> String {
        match self {
            Db::Sqlite(_) => column.to_string(),
            Db::Postgres(_) => format!("(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"),
        }
    }

    /// What an INSERT needs to set an identity column itself (PostgreSQL's are GENERATED
    /// ALWAYS).
    pub fn overriding(self) -> &'static str {
        match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => "OVERRIDING SYSTEM VALUE",
        }
    }

    /// The rows of `sql`.
    pub async fn rows<T: Record>(self, sql: &str) -> Vec<T> {
        match self {
            Db::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Db::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Makes the database refuse the rows of `table` for which `condition` (on `NEW`) holds,
    /// with `message`, as a constraint a DBA added would: an error about the data.
    pub async fn refuse_inserts(self, table: &str, condition: &str, message: &str) {
        match self {
            Db::Sqlite(_) => {
                self.exec(&format!(
                    "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {condition}
                     BEGIN SELECT RAISE(ABORT, '{message}'); END"
                ))
                .await
            }
            Db::Postgres(_) => {
                self.exec(&format!(
                    "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'check_violation'; END $$"
                ))
                .await;
                self.exec(&format!(
                    "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW
                     WHEN ({condition}) EXECUTE FUNCTION refuse_{table}()"
                ))
                .await
            }
        }
    }

    /// Undoes [`Db::refuse_inserts`] on `table`.
    pub async fn allow_inserts(self, table: &str) {
        match self {
            Db::Sqlite(_) => self.exec(&format!("DROP TRIGGER refuse_{table}")).await,
            Db::Postgres(_) => {
                self.exec(&format!("DROP TRIGGER refuse_{table} ON {table}"))
                    .await;
                self.exec(&format!("DROP FUNCTION refuse_{table}()")).await
            }
        }
    }

    /// The one row `sql` answers.
    pub async fn row<T: Record>(self, sql: &str) -> T {
        match self {
            Db::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
            Db::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of every row of `sql`.
    pub async fn column<T: Column>(self, sql: &str) -> Vec<T> {
        match self {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one value `sql` answers (a count, say).
    pub async fn value<T: Column>(self, sql: &str) -> T {
        match self {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs `sql`, a statement without results.
    pub async fn exec(self, sql: &str) {
        match self {
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

pub fn settings_in(dir: &std::path::Path) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = format!("sqlite://{}", dir.join("test.db").display());
    settings.delivery.file_dir = dir.join("outbox");
    settings.mail.token_secret =
        mcap_notify::config::Secret::new("a-test-secret-of-32-characters!!");
    // Tests run at any hour; the ones about windows set them explicitly.
    settings.delivery.respect_windows = false;
    settings
}

impl TestApp {
    /// The test's SQLite database, for a test about SQLite itself (see [`sqlite_only`]).
    pub fn pool(&self) -> &sqlx::SqlitePool {
        self.app
            .store
            .sqlite()
            .expect("the test application is on SQLite")
            .pool()
    }

    pub async fn new() -> TestApp {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = settings_in(dir.path());
        let database = if on_postgres() {
            let database = postgres::TestDatabase::create()
                .await
                .expect("MCAP_NOTIFY_TEST_BACKEND=postgres asks for a PostgreSQL server");
            settings.database.url = database.url.clone();
            Some(database)
        } else {
            None
        };
        adjust(&mut settings);
        let app = App::open(settings).await.expect("app opens");
        TestApp {
            dir,
            app,
            feeds_written: std::cell::Cell::new(0),
            database,
        }
    }

    /// The database, for reading its tables in SQL both backends share.
    pub fn db(&self) -> Db<'_> {
        match (self.app.store.sqlite(), self.app.store.postgres()) {
            (Some(sqlite), _) => Db::Sqlite(sqlite.pool()),
            (_, Some(postgres)) => Db::Postgres(postgres.pool()),
            _ => unreachable!("the store is on one of the two backends"),
        }
    }

    /// The database URL the application is on, for the program run beside it.
    pub fn database_url(&self) -> String {
        self.app.settings.database.url.clone()
    }

    /// A new application holding case `number` (civil, 16th circuit) and a verified account
    /// `ann`, tracking it from `since` when that is given.
    pub async fn one_case(
        adjust: impl FnOnce(&mut Settings),
        number: &str,
        since: Option<&str>,
    ) -> TestApp {
        let t = TestApp::with(adjust).await;
        t.ingest(
            FeedKind::Cases,
            &[case(number, "CT16", "CV", "Smith v. Jones")],
        )
        .await;
        t.ingest(
            FeedKind::Accounts,
            &[account("ann", "ann@example.org", true)],
        )
        .await;
        if let Some(since) = since {
            t.ingest(FeedKind::Subscriptions, &[track("ann", number, since)])
                .await;
        }
        t
    }

    /// The program configured on this test's database and outbox.
    pub fn command(&self) -> std::process::Command {
        let mut c = binary();
        let s = &self.app.settings;
        c.current_dir(self.dir.path())
            .env("MCAP_NOTIFY__DATABASE__URL", &s.database.url)
            .env(
                "MCAP_NOTIFY__MAIL__TOKEN_SECRET",
                s.mail.token_secret.expose(),
            )
            .env("MCAP_NOTIFY__DELIVERY__FILE_DIR", &s.delivery.file_dir);
        c
    }

    /// Case 2616-CV00001 with news, tracked since January by one verified account per address
    /// (`acct0`, `acct1`, ...), then a run: one digest queued for each.
    pub async fn digests_for(&self, emails: &[&str]) {
        const CASE: &str = "2616-CV00001";
        self.ingest(
            FeedKind::Cases,
            &[case(CASE, "CT16", "CV", "Smith v. Jones")],
        )
        .await;
        let accounts: Vec<_> = emails
            .iter()
            .enumerate()
            .map(|(i, e)| account(&format!("acct{i}"), e, true))
            .collect();
        self.ingest(FeedKind::Accounts, &accounts).await;
        let subs: Vec<_> = (0..emails.len())
            .map(|i| track(&format!("acct{i}"), CASE, "2026-01-01T00:00:00Z"))
            .collect();
        self.ingest(FeedKind::Subscriptions, &subs).await;
        self.ingest(
            FeedKind::Entries,
            &[entry("e1", CASE, "MOT", "2026-02-01T10:00:00Z")],
        )
        .await;
        self.run().await;
    }

    /// Writes `lines` (JSON values or raw text) to a new feed file and returns its path.
    pub fn feed_file(&self, lines: &[String]) -> PathBuf {
        let n = self.feeds_written.get() + 1;
        self.feeds_written.set(n);
        let path = self.dir.path().join(format!("feed-{n}.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").expect("feed written");
        path
    }

    pub async fn try_ingest(
        &self,
        kind: FeedKind,
        lines: &[Value],
    ) -> anyhow::Result<IngestSummary> {
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        let path = self.feed_file(&text);
        self.app.ingest(kind, &path).await
    }

    /// Ingests raw lines that must be rejected; returns the message, checking that it names
    /// the file and that the database did not change.
    pub async fn ingest_rejected(&self, kind: FeedKind, lines: &[String]) -> String {
        let before = self.dump().await;
        let path = self.feed_file(lines);
        let err = self
            .app
            .ingest(kind, &path)
            .await
            .expect_err("the file must be rejected");
        assert_eq!(self.dump().await, before, "a rejected file changes nothing");
        let text = format!("{err:#}");
        assert!(
            text.starts_with(&path.display().to_string()),
            "error names the file: {text}"
        );
        text
    }

    pub async fn ingest(&self, kind: FeedKind, lines: &[Value]) -> IngestSummary {
        self.try_ingest(kind, lines).await.expect("feed accepted")
    }

    /// One batch run, whatever the hour (the service window is ignored).
    pub async fn run(&self) -> RunReport {
        self.run_with(RunOptions::default())
            .await
            .expect("run succeeds")
    }

    pub async fn run_with(&self, mut options: RunOptions) -> anyhow::Result<RunReport> {
        options.ignore_windows = true;
        match self.app.run_now(&options).await? {
            mcap_notify::app::RunOutcome::Ran(report) => Ok(report),
            other => panic!("a run ignoring windows was skipped: {other:?}"),
        }
    }

    /// (account, entry_id) pairs in the ledger, sorted.
    pub async fn ledger(&self) -> Vec<(String, String)> {
        self.db()
            .rows(
                "SELECT l.account_id, e.entry_id FROM notification_ledger l
                 JOIN docket_entries e ON e.seq = l.entry_seq ORDER BY 1, 2",
            )
            .await
    }

    /// Queued or sent messages: (account, recipient, entry ids in the digest), by outbox id.
    pub async fn digests(&self) -> Vec<(String, String, Vec<String>)> {
        let rows: Vec<(i64, String, String, String)> = self
            .db()
            .rows(
                "SELECT o.outbox_id, o.account_id, o.recipient, e.entry_id
                 FROM outbox o JOIN notification_ledger l ON l.outbox_id = o.outbox_id
                 JOIN docket_entries e ON e.seq = l.entry_seq
                 ORDER BY o.outbox_id, e.entry_id",
            )
            .await;
        let mut digests: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut last_id = None;
        for (outbox_id, account, recipient, entry) in rows {
            match digests.last_mut() {
                Some((_, _, entries)) if last_id == Some(outbox_id) => entries.push(entry),
                _ => digests.push((account, recipient, vec![entry])),
            }
            last_id = Some(outbox_id);
        }
        digests
    }

    pub async fn outbox_raw(&self) -> Vec<Vec<u8>> {
        self.db()
            .column("SELECT raw FROM outbox_bodies ORDER BY outbox_id")
            .await
    }

    /// Every row of every data table, as text: to prove a rejected feed changed nothing.
    pub async fn dump(&self) -> String {
        let mut out = String::new();
        for table in [
            "courts",
            "court_excluded_case_types",
            "cases",
            "parties",
            "docket_entries",
            "accounts",
            "subscriptions",
            "runs",
            "outbox",
            "outbox_bodies",
            "notification_ledger",
            "watermark",
            "unsubscribes",
            "unsubscribe_scopes",
            "held_pairs",
            "events",
            "event_versions",
            "date_notices",
            "watches",
            "party_arrivals",
            "watch_matches",
        ] {
            let sqlite = match self.db() {
                Db::Sqlite(pool) => pool,
                Db::Postgres(_) => {
                    // Each row as PostgreSQL writes a record out.
                    let rows: Vec<String> = self
                        .db()
                        .column(&format!("SELECT t::text FROM {table} t ORDER BY 1"))
                        .await;
                    out.push_str(&format!("[{table}] {}\n", rows.len()));
                    for row in rows {
                        out.push_str(&row);
                        out.push('\n');
                    }
                    continue;
                }
            };
            let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY 1"))
                .fetch_all(sqlite)
                .await
                .expect("table readable");
            out.push_str(&format!("[{table}] {}\n", rows.len()));
            for row in rows {
                let cols: Vec<String> = (0..row.len())
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .map(|v| v.unwrap_or_else(|| "NULL".into()))
                            .or_else(|_| row.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                            .unwrap_or_else(|_| "<blob>".into())
                    })
                    .collect();
                out.push_str(&cols.join("|"));
                out.push('\n');
            }
        }
        out
    }
}

// Feed builders: the smallest valid records, with the fields a test cares about.

pub fn court(id: &str, mcap: bool, excluded: &[&str]) -> Value {
    json!({"court_id": id, "name": format!("Court {id}"), "mcap": mcap, "track_excluded_case_types": excluded})
}

pub fn case(number: &str, court: &str, case_type: &str, caption: &str) -> Value {
    json!({
        "case_number": number, "court_id": court, "case_type": case_type, "caption": caption,
        "filed_at": "2026-01-05T09:00:00-06:00", "confidential": false, "closed_at": null,
        "parties": [{"name": "Pat Doe", "role": "Defendant"}]
    })
}

pub fn confidential_case(number: &str, court: &str) -> Value {
    let mut c = case(number, court, "CV", "Sealed");
    c["confidential"] = json!(true);
    c
}

pub fn account(id: &str, email: &str, verified: bool) -> Value {
    json!({"account_id": id, "email": email, "email_verified": verified})
}

pub fn track(account: &str, case: &str, at: &str) -> Value {
    json!({"account_id": account, "case_number": case, "tracked_at": at})
}

pub fn stop(account: &str, case: &str, at: &str) -> Value {
    json!({"account_id": account, "case_number": case, "stopped_at": at})
}

pub fn entry(id: &str, case: &str, code: &str, posted_at: &str) -> Value {
    json!({
        "entry_id": id, "case_number": case, "code": code, "description": format!("{code} description"),
        "text": "", "filed_by": "Court Clerk", "posted_at": posted_at
    })
}

/// A scheduled hearing: `starts_at` in RFC 3339, in a courtroom of Division 7.
pub fn hearing(id: &str, case: &str, title: &str, starts_at: &str) -> Value {
    serde_json::json!({
        "event_id": id, "case_number": case, "kind": "hearing", "title": title,
        "starts_at": starts_at, "location": "Division 7, Courtroom 7A, 10 N Tucker Blvd, St. Louis",
        "judge": "Hon. R. Alvarez", "status": "scheduled"
    })
}

pub fn void(id: &str, at: &str) -> Value {
    json!({"entry_id": id, "voided_at": at})
}

/// How long [`Paused::wait_for`] waits for a line before it gives up: far beyond any machine's
/// slowness, and only a bound on how long a broken test hangs.
pub const SAYING_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// A program started by [`start_paused`] (stopped at a point of its work) or [`start_talking`],
/// whose standard error is read a line at a time.
pub struct Paused {
    pub child: std::process::Child,
    /// What it says on standard error after the pause, a line at a time, until it ends.
    lines: std::sync::mpsc::Receiver<String>,
    /// The lines read so far.
    said: Vec<String>,
}

impl Paused {
    /// Lets it go on.
    pub fn resume(&mut self) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        stdin
            .write_all(b"go\n")
            .expect("the paused program reads its stdin");
    }

    /// Sends it a signal (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits until it says `text` on standard error (a sign that it took a signal in, say).
    /// A program that has not said it within [`SAYING_DEADLINE`] is killed and the test fails
    /// with what it did say, so that a test waiting for the wrong text ends rather than hangs.
    pub fn wait_for(&mut self, text: &str) {
        loop {
            let line = match self.lines.recv_timeout(SAYING_DEADLINE) {
                Ok(line) => line,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "it did not say {text:?} within {SAYING_DEADLINE:?}: {}",
                        self.said.join("\n")
                    );
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("it ended before saying {text:?}: {}", self.said.join("\n"))
                }
            };
            let found = line.contains(text);
            self.said.push(line);
            if found {
                return;
            }
        }
    }

    /// Waits for it to end: its exit status and what it said on standard error.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        self.said.extend(self.lines.iter());
        (status, self.said.join("\n"))
    }
}

/// Starts `command` so that it stops at a point of its work (`POINT:N`, see
/// `mcap_notify::hooks::process_pause`) and returns once it says it is there: the caller then
/// kills or signals it where it wants, and lets it go on with [`Paused::resume`].
pub fn start_paused(mut command: std::process::Command, point: &str) -> Paused {
    command.env(mcap_notify::hooks::PAUSE_VARIABLE, point);
    let (child, mut lines) = spawn_saying(command);
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("paused at ") => break,
            Some(Ok(line)) => seen.push(line),
            _ => panic!(
                "the program ended before reaching {point}: {}",
                seen.join("\n")
            ),
        }
    }
    keep_reading(child, lines)
}

/// Starts `command` with what it says on standard error read a line at a time, for
/// [`Paused::wait_for`] to wait on.
pub fn start_talking(command: std::process::Command) -> Paused {
    let (child, lines) = spawn_saying(command);
    keep_reading(child, lines)
}

type StderrLines = std::io::Lines<std::io::BufReader<std::process::ChildStderr>>;

/// Spawns `command` at log level info (unless the test set one), its stdin and stderr piped.
fn spawn_saying(mut command: std::process::Command) -> (std::process::Child, StderrLines) {
    use std::io::BufRead;
    // What it says at info (a stop taken in, a message sent) is what [`Paused::wait_for`]
    // waits on; the default level of warn would leave it silent.
    let level_set = command.get_envs().any(|(key, value)| {
        value.is_some() && (key == "MCAP_NOTIFY__LOG__LEVEL" || key == "RUST_LOG")
    });
    if !level_set {
        command.env("MCAP_NOTIFY__LOG__LEVEL", "info");
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the program starts");
    let stderr = child.stderr.take().unwrap();
    (child, std::io::BufReader::new(stderr).lines())
}

fn keep_reading(child: std::process::Child, lines: StderrLines) -> Paused {
    // Keep reading what it says, so that it never blocks on a full pipe.
    let (send, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Paused {
        child,
        lines: said,
        said: Vec::new(),
    }
}

/// A delivery-status report as a receiving server would send it back to `return_path`.
pub fn dsn(return_path: &str, recipient: &str, status: &str, diagnostic: &str) -> String {
    format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net\r\nTo: {return_path}\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n\
Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--b1--\r\n"
    )
}
