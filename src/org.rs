//! One watched Genesys org: its client (own token, own request budget), its collectors and
//! their snapshots, and the planner that fits its polling into its budget. An exporter runs
//! one (no `org` label: single-org mode) or several (`orgs:` in the config file), each on its
//! own tasks, so a failing, slow or rate-limited org never delays, stales or throttles another.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::budget;
use crate::clock::SharedClock;
use crate::collect::observations::PushSettings;
use crate::collect::{self, Collectors, Settings, REGISTRY};
use crate::config::{LiveConfig, StartupConfig, Target};
use crate::genesys::request::{segment, Endpoint, Permission, Request};
use crate::genesys::{ApiError, ApiMetrics, ClientConfig, GenesysClient};
use crate::metrics::OrgMetrics;
use crate::web::WebConfigError;

/// Why an exporter, or one of its orgs, did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "demo")]
    #[error("cannot start the simulated org")]
    Demo(#[source] std::io::Error),
    #[error(transparent)]
    Client(#[from] ApiError),
    #[error("--web.config.file")]
    WebConfig(#[source] WebConfigError),
}

/// What only restarting the org applies: where it is and how its client and collectors were
/// started. A reload that changes any of it restarts that org (and no other).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrgStartup {
    pub(crate) target: Target,
    pub(crate) request_timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) max_response_bytes: usize,
    pub(crate) push: PushSettings,
    pub(crate) collectors: Vec<&'static str>,
}

impl OrgStartup {
    /// The org's part of the start-up settings.
    #[must_use]
    pub(crate) fn of(startup: &StartupConfig) -> OrgStartup {
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
pub(crate) struct Org {
    /// Its name under `orgs:`; `None` in single-org mode.
    pub(crate) name: Option<String>,
    pub(crate) startup: OrgStartup,
    planner: Planner,
    settings: watch::Sender<Arc<Settings>>,
    metrics: Arc<OrgMetrics>,
    /// Tasks that run as long as the org: the collectors and the planner. One that ended
    /// (it panicked) fails `/-/healthy`, so a liveness probe restarts the process.
    tasks: Vec<JoinHandle<()>>,
    /// Set when the org is stopped on purpose (a reload removed or restarted it): its aborted
    /// tasks are no sign of ill health.
    stopped: Arc<std::sync::atomic::AtomicBool>,
    /// Tasks that end by themselves: the org's request limit read once, the ready line.
    once: Vec<JoinHandle<()>>,
    #[cfg(feature = "demo")]
    demo: Option<genesys_sim::SimOrg>,
}

impl Org {
    /// Starts the org's client and collectors (and its simulated org with `--demo`).
    ///
    /// # Errors
    /// When the API URLs are invalid or the demo org cannot start.
    pub(crate) async fn start(
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
                flow_outs,
            } => {
                let (sim, credentials) = start_demo(seed, queues, &spikes, spike_size, flow_outs)
                    .instrument(span.clone())
                    .await?;
                let urls = (sim.api_url(), sim.login_url());
                demo = Some(sim);
                (urls.0, urls.1, credentials)
            }
        };
        let api = ApiMetrics::default();
        for endpoint in endpoints(&startup.collectors) {
            api.init_retries(endpoint);
        }
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
            Some(name) => OrgMetrics::labelled(name, collectors.parts(), Arc::new(api.clone())),
            None => OrgMetrics::single(collectors.parts(), Arc::new(api.clone())),
        });
        let planner = Planner {
            collectors: collectors.clone(),
            settings: settings_rx,
            budget: Arc::new(AtomicU32::new(live.requests_per_minute)),
            client,
            org_limit: Arc::new(AtomicU32::new(0)),
            explicit_budget: Arc::new(std::sync::atomic::AtomicBool::new(
                live.requests_per_minute_explicit,
            )),
        };
        // The org's own request limit, once, on its own task: start-up never waits for it.
        let mut once = vec![tokio::spawn(
            read_org_limit(planner.clone(), live.requests_per_minute).instrument(span.clone()),
        )];
        once.push(tokio::spawn(
            log_ready(
                collectors.clone(),
                name.is_some(),
                startup.push.mode.label(),
            )
            .instrument(span.clone()),
        ));
        // A collector whose cost is measured re-plans after each of its polls.
        for source in collectors.all.iter().filter(|c| {
            REGISTRY
                .iter()
                .any(|r| r.name == c.name() && r.cost_from_polls)
        }) {
            let source = Arc::clone(source);
            let replanning = planner.clone();
            tasks.push(tokio::spawn(
                async move {
                    while source.changed().await {
                        replanning.apply_plan();
                    }
                }
                .instrument(span.clone()),
            ));
        }
        // A collector that counts its own cost (push mode) re-plans when it changes.
        for source in &collectors.all {
            let source = Arc::clone(source);
            let replanning = planner.clone();
            tasks.push(tokio::spawn(
                async move {
                    while source.own_cost_changed().await {
                        replanning.apply_plan();
                    }
                }
                .instrument(span.clone()),
            ));
        }
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
            once,
            stopped: Arc::default(),
            #[cfg(feature = "demo")]
            demo,
        })
    }

    /// Swaps in what a reload may change in place: the budget and the collectors' settings.
    pub(crate) fn apply(&self, live: &LiveConfig) {
        self.planner
            .explicit_budget
            .store(live.requests_per_minute_explicit, Ordering::Relaxed);
        let budget = self.planner.budget_for(live.requests_per_minute);
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
    pub(crate) fn metrics(&self) -> Arc<OrgMetrics> {
        self.metrics.clone()
    }

    /// What `/-/ready` and `/-/healthy` read of the org, without holding it.
    #[must_use]
    pub(crate) fn status(&self) -> OrgStatus {
        OrgStatus {
            collectors: self.planner.collectors.clone(),
            several: self.name.is_some(),
            tasks: self.tasks.iter().map(JoinHandle::abort_handle).collect(),
            stopped: self.stopped.clone(),
        }
    }

    /// Stops polling (and its simulated org).
    pub(crate) async fn stop(self) {
        self.stopped.store(true, Ordering::Relaxed);
        for task in self.tasks.iter().chain(&self.once) {
            task.abort();
        }
        #[cfg(feature = "demo")]
        if let Some(sim) = self.demo {
            sim.shutdown().await;
        }
    }
}

