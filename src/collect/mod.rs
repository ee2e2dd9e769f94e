//! Background collectors. Each polls Genesys on its own interval, builds a new immutable
//! snapshot and publishes it into its [`Slot`]; the metrics renderer only reads slots.
//!
//! A collector is one file and one line in the `registry!` below: its file declares a
//! [`Registration`] (name, default interval, cost per poll, how to start it, the families it
//! writes, declared in its file) and implements [`Snapshot`] for what it publishes (writing
//! those families). Flags, the request budget, reload, health self-metrics, readiness and the
//! body cache loop over the registry.

#[cfg(test)]
mod fuzz;

use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::Instrument;

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

use tokio::time::Instant;

use tokio::task::JoinHandle;

use self::queues::QueueSet;
use crate::clock::SharedClock;
use crate::genesys::client::{counting_requests, in_background};
use crate::genesys::{ApiError, GenesysClient};
use crate::metrics::catalog::Family;
pub use crate::metrics::{Health, Part, Snapshot};

/// Declares each collector's module and lists its `REGISTRATION` in [`REGISTRY`], so that a
/// new collector is its file and one name here.
macro_rules! registry {
    ($($collector:ident),* $(,)?) => {
        $(pub mod $collector;)*

        /// Every collector the exporter knows, in the order their series are written.
        pub(crate) const REGISTRY: &[&Registration] = &[$(&$collector::REGISTRATION),*];
    };
}

// Queue discovery comes first: the others watch what it lists.
registry! {
    queues,
    observations,
    activity,
    flows,
    aggregates,
    estimated_wait,
    voice_quality,
}

/// What the rest of the exporter knows of a collector.
#[derive(Debug)]
pub(crate) struct Registration {
    /// The `collector` label value and the flag names' middle part.
    pub(crate) name: &'static str,
    /// What it polls (flag help).
    pub(crate) polls: &'static str,
    /// `--collector.<name>.interval` default.
    pub(crate) default_interval: &'static str,
    /// `Some(help)`: `--no-collector.<name>` turns it off. Queue discovery cannot be turned off.
    /// For an `opt_in` collector, the help of `--collector.<name>`, which turns it on.
    pub(crate) disable: Option<&'static str>,
    /// Runs only when asked for with `--collector.<name>` (its requests grow with the org, and
    /// not every org wants to spend them); the others run unless turned off.
    pub(crate) opt_in: bool,
    /// Its families are not keyed by queue (org-wide conversation counts): on a sharded org
    /// only shard 0 polls and serves them, since a sum over shards would count each
    /// conversation once per shard. The other shards' polls succeed without a request and
    /// publish nothing; their plan counts no request.
    pub(crate) org_wide: bool,
    /// API requests one poll sends with this many watched queues (the budget plan), on a
    /// shard that polls it.
    pub(crate) requests_per_poll: fn(settings: &Settings, watched: usize) -> f64,
    /// Its cost follows the org's traffic, not its settings (pages of conversations that
    /// ended since the last poll): once it has polled, the plan counts the most requests any
    /// of its last [`RECENT_POLLS`] polls sent ([`Source::measured_requests`]), and is made
    /// again after each of its polls; `requests_per_poll` is the estimate before its first.
    pub(crate) cost_from_polls: bool,
    /// Its polls catch up on history (the day's analytics): a first poll may cost many
    /// times a later one and take minutes of the budget at a large org. So its requests are
    /// the budget's background class (they yield to live state's, `genesys::ratelimit`), and
    /// `/-/ready` does not wait for it: live state is served first, its series join when its
    /// first poll completes, and until then its `genesys_up` is 0 with no poll counted.
    pub(crate) background: bool,
    /// The Genesys endpoints it calls beyond the client's own (queues, observations,
    /// notifications): their request and retry series exist at 0 from the start, a default
    /// collector's whether it runs or not, an opt-in one's when it is on.
    pub(crate) endpoints: &'static [crate::genesys::request::Endpoint],
    /// Its own flags (`--aggregates.*`), if it has any beyond its switch and interval.
    pub(crate) flags: Option<&'static FlagSet>,
    /// Starts polling into a new slot.
    pub(crate) start: fn(Context) -> Started,
    /// The families it writes, declared beside the code that writes them, in the order a
    /// scrape writes them: `crate::families::ALL` takes them in [`REGISTRY`] order.
    pub(crate) families: &'static [&'static Family],
}

/// A collector's own flags: what it adds to the command line (a `#[derive(clap::Args)]`
/// struct's `augment_args`), and how the parsed command line (or config file) becomes its
/// settings, validated. Declared in the collector's file; the command, the config file,
/// `check-config` and reload loop over the registry.
pub(crate) struct FlagSet {
    pub(crate) args: fn(clap::Command) -> clap::Command,
    pub(crate) settings: fn(&clap::ArgMatches) -> Result<Arc<dyn CollectorSettings>, SettingError>,
    /// The check of one value that its parser lets through (`None`: not this collector's
    /// key, or nothing to check): what a config file reports under the key.
    pub(crate) check: fn(key: &str, value: &str) -> Option<Result<(), String>>,
}

