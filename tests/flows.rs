//! The opt-in `flows` collector against the simulated org: off by default, it sends nothing;
//! on, one org-wide query a poll serves conversations in Architect flows by flow type, every
//! official flow type present, equal to what the simulated org counts; a bad answer is a
//! counted failure and no series.

mod common;

use common::*;
use genesys_exporter::app::Exporter;
use genesys_sim::{Endpoint, Fault, SimOrg};

const FAMILY: &str = "genesys_flow_conversations";
const PATH: &str = "/api/v2/analytics/flows/activity/query";

/// The official `AnalyticsFlow.flowType` values, as the exporter writes them.
const FLOW_TYPES: [&str; 20] = [
    "bot",
    "commonmodule",
    "digitalbot",
    "emailsend",
    "inboundcall",
    "inboundchat",
    "inboundemail",
    "inboundshortmessage",
    "inqueuecall",
    "inqueueemail",
    "inqueueshortmessage",
    "outboundcall",
    "securecall",
    "speech",
    "surveyinvite",
    "voice",
    "voicemail",
    "voicesurvey",
    "workflow",
    "workitem",
];

/// Flow activity queries the simulator answered.
fn requests(sim: &SimOrg) -> u64 {
    sim.stats()
        .by_endpoint
        .iter()
        .filter(|((method, path, _), _)| method == "POST" && path == PATH)
        .map(|(_, n)| n)
        .sum()
}

/// An exporter on `sim` with the flows collector on, after two polls of it, which succeeded.
async fn polled_with_flows(sim: &SimOrg) -> (Exporter, Scrape) {
    let exporter = start_exporter(
        sim,
        &["--collector.flows", "--collector.flows.interval=250ms"],
    )
    .await;
    wait_ready(&exporter).await;
    let s = wait_polls(exporter.local_addr(), "flows").await;
    assert_eq!(value(&s, "genesys_up", &[("collector", "flows")]), 1.0);
    (exporter, s)
}

/// The served family is every official flow type once, in order, each equal to the simulated
/// org's count (0 for the types it does not model).
fn assert_served_as_the_truth(s: &Scrape, truth: &std::collections::BTreeMap<String, u64>) {
    let served = s.all(FAMILY);
    let names: Vec<&str> = served
        .iter()
        .map(|(labels, _)| labels["flow_type"].as_str())
        .collect();
    assert_eq!(names, FLOW_TYPES, "sorted, one series each, nothing else");
    for (labels, v) in &served {
        let flow_type = &labels["flow_type"];
        let expected = truth
            .get(&flow_type.to_ascii_uppercase())
            .copied()
            .unwrap_or(0);
        assert_eq!(*v, expected as f64, "{flow_type}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_it_sends_no_request_and_serves_nothing() {
    let sim = busy_sim().await;
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let s = wait_polls(exporter.local_addr(), "observations").await;
    assert_eq!(requests(&sim), 0);
    assert!(!s.has(FAMILY));
    assert!(!s.text.contains("collector=\"flows\""));
    assert!(!s.text.contains(PATH), "no endpoint series either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_it_serves_the_conversations_in_flows_the_simulated_org_counts() {
    let sim = busy_sim().await;
    let truth = sim.truth().flows;
    assert!(
        truth.values().filter(|n| **n > 0).count() >= 2,
        "a busy morning has callers in the IVR and in in-queue flows: {truth:?}"
    );
    let (_exporter, s) = polled_with_flows(&sim).await;

    // Every official flow type, 0 included, and nothing else.
    assert_served_as_the_truth(&s, &truth);
    for modelled in truth.keys() {
        assert!(
            FLOW_TYPES.contains(&modelled.to_ascii_lowercase().as_str()),
            "the simulated org counts only official flow types: {modelled}"
        );
    }

    // One request a poll, and what it cost is in the budget.
    assert_eq!(
        value(&s, "genesys_collector_requests", &[("collector", "flows")]),
        1.0
    );
    let polls = value(
        &s,
        "genesys_collector_polls_total",
        &[("collector", "flows")],
    );
    let sent = requests(&sim) as f64;
    assert!(
        sent >= polls && sent <= polls + 1.0,
        "{sent} requests in {polls} polls (one may be under way)"
    );
    assert!(
        s.get(
            "genesys_api_retries_total",
            &[("endpoint", PATH), ("reason", "rate_limited")]
        )
        .is_some(),
        "its retry series exist from the start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_counts_one_request_a_poll() {
    let sim = busy_sim().await;
    let mut planned = Vec::new();
    for extra in [
        &[][..],
        &["--collector.flows", "--collector.flows.interval=30s"][..],
    ] {
        let exporter = start_exporter(&sim, extra).await;
        wait_ready(&exporter).await;
        let s = common::scrape(exporter.local_addr()).await;
        planned.push(value(&s, "genesys_api_planned_requests_per_minute", &[]));
        exporter.shutdown().await;
    }
    // Every 30 s: 2 more a minute.
    assert!(
        (planned[1] - planned[0] - 2.0).abs() < 1e-6,
        "planned {planned:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_answer_is_a_counted_failure_and_no_series() {
    // Truncated JSON, and the 403 of a client without `analytics:flowObservation:view`.
    let forbidden = Fault::Status {
        status: 403,
        retry_after_secs: None,
    };
    for fault in [Fault::Malformed, forbidden] {
        let sim = busy_sim().await;
        sim.faults()
            .fail_next(Endpoint::FlowActivity, 100_000, fault.clone());
        let exporter = start_exporter(
            &sim,
            &["--collector.flows", "--collector.flows.interval=250ms"],
        )
        .await;
        let s = wait_value(
            exporter.local_addr(),
            "failed polls",
            "genesys_collector_poll_failures_total",
            &[("collector", "flows")],
            |v| v >= 2.0,
        )
        .await;
        assert!(!s.has(FAMILY), "{fault:?}: no series");
        assert_eq!(value(&s, "genesys_up", &[("collector", "flows")]), 0.0);
        assert_eq!(
            value(&s, "genesys_up", &[("collector", "observations")]),
            1.0,
            "{fault:?}: the other collectors go on"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_genesys_with_extra_fields_and_results_leaves_the_counts_exact() {
    let sim = busy_sim().await;
    // Extra fields in every object, and one more result without a flow type or an oFlow row.
    sim.faults()
        .fail_next(Endpoint::FlowActivity, 100_000, Fault::Mangled);
    let (_exporter, s) = polled_with_flows(&sim).await;
    // No `unknown` series for the extra result, and every count exact.
    assert_served_as_the_truth(&s, &sim.truth().flows);
}
