//! Voice quality: a histogram of each ended conversation's minimum MOS
//! (`mediaStatsMinConversationMos`, 1-5) by the queue that handled it, from
//! `POST /api/v2/analytics/conversations/details/query` (REFERENCE 2.4). Opt-in
//! (`--collector.voice_quality`): it needs `analytics:conversationDetail:view`, which no other
//! collector does, and its cost grows with the calls that end.
//!
//! Each conversation is counted once. Every poll asks for the ended conversations with a MOS,
//! ordered by `conversationEnd`, newest first, and pages until it reaches the **floor**: the
//! newest end of the last complete poll (the **watermark**) less the **look-back**
//! (`--voice-quality.lookback`). A conversation the details show late (details lag) lands
//! behind newer ones, so the look-back is re-read each poll, and a conversation already
//! counted there is recognised by its id (`seen`, which holds the ids down to one look-back
//! below the floor and is pruned below it: bounded by the calls of two look-backs and a poll,
//! and by `--voice-quality.max-tracked`).
//!
//! The interval filters on the conversation's **start**, by whole days (REFERENCE 2.4): it
//! begins `--voice-quality.max-duration` before the floor, so a call that started that long
//! before it ended (or on the day before: across midnight) is still in it; the day reading
//! only adds conversations, which the floor and the ids sort out.
//!
//! `--voice-quality.max-pages` caps a poll. A capped poll keeps its floor, and the next poll
//! reads the head again (new calls, and the look-back, as always), then jumps to where the
//! capped one stopped: an older call only ever moves down the list (newer and late ones come in
//! above it), so the same position or later holds everything not read yet. The overflow is
//! carried, never lost, and the ids keep it from being counted twice.
//!
//! What it cannot count is counted: conversations without an id or a readable end
//! (`malformed`), with a MOS outside 1-5 (`invalid_mos`), on a queue this exporter does not
//! watch (`unwatched_queue`), and those seen only below the floor but not among the ids kept
//! for a look-back beneath it: shown later than the look-back allows (`beyond_lookback`;
//! only those on the page where paging stops are seen at all).

mod models;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, FromArgMatches};
use tokio::sync::watch;

use self::models::{ConversationQuery, DetailConversation, DETAILS_QUERY};
use super::queues::QueueSet;
use super::{
    CollectError, CollectorSettings, Context, FlagSet, Poll, Published, Registration,
    SettingError, Settings, Snapshot, Started,
};
use crate::clock::SharedClock;
use crate::genesys::GenesysClient;
use crate::metrics::catalog::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};

pub(crate) const REGISTRATION: Registration = Registration {
    name: "voice_quality",
    polls: "count the minimum MOS of ended conversations by queue (POST /api/v2/analytics/conversations/details/query)",
    default_interval: "1m",
    // Opt-in: this is the help of `--collector.voice_quality`, which turns it on.
    disable: Some("Enable the voice quality collector: a MOS histogram per queue from conversation details, pages of ended conversations each poll (at most --voice-quality.max-pages; needs the analytics:conversationDetail:view permission)."),
    opt_in: true,
    org_wide: false,
    // One page before the first poll; then what its last polls needed (the traffic decides).
    requests_per_poll: super::one_query,
    cost_from_polls: true,
    background: true,
    flags: Some(&FLAGS),
    endpoints: &[DETAILS_QUERY],
    start,
    families: FAMILIES,
};

/// `--voice-quality.buckets` default: a telephony engineer's reading of MOS around the usual
/// 3.5 "poor" line (4.3-4.4 is a clean G.711 call, below 3.6 most users are dissatisfied).
const DEFAULT_BUCKETS: &str = "2.5,3,3.5,3.8,4,4.2,4.4";

/// Label value of the conversations the details name no queue for (counted org-wide).
const NO_QUEUE: &str = "none";

