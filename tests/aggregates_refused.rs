//! One analytics metric refused by Genesys (REFERENCE §8 item 11: the whole aggregates query
//! answers 400) takes only its own series down: the others stay exact against the simulated
//! org's truth, a self-metric names the refused one, and a reload that changes the aggregates
//! settings asks for it again.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::aggregates::{assert_today_windows, truth_value, COUNTERS};
use common::*;
use genesys_exporter::app::{Exporter, Options};
use genesys_exporter::config::Config;
use genesys_sim::{AggregateTruth, Endpoint, Fault, Refusal, SimConfig, SimOrg};

const GRANULARITY_MS: i64 = 5 * 60 * 1000;
const LOOKBACK_MS: i64 = 2 * 3600 * 1000;
const REFUSED: &str = "genesys_aggregates_refused_metric";
const AGG: &str = "/api/v2/analytics/conversations/aggregates/query";

/// End of the bucket that contains `ms`: where the exporter's queries end.
fn bucket_end(ms: i64) -> i64 {
    (ms.div_euclid(GRANULARITY_MS) + 1) * GRANULARITY_MS
}

/// What Genesys shows at `at` of the look-back that ends after `at`, from `from`.
fn truth_at(sim: &SimOrg, from: i64, at: i64) -> AggregateTruth {
    sim.aggregate_truth(from, bucket_end(at), Some(at))
}

/// Every counter of a metric in `metrics` that differs from the growth of the truth from
/// `before` to `after`; empty if all equal.
fn mismatches(
    sim: &SimOrg,
    s: &Scrape,
    metrics: &[&str],
    before: &AggregateTruth,
    after: &AggregateTruth,
) -> Vec<String> {
    let mut out = Vec::new();
    for q in &sim.truth().queues {
        for media in &q.media_types {
            let labels = [
                ("queue_id", q.id.as_str()),
                ("queue", q.name.as_str()),
                ("media_type", media.as_str()),
            ];
            for (name, metric, field) in COUNTERS.iter().filter(|c| metrics.contains(&c.1)) {
                let want = truth_value(after, &q.id, media, metric, *field)
                    - truth_value(before, &q.id, media, metric, *field);
                let got = s.get(name, &labels);
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

/// The metrics of [`COUNTERS`] other than `refused`.
fn others(refused: &[&str]) -> Vec<&'static str> {
    COUNTERS
        .iter()
        .map(|c| c.1)
        .filter(|m| !refused.contains(m))
        .collect()
}

fn refused_metrics(s: &Scrape) -> Vec<String> {
    let mut out: Vec<String> = s
        .all(REFUSED)
        .into_iter()
        .map(|(l, v)| {
            assert_eq!(v, 1.0);
            l["metric"].clone()
        })
        .collect();
    out.sort();
    out
}

/// Waits until an aggregates poll that began after the call has succeeded.
async fn after_a_good_poll(addr: SocketAddr) -> Scrape {
    let s = wait_polls(addr, "aggregates").await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "aggregates")]),
        1.0,
        "the aggregates collector is up"
    );
    s
}

/// Busy business hours with every conversation visible at once: what the truth shows at an
/// instant is what the exporter read at it.
async fn busy_sim_refusing(metrics: &[&str], refusal: Refusal) -> SimOrg {
    let sim = start_sim(sim_at("2026-11-24T10:02:30Z")).await;
    sim.faults()
        .set_aggregate_lag(Some((Duration::ZERO, Duration::ZERO)));
    sim.faults().refuse_aggregate_metrics(metrics, refusal);
    sim
}

