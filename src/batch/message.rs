//! Assembly: a rendered digest becomes an RFC 5322 message (multipart/alternative) with the
//! headers an automated notice must carry: a deterministic `Message-ID`, `Auto-Submitted`, and
//! one-click unsubscribe (RFC 8058): `List-Unsubscribe` with a signed token naming the message,
//! and `List-Unsubscribe-Post`.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use chrono_tz::America::Chicago;
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{Address, Message};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

use super::digest::Digest;
use super::render::{single_line, DigestLinks, RenderError, RenderedDigest, Renderer};
use crate::config::{DigestStyle, LinkSettings, MailSettings};
use crate::dkim::DkimSigner;
use crate::hearings::ical;
use crate::model::EventStatus;
use crate::store::{DateNoticeKey, Mail, QueuedMessage};
use crate::unsubscribe::token::{Scope, TokenKeys};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("mail.from: {0}")]
    From(String),
    #[error("account {account_id}: address `{email}` is not usable: {reason}")]
    Recipient {
        account_id: String,
        email: String,
        reason: String,
    },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("building the message for account {account_id}: {source}")]
    Build {
        account_id: String,
        source: lettre::error::Error,
    },
    /// The panic's own text, which may quote what was being built, goes only to the log.
    #[error(
        "building the message for account {account_id} failed on a bug (the panic is in the log)"
    )]
    Panicked { account_id: String },
}

/// `Auto-Submitted: auto-generated` (RFC 3834): keeps vacation responders quiet.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, BoxError> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// `List-Unsubscribe` (RFC 2369): a mailto and a web link, both carrying the token.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, BoxError> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a POST to the web link
/// unsubscribes without further steps, and mail scanners that merely GET it change nothing.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, BoxError> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// One message of a digest, with how many cases it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPart {
    pub cases: usize,
    pub message: QueuedMessage,
}

/// Builds queued messages from digests.
#[derive(Debug)]
pub struct MessageFactory {
    from: Mailbox,
    domain: String,
    unsubscribe_mailto: String,
    unsubscribe_url: String,
    token_secret: String,
    tokens: TokenKeys,
    bounce_address: String,
    renderer: Renderer,
    max_message_bytes: usize,
    links: LinkSettings,
    dkim: Option<std::sync::Arc<DkimSigner>>,
}

