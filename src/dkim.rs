//! DKIM: every message is signed for `dkim.domain` when it is built for the outbox, so the
//! stored message is the signed one and delivery sends it unchanged; and the DNS record that
//! receivers need to check those signatures (`mcap-notify dkim-record`).
//!
//! The signing itself is lettre's (relaxed/relaxed, RSA-SHA256 or Ed25519-SHA256); this module
//! reads the key (RSA in PKCS#1 or PKCS#8 PEM, Ed25519 in PKCS#8 PEM), checks it and the
//! settings once at start, and hands lettre the message in the shape its signer expects.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::Body;
use lettre::Message;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::{
    der::SecretDocument, DecodePrivateKey as _, EncodePublicKey as _, LineEnding, PrivateKeyInfo,
};
use rsa::traits::PublicKeyParts as _;

use crate::config::{CheckedDkim, ConfigError, DkimSettings, DkimSettingsError, Settings};

/// The headers every signature covers. One that a message lacks is still listed, so that
/// nobody can add it after signing without breaking the signature; those a message has once
/// and a reader shows are listed twice ("oversigned", RFC 6376 8.15), so a second copy added
/// on the way breaks it too.
pub const SIGNED_HEADERS: [&str; 20] = [
    "From",
    "From",
    "To",
    "To",
    "Subject",
    "Subject",
    "Date",
    "Date",
    "Message-ID",
    "Message-ID",
    "Reply-To",
    "Cc",
    "Sender",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Auto-Submitted",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// The smallest RSA key accepted (RFC 8301 requires at least 1024 bits; receivers such as
/// Gmail want 2048).
pub const MIN_RSA_BITS: usize = 2048;

/// The three keys that turn signing on, in the order they are named.
/// The sender and recipient of the copy that is signed, replaced by the message's own.
const PLACEHOLDER: &str = "signer@invalid.invalid";

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error(transparent)]
    Settings(#[from] DkimSettingsError),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a private key: {reason}")]
    NotAKey { path: PathBuf, reason: String },
    #[error(
        "{path} holds a key of an unsupported algorithm ({algorithm}): use RSA of at least \
         {MIN_RSA_BITS} bits or Ed25519"
    )]
    UnknownAlgorithm { path: PathBuf, algorithm: String },
    #[error("{path} holds a {bits}-bit RSA key: DKIM keys need at least {MIN_RSA_BITS} bits")]
    WeakRsa { path: PathBuf, bits: usize },
    #[error(
        "is not set: set dkim.domain, dkim.selector and dkim.private_key_file (environment \
         MCAP_NOTIFY__DKIM__DOMAIN, MCAP_NOTIFY__DKIM__SELECTOR, \
         MCAP_NOTIFY__DKIM__PRIVATE_KEY_FILE) to sign messages and print their DNS record"
    )]
    NotConfigured,
}

impl DkimError {
    /// The configuration key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            DkimError::Settings(e) => e.key(),
            DkimError::NotConfigured => "dkim.domain",
            DkimError::Unreadable { .. }
            | DkimError::NotAKey { .. }
            | DkimError::UnknownAlgorithm { .. }
            | DkimError::WeakRsa { .. } => "dkim.private_key_file",
        }
    }
}

impl From<DkimError> for ConfigError {
    fn from(error: DkimError) -> Self {
        ConfigError::Invalid {
            key: error.key(),
            reason: error.to_string(),
        }
    }
}

