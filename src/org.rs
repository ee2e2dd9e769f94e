//! One watched Genesys org: its client (own token, own request budget), its collectors and
//! their snapshots, and the planner that fits its polling into its budget. An exporter runs
//! one (no `org` label: single-org mode) or several (`orgs:` in the config file), each on its
//! own tasks, so a failing, slow or rate-limited org never delays, stales or throttles another.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::app::StartError;
use crate::budget;
use crate::clock::SharedClock;
use crate::collect::observations::PushSettings;
use crate::collect::{self, Collectors, Settings, REGISTRY};
use crate::config::{LiveConfig, StartupConfig, Target};
use crate::genesys::{ApiMetrics, ClientConfig, GenesysClient};
use crate::metrics::OrgMetrics;

/// What only restarting the org applies: where it is and how its client and collectors were
/// started. A reload that changes any of it restarts that org (and no other).
#[derive(Debug, Clone, PartialEq)]
pub struct OrgStartup {
    pub target: Target,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub max_response_bytes: usize,
    pub push: PushSettings,
    pub collectors: Vec<&'static str>,
}

impl OrgStartup {
    /// The org's part of the start-up settings.
    #[must_use]
    pub fn of(startup: &StartupConfig) -> OrgStartup {
        OrgStartup {
            target: startup.target.clone(),
            request_timeout: startup.request_timeout,
            max_retries: startup.max_retries,
            max_response_bytes: startup.max_response_bytes,
            push: startup.push.clone(),
            collectors: startup.collectors.clone(),
        }
    }
}

/// A running org.
pub struct Org {
    /// Its name under `orgs:`; `None` in single-org mode.
    pub name: Option<String>,
    pub startup: OrgStartup,
    planner: Planner,
    settings: watch::Sender<Arc<Settings>>,
    metrics: Arc<OrgMetrics>,
    tasks: Vec<JoinHandle<()>>,
    #[cfg(feature = "demo")]
    demo: Option<genesys_sim::SimOrg>,
}

impl Org {
    /// Starts the org's client and collectors (and its simulated org with `--demo`).
    ///
    /// # Errors
    /// When the API URLs are invalid or the demo org cannot start.
    pub async fn start(
        name: Option<String>,
        startup: &StartupConfig,
        live: &LiveConfig,
        clock: &SharedClock,
    ) -> Result<Org, StartError> {
        let span = match &name {
            Some(name) => tracing::info_span!("org", org = %name),
            None => tracing::Span::none(),
        };
        #[cfg(feature = "demo")]
        let mut demo = None;
        let (api_url, login_url, credentials) = match startup.target.clone() {
            Target::Org {
                api_url,
                login_url,
                credentials,
            } => (api_url, login_url, credentials),
            #[cfg(feature = "demo")]
            Target::Demo {
                seed,
                queues,
                spikes,
                spike_size,
            } => {
                let (sim, credentials) = start_demo(seed, queues, &spikes, spike_size)
                    .instrument(span.clone())
                    .await?;
                let urls = (sim.api_url(), sim.login_url());
                demo = Some(sim);
                (urls.0, urls.1, credentials)
            }
        };
        let api = ApiMetrics::default();
        let client = GenesysClient::new(
            ClientConfig {
                api_url,
                login_url,
                credentials,
                requests_per_minute: live.requests_per_minute,
                request_timeout: startup.request_timeout,
                max_retries: startup.max_retries,
                max_body_bytes: startup.max_response_bytes,
            },
            api.clone(),
        )?;
        let (settings, settings_rx) = watch::channel(Arc::new(live.collectors.clone()));
        let (collectors, mut tasks) = {
            // Tasks spawned now run in the org's span: their log lines name it.
            let _entered = span.enter();
            collect::start_all(
                &startup.collectors,
                &client,
                clock,
                &settings_rx,
                &startup.push,
            )
        };
        let metrics = Arc::new(match &name {
            Some(name) => OrgMetrics::labelled(name, collectors.clone(), &api),
            None => OrgMetrics::single(collectors.clone(), &api),
        });
        let planner = Planner {
            collectors: collectors.clone(),
            settings: settings_rx,
            budget: Arc::new(AtomicU32::new(live.requests_per_minute)),
            client,
        };
        // Re-plan the intervals whenever queue discovery publishes (the queue count sets the
        // cost).
        planner.apply_plan();
        let listening = planner.clone();
        let mut listings = collectors.queues.subscribe();
        tasks.push(tokio::spawn(
            async move {
                while listings.changed().await.is_ok() {
                    listening.apply_plan();
                }
            }
            .instrument(span),
        ));
        Ok(Org {
            name,
            startup: OrgStartup::of(startup),
            planner,
            settings,
            metrics,
            tasks,
            #[cfg(feature = "demo")]
            demo,
        })
    }

    /// Swaps in what a reload may change in place: the budget and the collectors' settings.
    pub fn apply(&self, live: &LiveConfig) {
        let budget = live.requests_per_minute;
        self.planner.client.set_requests_per_minute(budget);
        self.planner.budget.store(budget, Ordering::Relaxed);
        let settings = Arc::new(live.collectors.clone());
        self.settings.send_if_modified(|s| {
            let changed = **s != *settings;
            if changed {
                *s = settings.clone();
            }
            changed
        });
        self.planner.apply_plan();
    }

    /// Its part of the body.
    #[must_use]
    pub fn metrics(&self) -> Arc<OrgMetrics> {
        self.metrics.clone()
    }

    #[must_use]
    pub fn collectors(&self) -> &Collectors {
        &self.planner.collectors
    }

    /// The simulated org, in demo mode.
    #[cfg(feature = "demo")]
    #[must_use]
    pub fn demo(&self) -> Option<&genesys_sim::SimOrg> {
        self.demo.as_ref()
    }

    /// Stops polling (and its simulated org).
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        #[cfg(feature = "demo")]
        if let Some(sim) = self.demo {
            sim.shutdown().await;
        }
    }
}

/// Fits the org's polling plan into its budget.
#[derive(Clone)]
struct Planner {
    collectors: Collectors,
    settings: watch::Receiver<Arc<Settings>>,
    /// The request budget in force (requests a minute).
    budget: Arc<AtomicU32>,
    client: GenesysClient,
}

impl Planner {
    /// Sets every collector's interval to its configured one, stretched if the plan does not
    /// fit the budget for the queues being watched now. Called after each queue listing and
    /// each reload.
    fn apply_plan(&self) {
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
        let budget = self.budget.load(Ordering::Relaxed);
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
}

/// `--demo`: the simulated org on a loopback port, with the spikes asked for scheduled.
#[cfg(feature = "demo")]
async fn start_demo(
    seed: u64,
    queues: u32,
    spikes: &[genesys_sim::Spike],
    spike_size: u32,
) -> Result<(genesys_sim::SimOrg, crate::genesys::Credentials), StartError> {
    let sim_config = genesys_sim::SimConfig {
        seed,
        queues: queues as usize,
        ..genesys_sim::SimConfig::default()
    };
    let credentials = crate::genesys::Credentials {
        client_id: sim_config.client_id.clone(),
        client_secret: sim_config.client_secret.clone().into(),
    };
    let sim =
        genesys_sim::SimOrg::start(sim_config, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(StartError::Demo)?;
    tracing::info!(api_url = %sim.api_url(), login_url = %sim.login_url(), "demo mode: simulated Genesys org started");
    for spike in spikes {
        tracing::info!(queue = %spike.queue, after = ?spike.after, conversations = spike_size, "demo spike scheduled");
        sim.schedule_spike(&spike.queue, spike.after, spike_size);
    }
    Ok((sim, credentials))
}
