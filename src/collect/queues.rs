//! Queue discovery: `GET /api/v2/routing/queues`, paged to the last page, filtered by name
//! and by shard.

use std::collections::BTreeMap;
use std::hash::Hasher;

use regex::Regex;

use super::{batches, CollectError, Context, Poll, Registration, Snapshot, Started};
use crate::genesys::models::Queue;
use crate::genesys::GenesysClient;
use crate::metrics::catalog::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};
use crate::metrics::families::rows;

pub(crate) const REGISTRATION: Registration = Registration {
    name: "queues",
    polls: "list queues (GET /api/v2/routing/queues)",
    default_interval: "5m",
    disable: None,
    opt_in: false,
    org_wide: false,
    // One page per 100 queues.
    requests_per_poll: |_, watched| batches(watched),
    cost_from_polls: false,
    background: false,
    flags: None,
    endpoints: &[],
    start,
    families: FAMILIES,
};

fn start(ctx: Context) -> Started {
    ctx.spawner().spawn_into(
        ctx.queues(),
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

/// Which queues this exporter watches: the name filters (`--queues.include`,
/// `--queues.exclude`) and the shard (`--shard`, `--total-shards`). Queue discovery applies it,
/// so every other collector watches only what it admits; a reload may change any part of it.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueFilter {
    pub(crate) include: Option<Regex>,
    pub(crate) exclude: Option<Regex>,
    pub(crate) shard: Shard,
}

impl PartialEq for QueueFilter {
    fn eq(&self, other: &Self) -> bool {
        let text = |r: &Option<Regex>| r.as_ref().map(|r| r.as_str().to_string());
        text(&self.include) == text(&other.include)
            && text(&self.exclude) == text(&other.exclude)
            && self.shard == other.shard
    }
}

impl QueueFilter {
    /// The queue passes the name filters and belongs to this shard.
    #[must_use]
    pub(crate) fn admits(&self, id: &str, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            && self.shard.owns(id)
    }
}

/// One of `total` exporters that split an org's queues between them, as kube-state-metrics
/// shards objects: queue `id` belongs to shard `fnv1a64(id) % total`. Each shard lists every
/// queue (one page per 100) but watches, queries and serves only its own; families that are
/// org-wide rather than per queue come from shard 0 alone, so sums over shards count them once.
///
/// The default, shard 0 of 1, is the unsharded exporter: it owns every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    /// Never 0: [`Shard::new`] refuses it, so `% total` cannot divide by zero.
    total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, total: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--total-shards must be at least 1")]
    NoShards,
    #[error(
        "--shard={index} is not below --total-shards={total}: shards are numbered 0 to {last}",
        last = .total.saturating_sub(1)
    )]
    OutOfRange { index: u32, total: u32 },
}

impl Shard {
    /// Shard `index` of `total`.
    ///
    /// # Errors
    /// [`ShardError`] when `total` is 0 or `index` is not below it.
    pub fn new(index: u32, total: u32) -> Result<Shard, ShardError> {
        if total == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= total {
            return Err(ShardError::OutOfRange { index, total });
        }
        Ok(Shard { index, total })
    }

    /// `--shard`: this exporter's number, from 0.
    #[must_use]
    pub(crate) fn index(self) -> u32 {
        self.index
    }

    /// `--total-shards`: how many exporters split the org.
    #[must_use]
    pub(crate) fn total(self) -> u32 {
        self.total
    }

    /// True when the queue with this id is this shard's to watch.
    #[must_use]
    pub fn owns(self, queue_id: &str) -> bool {
        queue_hash(queue_id) % u64::from(self.total) == u64::from(self.index)
    }

    /// True on shard 0, which alone serves the families not keyed by queue (org-wide
    /// conversation activity): on every shard they would be counted `total` times by a sum.
    #[must_use]
    pub(crate) fn serves_org_wide(self) -> bool {
        self.index == 0
    }
}

/// FNV-1a 64 over the id's UTF-8 bytes (no length or terminator mixed in, unlike
/// `Hash for str`). Changing it moves most queues to another shard in every deployment: the
/// unit tests pin it.
fn queue_hash(queue_id: &str) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(queue_id.as_bytes());
    hasher.finish()
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
    pub(crate) client: GenesysClient,
    /// The filters are read at every poll, so a config reload applies at the next listing.
    pub(crate) live: tokio::sync::watch::Receiver<std::sync::Arc<super::Settings>>,
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
    pub(crate) fn labels(&self) -> Vec<Labels> {
        self.queues
            .iter()
            .map(|q| Labels::new().with("queue_id", &q.id).with("queue", &q.name))
            .collect()
    }
}

