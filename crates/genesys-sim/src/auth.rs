//! Tokens (business-clock expiry, revocation) and the per-token request budget (wall clock).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;

use super::sync::lock;

#[derive(Debug, Clone)]
struct TokenInfo {
    expires_at_ms: i64,
    revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Missing,
    Unknown,
    Expired,
    Revoked,
}

/// Budget state reported in the `inin-ratelimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) count: u32,
    pub(crate) allowed: u32,
    pub(crate) reset_secs: u64,
}

pub(crate) struct AuthState {
    tokens: Mutex<HashMap<String, TokenInfo>>,
    lifetime: Mutex<Duration>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    limit: u32,
}

const WINDOW: Duration = Duration::from_secs(60);

impl AuthState {
    pub(crate) fn new(lifetime: Duration, limit: u32) -> AuthState {
        AuthState {
            tokens: Mutex::new(HashMap::new()),
            lifetime: Mutex::new(lifetime),
            windows: Mutex::new(HashMap::new()),
            limit,
        }
    }

    /// A new random opaque token and its `expires_in` seconds.
    pub(crate) fn issue(&self, now_ms: i64) -> (String, u64) {
        let mut bytes = Vec::with_capacity(48);
        for _ in 0..3 {
            bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let lifetime = *lock(&self.lifetime);
        lock(&self.tokens).insert(
            token.clone(),
            TokenInfo {
                // Saturates only past i64::MAX ms (292 million years); exact below.
                expires_at_ms: now_ms
                    .saturating_add(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX)),
                revoked: false,
            },
        );
        (token, lifetime.as_secs())
    }

    /// The per-token budget a minute (`SimConfig::rate_limit_per_minute`).
    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    pub(crate) fn set_lifetime(&self, d: Duration) {
        *lock(&self.lifetime) = d;
    }

    pub(crate) fn revoke_all(&self) {
        for t in lock(&self.tokens).values_mut() {
            t.revoked = true;
        }
    }

    pub(crate) fn check(&self, token: Option<&str>, now_ms: i64) -> Result<(), AuthFailure> {
        let Some(token) = token else {
            return Err(AuthFailure::Missing);
        };
        match lock(&self.tokens).get(token) {
            None => Err(AuthFailure::Unknown),
            Some(t) if t.revoked => Err(AuthFailure::Revoked),
            Some(t) if now_ms >= t.expires_at_ms => Err(AuthFailure::Expired),
            Some(_) => Ok(()),
        }
    }

    /// Admit one request on `token` or return the seconds until a slot frees.
    pub(crate) fn admit(&self, token: &str, now: Instant) -> Result<Budget, u64> {
        let mut windows = lock(&self.windows);
        let w = windows.entry(token.to_string()).or_default();
        while w.front().is_some_and(|&t| now.duration_since(t) >= WINDOW) {
            w.pop_front();
        }
        let reset = |w: &VecDeque<Instant>| -> u64 {
            w.front()
                .map(|&t| {
                    // Whole seconds, rounded up.
                    let left = WINDOW.saturating_sub(now.duration_since(t));
                    left.as_secs() + u64::from(left.subsec_nanos() > 0)
                })
                .unwrap_or(60)
                .max(1)
        };
        // The window never holds more than `limit` (a u32) entries, so these are exact.
        if u32::try_from(w.len()).unwrap_or(u32::MAX) >= self.limit {
            return Err(reset(w));
        }
        w.push_back(now);
        Ok(Budget {
            count: u32::try_from(w.len()).unwrap_or(u32::MAX),
            allowed: self.limit,
            reset_secs: reset(w),
        })
    }
}
