//! Reading a bounce mail: RFC 3464 delivery-status reports first; then the common
//! non-standard forms (Postfix, qmail, Exim, Sendmail, Exchange and hosted services write the
//! failed address and the server's words in the human-readable part); feedback-loop
//! complaints (ARF, RFC 5965); automatic replies (RFC 3834 and the usual vacation headers).
//! Also collects what ties the bounce to our message: the addresses it was sent to (a VERP
//! return path names the message) and the Message-IDs quoted in the returned part.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;

use super::classify::{enhanced_status, verdict};
use crate::model::BounceVerdict;

/// One recipient a bounce reports on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientReport {
    pub address: String,
    pub status: Option<String>,
    pub action: Option<String>,
    pub verdict: BounceVerdict,
    /// The server's words, or the reason the report gives.
    #[serde(skip)]
    pub diagnostic: String,
}

/// What a mail says, if it is a bounce at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedBounce {
    /// Empty for a mail that is no bounce.
    pub recipients: Vec<RecipientReport>,
    /// Addresses the bounce was delivered to (its To, Delivered-To, X-Original-To...).
    pub delivered_to: Vec<String>,
    /// Message-IDs of the returned message, if it was quoted.
    pub returned_message_ids: Vec<String>,
    /// Envelope senders of the returned message (Return-Path), if it was quoted.
    pub returned_senders: Vec<String>,
}

/// Lines where the quoted original message starts in plain-text bounces.
const RETURNED_MARKERS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "original message follows",
    "----- original message -----",
    "returned message follows",
    "message headers follow",
    "headers of your message",
    "undelivered message",
    "text of the message",
    "the message you sent",
    "content-type: message/rfc822",
    "------=_",
];

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Every plausible mail address in `text`, in order, lowercased and without duplicates.
pub fn addresses_in(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let is_local = |c: char| c.is_ascii_alphanumeric() || "._%+-=!#$&'*/?^`{|}~".contains(c);
    let is_domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != '@' {
            continue;
        }
        let mut start = i;
        while start > 0 && is_local(chars[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < chars.len() && is_domain(chars[end]) {
            end += 1;
        }
        let local: String = chars[start..i].iter().collect();
        let domain: String = chars[i + 1..end].iter().collect();
        let local = local
            .trim_start_matches(['.', '\'', '=', '?', '/'])
            .to_string();
        let domain = domain.trim_end_matches(['.', '-']).to_string();
        if local.is_empty() || !domain.contains('.') || domain.starts_with('.') {
            continue;
        }
        let tld = domain.rsplit('.').next().unwrap_or("");
        if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        let address = lower(&format!("{local}@{domain}"));
        if !found.contains(&address) {
            found.push(address);
        }
    }
    found
}

fn header_addresses(value: &HeaderValue) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        HeaderValue::Address(address) => {
            for a in address.iter() {
                if let Some(x) = a.address() {
                    out.push(lower(x));
                }
            }
        }
        HeaderValue::Text(t) => out.extend(addresses_in(t)),
        HeaderValue::TextList(list) => {
            for t in list {
                out.extend(addresses_in(t));
            }
        }
        _ => {}
    }
    out
}

