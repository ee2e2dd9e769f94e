//! Push mode (`--live.mode=auto|push`): the live loop that owns every watched queue's rows.
//!
//! * Channels: queues are assigned to channel slots, [`MAX_TOPICS`] each, at most
//!   `--live.max-channels`; a queue keeps its slot while it is watched, so adding or removing
//!   one changes one channel's subscriptions and nothing else. Each slot has a
//!   [`Worker`] that keeps its channel alive (`channel.rs`).
//! * Events replace exactly the rows they carry. A queue counts as pushed once its topic is
//!   permitted on a connected channel *and* a poll that started after the subscription has
//!   given it a baseline (a socket starts from nothing: what happened before is not replayed).
//! * Polls run on their own task so the loop never waits on Genesys: every
//!   `--live.reconcile-interval` all queues (the pushed state is replaced, and each differing
//!   series counted), and at the observations interval the queues push does not cover
//!   (`auto` only), or that need a baseline.
//! * Freshness per queue: the live series are served while the queue's data was known current
//!   within [`STALE_AFTER_INTERVALS`] observation intervals: at its last poll, or, while its
//!   channel is alive (any frame, heartbeat or pong), at the channel's last frame. An idle
//!   queue on a live channel gets no events and stays fresh.

use futures_util::FutureExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::channel::{Counters, Env, Report, Timing, Worker, MAX_TOPICS};
use super::rows::{self, Presences, Reading, Rows, Vocabulary};
use super::{
    LiveMode, LiveReport, ObservationsSnapshot, ObservedSet, PushSettings, QueueLive, METRICS,
    REGISTRATION,
};
use crate::clock::SharedClock;
use crate::collect::queues::QueueSet;
use crate::collect::{
    panic_message, wait_for_queues, CollectError, Context, Published, Settings, Slot, Started,
    MAX_QUEUES_PER_QUERY, STALE_AFTER_INTERVALS,
};
use crate::genesys::client::counting_requests;
use crate::genesys::models::{QueryFilter, QueueObservationQuery, QueueObservationQueryResponse};
use crate::genesys::GenesysClient;

/// Reports taken per wake-up of the loop, at most.
const REPORTS_PER_WAKE: usize = 256;
/// How often the loop schedules polls and publishes what changed.
const TICK: Duration = Duration::from_millis(250);
/// A queue whose longest-waiting time grows is re-derived when its live state is this old: the
/// granularity of `genesys_queue_longest_waiting_seconds` between events (a body is
/// re-encoded at most every 5 s for the process metrics anyway). A queue with events is
/// derived at the publish after them, so only the quiet ones need this.
const REDERIVE_EVERY: Duration = Duration::from_secs(5);

