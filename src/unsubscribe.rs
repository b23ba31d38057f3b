//! Unsubscribe tokens: a signed list of subscription ids, carried in `List-Unsubscribe` and the
//! per-case stop links, so the endpoint that honours them can trust what they name.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SIGNATURE_BYTES: usize = 16;

fn mac(secret: &str, ids: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"unsubscribe:");
    mac.update(ids.as_bytes());
    mac
}

/// A token naming `subscription_ids`, such as `12-40.3f9a...`.
pub fn token(secret: &str, subscription_ids: &[i64]) -> String {
    let ids = subscription_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join("-");
    let sig = hex::encode(&mac(secret, &ids).finalize().into_bytes()[..SIGNATURE_BYTES]);
    format!("{ids}.{sig}")
}

/// The subscription ids a token names, if its signature is good.
pub fn verify(secret: &str, token: &str) -> Option<Vec<i64>> {
    let (ids, sig) = token.split_once('.')?;
    let sig = hex::decode(sig).ok()?;
    if sig.len() != SIGNATURE_BYTES {
        return None;
    }
    mac(secret, ids).verify_truncated_left(&sig).ok()?;
    ids.split('-').map(|s| s.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_subscriptions_and_resists_tampering() {
        let t = token("k", &[3, 17]);
        assert_eq!(verify("k", &t), Some(vec![3, 17]));
        assert_eq!(verify("other", &t), None);
        let forged = t.replacen("3-17", "3-18", 1);
        assert_eq!(verify("k", &forged), None);
    }
}
