//! Unsubscribe tokens: what a link in a digest may stop, signed so the endpoint that honours it
//! can trust it. A token is short and of fixed shape whatever the digest holds (it names the
//! message, whose subscriptions are kept server-side, or one subscription), so it fits one
//! header line. It carries the id of the key that signed it, so the secret can be rotated with
//! the previous key still honoured for a grace period, and a last day after which it is refused.
//!
//! Shape: `KEYID.EXPIRY.SCOPE.MAC`, e.g. `5f0c2a91.20511.m42x0a1b2c3d4e5f60718293.3f9a...`:
//! the key id (8 hex digits derived from the secret), the last valid day (days since
//! 1970-01-01, UTC), the scope (`m` and a message key, or `s` and a subscription id) and 128
//! bits of HMAC-SHA256 over the rest. Only `[0-9a-z.]` occur: safe in URLs and subjects.
//! Tokens of the first form, `ID-ID.MAC`, in mails sent before, are still honoured.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::config::MailSettings;

type HmacSha256 = Hmac<Sha256>;

const MAC_BYTES: usize = 16;
const SECONDS_PER_DAY: i64 = 86_400;

/// What a token stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every subscription a digest message reported, by the message's key (`RUN.HEX`).
    Message(String),
    /// One subscription (the per-case stop link).
    Subscription(i64),
    /// Subscriptions listed in a token of the first form, `ID-ID.MAC` (no key id, no last
    /// day), which mails sent before this form carry: still honoured, under the same keys.
    Listed(Vec<i64>),
}

impl Scope {
    fn encode(&self) -> String {
        match self {
            // The key's `.` would split the token: it travels as `x`.
            Scope::Message(key) => format!("m{}", key.replace('.', "x")),
            Scope::Subscription(id) => format!("s{id}"),
            Scope::Listed(_) => unreachable!("tokens of the first form are only read"),
        }
    }

    fn decode(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_at_checked(1)?;
        match kind {
            "m" => {
                let (run, hash) = rest.split_once('x')?;
                let valid = !run.is_empty()
                    && run.bytes().all(|b| b.is_ascii_digit())
                    && !hash.is_empty()
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
                valid.then(|| Scope::Message(format!("{run}.{hash}")))
            }
            "s" if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => {
                rest.parse().ok().map(Scope::Subscription)
            }
            _ => None,
        }
    }
}

/// Why a token is refused.
/// Why a token is refused; the text completes "This link ..." or "Its token ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("is incomplete or damaged")]
    Malformed,
    #[error("was not made by this service")]
    Forged,
    #[error("was signed with a key that has been retired")]
    RetiredKey,
    #[error("expired on {0}")]
    Expired(String),
}

/// One signing key and its id.
#[derive(Clone)]
struct Key {
    id: String,
    secret: Vec<u8>,
}

impl Key {
    fn new(secret: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update(b"unsubscribe key id\n");
        hash.update(secret.as_bytes());
        Key {
            id: hex::encode(&hash.finalize()[..4]),
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// The MAC of a token of the first form.
    fn listed_mac(&self, ids: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(b"unsubscribe:");
        mac.update(ids.as_bytes());
        mac
    }

    fn mac(&self, signed: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(b"unsubscribe\n");
        mac.update(signed.as_bytes());
        mac
    }
}

/// The keys that make and check tokens: the current one signs; a previous one is still
/// accepted until its grace period ends.
#[derive(Clone)]
pub struct TokenKeys {
    current: Key,
    previous: Option<(Key, DateTime<Utc>)>,
    lifetime_days: u32,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys(current {})", self.current.id)
    }
}

/// What a good token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub scope: Scope,
    /// The id of the key that signed it.
    pub key_id: String,
}

impl TokenKeys {
    /// Keys from the current secret; tokens made are valid for `lifetime_days`.
    pub fn new(secret: &str, lifetime_days: u32) -> TokenKeys {
        TokenKeys {
            current: Key::new(secret),
            previous: None,
            lifetime_days,
        }
    }

