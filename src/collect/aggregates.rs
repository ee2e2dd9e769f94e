//! Rolling analytics: `POST /api/v2/analytics/conversations/aggregates/query` grouped by queue
//! and media type, turned into exactly-once counters and window gauges.
//!
//! Genesys stamps a metric when it completes and makes it visible minutes later, so a bucket
//! keeps growing after it closed. Each refresh asks for the last `lookback` at `granularity`,
//! and for every bucket adds to the counters only what grew since the bucket was last seen.
//! The first refresh (and a queue's first appearance) only records a baseline: counters start
//! at 0 when the process starts, and Prometheus' `increase()` handles the reset.
//!
//! `today` is the sum of a base (what lies between local midnight and the look-back, asked for
//! once as one bucket, then grown by the buckets that age out of the look-back) and the cached
//! buckets since midnight.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;

use super::queues::QueueSet;
use super::{CollectError, Poll, Published};
use crate::clock::SharedClock;
use crate::genesys::models::{
    ConversationAggregateQueryResponse, ConversationAggregationQuery, QueryFilter,
};
use crate::genesys::GenesysClient;

/// As for observations: no documented cap on predicates; 100 per query is the safe batch.
pub const MAX_QUEUES_PER_QUERY: usize = 100;

pub const METRICS: [&str; 15] = [
    "nOffered",
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tHandle",
    "tTalk",
    "tHeld",
    "tAcw",
    "tAcd",
    "tWait",
    "nTransferred",
    "nOverSla",
    "nConnected",
    "oServiceLevel",
    "tAlert",
];

/// Which statistic of a metric a quantity reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Count,
    Sum,
    Max,
    Numerator,
    Denominator,
}

impl Stat {
    /// Max combines by maximum; everything else adds up across buckets.
    fn additive(self) -> bool {
        self != Stat::Max
    }
}

/// The quantities kept per (queue, media type) and bucket.
const QUANTITIES: [(&str, Stat); 22] = [
    ("nOffered", Stat::Count),            // 0
    ("tAnswered", Stat::Count),           // 1
    ("tAnswered", Stat::Sum),             // 2
    ("tAbandon", Stat::Count),            // 3
    ("tAbandon", Stat::Sum),              // 4
    ("tShortAbandon", Stat::Count),       // 5
    ("tHandle", Stat::Count),             // 6
    ("tHandle", Stat::Sum),               // 7
    ("tHandle", Stat::Max),               // 8
    ("tTalk", Stat::Sum),                 // 9
    ("tHeld", Stat::Count),               // 10
    ("tHeld", Stat::Sum),                 // 11
    ("tAcw", Stat::Sum),                  // 12
    ("tAcd", Stat::Sum),                  // 13
    ("tAcd", Stat::Max),                  // 14
    ("tWait", Stat::Sum),                 // 15
    ("nTransferred", Stat::Count),        // 16
    ("nOverSla", Stat::Count),            // 17
    ("nConnected", Stat::Count),          // 18
    ("oServiceLevel", Stat::Numerator),   // 19
    ("oServiceLevel", Stat::Denominator), // 20
    ("tAlert", Stat::Sum),                // 21
];
const N: usize = QUANTITIES.len();

/// Statistics of one (queue, media type) over a bucket or a span, indexed like [`QUANTITIES`].
/// Timer sums and maxima are in milliseconds, as Genesys reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values(pub [f64; N]);

impl Default for Values {
    fn default() -> Self {
        Values([0.0; N])
    }
}

impl Values {
    /// Combines two spans: sums add, maxima take the larger.
    pub fn combine(&mut self, other: &Values) {
        for (i, (_, stat)) in QUANTITIES.iter().enumerate() {
            if stat.additive() {
                self.0[i] += other.0[i];
            } else {
                self.0[i] = self.0[i].max(other.0[i]);
            }
        }
    }

    /// The same bucket seen again: Genesys only adds late completions, so each field keeps
    /// its larger value (a counter never goes down, even if Genesys revised one down).
    fn revise(&self, newer: &Values) -> Values {
        let mut v = *self;
        for i in 0..N {
            v.0[i] = v.0[i].max(newer.0[i]);
        }
        v
    }

