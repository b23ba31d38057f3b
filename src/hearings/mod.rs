//! Court dates: hearings and payment deadlines. `due` holds the day rules, `plan` decides what
//! each account is told in a run, `ical` writes the calendar entry that follows a hearing.

pub mod due;
pub mod ical;
pub mod plan;

pub use plan::{AccountDates, DateItem};

/// What a run needs to decide its date notices: the service calendar (with its outages) and
/// the reminder days.
#[derive(Debug, Clone)]
pub struct DateRules {
    pub calendar: crate::calendar::Calendar,
    pub reminders: crate::config::ReminderSettings,
}
