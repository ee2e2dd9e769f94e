//! Renders the collectors' snapshots and the exporter's self-metrics in the Prometheus
//! exposition formats. Nothing here calls Genesys: a scrape encodes what the slots hold.
//!
//! Series of a collector whose data is older than a few of its intervals
//! are left out (see [`crate::collect::STALE_AFTER_INTERVALS`]), so Prometheus marks them stale instead of graphing frozen values.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::collect::activity::ActivitySnapshot;
use crate::collect::aggregates::{self, AggregatesSnapshot};
use crate::collect::observations::ObservationsSnapshot;
use crate::collect::queues::QueueSet;
use crate::collect::{Published, Slot};
use crate::genesys::ApiMetrics;
use crate::reload::ReloadMetrics;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("encoding the metrics failed")]
    Encode,
    #[error("compressing the metrics failed")]
    Compress(#[source] std::io::Error),
}

fn slot_key<T>(slot: &Slot<T>, now: SystemTime) -> (u64, bool) {
    let p = slot.latest();
    (p.polls, p.fresh_data(now, slot.interval()).is_some())
}

/// Fast compression: bodies are re-encoded once per poll, and text metrics compress ~10x even so.
fn gzip_bytes(data: &[u8]) -> Result<Bytes, RenderError> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::fast(),
    );
    encoder.write_all(data).map_err(RenderError::Compress)?;
    encoder
        .finish()
        .map(Bytes::from)
        .map_err(RenderError::Compress)
}

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The slots of every collector the exporter runs.
#[derive(Debug, Clone)]
pub struct Slots {
    pub queues: Arc<Slot<QueueSet>>,
    pub observations: Arc<Slot<ObservationsSnapshot>>,
    pub activity: Option<Arc<Slot<ActivitySnapshot>>>,
    pub aggregates: Option<Arc<Slot<AggregatesSnapshot>>>,
}

impl Slots {
    /// True once every collector has succeeded at least once (`/-/ready`).
    pub fn all_succeeded(&self) -> bool {
        self.queues.has_succeeded()
            && self.observations.has_succeeded()
            && self.activity.as_ref().is_none_or(|a| a.has_succeeded())
            && self.aggregates.as_ref().is_none_or(|a| a.has_succeeded())
    }
}

/// Which exposition format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    /// Prometheus asks for OpenMetrics first; curl and older tools get the 0.0.4 text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

/// Renders the exposition, and keeps the last body per format and encoding for as long as
/// nothing it shows has changed: concurrent scrapers between two polls share one encoded body.
pub struct Metrics {
    registry: Registry,
    slots: Slots,
    api: ApiMetrics,
    reloads: ReloadMetrics,
    cache: Mutex<HashMap<(Format, bool), (CacheKey, Bytes)>>,
    /// Samples in the body, shown as `genesys_exporter_series`.
    series: Arc<AtomicU64>,
}

/// Everything a body depends on: each collector's completed polls and whether its data is
/// still fresh (time moves that), the API self-metrics' generation, the reload counters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    slots: Vec<(u64, bool)>,
    api: u64,
    reloads: (u64, u64),
}

impl Metrics {
    pub fn new(slots: Slots, api: &ApiMetrics, reloads: &ReloadMetrics) -> Metrics {
        let mut registry = Registry::default();
        api.register(&mut registry);
        reloads.register(&mut registry);
        let series = Arc::new(AtomicU64::new(0));
        registry.register_collector(Box::new(SnapshotCollector {
            slots: slots.clone(),
            series: series.clone(),
        }));
        Metrics {
            registry,
            series,
            slots,
            api: api.clone(),
            reloads: reloads.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The body for a scrape: the cached one if nothing changed since it was encoded, else a
    /// fresh encoding (gzip-compressed when `gzip`). Concurrent scrapers that find the cache
    /// outdated wait for one encoding instead of each doing their own.
    pub fn body(&self, format: Format, gzip: bool) -> Result<Bytes, RenderError> {
        let key = self.key(SystemTime::now());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached_key, body)) = cache.get(&(format, gzip)) {
            if *cached_key == key {
                return Ok(body.clone());
            }
        }
        let mut text = self.render(format).map_err(|_| RenderError::Encode)?;
        // The series gauge is one sample whatever its value, so one more encoding makes it
        // exact; that happens only when the set of series changed.
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count() as u64;
        if self.series.swap(samples, Ordering::Relaxed) != samples {
            text = self.render(format).map_err(|_| RenderError::Encode)?;
        }
        let body = if gzip {
            gzip_bytes(text.as_bytes())?
        } else {
            Bytes::from(text)
        };
        cache.insert((format, gzip), (key, body.clone()));
        Ok(body)
    }

