//! `genesys-sim` (also `genesys-exporter simulate`): the simulated org as a standalone server on
//! the realtime clock, for trying the exporter (or any Genesys client) without a Genesys org.
//!
//! With one org (the default) the first line on stdout is `api-url=<URL> login-url=<URL>`.
//! With `--orgs N` (N > 1) the process runs N independent orgs, each its own server, and prints
//! one line per org, in order, once every org listens:
//! `org=<name> api-url=<URL> login-url=<URL> client-id=<ID>` (never the secret). The servers
//! then run until SIGTERM or SIGINT and the process exits 0. Usage errors exit 2.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use futures_util::future::join_all;

use super::{
    org_name, parse_spike, Demand, Endpoint, Fault, Refusal, SimClock, SimConfig, SimOrg, Spike,
};

/// Most orgs one process runs: each is a full model with its own tasks, and 100 is already far
/// more than any test or demo of a multi-org exporter needs.
const MAX_ORGS: u16 = 100;
/// Queues per org when `--queues` is not given.
const DEFAULT_QUEUES: u32 = 36;
/// Most queues per org (the model's tested scale).
const MAX_QUEUES: u32 = 20_000;

/// Run a simulated Genesys Cloud org (token, routing queues, observations, activity,
/// aggregates, flow activity, notification channels and their WebSocket) on loopback. Credentials: GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET.
///
/// With --orgs N (N > 1), N independent orgs named org01..orgNN, each on its own port: org i
/// has seed SEED+i-1 and accepts only client id "$GENESYS_CLIENT_ID-<name>" with secret
/// "$GENESYS_CLIENT_SECRET-<name>" (e.g. "sim-org02"). stdout then has one line per org:
/// "org=<name> api-url=<URL> login-url=<URL> client-id=<ID>".
#[derive(Debug, Parser)]
#[command(name = "genesys-sim")]
struct Args {
    /// Address to listen on (port 0 picks a free port; see the first line on stdout). With
    /// --orgs N and a non-zero PORT, the orgs listen on PORT, PORT+1, ..., PORT+N-1.
    #[arg(long = "listen", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// Number of independent simulated orgs, each its own server on its own port.
    #[arg(long = "orgs", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_ORGS)))]
    orgs: u16,
    /// Seed of the traffic model: same seed, same org (with --orgs, org i gets SEED+i-1).
    #[arg(long = "seed", default_value_t = 1)]
    seed: u64,
    /// Number of queues (1-20000): one number for every org, or with --orgs N a
    /// comma-separated list of N numbers, one per org (e.g. 250,100,36).
    #[arg(long = "queues", value_name = "N[,N...]", default_value = "36",
          value_parser = parse_queue_sizes)]
    queues: QueueSizes,
    /// Agents per queue.
    #[arg(long = "agents-per-queue", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    agents_per_queue: u32,
    /// A burst of arrivals: QUEUE_NAME@+DELAY (e.g. "Support - Billing@+10m"). Repeatable.
    /// With --orgs, it hits every org that has a queue of that name.
    #[arg(long = "spike", value_name = "QUEUE@+DELAY", value_parser = parse_spike)]
    spikes: Vec<Spike>,
    /// Conversations each spike adds to its queue.
    #[arg(long = "spike-size", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    spike_size: u32,
    /// One inbound voice caller in three who gives up after 30 s or more leaves a voicemail
    /// instead of abandoning (tFlowOut, tVoicemail instead of tAbandon; oFlow VOICEMAIL while
    /// the message is being recorded).
    #[arg(long = "flow-outs")]
    flow_outs: bool,
    /// Traffic run before the start, so the org is busy at once and its analytics have that
    /// much history (at most 26h): give it the exporter's look-back (2h) to measure the
    /// exporter's memory with its look-back full from the start, as with a real org.
    #[arg(long = "history", value_name = "DURATION", default_value = "20m",
          value_parser = parse_history)]
    history: std::time::Duration,
    /// How busy the org is: "daily" follows the business hour (a weekday's mid-morning peak
    /// is 1.0, the night a few hundredths, the weekend 0.45 of the weekday), "peak" holds it
    /// at 1.0 at every hour, a number (0-3) at that level. Benchmarks hold it, so that what
    /// they measure does not depend on the hour they run at.
    #[arg(long = "demand", value_name = "daily|peak|LEVEL", default_value = "daily",
          value_parser = parse_demand)]
    demand: Demand,
    /// Faults for the next calls: [ORG/]ENDPOINT:FAULT[xCOUNT],... e.g.
    /// "observations:503x5,queues:429x3,token:reset,aggregates:delay=3s,any:malformed".
    /// Endpoints: token, queues, observations, activity, aggregates, flowactivity, channels, subscriptions,
    /// estimatedwait, limits, websocket, any. Faults: an HTTP status (400-599; 429 sends Retry-After: 1), reset,
    /// delay=DURATION, malformed, oversized=BYTES, mangled, stripped, invalid_counts; for subscriptions also
    /// rejected (topics answered Rejected with missingPermissions); for websocket also
    /// socket_closing, drop, stall, which replace the next frame a connected notification
    /// socket would send (e.g. "channels:403" refuses channel creation, "websocket:dropx3"
    /// drops the next three sockets). An item applies to every org unless prefixed with an
    /// org's name and a slash (e.g. "org02/observations:503x5"). Repeatable.
    #[arg(long = "faults", value_name = "SPEC", value_parser = parse_faults)]
    faults: Vec<FaultSpec>,
    /// Aggregates metrics the org refuses, comma-separated (e.g. "tAnswered,nOffered"): every
    /// aggregates query that asks for one of them answers 400 bad.request, as Genesys does for
    /// a metric retired, renamed or not enabled for an org. In every org.
    #[arg(long = "refuse-metrics", value_name = "METRIC[,METRIC...]",
          value_delimiter = ',', value_parser = parse_refused_metric)]
    refuse_metrics: Vec<String>,
    /// How a refused metric's 400 reads: "named" (the message names the metric) or "generic"
    /// (Genesys' generic bad request text, naming nothing).
    #[arg(long = "refusal", value_name = "named|generic", default_value = "named",
          value_parser = parse_refusal)]
    refusal: Refusal,
}

