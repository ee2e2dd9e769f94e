//! A 100-queue aggregates query in a 5000-queue org stays cheap.

use std::time::{Duration, Instant};

use chrono::TimeZone;
use genesys_sim::{SimClock, SimConfig, SimOrg};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_queue_aggregates_in_a_five_thousand_queue_org() {
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
    sim.advance(Duration::from_secs(10));
    let truth = sim.truth();
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
    let ids: Vec<String> = truth.queues[2000..2100]
        .iter()
        .map(|q| q.id.clone())
        .collect();
    let preds: Vec<_> = ids
        .iter()
        .map(|id| json!({"dimension": "queueId", "value": id}))
        .collect();
    let now = sim.now_ms();
    let iv = |ms: i64| {
        chrono::Utc
            .timestamp_millis_opt(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    // Whole 5-minute buckets ending at the last full minute.
    let to = now - now.rem_euclid(300_000);
    let body = json!({
        "interval": format!("{}/{}", iv(to - 2 * 3600 * 1000), iv(to)),
        "granularity": "PT5M",
        "groupBy": ["queueId"],
        "filter": {"type": "or", "clauses": [{"type": "or", "predicates": preds}]},
        "metrics": ["nOffered", "tAnswered", "tAbandon", "tHandle", "tTalk", "tAcw", "oServiceLevel"]
    })
    .to_string();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let r = c
            .post(format!(
                "{}/api/v2/analytics/conversations/aggregates/query",
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
        let results = v["results"].as_array().unwrap();
        assert!(results.len() >= 50, "{}", results.len());
        assert!(results
            .iter()
            .all(|r| ids.iter().any(|id| r["group"]["queueId"] == id.as_str())));
    }
    eprintln!("aggregates(100 queues, 2 h, PT5M) {best:?}");
    // Timings are printed, not asserted: speed belongs in the benchmark, not in a test that a
    // busy CI machine could fail.
    sim.shutdown().await;
}
