//! Settings, layered: built-in defaults, then a TOML file, then `MCAP_NOTIFY__SECTION__KEY`
//! environment variables. Every key is known in advance, so a misspelt one stops the program at
//! start with its name rather than being ignored.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

mod delivery_budget;
mod dkim_settings;
mod values;

pub use dkim_settings::{CheckedDkim, DkimSettingsError};
pub use values::Cadence;

/// The prefix of every environment variable that configures the program.
pub const ENV_PREFIX: &str = "MCAP_NOTIFY";

/// The shortest token secret accepted outside the demo.
pub const MIN_SECRET_CHARS: usize = 16;
/// The file read from the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "mcap-notify.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {source}")]
    File {
        path: PathBuf,
        source: config::ConfigError,
    },
    #[error("unknown configuration key `{key}`{origin}; known keys: {known}")]
    UnknownKey {
        key: String,
        origin: String,
        known: String,
    },
    #[error("configuration: {0}")]
    Value(config::ConfigError),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("configuration key {0}")]
    Calendar(String),
    #[error("configuration key `{key}`{origin}: {value} is not a whole number; this key takes whole numbers only")]
    NotWhole {
        key: String,
        origin: String,
        value: f64,
    },
}

/// A string that never shows itself in logs or `Debug` output (passwords, signing keys).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub delivery: DeliverySettings,
    pub smtp: SmtpSettings,
    pub mail: MailSettings,
    pub digest: DigestSettings,
    pub batch: BatchSettings,
    pub retry: RetrySettings,
    pub bounces: BounceSettings,
    pub calendar: CalendarSettings,
    pub schedule: ScheduleSettings,
    pub retention: RetentionSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub alerts: AlertSettings,
    pub links: LinkSettings,
    pub http: HttpSettings,
    pub dkim: DkimSettings,
    pub reminders: ReminderSettings,
    pub watches: WatchSettings,
}

/// Party watches: how many an account may keep, and the noise guard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchSettings {
    /// Watches an account may have that are not stopped.
    pub per_account: u32,
    /// Cases filed on one day (in the service's zone) a watch may match; one more pauses it.
    pub max_matches_per_day: u32,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            per_account: 10,
            max_matches_per_day: 20,
        }
    }
}

/// Reminders before court dates, in calendar days in the service's zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReminderSettings {
    /// Days before a hearing (0: on its day).
    pub hearing_days: Vec<u32>,
    /// Days before a payment is due.
    pub payment_days: Vec<u32>,
}

/// The most days ahead a reminder may be set.
pub const MAX_REMINDER_DAYS: u32 = 60;

