//! Wiring: build the client, start the collectors, serve HTTP. `main` and the tests both start
//! the exporter through [`Exporter::start`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{SharedClock, SystemClock};
use crate::collect;
use crate::config::{Config, Target};
use crate::genesys::{ApiError, ApiMetrics, ClientConfig, GenesysClient};
use crate::metrics::Metrics;
use crate::reload::{ConfigSource, ReloadError, ReloadMetrics, Reloader};
use crate::server::{self, AppState};
use crate::web::{WebConfigError, WebGuard};

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

/// How to start an exporter beyond its configuration.
pub struct Options {
    /// Time for buckets, windows and waits.
    pub clock: SharedClock,
    /// Where a reload reads the configuration; `None`: a reload re-applies the start-up one.
    pub reload_from: Option<ConfigSource>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            reload_from: None,
        }
    }
}

/// A running exporter.
pub struct Exporter {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    collectors: Vec<JoinHandle<()>>,
    #[cfg(feature = "demo")]
    demo: Option<genesys_sim::SimOrg>,
    reloader: Arc<Reloader>,
}

impl Exporter {
    /// Starts the exporter with the wall clock and no reload source.
    ///
    /// # Errors
    /// When the listener cannot bind, the web configuration or the API URLs are invalid, or the
    /// demo org cannot start.
    pub async fn start(config: Config) -> Result<Exporter, StartError> {
        Exporter::start_with(config, Options::default()).await
    }

    /// Starts with another clock for buckets, windows and waits (tests: simulated time).
    ///
    /// # Errors
    /// As [`Exporter::start`].
    pub async fn start_with_clock(
        config: Config,
        clock: SharedClock,
    ) -> Result<Exporter, StartError> {
        Exporter::start_with(
            config,
            Options {
                clock,
                ..Options::default()
            },
        )
        .await
    }

    /// Starts the exporter: client, collectors, HTTP server.
    ///
    /// # Errors
    /// As [`Exporter::start`].
    pub async fn start_with(config: Config, options: Options) -> Result<Exporter, StartError> {
        let Config { startup, live } = config;
        let web = match &live.web_config {
            Some(path) => WebGuard::load(path).map_err(StartError::WebConfig)?,
            None => WebGuard::disabled(),
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
                let (sim, credentials) = start_demo(seed, queues, &spikes, spike_size).await?;
                let urls = (sim.api_url(), sim.login_url());
                demo = Some(sim);
                (urls.0, urls.1, credentials)
            }
        };
        let api_metrics = ApiMetrics::default();
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
            api_metrics.clone(),
        )?;

        let (settings_tx, live_rx) = watch::channel(Arc::new(live.collectors.clone()));
        let (collectors, mut tasks) = collect::start_all(
            &startup.collectors,
            &client,
            &options.clock,
            &live_rx,
            &startup.push,
        );

        let listener =
            TcpListener::bind(startup.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: startup.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: startup.listen,
            source,
        })?;
        let reload_metrics = ReloadMetrics::default();
        // The configuration in force was loaded now: alerts on `time() - ...` must not fire on
        // a fresh exporter (Prometheus sets its own the same way).
        reload_metrics.succeeded();
        let metrics = Metrics::new(collectors.clone(), &api_metrics, &reload_metrics);
        let source = options.reload_from.unwrap_or_else(|| {
            let fixed = Config {
                startup: startup.clone(),
                live: live.clone(),
            };
            Arc::new(move || Ok(fixed.clone()))
        });
        let reloader = Arc::new(Reloader {
            source,
            web: std::sync::RwLock::new(web),
            startup: startup.clone(),
            settings: settings_tx,
            budget: live.requests_per_minute.into(),
            collectors: collectors.clone(),
            client,
            metrics: reload_metrics,
        });
        // Re-plan the intervals whenever queue discovery publishes (the queue count sets the cost).
        reloader.apply_plan();
        let planner = reloader.clone();
        let mut listings = collectors.queues.subscribe();
        tasks.push(tokio::spawn(async move {
            while listings.changed().await.is_ok() {
                planner.apply_plan();
            }
        }));
        let state = Arc::new(AppState {
            metrics,
            collectors,
            telemetry_path: startup.telemetry_path.clone(),
            lifecycle: startup.enable_lifecycle,
            reloader: reloader.clone(),
        });
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(server::serve(
            listener,
            state,
            startup.max_connections,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        tracing::info!(%addr, path = %startup.telemetry_path, "serving metrics");
        Ok(Exporter {
            addr,
            stop,
            server,
            collectors: tasks,
            #[cfg(feature = "demo")]
            demo,
            reloader,
        })
    }

    /// Re-reads the configuration and applies it (what SIGHUP and `POST /-/reload` do).
    ///
    /// # Errors
    /// When the configuration or the web configuration does not load; the running one stays.
    pub fn reload(&self) -> Result<Vec<String>, ReloadError> {
        self.reloader.reload()
    }

    /// The address the HTTP server is bound to (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated org, in demo mode.
    #[cfg(feature = "demo")]
    #[must_use]
    pub fn demo(&self) -> Option<&genesys_sim::SimOrg> {
        self.demo.as_ref()
    }

    /// Stops polling, lets in-flight HTTP requests finish, then returns.
    pub async fn shutdown(self) {
        for c in &self.collectors {
            c.abort();
        }
        let _ = self.stop.send(true);
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "HTTP server task ended abnormally");
        }
        #[cfg(feature = "demo")]
        if let Some(sim) = self.demo {
            sim.shutdown().await;
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
    let sim = genesys_sim::SimOrg::start(sim_config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(StartError::Demo)?;
    tracing::info!(api_url = %sim.api_url(), login_url = %sim.login_url(), "demo mode: simulated Genesys org started");
    for spike in spikes {
        tracing::info!(queue = %spike.queue, after = ?spike.after, conversations = spike_size, "demo spike scheduled");
        sim.schedule_spike(&spike.queue, spike.after, spike_size);
    }
    Ok((sim, credentials))
}
