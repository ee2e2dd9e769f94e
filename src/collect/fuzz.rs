//! Property tests: whatever JSON comes back from Genesys, parsing it into the API models and
//! building snapshots from it never panics, and counts never go negative or non-finite.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::activity::ConversationActivityResponse;
use super::aggregates::ConversationAggregateQueryResponse;
use super::observations::rows::{Metric, Pushed, Row, Stat};
use super::queues::{QueueSet, WatchedQueue};
use super::{activity, aggregates, observations};
use crate::genesys::models::{QueueEntityListing, QueueObservationQueryResponse, QueueStatsEvent};

/// Keys and strings the real payloads use, so generated documents reach the deep paths.
const WORDS: &[&str] = &[
    "results",
    "group",
    "data",
    "metric",
    "metrics",
    "stats",
    "count",
    "sum",
    "max",
    "min",
    "numerator",
    "denominator",
    "calculatedMetricValue",
    "qualifier",
    "queueId",
    "mediaType",
    "interval",
    "entities",
    "id",
    "name",
    "division",
    "mediaSettings",
    "pageCount",
    "call",
    "oWaiting",
    "oInteracting",
    "oAlerting",
    "oOnQueueUsers",
    "oUserRoutingStatuses",
    "oLongestWaiting",
    "oLongestInteracting",
    "oMemberUsers",
    "oUserPresences",
    "systemToOrganizationMappings",
    "nOffered",
    "tHandle",
    "tAnswered",
    "oServiceLevel",
    "IDLE",
    "voice",
    "chat",
    "q1",
    "q2",
    "2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z",
    "",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        word().prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `shaped`, or (when `junk`) now and then any JSON at all in its place. Without junk the
/// documents are well-typed, so they get past serde and reach the snapshot builders with
/// adversarial values (huge, negative, unknown names); with junk they test refusal.
fn or_junk(shaped: impl Strategy<Value = Value> + 'static, junk: bool) -> BoxedStrategy<Value> {
    if junk {
        prop_oneof![8 => shaped, 1 => json()].boxed()
    } else {
        shaped.boxed()
    }
}

fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, v)| (Just(k), proptest::option::weighted(0.85, v)))
        .collect();
    (parts, proptest::collection::vec((word(), leaf()), 0..2)).prop_map(|(parts, extra)| {
        // Extra keys first, so a generated field of the same name wins.
        let mut map: Map<String, Value> = extra.into_iter().collect();
        for (k, v) in parts {
            if let Some(v) = v {
                map.insert(k.to_string(), v);
            }
        }
        Value::Object(map)
    })
}

/// Mostly one of `likely`, sometimes any word.
fn one_of(likely: &'static [&'static str], junk: bool) -> BoxedStrategy<Value> {
    let pick = prop_oneof![
        6 => proptest::sample::select(likely).prop_map(str::to_string),
        1 => word(),
    ];
    or_junk(pick.prop_map(Value::String), junk)
}

const QUEUE_IDS: &[&str] = &["q1", "q2", "gone"];
const MEDIA: &[&str] = &["voice", "chat", "VOICE", "hologram", ""];
const METRICS: &[&str] = &[
    "oWaiting",
    "oInteracting",
    "oAlerting",
    "oOnQueueUsers",
    "oUserRoutingStatuses",
    "oLongestWaiting",
    "oLongestInteracting",
    "oMemberUsers",
    "oActiveUsers",
    "oOffQueueUsers",
    "oUserPresences",
    "nOffered",
    "tAnswered",
    "tAbandon",
    "tHandle",
    "tHeld",
    "tAcd",
    "oServiceLevel",
    "oSomethingNew",
];
const QUALIFIERS: &[&str] = &[
    "IDLE",
    "INTERACTING",
    "OFF_QUEUE",
    "NOT_RESPONDING",
    "NEW_STATUS",
];
const INTERVALS: &[&str] = &[
    "2026-11-24T10:00:00.000Z/2026-11-24T10:05:00.000Z",
    "2026-11-24T10:05:00+01:00/2026-11-24T10:10:00+01:00",
    "1970-01-01T00:00:00Z/1970-01-01T00:05:00Z",
    "9999-12-31T23:55:00Z/9999-12-31T23:59:59Z",
    "not-a-time/either",
    "/",
];