impl Default for ReminderSettings {
    fn default() -> Self {
        ReminderSettings {
            hearing_days: vec![10, 2],
            payment_days: vec![2],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DATABASE`.
    pub url: String,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "sqlite://mcap-notify.db".into(),
            max_connections: 4,
            busy_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// One `.eml` file per message in `delivery.file_dir`.
    File,
    /// An SMTP server at `smtp.url`.
    Smtp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    pub transport: TransportKind,
    pub file_dir: PathBuf,
    /// How many due messages a worker claims at a time.
    pub batch_size: u32,
    /// How many messages are in flight at once.
    pub concurrency: u32,
    /// At most this many messages per second (none: as fast as the server takes them).
    pub rate_per_second: Option<f64>,
    /// How long a worker's claim on a message lasts; a crashed worker's claims expire after it.
    pub lease_secs: u64,
    /// Hold delivery while the service window is closed.
    pub respect_windows: bool,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            transport: TransportKind::File,
            file_dir: PathBuf::from("outbox"),
            batch_size: 64,
            concurrency: 8,
            rate_per_second: None,
            lease_secs: 300,
            respect_windows: true,
        }
    }
}

/// The service window (see `calendar`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarSettings {
    /// An IANA zone; every window rule is in its local time.
    #[serde(with = "values::zone")]
    pub zone: Tz,
    /// The days on which the service opens (Mon, Tue, ...).
    #[serde(with = "values::weekdays")]
    pub open_days: Vec<Weekday>,
    /// Opening time, HH:MM.
    #[serde(with = "values::time_of_day")]
    pub opens: NaiveTime,
    /// Closing time, HH:MM; at or before `opens` means the next morning.
    #[serde(with = "values::time_of_day")]
    pub closes: NaiveTime,
    /// Dates (YYYY-MM-DD) on which the service does not open.
    #[serde(with = "values::dates")]
    pub holidays: Vec<NaiveDate>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("a time of day");
        CalendarSettings {
            zone: chrono_tz::America::Chicago,
            open_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            opens: time(6, 0),
            closes: time(1, 0),
            holidays: Vec::new(),
        }
    }
}

/// The daemon's cadence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// A cron expression with seconds (`sec min hour day month weekday`), read in UTC: a
    /// cadence only. Whether a run does anything is the calendar's decision, so DST changes
    /// never shift the window.
    pub batch: Cadence,
    /// Seconds between delivery passes in the daemon.
    pub delivery_every_secs: u64,
    /// How long a batch run's lease lasts; renewed while the run goes on.
    pub lease_secs: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            batch: Cadence::parse("0 * * * * *").expect("the default cadence parses"),
            delivery_every_secs: 15,
            lease_secs: 300,
        }
    }
}

/// How long message bodies, delivery attempts and bounce mails are kept (see `prune`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days after a message is finished (or a bounce mail received) before `prune` removes it.
    pub days: u32,
    /// Seconds between the daemon's prune passes; 0 turns them off.
    pub prune_every_secs: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            days: 90,
            prune_every_secs: 0,
        }
    }
}

/// Backoff for transient failures (the defaults are Postfix's queue manager's).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    pub first_delay_secs: u64,
    pub max_delay_secs: u64,
    /// After a policy block (a refusal aimed at us: blocklists, 5.7.x, our sender address or
    /// domain), the first wait, doubling up to `policy_max_delay_secs`: such a block lifts in
    /// hours if at all, and hammering the server only prolongs it.
    pub policy_first_delay_secs: u64,
    pub policy_max_delay_secs: u64,
    /// A message still failing this long after it was queued is dead-lettered.
    pub lifetime_secs: u64,
    /// Fraction by which each delay is randomly spread either way (0 to 1).
    pub jitter: f64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            first_delay_secs: 300,
            max_delay_secs: 4000,
            policy_first_delay_secs: 3600,
            policy_max_delay_secs: 12 * 3600,
            lifetime_secs: 5 * 24 * 3600,
            jitter: 0.2,
        }
    }
}

/// When bounces suppress an address (the defaults are Mailman's).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BounceSettings {
    /// Soft bounces within the window that suppress an address.
    pub soft_threshold: u32,
    /// Soft bounces older than this no longer count.
    pub soft_window_days: u32,
}

impl Default for BounceSettings {
    fn default() -> Self {
        BounceSettings {
            soft_threshold: 5,
            soft_window_days: 7,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` or `smtps://host:port`;
    /// credentials may be given in the URL and are never logged.
    pub url: Option<Secret>,
    /// Seconds allowed for one message, connection included.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            url: None,
            timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// The `From:` of every notice, `Name <address>` or a bare address.
    pub from: String,
    /// Where `List-Unsubscribe` mailto requests go.
    pub unsubscribe_mailto: String,
    /// The web address that honours unsubscribe tokens (`?token=` is appended).
    pub unsubscribe_url: String,
    /// The key that signs unsubscribe tokens (and names messages and return paths).
    pub token_secret: Secret,
    /// The key `token_secret` replaced: tokens it signed are still honoured until
    /// `previous_token_secret_until`.
    pub previous_token_secret: Option<Secret>,
    /// The end of the previous key's grace period (RFC 3339).
    pub previous_token_secret_until: Option<DateTime<Utc>>,
    /// How many days an unsubscribe link works after its message was made.
    pub unsubscribe_token_days: u32,
    /// The bounce mailbox; each message's return path is made from it with a token naming the
    /// message (`bounces@example.org` becomes `bounces+TOKEN@example.org`).
    pub bounce_address: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            from: "Case Alerts <alerts@alerts.example.org>".into(),
            unsubscribe_mailto: "unsubscribe@alerts.example.org".into(),
            unsubscribe_url: "https://alerts.example.org/unsubscribe".into(),
            token_secret: Secret::new("change-me"),
            previous_token_secret: None,
            previous_token_secret_until: None,
            unsubscribe_token_days: 60,
            bounce_address: "bounces@alerts.example.org".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestStyle {
    /// Per case: number, caption, court; per entry: code, description, filer, posted time.
    Detailed,
    /// Only the case numbers that changed, like the real service's notice.
    Casenet,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigestSettings {
    pub style: DigestStyle,
    /// A directory whose `*.hbs` files replace the compiled-in templates of the same name.
    pub template_dir: Option<PathBuf>,
    /// The largest message one digest may make; an account's news beyond it is split over
    /// several messages, each saying which part it is.
    pub max_message_bytes: usize,
}

impl Default for DigestSettings {
    fn default() -> Self {
        DigestSettings {
            style: DigestStyle::Detailed,
            template_dir: None,
            max_message_bytes: 1_000_000,
        }
    }
}

/// The most accounts one commit of a run may take.
pub const MAX_ACCOUNTS_PER_COMMIT: u32 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchSettings {
    /// No longer used: a run takes every new entry, however large the backlog, so that each
    /// account gets one digest (a cap split a backlog over runs and multiplied the mail).
    /// Accepted so that older configuration files still load; see [`Settings::obsolete_keys`].
    pub max_entries_per_run: Option<u32>,
    /// How many accounts' digests are committed per transaction.
    pub accounts_per_commit: u32,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_entries_per_run: None,
            accounts_per_commit: 500,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON lines otherwise.
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `mcap_notify=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            level: "warn".into(),
        }
    }
}

/// The web server of `serve`: the one-click unsubscribe links in every digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Where `serve` listens (`host:port`); put a TLS-terminating proxy in front of it at the
    /// address `mail.unsubscribe_url` names.
    pub listen: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: "127.0.0.1:8080".into(),
        }
    }
}

/// Links in every digest to the court's own pages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    /// A case's docket page: an http(s) URL template with `{case_number}` and optionally
    /// `{court_id}`, filled in (percent-encoded) for every case of a digest.
    pub case_url: Option<String>,
    /// Where a subscriber manages the cases they track.
    pub manage_url: Option<String>,
}

/// DKIM signing of every message (see `dkim`): all three keys, or none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DkimSettings {
    /// The signing domain (`d=`): the domain of `mail.from` or a parent of it.
    pub domain: Option<String>,
    /// The selector (`s=`): receivers find the key at `SELECTOR._domainkey.DOMAIN`.
    pub selector: Option<String>,
    /// A PEM private key: RSA of at least 2048 bits (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8).
    pub private_key_file: Option<PathBuf>,
}

/// The placeholders a `links.case_url` may hold.
pub const CASE_URL_PLACEHOLDERS: [&str; 2] = ["{case_number}", "{court_id}"];

/// Where metrics are exposed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// The daemon's `/metrics`, `/healthz` and `/readyz` listen here (`host:port`); empty turns
    /// the listener off.
    pub listen: String,
    /// When set, `run-now`, `deliver` and `bounces ingest` write the metrics to this file (for
    /// node_exporter's textfile collector), replacing it atomically.
    pub textfile: Option<PathBuf>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: "127.0.0.1:9464".into(),
            textfile: None,
        }
    }
}

/// The thresholds of the alert conditions `status` reports; the defaults are those of
/// `deploy/prometheus/alerts.yml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// No successful batch run for this long while the service is open.
    pub batch_stale_minutes: u64,
    /// No finished delivery pass for this long while the service is open: the daemon looks down.
    pub deliver_stale_minutes: u64,
    /// The oldest entry not yet in a finished run was posted this long ago.
    pub watermark_lag_minutes: u64,
    /// A queued message has been due this long without being sent.
    pub oldest_due_minutes: u64,
    /// Hard and soft bounces per message sent over the last hour above this share...
    pub bounce_rate: f64,
    /// ...once at least this many messages were sent in that hour.
    pub bounce_rate_min_sent: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            batch_stale_minutes: 30,
            deliver_stale_minutes: 10,
            watermark_lag_minutes: 60,
            oldest_due_minutes: 30,
            bounce_rate: 0.05,
            bounce_rate_min_sent: 20,
        }
    }
}

fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

impl Settings {
    /// Loads defaults, then `file` (or `mcap-notify.toml` in the working directory if present),
    /// then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder();
        let file = match file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        if let Some(path) = &file {
            if !path.exists() {
                return Err(ConfigError::File {
                    path: path.clone(),
                    source: config::ConfigError::Message("file not found".into()),
                });
            }
            let file_only = config::Config::builder()
                .add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml))
                .build()
                .map_err(|source| ConfigError::File {
                    path: path.clone(),
                    source,
                })?;
            reject_unknown_keys(&file_only, &format!(" in {}", path.display()))?;
            reject_fractions(&file_only, &format!(" in {}", path.display()))?;
            builder = builder.add_source(file_only);
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let env_only = config::Config::builder()
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    // Values stay text until the setting they are for reads them: a secret or a
                    // selector of digits keeps its leading zeros and its dots.
                    .try_parsing(false)
                    .source(Some(env)),
            )
            .build()
            .map_err(ConfigError::Value)?;
        // Its values are text, which a whole-number key reads as a whole number or refuses.
        reject_unknown_keys(&env_only, " (from the environment)")?;
        let merged = builder
            .add_source(env_only)
            .build()
            .map_err(ConfigError::Value)?;
        check_enum::<TransportKind>(&merged, "delivery.transport")?;
        check_enum::<DigestStyle>(&merged, "digest.style")?;
        check_enum::<LogFormat>(&merged, "log.format")?;
        let settings: Settings = merged.try_deserialize().map_err(refused_value)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the values that deserialising alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.database.url.starts_with("sqlite:") && !is_postgres_url(&self.database.url) {
            return Err(ConfigError::Invalid {
                key: "database.url",
                reason: format!(
                    "`{}` is not a supported database URL (expected sqlite://PATH or \
                     postgres://USER@HOST:PORT/DATABASE)",
                    self.database.shown_url()
                ),
            });
        }
        if self.digest.max_message_bytes < 50_000 {
            return Err(ConfigError::Invalid {
                key: "digest.max_message_bytes",
                reason: "must be at least 50000 (one docket entry with its full text must fit)"
                    .into(),
            });
        }
        if self.database.max_connections < 2 {
            return Err(ConfigError::Invalid {
                key: "database.max_connections",
                reason: "must be at least 2 (the batch reads and writes at once)".into(),
            });
        }
        if let Err(e) = self.mail.from.parse::<lettre::message::Mailbox>() {
            return Err(ConfigError::Invalid {
                key: "mail.from",
                reason: format!("`{}` is not a mail address: {e}", self.mail.from),
            });
        }
        if let Err(e) = self.mail.unsubscribe_mailto.parse::<lettre::Address>() {
            return Err(ConfigError::Invalid {
                key: "mail.unsubscribe_mailto",
                reason: format!(
                    "`{}` is not a mail address: {e}",
                    self.mail.unsubscribe_mailto
                ),
            });
        }
        match self.mail.bounce_address.parse::<lettre::Address>() {
            Err(e) => {
                return Err(ConfigError::Invalid {
                    key: "mail.bounce_address",
                    reason: format!("`{}` is not a mail address: {e}", self.mail.bounce_address),
                })
            }
            Ok(a) if a.user().contains('+') => {
                return Err(ConfigError::Invalid {
                    key: "mail.bounce_address",
                    reason: "must not contain `+` (it separates the per-message token)".into(),
                })
            }
            Ok(_) => {}
        }
        if let Err(e) = delivery_budget::check(self) {
            return Err(ConfigError::Invalid {
                key: "delivery.batch_size",
                reason: e.to_string(),
            });
        }
        if !(0.0..=1.0).contains(&self.retry.jitter) {
            return Err(ConfigError::Invalid {
                key: "retry.jitter",
                reason: "must be between 0 and 1".into(),
            });
        }
        if self
            .delivery
            .rate_per_second
            .is_some_and(|r| r <= 0.0 || !r.is_finite())
        {
            return Err(ConfigError::Invalid {
                key: "delivery.rate_per_second",
                reason: "must be a positive number of messages per second".into(),
            });
        }
        self.validate_unsubscribe()?;
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ConfigError::Invalid {
                key: "metrics.listen",
                reason: format!(
                    "`{}` is not host:port with a numeric address (e.g. 127.0.0.1:9464); \
                     leave it empty to turn the listener off",
                    self.metrics.listen
                ),
            });
        }
        if let Some(url) = &self.links.case_url {
            let mut rest = url.clone();
            for placeholder in CASE_URL_PLACEHOLDERS {
                rest = rest.replace(placeholder, "");
            }
            let reason = if !is_web_url(url) {
                Some(format!("`{url}` is not an http(s) URL"))
            } else if !url.contains("{case_number}") {
                Some(format!("`{url}` has no {{case_number}} to fill in"))
            } else if rest.contains('{') || rest.contains('}') {
                Some(format!(
                    "`{url}` holds a placeholder other than {{case_number}} and {{court_id}}"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ConfigError::Invalid {
                    key: "links.case_url",
                    reason,
                });
            }
        }
        if let Some(url) = self.links.manage_url.as_ref().filter(|u| !is_web_url(u)) {
            return Err(ConfigError::Invalid {
                key: "links.manage_url",
                reason: format!("`{url}` is not an http(s) URL"),
            });
        }
        if !(0.0..=1.0).contains(&self.alerts.bounce_rate) {
            return Err(ConfigError::Invalid {
                key: "alerts.bounce_rate",
                reason: "must be a share between 0 and 1".into(),
            });
        }
        for (key, days) in [
            ("reminders.hearing_days", &self.reminders.hearing_days),
            ("reminders.payment_days", &self.reminders.payment_days),
        ] {
            if let Some(day) = days.iter().find(|d| **d > MAX_REMINDER_DAYS) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("{day} days: at most {MAX_REMINDER_DAYS} are allowed"),
                });
            }
        }
        for (key, value, most) in [
            ("watches.per_account", self.watches.per_account, 1_000),
            (
                "watches.max_matches_per_day",
                self.watches.max_matches_per_day,
                10_000,
            ),
        ] {
            if !(1..=most).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("{value}: must be from 1 to {most}"),
                });
            }
        }
        // A commit's accounts are gathered and rendered in memory together.
        if self.batch.accounts_per_commit > MAX_ACCOUNTS_PER_COMMIT {
            return Err(ConfigError::Invalid {
                key: "batch.accounts_per_commit",
                reason: format!(
                    "must be at most {MAX_ACCOUNTS_PER_COMMIT} (each commit's digests are held in memory together)"
                ),
            });
        }
        if self.delivery.transport == TransportKind::Smtp && self.smtp.url.is_none() {
            return Err(ConfigError::Invalid {
                key: "smtp.url",
                reason: "required when delivery.transport is `smtp`".into(),
            });
        }
        for (key, value) in [
            (
                "batch.accounts_per_commit",
                self.batch.accounts_per_commit as u64,
            ),
            ("delivery.batch_size", self.delivery.batch_size as u64),
            ("delivery.concurrency", self.delivery.concurrency as u64),
            ("delivery.lease_secs", self.delivery.lease_secs),
            ("retry.first_delay_secs", self.retry.first_delay_secs),
            ("retry.max_delay_secs", self.retry.max_delay_secs),
            (
                "retry.policy_first_delay_secs",
                self.retry.policy_first_delay_secs,
            ),
            (
                "retry.policy_max_delay_secs",
                self.retry.policy_max_delay_secs,
            ),
            ("bounces.soft_threshold", self.bounces.soft_threshold as u64),
            (
                "bounces.soft_window_days",
                self.bounces.soft_window_days as u64,
            ),
            ("smtp.timeout_secs", self.smtp.timeout_secs),
            (
                "schedule.delivery_every_secs",
                self.schedule.delivery_every_secs,
            ),
            ("schedule.lease_secs", self.schedule.lease_secs),
            ("retention.days", self.retention.days as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be greater than 0".into(),
                });
            }
        }
        // The DKIM key is read by the commands that sign (see `App::dkim_signer`); the
        // settings around it are checked here, for every command.
        if let Err(e) = self.dkim.checked(&self.mail.from) {
            return Err(ConfigError::Invalid {
                key: e.key(),
                reason: e.to_string(),
            });
        }
        Ok(())
    }

    /// One-click unsubscribe (RFC 8058) wants an https link (plain http only on this machine,
    /// for trying it out), a secret rotation needs both its keys, and a link must not outlive
    /// the record of what it stops.
    fn validate_unsubscribe(&self) -> Result<(), ConfigError> {
        let url = &self.mail.unsubscribe_url;
        let loopback = |host: &str| {
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        match url::Url::parse(url) {
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                return Err(ConfigError::Invalid {
                    key: "mail.unsubscribe_url",
                    reason: format!(
                        "`{url}` must not carry a query or fragment (`?token=` is appended)"
                    ),
                })
            }
            Ok(u)
                if u.path() == "/healthz"
                    || percent_encoding::percent_decode_str(u.path())
                        .decode_utf8_lossy()
                        .contains([':', '*', '{', '}', '%']) =>
            {
                return Err(ConfigError::Invalid {
                    key: "mail.unsubscribe_url",
                    reason: format!(
                        "`{url}`: its path is what `serve` answers, so it may not be /healthz or \
                         hold `:`, `*`, `{{`, `}}` or `%`"
                    ),
                })
            }
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(loopback) => {}
            _ => {
                return Err(ConfigError::Invalid {
                    key: "mail.unsubscribe_url",
                    reason: format!(
                        "`{url}` is not an https URL (one-click unsubscribe needs https; plain \
                         http is accepted only for 127.0.0.1 or localhost)"
                    ),
                })
            }
        }
        if self.mail.previous_token_secret.is_some()
            != self.mail.previous_token_secret_until.is_some()
        {
            return Err(ConfigError::Invalid {
                key: "mail.previous_token_secret_until",
                reason: "set it together with mail.previous_token_secret: the end of the old \
                         key's grace period (RFC 3339), or neither"
                    .into(),
            });
        }
        if self.mail.unsubscribe_token_days == 0
            || self.mail.unsubscribe_token_days > self.retention.days
        {
            return Err(ConfigError::Invalid {
                key: "mail.unsubscribe_token_days",
                reason: format!(
                    "is {}; it must be at least 1 and at most retention.days ({}), which is how \
                     long the record of what a link stops is kept",
                    self.mail.unsubscribe_token_days, self.retention.days
                ),
            });
        }
        if !self.http.listen.is_empty() && self.http.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ConfigError::Invalid {
                key: "http.listen",
                reason: format!(
                    "`{}` is not host:port with a numeric address (e.g. 127.0.0.1:8080)",
                    self.http.listen
                ),
            });
        }
        Ok(())
    }

    /// Refuses a token secret anyone could guess (anything but the demo must set its own): the placeholder, or one under
    /// [`MIN_SECRET_CHARS`] characters.
    pub fn refuse_placeholder_secrets(&self) -> Result<(), ConfigError> {
        if let Some(previous) = &self.mail.previous_token_secret {
            let length = previous.expose().chars().count();
            if *previous == MailSettings::default().token_secret || length < MIN_SECRET_CHARS {
                return Err(ConfigError::Invalid {
                    key: "mail.previous_token_secret",
                    reason: format!(
                        "is the placeholder or {length} characters long: links and return paths \
                         signed with it would be honoured, so anyone could forge them; give the \
                         secret that was replaced (at least {MIN_SECRET_CHARS} characters), or \
                         unset it"
                    ),
                });
            }
        }
        if self.mail.token_secret == MailSettings::default().token_secret {
            return Err(ConfigError::Invalid {
                key: "mail.token_secret",
                reason: format!(
                    "is still the built-in placeholder, which anyone can use to forge \
                     unsubscribe links; set a secret of your own in {ENV_PREFIX}__MAIL__TOKEN_SECRET \
                     or under [mail] in the configuration file (only `demo` runs without one)"
                ),
            });
        }
        let length = self.mail.token_secret.expose().chars().count();
        if length < MIN_SECRET_CHARS {
            return Err(ConfigError::Invalid {
                key: "mail.token_secret",
                reason: format!(
                    "is {length} characters long; a secret that short (an unset variable left it \
                     empty?) lets anyone forge unsubscribe links and bounces: use at least \
                     {MIN_SECRET_CHARS} random characters, e.g. from `openssl rand -hex 32`"
                ),
            });
        }
        Ok(())
    }

    /// Warnings for keys that are still accepted but no longer do anything.
    pub fn obsolete_keys(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(cap) = self.batch.max_entries_per_run {
            warnings.push(format!(
                "batch.max_entries_per_run = {cap} is no longer used and can be removed: a run \
                 takes every new entry, so that each account gets one digest"
            ));
        }
        warnings
    }

    /// The keys whose values are whole numbers (or lists of them), by their defaults.
    pub fn whole_number_keys() -> BTreeSet<String> {
        let defaults = serde_json::to_value(Settings::default()).expect("settings serialise");
        let whole = |v: &serde_json::Value| v.is_u64() || v.is_i64();
        Settings::known_keys()
            .into_iter()
            .filter(|key| {
                let pointer = format!("/{}", key.replace('.', "/"));
                match defaults.pointer(&pointer) {
                    Some(serde_json::Value::Array(items)) => items.first().is_some_and(whole),
                    Some(value) => whole(value),
                    None => false,
                }
            })
            .collect()
    }

    /// Every key a configuration may set, dotted (`delivery.file_dir`).
    pub fn known_keys() -> BTreeSet<String> {
        let defaults = serde_json::to_value(Settings::default()).expect("settings serialise");
        let mut keys = BTreeSet::new();
        collect_json_keys(&defaults, "", &mut keys);
        keys
    }
}

