//! Queue discovery: `GET /api/v2/routing/queues`, paged to the last page, filtered by name.

use std::collections::BTreeMap;

use regex::Regex;

use super::{batches, CollectError, Context, Poll, Registration, Snapshot, Started};
use crate::genesys::models::Queue;
use crate::genesys::GenesysClient;
use crate::metrics::catalog;
use crate::metrics::exposition::{Exposition, Labels};
use crate::metrics::families::rows;

pub(crate) const REGISTRATION: Registration = Registration {
    name: "queues",
    polls: "list queues (GET /api/v2/routing/queues)",
    default_interval: "5m",
    disable: None,
    // One page per 100 queues.
    requests_per_poll: batches,
    start,
};

fn start(ctx: Context) -> Started {
    Started::spawn(
        ctx.queues,
        QueueCollector {
            client: ctx.client,
            live: ctx.live,
        },
    )
}

/// The listing's `pageSize` maximum is not documented (REFERENCE.md 8.1); 100 is accepted by
/// every Genesys list endpoint we know of.
const PAGE_SIZE: u32 = 100;
const _: () = assert!(PAGE_SIZE as usize == super::MAX_QUEUES_PER_QUERY);
/// A listing that pages on past this is broken, not large (100k queues).
const MAX_PAGES: u32 = 1000;

/// A queue the exporter watches, with the label values its series carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedQueue {
    pub id: String,
    pub name: String,
    pub division: String,
    /// Media types the queue is configured for, in the analytics vocabulary, sorted.
    pub media_types: Vec<String>,
}

/// The watched queues, sorted by name then id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSet {
    pub queues: Vec<WatchedQueue>,
}

#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
}

impl PartialEq for QueueFilter {
    fn eq(&self, other: &Self) -> bool {
        let text = |r: &Option<Regex>| r.as_ref().map(|r| r.as_str().to_string());
        text(&self.include) == text(&other.include) && text(&self.exclude) == text(&other.exclude)
    }
}

impl QueueFilter {
    #[must_use]
    pub fn admits(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }
}

/// Queue configuration names telephony `call`; analytics says `voice` (REFERENCE.md 4.1).
#[must_use]
pub(crate) fn analytics_media_type(queue_config_key: &str) -> String {
    match queue_config_key.to_ascii_lowercase().as_str() {
        "call" => "voice".to_string(),
        other => other.to_string(),
    }
}

pub(crate) struct QueueCollector {
    pub client: GenesysClient,
    /// The filters are read at every poll, so a config reload applies at the next listing.
    pub live: tokio::sync::watch::Receiver<std::sync::Arc<super::Settings>>,
}

impl Poll for QueueCollector {
    type Snapshot = QueueSet;

    async fn poll(&mut self) -> Result<QueueSet, CollectError> {
        let mut by_id = BTreeMap::new();
        let mut page = 1;
        loop {
            if page > MAX_PAGES {
                return Err(CollectError::TooManyPages(MAX_PAGES));
            }
            let listing = self.client.queues_page(page, PAGE_SIZE).await?;
            let empty = listing.entities.is_empty();
            for q in listing.entities {
                by_id.insert(q.id.clone(), q);
            }
            let more = match listing.page_count {
                Some(count) => page < count,
                None => listing.next_uri.is_some() && !empty,
            };
            if !more {
                break;
            }
            page += 1;
        }
        let filter = self.live.borrow().queue_filter.clone();
        Ok(build_queue_set(by_id.into_values(), &filter))
    }
}

impl QueueSet {
    /// `queue_id` and `queue` of every queue, in the set's order.
    #[must_use]
    pub fn labels(&self) -> Vec<Labels> {
        self.queues
            .iter()
            .map(|q| Labels::new().with("queue_id", &q.id).with("queue", &q.name))
            .collect()
    }
}

impl Snapshot for QueueSet {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        rows(
            e,
            &catalog::QUEUES,
            [(Labels::new(), self.queues.len() as f64)],
        )?;
        rows(
            e,
            &catalog::QUEUE_INFO,
            self.queues.iter().map(|q| {
                let labels = Labels::new()
                    .with("queue_id", &q.id)
                    .with("queue", &q.name)
                    .with("division", &q.division);
                (labels, 1.0)
            }),
        )
    }
}

pub(crate) fn build_queue_set(
    queues: impl IntoIterator<Item = Queue>,
    filter: &QueueFilter,
) -> QueueSet {
    let mut watched: Vec<WatchedQueue> = queues
        .into_iter()
        .filter(|q| !q.id.is_empty())
        .map(|q| {
            let name = q
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| q.id.clone());
            let division = q.division.and_then(|d| d.name.or(d.id)).unwrap_or_default();
            let mut media_types: Vec<String> = q
                .media_settings
                .map(|m| m.keys().map(|k| analytics_media_type(k)).collect())
                .unwrap_or_default();
            media_types.sort();
            media_types.dedup();
            WatchedQueue {
                id: q.id,
                name,
                division,
                media_types,
            }
        })
        .filter(|q| filter.admits(&q.name))
        .collect();
    watched.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    QueueSet { queues: watched }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(json: serde_json::Value) -> Queue {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn media_settings_become_analytics_media_types() {
        let set = build_queue_set(
            [queue(serde_json::json!({
                "id": "q1", "name": "Support", "division": {"id": "d1", "name": "Home"},
                "mediaSettings": {"call": {}, "chat": {}, "email": {}}
            }))],
            &QueueFilter::default(),
        );
        assert_eq!(
            set.queues,
            vec![WatchedQueue {
                id: "q1".into(),
                name: "Support".into(),
                division: "Home".into(),
                media_types: vec!["chat".into(), "email".into(), "voice".into()],
            }]
        );
    }

    #[test]
    fn include_then_exclude_by_name() {
        let filter = QueueFilter {
            include: Some(Regex::new("^Support").unwrap()),
            exclude: Some(Regex::new("Test").unwrap()),
        };
        let set = build_queue_set(
            ["Support EN", "Support Test", "Sales"]
                .map(|n| queue(serde_json::json!({"id": n, "name": n}))),
            &filter,
        );
        let names: Vec<_> = set.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, vec!["Support EN"]);
    }
}
