//! A 5000-queue org stays cheap per request.

use std::time::{Duration, Instant};

use chrono::TimeZone;
use genesys_sim::{SimClock, SimConfig, SimOrg};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_queues_answer_quickly() {
    let t0 = Instant::now();
    let cfg = SimConfig {
        queues: 5000,
        clock: SimClock::ManualAt(
            chrono::Utc
                .with_ymd_and_hms(2026, 3, 10, 10, 30, 0)
                .unwrap(),
        ),
        ..SimConfig::default()
    };
    let sim = SimOrg::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let started = t0.elapsed();
    let t1 = Instant::now();
    sim.advance(Duration::from_secs(10));
    let ten_ticks = t1.elapsed();
    let truth = sim.truth();
    assert_eq!(truth.queues.len(), 5000);
    let c = reqwest::Client::new();
    let tok: serde_json::Value = serde_json::from_slice(
        &c.post(format!("{}/oauth/token", sim.login_url()))
            .basic_auth("sim-client-id", Some("sim-client-secret"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let tok = tok["access_token"].as_str().unwrap().to_string();
    let preds: Vec<_> = truth.queues[2000..2100]
        .iter()
        .map(|q| json!({"dimension": "queueId", "value": q.id}))
        .collect();
    let body = json!({
        "filter": {"type": "or", "predicates": preds},
        "metrics": ["oWaiting", "oInteracting", "oAlerting", "oLongestWaiting", "oOnQueueUsers", "oUserRoutingStatuses"]
    })
    .to_string();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let r = c
            .post(format!(
                "{}/api/v2/analytics/queues/observations/query",
                sim.api_url()
            ))
            .bearer_auth(&tok)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        best = best.min(t.elapsed());
        assert!(v["results"].as_array().unwrap().len() >= 100);
    }
    let t = Instant::now();
    let r = c
        .post(format!(
            "{}/api/v2/analytics/conversations/activity/query",
            sim.api_url()
        ))
        .bearer_auth(&tok)
        .header("Content-Type", "application/json")
        .body(json!({"metrics": [{"metric": "oWaiting"}], "groupBy": ["mediaType"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let activity = t.elapsed();
    eprintln!("start {started:?}, 10 ticks {ten_ticks:?}, observations(100) {best:?}, activity {activity:?}");
    // Timings are printed, not asserted: speed belongs in the benchmark, not in a test that a
    // busy CI machine could fail.
    sim.shutdown().await;
}
