//! The SMTP client: lettre's connection, with connections of our own making and a small pool.
//! Our own sockets get TCP_NODELAY: without it each message waits out a delayed
//! acknowledgement (about 40 ms), which caps a connection near 20 messages a second. A pooled
//! connection the server has closed meanwhile is detected by the send and the message is tried
//! once more on a fresh connection, so an idle timeout never costs a retry cycle. Writes are
//! held until the client next waits for a reply, so a message and its closing dot leave in one
//! segment.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that sends what was written only when the client next reads (or when much has
/// piled up): an SMTP client always reads a reply after each command or message, so nothing
/// waits, and the pieces of one command leave together.
#[derive(Debug)]
struct CoalescingStream {
    inner: TcpStream,
    pending: Vec<u8>,
    sent: usize,
}

/// Past this many unsent bytes, writes go out without waiting for a read.
const COALESCE_LIMIT: usize = 64 * 1024;

impl CoalescingStream {
    fn new(inner: TcpStream) -> Self {
        CoalescingStream {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncTokioStream for CoalescingStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

impl AsyncRead for CoalescingStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CoalescingStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= COALESCE_LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        this.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// Deferred to the next read (see the type's note).
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Idle connections older than this are closed rather than reused.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("smtp.url: {0}")]
    Url(String),
    #[error("connecting to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// No TLS.
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS, or fail.
    Required,
    /// TLS from the first byte (smtps).
    Wrapper,
}

struct Inner {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    connect_timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle: usize,
}

/// A cloneable handle on one SMTP server and its pool of idle connections.
#[derive(Clone)]
pub struct SmtpClient {
    inner: Arc<Inner>,
}

impl SmtpClient {
    /// `smtp://[user:pass@]host[:port][?tls=none|opportunistic|required]` or
    /// `smtps://[user:pass@]host[:port]`. The URL is never echoed in errors: it may hold a
    /// password.
    pub fn from_url(
        url: &str,
        connect_timeout: Duration,
        max_idle: usize,
    ) -> Result<SmtpClient, SmtpError> {
        let parsed = url::Url::parse(url).map_err(|e| SmtpError::Url(e.to_string()))?;
        let (mut security, default_port) = match parsed.scheme() {
            "smtp" => (Security::None, 25),
            "smtps" => (Security::Wrapper, 465),
            other => {
                return Err(SmtpError::Url(format!(
                    "scheme `{other}` is not smtp or smtps"
                )))
            }
        };
        for (key, value) in parsed.query_pairs() {
            match (key.as_ref(), value.as_ref(), security) {
                ("tls", "none", Security::None) => {}
                ("tls", "opportunistic", Security::None) => security = Security::Opportunistic,
                ("tls", "required", Security::None) => security = Security::Required,
                _ => {
                    return Err(SmtpError::Url(format!(
                        "unsupported parameter `{key}={value}` (smtp:// takes tls=none, opportunistic or required)"
                    )))
                }
            }
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| SmtpError::Url("no host".into()))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let credentials = (!parsed.username().is_empty()).then(|| {
            Credentials::new(
                percent_decode(parsed.username()),
                percent_decode(parsed.password().unwrap_or_default()),
            )
        });
        Ok(SmtpClient {
            inner: Arc::new(Inner {
                port: parsed.port().unwrap_or(default_port),
                host,
                security,
                credentials,
                hello: ClientId::default(),
                connect_timeout,
                idle: Mutex::new(Vec::new()),
                max_idle,
            }),
        })
    }

    fn tls(&self) -> Result<TlsParameters, SmtpError> {
        Ok(TlsParameters::new(self.inner.host.clone())?)
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let inner = &self.inner;
        let target = format!("{}:{}", inner.host, inner.port);
        let mut connection = if inner.security == Security::Wrapper {
            AsyncSmtpConnection::connect_tokio1(
                (inner.host.as_str(), inner.port),
                Some(inner.connect_timeout),
                &inner.hello,
                Some(self.tls()?),
                None,
            )
            .await?
        } else {
            let stream = tokio::time::timeout(
                inner.connect_timeout,
                TcpStream::connect((inner.host.as_str(), inner.port)),
            )
            .await
            .map_err(|_| SmtpError::Connect {
                target: target.clone(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"),
            })?
            .map_err(|source| SmtpError::Connect {
                target: target.clone(),
                source,
            })?;
            stream
                .set_nodelay(true)
                .map_err(|source| SmtpError::Connect {
                    target: target.clone(),
                    source,
                })?;
            let stream = CoalescingStream::new(stream);
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &inner.hello).await?
        };
        let starttls = match inner.security {
            Security::Required => true,
            Security::Opportunistic => connection.can_starttls(),
            Security::None | Security::Wrapper => false,
        };
        if starttls {
            connection.starttls(self.tls()?, &inner.hello).await?;
        }
        if let Some(credentials) = &inner.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(connection)
    }

    /// An idle connection young enough to reuse, if there is one.
    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.inner.idle.lock().expect("pool lock");
        while let Some((connection, since)) = idle.pop() {
            if since.elapsed() < IDLE_LIMIT && !connection.has_broken() {
                return Some(connection);
            }
        }
        None
    }

    fn put_idle(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.inner.idle.lock().expect("pool lock");
        if idle.len() < self.inner.max_idle && !connection.has_broken() {
            idle.push((connection, Instant::now()));
        }
    }

    /// Sends one message in one SMTP transaction.
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SmtpError> {
        if let Some(mut connection) = self.take_idle() {
            match connection.send(envelope, raw).await {
                Ok(_) => {
                    self.put_idle(connection);
                    return Ok(());
                }
                // A reply is the server's verdict on this message; anything else means the
                // pooled connection had died, so try once more on a fresh one.
                Err(e) if e.status().is_some() => return Err(e.into()),
                Err(_) => {}
            }
        }
        let mut connection = self.connect().await?;
        connection.send(envelope, raw).await?;
        self.put_idle(connection);
        Ok(())
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
