//! Masking of e-mail addresses for log output and the HTML report. Logs go to journald and to shippers that keep
//! them for a long time and show them to more people than the database does, so an address in a
//! log line keeps only the first character of its local part and its domain
//! (`jane.doe@example.org` becomes `j***@example.org`): enough to tell a domain-wide problem from
//! one subscriber's, never enough to name the subscriber. The local part also carries the VERP
//! token of our return paths, which this hides too.
//!
//! Log output, the report (a page that gets mailed around) and the `deliver` summary (what a
//! timer's journal keeps) are masked; what the database keeps and what the other operator
//! commands print is not.

use std::fmt;

/// What replaces the hidden part of a local part.
const HIDDEN: &str = "***";

/// `address` as a log line may show it: the first character of the local part, `***`, and the
/// domain. A quoted local part shows the first character inside the quotes; an empty local part
/// shows nothing of it; a value without `@` shows its first character only.
pub fn address(address: &str) -> String {
    let address = address.trim();
    let (local, domain) = match address.rfind('@') {
        Some(at) => (&address[..at], Some(&address[at + 1..])),
        None => (address, None),
    };
    let mut out = String::with_capacity(domain.map_or(0, str::len) + 8);
    if let Some(first) = local.trim_start_matches('"').chars().next() {
        // A quote can open the part again; show it as the letter it is not.
        if first != '"' && first != '@' {
            out.push(first);
        }
    }
    out.push_str(HIDDEN);
    if let Some(domain) = domain {
        out.push('@');
        out.push_str(domain);
    }
    out
}

/// A field value for a log event: [`address`] applied when it is displayed.
///
/// `tracing::warn!(address = %mask::Address(&email), "...")`
pub struct Address<'a>(pub &'a str);

impl fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&address(self.0))
    }
}

/// `text` with every address in it masked as [`address`] does: for free text that may quote an
/// address, such as an SMTP reply (`550 5.1.1 <jane@example.org>: user unknown`) or an error.
pub fn addresses_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Where the text not yet copied starts.
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let domain_end = at
            + 1
            + text[at + 1..]
                .find(|c: char| !is_domain_char(c))
                .unwrap_or(text.len() - at - 1);
        let domain = text[at + 1..domain_end].trim_end_matches('.');
        if domain.is_empty() {
            continue;
        }
        let Some(local_start) = local_part_start(&text[copied..at]).map(|s| copied + s) else {
            continue;
        };
        out.push_str(&text[copied..local_start]);
        out.push_str(&address(&text[local_start..at + 1 + domain.len()]));
        copied = at + 1 + domain.len();
    }
    out.push_str(&text[copied..]);
    out
}

/// `text` about `address` (an error about one account): `address` masked wherever it appears,
/// even when it is too malformed to look like one (`jane at example.org`), then any other
/// address as [`addresses_in`] does.
pub fn text_about(text: &str, address: &str) -> String {
    let address = address.trim();
    if address.is_empty() {
        return addresses_in(text);
    }
    addresses_in(&text.replace(address, &self::address(address)))
}

/// Free text with its addresses masked, as a field value: see [`addresses_in`].
pub struct Text<'a>(pub &'a str);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&addresses_in(self.0))
    }
}

/// A character a domain (or an address literal such as `[192.0.2.1]`) may hold.
fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '[' | ']')
}

