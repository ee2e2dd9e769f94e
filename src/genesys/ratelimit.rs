//! Client-side request budget shared by every collector.
//!
//! A sliding 60-second window rather than a token bucket (`governor`): a GCRA bucket with a
//! burst lets up to budget + burst requests into one 60 s span, while Genesys counts requests
//! per token per minute. The window guarantees at most `per_minute` requests in any 60 s.

use std::collections::VecDeque;
use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Mutex;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Adjustable at run time (config reload).
    per_minute: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    sent: VecDeque<Instant>,
    /// Set from a 429's `Retry-After`: Genesys' own budget is spent, so nobody sends until then.
    paused_until: Option<Instant>,
}

impl RateLimiter {
    #[must_use]
    pub(crate) fn new(per_minute: u32) -> RateLimiter {
        let per_minute = per_minute.max(1) as usize;
        RateLimiter {
            per_minute: AtomicUsize::new(per_minute),
            state: Mutex::new(State {
                sent: VecDeque::with_capacity(per_minute),
                paused_until: None,
            }),
        }
    }

    /// A new budget, in force from the next request that waits.
    pub(crate) fn per_minute(&self) -> u32 {
        u32::try_from(self.per_minute.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
    }

    pub(crate) fn set_per_minute(&self, per_minute: u32) {
        self.per_minute
            .store(per_minute.max(1) as usize, Ordering::Relaxed);
    }

    /// Waits until a request may be sent and records it. Returns how long it waited.
    /// Waiters are served in order: the mutex is fair and is held across the wait.
    pub(crate) async fn acquire(&self) -> Duration {
        let started = Instant::now();
        let mut state = self.state.lock().await;
        loop {
            if let Some(until) = state.paused_until.take() {
                tokio::time::sleep_until(until).await;
            }
            let now = Instant::now();
            let sent = &mut state.sent;
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                sent.pop_front();
            }
            if sent.len() < self.per_minute.load(Ordering::Relaxed) {
                sent.push_back(now);
                return now.duration_since(started);
            }
            if let Some(oldest) = sent.front().copied() {
                tokio::time::sleep_until(oldest + WINDOW).await;
            }
        }
    }

    /// Holds every request back for `wait` (at least) from now.
    pub(crate) async fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state.lock().await;
        if state.paused_until.is_none_or(|u| u < until) {
            state.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_budget_in_any_minute() {
        let limiter = RateLimiter::new(5);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..12 {
            limiter.acquire().await;
            at.push(start.elapsed());
        }
        assert!(at[..5].iter().all(|d| *d == Duration::ZERO));
        assert_eq!(at[5], WINDOW);
        assert_eq!(at[10], WINDOW * 2);
        for (i, t) in at.iter().enumerate() {
            let in_window = at[i..].iter().filter(|u| **u < *t + WINDOW).count();
            assert!(
                in_window <= 5,
                "{in_window} requests within 60 s of request {i}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_the_next_request() {
        let limiter = RateLimiter::new(100);
        let start = Instant::now();
        limiter.pause_for(Duration::from_secs(7)).await;
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }
}
