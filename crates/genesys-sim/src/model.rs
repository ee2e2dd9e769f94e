//! The traffic model: queues, agents and conversations stepped in 1-second ticks of business
//! time. State depends only on the seed, the ticks and explicit calls (add/remove queue,
//! spikes), never on request timing.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};

use super::media::Media;
use super::names;
use super::records::{ConversationRecord, HoldSpan, Offer};
use super::rng::{self, SimRng};

const TICK_MS: i64 = 1000;
/// The longest history an org is started with: what it keeps of ended conversations.
const MAX_HISTORY_SECS: i64 = RETAIN_MS / 1000;
/// Ended conversations are kept this long (26 h of business time).
const RETAIN_MS: i64 = 26 * 3600 * 1000;

/// Routing statuses in the API's vocabulary, in the order of `QueueSnap::statuses`.
pub(crate) const ROUTING_STATUSES: [&str; 5] = [
    "OFF_QUEUE",
    "IDLE",
    "INTERACTING",
    "NOT_RESPONDING",
    "COMMUNICATING",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum AgentState {
    Idle,
    Alerting { conv: u64, until: i64, answer: bool },
    Interacting { conv: u64, until: i64 },
    Wrapup { conv: u64, until: i64 },
    NotResponding { until: i64 },
    Communicating { until: i64 },
    OffQueue { offline: bool, until: i64 },
}

impl AgentState {
    fn routing_status(&self) -> usize {
        match self {
            AgentState::OffQueue { .. } => 0,
            AgentState::Idle => 1,
            AgentState::Alerting { .. }
            | AgentState::Interacting { .. }
            | AgentState::Wrapup { .. } => 2,
            AgentState::NotResponding { .. } => 3,
            AgentState::Communicating { .. } => 4,
        }
    }

    /// Index into `names::ORG_PRESENCES`. Off queue but logged in, the agent is in one of
    /// `names::AWAY_PRESENCES`, picked by a hash of the agent (`key`) and the end of that
    /// spell (no random draw): fixed for the spell, varying from one spell to the next.
    fn presence(&self, key: u64) -> usize {
        match self {
            AgentState::OffQueue { offline: true, .. } => names::OFFLINE_PRESENCE,
            AgentState::OffQueue {
                offline: false,
                until,
            } => {
                let h = rng::mix(key ^ u64::from_le_bytes(until.to_le_bytes()));
                // Below the table's length (5), so the index fits usize.
                let at = usize::try_from(h % names::AWAY_PRESENCES.len() as u64).unwrap_or(0);
                names::AWAY_PRESENCES[at]
            }
            _ => names::ON_QUEUE_PRESENCE,
        }
    }
}

#[derive(Debug, Clone)]
struct Agent {
    id: String,
    /// `rng::hash_str(id)`: picks the agent's presences off queue (no random draw).
    key: u64,
    state: AgentState,
    idle_since: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct QueueState {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) division: usize,
    pub(crate) media: Vec<Media>,
    pub(crate) date_created: String,
    pub(crate) removed: bool,
    load: f64,
    mix: [f64; 5],
    agents: Vec<Agent>,
    waiting: [VecDeque<Waiter>; 5],
    alerting: [Vec<u64>; 5],
    interacting: [Vec<u64>; 5],
    spike_until: i64,
    spike_mult: f64,
}

impl QueueState {
    pub(crate) fn member_count(&self) -> usize {
        self.agents.len()
    }
}

/// Conversation storage with stable small ids (cheaper than hashing on every tick).
#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Option<Conv>>,
    free: Vec<u64>,
}

/// A slab id as a slot index. Ids are indexes of `slots` (a Vec), so they fit usize.
fn slot(id: u64) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX)
}

impl Slab {
    fn insert(&mut self, c: Conv) -> u64 {
        match self.free.pop() {
            Some(id) => {
                self.slots[slot(id)] = Some(c);
                id
            }
            None => {
                self.slots.push(Some(c));
                self.slots.len() as u64 - 1
            }
        }
    }
    fn get(&self, id: &u64) -> Option<&Conv> {
        self.slots.get(slot(*id)).and_then(Option::as_ref)
    }
    fn get_mut(&mut self, id: &u64) -> Option<&mut Conv> {
        self.slots.get_mut(slot(*id)).and_then(Option::as_mut)
    }
    fn remove(&mut self, id: &u64) -> Option<Conv> {
        let c = self.slots.get_mut(slot(*id)).and_then(Option::take);
        if c.is_some() {
            self.free.push(*id);
        }
        c
    }
    fn values(&self) -> impl Iterator<Item = &Conv> {
        self.slots.iter().flatten()
    }
}

/// A conversation waiting in queue.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    id: u64,
    /// Original queue entry (kept when an unanswered offer puts it back in queue).
    entered: i64,
    abandon_at: Option<i64>,
}