/// Says once, at INFO, when the org is first ready: how many queues it watches, which
/// collectors run and which of them failed, and how live state arrives. An operator reads in
/// the log what `/-/ready` decided, without scraping.
async fn log_ready(collectors: Collectors, several: bool, live_mode: &'static str) {
    // Readiness is read, not pushed: a quarter of a second is soon enough for a log line.
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticks.tick().await;
        if collectors.ready(several) {
            break;
        }
    }
    let now = std::time::SystemTime::now();
    let (ok, rest): (Vec<_>, Vec<_>) = collectors.all.iter().partition(|s| s.has_succeeded());
    // A background collector that has not finished its first poll is catching up, not failing.
    let (catching_up, failed): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|s| collect::is_background(s.name()) && s.read(now).0.polls == 0);
    let names =
        |v: &[&Arc<dyn collect::Source>]| v.iter().map(|s| s.name()).collect::<Vec<_>>().join(",");
    tracing::info!(
        queues = collectors.watched(),
        collectors = %names(&ok),
        catching_up = %names(&catching_up),
        failed = %names(&failed),
        live = live_mode,
        "ready"
    );
}

/// Readiness and health of one org, readable while a reload holds the orgs.
#[derive(Clone)]
pub(crate) struct OrgStatus {
    collectors: Collectors,
    /// One of several orgs: see [`Collectors::ready`].
    several: bool,
    tasks: Vec<tokio::task::AbortHandle>,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl OrgStatus {
    /// Serving what it can (see [`Collectors::ready`]).
    #[must_use]
    pub(crate) fn ready(&self) -> bool {
        self.collectors.ready(self.several)
    }

    /// Every task that should run as long as the org still runs.
    #[must_use]
    pub(crate) fn alive(&self) -> bool {
        self.stopped.load(Ordering::Relaxed) || self.tasks.iter().all(|t| !t.is_finished())
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
    /// The org's per-token limit from its limits API; 0 until (or unless) it was read.
    org_limit: Arc<AtomicU32>,
    /// `--genesys.requests-per-minute` was given: the budget never follows the org's limit.
    explicit_budget: Arc<std::sync::atomic::AtomicBool>,
}

/// The limits namespace of the platform API (REFERENCE.md 3.1).
const LIMITS_NAMESPACE: &str = "platform.api";
/// The keys of the per-token limit, most specific first (REFERENCE.md 3.1).
const TOKEN_LIMIT_KEYS: [&str; 2] = [
    "client.credentials.token.rate.per.minute",
    "token.rate.per.minute",
];

/// The endpoints whose retry series exist at 0 from the start, as the client's own do
/// (`genesys::request::CLIENT_ENDPOINTS`): the org's own, every default collector's whether
/// it is enabled or not, and the opt-in collectors' that are on (an opt-in one left off
/// changes nothing in the body).
fn endpoints(enabled: &[&str]) -> Vec<Endpoint> {
    let mut out = vec![ORG_LIMITS];
    for r in collect::REGISTRY {
        if !r.opt_in || enabled.contains(&r.name) {
            out.extend_from_slice(r.endpoints);
        }
    }
    out
}

// ---- GET /api/v2/organizations/limits/namespaces/{namespaceName} ----------------------------

/// The schema lists no permission for it (`permissions: []`); an org or client without access
/// answers 403 or 404, and the configured budget stays.
const ORG_LIMITS: Endpoint = Endpoint::api(
    "/api/v2/organizations/limits/namespaces/{namespaceName}",
    Permission::NoneListed,
);

/// The org's effective limits in one namespace (REFERENCE.md 3.1).
struct OrgLimitsRequest<'a> {
    namespace: &'a str,
}

impl Request for OrgLimitsRequest<'_> {
    const ENDPOINT: Endpoint = ORG_LIMITS;
    type Body = ();
    type Response = LimitsEntityListing;

