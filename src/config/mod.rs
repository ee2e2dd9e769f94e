//! Command-line flags (exporter-toolkit style names), the YAML config file, and the validated
//! configuration.

pub mod file;

use std::collections::BTreeMap;
use std::ffi::OsString;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use regex::Regex;
use secrecy::SecretString;

use crate::collect::observations::{LiveMode, PushSettings};
use crate::collect::queues::{QueueFilter, Shard};
use crate::collect::{SettingError, Settings, REGISTRY};
use crate::genesys::region::UnknownRegion;
use crate::genesys::{Credentials, Region};

#[derive(Debug, Parser)]
#[command(
    name = "genesys-exporter",
    // `genesys-exporter 0.1.0 (revision abc123def456, rustc 1.95.0 (...))`; build.rs sets both.
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (revision ",
        env!("GENESYS_EXPORTER_REVISION"),
        ", ",
        env!("GENESYS_EXPORTER_RUSTC_VERSION"),
        ")"
    ),
    args_override_self = true,
    about = "Prometheus exporter for Genesys Cloud: live queue state and analytics.",
    after_help = "Credentials: GENESYS_CLIENT_ID (or --genesys.client-id, or --genesys.client-id-file) \
                  and GENESYS_CLIENT_SECRET (or --genesys.client-secret-file). They are never read \
                  from other flags."
)]
pub(crate) struct Flags {
    /// YAML file with any of these settings (keys are the flag names); flags override it.
    /// Reloaded on SIGHUP and POST /-/reload.
    #[arg(long = "config.file", value_name = "FILE")]
    pub(crate) config_file: Option<PathBuf>,

