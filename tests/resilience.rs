//! Tokens, rate limits, retries and staleness, each provoked in the simulated org.

mod common;

use std::time::Duration;

use common::*;
use genesys_sim::{Endpoint, Fault, SimClock, SimConfig};

const OBSERVATIONS: &str = "/api/v2/analytics/queues/observations/query";
const ACTIVITY: &str = "/api/v2/analytics/conversations/activity/query";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_before_expiry_and_once_after_a_401() {
    // Wall-clock time, so the simulator really expires tokens after 2 s.
    let sim = start_sim(SimConfig {
        token_lifetime: Duration::from_secs(2),
        clock: SimClock::Realtime,
        ..sim_config()
    })
    .await;
    let exporter = start_exporter(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    // Three lifetimes of polling: new tokens come before the old ones expire, never a 401.
    wait_value(
        addr,
        "three token refreshes",
        "genesys_api_token_refreshes_total",
        &[],
        |v| v >= 3.0,
    )
    .await;
    assert_eq!(sim.stats().with_status(401), 0, "an expired token was used");

    // Revoked mid-cycle: each request that meets a 401 refreshes the token and retries once.
    let failures_before = value(
        &scrape(addr).await,
        "genesys_collector_poll_failures_total",
        &[("collector", "observations")],
    );
    sim.faults().revoke_tokens();
    // The collectors share the token: whichever meets the 401 first refreshes it for all.
    let s = eventually("a retry after 401", || async {
        let s = scrape(addr).await;
        (sum(&s, "genesys_api_retries_total", ("reason", "unauthorized")) >= 1.0).then_some(s)
    })
    .await;
    assert!(sum(&s, "genesys_api_requests_total", ("code", "401")) >= 1.0);
    let s = wait_polls(addr, "observations").await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "observations")]
        ),
        failures_before,
        "the 401 was absorbed by the refresh, no poll failed"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// Arrival times of every API request the simulator saw, sorted.