/// One `--refuse-metrics` item: an aggregates metric the simulated org answers.
fn parse_refused_metric(s: &str) -> Result<String, String> {
    let s = s.trim();
    if super::aggregates::models_metric(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an aggregates metric the simulated org answers (e.g. tAnswered, nOffered)"
        ))
    }
}

fn parse_refusal(s: &str) -> Result<Refusal, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "named" => Ok(Refusal::Named),
        "generic" => Ok(Refusal::Generic),
        other => Err(format!("{other:?}: expected named or generic")),
    }
}

/// Parsed `--queues`: one size for every org, or one per org; never empty.
#[derive(Debug, Clone, PartialEq)]
struct QueueSizes(Vec<u32>);

/// One number, or comma-separated numbers, each 1..=`MAX_QUEUES`.
fn parse_history(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d > std::time::Duration::from_secs(26 * 3600) {
        return Err("at most 26h: the simulated org keeps 26 hours of ended conversations".into());
    }
    Ok(d)
}

fn parse_demand(s: &str) -> Result<Demand, String> {
    match s.trim() {
        "daily" => Ok(Demand::Daily),
        "peak" => Ok(Demand::Fixed(1.0)),
        other => match other.parse::<f64>() {
            Ok(level) if (0.0..=3.0).contains(&level) => Ok(Demand::Fixed(level)),
            _ => Err(format!(
                "{other:?}: expected daily, peak or a level from 0 to 3 (1 = the weekday peak)"
            )),
        },
    }
}

fn parse_queue_sizes(s: &str) -> Result<QueueSizes, String> {
    s.split(',')
        .map(|item| {
            let item = item.trim();
            match item.parse::<u32>() {
                Ok(n @ 1..=MAX_QUEUES) => Ok(n),
                _ => Err(format!(
                    "{item:?}: expected a number of queues 1-{MAX_QUEUES}, or a comma-separated \
                     list of them, one per org (e.g. 250,100,36)"
                )),
            }
        })
        .collect::<Result<Vec<u32>, String>>()
        .map(QueueSizes)
}

/// One `--faults` item: `count` times `fault` on `endpoint`, in one org or all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultItem {
    /// The org it applies to, counted from 1 (`org02/...` = 2); `None` = every org.
    pub org: Option<usize>,
    pub endpoint: Endpoint,
    pub fault: Fault,
    pub count: u32,
}

/// Parsed `--faults`: its items in the given order.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec(pub Vec<FaultItem>);

impl FaultSpec {
    /// What org `index` (counted from 1) gets, in the given order: the unprefixed items and
    /// those prefixed with that org. The order matters when an `any` item and an endpoint's
    /// own item meet on the same call.
    #[must_use]
    pub fn for_org(&self, index: usize) -> Vec<(Endpoint, Fault, u32)> {
        self.0
            .iter()
            .filter(|i| i.org.is_none_or(|o| o == index))
            .map(|i| (i.endpoint, i.fault.clone(), i.count))
            .collect()
    }
}