#[derive(Debug, Clone)]
struct Conv {
    media: Media,
    entered: i64,
    abandon_at: Option<i64>,
    alert_start: i64,
    record: ConversationRecord,
}

/// Live counts of one queue at the current instant (what observations and truth report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QueueSnap {
    pub(crate) waiting: [u64; 5],
    pub(crate) alerting: [u64; 5],
    pub(crate) interacting: [u64; 5],
    pub(crate) longest_waiting: [Option<i64>; 5],
    pub(crate) longest_interacting: [Option<i64>; 5],
    pub(crate) statuses: [u64; 5],
    /// Agents per organization presence, in `names::ORG_PRESENCES` order.
    pub(crate) presences: [u64; names::ORG_PRESENCES.len()],
    pub(crate) members: u64,
}

impl QueueSnap {
    pub(crate) fn on_queue(&self) -> u64 {
        self.members - self.statuses[0]
    }
    pub(crate) fn active_users(&self) -> u64 {
        self.members - self.presences[names::OFFLINE_PRESENCE]
    }
}

/// A queue whose calls turn bad from `from_ms` on (the MOS the details answer, `details.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MosSpike {
    pub(crate) queue_id: String,
    pub(crate) from_ms: i64,
}

pub(crate) struct Model {
    /// The org seed `rng` was seeded with: seeds the side processes that must not draw from
    /// `rng` (the IVR's self-service callers in `flows.rs`).
    pub(crate) seed: u64,
    rng: SimRng,
    pub(crate) now_ms: i64,
    /// Bumped by everything that may change what `snapshot` reads (a tick, a queue added or
    /// removed): a reader that compared a snapshot at one generation need not build it again
    /// until the next (the notification pump, several times a tick at a busy org).
    pub(crate) generation: u64,
    pub(crate) queues: Vec<QueueState>,
    by_id: HashMap<String, usize>,
    /// Live queue indices sorted by name (then id).
    pub(crate) sorted: Vec<usize>,
    pub(crate) divisions: Vec<(String, String)>,
    /// Organization presence ids, parallel to `names::ORG_PRESENCES`.
    pub(crate) presence_ids: Vec<String>,
    convs: Slab,
    /// Ended conversations in the order they ended (tick of the end, ±0: every end lies on
    /// or just before the tick that records it).
    pub(crate) ended: VecDeque<ConversationRecord>,
    /// Parallel to `ended`: (tick at which it was recorded, queue index). Ticks are
    /// non-decreasing, and no stamp of the record is later than its tick, but for a
    /// voicemail's (at most `records::MAX_VOICEMAIL_MS` later).
    ended_meta: VecDeque<(i64, usize)>,
    /// Sequence number of `ended.front()`; sequence numbers never repeat.
    ended_seq0: u64,
    /// Per queue index: sequence numbers of its ended conversations, oldest first.
    ended_by_queue: Vec<VecDeque<u64>>,
    spikes: Vec<(i64, usize, u32)>,
    agents_per_queue: usize,
    /// `SimConfig::flow_outs`: some abandons are flow-outs to voicemail in the analytics
    /// (`ConversationRecord::voicemail`); the model itself is the same either way.
    pub(crate) flow_outs: bool,
    /// Queues whose calls turn bad from an instant on (`SimOrg::spike_mos`): the MOS the
    /// details answer for their calls (`details.rs`).
    pub(crate) mos_spikes: Vec<MosSpike>,
    pub(crate) demand: Demand,
}

/// Demand on a weekday by hour (UTC business clock), 1.0 = mid-morning peak.
const CURVE: [f64; 24] = [
    0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.2, 0.45, 0.75, 0.95, 1.0, 0.95, 0.75, 0.8, 0.92, 0.88,
    0.75, 0.6, 0.45, 0.32, 0.22, 0.15, 0.1, 0.06,
];

/// Agents of a queue scheduled on shift at demand `c` (staffing follows demand).
// The result lies in [0, n] (frac is clamped to [0.15, 1]), so it fits usize exactly.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn staffed(n: usize, c: f64) -> usize {
    let frac = (c * 1.1 + 0.08).clamp(0.15, 1.0);
    ((n as f64) * frac).ceil() as usize
}

/// `x` truncated toward zero (as `as` does), for the model's exponential draws.
// `SimRng::exp` never exceeds ~37 times its mean (its uniform draw stays 2^-53 below 1) and the
// means are at most an hour (`media.rs`), so even in ms these values are far inside i64.
#[allow(clippy::cast_possible_truncation)]
fn whole(x: f64) -> i64 {
    x as i64
}

/// An offset into the retained ended conversations (a VecDeque), so it fits usize.
fn ended_index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

