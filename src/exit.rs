//! How the program ends: the exit code for an error, its message with each cause said once, and
//! a quiet end when the reader of standard output has gone (`status | head -1`). Commands write
//! their output through [`outln!`](crate::outln) so that a closed pipe is an ordinary error.

use std::process::ExitCode;

use crate::app::{DatabaseUnavailable, LeaseHeld};
use crate::batch::RunError;
use crate::config::ConfigError;

/// Exit code for a configuration error, or a database that cannot be opened (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code when another batch run holds the lease, or took it over mid-run (sysexits
/// EX_TEMPFAIL).
pub const EXIT_LEASE_HELD: u8 = 75;

/// Standard output was closed by its reader; there is nobody left to tell anything.
#[derive(Debug, thiserror::Error)]
#[error("standard output is closed")]
pub struct StdoutClosed;

/// Writes `bytes` to standard output as they are (a stored message is not always UTF-8), with
/// the same handling of a closed pipe as [`print_out`].
pub fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// Writes to standard output; a reader that has gone becomes [`StdoutClosed`].
pub fn print_out(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_fmt(args) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// `println!` for commands: returns early with an error when standard output is closed.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::exit::print_out(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for commands, as [`outln!`](crate::outln).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::exit::print_out(format_args!($($arg)*))?
    };
}

/// The error and its causes joined with `: `, leaving out a cause whose text an earlier part
/// already says (many errors quote their source in their own message).
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The exit code that tells a caller what kind of failure this was.
pub fn code_for(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<LeaseHeld>().is_some()
        || matches!(error.downcast_ref(), Some(RunError::LeaseLost(_)))
    {
        EXIT_LEASE_HELD
    } else if error.downcast_ref::<ConfigError>().is_some()
        || error.downcast_ref::<DatabaseUnavailable>().is_some()
    {
        EXIT_CONFIG
    } else {
        1
    }
}

/// Reports `error` on standard error (unless standard output was closed: then nothing is said
/// and the program ends successfully) and returns the exit code.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    if error.downcast_ref::<StdoutClosed>().is_some() {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {}", describe(error));
    ExitCode::from(code_for(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("database: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let inner = std::io::Error::other("unable to open database file");
        let error = anyhow::Error::new(Quoting(inner)).context("opening database x.db");
        assert_eq!(
            describe(&error),
            "opening database x.db: database: unable to open database file"
        );
    }
}
