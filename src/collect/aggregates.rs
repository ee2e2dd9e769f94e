//! Rolling analytics: `POST /api/v2/analytics/conversations/aggregates/query` grouped by queue
//! and media type (and, with `--aggregates.by-direction`, `originatingDirection`), turned into
//! exactly-once counters and window gauges.
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
//!
//! When Genesys refuses one metric of the query (retired, renamed, not enabled for the org),
//! the whole query answers 400 (REFERENCE §8 item 11). The collector then leaves that metric
//! out and serves the rest: a 400 that names metrics of the query drops those; one that names
//! none is bisected (see [`AggregatesCollector::bisect`] for its cost). Refused metrics stay
//! out until the aggregates settings change or the process restarts; while out, their
//! families are not written, and when they come back their counters start again from 0, as a
//! new queue's do.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;

pub(crate) use self::models::{
    ConversationAggregateQueryResponse, ConversationAggregationQuery, ConversationAggregationView,
    CONVERSATION_AGGREGATES,
};
use super::queues::QueueSet;
use super::{
    batches, CollectError, Context, Poll, Published, Registration, Snapshot, Started,
    MAX_QUEUES_PER_QUERY,
};
use crate::clock::SharedClock;
use crate::genesys::models::QueryFilter;
use crate::genesys::{ApiError, GenesysClient};
use crate::metrics::catalog::family::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};
use crate::metrics::families::Memo;

mod flags;
mod histograms;
mod models;
mod quantities;

pub use histograms::HistogramSetting;
pub(crate) use histograms::HISTOGRAMS;
use histograms::{MAX_VIEWS, VIEWS_PER_QUERY};

pub use quantities::Quantity;
use quantities::Stat;
pub(crate) use quantities::{Exported, EXPORTED};

pub(crate) const REGISTRATION: Registration = Registration {
    name: "aggregates",
    polls: "refresh the analytics aggregates (counters and windows)",
    default_interval: "1m",
    disable: Some("Disable the analytics aggregates collector."),
    opt_in: false,
    org_wide: false,
    requests_per_poll: |settings, watched| {
        batches(watched) * own_settings(settings).queries_per_batch() as f64
    },
    cost_from_polls: false,
    background: true,
    flags: Some(&flags::FLAGS),
    endpoints: &[CONVERSATION_AGGREGATES],
    start,
    families: FAMILIES,
};

/// This collector's settings in `settings`; those of its flags' defaults if missing (they
/// never are: every registered collector's are parsed together).
fn own_settings(settings: &super::Settings) -> AggregatesSettings {
    settings
        .of::<AggregatesSettings>()
        .cloned()
        .unwrap_or_else(flags::defaults)
}

fn start(ctx: Context) -> Started {
    let spawner = ctx.spawner();
    let queues = ctx.queues().subscribe();
    spawner.spawn(AggregatesCollector::new(
        ctx.client,
        queues,
        ctx.interval,
        ctx.clock,
        ctx.live,
    ))
}

/// The metrics the first release asked for, in its order: kept so that the query stays the
/// same. Every other quantity's metric follows, in [`Quantity::ALL`]'s order.
const FIRST_ASKED: &[&str] = &[
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

/// The metrics the query asks for: each quantity's source metric, once.
pub(crate) fn metrics() -> Vec<&'static str> {
    let sources = Quantity::ALL.map(|q| q.source().0);
    let mut out: Vec<&'static str> = FIRST_ASKED
        .iter()
        .copied()
        .filter(|m| sources.contains(m))
        .collect();
    for metric in sources {
        if !out.contains(&metric) {
            out.push(metric);
        }
    }
    out
}

/// Statistics of one (queue, media type) over a bucket or a span, indexed by [`Quantity`],
/// and the counts of the histograms' views, by slot ([`histograms::slots`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values {
    quantities: [f64; Quantity::ALL.len()],
    /// Counts of conversations, whole numbers: 4 bytes each keep a bucket's memory small
    /// (at 5,000 queues the look-back holds some 300,000 of them).
    views: [u32; MAX_VIEWS],
}

impl Default for Values {
    fn default() -> Self {
        Values {
            quantities: [0.0; Quantity::ALL.len()],
            views: [0; MAX_VIEWS],
        }
    }
}

impl std::ops::Index<Quantity> for Values {
    type Output = f64;
    fn index(&self, q: Quantity) -> &f64 {
        // `Quantity` is a fieldless enum whose variants count up from 0 in `ALL`'s order.
        &self.quantities[q as usize]
    }
}

impl std::ops::IndexMut<Quantity> for Values {
    fn index_mut(&mut self, q: Quantity) -> &mut f64 {
        &mut self.quantities[q as usize]
    }
}

impl Values {
    /// The count of the view in `slot` (0 for a slot out of range).
    #[must_use]
    pub fn view(&self, slot: usize) -> u32 {
        self.views.get(slot).copied().unwrap_or(0)
    }

    /// Sets the count of the view in `slot` (ignored out of range).
    pub fn set_view(&mut self, slot: usize, count: u32) {
        if let Some(v) = self.views.get_mut(slot) {
            *v = count;
        }
    }

    /// Combines two spans: sums and counts add, maxima take the larger.
    pub(crate) fn combine(&mut self, other: &Values) {
        for q in Quantity::ALL {
            if q.additive() {
                self[q] += other[q];
            } else {
                self[q] = self[q].max(other[q]);
            }
        }
        for (v, o) in self.views.iter_mut().zip(other.views) {
            *v = v.saturating_add(o);
        }
    }

    /// The same bucket seen again: Genesys only adds late completions, so each field keeps
    /// its larger value (a counter never goes down, even if Genesys revised one down).
    fn revise(&self, newer: &Values) -> Values {
        let mut v = *self;
        for q in Quantity::ALL {
            v[q] = v[q].max(newer[q]);
        }
        for (v, n) in v.views.iter_mut().zip(newer.views) {
            *v = (*v).max(n);
        }
        v
    }

    /// Growth of the additive fields from `older` to `self` (never negative).
    fn growth_since(&self, older: &Values) -> Values {
        let mut v = Values::default();
        for q in Quantity::ALL.into_iter().filter(|q| q.additive()) {
            v[q] = (self[q] - older[q]).max(0.0);
        }
        for ((v, new), old) in v.views.iter_mut().zip(self.views).zip(older.views) {
            *v = new.saturating_sub(old);
        }
        v
    }
}

/// The service level over a window, from the rows' numerator and denominator.
const SERVICE_LEVEL_RATIO: Family = Family {
    name: "genesys_window_service_level_ratio",
    kind: Kind::Gauge,
    unit: Some("ratio"),
    help: "Service level over the window as Genesys defines it (oServiceLevel): answered within the threshold / (answered + abandoned, short abandons excluded); absent without conversations.",
    labels: &["queue_id", "queue", "media_type", "window"],
};