/// The families this collector writes, in the order it writes them.
pub(crate) const FAMILIES: &[&Family] = &[&QUEUES, &QUEUE_INFO];

pub(crate) const QUEUES: Family = Family {
    name: "genesys_queues",
    kind: Kind::Gauge,
    unit: None,
    help: "Queues being watched (after the include/exclude filters).",
    labels: &[],
};

pub(crate) const QUEUE_INFO: Family = Family {
    name: "genesys_queue_info",
    kind: Kind::Gauge,
    unit: None,
    help: "Always 1 for each watched queue; carries its name and division.",
    labels: &["queue_id", "queue", "division"],
};

impl Snapshot for QueueSet {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        rows(e, &QUEUES, [(Labels::new(), self.queues.len() as f64)])?;
        rows(
            e,
            &QUEUE_INFO,
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
        .filter(|q| filter.admits(&q.id, &q.name))
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
            ..QueueFilter::default()
        };
        let set = build_queue_set(
            ["Support EN", "Support Test", "Sales"]
                .map(|n| queue(serde_json::json!({"id": n, "name": n}))),
            &filter,
        );
        let names: Vec<_> = set.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, vec!["Support EN"]);
    }

    #[test]
    fn the_shard_hash_is_fnv1a_64_of_the_id_bytes_and_never_changes() {
        // The published FNV-1a 64 test vectors, then Genesys-style queue ids. A different
        // hash would move most queues of every sharded deployment to another shard.
        assert_eq!(queue_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(queue_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(queue_hash("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            queue_hash("5f3e2a4c-8d1b-4e6f-9a7c-0b2d4e6f8a1c"),
            0xdaca_d99e_b9ce_0304
        );
        let owner = |id: &str| (0..3).find(|&i| Shard::new(i, 3).unwrap().owns(id));
        assert_eq!(owner("5f3e2a4c-8d1b-4e6f-9a7c-0b2d4e6f8a1c"), Some(2));
        assert_eq!(owner("queue-1"), Some(0));
        assert_eq!(owner("queue-2"), Some(2));
        assert_eq!(owner("queue-3"), Some(1));
    }

    #[test]
    fn every_queue_belongs_to_exactly_one_shard() {
        let ids: Vec<String> = (0..1000).map(|i| format!("queue-{i}")).collect();
        for total in 1..=5 {
            let shards: Vec<Shard> = (0..total).map(|i| Shard::new(i, total).unwrap()).collect();
            for id in &ids {
                let owners = shards.iter().filter(|s| s.owns(id)).count();
                assert_eq!(owners, 1, "{id} with {total} shards");
            }
            // Roughly even: no shard is left idle by the hash.
            for s in &shards {
                let mine = ids.iter().filter(|id| s.owns(id)).count();
                assert!(mine > 1000 / total as usize / 2, "{s:?} owns {mine}");
            }
        }
    }

    #[test]
    fn the_unsharded_default_owns_every_queue_and_serves_org_wide_families() {
        let shard = Shard::default();
        assert_eq!((shard.index(), shard.total()), (0, 1));
        assert!(["", "a", "queue-1"].iter().all(|id| shard.owns(id)));
        assert!(shard.serves_org_wide());
        assert!(!Shard::new(1, 2).unwrap().serves_org_wide());
    }

    #[test]
    fn a_shard_number_must_be_below_the_number_of_shards() {
        assert_eq!(Shard::new(0, 0), Err(ShardError::NoShards));
        let err = Shard::new(3, 3).unwrap_err();
        assert_eq!(err, ShardError::OutOfRange { index: 3, total: 3 });
        assert_eq!(
            err.to_string(),
            "--shard=3 is not below --total-shards=3: shards are numbered 0 to 2"
        );
    }

    #[test]
    fn the_shard_filters_queues_like_the_name_filters() {
        let queues = ["queue-1", "queue-2", "queue-3"]
            .map(|n| queue(serde_json::json!({"id": n, "name": n})));
        let filter = QueueFilter {
            shard: Shard::new(2, 3).unwrap(),
            ..QueueFilter::default()
        };
        let set = build_queue_set(queues, &filter);
        let ids: Vec<_> = set.queues.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, vec!["queue-2"]);
        assert_ne!(filter, QueueFilter::default(), "a reload sees a new shard");
    }
}