/// The media types of `AnalyticsSession.mediaType` (openapi-subset.json); any other value is
/// written as `unknown`, so the label stays bounded.
const MEDIA_TYPES: [&str; 11] = [
    "callback",
    "chat",
    "cobrowse",
    "email",
    "internalmessage",
    "message",
    "screenmonitoring",
    "screenshare",
    "unknown",
    "video",
    "voice",
];

/// Why a conversation the details answered is not in the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Malformed,
    InvalidMos,
    UnwatchedQueue,
    BeyondLookback,
}

impl Skip {
    const ALL: [Skip; 4] = [
        Skip::Malformed,
        Skip::InvalidMos,
        Skip::UnwatchedQueue,
        Skip::BeyondLookback,
    ];

    fn label(self) -> &'static str {
        match self {
            Skip::Malformed => "malformed",
            Skip::InvalidMos => "invalid_mos",
            Skip::UnwatchedQueue => "unwatched_queue",
            Skip::BeyondLookback => "beyond_lookback",
        }
    }
}

// ---- flags ---------------------------------------------------------------------------------

/// What a reload may change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VoiceQualitySettings {
    /// How long after newer calls' ends a call may still show up and be counted.
    pub(crate) lookback: Duration,
    /// The longest conversation (start to end) the interval reaches back for.
    pub(crate) max_duration: Duration,
    /// Pages a poll, at most; the rest is carried to the next poll.
    pub(crate) max_pages: u32,
    /// Conversations a page (the details query takes at most 100).
    pub(crate) page_size: u32,
    /// Histogram upper bounds, ascending.
    pub(crate) buckets: Vec<f64>,
    /// Conversation ids kept for the dedupe, at most.
    pub(crate) max_tracked: usize,
}

/// Added to the command line by the registration's flag set.
#[derive(Debug, Args)]
struct VoiceQualityFlags {
    /// How long after a newer call's end a call may still show up in the details (details
    /// lag) and be counted: each poll re-reads this much below the newest end it counted.
    #[arg(long = "voice-quality.lookback", default_value = "10m", value_parser = parse_duration)]
    voice_quality_lookback: Duration,
    /// The longest conversation (start to end) still counted: the details interval filters on
    /// the start, so it begins this long before the oldest end a poll reads.
    #[arg(long = "voice-quality.max-duration", default_value = "12h", value_parser = parse_duration)]
    voice_quality_max_duration: Duration,
    /// Details pages a poll, at most; a poll that needs more carries the rest to the next.
    #[arg(long = "voice-quality.max-pages", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    voice_quality_max_pages: u32,
    /// Conversations a details page (paging.pageSize; at most 100).
    #[arg(long = "voice-quality.page-size", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    voice_quality_page_size: u32,
    /// Comma-separated upper bounds (MOS, ascending, above 1 and at most 5) of the
    /// genesys_conversation_mos histogram buckets.
    #[arg(long = "voice-quality.buckets", default_value = DEFAULT_BUCKETS)]
    voice_quality_buckets: String,
    /// Conversation ids kept to count each conversation once, at most (about two look-backs
    /// and a poll of calls are needed; past this, the oldest are forgotten and the look-back
    /// shrinks).
    #[arg(long = "voice-quality.max-tracked", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    voice_quality_max_tracked: u64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30s, 10m, 12h)"))
}

/// Ascending bounds above 1 and at most 5.
fn parse_buckets(s: &str) -> Result<Vec<f64>, String> {
    let bounds: Vec<f64> = s
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| b.parse::<f64>().map_err(|_| format!("{b:?} is not a number")))
        .collect::<Result<_, _>>()?;
    if bounds.is_empty() {
        return Err("no bound".into());
    }
    if bounds.iter().any(|b| !(b.is_finite() && *b > 1.0 && *b <= 5.0)) {
        return Err("MOS bounds lie above 1 and at most at 5".into());
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err("bounds must ascend".into());
    }
    Ok(bounds)
}