    /// Address to listen on for the web interface and telemetry.
    // Port 19464: outside the 9100-9999 exporter range (full since 2023) and, as far as we
    // know, no well-known service's port.
    #[arg(
        long = "web.listen-address",
        default_value = ":19464",
        value_name = "ADDR"
    )]
    pub(crate) listen_address: String,
    /// Exporter-toolkit web configuration (TLS, client certificates, basic auth) in YAML.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub(crate) web_config_file: Option<PathBuf>,
    /// Connections open at once, at most; more wait to be accepted (Prometheus' default).
    #[arg(long = "web.max-connections", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) max_connections: u32,
    /// Enable POST/PUT /-/reload (SIGHUP always reloads). Off by default, as in Prometheus
    /// and Alertmanager: anyone who can reach the port could otherwise make it re-read files.
    #[arg(long = "web.enable-lifecycle")]
    pub(crate) enable_lifecycle: bool,
    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub(crate) telemetry_path: String,

    /// Genesys Cloud region: a domain (mypurecloud.ie, usw2.pure.cloud, …) or a region name
    /// (eu_west_1, us-west-2, …).
    #[arg(
        long = "genesys.region",
        default_value = "mypurecloud.com",
        value_name = "REGION"
    )]
    pub(crate) region: String,
    /// API base URL, overriding the region's (proxies, private endpoints, tests).
    #[arg(long = "genesys.api-url", value_name = "URL")]
    pub(crate) api_url: Option<String>,
    /// Login base URL (token endpoint is <URL>/oauth/token), overriding the region's.
    #[arg(long = "genesys.login-url", value_name = "URL")]
    pub(crate) login_url: Option<String>,
    /// OAuth client id (client credentials grant).
    #[arg(
        long = "genesys.client-id",
        env = "GENESYS_CLIENT_ID",
        hide_env_values = true
    )]
    pub(crate) client_id: Option<String>,
    /// File holding the OAuth client secret (e.g. a mounted Kubernetes secret); takes
    /// precedence over GENESYS_CLIENT_SECRET.
    #[arg(long = "genesys.client-secret-file", value_name = "FILE")]
    pub(crate) client_secret_file: Option<PathBuf>,
    /// File holding the OAuth client id; takes precedence over GENESYS_CLIENT_ID and
    /// --genesys.client-id. With --shard, one Secret can give each shard its own client (the
    /// request budget is per token).
    #[arg(long = "genesys.client-id-file", value_name = "FILE")]
    pub(crate) client_id_file: Option<PathBuf>,
    /// Name of the environment variable holding the OAuth client secret, instead of
    /// GENESYS_CLIENT_SECRET (one variable per org of `orgs:`).
    #[arg(long = "genesys.client-secret-env", value_name = "NAME")]
    pub(crate) client_secret_env: Option<String>,
    /// Client-side request budget shared by all collectors (Genesys allows 300/min per token).
    #[arg(long = "genesys.requests-per-minute", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) requests_per_minute: u32,
    /// Timeout of one API request.
    #[arg(long = "genesys.request-timeout", default_value = "10s", value_parser = parse_interval)]
    pub(crate) request_timeout: Duration,
    /// Retries of one request after 429, 502/503/504, timeouts and connection errors.
    #[arg(long = "genesys.max-retries", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub(crate) max_retries: u32,
    /// Largest API response body accepted; larger ones are refused, not buffered.
    #[arg(long = "genesys.max-response-bytes", default_value_t = 32 * 1024 * 1024)]
    pub(crate) max_response_bytes: usize,

    /// Only watch queues whose name matches this regular expression.
    #[arg(long = "queues.include", value_name = "REGEX", value_parser = parse_regex)]
    pub(crate) queues_include: Option<Regex>,
    /// Do not watch queues whose name matches this regular expression.
    #[arg(long = "queues.exclude", value_name = "REGEX", value_parser = parse_regex)]
    pub(crate) queues_exclude: Option<Regex>,
    /// This exporter's shard, from 0: it watches the queues whose id hashes to it (FNV-1a 64
    /// modulo --total-shards). Org-wide families come from shard 0 only.
    #[arg(long = "shard", default_value_t = 0, value_name = "N")]
    pub(crate) shard: u32,
    /// How many exporters split the org's queues between them (kube-state-metrics style).
    #[arg(long = "total-shards", default_value_t = 1, value_name = "M",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) total_shards: u32,

    /// How live queue state arrives: auto (pushed over notification channels where Genesys
    /// permits, polled for the rest), push (channels only), poll (the observations query only).
    #[arg(long = "live.mode", value_enum, default_value_t = LiveMode::Auto)]
    pub(crate) live_mode: LiveMode,
    /// Notification channels to hold, 1,000 queues each (Genesys allows 20 per OAuth client;
    /// leave room for other integrations). Queues beyond them are polled.
    #[arg(long = "live.max-channels", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) live_max_channels: u32,
    /// How often the observations query replaces pushed state (and counts differences).
    #[arg(long = "live.reconcile-interval", default_value = "5m", value_parser = parse_interval)]
    pub(crate) live_reconcile_interval: Duration,

    /// Run against a built-in simulated Genesys org instead of a real one.
    #[cfg(feature = "demo")]
    #[arg(long = "demo")]
    pub(crate) demo: bool,
    /// Seed of the simulated org's traffic in demo mode.
    #[cfg(feature = "demo")]
    #[arg(long = "demo.seed", default_value_t = 1)]
    pub(crate) demo_seed: u64,
    /// Schedule a burst of arrivals in demo mode: QUEUE_NAME@+DELAY (e.g. "Support - Billing@+2m").
    /// Repeatable.
    #[cfg(feature = "demo")]
    #[arg(long = "demo.spike", value_name = "QUEUE@+DELAY", value_parser = genesys_sim::parse_spike)]
    pub(crate) demo_spikes: Vec<genesys_sim::Spike>,
    /// Queues in the simulated org of demo mode (load tests, scale trials).
    #[cfg(feature = "demo")]
    #[arg(long = "demo.queues", default_value_t = 36,
          value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub(crate) demo_queues: u32,
    /// Conversations each demo spike adds to the queue.
    #[cfg(feature = "demo")]
    #[arg(long = "demo.spike-size", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) demo_spike_size: u32,
    /// In demo mode, one inbound voice caller in three who gives up after 30 s or more leaves
    /// a voicemail instead of abandoning: flow-outs and voicemails in the analytics
    /// (tFlowOut, tVoicemail; see --aggregates.metrics).
    #[cfg(feature = "demo")]
    #[arg(long = "demo.flow-outs")]
    pub(crate) demo_flow_outs: bool,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", default_value = "info", value_enum)]
    pub(crate) log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", default_value = "text", value_enum)]
    pub(crate) log_format: LogFormat,
}

/// `--log.level`: the exporter-toolkit levels, and trace. Anything else is refused, rather
/// than read as a filter directive that silences every log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `--log.format`: logfmt-like text or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The command line: [`Flags`] plus, for every registered collector,
/// `--collector.<name>.interval` and (where it can be turned off) `--no-collector.<name>`, or
/// for an opt-in one `--collector.<name>`.
#[must_use]
pub fn command() -> clap::Command {
    let mut command = Flags::command();
    for r in REGISTRY {
        if let Some(flags) = r.flags {
            command = (flags.args)(command);
        }
        command = command.arg(
            clap::Arg::new(interval_flag(r.name))
                .long(interval_flag(r.name))
                .value_name("DURATION")
                .default_value(r.default_interval)
                .value_parser(parse_interval)
                .help(format!("How often to {}.", r.polls)),
        );
        if let Some(help) = r.disable {
            let flag = switch_flag(r);
            command = command.arg(
                clap::Arg::new(flag.clone())
                    .long(flag)
                    .action(clap::ArgAction::SetTrue)
                    .help(help),
            );
        }
    }
    command
}

