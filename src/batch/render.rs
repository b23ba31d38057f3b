//! Rendering: a digest becomes a subject, a plain-text body and an HTML body through handlebars
//! templates. The defaults are compiled in; a configured directory may replace any of them.
//! HTML escapes everything it interpolates; the subject is folded to one line of printable text.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::America::Chicago;
use handlebars::Handlebars;
use serde::Serialize;

use super::digest::Digest;
use crate::config::DigestStyle;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {source}")]
    Template {
        name: String,
        source: Box<handlebars::TemplateError>,
    },
    #[error("template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rendering {name}: {source}")]
    Render {
        name: String,
        source: Box<handlebars::RenderError>,
    },
}

/// The three parts of a rendered digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDigest {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Links the templates need, computed per digest by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestLinks {
    /// Stops every subscription in the digest.
    pub unsubscribe_url: String,
    /// One per case, in the digest's case order.
    pub stop_urls: Vec<String>,
    /// Each case's docket page, in the same order (None without `links.case_url`).
    pub case_urls: Vec<Option<String>>,
    /// Where the subscriber manages what they track (`links.manage_url`).
    pub manage_url: Option<String>,
}

/// (file name under `templates/`, registry name, text or HTML, compiled-in source)
const TEMPLATES: &[(&str, &str, Escape, &str)] = &[
    (
        "detailed/subject.hbs",
        "detailed.subject",
        Escape::Text,
        include_str!("../../templates/detailed/subject.hbs"),
    ),
    (
        "detailed/text.hbs",
        "detailed.text",
        Escape::Text,
        include_str!("../../templates/detailed/text.hbs"),
    ),
    (
        "detailed/html.hbs",
        "detailed.html",
        Escape::Html,
        include_str!("../../templates/detailed/html.hbs"),
    ),
    (
        "casenet/subject.hbs",
        "casenet.subject",
        Escape::Text,
        include_str!("../../templates/casenet/subject.hbs"),
    ),
    (
        "casenet/text.hbs",
        "casenet.text",
        Escape::Text,
        include_str!("../../templates/casenet/text.hbs"),
    ),
    (
        "casenet/html.hbs",
        "casenet.html",
        Escape::Html,
        include_str!("../../templates/casenet/html.hbs"),
    ),
    (
        "partials/disclaimer.txt.hbs",
        "disclaimer_text",
        Escape::Text,
        include_str!("../../templates/partials/disclaimer.txt.hbs"),
    ),
    (
        "partials/footer.txt.hbs",
        "footer_text",
        Escape::Text,
        include_str!("../../templates/partials/footer.txt.hbs"),
    ),
    (
        "partials/disclaimer.html.hbs",
        "disclaimer_html",
        Escape::Html,
        include_str!("../../templates/partials/disclaimer.html.hbs"),
    ),
    (
        "partials/footer.html.hbs",
        "footer_html",
        Escape::Html,
        include_str!("../../templates/partials/footer.html.hbs"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    Text,
    Html,
}

/// Renders digests in one style.
#[derive(Debug)]
pub struct Renderer {
    style: DigestStyle,
    text: Handlebars<'static>,
    html: Handlebars<'static>,
}

#[derive(Serialize)]
struct DigestView<'a> {
    recipient: &'a str,
    subject: String,
    case_count: usize,
    entry_count: usize,
    single_case: bool,
    plural_entries: bool,
    first_case: &'a CaseView,
    cases: &'a [CaseView],
    unsubscribe_url: &'a str,
    manage_url: Option<&'a str>,
}

#[derive(Serialize)]
struct CaseView {
    case_number: String,
    caption: String,
    court_id: String,
    court_name: String,
    stop_url: String,
    case_url: Option<String>,
    entries: Vec<EntryView>,
}

#[derive(Serialize)]
struct EntryView {
    code: String,
    description: String,
    text: String,
    filed_by: String,
    posted_local: String,
}

/// An instant as people in Missouri read it, e.g. `Mon Mar 9, 2026 9:05 AM CDT`.
pub fn central_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Chicago)
        .format("%a %b %-d, %Y %-I:%M %p %Z")
        .to_string()
}