const FLAGS: FlagSet = FlagSet {
    args: <VoiceQualityFlags as Args>::augment_args,
    settings: |matches| {
        let flags = VoiceQualityFlags::from_arg_matches(matches).map_err(SettingError::parse)?;
        let buckets = parse_buckets(&flags.voice_quality_buckets).map_err(|reason| {
            SettingError::new(
                "voice-quality.buckets",
                &flags.voice_quality_buckets,
                reason,
            )
        })?;
        if flags.voice_quality_lookback.is_zero() {
            return Err(SettingError::new(
                "voice-quality.lookback",
                "0s",
                "the details show calls late: a look-back of 0 would lose them",
            ));
        }
        Ok(Arc::new(VoiceQualitySettings {
            lookback: flags.voice_quality_lookback,
            max_duration: flags.voice_quality_max_duration,
            max_pages: flags.voice_quality_max_pages,
            page_size: flags.voice_quality_page_size,
            buckets,
            max_tracked: usize::try_from(flags.voice_quality_max_tracked).unwrap_or(usize::MAX),
        }))
    },
    check: |key, value| (key == "voice-quality.buckets").then(|| parse_buckets(value).map(|_| ())),
};

impl CollectorSettings for VoiceQualitySettings {
    fn same(&self, other: &dyn CollectorSettings) -> bool {
        (other as &dyn std::any::Any).downcast_ref::<Self>() == Some(self)
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        let buckets: Vec<String> = self.buckets.iter().map(ToString::to_string).collect();
        vec![
            ("voice-quality.lookback", d(&self.lookback)),
            ("voice-quality.max-duration", d(&self.max_duration)),
            ("voice-quality.max-pages", self.max_pages.to_string()),
            ("voice-quality.page-size", self.page_size.to_string()),
            ("voice-quality.buckets", buckets.join(",")),
            ("voice-quality.max-tracked", self.max_tracked.to_string()),
        ]
    }
}

impl Default for VoiceQualitySettings {
    fn default() -> Self {
        VoiceQualitySettings {
            lookback: Duration::from_secs(600),
            max_duration: Duration::from_secs(12 * 3600),
            max_pages: 50,
            page_size: 100,
            buckets: parse_buckets(DEFAULT_BUCKETS).unwrap_or_else(|_| vec![3.5]),
            max_tracked: 200_000,
        }
    }
}

// ---- the collector -------------------------------------------------------------------------

fn start(ctx: Context) -> Started {
    let queues = ctx.queues().subscribe();
    ctx.spawner().spawn(VoiceQualityCollector {
        client: ctx.client,
        clock: ctx.clock,
        live: ctx.live,
        queues,
        first_queues_wait: ctx.interval,
        tally: Tally::default(),
    })
}

pub(crate) struct VoiceQualityCollector {
    client: GenesysClient,
    clock: SharedClock,
    live: watch::Receiver<Arc<Settings>>,
    queues: watch::Receiver<Published<QueueSet>>,
    first_queues_wait: Duration,
    tally: Tally,
}

/// Counts of one histogram: cumulative per bound, count and sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

impl Histogram {
    fn zero(bounds: usize) -> Histogram {
        Histogram {
            buckets: vec![0; bounds],
            ..Histogram::default()
        }
    }

    fn observe(&mut self, bounds: &[f64], mos: f64) {
        for (n, b) in self.buckets.iter_mut().zip(bounds) {
            if mos <= *b {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += mos;
    }
}

/// Where a capped poll stopped: its head's end, how many conversations from its head it had
/// read (a guess of where to go on, as positions move while calls come in), and the end of
/// the last one it read (what tells whether a jump to the guess skipped any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resume {
    head_end: i64,
    read: usize,
    last_end: i64,
}

/// Which way a poll pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Page after page from the head.
    Forward,
    /// After a jump: back a page at a time until a page begins with a call newer than the
    /// last one the capped poll read (nothing between was skipped), or until the pages read
    /// before the jump; then forward again from `then`.
    Back { then: u32, lowest: u32 },
}

