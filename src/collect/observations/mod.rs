//! Live per-queue state: `POST /api/v2/analytics/queues/observations/query`, at most
//! [`MAX_QUEUES_PER_QUERY`] queues per request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::queues::QueueSet;
use super::{
    batches, CollectError, Context, Poll, Published, Registration, Slot, Snapshot, Started,
    MAX_QUEUES_PER_QUERY,
};
use crate::clock::SharedClock;
use crate::genesys::models::{QueryFilter, QueueObservationQuery, QueueObservationQueryResponse};
use crate::genesys::GenesysClient;
use crate::metrics::catalog;
use crate::metrics::exposition::{Exposition, Labels};
use crate::metrics::families::Memo;

pub(crate) const REGISTRATION: Registration = Registration {
    name: "observations",
    polls: "poll queue observations (live queue state)",
    default_interval: "15s",
    disable: None,
    requests_per_poll: batches,
    start,
};

fn start(ctx: Context) -> Started {
    Started::spawn(
        Slot::new(REGISTRATION.name, ctx.interval),
        ObservationsCollector {
            client: ctx.client,
            queues: ctx.queues.subscribe(),
            first_queues_wait: ctx.interval,
            clock: ctx.clock,
        },
    )
}

pub(crate) const METRICS: [&str; 6] = [
    "oWaiting",
    "oInteracting",
    "oAlerting",
    "oOnQueueUsers",
    "oUserRoutingStatuses",
    "oLongestWaiting",
];

/// The routing statuses Genesys defines, as the `routing_status` label spells them.
pub const ROUTING_STATUSES: [&str; 5] = [
    "idle",
    "interacting",
    "communicating",
    "not_responding",
    "off_queue",
];

/// Values above this are epoch-millisecond timestamps, below it durations in ms (REFERENCE.md
/// 2.2 reports `oLongestWaiting` as the timestamp of the oldest waiting conversation).
const TIMESTAMP_THRESHOLD_MS: i64 = 1_000_000_000_000;