/// The flag that switches collector `r` from its default: `--no-collector.<name>` turns a
/// collector off, `--collector.<name>` turns an opt-in one on.
fn switch_flag(r: &crate::collect::Registration) -> String {
    if r.enabled_by_default() {
        disable_flag(r.name)
    } else {
        format!("collector.{}", r.name)
    }
}

fn interval_flag(collector: &str) -> String {
    format!("collector.{collector}.interval")
}

fn disable_flag(collector: &str) -> String {
    format!("no-collector.{collector}")
}

/// Parses a full command line: the flags and the collectors' generated ones.
fn parse(args: &[OsString]) -> Result<(Flags, clap::ArgMatches), ConfigError> {
    let matches = command().try_get_matches_from(args)?;
    let flags = Flags::from_arg_matches(&matches)?;
    Ok((flags, matches))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 15s, 5m, 1h)"))
}

/// Intervals and timeouts: 0s would poll in a busy loop or time every request out.
///
/// # Errors
/// When `s` is not a duration, or is shorter than 100ms.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

fn parse_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| e.to_string())
}

/// Where the exporter gets its data.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A real (or any API-compatible) Genesys Cloud org.
    Org {
        api_url: String,
        login_url: String,
        credentials: Credentials,
    },
    /// The built-in simulated org, started in-process.
    #[cfg(feature = "demo")]
    Demo {
        seed: u64,
        queues: u32,
        spikes: Vec<genesys_sim::Spike>,
        spike_size: u32,
        flow_outs: bool,
    },
}

/// The configuration, parsed once from flags, the config file and the environment: what only
/// a restart applies, and what a reload swaps in whole.
#[derive(Debug, Clone)]
pub struct Config {
    /// The process' settings and, with one org, that org's.
    pub startup: StartupConfig,
    pub live: LiveConfig,
    /// `orgs:` of the config file: when not empty, the orgs watched (each with the top level's
    /// settings under its own), and every series carries `org`.
    pub(crate) orgs: Vec<OrgConfig>,
}

/// One org of `orgs:`: the top level's settings with the entry's over them.
#[derive(Debug, Clone)]
pub(crate) struct OrgConfig {
    pub(crate) name: String,
    pub(crate) startup: StartupConfig,
    pub(crate) live: LiveConfig,
}

/// Settings read once at start-up. A reload compares them and names those that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) telemetry_path: String,
    /// POST/PUT /-/reload allowed.
    pub(crate) enable_lifecycle: bool,
    pub(crate) max_connections: usize,
    pub target: Target,
    pub(crate) request_timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) max_response_bytes: usize,
    /// `--live.*`: push or poll for live queue state.
    pub(crate) push: PushSettings,
    /// Registry names of the collectors that run.
    pub(crate) collectors: Vec<&'static str>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
}

/// Settings a reload replaces while the exporter runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    pub web_config: Option<PathBuf>,
    pub(crate) requests_per_minute: u32,
    /// `--genesys.requests-per-minute` was given (a flag or the config file): the budget
    /// stays as given. Otherwise it may follow the org's own limit, read at start-up.
    pub(crate) requests_per_minute_explicit: bool,
    /// What the collectors read: filters, intervals, aggregates settings.
    pub(crate) collectors: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not a `#[source]`: the message already holds the region's, which a source would repeat
    // in every error chain.
    #[error("--genesys.region: {0}")]
    Region(UnknownRegion),
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
    #[error("no OAuth client id nor secret: set GENESYS_CLIENT_ID (or --genesys.client-id) and GENESYS_CLIENT_SECRET (or --genesys.client-secret-file), or use --demo")]
    MissingCredentials,
    #[error("--genesys.client-secret-file {path}: {reason}")]
    SecretFile { path: String, reason: String },
    #[error("--genesys.client-id-file {path}: {reason}")]
    ClientIdFile { path: String, reason: String },
    #[error("--genesys.client-secret-env {0}: the environment variable is not set or empty")]
    SecretEnv(String),
    #[error("org {name}")]
    Org {
        name: String,
        #[source]
        source: Box<ConfigError>,
    },
    #[error("--genesys.max-response-bytes must be at least 1024")]
    ResponseCap,
    /// A value a collector refuses (`collect::SettingError`).
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
    /// Every finding of one reading (each bad key of the config file, missing credentials),
    /// one a line: fixing them one run at a time would take as many runs.
    #[error("{}", .0.iter().map(|e| crate::ErrorChain(e).to_string()).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
    /// A command-line error; clap renders and exits with it.
    #[error("{0}")]
    Flags(#[from] clap::Error),
}

