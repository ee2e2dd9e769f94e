//! Command-line flags (exporter-toolkit style names), the YAML config file, and the validated
//! configuration.

pub mod file;

use std::ffi::OsString;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use regex::Regex;
use secrecy::SecretString;

use crate::collect::aggregates::{exportable, AggregatesExport, AggregatesSettings, Window};
use crate::collect::queues::QueueFilter;
use crate::genesys::region::UnknownRegion;
use crate::genesys::{Credentials, Region};

/// Outside the 9100-9999 exporter range (full since 2023) and, as far as we know, no
/// well-known service's port.
pub const DEFAULT_PORT: u16 = 19464;

#[derive(Debug, Parser)]
#[command(
    name = "genesys-exporter",
    version,
    args_override_self = true,
    about = "Prometheus exporter for Genesys Cloud: live queue state and analytics.",
    after_help = "Credentials: GENESYS_CLIENT_ID (or --genesys.client-id) and GENESYS_CLIENT_SECRET \
                  (or --genesys.client-secret-file). They are never read from other flags."
)]
pub struct Flags {
    /// YAML file with any of these settings (keys are the flag names); flags override it.
    /// Reloaded on SIGHUP and POST /-/reload.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Address to listen on for the web interface and telemetry.
    #[arg(
        long = "web.listen-address",
        default_value = ":19464",
        value_name = "ADDR"
    )]
    pub listen_address: String,
    /// Exporter-toolkit web configuration (TLS, client certificates, basic auth) in YAML.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// Genesys Cloud region: a domain (mypurecloud.ie, usw2.pure.cloud, …) or a region name
    /// (eu_west_1, us-west-2, …).
    #[arg(
        long = "genesys.region",
        default_value = "mypurecloud.com",
        value_name = "REGION"
    )]
    pub region: String,
    /// API base URL, overriding the region's (proxies, private endpoints, tests).
    #[arg(long = "genesys.api-url", value_name = "URL")]
    pub api_url: Option<String>,
    /// Login base URL (token endpoint is <URL>/oauth/token), overriding the region's.
    #[arg(long = "genesys.login-url", value_name = "URL")]
    pub login_url: Option<String>,
    /// OAuth client id (client credentials grant).
    #[arg(
        long = "genesys.client-id",
        env = "GENESYS_CLIENT_ID",
        hide_env_values = true
    )]
    pub client_id: Option<String>,
    /// File holding the OAuth client secret (e.g. a mounted Kubernetes secret); takes
    /// precedence over GENESYS_CLIENT_SECRET.
    #[arg(long = "genesys.client-secret-file", value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Client-side request budget shared by all collectors (Genesys allows 300/min per token).
    #[arg(long = "genesys.requests-per-minute", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub requests_per_minute: u32,
    /// Timeout of one API request.
    #[arg(long = "genesys.request-timeout", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Retries of one request after 429, 502/503/504, timeouts and connection errors.
    #[arg(long = "genesys.max-retries", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub max_retries: u32,
    /// Largest API response body accepted; larger ones are refused, not buffered.
    #[arg(long = "genesys.max-response-bytes", default_value_t = 32 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// Only watch queues whose name matches this regular expression.
    #[arg(long = "queues.include", value_name = "REGEX", value_parser = parse_regex)]
    pub queues_include: Option<Regex>,
    /// Do not watch queues whose name matches this regular expression.
    #[arg(long = "queues.exclude", value_name = "REGEX", value_parser = parse_regex)]
    pub queues_exclude: Option<Regex>,

    /// How often to list queues.
    #[arg(long = "collector.queues.interval", default_value = "5m", value_parser = parse_interval)]
    pub queues_interval: Duration,
    /// How often to poll queue observations (live queue state).
    #[arg(long = "collector.observations.interval", default_value = "15s", value_parser = parse_interval)]
    pub observations_interval: Duration,
    /// How often to poll org-wide conversation activity.
    #[arg(long = "collector.activity.interval", default_value = "15s", value_parser = parse_interval)]
    pub activity_interval: Duration,
    /// Disable the org-wide conversation activity collector (for orgs where that API is missing).
    #[arg(long = "no-collector.activity")]
    pub no_activity: bool,
    /// How often to refresh the analytics aggregates (counters and windows).
    #[arg(long = "collector.aggregates.interval", default_value = "1m", value_parser = parse_interval)]
    pub aggregates_interval: Duration,
    /// Disable the analytics aggregates collector.
    #[arg(long = "no-collector.aggregates")]
    pub no_aggregates: bool,
    /// Bucket size of the aggregates queries (whole minutes dividing a day: 1m, 5m, 15m, 30m, 1h).
    #[arg(long = "aggregates.granularity", default_value = "5m", value_parser = parse_duration)]
    pub aggregates_granularity: Duration,
    /// How far back late completions are still added to the counters.
    #[arg(long = "aggregates.lookback", default_value = "2h", value_parser = parse_duration)]
    pub aggregates_lookback: Duration,
    /// Comma-separated windows for the window gauges: durations and/or `today`.
    #[arg(
        long = "aggregates.windows",
        default_value = "15m,1h,today",
        value_delimiter = ','
    )]
    pub aggregates_windows: Vec<String>,
    /// IANA time zone whose midnight starts the `today` window (e.g. Europe/Berlin).
    #[arg(long = "aggregates.timezone", default_value = "UTC")]
    pub aggregates_timezone: String,
    /// Comma-separated analytics quantities to export (counters and window gauges), or `all`;
    /// e.g. conversations_offered,conversations_answered,handle_seconds,service_level_ratio.
    #[arg(
        long = "aggregates.metrics",
        default_value = "all",
        value_delimiter = ','
    )]
    pub aggregates_metrics: Vec<String>,
    /// Analytics series per `queue` (labels queue_id, queue, media_type) or per `media_type`
    /// only (summed over the watched queues).
    #[arg(long = "aggregates.by", default_value = "queue", value_parser = ["queue", "media_type"])]
    pub aggregates_by: String,

    /// Run against a built-in simulated Genesys org instead of a real one.
    #[arg(long = "demo")]
    pub demo: bool,
    /// Seed of the simulated org's traffic in demo mode.
    #[arg(long = "demo.seed", default_value_t = 1)]
    pub demo_seed: u64,
    /// Schedule a burst of arrivals in demo mode: QUEUE_NAME@+DELAY (e.g. "Support - Billing@+2m").
    /// Repeatable.
    #[arg(long = "demo.spike", value_name = "QUEUE@+DELAY", value_parser = parse_spike)]
    pub demo_spikes: Vec<Spike>,
    /// Queues in the simulated org of demo mode (load tests, scale trials).
    #[arg(long = "demo.queues", default_value_t = 36,
          value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub demo_queues: u32,
    /// Conversations each demo spike adds to the queue.
    #[arg(long = "demo.spike-size", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub demo_spike_size: u32,

    /// Log level: error, warn, info, debug, trace.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// Log format: logfmt-like text or json.
    #[arg(long = "log.format", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 15s, 5m, 1h)"))
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

