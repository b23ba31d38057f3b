//! The daemon's HTTP listener on `metrics.listen`: `/metrics` for Prometheus, `/healthz`
//! (the process answers) and `/readyz` (the database answers; who holds the batch lease).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;

use crate::app::App;
use crate::config::ConfigError;
use crate::store::RunHistory;

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The running listener; dropping it stops it.
pub struct MetricsServer {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts listening on `metrics.listen` (None when it is empty). An address that cannot be
/// taken (in use, not ours) is a configuration error naming the key.
pub async fn start(app: Arc<App>) -> Result<Option<MetricsServer>, ConfigError> {
    let listen = app.settings.metrics.listen.clone();
    if listen.is_empty() {
        return Ok(None);
    }
    let cannot = |e: std::io::Error| ConfigError::Invalid {
        key: "metrics.listen",
        reason: format!("cannot listen on {listen}: {e}"),
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(cannot)?;
    let address = listener.local_addr().map_err(cannot)?;
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(app);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    tracing::info!(%address, "metrics listening on http://{address}/metrics");
    // Whatever the log level, say where: with port 0 nobody else knows.
    let _ = crate::exit::print_out(format_args!(
        "metrics on http://{address}/metrics (also /healthz, /readyz)\n"
    ));
    Ok(Some(MetricsServer { address, task }))
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    match super::gather(&app, Utc::now()).await {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    let now = Utc::now();
    if let Some(why) = app.store.file_gone() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "database": format!("unavailable: {why}") })),
        )
            .into_response();
    }
    match app.store.batch_lease().await {
        Ok(lease) => {
            let lease = match lease {
                None => "free".to_string(),
                Some(l) if l.expires_at <= now => {
                    format!(
                        "free (the lease of {} expired at {})",
                        l.holder,
                        l.expires_at.to_rfc3339()
                    )
                }
                Some(l) => format!("held by {} until {}", l.holder, l.expires_at.to_rfc3339()),
            };
            axum::Json(serde_json::json!({"database": "ok", "lease": lease})).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"database": format!("unavailable: {e}")})),
        )
            .into_response(),
    }
}