    fn key(&self, now: SystemTime) -> CacheKey {
        let mut slots = vec![
            slot_key(&self.slots.queues, now),
            slot_key(&self.slots.observations, now),
        ];
        slots.extend(self.slots.activity.as_ref().map(|s| slot_key(s, now)));
        slots.extend(self.slots.aggregates.as_ref().map(|s| slot_key(s, now)));
        CacheKey {
            slots,
            api: self.api.generation(),
            reloads: (self.reloads.reloads.get(), self.reloads.failures.get()),
        }
    }

    pub fn render(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut body = String::with_capacity(64 * 1024);
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut body, &self.registry)?
            }
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut body, &self.registry)?
            }
        }
        Ok(body)
    }
}

#[derive(Debug)]
struct SnapshotCollector {
    slots: Slots,
    series: Arc<AtomicU64>,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = SystemTime::now();
        let slots = &self.slots;
        let queues = Latest::of(&slots.queues, now);
        let observations = Latest::of(&slots.observations, now);
        let activity = slots.activity.as_ref().map(|s| Latest::of(s, now));
        let aggregates = slots.aggregates.as_ref().map(|s| Latest::of(s, now));

        let health: Vec<Health> = [Some(&queues.health), Some(&observations.health)]
            .into_iter()
            .chain([
                activity.as_ref().map(|a| &a.health),
                aggregates.as_ref().map(|a| &a.health),
            ])
            .flatten()
            .cloned()
            .collect();
        encode_health(&mut encoder, &health)?;
        encode_build_info(&mut encoder)?;
        gauges(
            &mut encoder,
            "genesys_exporter_series",
            "Samples this exporter serves on /metrics, this one included: its cardinality.",
            [(
                [] as [(&str, &str); 0],
                self.series.load(Ordering::Relaxed) as f64,
            )],
        )?;

        if let Some(set) = &queues.fresh {
            encode_queue_set(&mut encoder, set)?;
        }
        if let Some(snap) = &observations.fresh {
            encode_observations(&mut encoder, snap)?;
        }
        if let Some(snap) = activity.and_then(|a| a.fresh) {
            encode_activity(&mut encoder, &snap)?;
        }
        if let Some(snap) = aggregates.and_then(|a| a.fresh) {
            encode_aggregates(&mut encoder, &snap)?;
        }
        Ok(())
    }
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
#[derive(Clone)]
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

fn gauges<'a, L, I>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: I,
) -> std::fmt::Result
where
    L: AsRef<[(&'a str, &'a str)]>,
    I: IntoIterator<Item = (L, f64)>,
{
    family(encoder, name, help, MetricType::Gauge, rows)
}

fn counters<'a, L, I>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: I,
) -> std::fmt::Result
where
    L: AsRef<[(&'a str, &'a str)]>,
    I: IntoIterator<Item = (L, f64)>,
{
    family(encoder, name, help, MetricType::Counter, rows)
}

/// One metric family: its descriptor, then a sample per row. Counter names are given without
/// `_total`; the encoder appends it.
fn family<'a, L, I>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: I,
) -> std::fmt::Result
where
    L: AsRef<[(&'a str, &'a str)]>,
    I: IntoIterator<Item = (L, f64)>,
{
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        let labels = labels.as_ref();
        let mut sample = family.encode_family(&labels)?;
        match kind {
            MetricType::Counter => sample.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
            _ => sample.encode_gauge(&value)?,
        }
    }
    Ok(())
}

fn encode_health(
    encoder: &mut DescriptorEncoder,
    health: &[Health],
) -> Result<(), std::fmt::Error> {
    gauges(
        encoder,
        "genesys_up",
        "1 when the collector's last poll of Genesys Cloud succeeded and its data is fresh, else 0.",
        health.iter().map(|h| ([("collector", h.name)], if h.up { 1.0 } else { 0.0 })),
    )?;
    gauges(
        encoder,
        "genesys_collector_last_success_timestamp_seconds",
        "Unix time of the collector's last successful poll; data age is time() minus this.",
        health
            .iter()
            .filter_map(|h| Some(([("collector", h.name)], h.last_success?))),
    )?;
    gauges(
        encoder,
        "genesys_collector_duration_seconds",
        "Wall time of the collector's last poll, retries and budget waits included.",
        health
            .iter()
            .filter_map(|h| Some(([("collector", h.name)], h.last_duration?.as_secs_f64()))),
    )?;
    gauges(
        encoder,
        "genesys_collector_interval_seconds",
        "The collector's effective polling interval: the configured one, stretched when the plan does not fit the request budget.",
        health.iter().map(|h| ([("collector", h.name)], h.interval.as_secs_f64())),
    )?;
    gauges(
        encoder,
        "genesys_collector_requests",
        "API requests the collector's last poll sent, retries included: the cost of one refresh.",
        health
            .iter()
            .map(|h| ([("collector", h.name)], h.last_requests as f64)),
    )?;
    counters(
        encoder,
        "genesys_collector_polls",
        "Polls the collector has run.",
        health
            .iter()
            .map(|h| ([("collector", h.name)], h.polls as f64)),
    )?;
    counters(
        encoder,
        "genesys_collector_poll_failures",
        "Polls of the collector that failed.",
        health
            .iter()
            .map(|h| ([("collector", h.name)], h.failures as f64)),
    )
}