/// A burst of arrivals scheduled in the simulated org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spike {
    pub queue: String,
    pub after: Duration,
}

fn parse_spike(s: &str) -> Result<Spike, String> {
    let (queue, delay) = s
        .rsplit_once("@+")
        .ok_or("expected QUEUE_NAME@+DELAY, e.g. \"Sales EN@+2m\"")?;
    if queue.trim().is_empty() {
        return Err("the queue name is empty".into());
    }
    Ok(Spike {
        queue: queue.to_string(),
        after: parse_duration(delay)?,
    })
}

fn parse_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| e.to_string())
}

/// Where the exporter gets its data.
#[derive(Debug, Clone)]
pub enum Target {
    /// A real (or any API-compatible) Genesys Cloud org.
    Org {
        api_url: String,
        login_url: String,
        credentials: Credentials,
    },
    /// The built-in simulated org, started in-process.
    Demo {
        seed: u64,
        queues: u32,
        spikes: Vec<Spike>,
        spike_size: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub web_config: Option<PathBuf>,
    pub telemetry_path: String,
    pub target: Target,
    pub requests_per_minute: u32,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub max_response_bytes: usize,
    pub queue_filter: QueueFilter,
    pub queues_interval: Duration,
    pub observations_interval: Duration,
    /// `None` when the activity collector is disabled.
    pub activity_interval: Option<Duration>,
    /// `None` when the aggregates collector is disabled.
    pub aggregates: Option<(Duration, AggregatesSettings)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--genesys.region: {0}")]
    Region(#[from] UnknownRegion),
    #[error("--web.listen-address {0:?}: expected host:port or :port")]
    ListenAddress(String),
    #[error(
        "--web.telemetry-path {0:?}: must start with '/' and not be one of /, /-/healthy, /-/ready, /-/reload"
    )]
    TelemetryPath(String),
    #[error("no OAuth client id: set GENESYS_CLIENT_ID (or --genesys.client-id), or use --demo")]
    MissingClientId,
    #[error("no OAuth client secret: set GENESYS_CLIENT_SECRET or --genesys.client-secret-file, or use --demo")]
    MissingClientSecret,
    #[error("--genesys.client-secret-file {path}: {reason}")]
    SecretFile { path: String, reason: String },
    #[error("--genesys.max-response-bytes must be at least 1024")]
    ResponseCap,
    #[error("--{flag} {value:?}: {reason}")]
    Aggregates {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("config file {path}: {key}: {reason}")]
    FileKey {
        path: String,
        key: String,
        reason: String,
    },
    /// A command-line error; clap renders and exits with it.
    #[error("{0}")]
    Flags(#[from] clap::Error),
}

impl Config {
    /// Flags and, when `--config.file` names one, the YAML file under them: the file's settings
    /// come first on the effective command line, so explicit flags win.
    pub fn from_args<I, T>(args: I, env_secret: Option<String>) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let flags = Flags::try_parse_from(&args)?;
        let Some(path) = flags.config_file.clone() else {
            return Config::from_flags(flags, env_secret);
        };
        let mut merged: Vec<OsString> = args.iter().take(1).cloned().collect();
        merged.extend(file::load(&path)?);
        merged.extend(args.iter().skip(1).cloned());
        Config::from_flags(Flags::try_parse_from(merged)?, env_secret)
    }

