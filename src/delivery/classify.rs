//! What a reply to one of our sends means for the message. The reply's code and words are read
//! by the one classifier that also reads bounce mails ([`crate::bounce::classify`]); this says
//! what its verdict does to a message in flight. 2xx is sent; 4xx, network errors and timeouts
//! are transient. A 5xx goes by its verdict: hard is permanent (dead-lettered, the address
//! bounced); soft (mailbox full or disabled, or nothing said against the address) is retried
//! and counted once per message as a soft bounce; policy (a refusal aimed at us: 5.7.x,
//! blocklists, our sender address or domain) is retried at the slower policy pace, flagged for
//! operators and never held against the recipient; too large is dead-lettered with that reason,
//! as sending the same message again is pointless, and is not held against the recipient either.

use crate::bounce::classify::{enhanced_status, verdict};
use crate::model::BounceVerdict;
pub use crate::model::SendOutcome;

/// A classified send result with what the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub outcome: SendOutcome,
    /// The bounce to record against the recipient, when the reply says something about the
    /// address (a hard or soft 5xx).
    pub bounce: Option<BounceVerdict>,
    pub reply_code: Option<u16>,
    pub status: Option<String>,
    pub detail: String,
}

/// Classifies a reply: `code` is the three-digit SMTP code (None for network failures and
/// timeouts), `text` the reply text.
pub fn classify_reply(code: Option<u16>, text: &str) -> Classified {
    let status = enhanced_status(text);
    let detail = text.trim().to_string();
    let (outcome, bounce, detail) = match code {
        Some(200..=399) => (SendOutcome::Sent, None, detail),
        Some(500..=599) => {
            let declared = status.as_deref().unwrap_or("5.0.0");
            match verdict(Some("failed"), Some(declared), text) {
                BounceVerdict::Hard => (SendOutcome::Permanent, Some(BounceVerdict::Hard), detail),
                BounceVerdict::Policy => (SendOutcome::Policy, None, detail),
                BounceVerdict::TooLarge => (
                    SendOutcome::Permanent,
                    None,
                    format!("message too large for the receiving server, not retried: {detail}"),
                ),
                _ => (SendOutcome::Transient, Some(BounceVerdict::Soft), detail),
            }
        }
        _ => (SendOutcome::Transient, None, detail),
    };
    Classified {
        outcome,
        bounce,
        reply_code: code,
        status,
        detail,
    }
}

/// Classifies lettre's SMTP error.
pub fn classify_smtp_error(error: &lettre::transport::smtp::Error) -> Classified {
    let code = error
        .status()
        .and_then(|c| c.to_string().parse::<u16>().ok());
    let text = error.to_string();
    if error.is_timeout() || code.is_none() {
        return classify_reply(None, &text);
    }
    classify_reply(code, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_by_the_bounce_classifier() {
        let class = |code, text| {
            let c = classify_reply(Some(code), text);
            (c.outcome, c.bounce)
        };
        use BounceVerdict::{Hard, Soft};
        use SendOutcome::{Permanent, Policy, Sent, Transient};
        assert_eq!(class(250, "2.0.0 Ok: queued"), (Sent, None));
        assert_eq!(class(450, "4.3.0 Error: command failed"), (Transient, None));
        assert_eq!(class(421, "4.4.2 closing"), (Transient, None));
        assert_eq!(class(550, "5.1.1 user unknown"), (Permanent, Some(Hard)));
        assert_eq!(class(552, "5.2.2 mailbox full"), (Transient, Some(Soft)));
        assert_eq!(
            class(550, "5.2.1 mailbox disabled"),
            (Transient, Some(Soft))
        );
        assert_eq!(class(553, "5.1.8 sender domain not found"), (Policy, None));
        assert_eq!(
            class(553, "5.1.7 bad sender address syntax"),
            (Policy, None)
        );
        assert_eq!(
            class(554, "5.7.1 Service unavailable; client host blocked"),
            (Policy, None)
        );
        assert_eq!(class(550, "5.7.26 DMARC policy"), (Policy, None));
        let big = classify_reply(Some(552), "5.3.4 Message size exceeds fixed limit");
        assert_eq!((big.outcome, big.bounce), (Permanent, None));
        assert!(
            big.detail.starts_with("message too large"),
            "{}",
            big.detail
        );
        assert_eq!(
            class(552, "5.2.3 Message length exceeds administrative limit").1,
            None
        );
        assert_eq!(classify_reply(None, "connection reset").outcome, Transient);
    }
}
