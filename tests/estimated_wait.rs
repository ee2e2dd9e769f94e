//! The opt-in `estimated_wait` collector against the simulated org: off by default, it sends
//! nothing; on, it asks only about queues and media types with conversations waiting, at most
//! `--estimated-wait.max-queries` a poll, and serves the simulator's own estimates; an answer
//! without an estimate is a counted failure and no series.

mod common;

use std::collections::BTreeSet;

use common::*;
use genesys_sim::{Endpoint, Fault, SimOrg};

const FAMILY: &str = "genesys_queue_estimated_wait_seconds";
const PATH_END: &str = "/estimatedwaittime";

/// (queue id, media type) with conversations waiting now, most waiting first.
fn waiting_pairs(sim: &SimOrg) -> Vec<(String, String, u64)> {
    let mut pairs: Vec<(String, String, u64)> = sim
        .truth()
        .queues
        .iter()
        .flat_map(|q| {
            q.waiting
                .iter()
                .filter(|(_, w)| **w > 0)
                .map(|(m, w)| (q.id.clone(), m.clone(), *w))
        })
        .collect();
    pairs.sort_by_key(|p| std::cmp::Reverse(p.2));
    pairs
}

/// Estimated wait requests the simulator served: (queue id, path media type) -> count.
fn requested(sim: &SimOrg) -> Vec<(String, String)> {
    sim.stats()
        .by_endpoint
        .iter()
        .filter(|((method, path, _), _)| method == "GET" && path.ends_with(PATH_END))
        .flat_map(|((_, path, _), n)| {
            let rest = path
                .trim_start_matches("/api/v2/routing/queues/")
                .trim_end_matches(PATH_END);
            let (queue, media) = rest.split_once("/mediatypes/").expect("the path");
            std::iter::repeat_n(
                (queue.to_string(), media.to_string()),
                usize::try_from(*n).expect("a count"),
            )
        })
        .collect()
}

