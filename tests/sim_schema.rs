//! Every response body of the simulator against the official Genesys Cloud definitions.
//!
//! `tests/fixtures/openapi-definitions.json` holds the definitions below, `$ref`s resolved
//! recursively, copied from the shared OpenAPI subset with:
//!
//! python3 -c "import json,re;d=json.load(open('/work/shared/genesys-api/openapi-subset.json'))['definitions'];t=['QueueEntityListing','QueueObservationQueryResponse','ConversationActivityResponse','ConversationAggregateQueryResponse','ErrorBody'];o={};[(o.__setitem__(n,d[n]),t.extend(r for r in re.findall(r'#/definitions/(\w+)',json.dumps(d[n])) if r not in t)) for n in t];json.dump(o,open('tests/fixtures/openapi-definitions.json','w'),indent=1,sort_keys=True)"
//!
//! `LimitsEntityListing` (with `Limit`) was added the same way for the org's limits, and
//! `ConversationAggregationQuery` (with `ConversationAggregationView`, `AggregationRange` and
//! the rest it refers to) for the aggregates request with views. Estimated
//! wait and flow activity are not in the subset: their official SDK models are transcribed into
//! `tests/fixtures/estimated-wait.schema.json` and `flow-activity.schema.json`.
//!
//! The validator: objects may only hold declared properties (or match `additionalProperties`),
//! declared types must match, `$ref`s are followed, and strings with an `enum` must be in it.

use std::time::Duration;

use base64::Engine;
use genesys_sim::{SimClock, SimConfig, SimOrg};
use serde_json::{json, Value};

mod common;

use common::aggregates::iso;
use common::schema::Validator;

/// A Tuesday at 10:30 UTC: a busy org.
fn busy() -> SimClock {
    common::busy_at(10, 30)
}

const OBS: &str = "/api/v2/analytics/queues/observations/query";
const ACT: &str = "/api/v2/analytics/conversations/activity/query";
const AGG: &str = "/api/v2/analytics/conversations/aggregates/query";

/// A simulated org of 12 queues on a busy morning (with voicemail flow-outs if asked).
async fn busy_org(flow_outs: bool) -> SimOrg {
    SimOrg::start(
        SimConfig {
            clock: busy(),
            queues: 12,
            flow_outs,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("start the simulator")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("client")
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e})"));
    (status, v)
}