/// Everything counted since the collector started, and where its reading stands.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Conversations counted (or skipped) by id, with their end: what a re-read must not
    /// count again. Held down to one look-back below the floor.
    seen: HashMap<String, i64>,
    /// Ends below this are done: paging stops at the first one. None before the first poll.
    floor: Option<i64>,
    /// The first poll's floor: below it nothing was ever counted, so nothing there is late.
    counted_from: i64,
    /// A capped poll's resume point; None after a complete poll.
    resume: Option<Resume>,
    /// The bounds the histograms were counted with (a reload that changes them starts anew).
    bounds: Vec<f64>,
    /// (queue id or [`NO_QUEUE`], media type) -> histogram.
    histograms: BTreeMap<(String, String), Histogram>,
    skipped: [u64; 4],
    capped_polls: u64,
}

impl Tally {
    fn skip(&mut self, why: Skip) {
        if let Some(n) = Skip::ALL
            .iter()
            .position(|s| *s == why)
            .and_then(|i| self.skipped.get_mut(i))
        {
            *n += 1;
        }
    }

    /// Counts one conversation the answer holds (end already read), once.
    fn count(
        &mut self,
        c: &DetailConversation,
        id: &str,
        end: i64,
        queues: &QueueSet,
        org_wide: bool,
    ) {
        if self.seen.contains_key(id) {
            return;
        }
        self.seen.insert(id.to_string(), end);
        let Some(mos) = c
            .media_stats_min_conversation_mos
            .filter(|m| m.is_finite() && (1.0..=5.0).contains(m))
        else {
            self.skip(Skip::InvalidMos);
            return;
        };
        let (queue, media) = placement(c);
        let media = media_label(media);
        let key = match queue {
            Some(q) if queues.queues.iter().any(|w| w.id == q) => (q.to_string(), media),
            Some(_) => {
                self.skip(Skip::UnwatchedQueue);
                return;
            }
            // Conversations without a queue are counted once org-wide: by shard 0.
            None if org_wide => (NO_QUEUE.to_string(), media),
            None => return,
        };
        let bounds = self.bounds.len();
        let Tally {
            histograms,
            bounds: b,
            ..
        } = self;
        histograms
            .entry(key)
            .or_insert_with(|| Histogram::zero(bounds))
            .observe(b, mos);
    }

    /// Forgets ids below one look-back under the floor, and the oldest beyond `max` (raising
    /// the floor with them, so that nothing forgotten is read, and counted, again).
    fn prune(&mut self, lookback_ms: i64, max: usize) {
        let Some(floor) = self.floor else { return };
        let horizon = floor.saturating_sub(lookback_ms);
        self.seen.retain(|_, end| *end >= horizon);
        if self.seen.len() > max {
            let mut ends: Vec<i64> = self.seen.values().copied().collect();
            ends.sort_unstable();
            let keep_from = ends[ends.len() - max];
            self.seen.retain(|_, end| *end >= keep_from);
            self.floor = Some(floor.max(keep_from.saturating_add(lookback_ms)));
            tracing::warn!(
                max,
                "--voice-quality.max-tracked reached: the oldest conversation ids are forgotten and the look-back is shorter"
            );
        }
    }
}

/// The queue that handled a conversation, and that segment's media type: the last queue
/// segment of an `acd` participant (transfers move a call on; the queue it ended on is the
/// one whose trunk and agents it used last), else the last segment naming a queue; without
/// any, no queue and the first session's media type.
fn placement(c: &DetailConversation) -> (Option<&str>, Option<&str>) {
    let mut best: Option<(bool, &str, &str, Option<&str>)> = None;
    let mut first_media = None;
    for p in c.participants.iter().flatten() {
        let acd = p.purpose.as_deref() == Some("acd");
        for s in p.sessions.iter().flatten() {
            first_media = first_media.or(s.media_type.as_deref());
            for seg in s.segments.iter().flatten() {
                let Some(q) = seg.queue_id.as_deref().filter(|q| !q.is_empty()) else {
                    continue;
                };
                let start = seg.segment_start.as_deref().unwrap_or("");
                // ISO-8601 instants in UTC compare as strings; an acd segment wins over any other.
                let better = best.is_none_or(|(b_acd, b_start, _, _)| {
                    (acd, start) >= (b_acd, b_start)
                });
                if better {
                    best = Some((acd, start, q, s.media_type.as_deref()));
                }
            }
        }
    }
    match best {
        Some((_, _, q, media)) => (Some(q), media.or(first_media)),
        None => (None, first_media),
    }
}

