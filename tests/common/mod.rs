//! Test support: start the simulated org and the exporter on loopback ports, scrape, wait.
#![allow(dead_code)]

pub mod aggregates;
pub mod schema;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use genesys_exporter::app::Exporter;
use genesys_exporter::config::Config;
use genesys_sim::{SimClock, SimConfig, SimOrg};

pub const WAIT: Duration = Duration::from_secs(20);

/// The simulated org's system presences in lower case, sorted: the keys of
/// `TruthQueue::presences` and the `presence` values the exporter serves for it.
pub const SIM_PRESENCES: [&str; 6] = [
    "available",
    "break",
    "meal",
    "offline",
    "on_queue",
    "training",
];

/// Starts a simulated org on a loopback port.
pub async fn start_sim(config: SimConfig) -> SimOrg {
    SimOrg::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator starts")
}

/// Request budget of tests that are not about the budget: fast intervals would otherwise
/// queue behind Genesys' 300/min and slow every test down.
pub const TEST_BUDGET: u32 = 100_000;

/// A simulated org on a manual clock: its state changes only when a test advances it.
pub fn sim_config() -> SimConfig {
    SimConfig {
        clock: SimClock::Manual,
        rate_limit_per_minute: TEST_BUDGET,
        ..SimConfig::default()
    }
}

/// A simulated org whose manual clock starts at `at` (RFC 3339).
pub fn sim_at(at: &str) -> SimConfig {
    let t = chrono::DateTime::parse_from_rfc3339(at)
        .expect("RFC 3339 time")
        .with_timezone(&chrono::Utc);
    SimConfig {
        clock: SimClock::ManualAt(t),
        ..sim_config()
    }
}

/// Starts the exporter against `sim` with fast intervals, plus `extra` flags.
pub async fn start_exporter(sim: &SimOrg, extra: &[&str]) -> Exporter {
    let config = exporter_config(sim, extra);
    Exporter::start(config).await.expect("exporter starts")
}

/// Like [`start_exporter`], with buckets and windows on the simulator's business clock.
pub async fn start_exporter_on_sim_clock(sim: &SimOrg, extra: &[&str]) -> Exporter {
    let clock = std::sync::Arc::new(genesys_exporter::clock::FnClock(sim.clock_fn()));
    Exporter::start_with_clock(exporter_config(sim, extra), clock)
        .await
        .expect("exporter starts")
}

pub fn exporter_config(sim: &SimOrg, extra: &[&str]) -> Config {
    let mut args = vec![
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url={}", sim.api_url()),
        format!("--genesys.login-url={}", sim.login_url()),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        "--collector.queues.interval=1s".into(),
        "--collector.observations.interval=250ms".into(),
        "--collector.activity.interval=250ms".into(),
        "--collector.aggregates.interval=250ms".into(),
        "--genesys.request-timeout=2s".into(),
        format!("--genesys.requests-per-minute={TEST_BUDGET}"),
        // Polling: these tests time polls and compare each with the simulator's truth.
        // tests/push.rs runs the default mode, push with polling to reconcile.
        "--live.mode=poll".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::from_args(args, Some(SimConfig::default().client_secret)).expect("valid config")
}

#[derive(Debug, Default, Clone)]
pub struct Scrape {
    pub samples: BTreeMap<(String, Vec<(String, String)>), f64>,
    pub text: String,
}

impl Scrape {
    /// The value of `name` with exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        key.sort();
        self.samples.get(&(name.to_string(), key)).copied()
    }

    /// Every sample of `name`, as (labels, value).
    pub fn all(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, l), v)| (l.iter().cloned().collect(), *v))
            .collect()
    }

    /// The sum of every sample of `name`, whatever its labels.
    pub fn total(&self, name: &str) -> f64 {
        self.all(name).iter().map(|(_, v)| v).sum()
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.keys().any(|(n, _)| n == name)
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("HTTP request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

pub async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    parse(&text)
}

/// Parses the Prometheus 0.0.4 text format (what the exporter serves without an OpenMetrics
/// Accept header).
pub fn parse(text: &str) -> Scrape {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let value: f64 = value.parse().expect("numeric value");
        let (name, labels) = match series.find('{') {
            Some(i) => (&series[..i], parse_labels(&series[i + 1..series.len() - 1])),
            None => (series, Vec::new()),
        };
        let mut labels = labels;
        labels.sort();
        samples.insert((name.to_string(), labels), value);
    }
    Scrape {
        samples,
        text: text.to_string(),
    }
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').to_string(), value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// Polls `check` until it returns `Some`, for at most `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {WAIT:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the exporter is ready and every collector has finished its first poll:
/// `/-/ready` does not wait for the analytics collectors' (tests/readiness.rs), and the tests
/// that start here compare their series from the first scrape on.
pub async fn wait_ready(exporter: &Exporter) {
    let addr = exporter.local_addr();
    eventually(
        "exporter ready, every collector polled once",
        || async move {
            if get(addr, "/-/ready").await.0 != 200 {
                return None;
            }
            let s = scrape(addr).await;
            let collectors = s.all("genesys_up");
            collectors
                .iter()
                .all(|(labels, _)| {
                    let labels: Vec<(&str, &str)> = labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    s.get("genesys_collector_polls_total", &labels)
                        .is_some_and(|n| n >= 1.0)
                })
                .then_some(())
        },
    )
    .await;
}

/// `genesys_queue_conversations` of one queue, media type and state.
pub fn conversations(s: &Scrape, queue_id: &str, media: &str, state: &str) -> Option<f64> {
    s.all("genesys_queue_conversations")
        .into_iter()
        .find(|(l, _)| {
            l.get("queue_id").map(String::as_str) == Some(queue_id)
                && l.get("media_type").map(String::as_str) == Some(media)
                && l.get("state").map(String::as_str) == Some(state)
        })
        .map(|(_, v)| v)
}

/// Sum of every sample of `name` with this label, across the other labels.
pub fn sum(s: &Scrape, name: &str, (key, val): (&str, &str)) -> f64 {
    s.all(name)
        .iter()
        .filter(|(l, _)| l.get(key).map(String::as_str) == Some(val))
        .map(|(_, v)| v)
        .sum()
}

pub fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.get(name, labels).unwrap_or(0.0)
}

