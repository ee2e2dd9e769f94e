//! The analytics histograms against the simulated org's ground truth: every bucket, `_count`
//! and `_sum` equal what Genesys' views and timers say, since start (late revisions
//! included) and today; a value exactly on a bound counts in that bucket (`le`, at most); the
//! default histogram costs no request; a refusal of the views stops only the histograms.

mod common;

use std::time::Duration;

use common::aggregates::{truth_value, COUNTERS};
use common::*;
use genesys_sim::{SimOrg, ViewTruth};

const GRANULARITY_MS: i64 = 5 * 60 * 1000;
const AGG: &str = "/api/v2/analytics/conversations/aggregates/query";

/// Each histogram: its family, the timer its views count, and its default bounds (seconds,
/// as docs/metrics.md lists them).
const HISTOGRAMS: [(&str, &str, &[f64]); 3] = [
    (
        "genesys_conversation_answer_wait_seconds",
        "tAnswered",
        &[5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0],
    ),
    (
        "genesys_conversation_abandon_wait_seconds",
        "tAbandon",
        &[5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0],
    ),
    (
        "genesys_conversation_handle_seconds",
        "tHandle",
        &[
            60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
        ],
    ),
];

fn bucket_end(ms: i64) -> i64 {
    (ms.div_euclid(GRANULARITY_MS) + 1) * GRANULARITY_MS
}

/// What one histogram of one group must show: the count at or below each bound, the
/// count, and the sum (ms).
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    at_most: Vec<u64>,
    count: u64,
    sum_ms: i64,
}

impl Expected {
    /// From the timer's observations: `le` means at most, so a value equal to a bound counts.
    fn of(truth: &ViewTruth, queue: &str, media: &str, timer: &str, bounds: &[f64]) -> Expected {
        let values: &[i64] = truth
            .groups
            .get(&(queue.to_string(), media.to_string()))
            .and_then(|g| g.get(timer))
            .map_or(&[], Vec::as_slice);
        Expected {
            at_most: bounds
                .iter()
                .map(|b| values.iter().filter(|&&v| v as f64 <= b * 1000.0).count() as u64)
                .collect(),
            count: values.len() as u64,
            sum_ms: values.iter().sum(),
        }
    }

    /// What grew from `earlier` to `self`.
    fn since(&self, earlier: &Expected) -> Expected {
        Expected {
            at_most: self
                .at_most
                .iter()
                .zip(&earlier.at_most)
                .map(|(a, b)| a - b)
                .collect(),
            count: self.count - earlier.count,
            sum_ms: self.sum_ms - earlier.sum_ms,
        }
    }
}

/// `le` as the text format spells it (Go's clients): "20", "0.5" (Rust's shortest form
/// agrees for whole milliseconds below 10^6 s).
fn le(bound: f64) -> String {
    bound.to_string()
}

/// Every difference between the exported histogram `family` and `expected`, for every
/// watched queue × media type; `extra` labels (the window) after the queue's.
fn mismatches(
    sim: &SimOrg,
    s: &Scrape,
    family: &str,
    bounds: &[f64],
    extra: &[(&str, &str)],
    expected: impl Fn(&str, &str) -> Expected,
) -> Vec<String> {
    let mut out = Vec::new();
    for q in &sim.truth().queues {
        for media in &q.media_types {
            let mut labels = vec![
                ("queue_id", q.id.as_str()),
                ("queue", q.name.as_str()),
                ("media_type", media.as_str()),
            ];
            labels.extend_from_slice(extra);
            let want = expected(&q.id, media);
            let mut check = |name: String, labels: &[(&str, &str)], want: f64| {
                let got = s.get(&name, labels);
                if got.is_none_or(|g| (g - want).abs() > 1e-6) {
                    out.push(format!("{name} {labels:?}: exported {got:?}, truth {want}"));
                }
            };
            for (bound, n) in bounds.iter().zip(&want.at_most) {
                let b = le(*bound);
                let mut l = labels.clone();
                l.push(("le", &b));
                check(format!("{family}_bucket"), &l, *n as f64);
            }
            let mut inf = labels.clone();
            inf.push(("le", "+Inf"));
            check(format!("{family}_bucket"), &inf, want.count as f64);
            check(format!("{family}_count"), &labels, want.count as f64);
            check(
                format!("{family}_sum"),
                &labels,
                want.sum_ms as f64 / 1000.0,
            );
        }
    }
    out
}