    /// The keys `mail` sets: `mail.token_secret` signs; `mail.previous_token_secret` is still
    /// accepted until `mail.previous_token_secret_until`.
    pub fn from_settings(mail: &MailSettings) -> TokenKeys {
        let keys = TokenKeys::new(mail.token_secret.expose(), mail.unsubscribe_token_days);
        match (
            &mail.previous_token_secret,
            mail.previous_token_secret_until,
        ) {
            (Some(previous), Some(until)) => keys.with_previous(previous.expose(), until),
            _ => keys,
        }
    }

    /// Also accepts tokens signed with `secret` until `until`.
    pub fn with_previous(mut self, secret: &str, until: DateTime<Utc>) -> TokenKeys {
        self.previous = Some((Key::new(secret), until));
        self
    }

    /// The id of the key that signs new tokens.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// A token for `scope`, made at `now`.
    pub fn token(&self, scope: &Scope, now: DateTime<Utc>) -> String {
        let last_day = now.timestamp().div_euclid(SECONDS_PER_DAY) + i64::from(self.lifetime_days);
        let signed = format!("{}.{last_day}.{}", self.current.id, scope.encode());
        let mac = self.current.mac(&signed).finalize().into_bytes();
        format!("{signed}.{}", hex::encode(&mac[..MAC_BYTES]))
    }

    /// What `token` names, if a key of ours signed it and it is still valid at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Verified, TokenError> {
        let token = token.trim();
        let (signed, mac) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        if !signed.contains('.') {
            return self.verify_listed(signed, mac, now);
        }
        let mut fields = signed.split('.');
        let (Some(key_id), Some(last_day), Some(scope), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(TokenError::Malformed);
        };
        let mac = hex::decode(mac).map_err(|_| TokenError::Malformed)?;
        if mac.len() != MAC_BYTES || !last_day.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::Malformed);
        }
        let (key, retired_after) = if key_id == self.current.id {
            (&self.current, None)
        } else {
            match &self.previous {
                Some((key, until)) if key.id == key_id => (key, Some(*until)),
                _ => return Err(TokenError::Forged),
            }
        };
        key.mac(signed)
            .verify_truncated_left(&mac)
            .map_err(|_| TokenError::Forged)?;
        if retired_after.is_some_and(|until| now > until) {
            return Err(TokenError::RetiredKey);
        }
        let last_day: i64 = last_day.parse().map_err(|_| TokenError::Malformed)?;
        if now.timestamp().div_euclid(SECONDS_PER_DAY) > last_day {
            let day = DateTime::<Utc>::UNIX_EPOCH + Duration::days(last_day);
            return Err(TokenError::Expired(day.format("%Y-%m-%d").to_string()));
        }
        let scope = Scope::decode(scope).ok_or(TokenError::Malformed)?;
        Ok(Verified {
            scope,
            key_id: key.id.clone(),
        })
    }
}

