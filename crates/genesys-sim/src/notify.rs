//! The Notifications API (REFERENCE 2.7): channels, subscriptions, and what a channel's
//! WebSocket is sent (the socket itself is `websocket.rs`).
//!
//! * `POST /api/v2/notifications/channels` -> `Channel {connectUri, id, expires}`; at most
//!   [`MAX_CHANNELS`] channels per client: creating one more removes the channel with the oldest
//!   last use, channels without a connected socket first. A channel expires `SimConfig::
//!   channel_ttl` after creation or after its last `PUT`/`POST` of subscriptions ("to maintain
//!   a channel for longer than 24 hours, resubscribe"), on the business clock like tokens;
//!   expiry closes its socket and removes it (`HEAD` -> 404).
//! * Subscriptions: `PUT` replaces, `POST` adds, `GET` lists, `DELETE` (204) removes all. At
//!   most [`MAX_TOPICS`] topics per channel (more: 400, nothing changes). `PUT`/`POST` answer
//!   the channel's subscriptions after the call (`Permitted`) followed by the topics of the
//!   request that were refused (`Rejected`): topics of no known pattern (`rejectionReason`
//!   only), and every topic of a request hit by `Fault::Rejected` (`missingPermissions`).
//!   The answer is the same with `ignoreErrors=true` or `false`.
//! * Known topic patterns are those of `x-notification-topics`; only
//!   `v2.analytics.queues.{id}.observations` is published.
//!
//! Observation events (`StatEventQueueTopicStatsNotification`): the observation state of a
//! queue is split into the groups the observations query answers with, `{queueId}` (agent
//! metrics) and `{queueId, mediaType}` for each media type of the queue (conversation
//! metrics). Genesys does not document what an event holds; the simulator sends, for each group
//! whose state changed since that topic's last event, one event with every metric of the
//! group exactly as the query answers it (zero counts left out unless
//! `Faults::set_emit_zero_counts`; a group whose metrics are all zero comes as `metrics: []`).
//! `oUserPresences` comes as in the query, one entry per organization presence qualified by
//! its id (two can share a system presence); events carry no `systemToOrganizationMappings`,
//! the query's answer maps the ids.
//! `Faults::set_push_changed_metrics_only` switches to the changed metrics only. A topic is
//! published at most once a second (wall clock): the changed groups then go out together, one
//! frame each, and changes within the second are sent, latest state, when it has passed.
//! `data` holds one entry whose `interval` is the current 30-minute interval. A socket starts
//! from the state at connect time (no snapshot is pushed; what changed while no socket was
//! connected is not replayed). The model's state is only read here, never advanced.
//!
//! `Hub::push_hostile` (`SimOrg::push_hostile`, `faults::Hostile`) sends frames a newer or
//! broken Genesys might: undocumented media types and routing statuses, counts that are no
//! counts, a body naming another queue than its topic, a topic never subscribed, aggregates
//! on the observations topic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::api::{
    Channel, ChannelEntityListing, ChannelMetadataBody, ChannelTopic, ChannelTopicEntityListing,
    ChannelTopicRequest, NotificationFrame, NotificationMetadata, ObservationMetricData,
    StatEventQueueTopicIntervalMetrics, StatEventQueueTopicStatsNotification,
};
use super::endpoints;
use super::error::ApiError;
use super::faults::{Faults, Hostile};
use super::model::{Model, QueueSnap};
use super::sync::lock;

/// What the hub reads of the org it serves (implemented by `shared::Shared`, which holds the
/// hub: naming this trait instead of that type keeps the dependency one way).
pub(crate) trait Org {
    /// The business clock now (epoch ms).
    fn business_now_ms(&self) -> i64;
    fn realtime(&self) -> bool;
    /// The listener's address (the channels' `connectUri`).
    fn addr(&self) -> SocketAddr;
    fn model(&self) -> &Mutex<Model>;
    fn faults(&self) -> &Faults;
}

