//! Golden tests of the two digest styles, and proof that hostile captions, names and entry texts
//! are escaped in HTML and can never add a header.

use chrono::{TimeZone, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use mcap_notify::batch::{CaseChanges, Digest, EntryLine, MessageFactory, Renderer};
use mcap_notify::config::{DigestStyle, LinkSettings, MailSettings, Secret};
use mcap_notify::unsubscribe::token::{Scope, TokenKeys};

fn mail_settings() -> MailSettings {
    MailSettings {
        token_secret: Secret::new("golden-secret"),
        ..MailSettings::default()
    }
}

/// The run and the instant every golden digest is rendered at (tokens depend on both).
const RUN: i64 = 12;

fn sent_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap()
}

fn factory(style: DigestStyle) -> MessageFactory {
    MessageFactory::new(&mail_settings(), Renderer::new(style, None).unwrap()).unwrap()
}

fn entry(
    seq: i64,
    code: &str,
    description: &str,
    text: &str,
    filed_by: &str,
    hour: u32,
) -> EntryLine {
    EntryLine {
        seq,
        entry_id: format!("DE{seq:07}"),
        code: code.into(),
        description: description.into(),
        text: text.into(),
        filed_by: filed_by.into(),
        // 2026-03-09 is the first Monday of daylight time in Missouri.
        posted_at: Utc.with_ymd_and_hms(2026, 3, 9, hour, 5, 0).unwrap(),
    }
}

fn sample_digest() -> Digest {
    Digest {
        account_id: "U010042".into(),
        email: "keisha.brooks@example.com".into(),
        email_verified: true,
        suppressed: false,
        part: None,
        dates: Vec::new(),
        new_cases: Vec::new(),
        paused_watches: Vec::new(),
        cases: vec![
            CaseChanges {
                case_number: "2616-CR01411".into(),
                caption: "State of Missouri v. Darnell Washington".into(),
                court_id: "CT16".into(),
                court_name: "16th Judicial Circuit (Jackson)".into(),
                subscription_id: 7,
                entries: vec![
                    entry(
                        31,
                        "WARI",
                        "Warrant Issued",
                        "Failure to Appear Warrant; Bond Set at $2,500 cash only",
                        "Court Clerk",
                        14,
                    ),
                    entry(
                        35,
                        "HRSC",
                        "Hearing Scheduled",
                        "Scheduled For: 23-Mar-2026; 9:00 AM; Div 3 Hon. Marcus D. Greene; Jackson",
                        "Court Clerk",
                        15,
                    ),
                ],
            },
            CaseChanges {
                case_number: "2631A-CV00877".into(),
                caption: "Midwest Credit Recovery LLC v. Keisha Brooks".into(),
                court_id: "CT31".into(),
                court_name: "31st Judicial Circuit (Greene)".into(),
                subscription_id: 9,
                entries: vec![entry(40, "JE", "Judgment Entered", "", "Court Clerk", 16)],
            },
        ],
    }
}

#[test]
fn detailed_style_lists_every_entry_with_its_code_filer_and_central_time() {
    let rendered = factory(DigestStyle::Detailed)
        .render(RUN, &sample_digest(), sent_at())
        .unwrap();
    insta::assert_snapshot!("detailed_subject", rendered.subject);
    insta::assert_snapshot!("detailed_text", rendered.text);
    insta::assert_snapshot!("detailed_html", rendered.html);
}

#[test]
fn casenet_style_names_only_the_case_numbers() {
    let rendered = factory(DigestStyle::Casenet)
        .render(RUN, &sample_digest(), sent_at())
        .unwrap();
    insta::assert_snapshot!("casenet_subject", rendered.subject);
    insta::assert_snapshot!("casenet_text", rendered.text);
    insta::assert_snapshot!("casenet_html", rendered.html);
    assert!(!rendered.text.contains("Warrant"));
}

fn linked(style: DigestStyle) -> MessageFactory {
    factory(style).with_links(&LinkSettings {
        case_url: Some(
            "https://www.courts.mo.gov/cnet/cases/newHeaderData.do?caseNumber={case_number}&courtId={court_id}"
                .into(),
        ),
        manage_url: Some("https://www.courts.mo.gov/casenet/mycases".into()),
    })
}

