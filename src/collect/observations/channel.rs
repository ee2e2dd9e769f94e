//! One notification channel (REFERENCE.md 2.7) carrying up to [`MAX_TOPICS`] queue
//! observation topics, kept alive without a gap.
//!
//! A worker creates the channel, subscribes its topics (`PUT`), connects a WebSocket to
//! `connectUri` exactly as returned, and forwards what arrives to the live loop as
//! [`Report`]s. Topic changes come in as the whole wanted set: additions are `POST`ed, a
//! removal `PUT`s the remaining set, and the channel itself stays.
//!
//! Replacement is make-before-break: on `v2.system.socket_closing`, before `expires`, or when
//! the socket falls silent (no frame, heartbeat or pong within the silence timeout), the worker
//! opens a new channel, subscribes and connects it while still reading the old socket, and
//! only then lets the old one go. A socket that closed or broke is already gone: its queues
//! are reported lost (the live loop polls them) until the new channel is up.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::rows::Pushed;
use super::{FrameKind, Reconnect};
use crate::clock::SharedClock;
use crate::genesys::models::{ChannelMetadata, NotificationFrame, TopicState};
use crate::genesys::{ApiError, GenesysClient};

/// "Each WebSocket connection is limited to 1,000 topics" (more is a 400).
pub(crate) const MAX_TOPICS: usize = 1000;

const TOPIC_PREFIX: &str = "v2.analytics.queues.";
const TOPIC_SUFFIX: &str = ".observations";
const METADATA_TOPIC: &str = "channel.metadata";
const SOCKET_CLOSING_TOPIC: &str = "v2.system.socket_closing";

/// The longest a channel is kept before it is replaced, whatever its `expires` says (Genesys
/// channels live 24 h).
const MAX_RENEW_IN: Duration = Duration::from_secs(24 * 3600);

/// Frames are small JSON documents; anything near this is not a notification.
const MAX_FRAME_BYTES: usize = 1 << 20;

/// The observations topic of a queue.
#[must_use]
pub(crate) fn topic(queue_id: &str) -> String {
    format!("{TOPIC_PREFIX}{queue_id}{TOPIC_SUFFIX}")
}

fn queue_of(topic: &str) -> Option<&str> {
    topic.strip_prefix(TOPIC_PREFIX)?.strip_suffix(TOPIC_SUFFIX)
}

/// What a worker tells the live loop.
#[derive(Debug)]
pub(crate) enum Report {
    /// The channel's subscriptions after a (re)subscription: queues whose topic is
    /// `Permitted` and is delivered from `since` on, and queues whose topic was refused.
    Coverage {
        slot: usize,
        permitted: Vec<String>,
        rejected: Vec<String>,
        since: Instant,
    },
    /// A queue observation event (its `queue_id` always set).
    Event { received: Instant, event: Pushed },
    /// A heartbeat or pong: the channel was alive at `at`.
    Alive { slot: usize, at: Instant },
    /// No socket delivers for this channel any more; a new one is being opened.
    Lost { slot: usize, reason: Reconnect },
    /// The channel was replaced make-before-break: coverage went on, but events may have
    /// crossed the switch, so its queues are reconciled once.
    Replaced { slot: usize, reason: Reconnect },
    /// Opening the channel failed (no channel yet, or its replacement): its queues are polled
    /// until one opens. What the plan counts (`live::Live::planned_cost`).
    Unavailable { slot: usize },
}

/// Counters the workers share with the report (`genesys_live_*`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub frames: [AtomicU64; FrameKind::ALL.len()],
    pub reconnects: [AtomicU64; Reconnect::ALL.len()],
    /// Unix milliseconds of the newest observation event, 0 before the first.
    pub last_event_ms: AtomicU64,
}

impl Counters {
    fn frame(&self, kind: FrameKind) {
        let i = FrameKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.frames[i].fetch_add(1, Ordering::Relaxed);
    }

