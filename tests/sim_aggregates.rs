//! The simulated org's conversation aggregates over real HTTP on loopback (Manual clock, no
//! sleeps): response shape, equality with `aggregate_truth`, late availability, validation.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::TimeZone;
use genesys_sim::{AggregateTruth, Endpoint, Fault, Refusal, SimConfig, SimOrg, StatTruth};
use serde_json::{json, Value};

mod common;

use common::aggregates::interval;
use common::{busy_at, sim_client as client, sim_token as token, start_sim as start};

const AGG: &str = "/api/v2/analytics/conversations/aggregates/query";

/// Every metric the simulator models.
const MODELED: [&str; 27] = [
    "nOffered",
    "nConnected",
    "nOverSla",
    "nTransferred",
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tAcd",
    "tWait",
    "tTalk",
    "tHeld",
    "tAcw",
    "tHandle",
    "tAlert",
    "oServiceLevel",
    "tNotResponding",
    "nBlindTransferred",
    "nConsultTransferred",
    "nOutbound",
    "tDialing",
    "tContacting",
    "nError",
    "tIvr",
    "tFlowOut",
    "tVoicemail",
    "nCallbackScheduled",
    "oCallbackServiceLevel",
];

/// The metrics reported as a ratio, numerator, denominator and target.
fn is_service_level(metric: &str) -> bool {
    metric == "oServiceLevel" || metric == "oCallbackServiceLevel"
}

async fn post_raw(sim: &SimOrg, tok: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}{AGG}", sim.api_url()))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn query(sim: &SimOrg, tok: &str, body: &Value) -> Value {
    let (status, v) = post_raw(sim, Some(tok), body).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn by_queue(from: i64, to: i64, granularity: Option<&str>) -> Value {
    let mut q = json!({
        "interval": interval(from, to),
        "groupBy": ["queueId"],
        "metrics": MODELED,
    });
    if let Some(g) = granularity {
        q["granularity"] = json!(g);
    }
    q
}

fn merge(into: &mut StatTruth, s: &StatTruth) {
    if into.count == 0 {
        *into = s.clone();
        return;
    }
    into.count += s.count;
    into.sum_ms += s.sum_ms;
    into.max_ms = into.max_ms.max(s.max_ms);
    into.min_ms = into.min_ms.min(s.min_ms);
    into.numerator += s.numerator;
    into.denominator += s.denominator;
}

/// A count that JSON carries as a float (a service level's denominator): whole and not
/// negative.
fn whole(x: f64) -> u64 {
    assert!(
        x >= 0.0 && x.fract() == 0.0 && x < 1e15,
        "{x} is not a count"
    );
    // Exact: checked whole, non-negative and small above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = x as u64;
    n
}

fn stat(metric: &str, stats: &Value) -> StatTruth {
    let i = |k: &str| stats[k].as_i64().unwrap_or(0);
    if is_service_level(metric) {
        let den = stats["denominator"].as_f64().unwrap();
        StatTruth {
            count: whole(den),
            numerator: stats["numerator"].as_f64().unwrap(),
            denominator: den,
            ..StatTruth::default()
        }
    } else {
        StatTruth {
            count: stats["count"].as_u64().unwrap(),
            sum_ms: i("sum"),
            max_ms: i("max"),
            min_ms: i("min"),
            ..StatTruth::default()
        }
    }
}