fn integer(junk: bool) -> BoxedStrategy<Value> {
    or_junk(
        prop_oneof![any::<i64>(), -5i64..500].prop_map(Value::from),
        junk,
    )
}

fn float(junk: bool) -> BoxedStrategy<Value> {
    or_junk(
        prop_oneof![-1e300f64..1e300, -5.0f64..5e6].prop_map(Value::from),
        junk,
    )
}

fn stats(junk: bool) -> BoxedStrategy<Value> {
    or_junk(
        object(vec![
            ("count", integer(junk)),
            ("sum", float(junk)),
            ("max", float(junk)),
            ("min", float(junk)),
            ("numerator", float(junk)),
            ("denominator", float(junk)),
            ("calculatedMetricValue", integer(junk)),
        ]),
        junk,
    )
}

fn metric_entry(junk: bool) -> BoxedStrategy<Value> {
    or_junk(
        object(vec![
            ("metric", one_of(METRICS, junk)),
            ("qualifier", one_of(QUALIFIERS, junk)),
            ("stats", stats(junk)),
            ("count", integer(junk)),
            ("calculatedMetricValue", integer(junk)),
        ]),
        junk,
    )
}

fn group(junk: bool) -> BoxedStrategy<Value> {
    or_junk(
        object(vec![
            ("queueId", one_of(QUEUE_IDS, junk)),
            ("mediaType", one_of(MEDIA, junk)),
        ]),
        junk,
    )
}

fn list(item: BoxedStrategy<Value>, junk: bool) -> BoxedStrategy<Value> {
    or_junk(
        proptest::collection::vec(item, 0..5).prop_map(Value::Array),
        junk,
    )
}

/// Observation and activity documents: results of {group, data: [metric entries]}.
fn live_document(junk: bool) -> BoxedStrategy<Value> {
    let container = or_junk(
        object(vec![
            ("group", group(junk)),
            ("data", list(metric_entry(junk), junk)),
        ]),
        junk,
    );
    or_junk(object(vec![("results", list(container, junk))]), junk)
}

/// Aggregate documents: results of {group, data: [{interval, metrics: [metric entries]}]}.
fn aggregate_document(junk: bool) -> BoxedStrategy<Value> {
    let bucket = or_junk(
        object(vec![
            ("interval", one_of(INTERVALS, junk)),
            ("metrics", list(metric_entry(junk), junk)),
        ]),
        junk,
    );
    let container = or_junk(
        object(vec![("group", group(junk)), ("data", list(bucket, junk))]),
        junk,
    );
    or_junk(object(vec![("results", list(container, junk))]), junk)
}

fn queues() -> Arc<QueueSet> {
    let q = |id: &str| WatchedQueue {
        id: id.into(),
        name: id.into(),
        division: String::new(),
        media_types: vec!["voice".into()],
    };
    Arc::new(QueueSet {
        queues: vec![q("q1"), q("q2")],
    })
}

/// Observation event bodies (`StatEventQueueTopicStatsNotification`): {group, data:
/// [{interval, metrics: [metric entries]}]}.
fn stats_event(junk: bool) -> BoxedStrategy<Value> {
    let interval = or_junk(
        object(vec![
            ("interval", one_of(INTERVALS, junk)),
            ("metrics", list(metric_entry(junk), junk)),
        ]),
        junk,
    );
    or_junk(
        object(vec![("group", group(junk)), ("data", list(interval, junk))]),
        junk,
    )
}