    fn method(&self) -> Method {
        Method::GET
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "/api/v2/organizations/limits/namespaces/{}",
            segment(self.namespace)
        ))
    }

    fn body(&self) -> Option<&()> {
        None
    }
}

/// `LimitsEntityListing` (`openapi-subset.json`): the org's effective limits in a namespace.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LimitsEntityListing {
    #[serde(default)]
    pub(crate) entities: Vec<Limit>,
}

/// `Limit` (`openapi-subset.json`): `key`, `namespace`, `value` (int64).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Limit {
    #[serde(default)]
    pub(crate) key: Option<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<i64>,
}

/// The budget that keeps the default's margin (200 of 300) under an org limit of `limit`.
fn budget_under(limit: u32) -> u32 {
    u32::try_from(u64::from(limit) * 2 / 3)
        .unwrap_or(u32::MAX)
        .max(1)
}

/// Reads the org's limits once, logs them, exposes the per-token limit
/// (`genesys_api_org_limit_requests_per_minute`) and, when the budget was not set explicitly,
/// fits the budget under it. Any failure is logged and ignored: the default budget stays.
async fn read_org_limit(planner: Planner, configured: u32) {
    let listing = match planner
        .client
        .send(&OrgLimitsRequest {
            namespace: LIMITS_NAMESPACE,
        })
        .await
    {
        Ok(listing) => listing,
        Err(
            error @ crate::genesys::ApiError::Status {
                status: 403 | 404, ..
            },
        ) => {
            tracing::info!(namespace = LIMITS_NAMESPACE, error = %error, "the org's limits are not readable with this client; keeping the configured budget");
            return;
        }
        Err(error) => {
            tracing::info!(namespace = LIMITS_NAMESPACE, error = %crate::ErrorChain(&error), "could not read the org's limits; keeping the configured budget");
            return;
        }
    };
    for limit in &listing.entities {
        tracing::info!(
            namespace = limit.namespace.as_deref().unwrap_or(LIMITS_NAMESPACE),
            key = limit.key.as_deref().unwrap_or(""),
            value = limit.value,
            "org limit"
        );
    }
    let found = TOKEN_LIMIT_KEYS.iter().find_map(|key| {
        listing
            .entities
            .iter()
            .find(|l| l.key.as_deref() == Some(key))
            .and_then(|l| l.value)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
    });
    let Some(limit) = found else {
        tracing::info!(
            namespace = LIMITS_NAMESPACE,
            "no per-token request limit among the org's limits; keeping the configured budget"
        );
        return;
    };
    planner.client.set_org_limit_per_minute(i64::from(limit));
    planner.org_limit.store(limit, Ordering::Relaxed);
    if planner.explicit_budget.load(Ordering::Relaxed) {
        if configured > limit {
            tracing::warn!(
                requests_per_minute = configured,
                org_limit = limit,
                "--genesys.requests-per-minute is above the org's per-token limit: expect 429s"
            );
        }
        return;
    }
    let budget = planner.budget_for(configured);
    if budget != planner.budget.load(Ordering::Relaxed) {
        tracing::info!(
            org_limit = limit,
            budget,
            "request budget follows the org's limit (2/3 of it, as the default 200 of 300)"
        );
        planner.client.set_requests_per_minute(budget);
        planner.budget.store(budget, Ordering::Relaxed);
        planner.apply_plan();
    }
}