fn analytics(path_media: &str) -> &str {
    if path_media == "call" {
        "voice"
    } else {
        path_media
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_it_sends_no_request_and_serves_nothing() {
    let sim = busy_sim().await;
    assert!(
        !waiting_pairs(&sim).is_empty(),
        "the busy org has queues waiting"
    );
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let s = wait_polls(exporter.local_addr(), "observations").await;
    assert!(requested(&sim).is_empty(), "{:?}", requested(&sim));
    assert!(!s.has(FAMILY));
    assert!(
        !s.text.contains("collector=\"estimated_wait\""),
        "no health series for a collector that does not run"
    );
    assert!(!s.text.contains(PATH_END), "no endpoint series either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_it_asks_only_where_conversations_wait_and_serves_the_simulators_estimates() {
    let sim = busy_sim().await;
    let pairs = waiting_pairs(&sim);
    assert!(
        !pairs.is_empty() && pairs.len() <= 50,
        "{} waiting pairs",
        pairs.len()
    );
    let exporter = start_exporter(
        &sim,
        &[
            "--collector.estimated_wait",
            "--collector.estimated_wait.interval=250ms",
        ],
    )
    .await;
    wait_ready(&exporter).await;
    let s = wait_polls(exporter.local_addr(), "estimated_wait").await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "estimated_wait")]),
        1.0
    );
    // Every request was for a pair with conversations waiting.
    let waiting: BTreeSet<(String, String)> = pairs
        .iter()
        .map(|(q, m, _)| (q.clone(), m.clone()))
        .collect();
    let asked = requested(&sim);
    assert!(!asked.is_empty());
    for (queue, media) in &asked {
        assert!(
            waiting.contains(&(queue.clone(), analytics(media).to_string())),
            "asked about {queue}/{media}, where nothing waits"
        );
    }
    // One series per waiting pair, equal to the simulator's estimate.
    let served = s.all(FAMILY);
    assert_eq!(served.len(), waiting.len(), "{served:?}");
    for (labels, v) in served {
        let (queue, media) = (&labels["queue_id"], &labels["media_type"]);
        let truth = sim
            .estimated_wait_seconds(queue, media)
            .expect("a known queue");
        assert_eq!(v, truth as f64, "{queue}/{media}");
        assert!(labels.contains_key("queue"));
    }
    assert!(
        s.get(
            "genesys_api_retries_total",
            &[
                (
                    "endpoint",
                    "/api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime"
                ),
                ("reason", "rate_limited")
            ]
        )
        .is_some(),
        "its retry series exist from the start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_asks_about_the_most_waiting_pairs_up_to_the_cap() {
    let sim = busy_sim().await;
    let pairs = waiting_pairs(&sim);
    assert!(pairs.len() > 2, "{} waiting pairs", pairs.len());
    let exporter = start_exporter(
        &sim,
        &[
            "--collector.estimated_wait",
            "--collector.estimated_wait.interval=250ms",
            "--estimated-wait.max-queries=2",
        ],
    )
    .await;
    wait_ready(&exporter).await;
    let s = wait_polls(exporter.local_addr(), "estimated_wait").await;
    let polls = value(
        &s,
        "genesys_collector_polls_total",
        &[("collector", "estimated_wait")],
    );
    assert!(
        value(
            &s,
            "genesys_collector_requests",
            &[("collector", "estimated_wait")]
        ) <= 2.0
    );
    let served = s.all(FAMILY);
    assert_eq!(served.len(), 2, "{served:?}");
    // The two served are among the most waiting (ties at the cut may go either way).
    let cut = pairs[1].2;
    for (labels, _) in &served {
        let w = pairs
            .iter()
            .find(|(q, m, _)| *q == labels["queue_id"] && *m == labels["media_type"])
            .map(|p| p.2)
            .expect("a waiting pair");
        assert!(w >= cut, "{labels:?} waits {w}, the cut is {cut}");
    }
    let asked = requested(&sim).len() as f64;
    // Polls finished, plus one under way.
    assert!(
        asked <= 2.0 * (polls + 1.0),
        "{asked} requests in {polls} polls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_an_estimate_is_a_counted_failure_and_no_series() {
    for fault in [Fault::Malformed, Fault::Oversized(64)] {
        let sim = busy_sim().await;
        // Every answer: truncated JSON, or well-formed JSON of another shape.
        sim.faults()
            .fail_next(Endpoint::EstimatedWait, 100_000, fault.clone());
        let exporter = start_exporter(
            &sim,
            &[
                "--collector.estimated_wait",
                "--collector.estimated_wait.interval=250ms",
            ],
        )
        .await;
        let s = wait_value(
            exporter.local_addr(),
            "failed polls",
            "genesys_collector_poll_failures_total",
            &[("collector", "estimated_wait")],
            |v| v >= 2.0,
        )
        .await;
        assert!(!s.has(FAMILY), "{fault:?}: no series");
        assert_eq!(
            value(&s, "genesys_up", &[("collector", "estimated_wait")]),
            0.0
        );
        assert_eq!(
            get(exporter.local_addr(), "/-/healthy").await.0,
            200,
            "{fault:?}: the exporter runs on"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_plan_reserves_the_cap_of_queries_a_poll() {
    let sim = busy_sim().await;
    let mut planned = Vec::new();
    for cap in ["2", "7"] {
        let exporter = start_exporter(
            &sim,
            &[
                "--collector.estimated_wait",
                "--collector.estimated_wait.interval=1m",
                &format!("--estimated-wait.max-queries={cap}"),
            ],
        )
        .await;
        wait_ready(&exporter).await;
        let s = common::scrape(exporter.local_addr()).await;
        planned.push(value(&s, "genesys_api_planned_requests_per_minute", &[]));
        exporter.shutdown().await;
    }
    // Once a minute, 7 queries a poll instead of 2: 5 more a minute.
    assert!(
        (planned[1] - planned[0] - 5.0).abs() < 1e-6,
        "planned {planned:?}"
    );
}