/// What the live loop read of an event before [`Pushed`] read frames directly: the owned
/// model, its observation metrics, names lower-cased, whole-number statistics (counts from 0
/// up). The model cannot tell an invalid count from none, so the reader's mark of one is
/// compared apart ([`without_invalid_marks`]).
fn pushed_from_model(event: &QueueStatsEvent) -> Pushed {
    let lower = |s: &String| std::borrow::Cow::Owned(s.to_ascii_lowercase());
    let whole = |v: &f64| {
        #[allow(clippy::cast_possible_truncation)]
        (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(*v as i64)
    };
    Pushed {
        queue_id: event.group.get("queueId").cloned(),
        media: event.group.get("mediaType").map(lower),
        rows: event
            .data
            .iter()
            .flat_map(|d| &d.metrics)
            .filter(|m| observations::METRICS.contains(&m.metric.as_str()))
            .map(|m| Row {
                metric: Metric::of(&m.metric),
                qualifier: m.qualifier.as_ref().map(lower),
                stat: Stat {
                    count: m.stats.get("count").and_then(whole).filter(|c| *c >= 0),
                    calculated_metric_value: m.stats.get("calculatedMetricValue").and_then(whole),
                    invalid_count: false,
                },
            })
            .collect(),
        other_metrics: event
            .data
            .iter()
            .flat_map(|d| &d.metrics)
            .any(|m| !observations::METRICS.contains(&m.metric.as_str())),
    }
}

fn without_invalid_marks(mut p: Pushed) -> Pushed {
    for r in &mut p.rows {
        r.stat.invalid_count = false;
    }
    p
}

fn finite_and_not_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
    fn any_payload_parses_or_is_refused_without_panicking(
        doc in prop_oneof![
            json(),
            live_document(true),
            aggregate_document(true),
            live_document(false),
            aggregate_document(false),
        ]
    ) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let _ = serde_json::from_slice::<QueueEntityListing>(&bytes);
        if let Ok(r) = serde_json::from_slice::<QueueObservationQueryResponse>(&bytes) {
            let presences = observations::Presences::from_responses(std::slice::from_ref(&r))
                .unwrap_or_default();
            let snap = observations::build_snapshot(
                queues(),
                &[r],
                1_764_000_000_000,
                &presences,
                observations::ObservedSet::ALL,
                &mut observations::Kept::default(),
            );
            for live in snap.live.iter().flatten() {
                for m in live.media.values() {
                    prop_assert!(finite_and_not_negative(m.longest_waiting_seconds));
                    prop_assert!(finite_and_not_negative(m.longest_interacting_seconds));
                }
                prop_assert!(live.presences.len() <= observations::rows::MAX_SYSTEM_PRESENCES + 1);
            }
        }
        if let Ok(r) = serde_json::from_slice::<ConversationActivityResponse>(&bytes) {
            let _ = activity::build_snapshot(&r);
        }
        if let Ok(r) = serde_json::from_slice::<ConversationAggregateQueryResponse>(&bytes) {
            let mut out = aggregates::Buckets::new();
            aggregates::merge_response(&mut out, &r, i64::MIN, i64::MAX, &aggregates::Read::METRICS);
            for v in out.values().flat_map(|g| g.values()) {
                prop_assert!(aggregates::Quantity::ALL.iter().all(|q| finite_and_not_negative(v[*q])));
            }
        }
    }

    /// The live loop's reader of pushed events takes and refuses exactly what the owned model
    /// does, and reads the same rows from it.
    #[test]
    fn pushed_events_read_as_the_model_reads_them(
        doc in prop_oneof![stats_event(false), stats_event(true), json()]
    ) {
        let text = serde_json::to_string(&doc).unwrap();
        let model = serde_json::from_str::<QueueStatsEvent>(&text);
        let pushed = serde_json::from_str::<Pushed>(&text);
        prop_assert_eq!(model.is_ok(), pushed.is_ok(), "{}", text);
        if let (Ok(model), Ok(pushed)) = (model, pushed) {
            for r in pushed.rows.iter().filter(|r| r.stat.invalid_count) {
                prop_assert_eq!(r.stat.count, None, "{}", text);
            }
            prop_assert_eq!(without_invalid_marks(pushed), pushed_from_model(&model), "{}", text);
        }
    }

    #[test]
    fn any_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<QueueObservationQueryResponse>(&bytes);
        let _ = serde_json::from_slice::<ConversationAggregateQueryResponse>(&bytes);
        let _ = serde_json::from_slice::<Pushed>(&bytes);
    }
}