impl Planner {
    /// The budget in force for a configured `requests_per_minute`: as configured when given
    /// explicitly or while the org's limit is unknown, else 2/3 of that limit.
    fn budget_for(&self, configured: u32) -> u32 {
        let limit = self.org_limit.load(Ordering::Relaxed);
        if limit == 0 || self.explicit_budget.load(Ordering::Relaxed) {
            configured
        } else {
            budget_under(limit)
        }
    }

    /// Sets every collector's interval to its configured one, stretched if the plan does not
    /// fit the budget for the queues being watched now. Called after each queue listing and
    /// each reload.
    fn apply_plan(&self) {
        let live = self.settings.borrow().clone();
        let watched = self.collectors.watched();
        // Each running collector's entry, and whether it is live state.
        let planned: Vec<(bool, budget::Entry)> = self
            .collectors
            .all
            .iter()
            .filter_map(|c| {
                let r = REGISTRY.iter().find(|r| r.name == c.name())?;
                Some((
                    !r.background,
                    budget::Entry {
                        interval: live.interval(r.name),
                        requests_per_poll: r.planned_cost(&live, watched, c.as_ref()),
                    },
                ))
            })
            .collect();
        let entries: Vec<budget::Entry> = planned.iter().map(|(_, e)| *e).collect();
        let budget = self.budget.load(Ordering::Relaxed);
        let plan = budget::plan(budget, &entries);
        // What live state is planned to send at the effective intervals: the share background
        // requests leave it.
        let live_entries: Vec<budget::Entry> = planned
            .iter()
            .filter(|(live, _)| *live)
            .map(|(_, e)| *e)
            .collect();
        self.client
            .set_live_reserve(budget::requests_per_minute(&live_entries) / plan.stretch);
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
                wanted_per_minute = budget::requests_per_minute(&entries),
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
    flow_outs: bool,
) -> Result<(genesys_sim::SimOrg, crate::genesys::Credentials), StartError> {
    let sim_config = genesys_sim::SimConfig {
        seed,
        queues: queues as usize,
        flow_outs,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::estimated_wait::ESTIMATED_WAIT_TIME;
    use crate::collect::flows::FLOW_ACTIVITY;
    use crate::genesys::request::{assert_permission_named, CLIENT_ENDPOINTS, TOKEN};
    use crate::metrics::reload::ReloadMetrics;
    use crate::metrics::{Format, Metrics};

    #[test]
    fn every_endpoint_names_its_permission() {
        // Every registered collector's, the opt-in ones' included.
        let every: Vec<&str> = collect::REGISTRY.iter().map(|r| r.name).collect();
        let all: Vec<Endpoint> = CLIENT_ENDPOINTS
            .into_iter()
            .chain(endpoints(&every))
            .collect();
        for endpoint in &all {
            assert_permission_named(endpoint);
        }
        // Labels are distinct: one series per endpoint.
        let labels: std::collections::BTreeSet<&str> = all.iter().map(|e| e.label).collect();
        assert_eq!(labels.len(), all.len());
    }

    #[test]
    fn every_default_endpoint_has_its_retry_series_at_0_from_the_start() {
        let api = ApiMetrics::default();
        for endpoint in endpoints(&["queues", "observations", "activity", "aggregates"]) {
            api.init_retries(endpoint);
        }
        let m = Metrics::new(Vec::new(), Arc::new(api), &ReloadMetrics::default());
        let text = String::from_utf8(m.body(Format::Text, false).unwrap().to_vec()).unwrap();
        let retries: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("genesys_api_retries_total{"))
            .collect();
        // 8 endpoints x 5 reasons, less the token endpoint's `unauthorized`; none of the
        // opt-in collectors' endpoints.
        assert_eq!(retries.len(), 39, "{retries:#?}");
        assert!(retries.iter().all(|l| l.ends_with(" 0")), "{retries:#?}");
        assert!(!text.contains(&format!(
            "endpoint=\"{}\",reason=\"unauthorized\"",
            TOKEN.label
        )));
        assert!(!text.contains(ESTIMATED_WAIT_TIME.label) && !text.contains(FLOW_ACTIVITY.label));
    }
}
