//! State shared by the `SimOrg` handle and the HTTP tasks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::auth::AuthState;
use super::faults::Faults;
use super::model::Model;
use super::notify::{self, Hub};
use super::stats::StatsRecorder;
use super::sync::lock;

/// State shared by the handle and the HTTP tasks.
pub(crate) struct Shared {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) realtime: bool,
    pub(crate) start_ms: i64,
    /// Manual clock: business ms advanced so far.
    pub(crate) advanced_ms: Mutex<i64>,
    pub(crate) model: Mutex<Model>,
    pub(crate) auth: Arc<AuthState>,
    pub(crate) faults: Faults,
    pub(crate) stats: StatsRecorder,
    pub(crate) started: Instant,
    /// The listener's address (the notification channels' `connectUri`).
    pub(crate) addr: SocketAddr,
    /// Notification channels and their sockets.
    pub(crate) hub: Hub,
}

impl Shared {
    /// The business clock now (epoch ms).
    pub(crate) fn business_now_ms(&self) -> i64 {
        if self.realtime {
            chrono::Utc::now().timestamp_millis()
        } else {
            self.start_ms + *lock(&self.advanced_ms)
        }
    }

    /// The model, caught up to business time.
    pub(crate) fn model_now(&self) -> MutexGuard<'_, Model> {
        let mut m = lock(&self.model);
        if self.realtime {
            m.run_until(chrono::Utc::now().timestamp_millis());
        }
        m
    }
}

impl notify::Org for Shared {
    fn business_now_ms(&self) -> i64 {
        Shared::business_now_ms(self)
    }

    fn realtime(&self) -> bool {
        self.realtime
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn model(&self) -> &Mutex<Model> {
        &self.model
    }

    fn faults(&self) -> &Faults {
        &self.faults
    }
}
