//! Aggregate views (`views[]` of the conversation aggregates query) in the simulated org over
//! real HTTP on loopback (Manual clock, no sleeps): counts equal `aggregate_view_truth` per
//! interval and group, the bounds (`gte` inclusive, `lt` exclusive), the limits (400 with an
//! `ErrorBody`), and empty views listed with count 0 or, with the fault, left out.

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_sim::{SimConfig, SimOrg};
use serde_json::{json, Value};

mod common;

use common::aggregates::interval;
use common::{busy_at, sim_client as client, sim_token as token, start_sim as start};

const AGG: &str = "/api/v2/analytics/conversations/aggregates/query";

async fn post_raw(sim: &SimOrg, tok: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{AGG}", sim.api_url()))
        .header("Content-Type", "application/json")
        .bearer_auth(tok)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn query(sim: &SimOrg, tok: &str, body: &Value) -> Value {
    let (status, v) = post_raw(sim, tok, body).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// A view as the test knows it: name, target, gte, lt.
type Spec = (&'static str, &'static str, Option<f64>, Option<f64>);

fn view_json(&(name, target, gte, lt): &Spec) -> Value {
    let mut range = serde_json::Map::new();
    if let Some(g) = gte {
        range.insert("gte".into(), json!(g));
    }
    if let Some(l) = lt {
        range.insert("lt".into(), json!(l));
    }
    json!({"target": target, "function": "rangeBound", "name": name, "range": range})
}

/// interval -> (queue id, media type) -> view name -> count; plus every interval's metric
/// entries as (interval, queue, media, metric) -> count.
type Views = BTreeMap<String, BTreeMap<(String, String), BTreeMap<String, u64>>>;
/// (interval, queue id, media type, metric) -> count.
type Metrics = BTreeMap<(String, String, String, String), u64>;

fn parse_views(resp: &Value) -> (Views, Metrics) {
    let mut views = Views::new();
    let mut metrics = BTreeMap::new();
    for r in resp["results"].as_array().unwrap() {
        let q = r["group"]["queueId"].as_str().unwrap_or("").to_string();
        let m = r["group"]["mediaType"].as_str().unwrap().to_string();
        for d in r["data"].as_array().unwrap() {
            let iv = d["interval"].as_str().unwrap().to_string();
            for e in d["metrics"].as_array().unwrap() {
                let name = e["metric"].as_str().unwrap().to_string();
                let n = e["stats"]["count"].as_u64().unwrap_or(0);
                metrics.insert((iv.clone(), q.clone(), m.clone(), name), n);
            }
            let Some(vs) = d.get("views") else { continue };
            let out = views
                .entry(iv.clone())
                .or_default()
                .entry((q.clone(), m.clone()))
                .or_default();
            for v in vs.as_array().unwrap() {
                let stats = v["stats"].as_object().unwrap();
                assert_eq!(stats.len(), 1, "a view's stats hold count only: {v}");
                let name = v["name"].as_str().unwrap().to_string();
                assert!(out.insert(name, stats["count"].as_u64().unwrap()).is_none());
            }
        }
    }
    (views, metrics)
}

const SPECS: [Spec; 10] = [
    ("ans_lt_10s", "tAnswered", Some(0.0), Some(10_000.0)),
    ("ans_lt_20s", "tAnswered", Some(0.0), Some(20_000.0)),
    ("ans_10_30s", "tAnswered", Some(10_000.0), Some(30_000.0)),
    ("ans_ge_30s", "tAnswered", Some(30_000.0), None),
    ("ans_all", "tAnswered", None, None),
    ("aband_5_10s", "tAbandon", Some(5000.0), Some(10_000.0)),
    ("aband_lt_60s", "tAbandon", None, Some(60_000.0)),
    ("handle_lt_5m", "tHandle", None, Some(300_000.0)),
    ("handle_ge_5m", "tHandle", Some(300_000.0), None),
    ("talk_half_ms", "tTalk", Some(60_000.5), Some(120_000.5)),
];

async fn busy_sim(queues: usize) -> (SimOrg, i64, i64) {
    let sim = start(SimConfig {
        clock: busy_at(9, 0),
        queues,
        ..SimConfig::default()
    })
    .await;
    let from = sim.now_ms();
    sim.advance(Duration::from_secs(90 * 60));
    let now = sim.now_ms();
    (sim, from, now)
}

#[tokio::test]
async fn views_equal_truth_per_interval_and_group() {
    let (sim, from, now) = busy_sim(12).await;
    let tok = token(&sim).await;
    let q = json!({
        "interval": interval(from, now),
        "granularity": "PT15M",
        "groupBy": ["queueId"],
        "metrics": ["nOffered", "tAnswered", "tAbandon", "tHandle"],
        "views": SPECS.iter().map(view_json).collect::<Vec<_>>(),
    });
    let (views, metrics) = parse_views(&query(&sim, &tok, &q).await);
    assert_eq!(views.len(), 6, "six 15-minute intervals");
    let mut nonzero = BTreeMap::new();
    for k in 0..6 {
        let (a, b) = (from + k * 900_000, from + (k + 1) * 900_000);
        let truth = sim.aggregate_view_truth(a, b, Some(now));
        let got = &views[&interval(a, b)];
        // Every answered group lists every view (empty ones with count 0) ...
        for (group, vs) in got {
            assert_eq!(vs.len(), SPECS.len(), "{group:?}");
        }
        // ... and every count is the truth's, for every group the truth has.
        for (queue, media) in truth.groups.keys() {
            for &(name, target, gte, lt) in &SPECS {
                let want = truth.count_in(queue, media, target, gte, lt);
                let have = got
                    .get(&(queue.clone(), media.clone()))
                    .and_then(|g| g.get(name))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(have, want, "{} {queue} {media} {name}", interval(a, b));
                *nonzero.entry(name).or_insert(0) += u64::from(want > 0);
            }
        }
        // The open view is the metric's count; the two halves of tHandle add up to it.
        for ((queue, media), vs) in got {
            let metric = |m: &str| {
                metrics
                    .get(&(interval(a, b), queue.clone(), media.clone(), m.to_string()))
                    .copied()
                    .unwrap_or(0)
            };
            assert_eq!(vs["ans_all"], metric("tAnswered"));
            assert_eq!(vs["handle_lt_5m"] + vs["handle_ge_5m"], metric("tHandle"));
            // [0, 10 s) + [10 s, 30 s) + [30 s, inf) partition the (non-negative) waits.
            assert_eq!(
                vs["ans_lt_10s"] + vs["ans_10_30s"] + vs["ans_ge_30s"],
                vs["ans_all"]
            );
            assert!(vs["ans_lt_10s"] <= vs["ans_lt_20s"]);
            assert!(vs["aband_5_10s"] <= vs["aband_lt_60s"]);
        }
    }
    for &(name, ..) in &SPECS {
        assert!(
            nonzero.get(name).copied().unwrap_or(0) > 0,
            "{name} never counted anything"
        );
    }
    // The whole span as one interval: the sum of the buckets, and the truth's totals.
    let mut whole = q.clone();
    whole.as_object_mut().unwrap().remove("granularity");
    let (one, _) = parse_views(&query(&sim, &tok, &whole).await);
    let truth = sim.aggregate_view_truth(from, now, Some(now));
    for &(name, target, gte, lt) in &SPECS {
        let sum: u64 = one[&interval(from, now)].values().map(|g| g[name]).sum();
        assert_eq!(sum, truth.total_in(target, gte, lt), "{name}");
        let buckets: u64 = views
            .values()
            .flat_map(|g| g.values())
            .map(|g| g[name])
            .sum();
        assert_eq!(buckets, sum, "{name}: buckets sum to the whole");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn gte_is_inclusive_and_lt_exclusive() {
    let (sim, from, now) = busy_sim(6).await;
    let tok = token(&sim).await;
    let truth = sim.aggregate_view_truth(from, now, Some(now));
    // The most frequent tAnswered value of one group: exactly on the bounds below.
    let mut best: Option<((String, String), i64, usize)> = None;
    for (key, g) in &truth.groups {
        let Some(vals) = g.get("tAnswered") else {
            continue;
        };
        for &v in vals {
            let n = vals.iter().filter(|&&x| x == v).count();
            if best.as_ref().is_none_or(|b| n > b.2) {
                best = Some((key.clone(), v, n));
            }
        }
    }
    let ((queue, media), v, equal) = best.expect("some answered conversation");
    let vf = v as f64;
    let specs: Vec<(String, Option<f64>, Option<f64>)> = vec![
        ("exactly".into(), Some(vf), Some(vf + 1.0)),
        ("below".into(), None, Some(vf)),
        ("from".into(), Some(vf), None),
        ("above".into(), Some(vf + 1.0), None),
        ("half_below".into(), Some(vf - 0.5), Some(vf + 0.5)),
        ("up_to_incl".into(), None, Some(vf + 0.001)),
    ];
    let q = json!({
        "interval": interval(from, now),
        "groupBy": ["queueId"],
        "filter": {"type": "and", "predicates": [
            {"dimension": "queueId", "value": queue},
            {"dimension": "mediaType", "value": media}]},
        "metrics": ["tAnswered"],
        "views": specs.iter().map(|(n, g, l)| {
            let mut r = serde_json::Map::new();
            if let Some(g) = g { r.insert("gte".into(), json!(g)); }
            if let Some(l) = l { r.insert("lt".into(), json!(l)); }
            json!({"target": "tAnswered", "function": "rangeBound", "name": n, "range": r})
        }).collect::<Vec<_>>(),
    });
    let (views, metrics) = parse_views(&query(&sim, &tok, &q).await);
    let got = &views[&interval(from, now)][&(queue.clone(), media.clone())];
    let total = metrics[&(
        interval(from, now),
        queue.clone(),
        media.clone(),
        "tAnswered".into(),
    )];
    assert_eq!(
        got["exactly"], equal as u64,
        "a value of exactly gte is counted"
    );
    assert_eq!(got["half_below"], equal as u64);
    assert_eq!(
        got["below"] + got["from"],
        total,
        "a value of exactly lt is not counted"
    );
    assert_eq!(got["from"], got["exactly"] + got["above"]);
    assert_eq!(got["up_to_incl"], got["below"] + equal as u64);
    for (name, g, l) in &specs {
        assert_eq!(
            got[name],
            truth.count_in(&queue, &media, "tAnswered", *g, *l),
            "{name}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_views_are_listed_with_count_zero_or_left_out_with_the_fault() {
    let (sim, from, now) = busy_sim(6).await;
    let tok = token(&sim).await;
    let q = json!({
        "interval": interval(from, now),
        "granularity": "PT5M",
        "groupBy": ["queueId"],
        "metrics": ["nOffered"],
        "views": [
            {"target": "tAnswered", "function": "rangeBound", "name": "never", "range": {"gte": 1e12}},
            {"target": "tHandle", "function": "rangeBound", "name": "handle"},
        ],
    });
    let listed = query(&sim, &tok, &q).await;
    let (lv, _) = parse_views(&listed);
    let mut zeros = 0;
    for g in lv.values().flat_map(BTreeMap::values) {
        assert_eq!(g.len(), 2);
        assert_eq!(g["never"], 0);
        zeros += usize::from(g["handle"] == 0);
    }
    assert!(zeros > 0, "some interval has no tHandle");
    sim.faults().set_omit_empty_views(true);
    let omitted = query(&sim, &tok, &q).await;
    let (ov, _) = parse_views(&omitted);
    for (iv, groups) in &lv {
        for (group, g) in groups {
            let o = ov.get(iv).and_then(|x| x.get(group));
            let want: BTreeMap<String, u64> = g
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(k, &n)| (k.clone(), n))
                .collect();
            assert_eq!(o.cloned().unwrap_or_default(), want, "{iv} {group:?}");
        }
    }
    // The metrics are the same either way; an interval with a view count but no metric
    // (a tHandle in a bucket without an nOffered) has `metrics: []`.
    let strip = |v: &Value| {
        let mut v = v.clone();
        for r in v["results"].as_array_mut().unwrap() {
            let data = r["data"].as_array_mut().unwrap();
            data.retain(|d| d["metrics"].as_array().is_some_and(|m| !m.is_empty()));
            for d in data {
                d.as_object_mut().unwrap().remove("views");
            }
        }
        v
    };
    assert!(strip(&listed) == strip(&omitted), "the metrics differ");
    let view_only = |v: &Value| v.to_string().matches("\"metrics\":[]").count();
    assert!(view_only(&listed) > 0, "no interval with views only");
    assert_eq!(view_only(&listed), view_only(&omitted));
    // A query without views answers no `views` key (whatever the fault), and no interval
    // without metrics: the answer of before.
    let mut plain = q.clone();
    plain.as_object_mut().unwrap().remove("views");
    let p = query(&sim, &tok, &plain).await;
    assert!(
        !p.to_string().contains("\"views\""),
        "a views key without views"
    );
    assert_eq!(view_only(&p), 0);
    assert!(
        p == strip(&listed),
        "the metrics differ from a query without views"
    );
    sim.shutdown().await;
}

/// A view's target need not be a metric of the query: an interval with only view counts
/// is answered (with no metric entries).
#[tokio::test]
async fn a_view_needs_no_metric_of_its_target() {
    let (sim, from, now) = busy_sim(6).await;
    let tok = token(&sim).await;
    let q = json!({
        "interval": interval(from, now),
        "granularity": "PT15M",
        "groupBy": ["queueId"],
        "metrics": ["nTransferred"],
        "views": [{"target": "tHandle", "function": "rangeBound", "name": "h", "range": {"gte": 0}}],
    });
    let (views, _) = parse_views(&query(&sim, &tok, &q).await);
    for k in 0..6 {
        let (a, b) = (from + k * 900_000, from + (k + 1) * 900_000);
        let truth = sim.aggregate_view_truth(a, b, Some(now));
        for (queue, media) in truth.groups.keys() {
            let want = truth.count_in(queue, media, "tHandle", Some(0.0), None);
            let have = views
                .get(&interval(a, b))
                .and_then(|g| g.get(&(queue.clone(), media.clone())))
                .map_or(0, |g| g["h"]);
            assert_eq!(have, want, "{queue} {media}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn view_limits_answer_400_with_error_body() {
    let sim = start(SimConfig {
        clock: busy_at(10, 30),
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    let iv = "2026-03-10T09:00:00.000Z/2026-03-10T10:00:00.000Z";
    let view = |name: &str| json!({"target": "tAnswered", "function": "rangeBound", "name": name, "range": {"lt": 20000}});
    let with = |views: Value| json!({"interval": iv, "metrics": ["nOffered"], "views": views});
    let eleven: Vec<Value> = (0..11).map(|i| view(&format!("v{i}"))).collect();
    let ten: Vec<Value> = eleven[..10].to_vec();
    let cases: Vec<(&str, Value)> = vec![
        ("11 views", with(json!(eleven))),
        (
            "function sum",
            with(json!([{"target": "tAnswered", "function": "sum", "name": "a"}])),
        ),
        (
            "no function",
            with(json!([{"target": "tAnswered", "name": "a"}])),
        ),
        (
            "counter target",
            with(json!([{"target": "nOffered", "function": "rangeBound", "name": "a"}])),
        ),
        (
            "service level target",
            with(json!([{"target": "oServiceLevel", "function": "rangeBound", "name": "a"}])),
        ),
        (
            "unknown target",
            with(json!([{"target": "tBogus", "function": "rangeBound", "name": "a"}])),
        ),
        (
            "unmodeled timer",
            with(json!([{"target": "tCfcAcd", "function": "rangeBound", "name": "a"}])),
        ),
        (
            "no target",
            with(json!([{"function": "rangeBound", "name": "a"}])),
        ),
        (
            "no name",
            with(json!([{"target": "tAnswered", "function": "rangeBound"}])),
        ),
        (
            "empty name",
            with(json!([{"target": "tAnswered", "function": "rangeBound", "name": ""}])),
        ),
        (
            "duplicate name",
            with(json!([view("a"), view("b"), view("a")])),
        ),
        (
            "gte = lt",
            with(
                json!([{"target": "tAnswered", "function": "rangeBound", "name": "a", "range": {"gte": 5, "lt": 5}}]),
            ),
        ),
        (
            "gte > lt",
            with(
                json!([{"target": "tAnswered", "function": "rangeBound", "name": "a", "range": {"gte": 9, "lt": 5}}]),
            ),
        ),
        (
            "gte a string",
            with(
                json!([{"target": "tAnswered", "function": "rangeBound", "name": "a", "range": {"gte": "5"}}]),
            ),
        ),
        ("views not a list", with(json!({"name": "a"}))),
    ];
    for (what, body) in cases {
        let (status, v) = post_raw(&sim, &tok, &body).await;
        assert_eq!(status, 400, "{what}: {v}");
        assert_eq!(v["status"], 400, "{what}: {v}");
        assert_eq!(v["code"], "bad.request", "{what}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {v}"
        );
    }
    for (what, body) in [
        ("10 views", with(json!(ten))),
        (
            "no range",
            with(json!([{"target": "tAbandon", "function": "rangeBound", "name": "a"}])),
        ),
        (
            "empty range",
            with(
                json!([{"target": "tHandle", "function": "rangeBound", "name": "a", "range": {}}]),
            ),
        ),
        ("no views", with(json!([]))),
    ] {
        let (status, v) = post_raw(&sim, &tok, &body).await;
        assert_eq!(status, 200, "{what}: {v}");
    }
    sim.shutdown().await;
}
