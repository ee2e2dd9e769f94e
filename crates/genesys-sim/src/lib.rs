//! The simulated Genesys Cloud org: a deterministic traffic model behind the real API shapes
//! (token endpoint on a separate login base URL, routing queues, queue observations,
//! conversation activity, conversation aggregates, conversation details, flow activity,
//! estimated wait, org limits, notification channels), with ground truth, request stats and fault injection for tests.
//!
//! Conventions (see REFERENCE.md sections 2-4 in the shared Genesys API notes):
//! * Zero counts are left out of observations and activity (`Faults::set_emit_zero_counts`
//!   turns `count: 0` rows on for observations, as in the published tutorial response).
//! * `oLongestWaiting` / `oLongestInteracting` carry `stats.calculatedMetricValue` (activity:
//!   `calculatedMetricValue`) = epoch ms when the oldest waiting conversation entered the queue /
//!   the longest interacting one was answered; no `count`.
//! * `oOnQueueUsers` is reported per routing-status qualifier (IDLE, INTERACTING,
//!   NOT_RESPONDING, COMMUNICATING; sum = on-queue users); `oOffQueueUsers`, `oActiveUsers`,
//!   `oMemberUsers` unqualified; `oUserPresences` one row per organization presence, qualified
//!   by its id, with `systemToOrganizationMappings` listing every system presence with all its
//!   organization presence ids. The org has seven presences over six system presences (ON_QUEUE,
//!   AVAILABLE, BREAK as "Break" and "Coffee", MEAL, TRAINING, OFFLINE): an agent on queue is
//!   ON_QUEUE, a logged-out one OFFLINE, one off queue but logged in is in one of the other five,
//!   picked by a hash of the agent and the spell (no random draw). `TruthQueue::presences` is
//!   the roll-up by system presence. An agent alerting, talking or in wrap-up is INTERACTING.
//! * Token expiry runs on the business clock (a Manual clock expires tokens on `advance`);
//!   the per-token budget runs on the wall clock (what `Retry-After` promises a client).
//! * Conversation metrics count a conversation as interacting from answer to talk end; the
//!   agent's wrap-up follows and is recorded in `ConversationRecord`.
//! * Conversation aggregates stamp each metric when it completes (rules in `aggregates.rs`)
//!   and show it only after a per-conversation lag (0-180 s, 5% up to 20 min;
//!   `Faults::set_aggregate_lag`); groups are always split by `mediaType`; timers in ms;
//!   zero counts and empty buckets are left out. `SimOrg::aggregate_truth` is the oracle.
//!   `Faults::refuse_aggregate_metrics` makes every query for chosen metrics one 400 (naming
//!   the metric or not), as Genesys refuses a metric an org does not have.
//!   Views (`views[]`, `rangeBound` over a modeled timer, at most 10) count the observations
//!   in [gte, lt) per interval and group; empty ones are listed with count 0 unless
//!   `Faults::set_omit_empty_views`; `SimOrg::aggregate_view_truth` is their oracle.
//! * Flow activity (`POST /api/v2/analytics/flows/activity/query`, not in the OpenAPI subset;
//!   shapes from the official SDK models): metric `oFlow` only, grouped by `flowType` and/or
//!   `mediaType`, filtered by `matches` predicates on those two. The modelled flow types
//!   (in-queue flows of waiting conversations, voicemails being recorded with flow-outs on,
//!   the IVR's self-service callers) and their caveats are in `flows.rs`; `Truth::flows` is
//!   the same count by flow type.
//! * Conversation details (`POST /api/v2/analytics/conversations/details/query`, REFERENCE
//!   2.4): every conversation of the model, ended ones with `conversationEnd` only after a
//!   per-conversation details lag (`Faults::set_details_lag`), ended voice calls with their
//!   minimum MOS (`SimOrg::spike_mos` turns one queue's calls bad), the interval filtering on
//!   the start by whole UTC days, paging and order; long conversations, calls without a
//!   queue and every choice the simulator makes are in `details.rs`; `SimOrg::mos_truth` is
//!   the oracle.
//! * Notifications (REFERENCE 2.7): channels, subscriptions and the channel WebSocket on the
//!   same listener (`connectUri` = `ws://HOST:PORT/channels/{id}`, no auth, like Genesys'),
//!   heartbeats, ping/pong, displacement, expiry, and `v2.analytics.queues.{id}.observations`
//!   events; what an event carries is described in `notify.rs`.

