//! How a watch's name is compared with the names of parties as courts file them. Both sides are
//! folded the same way (Unicode compatibility decomposition with the accents dropped, lower
//! case, punctuation and spacing evened out, `&` read as "and"); a person's name is read in
//! either order ("Last, First Middle" when it has a comma, "First Middle Last" when not) and
//! an organisation's name without "The" and its business form (LLC, Inc, Co, Corp...). Every
//! match returns the reasons it holds, so that a notice can say why it was sent. The README's
//! "Party watches" section states the same rules for the people who write watches.

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

use super::nicknames;

pub use crate::model::PartyKind;

/// Why a watch's name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name has no letters or digits")]
    Empty,
    #[error("a person's name needs a first and a last name (\"Last, First\" or \"First Last\")")]
    NoFirstName,
    #[error("the first name `{0}` is an initial; a watch needs the whole first name, or it would match everyone who shares the initial")]
    InitialOnly(String),
    #[error("an organisation's name needs more than `The`, `&` and a business form")]
    OnlyForms,
}

/// Name particles that belong to the last name that follows them ("Maria De La Cruz").
const PARTICLES: &[&str] = &[
    "de", "da", "del", "della", "der", "di", "du", "la", "le", "van", "von", "den", "st",
];

/// Generational suffixes: ignored when one side lacks them, a conflict when both differ.
const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "2nd", "3rd"];

/// A suffix as compared: `2nd` is `II`, `3rd` is `III`.
fn canonical_suffix(suffix: String) -> String {
    match suffix.as_str() {
        "2nd" => "ii".into(),
        "3rd" => "iii".into(),
        _ => suffix,
    }
}

/// Words a court adds after a person's name that are not part of it.
const TRAILERS: &[&[&str]] = &[&["et", "al"], &["deceased"], &["decd"]];

/// Takes the trailing words of [`TRAILERS`] off a name's words.
fn take_trailers(words: &mut Vec<String>) {
    while let Some(trailer) = TRAILERS
        .iter()
        .find(|t| words.len() > t.len() && words[words.len() - t.len()..].iter().eq(t.iter()))
    {
        words.truncate(words.len() - trailer.len());
    }
}

/// Words that make a filed name an organisation's, never a person's.
fn names_an_organisation(words: &[String]) -> bool {
    words.iter().any(|w| {
        w == "and"
            || [
                "llc",
                "pllc",
                "inc",
                "incorporated",
                "corp",
                "corporation",
                "ltd",
                "llp",
                "lp",
            ]
            .contains(&w.as_str())
    })
}

/// Business forms, each with the one form it is compared as.
const BUSINESS_FORMS: &[(&str, &str)] = &[
    ("llc", "llc"),
    ("pllc", "llc"),
    ("inc", "inc"),
    ("incorporated", "inc"),
    ("co", "co"),
    ("company", "co"),
    ("corp", "corp"),
    ("corporation", "corp"),
    ("ltd", "ltd"),
    ("limited", "ltd"),
    ("lp", "lp"),
    ("llp", "lp"),
    ("pc", "pc"),
    ("plc", "plc"),
    ("na", "na"),
];

/// Folds text for comparison: compatibility decomposition without combining marks, lower
/// case, `&` as "and", apostrophes, hyphens and full stops dropped (O'Brien, Smith-Jones,
/// L.L.C.), every other
/// character that is not a letter or digit a space. Returns the words.
pub fn fold(text: &str) -> Vec<String> {
    let mut folded = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        match c {
            '&' => folded.push_str(" and "),
            '\'' | '\u{2019}' | '\u{2018}' | '\u{02bc}' | '`' | '.' | '-' | '\u{2010}'
            | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' => {}
            // Letters with no decomposition of their own.
            'ø' | 'Ø' => folded.push('o'),
            'ł' | 'Ł' => folded.push('l'),
            'đ' | 'Đ' => folded.push('d'),
            'ß' => folded.push_str("ss"),
            'æ' | 'Æ' => folded.push_str("ae"),
            'œ' | 'Œ' => folded.push_str("oe"),
            'ı' => folded.push('i'),
            c if c.is_alphanumeric() => folded.extend(c.to_lowercase()),
            _ => folded.push(' '),
        }
    }
    folded.split_whitespace().map(str::to_string).collect()
}

/// Takes the generational suffixes off the end of a name's words (keeping one word at least),
/// returning the first of them.
fn take_suffix(words: &mut Vec<String>) -> Option<String> {
    let mut suffix = None;
    while words.len() > 1 && words.last().is_some_and(|w| SUFFIXES.contains(&w.as_str())) {
        suffix = words.pop();
    }
    suffix
}

