//! The one classifier of failures, for bounce mails and for the replies to our own sends alike:
//! the verdict on one failed recipient from the DSN action, the enhanced status code (RFC 3463)
//! and the words of the diagnostic. Only reasons that say the address itself is bad (unknown
//! user, unknown host, moved, address rejected) are hard; a refusal aimed at us (blocklists,
//! authentication, spam filters, 5.7.x, our own sender address or domain, 5.1.7 and 5.1.8) is
//! policy; a message refused as too large (5.2.3, 5.3.4) is too-large; everything else, mailbox
//! states (5.2.x) included, is soft.

use crate::model::BounceVerdict;

/// Phrases that mean the mailbox or domain does not exist.
const HARD_PHRASES: &[&str] = &[
    "user unknown",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such person",
    "no mailbox",
    "mailbox not found",
    "mailbox does not exist",
    "mailbox doesn't exist",
    "mailbox unavailable",
    "mailbox is unavailable",
    "recipient unknown",
    "unknown recipient",
    "invalid recipient",
    "recipient address rejected",
    "recipient not found",
    "recipient does not exist",
    "address rejected",
    "user not found",
    "user does not exist",
    "user doesn't exist",
    "unknown address",
    "address unknown",
    "does not exist",
    "doesn't exist",
    "not a valid mailbox",
    "invalid mailbox",
    "invalid address",
    "no longer available",
    "unrouteable address",
    "unroutable address",
    "host unknown",
    "unknown host",
    "host not found",
    "domain not found",
    "no such domain",
    "domain does not exist",
    "name or service not known",
    "nxdomain",
    "bad destination mailbox",
    "not our customer",
    "user unknown in",
    "no valid recipients",
    "unknown local part",
    "undeliverable address",
    "addressee unknown",
    "not listed in",
    "mailbox has moved",
    "has moved",
    "no such account",
    "account does not exist",
    "account not found",
    "invalid user",
    "user invalid",
    "not a known user",
    "is not a valid",
    "recipient rejected",
    "unknown or illegal alias",
    "550 5.1.1",
    "does not like recipient",
    "address not found",
    "doesn't have a",
    "no mx record",
    "domain is not reachable",
    "dns lookup failure",
    "invalid final delivery userid",
    "adresse destinataire invalide",
    "account or domain may not exist",
    "check if address is correct",
];

/// Phrases that mean a refusal aimed at the sender, not the address.
const POLICY_PHRASES: &[&str] = &[
    "blocked",
    "blacklist",
    "blocklist",
    "block list",
    "spamhaus",
    "spam",
    "reputation",
    "not authorized",
    "unauthenticated",
    "authentication",
    "spf",
    "dkim",
    "dmarc",
    "reverse dns",
    "ptr record",
    "policy",
    "relay access denied",
    "relaying denied",
    "not permitted to relay",
    "rate limit",
    "too many",
    "virus",
    "content rejected",
];

/// Phrases that put the fault with the sender even under an address status code.
const SENDER_FAULT_PHRASES: &[&str] = &[
    "spamhaus",
    "blacklist",
    "blocklist",
    "too many recipients",
    "rate limit",
    "recipient preferences",
];

/// Phrases that mean the message, not the address, was too large.
const TOO_LARGE_PHRASES: &[&str] = &[
    "message too large",
    "message too big",
    "message is too large",
    "message is too big",
    "message size exceeds",
    "exceeds the maximum message size",
    "exceeds maximum message size",
];

/// Phrases that mean a passing problem with the mailbox.
const SOFT_PHRASES: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "over quota",
    "quota exceeded",
    "exceeded storage",
    "insufficient storage",
    "out of storage",
];

/// The first enhanced status code (`X.Y.Z`, X in 2/4/5, Y up to 3 digits, Z up to 3 digits) in
/// `text`, if any.
pub fn enhanced_status(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary_before =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if boundary_before
            && matches!(bytes[i], b'2' | b'4' | b'5')
            && bytes.get(i + 1) == Some(&b'.')
        {
            let rest = &text[i + 2..];
            let class_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if (1..=3).contains(&class_digits) && rest.as_bytes().get(class_digits) == Some(&b'.') {
                let tail = &rest[class_digits + 1..];
                let detail_digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                let after = tail.as_bytes().get(detail_digits);
                let boundary_after =
                    after.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'.'));
                if (1..=3).contains(&detail_digits) && boundary_after {
                    let end = i + 2 + class_digits + 1 + detail_digits;
                    return Some(text[i..end].to_string());
                }
            }
        }
        i += 1;
    }
    None
}

fn contains_any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| text.contains(p))
}

/// Whether `diagnostic` says anything that decides a verdict.
pub fn is_telling(status: Option<&str>, diagnostic: &str) -> bool {
    let text = diagnostic.to_ascii_lowercase();
    status.is_some()
        || contains_any(&text, HARD_PHRASES)
        || contains_any(&text, SOFT_PHRASES)
        || contains_any(&text, POLICY_PHRASES)
        || contains_any(&text, TOO_LARGE_PHRASES)
}

