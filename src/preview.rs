//! Preview: the digest an account would get from the next run, built exactly as a run builds
//! it but from a read of the database that claims nothing, opens no run and queues nothing, so
//! an operator can check an address, a template or a subject before anything is sent.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::TryStreamExt;
use mail_parser::MessageParser;

use crate::app::App;
use crate::batch::digest::AccountNews;
use crate::batch::message::BuiltPart;
use crate::batch::{Digest, DigestGrouper, MessageError, MessageFactory};
use crate::hearings::DateRules;
use crate::outln;
use crate::store::watches::WatchStore;
use crate::store::{AccountStanding, BatchStore, DateStore, RunScope, StoreError, EVERY_ENTRY};

#[derive(Debug, Args)]
#[command(
    about = "Show what an account's next digest would be (To, Subject and the text; --html \
        writes the HTML), changing nothing",
    long_about = "Show the digest an account would get from the next run: its To and Subject \
        headers and its plain-text part on standard output, and with --html its HTML part in a \
        file. Nothing in the database changes: no entry is claimed, no run is opened, nothing \
        is queued, and the next run still sends what the preview showed.\n\n\
        An account with nothing pending says so and succeeds; an account whose address is not \
        verified or is suppressed is said to be skipped, with the reason. An unknown account \
        is an error (exit code 1)."
)]
pub struct PreviewArgs {
    /// The account whose next digest to show.
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// Also write the HTML part to FILE (replaced atomically; `-` prints it after the text);
    /// a digest split over several messages writes part N (N > 1) next to it as
    /// FILE-partN.html. Its unsubscribe links name no queued message, so they do not work.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no account `{0}`")]
    UnknownAccount(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Build(#[from] MessageError),
    #[error("reading back the message built for account {account_id}")]
    Unreadable { account_id: String },
}

/// One message of a previewed digest, in the parts a reader sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub entries: usize,
}

/// What the next run would do for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// No entry is pending for it.
    Nothing { email: String },
    /// Entries are pending but the run would not write to it.
    Skipped {
        email: String,
        reason: &'static str,
        entries: usize,
    },
    /// The messages the run would queue: one, or several when the digest is split by size.
    Messages(Vec<PreviewMessage>),
}

