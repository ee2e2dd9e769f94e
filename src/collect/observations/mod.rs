//! Live per-queue state: `POST /api/v2/analytics/queues/observations/query`, at most
//! [`MAX_QUEUES_PER_QUERY`] queues per request, or (`--live.mode=auto|push`) events pushed on
//! notification channels with the query as reconciliation and fallback (`live.rs`,
//! `channel.rs`).

mod channel;
mod live;
pub mod rows;

pub use rows::Presences;
use rows::Vocabulary;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::queues::QueueSet;
use super::{
    batches, CollectError, CollectorSettings, Context, FlagSet, Poll, Published, Registration,
    SettingError, Snapshot, Started, MAX_QUEUES_PER_QUERY,
};
use crate::clock::SharedClock;
use crate::genesys::models::{QueryFilter, QueueObservationQuery, QueueObservationQueryResponse};
use crate::genesys::GenesysClient;
use crate::metrics::catalog::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};
use crate::metrics::{next_generation, Piece};
use crate::metrics::families::Memo;

pub(crate) const REGISTRATION: Registration = Registration {
    name: "observations",
    polls: "poll queue observations (live queue state)",
    default_interval: "15s",
    disable: None,
    opt_in: false,
    org_wide: false,
    requests_per_poll: |_, watched| batches(watched),
    cost_from_polls: false,
    background: false,
    flags: Some(&FLAGS),
    endpoints: &[],
    start,
    families: FAMILIES,
};

fn start(ctx: Context) -> Started {
    if ctx.push.mode != LiveMode::Poll {
        return live::start(ctx);
    }
    let spawner = ctx.spawner();
    let queues = ctx.queues().subscribe();
    spawner.spawn(ObservationsCollector {
        client: ctx.client,
        queues,
        first_queues_wait: ctx.interval,
        clock: ctx.clock,
        live: ctx.live,
        presences: Arc::new(Presences::default()),
        kept: Kept::default(),
    })
}

/// The observation metrics the live families read (the query asks for these): all eleven
/// Genesys defines. Asking for more costs no request; the families of the optional ones can
/// still be left out of the scrape ([`Observed`]).
pub(crate) const METRICS: [&str; 11] = [
    "oWaiting",
    "oInteracting",
    "oAlerting",
    "oOnQueueUsers",
    "oUserRoutingStatuses",
    "oLongestWaiting",
    "oLongestInteracting",
    "oMemberUsers",
    "oActiveUsers",
    "oOffQueueUsers",
    "oUserPresences",
];

/// The live families a user may leave out (`--observations.metrics`): they come from the same
/// query as the others, so leaving them out saves series, not requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    MemberUsers,
    ActiveUsers,
    OffQueueUsers,
    PresenceUsers,
    LongestInteracting,
}

impl Observed {
    pub(crate) const ALL: [Observed; 5] = [
        Observed::MemberUsers,
        Observed::ActiveUsers,
        Observed::OffQueueUsers,
        Observed::PresenceUsers,
        Observed::LongestInteracting,
    ];

    /// Its name in `--observations.metrics`: the family's name without `genesys_queue_`.
    #[must_use]
    pub(crate) fn name(self) -> &'static str {
        self.family()
            .name
            .strip_prefix("genesys_queue_")
            .unwrap_or(self.family().name)
    }

    #[must_use]
    pub(crate) fn family(self) -> &'static Family {
        match self {
            Observed::MemberUsers => &QUEUE_MEMBER_USERS,
            Observed::ActiveUsers => &QUEUE_ACTIVE_USERS,
            Observed::OffQueueUsers => &QUEUE_OFF_QUEUE_USERS,
            Observed::PresenceUsers => &QUEUE_PRESENCE_USERS,
            Observed::LongestInteracting => &QUEUE_LONGEST_INTERACTING_SECONDS,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Which [`Observed`] families are served; all by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedSet(u8);

impl Default for ObservedSet {
    fn default() -> Self {
        ObservedSet::ALL
    }
}

impl ObservedSet {
    pub const ALL: ObservedSet = ObservedSet(0b1_1111);
    pub(crate) const NONE: ObservedSet = ObservedSet(0);

    #[must_use]
    pub(crate) fn with(self, o: Observed) -> ObservedSet {
        ObservedSet(self.0 | o.bit())
    }

    #[must_use]
    pub(crate) fn contains(self, o: Observed) -> bool {
        self.0 & o.bit() != 0
    }

    /// The chosen names, in [`Observed::ALL`] order.
    #[must_use]
    pub(crate) fn names(self) -> Vec<&'static str> {
        Observed::ALL
            .iter()
            .filter(|o| self.contains(**o))
            .map(|o| o.name())
            .collect()
    }
}

/// Added to the command line by [`FLAGS`]. (`--live.*`, read once at start-up, are the
/// start-up configuration's.)
#[derive(Debug, clap::Args)]
struct ObservationsFlags {
    /// The optional live queue families to serve: all (default), none, or a list of
    /// member_users, active_users, off_queue_users, presence_users,
    /// longest_interacting_seconds. They come from the observations query either way (no
    /// request to save), only series.
    #[arg(
        long = "observations.metrics",
        default_value = "all",
        value_delimiter = ','
    )]
    observations_metrics: Vec<String>,
}

const FLAGS: FlagSet = FlagSet {
    args: <ObservationsFlags as clap::Args>::augment_args,
    settings: |matches| {
        let flags = <ObservationsFlags as clap::FromArgMatches>::from_arg_matches(matches)
            .map_err(SettingError::parse)?;
        Ok(Arc::new(observed_families(&flags.observations_metrics)?))
    },
    check: |_, _| None,
};

fn observed_families(names: &[String]) -> Result<ObservedSet, SettingError> {
    let wanted: Vec<&str> = names
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    if wanted == ["all"] {
        return Ok(ObservedSet::ALL);
    }
    let mut set = ObservedSet::NONE;
    if wanted.is_empty() || wanted == ["none"] {
        return Ok(set);
    }
    for name in wanted {
        let Some(o) = Observed::ALL.into_iter().find(|o| o.name() == name) else {
            let known: Vec<&str> = Observed::ALL.iter().map(|o| o.name()).collect();
            return Err(SettingError::new(
                "observations.metrics",
                name,
                format!(
                    "not an optional live family; choose from all, none, {}",
                    known.join(", ")
                ),
            ));
        };
        set = set.with(o);
    }
    Ok(set)
}

