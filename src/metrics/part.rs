//! What the writer knows of the rest of the exporter, as traits it owns: a part of the body
//! (a collector's slot) with its health and its latest snapshot, a snapshot that writes its own
//! families, and a registry of self-metrics (the client's). The collectors and the client
//! implement them; the writer names none of their types, so data flows one way.

use std::sync::atomic::{AtomicU64, Ordering};
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

    /// The snapshot as keyed pieces, in write order, each with a generation that changes
    /// whenever the piece's text would: the writer keeps each piece encoded (and compressed)
    /// and re-encodes only those whose generation moved, so a change to a few of a large
    /// snapshot's series costs those pieces, not the whole body. `None` (the default): the
    /// snapshot is one piece, re-encoded whenever its collector's slot changes.
    ///
    /// The pieces written one after the other by [`Snapshot::write_piece`] must be what
    /// [`Snapshot::write`] writes. A piece that continues a family begun by an earlier one
    /// starts with [`Exposition::resume`].
    fn pieces(&self) -> Option<Vec<Piece>> {
        None
    }

    /// Writes the piece of [`Snapshot::pieces`] with this key.
    ///
    /// # Errors
    /// When the body cannot be written (gzip).
    fn write_piece(&self, key: u64, e: &mut Exposition) -> std::io::Result<()> {
        let _ = key;
        self.write(e)
    }
}

/// One piece of a snapshot: its key (unique within the snapshot, stable from one snapshot
/// of the collector to the next) and its generation (from [`next_generation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub key: u64,
    pub generation: u64,
}

/// A generation never handed out before in this process: a piece given a new one is
/// re-encoded, whatever it was keyed as before.
#[must_use]
pub fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
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
