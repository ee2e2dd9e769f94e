//! `/-/ready` means "serving what it can": once queue discovery has listed the queues, a
//! collector that can never succeed (its endpoint missing in this region, a permission the
//! client lacks, a query Genesys refuses) is `genesys_up 0`, not a pod that never becomes
//! ready. A collector that is merely failing for now counts after a few failed polls. An
//! analytics collector's first poll is not waited for at all: it catches up on the day and
//! at a large org takes minutes of the request budget, while live state is worth serving.

use std::time::Duration;

use genesys_sim::{Endpoint, Fault};

mod common;

use common::{eventually, get, scrape, value, wait_value};

fn status(status: u16) -> Fault {
    Fault::Status {
        status,
        retry_after_secs: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_collector_that_can_never_succeed_does_not_keep_the_exporter_unready() {
    for (endpoint, collector, fault) in [
        (Endpoint::Activity, "activity", status(404)),
        (Endpoint::Activity, "activity", status(403)),
        (Endpoint::Aggregates, "aggregates", status(400)),
        // Not permanent, but failing every poll: ready after a few.
        (Endpoint::Aggregates, "aggregates", status(500)),
    ] {
        let sim = common::start_sim(common::sim_config()).await;
        sim.faults().fail_next(endpoint, 100_000, fault.clone());
        let exporter = common::start_exporter(&sim, &[]).await;
        let addr = exporter.local_addr();
        eventually(
            &format!("ready with {collector} answering {fault:?}"),
            || async move { (get(addr, "/-/ready").await.0 == 200).then_some(()) },
        )
        .await;
        let s = scrape(addr).await;
        assert_eq!(
            value(&s, "genesys_up", &[("collector", collector)]),
            0.0,
            "{fault:?}"
        );
        assert_eq!(
            value(&s, "genesys_up", &[("collector", "queues")]),
            1.0,
            "{fault:?}"
        );
        // What can be served is: live queue state.
        eventually("observations up", || async move {
            let s = scrape(addr).await;
            (value(&s, "genesys_up", &[("collector", "observations")]) == 1.0).then_some(())
        })
        .await;
        assert_eq!(get(addr, "/-/healthy").await.0, 200);
        exporter.shutdown().await;
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_queue_listing_there_is_nothing_to_serve_and_the_exporter_stays_unready() {
    let sim = common::start_sim(common::sim_config()).await;
    sim.faults()
        .fail_next(Endpoint::Queues, 100_000, status(403));
    let exporter = common::start_exporter(&sim, &[]).await;
    let addr = exporter.local_addr();
    // Every other collector settles (they wait for queues), queue discovery fails.
    eventually("queue discovery failed three times", || async move {
        let s = scrape(addr).await;
        (value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "queues")],
        ) >= 3.0)
            .then_some(())
    })
    .await;
    assert_eq!(get(addr, "/-/ready").await.0, 503);
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// The aggregates collector's first poll (the day so far, then the look-back) is slow here,
/// as 100 queries of a 5,000-queue org are at 200 requests a minute: the exporter is ready
/// with live state meanwhile, and says honestly that the aggregates have not polled yet
/// (`genesys_up` 0, no poll and no failure counted, no analytics series). They join when
/// that poll completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_catch_up_does_not_hold_readiness_back() {
    let sim = common::start_sim(common::sim_config()).await;
    sim.faults().fail_next(
        Endpoint::Aggregates,
        1,
        Fault::Delay(Duration::from_secs(6)),
    );
    let exporter = common::start_exporter(&sim, &["--genesys.request-timeout=30s"]).await;
    let addr = exporter.local_addr();
    eventually("ready", || async move {
        (get(addr, "/-/ready").await.0 == 200).then_some(())
    })
    .await;
    let s = scrape(addr).await;
    let aggregates = [("collector", "aggregates")];
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0
    );
    assert!(
        !s.all("genesys_queue_conversations").is_empty(),
        "live state is served"
    );
    assert_eq!(value(&s, "genesys_up", &aggregates), 0.0);
    assert_eq!(
        s.get("genesys_collector_polls_total", &aggregates),
        Some(0.0)
    );
    assert_eq!(
        s.get("genesys_collector_poll_failures_total", &aggregates),
        Some(0.0)
    );
    assert!(s.all("genesys_conversations_offered_total").is_empty());
    // The catch-up completes: the counters join, and readiness never went back.
    let s = wait_value(addr, "aggregates up", "genesys_up", &aggregates, |v| {
        v == 1.0
    })
    .await;
    assert!(!s.all("genesys_conversations_offered_total").is_empty());
    assert_eq!(get(addr, "/-/ready").await.0, 200);
    exporter.shutdown().await;
    sim.shutdown().await;
}
