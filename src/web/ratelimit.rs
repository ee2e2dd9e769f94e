//! `rate_limit`: one token bucket for the whole server (like the toolkit's `rate.Limiter`):
//! `burst` tokens, one more every `interval`.

use std::sync::Mutex;
use std::time::Instant;

use super::config::RateLimit;

#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket {
            limit,
            state: Mutex::new((limit.burst as f64, Instant::now())),
        }
    }

    pub(crate) fn admit(&self) -> bool {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> bool {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (tokens, last) = *state;
        let refill =
            now.saturating_duration_since(last).as_secs_f64() / self.limit.interval.as_secs_f64();
        let tokens = (tokens + refill).min(self.limit.burst as f64);
        let now = now.max(last);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_one_per_interval() {
        let bucket = TokenBucket::new(RateLimit {
            interval: Duration::from_secs(10),
            burst: 2,
        });
        let t0 = Instant::now();
        assert!(bucket.admit_at(t0));
        assert!(bucket.admit_at(t0));
        assert!(!bucket.admit_at(t0));
        assert!(!bucket.admit_at(t0 + Duration::from_secs(5)));
        assert!(bucket.admit_at(t0 + Duration::from_secs(10)));
        assert!(!bucket.admit_at(t0 + Duration::from_secs(10)));
        // Refill is capped at burst.
        let later = t0 + Duration::from_secs(1000);
        assert!(bucket.admit_at(later));
        assert!(bucket.admit_at(later));
        assert!(!bucket.admit_at(later));
    }
}
