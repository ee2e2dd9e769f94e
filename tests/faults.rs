//! Faults from Genesys, injected in the simulated org. For each: the process stays up, /metrics
//! keeps answering quickly (it never waits on Genesys), `genesys_up` and the request and retry
//! counters say what happened, the affected collector's series go stale instead of freezing,
//! and the next good poll restores everything.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use genesys_exporter::app::Exporter;
use genesys_sim::{Endpoint, Fault, SimConfig, SimOrg};

/// A scrape must come back within this even while Genesys hangs for seconds.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(1);

/// What each collector serves, to see its series disappear and come back.
fn data_series(collector: &str) -> &'static str {
    match collector {
        "queues" => "genesys_queue_info",
        "observations" => "genesys_queue_conversations",
        "activity" => "genesys_conversations",
        "aggregates" => "genesys_conversations_offered_total",
        other => panic!("unknown collector {other}"),
    }
}

async fn quick_scrape(addr: SocketAddr) -> Scrape {
    let client = reqwest::Client::builder()
        .timeout(SCRAPE_TIMEOUT)
        .build()
        .unwrap();
    let r = client.get(format!("http://{addr}/metrics")).send().await;
    let r = r.unwrap_or_else(|e| panic!("/metrics did not answer within {SCRAPE_TIMEOUT:?}: {e}"));
    assert_eq!(r.status().as_u16(), 200);
    parse(&r.text().await.unwrap())
}

async fn start(sim: &SimOrg, extra: &[&str]) -> Exporter {
    let mut flags = vec![
        "--collector.queues.interval=200ms",
        "--collector.observations.interval=200ms",
        "--collector.activity.interval=200ms",
        "--collector.aggregates.interval=200ms",
        "--genesys.request-timeout=1s",
        "--genesys.max-retries=1",
    ];
    flags.extend_from_slice(extra);
    let exporter = start_exporter(sim, &flags).await;
    wait_ready(&exporter).await;
    exporter
}

