//! The batch: from docket entries past the watermark to one queued digest per account.
//! `digest` groups, `render` fills templates (`date_text` words the court dates), `message` assembles mail, `run` drives a run,
//! `withhold` takes back queued digests that may no longer go out, `attempt` remembers attempts
//! that did not finish.

pub mod attempt;
pub mod date_text;
pub mod digest;
pub mod message;
pub mod render;
pub mod run;
pub mod watch_text;
pub mod withhold;

pub use digest::{CaseChanges, Digest, DigestGrouper, EntryLine};
pub use message::{MessageError, MessageFactory};
pub use render::{RenderError, RenderedDigest, Renderer};
pub use run::{run_batch, DateNoticeTotals, RunError, RunLease, RunOptions, RunReport};
pub use withhold::{forgo_held, withhold};
