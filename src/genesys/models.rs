//! Serde models of the Genesys Cloud request and response bodies the exporter uses, with the
//! API's field names (see `openapi-subset.json`). Unknown fields are ignored and every field that
//! the API may leave out is optional or defaulted, so a new field or a missing zero never breaks
//! a poll.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `group` of dimension values: strings by the spec. A value of another type (a newer API)
/// is skipped rather than failing the whole response.
fn string_map<'de, D: serde::Deserializer<'de>>(
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

// ---- OAuth ----------------------------------------------------------------------------------

/// `POST /oauth/token` success body.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds; Genesys' default lifetime is 24 h, configurable from 5 min to 48 h.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `POST /oauth/token` error body (RFC 6749 codes).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthErrorResponse {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Genesys' `ErrorBody`, returned with every non-2xx API status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub context_id: Option<String>,
}

// ---- GET /api/v2/routing/queues -------------------------------------------------------------

/// `QueueEntityListing`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntityListing {
    #[serde(default)]
    pub entities: Vec<Queue>,
    #[serde(default)]
    pub page_number: Option<u32>,
    #[serde(default)]
    pub page_count: Option<u32>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub next_uri: Option<String>,
}

/// The parts of `Queue` the exporter needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub division: Option<Division>,
    /// `QueueMediaSettings`: keys in the queue-config vocabulary (`call`, `callback`, `chat`,
    /// `email`, `message`); a key present means the queue serves that media type.
    #[serde(default)]
    pub media_settings: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Division {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

// ---- POST /api/v2/analytics/queues/observations/query ---------------------------------------

/// `QueueObservationQuery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueObservationQuery {
    pub filter: QueryFilter,
    pub metrics: Vec<&'static str>,
}

/// The `{type, predicates}` filter shared by the observation and activity queries.
#[derive(Debug, Clone, Serialize)]
pub struct QueryFilter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub predicates: Vec<QueryPredicate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryPredicate {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub dimension: &'static str,
    pub operator: &'static str,
    pub value: String,
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
pub struct QueueObservationQueryResponse {
    /// "A mapping from system presence to a list of organization presence ids": how the
    /// qualifiers of `oUserPresences` (organization presence ids) roll up.
    #[serde(default)]
    pub system_to_organization_mappings: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub results: Vec<QueueObservationDataContainer>,
}

/// `QueueObservationDataContainer`: `group` holds `queueId` and, for conversation metrics,
/// `mediaType`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueObservationDataContainer {
    #[serde(default, deserialize_with = "string_map")]
    pub group: BTreeMap<String, String>,
    #[serde(default)]
    pub data: Vec<ObservationMetricData>,
}

/// `ObservationMetricData`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObservationMetricData {
    #[serde(default)]
    pub metric: String,
    #[serde(default)]
    pub qualifier: Option<String>,
    #[serde(default)]
    pub stats: StatisticalSummary,
}

/// `StatisticalSummary`: only the statistics relevant to a metric are present.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatisticalSummary {
    #[serde(default)]
    pub count: Option<i64>,
    #[serde(default)]
    pub calculated_metric_value: Option<i64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub sum: Option<f64>,
    #[serde(default)]
    pub numerator: Option<f64>,
    #[serde(default)]
    pub denominator: Option<f64>,
}

// ---- POST /api/v2/analytics/conversations/activity/query ------------------------------------

/// `ConversationActivityQuery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationActivityQuery {
    pub metrics: Vec<ActivityQueryMetric>,
    pub group_by: Vec<&'static str>,
}

/// `ConversationActivityQueryMetric`.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityQueryMetric {
    pub metric: &'static str,
}

/// `ConversationActivityResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationActivityResponse {
    #[serde(default)]
    pub results: Vec<ConversationActivityData>,
}

/// `ConversationActivityData`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConversationActivityData {
    #[serde(default, deserialize_with = "string_map")]
    pub group: BTreeMap<String, String>,
    #[serde(default)]
    pub data: Vec<ConversationActivityMetricValue>,
}

/// `ConversationActivityMetricValue`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationActivityMetricValue {
    #[serde(default)]
    pub metric: String,
    #[serde(default)]
    pub qualifier: Option<String>,
    #[serde(default)]
    pub count: Option<i64>,
    #[serde(default)]
    pub calculated_metric_value: Option<i64>,
}

// ---- POST /api/v2/analytics/conversations/aggregates/query ----------------------------------