/// `[ORG/]ENDPOINT:FAULT[xCOUNT]` items, comma-separated; ORG is an org's name (`org02`; the
/// zero padding is optional, so `org2` is the same org).
///
/// # Errors
///
/// Fails (with a message naming the offending item) if an item is empty, has no `:`, names an
/// unknown endpoint or fault, gives a fault a value it does not take (or a bad value), has a
/// count of 0 or one too large for a `u32`, or has an org prefix that is not `org` and a
/// number 1-100. Whether the org exists is checked against `--orgs` later.
pub fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("empty item in {s:?}"));
        }
        let parsed = parse_org_prefix(item).and_then(|(org, rest)| {
            let (endpoint, fault, count) = parse_fault_item(rest)?;
            Ok(FaultItem {
                org,
                endpoint,
                fault,
                count,
            })
        });
        out.push(parsed.map_err(|e| format!("{item:?}: {e}"))?);
    }
    Ok(FaultSpec(out))
}

/// Splits an optional `ORG/` off an item. No endpoint or fault contains a `/`, so the first
/// one can only end an org prefix.
fn parse_org_prefix(item: &str) -> Result<(Option<usize>, &str), String> {
    let Some((org, rest)) = item.split_once('/') else {
        return Ok((None, item));
    };
    let org = org.trim();
    let number = org
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("org"))
        .and_then(|_| org.get(3..))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=usize::from(MAX_ORGS)).contains(n));
    match number {
        Some(n) => Ok((Some(n), rest)),
        None => Err(format!(
            "{org:?} is not an org: expected ORG/ENDPOINT:FAULT with ORG org01-org{MAX_ORGS}, \
             e.g. org02/observations:503x5"
        )),
    }
}

fn parse_fault_item(item: &str) -> Result<(Endpoint, Fault, u32), String> {
    let (endpoint, rest) = item
        .split_once(':')
        .ok_or("expected ENDPOINT:FAULT[xCOUNT], e.g. observations:503x5")?;
    let endpoint = match endpoint.trim().to_ascii_lowercase().as_str() {
        "token" => Endpoint::Token,
        "queues" => Endpoint::Queues,
        "observations" => Endpoint::Observations,
        "activity" => Endpoint::Activity,
        "aggregates" => Endpoint::Aggregates,
        "flowactivity" => Endpoint::FlowActivity,
        "details" => Endpoint::Details,
        "channels" => Endpoint::Channels,
        "subscriptions" => Endpoint::Subscriptions,
        "estimatedwait" => Endpoint::EstimatedWait,
        "limits" => Endpoint::Limits,
        "websocket" => Endpoint::WebSocket,
        "any" => Endpoint::Any,
        other => {
            return Err(format!(
                "unknown endpoint {other:?} (token, queues, observations, activity, aggregates, \
                 flowactivity, details, channels, subscriptions, estimatedwait, limits, websocket, any)"
            ))
        }
    };
    let rest = rest.trim();
    // The count suffix: the last 'x' followed by digits only.
    let (fault, count) = match rest.rsplit_once('x') {
        Some((f, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let count: u32 = n.parse().map_err(|_| format!("count {n:?} is too large"))?;
            if count == 0 {
                return Err("the count must be at least 1".into());
            }
            (f, count)
        }
        _ => (rest, 1),
    };
    let fault = parse_fault(fault)?;
    if fault.is_push() && endpoint != Endpoint::WebSocket {
        return Err(
            "socket_closing, drop, stall, garbage and binary are for the websocket endpoint".into(),
        );
    }
    if fault == Fault::Rejected && endpoint != Endpoint::Subscriptions {
        return Err("rejected is for the subscriptions endpoint".into());
    }
    if matches!(fault, Fault::ExpiresPast | Fault::SameId) && endpoint != Endpoint::Channels {
        return Err("expires_past and same_id are for the channels endpoint".into());
    }
    if endpoint == Endpoint::WebSocket
        && matches!(
            fault,
            Fault::Malformed
                | Fault::Oversized(_)
                | Fault::Mangled
                | Fault::Stripped
                | Fault::InvalidCounts
        )
    {
        return Err("the websocket endpoint takes an HTTP status, reset, delay, socket_closing, drop or stall".into());
    }
    Ok((endpoint, fault, count))
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    let (name, value) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (s, None),
    };
    let no_value = |f: Fault| match value {
        None => Ok(f),
        Some(_) => Err(format!("fault {name:?} takes no value")),
    };
    match name.to_ascii_lowercase().as_str() {
        "reset" => no_value(Fault::Reset),
        "malformed" => no_value(Fault::Malformed),
        "mangled" => no_value(Fault::Mangled),
        "stripped" => no_value(Fault::Stripped),
        "invalid_counts" | "invalid-counts" => no_value(Fault::InvalidCounts),
        "socket_closing" | "socket-closing" => no_value(Fault::SocketClosing),
        "drop" => no_value(Fault::Drop),
        "stall" => no_value(Fault::Stall),
        "rejected" => no_value(Fault::Rejected),
        "expires_past" | "expires-past" => no_value(Fault::ExpiresPast),
        "same_id" | "same-id" => no_value(Fault::SameId),
        "garbage" => no_value(Fault::Garbage),
        "binary" => no_value(Fault::Binary),
        "delay" => {
            let v = value.ok_or("delay needs a duration, e.g. delay=3s")?;
            humantime::parse_duration(v)
                .map(Fault::Delay)
                .map_err(|e| format!("delay {v:?}: {e} (examples: 500ms, 3s)"))
        }
        "oversized" => {
            let v = value.ok_or("oversized needs a size in bytes, e.g. oversized=20000000")?;
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Fault::Oversized(n)),
                _ => Err(format!("oversized={v}: expected a positive number of bytes")),
            }
        }
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            if value.is_some() {
                return Err(format!("status {n} takes no value"));
            }
            match n.parse::<u16>() {
                Ok(status @ 400..=599) => Ok(Fault::Status {
                    status,
                    retry_after_secs: (status == 429).then_some(1),
                }),
                _ => Err(format!("status {n}: expected an HTTP error status 400-599")),
            }
        }
        "" => Err("the fault is empty".into()),
        other => Err(format!(
            "unknown fault {other:?} (an HTTP status, reset, delay=DURATION, malformed, oversized=BYTES, mangled, stripped, rejected, socket_closing, drop, stall)"
        )),
    }
}