/// A private key that was read and checked, with its public half for the DNS record.
enum SigningKey {
    Rsa(rsa::RsaPrivateKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl SigningKey {
    fn read(path: &Path) -> Result<SigningKey, DkimError> {
        let text = std::fs::read_to_string(path).map_err(|source| DkimError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        warn_if_others_can_read(path);
        let not_a_key = |reason: String| DkimError::NotAKey {
            path: path.to_path_buf(),
            reason,
        };
        if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(&text)
                .map_err(|e| not_a_key(format!("unreadable PKCS#1 RSA key: {e}")))?;
            return SigningKey::Rsa(key).checked(path);
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(not_a_key(
                "the key is encrypted; store it unencrypted, readable only by the service".into(),
            ));
        }
        if !text.contains("-----BEGIN PRIVATE KEY-----") {
            let found = text
                .lines()
                .find(|l| l.starts_with("-----BEGIN "))
                .map(|l| format!("it holds `{}`", l.trim()))
                .unwrap_or_else(|| "no PEM block found".into());
            return Err(not_a_key(format!(
                "{found}; expected `-----BEGIN PRIVATE KEY-----` (PKCS#8) or \
                 `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1)"
            )));
        }
        let (_, document) = SecretDocument::from_pem(text.trim())
            .map_err(|e| not_a_key(format!("unreadable PEM: {e}")))?;
        let info = PrivateKeyInfo::try_from(document.as_bytes())
            .map_err(|e| not_a_key(format!("unreadable PKCS#8 key: {e}")))?;
        let key = match info.algorithm.oid.to_string().as_str() {
            OID_RSA => SigningKey::Rsa(
                rsa::RsaPrivateKey::from_pkcs8_der(document.as_bytes())
                    .map_err(|e| not_a_key(format!("unreadable PKCS#8 RSA key: {e}")))?,
            ),
            OID_ED25519 => SigningKey::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(document.as_bytes())
                    .map_err(|e| not_a_key(format!("unreadable PKCS#8 Ed25519 key: {e}")))?,
            ),
            other => {
                return Err(DkimError::UnknownAlgorithm {
                    path: path.to_path_buf(),
                    algorithm: format!("OID {other}"),
                })
            }
        };
        key.checked(path)
    }

    fn checked(self, path: &Path) -> Result<SigningKey, DkimError> {
        if let SigningKey::Rsa(key) = &self {
            // The modulus's own length: a 2047-bit key takes 256 bytes too.
            let bits = key.n().bits();
            if bits < MIN_RSA_BITS {
                return Err(DkimError::WeakRsa {
                    path: path.to_path_buf(),
                    bits,
                });
            }
        }
        Ok(self)
    }

    /// The `k=` tag of the DNS record.
    fn kind(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "rsa",
            SigningKey::Ed25519(_) => "ed25519",
        }
    }

    /// The `p=` tag: the DER public key for RSA (RFC 6376), the bare 32 bytes for Ed25519
    /// (RFC 8463), in base64.
    fn public_base64(&self) -> String {
        let bytes = match self {
            SigningKey::Rsa(key) => key
                .to_public_key()
                .to_public_key_der()
                .expect("an RSA public key encodes")
                .as_bytes()
                .to_vec(),
            SigningKey::Ed25519(key) => key.verifying_key().to_bytes().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The key in the form lettre's signer reads.
    fn for_lettre(&self) -> DkimSigningKey {
        let made = match self {
            SigningKey::Rsa(key) => {
                let pem = key
                    .to_pkcs1_pem(LineEnding::LF)
                    .expect("an RSA private key encodes");
                DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa)
            }
            SigningKey::Ed25519(key) => DkimSigningKey::new(
                &base64::engine::general_purpose::STANDARD.encode(key.to_bytes()),
                DkimSigningAlgorithm::Ed25519,
            ),
        };
        made.expect("lettre reads the key it was given in its own form")
    }
}

/// A signing key others can read lets them sign as the domain: say so (it still works).
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "dkim.private_key_file can be read by other users: `chmod 600` it"
            );
        }
    }
}

/// Signs messages for one domain and selector with one key.
pub struct DkimSigner {
    domain: String,
    selector: String,
    key: SigningKey,
    config: DkimConfig,
}

impl fmt::Debug for DkimSigner {
    // The key never shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.key.kind())
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// The signer `settings` ask for (see [`DkimSigner::from_settings`]), an error as a
    /// configuration error naming its key.
    pub fn configured(settings: &Settings) -> Result<Option<DkimSigner>, ConfigError> {
        Ok(Self::from_settings(&settings.dkim, &settings.mail.from)?)
    }