/// A value of an enum-valued key that names no variant is refused with the variants (serde's own
/// message lists them), instead of the config crate's message that does not.
fn check_enum<T: serde::de::DeserializeOwned>(
    merged: &config::Config,
    key: &'static str,
) -> Result<(), ConfigError> {
    let Ok(value) = merged.get_string(key) else {
        return Ok(());
    };
    match serde_json::from_value::<T>(serde_json::Value::String(value)) {
        Ok(_) => Ok(()),
        Err(e) => Err(ConfigError::Invalid {
            key,
            reason: e.to_string(),
        }),
    }
}

/// A value refused while deserialising: a text that does not parse into the typed value of its
/// key (see `values`) is refused with that key; anything else as the config crate says it.
fn refused_value(e: config::ConfigError) -> ConfigError {
    let config::ConfigError::At {
        error,
        key: Some(key),
        ..
    } = &e
    else {
        return ConfigError::Value(e);
    };
    let config::ConfigError::Message(reason) = error.as_ref() else {
        return ConfigError::Value(e);
    };
    if key == "schedule.batch" {
        ConfigError::Invalid {
            key: "schedule.batch",
            reason: reason.clone(),
        }
    } else if key.starts_with("calendar.") {
        ConfigError::Calendar(format!("{key}: {reason}"))
    } else {
        ConfigError::Value(e)
    }
}

