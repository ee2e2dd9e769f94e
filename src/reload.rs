//! Configuration reload (SIGHUP, `POST /-/reload`): re-read flags and the config file, apply
//! what can change in place, keep the listener, the snapshots and the counters.
//!
//! What may change in place is [`crate::config::LiveConfig`]: its collector settings are
//! swapped whole into a watch the collectors read at each poll, the budget and the web
//! configuration are replaced. What needs a restart is [`crate::config::StartupConfig`]: its changed settings are
//! named (logged, returned) and keep their running value. A file that does not load keeps the
//! old configuration, counts a failed reload, and says why.

use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::catalog::{self, register};
use tokio::sync::watch;

use crate::budget;
use crate::collect::{Collectors, Settings, REGISTRY};
use crate::config::{Config, ConfigError, StartupConfig};
use crate::genesys::GenesysClient;
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

/// The levers a reload pulls on the running exporter.
pub struct Reloader {
    pub source: ConfigSource,
    /// The web configuration in force; replaced when a reload reads a valid one.
    pub web: std::sync::RwLock<WebGuard>,
    /// The start-up settings in force, which a reload compares against.
    pub startup: StartupConfig,
    /// The collectors' settings in force; they watch it.
    pub settings: watch::Sender<Arc<Settings>>,
    /// The request budget in force (requests a minute).
    pub budget: std::sync::atomic::AtomicU32,
    pub collectors: Collectors,
    pub client: GenesysClient,
    pub metrics: ReloadMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("configuration reload failed, the previous configuration stays in force")]
    Config(#[source] ConfigError),
    #[error("web configuration reload failed, the previous configuration stays in force")]
    Web(#[source] WebConfigError),
    /// Turning TLS off by reload would send passwords in clear on a port clients trust to be
    /// TLS; turning it on would break every scraper. Either takes a restart.
    #[error(
        "web configuration reload refused: it turns TLS {}; only a restart may do that, the previous configuration stays in force",
        if *.0 { "on" } else { "off" }
    )]
    TlsSwitch(bool),
}

impl Reloader {
    /// Reloads; returns the settings that need a restart to change (they kept their value).
    ///
    /// # Errors
    /// When the configuration or the web configuration does not load; the running one stays.
    pub fn reload(&self) -> Result<Vec<String>, ReloadError> {
        self.metrics.reloads.inc();
        let tls_now = self.web().tls_enabled();
        let loaded = (self.source)().map_err(ReloadError::Config).and_then(|c| {
            let web = match &c.live.web_config {
                Some(path) => WebGuard::load(path).map_err(ReloadError::Web)?,
                None => WebGuard::disabled(),
            };
            if web.tls_enabled() != tls_now {
                return Err(ReloadError::TlsSwitch(web.tls_enabled()));
            }
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
        let restart = new.startup.changed_from(&self.startup);
        for setting in &restart {
            tracing::warn!(
                setting,
                "changed in the configuration, but only a restart applies it"
            );
        }
        let budget = new.live.requests_per_minute;
        self.client.set_requests_per_minute(budget);
        self.budget
            .store(budget, std::sync::atomic::Ordering::Relaxed);
        let settings = Arc::new(new.live.collectors);
        self.settings
            .send_if_modified(|s| replace_if_changed(s, &settings));
        self.apply_plan();
        self.metrics.succeeded();
        tracing::info!("configuration reloaded");
        Ok(restart)
    }

    /// Sets every collector's interval to its configured one, stretched if the plan does not
    /// fit the budget for the queues being watched now. Called after each queue listing and
    /// each reload.
    pub fn apply_plan(&self) {
        let live = self.settings.borrow().clone();
        let entries: Vec<budget::Entry> = self
            .collectors
            .all
            .iter()
            .filter_map(|c| {
                let r = REGISTRY.iter().find(|r| r.name == c.name())?;
                Some(budget::Entry {
                    interval: live.interval(r.name),
                    requests_per_poll: r.requests_per_poll,
                })
            })
            .collect();
        let watched = self.collectors.watched();
        let budget = self.budget.load(std::sync::atomic::Ordering::Relaxed);
        let plan = budget::plan(budget, &entries, watched);
        let before: Vec<_> = self.collectors.all.iter().map(|c| c.interval()).collect();
        for c in &self.collectors.all {
            c.set_interval(live.interval(c.name()).mul_f64(plan.stretch));
        }
        self.client.set_planned_per_minute(plan.planned_per_minute);
        let after: Vec<_> = self.collectors.all.iter().map(|c| c.interval()).collect();
        if before != after && plan.stretch > 1.0 {
            tracing::warn!(
                watched,
                budget,
                wanted_per_minute = budget::requests_per_minute(&entries, watched),
                stretch = plan.stretch,
                "the configured intervals need more requests than the budget: all intervals stretched to fit"
            );
        } else if before != after {
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