const REFUSED_HISTOGRAM: Family = Family {
    name: "genesys_aggregates_refused_histogram",
    kind: Kind::Gauge,
    unit: None,
    help: "1 per histogram not served because Genesys refused the aggregates query's views (a 400 that the same query without views does not get); the counters are served as before. Until the aggregates settings change or a restart.",
    labels: &["histogram"],
};

const REFUSED_METRIC: Family = Family {
    name: "genesys_aggregates_refused_metric",
    kind: Kind::Gauge,
    unit: None,
    help: "1 per Genesys metric the aggregates query leaves out because Genesys refused it (a 400); the families read from it are not served until the aggregates settings change or a restart.",
    labels: &["metric"],
};

/// This collector's families in the order a scrape writes them, for the catalog: the
/// counters, the window gauges, the service level, the histograms (each since start, then
/// today), the refused metrics and histograms.
///
/// They carry `queue_id` and `queue` only with `--aggregates.by=queue` (the default); with
/// `--aggregates.by=media_type` they are summed over queues and drop both. With
/// `--aggregates.by-direction` they carry a `direction` label after `media_type` (not listed
/// here: the default body has none).
pub(crate) const FAMILIES: &[&Family] = &FAMILY_ARRAY;

const FAMILY_ARRAY: [&Family; family_count()] = families();

const fn family_count() -> usize {
    let mut n = 3 + 2 * HISTOGRAMS.len();
    let mut i = 0;
    while i < EXPORTED.len() {
        n += if EXPORTED[i].counter.is_some() { 2 } else { 1 };
        i += 1;
    }
    n
}

const fn families<const N: usize>() -> [&'static Family; N] {
    let mut out = [&REFUSED_METRIC; N];
    let mut k = 0;
    let mut i = 0;
    while i < EXPORTED.len() {
        if let Some(counter) = EXPORTED[i].counter {
            out[k] = counter;
            k += 1;
        }
        i += 1;
    }
    i = 0;
    while i < EXPORTED.len() {
        out[k] = EXPORTED[i].window;
        k += 1;
        i += 1;
    }
    out[k] = &SERVICE_LEVEL_RATIO;
    k += 1;
    i = 0;
    while i < HISTOGRAMS.len() {
        out[k] = HISTOGRAMS[i].family;
        out[k + 1] = HISTOGRAMS[i].today;
        k += 2;
        i += 1;
    }
    out[k] = &REFUSED_METRIC;
    out[k + 1] = &REFUSED_HISTOGRAM;
    assert!(k + 2 == N);
    out
}

/// Service level over a span: Genesys' oServiceLevel, numerator over denominator; `None` when
/// nothing was answered or abandoned (no conversations is no service level, not 100%).
#[must_use]
pub(crate) fn service_level(v: &Values) -> Option<f64> {
    let (num, den) = (
        v[Quantity::ServiceLevelNumerator],
        v[Quantity::ServiceLevelDenominator],
    );
    (den > 0.0).then(|| (num / den).clamp(0.0, 1.0))
}

/// A reporting window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Window {
    /// The most recent buckets covering this span (the last one still filling).
    Last(Duration),
    /// Since local midnight in the configured time zone.
    Today,
}

impl Window {
    #[must_use]
    pub(crate) fn label(&self) -> String {
        match self {
            Window::Today => "today".to_string(),
            Window::Last(d) => format_duration(*d),
        }
    }
}

/// A duration in its largest whole unit: (count, `H`, `M` or `S`).
fn whole_units(d: Duration) -> (u64, char) {
    let s = d.as_secs();
    if s % 3600 == 0 {
        (s / 3600, 'H')
    } else if s % 60 == 0 {
        (s / 60, 'M')
    } else {
        (s, 'S')
    }
}

/// `15m`, `1h`, `90m`: the label spelling of a window.
fn format_duration(d: Duration) -> String {
    let (n, unit) = whole_units(d);
    format!("{n}{}", unit.to_ascii_lowercase())
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AggregatesSettings {
    pub(crate) granularity: Duration,
    pub(crate) lookback: Duration,
    pub(crate) windows: Vec<Window>,
    pub(crate) timezone: Tz,
    /// Group by `originatingDirection` too (`--aggregates.by-direction`): a `direction` label.
    pub(crate) by_direction: bool,
    /// What is exported of it: changing this alone keeps the counters.
    pub(crate) export: AggregatesExport,
    /// The histograms and their bounds (`--aggregates.histograms`, `--aggregates.*-buckets`),
    /// in [`HISTOGRAMS`]' order: changing them starts the histograms again from 0, and keeps
    /// the counters.
    pub(crate) histograms: Vec<HistogramSetting>,
}

impl AggregatesSettings {
    /// Requests per batch of queues: the query, and one more per 10 views beyond its own 10.
    #[must_use]
    pub(crate) fn queries_per_batch(&self) -> usize {
        let views: usize = self.histograms.iter().map(|h| h.bounds.len()).sum();
        1 + views.saturating_sub(1) / VIEWS_PER_QUERY
    }

    /// Whether `other` asks Genesys the same questions (then the counters carry on).
    fn same_queries(&self, other: &AggregatesSettings) -> bool {
        self.granularity == other.granularity
            && self.lookback == other.lookback
            && self.windows == other.windows
            && self.timezone == other.timezone
            && self.by_direction == other.by_direction
    }
}

/// Cardinality controls for the analytics series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatesExport {
    /// Labels `queue_id` and `queue` (true), or media type only, summed over queues (false).
    pub(crate) by_queue: bool,
    /// Names from [`exportable`] to export.
    pub(crate) selected: Vec<&'static str>,
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
    #[must_use]
    pub(crate) fn exports(&self, name: &str) -> bool {
        self.selected.contains(&name)
    }
}

/// Every analytics quantity that can be exported: the counted ones (as counters and window
/// gauges), and the window-only maxima and service level ratio.
pub fn exportable() -> Vec<&'static str> {
    EXPORTED
        .iter()
        .map(Exported::name)
        .chain(["service_level_ratio"])
        .collect()
}

/// What `--aggregates.metrics=default` (the default) exports: all but the opt-in quantities.
pub fn exported_by_default() -> Vec<&'static str> {
    EXPORTED
        .iter()
        .filter(|e| !e.opt_in)
        .map(Exported::name)
        .chain(["service_level_ratio"])
        .collect()
}