    /// The signer the settings ask for: `None` when no `dkim` key is set; an error naming the
    /// key when the settings are wrong (see [`DkimSettings::checked`]) or the key file cannot be
    /// used.
    pub fn from_settings(
        dkim: &DkimSettings,
        mail_from: &str,
    ) -> Result<Option<DkimSigner>, DkimError> {
        let Some(CheckedDkim {
            domain,
            selector,
            file,
        }) = dkim.checked(mail_from)?
        else {
            return Ok(None);
        };
        let key = SigningKey::read(&file)?;
        let config = DkimConfig::new(
            selector.clone(),
            domain.clone(),
            key.for_lettre(),
            SIGNED_HEADERS
                .iter()
                .map(|h| HeaderName::new_from_ascii_str(h))
                .collect(),
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(Some(DkimSigner {
            domain,
            selector,
            key,
            config,
        }))
    }

    /// Adds a `DKIM-Signature` header to `message`.
    ///
    /// lettre's signer sees only the message's own headers, while a MIME message keeps its
    /// `Content-Type` with its body part; so the signature is made over a copy that holds every
    /// header as it goes on the wire and the body after them, and then put on the message.
    pub fn sign(&self, message: &mut Message) -> Result<(), lettre::error::Error> {
        let wire = message.formatted();
        let split = wire
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(wire.len());
        let (head, body) = (&wire[..split], wire.get(split + 4..).unwrap_or_default());
        // The copy needs a sender and a recipient to be built; the real ones replace them.
        let mut copy = Message::builder()
            .from(PLACEHOLDER.parse().expect("a valid address"))
            .to(PLACEHOLDER.parse().expect("a valid address"))
            .body(Body::dangerous_pre_encoded(
                body.to_vec(),
                ContentTransferEncoding::SevenBit,
            ))?;
        for (name, value) in wire_headers(&String::from_utf8_lossy(head)) {
            if let Ok(name) = HeaderName::new_from_ascii(name.to_string()) {
                copy.headers_mut()
                    .insert_raw(HeaderValue::dangerous_new_pre_encoded(
                        name,
                        value.to_string(),
                        value.to_string(),
                    ));
            }
        }
        copy.sign(&self.config);
        let signature = copy
            .headers()
            .get_raw("DKIM-Signature")
            .expect("lettre adds its signature")
            .to_string();
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("DKIM-Signature"),
            signature,
        ));
        Ok(())
    }

    /// The TXT record receivers look the key up in, as a zone file line preceded by a comment
    /// saying where it goes.
    pub fn dns_record(&self) -> String {
        let name = format!("{}._domainkey.{}.", self.selector, self.domain);
        let value = format!(
            "v=DKIM1; k={}; p={}",
            self.key.kind(),
            self.key.public_base64()
        );
        // A TXT record is made of strings of at most 255 characters each; receivers join them.
        let strings: Vec<String> = value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        format!(
            "; Publish this TXT record in the DNS zone of {domain} before signed mail goes out \
             (receivers look the key up at {name}):\n{name} IN TXT ( {} )\n",
            strings.join(" "),
            domain = self.domain,
        )
    }
}

/// The header fields of a header block as they are on the wire: (name, value with its
/// folding), in order.
fn wire_headers(head: &str) -> Vec<(&str, &str)> {
    let mut fields = Vec::new();
    let mut start = 0;
    let lines: Vec<(usize, &str)> = head
        .split("\r\n")
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 2;
            Some((at, line))
        })
        .collect();
    for (i, (at, line)) in lines.iter().enumerate() {
        if i > 0 && !line.starts_with([' ', '\t']) {
            fields.push(&head[start..at - 2]);
            start = *at;
        }
    }
    if start < head.len() {
        fields.push(&head[start..]);
    }
    fields
        .into_iter()
        .filter_map(|field| {
            let (name, value) = field.split_once(':')?;
            Some((name.trim_end(), value.strip_prefix(' ').unwrap_or(value)))
        })
        .collect()
}

/// `mcap-notify dkim-record`: prints the DNS record for the configured key, or says which
/// keys to set.
pub fn print_record(settings: &Settings) -> anyhow::Result<()> {
    let signer = DkimSigner::configured(settings)?
        .ok_or_else(|| ConfigError::from(DkimError::NotConfigured))?;
    crate::out!("{}", signer.dns_record());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_keep_their_folding() {
        let head = "From: a@example.org\r\nSubject: one\r\n two\r\nTo: b@example.org";
        assert_eq!(
            wire_headers(head),
            vec![
                ("From", "a@example.org"),
                ("Subject", "one\r\n two"),
                ("To", "b@example.org"),
            ]
        );
    }

    #[test]
    fn settings_are_all_or_nothing_and_aligned() {
        let from = "Alerts <alerts@alerts.example.org>";
        assert!(DkimSigner::from_settings(&DkimSettings::default(), from)
            .unwrap()
            .is_none());
        let partial = DkimSettings {
            domain: Some("example.org".into()),
            ..DkimSettings::default()
        };
        let error = DkimSigner::from_settings(&partial, from).unwrap_err();
        assert_eq!(error.key(), "dkim.selector");
        let elsewhere = DkimSettings {
            domain: Some("example.com".into()),
            selector: Some("s1".into()),
            private_key_file: Some("/nonexistent".into()),
        };
        let error = DkimSigner::from_settings(&elsewhere, from).unwrap_err();
        assert!(
            matches!(
                error,
                DkimError::Settings(DkimSettingsError::Misaligned { .. })
            ),
            "{error}"
        );
        // A parent domain is aligned; the missing file is the next problem.
        let parent = DkimSettings {
            domain: Some("Example.ORG".into()),
            ..elsewhere
        };
        let error = DkimSigner::from_settings(&parent, from).unwrap_err();
        assert_eq!(error.key(), "dkim.private_key_file", "{error}");
        assert!(error.to_string().contains("/nonexistent"), "{error}");
    }
}
