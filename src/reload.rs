//! Configuration reload (SIGHUP, `POST /-/reload`): re-read flags and the config file, apply
//! what can change in place, keep the listener, the snapshots and the counters.
//!
//! What may change in place is [`crate::config::LiveConfig`]: its collector settings are
//! swapped whole into a watch the collectors read at each poll, the budget and the web
//! configuration are replaced. What needs a restart is [`crate::config::StartupConfig`]: its
//! changed settings are named (logged, returned) and keep their running value. With several
//! orgs (`orgs:`), each org is compared on its own: added orgs start, removed ones stop, an
//! org whose start-up settings changed is restarted alone, the others take their live settings
//! in place; only the process' own settings (web, log) and the switch between one org and
//! `orgs:` need a restart of the process. A file that does not load keeps the old
//! configuration, counts a failed reload, and says why.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, OrgConfig, StartupConfig};
use crate::metrics::reload::ReloadMetrics;
use crate::metrics::Metrics;
use crate::org::{Org, OrgStartup, OrgStatus};
use crate::web::{WebConfigError, WebGuard};

/// Where a reload reads the configuration from (main: the process' arguments, the environment
/// and the config file they name; tests: whatever they like).
pub(crate) type ConfigSource = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// The levers a reload pulls on the running exporter.
pub(crate) struct Reloader {
    pub(crate) source: ConfigSource,
    /// The web configuration in force; replaced when a reload reads a valid one.
    pub(crate) web: std::sync::RwLock<WebGuard>,
    /// The start-up settings in force, which a reload compares against.
    pub(crate) startup: StartupConfig,
    /// The running orgs: one without a name, or those of `orgs:`. Locked for a whole reload,
    /// so reloads apply one after the other.
    pub(crate) orgs: tokio::sync::Mutex<Vec<Org>>,
    /// What `/-/ready` and `/-/healthy` read of the running orgs, replaced with them.
    pub(crate) status: std::sync::RwLock<Vec<OrgStatus>>,
    /// Several orgs (series labelled `org`): switching to or from it takes a restart.
    pub(crate) several: bool,
    pub(crate) body: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    pub(crate) metrics: ReloadMetrics,
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
    pub(crate) async fn reload(&self) -> Result<Vec<String>, ReloadError> {
        let mut orgs = self.orgs.lock().await;
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
        let several = !new.orgs.is_empty();
        let mut restart = if several || self.several {
            new.startup.process_changed_from(&self.startup)
        } else {
            new.startup.changed_from(&self.startup)
        };
        if several != self.several {
            // The `org` label would appear on or vanish from every series.
            restart.push("orgs".to_string());
        } else if several {
            self.replace_orgs(&mut orgs, &new.orgs).await;
        } else if let Some(org) = orgs.first() {
            org.apply(&new.live);
        }
        for setting in &restart {
            tracing::warn!(
                setting,
                "changed in the configuration, but only a restart applies it"
            );
        }
        self.metrics.succeeded();
        tracing::info!("configuration reloaded");
        Ok(restart)
    }

    /// `/-/ready`: every org serving what it can.
    #[must_use]
    pub(crate) fn ready(&self) -> bool {
        let status = self.status.read().unwrap_or_else(|e| e.into_inner());
        status.iter().all(OrgStatus::ready)
    }

    /// `/-/healthy`: every org's long-lived tasks still run.
    #[must_use]
    pub(crate) fn healthy(&self) -> bool {
        let status = self.status.read().unwrap_or_else(|e| e.into_inner());
        status.iter().all(OrgStatus::alive)
    }

    /// Several orgs: starts the new ones, stops the removed ones, restarts those whose
    /// start-up settings changed, and applies the rest in place; the others keep running
    /// untouched (their counters, snapshots, tokens and channels).
    async fn replace_orgs(&self, running: &mut Vec<Org>, wanted: &[OrgConfig]) {
        let mut old: Vec<Org> = std::mem::take(running);
        for want in wanted {
            let kept = old
                .iter()
                .position(|o| o.name.as_deref() == Some(want.name.as_str()))
                .map(|i| old.swap_remove(i));
            match kept {
                Some(org) if org.startup == OrgStartup::of(&want.startup) => {
                    org.apply(&want.live);
                    running.push(org);
                }
                kept => {
                    if let Some(org) = kept {
                        tracing::info!(org = %want.name, "restarting the org: its start-up settings changed");
                        org.stop().await;
                    } else {
                        tracing::info!(org = %want.name, "starting the org added to the configuration");
                    }
                    let started = Org::start(
                        Some(want.name.clone()),
                        &want.startup,
                        &want.live,
                        &self.clock,
                    )
                    .await;
                    match started {
                        Ok(org) => running.push(org),
                        Err(error) => {
                            tracing::error!(org = %want.name, error = %crate::ErrorChain(&error), "the org did not start");
                        }
                    }
                }
            }
        }
        for org in old {
            tracing::info!(
                org = org.name.as_deref().unwrap_or_default(),
                "stopping the org removed from the configuration"
            );
            org.stop().await;
        }
        self.body
            .set_orgs(running.iter().map(Org::metrics).collect());
        *self.status.write().unwrap_or_else(|e| e.into_inner()) =
            running.iter().map(Org::status).collect();
    }

    pub(crate) fn web(&self) -> WebGuard {
        self.web.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops every org.
    pub(crate) async fn stop(&self) {
        let orgs = std::mem::take(&mut *self.orgs.lock().await);
        for org in orgs {
            org.stop().await;
        }
    }
}
