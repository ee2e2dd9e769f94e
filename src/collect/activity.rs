//! Org-wide live conversations by media type:
//! `POST /api/v2/analytics/conversations/activity/query` grouped by `mediaType`.
//!
//! Not keyed by queue: registered `org_wide`, so when an org is sharded (`--total-shards`)
//! only shard 0 queries and serves it (a sum over shards would count each conversation once
//! per shard).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::observations::{ConversationCounts, StateLabels};
use super::{CollectError, Context, Poll, Registration, Snapshot, Started};
use crate::genesys::models;
use crate::genesys::request::{Endpoint, Permission};
use crate::genesys::GenesysClient;
use crate::metrics::catalog::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};

pub(crate) const REGISTRATION: Registration = Registration {
    name: "activity",
    polls: "poll org-wide conversation activity",
    default_interval: "15s",
    disable: Some("Disable the org-wide conversation activity collector (for orgs where that API is missing)."),
    opt_in: false,
    org_wide: true,
    requests_per_poll: super::one_query,
    cost_from_polls: false,
    background: false,
    flags: None,
    endpoints: &[CONVERSATION_ACTIVITY],
    start,
    families: FAMILIES,
};

fn start(ctx: Context) -> Started {
    ctx.spawner()
        .spawn(ActivityCollector { client: ctx.client })
}

/// Media types always exported (as 0 when idle), so dashboards and alerts never see gaps.
pub(crate) const KNOWN_MEDIA_TYPES: [&str; 5] = ["callback", "chat", "email", "message", "voice"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivitySnapshot {
    pub(crate) by_media: BTreeMap<String, ConversationCounts>,
}

pub(crate) struct ActivityCollector {
    pub(crate) client: GenesysClient,
}

impl Poll for ActivityCollector {
    type Snapshot = ActivitySnapshot;

    async fn poll(&mut self) -> Result<ActivitySnapshot, CollectError> {
        let query = ConversationActivityQuery {
            metrics: ["oWaiting", "oInteracting", "oAlerting"]
                .map(|metric| ActivityQueryMetric { metric })
                .to_vec(),
            group_by: vec!["mediaType"],
        };
        Ok(build_snapshot(&self.client.send(&query).await?))
    }
}

/// The families this collector writes.
pub(crate) const FAMILIES: &[&Family] = &[&CONVERSATIONS];

pub(crate) const CONVERSATIONS: Family = Family {
    name: "genesys_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversations org-wide right now by media type and state (conversation activity query).",
    labels: &["media_type", "state"],
};

impl Snapshot for ActivitySnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        let snap = self;
        let states = StateLabels::new();
        e.begin(&CONVERSATIONS)?;
        for (media, counts) in &snap.by_media {
            states.write(
                e,
                [&Labels::new(), &Labels::new().with("media_type", media)],
                counts,
            )?;
        }
        Ok(())
    }
}

#[must_use]
pub(crate) fn build_snapshot(response: &ConversationActivityResponse) -> ActivitySnapshot {
    let mut by_media: BTreeMap<String, ConversationCounts> = KNOWN_MEDIA_TYPES
        .iter()
        .map(|m| (m.to_string(), ConversationCounts::default()))
        .collect();
    for result in &response.results {
        let Some(media) = result.group.get("mediaType") else {
            continue;
        };
        let counts = by_media.entry(media.to_ascii_lowercase()).or_default();
        for d in &result.data {
            counts.add(&d.metric, d.count);
        }
    }
    ActivitySnapshot { by_media }
}

// ---- POST /api/v2/analytics/conversations/activity/query ------------------------------------

/// `POST /api/v2/analytics/conversations/activity/query`; the same permission as the
/// observations (REFERENCE.md section 2).
pub(crate) const CONVERSATION_ACTIVITY: Endpoint = Endpoint::api(
    "/api/v2/analytics/conversations/activity/query",
    Permission::Needs("analytics:queueObservation:view"),
);

// The query is its own body.
crate::post_query!(ConversationActivityQuery, CONVERSATION_ACTIVITY, ConversationActivityResponse);

/// `ConversationActivityQuery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityQuery {
    pub(crate) metrics: Vec<ActivityQueryMetric>,
    pub(crate) group_by: Vec<&'static str>,
}

/// `ConversationActivityQueryMetric`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ActivityQueryMetric {
    pub(crate) metric: &'static str,
}

/// `ConversationActivityResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityResponse {
    #[serde(default)]
    pub(crate) results: Vec<ConversationActivityData>,
}

/// `ConversationActivityData`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConversationActivityData {
    #[serde(default, deserialize_with = "models::string_map")]
    pub(crate) group: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) data: Vec<ConversationActivityMetricValue>,
}

/// `ConversationActivityMetricValue`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationActivityMetricValue {
    #[serde(default)]
    pub(crate) metric: String,
    #[serde(default)]
    pub(crate) count: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_media_type_with_idle_media_at_zero() {
        let response: ConversationActivityResponse = serde_json::from_value(serde_json::json!({
            "results": [
                {"group": {"mediaType": "voice"},
                 "data": [{"metric": "oWaiting", "count": 3}, {"metric": "oInteracting", "count": 7}]},
                {"group": {"mediaType": "video"}, "data": [{"metric": "oAlerting", "count": 1}]}
            ]
        }))
        .unwrap();
        let snap = build_snapshot(&response);
        assert_eq!(
            snap.by_media["voice"],
            ConversationCounts {
                waiting: 3,
                interacting: 7,
                alerting: 0
            }
        );
        assert_eq!(snap.by_media["video"].alerting, 1);
        assert_eq!(snap.by_media["chat"], ConversationCounts::default());
    }

    #[test]
    fn its_endpoint_names_its_permission() {
        crate::genesys::request::assert_permission_named(&CONVERSATION_ACTIVITY);
    }
}
