//! The metrics as a node_exporter textfile, for the one-shot commands run by timers: written
//! whole to a temporary file beside the target, flushed to disk and renamed over it, so a
//! reader only ever sees a complete file.

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
    if let Err(e) = crate::atomic_file::replace(path, text.as_bytes()) {
        tracing::warn!(path = %path.display(), error = %e, "metrics textfile {} not written", path.display());
    }
}