mod agg_truth;
mod aggregates;
mod api;
mod auth;
pub mod cli;
mod details;
mod endpoints;
mod error;
mod estimated_wait;
mod faults;
mod filter;
mod flows;
mod media;
mod model;
mod names;
mod notify;
mod records;
mod rng;
mod server;
mod shared;
mod spike;
mod stats;
mod sync;
mod truth;
mod websocket;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use agg_truth::{AggregateTruth, StatTruth, ViewTruth};
pub use details::{utc_date, MosTruth};
pub use faults::{Endpoint, Fault, Faults, Hostile, Refusal};
pub use model::Demand;
pub use records::{ConversationRecord, HoldSpan, Offer};
pub use spike::{parse_spike, Spike};
pub use stats::{RequestStats, STATUS_RESET};
pub use truth::{Truth, TruthQueue, TruthTotals};

use auth::AuthState;
use model::Model;
use notify::Hub;
use shared::Shared;
use stats::StatsRecorder;
use sync::lock;

/// How business time moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimClock {
    /// Business time is wall time; the model catches up on each request and every second.
    Realtime,
    /// Business time starts at the real "now" (floored to the minute, so two sims started
    /// together are identical) and moves only on `SimOrg::advance`.
    Manual,
    /// Like `Manual`, starting at the given instant (floored to the second): reproducible
    /// business time of day, e.g. a weekday at 10:30 for a busy org.
    ManualAt(chrono::DateTime<chrono::Utc>),
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Deterministic: same seed + same clock steps => same state.
    pub seed: u64,
    pub queues: usize,
    pub agents_per_queue: usize,
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Per-token budget over a sliding 60 s window (wall clock).
    pub rate_limit_per_minute: u32,
    pub clock: SimClock,
    /// Lifetime of a notification channel (Genesys: 24 h), on the business clock; renewed by
    /// each `PUT`/`POST` of its subscriptions.
    pub channel_ttl: Duration,
    /// Period of the `channel.metadata` heartbeat on notification sockets (wall clock).
    pub heartbeat_interval: Duration,
    /// Model flow-outs to voicemail in the analytics: one in three inbound voice callers who
    /// ran out of patience after 30 s or more in queue leave a voicemail instead of
    /// abandoning (`tFlowOut` and `tVoicemail` instead of `tAbandon`). Off by default: they
    /// replace abandons, so turning them on changes `tAbandon` and the service level, which
    /// the default org keeps as it always had them. Nothing but the aggregates and the
    /// flow activity changes (`VOICEMAIL`: the messages being recorded; see `flows.rs`).
    pub flow_outs: bool,
    /// Traffic run before the start instant, so the org is busy from the first request and
    /// its analytics have that much history. Benchmarks of the exporter's memory give it the
    /// exporter's whole look-back (2 h by default), as a real org has: with less, the
    /// exporter's state grows for as long as the look-back is not yet full of history.
    pub history: Duration,
    /// How busy the org is: by the hour of the day (the default), or held at one level, so
    /// that a benchmark measures the same traffic whenever it runs.
    pub demand: Demand,
}

/// [`SimConfig::history`] by default.
pub const DEFAULT_HISTORY: Duration = Duration::from_secs(20 * 60);

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            queues: 36,
            agents_per_queue: 8,
            client_id: "sim-client-id".to_string(),
            client_secret: "sim-client-secret".to_string(),
            token_lifetime: Duration::from_secs(24 * 3600),
            rate_limit_per_minute: 300,
            clock: SimClock::Realtime,
            channel_ttl: Duration::from_secs(24 * 3600),
            heartbeat_interval: Duration::from_secs(30),
            flow_outs: false,
            history: DEFAULT_HISTORY,
            demand: Demand::Daily,
        }
    }
}

/// The name of org `index` (counted from 1) of `orgs` run side by side, as `genesys-sim --orgs`
/// names them: `org01`, `org02`, ..., zero-padded to the width of `orgs` and to at least two
/// digits (`org001`..`org100` for 100), so the names sort in order.
#[must_use]
pub fn org_name(index: usize, orgs: usize) -> String {
    let width = orgs.max(index).to_string().len().max(2);
    format!("org{index:0width$}")
}

