//! Serde models of the Genesys Cloud request and response bodies that more than one part of the
//! exporter uses (queues, observations, notifications, errors), with the API's field names (see
//! `openapi-subset.json`); a collector's own requests keep theirs beside it. Unknown fields are ignored and every field that
//! the API may leave out is optional or defaulted, so a new field or a missing zero never breaks
//! a poll.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `group` of dimension values: strings by the spec. A value of another type (a newer API)
/// is skipped rather than failing the whole response.
pub(crate) fn string_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}

/// `systemToOrganizationMappings`: a map of string lists; a value that is not a list, and
/// list items that are not strings, are skipped rather than failing the whole answer.
fn presence_mappings<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Vec<String>>>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw.map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::Array(items) => Some((
                    k,
                    items
                        .into_iter()
                        .filter_map(|i| match i {
                            serde_json::Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    }))
}

// ---- OAuth ----------------------------------------------------------------------------------

/// `POST /oauth/token` success body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    /// Seconds; Genesys' default lifetime is 24 h, configurable from 5 min to 48 h.
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
}

/// `POST /oauth/token` error body (RFC 6749 codes).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AuthErrorResponse {
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

/// Genesys' `ErrorBody`, returned with every non-2xx API status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) code: Option<String>,
    // The rest is read as plain JSON: which of them Genesys fills, and with what, is not
    // documented, and a field of an unexpected type must not lose the code and message.
    #[serde(default)]
    pub(crate) message_with_params: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) message_params: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) details: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) errors: Option<serde_json::Value>,
}

impl ErrorBody {
    /// Every string in `messageWithParams`, `messageParams`, `details` and `errors` (nested
    /// error bodies included), in body order: what a caller looking for a name it sent can
    /// search besides the message.
    pub(crate) fn context(&self) -> Vec<String> {
        fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        let parts = [
            &self.message_with_params,
            &self.message_params,
            &self.details,
            &self.errors,
        ];
        for v in parts.into_iter().flatten() {
            strings(v, &mut out);
        }
        out
    }
}

// ---- GET /api/v2/routing/queues -------------------------------------------------------------

/// `QueueEntityListing`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntityListing {
    #[serde(default)]
    pub(crate) entities: Vec<Queue>,
    #[serde(default)]
    pub(crate) page_count: Option<u32>,
    #[serde(default)]
    pub(crate) next_uri: Option<String>,
}

/// The parts of `Queue` the exporter needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Queue {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) division: Option<Division>,
    /// `QueueMediaSettings`: keys in the queue-config vocabulary (`call`, `callback`, `chat`,
    /// `email`, `message`); a key present means the queue serves that media type.
    #[serde(default)]
    pub(crate) media_settings: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Division {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

// ---- POST /api/v2/analytics/queues/observations/query ---------------------------------------

/// `QueueObservationQuery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueObservationQuery {
    pub(crate) filter: QueryFilter,
    pub(crate) metrics: Vec<&'static str>,
}

/// The `{type, predicates}` filter shared by the observation and activity queries.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueryFilter {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) predicates: Vec<QueryPredicate>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueryPredicate {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) dimension: &'static str,
    pub(crate) operator: &'static str,
    pub(crate) value: String,
}

impl QueryFilter {
    /// `queueId = a OR queueId = b OR …`
    pub(crate) fn any_queue<'a>(ids: impl IntoIterator<Item = &'a str>) -> QueryFilter {
        QueryFilter {
            kind: "or",
            predicates: ids
                .into_iter()
                .map(|id| QueryPredicate {
                    kind: "dimension",
                    dimension: "queueId",
                    operator: "matches",
                    value: id.to_string(),
                })
                .collect(),
        }
    }
}

/// `QueueObservationQueryResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueObservationQueryResponse {
    /// "A mapping from system presence to a list of organization presence ids": how the
    /// qualifiers of `oUserPresences` (organization presence ids) roll up.
    /// Entries of another shape (a newer API's extra field) are skipped, as in `group`.
    #[serde(default, deserialize_with = "presence_mappings")]
    pub(crate) system_to_organization_mappings: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub(crate) results: Vec<QueueObservationDataContainer>,
}

/// `QueueObservationDataContainer`: `group` holds `queueId` and, for conversation metrics,
/// `mediaType`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueObservationDataContainer {
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) group: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) data: Vec<ObservationMetricData>,
}

/// `ObservationMetricData`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ObservationMetricData {
    #[serde(default)]
    pub(crate) metric: String,
    #[serde(default)]
    pub(crate) qualifier: Option<String>,
    #[serde(default)]
    pub(crate) stats: ObservationStats,
}

