//! `POST /api/v2/analytics/conversations/aggregates/query`: the request and its wire types,
//! with the API's names (`openapi-subset.json`), as `genesys::models` has the shared ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::genesys::models::{self, QueryFilter, StatisticalSummary};
use crate::genesys::request::{Endpoint, Permission};

/// REFERENCE.md section 2: the aggregates query needs `analytics:conversationAggregate:view`.
pub(crate) const CONVERSATION_AGGREGATES: Endpoint = Endpoint::api(
    "/api/v2/analytics/conversations/aggregates/query",
    Permission::Needs("analytics:conversationAggregate:view"),
);

// The query is its own body.
crate::post_query!(ConversationAggregationQuery, CONVERSATION_AGGREGATES, ConversationAggregateQueryResponse);

/// `ConversationAggregationQuery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationAggregationQuery {
    /// `"<start>/<end>"`, ISO-8601 instants.
    pub(crate) interval: String,
    /// ISO-8601 duration (`PT5M`); absent means one bucket for the whole interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) granularity: Option<String>,
    pub(crate) group_by: Vec<&'static str>,
    pub(crate) filter: QueryFilter,
    pub(crate) metrics: Vec<&'static str>,
    /// The histograms' buckets (at most 10 a query); absent when none are asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) views: Vec<ConversationAggregationView>,
}

/// `ConversationAggregationView`: a derived metric counting a timer's values in a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ConversationAggregationView {
    pub(crate) target: &'static str,
    /// Always `rangeBound`, the one function the API documents.
    pub(crate) function: &'static str,
    pub(crate) name: String,
    pub(crate) range: AggregationRange,
}

/// `AggregationRange`: `gte <= value < lt`, an absent side open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AggregationRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lt: Option<f64>,
}

/// `ConversationAggregateQueryResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConversationAggregateQueryResponse {
    #[serde(default)]
    pub(crate) results: Vec<ConversationAggregateDataContainer>,
}

/// `ConversationAggregateDataContainer`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConversationAggregateDataContainer {
    #[serde(default, deserialize_with = "models::string_map")]
    pub(crate) group: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) data: Vec<StatisticalResponse>,
}

/// `StatisticalResponse`: one granularity bucket.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StatisticalResponse {
    #[serde(default)]
    pub(crate) interval: String,
    #[serde(default)]
    pub(crate) metrics: Vec<AggregateMetricData>,
    /// The query's views that Genesys answered for this bucket (a missing one counted 0).
    #[serde(default)]
    pub(crate) views: Vec<AggregateViewData>,
}

/// `AggregateViewData`: a view's count in one bucket.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AggregateViewData {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) stats: StatisticalSummary,
}

/// `AggregateMetricData`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AggregateMetricData {
    #[serde(default)]
    pub(crate) metric: String,
    #[serde(default)]
    pub(crate) stats: StatisticalSummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_aggregates_example_parses() {
        // Verbatim from Genesys' analytics-conversation-aggregate-query tutorial.
        let text = include_str!("../../../tests/fixtures/aggregates-query.response.tutorial.json");
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
    fn its_endpoint_names_its_permission() {
        crate::genesys::request::assert_permission_named(&CONVERSATION_AGGREGATES);
    }
}