impl Config {
    /// Flags and, when `--config.file` names one, the YAML file under them: the file's settings
    /// come first on the effective command line, so explicit flags win.
    ///
    /// # Errors
    /// When a flag, the config file or a setting is invalid, or credentials are missing.
    pub fn from_args<I, T>(args: I, env_secret: Option<String>) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        // The command line's own errors come alone, rendered by clap (usage, tips).
        let (flags, matches) = parse(&args)?;
        let mut findings = Vec::new();
        let read = Config::assemble(&args, flags, &matches, env_secret, &mut findings);
        match read {
            Ok(config) if findings.is_empty() => Ok(config),
            Err(e) if findings.is_empty() => Err(e),
            Ok(_) => Err(several(findings)),
            Err(e) => {
                findings.push(e);
                Err(several(findings))
            }
        }
    }

    /// [`Config::from_args`] after the command line parsed: findings that do not stop the
    /// reading (a bad key of the file, missing credentials) go to `findings`, and the
    /// `Config` returned is then incomplete and only good for finding the rest.
    fn assemble(
        args: &[OsString],
        flags: Flags,
        matches: &clap::ArgMatches,
        env_secret: Option<String>,
        findings: &mut Vec<ConfigError>,
    ) -> Result<Config, ConfigError> {
        let Some(path) = flags.config_file.clone() else {
            return Config::from_matches(flags, matches, env_secret, None, findings);
        };
        let file = file::load(&path)?;
        findings.extend(file.findings);
        let mut merged: Vec<OsString> = args.iter().take(1).cloned().collect();
        merged.extend(file.args);
        merged.extend(args.iter().skip(1).cloned());
        let mut orgs = Vec::new();
        for org in file.orgs {
            // The most specific wins: an org's own settings over the flags and the top level.
            let mut own = merged.clone();
            own.extend(org.args);
            let in_org = |source: ConfigError| ConfigError::Org {
                name: org.name.clone(),
                source: Box::new(source),
            };
            let mut own_findings = Vec::new();
            let read = parse(&own).and_then(|(flags, matches)| {
                Config::from_matches(flags, &matches, env_secret.clone(), None, &mut own_findings)
            });
            findings.extend(own_findings.into_iter().map(in_org));
            match read {
                Ok(config) => orgs.push(OrgConfig {
                    name: org.name,
                    startup: config.startup,
                    live: config.live,
                }),
                Err(e) => findings.push(in_org(e)),
            }
        }
        let (flags, matches) = parse(&merged)?;
        // With orgs, the top level need not name an org of its own: its settings are the
        // orgs' defaults and the process'.
        let fallback = orgs.first().map(|o| o.startup.target.clone());
        let mut config = Config::from_matches(flags, &matches, env_secret, fallback, findings)?;
        config.orgs = orgs;
        Ok(config)
    }

    /// Validates a parsed command line; `env_secret` is GENESYS_CLIENT_SECRET (passed in so
    /// tests need not touch the process environment).
    ///
    /// `fallback`: the target to use when the flags name none (the top level of `orgs:`).
    /// A bad region and missing credentials go to `findings` (the target is then a blank
    /// one), so that `check-config` can check a file where no secret is at hand.
    fn from_matches(
        flags: Flags,
        matches: &clap::ArgMatches,
        env_secret: Option<String>,
        fallback: Option<Target>,
        findings: &mut Vec<ConfigError>,
    ) -> Result<Config, ConfigError> {
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
        // Rendered by clap like any other flag error (exit 2, usage); `--total-shards=0` is
        // already refused by its parser.
        let shard = Shard::new(flags.shard, flags.total_shards)
            .map_err(|e| command().error(clap::error::ErrorKind::ValueValidation, e))?;
        #[cfg(feature = "demo")]
        let demo = flags.demo.then(|| Target::Demo {
            seed: flags.demo_seed,
            queues: flags.demo_queues,
            spikes: flags.demo_spikes,
            spike_size: flags.demo_spike_size,
            flow_outs: flags.demo_flow_outs,
        });
        #[cfg(not(feature = "demo"))]
        let demo = None;
        let named = flags.client_id_file.is_some()
            || flags
                .client_id
                .as_ref()
                .is_some_and(|id| !id.trim().is_empty());
        let target = if let Some(demo) = demo {
            demo
        } else if let (false, Some(fallback)) = (named, fallback) {
            fallback
        } else {
            let region = Region::parse(&flags.region).map_err(ConfigError::Region);
            let client_id = match &flags.client_id_file {
                Some(path) => read_client_id_file(path),
                None => flags
                    .client_id
                    .filter(|id| !id.trim().is_empty())
                    .ok_or(ConfigError::MissingClientId),
            };
            let secret = match (&flags.client_secret_file, &flags.client_secret_env) {
                (Some(path), _) => read_secret_file(path),
                (None, Some(name)) => std::env::var(name)
                    .ok()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ConfigError::SecretEnv(name.clone())),
                (None, None) => env_secret
                    .filter(|s| !s.is_empty())
                    .ok_or(ConfigError::MissingClientSecret),
            };
            match (region, client_id, secret) {
                (Ok(region), Ok(client_id), Ok(secret)) => Target::Org {
                    api_url: flags.api_url.unwrap_or_else(|| region.api_url()),
                    login_url: flags.login_url.unwrap_or_else(|| region.login_url()),
                    credentials: Credentials {
                        client_id: client_id.trim().to_string(),
                        client_secret: SecretString::from(secret),
                    },
                },
                (region, client_id, secret) => {
                    findings.extend(region.err());
                    match (client_id, secret) {
                        // Nothing at all is one thing to fix, not two.
                        (
                            Err(ConfigError::MissingClientId),
                            Err(ConfigError::MissingClientSecret),
                        ) => findings.push(ConfigError::MissingCredentials),
                        (client_id, secret) => {
                            findings.extend(client_id.err());
                            findings.extend(secret.err());
                        }
                    }
                    Target::Org {
                        api_url: String::new(),
                        login_url: String::new(),
                        credentials: Credentials {
                            client_id: String::new(),
                            client_secret: SecretString::from(String::new()),
                        },
                    }
                }
            }
        };
        let mut intervals = BTreeMap::new();
        let mut collectors = Vec::new();
        for r in REGISTRY {
            if let Some(interval) = matches.get_one::<Duration>(&interval_flag(r.name)) {
                intervals.insert(r.name, *interval);
            }
            let switched = r.disable.is_some() && matches.get_flag(&switch_flag(r));
            if r.enabled_by_default() != switched {
                collectors.push(r.name);
            }
        }
        Ok(Config {
            startup: StartupConfig {
                listen,
                telemetry_path: path,
                enable_lifecycle: flags.enable_lifecycle,
                max_connections: flags.max_connections as usize,
                target,
                request_timeout: flags.request_timeout,
                max_retries: flags.max_retries,
                max_response_bytes: flags.max_response_bytes,
                push: PushSettings {
                    mode: flags.live_mode,
                    max_channels: flags.live_max_channels as usize,
                    reconcile_interval: flags.live_reconcile_interval,
                },
                collectors,
                log_level: flags.log_level,
                log_format: flags.log_format,
            },
            live: LiveConfig {
                web_config: flags.web_config_file,
                requests_per_minute: flags.requests_per_minute,
                requests_per_minute_explicit: matches.value_source("requests_per_minute")
                    != Some(clap::parser::ValueSource::DefaultValue),
                collectors: Settings {
                    queue_filter: QueueFilter {
                        include: flags.queues_include,
                        exclude: flags.queues_exclude,
                        shard,
                    },
                    intervals,
                    own: Settings::own_from(matches)?,
                },
            },
            orgs: Vec::new(),
        })
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> ConfigError {
        ConfigError::Aggregates {
            flag: e.flag,
            value: e.value,
            reason: e.reason,
        }
    }
}

