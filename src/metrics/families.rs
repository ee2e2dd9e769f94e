//! What each collector's snapshot exports, and the collectors' own health: the families
//! written at scrape time from whatever the slots hold.
//!
//! Series of a collector whose data is older than a few of its intervals are left out (see
//! [`crate::collect::STALE_AFTER_INTERVALS`]), so Prometheus marks them stale instead of
//! graphing frozen values.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Result;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::exposition::{Exposition, Kind, Labels};
use super::Slots;
use crate::collect::activity::ActivitySnapshot;
use crate::collect::aggregates::{self, AggregatesSnapshot};
use crate::collect::observations::{ConversationCounts, ObservationsSnapshot};
use crate::collect::queues::QueueSet;
use crate::collect::{Published, Slot};

/// Every collector's health, then the data of those whose data is fresh.
pub(super) fn write(e: &mut Exposition, slots: &Slots, now: SystemTime) -> Result<()> {
    let queues = Latest::of(&slots.queues, now);
    let observations = Latest::of(&slots.observations, now);
    let activity = slots.activity.as_ref().map(|s| Latest::of(s, now));
    let aggregates = slots.aggregates.as_ref().map(|s| Latest::of(s, now));

    let health: Vec<&Health> = [Some(&queues.health), Some(&observations.health)]
        .into_iter()
        .chain([
            activity.as_ref().map(|a| &a.health),
            aggregates.as_ref().map(|a| &a.health),
        ])
        .flatten()
        .collect();
    write_health(e, &health)?;
    rows(
        e,
        "genesys_exporter_build_info",
        "Always 1; the exporter's version as a label.",
        Kind::Gauge,
        [(Labels::of(&[("version", env!("CARGO_PKG_VERSION"))]), 1.0)],
    )?;
    if let Some(set) = &queues.fresh {
        write_queue_set(e, set)?;
    }
    if let Some(snap) = &observations.fresh {
        write_observations(e, snap)?;
    }
    if let Some(snap) = activity.and_then(|a| a.fresh) {
        write_activity(e, &snap)?;
    }
    if let Some(snap) = aggregates.and_then(|a| a.fresh) {
        write_aggregates(e, &snap)?;
    }
    Ok(())
}

/// The last family: every sample before it, plus itself, so it is exact in one pass.
pub(super) fn write_series(e: &mut Exposition) -> Result<()> {
    let series = e.samples() + 1;
    rows(
        e,
        "genesys_exporter_series",
        "Samples this exporter serves on /metrics, this one included: its cardinality.",
        Kind::Gauge,
        [(Labels::new(), series as f64)],
    )
}

/// A slot read at scrape time: its health, and its data if fresh enough to serve.
struct Latest<T> {
    health: Health,
    fresh: Option<Arc<T>>,
}

impl<T> Latest<T> {
    fn of(slot: &Slot<T>, now: SystemTime) -> Latest<T> {
        let p = slot.latest();
        Latest {
            health: Health::of(slot, &p, now),
            fresh: p.fresh_data(now, slot.interval()).cloned(),
        }
    }
}

/// One collector's self-metrics, computed at scrape time.
struct Health {
    name: &'static str,
    up: bool,
    last_success: Option<f64>,
    last_duration: Option<Duration>,
    last_requests: u64,
    interval: Duration,
    polls: u64,
    failures: u64,
}

impl Health {
    fn of<T>(slot: &Slot<T>, p: &Published<T>, now: SystemTime) -> Health {
        Health {
            name: slot.name,
            up: p.up(now, slot.interval()),
            last_success: p
                .last_success
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
            last_duration: p.last_duration,
            last_requests: p.last_requests,
            interval: slot.interval(),
            polls: p.polls,
            failures: p.failures,
        }
    }
}

/// One family: its descriptor, then a sample per row.
fn rows<I>(e: &mut Exposition, name: &str, help: &str, kind: Kind, rows: I) -> Result<()>
where
    I: IntoIterator<Item = (Labels, f64)>,
{
    e.family(name, help, kind)?;
    for (labels, value) in rows {
        e.sample(&[&labels], value)?;
    }
    Ok(())
}

/// Escaped `name="value"` sets for the few values a label takes (media types, states,
/// windows), built once per scrape instead of once per sample.
struct Memo<'a> {
    name: &'static str,
    sets: HashMap<&'a str, Labels>,
}

