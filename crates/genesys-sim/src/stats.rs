//! What the simulator has served, for budget and retry assertions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Status recorded for a connection closed by a `Fault::Reset`.
pub const STATUS_RESET: u16 = 0;

#[derive(Default)]
pub(crate) struct StatsRecorder {
    inner: Mutex<RequestStats>,
}

impl StatsRecorder {
    pub(crate) fn record(
        &self,
        method: &str,
        path: &str,
        status: u16,
        token: Option<&str>,
        at: Instant,
        started: Instant,
    ) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *s.by_endpoint
            .entry((method.to_string(), path.to_string(), status))
            .or_default() += 1;
        if let Some(t) = token {
            s.per_token
                .entry(t.to_string())
                .or_default()
                .push(at.duration_since(started));
        }
    }

    pub(crate) fn record_token_request(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .token_requests += 1;
    }

    pub(crate) fn snapshot(&self) -> RequestStats {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A snapshot of everything served so far.
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    /// (method, path without query, status) -> count. Unknown paths and faults included;
    /// a reset connection is recorded with status `STATUS_RESET` (0).
    pub by_endpoint: BTreeMap<(String, String, u16), u64>,
    /// Calls of the token endpoint (any outcome).
    pub token_requests: u64,
    /// Bearer token -> arrival times (since the sim started) of API requests presenting it.
    pub per_token: HashMap<String, Vec<Duration>>,
}

impl RequestStats {
    /// Requests to (method, path), any status.
    #[must_use]
    pub fn count(&self, method: &str, path: &str) -> u64 {
        self.by_endpoint
            .iter()
            .filter(|((m, p, _), _)| m == method && p == path)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests to paths that start with `prefix` and end with `suffix` (a path with an id
    /// in the middle), any status.
    #[must_use]
    pub fn count_between(&self, method: &str, prefix: &str, suffix: &str) -> u64 {
        self.by_endpoint
            .iter()
            .filter(|((m, p, _), _)| m == method && p.starts_with(prefix) && p.ends_with(suffix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests to (method, path) answered with `status`.
    #[must_use]
    pub fn count_status(&self, method: &str, path: &str, status: u16) -> u64 {
        self.by_endpoint
            .get(&(method.to_string(), path.to_string(), status))
            .copied()
            .unwrap_or(0)
    }

    /// All requests answered with `status`, any path.
    #[must_use]
    pub fn with_status(&self, status: u16) -> u64 {
        self.by_endpoint
            .iter()
            .filter(|((_, _, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.by_endpoint.values().sum()
    }

    /// Tokens that were presented on API requests.
    #[must_use]
    pub fn tokens(&self) -> Vec<String> {
        let mut v: Vec<String> = self.per_token.keys().cloned().collect();
        v.sort();
        v
    }

    /// Most requests presenting `token` within any 60 s window (wall clock).
    #[must_use]
    pub fn max_requests_in_any_60s_window(&self, token: &str) -> usize {
        self.per_token
            .get(token)
            .map(|v| max_in_window(v, Duration::from_secs(60)))
            .unwrap_or(0)
    }

    /// The same, maximised over every token.
    #[must_use]
    pub fn max_requests_in_any_60s_window_any_token(&self) -> usize {
        self.per_token
            .values()
            .map(|v| max_in_window(v, Duration::from_secs(60)))
            .max()
            .unwrap_or(0)
    }
}

fn max_in_window(times: &[Duration], window: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..sorted.len() {
        while sorted[hi] - sorted[lo] >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}