/// How busy the org is over the day.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Demand {
    /// By the business hour: `CURVE` on a weekday, 0.45 of it at the weekend (a night run sees
    /// a twentieth of the mid-morning traffic).
    #[default]
    Daily,
    /// Held at this level at every hour (1.0 = the weekday mid-morning peak): benchmarks that
    /// must not depend on the hour they run at.
    Fixed(f64),
}

impl Demand {
    /// The demand at business time `t_ms`.
    pub(crate) fn at(self, t_ms: i64) -> f64 {
        match self {
            Demand::Daily => demand(t_ms),
            Demand::Fixed(level) => level,
        }
    }
}

/// Business-time demand at `t_ms`: `CURVE` interpolated within the hour, 0.45 of it at the
/// weekend.
pub(crate) fn demand(t_ms: i64) -> f64 {
    let Some(dt) = DateTime::<Utc>::from_timestamp_millis(t_ms) else {
        return 0.5;
    };
    let h = dt.hour() as usize;
    let frac = dt.minute() as f64 / 60.0;
    let v = CURVE[h] + (CURVE[(h + 1) % 24] - CURVE[h]) * frac;
    match dt.weekday() {
        Weekday::Sat | Weekday::Sun => v * 0.45,
        _ => v,
    }
}

/// Salt of the side stream the extra presence ids are drawn from.
const PRESENCE_SALT: u64 = 0x7072_6573_656E_6365; // "presence"

/// The ids of `names::ORG_PRESENCES`, in table order. The org's first five (`main_stream`) are
/// drawn from the model's stream exactly as before the others existed (one uuid each, in
/// order), so every later id and draw is unchanged for a seed; each other one is the first
/// uuid of its own stream, seeded from the org seed, a salt and its display name.
fn presence_ids(seed: u64, main: &mut SimRng) -> Vec<String> {
    names::ORG_PRESENCES
        .iter()
        .map(|p| {
            if p.main_stream {
                main.uuid()
            } else {
                SimRng::new(rng::mix(seed ^ PRESENCE_SALT) ^ rng::hash_str(p.name)).uuid()
            }
        })
        .collect()
}

impl Model {
    pub(crate) fn new(
        seed: u64,
        queues: usize,
        agents_per_queue: usize,
        start_ms: i64,
        history: std::time::Duration,
        demand: Demand,
    ) -> Model {
        let mut rng = SimRng::new(seed);
        let divisions = names::DIVISIONS
            .iter()
            .map(|d| (rng.uuid(), (*d).to_string()))
            .collect();
        let presence_ids = presence_ids(seed, &mut rng);
        let start_ms = start_ms - start_ms.rem_euclid(TICK_MS);
        let mut model = Model {
            seed,
            rng,
            now_ms: start_ms,
            generation: 0,
            queues: Vec::new(),
            by_id: HashMap::new(),
            sorted: Vec::new(),
            divisions,
            presence_ids,
            convs: Slab::default(),
            ended: VecDeque::new(),
            ended_meta: VecDeque::new(),
            ended_seq0: 0,
            ended_by_queue: Vec::new(),
            spikes: Vec::new(),
            agents_per_queue,
            flow_outs: false,
            mos_spikes: Vec::new(),
            demand,
        };
        let names = names::queue_names(&mut model.rng, queues);
        for name in names {
            let mut media = model.random_media();
            // A queue called "… - Email" serves email, and so on.
            for (word, m) in [
                ("Chat", Media::Chat),
                ("Email", Media::Email),
                ("Callbacks", Media::Callback),
            ] {
                if name.contains(word) && !media.contains(&m) {
                    media.push(m);
                    media.sort();
                }
            }
            model.push_queue(name, media);
        }
        model.resort();
        // Warm up so the org is busy from the first request: run `history` (20 minutes by
        // default) of traffic that ends at the start instant.
        let warm = i64::try_from(history.as_secs())
            .unwrap_or(i64::MAX)
            .clamp(1, MAX_HISTORY_SECS);
        model.now_ms = start_ms - warm * TICK_MS;
        model.staff_initially();
        for _ in 0..warm {
            model.tick();
        }
        model
    }

    fn random_media(&mut self) -> Vec<Media> {
        let probs = [0.85, 0.4, 0.3, 0.2, 0.3];
        let mut media: Vec<Media> = Media::ALL
            .into_iter()
            .filter(|m| {
                let p = probs[m.idx()];
                self.rng.chance(p)
            })
            .collect();
        if media.is_empty() {
            media.push(Media::Voice);
        }
        media
    }