pub(super) fn start(ctx: Context) -> Started {
    let slot = Slot::new(REGISTRATION.name, ctx.interval);
    // Nothing to poll before the first listing; said before any plan is made, so that the
    // first plan after it does not count every queue polled while channels open.
    slot.set_own_cost(0.0);
    let task = tokio::spawn(run(slot.clone(), ctx).in_current_span());
    Started {
        source: slot.clone(),
        typed: slot,
        task,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cover {
    /// No channel carries it (none assigned, or its channel is not up).
    None,
    /// Its topic was refused.
    Rejected,
    /// Permitted on a connected channel since `since`; `baselined` once a poll that started
    /// after `since` has been applied.
    Pushed {
        slot: usize,
        since: Instant,
        baselined: bool,
    },
}

/// A watched queue's state, at its position in the listing (`Live::set`), which also holds
/// its id and the media types it serves.
#[derive(Debug)]
struct Queue {
    /// Its rows under each [`Reading`] of events (by `Reading::index`); polls set both.
    rows: [Rows; 2],
    live: Option<Arc<QueueLive>>,
    /// Events changed its rows since `live` was derived: derived again at the next publish,
    /// from the served reading only (it is then on `Live::stale`).
    stale: bool,
    /// When its data was last known current.
    current_at: Option<Instant>,
    last_event: Option<Instant>,
    /// Rows changed by events since the last poll: a poll then counts the differences.
    pushed_since_poll: bool,
    /// Its rows hold a waiting-since timestamp: the derived wait grows without events
    /// (kept with the rows, so the loop's ticks do not scan every row of every queue).
    growing: bool,
    /// When `live` was derived.
    derived_at: Option<Instant>,
    cover: Cover,
    /// Its channel slot, if it has one.
    slot: Option<usize>,
}

impl Queue {
    /// Its live state shows a wait that has grown since by [`REDERIVE_EVERY`] or more.
    /// Serves the live state derived from reading `r` of its rows, as of `now`.
    fn derive(
        &mut self,
        r: usize,
        media_types: &[String],
        now_ms: i64,
        presences: &Presences,
        now: Instant,
    ) {
        self.live = Some(Arc::new(rows::derive(
            &self.rows[r],
            media_types,
            now_ms,
            presences,
        )));
        self.derived_at = Some(now);
    }

    fn wait_outdated(&self, now: Instant) -> bool {
        self.growing
            && self
                .derived_at
                .is_none_or(|t| now.duration_since(t) >= REDERIVE_EVERY)
    }

    fn pushed(&self) -> Option<usize> {
        match self.cover {
            Cover::Pushed {
                slot,
                baselined: true,
                ..
            } => Some(slot),
            _ => None,
        }
    }
}

#[derive(Default)]
struct ChannelSlot {
    worker: Option<Worker>,
    queues: BTreeSet<String>,
    connected: bool,
    alive_at: Option<Instant>,
    /// Lost, or failed to open, and not up again since: its queues are polled meanwhile.
    /// A slot whose first channel is still opening is not lost: the plan counts it pushed.
    lost: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PollKind {
    /// Every watched queue: the pushed state is replaced and differences counted.
    Reconcile,
    /// Queues push does not cover, or that need a baseline.
    Fallback,
}

struct PollJob {
    kind: PollKind,
    ids: Vec<String>,
}

struct PollDone {
    kind: PollKind,
    ids: Vec<String>,
    started: Instant,
    duration: Duration,
    requests: u64,
    result: Result<Vec<QueueObservationQueryResponse>, CollectError>,
}

/// Polls on its own task, one job at a time.
async fn poller(
    client: GenesysClient,
    mut jobs: mpsc::Receiver<PollJob>,
    done: mpsc::Sender<PollDone>,
) {
    while let Some(job) = jobs.recv().await {
        let started = Instant::now();
        let polling = async {
            let mut responses = Vec::new();
            for batch in job.ids.chunks(MAX_QUEUES_PER_QUERY) {
                let query = QueueObservationQuery {
                    filter: QueryFilter::any_queue(batch.iter().map(String::as_str)),
                    metrics: METRICS.to_vec(),
                };
                responses.push(client.send(&query).await?);
            }
            Ok(responses)
        };
        // A panicking poll is a failed poll, as in `collect::run`: the poller lives on.
        let (result, requests) =
            counting_requests(std::panic::AssertUnwindSafe(polling).catch_unwind()).await;
        let result =
            result.unwrap_or_else(|panic| Err(CollectError::Panicked(panic_message(&*panic))));
        let report = PollDone {
            kind: job.kind,
            ids: job.ids,
            started,
            duration: started.elapsed(),
            requests,
            result,
        };
        if done.send(report).await.is_err() {
            return;
        }
    }
}

struct Live {
    slot: Arc<Slot<ObservationsSnapshot>>,
    settings: PushSettings,
    clock: SharedClock,
    env: Env,
    reports_tx: mpsc::Sender<Report>,
    set: Arc<QueueSet>,
    /// By position in `set`.
    queues: Vec<Queue>,
    /// Position in `set` by queue id, for events and channel reports.
    index: HashMap<String, usize>,
    /// Positions of the queues whose `live` is stale, each once.
    stale: Vec<usize>,
    channels: Vec<ChannelSlot>,
    jobs: mpsc::Sender<PollJob>,
    polling: bool,
    polled_once: bool,
    next_reconcile: Instant,
    next_fallback: Instant,
    poll_now: bool,
    /// When a poll was last started at once (`poll_now`): such polls are held
    /// [`POLL_NOW_GAP`] apart, so a channel replaced or lost every second costs a poll every
    /// few seconds, not one per replacement.
    last_poll_now: Option<Instant>,
    first_retry: Duration,
    /// Series that differed at reconciliation, by [`Reading`].
    differences: [u64; 2],
    /// How events are read now.
    reading: Reading,
    dirty: bool,
    last_fresh: usize,
    last_report: LiveReport,
    /// The org's presences from the last poll that carried them (events do not).
    presences: Arc<Presences>,
    /// The label values events and polls may bring beyond the official ones.
    vocabulary: Vocabulary,
    /// The settings a reload may change: which optional families are served.
    live_settings: watch::Receiver<Arc<Settings>>,
    last_observed: ObservedSet,
}

/// See [`Live::last_poll_now`].
const POLL_NOW_GAP: Duration = Duration::from_secs(5);

async fn run(slot: Arc<Slot<ObservationsSnapshot>>, ctx: Context) {
    let mut queues_rx = ctx.queues().subscribe();
    let (jobs_tx, jobs_rx) = mpsc::channel(1);
    let (done_tx, mut done_rx) = mpsc::channel(1);
    tokio::spawn(poller(ctx.client.clone(), jobs_rx, done_tx).in_current_span());
    // Bounded: a flood of events waits in the sockets rather than in memory.
    let (reports_tx, mut reports_rx) = mpsc::channel(4096);
    let interval = ctx.interval;
    let env = Env {
        client: ctx.client.clone(),
        clock: ctx.clock.clone(),
        counters: Arc::new(Counters::default()),
        timing: timing(interval, ctx.push.reconcile_interval),
        fleet: Arc::default(),
    };
    let now = Instant::now();
    let mut live = Live {
        slot,
        settings: ctx.push.clone(),
        clock: ctx.clock.clone(),
        env,
        reports_tx,
        set: Arc::new(QueueSet::default()),
        queues: Vec::new(),
        index: HashMap::new(),
        stale: Vec::new(),
        channels: Vec::new(),
        jobs: jobs_tx,
        polling: false,
        polled_once: false,
        next_reconcile: now,
        next_fallback: now,
        poll_now: false,
        last_poll_now: None,
        first_retry: Duration::from_secs(1),
        differences: [0; 2],
        reading: Reading::Rows,
        dirty: false,
        last_fresh: 0,
        last_report: LiveReport::default(),
        presences: Arc::new(Presences::default()),
        vocabulary: Vocabulary::new(),
        last_observed: ctx
            .live
            .borrow()
            .of::<ObservedSet>()
            .copied()
            .unwrap_or_default(),
        live_settings: ctx.live.clone(),
    };
    // The first listing, as the polling collector waits for it.
    let Ok(set) = wait_for_first(&mut queues_rx, &live.slot).await else {
        return;
    };
    live.set_queues(set);
    let mut reports = Vec::with_capacity(REPORTS_PER_WAKE);
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = queues_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let data = queues_rx.borrow_and_update().data.clone();
                if let Some(set) = data {
                    if !Arc::ptr_eq(&set, &live.set) {
                        live.set_queues(set);
                    }
                }
            }
            // Everything waiting at once: one wake-up for a burst of events.
            n = reports_rx.recv_many(&mut reports, REPORTS_PER_WAKE) => {
                if n == 0 {
                    return;
                }
                for report in reports.drain(..) {
                    live.on_report(report);
                }
            }
            Some(done) = done_rx.recv() => live.on_polled(done),
            _ = ticks.tick() => live.on_tick(),
        }
    }
}

