//! Ground truth: the live state at the current sim instant, for test assertions.

use std::collections::BTreeMap;

use super::flows;
use super::media::Media;
use super::model::{Model, ROUTING_STATUSES};
use super::names::{ORG_PRESENCES, SYSTEM_PRESENCES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub at_ms: i64,
    /// Live queues sorted by name.
    pub queues: Vec<TruthQueue>,
    /// Official flow type (`INBOUNDCALL`, `INQUEUECALL`, `INQUEUEEMAIL`,
    /// `INQUEUESHORTMESSAGE`, `VOICEMAIL`) -> conversations in a flow of that type now,
    /// org-wide: the `oFlow` counts of `POST /api/v2/analytics/flows/activity/query` grouped
    /// by `flowType`, from the same code. Every modelled flow type present (0 included);
    /// which conversations count is described in the simulator's `flows` module.
    pub flows: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthQueue {
    pub id: String,
    pub name: String,
    pub division_id: String,
    pub division_name: String,
    /// Analytics vocabulary: voice, chat, email, callback, message.
    pub media_types: Vec<String>,
    /// Media type -> count (every served media type present, 0 included).
    pub waiting: BTreeMap<String, u64>,
    pub interacting: BTreeMap<String, u64>,
    pub alerting: BTreeMap<String, u64>,
    /// Media type -> epoch ms when the oldest waiting conversation entered the queue
    /// (only media types with waiting > 0).
    pub longest_waiting_since_ms: BTreeMap<String, i64>,
    /// Media type -> epoch ms when the longest interacting conversation was answered
    /// (only media types with interacting > 0).
    pub longest_interacting_since_ms: BTreeMap<String, i64>,
    pub on_queue_users: u64,
    pub off_queue_users: u64,
    pub active_users: u64,
    pub member_users: u64,
    /// Routing status -> count, all five statuses present (0 included).
    pub routing_statuses: BTreeMap<String, u64>,
    /// System presence in lower case (`on_queue`, `available`, `break`, `meal`, `training`,
    /// `offline`) -> agents in it, summed over the organization presences that map to it
    /// (the `oUserPresences` rows rolled up through `systemToOrganizationMappings`); every
    /// system presence of the org present (0 included). Sums to `member_users`.
    pub presences: BTreeMap<String, u64>,
}

/// Org-wide sums per media type (what activity grouped by mediaType reports).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TruthTotals {
    pub waiting: BTreeMap<String, u64>,
    pub interacting: BTreeMap<String, u64>,
    pub alerting: BTreeMap<String, u64>,
    pub longest_waiting_since_ms: BTreeMap<String, i64>,
}

impl Truth {
    #[must_use]
    pub fn queue_by_name(&self, name: &str) -> Option<&TruthQueue> {
        self.queues.iter().find(|q| q.name == name)
    }

    #[must_use]
    pub fn queue(&self, id: &str) -> Option<&TruthQueue> {
        self.queues.iter().find(|q| q.id == id)
    }

    /// Sums over all queues per media type (0 entries are kept).
    #[must_use]
    pub fn totals(&self) -> TruthTotals {
        let mut t = TruthTotals::default();
        for q in &self.queues {
            for (m, v) in &q.waiting {
                *t.waiting.entry(m.clone()).or_default() += v;
            }
            for (m, v) in &q.interacting {
                *t.interacting.entry(m.clone()).or_default() += v;
            }
            for (m, v) in &q.alerting {
                *t.alerting.entry(m.clone()).or_default() += v;
            }
            for (m, v) in &q.longest_waiting_since_ms {
                let e = t.longest_waiting_since_ms.entry(m.clone()).or_insert(*v);
                *e = (*e).min(*v);
            }
        }
        t
    }
}

/// Per-organization-presence counts rolled up by system presence, keys in lower case.
fn system_presences(per_org: &[u64; ORG_PRESENCES.len()]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = SYSTEM_PRESENCES
        .iter()
        .map(|sys| (sys.to_ascii_lowercase(), 0))
        .collect();
    for (p, n) in ORG_PRESENCES.iter().zip(per_org) {
        *out.entry(p.system.to_ascii_lowercase()).or_default() += n;
    }
    out
}

pub(crate) fn build(model: &Model) -> Truth {
    let queues = model
        .sorted
        .iter()
        .map(|&qi| {
            let q = &model.queues[qi];
            let s = model.snapshot(qi);
            let per = |arr: &[u64; 5]| -> BTreeMap<String, u64> {
                q.media
                    .iter()
                    .map(|m| (m.analytics().to_string(), arr[m.idx()]))
                    .collect()
            };
            let since = |arr: &[Option<i64>; 5]| -> BTreeMap<String, i64> {
                Media::ALL
                    .iter()
                    .filter_map(|m| arr[m.idx()].map(|v| (m.analytics().to_string(), v)))
                    .collect()
            };
            TruthQueue {
                id: q.id.clone(),
                name: q.name.clone(),
                division_id: model.divisions[q.division].0.clone(),
                division_name: model.divisions[q.division].1.clone(),
                media_types: q.media.iter().map(|m| m.analytics().to_string()).collect(),
                waiting: per(&s.waiting),
                interacting: per(&s.interacting),
                alerting: per(&s.alerting),
                longest_waiting_since_ms: since(&s.longest_waiting),
                longest_interacting_since_ms: since(&s.longest_interacting),
                on_queue_users: s.on_queue(),
                off_queue_users: s.statuses[0],
                active_users: s.active_users(),
                member_users: s.members,
                routing_statuses: ROUTING_STATUSES
                    .iter()
                    .zip(s.statuses)
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                presences: system_presences(&s.presences),
            }
        })
        .collect();
    Truth {
        at_ms: model.now_ms,
        queues,
        flows: flows::in_flows(model).by_name(),
    }
}
