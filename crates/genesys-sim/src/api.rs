//! Wire types: the simulator's own serde structs, named after the official schema
//! (`openapi-subset.json`), camelCase on the wire, optional fields left out when absent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// ---------- errors ----------

/// `ErrorBody` (REFERENCE 3.3).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    pub(crate) message: String,
    pub(crate) code: String,
    pub(crate) status: u16,
    pub(crate) context_id: String,
    pub(crate) details: Vec<serde_json::Value>,
    pub(crate) errors: Vec<ErrorBody>,
}

/// OAuth error (GO SDK `AuthErrorResponse`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuthErrorBody {
    pub(crate) error: String,
    pub(crate) description: String,
    pub(crate) error_description: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    pub(crate) expires_in: u64,
}

// ---------- routing queues ----------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueEntityListing {
    pub(crate) entities: Vec<Queue>,
    pub(crate) page_size: usize,
    pub(crate) page_number: usize,
    pub(crate) total: usize,
    pub(crate) first_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) previous_uri: Option<String>,
    pub(crate) last_uri: String,
    pub(crate) self_uri: String,
    pub(crate) page_count: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Queue {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) division: Division,
    pub(crate) date_created: String,
    pub(crate) member_count: usize,
    pub(crate) user_member_count: usize,
    pub(crate) joined_member_count: usize,
    pub(crate) media_settings: QueueMediaSettings,
    pub(crate) self_uri: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Division {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) self_uri: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct QueueMediaSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) call: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) callback: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) chat: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<MediaSettings>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaSettings {
    pub(crate) alerting_timeout_seconds: i64,
    pub(crate) service_level: ServiceLevel,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceLevel {
    pub(crate) percentage: f64,
    pub(crate) duration_ms: i64,
}

// ---------- observations ----------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueObservationQueryResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) system_to_organization_mappings: Option<BTreeMap<String, Vec<String>>>,
    pub(crate) results: Vec<QueueObservationDataContainer>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueObservationDataContainer {
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) data: Vec<ObservationMetricData>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ObservationMetricData {
    pub(crate) metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) qualifier: Option<String>,
    pub(crate) stats: StatisticalSummary,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatisticalSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) calculated_metric_value: Option<i64>,
}

// ---------- activity ----------

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationActivityResponse {
    pub(crate) results: Vec<ConversationActivityData>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationActivityData {
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) data: Vec<ConversationActivityMetricValue>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityMetricValue {
    pub(crate) metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) calculated_metric_value: Option<i64>,
}

// ---------- flow activity ----------
// Not in `openapi-subset.json`: named after the official SDK models (`FlowActivityResponse`,
// `FlowActivityData`, `FlowActivityMetricValue`), checked against
// `tests/fixtures/flow-activity.schema.json`.

/// `FlowActivityResponse` (`entityIdDimension` is never sent: no details are reported).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FlowActivityResponse {
    pub(crate) results: Vec<FlowActivityData>,
}

/// `FlowActivityData` (no `entities`, so no `truncated`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FlowActivityData {
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) data: Vec<FlowActivityMetricValue>,
}

/// `FlowActivityMetricValue` (`oFlow` has no qualifier; no `entityIds`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FlowActivityMetricValue {
    pub(crate) metric: String,
    pub(crate) count: u64,
}

// ---------- requests ----------

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueObservationQuery {
    pub(crate) filter: Option<QueryFilter>,
    pub(crate) metrics: Option<Vec<String>>,
    pub(crate) detail_metrics: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityQuery {
    pub(crate) metrics: Option<Vec<ActivityMetric>>,
    pub(crate) group_by: Option<Vec<String>>,
    pub(crate) filter: Option<QueryFilter>,
    pub(crate) order: Option<String>,
}

/// `FlowActivityQuery`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FlowActivityQuery {
    pub(crate) metrics: Option<Vec<ActivityMetric>>,
    pub(crate) group_by: Option<Vec<String>>,
    pub(crate) filter: Option<QueryFilter>,
    pub(crate) order: Option<String>,
}

/// Shared shape of `ConversationActivityQueryMetric` and `FlowActivityQueryMetric`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ActivityMetric {
    pub(crate) metric: Option<String>,
    #[allow(dead_code)]
    pub(crate) details: Option<bool>,
}