    /// Growth of the additive fields from `older` to `self` (never negative).
    fn growth_since(&self, older: &Values) -> Values {
        let mut v = Values::default();
        for (i, (_, stat)) in QUANTITIES.iter().enumerate() {
            if stat.additive() {
                v.0[i] = (self.0[i] - older.0[i]).max(0.0);
            }
        }
        v
    }
}

/// One exported quantity: its name (without `genesys_` and `_total`), help, and where it comes
/// from. Seconds are milliseconds / 1000.
pub struct Quantity {
    pub name: &'static str,
    pub help: &'static str,
    index: usize,
    seconds: bool,
}

impl Quantity {
    pub fn value(&self, v: &Values) -> f64 {
        let x = v.0[self.index];
        if self.seconds {
            x / 1000.0
        } else {
            x
        }
    }
}

const fn q(name: &'static str, help: &'static str, index: usize, seconds: bool) -> Quantity {
    Quantity {
        name,
        help,
        index,
        seconds,
    }
}

/// Counters (`genesys_<name>_total`) and, over each window, gauges (`genesys_window_<name>`).
pub const COUNTED: [Quantity; 20] = [
    q("conversations_offered", "Conversations offered to the queue (nOffered)", 0, false),
    q("conversations_answered", "Conversations answered by an agent (tAnswered count)", 1, false),
    q("conversations_abandoned", "Conversations abandoned in queue (tAbandon count)", 3, false),
    q("conversations_short_abandoned", "Abandons within the short-abandon threshold (tShortAbandon count)", 5, false),
    q("conversations_handled", "Conversations whose handling (talk, hold, wrap-up) completed (tHandle count)", 6, false),
    q("conversations_transferred", "Conversations transferred (nTransferred)", 16, false),
    q("conversations_over_sla", "Conversations answered after the service level threshold (nOverSla)", 17, false),
    q("conversations_connected", "Conversations connected to an agent (nConnected)", 18, false),
    q("conversations_within_sla", "Service level numerator: answered within the threshold (oServiceLevel numerator)", 19, false),
    q("conversations_sla_eligible", "Service level denominator: answered plus abandoned, short abandons excluded (oServiceLevel denominator)", 20, false),
    q("holds", "Hold periods (tHeld count)", 10, false),
    q("handle_seconds", "Handle time: talk + hold + after-call work (tHandle sum)", 7, true),
    q("talk_seconds", "Talk time (tTalk sum)", 9, true),
    q("hold_seconds", "Hold time (tHeld sum)", 11, true),
    q("acw_seconds", "After-call work time (tAcw sum)", 12, true),
    q("acd_wait_seconds", "Time in queue until answered or abandoned (tAcd sum)", 13, true),
    q("answer_wait_seconds", "Time in queue of answered conversations (tAnswered sum)", 2, true),
    q("abandon_wait_seconds", "Time in queue of abandoned conversations (tAbandon sum)", 4, true),
    q("wait_seconds", "Waiting time (tWait sum)", 15, true),
    q("alert_seconds", "Time offers spent alerting agents (tAlert sum)", 21, true),
];

/// Window-only gauges: maxima (`genesys_window_<name>`).
pub const WINDOW_MAXIMA: [Quantity; 2] = [
    q(
        "handle_max_seconds",
        "Longest handle time in the window (tHandle max)",
        8,
        true,
    ),
    q(
        "acd_wait_max_seconds",
        "Longest time in queue in the window (tAcd max)",
        14,
        true,
    ),
];

/// Service level over a span: Genesys' oServiceLevel, numerator over denominator; `None` when
/// nothing was answered or abandoned (no conversations is no service level, not 100%).
pub fn service_level(v: &Values) -> Option<f64> {
    let (num, den) = (v.0[19], v.0[20]);
    (den > 0.0).then(|| (num / den).clamp(0.0, 1.0))
}

/// A reporting window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// The most recent buckets covering this span (the last one still filling).
    Last(Duration),
    /// Since local midnight in the configured time zone.
    Today,
}

impl Window {
    pub fn label(&self) -> String {
        match self {
            Window::Today => "today".to_string(),
            Window::Last(d) => format_duration(*d),
        }
    }
}

/// `15m`, `1h`, `90m`: the label spelling of a window.
fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggregatesSettings {
    pub granularity: Duration,
    pub lookback: Duration,
    pub windows: Vec<Window>,
    pub timezone: Tz,
    /// What is exported of it: changing this alone keeps the counters.
    pub export: AggregatesExport,
}