impl<'a> Memo<'a> {
    fn new(name: &'static str) -> Memo<'a> {
        Memo {
            name,
            sets: HashMap::new(),
        }
    }

    fn get(&mut self, value: &'a str) -> &Labels {
        let name = self.name;
        self.sets
            .entry(value)
            .or_insert_with(|| Labels::new().with(name, value))
    }
}

/// `queue_id` and `queue` of every queue, in the set's order.
fn queue_labels(set: &QueueSet) -> Vec<Labels> {
    set.queues
        .iter()
        .map(|q| Labels::new().with("queue_id", &q.id).with("queue", &q.name))
        .collect()
}

/// One health family's value for a collector; `None` leaves the collector out.
type HealthValue = dyn Fn(&Health) -> Option<f64>;

fn write_health(e: &mut Exposition, health: &[&Health]) -> Result<()> {
    let by_collector = |value: &HealthValue| {
        health
            .iter()
            .filter_map(|h| Some((Labels::of(&[("collector", h.name)]), value(h)?)))
            .collect::<Vec<_>>()
    };
    let families: [(&str, &str, Kind, &HealthValue); 7] = [
        (
            "genesys_up",
            "1 when the collector's last poll of Genesys Cloud succeeded and its data is fresh, else 0.",
            Kind::Gauge,
            &|h| Some(if h.up { 1.0 } else { 0.0 }),
        ),
        (
            "genesys_collector_last_success_timestamp_seconds",
            "Unix time of the collector's last successful poll; data age is time() minus this.",
            Kind::Gauge,
            &|h| h.last_success,
        ),
        (
            "genesys_collector_duration_seconds",
            "Wall time of the collector's last poll, retries and budget waits included.",
            Kind::Gauge,
            &|h| h.last_duration.map(|d| d.as_secs_f64()),
        ),
        (
            "genesys_collector_interval_seconds",
            "The collector's effective polling interval: the configured one, stretched when the plan does not fit the request budget.",
            Kind::Gauge,
            &|h| Some(h.interval.as_secs_f64()),
        ),
        (
            "genesys_collector_requests",
            "API requests the collector's last poll sent, retries included: the cost of one refresh.",
            Kind::Gauge,
            &|h| Some(h.last_requests as f64),
        ),
        (
            "genesys_collector_polls",
            "Polls the collector has run.",
            Kind::Counter,
            &|h| Some(h.polls as f64),
        ),
        (
            "genesys_collector_poll_failures",
            "Polls of the collector that failed.",
            Kind::Counter,
            &|h| Some(h.failures as f64),
        ),
    ];
    for (name, help, kind, value) in families {
        rows(e, name, help, kind, by_collector(value))?;
    }
    Ok(())
}

fn write_queue_set(e: &mut Exposition, set: &QueueSet) -> Result<()> {
    rows(
        e,
        "genesys_queues",
        "Queues being watched (after the include/exclude filters).",
        Kind::Gauge,
        [(Labels::new(), set.queues.len() as f64)],
    )?;
    rows(
        e,
        "genesys_queue_info",
        "Always 1 for each watched queue; carries its name and division.",
        Kind::Gauge,
        set.queues.iter().map(|q| {
            let labels = Labels::new()
                .with("queue_id", &q.id)
                .with("queue", &q.name)
                .with("division", &q.division);
            (labels, 1.0)
        }),
    )
}

/// The `state` label of conversation counts, in [`ConversationCounts::by_state`]'s order.
struct StateLabels([Labels; 3]);

impl StateLabels {
    fn new() -> StateLabels {
        StateLabels(
            ConversationCounts::default()
                .by_state()
                .map(|(state, _)| Labels::new().with("state", state)),
        )
    }

