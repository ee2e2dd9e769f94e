//! Conversations in Architect flows now (IVR, in-queue, voicemail, bot flows...), org-wide by
//! flow type: `POST /api/v2/analytics/flows/activity/query`, metric `oFlow`, grouped by
//! `flowType`.
//!
//! Opt-in (`--collector.flows`): it needs a permission no other collector does
//! (`analytics:flowObservation:view`), and the endpoint is not in the schemas this exporter was
//! checked against (its shape is the official SDKs', see [`FlowActivityQuery`]). Not keyed by queue:
//! which conversations a flow type counts is Genesys' to say (the API does not document it), and
//! on a sharded org only shard 0 queries and serves it, as `activity` does.
//!
//! Every official flow type (`AnalyticsFlow.flowType`) is written, 0 when idle, so a panel or an
//! alert on one never sees a gap. A value outside that list (a flow type added after it) is kept
//! as its own label value, at most [`MAX_OTHER_FLOW_TYPES`] of them; beyond, or when it is not a
//! plain word, its conversations are counted under `other`, with a warning.

use serde::Serialize;
use std::collections::BTreeMap;

use super::activity::{ActivityQueryMetric, ConversationActivityResponse};
use super::observations::count_of;
use super::{CollectError, Context, Poll, Registration, Snapshot, Started};
use crate::genesys::request::{Endpoint, Permission};
use crate::genesys::GenesysClient;
use crate::metrics::catalog::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};

pub(crate) const REGISTRATION: Registration = Registration {
    name: "flows",
    polls: "poll org-wide conversations in Architect flows",
    default_interval: "15s",
    // Opt-in: this is the help of `--collector.flows`, which turns it on.
    disable: Some("Enable the flows collector: one org-wide query a poll for conversations in Architect flows by flow type (oFlow; needs the analytics:flowObservation:view permission)."),
    opt_in: true,
    org_wide: true,
    requests_per_poll: super::one_query,
    cost_from_polls: false,
    background: false,
    flags: None,
    endpoints: &[FLOW_ACTIVITY],
    start,
    families: FAMILIES,
};

fn start(ctx: Context) -> Started {
    ctx.spawner().spawn(FlowsCollector {
        client: ctx.client,
        folded: Vec::new(),
    })
}

/// The official `AnalyticsFlow.flowType` values (openapi-subset.json), written in lower case.
pub(crate) const FLOW_TYPES: [&str; 20] = [
    "BOT",
    "COMMONMODULE",
    "DIGITALBOT",
    "EMAILSEND",
    "INBOUNDCALL",
    "INBOUNDCHAT",
    "INBOUNDEMAIL",
    "INBOUNDSHORTMESSAGE",
    "INQUEUECALL",
    "INQUEUEEMAIL",
    "INQUEUESHORTMESSAGE",
    "OUTBOUNDCALL",
    "SECURECALL",
    "SPEECH",
    "SURVEYINVITE",
    "VOICE",
    "VOICEMAIL",
    "VOICESURVEY",
    "WORKFLOW",
    "WORKITEM",
];

/// Flow types outside [`FLOW_TYPES`] kept as their own label value; more are summed as `other`.
pub(crate) const MAX_OTHER_FLOW_TYPES: usize = 8;

/// Longest flow type kept as a label value (the official ones have at most 19 characters).
const MAX_FLOW_TYPE_LEN: usize = 40;

/// Where conversations of a value that cannot be a label value of its own are counted.
const OTHER: &str = "other";

/// Where conversations of a result without a `flowType` are counted.
const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowsSnapshot {
    /// Flow type in lower case -> conversations in a flow of that type now.
    pub(crate) by_type: BTreeMap<String, u64>,
}

pub(crate) struct FlowsCollector {
    pub(crate) client: GenesysClient,
    /// The flow types the last answer folded into `other`: a warning when they change, not
    /// every poll.
    pub(crate) folded: Vec<String>,
}

impl Poll for FlowsCollector {
    type Snapshot = FlowsSnapshot;