/// Statistics of one watched (queue, media type).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAggregates {
    pub queue: usize,
    pub media_type: String,
    /// `originatingDirection` (`inbound`, `outbound`), with `--aggregates.by-direction` only.
    pub direction: Option<String>,
    /// Since the process started (additive fields only).
    pub counters: Values,
    /// One per configured window, in the same order.
    pub windows: Vec<Values>,
    /// What `counters` held when the histograms' views were last baselined: a histogram's
    /// `_count` and `_sum` since start are `counters` less this, so that they count what its
    /// buckets count (0 unless the views started later than the counters).
    pub histogram_base: Values,
}

#[derive(Debug, Clone)]
pub struct AggregatesSnapshot {
    pub queues: Arc<QueueSet>,
    pub window_labels: Vec<String>,
    pub groups: Vec<GroupAggregates>,
    pub export: AggregatesExport,
    /// Genesys metrics the query leaves out because Genesys refused them: the families read
    /// from them are not written.
    pub refused: Vec<&'static str>,
    /// The histograms written, each with the slot of its first bound's view.
    pub histograms: Vec<(HistogramSetting, usize)>,
    /// Which of `window_labels` is `today`: its window values hold the `today` histograms.
    pub today: Option<usize>,
    /// Histograms configured but not written because Genesys refused the views.
    pub refused_histograms: Vec<&'static str>,
}

/// Queue id, media type (lower case) and, when grouped by it, `originatingDirection`.
type Group = (String, String, Option<String>);

/// The directions every (queue, media type) shows with `--aggregates.by-direction`, at 0 when
/// none of its conversations went that way.
const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
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
    /// The metrics the last refresh asked for: one asked again after a refusal starts from a
    /// new baseline.
    asked: Vec<&'static str>,
    /// The view slots the last refresh asked for, likewise.
    asked_views: Vec<usize>,
    /// The counters when views last started from a baseline (see
    /// [`GroupAggregates::histogram_base`]); absent for a group means 0.
    histogram_base: HashMap<Group, Values>,
}

impl State {
    /// Forgets every view count (the histograms' settings changed: their slots mean other
    /// buckets now); the next refresh is their baseline, as a new queue's.
    fn forget_views(&mut self) {
        let spans = self.buckets.values_mut().flat_map(HashMap::values_mut);
        for v in spans.chain(self.counters.values_mut()).chain(self.day_base.values_mut()) {
            v.views = [0; MAX_VIEWS];
        }
        self.asked_views.clear();
    }
}

pub(crate) struct AggregatesCollector {
    pub(crate) client: GenesysClient,
    pub(crate) queues: watch::Receiver<Published<QueueSet>>,
    pub(crate) first_queues_wait: Duration,
    pub(crate) clock: SharedClock,
    settings: AggregatesSettings,
    /// New settings from a config reload.
    updates: watch::Receiver<Arc<super::Settings>>,
    state: State,
    /// Metrics Genesys refused under the current settings: left out of every query.
    refused: BTreeSet<&'static str>,
    /// A bisection under the current settings found no refused metric: later 400s fail the
    /// poll without another one, until a poll succeeds or the settings change.
    fruitless: bool,
    /// Genesys refused the views under the current settings: the queries carry none, and the
    /// histograms are not served, until the settings change.
    views_refused: bool,
}

/// Why a refresh failed: a 400 (perhaps for one of the query's metrics), with the query that
/// got it, or anything else (transient or not, never a reason to drop a metric).
enum Failure {
    Refused {
        query: ConversationAggregationQuery,
        error: ApiError,
        /// The query asked for views only (the batch's main query, with its metrics, had
        /// been answered): the views are what Genesys refused.
        views_only: bool,
    },
    Other(CollectError),
}

impl From<CollectError> for Failure {
    fn from(e: CollectError) -> Failure {
        Failure::Other(e)
    }
}

/// Whether `word` is a whole word of what a 400 said (its message or its other strings):
/// `tAnswered` in "metrics value 'tAnswered' is not valid", not in "tAnsweredX".
fn names(error: &ApiError, word: &str) -> bool {
    let ApiError::Status {
        message, context, ..
    } = error
    else {
        return false;
    };
    std::iter::once(message).chain(context).any(|text| {
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == word)
    })
}

/// The metrics of `asked` a 400 names; none when it names every one (a list of the allowed
/// ones, say, names none of them).
fn named_metrics(error: &ApiError, asked: &[&'static str]) -> Vec<&'static str> {
    let named: Vec<&'static str> = asked.iter().copied().filter(|m| names(error, m)).collect();
    if named.len() < asked.len() {
        named
    } else {
        Vec::new()
    }
}

/// Most probes one bisection of `n` metrics sends: twice ⌈log2 n⌉, the cost of one refused
/// metric (both halves of each split are asked), twice over, so that two refused metrics are
/// found in one go; 20 for the 27 metrics of the query.
fn probe_limit(n: usize) -> usize {
    let levels = usize::BITS - n.saturating_sub(1).leading_zeros();
    4 * usize::try_from(levels).unwrap_or(usize::MAX).max(1)
}

impl AggregatesCollector {
    pub(crate) fn new(
        client: GenesysClient,
        queues: watch::Receiver<Published<QueueSet>>,
        first_queues_wait: Duration,
        clock: SharedClock,
        mut updates: watch::Receiver<Arc<super::Settings>>,
    ) -> AggregatesCollector {
        let settings = own_settings(&updates.borrow_and_update());
        AggregatesCollector {
            client,
            queues,
            first_queues_wait,
            clock,
            settings,
            updates,
            state: State::default(),
            refused: BTreeSet::new(),
            fruitless: false,
            views_refused: false,
        }
    }
}

impl Poll for AggregatesCollector {
    type Snapshot = AggregatesSnapshot;

    async fn poll(&mut self) -> Result<AggregatesSnapshot, CollectError> {
        let queues = super::wait_for_queues(&mut self.queues, self.first_queues_wait).await?;
        if self.updates.has_changed().unwrap_or(false) {
            let settings = own_settings(&self.updates.borrow_and_update());
            if settings != self.settings {
                // Changing the configuration is how an operator asks again (after enabling
                // the metric for the org, say); otherwise it stays out until a restart.
                if !self.refused.is_empty() {
                    tracing::info!(
                        metrics = %self.refused.iter().copied().collect::<Vec<_>>().join(","),
                        "aggregates settings changed; asking Genesys for the refused metrics again"
                    );
                }
                self.refused.clear();
                self.fruitless = false;
                self.views_refused = false;
            }
            if !settings.same_queries(&self.settings) {
                // Other buckets or windows: start over from a new baseline (a counter reset).
                tracing::info!("aggregates settings changed; counters start from a new baseline");
                self.state = State::default();
            } else if settings.histograms != self.settings.histograms {
                tracing::info!(
                    "aggregates histograms changed; they start from a new baseline, the \
                     counters carry on"
                );
                self.state.forget_views();
            }
            self.settings = settings;
        }
        // Each round that does not end the poll refuses at least one more metric of a finite
        // list, and never all of them: the loop ends.
        loop {
            let (query, error) = match self.refresh(queues.clone()).await {
                Ok(snapshot) => {
                    self.fruitless = false;
                    return Ok(snapshot);
                }
                Err(Failure::Other(e)) => return Err(e),
                Err(Failure::Refused {
                    query,
                    error,
                    views_only,
                }) => {
                    if self.views_at_fault(&query, &error, views_only).await? {
                        self.views_refused = true;
                        tracing::warn!(
                            error = %error,
                            "Genesys refused the aggregates query's views; the histograms are \
                             not served until the aggregates settings change or a restart, \
                             the counters are"
                        );
                        continue;
                    }
                    let query = ConversationAggregationQuery {
                        views: Vec::new(),
                        ..query
                    };
                    (query, error)
                }
            };
            let Some(found) = self.find_refused(&query, &error).await? else {
                return Err(error.into());
            };
            self.refused.extend(found);
            tracing::warn!(
                refused = %self.refused.iter().copied().collect::<Vec<_>>().join(","),
                error = %error,
                "Genesys refused analytics metrics; the aggregates query leaves them out until \
                 the aggregates settings change or a restart, and their series are not served"
            );
        }
    }
}

/// What one refresh asks Genesys: the watched queues, the metrics not refused and the view
/// slots.
struct Asking<'a> {
    ids: &'a [&'a str],
    metrics: &'a [&'static str],
    views: &'a [usize],
}

