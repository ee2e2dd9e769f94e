//! genesys-exporter: Genesys Cloud queue state and analytics as Prometheus metrics.
//!
//! Data flows one way: collectors poll Genesys, build a new immutable snapshot and swap it in;
//! the HTTP server only reads the latest snapshot.

pub mod app;
pub mod budget;
pub mod clock;
pub mod collect;
pub mod config;
pub mod families;
pub mod genesys;
pub mod metrics;
pub mod org;
pub mod reload;
pub mod server;
mod stall;
pub mod web;

/// Displays an error with its sources, so a log line says "connection refused", not only
/// "error sending request".
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
