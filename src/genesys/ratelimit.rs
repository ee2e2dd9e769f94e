//! Client-side request budget shared by every collector.
//!
//! A sliding 60-second window rather than a token bucket (`governor`): a GCRA bucket with a
//! burst lets up to budget + burst requests into one 60 s span, while Genesys counts requests
//! per token per minute. The window guarantees at most `per_minute` requests in any 60 s.
//!
//! Two classes share it. Live state (queue listing, observations, channels: what `/-/ready`
//! and the live panels wait for) goes first; background requests (an analytics collector's
//! catch-up of the day, its look-back) wait while a live request waits, and leave the
//! window's `reserved` share to live state. So a burst of analytics at start-up, or after an
//! outage, is spread over the minutes after it instead of holding live polls back a minute
//! (one full window) behind it. `governor` has neither classes nor a strict window, hence the
//! hand-written queue.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);

/// Whose request it is: see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Live,
    Background,
}

/// The share of the budget background requests may always use, whatever is reserved: a
/// plan whose live collectors want everything still lets the analytics through, slowly.
const BACKGROUND_FLOOR: usize = 10;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Adjustable at run time (config reload).
    per_minute: AtomicUsize,
    /// Requests a minute live state is planned to send: background requests leave them room.
    reserved: AtomicUsize,
    /// Live requests waiting (for their turn or for the window): background requests wait
    /// behind them.
    live_waiting: AtomicUsize,
    /// Never held across an await.
    state: Mutex<State>,
    /// Something a waiter waits for changed: a live request went out or gave up waiting, the
    /// budget or the reserve changed, a pause was set.
    changed: Notify,
    /// Waiters of one class are served in order: each queue is a fair mutex held while its
    /// first waiter waits.
    live_turn: tokio::sync::Mutex<()>,
    background_turn: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    sent: VecDeque<(Instant, Class)>,
    /// Of `sent`, the background requests.
    background: usize,
    /// Set from a 429's `Retry-After`: Genesys' own budget is spent, so nobody sends until then.
    paused_until: Option<Instant>,
}

/// Counts a live waiter for as long as it waits (a cancelled request included).
struct Waiting<'a>(&'a RateLimiter);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.live_waiting.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
    }
}