impl TokenKeys {
    /// A token of the first form, `ID-ID.MAC`, checked under the current key and, in its grace
    /// period, the previous one.
    fn verify_listed(
        &self,
        ids: &str,
        mac: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, TokenError> {
        let mac = hex::decode(mac).map_err(|_| TokenError::Malformed)?;
        if mac.len() != MAC_BYTES {
            return Err(TokenError::Malformed);
        }
        let previous = self
            .previous
            .iter()
            .filter(|(_, until)| now <= *until)
            .map(|(key, _)| key);
        let key = std::iter::once(&self.current)
            .chain(previous)
            .find(|key| key.listed_mac(ids).verify_truncated_left(&mac).is_ok())
            .ok_or(TokenError::Forged)?;
        let listed = ids
            .split('-')
            .map(|id| id.parse().map_err(|_| TokenError::Malformed))
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(Verified {
            scope: Scope::Listed(listed),
            key_id: key.id.clone(),
        })
    }
}

/// Finds a token in text such as a mail subject (`unsubscribe TOKEN`, perhaps `Re: ...` or
/// words of the sender's own before it): the first word after the last `unsubscribe`.
pub fn find_in(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let at = lower.rfind("unsubscribe")?;
    text[at + "unsubscribe".len()..]
        .split(|c: char| c.is_whitespace() || c == ':' || c == '<' || c == '>')
        .find(|word| !word.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_token_names_its_scope_and_resists_tampering() {
        let keys = TokenKeys::new("a secret of some length", 30);
        for scope in [
            Scope::Message("42.0a1b2c3d4e".into()),
            Scope::Subscription(17),
        ] {
            let t = keys.token(&scope, at(1));
            assert!(
                t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'),
                "{t}"
            );
            let good = keys.verify(&t, at(2)).unwrap();
            assert_eq!(good.scope, scope);
            assert_eq!(good.key_id, keys.current_key_id());
            let other = TokenKeys::new("another secret entirely", 30);
            assert_eq!(other.verify(&t, at(2)), Err(TokenError::Forged));
        }
        let t = keys.token(&Scope::Subscription(17), at(1));
        let forged = t.replacen(".s17.", ".s18.", 1);
        assert_eq!(keys.verify(&forged, at(2)), Err(TokenError::Forged));
        // A later last day is a forgery too, not a longer life.
        let mut parts: Vec<&str> = t.split('.').collect();
        let later = (parts[1].parse::<i64>().unwrap() + 100).to_string();
        parts[1] = &later;
        assert_eq!(
            keys.verify(&parts.join("."), at(2)),
            Err(TokenError::Forged)
        );
        for junk in ["", "abc", "a.b.c.d", &t[..t.len() - 2], "x.1.s1.zz"] {
            assert!(keys.verify(junk, at(2)).is_err(), "{junk}");
        }
    }

    #[test]
    fn tokens_expire_after_their_lifetime() {
        let keys = TokenKeys::new("a secret of some length", 10);
        let t = keys.token(&Scope::Subscription(5), at(1));
        assert!(keys.verify(&t, at(11)).is_ok());
        assert_eq!(
            keys.verify(&t, at(12)),
            Err(TokenError::Expired("2026-11-11".into()))
        );
    }

    #[test]
    fn a_rotated_key_is_honoured_until_its_grace_period_ends() {
        let old = TokenKeys::new("the old secret, long enough", 60);
        let t = old.token(&Scope::Subscription(9), at(1));
        let new = TokenKeys::new("the new secret, long enough", 60)
            .with_previous("the old secret, long enough", at(15));
        assert_ne!(new.current_key_id(), old.current_key_id());
        let good = new.verify(&t, at(14)).unwrap();
        assert_eq!(good.key_id, old.current_key_id());
        assert_eq!(new.verify(&t, at(16)), Err(TokenError::RetiredKey));
        let alone = TokenKeys::new("the new secret, long enough", 60);
        assert_eq!(alone.verify(&t, at(14)), Err(TokenError::Forged));
    }

    #[test]
    fn tokens_of_the_first_form_are_still_honoured() {
        // `ID-ID.MAC`, as mails sent before key ids and last days carry.
        let secret = "a secret of some length";
        let key = Key::new(secret);
        let mac = key.listed_mac("3-17").finalize().into_bytes();
        let old = format!("3-17.{}", hex::encode(&mac[..MAC_BYTES]));
        let keys = TokenKeys::new(secret, 30);
        assert_eq!(
            keys.verify(&old, at(2)).unwrap().scope,
            Scope::Listed(vec![3, 17])
        );
        assert_eq!(
            keys.verify(&old.replacen("3-17", "3-18", 1), at(2)),
            Err(TokenError::Forged)
        );
        let rotated = TokenKeys::new("another secret entirely", 30).with_previous(secret, at(10));
        assert!(rotated.verify(&old, at(9)).is_ok());
        assert_eq!(rotated.verify(&old, at(11)), Err(TokenError::Forged));
    }

    #[test]
    fn a_token_is_found_in_a_subject() {
        assert_eq!(find_in("unsubscribe 1.2.s3.ff"), Some("1.2.s3.ff"));
        assert_eq!(find_in("Re: UNSUBSCRIBE: 1.2.s3.ff"), Some("1.2.s3.ff"));
        assert_eq!(find_in("hello"), None);
        assert_eq!(
            find_in("How do I unsubscribe? unsubscribe 1.2.s3.ff"),
            Some("1.2.s3.ff")
        );
    }
}