/// A count Genesys reported: missing or negative counts nothing.
fn count_of(count: Option<i64>) -> u64 {
    count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationCounts {
    pub waiting: u64,
    pub interacting: u64,
    pub alerting: u64,
}

impl ConversationCounts {
    /// Adds a count for one of the conversation observation metrics; false for other metrics.
    pub fn add(&mut self, metric: &str, count: Option<i64>) -> bool {
        let slot = match metric {
            "oWaiting" => &mut self.waiting,
            "oInteracting" => &mut self.interacting,
            "oAlerting" => &mut self.alerting,
            _ => return false,
        };
        *slot += count_of(count);
        true
    }

    /// `(state label, value)` in a fixed order.
    #[must_use]
    pub fn by_state(&self) -> [(&'static str, u64); 3] {
        [
            ("waiting", self.waiting),
            ("interacting", self.interacting),
            ("alerting", self.alerting),
        ]
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaLive {
    pub conversations: ConversationCounts,
    pub longest_waiting_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueLive {
    /// Every media type the queue serves, plus any Genesys reported for it.
    pub media: BTreeMap<String, MediaLive>,
    pub on_queue_users: u64,
    /// Every status in [`ROUTING_STATUSES`], plus any new one Genesys reports.
    pub routing_statuses: BTreeMap<String, u64>,
}

/// One poll's result: the queues polled and, in the same order, their live state.
#[derive(Debug, Clone)]
pub struct ObservationsSnapshot {
    pub queues: Arc<QueueSet>,
    pub live: Vec<QueueLive>,
}

pub(crate) struct ObservationsCollector {
    pub client: GenesysClient,
    pub queues: watch::Receiver<Published<QueueSet>>,
    /// How long the first poll waits for queue discovery before reporting failure.
    pub first_queues_wait: Duration,
    pub clock: SharedClock,
}

impl Poll for ObservationsCollector {
    type Snapshot = ObservationsSnapshot;

    async fn poll(&mut self) -> Result<ObservationsSnapshot, CollectError> {
        let queues = super::wait_for_queues(&mut self.queues, self.first_queues_wait).await?;
        let mut responses = Vec::new();
        for batch in queues.queues.chunks(MAX_QUEUES_PER_QUERY) {
            let query = QueueObservationQuery {
                filter: QueryFilter::any_queue(batch.iter().map(|q| q.id.as_str())),
                metrics: METRICS.to_vec(),
            };
            responses.push(self.client.queue_observations(&query).await?);
        }
        Ok(build_snapshot(queues, &responses, self.clock.now_ms()))
    }
}

/// Seconds waited so far, from `oLongestWaiting.stats.calculatedMetricValue`.
#[must_use]
pub(crate) fn longest_wait_seconds(value: i64, now_ms: i64) -> f64 {
    let ms = if value > TIMESTAMP_THRESHOLD_MS {
        now_ms - value
    } else {
        value
    };
    ms.max(0) as f64 / 1000.0
}

impl Snapshot for ObservationsSnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        let snap = self;
        let queues = snap.queues.labels();
        let rows = || queues.iter().zip(&snap.live);
        let mut media = Memo::new("media_type");
        let states = StateLabels::new();

        e.begin(&catalog::QUEUE_CONVERSATIONS)?;
        for (q, live) in rows() {
            for (m, counts) in &live.media {
                states.write(e, [q, media.get(m)], &counts.conversations)?;
            }
        }
        e.begin(&catalog::QUEUE_LONGEST_WAITING_SECONDS)?;
        for (q, live) in rows() {
            for (m, counts) in &live.media {
                e.sample(&[q, media.get(m)], counts.longest_waiting_seconds)?;
            }
        }
        e.begin(&catalog::QUEUE_ON_QUEUE_USERS)?;
        for (q, live) in rows() {
            e.sample(&[q], live.on_queue_users as f64)?;
        }
        let mut statuses = Memo::new("routing_status");
        e.begin(&catalog::QUEUE_USERS)?;
        for (q, live) in rows() {
            for (status, v) in &live.routing_statuses {
                e.sample(&[q, statuses.get(status)], *v as f64)?;
            }
        }
        Ok(())
    }
}

/// The `state` label of conversation counts, in [`ConversationCounts::by_state`]'s order.
pub(crate) struct StateLabels([Labels; 3]);

impl StateLabels {
    pub(crate) fn new() -> StateLabels {
        StateLabels(
            ConversationCounts::default()
                .by_state()
                .map(|(state, _)| Labels::new().with("state", state)),
        )
    }

    /// One sample per state, after the given labels (an empty set writes nothing).
    pub(crate) fn write(
        &self,
        e: &mut Exposition,
        labels: [&Labels; 2],
        counts: &ConversationCounts,
    ) -> std::io::Result<()> {
        for ((_, v), state) in counts.by_state().iter().zip(&self.0) {
            e.sample(&[labels[0], labels[1], state], *v as f64)?;
        }
        Ok(())
    }
}

#[must_use]
pub(crate) fn build_snapshot(
    queues: Arc<QueueSet>,
    responses: &[QueueObservationQueryResponse],
    now_ms: i64,
) -> ObservationsSnapshot {
    let mut live: Vec<QueueLive> = queues
        .queues
        .iter()
        .map(|q| QueueLive {
            media: q
                .media_types
                .iter()
                .map(|m| (m.clone(), MediaLive::default()))
                .collect(),
            on_queue_users: 0,
            routing_statuses: ROUTING_STATUSES
                .iter()
                .map(|s| (s.to_string(), 0))
                .collect(),
        })
        .collect();
    let index: HashMap<&str, usize> = queues
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();

    for container in responses.iter().flat_map(|r| &r.results) {
        // Results for queues we did not ask about (or that vanished) are ignored.
        let Some(&i) = container
            .group
            .get("queueId")
            .and_then(|id| index.get(id.as_str()))
        else {
            continue;
        };
        let queue = &mut live[i];
        let media = container
            .group
            .get("mediaType")
            .map(|m| m.to_ascii_lowercase());
        for d in &container.data {
            match (d.metric.as_str(), &media) {
                ("oOnQueueUsers", _) => queue.on_queue_users += count_of(d.stats.count),
                ("oUserRoutingStatuses", _) => {
                    if let Some(q) = &d.qualifier {
                        *queue
                            .routing_statuses
                            .entry(q.to_ascii_lowercase())
                            .or_default() += count_of(d.stats.count);
                    }
                }
                ("oLongestWaiting", Some(m)) => {
                    if let Some(v) = d.stats.calculated_metric_value {
                        let entry = queue.media.entry(m.clone()).or_default();
                        entry.longest_waiting_seconds = entry
                            .longest_waiting_seconds
                            .max(longest_wait_seconds(v, now_ms));
                    }
                }
                (metric, Some(m)) => {
                    let entry = queue.media.entry(m.clone()).or_default();
                    entry.conversations.add(metric, d.stats.count);
                }
                _ => {}
            }
        }
    }
    ObservationsSnapshot { queues, live }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::queues::WatchedQueue;

    fn set() -> Arc<QueueSet> {
        Arc::new(QueueSet {
            queues: vec![WatchedQueue {
                id: "1d1af111-b11c-11f1-b111-1cf1c11111fc".into(),
                name: "Support".into(),
                division: "Home".into(),
                media_types: vec!["voice".into(), "video".into()],
            }],
        })
    }

    #[test]
    fn the_official_example_becomes_per_queue_state() {
        let text = include_str!("../../tests/fixtures/queue-observations.response.tutorial.json");
        let response: QueueObservationQueryResponse = serde_json::from_str(text).unwrap();
        let snap = build_snapshot(set(), &[response], 0);
        let q = &snap.live[0];
        assert_eq!(q.routing_statuses["interacting"], 2);
        assert_eq!(q.routing_statuses["idle"], 1);
        assert_eq!(q.routing_statuses["off_queue"], 3);
        assert_eq!(
            q.routing_statuses["not_responding"], 0,
            "known statuses default to 0"
        );
        assert_eq!(q.media["voice"].conversations.interacting, 1);
        assert_eq!(q.media["chat"].conversations.interacting, 1);
        assert_eq!(
            q.media["email"].conversations,
            ConversationCounts::default()
        );
        assert!(
            q.media.contains_key("video"),
            "served media types are present at 0"
        );
    }

    #[test]
    fn longest_waiting_reads_timestamps_and_durations() {
        let now = 1_764_000_000_000;
        assert_eq!(longest_wait_seconds(now - 42_500, now), 42.5);
        assert_eq!(longest_wait_seconds(90_000, now), 90.0);
        assert_eq!(
            longest_wait_seconds(now + 5_000, now),
            0.0,
            "clock skew never goes negative"
        );
    }

    #[test]
    fn results_for_unknown_queues_and_odd_values_are_ignored() {
        let response: QueueObservationQueryResponse = serde_json::from_value(serde_json::json!({
            "results": [
                {"group": {"queueId": "other", "mediaType": "voice"},
                 "data": [{"metric": "oWaiting", "stats": {"count": 9}}]},
                {"group": {"queueId": "1d1af111-b11c-11f1-b111-1cf1c11111fc", "mediaType": "VOICE"},
                 "data": [{"metric": "oWaiting", "stats": {"count": -3}},
                          {"metric": "oSomethingNew", "stats": {"count": 4}},
                          {"metric": "oAlerting", "stats": {"count": 2}, "extra": true}]}
            ]
        }))
        .unwrap();
        let snap = build_snapshot(set(), &[response], 0);
        let voice = &snap.live[0].media["voice"].conversations;
        assert_eq!((voice.waiting, voice.alerting), (0, 2));
    }
}
