//! Transports: the file transport (one `.eml` per message, the embedded default) and SMTP
//! through lettre's pooled async client, each send bounded by a timeout because lettre's own
//! timeout covers only the connection.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncFileTransport, AsyncTransport, Tokio1Executor};

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
}

/// Where messages go.
#[derive(Clone)]
pub enum Transport {
    File {
        dir: PathBuf,
        inner: AsyncFileTransport<Tokio1Executor>,
    },
    Smtp {
        inner: AsyncSmtpTransport<Tokio1Executor>,
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

    /// Sends through the SMTP server at `url` (`smtp://host:port`, `smtps://...`).
    pub fn smtp(url: &str, timeout: Duration) -> Result<Transport, TransportError> {
        let inner = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // Never echo the URL: it may hold a password.
            .map_err(|e| TransportError::SmtpUrl(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        Ok(Transport::Smtp { inner, timeout })
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
            Transport::Smtp { inner, timeout } => {
                tokio::time::timeout(*timeout, inner.send_raw(&envelope, &message.raw))
                    .await
                    .map_err(|_| TransportError::Timeout(*timeout))??;
            }
        }
        Ok(())
    }
}