impl CollectorSettings for ObservedSet {
    fn same(&self, other: &dyn CollectorSettings) -> bool {
        (other as &dyn std::any::Any).downcast_ref::<Self>() == Some(self)
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let observed = self.names();
        let value = if observed.is_empty() {
            "none".to_string()
        } else {
            observed.join(",")
        };
        vec![("observations.metrics", value)]
    }
}

/// The routing statuses Genesys defines, as the `routing_status` label spells them.
pub const ROUTING_STATUSES: [&str; 5] = [
    "idle",
    "interacting",
    "communicating",
    "not_responding",
    "off_queue",
];

/// How live queue state arrives (`--live.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum LiveMode {
    /// Push where a notification channel can carry it, polling for the rest.
    #[default]
    Auto,
    /// Push only: queues no channel covers have no live series.
    Push,
    /// Polling only, as before push existed.
    Poll,
}

impl LiveMode {
    pub(crate) const ALL: [LiveMode; 3] = [LiveMode::Auto, LiveMode::Push, LiveMode::Poll];

    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            LiveMode::Auto => "auto",
            LiveMode::Push => "push",
            LiveMode::Poll => "poll",
        }
    }
}

/// The `--live.*` settings (read at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushSettings {
    pub(crate) mode: LiveMode,
    /// Notification channels this exporter may hold (Genesys allows 20 per OAuth client).
    pub(crate) max_channels: usize,
    /// How often the observations query reconciles pushed state.
    pub(crate) reconcile_interval: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            mode: LiveMode::Auto,
            max_channels: 10,
            reconcile_interval: Duration::from_secs(300),
        }
    }
}

/// Kinds of WebSocket frames, the `topic` label of `genesys_live_events_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    Observations,
    Heartbeat,
    Pong,
    SocketClosing,
    /// A binary WebSocket frame: Genesys sends text only, so it is counted and not read.
    Binary,
    Other,
}

impl FrameKind {
    pub(crate) const ALL: [FrameKind; 6] = [
        FrameKind::Observations,
        FrameKind::Heartbeat,
        FrameKind::Pong,
        FrameKind::SocketClosing,
        FrameKind::Binary,
        FrameKind::Other,
    ];

    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            FrameKind::Observations => "observations",
            FrameKind::Heartbeat => "heartbeat",
            FrameKind::Pong => "pong",
            FrameKind::SocketClosing => "socket_closing",
            FrameKind::Binary => "binary",
            FrameKind::Other => "other",
        }
    }
}

/// Why a channel was replaced, the `reason` label of `genesys_live_reconnects_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconnect {
    /// `v2.system.socket_closing`: Genesys announced maintenance.
    SocketClosing,
    /// The socket closed (a second socket on the channel displaces the first).
    Closed,
    /// The socket broke: a frame too large, bad UTF-8, a WebSocket protocol error (or the
    /// worker itself failed).
    Broken,
    /// No frame, heartbeat or pong within the silence timeout.
    Stalled,
    /// Renewed before the channel's `expires`.
    Expiring,
    /// Opening a channel (create, subscribe, connect) failed; tried again.
    Failed,
}

impl Reconnect {
    pub(crate) const ALL: [Reconnect; 6] = [
        Reconnect::SocketClosing,
        Reconnect::Closed,
        Reconnect::Broken,
        Reconnect::Stalled,
        Reconnect::Expiring,
        Reconnect::Failed,
    ];

    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reconnect::SocketClosing => "socket_closing",
            Reconnect::Closed => "closed",
            Reconnect::Broken => "broken",
            Reconnect::Stalled => "stalled",
            Reconnect::Expiring => "expiring",
            Reconnect::Failed => "failed",
        }
    }
}

// How live data arrives (push over notification channels, or polls).
pub(crate) const LIVE_MODE: Family = Family {
    name: "genesys_live_mode",
    kind: Kind::Gauge,
    unit: None,
    help:
        "The configured --live.mode: 1 for the mode in use (auto, push or poll), 0 for the others.",
    labels: &["mode"],
};

pub(crate) const LIVE_QUEUES: Family = Family {
    name: "genesys_live_queues",
    kind: Kind::Gauge,
    unit: None,
    help: "Watched queues by how their live state arrives right now: push (a notification channel) or poll.",
    labels: &["delivery"],
};

pub(crate) const LIVE_CHANNELS: Family = Family {
    name: "genesys_live_channels",
    kind: Kind::Gauge,
    unit: None,
    help: "Notification channels with a connected WebSocket.",
    labels: &[],
};

pub(crate) const LIVE_TOPICS: Family = Family {
    name: "genesys_live_topics",
    kind: Kind::Gauge,
    unit: None,
    help: "Queue observation topics by subscription state (permitted, rejected).",
    labels: &["state"],
};

pub(crate) const LIVE_EVENTS: Family = Family {
    name: "genesys_live_events",
    kind: Kind::Counter,
    unit: None,
    help: "WebSocket frames received, by topic kind (observations, heartbeat, pong, socket_closing, binary, other).",
    labels: &["topic"],
};

pub(crate) const LIVE_RECONNECTS: Family = Family {
    name: "genesys_live_reconnects",
    kind: Kind::Counter,
    unit: None,
    help: "Notification channels replaced, by reason (socket_closing, closed, broken, stalled, expiring, failed).",
    labels: &["reason"],
};

pub(crate) const LIVE_RECONCILE_DIFFERENCES: Family = Family {
    name: "genesys_live_reconcile_differences",
    kind: Kind::Counter,
    unit: None,
    help: "Live series whose pushed value differed from the polled one when a reconciling poll replaced it, by reading of events (rows: an event replaces the rows it carries; groups: it is its group's whole state).",
    labels: &["reading"],
};

pub(crate) const LIVE_EVENT_READING: Family = Family {
    name: "genesys_live_event_reading",
    kind: Kind::Gauge,
    unit: None,
    help: "1 for the reading of pushed events in use (rows or groups): the one with fewer reconcile differences so far.",
    labels: &["reading"],
};

pub(crate) const LIVE_LAST_EVENT_TIMESTAMP_SECONDS: Family = Family {
    name: "genesys_live_last_event_timestamp_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Unix time of the newest queue observation event received (absent before the first).",
    labels: &[],
};

pub(crate) const LIVE_IGNORED_VALUES: Family = Family {
    name: "genesys_live_ignored_values",
    kind: Kind::Counter,
    unit: None,
    help: "Values of queue observation events and polls left out, by reason: media_type (a group of an undocumented media type beyond the 8 kept), qualifier (a row of an undocumented qualifier beyond the 8 kept), invalid_count (a count that is not a whole number from 0 up; the previous count is kept).",
    labels: &["reason"],
};