fn media_label(media: Option<&str>) -> String {
    match media {
        Some(m) if MEDIA_TYPES.contains(&m) => m.to_string(),
        _ => "unknown".to_string(),
    }
}

fn parse_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Poll for VoiceQualityCollector {
    type Snapshot = VoiceQualitySnapshot;

    async fn poll(&mut self) -> Result<VoiceQualitySnapshot, CollectError> {
        let queues = super::wait_for_queues(&mut self.queues, self.first_queues_wait).await?;
        let (settings, org_wide) = {
            let live = self.live.borrow();
            (
                live.of::<VoiceQualitySettings>()
                    .cloned()
                    .unwrap_or_default(),
                live.queue_filter.shard.serves_org_wide(),
            )
        };
        let t = &mut self.tally;
        if t.bounds != settings.buckets {
            // New bounds are new series: the old counts cannot be re-bucketed.
            t.bounds.clone_from(&settings.buckets);
            t.histograms.clear();
        }
        let now = self.clock.now_ms();
        let lookback = millis(settings.lookback);
        // The first poll counts one look-back of calls.
        let floor = match t.floor {
            Some(floor) => floor,
            None => {
                t.counted_from = now.saturating_sub(lookback);
                *t.floor.insert(t.counted_from)
            }
        };
        let from = floor.saturating_sub(millis(settings.max_duration));
        // The end is exclusive and a second ahead: a call ending now is inside.
        let interval = format!("{}/{}", iso(from), iso(now.saturating_add(1000).max(from + 1)));
        let size = usize::try_from(settings.page_size).unwrap_or(100).max(1);
        let horizon = floor.saturating_sub(lookback).max(t.counted_from);
        let mut page: u32 = 1;
        let mut pages = 0;
        let mut head_end: Option<i64> = None;
        let mut anchor: Option<usize> = None;
        let mut walk = Walk::Forward;
        let mut jumped = false;
        // The read conversation furthest down the list (position, end).
        let mut frontier: Option<(usize, i64)> = None;
        let complete = loop {
            if pages >= settings.max_pages {
                break false;
            }
            let query =
                ConversationQuery::ended_with_mos(interval.clone(), settings.page_size, page);
            let answer = self.client.send(&query).await?;
            pages += 1;
            let convs = answer.conversations.unwrap_or_default();
            let first = usize::try_from(page - 1).unwrap_or(0) * size;
            let mut reached_floor = false;
            let mut first_end = None;
            let mut last_end = None;
            for (k, c) in convs.iter().enumerate() {
                let pos = first + k;
                let (Some(id), Some(end)) = (
                    c.conversation_id.as_deref().filter(|i| !i.is_empty()),
                    c.conversation_end.as_deref().and_then(parse_ms),
                ) else {
                    t.skip(Skip::Malformed);
                    continue;
                };
                head_end.get_or_insert(end);
                first_end.get_or_insert(end);
                last_end = Some(end);
                if frontier.is_none_or(|(p, _)| pos > p) {
                    frontier = Some((pos, end));
                }
                if end < floor {
                    // Read before, or shown later than the look-back allows: the ids kept
                    // for a look-back below the floor tell which.
                    reached_floor = true;
                    if end >= horizon && !t.seen.contains_key(id) {
                        t.seen.insert(id.to_string(), end);
                        t.skip(Skip::BeyondLookback);
                    }
                    continue;
                }
                if anchor.is_none() && t.resume.is_some_and(|r| end <= r.head_end) {
                    anchor = Some(pos);
                }
                t.count(c, id, end, &queues, org_wide);
            }
            if reached_floor || convs.len() < size {
                break true;
            }
            match (walk, t.resume) {
                (Walk::Back { then, lowest }, Some(r)) => {
                    if first_end.is_some_and(|f| f > r.last_end) || page <= lowest {
                        walk = Walk::Forward;
                        page = then;
                    } else {
                        page -= 1;
                    }
                }
                (Walk::Forward, Some(r)) if !jumped => {
                    // Past the look-back below the capped poll's head, jump to where it
                    // stopped: a call can show up late only within the look-back of its
                    // end, so what that poll read below it is read for good.
                    let past_lookback =
                        last_end.is_some_and(|l| l < r.head_end.saturating_sub(lookback));
                    let target = anchor
                        .filter(|_| past_lookback)
                        .and_then(|a| u32::try_from((a + r.read) / size + 1).ok())
                        .filter(|target| *target > page + 1);
                    match target {
                        Some(target) => {
                            jumped = true;
                            walk = Walk::Back {
                                then: target + 1,
                                lowest: page + 1,
                            };
                            page = target;
                        }
                        None => page += 1,
                    }
                }
                _ => page += 1,
            }
        };
        if complete {
            if let Some(h) = head_end {
                t.floor = Some(floor.max(h.saturating_sub(lookback)));
            }
            t.resume = None;
        } else {
            t.capped_polls += 1;
            let fresh = head_end.zip(frontier).map(|(h, (pos, end))| Resume {
                head_end: h,
                read: pos + 1,
                last_end: end,
            });
            t.resume = match (walk, t.resume, anchor) {
                // Walking back (or about to jump) when the cap came: nothing new is known to
                // be read without a gap, so the resume point stands, but the next poll goes
                // on from the page this one would have read next.
                (Walk::Back { .. }, Some(r), Some(a)) => Some(Resume {
                    read: (usize::try_from(page - 1).unwrap_or(0) * size).saturating_sub(a),
                    ..r
                }),
                // Read without a gap from its head down to its frontier (what lies below was
                // read when the look-back there was over): the deepest point known. What an
                // older capped poll read further down, past where this one got, is read
                // again: more pages, no gap.
                (_, old, _) => fresh.or(old),
            };
            tracing::debug!(
                pages,
                "voice quality: page cap reached, the rest carried to the next poll"
            );
        }
        t.prune(lookback, settings.max_tracked);
        Ok(self.snapshot(&queues, org_wide))
    }
}

