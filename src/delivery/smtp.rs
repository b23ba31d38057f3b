//! The SMTP client: lettre's connection, with connections of our own making and a small pool.
//! Our own sockets get TCP_NODELAY: without it each message waits out a delayed
//! acknowledgement (about 40 ms), which caps a connection near 20 messages a second. Writes are
//! held until the client next waits for a reply, so a message and its closing dot leave in one
//! segment.
//!
//! A message is never sent twice in one attempt. A pooled connection is checked with RSET before
//! reuse, and only a connection that fails before the transaction has begun (the RSET, or
//! `MAIL FROM` without a reply) is replaced at once by a fresh one. Once the final dot has
//! gone, a missing answer is [`SmtpError::Unconfirmed`]: the message may have arrived, so it
//! takes the ordinary retry path with its backoff rather than an immediate resend.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
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
    #[error("no answer after the message was sent (it may have arrived): {0}")]
    Unconfirmed(lettre::transport::smtp::Error),
    #[error("{0}")]
    Unsupported(&'static str),
}

/// How one transaction on one connection failed.
enum Failed {
    /// A pooled connection that turned out dead before the transaction began: nothing of the
    /// message reached the server, so a fresh connection may try it at once.
    Stale,
    /// The server's verdict, or a failure once the transaction was under way.
    Final(SmtpError),
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

    /// Sends one message in one SMTP transaction: on a pooled connection if one is alive, else
    /// (or if the pooled one proves stale before the transaction begins) on a fresh one.
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SmtpError> {
        if let Some(connection) = self.take_idle() {
            match self.transact(connection, true, envelope, raw).await {
                Ok(()) => return Ok(()),
                Err(Failed::Final(e)) => return Err(e),
                Err(Failed::Stale) => {}
            }
        }
        let connection = self.connect().await?;
        match self.transact(connection, false, envelope, raw).await {
            Ok(()) => Ok(()),
            Err(Failed::Final(e)) => Err(e),
            Err(Failed::Stale) => unreachable!("only a pooled connection is stale"),
        }
    }

    /// One transaction, step by step, so that a failure is known to come before the
    /// transaction, inside it, or after the message was sent. A connection that failed is
    /// closed; one that succeeded goes back to the pool.
    async fn transact(
        &self,
        mut connection: AsyncSmtpConnection,
        pooled: bool,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<(), Failed> {
        let result = Self::steps(&mut connection, pooled, envelope, raw).await;
        match &result {
            Ok(()) => self.put_idle(connection),
            Err(_) => connection.abort().await,
        }
        result
    }

    async fn steps(
        connection: &mut AsyncSmtpConnection,
        pooled: bool,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<(), Failed> {
        let inside = |e: lettre::transport::smtp::Error| Failed::Final(e.into());
        if pooled && connection.command(Rset).await.is_err() {
            return Err(Failed::Stale);
        }
        let mail = Mail::new(
            envelope.from().cloned(),
            Self::mail_parameters(connection, envelope, raw).map_err(Failed::Final)?,
        );
        match connection.command(mail).await {
            Ok(_) => {}
            Err(e) if pooled && e.status().is_none() => return Err(Failed::Stale),
            Err(e) => return Err(inside(e)),
        }
        for recipient in envelope.to() {
            connection
                .command(Rcpt::new(recipient.clone(), vec![]))
                .await
                .map_err(inside)?;
        }
        connection.command(Data).await.map_err(inside)?;
        match connection.message(raw).await {
            Ok(_) => Ok(()),
            // A reply is the server's verdict on this message.
            Err(e) if e.status().is_some() => Err(inside(e)),
            Err(e) => Err(Failed::Final(SmtpError::Unconfirmed(e))),
        }
    }

    /// SMTPUTF8 for non-ASCII addresses, 8BITMIME for a non-ASCII body, as the server allows.
    fn mail_parameters(
        connection: &AsyncSmtpConnection,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<Vec<MailParameter>, SmtpError> {
        let server = connection.server_info();
        let mut parameters = Vec::new();
        let non_ascii_address = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_address {
            if !server.supports_feature(Extension::SmtpUtfEight) {
                return Err(SmtpError::Unsupported(
                    "the envelope has non-ASCII addresses but the server lacks SMTPUTF8",
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !raw.is_ascii() {
            if !server.supports_feature(Extension::EightBitMime) {
                return Err(SmtpError::Unsupported(
                    "the message is not ASCII but the server lacks 8BITMIME",
                ));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        Ok(parameters)
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