impl std::fmt::Debug for FlagSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlagSet")
    }
}

/// What a collector's flags parse to: part of [`Settings`], which a reload swaps whole.
pub(crate) trait CollectorSettings: Any + std::fmt::Debug + Send + Sync {
    /// Equal to `other` (a reload that changes neither leaves the collector be).
    fn same(&self, other: &dyn CollectorSettings) -> bool;
    /// Its values under their flag names, as `check-config` prints them.
    fn describe(&self) -> Vec<(&'static str, String)>;
}

/// A flag value its parser let through that the collector refuses (`--aggregates.windows
/// 7m`: not a multiple of the granularity).
#[derive(Debug, thiserror::Error)]
#[error("--{flag} {value:?}: {reason}")]
pub(crate) struct SettingError {
    pub(crate) flag: &'static str,
    pub(crate) value: String,
    pub(crate) reason: String,
}

impl SettingError {
    pub(crate) fn new(flag: &'static str, value: &str, reason: impl Into<String>) -> SettingError {
        SettingError {
            flag,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The flags did not read back from the matches they were added to: a bug, reported
    /// rather than panicked on.
    pub(crate) fn parse(e: clap::Error) -> SettingError {
        SettingError::new("", "", e.to_string())
    }
}

impl Registration {
    /// Runs unless turned off (`--no-collector.<name>`); false for `opt_in` collectors,
    /// which run only with `--collector.<name>`.
    #[must_use]
    pub(crate) fn enabled_by_default(&self) -> bool {
        !self.opt_in
    }

    /// API requests one poll sends on this shard (the budget plan): none for an org-wide
    /// collector on a shard other than 0.
    #[must_use]
    pub(crate) fn cost(&self, settings: &Settings, watched: usize) -> f64 {
        if self.org_wide && !settings.queue_filter.shard.serves_org_wide() {
            0.0
        } else {
            (self.requests_per_poll)(settings, watched)
        }
    }

    /// What the plan counts for one poll of the running collector `source`: what it says
    /// itself ([`Source::own_cost`]), or what its last polls sent when its cost comes from
    /// them and it has polled, else [`Registration::cost`].
    #[must_use]
    pub(crate) fn planned_cost(
        &self,
        settings: &Settings,
        watched: usize,
        source: &dyn Source,
    ) -> f64 {
        let estimate = self.cost(settings, watched);
        if estimate <= 0.0 {
            // This shard does not poll it.
            return estimate;
        }
        match (source.own_cost(), source.measured_requests()) {
            (Some(own), _) => own,
            (None, Some(measured)) if self.cost_from_polls => measured,
            _ => estimate,
        }
    }
}

/// A collector's query batches: 100 queues per request, and one request without queues.
#[must_use]
pub(crate) fn batches(watched: usize) -> f64 {
    watched.div_ceil(MAX_QUEUES_PER_QUERY).max(1) as f64
}

/// The cost of a collector that sends one query a poll, whatever the org's size.
pub(crate) fn one_query(_: &Settings, _: usize) -> f64 {
    1.0
}

/// No documented cap on predicates per analytics query (observations, aggregates) or on the
/// queue listing's page size beyond it; 100 is what every Genesys list and query accepts.
pub(crate) const MAX_QUEUES_PER_QUERY: usize = 100;

/// What the collectors read of the configuration a reload may change; a reload swaps it whole
/// and each collector reads its part at its next poll.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) queue_filter: queues::QueueFilter,
    /// The configured interval of every registered collector, by name.
    pub(crate) intervals: std::collections::BTreeMap<&'static str, Duration>,
    /// Every registered collector's own settings (its [`FlagSet`], parsed), by name.
    pub(crate) own: std::collections::BTreeMap<&'static str, Arc<dyn CollectorSettings>>,
}

impl PartialEq for Settings {
    fn eq(&self, other: &Settings) -> bool {
        self.queue_filter == other.queue_filter
            && self.intervals == other.intervals
            && self.own.len() == other.own.len()
            && self
                .own
                .iter()
                .all(|(name, s)| other.own.get(name).is_some_and(|o| s.same(o.as_ref())))
    }
}

/// Never used for a registered collector: every one has an interval flag with a default.
const INTERVAL_FALLBACK: Duration = Duration::from_secs(60);

impl Settings {
    /// A collector's own settings, by their type.
    #[must_use]
    pub(crate) fn of<T: CollectorSettings>(&self) -> Option<&T> {
        self.own
            .values()
            .find_map(|s| (s.as_ref() as &dyn Any).downcast_ref::<T>())
    }

