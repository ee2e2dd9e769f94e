//! Cost of a /metrics body, per exported series, for orgs of 100, 1,000 and 5,000 queues × 5
//! media types with every collector's data present. "full re-encode": each iteration forgets
//! every encoded piece, so the body is encoded whole (the first scrape after start or a
//! reload; target ≤ 150 ns per series, median). "one queue changed": each iteration publishes
//! an observations snapshot in which one queue's live state changed, as a pushed event does,
//! and asks for the body (its block's pieces are encoded anew, the rest reused). Plain
//! bodies in both formats, and gzip in OpenMetrics (what Prometheus asks for).
//! Run: `cargo bench --bench render`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use genesys_exporter::collect::activity::ActivitySnapshot;
use genesys_exporter::collect::aggregates::{
    AggregatesExport, AggregatesSnapshot, GroupAggregates, HistogramSetting, Quantity, Values,
};
use genesys_exporter::collect::observations::{
    ConversationCounts, LiveReport, MediaLive, ObservationsSnapshot, ObservedSet, QueueLive,
    ROUTING_STATUSES,
};
use genesys_exporter::collect::queues::{QueueSet, WatchedQueue};
use genesys_exporter::collect::Collectors;
use genesys_exporter::collect::Slot;
use genesys_exporter::genesys::request::QUEUES;
use genesys_exporter::genesys::ApiMetrics;
use genesys_exporter::metrics::reload::ReloadMetrics;
use genesys_exporter::metrics::{Format, Metrics};

const MEDIA: [&str; 5] = ["callback", "chat", "email", "message", "voice"];

/// A full exporter state for `n` queues, as the collectors would publish it.
/// The exporter's body, its API self-metrics, and its observations slot with the snapshot it
/// holds.
struct State {
    metrics: Metrics,
    api: ApiMetrics,
    observations: Arc<Slot<ObservationsSnapshot>>,
    last: ObservationsSnapshot,
}

fn metrics(n: usize) -> State {
    let queues = Arc::new(QueueSet {
        queues: (0..n)
            .map(|i| WatchedQueue {
                id: format!("{i:08x}-aaaa-bbbb-cccc-0123456789ab"),
                name: format!("Queue {i} - Support \"EN\""),
                division: "Home".into(),
                media_types: MEDIA.iter().map(|m| m.to_string()).collect(),
            })
            .collect(),
    });
    let live = (0..n)
        .map(|i| {
            Some(Arc::new(QueueLive {
                media: MEDIA
                    .iter()
                    .map(|m| {
                        let c = ConversationCounts {
                            waiting: i as u64 % 7,
                            interacting: 3,
                            alerting: 1,
                        };
                        (
                            m.to_string(),
                            MediaLive {
                                conversations: c,
                                longest_waiting_seconds: 12.5,
                                longest_interacting_seconds: 95.0,
                            },
                        )
                    })
                    .collect(),
                on_queue_users: 8,
                routing_statuses: ROUTING_STATUSES
                    .iter()
                    .map(|s| (s.to_string(), 2))
                    .collect::<BTreeMap<_, _>>(),
                member_users: 12,
                active_users: 10,
                off_queue_users: 4,
                // The system presences of a typical org.
                presences: [
                    "available",
                    "away",
                    "break",
                    "busy",
                    "meal",
                    "meeting",
                    "offline",
                    "on_queue",
                    "training",
                ]
                .iter()
                .map(|s| (s.to_string(), 1))
                .collect(),
            }))
        })
        .collect();
    let mut values = Values::default();
    for (i, q) in Quantity::ALL.into_iter().enumerate() {
        values[q] = 1000.0 + i as f64;
    }
    // The default histogram's buckets (answer wait): growing counts below the +Inf count.
    let histograms = HistogramSetting::defaults();
    let views: usize = histograms.iter().map(|h| h.bounds().len()).sum();
    for (slot, count) in (0..views).zip((100..).step_by(100)) {
        values.set_view(slot, count);
    }
    let groups = (0..n)
        .flat_map(|q| MEDIA.iter().map(move |m| (q, m)))
        .map(|(q, m)| GroupAggregates {
            queue: q,
            media_type: m.to_string(),
            direction: None,
            counters: values,
            windows: vec![values; 1],
            histogram_base: Values::default(),
        })
        .collect();
    let queue_slot = Slot::new("queues", Duration::from_secs(300));
    queue_slot.publish((*queues).clone());
    let observations = Slot::new("observations", Duration::from_secs(15));
    let first = ObservationsSnapshot::new(
        queues.clone(),
        live,
        LiveReport::default(),
        ObservedSet::ALL,
    );
    observations.publish(first.clone());
    let activity = Slot::new("activity", Duration::from_secs(15));
    activity.publish(ActivitySnapshot::default());
    let aggregates = Slot::new("aggregates", Duration::from_secs(60));
    aggregates.publish(AggregatesSnapshot {
        queues,
        window_labels: vec!["today".into()],
        groups,
        export: AggregatesExport::default(),
        refused: Vec::new(),
        histograms: histograms
            .into_iter()
            .scan(0, |first, h| {
                let at = *first;
                *first += h.bounds().len();
                Some((h, at))
            })
            .collect(),
        today: Some(0),
        refused_histograms: Vec::new(),
    });
    let collectors = Collectors {
        all: vec![
            queue_slot.clone(),
            observations.clone(),
            activity,
            aggregates,
        ],
        queues: queue_slot,
    };
    let api = ApiMetrics::default();
    State {
        // Each iteration's change is encoded: the hold would serve most of them the body before.
        metrics: Metrics::new(
            collectors.parts(),
            std::sync::Arc::new(api.clone()),
            &ReloadMetrics::default(),
        )
        .without_hold(),
        api,
        observations,
        last: first,
    }
}

impl State {
    /// Queue `i`'s live state changes (one more agent on queue), as after a pushed event.
    fn event(&mut self, i: usize) {
        let mut live = self.last.live.clone();
        let i = i % live.len();
        if let Some(q) = &live[i] {
            let mut changed = (**q).clone();
            changed.on_queue_users += 1;
            live[i] = Some(Arc::new(changed));
        }
        let next = ObservationsSnapshot::after(
            Some(&self.last),
            self.last.queues.clone(),
            live,
            self.last.report.clone(),
            self.last.observed,
        );
        self.observations.publish(next.clone());
        self.last = next;
    }
}

fn render(c: &mut Criterion) {
    for (name, whole) in [("full re-encode", true), ("one queue changed", false)] {
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        for n in [100, 1000, 5000] {
            let mut state = metrics(n);
            let body = state.metrics.body(Format::Text, false).unwrap().to_vec();
            let series = String::from_utf8_lossy(&body)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .count() as u64;
            drop(body);
            // Elements = series, so criterion reports time per series as throughput.
            group.throughput(Throughput::Elements(series));
            for (format, gzip) in [
                (Format::Text, false),
                (Format::OpenMetrics, false),
                (Format::OpenMetrics, true),
            ] {
                let encoding = if gzip { " gzip" } else { "" };
                let id = BenchmarkId::new(
                    format!("{format:?}{encoding}"),
                    format!("{n} queues, {series} series"),
                );
                let mut event = 0;
                group.bench_function(id, |b| {
                    b.iter(|| {
                        if whole {
                            state.api.request(QUEUES, "200");
                            state.metrics.forget_encodings();
                        } else {
                            event += 37;
                            state.event(event);
                        }
                        state.metrics.body(format, gzip).unwrap()
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, render);
criterion_main!(benches);
