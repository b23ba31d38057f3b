//! Transports: the file transport (one `.eml` per message, the embedded default) and SMTP
//! through lettre's pooled async client, each send bounded by a timeout because lettre's own
//! timeout covers only the connection.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::{Address, AsyncFileTransport, AsyncTransport, Tokio1Executor};

use super::smtp::{SmtpClient, SmtpError};

use crate::config::{Settings, TransportKind};
use crate::store::Mail;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("outbox directory {}: {source}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("smtp.url: {0}")]
    SmtpUrl(String),
    #[error("{0}")]
    Connect(String),
    #[error("message {message_id}: address `{address}`: {reason}")]
    Address {
        message_id: String,
        address: String,
        reason: String,
    },
    #[error("writing the message file: {0}")]
    File(#[from] lettre::transport::file::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("SMTP: no answer within {0:?}")]
    Timeout(Duration),
    #[error("SMTP: {0}")]
    Unconfirmed(String),
}

/// Where messages go.
#[derive(Clone)]
pub enum Transport {
    File {
        dir: PathBuf,
        inner: AsyncFileTransport<Tokio1Executor>,
    },
    Smtp {
        client: SmtpClient,
        timeout: Duration,
    },
}

impl Transport {
    pub fn from_settings(settings: &Settings) -> Result<Transport, TransportError> {
        match settings.delivery.transport {
            TransportKind::File => Transport::file(settings.delivery.file_dir.clone()),
            TransportKind::Smtp => {
                let url = settings
                    .smtp
                    .url
                    .as_ref()
                    .ok_or_else(|| TransportError::SmtpUrl("not set".into()))?;
                Transport::smtp(
                    url.expose(),
                    Duration::from_secs(settings.smtp.timeout_secs),
                    settings.delivery.concurrency as usize,
                )
            }
        }
    }

    /// Writes messages into `dir`, creating it if needed.
    pub fn file(dir: PathBuf) -> Result<Transport, TransportError> {
        std::fs::create_dir_all(&dir).map_err(|source| TransportError::Directory {
            path: dir.clone(),
            source,
        })?;
        Ok(Transport::File {
            inner: AsyncFileTransport::<Tokio1Executor>::new(&dir),
            dir,
        })
    }

    /// Sends through the SMTP server at `url` (`smtp://host:port`, `smtps://...`), keeping up
    /// to `pool` idle connections.
    pub fn smtp(url: &str, timeout: Duration, pool: usize) -> Result<Transport, TransportError> {
        let client = SmtpClient::from_url(url, timeout, pool).map_err(|e| match e {
            SmtpError::Url(reason) => TransportError::SmtpUrl(reason),
            other => TransportError::Connect(other.to_string()),
        })?;
        Ok(Transport::Smtp { client, timeout })
    }

    /// A short description for reports (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Transport::File { dir, .. } => format!("files in {}", dir.display()),
            Transport::Smtp { .. } => "SMTP".into(),
        }
    }

    /// Sends one message to its one recipient.
    pub async fn send(&self, message: &Mail) -> Result<(), TransportError> {
        let address = |s: &str| {
            s.parse::<Address>().map_err(|e| TransportError::Address {
                message_id: message.message_id.clone(),
                address: s.to_string(),
                reason: e.to_string(),
            })
        };
        let envelope = Envelope::new(
            Some(address(&message.envelope_from)?),
            vec![address(&message.recipient)?],
        )
        .map_err(|e| TransportError::Address {
            message_id: message.message_id.clone(),
            address: message.recipient.clone(),
            reason: e.to_string(),
        })?;
        match self {
            Transport::File { inner, .. } => {
                inner.send_raw(&envelope, &message.raw).await?;
            }
            Transport::Smtp { client, timeout } => {
                let sent = tokio::time::timeout(*timeout, client.send(&envelope, &message.raw))
                    .await
                    .map_err(|_| TransportError::Timeout(*timeout))?;
                match sent {
                    Ok(()) => {}
                    Err(SmtpError::Smtp(e)) => return Err(TransportError::Smtp(e)),
                    Err(e @ SmtpError::Unconfirmed(_)) => {
                        return Err(TransportError::Unconfirmed(e.to_string()))
                    }
                    Err(other) => return Err(TransportError::Connect(other.to_string())),
                }
            }
        }
        Ok(())
    }
}
