//! Rendering: a digest becomes a subject, a plain-text body and an HTML body through handlebars
//! templates. The defaults are compiled in; a configured directory may replace any of them.
//! HTML escapes everything it interpolates; the subject is folded to one line of printable text
//! and the plain text is wrapped to what a terminal mail client shows.

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
    /// None for a digest of court dates alone.
    first_case: Option<&'a CaseView>,
    /// The first case's caption as the subject names it: see [`short_caption`], cut further
    /// when the subject would not fit otherwise.
    subject_caption: String,
    /// How many cases besides the first (the subject names the first).
    more_cases: usize,
    plural_more_cases: bool,
    cases: &'a [CaseView],
    /// Court dates, shown before the filings.
    dates: Vec<DateView>,
    /// The subject's start when the digest carries court dates.
    date_subject: Option<String>,
    /// The same in the `casenet` style: only the case number, the date and "a hearing".
    casenet_date_subject: Option<String>,
    /// New cases naming the parties the account watches, one group per watch.
    watch_groups: Vec<super::watch_text::WatchGroupView>,
    new_case_count: usize,
    plural_new_cases: bool,
    /// Watches the noise guard paused.
    paused_watches: Vec<super::watch_text::PausedWatchView>,
    /// The subject's start when the digest's first news is its watches'.
    watch_subject: Option<String>,
    casenet_watch_subject: Option<String>,
    unsubscribe_url: &'a str,
    manage_url: Option<&'a str>,
}

#[derive(Serialize)]
struct DateView {
    case_number: String,
    caption: String,
    court_name: String,
    headline: String,
    change: Option<String>,
    when: String,
    location: String,
    judge: String,
    bring: String,
    advice: Vec<String>,
    casenet_line: String,
}

impl DateView {
    fn of(item: &crate::hearings::DateItem) -> DateView {
        use super::date_text as words;
        // A cancelled date is told by its change line alone: no time or place to go to.
        let cancelled = item.event.status == crate::model::EventStatus::Cancelled;
        let unless_cancelled = |text: String| if cancelled { String::new() } else { text };
        DateView {
            case_number: single_line(&item.case_number),
            caption: single_line(&item.caption),
            court_name: single_line(&item.court_name),
            headline: words::headline(item),
            change: words::change_line(item),
            when: unless_cancelled(words::long_when(item.event.starts_at)),
            location: unless_cancelled(single_line(&item.event.location)),
            judge: unless_cancelled(single_line(&item.event.judge)),
            bring: unless_cancelled(single_line(&item.event.bring)),
            advice: words::advice(item),
            casenet_line: words::casenet_line(item),
        }
    }
}

/// The subject's start for a digest's court dates: the first date's, and how many more; and
/// the same without the first date's time, for when the whole would not fit.
struct DateSubjects {
    long: String,
    short: String,
    casenet: String,
}

fn date_subjects(items: &[crate::hearings::DateItem]) -> Option<DateSubjects> {
    let first = items.first()?;
    let more = match items.len() - 1 {
        0 => String::new(),
        1 => " and 1 more date".into(),
        n => format!(" and {n} more dates"),
    };
    Some(DateSubjects {
        long: format!("{}{more}", super::date_text::subject(first)),
        short: format!("{}{more}", super::date_text::short_subject(first)),
        casenet: format!("{}{more}", super::date_text::casenet_subject(first)),
    })
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
    /// The code padded to the digest's longest, so plain-text columns line up.
    code_column: String,
    description: String,
    /// The entry's text without the clause naming its filer, who has a place of their own.
    text: String,
    filed_by: String,
    posted_local: String,
    /// The posted time padded to the digest's longest, so plain-text columns line up.
    posted_column: String,
}

/// An instant as people in Missouri read it, e.g. `Mon Mar 9, 2026 9:05 AM CDT`.
pub fn central_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Chicago)
        .format("%a %b %-d, %Y %-I:%M %p %Z")
        .to_string()
}

