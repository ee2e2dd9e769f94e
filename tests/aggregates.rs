//! Analytics aggregates against the simulated org's ground truth: counters count every bucket
//! exactly once, late completions included; windows match Genesys' own numbers for the span.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::aggregates::{assert_today_windows, truth_value, Field, COUNTERS};
use common::*;
use genesys_sim::{AggregateTruth, SimConfig, SimOrg};

const GRANULARITY_MS: i64 = 5 * 60 * 1000;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// End of the bucket that contains `ms`: where the exporter's queries end.
fn bucket_end(ms: i64) -> i64 {
    (ms.div_euclid(GRANULARITY_MS) + 1) * GRANULARITY_MS
}

fn labels<'a>(queue: &'a str, name: &'a str, media: &'a str) -> [(&'a str, &'a str); 3] {
    [("queue_id", queue), ("queue", name), ("media_type", media)]
}

/// Exported counter minus expected, for every watched queue x media x counter; empty if equal.
fn counter_mismatches(
    sim: &SimOrg,
    s: &Scrape,
    expected: impl Fn(&str, &str, &str, Field) -> f64,
) -> Vec<String> {
    let mut out = Vec::new();
    for q in &sim.truth().queues {
        for media in &q.media_types {
            for (name, metric, field) in COUNTERS {
                let got = s.get(name, &labels(&q.id, &q.name, media));
                let want = expected(&q.id, media, metric, field);
                if got.is_none_or(|g| (g - want).abs() > 1e-6) {
                    out.push(format!(
                        "{name} {} {media}: exported {got:?}, truth {want}",
                        q.name
                    ));
                }
            }
        }
    }
    out
}