    /// Validates flags; `env_secret` is GENESYS_CLIENT_SECRET (passed in so tests need not
    /// touch the process environment).
    pub fn from_flags(flags: Flags, env_secret: Option<String>) -> Result<Config, ConfigError> {
        let listen = parse_listen_address(&flags.listen_address)?;
        let path = flags.telemetry_path;
        if !path.starts_with('/')
            || matches!(path.as_str(), "/" | "/-/healthy" | "/-/ready" | "/-/reload")
        {
            return Err(ConfigError::TelemetryPath(path));
        }
        if flags.max_response_bytes < 1024 {
            return Err(ConfigError::ResponseCap);
        }
        let target = if flags.demo {
            Target::Demo {
                seed: flags.demo_seed,
                queues: flags.demo_queues,
                spikes: flags.demo_spikes,
                spike_size: flags.demo_spike_size,
            }
        } else {
            let region = Region::parse(&flags.region)?;
            let client_id = flags
                .client_id
                .filter(|id| !id.trim().is_empty())
                .ok_or(ConfigError::MissingClientId)?;
            let secret = match &flags.client_secret_file {
                Some(path) => read_secret_file(path)?,
                None => env_secret
                    .filter(|s| !s.is_empty())
                    .ok_or(ConfigError::MissingClientSecret)?,
            };
            Target::Org {
                api_url: flags.api_url.unwrap_or_else(|| region.api_url()),
                login_url: flags.login_url.unwrap_or_else(|| region.login_url()),
                credentials: Credentials {
                    client_id: client_id.trim().to_string(),
                    client_secret: SecretString::from(secret),
                },
            }
        };
        Ok(Config {
            listen,
            web_config: flags.web_config_file,
            telemetry_path: path,
            target,
            requests_per_minute: flags.requests_per_minute,
            request_timeout: flags.request_timeout,
            max_retries: flags.max_retries,
            max_response_bytes: flags.max_response_bytes,
            queue_filter: QueueFilter {
                include: flags.queues_include,
                exclude: flags.queues_exclude,
            },
            queues_interval: flags.queues_interval,
            observations_interval: flags.observations_interval,
            activity_interval: (!flags.no_activity).then_some(flags.activity_interval),
            aggregates: if flags.no_aggregates {
                None
            } else {
                Some((
                    flags.aggregates_interval,
                    aggregates_settings(
                        flags.aggregates_granularity,
                        flags.aggregates_lookback,
                        &flags.aggregates_windows,
                        &flags.aggregates_timezone,
                        aggregates_export(&flags.aggregates_metrics, &flags.aggregates_by)?,
                    )?,
                ))
            },
        })
    }
}

