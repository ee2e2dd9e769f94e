//! Wire types: the simulator's own serde structs, named after the official schema
//! (`openapi-subset.json`), camelCase on the wire, optional fields left out when absent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// ---------- errors ----------

/// `ErrorBody` (REFERENCE 3.3).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    pub message: String,
    pub code: String,
    pub status: u16,
    pub context_id: String,
    pub details: Vec<serde_json::Value>,
    pub errors: Vec<ErrorBody>,
}

/// OAuth error (GO SDK `AuthErrorResponse`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuthErrorBody {
    pub error: String,
    pub description: String,
    pub error_description: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

// ---------- routing queues ----------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueEntityListing {
    pub entities: Vec<Queue>,
    pub page_size: usize,
    pub page_number: usize,
    pub total: usize,
    pub first_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
    pub last_uri: String,
    pub self_uri: String,
    pub page_count: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Queue {
    pub id: String,
    pub name: String,
    pub division: Division,
    pub date_created: String,
    pub member_count: usize,
    pub user_member_count: usize,
    pub joined_member_count: usize,
    pub media_settings: QueueMediaSettings,
    pub self_uri: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Division {
    pub id: String,
    pub name: String,
    pub self_uri: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct QueueMediaSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<MediaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MediaSettings>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaSettings {
    pub alerting_timeout_seconds: i64,
    pub service_level: ServiceLevel,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceLevel {
    pub percentage: f64,
    pub duration_ms: i64,
}

// ---------- observations ----------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueObservationQueryResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_to_organization_mappings: Option<BTreeMap<String, Vec<String>>>,
    pub results: Vec<QueueObservationDataContainer>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueObservationDataContainer {
    pub group: BTreeMap<String, String>,
    pub data: Vec<ObservationMetricData>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ObservationMetricData {
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    pub stats: StatisticalSummary,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatisticalSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calculated_metric_value: Option<i64>,
}

// ---------- activity ----------

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationActivityResponse {
    pub results: Vec<ConversationActivityData>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationActivityData {
    pub group: BTreeMap<String, String>,
    pub data: Vec<ConversationActivityMetricValue>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityMetricValue {
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calculated_metric_value: Option<i64>,
}

// ---------- requests ----------

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueObservationQuery {
    pub filter: Option<QueryFilter>,
    pub metrics: Option<Vec<String>>,
    pub detail_metrics: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityQuery {
    pub metrics: Option<Vec<ActivityMetric>>,
    pub group_by: Option<Vec<String>>,
    pub filter: Option<QueryFilter>,
    pub order: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ActivityMetric {
    pub metric: Option<String>,
    #[allow(dead_code)]
    pub details: Option<bool>,
}

/// Shared shape of `QueueObservationQueryFilter` and `ConversationActivityQueryFilter`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryFilter {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub clauses: Option<Vec<QueryClause>>,
    pub predicates: Option<Vec<QueryPredicate>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryClause {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub predicates: Option<Vec<QueryPredicate>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryPredicate {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub dimension: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    #[allow(dead_code)]
    pub range: Option<serde_json::Value>,
}

// ---------- conversation aggregates ----------

/// `ConversationAggregationQuery` (the fields the simulator reads; others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationAggregationQuery {
    pub interval: Option<String>,
    pub granularity: Option<String>,
    #[allow(dead_code)]
    pub time_zone: Option<String>,
    pub group_by: Option<Vec<String>>,
    pub filter: Option<QueryFilter>,
    pub metrics: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationAggregateQueryResponse {
    pub results: Vec<ConversationAggregateDataContainer>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationAggregateDataContainer {
    pub group: BTreeMap<String, String>,
    pub data: Vec<StatisticalResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatisticalResponse {
    pub interval: String,
    pub metrics: Vec<AggregateMetricData>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AggregateMetricData {
    pub metric: String,
    pub stats: AggregateStats,
}

/// The subset of `StatisticalSummary` aggregates use: timers `max,min,count,sum` (ms),
/// counters `count`, `oServiceLevel` `ratio,numerator,denominator,target`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct AggregateStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numerator: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
}