pub(crate) const CHANNELS_PATH: &str = "/api/v2/notifications/channels";
/// Path prefix of the `connectUri` the simulator hands out (`ws://HOST:PORT/channels/{id}`).
pub(crate) const SOCKET_PREFIX: &str = "/channels/";
/// "Each WebSocket connection is limited to 1,000 topics."
pub(crate) const MAX_TOPICS: usize = 1000;
/// "You can create up to 20 channels per user and application."
pub(crate) const MAX_CHANNELS: usize = 20;
/// "at most at a rate of one notification per second".
const EVENT_GAP: Duration = Duration::from_secs(1);
/// What a rejected observation topic is missing (the permission of the observations query;
/// the topic's own requirement is not in the reference).
pub(crate) const OBSERVATION_PERMISSION: &str = "analytics:queueObservation:view";

pub(crate) const HEARTBEAT_MESSAGE: &str = "WebSocket Heartbeat";
pub(crate) const PONG_MESSAGE: &str = "pong";
pub(crate) const METADATA_TOPIC: &str = "channel.metadata";
pub(crate) const SOCKET_CLOSING_TOPIC: &str = "v2.system.socket_closing";

/// Close codes the server sends (RFC 6455).
pub(crate) const CLOSE_NORMAL: u16 = 1000;
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;

/// What the hub tells a socket task.
#[derive(Debug)]
pub(crate) enum Out {
    /// A JSON frame for the client.
    Frame(String),
    /// Send a close frame (code, reason) and end.
    Close(u16, &'static str),
}

struct SocketHandle {
    id: u64,
    tx: mpsc::UnboundedSender<Out>,
}

impl SocketHandle {
    fn close(&self, reason: &'static str) {
        let _ = self.tx.send(Out::Close(CLOSE_NORMAL, reason));
    }
}

type GroupKey = BTreeMap<String, String>;
type Groups = BTreeMap<GroupKey, Vec<ObservationMetricData>>;

struct TopicState {
    /// Observation topics: the queue.
    queue_id: Option<String>,
    /// The state last published (or the baseline at subscribe/connect time).
    last: Groups,
    /// No event for this topic before then.
    next_at: Option<Instant>,
    /// The queue's live counts (and the zero-counts fault) `last` was last found equal to:
    /// while they are the same, so are its groups, and the pump skips it without building
    /// them (at 5,000 queues that was most of the simulator's CPU in push mode, taken from
    /// the exporter it benchmarks). `None`: not known, build the groups.
    seen: Option<(Option<QueueSnap>, bool)>,
    /// The model generation (`Model::generation`, and the zero-counts fault) at which `seen`
    /// was last found current: until the model moves on, the pump skips the topic without
    /// even building the snapshot (it pumps several times a tick, each topic's turn coming
    /// when its last event is a second old, and the snapshots of 5,000 queues at every pump
    /// were most of what was left of its CPU).
    checked: Option<(u64, bool)>,
    /// The queue's index in the model once found (a queue keeps its index for good, removed
    /// or not): the pump looks the id up once, not at every tick.
    index: Option<usize>,
}

struct ChannelState {
    id: String,
    expires_ms: i64,
    /// Order of last use (creation, an HTTP call on it, a socket connecting).
    last_used: u64,
    topics: BTreeMap<String, TopicState>,
    socket: Option<SocketHandle>,
}

#[derive(Default)]
struct HubState {
    channels: Vec<ChannelState>,
    uses: u64,
    sockets: u64,
    closed: bool,
    /// Names made up for hostile frames so far (each is new).
    hostile_names: u64,
}

impl HubState {
    fn touch(&mut self) -> u64 {
        self.uses += 1;
        self.uses
    }

    /// Removes expired channels (closing their sockets).
    fn expire(&mut self, now_ms: i64) {
        self.channels.retain(|c| {
            let live = now_ms < c.expires_ms;
            if !live {
                if let Some(s) = &c.socket {
                    s.close("channel expired");
                }
            }
            live
        });
    }