    fn reconnect(&self, reason: Reconnect) {
        let i = Reconnect::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.reconnects[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// How a worker keeps its socket honest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// A `{"message":"ping"}` this often.
    pub ping: Duration,
    /// No frame for this long: the socket is stalled.
    pub silence: Duration,
    /// Longest wait between two failed attempts to open a channel.
    pub retry_max: Duration,
}

/// The live loop's handle on a worker; dropping it stops the worker.
pub(crate) struct Worker {
    topics: mpsc::UnboundedSender<BTreeSet<String>>,
    task: JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Worker {
    /// Starts a worker for channel slot `slot` with the wanted queues.
    pub(crate) fn spawn(
        slot: usize,
        queues: BTreeSet<String>,
        env: Env,
        reports: mpsc::Sender<Report>,
    ) -> Worker {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            ChannelWorker {
                slot,
                want: queues,
                env,
                reports,
                commands: rx,
            }
            .supervise()
            .in_current_span(),
        );
        Worker { topics: tx, task }
    }

    /// The queues this channel should carry from now on.
    pub(crate) fn set_queues(&self, queues: BTreeSet<String>) {
        let _ = self.topics.send(queues);
    }
}

/// What every worker shares.
#[derive(Clone)]
pub(crate) struct Env {
    pub client: GenesysClient,
    pub clock: SharedClock,
    pub counters: Arc<Counters>,
    pub timing: Timing,
    pub fleet: Arc<Fleet>,
}

/// What the workers of one org hold in common: which slot holds which channel id, and the
/// reopens of the last minute.
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    /// Channel id -> the slot whose socket it is. Genesys lets one socket use a channel at a
    /// time ("if you connect a second WebSocket with the same channel ID, the first WebSocket
    /// disconnects"), and subscribing it again replaces the other slot's topics: a channel
    /// created with an id another slot holds is refused (a failed open, paced like any).
    ids: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// When channels were reopened in the last minute, every slot together.
    reopens: std::sync::Mutex<std::collections::VecDeque<Instant>>,
}

/// The share of the request budget that reopening channels may spend, whatever each worker's
/// own pace allows: a reopen costs a channel, a subscription and often a reconciling poll,
/// and churn must leave the budget to the polls.
const CHURN_SHARE: f64 = 0.1;
/// Requests one reopen costs at least (create, subscribe).
const REQUESTS_PER_REOPEN: f64 = 2.0;
const WINDOW: Duration = Duration::from_secs(60);

impl Fleet {
    /// Claims `id` for `slot`; false when another slot holds it.
    fn claim(&self, id: &str, slot: usize) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        match ids.get(id) {
            Some(&holder) if holder != slot => false,
            _ => {
                ids.insert(id.to_string(), slot);
                true
            }
        }
    }

    /// Lets `id` go (replaced or lost), if `slot` holds it.
    fn release(&self, id: &str, slot: usize) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.get(id) == Some(&slot) {
            ids.remove(id);
        }
    }

    /// Takes one reopen now if the last minute has room under `per_minute`; otherwise how
    /// long until it has.
    fn try_reopen(&self, per_minute: usize, now: Instant) -> Result<(), Duration> {
        let mut times = self.reopens.lock().unwrap_or_else(|e| e.into_inner());
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() < per_minute.max(1) {
            times.push_back(now);
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err((oldest + WINDOW).saturating_duration_since(now))
    }
}

/// Reopens a minute allowed with a budget of `budget` requests a minute (at least one).
#[must_use]
fn reopens_per_minute(budget: u32) -> usize {
    // At most a few hundred: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (f64::from(budget) * CHURN_SHARE / REQUESTS_PER_REOPEN).floor() as usize;
    n.max(1)
}

/// When a worker may open its next channel. Every reopen waits its turn, whatever the
/// reason: a channel that dies young (a socket cut right after the upgrade, an `expires`
/// already past, `socket_closing` every second, a refused open) doubles the wait, up to the
/// reconcile interval, with jitter so that slots do not reopen in step; a channel that lived
/// [`HEALTHY_LIFETIME`] resets it, so the first reconnect after a long life is immediate.
#[derive(Debug)]
struct Pace {
    next_open: Instant,
    delay: Duration,
    max: Duration,
}

/// A channel that lived this long was healthy: its end is no sign of churn.
const HEALTHY_LIFETIME: Duration = Duration::from_secs(60);
const FIRST_DELAY: Duration = Duration::from_secs(1);

impl Pace {
    fn new(max: Duration) -> Pace {
        Pace {
            next_open: Instant::now(),
            delay: FIRST_DELAY,
            max: max.max(FIRST_DELAY),
        }
    }