impl Config {
    /// The effective settings under their flag names, secrets redacted: what
    /// `check-config` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        let mut out = vec![
            ("web.listen-address", self.listen.to_string()),
            ("web.telemetry-path", self.telemetry_path.clone()),
        ];
        if let Some(path) = &self.web_config {
            out.push(("web.config.file", path.display().to_string()));
        }
        match &self.target {
            Target::Org {
                api_url,
                login_url,
                credentials,
            } => {
                out.push(("genesys.api-url", api_url.clone()));
                out.push(("genesys.login-url", login_url.clone()));
                out.push(("genesys.client-id", credentials.client_id.clone()));
                out.push(("genesys.client-secret", "<redacted>".into()));
            }
            Target::Demo {
                seed,
                queues,
                spikes,
                spike_size,
            } => {
                out.push(("demo", "true".into()));
                out.push(("demo.seed", seed.to_string()));
                out.push(("demo.queues", queues.to_string()));
                for s in spikes {
                    out.push(("demo.spike", format!("{}@+{}", s.queue, d(&s.after))));
                }
                out.push(("demo.spike-size", spike_size.to_string()));
            }
        }
        out.push((
            "genesys.requests-per-minute",
            self.requests_per_minute.to_string(),
        ));
        out.push(("genesys.request-timeout", d(&self.request_timeout)));
        out.push(("genesys.max-retries", self.max_retries.to_string()));
        out.push((
            "genesys.max-response-bytes",
            self.max_response_bytes.to_string(),
        ));
        for (key, regex) in [
            ("queues.include", &self.queue_filter.include),
            ("queues.exclude", &self.queue_filter.exclude),
        ] {
            if let Some(r) = regex {
                out.push((key, format!("{:?}", r.as_str())));
            }
        }
        out.push(("collector.queues.interval", d(&self.queues_interval)));
        out.push((
            "collector.observations.interval",
            d(&self.observations_interval),
        ));
        match &self.activity_interval {
            Some(i) => out.push(("collector.activity.interval", d(i))),
            None => out.push(("no-collector.activity", "true".into())),
        }
        match &self.aggregates {
            Some((i, s)) => {
                out.push(("collector.aggregates.interval", d(i)));
                out.push(("aggregates.granularity", d(&s.granularity)));
                out.push(("aggregates.lookback", d(&s.lookback)));
                let windows: Vec<String> = s.windows.iter().map(Window::label).collect();
                out.push(("aggregates.windows", windows.join(",")));
                out.push(("aggregates.timezone", s.timezone.name().to_string()));
                out.push(("aggregates.metrics", s.export.selected.join(",")));
                out.push((
                    "aggregates.by",
                    if s.export.by_queue {
                        "queue"
                    } else {
                        "media_type"
                    }
                    .into(),
                ));
            }
            None => out.push(("no-collector.aggregates", "true".into())),
        }
        out
    }
}