    fn find(&mut self, id: &str, now_ms: i64) -> Result<&mut ChannelState, ApiError> {
        self.expire(now_ms);
        let used = self.touch();
        let ch = self
            .channels
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| not_found(id))?;
        ch.last_used = used;
        Ok(ch)
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError {
        status: 404,
        code: "not.found",
        message: format!("Channel {id} was not found"),
    }
}

/// Channels, subscriptions and connected sockets of the simulated org.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    wake: Notify,
    ttl: Duration,
    pub(crate) heartbeat: Duration,
}

/// A known topic pattern.
enum Topic {
    Observations(String),
    Other,
}

fn parse_topic(t: &str) -> Option<Topic> {
    let parts: Vec<&str> = t.split('.').collect();
    let id_ok = |id: &str| !id.is_empty() && !id.contains(char::is_whitespace);
    const QUEUE_CONVERSATIONS: [&str; 9] = [
        "calls",
        "callbacks",
        "chats",
        "emails",
        "messages",
        "videos",
        "cobrowseSessions",
        "screenshares",
        "socialexpressions",
    ];
    match parts.as_slice() {
        ["v2", "analytics", "queues", id, "observations"] if id_ok(id) => {
            Some(Topic::Observations((*id).to_string()))
        }
        ["v2", "analytics", "queues", id, "activity"]
        | ["v2", "routing", "queues", id, "conversations" | "users"]
        | ["v2", "users", id, "conversations"]
        | ["v2", "detail", "events", "conversation", id, "acd", "start" | "end"]
            if id_ok(id) =>
        {
            Some(Topic::Other)
        }
        ["v2", "routing", "queues", id, "conversations", kind]
            if id_ok(id) && QUEUE_CONVERSATIONS.contains(kind) =>
        {
            Some(Topic::Other)
        }
        _ => None,
    }
}

pub(crate) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The 30-minute interval holding `now_ms`.
fn interval_of(now_ms: i64) -> String {
    const HALF_HOUR: i64 = 30 * 60 * 1000;
    let start = now_ms - now_ms.rem_euclid(HALF_HOUR);
    format!("{}/{}", iso(start), iso(start + HALF_HOUR))
}

/// The observation groups of a queue (every group present, empty if all zero); empty if the
/// queue does not exist.
fn queue_groups(model: &Model, queue_id: &str, zeros: bool) -> Groups {
    let Some(qi) = model.queue_index(queue_id) else {
        return Groups::new();
    };
    let mut groups = Groups::new();
    let key = |media: Option<&str>| {
        let mut k = GroupKey::new();
        k.insert("queueId".to_string(), queue_id.to_string());
        if let Some(m) = media {
            k.insert("mediaType".to_string(), m.to_string());
        }
        k
    };
    groups.insert(key(None), Vec::new());
    for m in &model.queues[qi].media {
        groups.insert(key(Some(m.analytics())), Vec::new());
    }
    let answer =
        endpoints::observations(model, &endpoints::queue_observation_query(queue_id), zeros);
    for c in answer.results {
        groups.insert(c.group, c.data);
    }
    groups
}

/// The metrics of `now` that differ from `before`; a count gone is sent as `count: 0`.
fn changed_metrics(
    before: &[ObservationMetricData],
    now: &[ObservationMetricData],
) -> Vec<ObservationMetricData> {
    let mut out: Vec<ObservationMetricData> = now
        .iter()
        .filter(|m| !before.contains(m))
        .cloned()
        .collect();
    for b in before {
        let gone = !now
            .iter()
            .any(|m| m.metric == b.metric && m.qualifier == b.qualifier);
        if gone && b.stats.count.is_some() {
            let mut zero = b.clone();
            zero.stats.count = Some(0);
            out.push(zero);
        }
    }
    out
}

