//! `mcap-notify bench`: what the benchmarks in `benches/` run against. `generate` writes the
//! workload of a busy statewide day; the scripts time ingest, the batch and delivery on it
//! beside the bare database and Postfix's own tools.

pub mod generate;

pub use generate::{generate, Generated, Workload};