/// Waits for queue discovery's first listing, recording a failed poll each interval it is
/// missing (as the polling collector does).
async fn wait_for_first(
    rx: &mut watch::Receiver<Published<QueueSet>>,
    slot: &Slot<ObservationsSnapshot>,
) -> Result<Arc<QueueSet>, ()> {
    loop {
        let started = std::time::Instant::now();
        match wait_for_queues(rx, slot.interval()).await {
            Ok(set) => return Ok(set),
            Err(e) => slot.record_poll(started.elapsed(), 0, Err(e)),
        }
        if rx.has_changed().is_err() {
            return Err(());
        }
    }
}

/// Pings a third of the observations interval apart (1-10 s), and calls a socket stalled
/// after an interval without a frame: the queues' data is then still fresh for two more
/// intervals, time enough to poll them.
fn timing(interval: Duration, reconcile: Duration) -> Timing {
    let ping = (interval / 3).clamp(Duration::from_millis(200), Duration::from_secs(10));
    Timing {
        ping,
        silence: interval.max(ping * 2),
        retry_max: reconcile.max(Duration::from_secs(1)),
    }
}

impl Live {
    fn interval(&self) -> Duration {
        self.slot.interval()
    }

    fn fresh_for(&self) -> Duration {
        self.interval() * STALE_AFTER_INTERVALS
    }