    /// An open failed (`lived` is `None`), or a channel ended after `lived`.
    fn ended(&mut self, lived: Option<Duration>) {
        let now = Instant::now();
        if lived.is_some_and(|l| l >= HEALTHY_LIFETIME) {
            self.delay = FIRST_DELAY;
            self.next_open = now;
        } else {
            self.next_open = now + jittered(self.delay);
            self.delay = self.delay.saturating_mul(2).min(self.max);
        }
    }

    fn wait(&self) -> Duration {
        self.next_open.saturating_duration_since(Instant::now())
    }
}

/// `d` give or take a fifth.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.8 + 0.4 * rand::random::<f64>())
}

#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("connecting the WebSocket failed")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("connecting the WebSocket timed out")]
    ConnectTimeout,
    #[error("the new channel {0:?} has the id of a channel another slot holds")]
    DuplicateId(String),
    #[error("connectUri {uri:?} refused: {reason}")]
    ConnectUri { uri: String, reason: &'static str },
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open channel with a connected socket.
struct Open {
    id: String,
    ws: Socket,
    /// Topics asked for on this channel (permitted or not), as queue ids.
    requested: BTreeSet<String>,
    permitted: BTreeSet<String>,
    /// When to replace it, ahead of `expires`.
    renew_at: Option<Instant>,
    last_frame: Instant,
    opened: Instant,
}

/// What happened on a socket.
enum Step {
    /// Keep reading.
    Continue,
    /// Replace the channel; the old socket still works until the new one is up.
    Replace(Reconnect),
    /// The socket is gone.
    Gone(Reconnect),
}

struct ChannelWorker {
    slot: usize,
    want: BTreeSet<String>,
    env: Env,
    reports: mpsc::Sender<Report>,
    commands: mpsc::UnboundedReceiver<BTreeSet<String>>,
}

impl ChannelWorker {
    /// Runs the worker; a panic (a bug, or outside input not bounded) is logged and the
    /// worker starts over after its pace, its queues polled meanwhile: a worker never dies
    /// quietly.
    async fn supervise(mut self) {
        loop {
            let running = std::panic::AssertUnwindSafe(self.run()).catch_unwind();
            match running.await {
                Ok(()) => return,
                Err(panic) => {
                    let message = crate::collect::panic_message(&*panic);
                    tracing::error!(slot = self.slot, panic = %message, "notification worker panicked; starting over");
                    self.lost(Reconnect::Broken).await;
                    tokio::time::sleep(self.env.timing.retry_max.min(Duration::from_secs(30)))
                        .await;
                }
            }
        }
    }

    async fn run(&mut self) {
        let mut pace = Pace::new(self.env.timing.retry_max);
        // Why the next channel is opened: none for the first.
        let mut reason: Option<Reconnect> = None;
        let mut current: Option<Open> = None;
        let mut first = true;
        loop {
            let mut open = match current.take() {
                Some(open) => open,
                None => {
                    if !self.wait_turn(&pace, first).await {
                        return;
                    }
                    first = false;
                    match self.open().await {
                        Ok(open) => {
                            if let Some(r) = reason.take() {
                                self.env.counters.reconnect(r);
                                tracing::info!(slot = self.slot, reason = r.label(), channel = %open.id, "notification channel replaced");
                            }
                            self.coverage(&open).await;
                            open
                        }
                        Err(error) => {
                            self.env.counters.reconnect(Reconnect::Failed);
                            pace.ended(None);
                            tracing::warn!(slot = self.slot, error = %crate::ErrorChain(&error), retry_secs = pace.wait().as_secs(), "opening a notification channel failed; its queues are polled");
                            self.report(Report::Unavailable { slot: self.slot }).await;
                            continue;
                        }
                    }
                }
            };
            // Serve the socket until it must be replaced or is gone.
            let step = self.serve(&mut open).await;
            match step {
                // `serve` returns only to replace or reopen.
                None | Some(Step::Continue) => return,
                Some(Step::Gone(r)) => {
                    pace.ended(Some(open.opened.elapsed()));
                    tracing::warn!(slot = self.slot, reason = r.label(), channel = %open.id, retry_secs = pace.wait().as_secs(), "notification socket lost; its queues are polled until a new channel is up");
                    self.lost(r).await;
                    self.let_go(open).await;
                    reason = Some(r);
                }
                Some(Step::Replace(r)) => {
                    if r == Reconnect::Stalled {
                        // A silent socket may have missed events: poll until replaced.
                        self.lost(r).await;
                    }
                    pace.ended(Some(open.opened.elapsed()));
                    match self.replace(&mut open, &pace).await {
                        Ok(new) => {
                            self.env.counters.reconnect(r);
                            tracing::info!(slot = self.slot, reason = r.label(), old = %open.id, new = %new.id, "notification channel replaced before the old one was let go");
                            self.let_go(open).await;
                            if r == Reconnect::Stalled {
                                self.coverage(&new).await;
                            } else {
                                // Same topics, no gap: one reconciling poll.
                                self.report(Report::Replaced {
                                    slot: self.slot,
                                    reason: r,
                                })
                                .await;
                            }
                            current = Some(new);
                        }
                        Err(error) => {
                            self.env.counters.reconnect(Reconnect::Failed);
                            pace.ended(None);
                            tracing::warn!(slot = self.slot, error = %crate::ErrorChain(&error), "opening the replacement channel failed");
                            if r != Reconnect::Stalled {
                                self.lost(r).await;
                            }
                            self.let_go(open).await;
                            reason = Some(r);
                        }
                    }
                }
            }
        }
    }

    /// Waits until this worker may open a channel: its own pace, and, for a reopen, room in
    /// the org's churn share of the budget. Topic changes are taken meanwhile; false when the
    /// live loop is gone.
    async fn wait_turn(&mut self, pace: &Pace, first: bool) -> bool {
        if !self.wait_commands(pace.wait()).await {
            return false;
        }
        if first {
            return true;
        }
        loop {
            let per_minute = reopens_per_minute(self.env.client.requests_per_minute());
            match self.env.fleet.try_reopen(per_minute, Instant::now()) {
                Ok(()) => return true,
                Err(wait) => {
                    if !self.wait_commands(jittered(wait.max(FIRST_DELAY))).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Lets a replaced or lost channel go: its socket closed, its id released, and its
    /// subscriptions deleted. The API has no `DELETE` for a channel (only `HEAD`); one without
    /// subscriptions delivers nothing and, unconnected, is the first Genesys removes when a
    /// client opens its 21st.
    async fn let_go(&self, open: Open) {
        close(open.ws).await;
        self.env.fleet.release(&open.id, self.slot);
        if let Err(error) = self.env.client.unsubscribe_all(&open.id).await {
            tracing::debug!(slot = self.slot, channel = %open.id, error = %crate::ErrorChain(&error), "deleting the subscriptions of a channel let go failed");
        }
    }

    /// Tells the live loop; if it is gone, the worker is about to be stopped anyway.
    async fn report(&self, report: Report) {
        let _ = self.reports.send(report).await;
    }

    /// No socket delivers for this channel: its queues are polled until a new one is up.
    async fn lost(&self, reason: Reconnect) {
        self.report(Report::Lost {
            slot: self.slot,
            reason,
        })
        .await;
    }

    /// Creates a channel, subscribes the wanted topics, connects its socket.
    async fn open(&self) -> Result<Open, OpenError> {
        let channel = self.env.client.create_channel().await?;
        check_connect_uri(&channel.connect_uri, self.env.client.api_is_plain_http())?;
        if !self.env.fleet.claim(&channel.id, self.slot) {
            return Err(OpenError::DuplicateId(channel.id));
        }
        let ws = match connect(&channel.connect_uri, self.env.timing.silence).await {
            Ok(ws) => ws,
            Err(e) => {
                self.env.fleet.release(&channel.id, self.slot);
                return Err(e);
            }
        };
        let now = Instant::now();
        let mut open_channel = Open {
            id: channel.id.clone(),
            ws,
            requested: BTreeSet::new(),
            permitted: BTreeSet::new(),
            renew_at: channel.expires.map(|e| self.renew_at(e)),
            last_frame: now,
            opened: now,
        };
        if !self.want.is_empty() {
            if let Err(e) = self.subscribe(&mut open_channel, true).await {
                self.env.fleet.release(&open_channel.id, self.slot);
                return Err(e.into());
            }
        }
        Ok(open_channel)
    }

    /// Ahead of `expires` by a tenth of the time left (at least a second).
    fn renew_at(&self, expires: chrono::DateTime<chrono::Utc>) -> Instant {
        let left_ms = expires.timestamp_millis() - self.env.clock.now_ms();
        let left = Duration::from_millis(u64::try_from(left_ms).unwrap_or(0));
        let margin = (left / 10).max(Duration::from_secs(1));
        // `expires` is outside input: a date centuries ahead must not overflow the `Instant`
        // (it panics); such a channel is renewed a day from now, which costs one request.
        let renew_in = left.saturating_sub(margin).min(MAX_RENEW_IN);
        Instant::now() + renew_in
    }

    /// `PUT` (replace) or `POST` (add) so the channel carries `self.want`.
    async fn subscribe(&self, open: &mut Open, replace: bool) -> Result<(), ApiError> {
        let queues: Vec<&String> = if replace {
            self.want.iter().collect()
        } else {
            self.want.difference(&open.requested).collect()
        };
        let topics: Vec<String> = queues.iter().map(|q| topic(q)).collect();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        let listing = self.env.client.subscribe(&open.id, &refs, replace).await?;
        let missing: BTreeSet<&str> = listing
            .entities
            .iter()
            .filter(|t| t.state == TopicState::Rejected)
            .flat_map(|t| t.missing_permissions.iter().map(String::as_str))
            .collect();
        if !missing.is_empty() {
            let missing: Vec<&str> = missing.into_iter().collect();
            tracing::warn!(slot = self.slot, missing_permissions = %missing.join(","), "Genesys rejected observation topics for missing permissions");
        }
        let permitted: BTreeSet<String> = listing
            .entities
            .iter()
            .filter(|t| t.state == TopicState::Permitted)
            .filter_map(|t| queue_of(&t.id))
            .filter(|q| self.want.contains(*q))
            .map(str::to_string)
            .collect();
        if replace {
            open.permitted = permitted;
        } else {
            open.permitted.extend(permitted);
        }
        open.permitted.retain(|q| self.want.contains(q));
        open.requested.clone_from(&self.want);
        Ok(())
    }

    async fn coverage(&self, open: &Open) {
        let rejected = self
            .want
            .iter()
            .filter(|q| !open.permitted.contains(*q))
            .cloned()
            .collect::<Vec<_>>();
        if !rejected.is_empty() {
            tracing::warn!(
                slot = self.slot,
                rejected = rejected.len(),
                "observation topics rejected; those queues are polled"
            );
        }
        self.report(Report::Coverage {
            slot: self.slot,
            permitted: open.permitted.iter().cloned().collect(),
            rejected,
            since: Instant::now(),
        })
        .await;
    }

    /// Waits `wait`, taking topic changes meanwhile; false when the live loop is gone.
    async fn wait_commands(&mut self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                cmd = self.commands.recv() => match cmd {
                    Some(want) => self.want = want,
                    None => return false,
                },
            }
        }
    }

    /// Reads the socket, pings it, applies topic changes; returns why it stopped (`None`:
    /// the live loop is gone).
    async fn serve(&mut self, open: &mut Open) -> Option<Step> {
        let ping = self.env.timing.ping;
        let mut ticks = tokio::time::interval_at(Instant::now() + ping, ping);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut resubscribe = false;
        loop {
            let renew = open.renew_at;
            let step = tokio::select! {
                msg = open.ws.next() => self.frame(open, msg).await,
                cmd = self.commands.recv() => {
                    let want = cmd?;
                    self.want = want;
                    resubscribe = true;
                    Step::Continue
                }
                _ = ticks.tick() => {
                    if open.last_frame.elapsed() > self.env.timing.silence {
                        Step::Replace(Reconnect::Stalled)
                    } else if open.ws.send(Message::text(r#"{"message":"ping"}"#)).await.is_err() {
                        Step::Gone(Reconnect::Closed)
                    } else {
                        Step::Continue
                    }
                }
                () = sleep_until_opt(renew) => Step::Replace(Reconnect::Expiring),
            };
            if resubscribe {
                resubscribe = false;
                // Additions are added; any removal replaces the whole set.
                let replace = !open.requested.is_subset(&self.want);
                match self.subscribe(open, replace).await {
                    Ok(()) => self.coverage(open).await,
                    Err(error) => {
                        tracing::warn!(slot = self.slot, error = %crate::ErrorChain(&error), "changing subscriptions failed; retried at the next change or replacement");
                    }
                }
            }
            match step {
                Step::Continue => {}
                other => return Some(other),
            }
        }
    }

    /// Handles one socket message.
    async fn frame(
        &self,
        open: &mut Open,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Step {
        let text = match msg {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => return Step::Gone(Reconnect::Closed),
            // The connection went away (reset, cut without a close frame): closed.
            Some(Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Io(_)
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            )) => return Step::Gone(Reconnect::Closed),
            // A frame too large, bad UTF-8 in a text frame, a protocol violation: named in
            // the log and counted apart from an orderly close.
            Some(Err(error)) => {
                tracing::warn!(slot = self.slot, channel = %open.id, %error, "notification socket broke");
                return Step::Gone(Reconnect::Broken);
            }
            // Genesys sends text frames only: a binary frame is counted, not read.
            Some(Ok(Message::Binary(_))) => {
                open.last_frame = Instant::now();
                self.env.counters.frame(FrameKind::Binary);
                return Step::Continue;
            }
            // WebSocket pings and pongs (tungstenite answers pings itself).
            Some(Ok(_)) => {
                open.last_frame = Instant::now();
                return Step::Continue;
            }
        };
        let now = Instant::now();
        open.last_frame = now;
        let text = text.as_str();
        // Nearly every frame is an observation event: read it as one in a single pass, and
        // look at the topic afterwards. Only a frame that does not read as an event (another
        // body, or a malformed one) is read again for its topic alone.
        let (topic, event) = match serde_json::from_str::<NotificationFrame<Pushed>>(text) {
            Ok(frame) => (frame.topic_name, Ok(frame.event_body)),
            Err(error) => {
                match serde_json::from_str::<NotificationFrame<serde::de::IgnoredAny>>(text) {
                    Ok(head) => (head.topic_name, Err(error)),
                    Err(_) => {
                        self.env.counters.frame(FrameKind::Other);
                        tracing::debug!(
                            slot = self.slot,
                            "notification frame is not JSON; ignored"
                        );
                        return Step::Continue;
                    }
                }
            }
        };
        let topic = topic.as_str();
        if topic == METADATA_TOPIC {
            let message = serde_json::from_str::<NotificationFrame<ChannelMetadata>>(text)
                .ok()
                .and_then(|f| f.event_body.message);
            let kind = match message.as_deref() {
                Some("pong") => FrameKind::Pong,
                Some(m) if m.contains("Heartbeat") => FrameKind::Heartbeat,
                _ => FrameKind::Other,
            };
            self.env.counters.frame(kind);
            self.report(Report::Alive {
                slot: self.slot,
                at: now,
            })
            .await;
            Step::Continue
        } else if topic == SOCKET_CLOSING_TOPIC {
            self.env.counters.frame(FrameKind::SocketClosing);
            Step::Replace(Reconnect::SocketClosing)
        } else if let Some(queue) = queue_of(topic).filter(|q| open.permitted.contains(*q)) {
            // Only a topic this channel subscribed is an observation: another one (never asked
            // for, or a queue no longer watched) is counted as `other` below.
            match event {
                Ok(mut event) => {
                    self.env.counters.frame(FrameKind::Observations);
                    let ms = u64::try_from(self.env.clock.now_ms()).unwrap_or(0);
                    self.env.counters.last_event_ms.store(ms, Ordering::Relaxed);
                    // The topic names the queue, whatever the group says: the topic is what was
                    // subscribed, and a body naming another queue must not change that one.
                    if event.queue_id.as_deref() != Some(queue) {
                        event.queue_id = Some(queue.to_string());
                    }
                    self.report(Report::Event {
                        received: now,
                        event,
                    })
                    .await;
                }
                Err(error) => {
                    self.env.counters.frame(FrameKind::Other);
                    tracing::debug!(slot = self.slot, %error, "observation event of an unexpected shape; ignored");
                }
            }
            Step::Continue
        } else {
            self.env.counters.frame(FrameKind::Other);
            Step::Continue
        }
    }

    /// Opens the replacement while the old socket keeps delivering.
    async fn replace(&mut self, old: &mut Open, pace: &Pace) -> Result<Open, OpenError> {
        let this = &*self;
        let wait = pace.wait();
        let opening = async move {
            // Its turn comes first (the old socket keeps delivering meanwhile), and then room
            // in the org's churn share, as for any reopen.
            tokio::time::sleep(wait).await;
            loop {
                let per_minute = reopens_per_minute(this.env.client.requests_per_minute());
                match this.env.fleet.try_reopen(per_minute, Instant::now()) {
                    Ok(()) => break,
                    Err(wait) => tokio::time::sleep(jittered(wait.max(FIRST_DELAY))).await,
                }
            }
            this.open().await
        };
        tokio::pin!(opening);
        let mut old_alive = true;
        loop {
            tokio::select! {
                new = &mut opening => return new,
                msg = old.ws.next(), if old_alive => {
                    if let Step::Gone(_) = this.frame(old, msg).await {
                        old_alive = false;
                    }
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Only a WebSocket URI is followed: `wss://`, and `ws://` only when the API itself is plain
/// HTTP (tests, the simulator). `connectUri` is outside input; anything else (`http://`,
/// `ftp://`, no host) would open connections Genesys never asked for.
fn check_connect_uri(uri: &str, plain_api: bool) -> Result<(), OpenError> {
    let refuse = |reason| {
        Err(OpenError::ConnectUri {
            uri: uri.chars().take(200).collect(),
            reason,
        })
    };
    let Ok(parsed) = url::Url::parse(uri) else {
        return refuse("not a URL");
    };
    match parsed.scheme() {
        "wss" => {}
        "ws" if plain_api => {}
        "ws" => return refuse("plain ws:// while the API is HTTPS"),
        _ => return refuse("not a WebSocket URL (wss://)"),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return refuse("no host");
    }
    Ok(())
}

async fn connect(uri: &str, timeout: Duration) -> Result<Socket, OpenError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connecting = tokio_tungstenite::connect_async_with_config(uri, Some(config), true);
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(e)) => Err(OpenError::Connect(e)),
        Err(_) => Err(OpenError::ConnectTimeout),
    }
}

/// Says goodbye to a replaced socket, briefly.
async fn close(mut ws: Socket) {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_websocket_uris_are_followed_and_plain_ws_only_beside_a_plain_http_api() {
        assert!(check_connect_uri("wss://streaming.mypurecloud.com/channels/x", false).is_ok());
        assert!(check_connect_uri("ws://127.0.0.1:9/channels/x", true).is_ok());
        for (uri, plain) in [
            ("ws://streaming.mypurecloud.com/channels/x", false),
            ("http://127.0.0.1:22/", true),
            ("ftp://127.0.0.1:21/", true),
            ("https://example.com/", false),
            ("wss://", false),
            ("not a url", false),
        ] {
            assert!(check_connect_uri(uri, plain).is_err(), "{uri} followed");
        }
    }

    #[test]
    fn a_channel_id_another_slot_holds_is_refused_until_that_slot_lets_it_go() {
        let fleet = Fleet::default();
        assert!(fleet.claim("c1", 0));
        assert!(fleet.claim("c1", 0), "the holder itself may claim it again");
        assert!(!fleet.claim("c1", 1), "a second slot on one channel");
        fleet.release("c1", 1);
        assert!(!fleet.claim("c1", 2), "only the holder releases it");
        fleet.release("c1", 0);
        assert!(fleet.claim("c1", 2));
    }

    #[test]
    fn reopens_are_held_to_a_tenth_of_the_budget_in_any_minute() {
        assert_eq!(reopens_per_minute(200), 10);
        assert_eq!(reopens_per_minute(5), 1, "at least one");
        let fleet = Fleet::default();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(fleet.try_reopen(10, t0).is_ok());
        }
        let wait = fleet.try_reopen(10, t0 + Duration::from_secs(20));
        assert_eq!(
            wait,
            Err(Duration::from_secs(40)),
            "the 11th waits for the first to age out"
        );
        assert!(fleet.try_reopen(10, t0 + WINDOW).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_doubles_while_channels_die_young_and_resets_after_one_that_lived() {
        let mut pace = Pace::new(Duration::from_secs(300));
        assert_eq!(pace.wait(), Duration::ZERO, "the first open is at once");
        let mut waits = Vec::new();
        for _ in 0..10 {
            pace.ended(Some(Duration::from_millis(100)));
            waits.push(pace.wait().as_secs_f64());
        }
        for (i, w) in waits.iter().enumerate() {
            let base = 2f64.powi(i32::try_from(i).unwrap_or(0)).min(300.0);
            assert!(
                (base * 0.8..=base * 1.2).contains(w),
                "wait {i}: {w} s, not {base} s ± 20 %"
            );
        }
        pace.ended(Some(HEALTHY_LIFETIME));
        assert_eq!(
            pace.wait(),
            Duration::ZERO,
            "after a channel that lived, at once"
        );
        pace.ended(None);
        assert!(
            pace.wait() <= Duration::from_millis(1200),
            "and the pace starts over"
        );
    }
}
