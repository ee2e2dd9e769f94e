//! A fault-injecting HTTP proxy between the exporter and the simulated org. On a fixed cycle per
//! endpoint it answers some requests itself (429 with `Retry-After: 1`, 500, 502, 503) or drops
//! the connection without an answer, and counts every request it saw by path and outcome. The
//! exporter must keep its counters monotonic, count exactly what the proxy saw in
//! `genesys_api_requests_total`, and bring every collector (the opt-in `estimated_wait` and
//! `flows` included) back up once the faults stop.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{busy_at, scrape, sim_config, start_sim, value, Scrape, TEST_BUDGET};
use genesys_exporter::app::Exporter;
use genesys_exporter::clock::FnClock;
use genesys_exporter::config::Config;
use genesys_sim::{SimConfig, SimOrg, TruthQueue};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::RwLock;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const COLLECTORS: [&str; 6] = [
    "queues",
    "observations",
    "activity",
    "flows",
    "aggregates",
    "estimated_wait",
];

/// The token endpoint as the proxy sees it: under the login URL, `<proxy>/login`.
const TOKEN_PATH: &str = "/login/oauth/token";
/// The routes, as the exporter labels them (`endpoint`): ids and names stay out of a path.
/// The proxy walks its schedule and counts per route.
const TOKEN: &str = "/oauth/token";
const ESTIMATED_WAIT: &str =
    "/api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime";
const ORG_LIMITS: &str = "/api/v2/organizations/limits/namespaces/{namespaceName}";
const CHANNELS: &str = "/api/v2/notifications/channels";
const SUBSCRIPTIONS: &str = "/api/v2/notifications/channels/{channelId}/subscriptions";
/// The routes that must meet every outcome of the schedule: the token and every collector's.
const COVERED: [&str; 7] = [
    TOKEN,
    "/api/v2/routing/queues",
    "/api/v2/analytics/queues/observations/query",
    "/api/v2/analytics/conversations/activity/query",
    "/api/v2/analytics/flows/activity/query",
    "/api/v2/analytics/conversations/aggregates/query",
    ESTIMATED_WAIT,
];
/// Routes that meet the schedule's faults like any other and are counted exactly, but see too
/// few requests to walk all of it:
/// - the org's limits are read once, at start: the first attempts meet the faults until the
///   retries run out, and the exporter keeps its configured budget (asserted below);
/// - the notification channel and its subscriptions (push, `--live.mode=auto`) are asked for a
///   handful of times (again after a failure, with backoff), while the observations poll; they
///   are not required to meet every fault. The WebSocket itself goes straight to the simulator
///   (its `connectUri`), past the proxy: socket faults are `tests/push.rs`'s.
const UNCOVERED: [&str; 3] = [ORG_LIMITS, CHANNELS, SUBSCRIPTIONS];

/// Faults are injected for at least this long, and then until every endpoint has seen every
/// kind of fault, but never longer than `MAX_FAULTS`. `estimated_wait` comes last: it asks
/// nothing until queue discovery and then the observations have got through the faults, so it
/// usually covers its schedule 10-20 s in; the bound leaves room for a loaded machine.
const MIN_FAULTS: Duration = Duration::from_secs(8);
const MAX_FAULTS: Duration = Duration::from_secs(45);
/// How long the collectors get to recover once the faults stop.
const RECOVERY: Duration = Duration::from_secs(15);
/// Business time the simulated org moves on per scrape, so that counters have something to count.
const BUSINESS_STEP: Duration = Duration::from_secs(20);
const SCRAPE_EVERY: Duration = Duration::from_millis(200);
/// Conversations added to a queue whenever fewer than `MIN_WAITING` wait on it.
const SPIKE: u32 = 20;
const MIN_WAITING: u64 = 5;
/// Tokens are revoked this often while faults are on: 401s, then more token requests.
const REVOKE_EVERY: Duration = Duration::from_millis(2500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Forward,
    Status(u16),
    Reset,
}

/// Each endpoint walks this cycle on its own request count. The faults come first, so that even
/// the token endpoint (a handful of requests) meets every one of them.
const SCHEDULE: [Action; 10] = [
    Action::Status(429),
    Action::Status(500),
    Action::Status(502),
    Action::Reset,
    Action::Status(503),
    Action::Forward,
    Action::Forward,
    Action::Forward,
    Action::Forward,
    Action::Forward,
];

/// Outcome label of a dropped connection in the proxy's counts.
const RESET: &str = "reset";

/// Dropping the connection without an answer: hyper closes it when the service fails.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for DropConnection {}

