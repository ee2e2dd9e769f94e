//! What the writer knows of the rest of the exporter, as traits it owns: a part of the body
//! (a collector's slot) with its health and its latest snapshot, a snapshot that writes its own
//! families, and a registry of self-metrics (the client's). The collectors and the client
//! implement them; the writer names none of their types, so data flows one way.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::registry::Registry;

use super::exposition::Exposition;

/// What a collector publishes: a snapshot that writes its own families.
pub trait Snapshot: Send + Sync + 'static {
    /// Writes the families of this snapshot (declared in the catalog).
    ///
    /// # Errors
    /// When the body cannot be written (gzip).
    fn write(&self, e: &mut Exposition) -> std::io::Result<()>;
}

/// One collector's self-metrics, computed at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub(crate) name: &'static str,
    pub(crate) up: bool,
    /// Unix seconds of the last success.
    pub(crate) last_success: Option<f64>,
    pub(crate) last_duration: Option<Duration>,
    pub(crate) last_requests: u64,
    pub(crate) interval: Duration,
    pub(crate) polls: u64,
    pub(crate) failures: u64,
}

/// A part of the body: one collector, as the writer reads it.
pub trait Part: Send + Sync {
    /// Completed polls and whether the data is fresh at `now`: a body is current while this is.
    fn version(&self, now: SystemTime) -> (u64, bool);
    /// Its health and its data if fresh enough to serve at `now`, read together: a scrape
    /// never shows the counters of one poll next to the data of the next.
    fn read(&self, now: SystemTime) -> (Health, Option<Arc<dyn Snapshot>>);
}

/// Self-metrics kept in a prometheus-client registry by someone else (the API client's).
pub trait Registered: Send + Sync {
    /// Adds its families to `registry`.
    fn register(&self, registry: &mut Registry);
    /// Changes whenever one of its values does: what the body cache compares.
    fn generation(&self) -> u64;
}