/// One finding as itself, more as [`ConfigError::Several`].
fn several(mut findings: Vec<ConfigError>) -> ConfigError {
    if findings.len() == 1 {
        findings.remove(0)
    } else {
        ConfigError::Several(findings)
    }
}

/// The checks of values that their flag's parser lets through and that are made once all
/// flags are read: the config file makes them per key, so that its findings name the key
/// (`file: genesys.region: …`) rather than the flag.
pub(crate) fn check_setting(key: &str, value: &str) -> Result<(), String> {
    match key {
        "genesys.region" => Region::parse(value).map(|_| ()).map_err(|e| e.to_string()),
        "web.listen-address" => parse_listen_address(value)
            .map(|_| ())
            .map_err(|_| "expected host:port or :port".to_string()),
        // A collector's own keys are its to check.
        _ => REGISTRY
            .iter()
            .filter_map(|r| r.flags)
            .find_map(|flags| (flags.check)(key, value))
            .unwrap_or(Ok(())),
    }
}

fn format_duration(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

impl Config {
    /// The effective settings under their flag names, secrets redacted: what
    /// `check-config` prints.
    #[must_use]
    pub fn describe(&self) -> Vec<(String, String)> {
        if !self.orgs.is_empty() {
            return self.describe_orgs();
        }
        let mut out = self.startup.describe();
        out.extend(self.live.describe());
        out
    }
}

impl Config {
    /// Several orgs: the process' settings, then each org's under `orgs.<name>.`.
    fn describe_orgs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .startup
            .describe()
            .into_iter()
            .filter(|(k, _)| process_wide(k))
            .collect();
        out.extend(
            self.live
                .describe()
                .into_iter()
                .filter(|(k, _)| process_wide(k)),
        );
        for org in &self.orgs {
            let settings = org
                .startup
                .describe()
                .into_iter()
                .chain(org.live.describe());
            out.extend(
                settings
                    .filter(|(k, _)| !process_wide(k))
                    .map(|(k, v)| (format!("orgs.{}.{k}", org.name), v)),
            );
        }
        out
    }
}