/// What is encoded in a value put into a URL: everything but RFC 3986's unreserved characters,
/// so case numbers keep their dashes.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl MessageFactory {
    pub fn new(mail: &MailSettings, renderer: Renderer) -> Result<Self, MessageError> {
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|e| MessageError::From(format!("`{}`: {e}", mail.from)))?;
        if !mail.bounce_address.contains('@') {
            return Err(MessageError::From(format!(
                "bounce address `{}` has no domain",
                mail.bounce_address
            )));
        }
        Ok(MessageFactory {
            domain: from.email.domain().to_string(),
            from,
            unsubscribe_mailto: mail.unsubscribe_mailto.clone(),
            unsubscribe_url: mail.unsubscribe_url.clone(),
            token_secret: mail.token_secret.expose().to_string(),
            tokens: TokenKeys::from_settings(mail),
            bounce_address: mail.bounce_address.clone(),
            renderer,
            max_message_bytes: usize::MAX,
            links: LinkSettings::default(),
            dkim: None,
        })
    }

    /// Links to each case's docket page and to where subscribers manage what they track.
    pub fn with_links(mut self, links: &LinkSettings) -> Self {
        self.links = links.clone();
        self
    }

    /// Signs every message it builds (none when `None`).
    pub fn with_dkim(mut self, signer: Option<std::sync::Arc<DkimSigner>>) -> Self {
        self.dkim = signer;
        self
    }

    /// `links.case_url` filled in for one case, its values percent-encoded.
    fn case_url(&self, case_number: &str, court_id: &str) -> Option<String> {
        let encode = |v: &str| utf8_percent_encode(v, URL_VALUE).to_string();
        self.links.case_url.as_ref().map(|template| {
            template
                .replace("{case_number}", &encode(case_number))
                .replace("{court_id}", &encode(court_id))
        })
    }

    /// Caps the size of one message: [`MessageFactory::build_parts`] splits a digest over it.
    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// Builds the digest as one message, or, when that would exceed the size cap, as several
    /// that each fit, numbered "part 1 of N" in their subjects. A single entry too large for
    /// the cap still goes, alone.
    pub fn build_parts(
        &self,
        run_id: i64,
        digest: &Digest,
        date: DateTime<Utc>,
    ) -> Result<Vec<BuiltPart>, MessageError> {
        let whole = self.build(run_id, digest, date)?;
        if whole.mail.raw.len() <= self.max_message_bytes {
            return Ok(vec![BuiltPart {
                cases: digest.cases.len(),
                message: whole,
            }]);
        }
        // Room for the part number the subjects gain.
        let cap = self.max_message_bytes.saturating_sub(64);
        let mut parts = Vec::new();
        let mut pending = vec![digest.clone()];
        while let Some(piece) = pending.pop() {
            let fits = self.build(run_id, &piece, date)?.mail.raw.len() <= cap;
            match piece.split_in_two() {
                Some((first, second)) if !fits => {
                    pending.push(second);
                    pending.push(first);
                }
                _ => parts.push(piece),
            }
        }
        let of = parts.len();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, mut part)| {
                part.part = Some((i + 1, of));
                Ok(BuiltPart {
                    cases: part.cases.len(),
                    message: self.build(run_id, &part, date)?,
                })
            })
            .collect()
    }

    /// A key naming one digest: its run, its account and the entries it reports. A run that
    /// resumes after a crash may owe an account another digest (a subscription or a case
    /// changed meanwhile, a digest withheld and rebuilt without a sealed entry); that digest
    /// reports other entries, so it gets another key. The hash is keyed with the token secret,
    /// so the key cannot be derived from what a recipient or a third party can see.
    fn message_key(&self, run_id: i64, account_id: &str, entry_seqs: &[i64]) -> String {
        self.message_key_with_dates(run_id, account_id, entry_seqs, &[], &[])
    }

    /// The key of a digest that also carries date notices or watch notices: they are part of
    /// what it reports.
    fn message_key_with_dates(
        &self,
        run_id: i64,
        account_id: &str,
        entry_seqs: &[i64],
        dates: &[DateNoticeKey],
        watches: &[(&str, &str)],
    ) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.token_secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(format!("digest\n{run_id}\n{account_id}\n").as_bytes());
        for seq in entry_seqs {
            mac.update(format!("{seq},").as_bytes());
        }
        for key in dates {
            let (notice, days) = key.notice.columns();
            mac.update(
                format!("\ndate {}:{}:{notice}:{days}", key.event_id, key.version).as_bytes(),
            );
        }
        for (watch_id, case_number) in watches {
            mac.update(format!("\nwatch {watch_id}:{case_number}").as_bytes());
        }
        let hash = mac.finalize().into_bytes();
        format!("{run_id}.{}", hex::encode(&hash[..10]))
    }

    /// The same digest always gets the same id, so a message rebuilt after a crash, or sent
    /// again after a lost acknowledgement, is recognisably the same message.
    pub fn message_id(&self, run_id: i64, account_id: &str, entry_seqs: &[i64]) -> String {
        self.message_id_for(&self.message_key(run_id, account_id, entry_seqs))
    }

    fn digest_key(&self, run_id: i64, digest: &Digest) -> String {
        // A pause told is news too: its watch, with no case.
        let watches: Vec<(&str, &str)> = (digest.new_cases.iter())
            .map(|n| (n.watch_id.as_str(), n.case_number.as_str()))
            .chain(
                digest
                    .paused_watches
                    .iter()
                    .map(|p| (p.watch_id.as_str(), "")),
            )
            .collect();
        self.message_key_with_dates(
            run_id,
            &digest.account_id,
            &digest.entry_seqs(),
            &digest.date_keys(),
            &watches,
        )
    }

    fn message_id_for(&self, message_key: &str) -> String {
        format!("<digest.{message_key}@{}>", self.domain)
    }

    fn web_link(&self, token: &str) -> String {
        format!("{}?token={token}", self.unsubscribe_url)
    }

    /// The links of the message `message_key` names, its tokens issued at `date`.
    fn links(&self, digest: &Digest, message_key: &str, date: DateTime<Utc>) -> DigestLinks {
        let whole = self
            .tokens
            .token(&Scope::Message(message_key.to_string()), date);
        DigestLinks {
            manage_url: self.links.manage_url.clone(),
            case_urls: digest
                .cases
                .iter()
                .map(|c| self.case_url(&c.case_number, &c.court_id))
                .collect(),
            unsubscribe_url: self.web_link(&whole),
            stop_urls: digest
                .cases
                .iter()
                .map(|c| {
                    self.web_link(
                        &self
                            .tokens
                            .token(&Scope::Subscription(c.subscription_id), date),
                    )
                })
                .collect(),
        }
    }

    fn list_unsubscribe(&self, message_key: &str, date: DateTime<Utc>) -> ListUnsubscribe {
        let token = self
            .tokens
            .token(&Scope::Message(message_key.to_string()), date);
        ListUnsubscribe(format!(
            "<{}>, <mailto:{}?subject=unsubscribe%20{token}>",
            self.web_link(&token),
            self.unsubscribe_mailto,
        ))
    }

    /// Renders the message the digest would make in run `run_id` at `date`, without assembling
    /// it (for previews and tests).
    pub fn render(
        &self,
        run_id: i64,
        digest: &Digest,
        date: DateTime<Utc>,
    ) -> Result<RenderedDigest, MessageError> {
        let key = self.digest_key(run_id, digest);
        Ok(self
            .renderer
            .render(digest, &self.links(digest, &key, date))?)
    }

    /// Renders and assembles the digest into a message ready for the outbox.
    pub fn build(
        &self,
        run_id: i64,
        digest: &Digest,
        date: DateTime<Utc>,
    ) -> Result<QueuedMessage, MessageError> {
        let recipient_error = |reason: String| MessageError::Recipient {
            account_id: digest.account_id.clone(),
            email: digest.email.clone(),
            reason,
        };
        let to: Address = digest
            .email
            .parse()
            .map_err(|e: lettre::address::AddressError| recipient_error(e.to_string()))?;
        let message_key = self.digest_key(run_id, digest);
        let rendered = self
            .renderer
            .render(digest, &self.links(digest, &message_key, date))?;
        let message_id = self.message_id_for(&message_key);
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .subject(rendered.subject.clone())
            .message_id(Some(message_id.clone()))
            .date(SystemTime::from(date))
            .header(AutoSubmitted)
            .header(self.list_unsubscribe(&message_key, date))
            .header(ListUnsubscribePost)
            .multipart(with_calendars(
                MultiPart::alternative_plain_html(
                    crlf_line_endings(&rendered.text),
                    crlf_line_endings(&rendered.html),
                ),
                &self.calendars(digest, date),
            ))
            .map_err(|source| MessageError::Build {
                account_id: digest.account_id.clone(),
                source,
            })?;
        if let Some(signer) = &self.dkim {
            signer
                .sign(&mut message)
                .map_err(|source| MessageError::Build {
                    account_id: digest.account_id.clone(),
                    source,
                })?;
        }
        Ok(QueuedMessage {
            mail: Mail {
                account_id: digest.account_id.clone(),
                recipient: to.to_string(),
                // The bounce mailbox; the message's own return path, naming its outbox id,
                // is made when it is sent (see `bounce::verp`).
                envelope_from: self.bounce_address.clone(),
                message_id,
                subject: rendered.subject,
                raw: message.formatted(),
            },
            entry_seqs: digest.entry_seqs(),
            scope_key: message_key,
            subscription_ids: digest.subscription_ids(),
            date_notices: digest.queued_date_notices(),
            watch_notices: digest.watch_keys(),
            watch_pauses: digest.paused_watch_ids(),
        })
    }
}