/// `ConversationAggregationQuery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAggregationQuery {
    /// `"<start>/<end>"`, ISO-8601 instants.
    pub interval: String,
    /// ISO-8601 duration (`PT5M`); absent means one bucket for the whole interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    pub group_by: Vec<&'static str>,
    pub filter: QueryFilter,
    pub metrics: Vec<&'static str>,
}

/// `ConversationAggregateQueryResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConversationAggregateQueryResponse {
    #[serde(default)]
    pub results: Vec<ConversationAggregateDataContainer>,
}

/// `ConversationAggregateDataContainer`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConversationAggregateDataContainer {
    #[serde(default, deserialize_with = "string_map")]
    pub group: BTreeMap<String, String>,
    #[serde(default)]
    pub data: Vec<StatisticalResponse>,
}

/// `StatisticalResponse`: one granularity bucket.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatisticalResponse {
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub metrics: Vec<AggregateMetricData>,
}

/// `AggregateMetricData`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AggregateMetricData {
    #[serde(default)]
    pub metric: String,
    #[serde(default)]
    pub stats: StatisticalSummary,
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
pub struct TopicRequest<'a> {
    pub id: &'a str,
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
    pub rejection_reason: Option<String>,
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
pub struct ChannelMetadata {
    #[serde(default)]
    pub message: Option<String>,
}

/// `StatEventQueueTopicStatsNotification`: the body of `v2.analytics.queues.{id}.observations`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueStatsEvent {
    /// `queueId` and `mediaType`.
    #[serde(default, deserialize_with = "string_map")]
    pub group: BTreeMap<String, String>,
    #[serde(default)]
    pub data: Vec<QueueStatsInterval>,
}

/// `StatEventQueueTopicIntervalMetrics`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueStatsInterval {
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub metrics: Vec<QueueStatsMetric>,
}

/// `StatEventQueueTopicMetricStats`: `stats` maps a statistic's name to a number.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueStatsMetric {
    #[serde(default)]
    pub metric: String,
    #[serde(default)]
    pub qualifier: Option<String>,
    #[serde(default, deserialize_with = "number_map")]
    pub stats: BTreeMap<String, f64>,
}

/// A map of numbers by the spec; a value of another type is skipped.
fn number_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_f64()?)))
        .collect())
}

// ---- GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime --------

/// `EstimatedWaitTimePredictions`. Not in `openapi-subset.json`: the shape is the official
/// SDKs' model documentation (`build/docs/EstimatedWaitTimePredictions.md`,
/// `PredictionResults.md`). Everything is optional, so the collector, not serde, decides
/// whether an answer holds an estimate: one without any is a failed poll, never a series.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EstimatedWaitTimePredictions {
    #[serde(default)]
    pub results: Option<Vec<PredictionResults>>,
}

/// `PredictionResults`: one estimate (the SDKs: `intent` "the media type scope", `formula`,
/// `estimatedWaitTimeSeconds` an integer).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictionResults {
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub formula: Option<String>,
    /// A number: an integer by the SDKs, read as f64 so a fractional one is not an error.
    #[serde(default)]
    pub estimated_wait_time_seconds: Option<f64>,
}

impl EstimatedWaitTimePredictions {
    /// The first estimate that is a finite, non-negative number of seconds.
    #[must_use]
    pub fn seconds(&self) -> Option<f64> {
        self.results
            .as_deref()?
            .iter()
            .filter_map(|r| r.estimated_wait_time_seconds)
            .find(|s| s.is_finite() && *s >= 0.0)
    }
}

// ---- GET /api/v2/organizations/limits/namespaces/{namespaceName} ----------------------------

/// `LimitsEntityListing` (`openapi-subset.json`): the org's effective limits in a namespace.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LimitsEntityListing {
    #[serde(default)]
    pub entities: Vec<Limit>,
}

/// `Limit` (`openapi-subset.json`): `key`, `namespace`, `value` (int64).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Limit {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub value: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_official_aggregates_example_parses() {
        // Verbatim from Genesys' analytics-conversation-aggregate-query tutorial.
        let text = include_str!("../../tests/fixtures/aggregates-query.response.tutorial.json");
        let r: ConversationAggregateQueryResponse = serde_json::from_str(text).unwrap();
        let group = &r.results[0].group;
        assert!(group.contains_key("queueId") && group.contains_key("mediaType"));
        let bucket = &r.results[0].data[0];
        assert!(bucket.interval.contains('/'));
        let talk = bucket.metrics.iter().find(|m| m.metric == "tTalk").unwrap();
        assert_eq!(talk.stats.count, Some(5));
        assert_eq!(talk.stats.sum, Some(3_125_952.0));
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
        assert_eq!(r.results[1].data[0].stats.count, Some(1));
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