/// Response -> bucket interval -> truth-shaped groups (all buckets merged under "*" too).
fn parse(resp: &Value) -> BTreeMap<String, AggregateTruth> {
    let mut out: BTreeMap<String, AggregateTruth> = BTreeMap::new();
    for res in resp["results"].as_array().unwrap() {
        let key = (
            res["group"]["queueId"].as_str().unwrap_or("").to_string(),
            res["group"]["mediaType"].as_str().unwrap().to_string(),
        );
        for d in res["data"].as_array().unwrap() {
            let iv = d["interval"].as_str().unwrap().to_string();
            for m in d["metrics"].as_array().unwrap() {
                let name = m["metric"].as_str().unwrap().to_string();
                let s = stat(&name, &m["stats"]);
                for b in [iv.clone(), "*".to_string()] {
                    let slot = out
                        .entry(b)
                        .or_default()
                        .groups
                        .entry(key.clone())
                        .or_default()
                        .entry(name.clone())
                        .or_default();
                    merge(slot, &s);
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn response_shape_units_and_omitted_zeros() {
    let sim = start(SimConfig {
        clock: busy_at(10, 30),
        flow_outs: true,
        ..SimConfig::default()
    })
    .await;
    sim.faults()
        .set_aggregate_lag(Some((Duration::ZERO, Duration::ZERO)));
    sim.advance(Duration::from_secs(600));
    let tok = token(&sim).await;
    let now = sim.now_ms();
    let from = now - 30 * 60_000;
    let mut body = by_queue(from, now, Some("PT5M"));
    body["metrics"]
        .as_array_mut()
        .unwrap()
        .extend([json!("nCallbackAttempts"), json!("nOffered")]);
    let v = query(&sim, &tok, &body).await;
    let results = v["results"].as_array().unwrap();
    assert!(results.len() > 20, "a busy org has many groups");
    let mut seen = std::collections::BTreeSet::new();
    for r in results {
        let g = r["group"].as_object().unwrap();
        assert_eq!(g.len(), 2, "{g:?}");
        assert!(g["queueId"].is_string());
        assert!(["voice", "chat", "email", "callback", "message"]
            .contains(&g["mediaType"].as_str().unwrap()));
        let data = r["data"].as_array().unwrap();
        assert!(!data.is_empty());
        for d in data {
            let iv = d["interval"].as_str().unwrap();
            let (a, b) = iv.split_once('/').unwrap();
            assert!(
                a.ends_with(".000Z") && b.ends_with(".000Z") && a.len() == 24,
                "{iv}"
            );
            let a = chrono::DateTime::parse_from_rfc3339(a)
                .unwrap()
                .timestamp_millis();
            let b = chrono::DateTime::parse_from_rfc3339(b)
                .unwrap()
                .timestamp_millis();
            assert_eq!(b - a, 300_000);
            assert_eq!((a - from) % 300_000, 0);
            let metrics = d["metrics"].as_array().unwrap();
            assert!(!metrics.is_empty());
            let names: Vec<&str> = metrics
                .iter()
                .map(|m| m["metric"].as_str().unwrap())
                .collect();
            let mut dedup = names.clone();
            dedup.dedup();
            assert_eq!(names, dedup, "each metric once");
            for m in metrics {
                let name = m["metric"].as_str().unwrap();
                seen.insert(name.to_string());
                assert!(MODELED.contains(&name), "{name}");
                let s = m["stats"].as_object().unwrap();
                let mut keys: Vec<&str> = s.keys().map(String::as_str).collect();
                keys.sort();
                if is_service_level(name) {
                    assert_eq!(keys, ["denominator", "numerator", "ratio", "target"]);
                    assert!(s["denominator"].as_f64().unwrap() > 0.0);
                    let r = s["ratio"].as_f64().unwrap();
                    assert!((0.0..=1.0).contains(&r));
                    assert_eq!(s["target"].as_f64().unwrap(), 0.8);
                } else if name.starts_with('n') {
                    assert_eq!(keys, ["count"]);
                    assert!(s["count"].as_u64().unwrap() > 0);
                } else {
                    assert_eq!(keys, ["count", "max", "min", "sum"]);
                    let (count, sum) = (s["count"].as_u64().unwrap(), s["sum"].as_i64().unwrap());
                    let (max, min) = (s["max"].as_i64().unwrap(), s["min"].as_i64().unwrap());
                    assert!(count > 0 && min <= max && max <= sum && min >= 0);
                    let count = i64::try_from(count).unwrap();
                    assert!(sum >= min * count && sum <= max * count);
                }
            }
        }
    }
    // Busy for 30 minutes: every modeled metric shows up somewhere, in milliseconds.
    for m in MODELED {
        assert!(seen.contains(m), "{m} never reported");
    }
    let talk = parse(&v)["*"].total("tTalk").unwrap();
    assert!(
        talk.sum_ms / i64::try_from(talk.count).unwrap() > 30_000,
        "tTalk is in ms"
    );

    // Grouped by nothing: still split by mediaType.
    let v = query(
        &sim,
        &tok,
        &json!({"interval": interval(from, now), "metrics": ["nOffered", "tHandle"]}),
    )
    .await;
    let results = v["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() <= 5);
    for r in results {
        let g = r["group"].as_object().unwrap();
        assert_eq!(g.keys().collect::<Vec<_>>(), ["mediaType"]);
        assert_eq!(r["data"].as_array().unwrap().len(), 1);
        assert_eq!(r["data"][0]["interval"], interval(from, now));
    }
    // Only unmodeled metrics: nothing to report.
    let v = query(
        &sim,
        &tok,
        &json!({"interval": interval(from, now), "metrics": ["nCallbackAttempts", "tCfcFlowOut"]}),
    )
    .await;
    assert_eq!(v, json!({"results": []}));
    // A filter on one queue and one media type.
    let q = sim.truth().queues[0].clone();
    let media = q.media_types[0].clone();
    let v = query(
        &sim,
        &tok,
        &json!({
            "interval": interval(from, now),
            "groupBy": ["queueId"],
            "metrics": ["nOffered"],
            "filter": {"type": "and", "predicates": [
                {"type": "dimension", "dimension": "queueId", "operator": "matches", "value": q.id},
                {"dimension": "mediaType", "value": media}
            ]}
        }),
    )
    .await;
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["group"], json!({"queueId": q.id, "mediaType": media}));
    }
    let truth = sim.aggregate_truth(from, now, Some(now));
    let want = truth
        .groups
        .get(&(q.id.clone(), media.clone()))
        .and_then(|g| g.get("nOffered"))
        .map_or(0, |s| s.count);
    let got = v["results"][0]["data"][0]["metrics"][0]["stats"]["count"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(got, want);
    sim.shutdown().await;
}

#[tokio::test]
async fn buckets_equal_truth_and_sum_to_the_whole_interval() {
    // With flow-outs: a voicemail is stamped after its conversation ended.
    let sim = start(SimConfig {
        clock: busy_at(9, 0),
        queues: 24,
        flow_outs: true,
        ..SimConfig::default()
    })
    .await;
    let start_ms = sim.now_ms();
    sim.advance(Duration::from_secs(100 * 60));
    let tok = token(&sim).await;
    let now = sim.now_ms();
    // 2 h: the 20 minutes of warm-up before the start, then 100 minutes of traffic.
    let from = start_ms - 20 * 60_000;
    assert_eq!(now - from, 2 * 3600 * 1000);
    let at = std::time::Instant::now();
    let buckets = parse(&query(&sim, &tok, &by_queue(from, now, Some("PT5M"))).await);
    assert!(at.elapsed() < Duration::from_secs(3));
    assert_eq!(buckets.len(), 24 + 1, "every 5-minute bucket has data");
    for k in 0..24 {
        let (a, b) = (from + k * 300_000, from + (k + 1) * 300_000);
        let truth = sim.aggregate_truth(a, b, Some(now));
        assert_eq!(buckets[&interval(a, b)], truth, "bucket {}", interval(a, b));
    }
    let whole = parse(&query(&sim, &tok, &by_queue(from, now, None)).await);
    assert_eq!(whole.len(), 2);
    assert_eq!(whole[&interval(from, now)], buckets["*"]);
    assert_eq!(buckets["*"], sim.aggregate_truth(from, now, Some(now)));
    // Not everything stamped is visible yet (the last minutes lag).
    let all = sim.aggregate_truth(from, now, None);
    assert!(all.total("nOffered").unwrap().count > buckets["*"].total("nOffered").unwrap().count);
    // Same answer at PT1H and PT30M, summed.
    for g in ["PT1H", "PT30M", "PT15M", "PT1M"] {
        let p = parse(&query(&sim, &tok, &by_queue(from, now, Some(g))).await);
        assert_eq!(p["*"], buckets["*"], "{g}");
    }
    // oCallbackServiceLevel is reported on callback groups only, where it is oServiceLevel
    // (the simulator's reading: the service level of callback conversations).
    let mut callbacks = 0;
    for ((queue, media), g) in &buckets["*"].groups {
        let (sl, cb) = (g.get("oServiceLevel"), g.get("oCallbackServiceLevel"));
        if media == "callback" {
            assert_eq!(cb, sl, "{queue} callback");
            callbacks += usize::from(cb.is_some());
        } else {
            assert_eq!(cb, None, "{queue} {media}: callbacks only");
        }
    }
    assert!(
        callbacks > 0,
        "no callback service level in 100 busy minutes"
    );
    sim.shutdown().await;
}

/// Flow-outs to voicemail only turn some abandons into flow-outs: the same org without them
/// has every other number, and as many abandons as flow-outs and abandons with them.
#[tokio::test]
async fn flow_outs_turn_abandons_into_voicemails_and_change_nothing_else() {
    let config = |flow_outs| SimConfig {
        clock: busy_at(9, 0),
        queues: 12,
        flow_outs,
        ..SimConfig::default()
    };
    let (off, on) = (start(config(false)).await, start(config(true)).await);
    for sim in [&off, &on] {
        sim.advance(Duration::from_secs(90 * 60));
    }
    let now = on.now_ms();
    let from = now - 2 * 3600 * 1000;
    let (a, b) = (
        off.aggregate_truth(from, now, None),
        on.aggregate_truth(from, now, None),
    );
    let stat = |t: &AggregateTruth, m: &str| t.total(m).unwrap_or_default();
    let flowed = stat(&b, "tFlowOut");
    let (left, voicemails) = (flowed.count, stat(&b, "tVoicemail").count);
    assert!(left > 10, "{left} flow-outs in 90 busy minutes");
    assert!(
        voicemails <= left && voicemails + 10 > left,
        "{voicemails} of {left}"
    );
    assert!(flowed.min_ms >= 30_000, "after 30 s in queue or more");
    let vm = stat(&b, "tVoicemail");
    assert!(vm.min_ms >= 15_000 && vm.max_ms <= 90_000);
    assert_eq!(stat(&a, "tFlowOut").count + stat(&a, "tVoicemail").count, 0);
    assert_eq!(
        stat(&a, "tAbandon").count,
        stat(&b, "tAbandon").count + left
    );
    assert_eq!(
        stat(&a, "tAbandon").sum_ms,
        stat(&b, "tAbandon").sum_ms + flowed.sum_ms
    );
    // Abandons that waited 10 s or more count in the service level; a flow-out does not.
    assert_eq!(
        stat(&a, "oServiceLevel").denominator,
        stat(&b, "oServiceLevel").denominator + left as f64
    );
    for m in MODELED {
        if !["tAbandon", "oServiceLevel", "tFlowOut", "tVoicemail"].contains(&m) {
            assert_eq!(
                a.total(m),
                b.total(m),
                "{m}: the same with and without flow-outs"
            );
        }
    }
    // Per group too: flow-outs only where voice abandons were.
    for (key, g) in &b.groups {
        if let Some(f) = g.get("tFlowOut") {
            assert_eq!(key.1, "voice");
            let before = a.groups[key].get("tAbandon").map_or(0, |s| s.count);
            let after = g.get("tAbandon").map_or(0, |s| s.count);
            assert_eq!(before, after + f.count, "{key:?}");
        }
    }
    off.shutdown().await;
    on.shutdown().await;
}

fn total_count(v: &Value) -> u64 {
    let mut n = 0;
    for r in v["results"].as_array().unwrap() {
        for d in r["data"].as_array().unwrap() {
            for m in d["metrics"].as_array().unwrap() {
                n += m["stats"]["count"].as_u64().unwrap_or(0);
                n += whole(m["stats"]["denominator"].as_f64().unwrap_or(0.0));
            }
        }
    }
    n
}

#[tokio::test]
async fn closed_buckets_keep_growing_until_the_max_lag() {
    let sim = start(SimConfig {
        clock: busy_at(10, 30),
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let t0 = sim.now_ms();
    let body = by_queue(t0 - 300_000, t0, None);
    let mut last = total_count(&query(&sim, &tok, &body).await);
    assert!(last > 0);
    // The bucket is closed; its content still arrives for a while.
    for _ in 0..3 {
        sim.advance(Duration::from_secs(60));
        let n = total_count(&query(&sim, &tok, &body).await);
        assert!(n > last, "grew from {last} to {n}");
        last = n;
    }
    // 20 minutes after the bucket closed everything is there, and stays.
    sim.advance(Duration::from_secs(20 * 60 - 180));
    let settled = query(&sim, &tok, &body).await;
    assert_eq!(
        parse(&settled)["*"],
        sim.aggregate_truth(t0 - 300_000, t0, None)
    );
    sim.advance(Duration::from_secs(600));
    assert_eq!(query(&sim, &tok, &body).await, settled);

    // The lag override: Some((0, 0)) = visible at once.
    sim.faults()
        .set_aggregate_lag(Some((Duration::ZERO, Duration::ZERO)));
    let now = sim.now_ms();
    let body = by_queue(now - 300_000, now, None);
    let v = parse(&query(&sim, &tok, &body).await);
    assert_eq!(v["*"], sim.aggregate_truth(now - 300_000, now, None));
    // A fixed lag just over 5 minutes: the last 5 minutes are empty.
    sim.faults()
        .set_aggregate_lag(Some((Duration::from_secs(301), Duration::from_secs(301))));
    let v = query(&sim, &tok, &body).await;
    assert_eq!(v, json!({"results": []}));
    assert_eq!(
        sim.aggregate_truth(now - 300_000, now, Some(now)),
        AggregateTruth::default()
    );
    sim.faults().set_aggregate_lag(None);
    sim.shutdown().await;
}

#[tokio::test]
async fn across_a_local_midnight_with_an_offset_interval() {
    // 23:50 at UTC+01:00.
    let sim = start(SimConfig {
        clock: busy_at(22, 50),
        queues: 12,
        ..SimConfig::default()
    })
    .await;
    sim.faults()
        .set_aggregate_lag(Some((Duration::ZERO, Duration::ZERO)));
    sim.advance(Duration::from_secs(20 * 60));
    let tok = token(&sim).await;
    let v = query(
        &sim,
        &tok,
        &json!({
            "interval": "2026-03-10T23:30:00.000+01:00/2026-03-11T00:10:00.000+01:00",
            "granularity": "PT10M",
            "timeZone": "Europe/Paris",
            "groupBy": ["queueId", "mediaType"],
            "metrics": MODELED,
        }),
    )
    .await;
    let p = parse(&v);
    let from = chrono::Utc
        .with_ymd_and_hms(2026, 3, 10, 22, 30, 0)
        .unwrap()
        .timestamp_millis();
    for k in 0..4 {
        let (a, b) = (from + k * 600_000, from + (k + 1) * 600_000);
        let t = sim.aggregate_truth(a, b, None);
        assert!(!t.groups.is_empty());
        assert_eq!(p[&interval(a, b)], t, "{}", interval(a, b));
    }
    assert!(p.contains_key("2026-03-10T23:00:00.000Z/2026-03-10T23:10:00.000Z"));
    sim.shutdown().await;
}

#[tokio::test]
async fn validation_errors_use_error_body() {
    let sim = start(SimConfig {
        clock: busy_at(10, 30),
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let ok_iv = "2026-03-10T09:00:00.000Z/2026-03-10T10:00:00.000Z";
    let preds: Vec<Value> = (0..101)
        .map(|i| json!({"dimension": "queueId", "value": format!("q{i}")}))
        .collect();
    let cases: Vec<(&str, Value)> = vec![
        ("no interval", json!({"metrics": ["nOffered"]})),
        (
            "interval not a string",
            json!({"interval": 5, "metrics": ["nOffered"]}),
        ),
        (
            "no slash",
            json!({"interval": "2026-03-10T09:00:00.000Z", "metrics": ["nOffered"]}),
        ),
        (
            "bad date",
            json!({"interval": "2026-13-10T09:00:00Z/2026-03-10T10:00:00Z", "metrics": ["nOffered"]}),
        ),
        (
            "end before start",
            json!({"interval": "2026-03-10T10:00:00Z/2026-03-10T09:00:00Z", "metrics": ["nOffered"]}),
        ),
        (
            "end = start",
            json!({"interval": "2026-03-10T10:00:00Z/2026-03-10T10:00:00Z", "metrics": ["nOffered"]}),
        ),
        (
            "bad granularity",
            json!({"interval": ok_iv, "granularity": "PT5X", "metrics": ["nOffered"]}),
        ),
        (
            "granularity no P",
            json!({"interval": ok_iv, "granularity": "5M", "metrics": ["nOffered"]}),
        ),
        (
            "granularity months",
            json!({"interval": ok_iv, "granularity": "P1M", "metrics": ["nOffered"]}),
        ),
        (
            "granularity zero",
            json!({"interval": ok_iv, "granularity": "PT0M", "metrics": ["nOffered"]}),
        ),
        (
            "not a multiple",
            json!({"interval": ok_iv, "granularity": "PT7M", "metrics": ["nOffered"]}),
        ),
        (
            "longer than 31 days",
            json!({"interval": "2026-01-01T00:00:00Z/2026-02-02T00:00:00Z", "metrics": ["nOffered"]}),
        ),
        ("no metrics", json!({"interval": ok_iv})),
        ("empty metrics", json!({"interval": ok_iv, "metrics": []})),
        (
            "unknown metric",
            json!({"interval": ok_iv, "metrics": ["nOffered", "oWaiting"]}),
        ),
        (
            "unknown groupBy",
            json!({"interval": ok_iv, "metrics": ["nOffered"], "groupBy": ["queue"]}),
        ),
        (
            "unsupported groupBy",
            json!({"interval": ok_iv, "metrics": ["nOffered"], "groupBy": ["userId"]}),
        ),
        (
            "unknown dimension",
            json!({"interval": ok_iv, "metrics": ["nOffered"], "filter": {"type": "and", "predicates": [{"dimension": "queue", "value": "x"}]}}),
        ),
        (
            "unsupported dimension",
            json!({"interval": ok_iv, "metrics": ["nOffered"], "filter": {"type": "and", "predicates": [{"dimension": "userId", "value": "x"}]}}),
        ),
        (
            "bad filter type",
            json!({"interval": ok_iv, "metrics": ["nOffered"], "filter": {"type": "xor", "predicates": []}}),
        ),
        (
            "101 predicates",
            json!({"interval": ok_iv, "metrics": ["nOffered"], "filter": {"type": "or", "clauses": [{"type": "or", "predicates": preds[..60]}, {"type": "or", "predicates": preds[60..]}]}}),
        ),
        ("not json", json!("{")),
    ];
    for (what, body) in cases {
        let (status, v) = post_raw(&sim, Some(&tok), &body).await;
        assert_eq!(status, 400, "{what}: {v}");
        assert_eq!(v["code"], "bad.request", "{what}");
        assert_eq!(v["status"], 400, "{what}");
        assert!(!v["message"].as_str().unwrap().is_empty(), "{what}");
        assert!(v["contextId"].is_string(), "{what}");
        assert_eq!(v["details"], json!([]), "{what}");
        assert_eq!(v["errors"], json!([]), "{what}");
    }
    // Exactly 100 predicates, 31 days, P1D, a zone-less interval and valid unmodeled
    // metrics are fine.
    for body in [
        json!({"interval": ok_iv, "metrics": ["nOffered"], "filter": {"type": "or", "predicates": preds[..100]}}),
        json!({"interval": "2026-02-07T00:00:00Z/2026-03-10T00:00:00Z", "granularity": "P1D", "metrics": ["tHandle"]}),
        json!({"interval": "2026-03-10T09:00:00/2026-03-10T10:00:00", "granularity": "PT30M", "metrics": ["tCallbackConnect"]}),
        json!({"interval": ok_iv, "granularity": "P0DT1H", "metrics": ["oServiceTarget"], "groupBy": ["mediaType", "queueId"]}),
    ] {
        let (status, v) = post_raw(&sim, Some(&tok), &body).await;
        assert_eq!(status, 200, "{body}: {v}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_budget_and_faults() {
    let sim = start(SimConfig {
        clock: busy_at(10, 30),
        rate_limit_per_minute: 3,
        ..SimConfig::default()
    })
    .await;
    let body =
        json!({"interval": "2026-03-10T10:00:00Z/2026-03-10T10:30:00Z", "metrics": ["nOffered"]});
    let (status, v) = post_raw(&sim, None, &body).await;
    assert_eq!(status, 401);
    assert_eq!(v["code"], "authentication.required");
    let (status, _) = post_raw(&sim, Some("not-a-token"), &body).await;
    assert_eq!(status, 401);
    let tok = token(&sim).await;
    sim.faults().fail_next(
        Endpoint::Aggregates,
        1,
        Fault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    let (status, v) = post_raw(&sim, Some(&tok), &body).await;
    assert_eq!(status, 503);
    assert_eq!(v["code"], "service.unavailable");
    for _ in 0..3 {
        let (status, _) = post_raw(&sim, Some(&tok), &body).await;
        assert_eq!(status, 200);
    }
    let (status, v) = post_raw(&sim, Some(&tok), &body).await;
    assert_eq!(status, 429);
    assert_eq!(v["code"], "too.many.requests.retry.after");
    let stats = sim.stats();
    assert_eq!(stats.count_status("POST", AGG, 200), 3);
    assert_eq!(stats.count_status("POST", AGG, 429), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_metric_makes_the_whole_query_a_400_named_or_generic() {
    let sim = start(SimConfig {
        clock: busy_at(10, 30),
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let iv = "2026-03-10T10:00:00Z/2026-03-10T10:30:00Z";
    let with = json!({"interval": iv, "metrics": ["nOffered", "tAnswered", "tTalk"]});
    let without = json!({"interval": iv, "metrics": ["nOffered", "tTalk"]});

    sim.faults()
        .refuse_aggregate_metrics(&["tAnswered"], Refusal::Named);
    let (status, v) = post_raw(&sim, Some(&tok), &with).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], "bad.request");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("'tAnswered'"), "{message}");
    let (status, v) = post_raw(&sim, Some(&tok), &without).await;
    assert_eq!(status, 200, "a query without it is answered: {v}");

    sim.faults()
        .refuse_aggregate_metrics(&["tAnswered"], Refusal::Generic);
    let (status, v) = post_raw(&sim, Some(&tok), &with).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], "bad.request");
    assert!(
        !v.to_string().contains("tAnswered"),
        "a generic refusal names nothing: {v}"
    );

    sim.faults().refuse_aggregate_metrics(&[], Refusal::Named);
    let (status, v) = post_raw(&sim, Some(&tok), &with).await;
    assert_eq!(status, 200, "refusing nothing answers every metric: {v}");
    sim.shutdown().await;
}
