//! How large a feed record may be. One runaway record (a pasted document as an entry's text, a
//! line that never ends) is refused with its file and line instead of filling memory, the
//! database or a digest. The README lists the same limits.

/// The longest line a feed may hold, in bytes; a longer one is refused before it is read whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Identifiers: `court_id`, `entry_id`, `account_id`, and case numbers where they refer to one.
pub const ID_CHARS: usize = 64;
/// Short codes: `case_type`, an entry's `code`, excluded case types.
pub const CODE_CHARS: usize = 16;
/// Names: a court's `name`, a party's `name` and `role`, an entry's `filed_by`.
pub const NAME_CHARS: usize = 200;
/// One-line descriptions: a case's `caption`, an entry's `description`.
pub const CAPTION_CHARS: usize = 500;
/// An entry's `text`.
pub const TEXT_CHARS: usize = 20_000;
/// A mail address (RFC 5321's limit on a path).
pub const EMAIL_CHARS: usize = 254;
/// Lists: a case's `parties`, a court's `track_excluded_case_types`.
pub const LIST_ITEMS: usize = 200;

/// A field's text against its limit, in characters.
pub fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(format!(
            "field `{field}` has {chars} characters; at most {max_chars} are allowed"
        ));
    }
    Ok(())
}

/// A list field's length against its limit.
pub fn check_items(field: &str, items: usize, max_items: usize) -> Result<(), String> {
    if items > max_items {
        return Err(format!(
            "field `{field}` has {items} items; at most {max_items} are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(check_text("name", &"é".repeat(NAME_CHARS), NAME_CHARS).is_ok());
        assert_eq!(
            check_text("name", &"é".repeat(NAME_CHARS + 1), NAME_CHARS).unwrap_err(),
            "field `name` has 201 characters; at most 200 are allowed"
        );
        assert!(check_items("parties", LIST_ITEMS + 1, LIST_ITEMS).is_err());
    }
}