/// Runs the simulated org(s) until SIGTERM or SIGINT: `program` is the name messages carry
/// (`genesys-sim`, or `genesys-exporter simulate` when the exporter delegates here), `args` the
/// arguments after it.
/// The command line [`run`] parses, for a host program that lists it as a subcommand of its
/// own (`genesys-exporter help simulate`).
#[must_use]
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

pub async fn run(program: &str, args: Vec<OsString>) -> ExitCode {
    let argv = std::iter::once(OsString::from(program)).chain(args);
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(client_id), Some(client_secret)) =
        (env("GENESYS_CLIENT_ID"), env("GENESYS_CLIENT_SECRET"))
    else {
        eprintln!(
            "{program}: set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET \
             (the simulated org accepts only these credentials; with --orgs, each org \
             these with -<org name> appended)"
        );
        return ExitCode::from(2);
    };
    let plans = match plan(&args, client_id, client_secret) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{program}: {e}");
            return ExitCode::from(2);
        }
    };
    serve(program, &args, plans).await
}

/// A command line that parses but asks for something impossible (exit 2).
#[derive(Debug, PartialEq, thiserror::Error)]
enum UsageError {
    #[error(
        "--queues: {given} sizes for --orgs {orgs} \
         (give one size for every org, or a comma-separated list of one per org)"
    )]
    QueueCount { given: usize, orgs: usize },
    #[error(
        "--listen port {port}: --orgs {orgs} needs {orgs} ports from it, past 65535 \
         (use port 0 for free ports)"
    )]
    PortRange { port: u16, orgs: usize },
    #[error("--faults: there is no {name} (--orgs {orgs} runs {runs})")]
    NoSuchOrg {
        name: String,
        orgs: usize,
        /// The org names there are, e.g. `org01..org03`.
        runs: String,
    },
}

/// One org to start: everything the command line decided for it.
#[derive(Debug)]
struct OrgPlan {
    /// `None` for the single org of `--orgs 1`, which keeps the single-org output and the
    /// credentials unchanged.
    name: Option<String>,
    config: SimConfig,
    listen: SocketAddr,
    faults: Vec<(Endpoint, Fault, u32)>,
}

/// Derives each org from the flags and the credentials: names, seeds and credentials via
/// `SimConfig::for_org` (so in-process tests derive them the same way), ports from `--listen`.
fn plan(args: &Args, client_id: String, client_secret: String) -> Result<Vec<OrgPlan>, UsageError> {
    let orgs = usize::from(args.orgs);
    let sizes = &args.queues.0;
    if sizes.len() != 1 && sizes.len() != orgs {
        return Err(UsageError::QueueCount {
            given: sizes.len(),
            orgs,
        });
    }
    let named = args.faults.iter().flat_map(|f| &f.0).filter_map(|i| i.org);
    if let Some(missing) = named.filter(|&o| o > orgs).min() {
        return Err(UsageError::NoSuchOrg {
            name: org_name(missing, orgs),
            orgs,
            runs: if orgs == 1 {
                org_name(1, 1)
            } else {
                format!("{}..{}", org_name(1, orgs), org_name(orgs, orgs))
            },
        });
    }
    let base = SimConfig {
        seed: args.seed,
        agents_per_queue: args.agents_per_queue as usize,
        client_id,
        client_secret,
        clock: SimClock::Realtime,
        flow_outs: args.flow_outs,
        history: args.history,
        demand: args.demand,
        ..SimConfig::default()
    };
    let port = args.listen.port();
    (1..=orgs)
        .map(|i| {
            // A non-zero port is the first of a run of ports; 0 stays 0 (each org a free one).
            let port = if port == 0 {
                Ok(0)
            } else {
                u16::try_from(usize::from(port) + i - 1)
                    .map_err(|_| UsageError::PortRange { port, orgs })
            }?;
            let (name, mut config) = if orgs == 1 {
                (None, base.clone())
            } else {
                (Some(org_name(i, orgs)), base.for_org(i, orgs))
            };
            // One size for all, or the i-th of one per org (the length was checked above).
            let queues = sizes.get(i - 1).or(sizes.first()).copied();
            config.queues = queues.unwrap_or(DEFAULT_QUEUES) as usize;
            Ok(OrgPlan {
                name,
                config,
                listen: SocketAddr::new(args.listen.ip(), port),
                faults: args.faults.iter().flat_map(|f| f.for_org(i)).collect(),
            })
        })
        .collect()
}