#[test]
fn with_links_every_case_links_to_its_docket_and_the_digest_to_the_tracked_cases() {
    for (style, name) in [
        (DigestStyle::Detailed, "detailed"),
        (DigestStyle::Casenet, "casenet"),
    ] {
        let rendered = linked(style)
            .render(RUN, &sample_digest(), sent_at())
            .unwrap();
        insta::assert_snapshot!(format!("{name}_linked_text"), rendered.text);
        insta::assert_snapshot!(format!("{name}_linked_html"), rendered.html);
        for (number, court) in [("2616-CR01411", "CT16"), ("2631A-CV00877", "CT31")] {
            let url = format!(
                "https://www.courts.mo.gov/cnet/cases/newHeaderData.do?caseNumber={number}&courtId={court}"
            );
            assert!(
                rendered.text.contains(&url),
                "{name}: {url}\n{}",
                rendered.text
            );
            assert!(
                rendered.html.contains(&handlebars::html_escape(&url)),
                "{name}: {url}\n{}",
                rendered.html
            );
        }
        assert!(rendered
            .text
            .contains("Manage the cases you track: https://www.courts.mo.gov/casenet/mycases"));
    }
    // Without them the detailed mail says where to look the case up.
    let plain = factory(DigestStyle::Detailed)
        .render(RUN, &sample_digest(), sent_at())
        .unwrap();
    assert!(plain.text.contains("Find it on Case.net"));
    assert!(!plain.text.contains("Manage the cases you track"));
}

#[test]
fn a_case_number_cannot_break_out_of_its_link() {
    let mut digest = sample_digest();
    digest.cases[0].case_number = "26\"><script>x</script>&a=b".into();
    let rendered = linked(DigestStyle::Detailed)
        .render(RUN, &digest, sent_at())
        .unwrap();
    assert!(rendered
        .text
        .contains("caseNumber=26%22%3E%3Cscript%3Ex%3C%2Fscript%3E%26a%3Db&courtId=CT16"));
    assert!(!rendered.html.contains("<script>x"));
}

#[test]
fn a_long_caption_keeps_the_subject_within_78_characters() {
    let mut digest = sample_digest();
    digest.cases.truncate(1);
    digest.cases[0].caption =
        "State of Missouri v. Bartholomew Alexander Montgomery-Fitzgerald III and Others".into();
    for style in [DigestStyle::Detailed, DigestStyle::Casenet] {
        let subject = factory(style)
            .render(RUN, &digest, sent_at())
            .unwrap()
            .subject;
        assert!(subject.chars().count() <= 78, "{subject}");
    }
    let subject = factory(DigestStyle::Detailed)
        .render(RUN, &digest, sent_at())
        .unwrap()
        .subject;
    assert_eq!(subject, "2 new filings: 2616-CR01411 Montgomery-Fitzgerald");
    digest.part = Some((2, 3));
    let subject = factory(DigestStyle::Detailed)
        .render(RUN, &digest, sent_at())
        .unwrap()
        .subject;
    assert_eq!(
        subject,
        "2 new filings: 2616-CR01411 Montgomery-Fitzgerald (part 2 of 3)"
    );
    assert!(subject.chars().count() <= 78, "{subject}");
}

#[test]
fn a_single_case_digest_names_the_case_in_its_subject() {
    let mut digest = sample_digest();
    digest.cases.truncate(1);
    let rendered = factory(DigestStyle::Detailed)
        .render(RUN, &digest, sent_at())
        .unwrap();
    assert_eq!(rendered.subject, "2 new filings: 2616-CR01411 Washington");
}

fn hostile_digest() -> Digest {
    let mut digest = sample_digest();
    digest.cases.truncate(1);
    let case = &mut digest.cases[0];
    case.caption =
        "Evil v. Corp\r\nBcc: victim@example.net\r\nX-Injected: yes <script>alert(1)</script>"
            .into();
    case.entries.truncate(1);
    case.entries[0].filed_by = "<img src=x onerror=alert(2)> & Co".into();
    case.entries[0].text = "line one\r\n\r\nSubject: forged\n<b>bold</b>".into();
    digest
}

