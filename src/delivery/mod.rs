//! Delivery: hands queued messages to a transport, marks each sent only once the transport has
//! accepted it, and retries, dead-letters or bounces the rest.

pub mod classify;
pub mod retry;
pub mod smtp;
pub mod transport;
pub mod worker;

pub use classify::{classify_reply, Classified, SendOutcome};
pub use retry::{NextStep, RetryPolicy};
pub use transport::{Transport, TransportError};
pub use worker::{deliver_due, Clock, DeliveryError, DeliveryReport, SystemClock, WorkerConfig};
