//! VERP return paths that prove which message a bounce is about. Each message leaves with the
//! envelope sender `bounces+<outbox id>.<mac>@domain`, the MAC an HMAC-SHA256 of the outbox id
//! keyed by `mail.token_secret`. Nobody without the secret can make one, nor derive it from the
//! Message-ID or an account id, so a bounce that carries a valid one names our message, and
//! through it the one address we sent that message to.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::MailSettings;

type HmacSha256 = Hmac<Sha256>;

/// 80 bits of MAC: far beyond guessing, short enough for a local part.
const MAC_BYTES: usize = 10;

/// Makes and checks the return paths of one bounce mailbox.
#[derive(Clone)]
pub struct ReturnPaths {
    secret: Vec<u8>,
    /// The secret `mail.token_secret` replaced, honoured until the end of its grace period.
    previous: Option<(Vec<u8>, chrono::DateTime<chrono::Utc>)>,
    /// The bounce mailbox's local part and domain (`bounces`, `alerts.example.org`).
    local: String,
    domain: String,
}

impl std::fmt::Debug for ReturnPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReturnPaths({}@{})", self.local, self.domain)
    }
}

impl ReturnPaths {
    /// Return paths for `mail.bounce_address` (checked when the settings load), keyed by
    /// `mail.token_secret`.
    pub fn new(mail: &MailSettings) -> ReturnPaths {
        let (local, domain) = mail
            .bounce_address
            .rsplit_once('@')
            .unwrap_or((&mail.bounce_address, ""));
        ReturnPaths {
            secret: mail.token_secret.expose().as_bytes().to_vec(),
            previous: mail
                .previous_token_secret
                .as_ref()
                .zip(mail.previous_token_secret_until)
                .map(|(secret, until)| (secret.expose().as_bytes().to_vec(), until)),
            local: local.to_string(),
            domain: domain.to_string(),
        }
    }

    fn mac(&self, outbox_id: i64) -> HmacSha256 {
        Self::mac_with(&self.secret, outbox_id)
    }

    fn mac_with(secret: &[u8], outbox_id: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(b"verp:");
        mac.update(outbox_id.to_string().as_bytes());
        mac
    }

    /// The envelope sender for the message with this outbox id.
    pub fn address(&self, outbox_id: i64) -> String {
        let mac = hex::encode(&self.mac(outbox_id).finalize().into_bytes()[..MAC_BYTES]);
        format!("{}+{outbox_id}.{mac}@{}", self.local, self.domain)
    }

    /// The outbox id `address` names, if it is one of our return paths and its MAC is good
    /// (compared in constant time).
    pub fn outbox_id(&self, address: &str) -> Option<i64> {
        let (local, domain) = address.trim_matches(['<', '>']).rsplit_once('@')?;
        let (base, token) = local.split_once('+')?;
        if !base.eq_ignore_ascii_case(&self.local) || !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let (id, mac) = token.split_once('.')?;
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let outbox_id: i64 = id.parse().ok()?;
        let mac = hex::decode(mac).ok()?;
        if mac.len() != MAC_BYTES {
            return None;
        }
        let current = self.mac(outbox_id).verify_truncated_left(&mac).is_ok();
        let previous = || {
            self.previous.as_ref().is_some_and(|(secret, until)| {
                chrono::Utc::now() <= *until
                    && Self::mac_with(secret, outbox_id)
                        .verify_truncated_left(&mac)
                        .is_ok()
            })
        };
        (current || previous()).then_some(outbox_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn paths(secret: &str) -> ReturnPaths {
        let mail = MailSettings {
            token_secret: Secret::new(secret),
            bounce_address: "bounces@alerts.example.org".into(),
            ..MailSettings::default()
        };
        ReturnPaths::new(&mail)
    }

    #[test]
    fn a_return_path_names_its_message_only_under_our_key() {
        let ours = paths("k");
        let address = ours.address(42);
        assert!(address.starts_with("bounces+42."), "{address}");
        assert!(address.ends_with("@alerts.example.org"), "{address}");
        assert_eq!(ours.outbox_id(&address), Some(42));
        assert_eq!(ours.outbox_id(&address.to_uppercase()), Some(42));
        assert_eq!(ours.outbox_id(&format!("<{address}>")), Some(42));
        assert_eq!(paths("other").outbox_id(&address), None);
        // Another id under the same MAC, a cut MAC, another mailbox: none is ours.
        assert_eq!(ours.outbox_id(&address.replace("+42.", "+43.")), None);
        let cut = address.replacen('@', "", 1);
        assert_eq!(ours.outbox_id(&cut[..cut.len() - 2]), None);
        assert_eq!(ours.outbox_id(&address.replace("bounces+", "other+")), None);
        assert_eq!(ours.outbox_id("bounces@alerts.example.org"), None);
    }

    #[test]
    fn a_rotated_secret_still_proves_return_paths_for_its_grace_period() {
        let old = paths("the old secret").address(7);
        let rotated = |until: &str| {
            let mail = MailSettings {
                token_secret: Secret::new("the new secret"),
                previous_token_secret: Some(Secret::new("the old secret")),
                previous_token_secret_until: Some(until.parse().unwrap()),
                bounce_address: "bounces@alerts.example.org".into(),
                ..MailSettings::default()
            };
            ReturnPaths::new(&mail)
        };
        assert_eq!(rotated("2999-01-01T00:00:00Z").outbox_id(&old), Some(7));
        assert_eq!(rotated("2020-01-01T00:00:00Z").outbox_id(&old), None);
    }
}
