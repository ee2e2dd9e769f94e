//! genesys-exporter: parse flags and the config file, start the exporter, run until
//! SIGTERM/SIGINT; SIGHUP reloads the configuration.
//!
//! `genesys-exporter check-config [flags]` validates the configuration and prints the
//! effective settings, secrets redacted.
//!
//! `genesys-exporter healthcheck [--url URL]` asks a running exporter's `/-/healthy` and exits
//! 0 on a 200, 1 otherwise: the container image's HEALTHCHECK, which has no curl.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use genesys_exporter::app::{Exporter, Options, StartError};
use genesys_exporter::config::{parse_interval, Config, ConfigError, LogFormat, LogLevel};
use genesys_exporter::genesys::ApiError;
use genesys_exporter::ErrorChain;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    ignore_sighup_until_handled();
    tune_the_allocator();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // clap owns the subcommands (their help, `help`, `help SUBCOMMAND`, misspellings); each
    // then reads its own arguments as before, the exporter's flags staying at the top level.
    let matches = cli()
        .try_get_matches_from(&args)
        .unwrap_or_else(|e| e.exit());
    let check_only = match matches.subcommand() {
        Some(("simulate", _)) => return simulate(args.split_off(2)),
        Some(("healthcheck", flags)) => return healthcheck(flags),
        Some(("check-config", _)) => {
            args.remove(1);
            true
        }
        _ => false,
    };
    let config = match load(&args) {
        Ok(c) => c,
        Err(ConfigError::Flags(e)) => e.exit(),
        Err(e) => {
            // Each finding on a line of its own (ConfigError::Several).
            for line in ErrorChain(&e).to_string().lines() {
                eprintln!("genesys-exporter: {line}");
            }
            return ExitCode::from(2);
        }
    };
    if check_only {
        if let Some(path) = &config.live.web_config {
            if let Err(e) = genesys_exporter::web::WebGuard::load(path) {
                eprintln!("genesys-exporter: --web.config.file: {}", ErrorChain(&e));
                return ExitCode::from(2);
            }
        }
        println!("# Effective configuration (secrets redacted)");
        for (key, value) in config.describe() {
            println!("{key}: {value}");
        }
        return ExitCode::SUCCESS;
    }
    // Logging follows the one parse of flags and config file.
    init_logging(config.startup.log_level, config.startup.log_format);
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("genesys-exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, args))
}

/// The whole command line: the exporter's flags, and the subcommands beside them (never
/// mixed with them, as `check-config` always had to come first).
fn cli() -> clap::Command {
    let exporter = genesys_exporter::config::command();
    exporter
        .clone()
        .args_conflicts_with_subcommands(true)
        .subcommand(
            exporter
                .name("check-config")
                .about("Check the flags and the config file (every finding at once, exit 2 if any); print the effective settings.")
                .disable_version_flag(true),
        )
        .subcommand(
            <HealthcheckFlags as clap::CommandFactory>::command()
                .name("healthcheck")
                .disable_version_flag(true),
        )
        .subcommand(simulate_command())
}

#[cfg(feature = "demo")]
fn simulate_command() -> clap::Command {
    genesys_sim::cli::command()
        .name("simulate")
        .about("Run a simulated Genesys Cloud org on loopback (what --demo runs in-process).")
}

/// Without the simulator the subcommand stays, hidden, to say why it does nothing.
#[cfg(not(feature = "demo"))]
fn simulate_command() -> clap::Command {
    clap::Command::new("simulate")
        .hide(true)
        .disable_help_flag(true)
        .arg(
            clap::Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true),
        )
}

/// `genesys-exporter simulate ARGS`: the simulated org's own command line (`genesys-sim`).
#[cfg(feature = "demo")]
fn simulate(args: Vec<OsString>) -> ExitCode {
    match runtime() {
        Ok(runtime) => runtime.block_on(genesys_sim::cli::run("genesys-exporter simulate", args)),
        Err(e) => {
            eprintln!("genesys-exporter simulate: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "demo"))]
fn simulate(_args: Vec<OsString>) -> ExitCode {
    eprintln!(
        "genesys-exporter simulate: this build has no simulator (built without the `demo` feature)"
    );
    ExitCode::from(2)
}

/// The flags of `genesys-exporter healthcheck`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "healthcheck",
    about = "Exit 0 if the exporter at --url answers 200, else 1 (a container HEALTHCHECK)."
)]
struct HealthcheckFlags {
    /// The exporter's liveness endpoint; match it to --web.listen-address (https:// when
    /// --web.config.file enables TLS).
    #[arg(
        long,
        env = "GENESYS_EXPORTER_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:19464/-/healthy",
        value_name = "URL"
    )]
    url: String,
    /// How long to wait for the answer, connecting included (at least 100ms, as every
    /// timeout).
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_interval)]
    timeout: Duration,
}

