//! The DKIM settings checked together, for every command, when the configuration loads: all
//! three keys or none, the domain and selector DNS names, and `mail.from` within the domain.
//! Reading the key itself is left to `dkim`, for the commands that sign.

use std::path::PathBuf;

use lettre::message::Mailbox;

use super::DkimSettings;

const KEYS: [&str; 3] = ["dkim.domain", "dkim.selector", "dkim.private_key_file"];

/// Why the DKIM settings cannot work, naming the key (see [`DkimSettingsError::key`]).
#[derive(Debug, thiserror::Error)]
pub enum DkimSettingsError {
    #[error(
        "is not set, but {given} is: set all three of dkim.domain, dkim.selector and \
         dkim.private_key_file (MCAP_NOTIFY__DKIM__DOMAIN, __SELECTOR, __PRIVATE_KEY_FILE), or none"
    )]
    Partial {
        missing: &'static str,
        given: &'static str,
    },
    #[error("`{value}` is not a DNS name (letters, digits, `-` and `.` between labels)")]
    NotADnsName { key: &'static str, value: String },
    #[error(
        "`{domain}` is not aligned with mail.from `{from}`: the sender's domain must be \
         dkim.domain or a subdomain of it, or DMARC will not count the signature"
    )]
    Misaligned { domain: String, from: String },
}

impl DkimSettingsError {
    /// The configuration key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            DkimSettingsError::Partial { missing, .. } => missing,
            DkimSettingsError::NotADnsName { key, .. } => key,
            DkimSettingsError::Misaligned { .. } => "dkim.domain",
        }
    }
}

/// DKIM settings that passed [`DkimSettings::checked`]: the domain and selector in lower case.
pub struct CheckedDkim {
    pub domain: String,
    pub selector: String,
    pub file: PathBuf,
}

impl DkimSettings {
    /// The settings, checked without reading the key: `None` when no `dkim` key is set; an
    /// error naming the key when only some are set, when one is malformed, or when `mail_from`
    /// is not in `dkim.domain`.
    pub fn checked(&self, mail_from: &str) -> Result<Option<CheckedDkim>, DkimSettingsError> {
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let file = self
            .private_key_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let (domain, selector) = (set(&self.domain), set(&self.selector));
        let present = [domain.is_some(), selector.is_some(), file.is_some()];
        let (Some(domain), Some(selector), Some(file)) = (domain, selector, file) else {
            return match present.iter().position(|p| *p) {
                None => Ok(None),
                Some(given) => Err(DkimSettingsError::Partial {
                    missing: KEYS[present.iter().position(|p| !*p).expect("one is missing")],
                    given: KEYS[given],
                }),
            };
        };
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let selector = selector.trim().to_ascii_lowercase();
        for (key, value) in [("dkim.domain", &domain), ("dkim.selector", &selector)] {
            if !is_dns_name(value) {
                return Err(DkimSettingsError::NotADnsName {
                    key,
                    value: value.clone(),
                });
            }
        }
        let from_domain = mail_from
            .parse::<Mailbox>()
            .map(|m| m.email.domain().to_ascii_lowercase())
            .unwrap_or_default();
        if from_domain != domain && !from_domain.ends_with(&format!(".{domain}")) {
            return Err(DkimSettingsError::Misaligned {
                domain,
                from: mail_from.to_string(),
            });
        }
        Ok(Some(CheckedDkim {
            domain,
            selector,
            file,
        }))
    }
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