type Resp = Response<Full<Bytes>>;

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    faults_on: AtomicBool,
    /// Requests seen per route while faults were on: the position in `SCHEDULE`.
    cycle: Mutex<HashMap<String, usize>>,
    /// (route, outcome) -> requests; outcome is the status returned, or `reset`.
    counts: Mutex<BTreeMap<(String, String), u32>>,
    /// Every request holds a read guard while it is decided and answered; the test takes the
    /// write guard to wait for the requests in flight and hold new ones back.
    traffic: RwLock<()>,
}

impl Proxy {
    fn next_action(&self, route: &str) -> Action {
        if !self.faults_on.load(Ordering::SeqCst) {
            return Action::Forward;
        }
        let mut cycle = self.cycle.lock().unwrap();
        let n = cycle.entry(route.to_string()).or_insert(0);
        let action = SCHEDULE[*n % SCHEDULE.len()];
        *n += 1;
        action
    }

    fn count(&self, route: &str, outcome: String) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry((route.to_string(), outcome))
            .or_insert(0) += 1;
    }

    fn counts(&self) -> BTreeMap<(String, String), u32> {
        self.counts.lock().unwrap().clone()
    }

    /// Every route of `COVERED` has seen every outcome of the schedule.
    fn covered(&self) -> bool {
        self.missing().is_empty()
    }

    fn missing(&self) -> Vec<(String, String)> {
        let counts = self.counts();
        let mut missing = Vec::new();
        for route in COVERED {
            for action in SCHEDULE {
                let outcome = match action {
                    Action::Forward => "200".to_string(),
                    Action::Status(s) => s.to_string(),
                    Action::Reset => RESET.to_string(),
                };
                if !counts.contains_key(&(route.to_string(), outcome.clone())) {
                    missing.push((route.to_string(), outcome));
                }
            }
        }
        missing.sort();
        missing.dedup();
        missing
    }

    async fn handle(&self, req: Request<Incoming>) -> Result<Resp, DropConnection> {
        let (parts, body) = req.into_parts();
        // The whole request is read before anything is decided: a dropped connection is then
        // one the exporter has fully sent, never one it could retry as unsent.
        let body = body.collect().await.map_err(|_| DropConnection)?.to_bytes();
        let _running = self.traffic.read().await;
        let path = parts.uri.path().to_string();
        let route = route(&path);
        match self.next_action(route) {
            Action::Reset => {
                self.count(route, RESET.to_string());
                Err(DropConnection)
            }
            Action::Status(status) => {
                self.count(route, status.to_string());
                Ok(fault_response(status))
            }
            Action::Forward => {
                let resp = self.forward(parts, body).await;
                self.count(route, resp.status().as_str().to_string());
                Ok(resp)
            }
        }
    }

    async fn forward(&self, parts: hyper::http::request::Parts, body: Bytes) -> Resp {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), ToString::to_string);
        let mut request = self
            .client
            .request(parts.method, format!("{}{path_and_query}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
            if !is_hop_header(name) {
                request = request.header(name, value);
            }
        }
        // The simulator only fails to answer while the test shuts it down: a 502, counted as
        // such, rather than a panic in a connection task.
        let upstream = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("fault proxy: the simulator did not answer: {e}");
                return fault_response(502);
            }
        };
        let status = upstream.status();
        let headers = upstream.headers().clone();
        let bytes = match upstream.bytes().await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("fault proxy: the simulator's body did not arrive: {e}");
                return fault_response(502);
            }
        };
        let mut resp = Response::new(Full::new(bytes));
        *resp.status_mut() = status;
        for (name, value) in &headers {
            if !is_hop_header(name) {
                resp.headers_mut().append(name, value.clone());
            }
        }
        resp
    }
}

/// The route of a request's path, as the exporter labels it; an unknown path is its own route
/// (and fails the test: every route the exporter takes is classified).
fn route(path: &str) -> &str {
    let between = |start: &str, end: &str| path.starts_with(start) && path.ends_with(end);
    if path == TOKEN_PATH {
        TOKEN
    } else if between("/api/v2/notifications/channels/", "/subscriptions") {
        SUBSCRIPTIONS
    } else if path.starts_with("/api/v2/organizations/limits/namespaces/") {
        ORG_LIMITS
    } else if between("/api/v2/routing/queues/", "/estimatedwaittime") {
        ESTIMATED_WAIT
    } else {
        path
    }
}

/// Headers that describe one connection or one encoding of the body, not the message.
fn is_hop_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "te"
    )
}

