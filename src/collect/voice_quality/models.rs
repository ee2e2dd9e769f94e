//! `POST /api/v2/analytics/conversations/details/query` (REFERENCE 2.4): the request the
//! voice quality collector sends (`ConversationQuery`) and the part of the answer
//! (`AnalyticsConversationQueryResponse`) it reads, with the official models' names.

use serde::{Deserialize, Serialize};

use crate::genesys::request::{Endpoint, Permission};

/// The details query; REFERENCE 2.4 lists `analytics:conversationDetail:view` (or the agent
/// variant, which sees only the agent's own conversations: not what an org-wide MOS needs).
pub(crate) const DETAILS_QUERY: Endpoint = Endpoint::api(
    "/api/v2/analytics/conversations/details/query",
    Permission::Needs("analytics:conversationDetail:view"),
);

/// `ConversationQuery`: ended conversations with a MOS whose start lies on a day the interval
/// touches, newest end first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationQuery {
    pub(crate) interval: String,
    pub(crate) conversation_filters: Vec<ConversationDetailQueryFilter>,
    pub(crate) order: &'static str,
    pub(crate) order_by: &'static str,
    pub(crate) paging: PagingSpec,
}

/// `ConversationDetailQueryFilter` (`type` and|or, `predicates`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationDetailQueryFilter {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) predicates: Vec<ConversationDetailQueryPredicate>,
}

/// `ConversationDetailQueryPredicate`: a dimension that must exist.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationDetailQueryPredicate {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) dimension: &'static str,
    pub(crate) operator: &'static str,
}

/// `PagingSpec` (both required): `pageNumber` from 1.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PagingSpec {
    pub(crate) page_size: u32,
    pub(crate) page_number: u32,
}

impl ConversationQuery {
    /// One page of the ended conversations with a MOS in `interval`, newest end first.
    #[must_use]
    pub(crate) fn ended_with_mos(interval: String, page_size: u32, page_number: u32) -> Self {
        let exists = |dimension| ConversationDetailQueryPredicate {
            kind: "dimension",
            dimension,
            operator: "exists",
        };
        ConversationQuery {
            interval,
            conversation_filters: vec![ConversationDetailQueryFilter {
                kind: "and",
                predicates: vec![
                    exists("conversationEnd"),
                    exists("mediaStatsMinConversationMos"),
                ],
            }],
            order: "desc",
            order_by: "conversationEnd",
            paging: PagingSpec {
                page_size,
                page_number,
            },
        }
    }
}

crate::post_query!(ConversationQuery, DETAILS_QUERY, ConversationQueryResponse);

/// `AnalyticsConversationQueryResponse`: `conversations` is absent past the last page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationQueryResponse {
    #[serde(default)]
    pub(crate) conversations: Option<Vec<DetailConversation>>,
}

/// `AnalyticsConversationWithoutAttributes`, the fields read. Everything is optional: the
/// collector, not serde, decides what a conversation without them is (skipped, counted).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailConversation {
    #[serde(default)]
    pub(crate) conversation_id: Option<String>,
    #[serde(default)]
    pub(crate) conversation_end: Option<String>,
    #[serde(default)]
    pub(crate) media_stats_min_conversation_mos: Option<f64>,
    #[serde(default)]
    pub(crate) participants: Option<Vec<DetailParticipant>>,
}

/// `AnalyticsParticipantWithoutAttributes`: its purpose (`acd` for a queue) and sessions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailParticipant {
    #[serde(default)]
    pub(crate) purpose: Option<String>,
    #[serde(default)]
    pub(crate) sessions: Option<Vec<DetailSession>>,
}

/// `AnalyticsSession`: its media type and segments.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailSession {
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    #[serde(default)]
    pub(crate) segments: Option<Vec<DetailSegment>>,
}

/// `AnalyticsConversationSegment`: where a queue shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailSegment {
    #[serde(default)]
    pub(crate) segment_start: Option<String>,
    #[serde(default)]
    pub(crate) queue_id: Option<String>,
}