    /// Every registered collector's own settings from the parsed command line.
    ///
    /// # Errors
    /// The first value a collector refuses.
    pub(crate) fn own_from(
        matches: &clap::ArgMatches,
    ) -> Result<std::collections::BTreeMap<&'static str, Arc<dyn CollectorSettings>>, SettingError>
    {
        let mut own = std::collections::BTreeMap::new();
        for r in REGISTRY {
            if let Some(flags) = r.flags {
                own.insert(r.name, (flags.settings)(matches)?);
            }
        }
        Ok(own)
    }

    /// The configured interval of a registered collector.
    #[must_use]
    pub(crate) fn interval(&self, collector: &str) -> Duration {
        self.intervals
            .get(collector)
            .copied()
            .unwrap_or(INTERVAL_FALLBACK)
    }
}

/// What starting a collector needs.
pub(crate) struct Context {
    pub(crate) client: GenesysClient,
    /// Business time (tests: the simulator's).
    pub(crate) clock: SharedClock,
    /// The settings a reload may change, swapped whole on each reload.
    pub(crate) live: watch::Receiver<Arc<Settings>>,
    /// This collector's configured interval.
    pub(crate) interval: Duration,
    /// How live queue state arrives (`--live.*`).
    pub(crate) push: observations::PushSettings,
    /// This collector's registration.
    registration: &'static Registration,
    /// The slots of the collectors started before this one, in [`REGISTRY`] order, queue
    /// discovery's first: what a collector that reads another's snapshot finds it in, by the
    /// snapshot's type ([`Context::slot`]).
    earlier: Vec<Arc<dyn Any + Send + Sync>>,
}

impl Context {
    /// The slot of an earlier collector whose snapshot is a `T` (`estimated_wait` reads the
    /// `ObservationsSnapshot`), if one runs: one typed way for a collector to read another.
    #[must_use]
    pub(crate) fn slot<T: Send + Sync + 'static>(&self) -> Option<Arc<Slot<T>>> {
        self.earlier
            .iter()
            .find_map(|s| Arc::clone(s).downcast::<Slot<T>>().ok())
    }

    /// Queue discovery's slot: the listing every other collector watches (and queue
    /// discovery's own, made before any collector starts).
    #[must_use]
    pub(crate) fn queues(&self) -> Arc<Slot<QueueSet>> {
        self.slot::<QueueSet>()
            .unwrap_or_else(|| Slot::new(queues::REGISTRATION.name, self.interval))
    }

    /// What starts this collector's task, taken before the context is spent on the collector.
    #[must_use]
    pub(crate) fn spawner(&self) -> Spawner {
        Spawner {
            name: self.registration.name,
            interval: self.interval,
            gate: self.registration.org_wide.then(|| self.live.clone()),
            background: self.registration.background,
        }
    }
}

/// Starts a collector's polling task into its slot.
pub(crate) struct Spawner {
    name: &'static str,
    interval: Duration,
    /// An org-wide collector's settings: it polls only where the shard serves org-wide data.
    gate: Option<watch::Receiver<Arc<Settings>>>,
    /// [`Registration::background`].
    background: bool,
}

impl Spawner {
    /// Polls `collector` into a new slot on a new task.
    pub(crate) fn spawn<P: Poll>(self, collector: P) -> Started
    where
        P::Snapshot: Snapshot,
    {
        let slot = Slot::new(self.name, self.interval);
        self.spawn_into(slot, collector)
    }

