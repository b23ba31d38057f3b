//! Logging: tracing to standard error, readable on a terminal and JSON lines otherwise (journald,
//! log shippers), with the level from the configuration unless `RUST_LOG` says otherwise.
//!
//! A JSON line is one object: `timestamp` (RFC 3339, UTC), `level`, `target`, the event's
//! `message` and fields at the top level, `span` (the innermost span with its fields, such as a
//! run's `run_id`) and `spans` (every enclosing span, outermost first), so that each line can be
//! read on its own. Addresses are masked where they are logged (see [`crate::mask`]).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; a second call (as in tests) is harmless.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let terminal = std::io::stderr().is_terminal();
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_ansi(false)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
}
