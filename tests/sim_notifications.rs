//! The simulated org's Notifications API (REFERENCE 2.7) over HTTP and WebSocket on loopback:
//! channels and subscriptions with their limits, the channel socket (heartbeat, ping/pong,
//! displacement, expiry), observation events, push faults, and every frame and answer against
//! the official definitions (`tests/fixtures/openapi-definitions.json`; the notification
//! definitions were added with the command in `tests/sim_schema.rs`, for
//! StatEventQueueTopicStatsNotification, SystemMessageSystemMessage, Channel,
//! ChannelEntityListing, ChannelTopic and ChannelTopicEntityListing).
//!
//! The WebSocket client is tungstenite's blocking one, run inside `block_in_place` with read
//! timeouts: every wait is bounded.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use genesys_sim::{Endpoint, Fault, SimConfig, SimOrg};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

mod common;

use common::schema::Validator;

const CHANNELS: &str = "/api/v2/notifications/channels";
const OBS: &str = "/api/v2/analytics/queues/observations/query";
const HEARTBEAT: Duration = Duration::from_millis(300);
/// Long enough for anything the simulator does promptly.
const SOON: Duration = Duration::from_secs(3);

fn config() -> SimConfig {
    SimConfig {
        queues: 4,
        heartbeat_interval: HEARTBEAT,
        ..common::sim_config()
    }
}

async fn start(cfg: SimConfig) -> SimOrg {
    common::start_sim(cfg).await
}

fn observations_topic(queue_id: &str) -> String {
    format!("v2.analytics.queues.{queue_id}.observations")
}

// ---------- HTTP ----------

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn new(sim: &SimOrg) -> Api {
        Api {
            base: sim.api_url(),
            token: common::sim_token(sim).await,
            client: common::sim_client(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e})"))
        };
        (status, v)
    }

    async fn create_channel(&self) -> Value {
        let (status, v) = self.call(reqwest::Method::POST, CHANNELS, None).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn head(&self, channel_id: &str) -> u16 {
        self.client
            .head(format!("{}{CHANNELS}/{channel_id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("HEAD")
            .status()
            .as_u16()
    }

    async fn subscribe(
        &self,
        method: reqwest::Method,
        channel_id: &str,
        topics: &[String],
    ) -> (u16, Value) {
        let body: Vec<Value> = topics.iter().map(|t| json!({ "id": t })).collect();
        self.call(
            method,
            &format!("{CHANNELS}/{channel_id}/subscriptions"),
            Some(Value::Array(body)),
        )
        .await
    }

    async fn topics(&self, channel_id: &str) -> Vec<(String, String)> {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                &format!("{CHANNELS}/{channel_id}/subscriptions"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        states(&v)
    }
}

/// (topic, state) of a `ChannelTopicEntityListing`.
fn states(listing: &Value) -> Vec<(String, String)> {
    listing["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_string(),
                e["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn queue_ids(sim: &SimOrg) -> Vec<(String, String)> {
    sim.truth()
        .queues
        .into_iter()
        .map(|q| (q.id, q.name))
        .collect()
}

// ---------- WebSocket ----------

#[derive(Debug)]
enum Got {
    Frame(Value),
    Closed(Option<CloseFrame>),
    /// The TCP connection ended without a close frame.
    Reset,
    Timeout,
}

struct Ws {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    fn connect(uri: &str) -> Ws {
        tokio::task::block_in_place(|| {
            let (socket, resp) = tungstenite::connect(uri).expect("WebSocket connects");
            assert_eq!(resp.status().as_u16(), 101);
            Ws { socket }
        })
    }

    /// The HTTP status a refused connection got.
    fn refused(uri: &str) -> u16 {
        tokio::task::block_in_place(|| match tungstenite::connect(uri) {
            Err(tungstenite::Error::Http(r)) => r.status().as_u16(),
            Err(e) => panic!("expected an HTTP refusal, got {e}"),
            Ok(_) => panic!("expected the connection to be refused"),
        })
    }

    fn send(&mut self, text: &str) {
        tokio::task::block_in_place(|| {
            self.socket
                .send(Message::text(text.to_string()))
                .expect("send a frame");
        });
    }

    /// The next frame or end of the connection, waiting at most `within`.
    fn next(&mut self, within: Duration) -> Got {
        let deadline = Instant::now() + within;
        tokio::task::block_in_place(|| loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Timeout;
            }
            if let MaybeTlsStream::Plain(s) = self.socket.get_mut() {
                s.set_read_timeout(Some(left)).expect("read timeout");
            }
            match self.socket.read() {
                Ok(Message::Text(t)) => {
                    return Got::Frame(serde_json::from_str(t.as_str()).expect("a JSON frame"))
                }
                Ok(Message::Close(f)) => return Got::Closed(f),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Got::Closed(None)
                }
                Err(_) => return Got::Reset,
            }
        })
    }

    /// The next frame `pick` accepts (others are skipped), or panics after `within`.
    fn expect(&mut self, what: &str, within: Duration, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Got::Frame(v) if pick(&v) => return v,
                Got::Frame(_) => {}
                other => panic!("waiting for {what}: {other:?}"),
            }
        }
    }

    /// Skips frames until the connection ends (close frame or reset), or panics.
    fn expect_end(&mut self, within: Duration) -> Got {
        let deadline = Instant::now() + within;
        loop {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Got::Frame(_) => {}
                Got::Timeout => panic!("the socket did not end within {within:?}"),
                end => return end,
            }
        }
    }

    fn close(mut self) {
        tokio::task::block_in_place(|| {
            let _ = self.socket.close(None);
            if let MaybeTlsStream::Plain(s) = self.socket.get_mut() {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            }
            while self.socket.read().is_ok() {}
        });
    }
}

