//! The simulated org's flow activity, `POST /api/v2/analytics/flows/activity/query`: `oFlow`,
//! the conversations in an Architect flow now, by flow type and media type, equal to
//! `Truth::flows` (Manual clock over real HTTP, no sleeps).
//!
//! What counts (inferred; the API does not say): conversations waiting in a queue run its
//! in-queue flow (INQUEUECALL, INQUEUEEMAIL, INQUEUESHORTMESSAGE), voicemails being recorded
//! (VOICEMAIL, with flow-outs on), and the IVR's self-service callers (INBOUNDCALL).

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_sim::{Endpoint, Fault, SimClock, SimConfig, SimOrg};
use serde_json::{json, Value};

mod common;

use common::{sim_client as client, sim_token as token, start_sim as start};

const FLOWS: &str = "/api/v2/analytics/flows/activity/query";

/// Every flow type the simulated org models, with the media type of its conversations.
const MODELLED: [(&str, &str); 5] = [
    ("INBOUNDCALL", "voice"),
    ("INQUEUECALL", "voice"),
    ("INQUEUEEMAIL", "email"),
    ("INQUEUESHORTMESSAGE", "message"),
    ("VOICEMAIL", "voice"),
];

/// A 10-queue org (the demo's size) on a Tuesday at `h:m` UTC.
fn org_at(h: u32, m: u32, flow_outs: bool) -> SimConfig {
    SimConfig {
        clock: common::busy_at(h, m),
        queues: 10,
        rate_limit_per_minute: common::TEST_BUDGET,
        flow_outs,
        ..SimConfig::default()
    }
}