/// `genesys-exporter healthcheck [--url URL] [--timeout 2s]`, its flags parsed by [`cli`].
fn healthcheck(matches: &clap::ArgMatches) -> ExitCode {
    let flags = <HealthcheckFlags as clap::FromArgMatches>::from_arg_matches(matches)
        .unwrap_or_else(|e| e.exit());
    let probed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|rt| rt.block_on(probe_healthy(&flags.url, flags.timeout)));
    match probed {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("genesys-exporter healthcheck: {}: {why}", flags.url);
            ExitCode::FAILURE
        }
    }
}

/// One GET of `url`: `Ok` for a 200, else why not.
async fn probe_healthy(url: &str, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // The exporter's own listener, never through a proxy from the environment.
        .no_proxy()
        // With TLS on, the certificate names the service, not 127.0.0.1, and may be signed by
        // a private CA: liveness is the question here, not the certificate (nor a secret).
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| ErrorChain(&e).to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(()),
        status => Err(format!("answered {status}")),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Two glibc settings, both about memory that was freed but not given back.
///
/// /metrics bodies are megabytes at thousands of queues and are freed on whichever thread
/// drops the last response holding them. glibc raises its mmap threshold to the largest block
/// freed so far, after which such blocks come from per-thread arenas that keep their pages:
/// 32 plain-text scrapers of 1,000 queues (`scripts/load-test.sh 1000 20 32`) took the exporter
/// to 453 MiB, against 161 MiB with a fixed threshold. Blocks from 1 MiB up stay mmapped and go
/// back to the OS when freed.
///
/// And at most two arenas (glibc's default is eight per core): each arena keeps the pages of
/// its own highest peak, so with many the RSS settles at the sum of every thread's worst
/// moment, reached in steps as a scrape's encoding and an analytics refresh peak on different
/// threads at once. At 5,000 queues with every quantity on, two arenas settled 26 MiB lower
/// over an hour; allocators that give freed pages back (jemalloc, mimalloc) were lower between
/// refreshes but not level, every refresh's peak on top (docs/performance.md, "Memory over an
/// hour"). An operator's `MALLOC_ARENA_MAX` wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_the_allocator() {
    let arenas_set = std::env::var_os("MALLOC_ARENA_MAX").is_some();
    // SAFETY: mallopt only tunes the allocator, and runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        if !arenas_set {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_the_allocator() {}

/// SIGHUP's default action ends the process: one sent while the exporter starts (a config
/// manager reloading right after a deploy) killed it. It is ignored from the first instruction
/// until the reload handler is installed, which then replaces this.
#[cfg(unix)]
fn ignore_sighup_until_handled() {
    // SAFETY: SIG_IGN for SIGHUP, before any other thread exists; no handler code runs.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn ignore_sighup_until_handled() {}

/// Flags, the config file they name, and the secret from the environment, read afresh each
/// time (start-up and every reload).
fn load(args: &[OsString]) -> Result<Config, ConfigError> {
    Config::from_args(
        args.iter().cloned(),
        std::env::var("GENESYS_CLIENT_SECRET").ok(),
    )
}

async fn run(config: Config, args: Vec<OsString>) -> ExitCode {
    // Before anything starts: a SIGHUP or SIGTERM from here on waits for the exporter.
    let signals = Signals::install();
    let options = Options {
        reload_from: Some(Arc::new(move || load(&args))),
        ..Options::default()
    };
    let exporter = match Exporter::start_with(config, options).await {
        Ok(e) => e,
        // A configuration the checks could not see without loading it (the web config's
        // files, the API URLs) exits 2, as check-config does for it.
        Err(e @ (StartError::WebConfig(_) | StartError::Client(ApiError::BadUrl { .. }))) => {
            eprintln!("genesys-exporter: {}", ErrorChain(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("genesys-exporter: {}", ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    let signal = signals.wait(&exporter).await;
    tracing::info!(signal, "shutting down");
    exporter.shutdown().await;
    ExitCode::SUCCESS
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level.as_str()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The process' signal streams, installed once.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(term), Ok(hup)) => Some((term, hup)),
                _ => {
                    tracing::warn!("cannot handle SIGTERM/SIGHUP; stop with Ctrl-C");
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Reloads on SIGHUP until SIGTERM or SIGINT arrives; returns the stopping signal's name.
    async fn wait(self, exporter: &Exporter) -> &'static str {
        #[cfg(unix)]
        if let Some((mut term, mut hup)) = self.streams {
            loop {
                tokio::select! {
                    _ = term.recv() => return "SIGTERM",
                    _ = tokio::signal::ctrl_c() => return "SIGINT",
                    _ = hup.recv() => {
                        // Failures are logged and counted by the reloader; the old config stays.
                        let _ = exporter.reload().await;
                    }
                }
            }
        }
        let _ = exporter;
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
