//! A Maildir read as mail readers read one: unseen mail is what sits in `new/`, or in `cur/`
//! without the Seen flag; once handled, a mail moves to `cur/` with `S` added to its info suffix
//! (`:2,S`), so reading the Maildir again finds nothing more to do.

use std::io;
use std::path::{Path, PathBuf};

/// Whether `dir` looks like a Maildir (it has `new/` or `cur/`).
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("new").is_dir() || dir.join("cur").is_dir()
}

/// The flags of a file name in `cur/` (what follows `:2,`), if it has an info suffix.
fn flags(name: &str) -> Option<&str> {
    name.rsplit_once(":2,").map(|(_, flags)| flags)
}

/// The unseen mails of the Maildir at `dir`, in name order (delivery order for the usual names).
pub fn unseen(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (sub, wanted) in [("new", None), ("cur", Some(()))] {
        let sub = dir.join(sub);
        if !sub.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&sub)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let seen = wanted.is_some() && flags(&name).is_some_and(|f| f.contains('S'));
            if !name.starts_with('.') && !seen {
                files.push(entry.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Marks a mail seen: moves it to `cur/` with the `S` flag added (flags stay in ASCII order).
pub fn mark_seen(file: &Path) -> io::Result<PathBuf> {
    let name = file
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a mail file"))?
        .to_string_lossy()
        .into_owned();
    let maildir = file
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not in a Maildir"))?;
    let (base, mut flags) = match name.rsplit_once(":2,") {
        Some((base, flags)) => (base.to_string(), flags.chars().collect::<Vec<_>>()),
        None => (name.clone(), Vec::new()),
    };
    if !flags.contains(&'S') {
        flags.push('S');
        flags.sort_unstable();
    }
    let target = maildir.join("cur").join(format!(
        "{base}:2,{}",
        flags.into_iter().collect::<String>()
    ));
    std::fs::create_dir_all(maildir.join("cur"))?;
    std::fs::rename(file, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_mail_moves_to_cur_marked_seen_and_is_not_listed_again() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("new/1.a"), "x").unwrap();
        std::fs::write(dir.path().join("cur/2.b:2,R"), "x").unwrap();
        std::fs::write(dir.path().join("cur/3.c:2,S"), "x").unwrap();
        std::fs::write(dir.path().join("tmp/4.d"), "x").unwrap();
        let unseen_now = unseen(dir.path()).unwrap();
        assert_eq!(
            unseen_now,
            vec![dir.path().join("new/1.a"), dir.path().join("cur/2.b:2,R")]
        );
        for file in &unseen_now {
            mark_seen(file).unwrap();
        }
        assert!(dir.path().join("cur/1.a:2,S").exists());
        assert!(dir.path().join("cur/2.b:2,RS").exists());
        assert!(unseen(dir.path()).unwrap().is_empty());
    }
}