/// Shared shape of `QueueObservationQueryFilter`, `ConversationActivityQueryFilter` and
/// `FlowActivityQueryFilter`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryFilter {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) clauses: Option<Vec<QueryClause>>,
    pub(crate) predicates: Option<Vec<QueryPredicate>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryClause {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) predicates: Option<Vec<QueryPredicate>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryPredicate {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) dimension: Option<String>,
    pub(crate) operator: Option<String>,
    pub(crate) value: Option<String>,
    #[allow(dead_code)]
    pub(crate) range: Option<serde_json::Value>,
}

// ---------- conversation aggregates ----------

/// `ConversationAggregationQuery` (the fields the simulator reads; others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationAggregationQuery {
    pub(crate) interval: Option<String>,
    pub(crate) granularity: Option<String>,
    #[allow(dead_code)]
    pub(crate) time_zone: Option<String>,
    pub(crate) group_by: Option<Vec<String>>,
    pub(crate) filter: Option<QueryFilter>,
    pub(crate) metrics: Option<Vec<String>>,
    pub(crate) views: Option<Vec<ConversationAggregationView>>,
}

/// `ConversationAggregationView` (required: target, function, name; checked by the endpoint).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConversationAggregationView {
    pub(crate) target: Option<String>,
    pub(crate) function: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) range: Option<AggregationRange>,
}

/// `AggregationRange`: `gte` inclusive, `lt` exclusive; either may be absent (an open side).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct AggregationRange {
    pub(crate) gte: Option<f64>,
    pub(crate) lt: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationAggregateQueryResponse {
    pub(crate) results: Vec<ConversationAggregateDataContainer>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationAggregateDataContainer {
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) data: Vec<StatisticalResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatisticalResponse {
    pub(crate) interval: String,
    pub(crate) metrics: Vec<AggregateMetricData>,
    /// Only when the query has views (left out otherwise, so those answers are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) views: Option<Vec<AggregateViewData>>,
}

/// `AggregateViewData`: `stats` holds `count` only.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AggregateViewData {
    pub(crate) name: String,
    pub(crate) stats: AggregateStats,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AggregateMetricData {
    pub(crate) metric: String,
    pub(crate) stats: AggregateStats,
}

/// The subset of `StatisticalSummary` aggregates use: timers `max,min,count,sum` (ms),
/// counters `count`, `oServiceLevel` and `oCallbackServiceLevel`
/// `ratio,numerator,denominator,target`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct AggregateStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) numerator: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) denominator: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<f64>,
}

// ---------- notifications ----------

/// `Channel`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Channel {
    pub(crate) connect_uri: String,
    pub(crate) id: String,
    pub(crate) expires: String,
}

/// `ChannelEntityListing`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChannelEntityListing {
    pub(crate) entities: Vec<Channel>,
}

/// `ChannelTopic` as a request item: only `id` is read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChannelTopicRequest {
    pub(crate) id: Option<String>,
}

/// `ChannelTopic` as answered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelTopic {
    pub(crate) id: String,
    pub(crate) state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rejection_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) missing_permissions: Option<Vec<String>>,
}

/// `ChannelTopicEntityListing`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChannelTopicEntityListing {
    pub(crate) entities: Vec<ChannelTopic>,
}

/// A WebSocket frame (NET `Extensions/Notifications/NotificationData.cs`): `version` and
/// `metadata` are left out on `channel.metadata` frames, as in the published heartbeat.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NotificationFrame<T> {
    pub(crate) topic_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    pub(crate) event_body: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<NotificationMetadata>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct NotificationMetadata {
    #[serde(rename = "CorrelationId")]
    pub(crate) correlation_id: String,
}

/// Event body of `channel.metadata` (heartbeat, pong).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChannelMetadataBody {
    pub(crate) message: String,
}

/// `SystemMessageSystemMessage` (the fields the simulator sends).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SystemMessage {
    pub(crate) channel_id: String,
    pub(crate) correlation_id: String,
    pub(crate) oauth_client_id: String,
    pub(crate) message: String,
}

/// `StatEventQueueTopicStatsNotification`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatEventQueueTopicStatsNotification {
    pub(crate) group: BTreeMap<String, String>,
    pub(crate) data: Vec<StatEventQueueTopicIntervalMetrics>,
}

/// `StatEventQueueTopicIntervalMetrics`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatEventQueueTopicIntervalMetrics {
    pub(crate) interval: String,
    /// `StatEventQueueTopicMetricStats` has the shape of `ObservationMetricData` (metric,
    /// qualifier, stats as numbers).
    pub(crate) metrics: Vec<ObservationMetricData>,
}
