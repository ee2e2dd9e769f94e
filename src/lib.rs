//! genesys-exporter: Genesys Cloud queue state and analytics as Prometheus metrics.
//!
//! Data flows one way: collectors poll Genesys, build a new immutable snapshot and swap it in;
//! the HTTP server only reads the latest snapshot.

pub mod collect;
pub mod genesys;
pub mod sim;