fn encode_build_info(encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    gauges(
        encoder,
        "genesys_exporter_build_info",
        "Always 1; the exporter's version as a label.",
        [([("version", env!("CARGO_PKG_VERSION"))], 1.0)],
    )
}

fn encode_queue_set(
    encoder: &mut DescriptorEncoder,
    set: &QueueSet,
) -> Result<(), std::fmt::Error> {
    gauges(
        encoder,
        "genesys_queues",
        "Queues being watched (after the include/exclude filters).",
        [([], set.queues.len() as f64)] as [([(&str, &str); 0], f64); 1],
    )?;
    gauges(
        encoder,
        "genesys_queue_info",
        "Always 1 for each watched queue; carries its name and division.",
        set.queues.iter().map(|q| {
            (
                [
                    ("queue_id", q.id.as_str()),
                    ("queue", q.name.as_str()),
                    ("division", q.division.as_str()),
                ],
                1.0,
            )
        }),
    )
}

fn encode_observations(
    encoder: &mut DescriptorEncoder,
    snap: &ObservationsSnapshot,
) -> Result<(), std::fmt::Error> {
    let rows = || snap.queues.queues.iter().zip(&snap.live);
    gauges(
        encoder,
        "genesys_queue_conversations",
        "Conversations in the queue right now by state (waiting, interacting, alerting): oWaiting, oInteracting, oAlerting.",
        rows().flat_map(|(q, live)| {
            live.media.iter().flat_map(move |(media, m)| {
                m.conversations.by_state().map(move |(state, v)| {
                    (
                        [
                            ("queue_id", q.id.as_str()),
                            ("queue", q.name.as_str()),
                            ("media_type", media.as_str()),
                            ("state", state),
                        ],
                        v as f64,
                    )
                })
            })
        }),
    )?;
    gauges(
        encoder,
        "genesys_queue_longest_waiting_seconds",
        "How long the longest-waiting conversation has waited, as of the last poll (oLongestWaiting); 0 when none waits.",
        rows().flat_map(|(q, live)| {
            live.media.iter().map(move |(media, m)| {
                (
                    [("queue_id", q.id.as_str()), ("queue", q.name.as_str()), ("media_type", media.as_str())],
                    m.longest_waiting_seconds,
                )
            })
        }),
    )?;
    gauges(
        encoder,
        "genesys_queue_on_queue_users",
        "Agents on queue (oOnQueueUsers).",
        rows().map(|(q, live)| {
            (
                [("queue_id", q.id.as_str()), ("queue", q.name.as_str())],
                live.on_queue_users as f64,
            )
        }),
    )?;
    gauges(
        encoder,
        "genesys_queue_users",
        "Queue members by routing status (oUserRoutingStatuses).",
        rows().flat_map(|(q, live)| {
            live.routing_statuses.iter().map(move |(status, v)| {
                (
                    [
                        ("queue_id", q.id.as_str()),
                        ("queue", q.name.as_str()),
                        ("routing_status", status.as_str()),
                    ],
                    *v as f64,
                )
            })
        }),
    )
}

fn encode_activity(
    encoder: &mut DescriptorEncoder,
    snap: &ActivitySnapshot,
) -> Result<(), std::fmt::Error> {
    gauges(
        encoder,
        "genesys_conversations",
        "Conversations org-wide right now by media type and state (conversation activity query).",
        snap.by_media.iter().flat_map(|(media, counts)| {
            counts.by_state().map(move |(state, v)| {
                ([("media_type", media.as_str()), ("state", state)], v as f64)
            })
        }),
    )
}

/// One exported row of analytics: its labels, counters and window values.
struct AggregateRow<'a> {
    labels: Vec<(&'a str, &'a str)>,
    counters: aggregates::Values,
    windows: Vec<aggregates::Values>,
}