    async fn poll(&mut self) -> Result<FlowsSnapshot, CollectError> {
        let query = FlowActivityQuery {
            metrics: vec![ActivityQueryMetric { metric: "oFlow" }],
            group_by: vec!["flowType"],
        };
        let (snapshot, mut folded) = build_snapshot(&self.client.send(&query).await?);
        folded.sort_unstable();
        if !folded.is_empty() && folded != self.folded {
            tracing::warn!(
                flow_types = ?folded,
                "flow types that are not plain words, or more new ones than {MAX_OTHER_FLOW_TYPES}, are counted as flow_type=\"{OTHER}\""
            );
        }
        self.folded = folded;
        Ok(snapshot)
    }
}

/// The families this collector writes.
pub(crate) const FAMILIES: &[&Family] = &[&FLOW_CONVERSATIONS];

pub(crate) const FLOW_CONVERSATIONS: Family = Family {
    name: "genesys_flow_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversations in an Architect flow right now, org-wide, by flow type in lower case (oFlow, POST /api/v2/analytics/flows/activity/query grouped by flowType); opt-in collector flows.",
    labels: &["flow_type"],
};

impl Snapshot for FlowsSnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        e.begin(&FLOW_CONVERSATIONS)?;
        for (flow_type, n) in &self.by_type {
            // Exact: counts of conversations stay far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            e.sample(&[&Labels::new().with("flow_type", flow_type)], *n as f64)?;
        }
        Ok(())
    }
}

/// The snapshot of one answer, and the flow types it folded into `other`.
#[must_use]
pub(crate) fn build_snapshot(response: &FlowActivityResponse) -> (FlowsSnapshot, Vec<String>) {
    let mut by_type: BTreeMap<String, u64> = FLOW_TYPES
        .iter()
        .map(|t| (t.to_ascii_lowercase(), 0))
        .collect();
    let mut others = 0;
    let mut folded = Vec::new();
    for result in &response.results {
        // A result without an oFlow row says nothing about flows (a newer Genesys may add
        // other metrics): no series for its group.
        let mut rows = result
            .data
            .iter()
            .filter(|d| d.metric == "oFlow")
            .peekable();
        if rows.peek().is_none() {
            continue;
        }
        let count: u64 = rows.map(|d| count_of(d.count)).sum();
        let label = match result.group.get("flowType") {
            None => UNKNOWN.to_string(),
            Some(value) => {
                let lower = value.to_ascii_lowercase();
                let known = by_type.contains_key(&lower);
                let plain = !lower.is_empty()
                    && lower.len() <= MAX_FLOW_TYPE_LEN
                    && lower
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if known || (plain && others < MAX_OTHER_FLOW_TYPES) {
                    others += usize::from(!known);
                    lower
                } else {
                    folded.push(value.clone());
                    OTHER.to_string()
                }
            }
        };
        *by_type.entry(label).or_default() += count;
    }
    (FlowsSnapshot { by_type }, folded)
}

// ---- POST /api/v2/analytics/flows/activity/query --------------------------------------------
// Not in openapi-subset.json: the official SDKs' models (platform-client-sdk-dotnet
// `FlowActivityQuery`, `FlowActivityQueryMetric`, `FlowActivityResponse`, `FlowActivityData`,
// `FlowActivityMetricValue`) have the same shape as the conversation activity ones (`activity`), with
// the one metric `oFlow` and the dimension `flowType` among its 23 group-by values.

/// `POST /api/v2/analytics/flows/activity/query` (README: `analytics:flowObservation:view`).
pub(crate) const FLOW_ACTIVITY: Endpoint = Endpoint::api(
    "/api/v2/analytics/flows/activity/query",
    Permission::Needs("analytics:flowObservation:view"),
);

/// `FlowActivityQuery` (`metrics`: `FlowActivityQueryMetric`, `groupBy`): the conversation
/// activity query's shape, its own type because it is another request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FlowActivityQuery {
    pub(crate) metrics: Vec<ActivityQueryMetric>,
    pub(crate) group_by: Vec<&'static str>,
}