/// A character an unquoted local part may hold (RFC 5322 atext and dots, any letter).
fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// Where the local part ending at the end of `before` starts: a quoted string ending there, or
/// the run of local-part characters; None when there is none.
fn local_part_start(before: &str) -> Option<usize> {
    if let Some(inner) = before.strip_suffix('"') {
        if let Some(open) = inner.rfind('"') {
            return Some(open);
        }
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_local_char(c))
        .last()
        .map(|(i, _)| i)?;
    // Quotes that open a quotation in prose (`like this`) are not part of the address.
    let run = &before[start..];
    let unquoted = run.trim_start_matches(['`', '\'']);
    (!unquoted.is_empty()).then(|| start + run.len() - unquoted.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_address_keeps_the_first_character_and_the_domain() {
        assert_eq!(address("jane.doe@example.org"), "j***@example.org");
        assert_eq!(address("J@example.org"), "J***@example.org");
    }

    #[test]
    fn odd_addresses_reveal_no_more() {
        assert_eq!(address(""), "***");
        assert_eq!(address("@example.org"), "***@example.org");
        assert_eq!(address("no-at-sign"), "n***");
        assert_eq!(address("\"jane doe\"@example.org"), "j***@example.org");
        assert_eq!(address("\"\"@example.org"), "***@example.org");
        assert_eq!(address("\"a@b\"@example.org"), "a***@example.org");
        assert_eq!(address("zoë.ñ@exämple.org"), "z***@exämple.org");
        assert_eq!(address("émile@example.org"), "é***@example.org");
        assert_eq!(address("jane@"), "j***@");
        assert_eq!(address("@"), "***@");
    }

    #[test]
    fn addresses_in_an_smtp_reply_are_masked() {
        assert_eq!(
            addresses_in("550 5.1.1 <jane.doe@example.org>: Recipient address rejected"),
            "550 5.1.1 <j***@example.org>: Recipient address rejected"
        );
        assert_eq!(
            addresses_in("to a@x.org, bob@y.net and \"c d\"@z.com."),
            "to a***@x.org, b***@y.net and c***@z.com."
        );
        assert_eq!(
            addresses_in("address `bounces+42-0a1b2c@mail.example.org`: bad"),
            "address `b***@mail.example.org`: bad"
        );
    }

    #[test]
    fn a_malformed_address_is_masked_in_text_about_it() {
        assert_eq!(
            text_about(
                "account a0: address `jane at example.org` is not usable",
                "jane at example.org"
            ),
            "account a0: address `j***` is not usable"
        );
        assert_eq!(
            text_about("refused for jane@example.org", "jane@example.org"),
            "refused for j***@example.org"
        );
        assert_eq!(text_about("to b@x.org", ""), "to b***@x.org");
    }

    #[test]
    fn text_without_addresses_is_unchanged() {
        for text in [
            "",
            "plain words",
            "an @ sign alone",
            "trailing@",
            "@leading",
            "a@ b",
        ] {
            assert_eq!(addresses_in(text), text);
        }
    }

    proptest! {
        #[test]
        fn an_address_shows_only_its_first_character_and_domain(
            local in "\\PC{0,24}",
            domain in "[a-z0-9.-]{1,20}",
        ) {
            let local = local.replace('@', "");
            let masked = address(&format!("{local}@{domain}"));
            let shown = masked.strip_suffix(&format!("{HIDDEN}@{domain}"));
            prop_assert!(shown.is_some(), "{masked}");
            prop_assert!(shown.unwrap().chars().count() <= 1, "{masked}");
        }

        #[test]
        fn addresses_in_text_lose_their_local_part(
            before in "[ <(:;,a-z]{0,12}",
            local in "[a-z0-9._%+-]{2,16}[A-Z]{3}",
            domain in "[a-z0-9-]{1,12}\\.[a-z]{2,6}",
            after in "[ >):;,]{0,12}",
        ) {
            let text = format!("{before}{local}@{domain}{after}");
            let masked = addresses_in(&text);
            // The local part ends in capitals that nothing around it holds.
            let tail = &local[1..];
            prop_assert!(!masked.contains(tail), "{text} -> {masked}");
            prop_assert!(masked.contains(&format!("{HIDDEN}@{domain}")), "{text} -> {masked}");
        }

        #[test]
        fn masking_never_panics(text in "\\PC{0,64}") {
            let _ = addresses_in(&text);
            let _ = address(&text);
        }
    }
}