/// One line of printable text: control characters (CR and LF among them) become spaces, so
/// nothing a clerk typed can start a new header.
pub fn single_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|part| !part.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The longest subject, in characters: what a terminal mail client shows on one line.
pub const SUBJECT_MAX_CHARS: usize = 78;

/// `subject` cut to `max` characters at a word boundary, with an ellipsis, when it is longer.
pub fn fit_subject(subject: &str, max: usize) -> String {
    if subject.chars().count() <= max {
        return subject.to_string();
    }
    let room: String = subject.chars().take(max.saturating_sub(1)).collect();
    let cut = match room.rfind(' ') {
        // Keep at least half the room; a single very long word is cut where it must be.
        Some(at) if at >= room.len() / 2 => &room[..at],
        _ => room.as_str(),
    };
    format!("{}…", cut.trim_end_matches([' ', ',', ':', ';', '-']))
}

impl Renderer {
    /// Loads the compiled-in templates, replaced by any file of the same relative name in
    /// `override_dir`.
    pub fn new(style: DigestStyle, override_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        for (file, name, escape, builtin) in TEMPLATES {
            let source = match override_dir.map(|d| d.join(file)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|source| RenderError::Read { path, source })?,
                _ => builtin.to_string(),
            };
            let registry = match escape {
                Escape::Text => &mut text,
                Escape::Html => &mut html,
            };
            registry
                .register_template_string(name, source)
                .map_err(|e| RenderError::Template {
                    name: file.to_string(),
                    source: Box::new(e),
                })?;
        }
        Ok(Renderer { style, text, html })
    }

    pub fn render(
        &self,
        digest: &Digest,
        links: &DigestLinks,
    ) -> Result<RenderedDigest, RenderError> {
        let cases: Vec<CaseView> = digest
            .cases
            .iter()
            .zip(&links.stop_urls)
            .zip(links.case_urls.iter().chain(std::iter::repeat(&None)))
            .map(|((c, stop_url), case_url)| CaseView {
                case_number: c.case_number.clone(),
                caption: c.caption.clone(),
                court_id: c.court_id.clone(),
                court_name: c.court_name.clone(),
                stop_url: stop_url.clone(),
                case_url: case_url.clone(),
                entries: c
                    .entries
                    .iter()
                    .map(|e| EntryView {
                        code: e.code.clone(),
                        description: e.description.clone(),
                        text: e.text.clone(),
                        filed_by: e.filed_by.clone(),
                        posted_local: central_time(e.posted_at),
                    })
                    .collect(),
            })
            .collect();
        let Some(first_case) = cases.first() else {
            return Err(RenderError::Render {
                name: "digest".into(),
                source: Box::new(
                    handlebars::RenderErrorReason::Other("a digest needs at least one case".into())
                        .into(),
                ),
            });
        };
        let entry_count = digest.entry_count();
        let mut view = DigestView {
            recipient: &digest.email,
            subject: String::new(),
            case_count: cases.len(),
            entry_count,
            single_case: cases.len() == 1,
            plural_entries: entry_count > 1,
            first_case,
            cases: &cases,
            unsubscribe_url: &links.unsubscribe_url,
            manage_url: links.manage_url.as_deref(),
        };
        let prefix = match self.style {
            DigestStyle::Detailed => "detailed",
            DigestStyle::Casenet => "casenet",
        };
        let render = |registry: &Handlebars<'static>, part: &str, view: &DigestView| {
            let name = format!("{prefix}.{part}");
            registry
                .render(&name, view)
                .map_err(|e| RenderError::Render {
                    name,
                    source: Box::new(e),
                })
        };
        let subject = single_line(&render(&self.text, "subject", &view)?);
        view.subject = match digest.part {
            Some((part, of)) => {
                let suffix = format!(" (part {part} of {of})");
                let room = SUBJECT_MAX_CHARS.saturating_sub(suffix.chars().count());
                format!("{}{suffix}", fit_subject(&subject, room))
            }
            None => fit_subject(&subject, SUBJECT_MAX_CHARS),
        };
        let text = render(&self.text, "text", &view)?;
        let html = render(&self.html, "html", &view)?;
        Ok(RenderedDigest {
            subject: view.subject,
            text,
            html,
        })
    }
}
