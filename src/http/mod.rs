//! `serve`: the web server behind the links in every digest. It listens on `http.listen`
//! (plain HTTP: a TLS-terminating proxy at the address `mail.unsubscribe_url` names forwards to
//! it) and answers the unsubscribe path of that URL, plus `/healthz`.

pub mod unsubscribe;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

use crate::app::App;
use crate::config::ConfigError;

/// Requests are small forms; anything larger is refused before it is read.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// The bound listener and its routes, ready to serve.
pub struct Server {
    pub address: SocketAddr,
    pub path: String,
    listener: tokio::net::TcpListener,
    router: Router,
}

/// Binds `http.listen`; an address that cannot be taken is a configuration error naming it.
pub async fn bind(app: Arc<App>) -> Result<Server, ConfigError> {
    let listen = app.settings.http.listen.clone();
    let cannot = |e: std::io::Error| ConfigError::Invalid {
        key: "http.listen",
        reason: format!("cannot listen on {listen}: {e}"),
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(cannot)?;
    let address = listener.local_addr().map_err(cannot)?;
    let path = unsubscribe::path(&app.settings.mail.unsubscribe_url);
    let router = Router::new()
        .route(&path, get(unsubscribe::page).post(unsubscribe::one_click))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app);
    Ok(Server {
        address,
        path,
        listener,
        router,
    })
}

impl Server {
    /// Serves until `shutdown` resolves, then finishes the requests in hand.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// How long requests in hand may take to finish after SIGTERM; a client that holds its
/// connection open longer is cut off.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// `serve`: binds, says where (with port 0 nobody else knows), serves until SIGTERM or SIGINT,
/// then lets the requests in hand finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve_until_signalled(app: Arc<App>) -> anyhow::Result<()> {
    let signalled = crate::scheduler::on_signals();
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signalled.await;
        let _ = stopping.send(true);
    });
    let server = bind(app).await?;
    tracing::info!(address = %server.address, path = %server.path, "serving unsubscribe links");
    crate::exit::print_out(format_args!(
        "unsubscribe links served on http://{}{} (also /healthz)\n",
        server.address, server.path
    ))?;
    let mut until_stop = stop.clone();
    let mut until_grace_over = stop;
    let served = server.serve(async move {
        let _ = until_stop.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        result = served => result?,
        _ = async {
            let _ = until_grace_over.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("stopped with requests still open after the grace period"),
    }
    Ok(())
}