/// Metric entries in a stable order (metric, qualifier).
fn sorted(entries: &Value) -> Vec<Value> {
    let mut v = entries.as_array().cloned().unwrap_or_default();
    v.sort_by_key(|m| (m["metric"].to_string(), m["qualifier"].to_string()));
    v
}

fn topic_is(v: &Value, topic: &str) -> bool {
    v["topicName"] == topic
}

fn is_heartbeat(v: &Value) -> bool {
    topic_is(v, "channel.metadata") && v["eventBody"]["message"] == "WebSocket Heartbeat"
}

fn is_pong(v: &Value) -> bool {
    topic_is(v, "channel.metadata") && v["eventBody"]["message"] == "pong"
}

// ---------- schema ----------

impl Validator {
    /// A WebSocket frame: the envelope of NET `NotificationData.cs` (no definition in the
    /// subset), then the event body against its topic's definition; `channel.metadata` bodies
    /// have no definition either (`{"message": string}`, as in the published heartbeat).
    fn check_frame(&mut self, frame: &Value, path: &str) {
        let envelope = json!({"type": "object", "properties": {
            "topicName": {"type": "string"},
            "version": {"type": "string"},
            "eventBody": {"type": "object"},
            "metadata": {"type": "object", "properties": {"CorrelationId": {"type": "string"}}}
        }});
        self.check(&envelope, frame, path);
        let topic = frame["topicName"].as_str().unwrap_or_default();
        let body = &frame["eventBody"];
        let body_path = format!("{path}.eventBody");
        if topic == "channel.metadata" {
            let schema = json!({"type": "object", "properties": {"message": {"type": "string"}}});
            self.check(&schema, body, &body_path);
            if !body["message"].is_string() {
                self.errors.push(format!("{body_path}: no message"));
            }
        } else if topic == "v2.system.socket_closing" {
            self.check_def("SystemMessageSystemMessage", body, &body_path);
        } else if topic.starts_with("v2.analytics.queues.") && topic.ends_with(".observations") {
            self.check_def("StatEventQueueTopicStatsNotification", body, &body_path);
            if frame["metadata"]["CorrelationId"].as_str().is_none() {
                self.errors
                    .push(format!("{path}: no metadata.CorrelationId"));
            }
        } else {
            self.errors
                .push(format!("{path}: unexpected topic {topic:?}"));
        }
    }