/// Injects `fault` for good on `endpoint`, checks that `collector` goes down and stale with
/// `evidence` in the counters, then clears the fault and checks it recovers.
async fn goes_stale_then_recovers(
    endpoint: Endpoint,
    fault: Fault,
    collector: &str,
    evidence: (&str, &[(&str, &str)]),
    extra_flags: &[&str],
) {
    let sim = start_sim(sim_config()).await;
    let exporter = start(&sim, extra_flags).await;
    let addr = exporter.local_addr();
    let series = data_series(collector);
    assert!(quick_scrape(addr).await.has(series));

    sim.faults().fail_next(endpoint, 1_000_000, fault.clone());
    let (name, labels) = evidence;
    eventually(
        &format!("{collector} down and stale, {name}{labels:?} counted, under {fault:?}"),
        || async {
            let s = quick_scrape(addr).await;
            let down = value(&s, "genesys_up", &[("collector", collector)]) == 0.0;
            let failed = value(
                &s,
                "genesys_collector_poll_failures_total",
                &[("collector", collector)],
            ) >= 1.0;
            (down && failed && !s.has(series) && value(&s, name, labels) >= 1.0).then_some(())
        },
    )
    .await;
    assert_eq!(
        get(addr, "/-/healthy").await.0,
        200,
        "the process is healthy"
    );

    sim.faults().clear();
    eventually(&format!("{collector} back after {fault:?}"), || async {
        let s = quick_scrape(addr).await;
        (value(&s, "genesys_up", &[("collector", collector)]) == 1.0 && s.has(series)).then_some(())
    })
    .await;
    let truth = sim.truth();
    let q = &truth.queues[0];
    let media = q.media_types[0].as_str();
    let s = quick_scrape(addr).await;
    let labels = [
        ("queue_id", q.id.as_str()),
        ("queue", q.name.as_str()),
        ("media_type", media),
        ("state", "interacting"),
    ];
    assert_eq!(
        s.get("genesys_queue_conversations", &labels),
        Some(q.interacting[media] as f64)
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

const OBS: &str = "/api/v2/analytics/queues/observations/query";
const ACT: &str = "/api/v2/analytics/conversations/activity/query";
const AGG: &str = "/api/v2/analytics/conversations/aggregates/query";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_burst() {
    let fault = Fault::Status {
        status: 503,
        retry_after_secs: None,
    };
    let evidence = (
        "genesys_api_retries_total",
        &[("endpoint", OBS), ("reason", "server_error")][..],
    );
    goes_stale_then_recovers(Endpoint::Observations, fault, "observations", evidence, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_slower_than_the_timeout() {
    let fault = Fault::Delay(Duration::from_secs(3));
    let evidence = (
        "genesys_api_requests_total",
        &[("endpoint", ACT), ("code", "timeout")][..],
    );
    goes_stale_then_recovers(Endpoint::Activity, fault, "activity", evidence, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets() {
    let evidence = (
        "genesys_api_retries_total",
        &[("endpoint", OBS), ("reason", "connection_error")][..],
    );
    goes_stale_then_recovers(
        Endpoint::Observations,
        Fault::Reset,
        "observations",
        evidence,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json() {
    let evidence = (
        "genesys_api_requests_total",
        &[("endpoint", AGG), ("code", "200")][..],
    );
    goes_stale_then_recovers(
        Endpoint::Aggregates,
        Fault::Malformed,
        "aggregates",
        evidence,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_far_larger_than_the_cap() {
    // 8 MiB answers against a 1 MiB cap: refused from Content-Length, never buffered.
    let evidence = (
        "genesys_api_requests_total",
        &[("endpoint", OBS), ("code", "200")][..],
    );
    goes_stale_then_recovers(
        Endpoint::Observations,
        Fault::Oversized(8 << 20),
        "observations",
        evidence,
        &["--genesys.max-response-bytes=1048576"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_after_revocation() {
    let sim = start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();

    sim.faults().fail_next(
        Endpoint::Token,
        1_000_000,
        Fault::Status {
            status: 500,
            retry_after_secs: None,
        },
    );
    sim.faults().revoke_tokens();
    let s = eventually("every API collector down", || async {
        let s = quick_scrape(addr).await;
        let all_down = ["queues", "observations", "activity", "aggregates"]
            .iter()
            .all(|c| value(&s, "genesys_up", &[("collector", c)]) == 0.0);
        (all_down && !s.has("genesys_queue_conversations")).then_some(s)
    })
    .await;
    assert!(
        value(
            &s,
            "genesys_api_requests_total",
            &[("endpoint", "/oauth/token"), ("code", "500")]
        ) >= 1.0
    );
    assert!(sum(&s, "genesys_api_requests_total", ("code", "401")) >= 1.0);

    sim.faults().clear();
    eventually("recovered with a new token", || async {
        let s = quick_scrape(addr).await;
        ["queues", "observations", "activity", "aggregates"]
            .iter()
            .all(|c| value(&s, "genesys_up", &[("collector", c)]) == 1.0)
            .then_some(())
    })
    .await;
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_never_breaks_the_budget() {
    // A small budget, so the storm's retries would exceed it if they bypassed it.
    let sim = start_sim(sim_config()).await;
    let exporter = start(&sim, &["--genesys.requests-per-minute=40"]).await;
    let addr = exporter.local_addr();
    sim.faults().fail_next(
        Endpoint::Any,
        1_000_000,
        Fault::Status {
            status: 429,
            retry_after_secs: Some(1),
        },
    );
    let s = eventually("collectors down in the storm", || async {
        let s = quick_scrape(addr).await;
        (value(&s, "genesys_up", &[("collector", "observations")]) == 0.0
            && sum(&s, "genesys_api_retries_total", ("reason", "rate_limited")) >= 2.0)
            .then_some(s)
    })
    .await;
    assert!(sum(&s, "genesys_api_requests_total", ("code", "429")) >= 2.0);
    assert!(
        sim.stats().max_requests_in_any_60s_window_any_token() <= 40,
        "the budget held through the storm"
    );
    sim.faults().clear();
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_enum_values_and_extra_fields_are_taken_in_stride() {
    let sim = start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    sim.faults()
        .fail_next(Endpoint::Observations, 1_000_000, Fault::Mangled);
    sim.faults()
        .fail_next(Endpoint::Activity, 1_000_000, Fault::Mangled);
    // A newer Genesys: a media type and a routing status we have never heard of. Both are
    // exported under their own (lower-case) names; everything known stays exact.
    let s = eventually("the new media type exported", || async {
        let s = quick_scrape(addr).await;
        (!s.all("genesys_queue_conversations")
            .iter()
            .all(|(l, _)| l["media_type"] != "hologram"))
        .then_some(s)
    })
    .await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0
    );
    assert!(s
        .all("genesys_queue_users")
        .iter()
        .any(|(l, v)| l["routing_status"] == "on_a_new_status" && *v == 1.0));
    let truth = sim.truth();
    for q in &truth.queues {
        for media in &q.media_types {
            let labels = [
                ("queue_id", q.id.as_str()),
                ("queue", q.name.as_str()),
                ("media_type", media.as_str()),
                ("state", "interacting"),
            ];
            assert_eq!(
                s.get("genesys_queue_conversations", &labels),
                Some(q.interacting[media] as f64),
                "{labels:?}"
            );
        }
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_fields_mean_zero_not_a_crash() {
    let sim = start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    sim.faults()
        .fail_next(Endpoint::Any, 1_000_000, Fault::Stripped);
    let s = eventually("polls through stripped answers", || async {
        let s = wait_polls(addr, "observations").await;
        (value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "observations")],
        ) == 0.0)
            .then_some(s)
    })
    .await;
    for c in ["observations", "activity", "aggregates"] {
        assert_eq!(value(&s, "genesys_up", &[("collector", c)]), 1.0, "{c}");
    }
    // No stats, no counts: every known series is still there, at 0.
    let waiting: Vec<f64> = s
        .all("genesys_queue_conversations")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert!(!waiting.is_empty() && waiting.iter().all(|v| *v == 0.0));
    sim.faults().clear();
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_appearing_and_disappearing() {
    let sim = start_sim(SimConfig {
        queues: 6,
        ..sim_config()
    })
    .await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    let gone = sim.truth().queues[0].id.clone();

    let new = sim.add_queue("Brand New Queue", &["voice", "chat"]);
    sim.remove_queue(&gone);
    eventually("the queue set to follow Genesys", || async {
        let s = quick_scrape(addr).await;
        let ids: Vec<String> = s
            .all("genesys_queue_info")
            .into_iter()
            .map(|(l, _)| l["queue_id"].clone())
            .collect();
        (ids.contains(&new) && !ids.contains(&gone)).then_some(())
    })
    .await;
    let s = eventually("observations for the new queue", || async {
        let s = wait_polls(addr, "observations").await;
        s.all("genesys_queue_conversations")
            .iter()
            .any(|(l, _)| l["queue_id"] == new)
            .then_some(s)
    })
    .await;
    for name in [
        "genesys_queue_conversations",
        "genesys_queue_users",
        "genesys_conversations_offered_total",
    ] {
        assert!(
            s.all(name).iter().all(|(l, _)| l["queue_id"] != gone),
            "{name} still has the removed queue"
        );
    }
    assert_eq!(value(&s, "genesys_queues", &[]), 6.0);
    let labels = [
        ("queue_id", new.as_str()),
        ("queue", "Brand New Queue"),
        ("media_type", "chat"),
        ("state", "waiting"),
    ];
    assert_eq!(s.get("genesys_queue_conversations", &labels), Some(0.0));
    exporter.shutdown().await;
    sim.shutdown().await;
}