/// The account's pending digest, gathered from the entries the next run would claim and the
/// pairs earlier runs held aside, and the court dates a run at `now` would tell it of, as
/// [`crate::batch::run_batch`] gathers them for a dry run.
async fn pending_digest<S: BatchStore + DateStore + WatchStore>(
    store: &S,
    rules: Option<&DateRules>,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Digest>, StoreError> {
    let range = store.preview_run(EVERY_ENTRY).await?;
    let scope = RunScope::Preview {
        up_to_seq: range.last_seq.unwrap_or(0),
    };
    let mut rows = store.match_rows(scope);
    let mut grouper = DigestGrouper::default();
    // Rows come in account order: the account's rows are together.
    while let Some(row) = rows.try_next().await? {
        match row.account_id.as_str() {
            id if id == account_id => {
                grouper.push(row);
            }
            id if id > account_id => break,
            _ => {}
        }
    }
    let digest = grouper.finish();
    let dates = match rules {
        Some(rules) => {
            let horizon = crate::hearings::plan::horizon(&rules.calendar, now);
            let candidates = store.date_candidates(now, horizon).await?;
            crate::hearings::plan::plan(&rules.calendar, &rules.reminders, candidates, now)
        }
        None => Default::default(),
    };
    let waiting = store.waiting_watch_notices().await?;
    let mut news = AccountNews::gather(dates, waiting.notices, waiting.pauses);
    Ok(match (digest, news.remove(account_id)) {
        (Some(digest), Some(news)) => Some(digest.with_news(news)),
        (None, Some(news)) => Some(Digest::of_news(news)),
        (digest, None) => digest,
    })
}

/// Reads a built message back into its headers and bodies.
fn readable(part: &BuiltPart, account_id: &str) -> Result<PreviewMessage, PreviewError> {
    let unreadable = || PreviewError::Unreadable {
        account_id: account_id.to_string(),
    };
    let mail = &part.message.mail;
    let parsed = MessageParser::default()
        .parse(&mail.raw)
        .ok_or_else(unreadable)?;
    Ok(PreviewMessage {
        to: mail.recipient.clone(),
        subject: mail.subject.clone(),
        text: parsed
            .body_text(0)
            .ok_or_else(unreadable)?
            .replace("\r\n", "\n"),
        html: parsed
            .body_html(0)
            .ok_or_else(unreadable)?
            .replace("\r\n", "\n"),
        entries: part.message.entry_seqs.len(),
    })
}

/// What the next run would do for `account_id` at instant `now`, changing nothing; with
/// `rules`, the court dates it would tell of too.
pub async fn preview<S: BatchStore + DateStore + WatchStore>(
    store: &S,
    factory: &MessageFactory,
    rules: Option<&DateRules>,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<Preview, PreviewError> {
    let Some(AccountStanding {
        email,
        email_verified,
        suppressed,
    }) = store.account_standing(account_id).await?
    else {
        return Err(PreviewError::UnknownAccount(account_id.to_string()));
    };
    let Some(digest) = pending_digest(store, rules, account_id, now).await? else {
        return Ok(Preview::Nothing { email });
    };
    let reason = if !email_verified {
        Some("its address is not verified")
    } else if suppressed {
        Some("its address is suppressed (see `suppressions`)")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Ok(Preview::Skipped {
            email,
            reason,
            entries: digest.entry_count(),
        });
    }
    // Run id 0: no run is opened; the id only names the message.
    let parts = factory.build_parts(0, &digest, now)?;
    let messages = parts
        .iter()
        .map(|part| readable(part, account_id))
        .collect::<Result<_, _>>()?;
    Ok(Preview::Messages(messages))
}

/// Where the HTML of part `index` (from 0) goes.
fn html_path(file: &Path, index: usize) -> PathBuf {
    if index == 0 {
        return file.to_path_buf();
    }
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!("{stem}-part{}.html", index + 1))
}

/// The `preview` command.
pub async fn execute(app: &App, args: &PreviewArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let factory = app.message_factory()?;
    let account = &args.account;
    let rules = app.date_rules().await?;
    let preview = preview(&app.store, &factory, Some(&rules), account, Utc::now()).await?;
    if let Some(run_id) = app.store.preview_run(EVERY_ENTRY).await?.unfinished_run {
        outln!(
            "note: run {run_id} is unfinished (interrupted, or going on now): the next run \
             resumes it first, and what it claimed is not shown here (see `runs show {run_id}`)"
        );
    }
    match preview {
        Preview::Nothing { email } => {
            outln!("account {account} ({email}): nothing pending; the next run sends it nothing")
        }
        Preview::Skipped {
            email,
            reason,
            entries,
        } => {
            outln!(
            "account {account} ({email}) would be skipped: {reason}; {entries} pending {} not sent",
            if entries == 1 { "entry is" } else { "entries are" }
        )
        }
        Preview::Messages(messages) => {
            let of = messages.len();
            for (index, message) in messages.iter().enumerate() {
                if index > 0 {
                    outln!("");
                }
                if of > 1 {
                    outln!("# message {} of {of}", index + 1);
                }
                outln!("To: {}", message.to);
                outln!("Subject: {}", message.subject);
                outln!("");
                crate::out!("{}", message.text);
                match &args.html {
                    Some(file) if file == Path::new("-") => crate::out!("{}", message.html),
                    Some(file) => {
                        let path = html_path(file, index);
                        crate::atomic_file::replace(&path, message.html.as_bytes())
                            .with_context(|| format!("writing {}", path.display()))?;
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_parts_are_written_beside_the_first() {
        let file = Path::new("/tmp/out/next.html");
        assert_eq!(html_path(file, 0), file);
        assert_eq!(html_path(file, 2), Path::new("/tmp/out/next-part3.html"));
    }
}