fn aggregates_export(metrics: &[String], by: &str) -> Result<AggregatesExport, ConfigError> {
    let all = exportable();
    let wanted: Vec<&str> = metrics
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    let selected = if wanted.is_empty() || wanted == ["all"] {
        all
    } else {
        let mut selected = Vec::new();
        for name in wanted {
            let Some(known) = all.iter().find(|a| **a == name) else {
                return Err(ConfigError::Aggregates {
                    flag: "aggregates.metrics",
                    value: name.to_string(),
                    reason: format!(
                        "not an analytics quantity; choose from all, {}",
                        all.join(", ")
                    ),
                });
            };
            if !selected.contains(known) {
                selected.push(*known);
            }
        }
        selected
    };
    Ok(AggregatesExport {
        by_queue: by != "media_type",
        selected,
    })
}

fn aggregates_settings(
    granularity: Duration,
    lookback: Duration,
    windows: &[String],
    timezone: &str,
    export: AggregatesExport,
) -> Result<AggregatesSettings, ConfigError> {
    let err = |flag, value: String, reason: &str| ConfigError::Aggregates {
        flag,
        value,
        reason: reason.to_string(),
    };
    let day = Duration::from_secs(86_400);
    let g = granularity.as_secs();
    if granularity.subsec_nanos() != 0 || g < 60 || g % 60 != 0 || 86_400 % g != 0 {
        return Err(err(
            "aggregates.granularity",
            humantime::format_duration(granularity).to_string(),
            "must be whole minutes that divide a day (1m, 5m, 10m, 15m, 30m, 1h, …)",
        ));
    }
    let l = lookback.as_secs();
    if lookback.subsec_nanos() != 0 || l < g || l % g != 0 || lookback > day {
        return Err(err(
            "aggregates.lookback",
            humantime::format_duration(lookback).to_string(),
            "must be a multiple of the granularity, at most 24h",
        ));
    }
    let mut parsed = Vec::new();
    for w in windows.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let window = if w == "today" {
            Window::Today
        } else {
            let d = humantime::parse_duration(w).map_err(|e| {
                err(
                    "aggregates.windows",
                    w.to_string(),
                    &format!("{e}; use durations like 15m or `today`"),
                )
            })?;
            if d.as_secs() == 0 || d.as_secs() % g != 0 || d.subsec_nanos() != 0 || d > lookback {
                return Err(err(
                    "aggregates.windows",
                    w.to_string(),
                    "a window must be a multiple of --aggregates.granularity and no longer than --aggregates.lookback",
                ));
            }
            Window::Last(d)
        };
        if parsed.iter().any(|p: &Window| p.label() == window.label()) {
            return Err(err("aggregates.windows", w.to_string(), "given twice"));
        }
        parsed.push(window);
    }
    let timezone: chrono_tz::Tz = timezone.parse().map_err(|_| {
        err(
            "aggregates.timezone",
            timezone.to_string(),
            "not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)",
        )
    })?;
    Ok(AggregatesSettings {
        granularity,
        lookback,
        windows: parsed,
        timezone,
        export,
    })
}

fn read_secret_file(path: &PathBuf) -> Result<String, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::SecretFile {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    // Secret files usually end with a newline (echo, kubectl create secret --from-file).
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(ConfigError::SecretFile {
            path: shown,
            reason: "file is empty".into(),
        });
    }
    Ok(secret)
}