impl VoiceQualityCollector {
    /// Every watched queue's histogram for each media type it counted and voice (0 until a
    /// call ends there), and the org-wide one on the shard that serves org-wide series.
    fn snapshot(&self, queues: &QueueSet, org_wide: bool) -> VoiceQualitySnapshot {
        let t = &self.tally;
        let zero = Histogram::zero(t.bounds.len());
        let mut series = Vec::new();
        let mut push = |queue_id: &str, queue: &str, media: &str| {
            let h = t
                .histograms
                .get(&(queue_id.to_string(), media.to_string()))
                .unwrap_or(&zero);
            series.push(Series {
                queue_id: queue_id.to_string(),
                queue: queue.to_string(),
                media_type: media.to_string(),
                histogram: h.clone(),
            });
        };
        for q in &queues.queues {
            let mut media: Vec<&str> = t
                .histograms
                .range((q.id.clone(), String::new())..)
                .take_while(|((id, _), _)| *id == q.id)
                .map(|((_, m), _)| m.as_str())
                .collect();
            if !media.contains(&"voice") && q.media_types.iter().any(|m| m == "voice") {
                media.push("voice");
            }
            media.sort_unstable();
            for m in media {
                push(&q.id, &q.name, m);
            }
        }
        if org_wide {
            let mut media: Vec<&str> = t
                .histograms
                .range((NO_QUEUE.to_string(), String::new())..)
                .take_while(|((id, _), _)| id == NO_QUEUE)
                .map(|((_, m), _)| m.as_str())
                .collect();
            if !media.contains(&"voice") {
                media.push("voice");
            }
            media.sort_unstable();
            for m in media {
                push(NO_QUEUE, NO_QUEUE, m);
            }
        }
        VoiceQualitySnapshot {
            bounds: t.bounds.clone(),
            series,
            skipped: t.skipped,
            capped_polls: t.capped_polls,
            tracked: t.seen.len(),
        }
    }
}

