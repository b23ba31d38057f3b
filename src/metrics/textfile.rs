//! The metrics as a node_exporter textfile, for the one-shot commands run by timers: written
//! whole to a temporary file beside the target, flushed to disk and renamed over it, so a
//! reader only ever sees a complete file.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chrono::Utc;

use crate::app::App;

/// Writes the current metrics to `metrics.textfile` when it is set. Failing to read or write
/// them is a warning: the command's own work is done either way.
pub async fn refresh(app: &App) {
    let Some(path) = &app.settings.metrics.textfile else {
        return;
    };
    let text = match super::gather(app, Utc::now()).await {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "metrics textfile {} not written", path.display());
            return;
        }
    };
    if let Err(e) = write_atomically(path, text.as_bytes()) {
        tracing::warn!(path = %path.display(), error = %e, "metrics textfile {} not written", path.display());
    }
}

/// Replaces `path` with `content` atomically: a temporary file in the same folder (named so
/// that node_exporter, which reads `*.prom`, ignores it), synced, then renamed over `path`.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".mcap-notify-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(content)?;
    // The exporter usually runs as another user.
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    // The rename itself survives a crash once the folder is synced.
    std::fs::File::open(dir)?.sync_all()
}
