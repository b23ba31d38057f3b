//! Mail read from where operators keep it: one message, an mbox, a folder of message files or a
//! Maildir (its unseen mails), or standard input. Bounces and unsubscribe requests arrive this
//! way; each reader marks a Maildir's mail seen once it has handled it.

pub mod maildir;

use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> MailboxError + '_ {
    move |source| MailboxError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Marks a mail read from a Maildir seen (moves it to `cur/` with the `S` flag).
pub fn mark_seen(mail: &SourceMail) -> Result<(), MailboxError> {
    if let Some(file) = &mail.maildir_file {
        maildir::mark_seen(file).map_err(read_error(file))?;
    }
    Ok(())
}

/// One mail and where it came from.
pub struct SourceMail {
    pub source: String,
    pub raw: Vec<u8>,
    /// The Maildir file it was read from, marked seen once the mail is handled.
    pub maildir_file: Option<PathBuf>,
}

impl SourceMail {
    pub fn new(source: impl Into<String>, raw: Vec<u8>) -> SourceMail {
        SourceMail {
            source: source.into(),
            raw,
            maildir_file: None,
        }
    }
}

/// Splits an mbox (mboxrd: `>From ` lines are unescaped) into its messages.
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut started = false;
    let mut previous_blank = true;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") && previous_blank {
            if started && !current.is_empty() {
                messages.push(std::mem::take(&mut current));
            }
            started = true;
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        let unescaped = match line.iter().position(|&b| b != b'>') {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
            _ => line,
        };
        current.extend_from_slice(unescaped);
    }
    if !current.is_empty() {
        messages.push(current);
    }
    messages
}

/// Reads the mails at `path`: `-` (standard input), a Maildir (its unseen mails), a directory
/// of message files, an mbox, or a single message.
pub fn read_mails(path: &Path) -> Result<Vec<SourceMail>, MailboxError> {
    if path == Path::new("-") {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(read_error(path))?;
        return Ok(split_file("<stdin>", data));
    }
    if path.is_dir() {
        let in_maildir = maildir::is_maildir(path);
        let files = if in_maildir {
            maildir::unseen(path).map_err(read_error(path))?
        } else {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(read_error(path))? {
                let entry = entry.map_err(read_error(path))?;
                if entry.file_type().map_err(read_error(path))?.is_file() {
                    files.push(entry.path());
                }
            }
            files.sort();
            files
        };
        let mut mails = Vec::new();
        for file in files {
            let raw = std::fs::read(&file).map_err(read_error(&file))?;
            mails.push(SourceMail {
                source: file.display().to_string(),
                raw,
                maildir_file: in_maildir.then(|| file.clone()),
            });
        }
        return Ok(mails);
    }
    let data = std::fs::read(path).map_err(read_error(path))?;
    Ok(split_file(&path.display().to_string(), data))
}

fn split_file(name: &str, data: Vec<u8>) -> Vec<SourceMail> {
    if data.starts_with(b"From ") {
        split_mbox(&data)
            .into_iter()
            .enumerate()
            .map(|(i, raw)| SourceMail::new(format!("{name}#{}", i + 1), raw))
            .collect()
    } else {
        vec![SourceMail::new(name, data)]
    }
}