// ---- what it publishes ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) queue_id: String,
    pub(crate) queue: String,
    pub(crate) media_type: String,
    pub(crate) histogram: Histogram,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VoiceQualitySnapshot {
    pub(crate) bounds: Vec<f64>,
    pub(crate) series: Vec<Series>,
    pub(crate) skipped: [u64; 4],
    pub(crate) capped_polls: u64,
    pub(crate) tracked: usize,
}

/// The families this collector writes.
pub(crate) const FAMILIES: &[&Family] = &[
    &CONVERSATION_MOS,
    &CONVERSATION_MOS_SKIPPED,
    &CONVERSATION_MOS_CAPPED_POLLS,
    &CONVERSATION_MOS_TRACKED,
];

pub(crate) const CONVERSATION_MOS: Family = Family {
    name: "genesys_conversation_mos",
    kind: Kind::Histogram,
    unit: None,
    help: "Minimum MOS (1-5) of each ended conversation, counted once, by the queue that handled it (queue_id=\"none\": no queue segment, org-wide) and that segment's media type (mediaStatsMinConversationMos, POST /api/v2/analytics/conversations/details/query); opt-in collector voice_quality.",
    labels: &["queue_id", "queue", "media_type"],
};

pub(crate) const CONVERSATION_MOS_SKIPPED: Family = Family {
    name: "genesys_conversation_mos_skipped",
    kind: Kind::Counter,
    unit: None,
    help: "Ended conversations the details answered that the MOS histogram does not count, by reason: malformed (no id or end), invalid_mos (outside 1-5), unwatched_queue, beyond_lookback (shown later than --voice-quality.lookback allows).",
    labels: &["reason"],
};

pub(crate) const CONVERSATION_MOS_CAPPED_POLLS: Family = Family {
    name: "genesys_conversation_mos_capped_polls",
    kind: Kind::Counter,
    unit: None,
    help: "Voice quality polls that reached --voice-quality.max-pages and carried the rest to the next poll.",
    labels: &[],
};

pub(crate) const CONVERSATION_MOS_TRACKED: Family = Family {
    name: "genesys_conversation_mos_tracked_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversation ids the voice quality collector holds to count each conversation once (bounded by --voice-quality.max-tracked).",
    labels: &[],
};