    /// One sample per state, after the given labels (an empty set writes nothing).
    fn write(
        &self,
        e: &mut Exposition,
        labels: [&Labels; 2],
        counts: &ConversationCounts,
    ) -> Result<()> {
        for ((_, v), state) in counts.by_state().iter().zip(&self.0) {
            e.sample(&[labels[0], labels[1], state], *v as f64)?;
        }
        Ok(())
    }
}

fn write_observations(e: &mut Exposition, snap: &ObservationsSnapshot) -> Result<()> {
    let queues = queue_labels(&snap.queues);
    let rows = || queues.iter().zip(&snap.live);
    let mut media = Memo::new("media_type");
    let states = StateLabels::new();

    e.family(
        "genesys_queue_conversations",
        "Conversations in the queue right now by state (waiting, interacting, alerting): oWaiting, oInteracting, oAlerting.",
        Kind::Gauge,
    )?;
    for (q, live) in rows() {
        for (m, counts) in &live.media {
            states.write(e, [q, media.get(m)], &counts.conversations)?;
        }
    }
    e.family(
        "genesys_queue_longest_waiting_seconds",
        "How long the longest-waiting conversation has waited, as of the last poll (oLongestWaiting); 0 when none waits.",
        Kind::Gauge,
    )?;
    for (q, live) in rows() {
        for (m, counts) in &live.media {
            e.sample(&[q, media.get(m)], counts.longest_waiting_seconds)?;
        }
    }
    e.family(
        "genesys_queue_on_queue_users",
        "Agents on queue (oOnQueueUsers).",
        Kind::Gauge,
    )?;
    for (q, live) in rows() {
        e.sample(&[q], live.on_queue_users as f64)?;
    }
    let mut statuses = Memo::new("routing_status");
    e.family(
        "genesys_queue_users",
        "Queue members by routing status (oUserRoutingStatuses).",
        Kind::Gauge,
    )?;
    for (q, live) in rows() {
        for (status, v) in &live.routing_statuses {
            e.sample(&[q, statuses.get(status)], *v as f64)?;
        }
    }
    Ok(())
}

fn write_activity(e: &mut Exposition, snap: &ActivitySnapshot) -> Result<()> {
    let states = StateLabels::new();
    e.family(
        "genesys_conversations",
        "Conversations org-wide right now by media type and state (conversation activity query).",
        Kind::Gauge,
    )?;
    for (media, counts) in &snap.by_media {
        states.write(
            e,
            [&Labels::new(), &Labels::new().with("media_type", media)],
            counts,
        )?;
    }
    Ok(())
}

/// One exported row of analytics: its labels, counters and window values.
struct AggregateRow<'a> {
    labels: Labels,
    counters: aggregates::Values,
    windows: Cow<'a, [aggregates::Values]>,
}

/// Per queue and media type, or (`--aggregates.by=media_type`) per media type summed over
/// queues: sums add, maxima take the largest, service levels pool numerators and denominators.
fn aggregate_rows(snap: &AggregatesSnapshot) -> Vec<AggregateRow<'_>> {
    if snap.export.by_queue {
        let queues = queue_labels(&snap.queues);
        let mut media = Memo::new("media_type");
        return snap
            .groups
            .iter()
            .map(|g| AggregateRow {
                labels: queues[g.queue].join(media.get(&g.media_type)),
                counters: g.counters,
                windows: Cow::Borrowed(&g.windows),
            })
            .collect();
    }
    let mut by_media: BTreeMap<&str, AggregateRow<'_>> = BTreeMap::new();
    for g in &snap.groups {
        let row = by_media
            .entry(g.media_type.as_str())
            .or_insert_with(|| AggregateRow {
                labels: Labels::new().with("media_type", &g.media_type),
                counters: aggregates::Values::default(),
                windows: Cow::Owned(vec![aggregates::Values::default(); g.windows.len()]),
            });
        row.counters.combine(&g.counters);
        for (w, v) in row.windows.to_mut().iter_mut().zip(&g.windows) {
            w.combine(v);
        }
    }
    by_media.into_values().collect()
}

fn write_aggregates(e: &mut Exposition, snap: &AggregatesSnapshot) -> Result<()> {
    let rows = aggregate_rows(snap);
    let export = &snap.export;
    for quantity in aggregates::COUNTED
        .iter()
        .filter(|q| export.exports(q.name))
    {
        e.family(
            &format!("genesys_{}", quantity.name),
            &format!(
                "{}, since the exporter started; late completions are added as Genesys reports them.",
                quantity.help
            ),
            Kind::Counter,
        )?;
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
                         name: &str,
                         help: &str,
                         value: &dyn Fn(&aggregates::Values) -> Option<f64>|
     -> Result<()> {
        e.family(name, help, Kind::Gauge)?;
        for r in &rows {
            for (w, v) in windows.iter().zip(r.windows.iter()) {
                if let Some(x) = value(v) {
                    e.sample(&[&r.labels, w], x)?;
                }
            }
        }
        Ok(())
    };
    let window_quantities = aggregates::COUNTED.iter().chain(&aggregates::WINDOW_MAXIMA);
    for quantity in window_quantities.filter(|q| export.exports(q.name)) {
        window_family(
            e,
            &format!("genesys_window_{}", quantity.name),
            &format!(
                "{}, over the window (15m, 1h: the latest buckets; today: since local midnight).",
                quantity.help
            ),
            &|v| Some(quantity.value(v)),
        )?;
    }
    if export.exports("service_level_ratio") {
        window_family(
            e,
            "genesys_window_service_level_ratio",
            "Service level over the window as Genesys defines it (oServiceLevel): answered within the threshold / (answered + abandoned, short abandons excluded); absent without conversations.",
            &aggregates::service_level,
        )?;
    }
    Ok(())
}