/// Starts every org, prints the stdout lines once all of them listen, and serves until a
/// signal.
async fn serve(program: &str, args: &Args, plans: Vec<OrgPlan>) -> ExitCode {
    // Together, so N models build in parallel (each on a blocking thread) rather than in turn.
    let started = join_all(
        plans
            .iter()
            .map(|p| SimOrg::start(p.config.clone(), p.listen)),
    )
    .await;
    let mut sims = Vec::with_capacity(plans.len());
    let mut failed = false;
    for (p, res) in plans.iter().zip(started) {
        match res {
            Ok(sim) => sims.push(sim),
            Err(e) => {
                failed = true;
                let org = p
                    .name
                    .as_ref()
                    .map(|n| format!("{n}: "))
                    .unwrap_or_default();
                eprintln!("{program}: {org}--listen {}: {e}", p.listen);
            }
        }
    }
    if failed {
        shutdown_all(sims).await;
        return ExitCode::FAILURE;
    }
    if let Err(e) = schedule_spikes(program, args, &sims) {
        eprintln!("{e}");
        shutdown_all(sims).await;
        return ExitCode::from(2);
    }
    for (p, sim) in plans.iter().zip(&sims) {
        for (endpoint, fault, count) in &p.faults {
            sim.faults().fail_next(*endpoint, *count, fault.clone());
        }
        let refused: Vec<&str> = args.refuse_metrics.iter().map(String::as_str).collect();
        sim.faults()
            .refuse_aggregate_metrics(&refused, args.refusal);
    }
    {
        let mut out = std::io::stdout().lock();
        let printed = plans
            .iter()
            .zip(&sims)
            .try_for_each(|(p, sim)| writeln!(out, "{}", stdout_line(p, sim)))
            .and_then(|()| out.flush());
        if let Err(e) = printed {
            eprintln!("{program}: stdout: {e}");
        }
    }
    // A single org keeps its old stderr line; several get one line each.
    match plans.as_slice() {
        [single] if single.name.is_none() => eprintln!(
            "{program}: {} queues, seed {}; stop with SIGTERM or Ctrl-C",
            single.config.queues, single.config.seed
        ),
        _ => {
            for p in &plans {
                let name = p.name.as_deref().unwrap_or_default();
                eprintln!(
                    "{program}: {name}: {} queues, seed {}",
                    p.config.queues, p.config.seed
                );
            }
            eprintln!(
                "{program}: {} orgs; stop with SIGTERM or Ctrl-C",
                plans.len()
            );
        }
    }
    wait_for_stop().await;
    shutdown_all(sims).await;
    ExitCode::SUCCESS
}

/// The org's stdout line: the single-org line scripts already parse, or with a name the
/// multi-org line (the client id but never the secret).
fn stdout_line(p: &OrgPlan, sim: &SimOrg) -> String {
    match &p.name {
        None => format!("api-url={} login-url={}", sim.api_url(), sim.login_url()),
        Some(name) => format!(
            "org={name} api-url={} login-url={} client-id={}",
            sim.api_url(),
            sim.login_url(),
            p.config.client_id
        ),
    }
}

/// Schedules each `--spike` in every org that has a queue of that name (the names come from
/// each org's seed, so they differ between orgs); a name no org has is a usage error.
fn schedule_spikes(program: &str, args: &Args, sims: &[SimOrg]) -> Result<(), String> {
    if args.spikes.is_empty() {
        return Ok(());
    }
    let names: Vec<Vec<String>> = sims
        .iter()
        .map(|s| s.truth().queues.into_iter().map(|q| q.name).collect())
        .collect();
    for Spike { queue, .. } in &args.spikes {
        if !names.iter().any(|n| n.contains(queue)) {
            let example = names.first().and_then(|n| n.first());
            return Err(format!(
                "{program}: --spike {queue:?}: no such queue (e.g. {:?})",
                example.map_or("", String::as_str)
            ));
        }
    }
    for Spike { queue, after } in &args.spikes {
        for (sim, names) in sims.iter().zip(&names) {
            if names.contains(queue) {
                sim.schedule_spike(queue, *after, args.spike_size);
            }
        }
    }
    Ok(())
}