/// Settings of the process (web server, logging) rather than of an org.
fn process_wide(key: &str) -> bool {
    key.starts_with("web.") || key.starts_with("log.")
}

impl StartupConfig {
    /// Like [`StartupConfig::changed_from`], for the process' own settings only (with
    /// several orgs, a reload applies an org's by restarting that org).
    #[must_use]
    pub(crate) fn process_changed_from(&self, running: &StartupConfig) -> Vec<String> {
        let mut changed = self.changed_from(running);
        changed.retain(|k| process_wide(k));
        changed
    }
}

impl StartupConfig {
    /// The start-up settings under their flag names, secrets redacted.
    #[must_use]
    pub(crate) fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<(&str, String)> = vec![
            ("web.listen-address", self.listen.to_string()),
            ("web.telemetry-path", self.telemetry_path.clone()),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.max-connections", self.max_connections.to_string()),
        ];
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
            #[cfg(feature = "demo")]
            Target::Demo {
                seed,
                queues,
                spikes,
                spike_size,
                flow_outs,
            } => {
                out.push(("demo", "true".into()));
                out.push(("demo.seed", seed.to_string()));
                out.push(("demo.queues", queues.to_string()));
                for s in spikes {
                    out.push((
                        "demo.spike",
                        format!("{}@+{}", s.queue, format_duration(&s.after)),
                    ));
                }
                out.push(("demo.spike-size", spike_size.to_string()));
                out.push(("demo.flow-outs", flow_outs.to_string()));
            }
        }
        out.push((
            "genesys.request-timeout",
            format_duration(&self.request_timeout),
        ));
        out.push(("genesys.max-retries", self.max_retries.to_string()));
        out.push((
            "genesys.max-response-bytes",
            self.max_response_bytes.to_string(),
        ));
        out.push(("live.mode", self.push.mode.label().into()));
        out.push(("live.max-channels", self.push.max_channels.to_string()));
        out.push((
            "live.reconcile-interval",
            format_duration(&self.push.reconcile_interval),
        ));
        out.push(("log.level", self.log_level.as_str().into()));
        let format = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        out.push(("log.format", format.into()));
        let mut out: Vec<(String, String)> =
            out.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        for r in REGISTRY.iter().filter(|r| r.disable.is_some()) {
            if self.collectors.contains(&r.name) != r.enabled_by_default() {
                out.push((switch_flag(r), "true".into()));
            }
        }
        out
    }

    /// The settings that differ from `running`'s: a reload leaves them as they were, since
    /// only a restart applies them.
    #[must_use]
    // Without the demo target, a target is always an org.
    #[cfg_attr(not(feature = "demo"), allow(irrefutable_let_patterns))]
    pub(crate) fn changed_from(&self, running: &StartupConfig) -> Vec<String> {
        let before = running.describe();
        let after = self.describe();
        let mut changed: Vec<String> = after
            .iter()
            .filter(|kv| !before.contains(kv))
            .chain(before.iter().filter(|kv| !after.contains(kv)))
            .map(|(k, _)| k.clone())
            .collect();
        // The secret is redacted in both descriptions; compared here.
        if let (Target::Org { credentials: a, .. }, Target::Org { credentials: b, .. }) =
            (&running.target, &self.target)
        {
            if a != b && a.client_id == b.client_id {
                changed.push("genesys.client-secret".into());
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }
}

impl LiveConfig {
    /// The settings a reload may change, under their flag names.
    #[must_use]
    pub(crate) fn describe(&self) -> Vec<(String, String)> {
        let d = format_duration;
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: String| out.push((k.to_string(), v));
        if let Some(path) = &self.web_config {
            push("web.config.file", path.display().to_string());
        }
        push(
            "genesys.requests-per-minute",
            self.requests_per_minute.to_string(),
        );
        for (key, regex) in [
            ("queues.include", &self.collectors.queue_filter.include),
            ("queues.exclude", &self.collectors.queue_filter.exclude),
        ] {
            if let Some(r) = regex {
                push(key, format!("{:?}", r.as_str()));
            }
        }
        let shard = self.collectors.queue_filter.shard;
        push("shard", shard.index().to_string());
        push("total-shards", shard.total().to_string());
        for (name, interval) in &self.collectors.intervals {
            push(&interval_flag(name), d(interval));
        }
        // Each collector's own, in the registry's order.
        for r in REGISTRY {
            if let Some(own) = self.collectors.own.get(r.name) {
                for (key, value) in own.describe() {
                    push(key, value);
                }
            }
        }
        out
    }
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

fn read_client_id_file(path: &PathBuf) -> Result<String, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ClientIdFile {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    // An id holds no whitespace; files usually end with a newline.
    let id = text.trim().to_string();
    if id.is_empty() {
        return Err(ConfigError::ClientIdFile {
            path: shown,
            reason: "file is empty".into(),
        });
    }
    Ok(id)
}

/// `:9464` means every IPv4 interface, like the Go exporters' default.
///
/// # Errors
/// [`ConfigError::ListenAddress`] when it is not `host:port` or `:port`.
pub(crate) fn parse_listen_address(s: &str) -> Result<SocketAddr, ConfigError> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map_err(|_| ConfigError::ListenAddress(s.to_string()))
}

#[cfg(test)]
// Without the demo target, a `Target` is always an org.
#[cfg_attr(not(feature = "demo"), allow(irrefutable_let_patterns))]
mod tests {
    use super::*;
    use crate::collect::aggregates::{AggregatesSettings, Window};
    use crate::collect::observations::ObservedSet;

    /// The configuration of a command line (without the program name).
    fn from_flags(args: &[&str], env_secret: Option<String>) -> Result<Config, ConfigError> {
        Config::from_args(
            std::iter::once("genesys-exporter").chain(args.iter().copied()),
            env_secret,
        )
    }

    #[test]
    fn a_region_name_sets_both_hosts() {
        let c = from_flags(
            &["--genesys.region=eu_west_1", "--genesys.client-id=abc"],
            Some("s3cret".into()),
        )
        .unwrap();
        let Target::Org {
            api_url,
            login_url,
            credentials,
        } = c.startup.target
        else {
            panic!()
        };
        assert_eq!(api_url, "https://api.mypurecloud.ie");
        assert_eq!(login_url, "https://login.mypurecloud.ie");
        assert_eq!(credentials.client_id, "abc");
        assert_eq!(c.startup.listen, "0.0.0.0:19464".parse().unwrap());
        let collectors = &c.live.collectors;
        assert_eq!(collectors.interval("observations"), Duration::from_secs(15));
        assert_eq!(collectors.interval("queues"), Duration::from_secs(300));
        assert_eq!(collectors.interval("aggregates"), Duration::from_secs(60));
        assert_eq!(
            c.startup.collectors,
            ["queues", "observations", "activity", "aggregates"]
        );
        let agg = c
            .live
            .collectors
            .of::<AggregatesSettings>()
            .cloned()
            .expect("the aggregates collector's settings");
        assert_eq!(agg.granularity, Duration::from_secs(300));
        assert_eq!(
            agg.windows.iter().map(Window::label).collect::<Vec<_>>(),
            ["today"],
            "rolling windows are one flag away; increase() over the counters gives them"
        );
        assert_eq!(agg.timezone, chrono_tz::UTC);
        assert_eq!(
            c.live.collectors.of::<ObservedSet>(),
            Some(&ObservedSet::ALL)
        );
    }

    #[test]
    #[cfg(feature = "demo")]
    fn the_optional_live_families_are_chosen_by_name() {
        use crate::collect::observations::Observed;
        let observed = |arg: &str| {
            Config::from_args(["genesys-exporter", "--demo", arg], None).map(|c| {
                c.live
                    .collectors
                    .of::<ObservedSet>()
                    .copied()
                    .expect("the observations collector's settings")
            })
        };
        assert_eq!(
            observed("--observations.metrics=presence_users,member_users").unwrap(),
            ObservedSet::NONE
                .with(Observed::PresenceUsers)
                .with(Observed::MemberUsers)
        );
        assert_eq!(
            observed("--observations.metrics=none").unwrap(),
            ObservedSet::NONE
        );
        let e = observed("--observations.metrics=presences")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("observations.metrics") && e.contains("presence_users"),
            "names the flag and the choices: {e}"
        );
    }

    #[test]
    #[cfg(feature = "demo")]
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
                "choose from all, default, conversations_offered",
            ),
        ] {
            let mut all = vec!["--demo"];
            all.extend_from_slice(args);
            let err = from_flags(&all, None).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    #[cfg(feature = "demo")]
    fn demo_spikes_name_a_queue_and_a_delay() {
        let c = from_flags(&["--demo", "--demo.spike=Support @ Home@+90s"], None).unwrap();
        let Target::Demo {
            spikes, spike_size, ..
        } = c.startup.target
        else {
            panic!()
        };
        assert_eq!(
            spikes,
            vec![genesys_sim::Spike {
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
            assert!(from_flags(&["--demo", bad], None).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_credentials_are_named() {
        let err = from_flags(&[], Some("x".into())).unwrap_err();
        assert!(err.to_string().contains("GENESYS_CLIENT_ID"), "{err}");
        let err = from_flags(&["--genesys.client-id=a"], None).unwrap_err();
        assert!(err.to_string().contains("GENESYS_CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn the_secret_file_wins_and_loses_its_newline() {
        let dir = std::env::temp_dir().join(format!("gx-secret-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let c = from_flags(
            &[
                "--genesys.client-id=a",
                &format!("--genesys.client-secret-file={}", dir.display()),
            ],
            Some("from-env".into()),
        )
        .unwrap();
        std::fs::remove_file(&dir).ok();
        let Target::Org { credentials, .. } = c.startup.target else {
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
            &["--genesys.request-timeout=0s"][..],
            &["--log.level=warning"][..],
        ] {
            let err = from_flags(args, Some("s".into())).unwrap_err().to_string();
            let flag = args[0].split('=').next().unwrap();
            assert!(err.contains(flag), "{err}");
        }
        assert!(matches!(
            parse_listen_address("nope"),
            Err(ConfigError::ListenAddress(_))
        ));
        assert_eq!(parse_listen_address("127.0.0.1:0").unwrap().port(), 0);
    }

    /// A config file with `text` in a fresh temporary path, and a secret file beside it.
    fn orgs_file(text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "gx-orgs-config-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("acme.secret");
        std::fs::write(&secret, "acme-secret\n").unwrap();
        let path = dir.join("config.yml");
        std::fs::write(
            &path,
            text.replace("SECRET_FILE", &secret.display().to_string()),
        )
        .unwrap();
        (path, secret)
    }

    #[test]
    fn orgs_take_the_top_level_as_defaults_and_their_own_settings_over_it() {
        // A variable no other test uses.
        std::env::set_var("GX_TEST_GLOBEX_SECRET", "globex-secret");
        let (path, _) = orgs_file(
            "genesys.requests_per_minute: 120\nqueues.include: '^Support'\norgs:\n  - name: acme\n    genesys: {region: mypurecloud.ie, client_id: acme-id, client_secret_file: SECRET_FILE}\n  - name: globex\n    genesys: {region: usw2.pure.cloud, client_id: globex-id, client_secret_env: GX_TEST_GLOBEX_SECRET, requests_per_minute: 250}\n",
        );
        let config = from_flags(&[&format!("--config.file={}", path.display())], None).unwrap();
        let orgs: Vec<(&str, &str, u32, Option<&str>)> = config
            .orgs
            .iter()
            .map(|o| {
                let Target::Org { api_url, .. } = &o.startup.target else {
                    panic!("an org target")
                };
                (
                    o.name.as_str(),
                    api_url.as_str(),
                    o.live.requests_per_minute,
                    o.live
                        .collectors
                        .queue_filter
                        .include
                        .as_ref()
                        .map(Regex::as_str),
                )
            })
            .collect();
        assert_eq!(
            orgs,
            vec![
                ("acme", "https://api.mypurecloud.ie", 120, Some("^Support")),
                (
                    "globex",
                    "https://api.usw2.pure.cloud",
                    250,
                    Some("^Support")
                ),
            ]
        );
        let secrets: Vec<String> = config
            .orgs
            .iter()
            .map(|o| match &o.startup.target {
                Target::Org { credentials, .. } => {
                    secrecy::ExposeSecret::expose_secret(&credentials.client_secret).to_string()
                }
                #[cfg(feature = "demo")]
                Target::Demo { .. } => String::new(),
            })
            .collect();
        assert_eq!(secrets, vec!["acme-secret", "globex-secret"]);
        // check-config: each org's settings under its name, no secret.
        let described = config.describe();
        assert!(described.contains(&(
            "orgs.globex.genesys.requests-per-minute".to_string(),
            "250".to_string()
        )));
        assert!(described
            .iter()
            .all(|(_, v)| !v.contains("secret\n") && v != "globex-secret"));
    }

    #[test]
    fn an_org_without_credentials_is_named() {
        let (path, _) = orgs_file(
            "orgs:\n  - name: acme\n    genesys: {client_id: acme-id, client_secret_file: SECRET_FILE}\n  - name: globex\n    genesys: {client_id: globex-id, client_secret_env: GX_TEST_UNSET_VARIABLE}\n",
        );
        let err = from_flags(&[&format!("--config.file={}", path.display())], None).unwrap_err();
        let text = crate::ErrorChain(&err).to_string();
        assert!(
            text.contains("org globex") && text.contains("GX_TEST_UNSET_VARIABLE"),
            "{text}"
        );
    }
}