/// A person's name, read into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    /// The last name's words (particles included).
    pub last: Vec<String>,
    pub first: String,
    pub middles: Vec<String>,
    pub suffix: Option<String>,
}

impl PersonName {
    /// Reads "Last, First Middle [Suffix]" (a comma) or "First Middle Last [Suffix]". None when
    /// there is not both a first and a last name.
    pub fn read(text: &str) -> Option<PersonName> {
        if names_an_organisation(&fold(text)) {
            return None;
        }
        let mut person = PersonName::read_words(text)?;
        person.suffix = person.suffix.map(canonical_suffix);
        Some(person)
    }

    fn read_words(text: &str) -> Option<PersonName> {
        // "William Smith, Jr.": the comma sets off a suffix, not the given names.
        let suffix_after_comma = text.split_once(',').and_then(|(name, rest)| {
            let rest = fold(rest);
            let only_suffixes =
                !rest.is_empty() && rest.iter().all(|w| SUFFIXES.contains(&w.as_str()));
            only_suffixes.then(|| (name, rest[0].clone()))
        });
        if let Some((name, suffix)) = suffix_after_comma {
            let mut person = PersonName::read_words(name)?;
            person.suffix.get_or_insert(suffix);
            return Some(person);
        }
        let (last, mut given, suffix) = match text.split_once(',') {
            Some((last, given)) => {
                let mut last = fold(last);
                let mut given = fold(given);
                take_trailers(&mut given);
                let mut suffix = take_suffix(&mut last);
                // "Doe, Jr., John" or "Doe, John, Jr."
                if given.len() > 1 && SUFFIXES.contains(&given[0].as_str()) {
                    suffix = Some(given.remove(0));
                }
                let suffix = take_suffix(&mut given).or(suffix);
                (last, given, suffix)
            }
            None => {
                let mut words = fold(text);
                take_trailers(&mut words);
                let suffix = take_suffix(&mut words);
                if words.len() < 2 {
                    return None;
                }
                let mut start = words.len() - 1;
                while start > 1 && PARTICLES.contains(&words[start - 1].as_str()) {
                    start -= 1;
                }
                let last = words.split_off(start);
                (last, words, suffix)
            }
        };
        if last.is_empty() || given.is_empty() {
            return None;
        }
        let first = given.remove(0);
        Some(PersonName {
            last,
            first,
            middles: given,
            suffix,
        })
    }

    /// The last name as one key: its words run together ("De La Cruz" and "DeLaCruz" agree).
    pub fn last_key(&self) -> String {
        self.last.concat()
    }
}

/// An organisation's name as compared: its words without a leading "The" or trailing business
/// forms, each business form written one way, runs of single letters joined (A T & T, L L C).
pub fn organisation_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    // Whether the last word is a run of single letters, which the next single letter joins.
    let mut in_run = false;
    for word in fold(text) {
        let single = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
        match words.last_mut() {
            Some(previous) if single && in_run => previous.push_str(&word),
            _ => words.push(word),
        }
        in_run = single;
    }
    let mut words: Vec<String> = words
        .into_iter()
        .map(
            |w| match BUSINESS_FORMS.iter().find(|(form, _)| *form == w) {
                Some((_, canonical)) => canonical.to_string(),
                None => w,
            },
        )
        .collect();
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| BUSINESS_FORMS.iter().any(|(_, c)| c == w))
    {
        words.pop();
    }
    words
}

/// A watch's name, read once, that filed names are compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    kind: PartyKind,
    person: Option<PersonName>,
    organisation: Vec<String>,
    nicknames: bool,
}

impl NamePattern {
    pub fn new(kind: PartyKind, name: &str, nicknames: bool) -> Result<NamePattern, NameError> {
        if fold(name).is_empty() {
            return Err(NameError::Empty);
        }
        match kind {
            PartyKind::Person => {
                let person = PersonName::read(name).ok_or(NameError::NoFirstName)?;
                if person.first.chars().count() == 1 {
                    return Err(NameError::InitialOnly(person.first));
                }
                Ok(NamePattern {
                    kind,
                    person: Some(person),
                    organisation: Vec::new(),
                    nicknames,
                })
            }
            PartyKind::Organisation => {
                let words = organisation_words(name);
                let only_filler = words.iter().all(|w| {
                    w == "the" || w == "and" || BUSINESS_FORMS.iter().any(|(_, c)| c == w)
                });
                if words.is_empty() || only_filler {
                    return Err(NameError::OnlyForms);
                }
                Ok(NamePattern {
                    kind,
                    person: None,
                    organisation: words,
                    nicknames,
                })
            }
        }
    }

