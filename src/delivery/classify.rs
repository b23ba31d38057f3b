//! What a failed send means: from the SMTP reply code and the enhanced status code (RFC 3463)
//! in the reply text. 2xx is sent; 4xx, network errors and timeouts are transient; 5xx is
//! permanent, except 552 (transient per RFC 5321) and 5.7.x, a policy block against us rather
//! than a bad address: retried later, never suppressed, flagged for operators.

pub use crate::model::SendOutcome;

/// A classified send result with what the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub outcome: SendOutcome,
    pub reply_code: Option<u16>,
    pub status: Option<String>,
    pub detail: String,
}

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

/// Classifies a reply: `code` is the three-digit SMTP code (None for network failures and
/// timeouts), `text` the reply text.
pub fn classify_reply(code: Option<u16>, text: &str) -> Classified {
    let status = enhanced_status(text);
    let outcome = match code {
        None => SendOutcome::Transient,
        Some(200..=399) => SendOutcome::Sent,
        Some(400..=499) => SendOutcome::Transient,
        Some(_) if status.as_deref().is_some_and(|s| s.starts_with("5.7.")) => SendOutcome::Policy,
        Some(552) => SendOutcome::Transient,
        Some(500..=599) => SendOutcome::Permanent,
        Some(_) => SendOutcome::Transient,
    };
    Classified {
        outcome,
        reply_code: code,
        status,
        detail: text.trim().to_string(),
    }
}

/// Classifies lettre's SMTP error.
pub fn classify_smtp_error(error: &lettre::transport::smtp::Error) -> Classified {
    let code = error
        .status()
        .and_then(|c| c.to_string().parse::<u16>().ok());
    let text = error.to_string();
    let mut classified = classify_reply(code, &text);
    if error.is_timeout() || code.is_none() {
        classified.outcome = SendOutcome::Transient;
    }
    classified
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn replies_fall_into_the_four_classes() {
        let class = |code, text| classify_reply(Some(code), text).outcome;
        assert_eq!(class(250, "2.0.0 Ok: queued"), SendOutcome::Sent);
        assert_eq!(
            class(450, "4.3.0 Error: command failed"),
            SendOutcome::Transient
        );
        assert_eq!(class(421, "4.4.2 closing"), SendOutcome::Transient);
        assert_eq!(class(550, "5.1.1 user unknown"), SendOutcome::Permanent);
        assert_eq!(
            class(500, "5.3.0 Error: command failed"),
            SendOutcome::Permanent
        );
        assert_eq!(class(552, "5.2.2 mailbox full"), SendOutcome::Transient);
        assert_eq!(
            class(554, "5.7.1 Service unavailable; client host blocked"),
            SendOutcome::Policy
        );
        assert_eq!(class(550, "5.7.26 DMARC policy"), SendOutcome::Policy);
        assert_eq!(
            classify_reply(None, "connection reset").outcome,
            SendOutcome::Transient
        );
    }
}