impl Snapshot for VoiceQualitySnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        e.begin(&CONVERSATION_MOS)?;
        for s in &self.series {
            let labels = Labels::new()
                .with("queue_id", &s.queue_id)
                .with("queue", &s.queue)
                .with("media_type", &s.media_type);
            let buckets: Vec<(f64, u64)> = self
                .bounds
                .iter()
                .copied()
                .zip(s.histogram.buckets.iter().copied())
                .collect();
            e.histogram(&[&labels], &buckets, s.histogram.sum, s.histogram.count)?;
        }
        e.begin(&CONVERSATION_MOS_SKIPPED)?;
        for (why, n) in Skip::ALL.iter().zip(self.skipped) {
            // Exact: counts stay far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            e.sample(&[&Labels::new().with("reason", why.label())], n as f64)?;
        }
        e.begin(&CONVERSATION_MOS_CAPPED_POLLS)?;
        #[allow(clippy::cast_precision_loss)]
        e.sample(&[], self.capped_polls as f64)?;
        e.begin(&CONVERSATION_MOS_TRACKED)?;
        #[allow(clippy::cast_precision_loss)]
        e.sample(&[], self.tracked as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(v: serde_json::Value) -> DetailConversation {
        serde_json::from_value(v).expect("a conversation")
    }

    #[test]
    fn the_queue_is_the_last_acd_segment_and_its_media_type() {
        let c = conv(serde_json::json!({
            "participants": [
                {"purpose": "customer", "sessions": [{"mediaType": "voice", "segments": [{"segmentStart": "2026-03-10T10:00:00Z"}]}]},
                {"purpose": "acd", "sessions": [{"mediaType": "voice", "segments": [
                    {"segmentStart": "2026-03-10T10:00:05Z", "queueId": "q1"},
                    {"segmentStart": "2026-03-10T10:03:00Z", "queueId": "q2"}
                ]}]},
                {"purpose": "agent", "sessions": [{"mediaType": "voice", "segments": [{"segmentStart": "2026-03-10T10:09:00Z", "queueId": "q3"}]}]}
            ]
        }));
        assert_eq!(placement(&c), (Some("q2"), Some("voice")));
        let direct = conv(serde_json::json!({
            "participants": [{"purpose": "external", "sessions": [{"mediaType": "voice", "segments": [{}]}]}]
        }));
        assert_eq!(placement(&direct), (None, Some("voice")));
        assert_eq!(placement(&conv(serde_json::json!({}))), (None, None));
        assert_eq!(media_label(Some("hologram")), "unknown");
    }

    #[test]
    fn buckets_ascend_above_one_up_to_five() {
        assert_eq!(parse_buckets(DEFAULT_BUCKETS).map(|b| b.len()), Ok(7));
        assert!(parse_buckets("3.5,3").is_err());
        assert!(parse_buckets("1,3").is_err());
        assert!(parse_buckets("3,6").is_err());
        assert!(parse_buckets("x").is_err());
        assert!(parse_buckets("").is_err());
    }

    #[test]
    fn a_conversation_is_counted_once_and_odd_ones_are_skipped() {
        let queues = QueueSet {
            queues: vec![crate::collect::queues::WatchedQueue {
                id: "q1".into(),
                name: "Sales".into(),
                division: "d".into(),
                media_types: vec!["voice".into()],
            }],
        };
        let mut t = Tally {
            bounds: vec![3.5, 4.0],
            ..Tally::default()
        };
        let on = |q: &str, mos: f64| {
            conv(serde_json::json!({
                "mediaStatsMinConversationMos": mos,
                "participants": [{"purpose": "acd", "sessions": [{"mediaType": "voice", "segments": [{"queueId": q}]}]}]
            }))
        };
        t.count(&on("q1", 3.0), "a", 1, &queues, true);
        t.count(&on("q1", 3.0), "a", 1, &queues, true);
        t.count(&on("q1", 4.5), "b", 2, &queues, true);
        t.count(&on("q9", 4.5), "c", 3, &queues, true);
        t.count(&on("q1", 7.0), "d", 4, &queues, true);
        let h = &t.histograms[&("q1".to_string(), "voice".to_string())];
        assert_eq!((h.buckets.clone(), h.count, h.sum), (vec![1, 1], 2, 7.5));
        assert_eq!(t.skipped, [0, 1, 1, 0]);
    }

    #[test]
    fn pruning_keeps_one_lookback_below_the_floor_and_raises_the_floor_past_the_cap() {
        let mut t = Tally {
            floor: Some(10_000),
            ..Tally::default()
        };
        for (i, end) in [1_000, 5_000, 9_000, 12_000, 13_000].iter().enumerate() {
            t.seen.insert(format!("c{i}"), *end);
        }
        t.prune(4_000, 100);
        assert_eq!(
            t.seen.len(),
            3,
            "ends below 6,000 (one look-back below the floor) are forgotten"
        );
        t.prune(4_000, 2);
        assert_eq!(t.seen.len(), 2);
        assert_eq!(t.floor, Some(16_000), "nothing forgotten is read again");
    }

    #[test]
    fn its_endpoint_names_its_permission() {
        crate::genesys::request::assert_permission_named(&DETAILS_QUERY);
    }
}