/// Characters that reorder the text around them (bidirectional embeddings, overrides and
/// isolates): in a caption they could make a subject or a line read as something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// One line of printable text: control characters (CR and LF among them, escape sequences'
/// ESC, C1 controls) become spaces and bidirectional controls go, so nothing a clerk typed can
/// start a new header, drive a terminal, reorder what follows it, or fake a line of the digest.
pub fn single_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .map(|part| part.replace(is_bidi_control, ""))
        .filter(|part| !part.trim().is_empty())
        .map(|part| part.trim().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A subject whose text could be taken for an encoded word (`=?charset?b?...?=`, RFC 2047)
/// gets an invisible word joiner between `=` and `?`: then it is not ASCII, so the whole
/// subject is itself encoded and mail clients show the characters as typed.
fn defuse_encoded_words(subject: &str) -> String {
    subject.replace("=?", "=\u{2060}?")
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

/// The width of a plain-text line: what a terminal mail client shows without wrapping.
pub const TEXT_WIDTH: usize = 78;

/// `text` with every line longer than `width` wrapped at spaces. A continuation line is
/// indented like its line, past a leading `- ` bullet, so it aligns with the text above; a
/// word longer than the width (a URL) is never broken and stands on a line of its own.
pub fn wrap_text(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        // Display columns, not characters: a CJK character takes two.
        if textwrap::core::display_width(body) <= width {
            out.push_str(line);
            continue;
        }
        let content = body.trim_start_matches(' ');
        let indent = body.len() - content.len();
        let hang = hanging_indent(content);
        let first = &body[..indent];
        let rest = " ".repeat(indent + hang);
        let content = break_long_words(content, width.saturating_sub(indent + hang).max(20));
        let options = textwrap::Options::new(width)
            .initial_indent(first)
            .subsequent_indent(&rest)
            .break_words(false)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        for (i, wrapped) in textwrap::wrap(&content, options).iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(wrapped.trim_end());
        }
        out.push_str(end);
    }
    out
}

/// A link (`https://…`, `www.…`, an address) is left whole however long: cut, it would not work.
fn is_link(word: &str) -> bool {
    word.contains("://") || word.starts_with("www.") || word.contains('@')
}

