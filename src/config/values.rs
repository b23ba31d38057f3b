//! Typed setting values, each parsed once, when the configuration loads, from the text a file or
//! the environment gives, and written back as that text. The modules that use them (the
//! calendar, the scheduler) take them as they are and never read a string again. A text that
//! does not parse is refused with the reason here and the key it was given for (see
//! `Settings::load_from`).

use std::fmt;

use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The form of a time of day in the settings.
const TIME_OF_DAY: &str = "%H:%M";
/// The form of a date in the settings.
const DATE: &str = "%Y-%m-%d";

/// An IANA zone (`America/Chicago`).
pub fn parse_zone(text: &str) -> Result<Tz, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IANA time zone (like America/Chicago)"))
}

/// A weekday (`Mon`, `Tuesday`).
pub fn parse_weekday(text: &str) -> Result<Weekday, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a weekday (Mon, Tue, ...)"))
}

/// A time of day, `HH:MM`.
pub fn parse_time_of_day(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, TIME_OF_DAY)
        .map_err(|_| format!("`{text}` is not a time of day (HH:MM)"))
}

/// A date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, DATE)
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))
}

/// A cadence: a cron expression with seconds (`sec min hour day month weekday`), parsed the way
/// the scheduler reads it. It keeps the text it was given, which is what the scheduler is handed.
#[derive(Debug, Clone, PartialEq)]
pub struct Cadence(Cron);

impl Cadence {
    pub fn parse(expression: &str) -> Result<Cadence, String> {
        CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expression)
            .map(Cadence)
            .map_err(|e| format!("`{expression}` is not a cron expression with seconds: {e}"))
    }

    /// The schedule, to find its ticks.
    pub fn cron(&self) -> &Cron {
        &self.0
    }

    /// The expression as it was given.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Cadence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Cadence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cadence::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// Reads a text and parses it.
fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    parse(&String::deserialize(d)?).map_err(D::Error::custom)
}

/// Reads a list of texts and parses each.
fn parsed_list<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|text| parse(text).map_err(D::Error::custom))
        .collect()
}

/// `#[serde(with)]` for a zone, by its name.
pub mod zone {
    use super::*;

    pub fn serialize<S: Serializer>(zone: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(zone.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        parsed(d, parse_zone)
    }
}

/// `#[serde(with)]` for weekdays, by their short names.
pub mod weekdays {
    use super::*;

    pub fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(days.iter().map(|d| d.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        parsed_list(d, parse_weekday)
    }
}

/// `#[serde(with)]` for a time of day, `HH:MM`.
pub mod time_of_day {
    use super::*;

    pub fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&time.format(TIME_OF_DAY))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        parsed(d, parse_time_of_day)
    }
}

/// `#[serde(with)]` for dates, `YYYY-MM-DD`.
pub mod dates {
    use super::*;

    pub fn serialize<S: Serializer>(dates: &[NaiveDate], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(dates.iter().map(|d| d.format(DATE).to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
        parsed_list(d, parse_date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_they_were_written() {
        let zone = parse_zone("America/Chicago").unwrap();
        assert_eq!(zone.name(), "America/Chicago");
        assert_eq!(parse_weekday("Sat").unwrap().to_string(), "Sat");
        let time = parse_time_of_day("06:05").unwrap();
        assert_eq!(time.format(TIME_OF_DAY).to_string(), "06:05");
        let cadence = Cadence::parse("0 */5 * * * *").unwrap();
        assert_eq!(cadence.as_str(), "0 */5 * * * *");
    }

    #[test]
    fn a_bad_value_says_what_was_expected() {
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
        assert!(parse_weekday("Funday").unwrap_err().contains("weekday"));
        assert!(parse_time_of_day("6am").unwrap_err().contains("HH:MM"));
        assert!(parse_date("2026-13-01").unwrap_err().contains("YYYY-MM-DD"));
        assert!(Cadence::parse("* * * * *")
            .unwrap_err()
            .contains("not a cron expression with seconds"));
    }
}