    /// The key a filed name must share to be compared at all (see [`filed_keys`]).
    pub fn key(&self) -> String {
        match &self.person {
            Some(person) => format!("p:{}", person.last_key()),
            None => format!("o:{}", self.organisation.concat()),
        }
    }

    /// Why `filed` names this watch's party, or None when it does not.
    pub fn explain(&self, filed: &str) -> Option<String> {
        match &self.person {
            Some(watched) => {
                let party = PersonName::read(filed)?;
                compare_people(watched, &party, self.nicknames)
            }
            None => {
                let words = organisation_words(filed);
                // "Show-Me" and "SHOW ME" are one name; "Pen Island" and "Penis Land" are
                // not: run together only when the words do not line up one for one.
                let same = if words.len() == self.organisation.len() {
                    words == self.organisation
                } else {
                    words.concat() == self.organisation.concat()
                };
                same.then(|| {
                    if fold(filed) == self.organisation {
                        "the same organisation name".to_string()
                    } else {
                        "the same organisation name, apart from \"The\", business forms, punctuation or case"
                            .to_string()
                    }
                })
            }
        }
    }

    pub fn kind(&self) -> PartyKind {
        self.kind
    }
}

/// The keys under which a filed name is looked up among watches: as a person's last name, and
/// as an organisation's name.
pub fn filed_keys(filed: &str) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(person) = PersonName::read(filed) {
        keys.push(format!("p:{}", person.last_key()));
    }
    let words = organisation_words(filed);
    if !words.is_empty() {
        keys.push(format!("o:{}", words.concat()));
    }
    keys
}

fn compare_people(watched: &PersonName, party: &PersonName, nicknames: bool) -> Option<String> {
    if watched.last_key() != party.last_key() {
        return None;
    }
    let mut reasons = vec!["same last name".to_string()];
    // A double first name written with a hyphen on one side and a space on the other
    // (Anne-Marie, ANNE MARIE) is one first name.
    let (watched, party) = (joined_first(watched, party), joined_first(party, watched));
    let (watched, party) = (&watched, &party);
    if watched.first == party.first {
        reasons.push("same first name".into());
    } else if nicknames && nicknames::are_equivalent(&watched.first, &party.first) {
        reasons.push(format!(
            "first name {} for {} (nicknames)",
            title(&party.first),
            title(&watched.first)
        ));
    } else {
        return None;
    }
    match (&watched.middles[..], &party.middles[..]) {
        ([], []) => {}
        ([], _) => reasons.push("middle name only on the filing".into()),
        (_, []) => reasons.push("no middle name on the filing".into()),
        (ours, theirs) => {
            for (a, b) in ours.iter().zip(theirs) {
                if a == b {
                    reasons.push(format!("same middle {}", shown_middle(a)));
                } else if a.chars().count() == 1 && b.starts_with(a.as_str()) {
                    reasons.push(format!(
                        "middle {} fits initial {}",
                        title(b),
                        a.to_uppercase()
                    ));
                } else if b.chars().count() == 1 && a.starts_with(b.as_str()) {
                    reasons.push(format!(
                        "initial {} fits middle {}",
                        b.to_uppercase(),
                        title(a)
                    ));
                } else {
                    return None;
                }
            }
        }
    }
    match (&watched.suffix, &party.suffix) {
        (Some(a), Some(b)) if a != b => return None,
        (Some(a), Some(_)) => reasons.push(format!("same suffix {}", shown_suffix(a))),
        (Some(a), None) => reasons.push(format!(
            "no suffix on the filing (watch: {})",
            shown_suffix(a)
        )),
        (None, Some(b)) => reasons.push(format!("suffix {} only on the filing", shown_suffix(b))),
        (None, None) => {}
    }
    Some(reasons.join("; "))
}

/// `name` with its first two given names as one when together they are `other`'s first name.
fn joined_first(name: &PersonName, other: &PersonName) -> PersonName {
    let mut name = name.clone();
    if name.first != other.first
        && !name.middles.is_empty()
        && format!("{}{}", name.first, name.middles[0]) == other.first
    {
        let second = name.middles.remove(0);
        name.first.push_str(&second);
    }
    name
}

fn shown_middle(word: &str) -> String {
    if word.chars().count() == 1 {
        format!("initial {}", word.to_uppercase())
    } else {
        format!("name {}", title(word))
    }
}