/// All addresses in the named headers of `message`.
fn addresses_of(message: &Message, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for header in message.headers() {
        if names.iter().any(|n| header.name().eq_ignore_ascii_case(n)) {
            for a in header_addresses(header.value()) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

fn raw_header<'a>(message: &'a Message, name: &'static str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

/// The `Name: value` fields of a delivery-status or feedback-report body, in groups separated
/// by blank lines, with folded lines unfolded.
fn field_groups(body: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = current.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((lower(name.trim()), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `rfc822; someone@example.org` and `<someone@example.org>` to `someone@example.org`.
fn typed_address(value: &str) -> Option<String> {
    let value = value.split_once(';').map(|(_, a)| a).unwrap_or(value);
    addresses_in(value).into_iter().next()
}

/// The recipients of a delivery-status body.
fn parse_delivery_status(body: &str) -> Vec<RecipientReport> {
    let mut out: Vec<RecipientReport> = Vec::new();
    for group in field_groups(body) {
        let address = field(&group, "final-recipient")
            .and_then(typed_address)
            .or_else(|| field(&group, "original-recipient").and_then(typed_address));
        let Some(address) = address else { continue };
        let action =
            field(&group, "action").map(|a| lower(a.split_whitespace().next().unwrap_or(a)));
        let diagnostic = field(&group, "diagnostic-code")
            .map(|d| {
                d.split_once(';')
                    .map(|(_, t)| t)
                    .unwrap_or(d)
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        // The remote server's own code, quoted in the diagnostic, is more precise than the
        // Status the reporting server filled in (often a generic 5.0.0, sometimes a guess).
        let declared = field(&group, "status").and_then(enhanced_status);
        let from_text = enhanced_status(&diagnostic);
        let status = match (&declared, &from_text) {
            (Some(d), Some(t)) if t.starts_with(&d[..1]) => Some(t.clone()),
            (Some(d), _) => Some(d.clone()),
            (None, t) => t.clone(),
        };
        let v = verdict(action.as_deref(), status.as_deref(), &diagnostic);
        if let Some(existing) = out.iter_mut().find(|r| r.address == address) {
            // A later, more specific group for the same address wins.
            if existing.status.is_none() {
                existing.status = status;
                existing.verdict = v;
            }
            continue;
        }
        out.push(RecipientReport {
            address,
            status,
            action,
            verdict: v,
            diagnostic,
        });
    }
    out
}

/// The part of a plain-text bounce before the quoted original message.
fn explanation(text: &str) -> &str {
    let lowered = lower(text);
    let mut cut = text.len();
    for marker in RETURNED_MARKERS {
        if let Some(at) = lowered.find(marker) {
            // Ignore a marker in the first line or two (some bounces open with it).
            if at > 40 {
                cut = cut.min(at);
            }
        }
    }
    // A quoted header block also ends the explanation.
    for header in ["\nreturn-path:", "\nreceived: from", "\nmessage-id:"] {
        if let Some(at) = lowered.find(header) {
            if at > 40 {
                cut = cut.min(at);
            }
        }
    }
    &text[..cut]
}

/// Recipients of a non-standard bounce: addresses in the explanation that are not the
/// bounce's own parties, each with the first status code and words that follow it.
fn parse_plain(text: &str, exclude: &[String]) -> Vec<RecipientReport> {
    let found = parse_plain_excluding(text, exclude);
    if found.is_empty() {
        // Some bounces go back to the very address that failed (a forward, a local alias).
        return parse_plain_excluding(text, &[]);
    }
    found
}

fn parse_plain_excluding(text: &str, exclude: &[String]) -> Vec<RecipientReport> {
    let explanation = explanation(text);
    let mut out = Vec::new();
    let lines: Vec<&str> = explanation.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        for address in addresses_in(line) {
            let local = address.split('@').next().unwrap_or("");
            if exclude.contains(&address)
                || out.iter().any(|r: &RecipientReport| r.address == address)
                || matches!(local, "mailer-daemon" | "noreply" | "no-reply")
                || local.starts_with("mailer-daemon")
            {
                continue;
            }
            // The diagnostic: this line and the next few, up to the next address.
            let mut diagnostic = line.to_string();
            for next in lines.iter().skip(i + 1).take(6) {
                if !addresses_in(next).is_empty() && next.contains('<') {
                    break;
                }
                diagnostic.push(' ');
                diagnostic.push_str(next.trim());
            }
            let status = enhanced_status(&diagnostic)
                .or_else(|| smtp_code(&diagnostic).map(|c| format!("{}.0.0", &c[..1])));
            let v = verdict(Some("failed"), status.as_deref(), &diagnostic);
            out.push(RecipientReport {
                address,
                status,
                action: Some("failed".into()),
                verdict: v,
                diagnostic,
            });
        }
    }
    let whole: String = explanation.split_whitespace().collect::<Vec<_>>().join(" ");
    // A recipient whose own lines say nothing takes the explanation's verdict.
    for r in out.iter_mut() {
        if !super::classify::is_telling(r.status.as_deref(), &r.diagnostic) {
            r.status = enhanced_status(&whole);
            r.verdict = verdict(r.action.as_deref(), r.status.as_deref(), &whole);
        }
    }
    // With one recipient, the whole explanation is about it.
    if let [only] = out.as_mut_slice() {
        if only.status.is_none() || only.status.as_deref().is_some_and(|s| s.ends_with(".0.0")) {
            if let Some(status) = enhanced_status(&whole) {
                only.status = Some(status);
            }
        }
        only.verdict = verdict(only.action.as_deref(), only.status.as_deref(), &whole);
        only.diagnostic = whole.chars().take(1000).collect();
    }
    out
}

/// The first three-digit SMTP reply code (4xx or 5xx) standing alone in `text`.
fn smtp_code(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() == 3
                && (w.starts_with('4') || w.starts_with('5'))
                && w.chars().all(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
}

fn is_auto_reply(message: &Message) -> bool {
    let header = |name: &'static str| raw_header(message, name).map(lower).unwrap_or_default();
    let auto = header("auto-submitted");
    if auto.starts_with("auto-replied") {
        return true;
    }
    if message.header_raw("X-Autoreply").is_some()
        || message.header_raw("X-Autorespond").is_some()
        || header("precedence") == "auto_reply"
        || header("x-auto-response-suppress").contains("all")
            && lower(message.subject().unwrap_or("")).contains("automatic reply")
    {
        return true;
    }
    let subject = lower(message.subject().unwrap_or(""));
    [
        "out of office",
        "out of the office",
        "automatic reply",
        "auto reply",
        "autoreply",
        "vacation",
        "away until",
        "on leave",
    ]
    .iter()
    .any(|s| subject.contains(s))
}

fn content_type_is(part: &mail_parser::MessagePart, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|x| s.eq_ignore_ascii_case(x)))
    })
}

/// Reads one mail.
pub fn parse_bounce(raw: &[u8]) -> ParsedBounce {
    let Some(message) = MessageParser::default().parse(raw) else {
        return ParsedBounce::default();
    };
    let mut parsed = ParsedBounce {
        delivered_to: addresses_of(
            &message,
            &[
                "Delivered-To",
                "X-Original-To",
                "Envelope-To",
                "X-Envelope-To",
                "To",
                "X-Failed-Recipients",
            ],
        ),
        ..ParsedBounce::default()
    };
    let mut dsn_text = String::new();
    let mut feedback_text = String::new();
    let mut plain_text = String::new();
    for part in message.parts.iter() {
        let body = String::from_utf8_lossy(part.contents()).into_owned();
        if content_type_is(
            part,
            "message",
            &["delivery-status", "global-delivery-status"],
        ) || content_type_is(part, "text", &["delivery-status"])
        {
            dsn_text.push_str(&body);
            dsn_text.push_str("\n\n");
        } else if content_type_is(part, "message", &["feedback-report"]) {
            feedback_text.push_str(&body);
        } else if content_type_is(part, "text", &["rfc822-headers"])
            || content_type_is(part, "message", &["rfc822-headers"])
        {
            let quoted = MessageParser::default().parse_headers(part.contents());
            if let Some(q) = quoted {
                collect_returned(&q, &mut parsed);
            }
        } else if let PartType::Message(inner) = &part.body {
            collect_returned(inner, &mut parsed);
        } else if let PartType::Text(t) = &part.body {
            if plain_text.is_empty()
                || part
                    .content_type()
                    .is_none_or(|c| c.subtype() != Some("html"))
            {
                plain_text.push_str(t);
                plain_text.push('\n');
            }
        } else if let PartType::Html(h) = &part.body {
            if plain_text.trim().is_empty() {
                plain_text.push_str(&strip_tags(h));
            }
        }
    }
    // Returned headers quoted in a plain-text bounce.
    if parsed.returned_message_ids.is_empty() {
        for line in plain_text.lines() {
            let l = lower(line);
            if let Some(rest) = l.strip_prefix("message-id:") {
                let id = rest.trim().trim_matches(['<', '>']).to_string();
                if !id.is_empty() && line.len() < 300 {
                    parsed.returned_message_ids.push(id);
                }
            }
        }
    }

    if !feedback_text.is_empty() {
        let groups = field_groups(&feedback_text);
        let mut recipients: Vec<String> = groups
            .iter()
            .flat_map(|g| g.iter())
            .filter(|(n, _)| n == "original-rcpt-to" || n == "removal-recipient")
            .filter_map(|(_, v)| typed_address(v))
            .collect();
        if recipients.is_empty() {
            recipients = returned_to(&message);
        }
        recipients.dedup();
        parsed.recipients = recipients
            .into_iter()
            .map(|address| RecipientReport {
                address,
                status: None,
                action: None,
                verdict: BounceVerdict::Complaint,
                diagnostic: "feedback report".into(),
            })
            .collect();
        return parsed;
    }

    if let Some(reports) = ses_notification(&plain_text) {
        parsed.recipients = reports;
        return parsed;
    }
    // A report whose MIME structure is broken still carries its delivery-status fields.
    if dsn_text.is_empty() && lower(&plain_text).contains("final-recipient:") {
        dsn_text = plain_text.clone();
    }
    if !dsn_text.is_empty() {
        parsed.recipients = parse_delivery_status(&dsn_text);
        if !parsed.recipients.is_empty() {
            refine_from_text(&mut parsed.recipients, &plain_text);
            return parsed;
        }
    }

    let from = addresses_of(&message, &["From", "Sender"]);
    let looks_like_bounce = {
        let subject = lower(message.subject().unwrap_or(""));
        let sender = from.first().map(String::as_str).unwrap_or("");
        let return_path = raw_header(&message, "Return-Path").unwrap_or("");
        raw_header(&message, "X-Failed-Recipients").is_some()
            || sender.starts_with("mailer-daemon")
            || sender.starts_with("postmaster")
            || sender.contains("mailer-daemon")
            || return_path == "<>"
            || [
                "undeliver",
                "delivery",
                "failure",
                "failed",
                "returned",
                "bounce",
                "not delivered",
                "rejected",
                "error",
                "could not be delivered",
                "non remis",
                "unzustellbar",
                "エラー",
                "不達",
                "未達",
            ]
            .iter()
            .any(|w| subject.contains(w))
            || looks_like_bounce_body(&plain_text)
    };
    let failed_header = raw_header(&message, "X-Failed-Recipients").is_some();
    let from_daemon = from
        .first()
        .is_some_and(|f| f.contains("mailer-daemon") || f.starts_with("postmaster@"));
    if !failed_header
        && !from_daemon
        && is_auto_reply(&message)
        && !looks_like_bounce_body(&plain_text)
    {
        parsed.recipients = from
            .into_iter()
            .take(1)
            .map(|address| RecipientReport {
                address,
                status: None,
                action: None,
                verdict: BounceVerdict::AutoReply,
                diagnostic: message.subject().unwrap_or("").to_string(),
            })
            .collect();
        return parsed;
    }
    if !looks_like_bounce {
        return parsed;
    }
    let mut exclude = from;
    exclude.extend(addresses_of(&message, &["To", "Reply-To", "Return-Path"]));
    if let Some(failed) = raw_header(&message, "X-Failed-Recipients") {
        let failed = addresses_in(failed);
        if !failed.is_empty() {
            exclude.retain(|a| !failed.contains(a));
            let mut reports = parse_plain(&plain_text, &exclude);
            reports.retain(|r| failed.contains(&r.address));
            for address in failed {
                if !reports.iter().any(|r| r.address == address) {
                    reports.push(RecipientReport {
                        verdict: verdict(Some("failed"), None, &plain_text),
                        address,
                        status: enhanced_status(&plain_text),
                        action: Some("failed".into()),
                        diagnostic: String::new(),
                    });
                }
            }
            parsed.recipients = reports;
            return parsed;
        }
    }
    parsed.recipients = parse_plain(&plain_text, &exclude);
    if parsed.recipients.is_empty() {
        // Nothing named in the text: the bounce is about the returned message's recipient.
        let explanation = explanation(&plain_text);
        parsed.recipients = returned_to(&message)
            .into_iter()
            .take(1)
            .map(|address| RecipientReport {
                address,
                status: enhanced_status(explanation),
                action: Some("failed".into()),
                verdict: verdict(
                    Some("failed"),
                    enhanced_status(explanation).as_deref(),
                    explanation,
                ),
                diagnostic: explanation.trim().chars().take(500).collect(),
            })
            .collect();
    }
    parsed
}

/// Amazon SES bounce, complaint and delivery notifications (JSON, possibly inside an SNS
/// envelope whose `Message` is the JSON as a string).
fn ses_notification(text: &str) -> Option<Vec<RecipientReport>> {
    let start = text.find('{')?;
    let mut value: serde_json::Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter()
        .next()?
        .ok()?;
    if let Some(inner) = value.get("Message").and_then(|m| m.as_str()) {
        value = serde_json::from_str(inner).ok()?;
    }
    let kind = value
        .get("notificationType")
        .or_else(|| value.get("eventType"))?
        .as_str()?
        .to_ascii_lowercase();
    let list = |section: &str, key: &str| -> Vec<serde_json::Value> {
        value
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(|l| l.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let reports = match kind.as_str() {
        "bounce" => {
            let permanent = value
                .pointer("/bounce/bounceType")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t == "Permanent");
            list("bounce", "bouncedRecipients")
                .iter()
                .filter_map(|r| {
                    let address = lower(r.get("emailAddress")?.as_str()?);
                    let status = r
                        .get("status")
                        .and_then(|s| s.as_str())
                        .and_then(enhanced_status);
                    let diagnostic = r
                        .get("diagnosticCode")
                        .and_then(|d| d.as_str())
                        .unwrap_or("")
                        .to_string();
                    let action = r.get("action").and_then(|a| a.as_str()).map(lower);
                    let mut v = verdict(action.as_deref(), status.as_deref(), &diagnostic);
                    if !permanent && v == BounceVerdict::Hard {
                        v = BounceVerdict::Soft;
                    }
                    Some(RecipientReport {
                        address,
                        status,
                        action,
                        verdict: v,
                        diagnostic,
                    })
                })
                .collect()
        }
        "complaint" => list("complaint", "complainedRecipients")
            .iter()
            .filter_map(|r| {
                Some(RecipientReport {
                    address: lower(r.get("emailAddress")?.as_str()?),
                    status: None,
                    action: None,
                    verdict: BounceVerdict::Complaint,
                    diagnostic: "complaint".into(),
                })
            })
            .collect(),
        "delivery" => list("delivery", "recipients")
            .iter()
            .filter_map(|r| {
                Some(RecipientReport {
                    address: lower(r.as_str()?),
                    status: Some("2.0.0".into()),
                    action: Some("delivered".into()),
                    verdict: BounceVerdict::Delivered,
                    diagnostic: "delivered".into(),
                })
            })
            .collect(),
        _ => return None,
    };
    Some(reports)
}

/// Whether a text reads like a delivery failure (so an auto-reply header is not trusted).
fn looks_like_bounce_body(text: &str) -> bool {
    let l = lower(text);
    [
        "delivery has failed",
        "could not be delivered",
        "undeliverable",
        "permanent error",
        "user unknown",
        "delivery status notification",
        "not a member of this mailing list",
        "message could not be delivered",
    ]
    .iter()
    .any(|w| l.contains(w))
}

/// A DSN's status is often a bare 5.0.0; the human-readable part may say more.
fn refine_from_text(recipients: &mut [RecipientReport], text: &str) {
    if recipients.len() != 1 || text.is_empty() {
        return;
    }
    let r = &mut recipients[0];
    if r.diagnostic.is_empty() {
        let explanation = explanation(text);
        r.verdict = verdict(r.action.as_deref(), r.status.as_deref(), explanation);
        r.diagnostic = explanation.trim().chars().take(500).collect();
    }
}

fn collect_returned(message: &Message, parsed: &mut ParsedBounce) {
    if let Some(id) = message.message_id() {
        let id = id.trim_matches(['<', '>']).to_string();
        if !parsed.returned_message_ids.contains(&id) {
            parsed.returned_message_ids.push(id);
        }
    }
    for a in addresses_of(message, &["Return-Path"]) {
        if !parsed.returned_senders.contains(&a) {
            parsed.returned_senders.push(a);
        }
    }
}

/// The To addresses of the message quoted in a report.
fn returned_to(message: &Message) -> Vec<String> {
    for part in message.parts.iter() {
        if let PartType::Message(inner) = &part.body {
            let to = addresses_of(inner, &["To"]);
            if !to.is_empty() {
                return to;
            }
        }
        if content_type_is(part, "text", &["rfc822-headers"]) {
            if let Some(q) = MessageParser::default().parse_headers(part.contents()) {
                let to = addresses_of(&q, &["To"]);
                if !to.is_empty() {
                    return to;
                }
            }
        }
    }
    Vec::new()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