impl AggregatesSettings {
    /// Whether `other` asks Genesys the same questions (then the counters carry on).
    fn same_queries(&self, other: &AggregatesSettings) -> bool {
        self.granularity == other.granularity
            && self.lookback == other.lookback
            && self.windows == other.windows
            && self.timezone == other.timezone
    }
}

/// Cardinality controls for the analytics series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatesExport {
    /// Labels `queue_id` and `queue` (true), or media type only, summed over queues (false).
    pub by_queue: bool,
    /// Names from [`exportable`] to export.
    pub selected: Vec<&'static str>,
}

impl Default for AggregatesExport {
    fn default() -> Self {
        AggregatesExport {
            by_queue: true,
            selected: exportable(),
        }
    }
}

impl AggregatesExport {
    pub fn exports(&self, name: &str) -> bool {
        self.selected.contains(&name)
    }
}

/// Every analytics quantity that can be exported: the counted ones (as counters and window
/// gauges), and the window-only maxima and service level ratio.
pub fn exportable() -> Vec<&'static str> {
    COUNTED
        .iter()
        .chain(&WINDOW_MAXIMA)
        .map(|q| q.name)
        .chain(["service_level_ratio"])
        .collect()
}

/// Statistics of one watched (queue, media type).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAggregates {
    pub queue: usize,
    pub media_type: String,
    /// Since the process started (additive fields only).
    pub counters: Values,
    /// One per configured window, in the same order.
    pub windows: Vec<Values>,
}

#[derive(Debug, Clone)]
pub struct AggregatesSnapshot {
    pub queues: Arc<QueueSet>,
    pub window_labels: Vec<String>,
    pub groups: Vec<GroupAggregates>,
    pub export: AggregatesExport,
}

type Group = (String, String);
pub(crate) type Buckets = BTreeMap<i64, HashMap<Group, Values>>;

#[derive(Debug, Default)]
struct State {
    /// Last-seen values of every bucket still inside the look-back, by bucket start (ms).
    buckets: Buckets,
    counters: HashMap<Group, Values>,
    /// Queues whose buckets have a baseline: growth in them is counted.
    baselined: HashSet<String>,
    /// Local midnight (ms) the day base belongs to, and the base itself.
    midnight_ms: Option<i64>,
    day_base: HashMap<Group, Values>,
    /// End (ms) of the span the last refresh covered.
    covered_until_ms: Option<i64>,
}

pub struct AggregatesCollector {
    pub client: GenesysClient,
    pub queues: watch::Receiver<Published<QueueSet>>,
    pub first_queues_wait: Duration,
    pub clock: SharedClock,
    settings: AggregatesSettings,
    /// New settings from a config reload.
    updates: watch::Receiver<AggregatesSettings>,
    state: State,
}

impl AggregatesCollector {
    pub fn new(
        client: GenesysClient,
        queues: watch::Receiver<Published<QueueSet>>,
        first_queues_wait: Duration,
        clock: SharedClock,
        mut updates: watch::Receiver<AggregatesSettings>,
    ) -> AggregatesCollector {
        let settings = updates.borrow_and_update().clone();
        AggregatesCollector {
            client,
            queues,
            first_queues_wait,
            clock,
            settings,
            updates,
            state: State::default(),
        }
    }
}

impl Poll for AggregatesCollector {
    type Snapshot = AggregatesSnapshot;