pub(crate) fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A `channel.metadata` frame (heartbeat, pong), shaped like the published heartbeat.
pub(crate) fn metadata_frame(message: &str) -> String {
    serde_json::to_string(&NotificationFrame {
        topic_name: METADATA_TOPIC.to_string(),
        version: None,
        event_body: ChannelMetadataBody {
            message: message.to_string(),
        },
        metadata: None,
    })
    .unwrap_or_default()
}

impl Hub {
    pub(crate) fn new(ttl: Duration, heartbeat: Duration) -> Hub {
        Hub {
            state: Mutex::new(HubState::default()),
            wake: Notify::new(),
            ttl,
            heartbeat,
        }
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// The model (or something the events depend on) may have changed.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    pub(crate) fn create_channel(&self, shared: &impl Org) -> Channel {
        let now_ms = shared.business_now_ms();
        let mut st = lock(&self.state);
        st.expire(now_ms);
        if st.channels.len() >= MAX_CHANNELS {
            // The oldest last use, channels without a connected socket first.
            if let Some(i) = st
                .channels
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| (c.socket.is_some(), c.last_used))
                .map(|(i, _)| i)
            {
                let evicted = st.channels.remove(i);
                if let Some(s) = &evicted.socket {
                    s.close("channel removed: channel limit reached");
                }
            }
        }
        let used = st.touch();
        let ch = ChannelState {
            id: uuid::Uuid::new_v4().to_string(),
            expires_ms: now_ms.saturating_add(self.ttl_ms()),
            last_used: used,
            topics: BTreeMap::new(),
            socket: None,
        };
        let answer = channel_of(&ch, shared);
        st.channels.push(ch);
        answer
    }

    /// The channel created last, if any is left (`Fault::SameId`).
    pub(crate) fn newest_channel(&self, shared: &impl Org) -> Option<Channel> {
        let mut st = lock(&self.state);
        st.expire(shared.business_now_ms());
        st.channels.last().map(|c| channel_of(c, shared))
    }

    pub(crate) fn list_channels(&self, shared: &impl Org) -> ChannelEntityListing {
        let mut st = lock(&self.state);
        st.expire(shared.business_now_ms());
        ChannelEntityListing {
            entities: st.channels.iter().map(|c| channel_of(c, shared)).collect(),
        }
    }

    pub(crate) fn exists(&self, shared: &impl Org, id: &str) -> bool {
        lock(&self.state).find(id, shared.business_now_ms()).is_ok()
    }

    pub(crate) fn subscriptions(
        &self,
        shared: &impl Org,
        id: &str,
    ) -> Result<ChannelTopicEntityListing, ApiError> {
        let mut st = lock(&self.state);
        let ch = st.find(id, shared.business_now_ms())?;
        Ok(listing(ch, Vec::new()))
    }

    pub(crate) fn unsubscribe_all(&self, shared: &impl Org, id: &str) -> Result<(), ApiError> {
        let mut st = lock(&self.state);
        st.find(id, shared.business_now_ms())?.topics.clear();
        Ok(())
    }

    /// `PUT` (`replace`) or `POST` of subscriptions; `reject`: `Fault::Rejected`.
    pub(crate) fn subscribe(
        &self,
        shared: &impl Org,
        id: &str,
        requested: Vec<ChannelTopicRequest>,
        replace: bool,
        reject: bool,
    ) -> Result<ChannelTopicEntityListing, ApiError> {
        let mut names: Vec<String> = Vec::new();
        for t in requested {
            match t.id.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
                Some(name) if !names.contains(&name) => names.push(name),
                Some(_) => {}
                None => return Err(ApiError::bad_request("Every topic needs an id")),
            }
        }
        let now_ms = shared.business_now_ms();
        let mut st = lock(&self.state);
        let ch = st.find(id, now_ms)?;
        let total = if replace {
            names.len()
        } else {
            let mut all: BTreeSet<&str> = ch.topics.keys().map(String::as_str).collect();
            all.extend(names.iter().map(String::as_str));
            all.len()
        };
        if total > MAX_TOPICS {
            return Err(ApiError::bad_request(format!(
                "Each channel is limited to {MAX_TOPICS} topics; this request would subscribe {total}"
            )));
        }
        let mut rejected = Vec::new();
        let mut accepted = Vec::new();
        for name in names {
            match parse_topic(&name) {
                _ if reject => rejected.push(ChannelTopic {
                    id: name,
                    state: "Rejected",
                    rejection_reason: Some(
                        "The client is missing permissions required by this topic".to_string(),
                    ),
                    missing_permissions: Some(vec![OBSERVATION_PERMISSION.to_string()]),
                }),
                None => rejected.push(ChannelTopic {
                    id: name,
                    state: "Rejected",
                    rejection_reason: Some("Unknown topic".to_string()),
                    missing_permissions: None,
                }),
                Some(Topic::Observations(q)) => accepted.push((name, Some(q))),
                Some(Topic::Other) => accepted.push((name, None)),
            }
        }
        if replace {
            ch.topics.clear();
        }
        let zeros = shared.faults().emit_zero_counts();
        let model = lock(shared.model());
        for (name, queue_id) in accepted {
            if ch.topics.contains_key(&name) {
                continue;
            }
            let last = queue_id
                .as_deref()
                .map(|q| queue_groups(&model, q, zeros))
                .unwrap_or_default();
            ch.topics.insert(
                name,
                TopicState {
                    queue_id,
                    last,
                    next_at: None,
                    seen: None,
                    checked: None,
                    index: None,
                },
            );
        }
        drop(model);
        ch.expires_ms = now_ms.saturating_add(self.ttl_ms());
        Ok(listing(ch, rejected))
    }

    /// A socket connects to channel `id`: the previous socket (if any) is displaced. `None`
    /// if there is no such channel.
    pub(crate) fn connect(
        &self,
        shared: &impl Org,
        id: &str,
    ) -> Option<(u64, mpsc::UnboundedReceiver<Out>)> {
        let mut st = lock(&self.state);
        if st.closed {
            return None;
        }
        st.sockets += 1;
        let socket_id = st.sockets;
        let ch = st.find(id, shared.business_now_ms()).ok()?;
        if let Some(old) = ch.socket.take() {
            old.close("displaced by a newer connection to this channel");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        ch.socket = Some(SocketHandle { id: socket_id, tx });
        let zeros = shared.faults().emit_zero_counts();
        let model = lock(shared.model());
        for t in ch.topics.values_mut() {
            if let Some(q) = &t.queue_id {
                t.last = queue_groups(&model, q, zeros);
            }
            t.next_at = None;
            t.seen = None;
            t.checked = None;
        }
        Some((socket_id, rx))
    }

    /// Socket `socket_id` of channel `id` has ended.
    pub(crate) fn detach(&self, id: &str, socket_id: u64) {
        let mut st = lock(&self.state);
        if let Some(ch) = st.channels.iter_mut().find(|c| c.id == id) {
            if ch.socket.as_ref().is_some_and(|s| s.id == socket_id) {
                ch.socket = None;
            }
        }
    }

    /// Closes every socket; no new ones are accepted.
    pub(crate) fn shutdown(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        for ch in &mut st.channels {
            if let Some(s) = ch.socket.take() {
                let _ =
                    s.tx.send(Out::Close(CLOSE_GOING_AWAY, "server shutting down"));
            }
        }
    }

    /// Expires channels and publishes the observation events that are due; returns when to
    /// look again at the latest (a rate-limited topic, or the next expiry on a realtime clock).
    pub(crate) fn pump(&self, shared: &impl Org) -> Option<Instant> {
        let now_ms = shared.business_now_ms();
        let wall = Instant::now();
        let mut st = lock(&self.state);
        st.expire(now_ms);
        let mut due: Option<Instant> = None;
        let mut sooner = |at: Instant| {
            due = Some(due.map_or(at, |d: Instant| d.min(at)));
        };
        if shared.realtime() {
            if let Some(exp) = st.channels.iter().map(|c| c.expires_ms).min() {
                let left = u64::try_from(exp.saturating_sub(now_ms)).unwrap_or(0);
                sooner(wall + Duration::from_millis(left));
            }
        }
        if !st.channels.iter().any(|c| c.socket.is_some()) {
            return due;
        }
        let zeros = shared.faults().emit_zero_counts();
        let changed_only = shared.faults().push_changed_metrics_only();
        let offset = shared.faults().push_count_offset();
        let interval = interval_of(now_ms);
        let model = lock(shared.model());
        let mut cache: HashMap<String, Groups> = HashMap::new();
        for ch in &mut st.channels {
            let Some(socket) = &ch.socket else { continue };
            for (name, t) in &mut ch.topics {
                let Some(q) = &t.queue_id else { continue };
                // A topic that published less than a second ago waits its turn whatever
                // changed: looked at when it is due, not at every pump before (a pump a few
                // milliseconds after each tick would otherwise read every queue twice).
                if let Some(at) = t.next_at.filter(|at| *at > wall) {
                    sooner(at);
                    continue;
                }
                let checked = Some((model.generation, zeros));
                if t.checked == checked {
                    continue;
                }
                if t.index.is_none() {
                    t.index = model.queue_index_any(q);
                }
                let live = t
                    .index
                    .filter(|&qi| model.queues.get(qi).is_some_and(|s| !s.removed));
                let snap = (live.map(|qi| model.snapshot(qi)), zeros);
                if t.seen.as_ref() == Some(&snap) {
                    t.checked = checked;
                    continue;
                }
                let now = cache
                    .entry(q.clone())
                    .or_insert_with(|| queue_groups(&model, q, zeros));
                if now.is_empty() {
                    // The queue is gone: nothing to publish.
                    t.last.clear();
                    continue;
                }
                let changed: Vec<GroupKey> = now
                    .keys()
                    .chain(t.last.keys())
                    .filter(|k| now.get(*k) != t.last.get(*k))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if changed.is_empty() {
                    t.seen = Some(snap);
                    t.checked = checked;
                    continue;
                }
                for key in changed {
                    let empty = Vec::new();
                    let current = now.get(&key).unwrap_or(&empty);
                    let mut metrics = if changed_only {
                        changed_metrics(t.last.get(&key).unwrap_or(&empty), current)
                    } else {
                        current.clone()
                    };
                    if offset != 0 {
                        for m in &mut metrics {
                            m.stats.count = m.stats.count.map(|c| c.saturating_add_signed(offset));
                        }
                    }
                    let frame = NotificationFrame {
                        topic_name: name.clone(),
                        version: Some("2".to_string()),
                        event_body: StatEventQueueTopicStatsNotification {
                            group: key.clone(),
                            data: vec![StatEventQueueTopicIntervalMetrics {
                                interval: interval.clone(),
                                metrics,
                            }],
                        },
                        metadata: Some(NotificationMetadata {
                            correlation_id: correlation_id(),
                        }),
                    };
                    if let Ok(text) = serde_json::to_string(&frame) {
                        let _ = socket.tx.send(Out::Frame(text));
                    }
                    match now.get(&key) {
                        Some(v) => t.last.insert(key, v.clone()),
                        None => t.last.remove(&key),
                    };
                }
                t.next_at = Some(wall + EVENT_GAP);
                t.seen = Some(snap);
                t.checked = checked;
            }
        }
        due
    }
}

