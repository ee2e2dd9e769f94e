//! Background collectors. Each polls Genesys on its own interval, builds a new immutable
//! snapshot and publishes it into its [`Slot`]; the metrics renderer only reads slots.

pub mod activity;
pub mod aggregates;
#[cfg(test)]
mod fuzz;
pub mod observations;
pub mod queues;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

use tokio::time::Instant;

use self::queues::QueueSet;
use crate::genesys::client::counting_requests;
use crate::genesys::ApiError;

/// A collector's data counts as live for this many of its intervals after its last success;
/// after that its series are left out (they go stale in Prometheus) rather than frozen.
pub const STALE_AFTER_INTERVALS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("queue discovery has not succeeded yet, no queues to observe")]
    NoQueuesYet,
    #[error("queue listing did not end: more than {0} pages")]
    TooManyPages(u32),
}

/// What a collector has published: its latest good data and how its polls are going.
#[derive(Debug)]
pub struct Published<T> {
    pub data: Option<Arc<T>>,
    pub last_success: Option<SystemTime>,
    pub last_poll_ok: bool,
    pub last_duration: Option<Duration>,
    /// API requests the last poll sent, retries included: what one refresh costs.
    pub last_requests: u64,
    pub polls: u64,
    pub failures: u64,
}

impl<T> Default for Published<T> {
    fn default() -> Self {
        Published {
            data: None,
            last_success: None,
            last_poll_ok: false,
            last_duration: None,
            last_requests: 0,
            polls: 0,
            failures: 0,
        }
    }
}

impl<T> Clone for Published<T> {
    fn clone(&self) -> Self {
        Published {
            data: self.data.clone(),
            last_success: self.last_success,
            last_poll_ok: self.last_poll_ok,
            last_duration: self.last_duration,
            last_requests: self.last_requests,
            polls: self.polls,
            failures: self.failures,
        }
    }
}

impl<T> Published<T> {
    /// The data, if the last success is recent enough to be served as live at `now`.
    pub fn fresh_data(&self, now: SystemTime, interval: Duration) -> Option<&Arc<T>> {
        let age = now
            .duration_since(self.last_success?)
            .unwrap_or(Duration::ZERO);
        (age <= interval * STALE_AFTER_INTERVALS).then_some(self.data.as_ref()?)
    }

    /// `genesys_up`: the last poll succeeded and its data is still fresh.
    pub fn up(&self, now: SystemTime, interval: Duration) -> bool {
        self.last_poll_ok && self.fresh_data(now, interval).is_some()
    }
}

/// Where one collector publishes. Readers take a cheap clone of the latest [`Published`].
#[derive(Debug)]
pub struct Slot<T> {
    pub name: &'static str,
    /// Milliseconds; a reload may change it while the collector runs.
    interval_ms: AtomicU64,
    tx: watch::Sender<Published<T>>,
}

impl<T> Slot<T> {
    pub fn new(name: &'static str, interval: Duration) -> Arc<Slot<T>> {
        Arc::new(Slot {
            name,
            interval_ms: AtomicU64::new(interval.as_millis() as u64),
            tx: watch::Sender::new(Published::default()),
        })
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }

    /// Takes effect after the poll under way (or the wait for it).
    pub fn set_interval(&self, interval: Duration) {
        self.interval_ms
            .store(interval.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn latest(&self) -> Published<T> {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Published<T>> {
        self.tx.subscribe()
    }

    /// Publishes `data` as a successful poll (benchmarks and tests that build snapshots by hand).
    pub fn publish(&self, data: T) {
        self.record(Instant::now(), 0, Ok(data));
    }

    pub fn has_succeeded(&self) -> bool {
        self.tx.borrow().last_success.is_some()
    }

    fn record(&self, started: Instant, requests: u64, result: Result<T, CollectError>) {
        let duration = started.elapsed();
        self.tx.send_modify(|p| {
            p.polls += 1;
            p.last_duration = Some(duration);
            p.last_requests = requests;
            match result {
                Ok(data) => {
                    p.data = Some(Arc::new(data));
                    p.last_success = Some(SystemTime::now());
                    p.last_poll_ok = true;
                }
                Err(error) => {
                    p.failures += 1;
                    p.last_poll_ok = false;
                    tracing::warn!(collector = self.name, error = %crate::ErrorChain(&error), "poll failed");
                }
            }
        });
    }
}

/// The latest queue set, waiting up to `wait` for queue discovery's first success.
pub async fn wait_for_queues(
    rx: &mut watch::Receiver<Published<QueueSet>>,
    wait: Duration,
) -> Result<Arc<QueueSet>, CollectError> {
    match tokio::time::timeout(wait, rx.wait_for(|p| p.data.is_some())).await {
        Ok(Ok(p)) => p.data.clone().ok_or(CollectError::NoQueuesYet),
        _ => Err(CollectError::NoQueuesYet),
    }
}

/// One collector: a poll of Genesys that yields a complete new snapshot.
pub trait Poll: Send + 'static {
    type Snapshot: Send + Sync + 'static;
    fn poll(&mut self) -> impl Future<Output = Result<Self::Snapshot, CollectError>> + Send;
}

/// Polls forever on the slot's interval. A slow poll delays the next tick instead of
/// stacking polls up behind it.
pub async fn run<P: Poll>(slot: Arc<Slot<P::Snapshot>>, mut collector: P) {
    loop {
        let started = Instant::now();
        let (result, requests) = counting_requests(collector.poll()).await;
        if result.is_ok() {
            tracing::debug!(
                collector = slot.name,
                ms = started.elapsed().as_millis() as u64,
                "poll ok"
            );
        }
        slot.record(started, requests, result);
        tokio::time::sleep_until(started + slot.interval()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_goes_stale_after_three_intervals() {
        let interval = Duration::from_secs(15);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let p = Published {
            data: Some(Arc::new(7)),
            last_success: Some(t0),
            last_poll_ok: true,
            ..Published::default()
        };
        assert!(p.up(t0 + Duration::from_secs(45), interval));
        assert_eq!(
            p.fresh_data(t0 + Duration::from_secs(45), interval)
                .map(|d| **d),
            Some(7)
        );
        assert!(!p.up(t0 + Duration::from_secs(46), interval));
        assert!(p
            .fresh_data(t0 + Duration::from_secs(46), interval)
            .is_none());
        let failed = Published {
            last_poll_ok: false,
            ..p.clone()
        };
        assert!(
            !failed.up(t0, interval),
            "a failed last poll is down even with fresh data"
        );
        assert!(failed.fresh_data(t0, interval).is_some());
    }
}