/// `text` with every word wider than `room` columns that is not a link cut into pieces that
/// fit, so that only a link ever runs past the width of a line.
fn break_long_words(text: &str, room: usize) -> String {
    use textwrap::core::display_width;
    text.split(' ')
        .map(|word| {
            if display_width(word) <= room || is_link(word) {
                return word.to_string();
            }
            let mut pieces = vec![String::new()];
            for c in word.chars() {
                let mut buf = [0; 4];
                let piece = pieces.last_mut().expect("one piece at least");
                if display_width(piece) + display_width(c.encode_utf8(&mut buf)) > room {
                    pieces.push(String::new());
                }
                pieces.last_mut().expect("just pushed").push(c);
            }
            pieces.join(" ")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where continuation lines of `line` start: under its last column (after the last gap of
/// two spaces in its first 48 characters, as in `CASE  Caption` or `- date  CODE  Description`),
/// else past a leading `- ` bullet, else at its start.
fn hanging_indent(line: &str) -> usize {
    let head: String = line.chars().take(48).collect();
    match head.trim_end().rfind("  ") {
        Some(gap) => head[..gap + 2].chars().count(),
        None if line.starts_with("- ") => 2,
        None => 0,
    }
}

/// The caption as a subject names it: the surname of the first party that is a person and not
/// the government (`State of Missouri v. Darnell Washington` is `Washington`, `In Re the
/// Marriage of: Jane Rogers and John Rogers` is `Rogers`), else the first party's name as it
/// stands (`Midwest Credit Recovery LLC`).
pub fn short_caption(caption: &str) -> String {
    const PREFIXES: &[&str] = &[
        "in re the marriage of",
        "in the marriage of",
        "in the estate of",
        "in the matter of",
        "in the interest of",
        "in re",
    ];
    const GOVERNMENT: &[&str] = &[
        "state of ",
        "state ex rel",
        "united states",
        "city of ",
        "county of ",
    ];
    const ORGANISATION: &[&str] = &[
        "llc",
        "inc",
        "inc.",
        "corp",
        "corp.",
        "co.",
        "company",
        "bank",
        "l.l.c.",
        "lp",
        "ltd",
        "association",
        "union",
        "services",
        "group",
        "officer",
        "department",
        "division",
        "llp",
        "l.l.p.",
        "pllc",
        "p.c.",
        "pc",
        "p.a.",
        "gmbh",
        "hospital",
        "clinic",
        "university",
        "college",
        "school",
        "board",
        "district",
        "church",
        "foundation",
        "trust",
        "insurance",
        "mutual",
        "partners",
        "associates",
        "authority",
        "agency",
        "commission",
        "center",
        "financial",
        "credit",
    ];
    const SUFFIXES: &[&str] = &["jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "deceased"];
    let caption = single_line(caption);
    let mut rest = caption.as_str();
    // "In re ... X and Y" names two parties; elsewhere "and" may be part of a name.
    let mut joined_by_and = false;
    for prefix in PREFIXES {
        if rest.len() >= prefix.len()
            && rest.is_char_boundary(prefix.len())
            && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            rest = rest[prefix.len()..].trim_start_matches([':', ' ']);
            joined_by_and = true;
            break;
        }
    }
    let parties: Vec<&str> = rest
        .split(" v. ")
        .flat_map(|p| p.split(" vs. "))
        .flat_map(|p| {
            let and = if joined_by_and { " and " } else { " v. " };
            p.split(and)
        })
        .map(|p| {
            let p = p.trim();
            let others = ["and others", "et al.", "et al"].iter().find_map(|x| {
                let at = p.len().checked_sub(x.len())?;
                (p.is_char_boundary(at) && p[at..].eq_ignore_ascii_case(x)).then_some(at)
            });
            p[..others.unwrap_or(p.len())].trim().trim_end_matches(',')
        })
        .filter(|p| !p.is_empty())
        .collect();
    let is_government = |p: &str| {
        let lower = p.to_lowercase();
        GOVERNMENT.iter().any(|g| lower.starts_with(g))
            || lower == "state"
            || lower.ends_with(", missouri")
            || lower.ends_with(" county")
    };
    let Some(party) = parties
        .iter()
        .find(|p| !is_government(p))
        .or(parties.first())
    else {
        return caption;
    };
    let lower = |w: &str| w.to_lowercase();
    let words: Vec<&str> = party
        .split([' ', ','])
        .filter(|w| !w.is_empty() && !SUFFIXES.contains(&lower(w).as_str()))
        .collect();
    let organisation = words
        .iter()
        .any(|w| ORGANISATION.contains(&lower(w).as_str()));
    match words.last() {
        Some(surname) if !organisation && words.len() <= 4 => surname.to_string(),
        _ => party.to_string(),
    }
}

/// `text` without the `Filed By: <filer>` clause (clauses are separated by `;`) when it names
/// `filed_by`, who the digest shows on a line of their own.
pub fn without_filer_clause(text: &str, filed_by: &str) -> String {
    let names_filer = |clause: &str| {
        clause
            .trim()
            .strip_prefix("Filed By:")
            .or_else(|| clause.trim().strip_prefix("Filed by:"))
            .is_some_and(|name| name.trim().eq_ignore_ascii_case(filed_by.trim()))
    };
    if !text.split(';').any(names_filer) {
        return text.to_string();
    }
    text.split(';')
        .filter(|clause| !names_filer(clause))
        .map(str::trim)
        .filter(|clause| !clause.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `s` padded with spaces to `width` characters.
fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.chars().count())))
}

impl Renderer {
    /// Loads the compiled-in templates, replaced by any file of the same relative name in
    /// `override_dir`.
    /// The style it renders in.
    pub fn style(&self) -> DigestStyle {
        self.style
    }

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
        let entries = || digest.cases.iter().flat_map(|c| &c.entries);
        let posted_width = entries()
            .map(|e| central_time(e.posted_at).chars().count())
            .max()
            .unwrap_or(0);
        let code_width = entries()
            .map(|e| single_line(&e.code).chars().count())
            .max()
            .unwrap_or(0);
        let cases: Vec<CaseView> = digest
            .cases
            .iter()
            .zip(&links.stop_urls)
            .zip(links.case_urls.iter().chain(std::iter::repeat(&None)))
            .map(|((c, stop_url), case_url)| CaseView {
                case_number: single_line(&c.case_number),
                caption: single_line(&c.caption),
                court_id: c.court_id.clone(),
                court_name: single_line(&c.court_name),
                stop_url: stop_url.clone(),
                case_url: case_url.clone(),
                entries: c
                    .entries
                    .iter()
                    .map(|e| {
                        let posted_local = central_time(e.posted_at);
                        let code = single_line(&e.code);
                        EntryView {
                            code_column: pad(&code, code_width),
                            code,
                            description: single_line(&e.description),
                            text: single_line(&without_filer_clause(&e.text, &e.filed_by)),
                            filed_by: single_line(&e.filed_by),
                            posted_column: pad(&posted_local, posted_width),
                            posted_local,
                        }
                    })
                    .collect(),
            })
            .collect();
        let first_case = cases.first();
        if first_case.is_none() && !digest.has_news() {
            return Err(RenderError::Render {
                name: "digest".into(),
                source: Box::new(
                    handlebars::RenderErrorReason::Other(
                        "a digest needs at least one case, court date or watch notice".into(),
                    )
                    .into(),
                ),
            });
        }
        let date_subjects = date_subjects(&digest.dates);
        let entry_count = digest.entry_count();
        let mut view = DigestView {
            recipient: &digest.email,
            subject: String::new(),
            subject_caption: first_case.map_or_else(String::new, |c| short_caption(&c.caption)),
            case_count: cases.len(),
            entry_count,
            single_case: cases.len() == 1,
            plural_entries: entry_count > 1,
            first_case,
            more_cases: cases.len().saturating_sub(1),
            plural_more_cases: cases.len() > 2,
            cases: &cases,
            dates: digest.dates.iter().map(DateView::of).collect(),
            date_subject: date_subjects.as_ref().map(|d| d.long.clone()),
            casenet_date_subject: date_subjects.as_ref().map(|d| d.casenet.clone()),
            watch_groups: super::watch_text::groups(&digest.new_cases),
            new_case_count: super::watch_text::distinct_cases(&digest.new_cases),
            plural_new_cases: super::watch_text::distinct_cases(&digest.new_cases) > 1,
            paused_watches: super::watch_text::paused(&digest.paused_watches),
            watch_subject: super::watch_text::subject(&digest.new_cases, &digest.paused_watches),
            casenet_watch_subject: super::watch_text::casenet_subject(
                &digest.new_cases,
                &digest.paused_watches,
            ),
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
        let suffix = digest
            .part
            .map(|(part, of)| format!(" (part {part} of {of})"))
            .unwrap_or_default();
        let room = SUBJECT_MAX_CHARS.saturating_sub(suffix.chars().count());
        let mut subject = single_line(&render(&self.text, "subject", &view)?);
        let mut excess = subject.chars().count().saturating_sub(room);
        if let (true, Some(dates)) = (excess > 0, &date_subjects) {
            // The first date's time gives way first, so what follows it (how many more dates,
            // how many filings) stays.
            view.date_subject = Some(dates.short.clone());
            subject = single_line(&render(&self.text, "subject", &view)?);
            excess = subject.chars().count().saturating_sub(room);
        }
        if excess > 0 {
            // The caption gives way first, so what follows it (how many more cases) stays.
            let caption_room = view.subject_caption.chars().count().saturating_sub(excess);
            view.subject_caption = fit_subject(&view.subject_caption, caption_room.max(8));
            subject = single_line(&render(&self.text, "subject", &view)?);
        }
        view.subject = defuse_encoded_words(&format!("{}{suffix}", fit_subject(&subject, room)));
        let text = wrap_text(&render(&self.text, "text", &view)?, TEXT_WIDTH);
        let html = render(&self.html, "html", &view)?;
        Ok(RenderedDigest {
            subject: view.subject,
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{CaseChanges, EntryLine};

    #[test]
    fn what_a_clerk_typed_cannot_drive_a_terminal_reorder_text_or_fake_a_line() {
        assert_eq!(
            single_line("A v. B\u{1b}]0;pwned\u{7}\r\n  - fake bullet\u{202E}desrever"),
            "A v. B ]0;pwned - fake bulletdesrever"
        );
        assert_eq!(single_line("\u{85}x\u{2067}y\u{2069}"), "xy");
    }

    #[test]
    fn continuation_lines_start_under_their_column() {
        let caption = format!(
            "2545A-CV01004  {}",
            "Commissioners of the Sewer District ".repeat(3)
        );
        let wrapped = wrap_text(caption.trim_end(), TEXT_WIDTH);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 1);
        assert!(
            lines[1..].iter().all(|l| l.starts_with(&" ".repeat(15))),
            "{wrapped}"
        );
        let entry = format!(
            "  - Fri Nov 27, 2026 6:39 PM CST  ORDR  {}",
            "Order Granting Motion for Extension ".repeat(3)
        );
        let wrapped = wrap_text(entry.trim_end(), TEXT_WIDTH);
        let under = entry.find("Order").unwrap();
        assert!(
            wrapped
                .lines()
                .skip(1)
                .all(|l| l.len() > under && l[..under].trim().is_empty()),
            "{wrapped}"
        );
    }

    #[test]
    fn only_links_run_past_the_width() {
        let link = format!("https://example.org/{}", "a".repeat(100));
        let text = format!(
            "    Exhibit {} attached; see {link} and {}",
            "X".repeat(200),
            "😀".repeat(60)
        );
        let wrapped = wrap_text(&text, TEXT_WIDTH);
        for line in wrapped.lines() {
            assert!(
                textwrap::core::display_width(line) <= TEXT_WIDTH || line.trim() == link,
                "{line}"
            );
        }
        assert!(wrapped.contains(&link), "the link stays whole");
    }

    #[test]
    fn wide_characters_count_as_the_columns_they_take() {
        let line = "漢字漢字 ".repeat(15);
        let wrapped = wrap_text(line.trim_end(), TEXT_WIDTH);
        assert!(wrapped.lines().count() > 1, "{wrapped}");
        for l in wrapped.lines() {
            assert!(textwrap::core::display_width(l) <= TEXT_WIDTH, "{l}");
        }
    }

    #[test]
    fn a_subject_cannot_smuggle_an_encoded_word() {
        let s = defuse_encoded_words("1 new filing: =?utf-8?b?VVJHRU5U?= v. Doe");
        assert!(!s.contains("=?") && !s.is_ascii(), "{s}");
    }

    fn case(number: &str, caption: &str, entries: Vec<EntryLine>) -> CaseChanges {
        CaseChanges {
            case_number: number.into(),
            caption: caption.into(),
            court_id: "CT16".into(),
            court_name: "16th Judicial Circuit (Jackson)".into(),
            subscription_id: 1,
            entries,
        }
    }

    fn entry(seq: i64, code: &str, text: &str) -> EntryLine {
        EntryLine {
            seq,
            entry_id: format!("DE{seq}"),
            code: code.into(),
            description: "Motion to Compel Discovery and for Sanctions Against the Respondent"
                .into(),
            text: text.into(),
            filed_by: "Jordan A. Whitfield-Castellanos, Attorney at Law".into(),
            posted_at: DateTime::from_timestamp(1_773_000_000 + seq * 3600, 0).unwrap(),
        }
    }

    fn digest(cases: Vec<CaseChanges>) -> Digest {
        Digest {
            account_id: "U1".into(),
            email: "reader@example.org".into(),
            email_verified: true,
            suppressed: false,
            cases,
            dates: Vec::new(),
            new_cases: Vec::new(),
            paused_watches: Vec::new(),
            part: None,
        }
    }

    fn links(n: usize) -> DigestLinks {
        DigestLinks {
            unsubscribe_url: format!("https://alerts.example.org/unsubscribe?token={}", "a".repeat(90)),
            stop_urls: vec!["https://alerts.example.org/unsubscribe?token=1.abc".into(); n],
            case_urls: vec![
                Some("https://www.courts.mo.gov/cnet/cases/newHeaderData.do?caseNumber=2616-CR01411&courtId=CT16".into());
                n
            ],
            manage_url: None,
        }
    }

    fn subject_of(d: &Digest) -> String {
        Renderer::new(DigestStyle::Detailed, None)
            .unwrap()
            .render(d, &links(d.cases.len()))
            .unwrap()
            .subject
    }

    #[test]
    fn the_short_caption_is_the_first_private_party_by_surname() {
        for (caption, short) in [
            ("State of Missouri v. Darnell Washington", "Washington"),
            (
                "In Re the Marriage of: Jane Rogers and John Rogers",
                "Rogers",
            ),
            (
                "In the Estate of Harold P. Lindqvist Jr., Deceased",
                "Lindqvist",
            ),
            (
                "Midwest Credit Recovery LLC v. Keisha Brooks",
                "Midwest Credit Recovery LLC",
            ),
            ("In the Interest of: J.R.", "J.R."),
            (
                "Smith and Sons Roofing LLC v. Ann Lee",
                "Smith and Sons Roofing LLC",
            ),
            ("Amélie Côté v. Zoë Brontë", "Côté"),
            ("Acme Widgets LLP v. Ann Lee", "Acme Widgets LLP"),
            ("Mercy Hospital v. Carl Dunn", "Mercy Hospital"),
            ("Smith Law P.C. v. Ann Lee", "Smith Law P.C."),
            ("Washington University v. Ann Lee", "Washington University"),
            ("Board of Education v. Ann Lee", "Board of Education"),
            ("Jackson County, Missouri v. Ann Lee", "Lee"),
            ("Kansas City, Missouri v. Ann Lee", "Lee"),
        ] {
            assert_eq!(short_caption(caption), short, "{caption}");
        }
    }

    #[test]
    fn subjects_name_the_first_case_and_count_the_rest() {
        let one = digest(vec![case(
            "2503A-FC01177",
            "In Re the Marriage of: Ann Rogers and Bo Rogers",
            vec![entry(1, "MOT", ""), entry(2, "ORD", "")],
        )]);
        assert_eq!(subject_of(&one), "2 new filings: 2503A-FC01177 Rogers");
        let mut three = one.clone();
        three.cases.push(case(
            "2616-CR01411",
            "State of Missouri v. D. Washington",
            vec![entry(3, "WARI", "")],
        ));
        three
            .cases
            .push(case("2631A-CV00877", "A v. B", vec![entry(4, "JE", "")]));
        assert_eq!(
            subject_of(&three),
            "4 new filings: 2503A-FC01177 Rogers and 2 more cases"
        );
        let single = digest(vec![case(
            "2616-CR01411",
            "State of Missouri v. D. Washington",
            vec![entry(3, "WARI", "")],
        )]);
        assert_eq!(subject_of(&single), "1 new filing: 2616-CR01411 Washington");
    }

    #[test]
    fn a_long_caption_gives_way_to_the_case_count_and_the_part_number() {
        let caption =
            "First Missouri Community Credit Union of Greater Kansas City Holdings v. Ann Lee";
        let mut d = digest(vec![
            case("2616-CV01411", caption, vec![entry(1, "MOT", "")]),
            case("2616-CV01412", "A v. B", vec![entry(2, "MOT", "")]),
            case("2616-CV01413", "A v. B", vec![entry(3, "MOT", "")]),
        ]);
        let subject = subject_of(&d);
        assert!(subject.chars().count() <= SUBJECT_MAX_CHARS, "{subject}");
        assert!(
            subject.starts_with("3 new filings: 2616-CV01411 First Missouri"),
            "{subject}"
        );
        assert!(subject.ends_with("… and 2 more cases"), "{subject}");
        d.part = Some((2, 3));
        let subject = subject_of(&d);
        assert!(subject.chars().count() <= SUBJECT_MAX_CHARS, "{subject}");
        assert!(
            subject.ends_with("… and 2 more cases (part 2 of 3)"),
            "{subject}"
        );
    }

    #[test]
    fn the_filer_is_named_once() {
        assert_eq!(
            without_filer_clause(
                "Motion granted; Filed By: Ann Lee; On Behalf Of: Bo Lee",
                "Ann Lee"
            ),
            "Motion granted; On Behalf Of: Bo Lee"
        );
        assert_eq!(
            without_filer_clause("Motion granted; Filed By: Someone Else", "Ann Lee"),
            "Motion granted; Filed By: Someone Else"
        );
    }

    #[test]
    fn every_text_line_fits_78_characters_but_a_long_url_stays_whole() {
        let long = "Respondent's Motion to Compel Discovery Responses and for an Award of \
            Attorney's Fees pursuant to Rule 61.01; the Court having reviewed the file and being \
            fully advised finds the motion well taken; Filed By: Jordan A. Whitfield-Castellanos, \
            Attorney at Law; On Behalf Of: Maria Elena Gutierrez-Vasquez";
        let d = digest(vec![
            case("2503A-FC01177", &"In Re the Marriage of: Maria Elena Gutierrez-Vasquez and Robert James Worthington-Smythe ".repeat(2), vec![entry(1, "MOTC", long), entry(2, "JE", long)]),
            case("2616-CR01411", "State of Missouri v. D. Washington", vec![entry(3, "WARI", long)]),
        ]);
        for style in [DigestStyle::Detailed, DigestStyle::Casenet] {
            let text = Renderer::new(style, None)
                .unwrap()
                .render(&d, &links(2))
                .unwrap()
                .text;
            for line in text.lines() {
                let long_word = line.trim().split(' ').count() == 1;
                assert!(
                    line.chars().count() <= TEXT_WIDTH || long_word,
                    "{style:?}: {} chars: {line}\n{text}",
                    line.chars().count()
                );
                if line.contains("https://") && line.chars().count() > TEXT_WIDTH {
                    assert!(line.trim().starts_with("https://"), "{line}");
                }
            }
            if style == DigestStyle::Detailed {
                assert_eq!(text.matches("Whitfield-Castellanos").count(), 3, "{text}");
                // Continuation lines align under the text of their entry.
                assert!(
                    text.contains("\n    Attorney's Fees") || text.contains("\n    Respondent"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn wrapping_keeps_bullets_hanging() {
        let wrapped = wrap_text(&format!("  - {}\n", "word ".repeat(30)), 40);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 3);
        assert!(lines[0].starts_with("  - word"));
        assert!(
            lines[1..].iter().all(|l| l.starts_with("    word")),
            "{wrapped}"
        );
        assert!(wrapped.ends_with('\n'));
    }
}