/// A calendar attachment: its file name, MIME type and text.
struct CalendarFile {
    name: String,
    content_type: ContentType,
    text: String,
}

impl MessageFactory {
    /// One calendar entry per court date of the digest, following the date: the same UID for
    /// every notice of one date, its version as the SEQUENCE.
    fn calendars(&self, digest: &Digest, date: DateTime<Utc>) -> Vec<CalendarFile> {
        // Two ids can make one file name (`a.b`, `a/b`); each file keeps a name of its own.
        let mut names = std::collections::HashSet::new();
        digest
            .dates
            .iter()
            .map(|item| {
                let uid = format!("event-{}@{}", item.event.event_id, self.domain);
                // The `casenet` style names the case by its number alone, here too.
                let (summary, description, location) = match self.renderer.style() {
                    DigestStyle::Detailed => (
                        super::date_text::calendar_summary(item),
                        super::date_text::calendar_description(item),
                        single_line(&item.event.location),
                    ),
                    DigestStyle::Casenet => (
                        super::date_text::casenet_calendar_summary(item),
                        super::date_text::casenet_calendar_description(),
                        String::new(),
                    ),
                };
                let organizer = self.from.email.to_string();
                let entry = ical::HearingEntry {
                    uid: &uid,
                    sequence: u32::try_from(item.version - 1).unwrap_or(u32::MAX),
                    summary: &summary,
                    description: &description,
                    location: &location,
                    organizer: Some(&organizer),
                    attendee: Some(&digest.email),
                    starts_at: item.event.starts_at,
                    duration: super::date_text::calendar_duration(item),
                    cancelled: item.event.status == EventStatus::Cancelled,
                    stamp: date,
                };
                let content_type = ContentType::parse(&ical::content_type(&entry))
                    .expect("the calendar's MIME type is well formed");
                let stem = file_name(&item.event.event_id);
                let name = (1..)
                    .map(|n| match n {
                        1 => format!("{stem}.ics"),
                        n => format!("{stem}-{n}.ics"),
                    })
                    .find(|name| names.insert(name.clone()))
                    .expect("some number is free");
                CalendarFile {
                    name,
                    content_type,
                    text: crlf_line_endings(&ical::render(&entry, Chicago)),
                }
            })
            .collect()
    }
}