/// The statistics of an observation row that the live families read. `count` is read
/// leniently: one odd count (1.5, -5, 1e308, "NaN") is told apart, not a failed poll.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObservationStats {
    #[serde(default)]
    pub(crate) count: ObservedCount,
    #[serde(default)]
    pub(crate) calculated_metric_value: Option<i64>,
}

/// An observation's `count`: a whole number from 0 up, missing (or `null`), or anything else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum ObservedCount {
    #[default]
    Missing,
    Valid(i64),
    Invalid,
}

impl<'de> Deserialize<'de> for ObservedCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<serde_json::Value>::deserialize(d)? {
            None | Some(serde_json::Value::Null) => ObservedCount::Missing,
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .filter(|c| *c >= 0)
                .or_else(|| {
                    let v = n.as_f64()?;
                    // Range-checked first: the cast cannot truncate or wrap.
                    #[allow(clippy::cast_possible_truncation)]
                    (v.fract() == 0.0 && (0.0..9.0e15).contains(&v)).then_some(v as i64)
                })
                .map_or(ObservedCount::Invalid, ObservedCount::Valid),
            Some(_) => ObservedCount::Invalid,
        })
    }
}

/// `StatisticalSummary`: only the statistics relevant to a metric are present.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatisticalSummary {
    #[serde(default)]
    pub(crate) count: Option<i64>,
    #[serde(default)]
    pub(crate) max: Option<f64>,
    #[serde(default)]
    pub(crate) sum: Option<f64>,
    #[serde(default)]
    pub(crate) numerator: Option<f64>,
    #[serde(default)]
    pub(crate) denominator: Option<f64>,
}

// ---- Notifications (REFERENCE.md 2.7) --------------------------------------------------------

/// `Channel`: the answer to `POST /api/v2/notifications/channels`. `connectUri` is used exactly
/// as returned.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub connect_uri: String,
    /// When the channel goes away (24 h after creation, by the documented limits).
    #[serde(default)]
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
}

/// One topic of a subscription request: `[{"id": topic}, ...]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TopicRequest<'a> {
    pub(crate) id: &'a str,
}

/// `ChannelTopicEntityListing`: what the subscription endpoints answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelTopicEntityListing {
    #[serde(default)]
    pub entities: Vec<ChannelTopic>,
}

/// `ChannelTopic`: one subscribed topic and whether it was allowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelTopic {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub state: TopicState,
    #[serde(default)]
    pub missing_permissions: Vec<String>,
}

/// `ChannelTopic.state`; a value the spec does not list reads as `Unknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TopicState {
    Permitted,
    Rejected,
    #[default]
    #[serde(other)]
    Unknown,
}

/// A WebSocket frame: `{topicName, version, eventBody, metadata}` (the .NET SDK's
/// `NotificationData`), with the body read as `B`. A frame is read twice: first with
/// `B = IgnoredAny` for its topic (the body is skipped, not built), then with the body type
/// of that topic; cheaper than building a `serde_json::Value` and converting it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationFrame<B = serde_json::Value> {
    #[serde(default)]
    pub topic_name: String,
    #[serde(default)]
    pub event_body: B,
}

/// The body of `channel.metadata` frames: `{"message": "WebSocket Heartbeat"}` or `"pong"`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ChannelMetadata {
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `StatEventQueueTopicStatsNotification`: the body of `v2.analytics.queues.{id}.observations`.
/// Events are read by `collect::observations::rows` straight into rows; this model of the spec
/// is what a property test holds that reader to.
#[cfg(test)]
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueStatsEvent {
    /// `queueId` and `mediaType`.
    #[serde(default, deserialize_with = "string_map")]
    pub(crate) group: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) data: Vec<QueueStatsInterval>,
}

/// `StatEventQueueTopicIntervalMetrics`.
#[cfg(test)]
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueStatsInterval {
    /// Not read: typed so that an event whose interval is not a string is refused, as the
    /// live loop's reader refuses it.
    #[serde(default, rename = "interval")]
    _interval: String,
    #[serde(default)]
    pub(crate) metrics: Vec<QueueStatsMetric>,
}

/// `StatEventQueueTopicMetricStats`: `stats` maps a statistic's name to a number.
#[cfg(test)]
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueStatsMetric {
    #[serde(default)]
    pub(crate) metric: String,
    #[serde(default)]
    pub(crate) qualifier: Option<String>,
    #[serde(default, deserialize_with = "number_map")]
    pub(crate) stats: BTreeMap<String, f64>,
}

