//! Court dates: hearings and payment deadlines. `due` decides which reminders and change
//! notices a run sends, `ical` writes the calendar entry that follows a hearing.

pub mod due;
pub mod ical;
