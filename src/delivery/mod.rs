//! Delivery: hands queued messages to a transport and marks each sent only once the transport
//! has accepted it.

pub mod transport;
pub mod worker;

pub use transport::{Transport, TransportError};
pub use worker::{deliver_queued, DeliveryReport};
