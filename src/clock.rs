//! Time, injected wherever buckets, windows or waits are computed, so tests can run the
//! exporter on the simulated org's business clock (and cross a midnight without waiting).

use std::fmt;
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock read through a function (tests: the simulator's business time).
pub struct FnClock<F>(pub F);

impl<F: Fn() -> i64 + Send + Sync + 'static> Clock for FnClock<F> {
    fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

pub(crate) type SharedClock = Arc<dyn Clock>;

/// Whole milliseconds of a duration, saturating (durations here are intervals and windows:
/// hours, never the 292 million years an `i64` of milliseconds holds).
#[must_use]
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whole milliseconds of a duration as a `u64`, saturating.
#[must_use]
pub(crate) fn millis_u64(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock(now_ms={})", self.now_ms())
    }
}
