//! A queue's observations as Genesys reports them, one row per (media type, metric,
//! qualifier), and the live state derived from them. Polls and pushed events both land here:
//! a poll replaces a queue's rows, an event replaces exactly the rows it carries, and the
//! series come from one derivation either way.

use std::collections::{BTreeMap, BTreeSet};

use super::{count_of, longest_wait_seconds, MediaLive, QueueLive, ROUTING_STATUSES};
use crate::genesys::models::{QueueObservationDataContainer, QueueStatsEvent};

/// Which row: `media` for conversation metrics (groups `{queueId, mediaType}`), none for the
/// agent metrics (group `{queueId}`); names as Genesys spells them, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub media: Option<String>,
    pub metric: String,
    pub qualifier: Option<String>,
}

/// The statistics of one row that the live families read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub count: Option<i64>,
    pub calculated_metric_value: Option<i64>,
}

/// One queue's rows.
pub type Rows = BTreeMap<Key, Stat>;

fn key(media: Option<&String>, metric: &str, qualifier: Option<&String>) -> Key {
    Key {
        media: media.map(|m| m.to_ascii_lowercase()),
        metric: metric.to_string(),
        qualifier: qualifier.map(|q| q.to_ascii_lowercase()),
    }
}

/// Adds one polled result container to its queue's rows. A row that comes twice (never seen,
/// but nothing forbids it) adds its count, as the families did before rows existed.
pub fn add_polled(rows: &mut Rows, container: &QueueObservationDataContainer) {
    let media = container.group.get("mediaType");
    for d in &container.data {
        let stat = rows
            .entry(key(media, &d.metric, d.qualifier.as_ref()))
            .or_default();
        if let Some(c) = d.stats.count {
            stat.count = Some(stat.count.unwrap_or(0).saturating_add(c));
        }
        if let Some(v) = d.stats.calculated_metric_value {
            // Two values for one row: keep the oldest timestamp / longest duration.
            stat.calculated_metric_value = Some(match stat.calculated_metric_value {
                Some(old) if older(old, v) => old,
                _ => v,
            });
        }
    }
}

/// Which of two `oLongestWaiting` values means the longer wait.
fn older(a: i64, b: i64) -> bool {
    longest_wait_seconds(a, i64::MAX / 2) >= longest_wait_seconds(b, i64::MAX / 2)
}

/// The rows one pushed event carries, observation metrics only: the event also carries
/// 30-minute aggregates the live families do not read. A metric the event leaves out keeps
/// its row (what an event holds is not documented; reconciliation finds out).
#[must_use]
pub fn pushed(event: &QueueStatsEvent, metrics: &[&str]) -> Vec<(Key, Stat)> {
    let media = event.group.get("mediaType");
    event
        .data
        .iter()
        .flat_map(|d| &d.metrics)
        .filter(|m| metrics.contains(&m.metric.as_str()))
        .map(|m| {
            let stat = Stat {
                count: m.stats.get("count").and_then(|v| whole(*v)),
                calculated_metric_value: m
                    .stats
                    .get("calculatedMetricValue")
                    .and_then(|v| whole(*v)),
            };
            (key(media, &m.metric, m.qualifier.as_ref()), stat)
        })
        .collect()
}

/// How a pushed event's rows are read. Genesys does not document what an event holds, so the
/// live loop keeps both readings and serves the one reconciliation finds closer to the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// The event replaces exactly the rows it carries; the rest keep their values.
    #[default]
    Rows,
    /// The event is its group's whole state (`{queueId}` or `{queueId, mediaType}`): rows of
    /// that group it leaves out are gone, as an absent row of a query answer counts zero.
    Groups,
}

impl Reading {
    pub const ALL: [Reading; 2] = [Reading::Rows, Reading::Groups];

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Reading::Rows => "rows",
            Reading::Groups => "groups",
        }
    }

    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Reading::Rows => 0,
            Reading::Groups => 1,
        }
    }
}

/// Applies the rows an event carries (see [`pushed`]) to a queue's rows, read as `reading`.
pub fn apply(
    rows: &mut Rows,
    event: &QueueStatsEvent,
    carried: &[(Key, Stat)],
    reading: Reading,
    metrics: &[&str],
) {
    if reading == Reading::Groups {
        let media = event.group.get("mediaType").map(|m| m.to_ascii_lowercase());
        rows.retain(|k, _| k.media != media || !metrics.contains(&k.metric.as_str()));
    }
    rows.extend(carried.iter().cloned());
}

/// A JSON number as a whole number, if it is one within range.
fn whole(v: f64) -> Option<i64> {
    // Range-checked first: the cast below cannot truncate or wrap.
    #[allow(clippy::cast_possible_truncation)]
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// The live state of a queue serving `media_types`, from its rows at `now_ms`.
#[must_use]
pub fn derive(rows: &Rows, media_types: &[String], now_ms: i64) -> QueueLive {
    let mut queue = QueueLive {
        media: media_types
            .iter()
            .map(|m| (m.clone(), MediaLive::default()))
            .collect(),
        on_queue_users: 0,
        routing_statuses: ROUTING_STATUSES
            .iter()
            .map(|s| (s.to_string(), 0))
            .collect(),
    };
    for (k, stat) in rows {
        match (k.metric.as_str(), &k.media) {
            ("oOnQueueUsers", _) => queue.on_queue_users += count_of(stat.count),
            ("oUserRoutingStatuses", _) => {
                if let Some(q) = &k.qualifier {
                    *queue.routing_statuses.entry(q.clone()).or_default() += count_of(stat.count);
                }
            }
            ("oLongestWaiting", Some(m)) => {
                if let Some(v) = stat.calculated_metric_value {
                    let entry = queue.media.entry(m.clone()).or_default();
                    entry.longest_waiting_seconds = entry
                        .longest_waiting_seconds
                        .max(longest_wait_seconds(v, now_ms));
                }
            }
            (metric, Some(m)) => {
                let entry = queue.media.entry(m.clone()).or_default();
                entry.conversations.add(metric, stat.count);
            }
            _ => {}
        }
    }
    queue
}

/// True when the rows hold a timestamp whose derived wait grows with time.
#[must_use]
pub fn time_dependent(rows: &Rows) -> bool {
    rows.iter()
        .any(|(k, s)| k.metric == "oLongestWaiting" && s.calculated_metric_value.is_some())
}

/// How many series of two states of one queue differ: the reconciliation's count.
#[must_use]
pub fn differences(a: &QueueLive, b: &QueueLive) -> u64 {
    let mut n = 0;
    let mut count = |x: bool| n += u64::from(x);
    count(a.on_queue_users != b.on_queue_users);
    let statuses: BTreeSet<&String> = a
        .routing_statuses
        .keys()
        .chain(b.routing_statuses.keys())
        .collect();
    for status in statuses {
        count(a.routing_statuses.get(status) != b.routing_statuses.get(status));
    }
    let empty = MediaLive::default();
    let medias: BTreeSet<&String> = a.media.keys().chain(b.media.keys()).collect();
    for m in medias {
        let (x, y) = (
            a.media.get(m).unwrap_or(&empty),
            b.media.get(m).unwrap_or(&empty),
        );
        for ((_, u), (_, v)) in x
            .conversations
            .by_state()
            .iter()
            .zip(y.conversations.by_state().iter())
        {
            count(u != v);
        }
        // Whole seconds: the two states are derived a moment apart.
        count((x.longest_waiting_seconds - y.longest_waiting_seconds).abs() >= 1.0);
    }
    n
}