#[test]
fn hostile_text_is_escaped_in_html() {
    let rendered = factory(DigestStyle::Detailed)
        .render(RUN, &hostile_digest(), sent_at())
        .unwrap();
    assert!(!rendered.html.contains("<script>"));
    assert!(!rendered.html.contains("<img"));
    assert!(!rendered.html.contains("<b>bold"));
    assert!(rendered
        .html
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(rendered
        .html
        .contains("&lt;img src&#x3D;x onerror&#x3D;alert(2)&gt; &amp; Co"));
}

#[test]
fn hostile_captions_cannot_inject_headers() {
    let date = Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap();
    let message = factory(DigestStyle::Detailed)
        .build(12, &hostile_digest(), date)
        .unwrap();
    assert!(!message.mail.subject.contains('\r') && !message.mail.subject.contains('\n'));
    let parsed = MessageParser::default().parse(&message.mail.raw).unwrap();
    assert!(parsed.header("Bcc").is_none(), "no Bcc header");
    assert!(parsed.header("X-Injected").is_none(), "no injected header");
    // The subject names the first party only; what follows the line break is not in it.
    assert_eq!(parsed.subject().unwrap(), "1 new filing: 2616-CR01411 Evil");
    let to: Vec<_> = parsed
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, vec!["keisha.brooks@example.com"]);
    // The header block has exactly one Subject line.
    let raw = String::from_utf8_lossy(&message.mail.raw);
    let headers = raw.split("\r\n\r\n").next().unwrap();
    assert_eq!(
        headers.matches("\r\nSubject:").count() + usize::from(headers.starts_with("Subject:")),
        1
    );
}

#[test]
fn every_message_carries_the_required_headers_and_both_parts() {
    let date = Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap();
    let f = factory(DigestStyle::Detailed);
    let message = f.build(12, &sample_digest(), date).unwrap();
    let again = f.build(12, &sample_digest(), date).unwrap();
    assert_eq!(
        message.mail.message_id, again.mail.message_id,
        "Message-ID is deterministic"
    );
    assert_ne!(message.mail.message_id, f.message_id(13, "U010042", &[1]));
    let parsed = MessageParser::default().parse(&message.mail.raw).unwrap();
    assert_eq!(
        format!("<{}>", parsed.message_id().unwrap()),
        message.mail.message_id
    );
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    let unsubscribe = parsed.header_raw("List-Unsubscribe").unwrap();
    assert_eq!(
        parsed.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(unsubscribe.contains("<mailto:unsubscribe@alerts.example.org?subject=unsubscribe%20"));
    assert!(unsubscribe.contains("<https://alerts.example.org/unsubscribe?token="));
    let token = unsubscribe
        .split("token=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    // The token names the message, whose subscriptions are recorded when it is queued.
    let keys = TokenKeys::from_settings(&mail_settings());
    let verified = keys.verify(token, date).unwrap();
    assert_eq!(verified.scope, Scope::Message(message.scope_key.clone()));
    assert_eq!(message.subscription_ids, vec![7, 9]);
    assert!(message.mail.message_id.contains(&message.scope_key));
    let ctype = parsed.root_part().content_type().unwrap();
    assert_eq!(ctype.subtype(), Some("alternative"));
    assert_eq!(parsed.text_body_count(), 1);
    assert_eq!(parsed.html_body_count(), 1);
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains("not official court notice"));
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains("not official court notice"));
}

#[test]
fn accented_and_long_captions_are_encoded_in_the_subject_and_wrap_in_the_text() {
    let mut digest = sample_digest();
    digest.cases[0].caption =
        "In Re the Marriage of: Zoë Amélie Côté-Brontë and Björn Ångström".into();
    digest.cases[1].caption = "First Missouri Community Credit Union of Greater Kansas City \
        Holdings Corporation and Affiliated Lenders v. Keisha Brooks"
        .into();
    let f = linked(DigestStyle::Detailed);
    let rendered = f.render(RUN, &digest, sent_at()).unwrap();
    insta::assert_snapshot!("detailed_accented_subject", rendered.subject);
    insta::assert_snapshot!("detailed_accented_text", rendered.text);
    insta::assert_snapshot!("detailed_accented_html", rendered.html);
    assert_eq!(
        rendered.subject,
        "3 new filings: 2616-CR01411 Côté-Brontë and 1 more case"
    );
    let date = Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap();
    let message = f.build(12, &digest, date).unwrap();
    let raw = String::from_utf8_lossy(&message.mail.raw);
    let headers = raw.split("\r\n\r\n").next().unwrap();
    assert!(headers.is_ascii(), "the header block is ASCII: {headers}");
    assert!(
        headers.contains("=?utf-8?"),
        "the subject is encoded: {headers}"
    );
    let parsed = MessageParser::default().parse(&message.mail.raw).unwrap();
    assert_eq!(parsed.subject().unwrap(), rendered.subject);
}