pub async fn wait_value(
    addr: std::net::SocketAddr,
    what: &str,
    name: &str,
    labels: &[(&str, &str)],
    pred: impl Fn(f64) -> bool,
) -> Scrape {
    eventually(what, || async {
        let s = scrape(addr).await;
        pred(value(&s, name, labels)).then_some(s)
    })
    .await
}

/// Waits until `collector` has completed two more polls than it had, so a poll that began
/// after the moment of calling has finished.
pub async fn wait_polls(addr: std::net::SocketAddr, collector: &str) -> Scrape {
    let labels = [("collector", collector)];
    let now = value(
        &scrape(addr).await,
        "genesys_collector_polls_total",
        &labels,
    );
    wait_value(
        addr,
        "two more polls",
        "genesys_collector_polls_total",
        &labels,
        |v| v >= now + 2.0,
    )
    .await
}

/// A free loopback port, for spawned binaries that are given a fixed address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A blocking HTTP/1.0 GET on loopback, for tests without an async runtime: (status, body),
/// `None` when nothing readable came back within `timeout`.
pub fn blocking_get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Business time on a Tuesday (2026-03-10) at `h:m` UTC: a busy simulated org.
pub fn busy_at(h: u32, m: u32) -> genesys_sim::SimClock {
    use chrono::TimeZone;
    genesys_sim::SimClock::ManualAt(
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 10, h, m, 0)
            .single()
            .expect("a valid time"),
    )
}

/// A simulated org frozen on a busy weekday morning (10:30): what an exporter serves of it is
/// the truth now.
pub async fn busy_sim() -> SimOrg {
    start_sim(SimConfig {
        clock: busy_at(10, 30),
        ..sim_config()
    })
    .await
}

/// The exporter's own API client for `sim`, with this secret and no retries unless asked.
pub fn api_client(
    sim: &SimOrg,
    secret: &str,
    max_retries: u32,
) -> genesys_exporter::genesys::GenesysClient {
    use genesys_exporter::genesys::{ApiMetrics, ClientConfig, Credentials, GenesysClient};
    GenesysClient::new(
        ClientConfig {
            api_url: sim.api_url(),
            login_url: sim.login_url(),
            credentials: Credentials {
                client_id: SimConfig::default().client_id,
                client_secret: secret.to_string().into(),
            },
            requests_per_minute: TEST_BUDGET,
            request_timeout: Duration::from_secs(5),
            max_retries,
            max_body_bytes: 1 << 20,
        },
        ApiMetrics::default(),
    )
    .expect("client")
}

/// An HTTPS client that trusts only the certificate (PEM) it is given.
pub fn https_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("a PEM"))
        .build()
        .expect("HTTPS client")
}

/// An HTTP client for talking to the simulator directly.
pub fn sim_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// `Authorization: Basic …` for a client id and secret.
pub fn basic_auth(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// An access token from the simulator's token endpoint, with the default credentials.
pub async fn sim_token(sim: &SimOrg) -> String {
    let defaults = SimConfig::default();
    let r = sim_client()
        .post(format!("{}/oauth/token", sim.login_url()))
        .header(
            "Authorization",
            basic_auth(&defaults.client_id, &defaults.client_secret),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("token body")).expect("token JSON");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A config file in the temp directory, removed when dropped (reload tests rewrite it).
pub struct ConfigFile(pub std::path::PathBuf);

impl ConfigFile {
    pub fn new(text: &str) -> ConfigFile {
        let path = std::env::temp_dir().join(format!(
            "gx-config-file-{}-{}.yml",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, text).unwrap();
        ConfigFile(path)
    }

    pub fn write(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}
