//! Configuration reload (SIGHUP, `POST /-/reload`): re-read flags and the config file, apply
//! what can change in place, keep the listener, the snapshots and the counters.
//!
//! In place: queue filters, collector intervals, the request budget, aggregates settings.
//! Needs a restart (logged, and the old value stays): listen address, telemetry path, the
//! Genesys target and credentials, request timeout, retries, response cap, and which
//! collectors run. A file that does not load keeps the old configuration, counts a failed
//! reload, and says why.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret;
use tokio::sync::watch;

use std::time::Duration;

use crate::budget::{self, Intervals};
use crate::collect::aggregates::AggregatesSettings;
use crate::collect::queues::QueueFilter;
use crate::config::{Config, ConfigError, Target};
use crate::genesys::GenesysClient;
use crate::metrics::Slots;
use crate::web::{WebConfigError, WebGuard};

/// Where a reload reads the configuration from (main: the process' arguments, the environment
/// and the config file they name; tests: whatever they like).
pub type ConfigSource = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

#[derive(Debug, Default, Clone)]
pub struct ReloadMetrics {
    pub last_successful: Gauge,
    pub last_success_timestamp: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub reloads: Counter,
    pub failures: Counter,
}

impl ReloadMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "genesys_exporter_config_last_reload_successful",
            "1 if the last configuration reload succeeded (or none was asked for), else 0",
            self.last_successful.clone(),
        );
        registry.register(
            "genesys_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load",
            self.last_success_timestamp.clone(),
        );
        registry.register(
            "genesys_exporter_config_reloads",
            "Configuration reloads asked for (SIGHUP or POST /-/reload)",
            self.reloads.clone(),
        );
        registry.register(
            "genesys_exporter_config_reload_failures",
            "Configuration reloads that failed; the previous configuration stayed in force",
            self.failures.clone(),
        );
    }

    fn succeeded(&self) {
        self.last_successful.set(1);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.last_success_timestamp.set(now.as_secs_f64());
    }
}

/// The levers a reload pulls on the running exporter.
pub struct Reloader {
    pub source: ConfigSource,
    /// The web configuration in force; replaced when a reload reads a valid one.
    pub web: std::sync::RwLock<WebGuard>,
    pub current: Mutex<Config>,
    pub slots: Slots,
    pub client: GenesysClient,
    pub filter: watch::Sender<QueueFilter>,
    pub aggregates: Option<watch::Sender<AggregatesSettings>>,
    pub metrics: ReloadMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("configuration reload failed, the previous configuration stays in force")]
    Config(#[source] ConfigError),
    #[error("web configuration reload failed, the previous configuration stays in force")]
    Web(#[source] WebConfigError),
}

impl Reloader {
    /// Reloads; returns the settings that need a restart to change (they kept their value).
    pub fn reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        self.metrics.reloads.inc();
        let loaded = (self.source)().map_err(ReloadError::Config).and_then(|c| {
            let web = match &c.web_config {
                Some(path) => WebGuard::load(path).map_err(ReloadError::Web)?,
                None => WebGuard::disabled(),
            };
            Ok((c, web))
        });
        let (new, web) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                self.metrics.failures.inc();
                self.metrics.last_successful.set(0);
                tracing::error!(error = %crate::ErrorChain(&error), "reload failed");
                return Err(error);
            }
        };
        *self.web.write().unwrap_or_else(|e| e.into_inner()) = web;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let restart = needs_restart(&current, &new);
        for setting in &restart {
            tracing::warn!(
                setting,
                "changed in the configuration, but only a restart applies it"
            );
        }

        self.filter
            .send_if_modified(|f| replace_if_changed(f, &new.queue_filter));
        if let (Some(tx), Some((_, settings))) = (&self.aggregates, &new.aggregates) {
            tx.send_if_modified(|s| replace_if_changed(s, settings));
        }
        self.client.set_requests_per_minute(new.requests_per_minute);

        current.queue_filter = new.queue_filter;
        current.queues_interval = new.queues_interval;
        current.observations_interval = new.observations_interval;
        if current.activity_interval.is_some() {
            current.activity_interval = new.activity_interval.or(current.activity_interval);
        }
        if current.aggregates.is_some() && new.aggregates.is_some() {
            current.aggregates = new.aggregates;
        }
        current.requests_per_minute = new.requests_per_minute;
        drop(current);
        self.apply_plan();
        self.metrics.succeeded();
        tracing::info!("configuration reloaded");
        Ok(restart)
    }
}