/// Warnings for environment variables that start like ours but use single underscores
/// (`MCAP_NOTIFY_DATABASE_URL`): they are ignored, which is easy to miss.
pub fn look_alike_env_vars(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let known = Settings::known_keys();
    let mut warnings: Vec<String> = env
        .into_iter()
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix(ENV_PREFIX)?;
            if rest.starts_with("__") || !rest.starts_with('_') {
                return None;
            }
            let wanted = rest.trim_start_matches('_').to_lowercase();
            let hint = known
                .iter()
                .find(|k| k.replace('.', "_") == wanted)
                .map(|k| {
                    format!(
                        "; did you mean {ENV_PREFIX}__{}?",
                        k.to_uppercase().replace('.', "__")
                    )
                })
                .unwrap_or_default();
            Some(format!(
                "environment variable {name} is ignored: settings are read from \
                 {ENV_PREFIX}__SECTION__KEY (double underscores){hint}"
            ))
        })
        .collect();
    warnings.sort();
    warnings
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl DatabaseSettings {
    /// The database URL as it may be shown: a password in it is replaced by `***`.
    pub fn shown_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            }
            _ => self.url.clone(),
        }
    }
}

fn collect_json_keys(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_object() {
                collect_json_keys(v, &key, out);
            } else {
                out.insert(key);
            }
        }
    }
}

