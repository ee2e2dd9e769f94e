//! Wiring: build the client, start the collectors, serve HTTP. `main` and the tests both start
//! the exporter through [`Exporter::start`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{SharedClock, SystemClock};
use crate::collect::activity::ActivityCollector;
use crate::collect::aggregates::AggregatesCollector;
use crate::collect::observations::ObservationsCollector;
use crate::collect::queues::QueueCollector;
use crate::collect::{self, Slot};
use crate::config::{Config, Target};
use crate::genesys::{ApiError, ApiMetrics, ClientConfig, Credentials, GenesysClient};
use crate::metrics::{Metrics, Slots};
use crate::reload::{ConfigSource, ReloadError, ReloadMetrics, Reloader};
use crate::server::{self, AppState};
use crate::sim::{SimConfig, SimOrg};
use crate::web::{WebConfigError, WebGuard};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
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
    demo: Option<SimOrg>,
    reloader: Arc<Reloader>,
}

impl Exporter {
    pub async fn start(config: Config) -> Result<Exporter, StartError> {
        Exporter::start_with(config, Options::default()).await
    }

    /// Starts with another clock for buckets, windows and waits (tests: simulated time).
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

    pub async fn start_with(config: Config, options: Options) -> Result<Exporter, StartError> {
        let web = match &config.web_config {
            Some(path) => WebGuard::load(path).map_err(StartError::WebConfig)?,
            None => WebGuard::disabled(),
        };
        let (api_url, login_url, credentials, demo) = match config.target.clone() {
            Target::Org {
                api_url,
                login_url,
                credentials,
            } => (api_url, login_url, credentials, None),
            Target::Demo {
                seed,
                queues,
                spikes,
                spike_size,
            } => {
                let sim_config = SimConfig {
                    seed,
                    queues: queues as usize,
                    ..SimConfig::default()
                };
                let credentials = Credentials {
                    client_id: sim_config.client_id.clone(),
                    client_secret: sim_config.client_secret.clone().into(),
                };
                let sim = SimOrg::start(sim_config, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .map_err(StartError::Demo)?;
                tracing::info!(api_url = %sim.api_url(), login_url = %sim.login_url(), "demo mode: simulated Genesys org started");
                for spike in spikes {
                    tracing::info!(queue = %spike.queue, after = ?spike.after, conversations = spike_size, "demo spike scheduled");
                    sim.schedule_spike(&spike.queue, spike.after, spike_size);
                }
                (sim.api_url(), sim.login_url(), credentials, Some(sim))
            }
        };
        let api_metrics = ApiMetrics::default();
        let client = GenesysClient::new(
            ClientConfig {
                api_url,
                login_url,
                credentials,
                requests_per_minute: config.requests_per_minute,
                request_timeout: config.request_timeout,
                max_retries: config.max_retries,
                max_body_bytes: config.max_response_bytes,
            },
            api_metrics.clone(),
        )?;

        let slots = Slots {
            queues: Slot::new("queues", config.queues_interval),
            observations: Slot::new("observations", config.observations_interval),
            activity: config.activity_interval.map(|i| Slot::new("activity", i)),
            aggregates: config
                .aggregates
                .as_ref()
                .map(|(i, _)| Slot::new("aggregates", *i)),
        };
        let (filter_tx, filter_rx) = watch::channel(config.queue_filter.clone());
        let aggregates_tx = config
            .aggregates
            .as_ref()
            .map(|(_, s)| watch::Sender::new(s.clone()));
        let mut collectors = vec![
            tokio::spawn(collect::run(
                slots.queues.clone(),
                QueueCollector {
                    client: client.clone(),
                    filter: filter_rx,
                },
            )),
            tokio::spawn(collect::run(
                slots.observations.clone(),
                ObservationsCollector {
                    client: client.clone(),
                    queues: slots.queues.subscribe(),
                    first_queues_wait: config.observations_interval,
                    clock: options.clock.clone(),
                },
            )),
        ];
        if let Some(slot) = slots.activity.clone() {
            let collector = ActivityCollector {
                client: client.clone(),
            };
            collectors.push(tokio::spawn(collect::run(slot, collector)));
        }
        if let (Some(slot), Some(tx)) = (slots.aggregates.clone(), &aggregates_tx) {
            let collector = AggregatesCollector::new(
                client.clone(),
                slots.queues.subscribe(),
                slot.interval(),
                options.clock.clone(),
                tx.subscribe(),
            );
            collectors.push(tokio::spawn(collect::run(slot, collector)));
        }

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let reload_metrics = ReloadMetrics::default();
        reload_metrics.last_successful.set(1);
        let metrics = Metrics::new(slots.clone(), &api_metrics, &reload_metrics);
        let source = options.reload_from.unwrap_or_else(|| {
            let fixed = config.clone();
            Arc::new(move || Ok(fixed.clone()))
        });
        let reloader = Arc::new(Reloader {
            source,
            web: std::sync::RwLock::new(web),
            current: Mutex::new(config.clone()),
            slots: slots.clone(),
            client,
            filter: filter_tx,
            aggregates: aggregates_tx,
            metrics: reload_metrics,
        });
        // Re-plan the intervals whenever queue discovery publishes (the queue count sets the cost).
        reloader.apply_plan();
        let planner = reloader.clone();
        let mut listings = slots.queues.subscribe();
        collectors.push(tokio::spawn(async move {
            while listings.changed().await.is_ok() {
                planner.apply_plan();
            }
        }));
        let state = Arc::new(AppState {
            metrics,
            slots,
            telemetry_path: config.telemetry_path.clone(),
            reloader: reloader.clone(),
        });
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(server::serve(listener, state, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        tracing::info!(%addr, path = %config.telemetry_path, "serving metrics");
        Ok(Exporter {
            addr,
            stop,
            server,
            collectors,
            demo,
            reloader,
        })
    }

    /// Re-reads the configuration and applies it (what SIGHUP and `POST /-/reload` do).
    pub fn reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        self.reloader.reload()
    }

    /// The address the HTTP server is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated org, in demo mode.
    pub fn demo(&self) -> Option<&SimOrg> {
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
        if let Some(sim) = self.demo {
            sim.shutdown().await;
        }
    }
}