/// `FlowActivityResponse` (`results`: `FlowActivityData` {`group`, `data`:
/// `FlowActivityMetricValue` {`metric`, `count`}}).
pub(crate) type FlowActivityResponse = ConversationActivityResponse;

// The query is its own body.
crate::post_query!(FlowActivityQuery, FLOW_ACTIVITY, FlowActivityResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    fn answer(results: serde_json::Value) -> FlowActivityResponse {
        serde_json::from_value(serde_json::json!({ "results": results })).unwrap()
    }

    fn body(snap: &FlowsSnapshot) -> String {
        let mut e = Exposition::new(Format::Text, None, Vec::new(), 0);
        snap.write(&mut e).unwrap();
        String::from_utf8(e.finish().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn counts_by_flow_type_in_lower_case_with_every_official_type_at_zero() {
        let (snap, folded) = build_snapshot(&answer(serde_json::json!([
            {"group": {"flowType": "INBOUNDCALL"}, "data": [{"metric": "oFlow", "count": 12}]},
            {"group": {"flowType": "INQUEUECALL"}, "data": [{"metric": "oFlow", "count": 30}]}
        ])));
        assert!(folded.is_empty());
        assert_eq!(snap.by_type["inboundcall"], 12);
        assert_eq!(snap.by_type["inqueuecall"], 30);
        assert_eq!(snap.by_type["voicemail"], 0);
        assert_eq!(snap.by_type.len(), FLOW_TYPES.len());
        let text = body(&snap);
        assert!(text.contains("genesys_flow_conversations{flow_type=\"inboundcall\"} 12.0\n"));
        assert!(text.contains("genesys_flow_conversations{flow_type=\"workitem\"} 0.0\n"));
    }

    #[test]
    fn other_metrics_missing_and_negative_counts_count_nothing() {
        let (snap, _) = build_snapshot(&answer(serde_json::json!([
            {"group": {"flowType": "BOT"}, "data": [
                {"metric": "oWaiting", "count": 5},
                {"metric": "oFlow"},
                {"metric": "oFlow", "count": -3},
                {"metric": "oFlow", "count": 2}
            ]},
            {"group": {"queueId": null, "mediaType": "hologram"}, "data": [
                {"metric": "oBrandNewMetric", "count": 5}
            ]}
        ])));
        assert_eq!(snap.by_type["bot"], 2);
        assert_eq!(
            snap.by_type.len(),
            FLOW_TYPES.len(),
            "a result without oFlow adds no series: {snap:?}"
        );
    }

    #[test]
    fn new_flow_types_are_kept_but_bounded_and_odd_ones_fold_into_other() {
        let mut rows: Vec<serde_json::Value> = (0..MAX_OTHER_FLOW_TYPES + 3)
            .map(|i| serde_json::json!({"group": {"flowType": format!("NEWTYPE{i}")}, "data": [{"metric": "oFlow", "count": 1}]}))
            .collect();
        rows.push(serde_json::json!({"group": {"flowType": "in\"jected\n"}, "data": [{"metric": "oFlow", "count": 4}]}));
        rows.push(serde_json::json!({"group": {}, "data": [{"metric": "oFlow", "count": 6}]}));
        let (snap, folded) = build_snapshot(&answer(serde_json::Value::Array(rows)));
        assert_eq!(snap.by_type["newtype0"], 1);
        assert_eq!(
            snap.by_type["other"],
            3 + 4,
            "three new types past the bound, and the one that is no plain word"
        );
        assert_eq!(folded.len(), 4);
        assert_eq!(snap.by_type["unknown"], 6, "a result without flowType");
        assert_eq!(
            snap.by_type.len(),
            FLOW_TYPES.len() + MAX_OTHER_FLOW_TYPES + 2
        );
    }

    #[test]
    fn its_endpoint_names_its_permission() {
        crate::genesys::request::assert_permission_named(&FLOW_ACTIVITY);
    }
}