/// Decides a recipient's verdict. A specific enhanced status code decides; a missing or
/// generic one (X.0.0) leaves it to the words of the diagnostic.
pub fn verdict(action: Option<&str>, status: Option<&str>, diagnostic: &str) -> BounceVerdict {
    let action = action.unwrap_or("").to_ascii_lowercase();
    match action.as_str() {
        "delivered" | "relayed" | "expanded" => return BounceVerdict::Delivered,
        "delayed" => return BounceVerdict::Soft,
        _ => {}
    }
    let text = diagnostic.to_ascii_lowercase();
    let status = status.unwrap_or("");
    let (class, detail) = status.split_once('.').unwrap_or(("", ""));
    if class == "2" {
        return BounceVerdict::Delivered;
    }
    let specific = !detail.is_empty() && detail != "0.0" && detail != "1.0";
    if specific {
        return match detail {
            // An address code given for a blocklist or a rate limit is about us.
            "1.1" | "1.2" | "1.3" | "1.6" | "1.10" | "4.4"
                if contains_any(&text, SENDER_FAULT_PHRASES) =>
            {
                BounceVerdict::Policy
            }
            // A name server that failed to answer is no proof the domain is gone.
            "4.4" if text.contains("name server") || text.contains("try again") => {
                BounceVerdict::Soft
            }
            "1.1" | "1.2" | "1.3" | "1.6" | "1.10" | "4.4" => BounceVerdict::Hard,
            // Our own sender address (5.1.7) or its domain (5.1.8) refused: about us.
            "1.7" | "1.8" if class == "5" => BounceVerdict::Policy,
            "2.3" | "3.4" if class == "5" => BounceVerdict::TooLarge,
            d if d.starts_with("7.") && class == "5" => BounceVerdict::Policy,
            // Protocol (5.5.x) and routing refusals (5.4.1) are often how a server says the
            // recipient is unknown; their words decide.
            d if class == "5"
                && (d.starts_with("5.") || d == "4.1")
                && contains_any(&text, HARD_PHRASES)
                && !contains_any(&text, SOFT_PHRASES) =>
            {
                BounceVerdict::Hard
            }
            // Mailbox states (5.2.x: disabled, full), system and content problems: the address
            // itself may be fine.
            _ => BounceVerdict::Soft,
        };
    }
    if class == "4" || contains_any(&text, SOFT_PHRASES) {
        return BounceVerdict::Soft;
    }
    if contains_any(&text, TOO_LARGE_PHRASES) {
        return BounceVerdict::TooLarge;
    }
    if contains_any(&text, HARD_PHRASES) {
        return BounceVerdict::Hard;
    }
    if contains_any(&text, POLICY_PHRASES) {
        return BounceVerdict::Policy;
    }
    BounceVerdict::Soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_status_and_words() {
        assert_eq!(
            verdict(Some("failed"), Some("5.1.1"), ""),
            BounceVerdict::Hard
        );
        assert_eq!(
            verdict(Some("failed"), Some("5.0.0"), "550 No such user here"),
            BounceVerdict::Hard
        );
        assert_eq!(
            verdict(Some("failed"), Some("5.2.2"), "mailbox full"),
            BounceVerdict::Soft
        );
        assert_eq!(
            verdict(Some("delayed"), Some("4.4.7"), ""),
            BounceVerdict::Soft
        );
        assert_eq!(
            verdict(Some("failed"), Some("5.7.1"), "blocked using zen"),
            BounceVerdict::Policy
        );
        assert_eq!(
            verdict(Some("delivered"), Some("2.0.0"), ""),
            BounceVerdict::Delivered
        );
        assert_eq!(
            verdict(Some("failed"), Some("5.3.4"), "message too big"),
            BounceVerdict::TooLarge
        );
        assert_eq!(
            verdict(
                Some("failed"),
                Some("5.0.0"),
                "552 Message size exceeds fixed limit"
            ),
            BounceVerdict::TooLarge
        );
        assert_eq!(
            verdict(Some("failed"), Some("5.1.8"), "Sender address rejected"),
            BounceVerdict::Policy
        );
        assert_eq!(
            verdict(Some("failed"), Some("5.2.1"), "mailbox disabled"),
            BounceVerdict::Soft
        );
    }

    #[test]
    fn enhanced_status_codes_are_found_in_reply_text() {
        assert_eq!(
            enhanced_status("550 5.1.1 <a@b>: user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            enhanced_status("permanent error (554): 5.7.1 blocked").as_deref(),
            Some("5.7.1")
        );
        assert_eq!(
            enhanced_status("452 4.2.2 Mailbox full").as_deref(),
            Some("4.2.2")
        );
        assert_eq!(
            enhanced_status("5.0.910 filtered").as_deref(),
            Some("5.0.910")
        );
        assert_eq!(enhanced_status("version 1.2.3 from 10.5.1.2"), None);
        assert_eq!(enhanced_status("550 no such user"), None);
    }
}
