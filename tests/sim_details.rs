//! The simulator's conversation details query (`POST
//! /api/v2/analytics/conversations/details/query`, REFERENCE 2.4): requests and answers against
//! the official models, paging and order, the interval's whole-day start filter, the details
//! lag, long conversations and ones crossing midnight, the MOS of ended voice calls with its
//! spike, and the MOS truth the exporter's tests compare with.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use genesys_sim::{SimConfig, SimOrg};
use serde_json::{json, Value};

mod common;

use common::aggregates::iso;
use common::schema::Validator;

const DETAILS: &str = "/api/v2/analytics/conversations/details/query";

async fn org_at(at: &str, queues: usize) -> SimOrg {
    common::start_sim(SimConfig {
        queues,
        ..common::sim_at(at)
    })
    .await
}

async fn post(sim: &SimOrg, tok: &str, body: &Value) -> (u16, Value) {
    let r = common::sim_client()
        .post(format!("{}{DETAILS}", sim.api_url()))
        .bearer_auth(tok)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("a body");
    let v = serde_json::from_slice(&bytes).expect("a JSON answer");
    (status, v)
}

/// The voice-quality query the exporter sends: ended conversations with a MOS, newest end
/// first.
fn mos_query(from_ms: i64, to_ms: i64, page_size: u32, page: u32) -> Value {
    json!({
        "interval": format!("{}/{}", iso(from_ms), iso(to_ms)),
        "conversationFilters": [{
            "type": "and",
            "predicates": [
                {"type": "dimension", "dimension": "conversationEnd", "operator": "exists"},
                {"type": "dimension", "dimension": "mediaStatsMinConversationMos", "operator": "exists"}
            ]
        }],
        "order": "desc",
        "orderBy": "conversationEnd",
        "paging": {"pageSize": page_size, "pageNumber": page}
    })
}

/// Every page of a query, in order, each checked against the official models (the request
/// against `ConversationQuery`, the answer against `AnalyticsConversationQueryResponse`).
async fn all_pages(sim: &SimOrg, tok: &str, mut body: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut v = Validator::new();
    for page in 1.. {
        body["paging"]["pageNumber"] = json!(page);
        v.check_def("ConversationQuery", &body, "request");
        let (status, answer) = post(sim, tok, &body).await;
        assert_eq!(status, 200, "{answer}");
        v.check_def(
            "AnalyticsConversationQueryResponse",
            &answer,
            &format!("page {page}"),
        );
        let Some(convs) = answer["conversations"].as_array() else {
            break;
        };
        out.extend(convs.iter().cloned());
        assert!(page < 1000, "paging never ends");
    }
    assert!(v.errors.is_empty(), "{:#?}", v.errors);
    out
}

fn ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a date"))
        .expect("RFC 3339")
        .timestamp_millis()
}