    /// A new listing: keep the state of queues still watched, give new ones a channel slot,
    /// and tell the channels whose queues changed.
    fn set_queues(&mut self, set: Arc<QueueSet>) {
        let wanted: BTreeSet<&str> = set.queues.iter().map(|q| q.id.as_str()).collect();
        let mut touched = BTreeSet::new();
        // The states so far, by id (`self.set` is still the listing they are in).
        let mut old: HashMap<String, Queue> = self
            .set
            .queues
            .iter()
            .map(|q| q.id.clone())
            .zip(std::mem::take(&mut self.queues))
            .collect();
        old.retain(|id, q| {
            let keep = wanted.contains(id.as_str());
            if !keep {
                if let Some(s) = q.slot {
                    touched.insert(s);
                }
            }
            keep
        });
        for ch in &mut self.channels {
            ch.queues.retain(|id| wanted.contains(id.as_str()));
        }
        let push = self.settings.mode != LiveMode::Poll;
        let mut queues = Vec::with_capacity(set.queues.len());
        for q in &set.queues {
            if let Some(state) = old.remove(&q.id) {
                queues.push(state);
                continue;
            }
            let slot = if push { self.free_slot() } else { None };
            if let Some(s) = slot {
                self.channels[s].queues.insert(q.id.clone());
                touched.insert(s);
            }
            queues.push(Queue {
                rows: [Rows::new(), Rows::new()],
                live: None,
                stale: false,
                current_at: None,
                last_event: None,
                pushed_since_poll: false,
                growing: false,
                derived_at: None,
                cover: Cover::None,
                slot,
            });
            self.poll_now = true;
        }
        self.queues = queues;
        self.index = set
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| (q.id.clone(), i))
            .collect();
        for s in touched {
            self.sync_channel(s);
        }
        self.set = set;
        self.rederive_all();
        self.slot.set_own_cost(self.planned_cost());
    }

    /// The first slot with room, opening a new one while under `--live.max-channels`.
    fn free_slot(&mut self) -> Option<usize> {
        if let Some(s) = self
            .channels
            .iter()
            .position(|c| c.queues.len() < MAX_TOPICS)
        {
            return Some(s);
        }
        if self.channels.len() < self.settings.max_channels {
            self.channels.push(ChannelSlot::default());
            return Some(self.channels.len() - 1);
        }
        None
    }

    fn sync_channel(&mut self, s: usize) {
        let ch = &mut self.channels[s];
        if ch.queues.is_empty() {
            ch.worker = None;
            ch.connected = false;
            return;
        }
        match &ch.worker {
            Some(w) => w.set_queues(ch.queues.clone()),
            None => {
                ch.worker = Some(Worker::spawn(
                    s,
                    ch.queues.clone(),
                    self.env.clone(),
                    self.reports_tx.clone(),
                ));
            }
        }
    }

    /// Every queue known current is derived again at the next publish (the listing or the
    /// served reading changed).
    fn rederive_all(&mut self) {
        let r = self.reading.index();
        self.stale.clear();
        for (i, q) in self.queues.iter_mut().enumerate() {
            q.growing = rows::time_dependent(&q.rows[r]);
            q.stale = q.current_at.is_some();
            if q.stale {
                self.stale.push(i);
            }
        }
        self.dirty = true;
    }

    /// Derives the live state of the queues events changed, from the served reading: once per
    /// publish however many events a queue had since.
    fn derive_stale(&mut self, now: Instant) {
        if self.stale.is_empty() {
            return;
        }
        let now_ms = self.clock.now_ms();
        let r = self.reading.index();
        for i in self.stale.drain(..) {
            let (Some(q), Some(w)) = (self.queues.get_mut(i), self.set.queues.get(i)) else {
                continue;
            };
            if !std::mem::take(&mut q.stale) {
                continue;
            }
            q.growing = rows::time_dependent(&q.rows[r]);
            q.derive(r, &w.media_types, now_ms, &self.presences, now);
        }
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Event {
                received,
                mut event,
            } => {
                let Some(&i) = event.queue_id.as_ref().and_then(|id| self.index.get(id)) else {
                    return;
                };
                let (Some(q), Some(watched)) = (self.queues.get_mut(i), self.set.queues.get(i))
                else {
                    return;
                };
                // An aggregates frame: nothing changed, under either reading (not even the
                // time of the last event, which decides whether a poll's answer is older).
                if event.observes_nothing() {
                    return;
                }
                if !self
                    .vocabulary
                    .admit_event(&mut event, &watched.media_types, &self.presences)
                {
                    return;
                }
                // Both readings keep their rows (cheap); only the served one is derived, at
                // the next publish.
                for reading in Reading::ALL {
                    rows::apply(&mut q.rows[reading.index()], &event, reading);
                }
                q.last_event = Some(received);
                q.pushed_since_poll = true;
                if q.pushed().is_some() {
                    q.current_at = Some(received);
                }
                if !q.stale {
                    q.stale = true;
                    self.stale.push(i);
                }
                self.dirty = true;
            }
            Report::Alive { slot, at } => {
                if let Some(ch) = self.channels.get_mut(slot) {
                    ch.alive_at = Some(at);
                }
            }
            Report::Coverage {
                slot,
                permitted,
                rejected,
                since,
            } => {
                if let Some(ch) = self.channels.get_mut(slot) {
                    ch.connected = true;
                    ch.lost = false;
                    ch.alive_at = Some(since);
                }
                for id in permitted {
                    if let Some(q) = self.index.get(&id).and_then(|&i| self.queues.get_mut(i)) {
                        let already = matches!(q.cover, Cover::Pushed { slot: s, .. } if s == slot);
                        if !already {
                            q.cover = Cover::Pushed {
                                slot,
                                since,
                                baselined: false,
                            };
                            self.poll_now = true;
                        }
                    }
                }
                for id in rejected {
                    if let Some(q) = self.index.get(&id).and_then(|&i| self.queues.get_mut(i)) {
                        q.cover = Cover::Rejected;
                        self.poll_now = true;
                    }
                }
                self.dirty = true;
            }
            Report::Lost { slot, reason } => {
                tracing::debug!(
                    slot,
                    reason = reason.label(),
                    "channel lost; its queues are polled"
                );
                let alive = self.channels.get(slot).and_then(|ch| ch.alive_at);
                if let Some(ch) = self.channels.get_mut(slot) {
                    ch.connected = false;
                    ch.lost = true;
                }
                for q in &mut self.queues {
                    if let Cover::Pushed {
                        slot: s, baselined, ..
                    } = q.cover
                    {
                        if s == slot {
                            // Current until the channel's last frame; polled from here on.
                            if baselined {
                                q.current_at = q.current_at.max(alive);
                            }
                            q.cover = Cover::None;
                        }
                    }
                }
                self.poll_now = true;
                self.dirty = true;
            }
            Report::Replaced { slot, reason } => {
                tracing::debug!(
                    slot,
                    reason = reason.label(),
                    "channel replaced; its queues are reconciled once"
                );
                let now = Instant::now();
                if let Some(ch) = self.channels.get_mut(slot) {
                    ch.connected = true;
                    ch.lost = false;
                    ch.alive_at = Some(now);
                }
                // Every queue still pushed here was current until now.
                for q in &mut self.queues {
                    if let Cover::Pushed { slot: s, .. } = q.cover {
                        if s == slot {
                            // Still pushed (freshness goes on), and polled once.
                            q.cover = Cover::Pushed {
                                slot,
                                since: now,
                                baselined: false,
                            };
                            q.current_at = q.current_at.max(Some(now));
                        }
                    }
                }
                self.poll_now = true;
            }
            Report::Unavailable { slot } => {
                if let Some(ch) = self.channels.get_mut(slot) {
                    ch.lost = true;
                }
            }
        }
    }

    fn on_polled(&mut self, done: PollDone) {
        self.polling = false;
        let ok = done.result.is_ok();
        let PollDone {
            kind,
            ids,
            started,
            duration,
            requests,
            result,
        } = done;
        let outcome = match result {
            Ok(responses) => {
                self.apply_poll(kind, &ids, started, &responses);
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.slot.record_poll(duration, requests, outcome);
        let now = Instant::now();
        if ok {
            self.polled_once = true;
            self.first_retry = Duration::from_secs(1);
        } else {
            // Until the first success, retry soon (1 s, 2 s, ... up to the interval); after
            // it, failed polls keep to the interval.
            let wait = if self.polled_once {
                self.interval()
            } else {
                let w = self.first_retry.min(self.interval());
                self.first_retry = self.first_retry.saturating_mul(2);
                w
            };
            match kind {
                PollKind::Reconcile => self.next_reconcile = now + wait,
                PollKind::Fallback => self.next_fallback = now + wait,
            }
        }
        self.publish();
    }

    fn apply_poll(
        &mut self,
        kind: PollKind,
        ids: &[String],
        started: Instant,
        responses: &[QueueObservationQueryResponse],
    ) {
        if let Some(p) = Presences::from_responses(responses) {
            if p != *self.presences {
                p.warn_if_truncated();
                self.presences = Arc::new(p);
                // Queues this poll does not answer for roll their presences up anew too.
                self.rederive_all();
            }
        }
        let mut polled: HashMap<&str, Rows> =
            ids.iter().map(|id| (id.as_str(), Rows::new())).collect();
        for container in responses.iter().flat_map(|r| &r.results) {
            let Some((rows, watched)) = container.group.get("queueId").and_then(|id| {
                let watched = self.index.get(id).and_then(|&i| self.set.queues.get(i))?;
                Some((polled.get_mut(id.as_str())?, watched))
            }) else {
                continue;
            };
            rows::add_polled(
                rows,
                container,
                &mut self.vocabulary,
                &watched.media_types,
                &self.presences,
            );
        }
        let now_ms = self.clock.now_ms();
        let derived_at = Instant::now();
        for (watched, q) in self.set.queues.iter().zip(&mut self.queues) {
            let Some(mut rows) = polled.remove(watched.id.as_str()) else {
                continue;
            };
            // An invalid count in the answer keeps the count served so far.
            rows::keep_previous(&mut rows, &q.rows[self.reading.index()]);
            // `--live.mode=push`: only queues on a channel have live series.
            if self.settings.mode == LiveMode::Push && !matches!(q.cover, Cover::Pushed { .. }) {
                continue;
            }
            let pushed = q.pushed().is_some();
            // An event that arrived after this poll started is newer than its answer.
            if pushed && q.last_event.is_some_and(|t| t > started) {
                continue;
            }
            let fresh = rows::derive(&rows, &watched.media_types, now_ms, &self.presences);
            if q.pushed_since_poll {
                for reading in Reading::ALL {
                    let before = rows::derive(
                        &q.rows[reading.index()],
                        &watched.media_types,
                        now_ms,
                        &self.presences,
                    );
                    let n = rows::differences(&before, &fresh);
                    if n > 0 {
                        tracing::debug!(queue = %watched.id, reading = reading.label(), differences = n, "pushed state differed from the reconciling poll");
                    }
                    self.differences[reading.index()] += n;
                }
            }
            q.growing = rows::time_dependent(&rows);
            q.rows = [rows.clone(), rows];
            q.pushed_since_poll = false;
            q.live = Some(Arc::new(fresh));
            q.stale = false;
            q.derived_at = Some(derived_at);
            q.current_at = q.current_at.max(Some(started));
            if let Cover::Pushed {
                slot,
                since,
                baselined: false,
            } = q.cover
            {
                if started >= since {
                    q.cover = Cover::Pushed {
                        slot,
                        since,
                        baselined: true,
                    };
                }
            }
        }
        if kind == PollKind::Reconcile {
            // Every queue's rows were replaced (but those with a newer event): extra label
            // values only events brought, and no row holds now, make room again.
            self.vocabulary
                .sweep(self.queues.iter().flat_map(|q| q.rows.iter()));
        }
        self.choose_reading();
        self.dirty = true;
    }

    /// Serves the reading of events that reconciliation found fewer differences for so far
    /// (rows on a tie: the reading). A wrong guess costs until the next reconcile.
    fn choose_reading(&mut self) {
        let [rows, groups] = self.differences;
        let better = if groups < rows {
            Reading::Groups
        } else {
            Reading::Rows
        };
        if better != self.reading {
            tracing::info!(
                reading = better.label(),
                differences_rows = rows,
                differences_groups = groups,
                "pushed events are now read as the reading that matched the reconciling polls better"
            );
            self.reading = better;
            self.rederive_all();
        }
    }

    fn on_tick(&mut self) {
        self.schedule(Instant::now());
        self.publish();
        self.slot.set_own_cost(self.planned_cost());
    }

    /// What one poll at the configured observations interval costs, as the budget plan counts
    /// it (`Source::own_cost`): the queues push does not carry (`auto`: no channel, its
    /// channel lost or refused to open, or its topic rejected), polled every interval; every
    /// queue at each reconcile, spread over the intervals between; and, in `auto`, a reserve
    /// of one channel's queues, so that one channel lost polls its queues within the plan. A
    /// queue on a channel that is still opening counts as pushed: at start-up the plan is
    /// made for push working, and is made again if it does not.
    fn planned_cost(&self) -> f64 {
        let auto = self.settings.mode == LiveMode::Auto;
        let polled = if auto {
            self.queues
                .iter()
                .filter(|q| match q.cover {
                    Cover::Rejected => true,
                    Cover::Pushed { .. } => false,
                    Cover::None => q
                        .slot
                        .and_then(|s| self.channels.get(s))
                        .is_none_or(|ch| ch.lost),
                })
                .count()
        } else {
            0
        };
        let reserve = if auto {
            (self.queues.len() - polled).min(MAX_TOPICS)
        } else {
            0
        };
        let interval = self.live_settings.borrow().interval(REGISTRATION.name);
        let reconciles = interval.as_secs_f64() / self.settings.reconcile_interval.as_secs_f64().max(1.0);
        let requests = |n: usize| n.div_ceil(MAX_QUEUES_PER_QUERY) as f64;
        requests(polled) + requests(reserve) + requests(self.queues.len()) * reconciles
    }

    /// When a queue's data was last known current: its last poll or applied event, or, while
    /// it is pushed on a connected channel, that channel's last frame (events or not). Read,
    /// not stored, so a tick does not write every queue.
    fn known_current(&self, q: &Queue) -> Option<Instant> {
        let alive = q
            .pushed()
            .and_then(|s| self.channels.get(s))
            .filter(|ch| ch.connected)
            .and_then(|ch| ch.alive_at);
        q.current_at.max(alive)
    }

    /// A poll asked for at once may start now: none started at once within the gap. Data
    /// stays fresh for intervals after a channel is lost, so waiting the gap loses nothing.
    fn may_poll_now(&self, now: Instant) -> bool {
        let gap = POLL_NOW_GAP.min(self.interval());
        self.last_poll_now
            .is_none_or(|t| now.saturating_duration_since(t) >= gap)
    }

    /// Starts a poll if one is due and none is running.
    fn schedule(&mut self, now: Instant) {
        if self.polling {
            return;
        }
        let job = if now >= self.next_reconcile {
            self.next_reconcile = now + self.settings.reconcile_interval;
            self.next_fallback = now + self.interval();
            self.poll_now = false;
            Some(PollJob {
                kind: PollKind::Reconcile,
                ids: self.set.queues.iter().map(|q| q.id.clone()).collect(),
            })
        } else if (self.poll_now && self.may_poll_now(now)) || now >= self.next_fallback {
            self.last_poll_now = Some(now);
            let auto = self.settings.mode == LiveMode::Auto;
            let ids: Vec<String> = self
                .set
                .queues
                .iter()
                .zip(&self.queues)
                .filter(|(_, q)| match q.cover {
                    Cover::Pushed { baselined, .. } => !baselined,
                    Cover::None | Cover::Rejected => auto,
                })
                .map(|(w, _)| w.id.clone())
                .collect();
            self.poll_now = false;
            // Looked at again an interval later (or when something asks for a poll now),
            // not on every tick.
            self.next_fallback = now + self.interval();
            if ids.is_empty() {
                None
            } else {
                Some(PollJob {
                    kind: PollKind::Fallback,
                    ids,
                })
            }
        } else {
            None
        };
        if let Some(job) = job {
            if self.jobs.try_send(job).is_ok() {
                self.polling = true;
            }
        }
    }

    /// The report, how many queues are fresh, and whether one of them shows an outdated wait,
    /// in one pass.
    fn report(&self, now: Instant) -> (LiveReport, usize, bool) {
        let c = &self.env.counters;
        let fresh_for = self.fresh_for();
        let (mut pushed, mut permitted, mut rejected, mut fresh) = (0u64, 0u64, 0u64, 0usize);
        let mut outdated = false;
        for q in &self.queues {
            pushed += u64::from(q.pushed().is_some());
            permitted += u64::from(matches!(q.cover, Cover::Pushed { .. }));
            rejected += u64::from(q.cover == Cover::Rejected);
            if self.is_fresh(q, now, fresh_for) {
                fresh += 1;
                outdated |= q.wait_outdated(now);
            }
        }
        let last_event_ms = c.last_event_ms.load(Ordering::Relaxed);
        let report = LiveReport {
            mode: self.settings.mode,
            pushed_queues: pushed,
            polled_queues: self.queues.len() as u64 - pushed,
            channels: self.channels.iter().filter(|c| c.connected).count() as u64,
            topics_permitted: permitted,
            topics_rejected: rejected,
            frames: std::array::from_fn(|i| c.frames[i].load(Ordering::Relaxed)),
            reconnects: std::array::from_fn(|i| c.reconnects[i].load(Ordering::Relaxed)),
            reconcile_differences: self.differences,
            reading: self.reading,
            last_event: (last_event_ms > 0).then(|| last_event_ms as f64 / 1000.0),
            ignored: self.vocabulary.ignored(),
        };
        (report, fresh, outdated)
    }

    fn is_fresh(&self, q: &Queue, now: Instant, fresh_for: Duration) -> bool {
        self.known_current(q)
            .is_some_and(|t| now.duration_since(t) <= fresh_for)
    }

    /// Publishes a new snapshot when something it shows changed.
    fn publish(&mut self) {
        if !self.polled_once {
            return;
        }
        let now = Instant::now();
        // First: the report reads which queues have a growing wait.
        self.derive_stale(now);
        let (report, fresh, outdated) = self.report(now);
        let observed = self
            .live_settings
            .borrow()
            .of::<ObservedSet>()
            .copied()
            .unwrap_or_default();
        if !(self.dirty
            || outdated
            || fresh != self.last_fresh
            || report != self.last_report
            || observed != self.last_observed)
        {
            return;
        }
        if outdated {
            let now_ms = self.clock.now_ms();
            let r = self.reading.index();
            for (q, w) in self.queues.iter_mut().zip(&self.set.queues) {
                if q.wait_outdated(now) {
                    q.derive(r, &w.media_types, now_ms, &self.presences, now);
                }
            }
        }
        let fresh_for = self.fresh_for();
        let live = self
            .queues
            .iter()
            .map(|q| {
                self.is_fresh(q, now, fresh_for)
                    .then(|| q.live.clone())
                    .flatten()
            })
            .collect();
        // The snapshot before is this loop's own: it alone publishes into the slot.
        let previous = self.slot.latest().data;
        self.slot.refresh(ObservationsSnapshot::after(
            previous.as_deref(),
            self.set.clone(),
            live,
            report.clone(),
            observed,
        ));
        self.last_observed = observed;
        self.dirty = false;
        self.last_fresh = fresh;
        self.last_report = report;
    }
}
