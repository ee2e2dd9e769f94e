//! The simulated org over real HTTP on loopback (Manual clock, no sleeps).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use genesys_sim::{Endpoint, Fault, SimClock, SimConfig, SimOrg};
use serde_json::{json, Value};

mod common;

use common::{basic_auth as basic, sim_client as client, sim_token as token, start_sim as start};

/// A Tuesday at 10:30 UTC: a busy org.
fn busy() -> SimClock {
    common::busy_at(10, 30)
}

async fn token_response(sim: &SimOrg, auth: &str, body: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/oauth/token", sim.login_url()))
        .header("Authorization", auth)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json_value().await)
}

trait JsonValue {
    async fn json_value(self) -> Value;
}
impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let bytes = self.bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }
}

async fn post(sim: &SimOrg, tok: &str, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", sim.api_url()))
        .bearer_auth(tok)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

const OBS: &str = "/api/v2/analytics/queues/observations/query";
const ACT: &str = "/api/v2/analytics/conversations/activity/query";

fn all_queue_filter(ids: &[String]) -> Value {
    json!({
        "type": "or",
        "clauses": [{
            "type": "or",
            "predicates": ids.iter().map(|id| json!({"dimension": "queueId", "value": id})).collect::<Vec<_>>()
        }]
    })
}

#[tokio::test]
async fn token_endpoint_success_and_errors() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        ..SimConfig::default()
    })
    .await;
    let (status, v) = token_response(
        &sim,
        &basic("sim-client-id", "sim-client-secret"),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 200);
    assert!(v["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 86400);

    let (status, v) = token_response(
        &sim,
        &basic("sim-client-id", "wrong"),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(v["error"], "invalid_client");
    assert!(v["error_description"].is_string() && v["description"].is_string());

    let (status, v) = token_response(
        &sim,
        &basic("sim-client-id", "sim-client-secret"),
        "grant_type=password",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "unsupported_grant_type");

    // The token endpoint lives on the login base URL only.
    let r = client()
        .post(format!("{}/oauth/token", sim.api_url()))
        .header("Authorization", basic("sim-client-id", "sim-client-secret"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json_value().await["code"], "not.found");

    // API calls without a token.
    let r = client()
        .get(format!("{}/api/v2/routing/queues", sim.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.json_value().await["code"], "authentication.required");
    // The POST to api_url/oauth/token is not a token request.
    assert_eq!(sim.stats().token_requests, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn queue_listing_pages_cover_every_queue_once() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let r = client()
            .get(format!(
                "{}/api/v2/routing/queues?pageSize=10&pageNumber={page}",
                sim.api_url()
            ))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers().contains_key("inin-ratelimit-count"));
        assert!(r.headers().contains_key("ININ-Correlation-Id"));
        let v = r.json_value().await;
        assert_eq!(v["total"], 36);
        assert_eq!(v["pageCount"], 4);
        assert_eq!(v["pageSize"], 10);
        assert_eq!(v["pageNumber"], page);
        assert_eq!(
            v["firstUri"],
            "/api/v2/routing/queues?pageSize=10&pageNumber=1"
        );
        assert_eq!(
            v["lastUri"],
            "/api/v2/routing/queues?pageSize=10&pageNumber=4"
        );
        assert_eq!(v["previousUri"].is_string(), page > 1);
        assert_eq!(v["nextUri"].is_string(), page < 4);
        for q in v["entities"].as_array().unwrap() {
            assert!(q["id"].as_str().unwrap().len() == 36);
            assert!(q["division"]["id"].is_string() && q["division"]["name"].is_string());
            assert!(q["division"]["selfUri"].is_string());
            assert_eq!(q["memberCount"], 8);
            let ms = q["mediaSettings"].as_object().unwrap();
            assert!(!ms.is_empty());
            for (k, s) in ms {
                assert!(["call", "callback", "chat", "email", "message"].contains(&k.as_str()));
                assert!(s["alertingTimeoutSeconds"].is_i64());
                assert!(s["serviceLevel"]["percentage"].is_f64());
                assert!(s["serviceLevel"]["durationMs"].is_i64());
            }
            seen.push((
                q["name"].as_str().unwrap().to_string(),
                q["id"].as_str().unwrap().to_string(),
            ));
        }
        if v["nextUri"].is_null() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), 36);
    let ids: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 36);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "entities are sorted by name");
    let truth: Vec<_> = sim.truth().queues.into_iter().map(|q| q.id).collect();
    assert_eq!(
        truth,
        seen.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()
    );

    // Defaults and the cap.
    let v = client()
        .get(format!(
            "{}/api/v2/routing/queues?pageSize=100000",
            sim.api_url()
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(v["pageSize"], 500);
    assert_eq!(v["pageCount"], 1);
    let r = client()
        .get(format!(
            "{}/api/v2/routing/queues?pageSize=abc",
            sim.api_url()
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn observations_equal_truth_and_omit_zero_counts() {
    let sim = start(SimConfig {
        clock: busy(),
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    sim.advance(Duration::from_secs(300));
    let first = sim.truth().queues[0].name.clone();
    sim.schedule_spike(&first, Duration::from_secs(1), 25);
    sim.advance(Duration::from_secs(1));
    let truth = sim.truth();
    assert!(
        truth
            .queue_by_name(&first)
            .unwrap()
            .waiting
            .values()
            .sum::<u64>()
            >= 20
    );
    let ids: Vec<String> = truth.queues.iter().map(|q| q.id.clone()).collect();
    let metrics = [
        "oWaiting",
        "oInteracting",
        "oAlerting",
        "oLongestWaiting",
        "oLongestInteracting",
        "oOnQueueUsers",
        "oOffQueueUsers",
        "oActiveUsers",
        "oMemberUsers",
        "oUserRoutingStatuses",
        "oUserPresences",
    ];
    let r = post(
        &sim,
        &tok,
        OBS,
        &json!({"filter": all_queue_filter(&ids), "metrics": metrics}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let v = r.json_value().await;
    assert!(v["systemToOrganizationMappings"]["ON_QUEUE"].is_array());

    // Rebuild per-queue views from the answer.
    let mut conv: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    let mut users: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for res in v["results"].as_array().unwrap() {
        let qid = res["group"]["queueId"].as_str().unwrap().to_string();
        let media = res["group"]["mediaType"].as_str().map(str::to_string);
        for d in res["data"].as_array().unwrap() {
            let metric = d["metric"].as_str().unwrap().to_string();
            if let Some(c) = d["stats"]["count"].as_u64() {
                assert!(c > 0, "zero counts are left out: {d}");
            }
            match media.clone() {
                Some(m) => {
                    assert!(
                        metric.starts_with("oWaiting")
                            || metric == "oInteracting"
                            || metric == "oAlerting"
                            || metric.starts_with("oLongest")
                    );
                    conv.insert((qid.clone(), m, metric), d["stats"].clone());
                }
                None => {
                    let q = d["qualifier"].as_str().unwrap_or("").to_string();
                    users.insert(
                        (qid.clone(), metric, q),
                        d["stats"]["count"].as_u64().unwrap(),
                    );
                }
            }
        }
    }
    let mut waiting_total = 0;
    for q in &truth.queues {
        for m in &q.media_types {
            let get = |metric: &str| conv.get(&(q.id.clone(), m.clone(), metric.to_string()));
            let count = |metric: &str| get(metric).and_then(|s| s["count"].as_u64()).unwrap_or(0);
            assert_eq!(count("oWaiting"), q.waiting[m]);
            assert_eq!(count("oInteracting"), q.interacting[m]);
            assert_eq!(count("oAlerting"), q.alerting[m]);
            waiting_total += q.waiting[m];
            assert_eq!(
                get("oLongestWaiting").and_then(|s| s["calculatedMetricValue"].as_i64()),
                q.longest_waiting_since_ms.get(m).copied()
            );
            if let Some(since) = q.longest_waiting_since_ms.get(m) {
                assert!(*since <= truth.at_ms);
            }
        }
        for (status, n) in &q.routing_statuses {
            let got = users
                .get(&(q.id.clone(), "oUserRoutingStatuses".into(), status.clone()))
                .copied()
                .unwrap_or(0);
            assert_eq!(got, *n, "{} {status}", q.name);
        }
        let on_queue: u64 = users
            .iter()
            .filter(|((id, metric, _), _)| *id == q.id && metric == "oOnQueueUsers")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(on_queue, q.on_queue_users);
        assert_eq!(
            users
                .get(&(q.id.clone(), "oMemberUsers".into(), String::new()))
                .copied(),
            Some(8)
        );
    }
    assert!(waiting_total >= 20);
    assert!(truth
        .queues
        .iter()
        .any(|q| q.interacting.values().sum::<u64>() > 0));

    // mediaType predicate narrows the conversation groups; unknown queue ids return nothing.
    let body = json!({
        "filter": {"type": "and", "predicates": [
            {"dimension": "queueId", "value": ids[0]},
            {"dimension": "mediaType", "value": "voice"}]},
        "metrics": ["oWaiting", "oOnQueueUsers"]
    });
    let v = post(&sim, &tok, OBS, &body).await.json_value().await;
    for res in v["results"].as_array().unwrap() {
        assert_eq!(res["group"]["queueId"], ids[0].as_str());
        if let Some(m) = res["group"]["mediaType"].as_str() {
            assert_eq!(m, "voice");
        }
    }
    let body = json!({
        "filter": {"type": "or", "predicates": [{"dimension": "queueId", "value": "00000000-0000-0000-0000-000000000000"}]},
        "metrics": ["oWaiting"]
    });
    let v = post(&sim, &tok, OBS, &body).await.json_value().await;
    assert_eq!(v["results"], json!([]));

    // Opt-in: zero rows as in the published tutorial response.
    sim.faults().set_emit_zero_counts(true);
    let v = post(
        &sim,
        &tok,
        OBS,
        &json!({"filter": all_queue_filter(&ids), "metrics": ["oWaiting"]}),
    )
    .await
    .json_value()
    .await;
    let groups = v["results"].as_array().unwrap();
    let served: usize = truth.queues.iter().map(|q| q.media_types.len()).sum();
    assert_eq!(groups.len(), served);
    assert!(groups.iter().any(|g| g["data"][0]["stats"]["count"] == 0));
    sim.shutdown().await;
}

/// `8-4-4-4-12` lower-case hex digits.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The system presences of the simulated org, as `systemToOrganizationMappings` keys them.
const SYSTEM_PRESENCES: [&str; 6] = [
    "AVAILABLE",
    "BREAK",
    "MEAL",
    "OFFLINE",
    "ON_QUEUE",
    "TRAINING",
];

#[tokio::test]
async fn user_presences_roll_up_to_the_truth_and_every_org_presence_is_seen() {
    // The morning ramp-up: most agents on shift and busy, some still logged out.
    let sim = start(SimConfig {
        clock: common::busy_at(7, 30),
        queues: 60,
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let mut mappings: Option<BTreeMap<String, Vec<String>>> = None;
    // Organization presence id -> agents seen in it, summed over queues and answers.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..12 {
        sim.advance(Duration::from_secs(60));
        let truth = sim.truth();
        let ids: Vec<String> = truth.queues.iter().map(|q| q.id.clone()).collect();
        let v = post(
            &sim,
            &tok,
            OBS,
            &json!({"filter": all_queue_filter(&ids),
                "metrics": ["oUserPresences", "oActiveUsers", "oMemberUsers"]}),
        )
        .await
        .json_value()
        .await;

        // The mapping: every system presence with all its organization presence ids, the
        // same on every answer.
        let map: BTreeMap<String, Vec<String>> =
            serde_json::from_value(v["systemToOrganizationMappings"].clone())
                .expect("a mapping from system presence to organization presence ids");
        assert_eq!(
            map.keys().map(String::as_str).collect::<Vec<_>>(),
            SYSTEM_PRESENCES
        );
        assert_eq!(map["BREAK"].len(), 2, "Break and Coffee: {map:?}");
        for (sys, org) in &map {
            if sys != "BREAK" {
                assert_eq!(org.len(), 1, "{sys}: {org:?}");
            }
        }
        let all: Vec<&String> = map.values().flatten().collect();
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 7, "distinct ids");
        for id in &all {
            assert!(is_uuid(id), "{id}");
        }
        if let Some(before) = &mappings {
            assert_eq!(before, &map);
        }
        let system_of: BTreeMap<&str, &str> = map
            .iter()
            .flat_map(|(sys, org)| org.iter().map(move |id| (id.as_str(), sys.as_str())))
            .collect();

        // Per queue: the rows rolled up by system presence are the truth.
        let mut rolled: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut active: BTreeMap<String, u64> = BTreeMap::new();
        for res in v["results"].as_array().expect("results") {
            let qid = res["group"]["queueId"]
                .as_str()
                .expect("queueId")
                .to_string();
            assert!(res["group"]["mediaType"].is_null(), "user metrics only");
            let mut qualifiers = HashSet::new();
            for d in res["data"].as_array().expect("data") {
                let n = d["stats"]["count"].as_u64().expect("a count");
                match d["metric"].as_str() {
                    Some("oUserPresences") => {
                        let id = d["qualifier"].as_str().expect("a presence id");
                        assert!(qualifiers.insert(id.to_string()), "one row per id: {d}");
                        let sys = system_of.get(id).unwrap_or_else(|| {
                            panic!("{id} is an organization presence of the mapping")
                        });
                        *rolled
                            .entry(qid.clone())
                            .or_default()
                            .entry(sys.to_ascii_lowercase())
                            .or_default() += n;
                        *seen.entry(id.to_string()).or_default() += n;
                    }
                    Some("oActiveUsers") => {
                        active.insert(qid.clone(), n);
                    }
                    _ => {}
                }
            }
        }
        for q in &truth.queues {
            let keys: Vec<&str> = q.presences.keys().map(String::as_str).collect();
            assert_eq!(keys, common::SIM_PRESENCES);
            let got = rolled.remove(&q.id).unwrap_or_default();
            for (sys, n) in &q.presences {
                assert_eq!(got.get(sys).copied().unwrap_or(0), *n, "{} {sys}", q.name);
            }
            assert_eq!(q.presences.values().sum::<u64>(), q.member_users);
            assert_eq!(q.presences["on_queue"], q.on_queue_users, "{}", q.name);
            assert_eq!(
                q.member_users - q.presences["offline"],
                q.active_users,
                "{}",
                q.name
            );
            assert_eq!(
                active.get(&q.id).copied().unwrap_or(0),
                q.active_users,
                "{}",
                q.name
            );
        }
        assert!(rolled.is_empty(), "rows of unknown queues: {rolled:?}");
        mappings = Some(map);
    }
    // Over a busy twelve minutes every organization presence, both of BREAK included, has
    // agents somewhere.
    let map = mappings.expect("answers");
    for (sys, org) in &map {
        for id in org {
            assert!(
                seen.get(id).is_some_and(|&n| n > 0),
                "{sys} presence {id} seen: {seen:?}"
            );
        }
    }

    // With zero rows on, each queue has one row per organization presence.
    sim.faults().set_emit_zero_counts(true);
    let ids: Vec<String> = sim.truth().queues.into_iter().map(|q| q.id).collect();
    let v = post(
        &sim,
        &tok,
        OBS,
        &json!({"filter": all_queue_filter(&ids), "metrics": ["oUserPresences"]}),
    )
    .await
    .json_value()
    .await;
    let every: HashSet<&str> = map.values().flatten().map(String::as_str).collect();
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), ids.len());
    for res in results {
        let rows: HashSet<&str> = res["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|d| d["qualifier"].as_str())
            .collect();
        assert_eq!(rows, every, "{}", res["group"]);
        assert_eq!(res["data"].as_array().map(Vec::len), Some(7));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn activity_totals_equal_sum_over_queues() {
    let sim = start(SimConfig {
        clock: busy(),
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    sim.advance(Duration::from_secs(120));
    let truth = sim.truth();
    let totals = truth.totals();
    let metrics = json!([{"metric": "oWaiting"}, {"metric": "oInteracting"}, {"metric": "oAlerting"}, {"metric": "oLongestWaiting"}]);
    let r = post(
        &sim,
        &tok,
        &format!("{ACT}?pageSize=100&pageNumber=1"),
        &json!({"metrics": metrics, "groupBy": ["mediaType"]}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let v = r.json_value().await;
    let mut got: BTreeMap<(String, String), Value> = BTreeMap::new();
    for res in v["results"].as_array().unwrap() {
        assert_eq!(res["group"].as_object().unwrap().len(), 1);
        let m = res["group"]["mediaType"].as_str().unwrap().to_string();
        for d in res["data"].as_array().unwrap() {
            got.insert(
                (m.clone(), d["metric"].as_str().unwrap().to_string()),
                d.clone(),
            );
        }
    }
    for (m, n) in &totals.waiting {
        let c = got
            .get(&(m.clone(), "oWaiting".into()))
            .map(|d| d["count"].as_u64().unwrap());
        assert_eq!(c, (*n > 0).then_some(*n), "{m}");
        let l = got
            .get(&(m.clone(), "oLongestWaiting".into()))
            .map(|d| d["calculatedMetricValue"].as_i64().unwrap());
        assert_eq!(l, totals.longest_waiting_since_ms.get(m).copied());
    }
    for (m, n) in &totals.interacting {
        let c = got
            .get(&(m.clone(), "oInteracting".into()))
            .map(|d| d["count"].as_u64().unwrap());
        assert_eq!(c, (*n > 0).then_some(*n), "{m}");
    }
    assert!(totals.interacting.values().sum::<u64>() > 0);

    // Per queue and media type: equal to the observations of each queue.
    let v = post(
        &sim,
        &tok,
        ACT,
        &json!({"metrics": metrics, "groupBy": ["queueId", "mediaType"]}),
    )
    .await
    .json_value()
    .await;
    let mut sum = 0;
    for res in v["results"].as_array().unwrap() {
        let q = truth
            .queue(res["group"]["queueId"].as_str().unwrap())
            .unwrap();
        let m = res["group"]["mediaType"].as_str().unwrap();
        for d in res["data"].as_array().unwrap() {
            if d["metric"] == "oInteracting" {
                assert_eq!(d["count"].as_u64().unwrap(), q.interacting[m]);
                sum += q.interacting[m];
            }
        }
    }
    assert_eq!(sum, totals.interacting.values().sum::<u64>());

    // Enum validation.
    for bad in [
        json!({"metrics": [{"metric": "oBogus"}], "groupBy": ["mediaType"]}),
        json!({"metrics": [{"metric": "oWaiting"}], "groupBy": ["planet"]}),
        json!({"metrics": [{"metric": "oWaiting"}]}),
    ] {
        let r = post(&sim, &tok, ACT, &bad).await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        assert_eq!(r.json_value().await["code"], "bad.request");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn observation_validation_errors_use_error_body() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let ids: Vec<String> = (0..101)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let r = post(
        &sim,
        &tok,
        OBS,
        &json!({"filter": all_queue_filter(&ids), "metrics": ["oWaiting"]}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let ctx = r.headers()["ININ-Correlation-Id"]
        .to_str()
        .unwrap()
        .to_string();
    let v = r.json_value().await;
    assert!(v["message"].as_str().unwrap().contains("100"));
    assert_eq!(v["code"], "bad.request");
    assert_eq!(v["status"], 400);
    assert_eq!(v["contextId"], ctx.as_str());
    assert_eq!(v["details"], json!([]));
    assert_eq!(v["errors"], json!([]));

    let ok_filter = all_queue_filter(&ids[..100]);
    assert_eq!(
        post(
            &sim,
            &tok,
            OBS,
            &json!({"filter": ok_filter, "metrics": ["oWaiting"]})
        )
        .await
        .status()
        .as_u16(),
        200
    );
    for bad in [
        json!({"filter": ok_filter, "metrics": ["oWaitingg"]}),
        json!({"filter": {"type": "or", "predicates": [{"dimension": "userId", "value": "x"}]}, "metrics": ["oWaiting"]}),
        json!({"metrics": ["oWaiting"]}),
        json!({"filter": ok_filter}),
        json!({"filter": {"type": "xor", "predicates": []}, "metrics": ["oWaiting"]}),
    ] {
        let r = post(&sim, &tok, OBS, &bad).await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        assert_eq!(r.json_value().await["code"], "bad.request");
    }
    let r = client()
        .post(format!("{}{OBS}", sim.api_url()))
        .bearer_auth(&tok)
        .header("Content-Type", "application/json")
        .body("{\"filter\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json_value().await["status"], 400);
    let r = client()
        .get(format!("{}{OBS}", sim.api_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = client()
        .get(format!("{}/api/v2/nope", sim.api_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json_value().await["code"], "not.found");
    sim.shutdown().await;
}

#[tokio::test]
async fn budget_exceeded_gives_normalized_429() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        rate_limit_per_minute: 5,
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let url = format!("{}/api/v2/routing/queues", sim.api_url());
    for i in 1..=5 {
        let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["inin-ratelimit-count"], i.to_string().as_str());
        assert_eq!(r.headers()["inin-ratelimit-allowed"], "5");
    }
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let ctx = r.headers()["ININ-Correlation-Id"]
        .to_str()
        .unwrap()
        .to_string();
    let v = r.json_value().await;
    assert_eq!(
        v,
        json!({
            "message": format!("Rate limit exceeded the maximum. Retry the request in [{retry}] seconds"),
            "code": "too.many.requests.retry.after",
            "status": 429,
            "contextId": ctx,
            "details": [],
            "errors": []
        })
    );
    // A new token has its own budget.
    let tok2 = token(&sim).await;
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok2)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let stats = sim.stats();
    assert_eq!(stats.max_requests_in_any_60s_window(&tok), 6);
    assert_eq!(stats.count_status("GET", "/api/v2/routing/queues", 429), 1);
    assert_eq!(stats.count("GET", "/api/v2/routing/queues"), 7);
    assert_eq!(stats.token_requests, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn revoked_and_expired_tokens_get_401() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        ..SimConfig::default()
    })
    .await;
    let url = format!("{}/api/v2/routing/queues", sim.api_url());
    let tok = token(&sim).await;
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    sim.faults().revoke_tokens();
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v = r.json_value().await;
    assert_eq!(v["code"], "authentication.required");
    assert_eq!(v["status"], 401);
    let tok = token(&sim).await;
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    sim.faults().set_token_lifetime(Duration::from_secs(300));
    let (_, v) = token_response(
        &sim,
        &basic("sim-client-id", "sim-client-secret"),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(v["expires_in"], 300);
    let short = v["access_token"].as_str().unwrap().to_string();
    sim.advance(Duration::from_secs(301));
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&short)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        ..SimConfig::default()
    })
    .await;
    let url = format!("{}/api/v2/routing/queues", sim.api_url());
    sim.faults().fail_next(
        Endpoint::Token,
        1,
        Fault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    let (status, v) = token_response(
        &sim,
        &basic("sim-client-id", "sim-client-secret"),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(v["code"], "service.unavailable");
    let tok = token(&sim).await;

    sim.faults().fail_next(
        Endpoint::Queues,
        2,
        Fault::Status {
            status: 429,
            retry_after_secs: Some(3),
        },
    );
    for _ in 0..2 {
        let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers()["Retry-After"], "3");
        assert_eq!(
            r.json_value().await["code"],
            "too.many.requests.retry.after"
        );
    }
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    sim.faults().fail_next(Endpoint::Any, 1, Fault::Malformed);
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());

    sim.faults().fail_next(Endpoint::Queues, 1, Fault::Reset);
    assert!(client().get(&url).bearer_auth(&tok).send().await.is_err());

    sim.faults()
        .fail_next(Endpoint::Queues, 1, Fault::Delay(Duration::from_secs(5)));
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(quick
        .get(&url)
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap_err()
        .is_timeout());
    assert_eq!(sim.faults().pending(), 0);
    assert_eq!(
        sim.stats().count_status("GET", "/api/v2/routing/queues", 0),
        1
    );
    sim.shutdown().await;
}