/// With `refused` refused the way `refusal` says: the refused metrics are named by the
/// self-metric, their series are absent, every other counter is exact over 6 minutes of
/// business time, and the collector is up. Returns the aggregates 400s the sim answered.
async fn only_the_refused_series_go(refused: &[&str], refusal: Refusal) -> u64 {
    let sim = busy_sim_refusing(refused, refusal).await;
    let exporter = start_exporter_on_sim_clock(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = eventually("the aggregates collector up", || async {
        let s = scrape(addr).await;
        (value(&s, "genesys_up", &[("collector", "aggregates")]) == 1.0).then_some(s)
    })
    .await;
    let mut want: Vec<String> = refused.iter().map(ToString::to_string).collect();
    want.sort();
    assert_eq!(refused_metrics(&s), want);
    let refusals = sim.stats().count_status("POST", AGG, 400);

    // The poll that succeeded was the baseline: counters count from its instant on.
    let t0 = sim.now_ms();
    let from = bucket_end(t0) - LOOKBACK_MS;
    let before = truth_at(&sim, from, t0);
    for _ in 0..4 {
        sim.advance(Duration::from_secs(90));
        after_a_good_poll(addr).await;
    }
    let s = scrape(addr).await;
    let after = truth_at(&sim, from, sim.now_ms());
    let diffs = mismatches(&sim, &s, &others(refused), &before, &after);
    assert!(
        diffs.is_empty(),
        "{} differences: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );
    let offered: f64 = s.total("genesys_conversations_offered_total");
    assert!(
        offered > 5.0,
        "a busy morning offers conversations ({offered})"
    );
    for (name, metric, _) in COUNTERS {
        let window = format!(
            "genesys_window_{}",
            name.trim_start_matches("genesys_")
                .trim_end_matches("_total")
        );
        let gone = refused.contains(&metric);
        assert_eq!(!s.has(name), gone, "{name}");
        assert_eq!(!s.has(&window), gone, "{window}");
    }
    assert_eq!(refused_metrics(&s), want);
    assert_eq!(
        sim.stats().count_status("POST", AGG, 400),
        refusals,
        "once found, a refused metric is not asked for again"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
    refusals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_the_400_names_is_dropped_and_every_other_counter_stays_exact() {
    let refusals = only_the_refused_series_go(&["tAnswered"], Refusal::Named).await;
    assert_eq!(
        refusals, 1,
        "the named metric is dropped without a bisection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_a_400_does_not_name_are_found_by_bisection_within_its_bound() {
    // Two refused metrics among the query's 27: both halves of each split are asked, at most
    // 4 x ceil(log2 27) = 20 probes, the query itself refused once before them.
    let sim_requests = only_the_refused_series_go(&["tAnswered", "tTalk"], Refusal::Generic).await;
    assert!(
        (2..=21).contains(&sim_requests),
        "{sim_requests} refused requests: the query and the refused probes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_service_level_takes_its_ratio_with_it() {
    let sim = busy_sim_refusing(&["oServiceLevel"], Refusal::Generic).await;
    let exporter = start_exporter_on_sim_clock(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = eventually("oServiceLevel refused", || async {
        let s = scrape(addr).await;
        (refused_metrics(&s) == ["oServiceLevel"]).then_some(s)
    })
    .await;
    assert!(!s.has("genesys_window_service_level_ratio"));
    assert!(!s.has("genesys_conversations_within_sla_total"));
    assert!(s.has("genesys_window_handle_max_seconds"));
    assert!(s.has("genesys_conversations_offered_total"));
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_fails_the_poll_and_drops_no_metric() {
    let sim = busy_sim_refusing(&[], Refusal::Named).await;
    // Not retried by the client (a 500 is not transient for it), so each fails one poll.
    sim.faults().fail_next(
        Endpoint::Aggregates,
        3,
        Fault::Status {
            status: 500,
            retry_after_secs: None,
        },
    );
    let exporter = start_exporter_on_sim_clock(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = eventually("the faults served and a poll succeeded", || async {
        let s = scrape(addr).await;
        (sim.faults().pending() == 0
            && value(&s, "genesys_up", &[("collector", "aggregates")]) == 1.0)
            .then_some(s)
    })
    .await;
    assert!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "aggregates")]
        ) >= 1.0,
        "the 500s failed polls"
    );
    assert!(!s.has(REFUSED), "a 500 refuses no metric");
    for (name, _, _) in COUNTERS {
        assert!(s.has(name), "{name}");
    }
    assert_eq!(sim.stats().count_status("POST", AGG, 400), 0);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_about_no_metric_fails_the_poll_and_is_bisected_once_within_its_bound() {
    let sim = busy_sim_refusing(&[], Refusal::Named).await;
    // Every request refused, whatever its metrics: the first poll's query, the same query
    // without its views (the answer-wait histogram's: is it them?), and its 20 probes
    // (4 x ceil(log2 27)), 22 in all; then one request for each later poll, which neither
    // bisects nor probes the views again.
    sim.faults().fail_next(
        Endpoint::Aggregates,
        30,
        Fault::Status {
            status: 400,
            retry_after_secs: None,
        },
    );
    let exporter = start_exporter_on_sim_clock(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    let s = eventually("the 400s served and a poll succeeded", || async {
        let s = scrape(addr).await;
        (sim.faults().pending() == 0
            && value(&s, "genesys_up", &[("collector", "aggregates")]) == 1.0)
            .then_some(s)
    })
    .await;
    assert_eq!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "aggregates")]
        ),
        9.0,
        "22 requests for the first poll, 1 for each of the next eight"
    );
    assert!(!s.has(REFUSED), "a 400 about no metric refuses none");
    for (name, _, _) in COUNTERS {
        assert!(s.has(name), "{name}");
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// The exporter on the sim's clock, re-reading `file` on every reload.
async fn start_reloadable(sim: &SimOrg, file: &ConfigFile) -> Exporter {
    let mut args = exporter_args(sim);
    args.extend([
        format!("--config.file={}", file.0.display()),
        "--web.enable-lifecycle".into(),
    ]);
    let secret = SimConfig::default().client_secret;
    let load = move || Config::from_args(args.clone(), Some(secret.clone()));
    let config = load().expect("valid config");
    let options = Options {
        clock: Arc::new(genesys_exporter::clock::FnClock(sim.clock_fn())),
        reload_from: Some(Arc::new(load)),
    };
    Exporter::start_with(config, options)
        .await
        .expect("exporter starts")
}

/// The flags `common::exporter_config` passes, as a list.
fn exporter_args(sim: &SimOrg) -> Vec<String> {
    vec![
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url={}", sim.api_url()),
        format!("--genesys.login-url={}", sim.login_url()),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        "--collector.queues.interval=1s".into(),
        "--collector.observations.interval=250ms".into(),
        "--collector.activity.interval=250ms".into(),
        "--collector.aggregates.interval=250ms".into(),
        "--genesys.request-timeout=2s".into(),
        format!("--genesys.requests-per-minute={TEST_BUDGET}"),
        "--live.mode=poll".into(),
    ]
}

async fn post_reload(addr: SocketAddr) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_changes_the_aggregates_settings_asks_for_a_refused_metric_again() {
    let sim = busy_sim_refusing(&["tAnswered"], Refusal::Named).await;
    let file = ConfigFile::new("aggregates.metrics: default\n");
    let exporter = start_reloadable(&sim, &file).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    eventually("tAnswered refused", || async {
        (refused_metrics(&scrape(addr).await) == ["tAnswered"]).then_some(())
    })
    .await;
    let t0 = sim.now_ms();
    let from = bucket_end(t0) - LOOKBACK_MS;
    let before = truth_at(&sim, from, t0);

    // Genesys takes it again, but the exporter does not ask until the settings change: a
    // reload of the same file keeps it out.
    sim.faults().refuse_aggregate_metrics(&[], Refusal::Named);
    sim.advance(Duration::from_secs(90));
    post_reload(addr).await;
    let s = after_a_good_poll(addr).await;
    assert_eq!(
        refused_metrics(&s),
        ["tAnswered"],
        "an unchanged reload keeps it out"
    );
    assert!(!s.has("genesys_conversations_answered_total"));

    // Other quantities exported: the same queries, so the counters carry on, and tAnswered's
    // start again from 0 at the poll that asks for it (the clock stands still until then).
    file.write("aggregates.metrics: all\n");
    post_reload(addr).await;
    let s = eventually("tAnswered asked for again", || async {
        let s = scrape(addr).await;
        (!s.has(REFUSED) && s.has("genesys_conversations_answered_total")).then_some(s)
    })
    .await;
    let t1 = sim.now_ms();
    let back = truth_at(&sim, from, t1);
    let zero = mismatches(&sim, &s, &["tAnswered"], &back, &back);
    assert!(
        zero.is_empty(),
        "a metric asked again starts at 0: {zero:#?}"
    );

    for _ in 0..3 {
        sim.advance(Duration::from_secs(90));
        after_a_good_poll(addr).await;
    }
    let s = scrape(addr).await;
    let t2 = sim.now_ms();
    let after = truth_at(&sim, from, t2);
    let diffs = mismatches(&sim, &s, &others(&["tAnswered"]), &before, &after);
    assert!(
        diffs.is_empty(),
        "the others carried on exactly: {diffs:#?}"
    );
    let answered = mismatches(&sim, &s, &["tAnswered"], &back, &after);
    assert!(
        answered.is_empty(),
        "tAnswered counted once from its return: {answered:#?}"
    );
    let grew: f64 = s.total("genesys_conversations_answered_total");
    assert!(grew > 0.0, "answers came in after the return");

    // Today's window is whole again: its base was asked afresh with the metric in it.
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    let today = sim.aggregate_truth(midnight, bucket_end(t2), Some(t2));
    assert_today_windows(
        &s,
        &sim,
        &today,
        "genesys_window_conversations_answered",
        "tAnswered",
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}