    fn push_queue(&mut self, name: String, media: Vec<Media>) -> String {
        let id = self.rng.uuid();
        let division = self.rng.index(names::DIVISIONS.len());
        let days_ago = self.rng.range(30, 1500);
        let created = DateTime::<Utc>::from_timestamp_millis(self.now_ms - days_ago * 86_400_000)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let load = 0.7 + self.rng.f64() * 0.45;
        let mut mix = [0.0; 5];
        for m in &media {
            mix[m.idx()] = match m {
                Media::Voice => 3.0,
                _ => 0.5 + self.rng.f64(),
            };
        }
        let total: f64 = mix.iter().sum();
        for w in &mut mix {
            *w /= total;
        }
        let agents = (0..self.agents_per_queue)
            .map(|_| {
                let id = self.rng.uuid();
                Agent {
                    key: rng::hash_str(&id),
                    id,
                    state: AgentState::OffQueue {
                        offline: true,
                        until: 0,
                    },
                    idle_since: self.now_ms,
                }
            })
            .collect();
        self.by_id.insert(id.clone(), self.queues.len());
        self.ended_by_queue.push(VecDeque::new());
        self.queues.push(QueueState {
            id: id.clone(),
            name,
            division,
            media,
            date_created: created,
            removed: false,
            load,
            mix,
            agents,
            waiting: Default::default(),
            alerting: Default::default(),
            interacting: Default::default(),
            spike_until: 0,
            spike_mult: 1.0,
        });
        id
    }

    fn resort(&mut self) {
        let mut idx: Vec<usize> = (0..self.queues.len())
            .filter(|&i| !self.queues[i].removed)
            .collect();
        idx.sort_by(|&a, &b| {
            let (qa, qb) = (&self.queues[a], &self.queues[b]);
            qa.name.cmp(&qb.name).then_with(|| qa.id.cmp(&qb.id))
        });
        self.sorted = idx;
    }

    fn staffed(&self, n: usize, t: i64) -> usize {
        staffed(n, self.demand.at(t))
    }

    fn staff_initially(&mut self) {
        let t = self.now_ms;
        for qi in 0..self.queues.len() {
            let staffed = self.staffed(self.queues[qi].agents.len(), t);
            for (i, a) in self.queues[qi].agents.iter_mut().enumerate() {
                if i < staffed {
                    a.state = AgentState::Idle;
                }
            }
        }
    }

    pub(crate) fn queue_index(&self, id: &str) -> Option<usize> {
        self.by_id
            .get(id)
            .copied()
            .filter(|&i| !self.queues[i].removed)
    }

    pub(crate) fn add_queue(&mut self, name: &str, media: &[&str]) -> String {
        self.generation += 1;
        let mut ms: Vec<Media> = media
            .iter()
            .filter_map(|m| Media::parse_analytics(m))
            .collect();
        ms.sort();
        ms.dedup();
        if ms.is_empty() {
            ms.push(Media::Voice);
        }
        let id = self.push_queue(name.to_string(), ms);
        let qi = self.queues.len() - 1;
        let staffed = self.staffed(self.queues[qi].agents.len(), self.now_ms);
        let now = self.now_ms;
        for (i, a) in self.queues[qi].agents.iter_mut().enumerate() {
            if i < staffed {
                a.state = AgentState::Idle;
                a.idle_since = now;
            }
        }
        self.resort();
        id
    }

    pub(crate) fn remove_queue(&mut self, id: &str) {
        let Some(qi) = self.queue_index(id) else {
            return;
        };
        self.generation += 1;
        let now = self.now_ms;
        let q = &mut self.queues[qi];
        q.removed = true;
        let mut ids: Vec<u64> = Vec::new();
        for m in 0..5 {
            ids.extend(q.waiting[m].drain(..).map(|w| w.id));
            ids.append(&mut q.alerting[m]);
            ids.append(&mut q.interacting[m]);
        }
        for a in &mut q.agents {
            if let AgentState::Wrapup { conv, .. } = a.state {
                ids.push(conv);
            }
            a.state = AgentState::OffQueue {
                offline: true,
                until: 0,
            };
        }
        for id in ids {
            if let Some(mut c) = self.convs.remove(&id) {
                c.record.removed_ms = Some(now);
                self.push_ended(c.record, now, qi);
            }
        }
        self.resort();
    }

    pub(crate) fn schedule_spike(&mut self, queue_name: &str, after_ms: i64, extra: u32) {
        let Some(&qi) = self
            .sorted
            .iter()
            .find(|&&i| self.queues[i].name == queue_name)
        else {
            return;
        };
        // Due at the first tick at or after now + after.
        let due = self.now_ms + after_ms.max(0);
        let due = due + (TICK_MS - due.rem_euclid(TICK_MS)) % TICK_MS;
        self.spikes
            .push((due.max(self.now_ms + TICK_MS), qi, extra));
    }

    /// Run ticks until the model time reaches `target_ms` (floored to a tick).
    pub(crate) fn run_until(&mut self, target_ms: i64) {
        while self.now_ms + TICK_MS <= target_ms {
            self.tick();
        }
    }