fn arrivals(sim: &genesys_sim::SimOrg) -> Vec<Duration> {
    let mut all: Vec<Duration> = sim.stats().per_token.into_values().flatten().collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_every_request_back_for_retry_after() {
    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    let before = arrivals(&sim).len();
    sim.faults().fail_next(
        Endpoint::Observations,
        1,
        Fault::Status {
            status: 429,
            retry_after_secs: Some(2),
        },
    );
    wait_value(
        addr,
        "a rate-limited retry",
        "genesys_api_retries_total",
        &[("endpoint", OBSERVATIONS), ("reason", "rate_limited")],
        |v| v == 1.0,
    )
    .await;
    wait_polls(addr, "observations").await;

    // After the 429 nobody (observations nor activity) sent anything for Retry-After seconds.
    let times = arrivals(&sim);
    let longest_gap = times[before.saturating_sub(1)..]
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap();
    assert!(
        longest_gap >= Duration::from_millis(1900),
        "longest pause between requests was {longest_gap:?}"
    );
    let s = scrape(addr).await;
    assert_eq!(
        value(
            &s,
            "genesys_api_requests_total",
            &[("endpoint", OBSERVATIONS), ("code", "429")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "observations")]
        ),
        0.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_timeouts_are_retried_with_backoff() {
    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &["--genesys.request-timeout=1s"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    sim.faults().fail_next(
        Endpoint::Observations,
        2,
        Fault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    sim.faults()
        .fail_next(Endpoint::Activity, 1, Fault::Delay(Duration::from_secs(3)));
    wait_value(
        addr,
        "two 503 retries",
        "genesys_api_retries_total",
        &[("endpoint", OBSERVATIONS), ("reason", "server_error")],
        |v| v == 2.0,
    )
    .await;
    wait_value(
        addr,
        "a timeout retry",
        "genesys_api_retries_total",
        &[("endpoint", ACTIVITY), ("reason", "timeout")],
        |v| v == 1.0,
    )
    .await;
    wait_polls(addr, "observations").await;
    let s = wait_polls(addr, "activity").await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0
    );
    assert_eq!(value(&s, "genesys_up", &[("collector", "activity")]), 1.0);
    assert_eq!(
        value(
            &s,
            "genesys_api_requests_total",
            &[("endpoint", OBSERVATIONS), ("code", "503")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &s,
            "genesys_api_requests_total",
            &[("endpoint", ACTIVITY), ("code", "timeout")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "observations")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "activity")]
        ),
        0.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_cannot_refresh_goes_stale_then_recovers() {
    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    assert!(scrape(addr).await.has("genesys_queue_conversations"));

    // A 500 is not retried (the SDKs treat it as non-recoverable); every poll fails.
    sim.faults().fail_next(
        Endpoint::Observations,
        100_000,
        Fault::Status {
            status: 500,
            retry_after_secs: None,
        },
    );
    let s = eventually("observation series to disappear", || async {
        let s = scrape(addr).await;
        (!s.has("genesys_queue_conversations")).then_some(s)
    })
    .await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        0.0
    );
    for gone in [
        "genesys_queue_longest_waiting_seconds",
        "genesys_queue_on_queue_users",
        "genesys_queue_users",
    ] {
        assert!(!s.has(gone), "{gone} still served while stale");
    }
    // The other collectors are unaffected.
    assert_eq!(value(&s, "genesys_up", &[("collector", "activity")]), 1.0);
    assert!(s.has("genesys_conversations"));
    assert!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "observations")]
        ) >= 1.0
    );

    sim.faults().clear();
    sim.advance(Duration::from_secs(20));
    wait_value(
        addr,
        "observations up again",
        "genesys_up",
        &[("collector", "observations")],
        |v| v == 1.0,
    )
    .await;
    let truth = sim.truth();
    let q = &truth.queues[0];
    let media = &q.media_types[0];
    wait_value(
        addr,
        "fresh values after recovery",
        "genesys_queue_conversations",
        &[
            ("queue_id", &q.id),
            ("queue", &q.name),
            ("media_type", media),
            ("state", "interacting"),
        ],
        |v| v == q.interacting[media] as f64,
    )
    .await;
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_exceed_the_client_budget() {
    let sim = start_sim(sim_config()).await;
    // The planner stretches intervals to fit the budget, so demand beyond it comes in bursts:
    // at start every collector polls at once, four requests against a budget of two a minute.
    let exporter = start_exporter(&sim, &["--genesys.requests-per-minute=2"]).await;
    let addr = exporter.local_addr();
    let s = wait_value(
        addr,
        "requests queued behind the budget",
        "genesys_api_budget_waiting_requests",
        &[],
        |v| v >= 1.0,
    )
    .await;
    assert_eq!(
        value(&s, "genesys_api_budget_requests_per_minute", &[]),
        2.0
    );
    // The budget was used up (the waits prove demand exceeded it) and never exceeded. The
    // requests the budget let out may still be on their way to the simulator when the wait
    // shows: its count is read once it has seen them.
    let sent = eventually("the simulator has seen the budget's requests", || async {
        let n = sim.stats().max_requests_in_any_60s_window_any_token();
        (n >= 2).then_some(n)
    })
    .await;
    assert_eq!(sent, 2, "never more than the budget in any minute");
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_stretch_to_fit_the_budget_and_say_so() {
    // 250 queues: 3 batches. At 1 s intervals that is 3+3+1+3 requests a second, 600 a minute,
    // against a budget of 60: every interval is stretched 10x.
    let sim = start_sim(SimConfig {
        queues: 250,
        agents_per_queue: 1,
        ..sim_config()
    })
    .await;
    let exporter = start_exporter(
        &sim,
        &[
            "--genesys.requests-per-minute=60",
            "--collector.queues.interval=1s",
            "--collector.observations.interval=1s",
            "--collector.activity.interval=1s",
            "--collector.aggregates.interval=1s",
        ],
    )
    .await;
    let addr = exporter.local_addr();
    let s = wait_value(
        addr,
        "the plan stretched",
        "genesys_collector_interval_seconds",
        &[("collector", "observations")],
        |v| v > 5.0,
    )
    .await;
    for c in ["queues", "observations", "activity", "aggregates"] {
        let v = value(
            &s,
            "genesys_collector_interval_seconds",
            &[("collector", c)],
        );
        assert!((v - 10.0).abs() < 1e-6, "{c}: {v}");
    }
    assert_eq!(
        value(&s, "genesys_api_planned_requests_per_minute", &[]),
        60.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// One failed queue listing or token request at start-up costs seconds, not the 5 minutes of
/// the listing interval: until its first success a collector retries after 1 s, 2 s, ...;
/// a token request that meets a reset or a server error is retried like any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_listing_or_token_request_is_retried_within_seconds() {
    let status = |status| Fault::Status {
        status,
        retry_after_secs: None,
    };
    for (endpoint, fault) in [
        (Endpoint::Queues, status(500)),
        (Endpoint::Token, Fault::Reset),
        (Endpoint::Token, status(401)),
        (Endpoint::Token, status(500)),
    ] {
        let sim = start_sim(sim_config()).await;
        sim.faults().fail_next(endpoint, 1, fault.clone());
        // The listing keeps its default interval: only the retry makes this test pass in time.
        let exporter = start_exporter(&sim, &["--collector.queues.interval=5m"]).await;
        let addr = exporter.local_addr();
        eventually(
            &format!("ready after {endpoint:?} {fault:?}"),
            || async move { (get(addr, "/-/ready").await.0 == 200).then_some(()) },
        )
        .await;
        let s = scrape(addr).await;
        assert_eq!(value(&s, "genesys_up", &[("collector", "queues")]), 1.0);
        exporter.shutdown().await;
        sim.shutdown().await;
    }
}

/// A login host that fails (5xx) is not one that refuses the client: the error says which,
/// so an operator does not go hunting for a credentials problem that is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_is_not_reported_as_refused_credentials() {
    let sim = start_sim(sim_config()).await;
    let client = |secret: &str| api_client(&sim, secret, 0);
    sim.faults().fail_next(
        Endpoint::Token,
        1,
        Fault::Status {
            status: 500,
            retry_after_secs: None,
        },
    );
    let failing = client(&SimConfig::default().client_secret)
        .queues_page(1, 100)
        .await
        .expect_err("the token request fails");
    let text = genesys_exporter::ErrorChain(&failing).to_string();
    assert!(text.contains("could not issue a token: HTTP 500"), "{text}");
    assert!(!text.contains("refused"), "{text}");

    let refused = client("wrong-secret")
        .queues_page(1, 100)
        .await
        .expect_err("a wrong secret is refused");
    let text = genesys_exporter::ErrorChain(&refused).to_string();
    assert!(text.contains("refused the client credentials"), "{text}");
    sim.shutdown().await;
}
