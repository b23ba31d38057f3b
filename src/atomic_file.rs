//! Files that readers pick up on their own schedule (node_exporter's textfile collector, a web
//! server serving the report) must never be seen half-written: they are written whole to a
//! temporary file in the same folder, synced, and renamed over the target.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `content`. The temporary file is hidden and ends in `.tmp`, so
/// collectors that read `*.prom` or `*.html` ignore it; the result is readable by other users
/// (the exporter or web server usually runs as one), and the rename is synced to the folder.
pub fn replace(path: &Path, content: &[u8]) -> std::io::Result<()> {
    // Renaming over a device, a pipe or a symbolic link would replace it (`/dev/null`,
    // `/dev/stdout`) rather than write through it: only a regular file is replaced.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file: only a regular file (or a new one) is replaced",
            ));
        }
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".mcap-notify-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(content)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("report.html");
        replace(&file, b"one").unwrap();
        replace(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(replace(&link, b"three").is_err());
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(replace(Path::new("/dev/null"), b"x").is_err());
        assert!(replace(dir.path(), b"x").is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
    }
}