    /// Polls `collector` into `slot` (queue discovery's, made beforehand) on a new task.
    pub(crate) fn spawn_into<P: Poll>(self, slot: Arc<Slot<P::Snapshot>>, collector: P) -> Started
    where
        P::Snapshot: Snapshot,
    {
        Started {
            source: slot.clone(),
            typed: slot.clone(),
            // In the span of the org it polls for (several orgs: its log lines name it).
            task: if self.background {
                tokio::spawn(in_background(run(slot, collector, self.gate)).in_current_span())
            } else {
                tokio::spawn(run(slot, collector, self.gate).in_current_span())
            },
        }
    }
}

/// A started collector: where it publishes and the task that polls.
pub(crate) struct Started {
    pub(crate) source: Arc<dyn Source>,
    /// The same slot, for later collectors to find by its snapshot's type.
    pub(crate) typed: Arc<dyn Any + Send + Sync>,
    pub(crate) task: JoinHandle<()>,
}

/// A collector's slot, whatever its snapshot: what health, the planner and readiness read.
/// The writer reads it as a [`Part`] of the body.
pub trait Source: Part {
    fn name(&self) -> &'static str;
    fn interval(&self) -> Duration;
    fn set_interval(&self, interval: Duration);
    fn has_succeeded(&self) -> bool;
    /// Succeeded, or failed in a way that waiting will not mend soon: see [`Published::settled`].
    fn settled(&self) -> bool;
    /// The most API requests any of its last [`RECENT_POLLS`] polls sent (retries included);
    /// None before its first poll.
    fn measured_requests(&self) -> Option<f64>;
    /// Resolves at its next poll (or publication); false once the slot is gone. What a plan
    /// made from measured costs waits on.
    fn changed(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>>;
    /// What the running collector says one poll at its configured interval costs, when its
    /// settings cannot (push mode: what the channels leave to polls); the plan counts it
    /// instead of its registration's estimate. None: it does not say.
    fn own_cost(&self) -> Option<f64>;
    /// Resolves when [`Source::own_cost`] changes; false once the slot is gone.
    fn own_cost_changed(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>>;
}

/// How many of a collector's last polls its measured cost is read from: a few minutes of
/// polls, so one quiet poll does not shrink the plan and one burst does not hold it forever.
pub(crate) const RECENT_POLLS: usize = 5;

impl<T: Snapshot> Part for Slot<T> {
    fn version(&self, now: SystemTime) -> (u64, bool) {
        let p = self.tx.borrow();
        (p.version, p.fresh_data(now, self.interval()).is_some())
    }

    fn read(&self, now: SystemTime) -> (Health, Option<Arc<dyn Snapshot>>) {
        let p = self.tx.borrow();
        let health = Health {
            name: self.name,
            up: p.up(now, self.interval()),
            last_success: p
                .last_success
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
            last_duration: p.last_duration,
            last_requests: p.last_requests,
            interval: self.interval(),
            polls: p.polls,
            failures: p.failures,
        };
        // A clone of the Arc, so the watch is not borrowed while the body is written.
        let data = p
            .fresh_data(now, self.interval())
            .map(|d| Arc::clone(d) as Arc<dyn Snapshot>);
        (health, data)
    }
}

impl<T: Snapshot> Source for Slot<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn interval(&self) -> Duration {
        Slot::interval(self)
    }

    fn set_interval(&self, interval: Duration) {
        Slot::set_interval(self, interval);
    }

    fn has_succeeded(&self) -> bool {
        Slot::has_succeeded(self)
    }

    fn settled(&self) -> bool {
        self.tx.borrow().settled()
    }

    fn measured_requests(&self) -> Option<f64> {
        self.tx.borrow().measured_requests()
    }

    fn changed(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> {
        let mut rx = self.tx.subscribe();
        Box::pin(async move { rx.changed().await.is_ok() })
    }

    fn own_cost(&self) -> Option<f64> {
        *self.own_cost.borrow()
    }

    fn own_cost_changed(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> {
        let mut rx = self.own_cost.subscribe();
        Box::pin(async move { rx.changed().await.is_ok() })
    }
}

/// The running collectors.
#[derive(Clone)]
pub struct Collectors {
    /// Queue discovery: the planner counts what it lists.
    pub queues: Arc<Slot<QueueSet>>,
    /// Every running collector in [`REGISTRY`] order, queue discovery included.
    pub all: Vec<Arc<dyn Source>>,
}

impl std::fmt::Debug for Collectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.all.iter().map(|s| s.name()))
            .finish()
    }
}

impl Collectors {
    /// `/-/ready` for an org: serving what it can. Queue discovery has succeeded (without a
    /// listing there is nothing to serve), and every other collector of live state has
    /// succeeded or is [settled](Published::settled) in failure: a collector that can never
    /// succeed (its endpoint answers 404 in this region, 403 for a missing permission, a
    /// query refused with 400) is `genesys_up 0`, an alert and a log line, not a pod that
    /// never becomes ready. A [background](Registration::background) collector is not waited
    /// for: its first poll may take minutes of the budget at a large org, and live state is
    /// worth serving meanwhile. In an exporter of several orgs, an org whose collectors of
    /// live state have each at least tried once counts as ready too, so that one broken org
    /// does not take every other org's series off the scrape targets.
    #[must_use]
    pub(crate) fn ready(&self, several: bool) -> bool {
        let serving = self.queues.has_succeeded() && self.awaited().all(|s| s.settled());
        serving || (several && self.all_tried())
    }

    /// True once every collector readiness waits for has finished a poll, successful or not.
    #[must_use]
    pub(crate) fn all_tried(&self) -> bool {
        let now = SystemTime::now();
        self.awaited()
            .all(|s| s.has_succeeded() || s.read(now).0.polls > 0)
    }

    /// The collectors `/-/ready` waits for: all but the background ones.
    fn awaited(&self) -> impl Iterator<Item = &Arc<dyn Source>> {
        self.all.iter().filter(|s| !is_background(s.name()))
    }

