//! Turning one feed line into a typed record, and the field checks every feed kind shares;
//! a refusal names the field at fault.

use serde::de::DeserializeOwned;

use crate::feed_limits::check_text;

/// Why a record is refused: the text after `FILE:LINE: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rejection(pub String);

pub(super) fn reject<T>(reason: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection(reason.into()))
}

/// An id is printable text: no control character, and none that reorders the text around it,
/// which could make two ids look alike in a mail, a calendar entry or a listing.
pub(super) fn require_printable_id(field: &str, id: &str) -> Result<(), Rejection> {
    if id.chars().any(char::is_control) {
        return reject(format!(
            "field `{field}` holds a control character; an id is printable text"
        ));
    }
    if id.chars().any(crate::batch::render::is_bidi_control) {
        return reject(format!(
            "field `{field}` holds a character that reorders text (U+202A..U+202E, \
             U+2066..U+2069); an id is printable text"
        ));
    }
    Ok(())
}

/// Parses one JSON object, naming the field at fault.
pub(super) fn parse<T: DeserializeOwned>(line: &str) -> Result<T, Rejection> {
    let mut de = serde_json::Deserializer::from_str(line);
    let value = parse_value(&mut de, line)?;
    // One record a line: anything after it (a second record, stray text) refuses the line.
    de.end().map_err(|_| {
        Rejection(
            "not valid JSON: more than one record on the line (one JSON object per line)".into(),
        )
    })?;
    refuse_nul(line)?;
    Ok(value)
}

/// Refuses a line whose text holds a NUL character (`\u0000`, the only way JSON can carry
/// one): no docket text needs it, PostgreSQL cannot store it, and SQLite would keep a value
/// that no longer moves to PostgreSQL. Names the field that holds it.
fn refuse_nul(line: &str) -> Result<(), Rejection> {
    if !has_nul_escape(line) {
        return Ok(());
    }
    let Ok(root) = serde_json::from_str::<serde_json::Value>(line) else {
        return Ok(());
    };
    match nul_path(&root, "") {
        Some(path) => reject(format!(
            "field `{path}` holds a NUL character (\\u0000), which cannot be stored"
        )),
        None => Ok(()),
    }
}

/// Whether the line has a `\u0000` escape (an escaped backslash before `u0000` is not one).
fn has_nul_escape(line: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices("u0000").any(|(at, _)| {
        let slashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        slashes % 2 == 1
    })
}

/// The path (as field names are given in refusals: `parties[0].name`) of the first text, or
/// key, holding a NUL.
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(here);
            }
            nul_path(item, &here)
        }),
        _ => None,
    }
}

fn parse_value<T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
    line: &str,
) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let message = match message.rfind(" at line ") {
            Some(cut) => message[..cut].to_string(),
            None => message,
        };
        if inner.is_syntax() || inner.is_eof() {
            Rejection(format!("not valid JSON: {message}"))
        } else if path == "." {
            Rejection(message)
        } else if let Some(local) = time_without_offset(line, &path) {
            let example = local.replacen(' ', "T", 1);
            let example = if example.len() == 16 {
                format!("{example}:00")
            } else {
                example
            };
            Rejection(format!(
                "field `{path}`: `{local}` has no UTC offset; give one, like `{example}-06:00` or `{example}Z`"
            ))
        } else if let Some((text, example)) = time_without_seconds(line, &path) {
            Rejection(format!(
                "field `{path}`: `{text}` has no seconds; give them, like `{example}`"
            ))
        } else if let Some(date) = date_without_time(line, &path) {
            Rejection(format!(
                "field `{path}`: `{date}` is a date without a time; give a time and a UTC offset, like `{date}T09:00:00-06:00`"
            ))
        } else {
            Rejection(format!("field `{path}`: {message}"))
        }
    })
}

/// The text at `path` when it is a date and time with an offset that lacks only its seconds
/// (`2026-12-08T09:00-06:00`), with the same time written in full.
fn time_without_seconds(line: &str, path: &str) -> Option<(String, String)> {
    let text = text_at(line, path)?;
    let (body, zulu) = match text.strip_suffix(['Z', 'z']) {
        Some(body) => (format!("{body}+00:00"), true),
        None => (text.clone(), false),
    };
    let parsed = ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z"]
        .iter()
        .find_map(|format| chrono::DateTime::parse_from_str(&body, format).ok())?;
    let example = if zulu {
        parsed.format("%Y-%m-%dT%H:%M:00Z").to_string()
    } else {
        parsed.format("%Y-%m-%dT%H:%M:00%:z").to_string()
    };
    Some((text, example))
}

/// The text at `path` (as serde_path_to_error prints it) when it is a date and time that lacks
/// only its offset, the commonest mistake in a hand-made feed.
fn time_without_offset(line: &str, path: &str) -> Option<String> {
    let text = text_at(line, path)?;
    // `2026-12-09T09:00:00`, `2026-12-09 09:00`, `2026-12-09T09:00`, with seconds or not.
    let local_time = text.parse::<chrono::NaiveDateTime>().is_ok()
        || ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .any(|format| chrono::NaiveDateTime::parse_from_str(&text, format).is_ok());
    local_time.then_some(text)
}

/// The text at `path` when it is a date alone (`2026-12-09`).
fn date_without_time(line: &str, path: &str) -> Option<String> {
    let text = text_at(line, path)?;
    text.parse::<chrono::NaiveDate>().is_ok().then_some(text)
}

/// The string at `path` (as serde_path_to_error prints it) in the line's JSON.
fn text_at(line: &str, path: &str) -> Option<String> {
    let root: serde_json::Value = serde_json::from_str(line).ok()?;
    let mut value = &root;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        value = value.get(key)?;
        if let Some(i) = index {
            value = value.get(i)?;
        }
    }
    value.as_str().map(str::to_string)
}

/// Whether a JSON object line carries `key` (to tell a void from an entry, a stop from a start).
pub(super) fn has_key(line: &str, key: &str) -> Result<bool, Rejection> {
    let value: serde_json::Value = parse(line)?;
    match value {
        serde_json::Value::Object(map) => Ok(map.contains_key(key)),
        _ => reject("expected a JSON object"),
    }
}

/// Each (field, text, limit) within its limit.
pub(super) fn within_limits(fields: &[(&str, &str, usize)]) -> Result<(), Rejection> {
    for (field, value, max) in fields {
        check_text(field, value, *max).map_err(Rejection)?;
    }
    Ok(())
}

pub(super) fn require_text(field: &str, value: &str) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return reject(format!("field `{field}` must not be empty"));
    }
    Ok(())
}