/// A map of numbers by the spec; a value of another type is skipped.
#[cfg(test)]
fn number_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_f64()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_mappings_of_another_shape_are_skipped_not_fatal() {
        let r: QueueObservationQueryResponse = serde_json::from_value(serde_json::json!({
            "systemToOrganizationMappings": {
                "BREAK": ["a", 7, "b"], "ON_QUEUE": ["c"], "unexpectedField": {"nested": [1]}
            },
            "results": []
        }))
        .unwrap();
        let m = r.system_to_organization_mappings.unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["BREAK"], ["a", "b"]);
        let none: QueueObservationQueryResponse =
            serde_json::from_value(serde_json::json!({"systemToOrganizationMappings": null}))
                .unwrap();
        assert!(none.system_to_organization_mappings.is_none());
    }

    #[test]
    fn observation_query_serializes_with_the_api_field_names() {
        let q = QueueObservationQuery {
            filter: QueryFilter::any_queue(["q1", "q2"]),
            metrics: vec!["oWaiting"],
        };
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "filter": {"type": "or", "predicates": [
                    {"type": "dimension", "dimension": "queueId", "operator": "matches", "value": "q1"},
                    {"type": "dimension", "dimension": "queueId", "operator": "matches", "value": "q2"}
                ]},
                "metrics": ["oWaiting"]
            })
        );
    }

    #[test]
    fn the_official_observation_example_parses() {
        // Verbatim from Genesys' real-time-queue-observation-query tutorial.
        let text = include_str!("../../tests/fixtures/queue-observations.response.tutorial.json");
        let r: QueueObservationQueryResponse = serde_json::from_str(text).unwrap();
        assert_eq!(r.results.len(), 6);
        let statuses: Vec<_> = r.results[0]
            .data
            .iter()
            .map(|d| d.qualifier.clone())
            .collect();
        assert_eq!(
            statuses,
            vec![
                Some("INTERACTING".into()),
                Some("IDLE".into()),
                Some("OFF_QUEUE".into())
            ]
        );
        assert_eq!(
            r.results[1].group.get("mediaType").map(String::as_str),
            Some("voice")
        );
        assert_eq!(r.results[1].data[0].stats.count, ObservedCount::Valid(1));
    }

    #[test]
    fn notification_frames_and_bodies_parse_as_the_official_schemas_say() {
        // The heartbeat frame of REFERENCE.md 2.7.
        let text = include_str!("../../tests/fixtures/notifications-heartbeat.frame.json");
        let frame: NotificationFrame = serde_json::from_str(text).unwrap();
        assert_eq!(frame.topic_name, "channel.metadata");
        assert_eq!(frame.event_body["message"], "WebSocket Heartbeat");

        // StatEventQueueTopicStatsNotification with odd values: a non-string group value and a
        // non-number stat are skipped, unknown fields ignored.
        let body = serde_json::json!({
            "group": {"queueId": "q1", "mediaType": "voice", "odd": 7},
            "data": [{"interval": "2026-11-30T09:00:00.000Z/2026-11-30T09:30:00.000Z",
                      "metrics": [{"metric": "oWaiting", "stats": {"count": 3, "bad": "x"}},
                                  {"metric": "oUserRoutingStatuses", "qualifier": "IDLE",
                                   "stats": {"count": 2}, "extra": true}]}]
        });
        let event: QueueStatsEvent = serde_json::from_value(body).unwrap();
        assert_eq!(event.group.len(), 2);
        let metrics = &event.data[0].metrics;
        assert_eq!(
            metrics[0].stats,
            BTreeMap::from([("count".to_string(), 3.0)])
        );
        assert_eq!(metrics[1].qualifier.as_deref(), Some("IDLE"));

        let listing: ChannelTopicEntityListing = serde_json::from_value(serde_json::json!({
            "entities": [
                {"id": "v2.analytics.queues.q1.observations", "state": "Permitted"},
                {"id": "v2.analytics.queues.q2.observations", "state": "Rejected",
                 "rejectionReason": "missing permissions",
                 "missingPermissions": ["analytics:queueObservation:view"]},
                {"id": "v2.analytics.queues.q3.observations", "state": "Pending"}
            ]
        }))
        .unwrap();
        let states: Vec<TopicState> = listing.entities.iter().map(|t| t.state).collect();
        assert_eq!(
            states,
            [
                TopicState::Permitted,
                TopicState::Rejected,
                TopicState::Unknown
            ]
        );
        assert_eq!(listing.entities[1].missing_permissions.len(), 1);
    }
}