    /// Every collector as a part of the body, in [`REGISTRY`] order.
    #[must_use]
    pub fn parts(&self) -> Vec<Arc<dyn Part>> {
        self.all
            .iter()
            .map(|s| Arc::clone(s) as Arc<dyn Part>)
            .collect()
    }

    /// Queues watched by the last listing.
    #[must_use]
    pub(crate) fn watched(&self) -> usize {
        self.queues.latest().data.map_or(0, |q| q.queues.len())
    }
}

/// The collector named `name` is a [background](Registration::background) one.
#[must_use]
pub(crate) fn is_background(name: &str) -> bool {
    REGISTRY.iter().any(|r| r.name == name && r.background)
}

/// A collector's data counts as live for this many of its intervals after its last success;
/// after that its series are left out (they go stale in Prometheus) rather than frozen.
pub(crate) const STALE_AFTER_INTERVALS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("queue discovery has not succeeded yet, no queues to observe")]
    NoQueuesYet,
    #[error("queue listing did not end: more than {0} pages")]
    TooManyPages(u32),
    #[error("the {0} collector has not published yet, nothing to build on")]
    NotYet(&'static str),
    #[error("{endpoint}: unexpected answer: {reason}")]
    Unexpected {
        endpoint: &'static str,
        reason: String,
    },
    #[error("the poll panicked: {0}")]
    Panicked(String),
}

/// Polls failed in a row after which a collector that never succeeded counts as settled
/// (ready, serving what the others have): with the first retries 1 s and 2 s apart, about
/// three seconds of failing.
pub(crate) const SETTLED_AFTER_FAILURES: u32 = 3;

impl CollectError {
    /// A failure that a retry will not mend: Genesys refused the request as such (4xx other
    /// than 401, 408 and 429), so the collector is misconfigured or not available to this org.
    #[must_use]
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            CollectError::Api(e) => e.is_permanent(),
            _ => false,
        }
    }
}