impl Reloader {
    /// Sets every collector's interval to its configured one, stretched if the plan does not
    /// fit the budget for the queues being watched now. Called after each queue listing and
    /// each reload.
    pub fn apply_plan(&self) {
        let (configured, budget) = {
            let c = self.current.lock().unwrap_or_else(|e| e.into_inner());
            let intervals = Intervals {
                queues: c.queues_interval,
                observations: c.observations_interval,
                activity: c.activity_interval,
                aggregates: c.aggregates.as_ref().map(|(i, _)| *i),
            };
            (intervals, c.requests_per_minute)
        };
        let watched = self
            .slots
            .queues
            .latest()
            .data
            .map_or(0, |q| q.queues.len());
        let plan = budget::plan(budget, &configured, watched);
        let stretch = |d: Duration| d.mul_f64(plan.stretch);
        let before = self.slots.observations.interval();
        self.slots.queues.set_interval(stretch(configured.queues));
        self.slots
            .observations
            .set_interval(stretch(configured.observations));
        if let (Some(slot), Some(i)) = (&self.slots.activity, configured.activity) {
            slot.set_interval(stretch(i));
        }
        if let (Some(slot), Some(i)) = (&self.slots.aggregates, configured.aggregates) {
            slot.set_interval(stretch(i));
        }
        self.client.set_planned_per_minute(plan.planned_per_minute);
        if self.slots.observations.interval() != before && plan.stretch > 1.0 {
            tracing::warn!(
                watched,
                budget,
                wanted_per_minute = budget::requests_per_minute(&configured, watched),
                stretch = plan.stretch,
                "the configured intervals need more requests than the budget: all intervals stretched to fit"
            );
        } else if self.slots.observations.interval() != before {
            tracing::info!("the configured intervals fit the request budget again");
        }
    }

    pub fn web(&self) -> WebGuard {
        self.web.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn replace_if_changed<T: PartialEq + Clone>(slot: &mut T, new: &T) -> bool {
    let changed = slot != new;
    if changed {
        *slot = new.clone();
    }
    changed
}

/// Settings that differ between `old` and `new` but only apply at start-up.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.listen != new.listen {
        out.push("web.listen-address");
    }
    if old.telemetry_path != new.telemetry_path {
        out.push("web.telemetry-path");
    }
    if !same_target(&old.target, &new.target) {
        out.push("genesys target or credentials");
    }
    if old.request_timeout != new.request_timeout {
        out.push("genesys.request-timeout");
    }
    if old.max_retries != new.max_retries {
        out.push("genesys.max-retries");
    }
    if old.max_response_bytes != new.max_response_bytes {
        out.push("genesys.max-response-bytes");
    }
    if old.activity_interval.is_some() != new.activity_interval.is_some()
        || old.aggregates.is_some() != new.aggregates.is_some()
    {
        out.push("enabled collectors");
    }
    out
}

fn same_target(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (
            Target::Org {
                api_url: a1,
                login_url: l1,
                credentials: c1,
            },
            Target::Org {
                api_url: a2,
                login_url: l2,
                credentials: c2,
            },
        ) => {
            a1 == a2
                && l1 == l2
                && c1.client_id == c2.client_id
                && c1.client_secret.expose_secret() == c2.client_secret.expose_secret()
        }
        (Target::Demo { seed: s1, .. }, Target::Demo { seed: s2, .. }) => s1 == s2,
        _ => false,
    }
}