/// Per queue and media type, or (`--aggregates.by=media_type`) per media type summed over
/// queues: sums add, maxima take the largest, service levels pool numerators and denominators.
fn aggregate_rows(snap: &AggregatesSnapshot) -> Vec<AggregateRow<'_>> {
    if snap.export.by_queue {
        return snap
            .groups
            .iter()
            .map(|g| {
                let q = &snap.queues.queues[g.queue];
                AggregateRow {
                    labels: vec![
                        ("queue_id", q.id.as_str()),
                        ("queue", q.name.as_str()),
                        ("media_type", g.media_type.as_str()),
                    ],
                    counters: g.counters,
                    windows: g.windows.clone(),
                }
            })
            .collect();
    }
    let mut by_media: BTreeMap<&str, AggregateRow<'_>> = BTreeMap::new();
    for g in &snap.groups {
        let row = by_media
            .entry(g.media_type.as_str())
            .or_insert_with(|| AggregateRow {
                labels: vec![("media_type", g.media_type.as_str())],
                counters: aggregates::Values::default(),
                windows: vec![aggregates::Values::default(); g.windows.len()],
            });
        row.counters.combine(&g.counters);
        for (w, v) in row.windows.iter_mut().zip(&g.windows) {
            w.combine(v);
        }
    }
    by_media.into_values().collect()
}

fn encode_aggregates(
    encoder: &mut DescriptorEncoder,
    snap: &AggregatesSnapshot,
) -> std::fmt::Result {
    let rows = aggregate_rows(snap);
    let export = &snap.export;
    for quantity in aggregates::COUNTED
        .iter()
        .filter(|q| export.exports(q.name))
    {
        let name = format!("genesys_{}", quantity.name);
        let help = format!(
            "{}, since the exporter started; late completions are added as Genesys reports them.",
            quantity.help
        );
        counters(
            encoder,
            &name,
            &help,
            rows.iter()
                .map(|r| (&r.labels, quantity.value(&r.counters))),
        )?;
    }
    let window_rows = |value: &dyn Fn(&aggregates::Values) -> Option<f64>| {
        let mut out = Vec::new();
        for r in &rows {
            for (label, v) in snap.window_labels.iter().zip(&r.windows) {
                if let Some(x) = value(v) {
                    let mut labels = r.labels.clone();
                    labels.push(("window", label.as_str()));
                    out.push((labels, x));
                }
            }
        }
        out
    };
    let window_quantities = aggregates::COUNTED.iter().chain(&aggregates::WINDOW_MAXIMA);
    for quantity in window_quantities.filter(|q| export.exports(q.name)) {
        let name = format!("genesys_window_{}", quantity.name);
        let help = format!(
            "{}, over the window (15m, 1h: the latest buckets; today: since local midnight).",
            quantity.help
        );
        gauges(
            encoder,
            &name,
            &help,
            window_rows(&|v| Some(quantity.value(v))),
        )?;
    }
    if export.exports("service_level_ratio") {
        gauges(
            encoder,
            "genesys_window_service_level_ratio",
            "Service level over the window as Genesys defines it (oServiceLevel): answered within the threshold / (answered + abandoned, short abandons excluded); absent without conversations.",
            window_rows(&aggregates::service_level),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn metrics() -> (Metrics, ApiMetrics) {
        let slots = Slots {
            queues: Slot::new("queues", Duration::from_secs(300)),
            observations: Slot::new("observations", Duration::from_secs(15)),
            activity: None,
            aggregates: None,
        };
        let api = ApiMetrics::default();
        (Metrics::new(slots, &api, &ReloadMetrics::default()), api)
    }

    #[test]
    fn an_unchanged_state_serves_the_cached_body() {
        let (m, api) = metrics();
        let first = m.body(Format::Text, false).unwrap();
        let again = m.body(Format::Text, false).unwrap();
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "the same bytes, not a re-encoding"
        );
        let other_format = m.body(Format::OpenMetrics, false).unwrap();
        assert_ne!(first.as_ptr(), other_format.as_ptr());
        assert!(other_format.ends_with(b"# EOF\n"));

        api.request(crate::genesys::Endpoint::Queues, "200");
        let changed = m.body(Format::Text, false).unwrap();
        assert_ne!(
            first.as_ptr(),
            changed.as_ptr(),
            "a self-metric changed: re-encoded"
        );
        assert!(String::from_utf8_lossy(&changed).contains("code=\"200\""));
    }

    #[test]
    fn gzip_bodies_decompress_to_the_plain_ones() {
        let (m, _) = metrics();
        let plain = m.body(Format::Text, false).unwrap();
        let zipped = m.body(Format::Text, true).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut out)
            .unwrap();
        assert_eq!(out, plain.to_vec());
    }
}