impl RateLimiter {
    #[must_use]
    pub(crate) fn new(per_minute: u32) -> RateLimiter {
        let per_minute = per_minute.max(1) as usize;
        RateLimiter {
            per_minute: AtomicUsize::new(per_minute),
            reserved: AtomicUsize::new(0),
            live_waiting: AtomicUsize::new(0),
            state: Mutex::new(State {
                sent: VecDeque::with_capacity(per_minute),
                ..State::default()
            }),
            changed: Notify::new(),
            live_turn: tokio::sync::Mutex::new(()),
            background_turn: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn per_minute(&self) -> u32 {
        u32::try_from(self.per_minute.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
    }

    /// A new budget, in force from the next request that waits.
    pub(crate) fn set_per_minute(&self, per_minute: u32) {
        self.per_minute
            .store(per_minute.max(1) as usize, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    /// Requests a minute kept for live state (the plan's live collectors).
    pub(crate) fn set_reserved(&self, per_minute: usize) {
        self.reserved.store(per_minute, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    /// Waits until a request of `class` may be sent and records it. Returns how long it waited.
    pub(crate) async fn acquire(&self, class: Class) -> Duration {
        let started = Instant::now();
        // Counted before it queues for its turn: a background request must not slip in
        // between two live ones.
        let _waiting = (class == Class::Live).then(|| {
            self.live_waiting.fetch_add(1, Ordering::Relaxed);
            Waiting(self)
        });
        let _turn = match class {
            Class::Live => self.live_turn.lock().await,
            Class::Background => self.background_turn.lock().await,
        };
        loop {
            // Registered before the state is read, so a change in between is not missed.
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let now = Instant::now();
            let until = match self.try_send(class, now) {
                Ok(()) => return now.duration_since(started),
                Err(until) => until,
            };
            match until {
                Some(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Records a request of `class` sent at `now` if the window has room for it; else when to
    /// look again (`None`: when something changes, a live request is waiting).
    fn try_send(&self, class: Class, now: Instant) -> Result<(), Option<Instant>> {
        let per_minute = self.per_minute.load(Ordering::Relaxed);
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = state.paused_until {
            if until > now {
                return Err(Some(until));
            }
            state.paused_until = None;
        }
        while let Some(&(at, c)) = state.sent.front() {
            if now.duration_since(at) < WINDOW {
                break;
            }
            state.sent.pop_front();
            if c == Class::Background {
                state.background -= 1;
            }
        }
        let room = match class {
            Class::Live => state.sent.len() < per_minute,
            Class::Background => {
                if self.live_waiting.load(Ordering::Relaxed) > 0 {
                    return Err(None);
                }
                let floor = (per_minute / BACKGROUND_FLOOR).max(1);
                let reserved = self
                    .reserved
                    .load(Ordering::Relaxed)
                    .min(per_minute.saturating_sub(floor));
                let live = state.sent.len() - state.background;
                state.background + live.max(reserved) < per_minute
            }
        };
        if room {
            state.sent.push_back((now, class));
            if class == Class::Background {
                state.background += 1;
            }
            return Ok(());
        }
        // Full: the oldest request leaving the window makes room (for a background request,
        // perhaps not yet; it looks again then).
        Err(Some(state.sent.front().map_or(now, |(at, _)| *at + WINDOW)))
    }

    /// Holds every request back for `wait` (at least) from now.
    pub(crate) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.paused_until.is_none_or(|u| u < until) {
                state.paused_until = Some(until);
            }
        }
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_budget_in_any_minute() {
        let limiter = RateLimiter::new(5);
        let start = Instant::now();
        let mut at = Vec::new();
        for i in 0..12 {
            let class = if i % 3 == 0 {
                Class::Background
            } else {
                Class::Live
            };
            limiter.acquire(class).await;
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
        limiter.pause_for(Duration::from_secs(7));
        limiter.acquire(Class::Live).await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
        limiter.acquire(Class::Background).await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    /// Sends `n` requests of `class` on their own task, and returns when each went out, since
    /// `start`.
    fn send(
        limiter: &Arc<RateLimiter>,
        start: Instant,
        class: Class,
        n: usize,
    ) -> tokio::task::JoinHandle<Vec<Duration>> {
        let limiter = Arc::clone(limiter);
        tokio::spawn(async move {
            let mut at = Vec::new();
            for _ in 0..n {
                limiter.acquire(class).await;
                at.push(start.elapsed());
            }
            at
        })
    }

    fn within_budget(at: &[Duration], budget: usize) {
        let mut all = at.to_vec();
        all.sort();
        for (i, t) in all.iter().enumerate() {
            let in_window = all[i..].iter().filter(|u| **u < *t + WINDOW).count();
            assert!(
                in_window <= budget,
                "{in_window} within 60 s of request {i}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_burst_leaves_the_reserve_to_live_state() {
        // 200 a minute, 60 of them planned for live state; an analytics catch-up of 180
        // requests starts first, and live polls of 50 requests come every 15 s.
        let limiter = Arc::new(RateLimiter::new(200));
        limiter.set_reserved(60);
        let start = Instant::now();
        let background = send(&limiter, start, Class::Background, 180);
        let mut polls = Vec::new();
        for i in 0..4u32 {
            tokio::time::sleep_until(
                start + Duration::from_secs(15) * i + Duration::from_millis(1),
            )
            .await;
            polls.push(send(&limiter, start, Class::Live, 50));
        }
        let background = background.await.expect("background requests");
        let mut live = Vec::new();
        for poll in polls {
            live.push(poll.await.expect("live requests"));
        }
        let first_second =
            |at: &[Duration]| at.iter().filter(|t| **t < Duration::from_secs(1)).count();
        // The burst took 140 of the first minute's 200 and left the reserve free: the first
        // live poll went out at once.
        assert_eq!(first_second(&background), 140);
        assert_eq!(first_second(&live[0]), 50, "{:?}", live[0]);
        // The second found 10 left; the rest of it, and the polls after it, went first when
        // the window had room again, before the rest of the catch-up.
        assert_eq!(live[1].iter().filter(|t| **t < WINDOW).count(), 10);
        let live_at_60: Vec<Duration> = live[1..]
            .iter()
            .flatten()
            .copied()
            .filter(|t| *t >= WINDOW)
            .collect();
        assert_eq!(live_at_60.len(), 140);
        assert!(live_at_60
            .iter()
            .all(|t| *t < WINDOW + Duration::from_secs(1)));
        // The catch-up finished in the second minute, and nothing went over the budget.
        assert!(background[179] < WINDOW * 2, "{:?}", background[179]);
        let all: Vec<Duration> = background
            .iter()
            .chain(live.iter().flatten())
            .copied()
            .collect();
        within_budget(&all, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_live_request_goes_before_waiting_background_ones() {
        let limiter = Arc::new(RateLimiter::new(10));
        let start = Instant::now();
        // The window is full.
        for _ in 0..10 {
            limiter.acquire(Class::Live).await;
        }
        let background = send(&limiter, start, Class::Background, 5);
        tokio::time::sleep(Duration::from_secs(30)).await;
        let live = send(&limiter, start, Class::Live, 10);
        let (background, live) = (background.await.expect("bg"), live.await.expect("live"));
        // Live went first when the minute ended, though it came 30 s after the background
        // requests; they waited for the next minute.
        assert!(live.iter().all(|t| *t == WINDOW), "{live:?}");
        assert!(
            background.iter().all(|t| *t == WINDOW * 2),
            "{background:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn background_requests_always_get_a_tenth_of_the_budget() {
        let limiter = Arc::new(RateLimiter::new(100));
        limiter.set_reserved(1000);
        let start = Instant::now();
        let at = send(&limiter, start, Class::Background, 20)
            .await
            .expect("bg");
        assert_eq!(at.iter().filter(|t| **t < WINDOW).count(), 10, "{at:?}");
        assert_eq!(at[19], WINDOW, "{at:?}");
    }
}