/// `:9464` means every IPv4 interface, like the Go exporters' default.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, ConfigError> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map_err(|_| ConfigError::ListenAddress(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("genesys-exporter").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn a_region_name_sets_both_hosts() {
        let c = Config::from_flags(
            flags(&["--genesys.region=eu_west_1", "--genesys.client-id=abc"]),
            Some("s3cret".into()),
        )
        .unwrap();
        let Target::Org {
            api_url,
            login_url,
            credentials,
        } = c.target
        else {
            panic!()
        };
        assert_eq!(api_url, "https://api.mypurecloud.ie");
        assert_eq!(login_url, "https://login.mypurecloud.ie");
        assert_eq!(credentials.client_id, "abc");
        assert_eq!(c.listen, "0.0.0.0:19464".parse().unwrap());
        assert_eq!(c.observations_interval, Duration::from_secs(15));
        assert_eq!(c.queues_interval, Duration::from_secs(300));
        let (interval, agg) = c.aggregates.unwrap();
        assert_eq!(interval, Duration::from_secs(60));
        assert_eq!(agg.granularity, Duration::from_secs(300));
        assert_eq!(
            agg.windows.iter().map(Window::label).collect::<Vec<_>>(),
            ["15m", "1h", "today"]
        );
        assert_eq!(agg.timezone, chrono_tz::UTC);
    }

    #[test]
    fn aggregate_settings_that_cannot_work_are_refused() {
        for (args, needle) in [
            (
                &["--aggregates.granularity=7m"][..],
                "aggregates.granularity",
            ),
            (&["--aggregates.lookback=7m"][..], "aggregates.lookback"),
            (&["--aggregates.windows=12m"][..], "aggregates.windows"),
            (&["--aggregates.windows=3h"][..], "aggregates.windows"),
            (&["--aggregates.windows=1h,60m"][..], "given twice"),
            (
                &["--aggregates.timezone=Mars/Olympus"][..],
                "aggregates.timezone",
            ),
            (
                &["--aggregates.metrics=handle_secs"][..],
                "choose from all, conversations_offered",
            ),
        ] {
            let mut all = vec!["--demo"];
            all.extend_from_slice(args);
            let err = Config::from_flags(flags(&all), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn demo_spikes_name_a_queue_and_a_delay() {
        let c = Config::from_flags(flags(&["--demo", "--demo.spike=Support @ Home@+90s"]), None)
            .unwrap();
        let Target::Demo {
            spikes, spike_size, ..
        } = c.target
        else {
            panic!()
        };
        assert_eq!(
            spikes,
            vec![Spike {
                queue: "Support @ Home".into(),
                after: Duration::from_secs(90)
            }]
        );
        assert_eq!(spike_size, 60);
        for bad in [
            "--demo.spike=Support",
            "--demo.spike=@+1m",
            "--demo.spike=Support@+soon",
        ] {
            assert!(
                Flags::try_parse_from(["x", "--demo", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_credentials_are_named() {
        let err = Config::from_flags(flags(&[]), Some("x".into())).unwrap_err();
        assert!(err.to_string().contains("GENESYS_CLIENT_ID"), "{err}");
        let err = Config::from_flags(flags(&["--genesys.client-id=a"]), None).unwrap_err();
        assert!(err.to_string().contains("GENESYS_CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn the_secret_file_wins_and_loses_its_newline() {
        let dir = std::env::temp_dir().join(format!("gx-secret-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let c = Config::from_flags(
            flags(&[
                "--genesys.client-id=a",
                &format!("--genesys.client-secret-file={}", dir.display()),
            ]),
            Some("from-env".into()),
        )
        .unwrap();
        std::fs::remove_file(&dir).ok();
        let Target::Org { credentials, .. } = c.target else {
            panic!()
        };
        use secrecy::ExposeSecret;
        assert_eq!(credentials.client_secret.expose_secret(), "from-file");
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_name() {
        for args in [
            &["--collector.observations.interval=soon"][..],
            &["--collector.observations.interval=0s"][..],
            &["--queues.include=("][..],
            &["--genesys.requests-per-minute=0"][..],
        ] {
            let err = Flags::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .unwrap_err()
                .to_string();
            let flag = args[0].split('=').next().unwrap();
            assert!(err.contains(flag), "{err}");
        }
        assert!(matches!(
            parse_listen_address("nope"),
            Err(ConfigError::ListenAddress(_))
        ));
        assert_eq!(parse_listen_address("127.0.0.1:0").unwrap().port(), 0);
    }
}
