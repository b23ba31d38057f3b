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