/// How live data arrived, as of a snapshot: the `genesys_live_*` families.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveReport {
    pub(crate) mode: LiveMode,
    pub(crate) pushed_queues: u64,
    pub(crate) polled_queues: u64,
    pub(crate) channels: u64,
    pub(crate) topics_permitted: u64,
    pub(crate) topics_rejected: u64,
    /// By [`FrameKind::ALL`].
    pub(crate) frames: [u64; FrameKind::ALL.len()],
    /// By [`Reconnect::ALL`].
    pub(crate) reconnects: [u64; Reconnect::ALL.len()],
    /// By [`rows::Reading::ALL`].
    pub(crate) reconcile_differences: [u64; 2],
    /// How pushed events are read now.
    pub(crate) reading: rows::Reading,
    /// Unix seconds of the newest observation event.
    pub(crate) last_event: Option<f64>,
    /// Values of events and polls left out, by [`rows::Ignored::ALL`].
    pub(crate) ignored: [u64; 3],
}

impl LiveReport {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        use crate::metrics::families::rows as family;
        let labelled = |name: &str, value: &str| Labels::new().with(name, value);
        family(
            e,
            &LIVE_MODE,
            LiveMode::ALL.map(|m| {
                (
                    labelled("mode", m.label()),
                    f64::from(u8::from(m == self.mode)),
                )
            }),
        )?;
        family(
            e,
            &LIVE_QUEUES,
            [
                (labelled("delivery", "push"), self.pushed_queues as f64),
                (labelled("delivery", "poll"), self.polled_queues as f64),
            ],
        )?;
        family(e, &LIVE_CHANNELS, [(Labels::new(), self.channels as f64)])?;
        family(
            e,
            &LIVE_TOPICS,
            [
                (labelled("state", "permitted"), self.topics_permitted as f64),
                (labelled("state", "rejected"), self.topics_rejected as f64),
            ],
        )?;
        family(
            e,
            &LIVE_EVENTS,
            FrameKind::ALL
                .iter()
                .zip(self.frames)
                .map(|(k, n)| (labelled("topic", k.label()), n as f64)),
        )?;
        family(
            e,
            &LIVE_RECONNECTS,
            Reconnect::ALL
                .iter()
                .zip(self.reconnects)
                .map(|(r, n)| (labelled("reason", r.label()), n as f64)),
        )?;
        family(
            e,
            &LIVE_RECONCILE_DIFFERENCES,
            rows::Reading::ALL.map(|r| {
                (
                    labelled("reading", r.label()),
                    self.reconcile_differences[r.index()] as f64,
                )
            }),
        )?;
        family(
            e,
            &LIVE_EVENT_READING,
            rows::Reading::ALL.map(|r| {
                (
                    labelled("reading", r.label()),
                    f64::from(u8::from(r == self.reading)),
                )
            }),
        )?;
        family(
            e,
            &LIVE_LAST_EVENT_TIMESTAMP_SECONDS,
            self.last_event.map(|t| (Labels::new(), t)),
        )?;
        family(
            e,
            &LIVE_IGNORED_VALUES,
            rows::Ignored::ALL
                .iter()
                .zip(self.ignored)
                .map(|(r, n)| (labelled("reason", r.label()), n as f64)),
        )
    }
}

/// Values above this are epoch-millisecond timestamps, below it durations in ms (REFERENCE.md
/// 2.2 reports `oLongestWaiting` as the timestamp of the oldest waiting conversation).
const TIMESTAMP_THRESHOLD_MS: i64 = 1_000_000_000_000;

