//! The configuration reload self-metrics: kept here, with the body that shows them, so that
//! `crate::reload` (which counts reloads) depends on `metrics` and not the reverse.

use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::catalog::{self, register};

#[derive(Debug, Default, Clone)]
pub struct ReloadMetrics {
    pub(crate) last_successful: Gauge,
    pub(crate) last_success_timestamp: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(crate) reloads: Counter,
    pub(crate) failures: Counter,
}

impl ReloadMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        register(
            registry,
            &catalog::EXPORTER_CONFIG_LAST_RELOAD_SUCCESSFUL,
            self.last_successful.clone(),
        );
        register(
            registry,
            &catalog::EXPORTER_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
            self.last_success_timestamp.clone(),
        );
        register(
            registry,
            &catalog::EXPORTER_CONFIG_RELOADS,
            self.reloads.clone(),
        );
        register(
            registry,
            &catalog::EXPORTER_CONFIG_RELOAD_FAILURES,
            self.failures.clone(),
        );
    }

    pub(crate) fn succeeded(&self) {
        self.last_successful.set(1);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.last_success_timestamp.set(now.as_secs_f64());
    }
}