/// The message of a caught panic (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Starts every enabled collector (`enabled` holds registry names) with its configured interval.
pub(crate) fn start_all(
    enabled: &[&'static str],
    client: &GenesysClient,
    clock: &SharedClock,
    live: &watch::Receiver<Arc<Settings>>,
    push: &observations::PushSettings,
) -> (Collectors, Vec<JoinHandle<()>>) {
    let interval = |name: &str| live.borrow().interval(name);
    let queues = Slot::new(
        queues::REGISTRATION.name,
        interval(queues::REGISTRATION.name),
    );
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    // Queue discovery's slot is there for every collector to find, queue discovery included.
    let mut earlier: Vec<Arc<dyn Any + Send + Sync>> = vec![queues.clone()];
    for registration in REGISTRY
        .iter()
        .copied()
        .filter(|r| enabled.contains(&r.name))
    {
        let started = (registration.start)(Context {
            client: client.clone(),
            clock: clock.clone(),
            live: live.clone(),
            interval: interval(registration.name),
            push: push.clone(),
            registration,
            earlier: earlier.clone(),
        });
        if registration.name != queues::REGISTRATION.name {
            earlier.push(started.typed);
        }
        all.push(started.source);
        tasks.push(started.task);
    }
    (Collectors { queues, all }, tasks)
}

/// What a collector has published: its latest good data and how its polls are going.
#[derive(Debug)]
pub(crate) struct Published<T> {
    pub(crate) data: Option<Arc<T>>,
    pub(crate) last_success: Option<SystemTime>,
    pub(crate) last_poll_ok: bool,
    pub(crate) last_duration: Option<Duration>,
    /// API requests the last poll sent, retries included: what one refresh costs.
    pub(crate) last_requests: u64,
    /// Requests of the last [`RECENT_POLLS`] polls, the newest at `polls % RECENT_POLLS`.
    pub(crate) recent_requests: [u64; RECENT_POLLS],
    pub(crate) polls: u64,
    pub(crate) failures: u64,
    /// Bumped whenever `data` or the poll counters change: what the body cache compares.
    pub(crate) version: u64,
    /// An org-wide collector on a shard that does not serve org-wide data: its polls
    /// succeed, and it has nothing to serve.
    pub(crate) elsewhere: bool,
    /// Failed polls in a row (0 after a success).
    pub(crate) failing: u32,
    /// The last failure was one a retry will not mend (see [`CollectError::is_permanent`]).
    pub(crate) permanent: bool,
}

impl<T> Default for Published<T> {
    fn default() -> Self {
        Published {
            data: None,
            last_success: None,
            last_poll_ok: false,
            last_duration: None,
            last_requests: 0,
            recent_requests: [0; RECENT_POLLS],
            polls: 0,
            failures: 0,
            version: 0,
            failing: 0,
            permanent: false,
            elsewhere: false,
        }
    }
}

impl<T> Clone for Published<T> {
    fn clone(&self) -> Self {
        Published {
            data: self.data.clone(),
            last_success: self.last_success,
            last_poll_ok: self.last_poll_ok,
            last_duration: self.last_duration,
            last_requests: self.last_requests,
            recent_requests: self.recent_requests,
            polls: self.polls,
            failures: self.failures,
            version: self.version,
            failing: self.failing,
            permanent: self.permanent,
            elsewhere: self.elsewhere,
        }
    }
}

impl<T> Published<T> {
    /// The data, if the last success is recent enough to be served as live at `now`.
    #[must_use]
    pub(crate) fn fresh_data(&self, now: SystemTime, interval: Duration) -> Option<&Arc<T>> {
        if self.elsewhere || !self.fresh(now, interval) {
            return None;
        }
        self.data.as_ref()
    }

    /// The last success is recent enough to count as live at `now`.
    fn fresh(&self, now: SystemTime, interval: Duration) -> bool {
        self.last_success.is_some_and(|t| {
            now.duration_since(t).unwrap_or(Duration::ZERO) <= interval * STALE_AFTER_INTERVALS
        })
    }

    /// Succeeded once, or failing in a way waiting will not mend soon: the last failure was
    /// permanent, or [`SETTLED_AFTER_FAILURES`] polls failed in a row (a second or two of
    /// retries at start-up, so a blip at start does not count, an outage does).
    #[must_use]
    pub(crate) fn settled(&self) -> bool {
        self.last_success.is_some() || self.permanent || self.failing >= SETTLED_AFTER_FAILURES
    }

    /// The most requests any of the last [`RECENT_POLLS`] polls sent; None before the first.
    #[must_use]
    pub(crate) fn measured_requests(&self) -> Option<f64> {
        let polled = usize::try_from(self.polls)
            .unwrap_or(usize::MAX)
            .min(RECENT_POLLS);
        // Requests of one poll: far below 2^53, exact.
        #[allow(clippy::cast_precision_loss)]
        self.recent_requests[..polled]
            .iter()
            .max()
            .map(|n| *n as f64)
    }

    /// `genesys_up`: the last poll succeeded and its data is still fresh.
    #[must_use]
    pub(crate) fn up(&self, now: SystemTime, interval: Duration) -> bool {
        self.last_poll_ok && self.fresh(now, interval) && (self.elsewhere || self.data.is_some())
    }
}

/// Where one collector publishes. Readers take a cheap clone of the latest [`Published`].
#[derive(Debug)]
pub struct Slot<T> {
    pub(crate) name: &'static str,
    /// Milliseconds; a reload may change it while the collector runs.
    interval_ms: AtomicU64,
    tx: watch::Sender<Published<T>>,
    /// See [`Source::own_cost`].
    own_cost: watch::Sender<Option<f64>>,
}

impl<T> Slot<T> {
    #[must_use]
    pub fn new(name: &'static str, interval: Duration) -> Arc<Slot<T>> {
        Arc::new(Slot {
            name,
            interval_ms: AtomicU64::new(crate::clock::millis_u64(interval)),
            tx: watch::Sender::new(Published::default()),
            own_cost: watch::Sender::new(None),
        })
    }

    /// What one poll at the configured interval costs, as the collector counts it (see
    /// [`Source::own_cost`]); a plan is made again only when it changes.
    pub(crate) fn set_own_cost(&self, requests_per_poll: f64) {
        self.own_cost.send_if_modified(|c| {
            let changed = *c != Some(requests_per_poll);
            if changed {
                *c = Some(requests_per_poll);
            }
            changed
        });
    }

    pub(crate) fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }

    /// Takes effect after the poll under way (or the wait for it).
    pub(crate) fn set_interval(&self, interval: Duration) {
        self.interval_ms
            .store(crate::clock::millis_u64(interval), Ordering::Relaxed);
    }

    pub(crate) fn latest(&self) -> Published<T> {
        self.tx.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Published<T>> {
        self.tx.subscribe()
    }

    /// Publishes `data` as a successful poll (benchmarks and tests that build snapshots by hand).
    pub fn publish(&self, data: T) {
        self.record(Instant::now(), 0, Ok(data));
    }

    pub(crate) fn has_succeeded(&self) -> bool {
        self.tx.borrow().last_success.is_some()
    }

    fn record(&self, started: Instant, requests: u64, result: Result<T, CollectError>) {
        let duration = started.elapsed();
        match result {
            Ok(data) => {
                self.record_poll(duration, requests, Ok(()));
                self.refresh(data);
            }
            Err(error) => self.record_poll(duration, requests, Err(error)),
        }
    }

    /// Counts a poll (`genesys_collector_polls_total`, failures, duration, requests) without
    /// publishing data: push mode publishes separately, with [`Slot::refresh`].
    pub(crate) fn record_poll(
        &self,
        duration: Duration,
        requests: u64,
        result: Result<(), CollectError>,
    ) {
        self.tx.send_modify(|p| {
            p.recent_requests[usize::try_from(p.polls).unwrap_or(0) % RECENT_POLLS] = requests;
            p.polls += 1;
            p.version += 1;
            p.last_duration = Some(duration);
            p.last_requests = requests;
            match result {
                Ok(()) => {
                    p.last_poll_ok = true;
                    p.failing = 0;
                    p.permanent = false;
                }
                Err(error) => {
                    p.failures += 1;
                    p.last_poll_ok = false;
                    p.failing = p.failing.saturating_add(1);
                    p.permanent = error.is_permanent();
                    if p.failures == 1 {
                        // The first failure of a collector's life is news of its own; the
                        // ones after it are the same story (`genesys_up`, the failure counter).
                        tracing::warn!(collector = self.name, error = %crate::ErrorChain(&error), permanent = p.permanent, "collector failed for the first time");
                    } else {
                        tracing::warn!(collector = self.name, error = %crate::ErrorChain(&error), "poll failed");
                    }
                }
            }
        });
    }

    /// Publishes data known current now (a poll, or pushed events applied).
    pub(crate) fn refresh(&self, data: T) {
        self.tx.send_modify(|p| {
            p.data = Some(Arc::new(data));
            p.last_success = Some(SystemTime::now());
            p.elsewhere = false;
            p.version += 1;
        });
    }

    /// A poll of an org-wide collector on a shard that does not serve org-wide data: a
    /// success without a request, with nothing to serve.
    fn elsewhere(&self) {
        self.record_poll(Duration::ZERO, 0, Ok(()));
        self.tx.send_modify(|p| {
            p.data = None;
            p.last_success = Some(SystemTime::now());
            p.elsewhere = true;
            p.version += 1;
        });
    }
}

/// The latest queue set, waiting up to `wait` for queue discovery's first success.
///
/// # Errors
/// [`CollectError::NoQueuesYet`] when no listing succeeded within `wait`.
pub(crate) async fn wait_for_queues(
    rx: &mut watch::Receiver<Published<QueueSet>>,
    wait: Duration,
) -> Result<Arc<QueueSet>, CollectError> {
    match tokio::time::timeout(wait, rx.wait_for(|p| p.data.is_some())).await {
        Ok(Ok(p)) => p.data.clone().ok_or(CollectError::NoQueuesYet),
        _ => Err(CollectError::NoQueuesYet),
    }
}

/// One collector: a poll of Genesys that yields a complete new snapshot.
pub(crate) trait Poll: Send + 'static {
    type Snapshot: Send + Sync + 'static;
    fn poll(&mut self) -> impl Future<Output = Result<Self::Snapshot, CollectError>> + Send;
}