impl Hub {
    /// `Hostile` frames: what a newer or broken Genesys might push, written as JSON values
    /// here (they are not what the simulator's wire types can say). Returns the frames sent.
    pub(crate) fn push_hostile(&self, shared: &impl Org, hostile: &Hostile, n: usize) -> usize {
        use serde_json::{json, Value};
        let interval = interval_of(shared.business_now_ms());
        let zeros = shared.faults().emit_zero_counts();
        let mut st = lock(&self.state);
        let model = lock(shared.model());
        let frame = |topic: &str, body: Value| {
            json!({"topicName": topic, "version": "2", "eventBody": body,
                   "metadata": {"CorrelationId": correlation_id()}})
            .to_string()
        };
        let body = |group: Value, metrics: Value| json!({"group": group, "data": [{"interval": interval, "metrics": metrics}]});
        // Every subscribed observation topic with the socket it goes to, in topic order.
        let mut topics: Vec<(mpsc::UnboundedSender<Out>, String, String)> = Vec::new();
        for ch in &st.channels {
            let Some(socket) = &ch.socket else { continue };
            for (name, t) in &ch.topics {
                if let Some(q) = &t.queue_id {
                    topics.push((socket.tx.clone(), name.clone(), q.clone()));
                }
            }
        }
        let mut frames: Vec<(mpsc::UnboundedSender<Out>, String)> = Vec::new();
        let mut groups: HashMap<String, Groups> = HashMap::new();
        let mut groups_of = |q: &str| {
            groups
                .entry(q.to_string())
                .or_insert_with(|| queue_groups(&model, q, zeros))
                .clone()
        };
        match hostile {
            Hostile::NewMediaTypes | Hostile::NewRoutingStatuses => {
                for i in 0..if topics.is_empty() { 0 } else { n } {
                    let (tx, topic, q) = &topics[i % topics.len()];
                    st.hostile_names += 1;
                    let k = st.hostile_names;
                    let event = if *hostile == Hostile::NewMediaTypes {
                        body(
                            json!({"queueId": q, "mediaType": format!("newmedia{k}")}),
                            json!([{"metric": "oWaiting", "stats": {"count": 1}}]),
                        )
                    } else {
                        let agents = groups_of(q)
                            .into_iter()
                            .find(|(g, _)| !g.contains_key("mediaType"))
                            .map(|(_, m)| m)
                            .unwrap_or_default();
                        let mut metrics = serde_json::to_value(agents).unwrap_or(json!([]));
                        if let Value::Array(rows) = &mut metrics {
                            rows.push(json!({"metric": "oUserRoutingStatuses",
                                             "qualifier": format!("NEW_STATUS_{k}"),
                                             "stats": {"count": 1}}));
                        }
                        body(json!({"queueId": q}), metrics)
                    };
                    frames.push((tx.clone(), frame(topic, event)));
                }
            }
            Hostile::InvalidCount(raw) => {
                let count: Value = serde_json::from_str(raw).unwrap_or(Value::String(raw.clone()));
                for _ in 0..n {
                    for (tx, topic, q) in &topics {
                        let Some((group, data)) = groups_of(q)
                            .into_iter()
                            .find(|(g, _)| g.contains_key("mediaType"))
                        else {
                            continue;
                        };
                        let mut metrics: Vec<Value> = data
                            .iter()
                            .filter(|m| m.metric != "oWaiting")
                            .filter_map(|m| serde_json::to_value(m).ok())
                            .collect();
                        metrics.push(json!({"metric": "oWaiting", "stats": {"count": count}}));
                        let event = body(json!(group), Value::Array(metrics));
                        frames.push((tx.clone(), frame(topic, event)));
                    }
                }
            }
            Hostile::OtherQueueInBody {
                topic,
                body: named,
                media,
                waiting,
            } => {
                let topic_name = format!("v2.analytics.queues.{topic}.observations");
                for (tx, t, _) in topics.iter().filter(|(_, t, _)| *t == topic_name) {
                    for _ in 0..n {
                        let event = body(
                            json!({"queueId": named, "mediaType": media}),
                            json!([{"metric": "oWaiting", "stats": {"count": waiting}}]),
                        );
                        frames.push((tx.clone(), frame(t, event)));
                    }
                }
            }
            Hostile::UnsubscribedTopic {
                queue,
                media,
                waiting,
            } => {
                let topic = format!("v2.analytics.queues.{queue}.observations");
                for ch in &st.channels {
                    let Some(socket) = &ch.socket else { continue };
                    for _ in 0..n {
                        let event = body(
                            json!({"queueId": queue, "mediaType": media}),
                            json!([{"metric": "oWaiting", "stats": {"count": waiting}}]),
                        );
                        frames.push((socket.tx.clone(), frame(&topic, event)));
                    }
                }
            }
            Hostile::Aggregates => {
                let aggregates = json!([
                    {"metric": "tAlert", "stats": {"count": 1, "sum": 8277, "min": 8277, "max": 8277}},
                    {"metric": "nOffered", "stats": {"count": 2}},
                    {"metric": "oServiceLevel",
                     "stats": {"ratio": 0, "numerator": 0, "denominator": 2, "target": 0.5}},
                    {"metric": "tWait", "stats": {"count": 2, "sum": 31000, "min": 9000, "max": 22000}}
                ]);
                for _ in 0..n {
                    for (tx, topic, q) in &topics {
                        for group in groups_of(q).into_keys() {
                            let event = body(json!(group), aggregates.clone());
                            frames.push((tx.clone(), frame(topic, event)));
                        }
                    }
                }
            }
        }
        drop(model);
        drop(st);
        let sent = frames.len();
        for (tx, text) in frames {
            let _ = tx.send(Out::Frame(text));
        }
        sent
    }
}