/// Stops the orgs together: each shutdown waits (bounded) for its connections to close.
async fn shutdown_all(sims: Vec<SimOrg>) {
    join_all(sims.into_iter().map(SimOrg::shutdown)).await;
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fault_specs() {
        let v = parse_faults(
            "observations:503x5,queues:429x3,token:reset,aggregates:delay=3s,any:malformed,activity:oversized=1000x2,queues:mangled,queues:stripped",
        )
        .expect("valid spec")
        .for_org(1);
        assert_eq!(
            v[0],
            (
                Endpoint::Observations,
                Fault::Status {
                    status: 503,
                    retry_after_secs: None
                },
                5
            )
        );
        assert_eq!(
            v[1],
            (
                Endpoint::Queues,
                Fault::Status {
                    status: 429,
                    retry_after_secs: Some(1)
                },
                3
            )
        );
        assert_eq!(v[2], (Endpoint::Token, Fault::Reset, 1));
        assert_eq!(
            v[3],
            (
                Endpoint::Aggregates,
                Fault::Delay(Duration::from_secs(3)),
                1
            )
        );
        assert_eq!(v[4], (Endpoint::Any, Fault::Malformed, 1));
        assert_eq!(v[5], (Endpoint::Activity, Fault::Oversized(1000), 2));
        assert_eq!(v[6], (Endpoint::Queues, Fault::Mangled, 1));
        assert_eq!(v[7], (Endpoint::Queues, Fault::Stripped, 1));
        let invalid = parse_faults("observations:invalid_countsx2")
            .expect("valid spec")
            .for_org(0);
        assert_eq!(invalid, [(Endpoint::Observations, Fault::InvalidCounts, 2)]);
        let flows = parse_faults("flowactivity:503x2")
            .expect("valid spec")
            .for_org(1);
        assert_eq!(
            flows,
            [(
                Endpoint::FlowActivity,
                Fault::Status {
                    status: 503,
                    retry_after_secs: None
                },
                2
            )]
        );
        for bad in [
            "",
            "queues",
            "planet:503",
            "queues:200",
            "queues:503x0",
            "queues:teapot",
            "queues:delay",
            "queues:delay=soon",
            "queues:oversized=-1",
            "queues:reset=1",
            "queues:503,",
            "queues:503x99999999999",
        ] {
            assert!(parse_faults(bad).is_err(), "{bad:?} should be rejected");
        }
        let v = parse_faults(
            "channels:403,subscriptions:rejectedx2,websocket:socket_closing,websocket:drop,websocket:stall,websocket:503,subscriptions:reset",
        )
        .expect("valid push spec")
        .for_org(1);
        assert_eq!(
            v,
            vec![
                (
                    Endpoint::Channels,
                    Fault::Status {
                        status: 403,
                        retry_after_secs: None
                    },
                    1
                ),
                (Endpoint::Subscriptions, Fault::Rejected, 2),
                (Endpoint::WebSocket, Fault::SocketClosing, 1),
                (Endpoint::WebSocket, Fault::Drop, 1),
                (Endpoint::WebSocket, Fault::Stall, 1),
                (
                    Endpoint::WebSocket,
                    Fault::Status {
                        status: 503,
                        retry_after_secs: None
                    },
                    1
                ),
                (Endpoint::Subscriptions, Fault::Reset, 1),
            ]
        );
        for bad in [
            "queues:stall",
            "any:drop",
            "channels:rejected",
            "websocket:rejected",
            "websocket:malformed",
            "websocket:stall=1",
        ] {
            assert!(parse_faults(bad).is_err(), "{bad:?} should be rejected");
        }
        let e = parse_faults("queues:503,planet:503").unwrap_err();
        assert!(e.contains("planet:503"), "{e}");
    }

    fn args(argv: &[&str]) -> Args {
        let argv = ["genesys-sim"].iter().chain(argv);
        Args::try_parse_from(argv).expect("valid command line")
    }

    fn plan_of(argv: &[&str]) -> Result<Vec<OrgPlan>, UsageError> {
        plan(&args(argv), "id".into(), "secret".into())
    }

    /// The one org's configuration of `--listen 127.0.0.1:0` and `extra`.
    fn config_of(extra: &[&str]) -> Result<SimConfig, UsageError> {
        let mut argv = vec!["--listen", "127.0.0.1:0"];
        argv.extend_from_slice(extra);
        plan_of(&argv).map(|mut plans| plans.remove(0).config)
    }

    #[test]
    fn a_fault_prefixed_with_an_org_applies_to_that_org_only() {
        let spec = parse_faults("org02/observations:503x5,queues:429x3,ORG3/token:reset")
            .expect("valid spec");
        let s503 = Fault::Status {
            status: 503,
            retry_after_secs: None,
        };
        let s429 = Fault::Status {
            status: 429,
            retry_after_secs: Some(1),
        };
        assert_eq!(
            spec.0[0],
            FaultItem {
                org: Some(2),
                endpoint: Endpoint::Observations,
                fault: s503.clone(),
                count: 5
            }
        );
        assert_eq!(spec.for_org(1), vec![(Endpoint::Queues, s429.clone(), 3)]);
        assert_eq!(
            spec.for_org(2),
            vec![
                (Endpoint::Observations, s503, 5),
                (Endpoint::Queues, s429.clone(), 3)
            ]
        );
        assert_eq!(
            spec.for_org(3),
            vec![
                (Endpoint::Queues, s429, 3),
                (Endpoint::Token, Fault::Reset, 1)
            ]
        );
        // The zero padding is optional: org2 and org002 are org02.
        for same in [
            "org2/queues:503",
            "org002/queues:503",
            " org02 / queues:503",
        ] {
            let spec = parse_faults(same).expect(same);
            assert_eq!(spec.0[0].org, Some(2), "{same:?}");
        }
        for bad in [
            "org/queues:503",
            "org0/queues:503",
            "org101/queues:503",
            "team02/queues:503",
            "org2x/queues:503",
            "/queues:503",
            "org02/",
            "org02/planet:503",
            "org02/org03/queues:503",
            "queues:503,or/queues:503",
        ] {
            assert!(parse_faults(bad).is_err(), "{bad:?} should be rejected");
        }
        let e = parse_faults("queues:503,team02/queues:503").unwrap_err();
        assert!(e.contains("team02/queues:503"), "{e}");
    }

    #[test]
    fn queue_sizes_are_one_number_or_a_comma_separated_list() {
        assert_eq!(parse_queue_sizes("36"), Ok(QueueSizes(vec![36])));
        assert_eq!(
            parse_queue_sizes("250, 100,1"),
            Ok(QueueSizes(vec![250, 100, 1]))
        );
        for bad in ["", "0", "20001", "5,", ",5", "5,,7", "five", "5;7", "-1"] {
            assert!(
                parse_queue_sizes(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let e = parse_queue_sizes("5,0,7").unwrap_err();
        assert!(e.contains("\"0\""), "{e}");
    }

    #[test]
    fn refused_metrics_are_a_list_of_modelled_metrics_and_a_way_to_refuse() {
        let parse = |extra: &[&str]| {
            Args::try_parse_from(
                ["genesys-sim", "--listen", "127.0.0.1:0"]
                    .iter()
                    .chain(extra),
            )
        };
        let a = parse(&[]).unwrap();
        assert!(a.refuse_metrics.is_empty());
        assert_eq!(a.refusal, Refusal::Named);
        let a = parse(&[
            "--refuse-metrics",
            "tAnswered,nOffered",
            "--refusal",
            "generic",
        ])
        .unwrap();
        assert_eq!(a.refuse_metrics, ["tAnswered", "nOffered"]);
        assert_eq!(a.refusal, Refusal::Generic);
        for bad in [
            &["--refuse-metrics", "tNothing"][..],
            &["--refuse-metrics", "tAnswered,"],
            &["--refusal", "loud"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn orgs_must_be_between_1_and_100() {
        let parse =
            |n: &str| Args::try_parse_from(["genesys-sim", "--listen", "127.0.0.1:0", "--orgs", n]);
        assert_eq!(parse("1").map(|a| a.orgs).ok(), Some(1));
        assert_eq!(parse("100").map(|a| a.orgs).ok(), Some(100));
        for bad in ["0", "101", "-1", "two"] {
            assert!(parse(bad).is_err(), "--orgs {bad} should be rejected");
        }
    }

    #[test]
    fn org_names_are_zero_padded_to_the_width_of_the_count() {
        assert_eq!(org_name(1, 1), "org01");
        assert_eq!(org_name(3, 9), "org03");
        assert_eq!(org_name(12, 12), "org12");
        assert_eq!(org_name(7, 100), "org007");
        assert_eq!(org_name(100, 100), "org100");
    }

    #[test]
    fn history_is_20_minutes_unless_asked_and_at_most_what_the_org_keeps() {
        let history = |extra: &[&str]| config_of(extra).map(|c| c.history);
        assert_eq!(history(&[]).ok(), Some(crate::DEFAULT_HISTORY));
        assert_eq!(
            history(&["--history", "2h10m"]).ok(),
            Some(std::time::Duration::from_secs(130 * 60))
        );
        assert!(Args::try_parse_from([
            "genesys-sim",
            "--listen",
            "127.0.0.1:0",
            "--history",
            "27h"
        ])
        .is_err());
    }

    #[test]
    fn demand_follows_the_hour_unless_held_at_the_peak_or_a_level() {
        let demand = |extra: &[&str]| config_of(extra).map(|c| c.demand);
        assert_eq!(demand(&[]).ok(), Some(Demand::Daily));
        assert_eq!(demand(&["--demand", "peak"]).ok(), Some(Demand::Fixed(1.0)));
        assert_eq!(demand(&["--demand", "0.5"]).ok(), Some(Demand::Fixed(0.5)));
        for bad in ["busy", "-1", "4", "NaN"] {
            let args = ["genesys-sim", "--listen", "127.0.0.1:0", "--demand", bad];
            assert!(Args::try_parse_from(args).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_org_gets_its_name_seed_credentials_port_and_queue_count() {
        let plans = plan_of(&[
            "--listen",
            "127.0.0.1:8100",
            "--orgs",
            "3",
            "--seed",
            "7",
            "--queues",
            "5,7,9",
            "--agents-per-queue",
            "4",
            "--faults",
            "org02/queues:503",
        ])
        .expect("a valid plan");
        assert_eq!(plans.len(), 3);
        for (i, p) in (1u16..).zip(&plans) {
            let name = format!("org0{i}");
            assert_eq!(p.name.as_deref(), Some(name.as_str()));
            assert_eq!(p.config.seed, 6 + u64::from(i));
            assert_eq!(p.config.queues, [5, 7, 9][usize::from(i - 1)]);
            assert_eq!(p.config.agents_per_queue, 4);
            assert_eq!(p.config.client_id, format!("id-{name}"));
            assert_eq!(p.config.client_secret, format!("secret-{name}"));
            assert_eq!(p.listen, SocketAddr::from(([127, 0, 0, 1], 8099 + i)));
            assert_eq!(p.faults.len(), usize::from(i == 2), "{name}");
        }
        // The library helper derives the same org, so in-process tests agree with the CLI.
        let base = SimConfig {
            seed: 7,
            client_id: "id".into(),
            client_secret: "secret".into(),
            ..SimConfig::default()
        };
        let derived = base.for_org(2, 3);
        assert_eq!(
            (derived.seed, derived.client_id, derived.client_secret),
            (8, "id-org02".to_string(), "secret-org02".to_string())
        );

        // One size applies to every org; port 0 gives every org a free port.
        let plans = plan_of(&["--listen", "127.0.0.1:0", "--orgs", "2", "--queues", "11"])
            .expect("a valid plan");
        assert!(plans
            .iter()
            .all(|p| p.config.queues == 11 && p.listen.port() == 0));
    }

    #[test]
    fn a_single_org_keeps_the_seed_and_the_credentials_unchanged() {
        let plans = plan_of(&[
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "7",
            "--faults",
            "org01/queues:503,token:reset",
        ])
        .expect("a valid plan");
        assert_eq!(plans.len(), 1);
        let p = &plans[0];
        assert_eq!(p.name, None);
        assert_eq!(p.config.seed, 7);
        assert_eq!(p.config.queues, DEFAULT_QUEUES as usize);
        assert_eq!(
            (p.config.client_id.as_str(), p.config.client_secret.as_str()),
            ("id", "secret")
        );
        assert_eq!(p.faults.len(), 2);
    }

    #[test]
    fn impossible_org_layouts_are_usage_errors() {
        assert_eq!(
            plan_of(&["--listen", "127.0.0.1:0", "--orgs", "3", "--queues", "5,7"]).err(),
            Some(UsageError::QueueCount { given: 2, orgs: 3 })
        );
        assert_eq!(
            plan_of(&["--listen", "127.0.0.1:0", "--queues", "5,7"]).err(),
            Some(UsageError::QueueCount { given: 2, orgs: 1 })
        );
        assert_eq!(
            plan_of(&["--listen", "127.0.0.1:65535", "--orgs", "2"]).err(),
            Some(UsageError::PortRange {
                port: 65535,
                orgs: 2
            })
        );
        assert!(plan_of(&["--listen", "127.0.0.1:65534", "--orgs", "2"]).is_ok());
        let e = plan_of(&[
            "--listen",
            "127.0.0.1:0",
            "--orgs",
            "2",
            "--faults",
            "org01/queues:503",
            "--faults",
            "org3/token:reset",
        ])
        .expect_err("org03 does not exist");
        assert_eq!(
            e.to_string(),
            "--faults: there is no org03 (--orgs 2 runs org01..org02)"
        );
        assert!(plan_of(&["--listen", "127.0.0.1:0", "--faults", "org02/queues:503"]).is_err());
    }
}