/// What of a response [`merge_response`] reads: the metrics' statistics (not for a query
/// asked for its views only) and the views, by name, into their slots.
pub(crate) struct Read<'a> {
    pub(crate) metrics: bool,
    pub(crate) views: &'a [(usize, ConversationAggregationView)],
}

#[cfg(test)]
impl Read<'_> {
    /// The metrics of a query without views.
    pub(crate) const METRICS: Read<'static> = Read {
        metrics: true,
        views: &[],
    };
}

impl AggregatesCollector {
    /// Whether the 400 `error` to `refused` is about its views: it was a query for views
    /// only (its batch's metrics were just answered), or its answer speaks of views, or it
    /// names none of the query's metrics and the same query without views is answered. A
    /// 400 that names metrics is theirs (found as before, by name); one that a query
    /// without views gets too is the metrics' or the query's (bisected as before, without
    /// views). After a fruitless bisection, the probe is not sent again (as the bisection
    /// is not) until a poll succeeds or the settings change.
    async fn views_at_fault(
        &self,
        refused: &ConversationAggregationQuery,
        error: &ApiError,
        views_only: bool,
    ) -> Result<bool, CollectError> {
        if refused.views.is_empty() {
            return Ok(false);
        }
        if views_only || names(error, "views") || names(error, "view") {
            return Ok(true);
        }
        if !named_metrics(error, &refused.metrics).is_empty() || self.fruitless {
            return Ok(false);
        }
        let probe = ConversationAggregationQuery {
            views: Vec::new(),
            ..refused.clone()
        };
        match self.client.send(&probe).await {
            Ok(_) => Ok(true),
            Err(ApiError::Status { status: 400, .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The view slots the queries ask for: every configured histogram's, unless Genesys
    /// refused the views or the histogram's timer.
    fn asked_views(&self) -> Vec<usize> {
        if self.views_refused {
            return Vec::new();
        }
        histograms::slots(&self.settings.histograms)
            .into_iter()
            .enumerate()
            .filter(|(_, (h, _))| {
                !self
                    .refused
                    .contains(self.settings.histograms[*h].histogram.target)
            })
            .map(|(slot, _)| slot)
            .collect()
    }

    /// The metrics the query asks for: all but the refused ones.
    fn asked(&self) -> Vec<&'static str> {
        metrics()
            .into_iter()
            .filter(|m| !self.refused.contains(m))
            .collect()
    }

    /// The metrics a refused query's 400 is about, if they can be told: those of its metrics
    /// the answer names, or else those a bisection finds. `None` when the refusal is not
    /// about metrics (or cannot be pinned on some of them): the poll then fails as before.
    async fn find_refused(
        &mut self,
        failed: &ConversationAggregationQuery,
        error: &ApiError,
    ) -> Result<Option<Vec<&'static str>>, CollectError> {
        let named = named_metrics(error, &failed.metrics);
        if !named.is_empty() {
            return Ok(Some(named));
        }
        if self.fruitless {
            return Ok(None);
        }
        let found = self.bisect(failed).await?;
        if found.is_none() {
            tracing::info!(
                error = %error,
                "the aggregates query's 400 is not about one of its metrics; not bisecting \
                 again until a poll succeeds or the settings change"
            );
        }
        self.fruitless = found.is_none();
        Ok(found)
    }

    /// Finds the metrics of `failed` Genesys refuses by asking the same query with halves of
    /// its metrics: a half that succeeds is fine, a half that is refused is split again, a
    /// single metric refused alone is refused. Cost: both halves of every split are asked, so
    /// one refused metric among n costs 2·⌈log2 n⌉ requests (10 for the 27 metrics), k of
    /// them at most k times that; never more than [`probe_limit`] (20), after which nothing
    /// is found. Only a 400 leads here (a 5xx, a 429 or a timeout fails the poll as before),
    /// and a fruitless bisection is not repeated until a poll succeeds, so it is rare: the
    /// budget plan does not count it.
    ///
    /// `None` unless some half succeeded (else the 400 is about the query's shape, not its
    /// metrics) and some but not all metrics were refused.
    async fn bisect(
        &self,
        failed: &ConversationAggregationQuery,
    ) -> Result<Option<Vec<&'static str>>, CollectError> {
        let all = &failed.metrics;
        let limit = probe_limit(all.len());
        let mut probes = 0;
        let mut some_succeeded = false;
        let mut refused = Vec::new();
        // Metric sets known to be refused.
        let mut refused_sets = vec![all.clone()];
        while let Some(set) = refused_sets.pop() {
            if let [metric] = set[..] {
                refused.push(metric);
                continue;
            }
            let (a, b) = set.split_at(set.len() / 2);
            for half in [a, b] {
                if probes == limit {
                    tracing::debug!(probes, "aggregates bisection gave up");
                    return Ok(None);
                }
                probes += 1;
                let probe = ConversationAggregationQuery {
                    metrics: half.to_vec(),
                    ..failed.clone()
                };
                match self.client.send(&probe).await {
                    Ok(_) => some_succeeded = true,
                    Err(ApiError::Status { status: 400, .. }) => refused_sets.push(half.to_vec()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        tracing::debug!(probes, refused = ?refused, "aggregates bisection done");
        refused.sort_unstable();
        Ok((some_succeeded && !refused.is_empty() && refused.len() < all.len()).then_some(refused))
    }

    /// One refresh: every request first, then the state changes only once all of them
    /// succeeded (a refused query leaves it as it was, for the retry without the metric).
    async fn refresh(&mut self, queues: Arc<QueueSet>) -> Result<AggregatesSnapshot, Failure> {
        let now = self.clock.now_ms();
        let gran = crate::clock::millis(self.settings.granularity);
        let end = (now.div_euclid(gran) + 1) * gran;
        let start = end - crate::clock::millis(self.settings.lookback);
        let midnight = local_midnight_ms(now, &self.settings.timezone);
        let ids: Vec<&str> = queues.queues.iter().map(|q| q.id.as_str()).collect();
        let asked = self.asked();
        let views = self.asked_views();
        // Quantities of metrics asked again (after a refusal, with the same queries): like a
        // new queue's, this refresh is their baseline, and today's base is asked afresh (the
        // cached one lacks them).
        let returning: Vec<Quantity> = if self.state.covered_until_ms.is_some() {
            Quantity::ALL
                .into_iter()
                .filter(|q| {
                    let metric = q.source().0;
                    asked.contains(&metric) && !self.state.asked.contains(&metric)
                })
                .collect()
        } else {
            Vec::new()
        };
        // Views asked again (or for the first time under these histograms) likewise.
        let returning_views: Vec<usize> = if self.state.covered_until_ms.is_some() {
            views
                .iter()
                .copied()
                .filter(|slot| !self.state.asked_views.contains(slot))
                .collect()
        } else {
            Vec::new()
        };
        let not_returning = |mut v: Values| {
            for q in &returning {
                v[*q] = 0.0;
            }
            for slot in &returning_views {
                v.set_view(*slot, 0);
            }
            v
        };
        let asking = Asking {
            ids: &ids,
            metrics: &asked,
            views: &views,
        };

        let fresh = self
            .query(&asking, start, end, Some(self.settings.granularity))
            .await?;
        let new_queue = ids.iter().any(|id| !self.state.baselined.contains(*id));
        let gap = self.state.covered_until_ms.is_some_and(|c| c < start);
        let rebase_day = self.state.midnight_ms != Some(midnight)
            || gap
            || new_queue
            || !returning.is_empty()
            || !returning_views.is_empty();
        let day_base = if rebase_day && midnight < start {
            Some(flatten(self.query(&asking, midnight, start, None).await?))
        } else if rebase_day {
            Some(HashMap::new())
        } else {
            None
        };
        // Down for longer than the look-back: what happened in between is counted once, late.
        let missed = match self.state.covered_until_ms {
            Some(c) if c < start => Some(flatten(self.query(&asking, c, start, None).await?)),
            _ => None,
        };

        let state = &mut self.state;
        for counters in state.counters.values_mut() {
            *counters = not_returning(*counters);
        }
        if let Some(missed) = missed {
            for (group, v) in missed {
                if state.baselined.contains(&group.0) {
                    state
                        .counters
                        .entry(group)
                        .or_default()
                        .combine(&not_returning(v.growth_since(&Values::default())));
                }
            }
        }
        let rebased = day_base.is_some();
        if let Some(base) = day_base {
            state.midnight_ms = Some(midnight);
            state.day_base = base;
        }
        // Buckets leaving the look-back: their final values join today's base, unless the
        // base was just asked for afresh (it already holds everything before `start`). Their
        // maps, emptied, hold the buckets that enter (as many, once the look-back is full):
        // a bucket's map of every group is megabytes at 5,000 queues, and one freed and
        // another grown every granularity step showed in the resident size.
        let kept = state.buckets.split_off(&start);
        let mut emptied = Vec::new();
        for (bucket, mut groups) in std::mem::replace(&mut state.buckets, kept) {
            if !rebased && bucket >= midnight {
                for (group, v) in groups.drain() {
                    state.day_base.entry(group).or_default().combine(&v);
                }
            }
            groups.clear();
            emptied.push(groups);
        }
        for (bucket, groups) in fresh {
            let cached = state
                .buckets
                .entry(bucket)
                .or_insert_with(|| emptied.pop().unwrap_or_default());
            for (group, seen) in groups {
                let before = cached.get(&group).copied().unwrap_or_default();
                let after = before.revise(&seen);
                if state.baselined.contains(&group.0) {
                    state
                        .counters
                        .entry(group.clone())
                        .or_default()
                        .combine(&not_returning(after.growth_since(&before)));
                }
                cached.insert(group, after);
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
        if !returning_views.is_empty() {
            // The views count from here on; the histograms' counts must too.
            state.histogram_base = state.counters.clone();
        }
        state.histogram_base.retain(|g, _| watched.contains(g.0.as_str()));
        state.covered_until_ms = Some(end);
        state.asked = asked;
        state.asked_views = views;

        Ok(self.snapshot(queues, end, midnight))
    }

    /// The buckets of `[start_ms, end_ms)` at `granularity` (one bucket when `None`) for the
    /// queues, metrics and views of `asking`: per batch of queues, the query with its
    /// metrics and its first 10 views, then one query per further 10 views (with their
    /// timers as its metrics, whose statistics are not read again).
    async fn query(
        &self,
        asking: &Asking<'_>,
        start_ms: i64,
        end_ms: i64,
        granularity: Option<Duration>,
    ) -> Result<Buckets, Failure> {
        let views: Vec<(usize, ConversationAggregationView)> = {
            let slots = histograms::slots(&self.settings.histograms);
            asking
                .views
                .iter()
                .filter_map(|&slot| {
                    let &(h, i) = slots.get(slot)?;
                    Some((slot, self.settings.histograms[h].view(i)))
                })
                .collect()
        };
        let mut chunks: Vec<&[(usize, ConversationAggregationView)]> =
            views.chunks(VIEWS_PER_QUERY).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let mut out = Buckets::new();
        for batch in asking.ids.chunks(MAX_QUEUES_PER_QUERY) {
            // One batch of queues at a time, so that what is dropped as settled is never
            // held for more than one batch.
            let mut part = Buckets::new();
            let mut group_by = vec!["queueId", "mediaType"];
            if self.settings.by_direction {
                group_by.push("originatingDirection");
            }
            for (n, chunk) in chunks.iter().enumerate() {
                let main = n == 0;
                let metrics = if main {
                    asking.metrics.to_vec()
                } else {
                    let mut targets: Vec<&'static str> =
                        chunk.iter().map(|(_, v)| v.target).collect();
                    targets.dedup();
                    targets
                };
                let query = ConversationAggregationQuery {
                    interval: format!("{}/{}", iso(start_ms), iso(end_ms)),
                    granularity: granularity.map(iso_duration),
                    group_by: group_by.clone(),
                    filter: QueryFilter::any_queue(batch.iter().copied()),
                    metrics,
                    views: chunk.iter().map(|(_, v)| v.clone()).collect(),
                };
                let response = match self.client.send(&query).await {
                    Ok(r) => r,
                    Err(error @ ApiError::Status { status: 400, .. }) => {
                        return Err(Failure::Refused {
                            query,
                            error,
                            views_only: !main,
                        })
                    }
                    Err(e) => return Err(CollectError::from(e).into()),
                };
                let read = Read {
                    metrics: main,
                    views: chunk,
                };
                merge_response(&mut part, &response, start_ms, end_ms, &read);
            }
            if granularity.is_some() {
                drop_settled(&self.state.buckets, &mut part);
            }
            for (bucket, groups) in part {
                out.entry(bucket).or_default().extend(groups);
            }
        }
        Ok(out)
    }

    fn snapshot(&self, queues: Arc<QueueSet>, end: i64, midnight: i64) -> AggregatesSnapshot {
        let state = &self.state;
        // Media types and directions Genesys reported per queue, beyond the configured ones
        // (e.g. after a change): one pass over every known group, not one per queue.
        let mut reported: HashMap<&str, (BTreeSet<&str>, BTreeSet<Option<&str>>)> = HashMap::new();
        let seen = state.counters.keys().chain(state.day_base.keys());
        for (id, m, d) in seen.chain(state.buckets.values().flat_map(|g| g.keys())) {
            let (media, directions) = reported.entry(id.as_str()).or_default();
            media.insert(m.as_str());
            directions.insert(d.as_deref());
        }
        let mut groups = Vec::new();
        for (i, q) in queues.queues.iter().enumerate() {
            let mut media: Vec<&str> = q.media_types.iter().map(String::as_str).collect();
            let mut directions: Vec<Option<&str>> = if self.settings.by_direction {
                DIRECTIONS.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            if let Some((m, d)) = reported.get(q.id.as_str()) {
                media.extend(m.iter().copied());
                directions.extend(d.iter().copied());
            }
            media.sort_unstable();
            media.dedup();
            directions.sort_unstable();
            directions.dedup();
            let pairs = media
                .iter()
                .flat_map(|m| directions.iter().map(move |d| (*m, *d)));
            for (m, d) in pairs {
                let group = (q.id.clone(), m.to_string(), d.map(str::to_string));
                let windows = self
                    .settings
                    .windows
                    .iter()
                    .map(|w| {
                        let from = match w {
                            Window::Last(d) => end - crate::clock::millis(*d),
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
                    direction: d.map(str::to_string),
                    counters: state.counters.get(&group).copied().unwrap_or_default(),
                    histogram_base: state.histogram_base.get(&group).copied().unwrap_or_default(),
                    windows,
                });
            }
        }
        // A histogram is written when every one of its views was asked.
        let asked = &state.asked_views;
        let mut histograms = Vec::new();
        let mut refused_histograms = Vec::new();
        let mut first = 0;
        for h in &self.settings.histograms {
            let slots = first..first + h.bounds.len();
            if slots.clone().all(|slot| asked.contains(&slot)) {
                histograms.push((h.clone(), first));
            } else if self.views_refused {
                refused_histograms.push(h.histogram.family.name);
            }
            first = slots.end;
        }
        AggregatesSnapshot {
            window_labels: self.settings.windows.iter().map(Window::label).collect(),
            queues,
            groups,
            export: self.settings.export.clone(),
            refused: self.refused.iter().copied().collect(),
            histograms,
            today: self.settings.windows.iter().position(|w| *w == Window::Today),
            refused_histograms,
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
    read: &Read<'_>,
) {
    for container in &response.results {
        let (Some(queue), Some(media)) = (
            container.group.get("queueId"),
            container.group.get("mediaType"),
        ) else {
            continue;
        };
        let direction = container
            .group
            .get("originatingDirection")
            .map(|d| d.to_ascii_lowercase());
        let group = (queue.clone(), media.to_ascii_lowercase(), direction);
        for bucket in &container.data {
            let Some(bucket_start) = interval_start_ms(&bucket.interval) else {
                tracing::debug!(interval = %bucket.interval, "unreadable aggregate interval");
                continue;
            };
            if bucket_start < start_ms || bucket_start >= end_ms {
                continue;
            }
            let mut v = Values::default();
            let metrics = bucket.metrics.iter().filter(|_| read.metrics);
            for m in metrics {
                for q in Quantity::ALL {
                    let (metric, stat) = q.source();
                    if metric != m.metric {
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
                    v[q] = x.filter(|x| x.is_finite() && *x >= 0.0).unwrap_or(0.0);
                }
            }
            // A view missing from a bucket counted nothing there; one of another name is not
            // one this query asked for.
            for view in &bucket.views {
                let Some((slot, _)) = read.views.iter().find(|(_, v)| v.name == view.name) else {
                    continue;
                };
                let count = view.stats.count.filter(|c| *c >= 0).unwrap_or(0);
                v.set_view(*slot, u32::try_from(count).unwrap_or(u32::MAX));
            }
            out.entry(bucket_start)
                .or_default()
                .entry(group.clone())
                .or_default()
                .combine(&v);
        }
    }
}

/// Leaves out of `part` each bucket's group that adds nothing to what `cache` (the look-back)
/// holds of it (Genesys only grows a bucket, [`Values::revise`]). Most of a 2 h look-back is
/// settled, so a refresh then holds what changed beside the look-back rather than a second
/// copy of it. Dropping them changes no count: the refresh would find them equal to the
/// cache, and count no growth.
fn drop_settled(cache: &Buckets, part: &mut Buckets) {
    for (bucket, groups) in part.iter_mut() {
        let Some(cached) = cache.get(bucket) else {
            continue;
        };
        groups.retain(|group, seen| cached.get(group).is_none_or(|c| c.revise(seen) != *c));
    }
    part.retain(|_, groups| !groups.is_empty());
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
#[must_use]
pub(crate) fn iso_duration(d: Duration) -> String {
    let (n, unit) = whole_units(d);
    format!("PT{n}{unit}")
}

/// The most recent local midnight at or before `now_ms`, in ms. A midnight that does not exist
/// (DST jumps at 00:00 in a few zones) falls to the earliest valid local time after it.
#[must_use]
pub(crate) fn local_midnight_ms(now_ms: i64, tz: &Tz) -> i64 {
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

/// One exported row of analytics: its labels, counters and window values.
struct AggregateRow<'a> {
    labels: Labels,
    counters: Values,
    histogram_base: Values,
    windows: Cow<'a, [Values]>,
}

/// Per queue and media type, or (`--aggregates.by=media_type`) per media type summed over
/// queues: sums add, maxima take the largest, service levels pool numerators and denominators.
fn aggregate_rows(snap: &AggregatesSnapshot) -> Vec<AggregateRow<'_>> {
    if snap.export.by_queue {
        let queues = snap.queues.labels();
        let mut media = Memo::new("media_type");
        let mut direction = Memo::new("direction");
        return snap
            .groups
            .iter()
            .map(|g| {
                let mut labels = queues[g.queue].join(media.get(&g.media_type));
                if let Some(d) = &g.direction {
                    labels = labels.join(direction.get(d));
                }
                AggregateRow {
                    labels,
                    counters: g.counters,
                    histogram_base: g.histogram_base,
                    windows: Cow::Borrowed(&g.windows),
                }
            })
            .collect();
    }
    let mut by_media: BTreeMap<(&str, Option<&str>), AggregateRow<'_>> = BTreeMap::new();
    for g in &snap.groups {
        let row = by_media
            .entry((g.media_type.as_str(), g.direction.as_deref()))
            .or_insert_with(|| {
                let mut labels = Labels::new().with("media_type", &g.media_type);
                if let Some(d) = &g.direction {
                    labels = labels.with("direction", d);
                }
                AggregateRow {
                    labels,
                    counters: Values::default(),
                    histogram_base: Values::default(),
                    windows: Cow::Owned(vec![Values::default(); g.windows.len()]),
                }
            });
        row.counters.combine(&g.counters);
        row.histogram_base.combine(&g.histogram_base);
        for (w, v) in row.windows.to_mut().iter_mut().zip(&g.windows) {
            w.combine(v);
        }
    }
    by_media.into_values().collect()
}

/// One histogram of a span: its views' counts as the buckets, its timer's count as `+Inf`
/// and `_count`, its sum (ms) in seconds as `_sum`.
fn write_histogram(
    e: &mut Exposition,
    labels: &[&Labels],
    setting: &HistogramSetting,
    first: usize,
    v: &Values,
) -> std::io::Result<()> {
    let h = setting.histogram;
    let buckets: Vec<(f64, u64)> = setting
        .bounds
        .iter()
        .enumerate()
        .map(|(i, b)| (*b, u64::from(v.view(first + i))))
        .collect();
    // Counts are whole numbers (read from Genesys' integer counts), never negative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let count = v[h.count] as u64;
    e.histogram(labels, &buckets, v[h.sum] / 1000.0, count)
}

impl Snapshot for AggregatesSnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        let snap = self;
        let rows = aggregate_rows(snap);
        let export = &snap.export;
        // A refused metric's families are left out rather than served at 0 or frozen: their
        // series go stale in Prometheus, and the self-metric below says why.
        let served =
            |q: &&Exported| export.exports(q.name()) && !snap.refused.contains(&q.metric());
        for quantity in EXPORTED.iter().filter(served) {
            let Some(counter) = quantity.counter else {
                continue;
            };
            e.begin(counter)?;
            for r in &rows {
                e.sample(&[&r.labels], quantity.value(&r.counters))?;
            }
        }
        let windows: Vec<Labels> = snap
            .window_labels
            .iter()
            .map(|w| Labels::new().with("window", w))
            .collect();
        let window_family = |e: &mut Exposition,
                             family: &Family,
                             value: &dyn Fn(&Values) -> Option<f64>|
         -> std::io::Result<()> {
            e.begin(family)?;
            for r in &rows {
                for (w, v) in windows.iter().zip(r.windows.iter()) {
                    if let Some(x) = value(v) {
                        e.sample(&[&r.labels, w], x)?;
                    }
                }
            }
            Ok(())
        };
        for quantity in EXPORTED.iter().filter(served) {
            window_family(e, quantity.window, &|v| Some(quantity.value(v)))?;
        }
        if export.exports("service_level_ratio")
            && !snap
                .refused
                .contains(&Quantity::ServiceLevelNumerator.source().0)
        {
            window_family(e, &SERVICE_LEVEL_RATIO, &service_level)?;
        }
        let today = Labels::new().with("window", "today");
        for (setting, first) in &snap.histograms {
            let h = setting.histogram;
            e.begin(h.family)?;
            for r in &rows {
                let since = r.counters.growth_since(&r.histogram_base);
                write_histogram(e, &[&r.labels], setting, *first, &since)?;
            }
            if let Some(t) = snap.today {
                e.begin(h.today)?;
                for r in &rows {
                    if let Some(v) = r.windows.get(t) {
                        write_histogram(e, &[&r.labels, &today], setting, *first, v)?;
                    }
                }
            }
        }
        // Only when something is refused: the families are absent otherwise.
        if !snap.refused.is_empty() {
            e.begin(&REFUSED_METRIC)?;
            for metric in &snap.refused {
                e.sample(&[&Labels::new().with("metric", metric)], 1.0)?;
            }
        }
        if !snap.refused_histograms.is_empty() {
            e.begin(&REFUSED_HISTOGRAM)?;
            for name in &snap.refused_histograms {
                e.sample(&[&Labels::new().with("histogram", name)], 1.0)?;
            }
        }
        Ok(())
    }
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
        first[Quantity::Offered] = 5.0;
        first[Quantity::HandleMaxMs] = 9000.0;
        let mut later = first;
        later[Quantity::Offered] = 7.0;
        later[Quantity::HandleMaxMs] = 4000.0;
        let merged = first.revise(&later);
        assert_eq!(merged[Quantity::Offered], 7.0);
        assert_eq!(
            merged[Quantity::HandleMaxMs],
            9000.0,
            "a max never goes down"
        );
        let growth = merged.growth_since(&first);
        assert_eq!(growth[Quantity::Offered], 2.0);
        assert_eq!(growth[Quantity::HandleMaxMs], 0.0, "maxima are not counted");
        let shrunk = Values::default();
        assert_eq!(first.revise(&shrunk), first, "a lower revision is ignored");
    }

    #[test]
    fn a_refresh_keeps_only_what_grew_beside_the_look_back() {
        let group = |q: &str| (q.to_string(), "voice".to_string(), None);
        let offered = |n: f64| {
            let mut v = Values::default();
            v[Quantity::Offered] = n;
            v
        };
        let (ten, ten_five) = (ms("2026-11-24T10:00:00Z"), ms("2026-11-24T10:05:00Z"));
        let mut cache = Buckets::new();
        cache.insert(
            ten,
            HashMap::from([
                (group("settled"), offered(3.0)),
                (group("grew"), offered(3.0)),
                (group("revised down"), offered(3.0)),
            ]),
        );
        let mut part = Buckets::new();
        part.insert(
            ten,
            HashMap::from([
                (group("settled"), offered(3.0)),
                (group("grew"), offered(4.0)),
                (group("revised down"), offered(2.0)),
                (group("new"), offered(1.0)),
            ]),
        );
        part.insert(ten_five, HashMap::from([(group("settled"), offered(0.0))]));
        drop_settled(&cache, &mut part);
        let mut left: Vec<(i64, &str)> = part
            .iter()
            .flat_map(|(b, g)| g.keys().map(move |k| (*b, k.0.as_str())))
            .collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [(ten, "grew"), (ten, "new"), (ten_five, "settled")],
            "kept: what grew, and what the cache lacks (at zero too: its first sight); left out: what equals the cache or is lower (Genesys revising down counts nothing)"
        );
    }

    #[test]
    fn the_query_asks_for_each_source_metric_once() {
        assert_eq!(
            metrics(),
            [
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
                "tNotResponding",
                "nBlindTransferred",
                "nConsultTransferred",
                "nOutbound",
                "tDialing",
                "tContacting",
                "nError",
                "tIvr",
                "tFlowOut",
                "tVoicemail",
                "nCallbackScheduled",
                "oCallbackServiceLevel",
            ]
        );
    }

    #[test]
    fn directions_fold_into_groups_of_their_own() {
        let response: ConversationAggregateQueryResponse = serde_json::from_value(serde_json::json!({
            "results": [
                {"group": {"queueId": "q1", "mediaType": "voice", "originatingDirection": "inbound"}, "data": [
                    {"interval": "2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z", "metrics": [
                        {"metric": "nOffered", "stats": {"count": 4}}
                    ]}
                ]},
                {"group": {"queueId": "q1", "mediaType": "voice", "originatingDirection": "outbound"}, "data": [
                    {"interval": "2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z", "metrics": [
                        {"metric": "nOffered", "stats": {"count": 1}},
                        {"metric": "nOutbound", "stats": {"count": 1}},
                        {"metric": "tDialing", "stats": {"count": 1, "sum": 3000, "max": 3000, "min": 3000}}
                    ]}
                ]}
            ]
        }))
        .unwrap();
        let mut out = Buckets::new();
        merge_response(
            &mut out,
            &response,
            ms("2026-11-24T09:00:00Z"),
            ms("2026-11-24T11:00:00Z"),
            &Read::METRICS,
        );
        let bucket = &out[&ms("2026-11-24T10:00:00Z")];
        let group = |d: &str| bucket[&("q1".to_string(), "voice".to_string(), Some(d.to_string()))];
        assert_eq!(group("inbound")[Quantity::Offered], 4.0);
        assert_eq!(group("inbound")[Quantity::Outbound], 0.0);
        assert_eq!(group("outbound")[Quantity::Offered], 1.0);
        assert_eq!(group("outbound")[Quantity::Outbound], 1.0);
        assert_eq!(group("outbound")[Quantity::DialingMs], 3000.0);
    }

    #[test]
    fn a_400_names_a_metric_only_as_a_whole_word_of_its_texts() {
        let error = |message: &str, context: &[&str]| ApiError::Status {
            endpoint: "aggregates",
            status: 400,
            code: "bad.request".into(),
            message: message.into(),
            context: context.iter().map(ToString::to_string).collect(),
        };
        let e = error("metrics value 'tAnswered' is not valid", &[]);
        assert!(names(&e, "tAnswered"));
        assert!(!names(&e, "tAnswer"), "a prefix is not a name");
        assert!(!names(&error("tAnsweredX is not valid", &[]), "tAnswered"));
        let e = error("Invalid metric", &["metric {metric}", "tTalk"]);
        assert!(names(&e, "tTalk"), "messageParams and details count");
        assert!(!names(&e, "tAnswered"));
    }

    #[test]
    fn a_bisection_is_bounded_by_four_times_the_depth_of_the_split() {
        assert_eq!(probe_limit(1), 4);
        assert_eq!(probe_limit(2), 4);
        assert_eq!(probe_limit(27), 20);
        assert_eq!(probe_limit(32), 20);
        assert_eq!(probe_limit(33), 24);
    }

    #[test]
    fn no_conversations_means_no_service_level() {
        assert_eq!(service_level(&Values::default()), None);
        let mut v = Values::default();
        v[Quantity::ServiceLevelNumerator] = 8.0;
        v[Quantity::ServiceLevelDenominator] = 10.0;
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
            &Read::METRICS,
        );
        assert_eq!(
            out.len(),
            1,
            "the bucket outside the asked interval is ignored"
        );
        let v = out[&ms("2026-11-24T10:00:00Z")][&("q1".to_string(), "voice".to_string(), None)];
        assert_eq!(v[Quantity::Offered], 4.0);
        assert_eq!(
            EXPORTED
                .iter()
                .find(|q| q.name() == "handle_seconds")
                .unwrap()
                .value(&v),
            300.0
        );
        assert_eq!(
            EXPORTED
                .iter()
                .find(|q| q.name() == "handle_max_seconds")
                .unwrap()
                .value(&v),
            200.0
        );
        assert_eq!(service_level(&v), Some(0.5));
        assert_eq!(v[Quantity::CallbackServiceLevelDenominator], 0.0);
    }

    #[test]
    fn the_callback_service_level_is_read_apart_from_the_service_level() {
        let response: ConversationAggregateQueryResponse = serde_json::from_value(serde_json::json!({
            "results": [{"group": {"queueId": "q1", "mediaType": "callback"}, "data": [
                {"interval": "2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z", "metrics": [
                    {"metric": "oServiceLevel", "stats": {"ratio": 0.5, "numerator": 2, "denominator": 4, "target": 0.8}},
                    {"metric": "oCallbackServiceLevel", "stats": {"ratio": 0.75, "numerator": 3, "denominator": 4, "target": 0.8}}
                ]}
            ]}]
        }))
        .unwrap();
        let mut out = Buckets::new();
        merge_response(
            &mut out,
            &response,
            ms("2026-11-24T10:00:00Z"),
            ms("2026-11-24T10:05:00Z"),
            &Read::METRICS,
        );
        let group = ("q1".to_string(), "callback".to_string(), None);
        let v = out[&ms("2026-11-24T10:00:00Z")][&group];
        let value = |name: &str| {
            EXPORTED
                .iter()
                .find(|q| q.name() == name)
                .unwrap()
                .value(&v)
        };
        assert_eq!(value("callbacks_within_sla"), 3.0);
        assert_eq!(value("callbacks_sla_eligible"), 4.0);
        assert_eq!(value("conversations_within_sla"), 2.0);
        assert_eq!(service_level(&v), Some(0.5), "not mixed with oServiceLevel");
        // Opt-in, and counted like the service level: no ratio of its own.
        assert!(exportable().contains(&"callbacks_within_sla"));
        assert!(!exported_by_default().contains(&"callbacks_sla_eligible"));
    }
}
