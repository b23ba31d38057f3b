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
    Ok(value)
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
            Rejection(format!(
                "field `{path}`: `{local}` has no UTC offset; give one, like `{local}-06:00` or `{local}Z`"
            ))
        } else {
            Rejection(format!("field `{path}`: {message}"))
        }
    })
}

/// The text at `path` (as serde_path_to_error prints it) when it is a date and time that lacks
/// only its offset, the commonest mistake in a hand-made feed.
fn time_without_offset(line: &str, path: &str) -> Option<String> {
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
    let text = value.as_str()?;
    text.parse::<chrono::NaiveDateTime>()
        .is_ok()
        .then(|| text.to_string())
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