fn collect_config_keys(
    map: &config::Map<String, config::Value>,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match &v.kind {
            // A section with nothing in it (`[metrics]` alone) sets nothing.
            config::ValueKind::Table(inner) => collect_config_keys(inner, &key, out),
            _ => out.push(key),
        }
    }
}

/// Refuses a fraction a file gives for a key that takes whole numbers (`hearing_days = [2.5]`):
/// the config crate would round it without a word.
fn reject_fractions(source: &config::Config, origin: &str) -> Result<(), ConfigError> {
    let whole = Settings::whole_number_keys();
    for key in present_keys(source)? {
        if !whole.contains(&key) {
            continue;
        }
        let Ok(value) = source.get::<config::Value>(&key) else {
            continue;
        };
        let values = match value.kind {
            config::ValueKind::Array(items) => items.into_iter().map(|v| v.kind).collect(),
            kind => vec![kind],
        };
        for kind in values {
            if let config::ValueKind::Float(value) = kind {
                if value.fract() != 0.0 || !value.is_finite() {
                    return Err(ConfigError::NotWhole {
                        key,
                        origin: origin.to_string(),
                        value,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The keys `source` sets, in order.
fn present_keys(source: &config::Config) -> Result<Vec<String>, ConfigError> {
    let table: config::Map<String, config::Value> = source
        .clone()
        .try_deserialize()
        .map_err(ConfigError::Value)?;
    let mut present = Vec::new();
    collect_config_keys(&table, "", &mut present);
    present.sort();
    Ok(present)
}

fn reject_unknown_keys(source: &config::Config, origin: &str) -> Result<(), ConfigError> {
    let known = Settings::known_keys();
    let present = present_keys(source)?;
    match present.into_iter().find(|k| !known.contains(k)) {
        None => Ok(()),
        Some(key) => {
            let origin = if origin.contains("environment") {
                format!(
                    " (environment variable {ENV_PREFIX}__{})",
                    key.to_uppercase().replace('.', "__")
                )
            } else {
                origin.to_string()
            };
            Err(ConfigError::UnknownKey {
                key,
                origin,
                known: known.into_iter().collect::<Vec<_>>().join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_of_more_accounts_than_memory_allows_is_refused_by_name() {
        let load = |value: &str| {
            let env = [(
                "MCAP_NOTIFY__BATCH__ACCOUNTS_PER_COMMIT".to_string(),
                value.to_string(),
            )];
            Settings::load_from(None, env).map_err(|e| e.to_string())
        };
        assert!(load("100000").is_ok());
        let refused = load("4294967295").unwrap_err();
        assert!(
            refused.contains("batch.accounts_per_commit") && refused.contains("at most 100000"),
            "{refused}"
        );
    }

    #[test]
    fn a_fraction_for_a_whole_number_is_refused_not_rounded() {
        let dir = tempfile::tempdir().unwrap();
        let load_file = |text: &str| {
            let path = dir.path().join("mcap-notify.toml");
            std::fs::write(&path, text).unwrap();
            Settings::load_from(Some(&path), []).map_err(|e| e.to_string())
        };
        let refused = load_file("[reminders]\nhearing_days = [10, 2.5]\n").unwrap_err();
        assert!(
            refused.contains("`reminders.hearing_days`")
                && refused.contains("2.5 is not a whole number")
                && refused.contains("mcap-notify.toml"),
            "{refused}"
        );
        let whole = load_file("[reminders]\nhearing_days = [10.0, 2]\n").unwrap();
        assert_eq!(whole.reminders.hearing_days, vec![10, 2]);
        // The keys that take fractions still do.
        let jitter = load_file("[retry]\njitter = 0.3\n").unwrap();
        assert_eq!(jitter.retry.jitter, 0.3);
        let env = |key: &str, value: &str| [(key.to_string(), value.to_string())];
        let refused =
            Settings::load_from(None, env("MCAP_NOTIFY__BATCH__ACCOUNTS_PER_COMMIT", "7.5"))
                .unwrap_err()
                .to_string();
        assert!(
            refused.contains("batch.accounts_per_commit") && refused.contains("7.5"),
            "{refused}"
        );
        // Text settings given through the environment stay text: digits and dots, and
        // leading zeros, are theirs.
        let secret = "0012345678901234567890";
        let loaded =
            Settings::load_from(None, env("MCAP_NOTIFY__MAIL__TOKEN_SECRET", secret)).unwrap();
        assert_eq!(loaded.mail.token_secret.expose(), secret);
        let secret = "20261129.123456789";
        let loaded =
            Settings::load_from(None, env("MCAP_NOTIFY__MAIL__TOKEN_SECRET", secret)).unwrap();
        assert_eq!(loaded.mail.token_secret.expose(), secret);
        let whole = Settings::whole_number_keys();
        for key in ["reminders.hearing_days", "batch.accounts_per_commit"] {
            assert!(whole.contains(key), "{key}");
        }
        for key in ["retry.jitter", "alerts.bounce_rate", "dkim.selector"] {
            assert!(!whole.contains(key), "{key}");
        }
        // An empty section sets nothing and is no unknown key.
        assert!(load_file("[metrics]\n[reminders]\n").is_ok());
    }

    #[test]
    fn a_password_in_the_database_url_is_never_shown() {
        let mut db = DatabaseSettings::default();
        assert_eq!(db.shown_url(), "sqlite://mcap-notify.db");
        db.url = "postgres://notify:hunter2@db.example.org/mcap".into();
        assert_eq!(db.shown_url(), "postgres://notify:***@db.example.org/mcap");
        // A URL refused (an unsupported scheme) is named with its password masked too.
        db.url = "mysql://notify:hunter2@db.example.org/mcap".into();
        let settings = Settings {
            database: db,
            ..Settings::default()
        };
        let refused = settings.validate().unwrap_err().to_string();
        assert!(refused.contains("notify:***@"), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    #[test]
    fn link_templates_are_checked_and_name_their_key() {
        let with = |case_url: Option<&str>, manage_url: Option<&str>| {
            let env = [
                case_url.map(|u| ("MCAP_NOTIFY__LINKS__CASE_URL".to_string(), u.to_string())),
                manage_url.map(|u| ("MCAP_NOTIFY__LINKS__MANAGE_URL".to_string(), u.to_string())),
            ];
            Settings::load_from(None, env.into_iter().flatten()).map_err(|e| e.to_string())
        };
        let good = "https://courts.example.org/case?n={case_number}&c={court_id}";
        let settings = with(Some(good), Some("https://courts.example.org/mine")).unwrap();
        assert_eq!(settings.links.case_url.as_deref(), Some(good));
        for (bad, why) in [
            ("ftp://x/{case_number}", "is not an http(s) URL"),
            ("https://x/case", "has no {case_number}"),
            (
                "https://x/{case_number}/{county}",
                "a placeholder other than",
            ),
        ] {
            let refused = with(Some(bad), None).unwrap_err();
            assert!(
                refused.contains("links.case_url") && refused.contains(why),
                "{bad}: {refused}"
            );
        }
        let refused = with(None, Some("courts.example.org/mine")).unwrap_err();
        assert!(refused.contains("links.manage_url"), "{refused}");
    }

    #[test]
    fn calendar_and_cadence_texts_that_do_not_parse_are_refused_with_their_key() {
        let load = |name: &str, value: &str| {
            Settings::load_from(None, [(format!("MCAP_NOTIFY__{name}"), value.to_string())])
                .map_err(|e| e.to_string())
        };
        for (name, value, refused) in [
            (
                "CALENDAR__ZONE",
                "Mars/Olympus",
                "configuration key calendar.zone: `Mars/Olympus` is not an IANA time zone \
                 (like America/Chicago)",
            ),
            (
                "CALENDAR__OPENS",
                "6am",
                "configuration key calendar.opens: `6am` is not a time of day (HH:MM)",
            ),
            (
                "CALENDAR__CLOSES",
                "25:00",
                "configuration key calendar.closes: `25:00` is not a time of day (HH:MM)",
            ),
        ] {
            assert_eq!(load(name, value).unwrap_err(), refused);
        }
        let refused = load("SCHEDULE__BATCH", "* * * * *").unwrap_err();
        assert!(
            refused.starts_with(
                "configuration key `schedule.batch`: `* * * * *` is not a cron expression with \
                 seconds"
            ),
            "{refused}"
        );
        let settings = load("CALENDAR__ZONE", "America/New_York").unwrap();
        assert_eq!(settings.calendar.zone, chrono_tz::America::New_York);
    }

    #[test]
    fn typed_values_are_written_back_as_the_file_gives_them() {
        let shown = serde_json::to_value(Settings::default()).unwrap();
        assert_eq!(shown["calendar"]["zone"], "America/Chicago");
        assert_eq!(
            shown["calendar"]["open_days"],
            serde_json::json!(["Mon", "Tue", "Wed", "Thu", "Fri"])
        );
        assert_eq!(shown["calendar"]["opens"], "06:00");
        assert_eq!(shown["calendar"]["closes"], "01:00");
        assert_eq!(shown["schedule"]["batch"], "0 * * * * *");
    }

    #[test]
    fn look_alike_variables_are_named_with_the_one_that_works() {
        let env = [
            ("MCAP_NOTIFY_DATABASE_URL", "x"),
            ("MCAP_NOTIFY__DATABASE__URL", "x"),
            ("MCAP_NOTIFY_MAIL_TOKEN_SECRET", "x"),
            ("MCAP_NOTIFY_NOTHING", "x"),
            ("MCAP_NOTIFYX", "x"),
            ("HOME", "x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let warnings = look_alike_env_vars(env);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("did you mean MCAP_NOTIFY__DATABASE__URL?"));
        assert!(warnings[1].contains("did you mean MCAP_NOTIFY__MAIL__TOKEN_SECRET?"));
        assert!(!warnings[2].contains("did you mean"));
    }
}
