//! The HTTP server's self-metrics: connections it closed to protect the others. Kept here,
//! with the body that shows them, so that the server (which counts) depends on `metrics` and
//! not the reverse.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::catalog::{self, register};

#[derive(Debug, Default, Clone)]
pub struct HttpMetrics {
    /// Closed when every connection slot was taken, for the one stalled longest.
    pub(crate) evicted: Counter,
    /// Closed after a response write made no progress for the stall timeout.
    pub(crate) write_timeouts: Counter,
}

impl HttpMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        register(
            registry,
            &catalog::EXPORTER_HTTP_CONNECTIONS_EVICTED,
            self.evicted.clone(),
        );
        register(
            registry,
            &catalog::EXPORTER_HTTP_WRITE_TIMEOUTS,
            self.write_timeouts.clone(),
        );
    }

    /// Changes whenever a value does: what the body cache compares.
    pub(crate) fn generation(&self) -> u64 {
        self.evicted.get() + self.write_timeouts.get()
    }
}
