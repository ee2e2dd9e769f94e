//! The org's own request limit, read once at start-up from
//! `GET /api/v2/organizations/limits/namespaces/platform.api`: exposed as a gauge, followed by
//! the budget only when `--genesys.requests-per-minute` was not given, and never a reason to
//! fail or delay start-up.

mod common;

use common::*;
use genesys_exporter::app::Exporter;
use genesys_exporter::config::Config;
use genesys_sim::{Endpoint, Fault, SimConfig};

const LIMIT: &str = "genesys_api_org_limit_requests_per_minute";
const BUDGET: &str = "genesys_api_budget_requests_per_minute";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gauge_is_the_simulators_limit_and_an_explicit_budget_stays() {
    let sim = start_sim(SimConfig {
        rate_limit_per_minute: 50_000,
        ..sim_config()
    })
    .await;
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let s = wait_value(exporter.local_addr(), "the org limit", LIMIT, &[], |v| {
        v > 0.0
    })
    .await;
    assert_eq!(value(&s, LIMIT, &[]), 50_000.0);
    // --genesys.requests-per-minute was given (above the limit: a warning, nothing more).
    assert_eq!(value(&s, BUDGET, &[]), f64::from(TEST_BUDGET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_explicit_budget_it_keeps_the_default_margin_under_the_orgs_limit() {
    let sim = start_sim(SimConfig {
        rate_limit_per_minute: 3_000,
        ..sim_config()
    })
    .await;
    let args = [
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url={}", sim.api_url()),
        format!("--genesys.login-url={}", sim.login_url()),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        "--live.mode=poll".into(),
    ];
    let config = Config::from_args(args, Some(SimConfig::default().client_secret)).unwrap();
    let exporter = Exporter::start(config).await.expect("exporter starts");
    let s = wait_value(exporter.local_addr(), "the budget", BUDGET, &[], |v| {
        v == 2_000.0
    })
    .await;
    assert_eq!(value(&s, LIMIT, &[]), 3_000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_leaves_the_exporter_running_and_ready_without_the_gauge() {
    let sim = start_sim(sim_config()).await;
    sim.faults().fail_next(
        Endpoint::Limits,
        1,
        Fault::Status {
            status: 404,
            retry_after_secs: None,
        },
    );
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let s = eventually("the limits request answered", || async {
        let s = scrape(exporter.local_addr()).await;
        s.get(
            "genesys_api_requests_total",
            &[
                (
                    "endpoint",
                    "/api/v2/organizations/limits/namespaces/{namespaceName}",
                ),
                ("code", "404"),
            ],
        )
        .map(|_| s)
    })
    .await;
    assert!(!s.has(LIMIT));
    assert_eq!(value(&s, BUDGET, &[]), f64::from(TEST_BUDGET));
    assert_eq!(get(exporter.local_addr(), "/-/ready").await.0, 200);
    assert_eq!(sim.faults().pending(), 0, "the fault was used");
}