    async fn poll(&mut self) -> Result<AggregatesSnapshot, CollectError> {
        let queues = super::wait_for_queues(&mut self.queues, self.first_queues_wait).await?;
        if self.updates.has_changed().unwrap_or(false) {
            let settings = self.updates.borrow_and_update().clone();
            if !settings.same_queries(&self.settings) {
                // Other buckets or windows: start over from a new baseline (a counter reset).
                tracing::info!("aggregates settings changed; counters start from a new baseline");
                self.state = State::default();
            }
            self.settings = settings;
        }
        let now = self.clock.now_ms();
        let gran = self.settings.granularity.as_millis() as i64;
        let end = (now.div_euclid(gran) + 1) * gran;
        let start = end - self.settings.lookback.as_millis() as i64;
        let midnight = local_midnight_ms(now, &self.settings.timezone);
        let ids: Vec<&str> = queues.queues.iter().map(|q| q.id.as_str()).collect();

        // Every request first; the state changes only once all of them succeeded.
        let fresh = self
            .query(&ids, start, end, Some(self.settings.granularity))
            .await?;
        let new_queue = ids.iter().any(|id| !self.state.baselined.contains(*id));
        let gap = self.state.covered_until_ms.is_some_and(|c| c < start);
        let rebase_day = self.state.midnight_ms != Some(midnight) || gap || new_queue;
        let day_base = if rebase_day && midnight < start {
            Some(flatten(self.query(&ids, midnight, start, None).await?))
        } else if rebase_day {
            Some(HashMap::new())
        } else {
            None
        };
        // Down for longer than the look-back: what happened in between is counted once, late.
        let missed = match self.state.covered_until_ms {
            Some(c) if c < start => Some(flatten(self.query(&ids, c, start, None).await?)),
            _ => None,
        };

        let state = &mut self.state;
        if let Some(missed) = missed {
            for (group, v) in missed {
                if state.baselined.contains(&group.0) {
                    state
                        .counters
                        .entry(group)
                        .or_default()
                        .combine(&v.growth_since(&Values::default()));
                }
            }
        }
        for (bucket, groups) in fresh {
            let cached = state.buckets.entry(bucket).or_default();
            for (group, seen) in groups {
                let before = cached.get(&group).copied().unwrap_or_default();
                let after = before.revise(&seen);
                if state.baselined.contains(&group.0) {
                    state
                        .counters
                        .entry(group.clone())
                        .or_default()
                        .combine(&after.growth_since(&before));
                }
                cached.insert(group, after);
            }
        }
        let rebased = day_base.is_some();
        if let Some(base) = day_base {
            state.midnight_ms = Some(midnight);
            state.day_base = base;
        }
        // Buckets leaving the look-back: their final values join today's base, unless the
        // base was just asked for afresh (it already holds everything before `start`).
        let kept = state.buckets.split_off(&start);
        for (bucket, groups) in std::mem::replace(&mut state.buckets, kept) {
            if !rebased && bucket >= midnight {
                for (group, v) in groups {
                    state.day_base.entry(group).or_default().combine(&v);
                }
            }
        }
        // Queues no longer watched are forgotten; a queue that comes back starts a new baseline.
        let watched: HashSet<&str> = ids.iter().copied().collect();
        state.counters.retain(|g, _| watched.contains(g.0.as_str()));
        state.day_base.retain(|g, _| watched.contains(g.0.as_str()));
        for groups in state.buckets.values_mut() {
            groups.retain(|g, _| watched.contains(g.0.as_str()));
        }
        state.baselined = ids.iter().map(|s| s.to_string()).collect();
        state.covered_until_ms = Some(end);

        Ok(self.snapshot(queues, end, midnight))
    }
}

impl AggregatesCollector {
    async fn query(
        &self,
        ids: &[&str],
        start_ms: i64,
        end_ms: i64,
        granularity: Option<Duration>,
    ) -> Result<Buckets, CollectError> {
        let mut out = Buckets::new();
        for batch in ids.chunks(MAX_QUEUES_PER_QUERY) {
            let query = ConversationAggregationQuery {
                interval: format!("{}/{}", iso(start_ms), iso(end_ms)),
                granularity: granularity.map(iso_duration),
                group_by: vec!["queueId", "mediaType"],
                filter: QueryFilter::any_queue(batch.iter().copied()),
                metrics: METRICS.to_vec(),
            };
            let response = self.client.conversation_aggregates(&query).await?;
            merge_response(&mut out, &response, start_ms, end_ms);
        }
        Ok(out)
    }