/// Polls forever on the slot's interval. A slow poll delays the next tick instead of
/// stacking polls up behind it.
pub(crate) async fn run<P: Poll>(
    slot: Arc<Slot<P::Snapshot>>,
    mut collector: P,
    org_wide: Option<watch::Receiver<Arc<Settings>>>,
) {
    let mut first_retry = FIRST_RETRY;
    loop {
        let started = Instant::now();
        // The shard is read at every poll, so a reload that moves this exporter to or from
        // shard 0 applies at the next one.
        if org_wide
            .as_ref()
            .is_some_and(|live| !live.borrow().queue_filter.shard.serves_org_wide())
        {
            slot.elsewhere();
            tokio::time::sleep_until(started + slot.interval()).await;
            continue;
        }
        // A poll that panics (a bug, or outside input the code failed to bound) is a failed
        // poll, not a dead collector: the next one runs on time and recovers once the input is
        // sane again.
        let polling = std::panic::AssertUnwindSafe(collector.poll()).catch_unwind();
        let (result, requests) = counting_requests(polling).await;
        let result =
            result.unwrap_or_else(|panic| Err(CollectError::Panicked(panic_message(&*panic))));
        if result.is_ok() {
            tracing::debug!(
                collector = slot.name,
                ms = crate::clock::millis_u64(started.elapsed()),
                "poll ok"
            );
        }
        slot.record(started, requests, result);
        tokio::time::sleep_until(started + next_poll(&slot, &mut first_retry)).await;
    }
}

/// Until a collector's first success, a failed poll is retried after 1 s, 2 s, 4 s, ... up
/// to its interval: one failed queue listing or token request at start-up must not cost the
/// 5 minutes of the listing interval. After the first success, data from the last good poll
/// is served while fresh, so polls keep to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