fn channel_of(c: &ChannelState, shared: &impl Org) -> Channel {
    Channel {
        connect_uri: format!("ws://{}{SOCKET_PREFIX}{}", shared.addr(), c.id),
        id: c.id.clone(),
        expires: iso(c.expires_ms),
    }
}

fn listing(ch: &ChannelState, rejected: Vec<ChannelTopic>) -> ChannelTopicEntityListing {
    let mut entities: Vec<ChannelTopic> = ch
        .topics
        .keys()
        .map(|id| ChannelTopic {
            id: id.clone(),
            state: "Permitted",
            rejection_reason: None,
            missing_permissions: None,
        })
        .collect();
    entities.extend(rejected);
    ChannelTopicEntityListing { entities }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert!(matches!(
            parse_topic("v2.analytics.queues.abc-1.observations"),
            Some(Topic::Observations(q)) if q == "abc-1"
        ));
        for other in [
            "v2.analytics.queues.q.activity",
            "v2.routing.queues.q.conversations",
            "v2.routing.queues.q.conversations.calls",
            "v2.routing.queues.q.users",
            "v2.users.u.conversations",
            "v2.detail.events.conversation.c.acd.start",
        ] {
            assert!(matches!(parse_topic(other), Some(Topic::Other)), "{other}");
        }
        for bad in [
            "",
            "v2.analytics.queues..observations",
            "v2.analytics.queues.q.observation",
            "v2.routing.queues.q.conversations.faxes",
            "channel.metadata",
        ] {
            assert!(parse_topic(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn intervals_are_half_hours() {
        // 2026-03-10T10:47:12.345Z
        let ms = 1_773_139_632_345;
        assert_eq!(
            interval_of(ms),
            "2026-03-10T10:30:00.000Z/2026-03-10T11:00:00.000Z"
        );
    }

    #[test]
    fn changed_metrics_report_zeroes() {
        use super::super::api::StatisticalSummary;
        let m = |metric: &str, count: Option<u64>, v: Option<i64>| ObservationMetricData {
            metric: metric.to_string(),
            qualifier: None,
            stats: StatisticalSummary {
                count,
                calculated_metric_value: v,
            },
        };
        let before = vec![
            m("oWaiting", Some(2), None),
            m("oInteracting", Some(1), None),
            m("oLongestWaiting", None, Some(5)),
        ];
        let now = vec![
            m("oInteracting", Some(1), None),
            m("oAlerting", Some(1), None),
        ];
        let out = changed_metrics(&before, &now);
        assert_eq!(
            out,
            vec![m("oAlerting", Some(1), None), m("oWaiting", Some(0), None)]
        );
    }
}