fn fault_response(status: u16) -> Resp {
    let body = format!(
        r#"{{"message":"injected by the test proxy","code":"proxy.fault","status":{status}}}"#
    );
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == 429 {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Starts the proxy in front of `sim` on a loopback port.
async fn start_proxy(sim: &SimOrg) -> (Arc<Proxy>, SocketAddr, JoinHandle<()>) {
    let proxy = Arc::new(Proxy {
        upstream: sim.api_url(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client"),
        faults_on: AtomicBool::new(true),
        cycle: Mutex::default(),
        counts: Mutex::default(),
        traffic: RwLock::new(()),
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("proxy binds");
    let addr = listener.local_addr().expect("proxy address");
    let p = proxy.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let p = p.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let p = p.clone();
                    async move { p.handle(req).await }
                });
                // Fails on purpose for every dropped connection.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (proxy, addr, task)
}

/// The exporter with fast intervals, pointed at the proxy for the API and the login host.
fn exporter_config(proxy: SocketAddr) -> Config {
    let args = vec![
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url=http://{proxy}"),
        format!("--genesys.login-url=http://{proxy}/login"),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        "--collector.queues.interval=500ms".into(),
        // estimated_wait asks only where observations still fresh (3 intervals) show
        // conversations waiting: at 2s, they outlast the retries of a faulted poll.
        "--collector.observations.interval=2s".into(),
        "--collector.activity.interval=250ms".into(),
        "--collector.flows".into(),
        "--collector.flows.interval=250ms".into(),
        "--collector.aggregates.interval=250ms".into(),
        "--collector.estimated_wait".into(),
        "--collector.estimated_wait.interval=250ms".into(),
        // A few requests a poll (one per queue and media type with conversations waiting)
        // walk its schedule fast enough, without flooding the proxy.
        "--estimated-wait.max-queries=3".into(),
        // Far above what a loopback answer takes: a timeout would be counted as `timeout` by
        // the exporter and as the status by the proxy.
        "--genesys.request-timeout=10s".into(),
        format!("--genesys.requests-per-minute={TEST_BUDGET}"),
    ];
    Config::from_args(args, Some(SimConfig::default().client_secret)).expect("valid config")
}

/// The proxy's counts as the exporter labels them: the endpoint is the route, a dropped
/// connection is `connection_error`.
fn as_exporter_labels(counts: &BTreeMap<(String, String), u32>) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for ((endpoint, outcome), n) in counts {
        let code = if outcome == RESET {
            "connection_error"
        } else {
            outcome.as_str()
        };
        *out.entry((endpoint.to_string(), code.to_string()))
            .or_insert(0.0) += f64::from(*n);
    }
    out
}

fn exporter_requests(s: &Scrape) -> BTreeMap<(String, String), f64> {
    s.all("genesys_api_requests_total")
        .into_iter()
        .map(|(labels, v)| {
            assert_eq!(labels.len(), 2, "endpoint and code only: {labels:?}");
            ((labels["endpoint"].clone(), labels["code"].clone()), v)
        })
        .collect()
}

fn differences(
    exporter: &BTreeMap<(String, String), f64>,
    proxy: &BTreeMap<(String, String), f64>,
) -> Vec<String> {
    let keys: BTreeSet<_> = exporter.keys().chain(proxy.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (e, p) = (exporter.get(k), proxy.get(k));
            (e != p).then(|| format!("{k:?}: exporter {e:?}, proxy {p:?}"))
        })
        .collect()
}

/// The highest value seen so far of every `_total` series, across scrapes (also across a
/// series leaving /metrics while stale and coming back).
#[derive(Default)]
struct Monotonic {
    seen: BTreeMap<(String, Vec<(String, String)>), f64>,
    scrapes: u32,
}

impl Monotonic {
    fn check(&mut self, s: &Scrape) {
        self.scrapes += 1;
        for (key, v) in &s.samples {
            if !key.0.ends_with("_total") {
                continue;
            }
            if let Some(before) = self.seen.get(key) {
                assert!(
                    v >= before,
                    "{}{:?} went down from {before} to {v} (scrape {})",
                    key.0,
                    key.1,
                    self.scrapes
                );
            }
            self.seen.insert(key.clone(), *v);
        }
    }
}

/// Keeps conversations waiting on `queue`, so that `estimated_wait` has something to ask about
/// at every poll: business time runs fast here, and agents answer a burst within minutes.
fn keep_waiting(sim: &SimOrg, queue: &TruthQueue) {
    let waiting: u64 = sim
        .truth()
        .queue(&queue.id)
        .map_or(0, |q| q.waiting.values().sum());
    if waiting < MIN_WAITING {
        sim.schedule_spike(&queue.name, Duration::ZERO, SPIKE);
    }
}

fn all_up(s: &Scrape) -> bool {
    COLLECTORS
        .iter()
        .all(|c| value(s, "genesys_up", &[("collector", c)]) == 1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_the_proxy_and_every_collector_recovers() {
    let sim = start_sim(SimConfig {
        clock: busy_at(10, 0),
        ..sim_config()
    })
    .await;
    let spiked = sim.truth().queues[0].clone();
    keep_waiting(&sim, &spiked);
    let (proxy, proxy_addr, proxy_task) = start_proxy(&sim).await;
    let clock = Arc::new(FnClock(sim.clock_fn()));
    let exporter = Exporter::start_with_clock(exporter_config(proxy_addr), clock)
        .await
        .expect("exporter starts");
    let addr = exporter.local_addr();
    let mut monotonic = Monotonic::default();

    // Faults on: until every endpoint met every fault (bounded).
    let started = Instant::now();
    let mut revoked = Instant::now();
    loop {
        monotonic.check(&scrape(addr).await);
        keep_waiting(&sim, &spiked);
        sim.advance(BUSINESS_STEP);
        if revoked.elapsed() >= REVOKE_EVERY {
            sim.faults().revoke_tokens();
            revoked = Instant::now();
        }
        let elapsed = started.elapsed();
        if (elapsed >= MIN_FAULTS && proxy.covered()) || elapsed >= MAX_FAULTS {
            break;
        }
        tokio::time::sleep(SCRAPE_EVERY).await;
    }
    proxy.faults_on.store(false, Ordering::SeqCst);
    let fault_phase = started.elapsed();
    assert!(
        proxy.covered(),
        "after {fault_phase:?} of faults, not every endpoint met every outcome: missing {:?}",
        proxy.missing()
    );
    let counts = proxy.counts();
    let unclassified: BTreeSet<&String> = counts
        .keys()
        .map(|(route, _)| route)
        .filter(|r| !COVERED.contains(&r.as_str()) && !UNCOVERED.contains(&r.as_str()))
        .collect();
    assert!(
        unclassified.is_empty(),
        "requests the test does not classify: {unclassified:?}"
    );
    assert!(
        counts
            .keys()
            .any(|(route, outcome)| route == ORG_LIMITS && outcome != "200"),
        "the org's limits were read through the faults: {counts:?}"
    );

    // Faults off: every collector comes back, and the analytics counters count again past
    // their baseline (bounded).
    let offered = |s: &Scrape| -> f64 { s.total("genesys_conversations_offered_total") };
    let deadline = Instant::now() + RECOVERY;
    let recovered = loop {
        let s = scrape(addr).await;
        monotonic.check(&s);
        if all_up(&s) && offered(&s) > 0.0 && s.has("genesys_queue_estimated_wait_seconds") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "not every collector recovered within {RECOVERY:?} of the faults stopping: up {:?}, \
             {} conversations offered, estimated waits {:?}",
            s.all("genesys_up"),
            offered(&s),
            s.all("genesys_queue_estimated_wait_seconds")
        );
        keep_waiting(&sim, &spiked);
        sim.advance(BUSINESS_STEP);
        tokio::time::sleep(SCRAPE_EVERY).await;
    };
    for c in COLLECTORS {
        let labels = [("collector", c)];
        assert!(
            value(&recovered, "genesys_collector_polls_total", &labels) >= 2.0,
            "{c} polled"
        );
        assert!(
            value(&recovered, "genesys_collector_poll_failures_total", &labels) >= 1.0,
            "the faults failed some poll of {c}"
        );
    }

    // Traffic stopped: the requests in flight are answered, new ones wait at the proxy (well
    // within the exporter's request timeout). Then the exporter has counted what the proxy saw.
    let held = tokio::time::timeout(Duration::from_secs(10), proxy.traffic.write())
        .await
        .expect("the requests in flight finish");
    let expected = as_exporter_labels(&proxy.counts());
    let mut diffs = Vec::new();
    for _ in 0..40 {
        let s = scrape(addr).await;
        monotonic.check(&s);
        diffs = differences(&exporter_requests(&s), &expected);
        if diffs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        as_exporter_labels(&proxy.counts()),
        expected,
        "no request passed the proxy while traffic was held"
    );
    drop(held);
    assert!(
        diffs.is_empty(),
        "genesys_api_requests_total differs from what the proxy saw:\n{}",
        diffs.join("\n")
    );
    let total: f64 = expected.values().sum();
    eprintln!(
        "fault phase {fault_phase:?}, {} scrapes, {total} requests through the proxy, whole test {:?}",
        monotonic.scrapes,
        started.elapsed()
    );

    exporter.shutdown().await;
    proxy_task.abort();
    sim.shutdown().await;
}