fn assert_none(diffs: Vec<String>, what: &str) {
    assert!(
        diffs.is_empty(),
        "{what}: {} differences, first: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bucket_count_and_sum_since_start_equal_the_truth_late_revisions_included() {
    let sim = start_sim(sim_at("2026-11-24T10:02:30Z")).await;
    // Views with nothing in an interval left out of the answer: they count 0 there.
    sim.faults().set_omit_empty_views(true);
    let exporter = start_exporter_on_sim_clock(&sim, &["--aggregates.histograms=all"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    // The first refresh is the baseline, as for the counters.
    let t0 = sim.now_ms();
    wait_polls(addr, "aggregates").await;
    let start0 = bucket_end(t0) - 2 * 3600 * 1000;
    let baseline = sim.aggregate_view_truth(start0, bucket_end(t0), Some(t0));

    let closed_bucket = (bucket_end(t0) - GRANULARITY_MS, bucket_end(t0));
    let mut last = sim.now_ms();
    for _ in 0..8 {
        sim.advance(Duration::from_secs(90));
        wait_polls(addr, "aggregates").await;
        last = sim.now_ms();
    }
    let now = sim.aggregate_view_truth(start0, bucket_end(last), Some(last));
    let s = scrape(addr).await;
    for (family, timer, bounds) in HISTOGRAMS {
        assert_none(
            mismatches(&sim, &s, family, bounds, &[], |q, m| {
                Expected::of(&now, q, m, timer, bounds)
                    .since(&Expected::of(&baseline, q, m, timer, bounds))
            }),
            family,
        );
    }
    // The histogram's count is the answered counter's: one exactly-once machinery.
    let counted: f64 = s.total("genesys_conversation_answer_wait_seconds_count");
    let counter: f64 = s.total("genesys_conversations_answered_total");
    assert!(counted > 20.0, "a busy morning answers calls ({counted})");
    assert_eq!(counted, counter);

    // The run did exercise late revisions: the bucket that closed first kept growing after
    // it closed, in what its views count too.
    let early = sim.aggregate_view_truth(closed_bucket.0, closed_bucket.1, Some(closed_bucket.1));
    let later = sim.aggregate_view_truth(closed_bucket.0, closed_bucket.1, Some(last));
    assert!(
        HISTOGRAMS
            .iter()
            .any(|(_, timer, _)| early.total_in(timer, None, None)
                < later.total_in(timer, None, None)),
        "a closed bucket was revised"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn today_equals_genesys_since_midnight_and_a_value_on_a_bound_counts_in_its_bucket() {
    let sim = start_sim(sim_at("2026-11-24T14:11:00Z")).await;
    sim.advance(Duration::from_secs(40 * 60));
    let now = sim.now_ms();
    let end = bucket_end(now);
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    let truth = sim.aggregate_view_truth(midnight, end, Some(now));

    // Bounds on answer waits that happened, in whole seconds: each has values exactly on it.
    let mut on_a_second: Vec<i64> = truth
        .groups
        .values()
        .filter_map(|g| g.get("tAnswered"))
        .flatten()
        .copied()
        .filter(|v| *v > 0 && v % 1000 == 0)
        .collect();
    on_a_second.sort_unstable();
    on_a_second.dedup();
    assert!(
        on_a_second.len() >= 3,
        "the simulated day has answer waits of whole seconds: {on_a_second:?}"
    );
    let step = on_a_second.len().div_ceil(10);
    let bounds: Vec<f64> = on_a_second
        .iter()
        .step_by(step)
        .map(|v| *v as f64 / 1000.0)
        .collect();
    let flag = format!(
        "--aggregates.answer-wait-buckets={}",
        bounds.iter().map(|b| le(*b)).collect::<Vec<_>>().join(",")
    );
    let exporter = start_exporter_on_sim_clock(&sim, &[&flag]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = wait_polls(addr, "aggregates").await;

    let family = "genesys_window_conversation_answer_wait_seconds";
    assert_none(
        mismatches(&sim, &s, family, &bounds, &[("window", "today")], |q, m| {
            Expected::of(&truth, q, m, "tAnswered", &bounds)
        }),
        family,
    );
    // On a bound means in its bucket: `le` counts more than Genesys' exclusive `lt` would.
    for b in &bounds {
        let at_most = truth.total_in("tAnswered", None, Some(b * 1000.0 + 1.0));
        let below = truth.total_in("tAnswered", None, Some(b * 1000.0));
        assert!(at_most > below, "a value lies exactly on {b} s");
        let exported: f64 = s
            .all(&format!("{family}_bucket"))
            .iter()
            .filter(|(l, _)| l.get("le") == Some(&le(*b)))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(exported, at_most as f64, "le={b}");
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// Aggregates requests of one refresh (the first: its query and today's base before the
/// look-back), with the histograms `histograms` asks for, and the planned requests a minute.
async fn first_refresh_cost(histograms: &str) -> (u64, f64) {
    let sim = start_sim(sim_at("2026-11-24T14:11:00Z")).await;
    let flag = format!("--aggregates.histograms={histograms}");
    let exporter =
        start_exporter_on_sim_clock(&sim, &[&flag, "--collector.aggregates.interval=1h"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = wait_value(
        addr,
        "the first refresh",
        "genesys_collector_polls_total",
        &[("collector", "aggregates")],
        |v| v >= 1.0,
    )
    .await;
    let planned = value(&s, "genesys_api_planned_requests_per_minute", &[]);
    let requests = sim.stats().count("POST", AGG);
    exporter.shutdown().await;
    sim.shutdown().await;
    (requests, planned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_histogram_rides_in_the_query_and_each_opt_in_one_costs_a_query() {
    // 36 queues: one batch. A refresh asks for the look-back, and the first one for today's
    // base too.
    let (none, planned_none) = first_refresh_cost("none").await;
    let (default, planned_default) = first_refresh_cost("default").await;
    let (all, planned_all) = first_refresh_cost("all").await;
    assert_eq!(none, 2);
    assert_eq!(default, none, "the answer wait views ride in the query");
    assert_eq!(planned_default, planned_none);
    // 9 + 9 + 10 views: the query's 10, then 10 and 8 in two more queries.
    assert_eq!(all, 3 * none);
    assert!(planned_all > planned_none, "the plan counts them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_genesys_refuses_stop_the_histograms_and_nothing_else() {
    let sim = start_sim(sim_at("2026-11-24T10:30:00Z")).await;
    sim.faults().refuse_aggregate_views(true);
    let exporter = start_exporter_on_sim_clock(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let t0 = sim.now_ms();
    wait_polls(addr, "aggregates").await;
    let start0 = bucket_end(t0) - 2 * 3600 * 1000;
    let baseline = sim.aggregate_truth(start0, bucket_end(t0), Some(t0));
    sim.advance(Duration::from_secs(300));
    wait_polls(addr, "aggregates").await;
    let last = sim.now_ms();
    let s = wait_polls(addr, "aggregates").await;

    let refused = value(
        &s,
        "genesys_aggregates_refused_histogram",
        &[("histogram", "genesys_conversation_answer_wait_seconds")],
    );
    assert_eq!(refused, 1.0, "the metric says why the histogram is gone");
    assert!(!s.has("genesys_conversation_answer_wait_seconds_count"));
    assert!(!s.has("genesys_window_conversation_answer_wait_seconds_count"));
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "aggregates")]),
        1.0,
        "the collector is up"
    );
    // The counters carry on, exact.
    let now = sim.aggregate_truth(start0, bucket_end(last), Some(last));
    for q in &sim.truth().queues {
        for media in &q.media_types {
            let l = [
                ("queue_id", q.id.as_str()),
                ("queue", q.name.as_str()),
                ("media_type", media.as_str()),
            ];
            for (name, metric, field) in COUNTERS {
                let want = truth_value(&now, &q.id, media, metric, field)
                    - truth_value(&baseline, &q.id, media, metric, field);
                let got = s.get(name, &l);
                assert!(
                    got.is_some_and(|g| (g - want).abs() < 1e-6),
                    "{name} {l:?}: exported {got:?}, truth {want}"
                );
            }
        }
    }
    let offered: f64 = s.total("genesys_conversations_offered_total");
    assert!(offered > 0.0, "conversations were counted ({offered})");
    // Found once: the refused query and the same without views, then no views again.
    assert_eq!(sim.stats().count_status("POST", AGG, 400), 1);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_direction_each_bucket_splits_and_the_directions_add_up_to_the_truth() {
    let sim = start_sim(sim_at("2026-11-24T14:11:00Z")).await;
    sim.advance(Duration::from_secs(40 * 60));
    let now = sim.now_ms();
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    let truth = sim.aggregate_view_truth(midnight, bucket_end(now), Some(now));
    let exporter = start_exporter_on_sim_clock(&sim, &["--aggregates.by-direction"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = wait_polls(addr, "aggregates").await;
    let (family, timer, bounds) = HISTOGRAMS[0];
    let today = format!("genesys_window_{}", family.trim_start_matches("genesys_"));
    let mut outbound = 0.0;
    for q in &sim.truth().queues {
        for media in &q.media_types {
            let want = Expected::of(&truth, &q.id, media, timer, bounds);
            let both = |suffix: &str, le: Option<&str>| -> (f64, f64) {
                let per = |direction: &str| {
                    let mut l = vec![
                        ("queue_id", q.id.as_str()),
                        ("queue", q.name.as_str()),
                        ("media_type", media.as_str()),
                        ("direction", direction),
                        ("window", "today"),
                    ];
                    if let Some(le) = le {
                        l.push(("le", le));
                    }
                    s.get(&format!("{today}{suffix}"), &l)
                        .unwrap_or_else(|| panic!("{today}{suffix} {l:?} is served"))
                };
                (per("inbound"), per("outbound"))
            };
            for (b, n) in bounds.iter().zip(&want.at_most) {
                let (i, o) = both("_bucket", Some(&le(*b)));
                assert_eq!(i + o, *n as f64, "{} {media} le={b}", q.name);
            }
            let (i, o) = both("_count", None);
            assert_eq!(i + o, want.count as f64, "{} {media}", q.name);
            outbound += o;
        }
    }
    assert!(outbound > 0.0, "some answered conversations were outbound");
    exporter.shutdown().await;
    sim.shutdown().await;
}