async fn scrape_after_poll(addr: std::net::SocketAddr) -> Scrape {
    wait_polls(addr, "aggregates").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_count_every_bucket_once_late_completions_included() {
    let sim = start_sim(sim_at("2026-11-24T10:02:30Z")).await;
    let exporter = start_exporter_on_sim_clock(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    // The first refresh is the baseline: every counter starts at 0.
    let t0 = sim.now_ms();
    let s = scrape_after_poll(addr).await;
    assert!(
        counter_mismatches(&sim, &s, |_, _, _, _| 0.0).is_empty(),
        "counters start at 0"
    );
    let start0 = bucket_end(t0) - 2 * 3600 * 1000;
    let baseline = sim.aggregate_truth(start0, bucket_end(t0), Some(t0));

    // Twelve minutes of business time in 90 s steps, a refresh after each.
    let closed_bucket = (bucket_end(t0) - GRANULARITY_MS, bucket_end(t0));
    let mut last = sim.now_ms();
    for _ in 0..8 {
        sim.advance(Duration::from_secs(90));
        scrape_after_poll(addr).await;
        last = sim.now_ms();
    }
    let now_truth = sim.aggregate_truth(start0, bucket_end(last), Some(last));
    let s = scrape(addr).await;
    let diffs = counter_mismatches(&sim, &s, |q, m, metric, f| {
        truth_value(&now_truth, q, m, metric, f) - truth_value(&baseline, q, m, metric, f)
    });
    assert!(
        diffs.is_empty(),
        "{} differences, first: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );

    // The run did exercise late completions: the bucket that closed first kept growing.
    let early = sim.aggregate_truth(closed_bucket.0, closed_bucket.1, Some(closed_bucket.1));
    let later = sim.aggregate_truth(closed_bucket.0, closed_bucket.1, Some(last));
    assert_ne!(
        early.total("tHandle").map(|s| s.count),
        later.total("tHandle").map(|s| s.count)
    );
    let offered: f64 = s.total("genesys_conversations_offered_total");
    assert!(
        offered > 20.0,
        "a busy morning offers conversations ({offered})"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_match_genesys_for_the_same_span() {
    let sim = start_sim(sim_at("2026-11-24T14:11:00Z")).await;
    sim.advance(Duration::from_secs(40 * 60));
    // Rolling windows are opt-in (the default is `today`).
    let exporter = start_exporter_on_sim_clock(&sim, &["--aggregates.windows=15m,1h,today"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = scrape_after_poll(addr).await;

    let now = sim.now_ms();
    let end = bucket_end(now);
    let midnight = at("2026-11-24T00:00:00Z").timestamp_millis();
    let spans = [
        ("15m", end - 15 * 60_000),
        ("1h", end - 3_600_000),
        ("today", midnight),
    ];
    let mut checked = 0;
    for (window, from) in spans {
        let truth = sim.aggregate_truth(from, end, Some(now));
        for q in &sim.truth().queues {
            for media in &q.media_types {
                let l = [
                    ("queue_id", q.id.as_str()),
                    ("queue", q.name.as_str()),
                    ("media_type", media.as_str()),
                    ("window", window),
                ];
                for (counter, metric, field) in COUNTERS {
                    let name = format!(
                        "genesys_window_{}",
                        counter
                            .trim_start_matches("genesys_")
                            .trim_end_matches("_total")
                    );
                    let want = truth_value(&truth, &q.id, media, metric, field);
                    let got = s.get(&name, &l);
                    assert!(
                        got.is_some_and(|g| (g - want).abs() < 1e-6),
                        "{name} {l:?}: exported {got:?}, truth {want}"
                    );
                }
                let stat = truth.groups.get(&(q.id.clone(), media.clone()));
                let max = |m: &str| {
                    stat.and_then(|g| g.get(m))
                        .map_or(0.0, |s| s.max_ms as f64 / 1000.0)
                };
                assert_eq!(
                    s.get("genesys_window_handle_max_seconds", &l),
                    Some(max("tHandle"))
                );
                assert_eq!(
                    s.get("genesys_window_acd_wait_max_seconds", &l),
                    Some(max("tAcd"))
                );
                let sl = stat
                    .and_then(|g| g.get("oServiceLevel"))
                    .filter(|s| s.denominator > 0.0);
                assert_eq!(
                    s.get("genesys_window_service_level_ratio", &l),
                    sl.map(|s| s.numerator / s.denominator),
                    "{l:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_counters_start_from_zero() {
    let sim = start_sim(sim_at("2026-11-24T10:30:00Z")).await;
    let first = start_exporter_on_sim_clock(&sim, &[]).await;
    wait_ready(&first).await;
    sim.advance(Duration::from_secs(300));
    let s = scrape_after_poll(first.local_addr()).await;
    let before: f64 = s.total("genesys_conversations_offered_total");
    assert!(before > 0.0);
    first.shutdown().await;

    let second = start_exporter_on_sim_clock(&sim, &[]).await;
    wait_ready(&second).await;
    let s = scrape_after_poll(second.local_addr()).await;
    assert!(
        counter_mismatches(&sim, &s, |_, _, _, _| 0.0).is_empty(),
        "a new process starts at 0"
    );
    let t0 = sim.now_ms();
    let start0 = bucket_end(t0) - 2 * 3600 * 1000;
    let baseline = sim.aggregate_truth(start0, bucket_end(t0), Some(t0));
    sim.advance(Duration::from_secs(240));
    let s = scrape_after_poll(second.local_addr()).await;
    let t1 = sim.now_ms();
    let now_truth = sim.aggregate_truth(start0, bucket_end(t1), Some(t1));
    let diffs = counter_mismatches(&sim, &s, |q, m, metric, f| {
        truth_value(&now_truth, q, m, metric, f) - truth_value(&baseline, q, m, metric, f)
    });
    assert!(diffs.is_empty(), "{diffs:#?}");
    second.shutdown().await;
    sim.shutdown().await;
}

/// `today` in Berlin: 22:40 UTC is 23:40 local; local midnight is 23:00 UTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn today_restarts_at_local_midnight_in_the_configured_zone() {
    let sim = start_sim(sim_at("2026-11-24T22:40:00Z")).await;
    let exporter =
        start_exporter_on_sim_clock(&sim, &["--aggregates.timezone=Europe/Berlin"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    let today_offered = |s: &Scrape| -> BTreeMap<String, f64> {
        s.all("genesys_window_conversations_offered")
            .into_iter()
            .filter(|(l, _)| l["window"] == "today")
            .map(|(l, v)| (format!("{} {}", l["queue_id"], l["media_type"]), v))
            .collect()
    };
    let truth_offered = |from: i64, now: i64| -> BTreeMap<String, f64> {
        let t = sim.aggregate_truth(from, bucket_end(now), Some(now));
        let mut out = BTreeMap::new();
        for q in &sim.truth().queues {
            for m in &q.media_types {
                out.insert(
                    format!("{} {m}", q.id),
                    truth_value(&t, &q.id, m, "nOffered", Field::Count),
                );
            }
        }
        out
    };

    let s = scrape_after_poll(addr).await;
    let before_midnight =
        truth_offered(at("2026-11-23T23:00:00Z").timestamp_millis(), sim.now_ms());
    assert_eq!(today_offered(&s), before_midnight);
    assert!(
        before_midnight.values().sum::<f64>() > 0.0,
        "some traffic before local midnight"
    );

    // Thirty minutes later it is 00:10 in Berlin: today holds only the last ten minutes.
    for _ in 0..6 {
        sim.advance(Duration::from_secs(300));
        scrape_after_poll(addr).await;
    }
    let s = scrape_after_poll(addr).await;
    let after_midnight = truth_offered(at("2026-11-24T23:00:00Z").timestamp_millis(), sim.now_ms());
    assert_eq!(today_offered(&s), after_midnight);
    let without_reset = truth_offered(at("2026-11-23T23:00:00Z").timestamp_millis(), sim.now_ms());
    assert_ne!(
        after_midnight, without_reset,
        "the reset at local midnight changed the numbers"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_conversations_has_zero_counts_and_no_ratio() {
    let sim = start_sim(sim_at("2026-11-24T11:00:00Z")).await;
    let quiet = sim.add_queue("Quiet Test Queue", &["voice"]);
    let exporter = start_exporter_on_sim_clock(&sim, &["--aggregates.windows=15m,1h,today"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = scrape_after_poll(addr).await;
    for window in ["15m", "1h", "today"] {
        let l = [
            ("queue_id", quiet.as_str()),
            ("queue", "Quiet Test Queue"),
            ("media_type", "voice"),
            ("window", window),
        ];
        assert_eq!(s.get("genesys_window_conversations_offered", &l), Some(0.0));
        assert_eq!(s.get("genesys_window_handle_seconds", &l), Some(0.0));
        assert_eq!(s.get("genesys_window_handle_max_seconds", &l), Some(0.0));
        assert_eq!(
            s.get("genesys_window_service_level_ratio", &l),
            None,
            "no conversations, no service level"
        );
    }
    assert_eq!(
        s.get(
            "genesys_conversations_offered_total",
            &labels(&quiet, "Quiet Test Queue", "voice")
        ),
        Some(0.0)
    );
    let ratios = s.all("genesys_window_service_level_ratio");
    assert!(
        !ratios.is_empty() && ratios.iter().all(|(_, v)| (0.0..=1.0).contains(v)),
        "busy queues have a ratio in 0..1"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// A queue that appears mid-run: its history is a baseline, not a burst of counts, and the
/// re-asked `today` base is not added to again by the buckets leaving the look-back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_appears_starts_at_zero_and_today_stays_exact() {
    let sim = start_sim(sim_at("2026-11-24T13:02:00Z")).await;
    // Queue discovery well inside one aggregates refresh, so the refresh that first sees the
    // new queue usually also sees a bucket leave the look-back.
    let exporter = start_exporter_on_sim_clock(
        &sim,
        // A short look-back, so buckets with traffic in them leave it (the simulator's history
        // begins 20 minutes before its start).
        &[
            "--collector.queues.interval=200ms",
            "--collector.aggregates.interval=2s",
            "--aggregates.lookback=15m",
            "--aggregates.windows=15m,today",
        ],
    )
    .await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    scrape_after_poll(addr).await;

    let new_queue = sim.add_queue("Late Arrivals", &["voice", "chat"]);
    sim.advance(Duration::from_secs(300));
    let s = eventually("the new queue watched", || async {
        let s = scrape_after_poll(addr).await;
        s.get(
            "genesys_conversations_offered_total",
            &labels(&new_queue, "Late Arrivals", "voice"),
        )
        .map(|_| s)
    })
    .await;
    assert_eq!(
        s.get(
            "genesys_conversations_offered_total",
            &labels(&new_queue, "Late Arrivals", "voice")
        ),
        Some(0.0)
    );

    let now = sim.now_ms();
    let truth = sim.aggregate_truth(
        at("2026-11-24T00:00:00Z").timestamp_millis(),
        bucket_end(now),
        Some(now),
    );
    assert_today_windows(
        &s,
        &sim,
        &truth,
        "genesys_window_conversations_offered",
        "nOffered",
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// Cardinality controls: only the chosen quantities, per media type only, summed over queues;
/// and `genesys_exporter_series` counts exactly what is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_media_type_and_chosen_quantities_only() {
    let sim = start_sim(sim_at("2026-11-24T15:02:00Z")).await;
    sim.advance(Duration::from_secs(30 * 60));
    let exporter = start_exporter_on_sim_clock(
        &sim,
        &[
            "--aggregates.by=media_type",
            "--aggregates.metrics=conversations_offered,handle_max_seconds,service_level_ratio",
            "--aggregates.windows=1h",
        ],
    )
    .await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = scrape_after_poll(addr).await;

    for absent in [
        "genesys_handle_seconds_total",
        "genesys_window_handle_seconds",
        "genesys_conversations_answered_total",
    ] {
        assert!(!s.has(absent), "{absent} was not chosen");
    }
    let now = sim.now_ms();
    let truth = sim.aggregate_truth(bucket_end(now) - 3_600_000, bucket_end(now), Some(now));
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for q in &sim.truth().queues {
        for m in &q.media_types {
            *want.entry(m.clone()).or_default() +=
                truth_value(&truth, &q.id, m, "nOffered", Field::Count);
        }
    }
    let got: BTreeMap<String, f64> = s
        .all("genesys_window_conversations_offered")
        .into_iter()
        .map(|(l, v)| {
            assert_eq!(
                l.keys().collect::<Vec<_>>(),
                ["media_type", "window"],
                "no queue labels"
            );
            (l["media_type"].clone(), v)
        })
        .collect();
    assert_eq!(got, want);
    assert!(s
        .all("genesys_conversations_offered_total")
        .iter()
        .all(|(l, _)| l.len() == 1));
    assert!(s
        .all("genesys_window_service_level_ratio")
        .iter()
        .all(|(_, v)| (0.0..=1.0).contains(v)));

    let served = s.samples.len() as f64;
    assert_eq!(s.get("genesys_exporter_series", &[]), Some(served));
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// The quantities added for issue 16, each a counter and a window gauge, and the Genesys
/// statistic each must equal.
const MORE: [(&str, &str, Field); 17] = [
    (
        "genesys_offers_not_answered_total",
        "tNotResponding",
        Field::Count,
    ),
    (
        "genesys_not_responding_seconds_total",
        "tNotResponding",
        Field::Seconds,
    ),
    (
        "genesys_conversations_blind_transferred_total",
        "nBlindTransferred",
        Field::Count,
    ),
    (
        "genesys_conversations_consult_transferred_total",
        "nConsultTransferred",
        Field::Count,
    ),
    (
        "genesys_conversations_outbound_total",
        "nOutbound",
        Field::Count,
    ),
    ("genesys_dialing_seconds_total", "tDialing", Field::Seconds),
    (
        "genesys_contacting_seconds_total",
        "tContacting",
        Field::Seconds,
    ),
    ("genesys_conversation_errors_total", "nError", Field::Count),
    ("genesys_ivr_conversations_total", "tIvr", Field::Count),
    ("genesys_ivr_seconds_total", "tIvr", Field::Seconds),
    (
        "genesys_conversations_flowed_out_total",
        "tFlowOut",
        Field::Count,
    ),
    (
        "genesys_flow_out_wait_seconds_total",
        "tFlowOut",
        Field::Seconds,
    ),
    ("genesys_voicemails_total", "tVoicemail", Field::Count),
    (
        "genesys_voicemail_seconds_total",
        "tVoicemail",
        Field::Seconds,
    ),
    (
        "genesys_callbacks_scheduled_total",
        "nCallbackScheduled",
        Field::Count,
    ),
    (
        "genesys_callbacks_within_sla_total",
        "oCallbackServiceLevel",
        Field::Numerator,
    ),
    (
        "genesys_callbacks_sla_eligible_total",
        "oCallbackServiceLevel",
        Field::Denominator,
    ),
];

/// A simulated org on a manual clock at `at`, with flow-outs to voicemail (off by default:
/// they replace abandons).
fn sim_with_flow_outs_at(at: &str) -> SimConfig {
    SimConfig {
        flow_outs: true,
        ..sim_at(at)
    }
}

/// `genesys_window_<name>` of a counter `genesys_<name>_total`.
fn window_of(counter: &str) -> String {
    format!(
        "genesys_window_{}",
        counter
            .trim_start_matches("genesys_")
            .trim_end_matches("_total")
    )
}

/// The `--aggregates.metrics` name of a counter.
fn selection_name(counter: &str) -> &str {
    counter
        .trim_start_matches("genesys_")
        .trim_end_matches("_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_added_quantities_equal_genesys_counters_and_windows_alike() {
    let sim = start_sim(sim_with_flow_outs_at("2026-11-24T10:02:30Z")).await;
    let exporter = start_exporter_on_sim_clock(&sim, &["--aggregates.metrics=all"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let t0 = sim.now_ms();
    scrape_after_poll(addr).await;
    let start0 = bucket_end(t0) - 2 * 3600 * 1000;
    let baseline = sim.aggregate_truth(start0, bucket_end(t0), Some(t0));
    let mut last = t0;
    for _ in 0..8 {
        sim.advance(Duration::from_secs(90));
        scrape_after_poll(addr).await;
        last = sim.now_ms();
    }
    let now_truth = sim.aggregate_truth(start0, bucket_end(last), Some(last));
    let s = scrape(addr).await;
    let mut diffs = Vec::new();
    let mut grew: BTreeMap<&str, f64> = BTreeMap::new();
    let midnight = at("2026-11-24T00:00:00Z").timestamp_millis();
    let today = sim.aggregate_truth(midnight, bucket_end(last), Some(last));
    let mut today_totals: BTreeMap<&str, f64> = BTreeMap::new();
    for q in &sim.truth().queues {
        for media in &q.media_types {
            for (name, metric, field) in MORE {
                let want = truth_value(&now_truth, &q.id, media, metric, field)
                    - truth_value(&baseline, &q.id, media, metric, field);
                let got = s.get(name, &labels(&q.id, &q.name, media));
                if got.is_none_or(|g| (g - want).abs() > 1e-6) {
                    diffs.push(format!(
                        "{name} {} {media}: exported {got:?}, truth {want}",
                        q.name
                    ));
                }
                *grew.entry(name).or_default() += want;
                let l = [
                    ("queue_id", q.id.as_str()),
                    ("queue", q.name.as_str()),
                    ("media_type", media.as_str()),
                    ("window", "today"),
                ];
                let want = truth_value(&today, &q.id, media, metric, field);
                let got = s.get(&window_of(name), &l);
                if got.is_none_or(|g| (g - want).abs() > 1e-6) {
                    diffs.push(format!("{} {l:?}: {got:?}, truth {want}", window_of(name)));
                }
                *today_totals.entry(name).or_default() += want;
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences, first: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );
    // The simulated morning has every one of them, so the equalities above say something.
    for (name, total) in &today_totals {
        assert!(*total > 0.0, "{name}: nothing today");
    }
    for name in [
        "genesys_offers_not_answered_total",
        "genesys_conversations_outbound_total",
        "genesys_dialing_seconds_total",
        "genesys_ivr_conversations_total",
        "genesys_ivr_seconds_total",
    ] {
        assert!(grew[name] > 0.0, "{name} did not grow in 12 minutes");
    }
    // Transfers are blind or consult, never both; outbound calls are voice only.
    let total = |metric: &str| now_truth.total(metric).map_or(0, |s| s.count);
    assert_eq!(
        total("nBlindTransferred") + total("nConsultTransferred"),
        total("nTransferred")
    );
    assert_eq!(total("nOutbound"), total("tDialing"));
    assert!(s
        .all("genesys_conversations_outbound_total")
        .iter()
        .all(|(l, v)| l["media_type"] == "voice" || *v == 0.0));
    // An IVR, a flow-out to voicemail: inbound voice only, and never more than were offered;
    // a message is left after its flow-out; only callbacks are scheduled, and only they have
    // a callback service level.
    let today_total = |metric: &str| today.total(metric).map_or(0, |s| s.count);
    assert!(today_total("tIvr") + today_total("nOutbound") <= today_total("nOffered"));
    assert!(today_total("tVoicemail") <= today_total("tFlowOut"));
    for (name, media) in [
        ("genesys_window_ivr_conversations", "voice"),
        ("genesys_window_conversations_flowed_out", "voice"),
        ("genesys_window_voicemails", "voice"),
        ("genesys_window_callbacks_scheduled", "callback"),
        ("genesys_window_callbacks_within_sla", "callback"),
        ("genesys_window_callbacks_sla_eligible", "callback"),
    ] {
        let all = s.all(name);
        assert!(!all.is_empty(), "{name}");
        assert!(
            all.iter()
                .all(|(l, v)| l["media_type"] == media || *v == 0.0),
            "{name}: {media} only"
        );
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_direction_splits_each_series_into_inbound_and_outbound() {
    let sim = start_sim(sim_with_flow_outs_at("2026-11-24T14:11:00Z")).await;
    sim.advance(Duration::from_secs(20 * 60));
    let exporter = start_exporter_on_sim_clock(
        &sim,
        &["--aggregates.by-direction", "--aggregates.metrics=all"],
    )
    .await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let t0 = sim.now_ms();
    scrape_after_poll(addr).await;
    let start0 = bucket_end(t0) - 2 * 3600 * 1000;
    let base = |d: &str| sim.aggregate_truth_in_direction(start0, bucket_end(t0), Some(t0), d);
    let baselines = [("inbound", base("inbound")), ("outbound", base("outbound"))];
    let whole_baseline = sim.aggregate_truth(start0, bucket_end(t0), Some(t0));
    for _ in 0..4 {
        sim.advance(Duration::from_secs(120));
        scrape_after_poll(addr).await;
    }
    let now = sim.now_ms();
    let s = scrape(addr).await;
    let whole_now = sim.aggregate_truth(start0, bucket_end(now), Some(now));
    let midnight = at("2026-11-24T00:00:00Z").timestamp_millis();
    let whole_today = sim.aggregate_truth(midnight, bucket_end(now), Some(now));
    let mut diffs = Vec::new();
    let mut outbound_seen = 0.0;
    for (direction, baseline) in &baselines {
        let now_truth =
            sim.aggregate_truth_in_direction(start0, bucket_end(now), Some(now), direction);
        let today =
            sim.aggregate_truth_in_direction(midnight, bucket_end(now), Some(now), direction);
        for q in &sim.truth().queues {
            for media in &q.media_types {
                let l = [
                    ("queue_id", q.id.as_str()),
                    ("queue", q.name.as_str()),
                    ("media_type", media.as_str()),
                    ("direction", direction),
                ];
                let lw = [
                    ("queue_id", q.id.as_str()),
                    ("queue", q.name.as_str()),
                    ("media_type", media.as_str()),
                    ("direction", direction),
                    ("window", "today"),
                ];
                for (name, metric, field) in COUNTERS.into_iter().chain(MORE) {
                    let want = truth_value(&now_truth, &q.id, media, metric, field)
                        - truth_value(baseline, &q.id, media, metric, field);
                    let got = s.get(name, &l);
                    if got.is_none_or(|g| (g - want).abs() > 1e-6) {
                        diffs.push(format!("{name} {l:?}: exported {got:?}, truth {want}"));
                    }
                    let want = truth_value(&today, &q.id, media, metric, field);
                    let got = s.get(&window_of(name), &lw);
                    if got.is_none_or(|g| (g - want).abs() > 1e-6) {
                        diffs.push(format!("{} {lw:?}: {got:?}, truth {want}", window_of(name)));
                    }
                    if *direction == "outbound" && name == "genesys_conversations_offered_total" {
                        outbound_seen += want;
                    }
                }
                // Inbound plus outbound is the undirected value.
                let undirected = |name: &str, metric: &str, field: Field| {
                    let l = |d| {
                        [
                            ("queue_id", q.id.as_str()),
                            ("queue", q.name.as_str()),
                            ("media_type", media.as_str()),
                            ("direction", d),
                            ("window", "today"),
                        ]
                    };
                    let both = s.get(name, &l("inbound")).unwrap_or(f64::NAN)
                        + s.get(name, &l("outbound")).unwrap_or(f64::NAN);
                    let want = truth_value(&whole_today, &q.id, media, metric, field);
                    (both - want).abs() < 1e-6
                };
                if *direction == "inbound" {
                    for (name, metric, field) in COUNTERS.into_iter().chain(MORE) {
                        assert!(
                            undirected(&window_of(name), metric, field),
                            "{name} {} {media}: inbound + outbound != the whole",
                            q.name
                        );
                    }
                }
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences, first: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );
    assert!(outbound_seen > 0.0, "some outbound conversations today");
    // Counters: inbound + outbound grew by what the undirected query grew by.
    let counted = |d: &str| -> f64 {
        s.all("genesys_conversations_offered_total")
            .iter()
            .filter(|(l, _)| l["direction"] == d)
            .map(|(_, v)| v)
            .sum()
    };
    let whole = |t: &AggregateTruth| t.total("nOffered").map_or(0, |s| s.count) as f64;
    assert_eq!(
        counted("inbound") + counted("outbound"),
        whole(&whole_now) - whole(&whole_baseline)
    );
    // Every (queue, media type) has both directions, at 0 when none went that way.
    let pairs: usize = sim.truth().queues.iter().map(|q| q.media_types.len()).sum();
    let offered = s.all("genesys_conversations_offered_total");
    assert_eq!(offered.len(), 2 * pairs);
    assert!(offered
        .iter()
        .all(|(l, v)| l["media_type"] == "voice" || l["direction"] == "inbound" || *v == 0.0));
    // No IVR before an outbound campaign call, and its caller leaves no voicemail.
    for name in [
        "genesys_window_ivr_conversations",
        "genesys_window_voicemails",
        "genesys_window_conversations_flowed_out",
    ] {
        assert!(s
            .all(name)
            .iter()
            .all(|(l, v)| l["direction"] == "inbound" || *v == 0.0));
    }
    assert_eq!(
        s.get("genesys_exporter_series", &[]),
        Some(s.samples.len() as f64)
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_added_quantities_are_left_out_by_default_and_can_be_chosen_alone() {
    let sim = start_sim(sim_at("2026-11-24T11:00:00Z")).await;
    let only: Vec<&str> = MORE.iter().map(|c| selection_name(c.0)).collect();
    let only = format!("--aggregates.metrics={}", only.join(","));
    // At defaults: an upgrade does not add them to every scrape.
    let left_out = start_exporter_on_sim_clock(&sim, &[]).await;
    let alone = start_exporter_on_sim_clock(&sim, &[&only]).await;
    wait_ready(&left_out).await;
    wait_ready(&alone).await;
    let a = scrape_after_poll(left_out.local_addr()).await;
    let b = scrape_after_poll(alone.local_addr()).await;
    for (name, _, _) in MORE {
        assert!(!a.has(name) && !a.has(&window_of(name)), "{name} left out");
        assert!(b.has(name) && b.has(&window_of(name)), "{name} chosen");
    }
    for (name, _, _) in COUNTERS {
        assert!(a.has(name) && a.has(&window_of(name)), "{name} chosen");
        assert!(!b.has(name) && !b.has(&window_of(name)), "{name} left out");
    }
    assert!(!a.text.contains("direction=\""), "no direction by default");
    left_out.shutdown().await;
    alone.shutdown().await;
    sim.shutdown().await;
}