fn next_poll<T>(slot: &Slot<T>, first_retry: &mut Duration) -> Duration {
    let interval = slot.interval();
    if slot.has_succeeded() {
        return interval;
    }
    let wait = (*first_retry).min(interval);
    *first_retry = first_retry.saturating_mul(2);
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_the_first_success_retries_back_off_from_a_second_to_the_interval() {
        let slot: Arc<Slot<u32>> = Slot::new("queues", Duration::from_secs(300));
        let mut first_retry = FIRST_RETRY;
        let waits: Vec<u64> = (0..10)
            .map(|_| next_poll(&slot, &mut first_retry).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        slot.publish(7);
        assert_eq!(
            next_poll(&slot, &mut first_retry),
            Duration::from_secs(300),
            "after a success, the interval"
        );
    }

    /// Panics on its first poll, then counts.
    struct PanicsOnce(u32);

    impl Poll for PanicsOnce {
        type Snapshot = u32;
        async fn poll(&mut self) -> Result<u32, CollectError> {
            self.0 += 1;
            assert!(self.0 > 1, "a bug on the first poll");
            Ok(self.0)
        }
    }

    impl Snapshot for u32 {
        fn write(&self, _: &mut crate::metrics::exposition::Exposition) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_that_panics_is_a_failed_poll_and_the_collector_polls_on() {
        let slot: Arc<Slot<u32>> = Slot::new("queues", Duration::from_secs(5));
        let task = tokio::spawn(run(slot.clone(), PanicsOnce(0), None));
        let mut rx = slot.subscribe();
        let published = rx.wait_for(|p| p.data.is_some()).await.map(|p| p.clone());
        let published = published.expect("the collector lives on");
        assert_eq!(published.data.as_deref(), Some(&2));
        assert_eq!((published.polls, published.failures), (2, 1));
        assert!(!task.is_finished());
        task.abort();
    }

    #[test]
    fn a_measured_cost_is_the_most_any_of_the_last_polls_sent() {
        let slot: Arc<Slot<u32>> = Slot::new("voice", Duration::from_secs(60));
        assert_eq!(
            Source::measured_requests(&*slot),
            None,
            "before the first poll"
        );
        for n in [3, 7, 2] {
            slot.record_poll(Duration::ZERO, n, Ok(()));
        }
        assert_eq!(Source::measured_requests(&*slot), Some(7.0));
        for _ in 0..RECENT_POLLS {
            slot.record_poll(Duration::ZERO, 1, Ok(()));
        }
        assert_eq!(
            Source::measured_requests(&*slot),
            Some(1.0),
            "a burst older than the last polls no longer counts"
        );
        // Built here, not parsed: collect does not depend on config (tests/architecture.rs).
        let settings = Settings {
            queue_filter: queues::QueueFilter::default(),
            intervals: std::collections::BTreeMap::new(),
            own: std::collections::BTreeMap::new(),
        };
        let measured = Registration {
            cost_from_polls: true,
            ..flows::REGISTRATION
        };
        assert_eq!(measured.planned_cost(&settings, 10, &*slot), 1.0);
        slot.record_poll(Duration::ZERO, 12, Ok(()));
        assert_eq!(measured.planned_cost(&settings, 10, &*slot), 12.0);
        assert_eq!(
            flows::REGISTRATION.planned_cost(&settings, 10, &*slot),
            1.0,
            "a static cost stays what the settings say"
        );
        let fresh: Arc<Slot<u32>> = Slot::new("voice", Duration::from_secs(60));
        assert_eq!(
            measured.planned_cost(&settings, 10, &*fresh),
            1.0,
            "the estimate until it has polled"
        );
    }

    #[test]
    fn a_collector_settles_after_a_permanent_failure_or_three_in_a_row() {
        let mut p: Published<u32> = Published::default();
        assert!(!p.settled());
        p.failing = 2;
        assert!(!p.settled(), "two failures may be a blip at start");
        p.failing = 3;
        assert!(p.settled());
        let p = Published::<u32> {
            failing: 1,
            permanent: true,
            ..Published::default()
        };
        assert!(p.settled(), "a 404 will not mend by waiting");
    }

    #[test]
    fn data_goes_stale_after_three_intervals() {
        let interval = Duration::from_secs(15);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let p = Published {
            data: Some(Arc::new(7)),
            last_success: Some(t0),
            last_poll_ok: true,
            ..Published::default()
        };
        assert!(p.up(t0 + Duration::from_secs(45), interval));
        assert_eq!(
            p.fresh_data(t0 + Duration::from_secs(45), interval)
                .map(|d| **d),
            Some(7)
        );
        assert!(!p.up(t0 + Duration::from_secs(46), interval));
        assert!(p
            .fresh_data(t0 + Duration::from_secs(46), interval)
            .is_none());
        let failed = Published {
            last_poll_ok: false,
            ..p.clone()
        };
        assert!(
            !failed.up(t0, interval),
            "a failed last poll is down even with fresh data"
        );
        assert!(failed.fresh_data(t0, interval).is_some());
    }
}