/// The queue of a conversation's `acd` participant (None: no queue segment).
fn queue_of(c: &Value) -> Option<String> {
    c["participants"]
        .as_array()?
        .iter()
        .filter(|p| p["purpose"] == "acd")
        .flat_map(|p| p["sessions"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["segments"].as_array().cloned().unwrap_or_default())
        .find_map(|s| s["queueId"].as_str().map(str::to_string))
}

#[tokio::test]
async fn answers_and_requests_match_the_official_models_and_pages_are_newest_end_first() {
    let sim = org_at("2026-03-10T10:00:00Z", 8).await;
    sim.advance(Duration::from_secs(40 * 60));
    let tok = common::sim_token(&sim).await;
    let now = sim.now_ms();
    let convs = all_pages(&sim, &tok, mos_query(now - 3_600_000, now, 100, 1)).await;
    assert!(convs.len() > 100, "more than a page: {}", convs.len());
    let ends: Vec<i64> = convs.iter().map(|c| ms(&c["conversationEnd"])).collect();
    assert!(
        ends.windows(2).all(|w| w[0] >= w[1]),
        "ordered by conversationEnd, newest first"
    );
    let ids: BTreeSet<&str> = convs
        .iter()
        .map(|c| c["conversationId"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), convs.len(), "no conversation on two pages");
    for c in &convs {
        let mos = c["mediaStatsMinConversationMos"].as_f64().expect("a MOS");
        assert!((1.0..=5.0).contains(&mos), "{mos}");
        assert!(c["participants"].as_array().is_some_and(|p| !p.is_empty()));
    }
    // Pages of 10 hold the same conversations in the same order.
    let small = all_pages(&sim, &tok, mos_query(now - 3_600_000, now, 10, 1)).await;
    assert_eq!(small, convs);
    // An ascending order is the same list reversed.
    let mut asc = mos_query(now - 3_600_000, now, 100, 1);
    asc["order"] = json!("asc");
    let mut up = all_pages(&sim, &tok, asc).await;
    up.reverse();
    let up_ids: Vec<&Value> = up.iter().map(|c| &c["conversationId"]).collect();
    let ids_desc: Vec<&Value> = convs.iter().map(|c| &c["conversationId"]).collect();
    // Ties in conversationEnd are broken by id in both orders, so the reversal is exact.
    assert_eq!(up_ids, ids_desc);
    // Without the MOS filter, active conversations and ended chats are answered too (no MOS).
    let mut everything = mos_query(now - 3_600_000, now, 100, 1);
    everything
        .as_object_mut()
        .map(|o| o.remove("conversationFilters"));
    let all = all_pages(&sim, &tok, everything).await;
    assert!(all
        .iter()
        .any(|c| c["conversationEnd"].is_null() && c["mediaStatsMinConversationMos"].is_null()));
    assert!(all
        .iter()
        .any(|c| c["conversationEnd"].is_string() && c["mediaStatsMinConversationMos"].is_null()));
}

#[tokio::test]
async fn paging_limits_and_unsupported_parts_are_refused_with_an_error_body() {
    let sim = org_at("2026-03-10T10:00:00Z", 2).await;
    let tok = common::sim_token(&sim).await;
    let now = sim.now_ms();
    let mut v = Validator::new();
    for body in [
        mos_query(now - 60_000, now, 101, 1),
        mos_query(now - 60_000, now, 0, 1),
        mos_query(now - 60_000, now, 10, 0),
        json!({"interval": format!("{}/{}", iso(now - 60_000), iso(now)), "paging": {"pageSize": 10}}),
        json!({"paging": {"pageSize": 10, "pageNumber": 1}}),
        json!({"interval": format!("{}/{}", iso(now - 8 * 86_400_000), iso(now))}),
        json!({"interval": format!("{}/{}", iso(now - 60_000), iso(now)), "orderBy": "queueId"}),
        json!({"interval": format!("{}/{}", iso(now - 60_000), iso(now)), "metrics": ["tHandle"]}),
        json!({"interval": format!("{}/{}", iso(now - 60_000), iso(now)),
               "conversationFilters": [{"type": "and", "predicates": [{"dimension": "externalTag", "value": "x"}]}]}),
    ] {
        let (status, answer) = post(&sim, &tok, &body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        v.check_def("ErrorBody", &answer, "error");
    }
    assert!(v.errors.is_empty(), "{:#?}", v.errors);
}

#[tokio::test]
async fn ended_calls_show_their_end_and_mos_only_after_the_details_lag() {
    let sim = org_at("2026-03-10T10:00:00Z", 4).await;
    let lag = Duration::from_secs(300);
    sim.faults().set_details_lag(Some((lag, lag)));
    sim.advance(Duration::from_secs(20 * 60));
    let tok = common::sim_token(&sim).await;
    let now = sim.now_ms();
    let convs = all_pages(&sim, &tok, mos_query(now - 3_600_000, now, 100, 1)).await;
    let newest = convs.iter().map(|c| ms(&c["conversationEnd"])).max();
    assert!(
        newest.is_some_and(|e| e <= now - 300_000),
        "nothing that ended in the last 5 minutes is answered as ended"
    );
    let truth_now = sim.mos_truth(now - 3_600_000, now, Some(now), &[5.0]);
    let truth_later = sim.mos_truth(now - 3_600_000, now, None, &[5.0]);
    let count = |t: &BTreeMap<(String, String), genesys_sim::MosTruth>| -> u64 {
        t.values().map(|m| m.count).sum()
    };
    assert_eq!(count(&truth_now), convs.len() as u64);
    assert!(count(&truth_later) > count(&truth_now));
    sim.advance(lag);
    let later = all_pages(&sim, &tok, mos_query(now - 3_600_000, now, 100, 1)).await;
    let ended_before_now = later
        .iter()
        .filter(|c| ms(&c["conversationEnd"]) < now)
        .count();
    assert_eq!(ended_before_now as u64, count(&truth_later));
}

#[tokio::test]
async fn the_interval_filters_on_the_start_by_whole_utc_days_and_long_calls_cross_midnight() {
    let sim = org_at("2026-03-10T22:00:00Z", 30).await;
    sim.faults()
        .set_details_lag(Some((Duration::ZERO, Duration::ZERO)));
    sim.advance(Duration::from_secs(3 * 3600));
    let tok = common::sim_token(&sim).await;
    let now = sim.now_ms();
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-03-11T00:00:00Z")
        .expect("a date")
        .timestamp_millis();
    // One minute of the 10th touches the whole 10th: every call that started that day.
    let tenth = all_pages(&sim, &tok, mos_query(midnight - 60_000, midnight, 100, 1)).await;
    assert!(!tenth.is_empty());
    assert!(tenth.iter().all(|c| ms(&c["conversationStart"]) < midnight));
    assert!(
        tenth
            .iter()
            .any(|c| ms(&c["conversationStart"]) < midnight - 60_000),
        "started before the interval, on the day it touches"
    );
    let crossing = tenth
        .iter()
        .filter(|c| ms(&c["conversationEnd"]) >= midnight)
        .count();
    assert!(
        crossing > 0,
        "calls that started on the 10th and ended on the 11th"
    );
    // An interval inside the 11th finds none of them.
    let eleventh = all_pages(&sim, &tok, mos_query(midnight, now, 100, 1)).await;
    assert!(eleventh
        .iter()
        .all(|c| ms(&c["conversationStart"]) >= midnight));
    // Both days: every ended voice call of the last 3 hours, long ones among them.
    let both = all_pages(&sim, &tok, mos_query(midnight - 60_000, now, 100, 1)).await;
    let truth = sim.mos_truth(now - 3 * 3_600_000, now + 1, None, &[5.0]);
    let from_truth: u64 = truth.values().map(|m| m.count).sum();
    let seen = both
        .iter()
        .filter(|c| ms(&c["conversationEnd"]) >= now - 3 * 3_600_000)
        .count();
    assert_eq!(seen as u64, from_truth);
    let long: BTreeSet<String> = sim
        .long_conversations(now - 3 * 3_600_000, now + 1)
        .into_iter()
        .collect();
    assert!(
        !long.is_empty(),
        "some conversations started hours before the queue"
    );
    assert!(both
        .iter()
        .filter(|c| long.contains(c["conversationId"].as_str().unwrap_or_default()))
        .all(|c| ms(&c["conversationEnd"]) - ms(&c["conversationStart"]) > 3_600_000));
}

#[tokio::test]
async fn a_spiked_queue_scores_poor_calls_and_the_truth_is_what_the_answers_hold() {
    let sim = org_at("2026-03-10T10:00:00Z", 6).await;
    sim.faults()
        .set_details_lag(Some((Duration::ZERO, Duration::ZERO)));
    let queue = sim.truth().queues[0].id.clone();
    sim.advance(Duration::from_secs(10 * 60));
    let spiked_at = sim.now_ms();
    sim.spike_mos(&queue);
    sim.advance(Duration::from_secs(20 * 60));
    let tok = common::sim_token(&sim).await;
    let now = sim.now_ms();
    let convs = all_pages(&sim, &tok, mos_query(now - 3_600_000, now, 100, 1)).await;
    let bounds = [2.5, 3.0, 3.5, 4.0, 4.5];
    let mut answered: BTreeMap<String, (u64, f64, u64)> = BTreeMap::new();
    for c in &convs {
        let mos = c["mediaStatsMinConversationMos"].as_f64().expect("a MOS");
        let q = queue_of(c).unwrap_or_default();
        let e = answered.entry(q.clone()).or_default();
        e.0 += 1;
        e.1 += mos;
        e.2 += u64::from(mos <= 3.5);
        if q == queue && ms(&c["conversationEnd"]) >= spiked_at {
            assert!(
                mos < 3.5,
                "every call that ended after the spike is poor: {mos}"
            );
        }
    }
    let truth = sim.mos_truth(0, now + 1, None, &bounds);
    assert!(
        truth.contains_key(&(String::new(), "voice".to_string())),
        "calls without a queue"
    );
    for ((q, media), t) in &truth {
        assert_eq!(media, "voice", "only voice calls carry a MOS");
        let a = answered.get(q).copied().unwrap_or_default();
        assert_eq!((a.0, a.1), (t.count, t.sum), "queue {q:?}: count and sum");
        assert_eq!(a.2, t.buckets[2].1, "queue {q:?}: calls at or below 3.5");
    }
    assert_eq!(answered.len(), truth.len());
    let spiked = &truth[&(queue, "voice".to_string())];
    let others: u64 = truth.values().map(|t| t.buckets[2].1).sum::<u64>() - spiked.buckets[2].1;
    assert!(
        spiked.buckets[2].1 > others,
        "the spiked queue has most of the poor calls"
    );
}
