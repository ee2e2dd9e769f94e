//! `genesys-sim` (also `genesys-exporter simulate`): the simulated org as a standalone server on
//! the realtime clock, for trying the exporter (or any Genesys client) without a Genesys org.
//!
//! The first line on stdout is `api-url=<URL> login-url=<URL>`; the server then runs until
//! SIGTERM or SIGINT and exits 0. Usage errors exit 2.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use super::{parse_spike, Endpoint, Fault, SimClock, SimConfig, SimOrg, Spike};

/// Run a simulated Genesys Cloud org (token, routing queues, observations, activity,
/// aggregates, notification channels and their WebSocket) on loopback. Credentials: GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET.
#[derive(Debug, Parser)]
#[command(name = "genesys-sim")]
struct Args {
    /// Address to listen on (port 0 picks a free port; see the first line on stdout).
    #[arg(long = "listen", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// Seed of the traffic model: same seed, same org.
    #[arg(long = "seed", default_value_t = 1)]
    seed: u64,
    /// Number of queues.
    #[arg(long = "queues", default_value_t = 36,
          value_parser = clap::value_parser!(u32).range(1..=20_000))]
    queues: u32,
    /// Agents per queue.
    #[arg(long = "agents-per-queue", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    agents_per_queue: u32,
    /// A burst of arrivals: QUEUE_NAME@+DELAY (e.g. "Support - Billing@+10m"). Repeatable.
    #[arg(long = "spike", value_name = "QUEUE@+DELAY", value_parser = parse_spike)]
    spikes: Vec<Spike>,
    /// Conversations each spike adds to its queue.
    #[arg(long = "spike-size", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    spike_size: u32,
    /// Faults for the next calls: ENDPOINT:FAULT[xCOUNT],... e.g.
    /// "observations:503x5,queues:429x3,token:reset,aggregates:delay=3s,any:malformed".
    /// Endpoints: token, queues, observations, activity, aggregates, channels, subscriptions,
    /// websocket, any. Faults: an HTTP status (400-599; 429 sends Retry-After: 1), reset,
    /// delay=DURATION, malformed, oversized=BYTES, mangled, stripped; for subscriptions also
    /// rejected (topics answered Rejected with missingPermissions); for websocket also
    /// socket_closing, drop, stall, which replace the next frame a connected notification
    /// socket would send (e.g. "channels:403" refuses channel creation, "websocket:dropx3"
    /// drops the next three sockets).
    #[arg(long = "faults", value_name = "SPEC", value_parser = parse_faults)]
    faults: Option<FaultSpec>,
}

/// Parsed `--faults`: (endpoint, fault, count) in the given order.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec(pub Vec<(Endpoint, Fault, u32)>);

/// `ENDPOINT:FAULT[xCOUNT]` items, comma-separated.
///
/// # Errors
///
/// Fails (with a message naming the offending item) if an item is empty, has no `:`, names an
/// unknown endpoint or fault, gives a fault a value it does not take (or a bad value), or has a
/// count of 0 or one too large for a `u32`.
pub fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("empty item in {s:?}"));
        }
        out.push(parse_fault_item(item).map_err(|e| format!("{item:?}: {e}"))?);
    }
    Ok(FaultSpec(out))
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
        "channels" => Endpoint::Channels,
        "subscriptions" => Endpoint::Subscriptions,
        "websocket" => Endpoint::WebSocket,
        "any" => Endpoint::Any,
        other => {
            return Err(format!(
                "unknown endpoint {other:?} (token, queues, observations, activity, aggregates, \
                 channels, subscriptions, websocket, any)"
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
        return Err("socket_closing, drop and stall are for the websocket endpoint".into());
    }
    if fault == Fault::Rejected && endpoint != Endpoint::Subscriptions {
        return Err("rejected is for the subscriptions endpoint".into());
    }
    if endpoint == Endpoint::WebSocket
        && matches!(
            fault,
            Fault::Malformed | Fault::Oversized(_) | Fault::Mangled | Fault::Stripped
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
        "socket_closing" | "socket-closing" => no_value(Fault::SocketClosing),
        "drop" => no_value(Fault::Drop),
        "stall" => no_value(Fault::Stall),
        "rejected" => no_value(Fault::Rejected),
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

/// Runs the simulated org until SIGTERM or SIGINT: `program` is the name messages carry
/// (`genesys-sim`, or `genesys-exporter simulate` when the exporter delegates here), `args` the
/// arguments after it.
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
             (the simulated org accepts only these credentials)"
        );
        return ExitCode::from(2);
    };
    serve(program, args, client_id, client_secret).await
}

async fn serve(program: &str, args: Args, client_id: String, client_secret: String) -> ExitCode {
    let cfg = SimConfig {
        seed: args.seed,
        queues: args.queues as usize,
        agents_per_queue: args.agents_per_queue as usize,
        client_id,
        client_secret,
        clock: SimClock::Realtime,
        ..SimConfig::default()
    };
    let sim = match SimOrg::start(cfg, args.listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{program}: --listen {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    if !args.spikes.is_empty() {
        let names: Vec<String> = sim.truth().queues.into_iter().map(|q| q.name).collect();
        for Spike { queue, after } in &args.spikes {
            if !names.contains(queue) {
                eprintln!(
                    "{program}: --spike {queue:?}: no such queue (e.g. {:?})",
                    names.first().map(String::as_str).unwrap_or("")
                );
                sim.shutdown().await;
                return ExitCode::from(2);
            }
            sim.schedule_spike(queue, *after, args.spike_size);
        }
    }
    if let Some(FaultSpec(faults)) = &args.faults {
        for (endpoint, fault, count) in faults {
            sim.faults().fail_next(*endpoint, *count, fault.clone());
        }
    }
    {
        let mut out = std::io::stdout().lock();
        let printed = writeln!(
            out,
            "api-url={} login-url={}",
            sim.api_url(),
            sim.login_url()
        )
        .and_then(|()| out.flush());
        if let Err(e) = printed {
            eprintln!("{program}: stdout: {e}");
        }
    }
    eprintln!(
        "{program}: {} queues, seed {}; stop with SIGTERM or Ctrl-C",
        args.queues, args.seed
    );
    wait_for_stop().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
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
        let FaultSpec(v) = parse_faults(
            "observations:503x5,queues:429x3,token:reset,aggregates:delay=3s,any:malformed,activity:oversized=1000x2,queues:mangled,queues:stripped",
        )
        .expect("valid spec");
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
        let FaultSpec(v) = parse_faults(
            "channels:403,subscriptions:rejectedx2,websocket:socket_closing,websocket:drop,websocket:stall,websocket:503,subscriptions:reset",
        )
        .expect("valid push spec");
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
}
