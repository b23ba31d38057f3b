//! mcap-notify: docket entries in, one e-mail digest per tracking account out.
//! See the README for the feeds, the commands and the configuration.

pub mod app;
pub mod atomic_file;
pub mod batch;
pub mod bench;
pub mod bounce;
pub mod calendar;
pub mod circuits;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod dkim;
pub mod exit;
pub mod feed_limits;
pub mod health;
pub mod hearings;
pub mod hooks;
pub mod http;
pub mod ingest;
pub mod mailbox;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod preview;
pub mod prune;
pub mod report;
pub mod runs;
pub mod scheduler;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod unsubscribe;
pub mod watches;