async fn post_to(sim: &SimOrg, tok: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", sim.api_url()))
        .bearer_auth(tok)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn flows(sim: &SimOrg, tok: &str, body: &Value) -> (u16, Value) {
    post_to(sim, tok, FLOWS, body).await
}

fn query(group_by: &[&str]) -> Value {
    json!({"metrics": [{"metric": "oFlow"}], "groupBy": group_by})
}

/// The `oFlow` count of each result, keyed by its group's values joined with `/` in
/// `keys` order; checks every result has exactly those group keys and one oFlow entry.
fn counts(body: &Value, keys: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in body["results"].as_array().expect("results") {
        let group = r["group"].as_object().expect("group");
        let mut have: Vec<&str> = group.keys().map(String::as_str).collect();
        let mut want = keys.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        assert_eq!(have, want, "group holds only the grouped dimensions: {r}");
        let key: Vec<&str> = keys
            .iter()
            .map(|k| group[*k].as_str().expect("a string"))
            .collect();
        let data = r["data"].as_array().expect("data");
        assert_eq!(data.len(), 1, "{r}");
        assert_eq!(data[0]["metric"], "oFlow");
        let n = data[0]["count"].as_u64().expect("count");
        assert!(n > 0, "zero counts are left out: {r}");
        assert!(
            out.insert(key.join("/"), n).is_none(),
            "one result per group"
        );
    }
    out
}

fn nonzero(m: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    m.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect()
}

#[tokio::test]
async fn flow_activity_by_flow_type_equals_the_truth_at_every_instant() {
    let sim = start(org_at(9, 55, true)).await;
    let tok = token(&sim).await;
    let mut peak_inbound = 0;
    // 09:55, then the weekday peak (10:00) and on through the morning, at odd offsets.
    for step in [0, 300, 7, 61, 600, 1200] {
        sim.advance(Duration::from_secs(step));
        let truth = sim.truth();
        let modelled: Vec<&str> = truth.flows.keys().map(String::as_str).collect();
        let names: Vec<&str> = MODELLED.iter().map(|(f, _)| *f).collect();
        assert_eq!(modelled, names, "every modelled flow type, 0 included");
        let (status, body) = flows(&sim, &tok, &query(&["flowType"])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            counts(&body, &["flowType"]),
            nonzero(&truth.flows),
            "at {}",
            truth.at_ms
        );
        assert!(
            truth.flows["INQUEUECALL"] > 0,
            "a busy morning has callers in queue"
        );
        peak_inbound = peak_inbound.max(truth.flows["INBOUNDCALL"]);
    }
    // Self-service callers: a handful to a few dozen in a 10-queue org at peak.
    assert!((5..=50).contains(&peak_inbound), "{peak_inbound}");
    sim.shutdown().await;

    // At night the org is nearly empty, and the answer is still the truth.
    let night = start(org_at(3, 0, true)).await;
    let tok = token(&night).await;
    let (status, body) = flows(&night, &tok, &query(&["flowType"])).await;
    assert_eq!(status, 200, "{body}");
    let truth = night.truth();
    assert_eq!(counts(&body, &["flowType"]), nonzero(&truth.flows));
    assert!(truth.flows["INBOUNDCALL"] < 10, "{:?}", truth.flows);
    night.shutdown().await;
}

#[tokio::test]
async fn conversations_waiting_in_a_queue_run_its_in_queue_flow_for_their_media_type() {
    let sim = start(org_at(10, 30, false)).await;
    for _ in 0..5 {
        sim.advance(Duration::from_secs(45));
        let truth = sim.truth();
        let waiting = truth.totals().waiting;
        let of = |m: &str| waiting.get(m).copied().unwrap_or(0);
        assert_eq!(truth.flows["INQUEUECALL"], of("voice"));
        assert_eq!(truth.flows["INQUEUEEMAIL"], of("email"));
        assert_eq!(truth.flows["INQUEUESHORTMESSAGE"], of("message"));
        // Chat and callback waiters run no flow; nothing is recording a voicemail.
        assert_eq!(truth.flows["VOICEMAIL"], 0, "flow-outs are off");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn grouping_by_media_type_too_gives_each_flow_type_its_media() {
    let sim = start(org_at(10, 0, true)).await;
    let tok = token(&sim).await;
    sim.advance(Duration::from_secs(90));
    let truth = sim.truth();
    let media: BTreeMap<&str, &str> = MODELLED.into_iter().collect();

    // Group order in the query does not matter.
    for group_by in [["flowType", "mediaType"], ["mediaType", "flowType"]] {
        let (status, body) = flows(&sim, &tok, &query(&group_by)).await;
        assert_eq!(status, 200, "{body}");
        let want: BTreeMap<String, u64> = nonzero(&truth.flows)
            .into_iter()
            .map(|(f, n)| (format!("{f}/{}", media[f.as_str()]), n))
            .collect();
        assert_eq!(counts(&body, &["flowType", "mediaType"]), want);
    }

    // By media type alone: the flow types of each media type summed.
    let (status, body) = flows(&sim, &tok, &query(&["mediaType"])).await;
    assert_eq!(status, 200, "{body}");
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (f, n) in &truth.flows {
        *want.entry(media[f.as_str()].to_string()).or_default() += n;
    }
    assert_eq!(counts(&body, &["mediaType"]), nonzero(&want));
    assert!(want["voice"] > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_media_type_or_flow_type_filter_narrows_the_flows() {
    let sim = start(org_at(10, 0, true)).await;
    let tok = token(&sim).await;
    sim.advance(Duration::from_secs(60));
    let truth = sim.truth();
    let only = |names: &[&str]| -> BTreeMap<String, u64> {
        nonzero(&truth.flows)
            .into_iter()
            .filter(|(f, _)| names.contains(&f.as_str()))
            .collect()
    };
    let with_filter = |filter: Value| {
        let mut q = query(&["flowType"]);
        q["filter"] = filter;
        q
    };

    let voice = with_filter(json!({"type": "and", "predicates": [
        {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"}]}));
    let (status, body) = flows(&sim, &tok, &voice).await;
    assert_eq!(status, 200, "{body}");
    let got = counts(&body, &["flowType"]);
    assert_eq!(got, only(&["INBOUNDCALL", "INQUEUECALL", "VOICEMAIL"]));
    assert!(!got.is_empty());

    // Clauses: (email or message) and not voice, operator left to its default (matches).
    let digital = with_filter(json!({"type": "and", "clauses": [
        {"type": "or", "predicates": [
            {"dimension": "flowType", "value": "INQUEUEEMAIL"},
            {"dimension": "flowType", "value": "INQUEUESHORTMESSAGE"}]}]}));
    let (status, body) = flows(&sim, &tok, &digital).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        counts(&body, &["flowType"]),
        only(&["INQUEUEEMAIL", "INQUEUESHORTMESSAGE"])
    );

    // A value no flow has: an empty answer, not an error.
    let none = with_filter(json!({"type": "or", "predicates": [
        {"dimension": "mediaType", "value": "chat"}]}));
    let (status, body) = flows(&sim, &tok, &none).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"results": []}));
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_flow_activity_queries_get_400_with_an_error_body() {
    let sim = start(org_at(10, 0, false)).await;
    let tok = token(&sim).await;
    let m = json!([{"metric": "oFlow"}]);
    let g = json!(["flowType"]);
    let filter =
        |p: Value| json!({"metrics": m, "groupBy": g, "filter": {"type": "or", "predicates": [p]}});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"metrics": [{"metric": "oWaiting"}], "groupBy": g}), "metric value 'oWaiting' is not valid; expected one of oFlow"),
        (json!({"metrics": [], "groupBy": g}), "metrics is required"),
        (json!({"groupBy": g}), "metrics is required"),
        (json!({"metrics": [{"details": true}], "groupBy": g}), "metric is required"),
        (json!({"metrics": m}), "groupBy is required"),
        (json!({"metrics": m, "groupBy": []}), "groupBy is required"),
        (json!({"metrics": m, "groupBy": ["wrapUpCode"]}), "groupBy value 'wrapUpCode' is not valid"),
        (json!({"metrics": m, "groupBy": ["flowType", "queueId"]}), "groupBy 'queueId' is not supported by the simulated org (only flowType and mediaType)"),
        // In the enum of the newest SDK models, so valid; not modelled.
        (json!({"metrics": m, "groupBy": ["activeRouting"]}), "groupBy 'activeRouting' is not supported by the simulated org (only flowType and mediaType)"),
        (json!({"metrics": m, "groupBy": g, "order": "sideways"}), "order value 'sideways' is not valid"),
        (json!({"metrics": m, "groupBy": g, "filter": {"predicates": []}}), "filter type is required"),
        (filter(json!({"dimension": "wrapUpCode", "value": "x"})), "predicate dimension 'wrapUpCode' is not valid"),
        (filter(json!({"dimension": "flowId", "value": "x"})), "predicate dimension 'flowId' is not supported by the simulated org (only flowType and mediaType)"),
        (filter(json!({"dimension": "mediaType", "operator": "exists"})), "predicate operator 'exists' is not supported by the simulated org (only matches)"),
        (filter(json!({"dimension": "mediaType", "operator": "startsWith", "value": "v"})), "predicate operator 'startsWith' is not valid"),
        (filter(json!({"type": "metric", "dimension": "mediaType", "value": "voice"})), "predicate type 'metric' is not supported"),
        (filter(json!({"dimension": "mediaType"})), "predicate value is required"),
        (json!({"metrics": "oFlow", "groupBy": g}), "The request could not be understood"),
    ];
    for (body, want) in cases {
        let (status, v) = flows(&sim, &tok, &body).await;
        assert_eq!(status, 400, "{body} -> {v}");
        assert_eq!(v["code"], "bad.request", "{v}");
        assert_eq!(v["status"], 400, "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(want), "{body}: {message:?} lacks {want:?}");
    }
    // Paging parameters: positive int32 when given.
    for q in ["pageSize=0", "pageNumber=-1", "pageSize=ten"] {
        let path = format!("{FLOWS}?{q}");
        let (status, v) = post_to(&sim, &tok, &path, &query(&["flowType"])).await;
        assert_eq!(status, 400, "{q}: {v}");
    }
    let path = format!("{FLOWS}?pageSize=25&pageNumber=1");
    let (status, v) = post_to(&sim, &tok, &path, &query(&["flowType"])).await;
    assert_eq!(status, 200, "{v}");
    // `details` and `order` are accepted.
    let body =
        json!({"metrics": [{"metric": "oFlow", "details": true}], "groupBy": g, "order": "desc"});
    let (status, v) = flows(&sim, &tok, &body).await;
    assert_eq!(status, 200, "{v}");
    // Only POST.
    let r = client()
        .get(format!("{}{FLOWS}", sim.api_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 405);
    sim.shutdown().await;
}

/// Voicemails being recorded now, straight from the conversation records: the flow-outs whose
/// message spans the instant.
fn recording(sim: &SimOrg, now: i64) -> u64 {
    let n = sim
        .ended_conversations(now - 100_000, now + 1)
        .iter()
        .filter_map(|r| r.voicemail(true))
        .filter(|v| v.flow_out_ms <= now && now < v.flow_out_ms + v.message_ms)
        .count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[tokio::test]
async fn voicemail_flows_appear_only_with_flow_outs_and_change_nothing_else() {
    let with = start(org_at(10, 0, true)).await;
    let without = start(org_at(10, 0, false)).await;
    // A burst on a voice queue makes sure some callers wait long enough to flow out.
    let voice_queue = with
        .truth()
        .queues
        .into_iter()
        .find(|q| q.media_types.first().is_some_and(|m| m == "voice"))
        .expect("a voice queue")
        .name;
    for sim in [&with, &without] {
        sim.schedule_spike(&voice_queue, Duration::from_secs(600), 60);
    }
    let (mut seen, mut instants_with) = (0, 0);
    // A busy hour in 15 s steps.
    for _ in 0..240 {
        with.advance(Duration::from_secs(15));
        without.advance(Duration::from_secs(15));
        let (a, b) = (with.truth(), without.truth());
        assert_eq!(b.flows["VOICEMAIL"], 0, "no voicemail without flow-outs");
        let vm = a.flows["VOICEMAIL"];
        assert_eq!(vm, recording(&with, a.at_ms), "at {}", a.at_ms);
        seen += vm;
        instants_with += u64::from(vm > 0);
        // The same org otherwise: flow-outs only reinterpret some abandons.
        let mut rest = a.flows.clone();
        rest.remove("VOICEMAIL");
        let mut rest_b = b.flows.clone();
        rest_b.remove("VOICEMAIL");
        assert_eq!(rest, rest_b);
        assert_eq!(a.queues, b.queues);
    }
    assert!(
        instants_with >= 3,
        "voicemails recorded at {instants_with} instants ({seen})"
    );

    // And the endpoint reports them when they are there.
    let tok = token(&with).await;
    for _ in 0..240 {
        if with.truth().flows["VOICEMAIL"] > 0 {
            break;
        }
        with.advance(Duration::from_secs(5));
    }
    let truth = with.truth();
    assert!(truth.flows["VOICEMAIL"] > 0);
    let (status, body) = flows(&with, &tok, &query(&["flowType"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        counts(&body, &["flowType"])["VOICEMAIL"],
        truth.flows["VOICEMAIL"]
    );
    with.shutdown().await;
    without.shutdown().await;
}

#[tokio::test]
async fn the_self_service_callers_depend_on_the_instant_not_on_how_it_was_reached() {
    let stepped = start(org_at(10, 0, false)).await;
    let jumped = start(org_at(10, 0, false)).await;
    let tok = token(&stepped).await;
    for _ in 0..30 {
        stepped.advance(Duration::from_secs(4));
        // Asking changes nothing.
        let (status, _) = flows(&stepped, &tok, &query(&["flowType"])).await;
        assert_eq!(status, 200);
    }
    jumped.advance(Duration::from_secs(120));
    let (a, b) = (stepped.truth(), jumped.truth());
    assert_eq!(a.at_ms, b.at_ms);
    assert_eq!(a.flows, b.flows);
    assert_eq!(
        a.queues, b.queues,
        "reading the flows never moves the traffic"
    );
    assert_eq!(
        stepped.active_conversations(),
        jumped.active_conversations()
    );

    // Another org (seed) has other callers at the same instant, at least now and then.
    let other = start(SimConfig {
        seed: 2,
        ..org_at(10, 0, false)
    })
    .await;
    let mut differ = false;
    for _ in 0..10 {
        other.advance(Duration::from_secs(12));
        jumped.advance(Duration::from_secs(12));
        differ |= other.truth().flows["INBOUNDCALL"] != jumped.truth().flows["INBOUNDCALL"];
    }
    assert!(differ);
    stepped.shutdown().await;
    jumped.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn faults_and_request_stats_cover_the_flow_activity_endpoint() {
    let sim = start(SimConfig {
        clock: SimClock::Manual,
        queues: 4,
        rate_limit_per_minute: common::TEST_BUDGET,
        ..SimConfig::default()
    })
    .await;
    let tok = token(&sim).await;
    // A fault for another endpoint does not hit this one.
    sim.faults().fail_next(
        Endpoint::Activity,
        1,
        Fault::Status {
            status: 500,
            retry_after_secs: None,
        },
    );
    sim.faults().fail_next(
        Endpoint::FlowActivity,
        2,
        Fault::Status {
            status: 503,
            retry_after_secs: Some(2),
        },
    );
    for want in [503, 503, 200] {
        let (status, body) = flows(&sim, &tok, &query(&["flowType"])).await;
        assert_eq!(status, want, "{body}");
    }
    assert_eq!(
        sim.faults().pending(),
        1,
        "the activity fault is still pending"
    );
    sim.faults().clear();
    sim.faults()
        .fail_next(Endpoint::FlowActivity, 1, Fault::Malformed);
    let r = client()
        .post(format!("{}{FLOWS}", sim.api_url()))
        .bearer_auth(&tok)
        .header("Content-Type", "application/json")
        .body(query(&["flowType"]).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.expect("body");
    assert!(
        serde_json::from_slice::<Value>(&bytes).is_err(),
        "cut in half"
    );

    let stats = sim.stats();
    assert_eq!(stats.count_status("POST", FLOWS, 503), 2);
    assert_eq!(stats.count_status("POST", FLOWS, 200), 2);
    assert_eq!(stats.count("POST", FLOWS), 4);
    sim.shutdown().await;
}