fn shown_suffix(suffix: &str) -> String {
    match suffix {
        "jr" | "sr" => title(suffix),
        other => other.to_uppercase(),
    }
}

fn title(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, watch name, nicknames, filed name, matches)
    const TABLE: &[(PartyKind, &str, bool, &str, bool)] = &[
        // Case, accents, punctuation and spacing.
        (PartyKind::Person, "Jane Q. Doe", false, "DOE, JANE Q", true),
        (PartyKind::Person, "José Núñez", false, "NUNEZ, JOSE", true),
        (
            PartyKind::Person,
            "Zoë  O'Brien",
            false,
            "obrien ,  zoe",
            true,
        ),
        (
            PartyKind::Person,
            "Anne-Marie Smith-Jones",
            false,
            "SMITH JONES, ANNE MARIE",
            true,
        ),
        // Order.
        (
            PartyKind::Person,
            "Doe, Jane Quinn",
            false,
            "Jane Quinn Doe",
            true,
        ),
        (
            PartyKind::Person,
            "Maria De La Cruz",
            false,
            "DE LA CRUZ, MARIA",
            true,
        ),
        (PartyKind::Person, "Jane Doe", false, "DOE, JOHN", false),
        (PartyKind::Person, "Jane Doe", false, "DOERR, JANE", false),
        // Middle names and initials: absent on either side, never in conflict.
        (
            PartyKind::Person,
            "Jane Q. Doe",
            false,
            "DOE, JANE QUINN",
            true,
        ),
        (
            PartyKind::Person,
            "Jane Quinn Doe",
            false,
            "DOE, JANE Q.",
            true,
        ),
        (
            PartyKind::Person,
            "Jane Doe",
            false,
            "DOE, JANE QUINN",
            true,
        ),
        (
            PartyKind::Person,
            "Jane Quinn Doe",
            false,
            "DOE, JANE",
            true,
        ),
        (
            PartyKind::Person,
            "Jane Q. Doe",
            false,
            "DOE, JANE R",
            false,
        ),
        (
            PartyKind::Person,
            "Jane Quinn Doe",
            false,
            "DOE, JANE ROSE",
            false,
        ),
        (
            PartyKind::Person,
            "Jane Quinn Doe",
            false,
            "Doe, J. Quinn",
            false,
        ),
        // Suffixes.
        (
            PartyKind::Person,
            "John Smith Jr.",
            false,
            "SMITH, JOHN JR",
            true,
        ),
        (
            PartyKind::Person,
            "John Smith",
            false,
            "SMITH JR, JOHN",
            true,
        ),
        (
            PartyKind::Person,
            "John Smith III",
            false,
            "SMITH, JOHN",
            true,
        ),
        (
            PartyKind::Person,
            "John Smith Jr",
            false,
            "SMITH, JOHN SR",
            false,
        ),
        (
            PartyKind::Person,
            "John Smith II",
            false,
            "John Smith III",
            false,
        ),
        (
            PartyKind::Person,
            "William Smith",
            false,
            "William Smith, Jr.",
            true,
        ),
        (
            PartyKind::Person,
            "William Smith Sr",
            false,
            "SMITH, WILLIAM, JR",
            false,
        ),
        (
            PartyKind::Person,
            "Søren Sørensen",
            false,
            "SORENSEN, SOREN",
            true,
        ),
        (
            PartyKind::Person,
            "John Smith II",
            false,
            "SMITH, JOHN 2ND",
            true,
        ),
        (
            PartyKind::Person,
            "Jane Doe",
            false,
            "DOE, JANE Q, ET AL",
            true,
        ),
        (
            PartyKind::Person,
            "Jane Q. Doe",
            false,
            "DOE, JANE QUINN, DECEASED",
            true,
        ),
        (
            PartyKind::Person,
            "John Smith",
            false,
            "SMITH, JOHN LLC",
            false,
        ),
        (
            PartyKind::Person,
            "John Smith",
            false,
            "JONES, SMITH & ASSOCIATES",
            false,
        ),
        (
            PartyKind::Person,
            "Mary Smith–Jones",
            false,
            "JONES, MARY",
            false,
        ),
        (
            PartyKind::Organisation,
            "Pen Island",
            false,
            "Penis Land",
            false,
        ),
        (
            PartyKind::Organisation,
            "Wells Fargo Bank",
            false,
            "WELLS FARGO BANK, N.A.",
            true,
        ),
        // Nicknames, on and off.
        (
            PartyKind::Person,
            "William Carter",
            true,
            "CARTER, BILL",
            true,
        ),
        (
            PartyKind::Person,
            "Bill Carter",
            true,
            "CARTER, WILLIAM J",
            true,
        ),
        (
            PartyKind::Person,
            "Elizabeth Moore",
            true,
            "Liz Moore",
            true,
        ),
        (
            PartyKind::Person,
            "William Carter",
            false,
            "CARTER, BILL",
            false,
        ),
        (
            PartyKind::Person,
            "Robert Hill",
            true,
            "HILL, RICHARD",
            false,
        ),
        // Organisations: "The", business forms, "&", punctuation.
        (
            PartyKind::Organisation,
            "Midwest Credit Recovery LLC",
            false,
            "MIDWEST CREDIT RECOVERY, L.L.C.",
            true,
        ),
        (
            PartyKind::Organisation,
            "The Acme Company",
            false,
            "Acme Co.",
            true,
        ),
        (
            PartyKind::Organisation,
            "Acme Incorporated",
            false,
            "ACME, INC",
            true,
        ),
        (
            PartyKind::Organisation,
            "Smith & Sons Corp",
            false,
            "Smith and Sons Corporation",
            true,
        ),
        (
            PartyKind::Organisation,
            "AT&T",
            false,
            "A T and T Inc",
            true,
        ),
        (PartyKind::Organisation, "Acme", false, "Acme Mart", false),
        (
            PartyKind::Organisation,
            "Show-Me Auto Finance Inc",
            false,
            "SHOW ME AUTO FINANCE",
            true,
        ),
        (
            PartyKind::Organisation,
            "Acme LLC",
            false,
            "Acme Holdings LLC",
            false,
        ),
        (
            PartyKind::Organisation,
            "Ozark Valley Bank",
            false,
            "Ozark Valley Bank of Missouri",
            false,
        ),
    ];

    #[test]
    fn the_match_table() {
        let mut wrong = Vec::new();
        for (kind, watch, nicknames, filed, expected) in TABLE {
            let pattern = NamePattern::new(*kind, watch, *nicknames).expect(watch);
            let why = pattern.explain(filed);
            // A name that matches must also be found by its key.
            let found = filed_keys(filed).contains(&pattern.key());
            println!(
                "{:<5} {:<28} {:<4} {:<34} {}",
                if why.is_some() { "MATCH" } else { "no" },
                watch,
                if *nicknames { "nick" } else { "" },
                filed,
                why.as_deref().unwrap_or("")
            );
            if why.is_some() != *expected || (*expected && !found) {
                wrong.push(format!(
                    "{watch} / {filed}: expected {expected}, got {why:?} (key found: {found})"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_match_says_why() {
        let pattern = NamePattern::new(PartyKind::Person, "Jane Q. Doe", false).unwrap();
        assert_eq!(
            pattern.explain("DOE, JANE QUINN JR").as_deref(),
            Some("same last name; same first name; middle Quinn fits initial Q; suffix Jr only on the filing")
        );
        let pattern = NamePattern::new(PartyKind::Person, "William Carter", true).unwrap();
        assert_eq!(
            pattern.explain("Carter, Bill").as_deref(),
            Some("same last name; first name Bill for William (nicknames)")
        );
    }

    #[test]
    fn names_a_watch_cannot_use_are_refused_with_the_reason() {
        assert_eq!(
            NamePattern::new(PartyKind::Person, " ,. ", false),
            Err(NameError::Empty)
        );
        assert_eq!(
            NamePattern::new(PartyKind::Person, "Cher", false),
            Err(NameError::NoFirstName)
        );
        assert_eq!(
            NamePattern::new(PartyKind::Person, "J. Smith", false),
            Err(NameError::InitialOnly("j".into()))
        );
        for name in ["The LLC", "The", "&", "The & Co."] {
            assert_eq!(
                NamePattern::new(PartyKind::Organisation, name, false),
                Err(NameError::OnlyForms),
                "{name}"
            );
        }
    }

    #[test]
    fn folding_evens_out_accents_width_and_punctuation() {
        assert_eq!(fold("ＪＯＳÉ  Ñúñez-O'Neil"), vec!["jose", "nunezoneil"]);
        assert_eq!(
            fold("Smith & Sons, L.L.C."),
            vec!["smith", "and", "sons", "llc"]
        );
        assert_eq!(
            organisation_words("The A. T. & T. Co"),
            vec!["at", "and", "t"]
        );
    }
}