/// The body as a mail holds it: the text and HTML alternatives alone, or, with calendar
/// entries, those alternatives and an attachment per entry.
fn with_calendars(alternative: MultiPart, calendars: &[CalendarFile]) -> MultiPart {
    if calendars.is_empty() {
        return alternative;
    }
    calendars
        .iter()
        .fold(MultiPart::mixed().multipart(alternative), |mixed, file| {
            mixed.singlepart(
                Attachment::new(file.name.clone())
                    .body(file.text.clone(), file.content_type.clone()),
            )
        })
}

/// A file name made of an id: letters, digits, `-` and `_` kept, anything else `_`.
fn file_name(id: &str) -> String {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("court-date-{name}")
}

/// `text` with every line ending CRLF, as a mail body must have it, made in one pass. Given bare
/// line feeds, lettre inserts each carriage return into the string where it stands, which takes
/// time growing with the square of a long digest's size; given CRLF it has nothing to insert.
fn crlf_line_endings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut after_cr = false;
    for c in text.chars() {
        if c == '\n' && !after_cr {
            out.push('\r');
        }
        after_cr = c == '\r';
        out.push(c);
    }
    out
}

#[cfg(test)]
mod line_ending_tests {
    use super::crlf_line_endings;

    #[test]
    fn bare_line_feeds_become_crlf_and_crlf_stays_as_it_is() {
        assert_eq!(crlf_line_endings("a\nb\r\nc\n\n"), "a\r\nb\r\nc\r\n\r\n");
        assert_eq!(crlf_line_endings("\nx"), "\r\nx");
        assert_eq!(crlf_line_endings("no break"), "no break");
        assert_eq!(crlf_line_endings("é\n"), "é\r\n");
    }
}