/// A count Genesys reported: missing or negative counts nothing.
pub(crate) fn count_of(count: Option<i64>) -> u64 {
    count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationCounts {
    pub waiting: u64,
    pub interacting: u64,
    pub alerting: u64,
}

impl ConversationCounts {
    /// Adds a count for one of the conversation observation metrics; false for other metrics.
    pub(crate) fn add(&mut self, metric: &str, count: Option<i64>) -> bool {
        let slot = match metric {
            "oWaiting" => &mut self.waiting,
            "oInteracting" => &mut self.interacting,
            "oAlerting" => &mut self.alerting,
            _ => return false,
        };
        *slot += count_of(count);
        true
    }

    /// `(state label, value)` in a fixed order.
    #[must_use]
    pub(crate) fn by_state(&self) -> [(&'static str, u64); 3] {
        [
            ("waiting", self.waiting),
            ("interacting", self.interacting),
            ("alerting", self.alerting),
        ]
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaLive {
    pub conversations: ConversationCounts,
    pub longest_waiting_seconds: f64,
    pub longest_interacting_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueLive {
    /// Every media type the queue serves, plus any Genesys reported for it.
    pub media: BTreeMap<String, MediaLive>,
    pub on_queue_users: u64,
    /// Every status in [`ROUTING_STATUSES`], plus any new one Genesys reports.
    pub routing_statuses: BTreeMap<String, u64>,
    pub member_users: u64,
    pub active_users: u64,
    pub off_queue_users: u64,
    /// Members by system presence (lower case): every system presence of the org's mapping,
    /// plus `unknown` for organization presences the mapping does not name.
    pub presences: BTreeMap<String, u64>,
}

/// The watched queues and, in the same order, the live state of those whose state is known
/// and fresh (a queue whose data went stale has `None`, and no live series).
#[derive(Debug, Clone)]
pub struct ObservationsSnapshot {
    pub queues: Arc<QueueSet>,
    pub live: Vec<Option<Arc<QueueLive>>>,
    pub report: LiveReport,
    /// The optional families served.
    pub observed: ObservedSet,
    /// What changed since the snapshot before: the body is kept in pieces of [`BLOCK`]
    /// queues per live family, and a piece is encoded anew only when its block's generation
    /// moved (push mode publishes a snapshot for every few events).
    generations: Generations,
}

/// Queues per piece of each live family. At 5,000 queues a family's pieces are 50; an event
/// for one queue re-encodes its block's lines of each family (about 4,000 lines at 5 media
/// types), and the gzip members stay large enough (tens of kB) for the compressor to find
/// the repeats between queues.
pub(crate) const BLOCK: usize = 100;

/// The generation of each block of queues' live state, per live family (in
/// [`LIVE_FAMILIES`] order), and of the report.
#[derive(Debug, Clone)]
struct Generations {
    blocks: Vec<[u64; LIVE_FAMILIES.len()]>,
    report: u64,
}

/// The key of the report's piece; a live family's piece is keyed by the family's position in
/// [`LIVE_FAMILIES`] (high half) and the block (low half).
const REPORT_PIECE: u64 = u64::MAX;

/// The live families, in the order they are written, each over every queue in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LiveFamily {
    Conversations,
    LongestWaiting,
    OnQueueUsers,
    Users,
    LongestInteracting,
    Observed(Observed),
    PresenceUsers,
}

const LIVE_FAMILIES: [LiveFamily; 9] = [
    LiveFamily::Conversations,
    LiveFamily::LongestWaiting,
    LiveFamily::OnQueueUsers,
    LiveFamily::Users,
    LiveFamily::LongestInteracting,
    LiveFamily::Observed(Observed::MemberUsers),
    LiveFamily::Observed(Observed::ActiveUsers),
    LiveFamily::Observed(Observed::OffQueueUsers),
    LiveFamily::PresenceUsers,
];

impl LiveFamily {
    fn family(self) -> &'static Family {
        match self {
            LiveFamily::Conversations => &QUEUE_CONVERSATIONS,
            LiveFamily::LongestWaiting => &QUEUE_LONGEST_WAITING_SECONDS,
            LiveFamily::OnQueueUsers => &QUEUE_ON_QUEUE_USERS,
            LiveFamily::Users => &QUEUE_USERS,
            LiveFamily::LongestInteracting => &QUEUE_LONGEST_INTERACTING_SECONDS,
            LiveFamily::Observed(o) => o.family(),
            LiveFamily::PresenceUsers => &QUEUE_PRESENCE_USERS,
        }
    }

    /// What this family writes of a queue is the same in `a` and `b`: its pieces of a block
    /// whose queues all compare so keep their encoding (an event that changes a waiting count
    /// re-encodes its block's conversation lines, not its users').
    fn same(self, a: &QueueLive, b: &QueueLive) -> bool {
        let media = |same: fn(&MediaLive, &MediaLive) -> bool| {
            a.media.len() == b.media.len()
                && a.media
                    .iter()
                    .zip(&b.media)
                    .all(|((ma, a), (mb, b))| ma == mb && same(a, b))
        };
        match self {
            LiveFamily::Conversations => media(|a, b| a.conversations == b.conversations),
            LiveFamily::LongestWaiting => {
                media(|a, b| a.longest_waiting_seconds == b.longest_waiting_seconds)
            }
            LiveFamily::LongestInteracting => {
                media(|a, b| a.longest_interacting_seconds == b.longest_interacting_seconds)
            }
            LiveFamily::OnQueueUsers => a.on_queue_users == b.on_queue_users,
            LiveFamily::Users => a.routing_statuses == b.routing_statuses,
            LiveFamily::Observed(Observed::MemberUsers) => a.member_users == b.member_users,
            LiveFamily::Observed(Observed::ActiveUsers) => a.active_users == b.active_users,
            LiveFamily::Observed(_) => a.off_queue_users == b.off_queue_users,
            LiveFamily::PresenceUsers => a.presences == b.presences,
        }
    }

    /// Served with these optional families.
    fn served(self, observed: ObservedSet) -> bool {
        match self {
            LiveFamily::LongestInteracting => observed.contains(Observed::LongestInteracting),
            LiveFamily::Observed(o) => observed.contains(o),
            LiveFamily::PresenceUsers => observed.contains(Observed::PresenceUsers),
            _ => true,
        }
    }
}

impl ObservationsSnapshot {
    /// A snapshot none of whose pieces was encoded before.
    #[must_use]
    pub fn new(
        queues: Arc<QueueSet>,
        live: Vec<Option<Arc<QueueLive>>>,
        report: LiveReport,
        observed: ObservedSet,
    ) -> ObservationsSnapshot {
        ObservationsSnapshot::after(None, queues, live, report, observed)
    }

    /// The snapshot that follows `previous`: a live family's piece of a block of queues keeps
    /// its generation (and its encoding) when the listing is the same and what the family
    /// writes of each of the block's queues did not change, by pointer (push mode keeps the
    /// state of queues without events) or by value (a poll derives every queue anew).
    #[must_use]
    pub fn after(
        previous: Option<&ObservationsSnapshot>,
        queues: Arc<QueueSet>,
        live: Vec<Option<Arc<QueueLive>>>,
        report: LiveReport,
        observed: ObservedSet,
    ) -> ObservationsSnapshot {
        let blocks = live.len().div_ceil(BLOCK).max(1);
        let same = previous.filter(|p| {
            (Arc::ptr_eq(&p.queues, &queues) || p.queues == queues)
                && p.live.len() == live.len()
                && p.generations.blocks.len() == blocks
        });
        let unchanged = |family: LiveFamily, a: &Option<Arc<QueueLive>>, b: &Option<Arc<QueueLive>>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || family.same(a, b),
            _ => false,
        };
        let generations = Generations {
            blocks: (0..blocks)
                .map(|b| {
                    let range = b * BLOCK..live.len().min((b + 1) * BLOCK);
                    std::array::from_fn(|f| {
                        let family = LIVE_FAMILIES[f];
                        match same {
                            Some(p)
                                if p.live[range.clone()]
                                    .iter()
                                    .zip(&live[range.clone()])
                                    .all(|(a, b)| unchanged(family, a, b)) =>
                            {
                                p.generations.blocks[b][f]
                            }
                            _ => next_generation(),
                        }
                    })
                })
                .collect(),
            report: match previous {
                Some(p) if p.report == report => p.generations.report,
                _ => next_generation(),
            },
        };
        ObservationsSnapshot {
            queues,
            live,
            report,
            observed,
            generations,
        }
    }

    /// One live family's samples of the queues in `range`, after its descriptor (`begin`) or
    /// continuing it.
    fn write_live(
        &self,
        e: &mut Exposition,
        family: LiveFamily,
        range: std::ops::Range<usize>,
        begin: bool,
    ) -> std::io::Result<()> {
        if begin {
            e.begin(family.family())?;
        } else {
            e.resume(family.family());
        }
        let (Some(queues), Some(live)) = (self.queues.queues.get(range.clone()), self.live.get(range))
        else {
            return Ok(());
        };
        let labels: Vec<Labels> = queues
            .iter()
            .map(|q| Labels::new().with("queue_id", &q.id).with("queue", &q.name))
            .collect();
        let rows = labels
            .iter()
            .zip(live)
            .filter_map(|(q, live)| Some((q, live.as_deref()?)));
        let mut media = Memo::new("media_type");
        match family {
            LiveFamily::Conversations => {
                let states = StateLabels::new();
                for (q, live) in rows {
                    for (m, counts) in &live.media {
                        states.write(e, [q, media.get(m)], &counts.conversations)?;
                    }
                }
            }
            LiveFamily::LongestWaiting | LiveFamily::LongestInteracting => {
                for (q, live) in rows {
                    for (m, counts) in &live.media {
                        let seconds = match family {
                            LiveFamily::LongestWaiting => counts.longest_waiting_seconds,
                            _ => counts.longest_interacting_seconds,
                        };
                        e.sample(&[q, media.get(m)], seconds)?;
                    }
                }
            }
            LiveFamily::OnQueueUsers => {
                for (q, live) in rows {
                    e.sample(&[q], live.on_queue_users as f64)?;
                }
            }
            LiveFamily::Users => {
                let mut statuses = Memo::new("routing_status");
                for (q, live) in rows {
                    for (status, v) in &live.routing_statuses {
                        e.sample(&[q, statuses.get(status)], *v as f64)?;
                    }
                }
            }
            LiveFamily::Observed(o) => {
                for (q, live) in rows {
                    let users = match o {
                        Observed::MemberUsers => live.member_users,
                        Observed::ActiveUsers => live.active_users,
                        _ => live.off_queue_users,
                    };
                    e.sample(&[q], users as f64)?;
                }
            }
            LiveFamily::PresenceUsers => {
                let mut presences = Memo::new("presence");
                for (q, live) in rows {
                    for (presence, v) in &live.presences {
                        e.sample(&[q, presences.get(presence)], *v as f64)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The queues of block `b`.
    fn block(&self, b: usize) -> std::ops::Range<usize> {
        let n = self.live.len();
        (b * BLOCK).min(n)..((b + 1) * BLOCK).min(n)
    }
}

pub(crate) struct ObservationsCollector {
    pub(crate) client: GenesysClient,
    pub(crate) queues: watch::Receiver<Published<QueueSet>>,
    /// How long the first poll waits for queue discovery before reporting failure.
    pub(crate) first_queues_wait: Duration,
    pub(crate) clock: SharedClock,
    pub(crate) live: watch::Receiver<Arc<super::Settings>>,
    /// The org's presences as the last answer that carried them mapped them.
    pub(crate) presences: Arc<Presences>,
    pub(crate) kept: Kept,
}

/// What polling mode keeps from one poll to the next: the label values admitted beyond the
/// official ones (and what was left out), and each queue's rows, whose counts a poll's
/// invalid count keeps.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) vocabulary: Vocabulary,
    /// By queue id; replaced whole by each poll, so a queue gone is forgotten.
    rows: HashMap<String, rows::Rows>,
    /// The last poll's snapshot, against which the next says which queues changed (it holds
    /// what the slot holds: the same queue states, shared).
    previous: Option<ObservationsSnapshot>,
}

impl Poll for ObservationsCollector {
    type Snapshot = ObservationsSnapshot;

    async fn poll(&mut self) -> Result<ObservationsSnapshot, CollectError> {
        let queues = super::wait_for_queues(&mut self.queues, self.first_queues_wait).await?;
        let mut responses = Vec::new();
        for batch in queues.queues.chunks(MAX_QUEUES_PER_QUERY) {
            let query = QueueObservationQuery {
                filter: QueryFilter::any_queue(batch.iter().map(|q| q.id.as_str())),
                metrics: METRICS.to_vec(),
            };
            responses.push(self.client.send(&query).await?);
        }
        if let Some(p) = Presences::from_responses(&responses) {
            if p != *self.presences {
                p.warn_if_truncated();
                self.presences = Arc::new(p);
            }
        }
        let observed = self
            .live
            .borrow()
            .of::<ObservedSet>()
            .copied()
            .unwrap_or_default();
        Ok(build_snapshot(
            queues,
            &responses,
            self.clock.now_ms(),
            &self.presences,
            observed,
            &mut self.kept,
        ))
    }
}

/// Seconds waited so far, from `oLongestWaiting.stats.calculatedMetricValue`.
#[must_use]
pub(crate) fn longest_wait_seconds(value: i64, now_ms: i64) -> f64 {
    let ms = if value > TIMESTAMP_THRESHOLD_MS {
        now_ms - value
    } else {
        value
    };
    ms.max(0) as f64 / 1000.0
}

/// The families this collector writes, in the order it writes them: the queues' live state,
/// then how it arrived.
pub(crate) const FAMILIES: &[&Family] = &[
    &QUEUE_CONVERSATIONS,
    &QUEUE_LONGEST_WAITING_SECONDS,
    &QUEUE_ON_QUEUE_USERS,
    &QUEUE_USERS,
    &QUEUE_LONGEST_INTERACTING_SECONDS,
    &QUEUE_MEMBER_USERS,
    &QUEUE_ACTIVE_USERS,
    &QUEUE_OFF_QUEUE_USERS,
    &QUEUE_PRESENCE_USERS,
    &LIVE_MODE,
    &LIVE_QUEUES,
    &LIVE_CHANNELS,
    &LIVE_TOPICS,
    &LIVE_EVENTS,
    &LIVE_RECONNECTS,
    &LIVE_RECONCILE_DIFFERENCES,
    &LIVE_EVENT_READING,
    &LIVE_LAST_EVENT_TIMESTAMP_SECONDS,
    &LIVE_IGNORED_VALUES,
];

const QUEUE: &[&str] = &["queue_id", "queue"];
const QUEUE_MEDIA: &[&str] = &["queue_id", "queue", "media_type"];

pub(crate) const QUEUE_CONVERSATIONS: Family = Family {
    name: "genesys_queue_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversations in the queue right now by state (waiting, interacting, alerting): oWaiting, oInteracting, oAlerting.",
    labels: &["queue_id", "queue", "media_type", "state"],
};

pub(crate) const QUEUE_LONGEST_WAITING_SECONDS: Family = Family {
    name: "genesys_queue_longest_waiting_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "How long the longest-waiting conversation has waited, as of the last poll (oLongestWaiting); 0 when none waits.",
    labels: QUEUE_MEDIA,
};

pub(crate) const QUEUE_ON_QUEUE_USERS: Family = Family {
    name: "genesys_queue_on_queue_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Agents on queue (oOnQueueUsers).",
    labels: QUEUE,
};

pub(crate) const QUEUE_USERS: Family = Family {
    name: "genesys_queue_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Queue members by routing status (oUserRoutingStatuses).",
    labels: &["queue_id", "queue", "routing_status"],
};

pub(crate) const QUEUE_LONGEST_INTERACTING_SECONDS: Family = Family {
    name: "genesys_queue_longest_interacting_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "How long the longest interaction in the queue has lasted so far (oLongestInteracting); 0 when none is interacting.",
    labels: QUEUE_MEDIA,
};

pub(crate) const QUEUE_MEMBER_USERS: Family = Family {
    name: "genesys_queue_member_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue, whatever their status (oMemberUsers).",
    labels: QUEUE,
};

pub(crate) const QUEUE_ACTIVE_USERS: Family = Family {
    name: "genesys_queue_active_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue who are active on it (oActiveUsers): joined to it, by analogy with the documented user metric oActiveQueues (inferred).",
    labels: QUEUE,
};

pub(crate) const QUEUE_OFF_QUEUE_USERS: Family = Family {
    name: "genesys_queue_off_queue_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue who are off queue (oOffQueueUsers).",
    labels: QUEUE,
};

pub(crate) const QUEUE_PRESENCE_USERS: Family = Family {
    name: "genesys_queue_presence_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue by system presence, lower case (oUserPresences, each organization presence counted under the system presence systemToOrganizationMappings maps it to; unknown when unmapped).",
    labels: &["queue_id", "queue", "presence"],
};

impl Snapshot for ObservationsSnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        for family in LIVE_FAMILIES {
            if family.served(self.observed) {
                self.write_live(e, family, 0..self.live.len(), true)?;
            }
        }
        self.report.write(e)
    }

    fn pieces(&self) -> Option<Vec<Piece>> {
        let mut pieces = Vec::new();
        for (f, family) in (0u64..).zip(LIVE_FAMILIES) {
            if family.served(self.observed) {
                pieces.extend((0u64..).zip(&self.generations.blocks).map(
                    |(b, generations)| Piece {
                        key: f << 32 | b,
                        generation: usize::try_from(f)
                            .ok()
                            .and_then(|f| generations.get(f))
                            .copied()
                            .unwrap_or_else(next_generation),
                    },
                ));
            }
        }
        pieces.push(Piece {
            key: REPORT_PIECE,
            generation: self.generations.report,
        });
        Some(pieces)
    }

    fn write_piece(&self, key: u64, e: &mut Exposition) -> std::io::Result<()> {
        if key == REPORT_PIECE {
            return self.report.write(e);
        }
        let family = usize::try_from(key >> 32)
            .ok()
            .and_then(|f| LIVE_FAMILIES.get(f).copied());
        let block = usize::try_from(key & u64::from(u32::MAX)).unwrap_or(usize::MAX);
        match family {
            Some(family) => self.write_live(e, family, self.block(block), block == 0),
            // Not a key of `pieces`: nothing to write.
            None => Ok(()),
        }
    }
}

/// The `state` label of conversation counts, in [`ConversationCounts::by_state`]'s order.
pub(crate) struct StateLabels([Labels; 3]);

impl StateLabels {
    pub(crate) fn new() -> StateLabels {
        StateLabels(
            ConversationCounts::default()
                .by_state()
                .map(|(state, _)| Labels::new().with("state", state)),
        )
    }

    /// One sample per state, after the given labels (an empty set writes nothing).
    pub(crate) fn write(
        &self,
        e: &mut Exposition,
        labels: [&Labels; 2],
        counts: &ConversationCounts,
    ) -> std::io::Result<()> {
        for ((_, v), state) in counts.by_state().iter().zip(&self.0) {
            e.sample(&[labels[0], labels[1], state], *v as f64)?;
        }
        Ok(())
    }
}

/// One poll of every watched queue, as the snapshot of polling mode; `kept` is what the
/// previous poll left (updated here).
#[must_use]
pub(crate) fn build_snapshot(
    queues: Arc<QueueSet>,
    responses: &[QueueObservationQueryResponse],
    now_ms: i64,
    presences: &Presences,
    observed: ObservedSet,
    kept: &mut Kept,
) -> ObservationsSnapshot {
    let mut polled = polled_rows(&queues, responses, &mut kept.vocabulary, presences);
    let empty = rows::Rows::new();
    for (q, r) in queues.queues.iter().zip(polled.iter_mut()) {
        rows::keep_previous(r, kept.rows.get(&q.id).unwrap_or(&empty));
    }
    // Every queue's rows are new: extra values none of them holds are forgotten.
    kept.vocabulary.sweep(&polled);
    let live = queues
        .queues
        .iter()
        .zip(&polled)
        .map(|(q, r)| Some(Arc::new(rows::derive(r, &q.media_types, now_ms, presences))))
        .collect();
    kept.rows = queues
        .queues
        .iter()
        .map(|q| q.id.clone())
        .zip(polled)
        .collect();
    let report = LiveReport {
        mode: LiveMode::Poll,
        polled_queues: queues.queues.len() as u64,
        ignored: kept.vocabulary.ignored(),
        ..LiveReport::default()
    };
    let snapshot =
        ObservationsSnapshot::after(kept.previous.as_ref(), queues, live, report, observed);
    kept.previous = Some(snapshot.clone());
    snapshot
}

/// The rows of each watched queue (in the set's order) from the answers of a poll. Results for
/// queues not in the set (or that vanished) are ignored.
pub(crate) fn polled_rows(
    queues: &QueueSet,
    responses: &[QueueObservationQueryResponse],
    vocabulary: &mut Vocabulary,
    presences: &Presences,
) -> Vec<rows::Rows> {
    let mut out = vec![rows::Rows::new(); queues.queues.len()];
    let index: HashMap<&str, usize> = queues
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    for container in responses.iter().flat_map(|r| &r.results) {
        let Some(&i) = container
            .group
            .get("queueId")
            .and_then(|id| index.get(id.as_str()))
        else {
            continue;
        };
        rows::add_polled(
            &mut out[i],
            container,
            vocabulary,
            &queues.queues[i].media_types,
            presences,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::queues::WatchedQueue;
    use crate::metrics::Format;

    fn set() -> Arc<QueueSet> {
        Arc::new(QueueSet {
            queues: vec![WatchedQueue {
                id: "1d1af111-b11c-11f1-b111-1cf1c11111fc".into(),
                name: "Support".into(),
                division: "Home".into(),
                media_types: vec!["voice".into(), "video".into()],
            }],
        })
    }

    #[test]
    fn the_official_example_becomes_per_queue_state() {
        let text =
            include_str!("../../../tests/fixtures/queue-observations.response.tutorial.json");
        let response: QueueObservationQueryResponse = serde_json::from_str(text).unwrap();
        let snap = build_snapshot(
            set(),
            &[response],
            0,
            &Presences::default(),
            ObservedSet::ALL,
            &mut Kept::default(),
        );
        let q = snap.live[0].as_deref().unwrap();
        assert_eq!(q.routing_statuses["interacting"], 2);
        assert_eq!(q.routing_statuses["idle"], 1);
        assert_eq!(q.routing_statuses["off_queue"], 3);
        assert_eq!(
            q.routing_statuses["not_responding"], 0,
            "known statuses default to 0"
        );
        assert_eq!(q.media["voice"].conversations.interacting, 1);
        assert_eq!(q.media["chat"].conversations.interacting, 1);
        assert_eq!(
            q.media["email"].conversations,
            ConversationCounts::default()
        );
        assert!(
            q.media.contains_key("video"),
            "served media types are present at 0"
        );
    }

    #[test]
    fn presences_roll_up_to_their_system_presence_and_agent_counts_are_kept() {
        let now = 1_764_000_000_000_i64;
        let response: QueueObservationQueryResponse = serde_json::from_value(serde_json::json!({
            "systemToOrganizationMappings": {
                "ON_QUEUE": ["P-OnQ"], "BREAK": ["p-break", "p-coffee"], "OFFLINE": ["p-off"],
                "MEAL": []
            },
            "results": [
                {"group": {"queueId": "1d1af111-b11c-11f1-b111-1cf1c11111fc"},
                 "data": [{"metric": "oMemberUsers", "stats": {"count": 9}},
                          {"metric": "oActiveUsers", "stats": {"count": 7}},
                          {"metric": "oOffQueueUsers", "stats": {"count": 4}},
                          {"metric": "oUserPresences", "qualifier": "p-onq", "stats": {"count": 3}},
                          {"metric": "oUserPresences", "qualifier": "p-break", "stats": {"count": 2}},
                          {"metric": "oUserPresences", "qualifier": "p-coffee", "stats": {"count": 1}},
                          {"metric": "oUserPresences", "qualifier": "p-new", "stats": {"count": 1}},
                          {"metric": "oUserPresences", "qualifier": "p-off", "stats": {"count": 2}}]},
                {"group": {"queueId": "1d1af111-b11c-11f1-b111-1cf1c11111fc", "mediaType": "voice"},
                 "data": [{"metric": "oInteracting", "stats": {"count": 1}},
                          {"metric": "oLongestInteracting", "stats": {"calculatedMetricValue": now - 95_000}}]},
                {"group": {"queueId": "1d1af111-b11c-11f1-b111-1cf1c11111fc", "mediaType": "chat"},
                 "data": [{"metric": "oInteracting", "stats": {"count": 0}},
                          {"metric": "oLongestInteracting", "stats": {"calculatedMetricValue": now - 30_000}}]}
            ]
        }))
        .unwrap();
        let responses = [response];
        let presences = Presences::from_responses(&responses).unwrap();
        let snap = build_snapshot(
            set(),
            &responses,
            now,
            &presences,
            ObservedSet::ALL,
            &mut Kept::default(),
        );
        let q = snap.live[0].as_deref().unwrap();
        assert_eq!(
            (q.member_users, q.active_users, q.off_queue_users),
            (9, 7, 4)
        );
        let presences: Vec<(&str, u64)> =
            q.presences.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            presences,
            [
                ("break", 3),
                ("meal", 0),
                ("offline", 2),
                ("on_queue", 3),
                ("unknown", 1)
            ],
            "organization presences of one system presence are summed (ids compared in any case); \
             the org's system presences are present at 0; an unmapped id counts as unknown"
        );
        assert_eq!(q.media["voice"].longest_interacting_seconds, 95.0);
        assert_eq!(q.media["video"].longest_interacting_seconds, 0.0);
        assert_eq!(
            q.media["chat"].longest_interacting_seconds, 0.0,
            "a timestamp left over without an interaction counts nothing"
        );
    }

    #[test]
    fn left_out_families_are_not_written() {
        let text = |observed: ObservedSet| {
            let presences = Presences::from_mappings(&BTreeMap::from([(
                "ON_QUEUE".to_string(),
                vec!["p1".to_string()],
            )]));
            let snap = build_snapshot(set(), &[], 0, &presences, observed, &mut Kept::default());
            let mut e = Exposition::new(
                crate::metrics::exposition::Format::Text,
                None,
                Vec::new(),
                0,
            );
            snap.write(&mut e).unwrap();
            String::from_utf8(e.finish().unwrap().to_vec()).unwrap()
        };
        let all = text(ObservedSet::ALL);
        let some = text(ObservedSet::NONE.with(Observed::PresenceUsers));
        for o in Observed::ALL {
            let name = format!("\n{}{{", o.family().name);
            assert!(all.contains(&name), "{name} served by default");
            assert_eq!(
                some.contains(&name),
                o == Observed::PresenceUsers,
                "{name} only when chosen"
            );
        }
        assert!(
            some.contains("genesys_queue_users{"),
            "the base families stay"
        );
    }

    /// 250 queues (three blocks), every fifth without live state.
    fn many(n: usize) -> (Arc<QueueSet>, Vec<Option<Arc<QueueLive>>>) {
        let queues = Arc::new(QueueSet {
            queues: (0..n)
                .map(|i| WatchedQueue {
                    id: format!("q{i}"),
                    name: format!("Queue \"{i}\""),
                    division: "Home".into(),
                    media_types: vec!["voice".into(), "chat".into()],
                })
                .collect(),
        });
        let live = (0..n)
            .map(|i| {
                (i % 5 != 0).then(|| {
                    let mut live = QueueLive::default();
                    for m in ["voice", "chat"] {
                        let mut media = MediaLive::default();
                        media.conversations.waiting = i as u64;
                        media.longest_waiting_seconds = i as f64 / 4.0;
                        live.media.insert(m.to_string(), media);
                    }
                    live.routing_statuses.insert("idle".into(), i as u64 % 3);
                    live.presences.insert("available".into(), 2);
                    live.on_queue_users = i as u64;
                    Arc::new(live)
                })
            })
            .collect();
        (queues, live)
    }

    #[test]
    fn the_pieces_one_after_the_other_are_the_snapshot_written_whole() {
        let (queues, live) = many(250);
        for observed in [ObservedSet::ALL, ObservedSet::NONE.with(Observed::PresenceUsers)] {
            let snap =
                ObservationsSnapshot::new(queues.clone(), live.clone(), LiveReport::default(), observed);
            let pieces = snap.pieces().expect("written in pieces");
            let families = LIVE_FAMILIES.iter().filter(|f| f.served(observed)).count();
            assert_eq!(pieces.len(), families * 3 + 1, "three blocks a family, and the report");
            for format in [Format::Text, Format::OpenMetrics] {
                let mut whole = Exposition::new(format, None, Vec::new(), 0);
                snap.write(&mut whole).unwrap();
                let mut joined = Vec::new();
                let mut samples = 0;
                for p in &pieces {
                    let mut e = Exposition::new(format, None, Vec::new(), 0);
                    snap.write_piece(p.key, &mut e).unwrap();
                    samples += e.samples();
                    joined.extend_from_slice(&e.finish_piece().unwrap().bytes);
                }
                assert_eq!(samples, whole.samples());
                let whole = whole.finish_piece().unwrap().bytes;
                assert_eq!(
                    String::from_utf8_lossy(&joined),
                    String::from_utf8_lossy(&whole),
                    "{format:?}"
                );
            }
        }
    }

    #[test]
    fn a_queue_whose_state_changed_moves_the_generation_of_its_blocks_changed_families_only() {
        let (queues, live) = many(250);
        let first = ObservationsSnapshot::new(queues.clone(), live.clone(), LiveReport::default(), ObservedSet::ALL);
        let generations = |s: &ObservationsSnapshot| {
            s.pieces()
                .unwrap()
                .into_iter()
                .map(|p| (p.key, p.generation))
                .collect::<HashMap<_, _>>()
        };
        let g1 = generations(&first);
        // Queue 151 (block 1) changes; queue 7 gets an equal state anew, as a poll derives it.
        let mut next = live.clone();
        let mut changed = (*live[151].clone().unwrap()).clone();
        changed.on_queue_users += 1;
        next[151] = Some(Arc::new(changed));
        next[7] = live[7].as_deref().cloned().map(Arc::new);
        let second = ObservationsSnapshot::after(
            Some(&first),
            queues.clone(),
            next.clone(),
            LiveReport::default(),
            ObservedSet::ALL,
        );
        let g2 = generations(&second);
        let on_queue_users = LIVE_FAMILIES
            .iter()
            .position(|f| *f == LiveFamily::OnQueueUsers)
            .unwrap() as u64;
        for (key, generation) in &g1 {
            let (family, block) = (key >> 32, key & u64::from(u32::MAX));
            assert_eq!(
                g2[key] != *generation,
                *key != REPORT_PIECE && block == 1 && family == on_queue_users,
                "piece {key:x}"
            );
        }
        // A queue going stale (no live state) changes its block too; so does the report.
        next[249] = None;
        let report = LiveReport {
            polled_queues: 3,
            ..LiveReport::default()
        };
        let third = ObservationsSnapshot::after(Some(&second), queues.clone(), next.clone(), report, ObservedSet::ALL);
        let g3 = generations(&third);
        for (key, generation) in &g2 {
            let block = key & u64::from(u32::MAX);
            assert_eq!(g3[key] != *generation, *key == REPORT_PIECE || block == 2, "piece {key:x}");
        }
        // Another listing: every piece is new.
        let renamed = Arc::new(QueueSet {
            queues: queues.queues.iter().cloned().map(|mut q| {
                q.name.push('!');
                q
            }).collect(),
        });
        let fourth = ObservationsSnapshot::after(Some(&third), renamed, next, third.report.clone(), ObservedSet::ALL);
        let g4 = generations(&fourth);
        for (key, generation) in &g3 {
            assert_eq!(g4[key] != *generation, *key != REPORT_PIECE, "piece {key:x}");
        }
    }

    #[test]
    fn polls_keep_eight_new_media_types_and_the_previous_count_of_an_invalid_one() {
        let id = "1d1af111-b11c-11f1-b111-1cf1c11111fc";
        let answer = |waiting: serde_json::Value| {
            let mut results: Vec<serde_json::Value> = (0..100)
                .map(|n| {
                    serde_json::json!({"group": {"queueId": id, "mediaType": format!("new{n}")},
                     "data": [{"metric": "oWaiting", "stats": {"count": 1}}]})
                })
                .collect();
            results.push(
                serde_json::json!({"group": {"queueId": id, "mediaType": "voice"},
                "data": [{"metric": "oWaiting", "stats": {"count": waiting}}]}),
            );
            serde_json::from_value::<QueueObservationQueryResponse>(
                serde_json::json!({ "results": results }),
            )
            .unwrap()
        };
        let mut kept = Kept::default();
        let mut poll = |waiting: serde_json::Value| {
            let snap = build_snapshot(
                set(),
                &[answer(waiting)],
                0,
                &Presences::default(),
                ObservedSet::ALL,
                &mut kept,
            );
            let q = snap.live[0].as_deref().unwrap().clone();
            (q, snap.report.ignored)
        };
        let (q, ignored) = poll(serde_json::json!(4));
        assert_eq!(
            q.media.len(),
            2 + rows::MAX_EXTRA_VALUES,
            "voice, video, 8 new"
        );
        assert_eq!(q.media["voice"].conversations.waiting, 4);
        assert_eq!(ignored, [100 - rows::MAX_EXTRA_VALUES as u64, 0, 0]);
        let (q, ignored) = poll(serde_json::json!(1.5));
        assert_eq!(
            q.media["voice"].conversations.waiting, 4,
            "the previous poll's count"
        );
        assert_eq!(q.media.len(), 2 + rows::MAX_EXTRA_VALUES, "the same 8");
        assert_eq!(ignored, [2 * (100 - rows::MAX_EXTRA_VALUES as u64), 0, 1]);
    }

    #[test]
    fn longest_waiting_reads_timestamps_and_durations() {
        let now = 1_764_000_000_000;
        assert_eq!(longest_wait_seconds(now - 42_500, now), 42.5);
        assert_eq!(longest_wait_seconds(90_000, now), 90.0);
        assert_eq!(
            longest_wait_seconds(now + 5_000, now),
            0.0,
            "clock skew never goes negative"
        );
    }

    #[test]
    fn results_for_unknown_queues_and_odd_values_are_ignored() {
        let response: QueueObservationQueryResponse = serde_json::from_value(serde_json::json!({
            "results": [
                {"group": {"queueId": "other", "mediaType": "voice"},
                 "data": [{"metric": "oWaiting", "stats": {"count": 9}}]},
                {"group": {"queueId": "1d1af111-b11c-11f1-b111-1cf1c11111fc", "mediaType": "VOICE"},
                 "data": [{"metric": "oWaiting", "stats": {"count": -3}},
                          {"metric": "oSomethingNew", "stats": {"count": 4}},
                          {"metric": "oAlerting", "stats": {"count": 2}, "extra": true}]}
            ]
        }))
        .unwrap();
        let snap = build_snapshot(
            set(),
            &[response],
            0,
            &Presences::default(),
            ObservedSet::ALL,
            &mut Kept::default(),
        );
        let voice = &snap.live[0].as_deref().unwrap().media["voice"].conversations;
        assert_eq!((voice.waiting, voice.alerting), (0, 2));
    }
}