    fn tick(&mut self) {
        let t = self.now_ms + TICK_MS;
        self.now_ms = t;
        self.generation += 1;
        let c = self.demand.at(t);
        for qi in 0..self.queues.len() {
            if self.queues[qi].removed {
                continue;
            }
            self.step_agents(qi, t, c);
            self.arrivals(qi, t, c);
            self.abandons(qi, t);
            self.route(qi, t);
        }
        while self
            .ended
            .front()
            .and_then(|r| r.ended_ms())
            .is_some_and(|e| e < t - RETAIN_MS)
        {
            self.ended.pop_front();
            if let Some((_, qi)) = self.ended_meta.pop_front() {
                if let Some(q) = self.ended_by_queue.get_mut(qi) {
                    q.pop_front();
                }
            }
            self.ended_seq0 += 1;
        }
    }

    /// Records an ended conversation at tick `t` (no stamp of it is later than `t`, but for a
    /// voicemail's).
    fn push_ended(&mut self, record: ConversationRecord, t: i64, qi: usize) {
        let seq = self.ended_seq0 + self.ended.len() as u64;
        self.ended.push_back(record);
        self.ended_meta.push_back((t, qi));
        if let Some(q) = self.ended_by_queue.get_mut(qi) {
            q.push_back(seq);
        }
    }