    fn assert_clean(&self) {
        assert!(
            self.errors.is_empty(),
            "{} schema mismatches:\n{}",
            self.errors.len(),
            self.errors.join("\n")
        );
    }
}

// ---------- tests ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_and_subscriptions_with_their_limits() {
    let sim = start(config()).await;
    let api = Api::new(&sim).await;
    let queues = queue_ids(&sim);

    let ch = api.create_channel().await;
    let id = ch["id"].as_str().expect("id").to_string();
    let uri = ch["connectUri"].as_str().expect("connectUri");
    assert_eq!(
        uri,
        format!("ws://{}/channels/{id}", sim.local_addr()),
        "{ch}"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(ch["expires"].as_str().expect("expires"))
        .expect("expires is ISO-8601");
    let lifetime = expires.timestamp_millis() - sim.now_ms();
    assert!(
        (24 * 3_600_000 - 1000..=24 * 3_600_000).contains(&lifetime),
        "a channel lives 24 h: {lifetime} ms"
    );
    assert_eq!(api.head(&id).await, 200);
    assert_eq!(api.head("no-such-channel").await, 404);
    let (status, list) = api.call(reqwest::Method::GET, CHANNELS, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["entities"][0]["id"], id.as_str());

    // PUT replaces, POST adds, GET lists, DELETE clears.
    let two: Vec<String> = queues[..2]
        .iter()
        .map(|(q, _)| observations_topic(q))
        .collect();
    let (status, v) = api.subscribe(reqwest::Method::PUT, &id, &two).await;
    assert_eq!(status, 200, "{v}");
    let mut want: Vec<(String, String)> = two
        .iter()
        .map(|t| (t.clone(), "Permitted".to_string()))
        .collect();
    want.sort();
    assert_eq!(states(&v), want);
    assert_eq!(api.topics(&id).await, want);
    let routing = format!("v2.routing.queues.{}.conversations", queues[2].0);
    let (status, v) = api
        .subscribe(
            reqwest::Method::POST,
            &id,
            &[routing.clone(), "v2.no.such.topic".to_string()],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let got = states(&v);
    assert_eq!(got.len(), 4, "{v}");
    assert!(got.contains(&(routing.clone(), "Permitted".into())), "{v}");
    assert_eq!(
        got.last(),
        Some(&("v2.no.such.topic".to_string(), "Rejected".to_string()))
    );
    assert!(v["entities"][3]["rejectionReason"].is_string(), "{v}");
    assert_eq!(api.topics(&id).await.len(), 3);

    // 1,000 topics per channel: one more is a 400 and changes nothing.
    let many: Vec<String> = (0..1001)
        .map(|i| observations_topic(&format!("q{i}")))
        .collect();
    let (status, v) = api.subscribe(reqwest::Method::PUT, &id, &many).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], "bad.request");
    assert_eq!(api.topics(&id).await.len(), 3);
    let (status, v) = api
        .subscribe(reqwest::Method::POST, &id, &many[..998])
        .await;
    assert_eq!(status, 400, "3 + 998 > 1000: {v}");
    let (status, v) = api
        .subscribe(reqwest::Method::POST, &id, &many[..997])
        .await;
    assert_eq!(status, 200, "3 + 997 = 1000: {v}");
    assert_eq!(api.topics(&id).await.len(), 1000);
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("{CHANNELS}/{id}/subscriptions"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(api.topics(&id).await.is_empty());

    // Same auth, methods and errors as the other endpoints.
    let r = common::sim_client()
        .post(format!("{}{CHANNELS}", sim.api_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let (status, _) = api.call(reqwest::Method::DELETE, CHANNELS, None).await;
    assert_eq!(status, 405);
    let (status, _) = api
        .call(
            reqwest::Method::GET,
            &format!("{CHANNELS}/nope/subscriptions"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, v) = api
        .call(
            reqwest::Method::PUT,
            &format!("{CHANNELS}/{id}/subscriptions"),
            Some(json!({"id": "not a list"})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let stats = sim.stats();
    assert_eq!(stats.count_status("POST", CHANNELS, 200), 1);
    assert_eq!(stats.count_status("POST", CHANNELS, 401), 1);
    assert_eq!(
        stats.count_status("PUT", &format!("{CHANNELS}/{id}/subscriptions"), 400),
        2
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_21st_channel_evicts_the_oldest_unconnected_first() {
    let sim = start(config()).await;
    let api = Api::new(&sim).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            api.create_channel().await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    // Channel 0 gets a socket, then every other channel is used after it (HEAD is a use):
    // channel 0 is the oldest used, but it is connected.
    let mut ws = Ws::connect(&format!("ws://{}/channels/{}", sim.local_addr(), ids[0]));
    ws.expect("a heartbeat", SOON, is_heartbeat);
    for id in &ids[1..] {
        assert_eq!(api.head(id).await, 200);
    }
    let newest = api.create_channel().await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.head(&ids[1]).await,
        404,
        "the oldest without a socket is removed"
    );
    for id in ids[2..].iter().chain([&ids[0], &newest]) {
        assert_eq!(api.head(id).await, 200);
    }
    ws.expect(
        "a heartbeat: the connected channel stays",
        SOON,
        is_heartbeat,
    );
    // Once its socket is closed, channel 0 is like any other: used before all the others
    // (the HEADs below), it is the next to go.
    ws.close();
    assert_eq!(api.head(&ids[0]).await, 200);
    for id in ids[2..].iter().chain([&newest]) {
        assert_eq!(api.head(id).await, 200);
    }
    let _ = api.create_channel().await;
    assert_eq!(
        api.head(&ids[0]).await,
        404,
        "the oldest channel is removed"
    );
    let (status, list) = api.call(reqwest::Method::GET, CHANNELS, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["entities"].as_array().map(Vec::len), Some(20));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_heartbeat_pong_displacement_and_events() {
    let sim = start(config()).await;
    let api = Api::new(&sim).await;
    let queues = queue_ids(&sim);
    let ch = api.create_channel().await;
    let id = ch["id"].as_str().expect("id").to_string();
    let uri = ch["connectUri"].as_str().expect("connectUri").to_string();
    let topics: Vec<String> = queues[..2]
        .iter()
        .map(|(q, _)| observations_topic(q))
        .collect();
    let (status, v) = api.subscribe(reqwest::Method::PUT, &id, &topics).await;
    assert_eq!(status, 200, "{v}");

    let mut ws = Ws::connect(&uri);
    let hb = ws.expect("a heartbeat", SOON, is_heartbeat);
    assert_eq!(
        hb,
        json!({"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}})
    );
    ws.send(r#"{"message":"ping"}"#);
    ws.expect("a pong", SOON, is_pong);
    assert!(
        sim.stats()
            .count_status("GET", &format!("/channels/{id}"), 101)
            >= 1,
        "the upgrade is in the request stats"
    );

    // A queue change: a spike on the first queue, then the clock moves.
    let (q0, name0) = queues[0].clone();
    sim.schedule_spike(&name0, Duration::ZERO, 30);
    sim.advance(Duration::from_secs(2));
    let waiting_of = |metrics: &Value| {
        metrics
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["metric"] == "oWaiting")
            .map_or(0, |m| m["stats"]["count"].as_u64().unwrap_or(0))
    };
    let ev = ws.expect("the spike's observations event", SOON, |v| {
        topic_is(v, &topics[0])
            && v["eventBody"]["group"]["mediaType"].is_string()
            && waiting_of(&v["eventBody"]["data"][0]["metrics"]) >= 20
    });
    assert_eq!(ev["version"], "2");
    assert_eq!(ev["eventBody"]["group"]["queueId"], q0.as_str());
    let metrics = sorted(&ev["eventBody"]["data"][0]["metrics"]);
    let interval = ev["eventBody"]["data"][0]["interval"]
        .as_str()
        .expect("interval");
    assert!(interval.contains('/'), "{interval}");
    // The event carries what the observations query answers for that group.
    let media = ev["eventBody"]["group"]["mediaType"]
        .as_str()
        .expect("mediaType");
    let (status, answer) = api
        .call(
            reqwest::Method::POST,
            OBS,
            Some(json!({"filter": {"type": "or", "predicates": [{"dimension": "queueId", "value": q0}]},
                "metrics": ["oWaiting", "oInteracting", "oAlerting", "oLongestWaiting", "oLongestInteracting",
                    "oOnQueueUsers", "oOffQueueUsers", "oActiveUsers", "oMemberUsers",
                    "oUserRoutingStatuses", "oUserPresences"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let polled = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["group"]["mediaType"] == media)
        .map(|r| sorted(&r["data"]))
        .expect("the query has the group");
    assert_eq!(metrics, polled, "event and query agree");

    // Several changes in quick succession: at most one event per second per topic and group.
    let mut seen: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    let until = Instant::now() + Duration::from_millis(2500);
    let mut next_advance = Instant::now();
    while Instant::now() < until {
        if Instant::now() >= next_advance {
            sim.schedule_spike(&name0, Duration::ZERO, 1);
            sim.advance(Duration::from_secs(1));
            next_advance = Instant::now() + Duration::from_millis(100);
        }
        if let Got::Frame(v) = ws.next(Duration::from_millis(50)) {
            if v["topicName"]
                .as_str()
                .is_some_and(|t| t.ends_with(".observations"))
            {
                assert!(
                    topics.iter().any(|t| topic_is(&v, t)),
                    "only subscribed topics: {v}"
                );
                let key = format!("{} {}", v["topicName"], v["eventBody"]["group"]);
                seen.entry(key).or_default().push(Instant::now());
            }
        }
    }
    assert!(!seen.is_empty(), "changes were published");
    for (key, times) in &seen {
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(900),
                "{key}: two events {gap:?} apart"
            );
        }
    }

    // A second socket on the channel displaces the first.
    let mut second = Ws::connect(&uri);
    match ws.expect_end(SOON) {
        Got::Closed(Some(f)) => assert!(!f.reason.is_empty(), "{f:?}"),
        other => panic!("the first socket should get a close frame: {other:?}"),
    }
    second.expect("a heartbeat on the new socket", SOON, is_heartbeat);
    second.close();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_user_presences_are_the_query_rows_and_roll_up_to_the_truth() {
    // The morning ramp-up: agents change presence from one minute to the next.
    let sim = start(SimConfig {
        clock: common::busy_at(7, 30),
        queues: 12,
        ..config()
    })
    .await;
    let api = Api::new(&sim).await;
    let queues = queue_ids(&sim);
    let ch = api.create_channel().await;
    let id = ch["id"].as_str().expect("id").to_string();
    let topics: Vec<String> = queues.iter().map(|(q, _)| observations_topic(q)).collect();
    let (status, v) = api.subscribe(reqwest::Method::PUT, &id, &topics).await;
    assert_eq!(status, 200, "{v}");
    let mut ws = Ws::connect(ch["connectUri"].as_str().expect("connectUri"));
    ws.expect("a heartbeat", SOON, is_heartbeat);

    let ids: Vec<Value> = queues
        .iter()
        .map(|(q, _)| json!({"dimension": "queueId", "value": q}))
        .collect();
    let query = json!({"filter": {"type": "or", "predicates": ids},
        "metrics": ["oOnQueueUsers", "oOffQueueUsers", "oActiveUsers", "oMemberUsers",
            "oUserRoutingStatuses", "oUserPresences"]});
    // Queue id -> the metrics of the last event of its agent group.
    let mut pushed: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut presence_rows = 0;
    for _ in 0..4 {
        sim.advance(Duration::from_secs(60));
        // A topic's changes go out at once when its last event is over a second old.
        let deadline = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline {
            let Got::Frame(f) = ws.next(deadline.saturating_duration_since(Instant::now())) else {
                continue;
            };
            let group = &f["eventBody"]["group"];
            if group["queueId"].is_string() && group["mediaType"].is_null() {
                let metrics = sorted(&f["eventBody"]["data"][0]["metrics"]);
                presence_rows += metrics
                    .iter()
                    .filter(|m| m["metric"] == "oUserPresences")
                    .count();
                let q = group["queueId"].as_str().unwrap_or_default().to_string();
                pushed.insert(q, metrics);
            }
        }
        let (status, answer) = api
            .call(reqwest::Method::POST, OBS, Some(query.clone()))
            .await;
        assert_eq!(status, 200, "{answer}");
        let truth = sim.truth();
        let system_of: BTreeMap<String, String> = answer["systemToOrganizationMappings"]
            .as_object()
            .expect("mappings")
            .iter()
            .flat_map(|(sys, org)| {
                let org = org.as_array().cloned().unwrap_or_default();
                org.into_iter()
                    .map(move |id| (id.as_str().unwrap_or_default().to_string(), sys.clone()))
            })
            .collect();
        for (q, metrics) in &pushed {
            let polled = answer["results"]
                .as_array()
                .expect("results")
                .iter()
                .find(|r| r["group"]["queueId"] == q.as_str())
                .map(|r| sorted(&r["data"]))
                .expect("the query has the agent group");
            assert_eq!(
                metrics, &polled,
                "the last event of {q} is the query's answer"
            );
            let mut rolled: BTreeMap<String, u64> = BTreeMap::new();
            for m in metrics.iter().filter(|m| m["metric"] == "oUserPresences") {
                let org = m["qualifier"].as_str().expect("a presence id");
                let sys = system_of.get(org).expect("a mapped presence id");
                *rolled.entry(sys.to_ascii_lowercase()).or_default() +=
                    m["stats"]["count"].as_u64().expect("a count");
            }
            let truth = truth.queue(q).expect("a live queue");
            for (sys, n) in &truth.presences {
                assert_eq!(rolled.get(sys).copied().unwrap_or(0), *n, "{q} {sys}");
            }
        }
    }
    assert!(!pushed.is_empty(), "agent groups were pushed");
    assert!(presence_rows > 0, "presences were pushed");
    ws.close();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_closes_the_socket_and_resubscribing_renews() {
    let sim = start(SimConfig {
        channel_ttl: Duration::from_secs(10),
        ..config()
    })
    .await;
    let api = Api::new(&sim).await;
    let ch = api.create_channel().await;
    let id = ch["id"].as_str().expect("id").to_string();
    let uri = ch["connectUri"].as_str().expect("connectUri").to_string();
    let mut ws = Ws::connect(&uri);
    ws.expect("a heartbeat", SOON, is_heartbeat);
    sim.advance(Duration::from_secs(8));
    let (status, v) = api
        .subscribe(reqwest::Method::PUT, &id, &[observations_topic("q")])
        .await;
    assert_eq!(status, 200, "resubscribing renews the channel: {v}");
    sim.advance(Duration::from_secs(8));
    assert_eq!(
        api.head(&id).await,
        200,
        "16 s after creation, 8 s after renewal"
    );
    ws.expect("a heartbeat", SOON, is_heartbeat);
    sim.advance(Duration::from_secs(3));
    match ws.expect_end(SOON) {
        Got::Closed(Some(_)) => {}
        other => panic!("expiry should close the socket with a close frame: {other:?}"),
    }
    assert_eq!(api.head(&id).await, 404);
    assert_eq!(Ws::refused(&uri), 404);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_faults() {
    let sim = start(config()).await;
    let api = Api::new(&sim).await;
    let faults = sim.faults();
    let mut v = Validator::new();

    // Channel creation refused.
    faults.fail_next(
        Endpoint::Channels,
        1,
        Fault::Status {
            status: 403,
            retry_after_secs: None,
        },
    );
    let (status, body) = api.call(reqwest::Method::POST, CHANNELS, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "missing.permissions");
    v.check_def("ErrorBody", &body, "403");
    let ch = api.create_channel().await;
    let id = ch["id"].as_str().expect("id").to_string();
    let uri = ch["connectUri"].as_str().expect("connectUri").to_string();

    // Rejected subscription.
    let topic = observations_topic(&queue_ids(&sim)[0].0);
    faults.fail_next(Endpoint::Subscriptions, 1, Fault::Rejected);
    let (status, body) = api
        .subscribe(reqwest::Method::PUT, &id, std::slice::from_ref(&topic))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(states(&body), vec![(topic.clone(), "Rejected".to_string())]);
    assert_eq!(
        body["entities"][0]["missingPermissions"],
        json!(["analytics:queueObservation:view"])
    );
    v.check_def("ChannelTopicEntityListing", &body, "rejected");
    assert!(api.topics(&id).await.is_empty(), "nothing subscribed");
    let (status, body) = api
        .subscribe(reqwest::Method::PUT, &id, std::slice::from_ref(&topic))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        states(&body),
        vec![(topic.clone(), "Permitted".to_string())]
    );

    // A socket-closing notice, then a close frame.
    let mut ws = Ws::connect(&uri);
    ws.expect("a heartbeat", SOON, is_heartbeat);
    faults.fail_next(Endpoint::WebSocket, 1, Fault::SocketClosing);
    let notice = ws.expect("the socket_closing notice", SOON, |f| {
        topic_is(f, "v2.system.socket_closing")
    });
    assert_eq!(notice["eventBody"]["channelId"], id.as_str());
    v.check_frame(&notice, "socket_closing");
    assert!(matches!(ws.expect_end(SOON), Got::Closed(Some(_))));

    // An abrupt drop: no close frame.
    let mut ws = Ws::connect(&uri);
    ws.expect("a heartbeat", SOON, is_heartbeat);
    faults.fail_next(Endpoint::WebSocket, 1, Fault::Drop);
    match ws.expect_end(SOON) {
        Got::Reset => {}
        other => panic!("expected the TCP connection to end without a close frame: {other:?}"),
    }

    // A silent stall: nothing at all (not even heartbeats or pongs), and no close.
    let mut ws = Ws::connect(&uri);
    ws.expect("a heartbeat", SOON, is_heartbeat);
    faults.fail_next(Endpoint::WebSocket, 1, Fault::Stall);
    // The next frame is swallowed, and so is everything after it (frames sent before the
    // fault was queued are drained first).
    tokio::time::sleep(HEARTBEAT * 2).await;
    while let Got::Frame(_) = ws.next(Duration::from_millis(50)) {}
    assert_eq!(faults.pending(), 0, "the stall has been taken");
    ws.send(r#"{"message":"ping"}"#);
    match ws.next(HEARTBEAT * 5) {
        Got::Timeout => {}
        other => panic!("a stalled socket sends nothing and stays open: {other:?}"),
    }
    // A new socket works (and displaces the stalled one without a word).
    let mut fresh = Ws::connect(&uri);
    fresh.expect("a heartbeat", SOON, is_heartbeat);
    fresh.send(r#"{"message":"ping"}"#);
    fresh.expect("a pong", SOON, is_pong);
    assert!(
        !matches!(ws.next(SOON), Got::Frame(_)),
        "the stalled socket stays silent"
    );
    fresh.close();

    // An HTTP fault on the upgrade itself.
    faults.fail_next(
        Endpoint::WebSocket,
        1,
        Fault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    assert_eq!(Ws::refused(&uri), 503);

    // The same faults from the command line.
    let genesys_sim::cli::FaultSpec(spec) = genesys_sim::cli::parse_faults(
        "channels:403,subscriptions:rejected,websocket:socket_closing,websocket:drop,websocket:stall",
    )
    .expect("a valid --faults");
    assert_eq!(spec.len(), 5);
    v.assert_clean();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_and_answer_matches_the_official_definitions() {
    let sim = start(SimConfig {
        clock: common::busy_at(10, 30),
        ..config()
    })
    .await;
    sim.faults().set_emit_zero_counts(true);
    let api = Api::new(&sim).await;
    let mut v = Validator::new();
    let queues = queue_ids(&sim);

    let ch = api.create_channel().await;
    v.check_def("Channel", &ch, "channel");
    let (status, list) = api.call(reqwest::Method::GET, CHANNELS, None).await;
    assert_eq!(status, 200);
    v.check_def("ChannelEntityListing", &list, "channels");
    let id = ch["id"].as_str().expect("id").to_string();
    let topics: Vec<String> = queues.iter().map(|(q, _)| observations_topic(q)).collect();
    let mut asked = topics.clone();
    asked.push("v2.nothing.here".to_string());
    let (status, listing) = api.subscribe(reqwest::Method::PUT, &id, &asked).await;
    assert_eq!(status, 200, "{listing}");
    v.check_def("ChannelTopicEntityListing", &listing, "subscriptions");
    for (status_want, method, path) in [
        (
            404,
            reqwest::Method::GET,
            format!("{CHANNELS}/nope/subscriptions"),
        ),
        (405, reqwest::Method::PATCH, CHANNELS.to_string()),
    ] {
        let (status, body) = api.call(method, &path, None).await;
        assert_eq!(status, status_want, "{body}");
        v.check_def("ErrorBody", &body, &format!("error {status}"));
    }

    let mut ws = Ws::connect(ch["connectUri"].as_str().expect("connectUri"));
    let hb = ws.expect("a heartbeat", SOON, is_heartbeat);
    v.check_frame(&hb, "heartbeat");
    ws.send(r#"{"message":"ping"}"#);
    let pong = ws.expect("a pong", SOON, is_pong);
    v.check_frame(&pong, "pong");

    // Events in both content modes, with zero rows on.
    let mut events = 0;
    let mut groups = std::collections::BTreeSet::new();
    for changed_only in [false, true] {
        sim.faults().set_push_changed_metrics_only(changed_only);
        sim.schedule_spike(&queues[0].1, Duration::ZERO, 5);
        sim.advance(Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline {
            if let Got::Frame(f) = ws.next(Duration::from_millis(100)) {
                v.check_frame(&f, &format!("frame {events}"));
                if f["topicName"]
                    .as_str()
                    .is_some_and(|t| t.ends_with(".observations"))
                {
                    events += 1;
                    groups.insert(f["eventBody"]["group"].to_string());
                }
            }
        }
        // Let the per-topic second pass before the next round.
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert!(events >= 2, "a busy org changes: {events} events");
    assert!(
        groups.iter().any(|g| g.contains("mediaType")),
        "conversation groups: {groups:?}"
    );

    sim.faults()
        .fail_next(Endpoint::WebSocket, 1, Fault::SocketClosing);
    let notice = ws.expect("the socket_closing notice", SOON, |f| {
        topic_is(f, "v2.system.socket_closing")
    });
    v.check_frame(&notice, "socket_closing");
    v.assert_clean();
    sim.shutdown().await;
}

/// The frame validator catches what it should.
#[test]
fn the_frame_validator_reports_mismatches() {
    let mut v = Validator::new();
    let good = json!({"topicName": "v2.analytics.queues.q.observations", "version": "2",
        "eventBody": {"group": {"queueId": "q", "mediaType": "voice"}, "data": [
            {"interval": "a/b", "metrics": [{"metric": "oWaiting", "stats": {"count": 0}}]}]},
        "metadata": {"CorrelationId": "c"}});
    v.check_frame(&good, "good");
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let bad = json!({"topicName": "v2.analytics.queues.q.observations", "extra": 1,
        "eventBody": {"group": {"queueId": 7}, "data": [
            {"interval": "a/b", "metrics": [{"metric": "oWaiting", "stats": {"count": "3"}}]}]}});
    v.check_frame(&bad, "bad");
    let closing = json!({"topicName": "v2.system.socket_closing",
        "eventBody": {"systemTopicType": "maintenance"}});
    v.check_frame(&closing, "closing");
    let all = v.errors.join("\n");
    for want in [
        "bad.extra: not declared",
        "bad.eventBody.group.queueId: expected string",
        "bad.eventBody.data[0].metrics[0].stats.count: expected number",
        "bad: no metadata.CorrelationId",
        "closing.eventBody.systemTopicType: \"maintenance\" is not in the enum",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}