    fn snapshot(&self, queues: Arc<QueueSet>, end: i64, midnight: i64) -> AggregatesSnapshot {
        let state = &self.state;
        let mut groups = Vec::new();
        for (i, q) in queues.queues.iter().enumerate() {
            let mut media: Vec<&str> = q.media_types.iter().map(String::as_str).collect();
            // Media types Genesys reports beyond the configured ones (e.g. after a change).
            let seen = state.counters.keys().chain(state.day_base.keys());
            let seen = seen.chain(state.buckets.values().flat_map(|g| g.keys()));
            for (id, m) in seen {
                if id == &q.id && !media.contains(&m.as_str()) {
                    media.push(m);
                }
            }
            media.sort_unstable();
            for m in media {
                let group = (q.id.clone(), m.to_string());
                let windows = self
                    .settings
                    .windows
                    .iter()
                    .map(|w| {
                        let from = match w {
                            Window::Last(d) => end - d.as_millis() as i64,
                            Window::Today => midnight,
                        };
                        let mut v = match w {
                            Window::Today => {
                                state.day_base.get(&group).copied().unwrap_or_default()
                            }
                            Window::Last(_) => Values::default(),
                        };
                        for groups in state.buckets.range(from..).map(|(_, g)| g) {
                            if let Some(b) = groups.get(&group) {
                                v.combine(b);
                            }
                        }
                        v
                    })
                    .collect();
                groups.push(GroupAggregates {
                    queue: i,
                    media_type: m.to_string(),
                    counters: state.counters.get(&group).copied().unwrap_or_default(),
                    windows,
                });
            }
        }
        AggregatesSnapshot {
            window_labels: self.settings.windows.iter().map(Window::label).collect(),
            queues,
            groups,
            export: self.settings.export.clone(),
        }
    }
}

/// Folds a response into `out`, keyed by bucket start. Buckets outside [start, end) or with an
/// unreadable interval are ignored.
pub(crate) fn merge_response(
    out: &mut Buckets,
    response: &ConversationAggregateQueryResponse,
    start_ms: i64,
    end_ms: i64,
) {
    for container in &response.results {
        let (Some(queue), Some(media)) = (
            container.group.get("queueId"),
            container.group.get("mediaType"),
        ) else {
            continue;
        };
        let group = (queue.clone(), media.to_ascii_lowercase());
        for bucket in &container.data {
            let Some(bucket_start) = interval_start_ms(&bucket.interval) else {
                tracing::debug!(interval = %bucket.interval, "unreadable aggregate interval");
                continue;
            };
            if bucket_start < start_ms || bucket_start >= end_ms {
                continue;
            }
            let mut v = Values::default();
            for m in &bucket.metrics {
                for (i, (metric, stat)) in QUANTITIES.iter().enumerate() {
                    if *metric != m.metric {
                        continue;
                    }
                    let s = &m.stats;
                    let x = match stat {
                        Stat::Count => s.count.map(|c| c as f64),
                        Stat::Sum => s.sum,
                        Stat::Max => s.max,
                        Stat::Numerator => s.numerator,
                        Stat::Denominator => s.denominator,
                    };
                    // Negative or NaN values are not statistics Genesys can mean.
                    v.0[i] = x.filter(|x| x.is_finite() && *x >= 0.0).unwrap_or(0.0);
                }
            }
            out.entry(bucket_start)
                .or_default()
                .entry(group.clone())
                .or_default()
                .combine(&v);
        }
    }
}

/// Collapses buckets into one total per group.
fn flatten(buckets: Buckets) -> HashMap<Group, Values> {
    let mut out: HashMap<Group, Values> = HashMap::new();
    for (_, groups) in buckets {
        for (g, v) in groups {
            out.entry(g).or_default().combine(&v);
        }
    }
    out
}

fn interval_start_ms(interval: &str) -> Option<i64> {
    let start = interval.split('/').next()?;
    DateTime::parse_from_rfc3339(start)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// ISO-8601 duration of a granularity: `PT5M`, `PT1H`, `PT30S`.
pub fn iso_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("PT{}H", s / 3600)
    } else if s % 60 == 0 {
        format!("PT{}M", s / 60)
    } else {
        format!("PT{s}S")
    }
}