impl SimConfig {
    /// Org `index` (counted from 1; 0 counts as 1) of `orgs` run side by side, derived from
    /// this config exactly as `genesys-sim --orgs N` derives it, so tests that start several
    /// `SimOrg`s and the command line agree. With `name` = [`org_name`]`(index, orgs)`:
    /// seed `seed + index - 1` (wrapping; the orgs differ), client id `<client_id>-<name>`
    /// and secret `<client_secret>-<name>` (one org's credentials are refused by the others);
    /// everything else (queues, clock, limits) is copied.
    ///
    /// `genesys-sim` with a single org (the default) does not derive: it runs the base config
    /// with the credentials unchanged.
    #[must_use]
    pub fn for_org(&self, index: usize, orgs: usize) -> SimConfig {
        let index = index.max(1);
        let name = org_name(index, orgs);
        SimConfig {
            // usize -> u64 is lossless on every supported target.
            seed: self.seed.wrapping_add(index as u64 - 1),
            client_id: format!("{}-{name}", self.client_id),
            client_secret: format!("{}-{name}", self.client_secret),
            ..self.clone()
        }
    }
}

/// A running simulated org.
pub struct SimOrg {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
    pump: Option<JoinHandle<()>>,
}

impl SimOrg {
    /// Binds `listen` (e.g. 127.0.0.1:0) and serves until shutdown.
    ///
    /// # Errors
    ///
    /// Fails if `listen` cannot be bound or its local address cannot be read, or if the task
    /// that builds the traffic model panics or is cancelled.
    pub async fn start(cfg: SimConfig, listen: SocketAddr) -> std::io::Result<SimOrg> {
        let now = chrono::Utc::now().timestamp_millis();
        let (realtime, start_ms) = match cfg.clock {
            SimClock::Realtime => (true, now),
            SimClock::Manual => (false, now - now.rem_euclid(60_000)),
            SimClock::ManualAt(t) => {
                let ms = t.timestamp_millis();
                (false, ms - ms.rem_euclid(1000))
            }
        };
        let (seed, queues, agents) = (cfg.seed, cfg.queues, cfg.agents_per_queue);
        let (history, demand) = (cfg.history, cfg.demand);
        let mut model = tokio::task::spawn_blocking(move || {
            Model::new(seed, queues, agents, start_ms, history, demand)
        })
        .await
        .map_err(std::io::Error::other)?;
        model.flow_outs = cfg.flow_outs;
        let auth = Arc::new(AuthState::new(
            cfg.token_lifetime,
            cfg.rate_limit_per_minute,
        ));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            client_id: cfg.client_id,
            client_secret: cfg.client_secret,
            realtime,
            start_ms,
            advanced_ms: Mutex::new(0),
            model: Mutex::new(model),
            faults: Faults::new(auth.clone()),
            auth,
            stats: StatsRecorder::default(),
            started: Instant::now(),
            addr,
            hub: Hub::new(cfg.channel_ttl, cfg.heartbeat_interval),
        });
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let sh = shared.clone();
        let server = tokio::spawn(async move {
            // Graceful shutdown by hand: hyper-util's `GracefulShutdown` does not take
            // connections with upgrades. Each connection holds a clone of `alive`.
            let (closing_tx, closing_rx) = watch::channel(false);
            let (alive, mut all_gone) = tokio::sync::mpsc::channel::<()>(1);
            loop {
                tokio::select! {
                    res = listener.accept() => {
                        let Ok((stream, _)) = res else { continue };
                        let sh = sh.clone();
                        let alive = alive.clone();
                        let mut closing = closing_rx.clone();
                        tokio::spawn(async move {
                            let conn = http1::Builder::new()
                                .serve_connection(
                                    TokioIo::new(stream),
                                    service_fn(move |req| server::handle(sh.clone(), req)),
                                )
                                .with_upgrades();
                            tokio::pin!(conn);
                            tokio::select! {
                                _ = conn.as_mut() => {}
                                _ = closing.changed() => {
                                    conn.as_mut().graceful_shutdown();
                                    let _ = conn.await;
                                }
                            }
                            drop(alive);
                        });
                    }
                    _ = &mut stop_rx => break,
                }
            }
            drop(listener);
            let _ = closing_tx.send(true);
            drop(alive);
            let _ = tokio::time::timeout(Duration::from_secs(2), all_gone.recv()).await;
        });
        let ticker = realtime.then(|| {
            let sh = shared.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    let sh = sh.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        drop(sh.model_now());
                        sh.hub.wake();
                    })
                    .await;
                }
            })
        });
        // Publishes notification events and expires channels; reads the model, never
        // advances it (no effect on the traffic model or its randomness).
        let pump = {
            let sh = shared.clone();
            tokio::spawn(async move {
                loop {
                    let due = sh.hub.pump(sh.as_ref());
                    let wait = due.map_or(Duration::from_secs(1), |at| {
                        at.saturating_duration_since(Instant::now())
                            .min(Duration::from_secs(1))
                    });
                    tokio::select! {
                        () = sh.hub.woken() => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            })
        };
        Ok(SimOrg {
            shared,
            addr,
            stop: Some(stop_tx),
            server: Some(server),
            ticker,
            pump: Some(pump),
        })
    }

    /// e.g. "http://127.0.0.1:PORT"
    #[must_use]
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// e.g. "http://127.0.0.1:PORT/login"; the token endpoint is `login_url() + "/oauth/token"`.
    #[must_use]
    pub fn login_url(&self) -> String {
        format!("http://{}/login", self.addr)
    }

    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Manual clock only (no-op on Realtime): step the model in 1 s ticks.
    pub fn advance(&self, by: Duration) {
        if self.shared.realtime {
            return;
        }
        let target = {
            let mut adv = lock(&self.shared.advanced_ms);
            // Saturates only past i64::MAX ms (292 million years); exact below.
            *adv += i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            self.shared.start_ms + *adv
        };
        lock(&self.shared.model).run_until(target);
        self.shared.hub.wake();
    }

    /// Business time now (epoch ms).
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.shared.business_now_ms()
    }

    /// Reads business time; lets an exporter under test run on the simulated clock.
    pub fn clock_fn(&self) -> impl Fn() -> i64 + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.business_now_ms()
    }

    /// Ground truth of the live state at the current sim instant.
    #[must_use]
    pub fn truth(&self) -> Truth {
        truth::build(&self.shared.model_now())
    }

    /// What `POST /api/v2/analytics/conversations/aggregates/query` would report for
    /// [from_ms, to_ms) as one bucket, as of business time `visible_at_ms` (None = everything
    /// stamped so far, regardless of lag), grouped by queue and media type. Computed straight
    /// from the conversation records (not through the endpoint), honouring
    /// `Faults::set_aggregate_lag`.
    #[must_use]
    pub fn aggregate_truth(
        &self,
        from_ms: i64,
        to_ms: i64,
        visible_at_ms: Option<i64>,
    ) -> AggregateTruth {
        self.truth_of(from_ms, to_ms, visible_at_ms, None)
    }

    /// The minimum MOS (`mediaStatsMinConversationMos`) of every voice conversation that ended
    /// in [from_ms, to_ms), as histogram buckets with these upper bounds (cumulative, `le`),
    /// count and sum, by (the queue the details name, "" for none; media type). With
    /// `visible_at_ms`, only the conversations the details query answers as ended by then
    /// (`Faults::set_details_lag`); None: regardless of lag. The oracle of the details query.
    #[must_use]
    pub fn mos_truth(
        &self,
        from_ms: i64,
        to_ms: i64,
        visible_at_ms: Option<i64>,
        bounds: &[f64],
    ) -> std::collections::BTreeMap<(String, String), MosTruth> {
        let lag = aggregates::lag_override(self.shared.faults.details_lag());
        details::mos_truth(
            &self.shared.model_now(),
            from_ms,
            to_ms,
            visible_at_ms,
            lag,
            bounds,
        )
    }

    /// From now on, every call that ends on this queue scores a poor MOS (1.5-3.5): a queue
    /// (or the trunk behind it) whose calls turn bad. Calls that ended before keep theirs.
    pub fn spike_mos(&self, queue_id: &str) {
        let mut model = self.shared.model_now();
        let from_ms = model.now_ms;
        model.mos_spikes.push(model::MosSpike {
            queue_id: queue_id.to_string(),
            from_ms,
        });
    }

    /// Ended conversations the details query answers with a start before they entered the
    /// queue by more than an hour (long conversations), ended in [from_ms, to_ms).
    #[must_use]
    pub fn long_conversations(&self, from_ms: i64, to_ms: i64) -> Vec<String> {
        self.shared
            .model_now()
            .ended
            .iter()
            .filter(|r| r.ended_ms().is_some_and(|e| e >= from_ms && e < to_ms))
            .filter(|r| r.arrival_ms - details::start_ms(r) > 3_600_000)
            .map(|r| r.conversation_id.clone())
            .collect()
    }

    /// [`SimOrg::aggregate_truth`] of the conversations whose `originatingDirection` is
    /// `direction` (`inbound` or `outbound`) only: one group of a query that also groups by
    /// that dimension.
    #[must_use]
    pub fn aggregate_truth_in_direction(
        &self,
        from_ms: i64,
        to_ms: i64,
        visible_at_ms: Option<i64>,
        direction: &str,
    ) -> AggregateTruth {
        self.truth_of(from_ms, to_ms, visible_at_ms, Some(direction))
    }

    /// Every observation [`SimOrg::aggregate_truth`] is made of, value by value, per queue and
    /// media type: the truth of the aggregates query's `views[]` (`ViewTruth::count_in`: how
    /// many observations of a timer fall in [gte, lt) over the span).
    #[must_use]
    pub fn aggregate_view_truth(
        &self,
        from_ms: i64,
        to_ms: i64,
        visible_at_ms: Option<i64>,
    ) -> ViewTruth {
        let lag = aggregates::lag_override(self.shared.faults.aggregate_lag());
        agg_truth::observations(
            &self.shared.model_now(),
            from_ms,
            to_ms,
            visible_at_ms,
            lag,
            None,
        )
    }

    fn truth_of(
        &self,
        from_ms: i64,
        to_ms: i64,
        visible_at_ms: Option<i64>,
        direction: Option<&str>,
    ) -> AggregateTruth {
        let lag = aggregates::lag_override(self.shared.faults.aggregate_lag());
        agg_truth::build(
            &self.shared.model_now(),
            from_ms,
            to_ms,
            visible_at_ms,
            lag,
            direction,
        )
    }

    /// What `GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime`
    /// answers now for a queue and media type (analytics vocabulary: `voice`, `chat`, ...):
    /// waiting conversations × the media type's mean handle time / agents on queue (at least
    /// one), in whole seconds. `None` for an unknown queue or media type.
    #[must_use]
    pub fn estimated_wait_seconds(&self, queue_id: &str, media_type: &str) -> Option<i64> {
        let media = media::Media::parse_analytics(media_type)?;
        estimated_wait::estimate(&self.shared.model_now(), queue_id, media)
    }

    /// What the simulator has served so far.
    #[must_use]
    pub fn stats(&self) -> RequestStats {
        self.shared.stats.snapshot()
    }

    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Adds a queue serving `media` (analytics vocabulary; unknown names ignored, voice if
    /// none); returns its id.
    #[must_use]
    pub fn add_queue(&self, name: &str, media: &[&str]) -> String {
        let id = self.shared.model_now().add_queue(name, media);
        self.shared.hub.wake();
        id
    }

    /// Sends `n` of a kind of hostile notification frame (rounds, for the kinds sent per
    /// topic) on the connected sockets; returns how many frames went out.
    #[must_use]
    pub fn push_hostile(&self, hostile: &Hostile, n: usize) -> usize {
        self.shared
            .hub
            .push_hostile(self.shared.as_ref(), hostile, n)
    }

    /// Removes a queue; its live conversations are disconnected.
    pub fn remove_queue(&self, queue_id: &str) {
        self.shared.model_now().remove_queue(queue_id);
        self.shared.hub.wake();
    }

    /// `extra_waiting` conversations arrive on that queue (its first media type) at the first
    /// tick at or after now + `after`.
    pub fn schedule_spike(&self, queue_name: &str, after: Duration, extra_waiting: u32) {
        self.shared.model_now().schedule_spike(
            queue_name,
            i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            extra_waiting,
        )
    }

    /// Ended conversations (retained 26 h of business time) whose end lies in [from_ms, to_ms).
    #[must_use]
    pub fn ended_conversations(&self, from_ms: i64, to_ms: i64) -> Vec<ConversationRecord> {
        self.shared
            .model_now()
            .ended
            .iter()
            .filter(|r| r.ended_ms().is_some_and(|e| e >= from_ms && e < to_ms))
            .cloned()
            .collect()
    }

    /// Conversations still in progress, with the events they have had so far.
    #[must_use]
    pub fn active_conversations(&self) -> Vec<ConversationRecord> {
        self.shared.model_now().active_records()
    }

    pub async fn shutdown(mut self) {
        self.stop_tasks();
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }

    /// Stops the model's ticker and the event pump, closes the sockets, and tells the server
    /// to stop accepting.
    fn stop_tasks(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(t) = self.pump.take() {
            t.abort();
        }
        self.shared.hub.shutdown();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for SimOrg {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}