async fn token_response(sim: &SimOrg, secret: &str) -> (u16, Value) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("sim-client-id:{secret}"));
    send(
        client()
            .post(format!("{}/oauth/token", sim.login_url()))
            .header("Authorization", format!("Basic {auth}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await
}

async fn token(sim: &SimOrg) -> String {
    let (status, v) = token_response(sim, "sim-client-secret").await;
    assert_eq!(status, 200, "{v}");
    // No definition for the token response: its three fields by hand.
    let obj = v.as_object().expect("token response is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "token_type"], "{v}");
    assert!(v["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v["token_type"], "bearer");
    assert!(v["expires_in"].as_u64().is_some_and(|n| n > 0));
    v["access_token"].as_str().unwrap_or_default().to_string()
}

async fn post(sim: &SimOrg, tok: &str, path: &str, body: &Value) -> (u16, Value) {
    send(
        client()
            .post(format!("{}{path}", sim.api_url()))
            .bearer_auth(tok)
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// Every metric key of every entry, to show the answers cover each kind.
fn metric_names(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(m) = o.get("metric").and_then(Value::as_str) {
                out.insert(m.to_string());
            }
            o.values().for_each(|x| metric_names(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| metric_names(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_response_matches_the_official_definitions() {
    let sim = busy_org(false).await;
    sim.faults().set_emit_zero_counts(true);
    sim.faults()
        .set_aggregate_lag(Some((Duration::ZERO, Duration::ZERO)));
    let first = sim.truth().queues[0].name.clone();
    sim.schedule_spike(&first, Duration::from_secs(60), 30);
    let start_ms = sim.now_ms();
    sim.advance(Duration::from_secs(30 * 60));
    let now = sim.now_ms();
    let tok = token(&sim).await;
    let mut v = Validator::new();
    let mut seen = std::collections::BTreeSet::new();

    // Routing queues, two pages.
    for page in [1, 2] {
        let (status, body) = send(
            client()
                .get(format!(
                    "{}/api/v2/routing/queues?pageSize=10&pageNumber={page}",
                    sim.api_url()
                ))
                .bearer_auth(&tok),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(!body["entities"].as_array().is_some_and(Vec::is_empty));
        v.check_def("QueueEntityListing", &body, &format!("queues[page {page}]"));
    }

    let ids: Vec<String> = sim.truth().queues.into_iter().map(|q| q.id).collect();
    let filter = json!({"type": "or", "predicates": ids.iter()
        .map(|id| json!({"dimension": "queueId", "value": id})).collect::<Vec<_>>()});

    // Observations: every metric, zero rows included.
    let (status, body) = post(
        &sim,
        &tok,
        OBS,
        &json!({"filter": filter, "metrics": [
            "oWaiting", "oInteracting", "oAlerting", "oLongestWaiting", "oLongestInteracting",
            "oOnQueueUsers", "oOffQueueUsers", "oActiveUsers", "oMemberUsers",
            "oUserRoutingStatuses", "oUserPresences"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    metric_names(&body, &mut seen);
    assert!(body.to_string().contains("\"count\":0"), "zero rows are on");
    v.check_def("QueueObservationQueryResponse", &body, "observations");

    // Activity, by queue and media type and by media type only.
    for group_by in [json!(["queueId", "mediaType"]), json!(["mediaType"])] {
        let (status, body) = post(
            &sim,
            &tok,
            ACT,
            &json!({"metrics": [
                {"metric": "oWaiting"}, {"metric": "oInteracting"}, {"metric": "oAlerting"},
                {"metric": "oLongestWaiting"}, {"metric": "oLongestInteracting"}],
                "groupBy": group_by}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        metric_names(&body, &mut seen);
        v.check_def("ConversationActivityResponse", &body, "activity");
    }

    // Aggregates: every modeled metric, one bucket and 15-minute buckets.
    let interval = format!("{}/{}", iso(start_ms), iso(now));
    for granularity in [None, Some("PT15M")] {
        let mut q = json!({
            "interval": interval,
            "groupBy": ["queueId"],
            "metrics": ["nOffered", "nConnected", "nOverSla", "nTransferred", "tAnswered",
                "tAbandon", "tShortAbandon", "tAcd", "tWait", "tTalk", "tHeld", "tAcw",
                "tHandle", "tAlert", "oServiceLevel"],
        });
        if let Some(g) = granularity {
            q["granularity"] = json!(g);
        }
        let (status, body) = post(&sim, &tok, AGG, &q).await;
        assert_eq!(status, 200, "{body}");
        metric_names(&body, &mut seen);
        v.check_def("ConversationAggregateQueryResponse", &body, "aggregates");
    }
    for want in [
        "oWaiting",
        "oLongestWaiting",
        "oLongestInteracting",
        "oUserPresences",
        "oOnQueueUsers",
        "nOffered",
        "tHandle",
        "tAbandon",
        "oServiceLevel",
    ] {
        assert!(
            seen.contains(want),
            "no {want} entry in the answers: {seen:?}"
        );
    }

    // Error bodies: 400, 401, 404, 429.
    let (status, body) = post(&sim, &tok, OBS, &json!({"metrics": ["oWaiting"]})).await;
    assert_eq!(status, 400, "{body}");
    v.check_def("ErrorBody", &body, "error 400");
    let (status, body) =
        send(client().get(format!("{}/api/v2/routing/queues", sim.api_url()))).await;
    assert_eq!(status, 401, "{body}");
    v.check_def("ErrorBody", &body, "error 401");
    let (status, body) = send(
        client()
            .get(format!("{}/api/v2/nope", sim.api_url()))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    v.check_def("ErrorBody", &body, "error 404");
    sim.shutdown().await;

    // A real budget 429 (not an injected one).
    let small = SimOrg::start(
        SimConfig {
            clock: busy(),
            queues: 2,
            rate_limit_per_minute: 2,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("start the simulator");
    let tok = token(&small).await;
    let mut last = (0, Value::Null);
    for _ in 0..3 {
        last = send(
            client()
                .get(format!("{}/api/v2/routing/queues", small.api_url()))
                .bearer_auth(&tok),
        )
        .await;
    }
    assert_eq!(last.0, 429, "{}", last.1);
    v.check_def("ErrorBody", &last.1, "error 429");
    // The token endpoint's OAuth error has no definition either: by hand.
    let (status, body) = token_response(&small, "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    small.shutdown().await;

    assert!(
        v.errors.is_empty(),
        "{} schema mismatches:\n{}",
        v.errors.len(),
        v.errors
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The validator itself catches unknown fields, wrong types and values outside an enum.
#[test]
fn validator_reports_mismatches() {
    let mut v = Validator::new();
    let good = json!({"results": [{"group": {"queueId": "q"}, "data": [
        {"metric": "oWaiting", "stats": {"count": 0}}]}]});
    v.check_def("QueueObservationQueryResponse", &good, "good");
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let bad = json!({"results": [{"group": {"queueId": 7}, "extra": 1, "data": [
        {"metric": "oWaitingg", "stats": {"count": "3"}}]}]});
    v.check_def("QueueObservationQueryResponse", &bad, "bad");
    let act = json!({"results": [{"group": {"mediaType": "voice"}, "data": [
        {"metric": "oWaitingg", "count": 1}]}]});
    v.check_def("ConversationActivityResponse", &act, "act");
    let all = v.errors.join("\n");
    for want in [
        "bad.results[0].group.queueId: expected string",
        "bad.results[0].extra: not declared",
        "bad.results[0].data[0].stats.count: expected integer",
        "act.results[0].data[0].metric: \"oWaitingg\" is not in the enum",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

/// The official SDK models of an endpoint the shared OpenAPI subset lacks, from a fixture in
/// `tests/fixtures/` whose `$comment` names the SDK files it was transcribed from.
fn sdk_model_validator(fixture: &str) -> Validator {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("read the fixture");
    let v: Value = serde_json::from_str(&text).expect("parse the fixture");
    assert!(
        v["$comment"]
            .as_str()
            .is_some_and(|c| c.contains("platform-client-sdk-")),
        "{fixture} names its sources"
    );
    let Value::Object(defs) = v["definitions"].clone() else {
        panic!("{fixture} has no definitions");
    };
    Validator {
        defs,
        errors: Vec::new(),
    }
}

/// The flow activity query's models: `tests/fixtures/flow-activity.schema.json`.
fn flow_activity_validator() -> Validator {
    sdk_model_validator("flow-activity.schema.json")
}

/// What `Validator` leaves out: the `required` properties of `name`'s objects, recursively.
fn missing_required(
    defs: &serde_json::Map<String, Value>,
    schema: &Value,
    v: &Value,
    path: &str,
) -> Vec<String> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &defs[r.rsplit('/').next().unwrap_or(r)],
        None => schema,
    };
    let mut out = Vec::new();
    match v {
        Value::Object(o) => {
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                if !o.contains_key(r) {
                    out.push(format!("{path}.{r}: required"));
                }
            }
            for (k, x) in o {
                if let Some(p) = schema["properties"].get(k) {
                    out.extend(missing_required(defs, p, x, &format!("{path}.{k}")));
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                out.extend(missing_required(
                    defs,
                    &schema["items"],
                    x,
                    &format!("{path}[{i}]"),
                ));
            }
        }
        _ => {}
    }
    out
}

/// The aggregates query with views, and its answers (empty views listed with count 0, and
/// left out with the fault), against `ConversationAggregationQuery` and
/// `ConversationAggregateQueryResponse`.
#[tokio::test]
async fn aggregate_views_requests_and_answers_match_the_official_definitions() {
    let sim = busy_org(false).await;
    let start_ms = sim.now_ms();
    sim.advance(Duration::from_secs(30 * 60));
    let now = sim.now_ms();
    let tok = token(&sim).await;
    let mut v = Validator::new();
    let defs = common::schema::definitions();
    let view = |target: &str, name: &str, range: Value| json!({"target": target, "function": "rangeBound", "name": name, "range": range});
    let q = json!({
        "interval": format!("{}/{}", iso(start_ms), iso(now)),
        "granularity": "PT5M",
        "groupBy": ["queueId", "mediaType"],
        "metrics": ["nOffered", "tAnswered", "tAbandon", "tHandle"],
        "views": [
            view("tAnswered", "answeredUnder20s", json!({"gte": 0, "lt": 20000})),
            view("tAnswered", "answeredOver20s", json!({"gte": 20000})),
            view("tAbandon", "tKindOfShortAbandon", json!({"gte": 5000, "lt": 10000})),
            view("tHandle", "handleUnder5m", json!({"lt": 300_000})),
            view("tHandle", "never", json!({"gte": 1e12})),
        ],
    });
    v.check_def("ConversationAggregationQuery", &q, "request");
    let missing = missing_required(&defs, &defs["ConversationAggregationQuery"], &q, "request");
    assert!(missing.is_empty(), "{missing:?}");
    // The official example is a valid view too.
    let example = json!({"target": "tAbandon", "function": "rangeBound",
        "range": {"gte": 5000, "lt": 10000}, "name": "tKindOfShortAbandon"});
    v.check_def("ConversationAggregationView", &example, "example view");
    for omit in [false, true] {
        sim.faults().set_omit_empty_views(omit);
        let (status, body) = post(&sim, &tok, AGG, &q).await;
        assert_eq!(status, 200, "{body}");
        let text = body.to_string();
        assert!(
            text.contains("\"views\":[{\"name\""),
            "views answered: {text}"
        );
        assert_eq!(text.contains("\"name\":\"never\""), !omit, "omit {omit}");
        v.check_def(
            "ConversationAggregateQueryResponse",
            &body,
            &format!("aggregates with views (omit empty {omit})"),
        );
    }
    sim.shutdown().await;
    assert!(v.errors.is_empty(), "{:?}", v.errors);
}

#[tokio::test]
async fn flow_activity_requests_and_answers_match_the_official_sdk_models() {
    const FLOWS: &str = "/api/v2/analytics/flows/activity/query";
    let sim = busy_org(true).await;
    sim.advance(Duration::from_secs(20 * 60));
    let tok = token(&sim).await;
    let mut v = flow_activity_validator();
    let defs = v.defs.clone();
    let mut errors = Vec::new();
    let metrics = json!([{"metric": "oFlow", "details": false}]);
    let requests = [
        json!({"metrics": metrics, "groupBy": ["flowType"]}),
        json!({"metrics": metrics, "groupBy": ["mediaType", "flowType"], "order": "asc"}),
        json!({"metrics": metrics, "groupBy": ["mediaType"], "filter": {"type": "or",
            "clauses": [{"type": "and", "predicates": [
                {"type": "dimension", "dimension": "flowType", "operator": "matches", "value": "INQUEUECALL"},
                {"dimension": "mediaType", "value": "voice"}]}],
            "predicates": [{"dimension": "flowType", "value": "INBOUNDCALL"}]}}),
    ];
    let mut flow_types = std::collections::BTreeSet::new();
    for (i, q) in requests.iter().enumerate() {
        // The request is the official shape, and the simulated org accepts it.
        v.check_def("FlowActivityQuery", q, &format!("request[{i}]"));
        errors.extend(missing_required(
            &defs,
            &defs["FlowActivityQuery"],
            q,
            &format!("request[{i}]"),
        ));
        let (status, body) = post(&sim, &tok, FLOWS, q).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            !body["results"].as_array().is_some_and(Vec::is_empty),
            "{body}"
        );
        v.check_def("FlowActivityResponse", &body, &format!("response[{i}]"));
        errors.extend(missing_required(
            &defs,
            &defs["FlowActivityResponse"],
            &body,
            &format!("response[{i}]"),
        ));
        for r in body["results"].as_array().into_iter().flatten() {
            if let Some(f) = r["group"]["flowType"].as_str() {
                flow_types.insert(f.to_string());
            }
        }
    }
    // Every flow type reported is an official `AnalyticsFlow.flowType` value.
    for f in &flow_types {
        v.check_def("AnalyticsFlowType", &json!(f), &format!("flowType {f}"));
    }
    assert!(flow_types.contains("INQUEUECALL"), "{flow_types:?}");

    // An error answer is the official ErrorBody.
    let (status, body) = post(
        &sim,
        &tok,
        FLOWS,
        &json!({"metrics": metrics, "groupBy": ["queueId"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let mut official = Validator::new();
    official.check_def("ErrorBody", &body, "error 400");
    errors.extend(official.errors);
    sim.shutdown().await;

    // The fixture and its checks catch a wrong answer.
    let mut bad = flow_activity_validator();
    bad.check_def(
        "FlowActivityResponse",
        &json!({"results": [{"group": {"flowType": 1},
        "data": [{"metric": "oFlows", "count": "2"}], "extra": true}]}),
        "bad",
    );
    bad.check_def(
        "FlowActivityQuery",
        &json!({"metrics": [{"metric": "oFlow"}], "groupBy": ["wrapUpCode"]}),
        "badq",
    );
    let all = bad.errors.join("\n");
    for want in [
        "bad.results[0].group.flowType: expected string",
        "bad.results[0].data[0].metric: \"oFlows\" is not in the enum",
        "bad.results[0].data[0].count: expected integer",
        "bad.results[0].extra: not declared",
        "badq.groupBy[0]: \"wrapUpCode\" is not in the enum",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    assert_eq!(
        missing_required(
            &defs,
            &defs["FlowActivityQuery"],
            &json!({"metrics": [{}]}),
            "q"
        ),
        ["q.groupBy: required", "q.metrics[0].metric: required"]
    );

    errors.extend(v.errors);
    assert!(
        errors.is_empty(),
        "{} schema mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[tokio::test]
async fn estimated_wait_and_limits_answers_match_the_official_models() {
    let sim = busy_org(false).await;
    sim.advance(Duration::from_secs(10 * 60));
    let tok = token(&sim).await;
    let get = |path: String| {
        let (sim, tok) = (&sim, &tok);
        async move {
            send(
                client()
                    .get(format!("{}{path}", sim.api_url()))
                    .bearer_auth(tok),
            )
            .await
        }
    };

    // Estimated wait: every media type of a queue, in the routing vocabulary of the path.
    let mut ewt = sdk_model_validator("estimated-wait.schema.json");
    let defs = ewt.defs.clone();
    let mut errors = Vec::new();
    let queue = sim.truth().queues[0].clone();
    for media in &queue.media_types {
        let path_media = if media == "voice" { "call" } else { media };
        let (status, body) = get(format!(
            "/api/v2/routing/queues/{}/mediatypes/{path_media}/estimatedwaittime",
            queue.id
        ))
        .await;
        assert_eq!(status, 200, "{path_media}: {body}");
        ewt.check_def("EstimatedWaitTimePredictions", &body, path_media);
        errors.extend(missing_required(
            &defs,
            &defs["EstimatedWaitTimePredictions"],
            &body,
            path_media,
        ));
    }
    errors.extend(ewt.errors);

    // The org's limits: a namespace with limits and one without.
    let mut official = Validator::new();
    for ns in ["platform.api", "routing"] {
        let (status, body) = get(format!("/api/v2/organizations/limits/namespaces/{ns}")).await;
        assert_eq!(status, 200, "{ns}: {body}");
        official.check_def("LimitsEntityListing", &body, ns);
    }
    errors.extend(official.errors);
    sim.shutdown().await;
    assert!(
        errors.is_empty(),
        "schema mismatches:\n{}",
        errors.join("\n")
    );

    // The fixture catches what the simulator once sent: the path's media type as the intent.
    let mut bad = sdk_model_validator("estimated-wait.schema.json");
    let wrong =
        json!({"results": [{"intent": "call", "formula": "BEST", "estimatedWaitTimeSeconds": 4}]});
    bad.check_def("EstimatedWaitTimePredictions", &wrong, "bad");
    assert!(
        bad.errors
            .join("\n")
            .contains("bad.results[0].intent: \"call\" is not in the enum"),
        "{:?}",
        bad.errors
    );
}