/// The most recent local midnight at or before `now_ms`, in ms. A midnight that does not exist
/// (DST jumps at 00:00 in a few zones) falls to the earliest valid local time after it.
pub fn local_midnight_ms(now_ms: i64, tz: &Tz) -> i64 {
    let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else {
        return now_ms;
    };
    let local_date = now.with_timezone(tz).date_naive();
    let mut t = local_date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(m) = tz.from_local_datetime(&t).earliest() {
            return m.timestamp_millis();
        }
        t += chrono::Duration::minutes(30);
    }
    now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn local_midnight_in_a_zone_east_of_utc() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 22:50 UTC is 23:50 in Berlin: the day began at 23:00 UTC the day before.
        assert_eq!(
            local_midnight_ms(ms("2026-11-24T22:50:00Z"), &berlin),
            ms("2026-11-23T23:00:00Z")
        );
        // Ten minutes after Berlin's midnight.
        assert_eq!(
            local_midnight_ms(ms("2026-11-24T23:10:00Z"), &berlin),
            ms("2026-11-24T23:00:00Z")
        );
        // Summer time: UTC+2.
        assert_eq!(
            local_midnight_ms(ms("2026-07-01T12:00:00Z"), &berlin),
            ms("2026-06-30T22:00:00Z")
        );
    }

    #[test]
    fn intervals_and_durations_in_the_api_spelling() {
        assert_eq!(iso(ms("2026-11-24T10:05:00Z")), "2026-11-24T10:05:00.000Z");
        assert_eq!(iso_duration(Duration::from_secs(300)), "PT5M");
        assert_eq!(iso_duration(Duration::from_secs(3600)), "PT1H");
        assert_eq!(
            interval_start_ms("2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z"),
            Some(ms("2026-11-24T10:00:00Z"))
        );
        assert_eq!(interval_start_ms("garbage"), None);
        assert_eq!(Window::Last(Duration::from_secs(900)).label(), "15m");
        assert_eq!(Window::Last(Duration::from_secs(3600)).label(), "1h");
    }

    #[test]
    fn a_revised_bucket_grows_by_its_difference_and_never_shrinks() {
        let mut first = Values::default();
        first.0[0] = 5.0; // nOffered
        first.0[8] = 9000.0; // tHandle max
        let mut later = first;
        later.0[0] = 7.0;
        later.0[8] = 4000.0;
        let merged = first.revise(&later);
        assert_eq!(merged.0[0], 7.0);
        assert_eq!(merged.0[8], 9000.0, "a max never goes down");
        let growth = merged.growth_since(&first);
        assert_eq!(growth.0[0], 2.0);
        assert_eq!(growth.0[8], 0.0, "maxima are not counted");
        let shrunk = Values::default();
        assert_eq!(first.revise(&shrunk), first, "a lower revision is ignored");
    }

    #[test]
    fn no_conversations_means_no_service_level() {
        assert_eq!(service_level(&Values::default()), None);
        let mut v = Values::default();
        v.0[19] = 8.0;
        v.0[20] = 10.0;
        assert_eq!(service_level(&v), Some(0.8));
    }

    #[test]
    fn responses_fold_into_buckets_by_group() {
        let response: ConversationAggregateQueryResponse = serde_json::from_value(serde_json::json!({
            "results": [{"group": {"queueId": "q1", "mediaType": "voice"}, "data": [
                {"interval": "2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z", "metrics": [
                    {"metric": "nOffered", "stats": {"count": 4}},
                    {"metric": "tHandle", "stats": {"count": 2, "sum": 300000, "max": 200000, "min": 100000}},
                    {"metric": "oServiceLevel", "stats": {"ratio": 0.5, "numerator": 1, "denominator": 2, "target": 0.8}},
                    {"metric": "tNew", "stats": {"count": 9}}
                ]},
                {"interval": "2026-11-24T08:00:00.000Z/2026-11-24T08:05:00.000Z", "metrics": [
                    {"metric": "nOffered", "stats": {"count": 99}}
                ]}
            ]}]
        }))
        .unwrap();
        let mut out = Buckets::new();
        merge_response(
            &mut out,
            &response,
            ms("2026-11-24T09:00:00Z"),
            ms("2026-11-24T11:00:00Z"),
        );
        assert_eq!(
            out.len(),
            1,
            "the bucket outside the asked interval is ignored"
        );
        let v = out[&ms("2026-11-24T10:00:00Z")][&("q1".to_string(), "voice".to_string())];
        assert_eq!(v.0[0], 4.0);
        assert_eq!(
            COUNTED
                .iter()
                .find(|q| q.name == "handle_seconds")
                .unwrap()
                .value(&v),
            300.0
        );
        assert_eq!(WINDOW_MAXIMA[0].value(&v), 200.0);
        assert_eq!(service_level(&v), Some(0.5));
    }
}
