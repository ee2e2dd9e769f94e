//! Wiring: build the client, start the collectors, serve HTTP. `main` and the tests both start
//! the exporter through [`Exporter::start`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::metrics::http::HttpMetrics;
use crate::metrics::reload::ReloadMetrics;
use crate::metrics::Metrics;
use crate::org::Org;
use crate::reload::{ConfigSource, ReloadError, Reloader};
use crate::server::{self, AppState};
use crate::web::WebGuard;

/// Defined with the org, which fails to start with it too; named here, where the exporter
/// starts.
pub use crate::org::StartError;

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
        let Config {
            startup,
            live,
            orgs: org_configs,
        } = config;
        let web = match &live.web_config {
            Some(path) => WebGuard::load(path).map_err(StartError::WebConfig)?,
            None => WebGuard::disabled(),
        };
        let several = !org_configs.is_empty();
        let mut orgs = Vec::new();
        if several {
            for org in &org_configs {
                let name = Some(org.name.clone());
                orgs.push(Org::start(name, &org.startup, &org.live, &options.clock).await?);
            }
        } else {
            orgs.push(Org::start(None, &startup, &live, &options.clock).await?);
        }

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
        let http = HttpMetrics::default();
        let metrics = Arc::new(
            match orgs.as_slice() {
                [org] if !several => Metrics::single(org.metrics(), &reload_metrics),
                _ => Metrics::several(orgs.iter().map(Org::metrics).collect(), &reload_metrics),
            }
            .with_http(&http),
        );
        let source = options.reload_from.unwrap_or_else(|| {
            let fixed = Config {
                startup: startup.clone(),
                live: live.clone(),
                orgs: org_configs.clone(),
            };
            Arc::new(move || Ok(fixed.clone()))
        });
        let reloader = Arc::new(Reloader {
            source,
            web: std::sync::RwLock::new(web),
            startup: startup.clone(),
            status: std::sync::RwLock::new(orgs.iter().map(Org::status).collect()),
            orgs: tokio::sync::Mutex::new(orgs),
            several,
            body: metrics.clone(),
            clock: options.clock.clone(),
            metrics: reload_metrics,
        });
        let state = Arc::new(AppState {
            metrics,
            http,
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
            reloader,
        })
    }

    /// Re-reads the configuration and applies it (what SIGHUP and `POST /-/reload` do).
    ///
    /// # Errors
    /// When the configuration or the web configuration does not load; the running one stays.
    pub async fn reload(&self) -> Result<Vec<String>, ReloadError> {
        self.reloader.reload().await
    }

    /// The address the HTTP server is bound to (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops polling, lets in-flight HTTP requests finish, then returns.
    pub async fn shutdown(self) {
        self.reloader.stop().await;
        let _ = self.stop.send(true);
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "HTTP server task ended abnormally");
        }
    }
}