    /// Ended conversations of queue index `qi` (removed queues included) recorded at or after
    /// `from_ms`: every conversation with a stamp at or after `from_ms` is among them (a
    /// voicemail's stamp, up to `records::MAX_VOICEMAIL_MS` after the tick: ask that much
    /// earlier).
    pub(crate) fn ended_since(
        &self,
        qi: usize,
        from_ms: i64,
    ) -> impl Iterator<Item = &ConversationRecord> + '_ {
        let seqs = self.ended_by_queue.get(qi);
        let start = seqs.map_or(0, |q| {
            q.partition_point(|&s| {
                self.ended_meta
                    .get(ended_index(s - self.ended_seq0))
                    .is_some_and(|&(t, _)| t < from_ms)
            })
        });
        seqs.into_iter()
            .flat_map(move |q| q.range(start..))
            .filter_map(move |&s| self.ended.get(ended_index(s - self.ended_seq0)))
    }

    /// Every ended conversation recorded at or after `from_ms`, all queues.
    pub(crate) fn ended_since_all(
        &self,
        from_ms: i64,
    ) -> impl Iterator<Item = &ConversationRecord> + '_ {
        let start = self.ended_meta.partition_point(|&(t, _)| t < from_ms);
        self.ended.range(start..)
    }

    /// Queue index by id, removed queues included (their history still reports).
    pub(crate) fn queue_index_any(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Conversations of queue index `qi` still in progress: waiting, alerting, interacting
    /// and in wrap-up (unordered).
    pub(crate) fn active_of(&self, qi: usize) -> impl Iterator<Item = &ConversationRecord> + '_ {
        let q = self.queues.get(qi);
        let queued = q.into_iter().flat_map(|q| {
            (0..5).flat_map(move |m| {
                q.waiting[m]
                    .iter()
                    .map(|w| w.id)
                    .chain(q.alerting[m].iter().copied())
                    .chain(q.interacting[m].iter().copied())
            })
        });
        let wrapup = q.into_iter().flat_map(|q| {
            q.agents.iter().filter_map(|a| match a.state {
                AgentState::Wrapup { conv, .. } => Some(conv),
                _ => None,
            })
        });
        queued
            .chain(wrapup)
            .filter_map(move |id| self.convs.get(&id).map(|c| &c.record))
    }

    /// Conversations still in progress (unordered).
    pub(crate) fn active_iter(&self) -> impl Iterator<Item = &ConversationRecord> + '_ {
        self.convs.values().map(|c| &c.record)
    }

    fn step_agents(&mut self, qi: usize, t: i64, c: f64) {
        let staffed = staffed(self.queues[qi].agents.len(), c);
        for ai in 0..self.queues[qi].agents.len() {
            let state = self.queues[qi].agents[ai].state;
            let next = match state {
                AgentState::Alerting {
                    conv,
                    until,
                    answer,
                } if t >= until => {
                    if answer {
                        let end = self.answer(qi, conv, until, ai);
                        AgentState::Interacting { conv, until: end }
                    } else {
                        self.not_answered(qi, conv, until, ai);
                        AgentState::NotResponding {
                            until: t + self.rng.range(15, 60) * TICK_MS,
                        }
                    }
                }
                AgentState::Interacting { conv, until: end } if t >= end => {
                    let acw = self.talk_ended(qi, conv, end);
                    AgentState::Wrapup {
                        conv,
                        until: end + acw,
                    }
                }
                AgentState::Wrapup { conv, until } if t >= until => {
                    if let Some(mut c) = self.convs.remove(&conv) {
                        c.record.acw_end_ms = Some(until);
                        self.push_ended(c.record, t, qi);
                    }
                    AgentState::Idle
                }
                AgentState::NotResponding { until } | AgentState::Communicating { until }
                    if t >= until =>
                {
                    AgentState::Idle
                }
                AgentState::OffQueue { until, .. } if ai < staffed && t >= until => {
                    AgentState::Idle
                }
                AgentState::Idle => {
                    let u = self.rng.f64();
                    if ai >= staffed {
                        AgentState::OffQueue {
                            offline: true,
                            until: 0,
                        }
                    } else if u < 1.0 / 5400.0 {
                        AgentState::OffQueue {
                            offline: false,
                            until: t + self.rng.range(300, 900) * TICK_MS,
                        }
                    } else if u < 1.0 / 5400.0 + 1.0 / 3600.0 {
                        AgentState::Communicating {
                            until: t + self.rng.range(30, 180) * TICK_MS,
                        }
                    } else {
                        state
                    }
                }
                _ => state,
            };
            let agent = &mut self.queues[qi].agents[ai];
            if next != state {
                if next == AgentState::Idle {
                    agent.idle_since = t;
                }
                agent.state = next;
            }
        }
    }

    /// Returns when the talk (including hold) ends.
    fn answer(&mut self, qi: usize, conv: u64, at: i64, ai: usize) -> i64 {
        let agent_id = self.queues[qi].agents[ai].id.clone();
        let Some(c) = self.convs.get_mut(&conv) else {
            return at + TICK_MS;
        };
        let p = c.media.profile();
        let talk_s = self.rng.exp(p.talk_mean_s).max(15.0);
        let talk_ms = whole(talk_s * 1000.0);
        let mut hold_ms = 0;
        if self.rng.chance(p.hold_prob) {
            hold_ms = self.rng.range(15, 120) * TICK_MS;
            let start = at + talk_ms * 2 / 5;
            c.record.holds.push(HoldSpan {
                start_ms: start,
                end_ms: start + hold_ms,
            });
        }
        // Whole seconds keep every transition on a tick boundary.
        let end = (at + (talk_ms + hold_ms) / TICK_MS * TICK_MS).max(at + TICK_MS);
        c.record.offers.push(Offer {
            agent_id: agent_id.clone(),
            alert_start_ms: c.alert_start,
            alert_end_ms: at,
            answered: true,
        });
        c.record.answer_ms = Some(at);
        c.record.agent_id = Some(agent_id);
        let m = c.media.idx();
        let q = &mut self.queues[qi];
        q.alerting[m].retain(|&x| x != conv);
        q.interacting[m].push(conv);
        end
    }

    fn not_answered(&mut self, qi: usize, conv: u64, at: i64, ai: usize) {
        let agent_id = self.queues[qi].agents[ai].id.clone();
        let Some(c) = self.convs.get_mut(&conv) else {
            return;
        };
        c.record.offers.push(Offer {
            agent_id,
            alert_start_ms: c.alert_start,
            alert_end_ms: at,
            answered: false,
        });
        let waiter = Waiter {
            id: conv,
            entered: c.entered,
            abandon_at: c.abandon_at,
        };
        let m = c.media.idx();
        self.queues[qi].alerting[m].retain(|&x| x != conv);
        self.enqueue(qi, m, waiter);
    }

    /// Returns the wrap-up duration in ms.
    fn talk_ended(&mut self, qi: usize, conv: u64, at: i64) -> i64 {
        let transferred = self.rng.chance(0.03);
        let Some(c) = self.convs.get_mut(&conv) else {
            return TICK_MS;
        };
        c.record.talk_end_ms = Some(at);
        c.record.transferred = transferred;
        let m = c.media.idx();
        let acw_mean = c.media.profile().acw_mean_s;
        self.queues[qi].interacting[m].retain(|&x| x != conv);
        let acw = whole(self.rng.exp(acw_mean).clamp(3.0, 600.0));
        acw * TICK_MS
    }

    fn enqueue(&mut self, qi: usize, m: usize, waiter: Waiter) {
        let w = &mut self.queues[qi].waiting[m];
        let pos = w.partition_point(|x| x.entered <= waiter.entered);
        w.insert(pos, waiter);
    }

    fn new_conv(&mut self, qi: usize, media: Media, t: i64) {
        let p = media.profile();
        let abandon_at = p
            .patience_mean_s
            .map(|mean| t + whole(self.rng.exp(mean).max(5.0)) * TICK_MS);
        let q = &self.queues[qi];
        let record = ConversationRecord {
            conversation_id: self.rng.uuid(),
            queue_id: q.id.clone(),
            division_id: self.divisions[q.division].0.clone(),
            media_type: media.analytics().to_string(),
            arrival_ms: t,
            offers: Vec::new(),
            answer_ms: None,
            agent_id: None,
            holds: Vec::new(),
            talk_end_ms: None,
            acw_end_ms: None,
            abandon_ms: None,
            removed_ms: None,
            transferred: false,
            service_level_ms: p.sl_duration_ms,
        };
        let id = self.convs.insert(Conv {
            media,
            entered: t,
            abandon_at,
            alert_start: 0,
            record,
        });
        self.queues[qi].waiting[media.idx()].push_back(Waiter {
            id,
            entered: t,
            abandon_at,
        });
    }

    fn arrivals(&mut self, qi: usize, t: i64, c: f64) {
        // Occasional random bursts (a few per queue per busy day).
        if t >= self.queues[qi].spike_until && self.rng.chance(c / (4.0 * 3600.0)) {
            let until = t + self.rng.range(60, 300) * TICK_MS;
            let mult = 3.0 + self.rng.f64() * 5.0;
            let q = &mut self.queues[qi];
            q.spike_until = until;
            q.spike_mult = mult;
        }
        let n = self.queues[qi].agents.len() as f64;
        let q = &self.queues[qi];
        let boost = if t < q.spike_until { q.spike_mult } else { 1.0 };
        let base = q.load * n * c * boost;
        let mix = q.mix;
        for k in 0..self.queues[qi].media.len() {
            let m = self.queues[qi].media[k];
            let mean = base * mix[m.idx()] / m.mean_handle_s();
            let k = self.rng.poisson(mean);
            for _ in 0..k {
                self.new_conv(qi, m, t);
            }
        }
        // Explicitly scheduled spikes go to the queue's first media type.
        if self.spikes.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.spikes.len() {
            let (due, sq, extra) = self.spikes[i];
            if sq == qi && due <= t {
                self.spikes.swap_remove(i);
                let m = self.queues[qi].media[0];
                for _ in 0..extra {
                    self.new_conv(qi, m, t);
                }
            } else {
                i += 1;
            }
        }
    }

    fn abandons(&mut self, qi: usize, t: i64) {
        for m in 0..5 {
            if self.queues[qi].waiting[m].is_empty() {
                continue;
            }
            let due = |w: &Waiter| w.abandon_at.is_some_and(|a| a <= t);
            if !self.queues[qi].waiting[m].iter().any(due) {
                continue;
            }
            let gone: Vec<u64> = self.queues[qi].waiting[m]
                .iter()
                .filter(|w| due(w))
                .map(|w| w.id)
                .collect();
            self.queues[qi].waiting[m].retain(|w| !due(w));
            for id in gone {
                if let Some(mut c) = self.convs.remove(&id) {
                    c.record.abandon_ms = c.abandon_at;
                    self.push_ended(c.record, t, qi);
                }
            }
        }
    }

    fn route(&mut self, qi: usize, t: i64) {
        loop {
            let q = &self.queues[qi];
            // Oldest waiting conversation across media types.
            let mut best: Option<(i64, usize)> = None;
            for m in 0..5 {
                if let Some(w) = q.waiting[m].front() {
                    let e = w.entered;
                    if best.is_none_or(|(be, _)| e < be) {
                        best = Some((e, m));
                    }
                }
            }
            let Some((_, m)) = best else { return };
            // Longest-idle agent.
            let Some(ai) = q
                .agents
                .iter()
                .enumerate()
                .filter(|(_, a)| a.state == AgentState::Idle)
                .min_by_key(|(i, a)| (a.idle_since, *i))
                .map(|(i, _)| i)
            else {
                return;
            };
            let Some(Waiter { id: conv, .. }) = self.queues[qi].waiting[m].pop_front() else {
                return;
            };
            let media = Media::ALL[m];
            let p = media.profile();
            let answer = self.rng.chance(p.answer_prob);
            let secs = if answer {
                self.rng.range(2, 8.min(p.alerting_timeout_s - 1))
            } else {
                p.alerting_timeout_s
            };
            if let Some(c) = self.convs.get_mut(&conv) {
                c.alert_start = t;
            }
            let q = &mut self.queues[qi];
            q.alerting[m].push(conv);
            q.agents[ai].state = AgentState::Alerting {
                conv,
                until: t + secs * TICK_MS,
                answer,
            };
        }
    }

    /// Live counts for one queue.
    pub(crate) fn snapshot(&self, qi: usize) -> QueueSnap {
        let q = &self.queues[qi];
        let mut s = QueueSnap {
            members: q.agents.len() as u64,
            ..QueueSnap::default()
        };
        for m in 0..5 {
            s.waiting[m] = q.waiting[m].len() as u64;
            s.alerting[m] = q.alerting[m].len() as u64;
            s.interacting[m] = q.interacting[m].len() as u64;
            s.longest_waiting[m] = q.waiting[m].iter().map(|w| w.entered).min();
            s.longest_interacting[m] = q.interacting[m]
                .iter()
                .filter_map(|id| self.convs.get(id).and_then(|c| c.record.answer_ms))
                .min();
        }
        for a in &q.agents {
            s.statuses[a.state.routing_status()] += 1;
            s.presences[a.state.presence(a.key)] += 1;
        }
        s
    }

    /// Conversations of queue index `qi` waiting in queue now (not alerting or interacting),
    /// per media type (`Media::idx`); what `snapshot` reports as `waiting`, without the rest.
    pub(crate) fn waiting_now(&self, qi: usize) -> [u64; 5] {
        let q = &self.queues[qi];
        std::array::from_fn(|m| q.waiting[m].len() as u64)
    }

    /// Records of conversations still in progress.
    pub(crate) fn active_records(&self) -> Vec<ConversationRecord> {
        let mut v: Vec<ConversationRecord> =
            self.convs.values().map(|c| c.record.clone()).collect();
        v.sort_by(|a, b| {
            (a.arrival_ms, &a.conversation_id).cmp(&(b.arrival_ms, &b.conversation_id))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_demand_makes_the_night_as_busy_as_the_peak_it_is_held_at() {
        // Tuesday 2026-03-10, epoch ms at 03:00 and at 10:00 UTC.
        let (night, peak) = (1_773_111_600_000, 1_773_136_800_000);
        let arrivals = |start_ms: i64, demand: Demand| {
            let m = Model::new(
                1,
                200,
                8,
                start_ms,
                std::time::Duration::from_secs(600),
                demand,
            );
            m.ended.len() + m.convs.values().count()
        };
        let daily = (
            arrivals(night, Demand::Daily),
            arrivals(peak, Demand::Daily),
        );
        assert!(
            daily.0 * 5 < daily.1,
            "the night is quiet by the hour: {daily:?}"
        );
        let held = arrivals(night, Demand::Fixed(1.0));
        assert!(
            held * 10 > daily.1 * 9 && held * 10 < daily.1 * 11,
            "held at 1.0, the night has the peak's traffic: {held} against {}",
            daily.1
        );
        assert_eq!(Demand::Fixed(0.3).at(night), 0.3);
        assert_eq!(Demand::Daily.at(peak), demand(peak));
    }

    #[test]
    fn the_first_five_presence_ids_and_the_main_stream_are_as_before_the_extra_presences() {
        for seed in [0, 1, 42, u64::MAX] {
            // What `Model::new` drew before the org had more than five presences.
            let mut old = SimRng::new(seed);
            for _ in names::DIVISIONS {
                old.uuid();
            }
            let old_ids: Vec<String> = (0..5).map(|_| old.uuid()).collect();

            let mut rng = SimRng::new(seed);
            for _ in names::DIVISIONS {
                rng.uuid();
            }
            let ids = presence_ids(seed, &mut rng);
            let main: Vec<String> = names::ORG_PRESENCES
                .iter()
                .zip(&ids)
                .filter(|(p, _)| p.main_stream)
                .map(|(_, id)| id.clone())
                .collect();
            assert_eq!(main, old_ids);
            assert_eq!(
                rng.next_u64(),
                old.next_u64(),
                "the main stream goes on unchanged"
            );

            let distinct: std::collections::HashSet<&String> = ids.iter().collect();
            assert_eq!(distinct.len(), names::ORG_PRESENCES.len());
            for id in &ids {
                assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
            }
        }
        let extra = |seed| {
            presence_ids(seed, &mut SimRng::new(seed))
                .into_iter()
                .zip(names::ORG_PRESENCES)
                .filter(|(_, p)| !p.main_stream)
                .map(|(id, _)| id)
                .collect::<Vec<_>>()
        };
        assert_ne!(extra(1), extra(2), "the extra ids differ between orgs");
    }

    #[test]
    fn an_agent_off_queue_but_logged_in_is_in_an_away_presence_fixed_for_the_spell() {
        let on = AgentState::Idle;
        let offline = AgentState::OffQueue {
            offline: true,
            until: 0,
        };
        assert_eq!(on.presence(7), names::ON_QUEUE_PRESENCE);
        assert_eq!(offline.presence(7), names::OFFLINE_PRESENCE);
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..200_u64 {
            let away = AgentState::OffQueue {
                offline: false,
                until: 1_700_000_000_000 + 1000 * i64::try_from(k).unwrap_or(0),
            };
            let p = away.presence(rng::hash_str("agent"));
            assert!(names::AWAY_PRESENCES.contains(&p));
            assert_eq!(p, away.presence(rng::hash_str("agent")));
            seen.insert(p);
        }
        assert_eq!(seen.len(), names::AWAY_PRESENCES.len());
    }
}
