//! Renders the collectors' snapshots and the exporter's self-metrics in the Prometheus
//! exposition formats. Nothing here calls Genesys: a scrape encodes what the slots hold, or
//! serves the body encoded for an earlier scrape when nothing in it has changed.

pub mod catalog;
pub mod exposition;
pub(crate) mod families;
pub mod http;
mod merge;
pub mod part;
mod process;
pub mod reload;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use prometheus_client::registry::Registry;

pub use catalog::Kind;
pub use exposition::Format;
use exposition::{Exposition, Labels};
pub use part::{next_generation, Health, Part, Piece, Registered, Snapshot};
use reload::ReloadMetrics;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("encoding the self-metrics failed")]
    Encode,
    #[error("compressing the metrics failed")]
    Compress(#[source] std::io::Error),
}

/// Fast compression: a piece is compressed once per change of what it shows, and metric text
/// compresses ~10x even so.
const GZIP_LEVEL: flate2::Compression = flate2::Compression::fast();

/// How long the pieces of a format and encoding nobody asks for any more are kept: a
/// scraper comes back within its scrape interval (1 min at most, as a rule), and a curl now
/// and then should not hold a plain copy of a large body in memory for good.
const KEEP_UNASKED: Duration = Duration::from_secs(60);

/// Renders the exposition, and keeps it encoded in pieces, per format and encoding: the
/// self-metrics, the collectors' health, the process families, each collector's snapshot
/// (in keyed pieces when it has them, see [`Snapshot::pieces`]), and last the series count.
/// A new body re-encodes only the pieces whose data changed and shares the others with the
/// body before it; concurrent scrapers between two changes share one body.
///
/// The `process_*` families change all the time, and no key could say when without reading
/// /proc on every scrape. Their piece is re-read once it is [`process::REFRESH`] (5 s) old,
/// and a body is reused only while its process piece is younger than that, so their values are
/// at most that old, /proc is read at most that often, and scrapers that come together still
/// share one body. The health families and the series count (which counts the process
/// samples too) are small, and are written afresh for every new body.
pub struct Metrics {
    /// The self-metrics kept by prometheus-client: reloads, and with one org its API calls.
    registry: Registry,
    /// The orgs whose families the body shows. One org: no `org` label, its API self-metrics
    /// in `registry`. Several: each org's in its own registry, every series labelled. A
    /// reload replaces the list (orgs added, removed or restarted).
    orgs: RwLock<Orgs>,
    reloads: ReloadMetrics,
    /// The HTTP server's, once it is given them ([`Metrics::with_http`]).
    http: Option<http::HttpMetrics>,
    cache: Mutex<HashMap<(Format, bool), Encodings>>,
    /// Held by the one scrape that makes a body; the others wait for it, or are served the
    /// last body meanwhile ([`Encodings::making`]).
    making: Mutex<()>,
    /// Bumped by [`Metrics::forget_encodings`].
    forgotten: AtomicU64,
    /// A body whose collectors' data changed is held for a while ([`HOLD_FOR_TIMES`]); off
    /// for benchmarks that time the encoding of each change ([`Metrics::without_hold`]).
    hold: bool,
}

/// A body as it is served: its pieces in order; with gzip, the gzip header, each piece's
/// deflate blocks, and the last piece's with the trailer: one gzip member (see
/// `exposition::Deflate`). The pieces are shared with the cache and the bodies before and
/// after it, so holding one costs little beyond what the cache holds anyway.
#[derive(Debug, Clone, Default)]
pub struct Body {
    pieces: Arc<[Bytes]>,
    /// What is sent: the pieces, with runs of small ones copied together (see [`Body::new`]).
    chunks: Arc<[Bytes]>,
    len: usize,
}

/// Pieces smaller than this are copied together into chunks of at least this size for
/// sending: each chunk is a buffer for the server to queue and write, and a demo body of
/// twenty pieces served a sixth fewer scrapes a second than one buffer did. Only the small
/// pieces are copied: the large ones, most of the bytes, are sent as they are kept.
const SMALL_PIECE: usize = 32 * 1024;

impl Body {
    fn new(pieces: Vec<Bytes>) -> Body {
        let len = pieces.iter().map(Bytes::len).sum();
        let mut chunks = Vec::with_capacity(pieces.len());
        let mut run: Vec<u8> = Vec::new();
        for piece in &pieces {
            if piece.len() >= SMALL_PIECE {
                if !run.is_empty() {
                    chunks.push(Bytes::from(std::mem::take(&mut run)));
                }
                chunks.push(piece.clone());
                continue;
            }
            run.extend_from_slice(piece);
            if run.len() >= SMALL_PIECE {
                chunks.push(Bytes::from(std::mem::take(&mut run)));
            }
        }
        if !run.is_empty() {
            chunks.push(Bytes::from(run));
        }
        Body {
            pieces: pieces.into(),
            chunks: chunks.into(),
            len,
        }
    }

    /// Bytes on the wire.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces as kept encoded.
    #[must_use]
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The buffers to send one after the other, shared.
    #[must_use]
    pub fn into_chunks(self) -> Arc<[Bytes]> {
        self.chunks
    }

    /// The body in one buffer (tests, benchmarks): a copy, but for a body of one chunk.
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        match &*self.chunks {
            [one] => one.clone(),
            chunks => Bytes::from(chunks.concat()),
        }
    }

    /// The body copied into one vector.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// The same body, not an equal one: what the cache hands out twice.
    #[must_use]
    pub fn same(&self, other: &Body) -> bool {
        Arc::ptr_eq(&self.pieces, &other.pieces)
    }
}

/// The orgs in the body, and a number that changes whenever the list does.
struct Orgs {
    list: Arc<Vec<Arc<OrgMetrics>>>,
    generation: u64,
    /// Several orgs (`orgs:` in the config file): series carry `org`.
    labelled: bool,
}

/// One org's part of the body: its collectors' parts and the self-metrics of its client.
pub(crate) struct OrgMetrics {
    /// `org="<name>"` when the exporter watches several orgs.
    label: Option<Labels>,
    parts: Vec<Arc<dyn Part>>,
    api: Arc<dyn Registered>,
    /// Its API self-metrics, when they are not in the shared registry (several orgs).
    registry: Option<Registry>,
}

impl OrgMetrics {
    /// The org of an exporter watching one: no `org` label; its API self-metrics go into the
    /// exporter's registry.
    #[must_use]
    pub(crate) fn single(parts: Vec<Arc<dyn Part>>, api: Arc<dyn Registered>) -> OrgMetrics {
        OrgMetrics {
            label: None,
            parts,
            api,
            registry: None,
        }
    }

    /// An org of an exporter watching several: every series gets `org="<name>"`.
    #[must_use]
    pub(crate) fn labelled(
        name: &str,
        parts: Vec<Arc<dyn Part>>,
        api: Arc<dyn Registered>,
    ) -> OrgMetrics {
        let mut registry = Registry::default();
        api.register(&mut registry);
        OrgMetrics {
            label: Some(Labels::of(&[("org", name)])),
            parts,
            api,
            registry: Some(registry),
        }
    }
}

/// One format and encoding: its encoded pieces, its last body, and when it was last asked for.
struct Encodings {
    pieces: HashMap<PieceId, Encoded>,
    /// The org list and the reload the pieces were written for (see [`CacheKey::epoch`]).
    epoch: (u64, u64, u64),
    body: Option<Cached>,
    asked: Instant,
    /// A compressed body is being made, and the last one, of the same epoch, stands in for
    /// it meanwhile: scrapers that come while the live families of 5,000 queues are
    /// re-encoded (tens of milliseconds, every [`HOLD_AT_MOST`] under constant scraping)
    /// are served the body of a moment before instead of all waiting on one core, which
    /// left the other idle. The body served is older than the one being made by at most
    /// the making. A plain body is not stood in for: it is written into the memory of the
    /// last, which nothing may hold then (see [`Assembly::piece`]), and plain text is for
    /// people and curl, who can wait; Prometheus asks for gzip.
    making: bool,
}

impl Encodings {
    fn new(key: &CacheKey, now: Instant) -> Encodings {
        Encodings {
            pieces: HashMap::new(),
            epoch: key.epoch(),
            body: None,
            asked: now,
            making: false,
        }
    }
}

/// Ends a stand-in when dropped: see [`Encodings::making`].
struct Made<'a> {
    cache: &'a Mutex<HashMap<(Format, bool), Encodings>>,
    at: (Format, bool),
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(encodings) = cache.get_mut(&self.at) {
            encodings.making = false;
        }
    }
}

/// A piece's place in the body, by which its encoding is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PieceId {
    /// The self-metrics of the prometheus-client registry.
    Own,
    Health,
    /// Build information and the process families.
    Global,
    /// The collectors' data of several orgs, merged family by family (see [`merge`]).
    Merged,
    /// A collector's snapshot written whole: the collector's position among the org's parts.
    Whole(usize),
    /// One keyed piece of a collector's snapshot.
    Keyed(usize, u64),
}

/// A piece encoded: its bytes, the samples it holds, and what it was encoded from.
struct Encoded {
    /// Compared with what the piece shows now; equal, the bytes are reused.
    generation: [u64; 4],
    bytes: Bytes,
    /// With gzip, the CRC-32 of its text, for the body's trailer.
    crc: Option<flate2::Crc>,
    samples: u64,
    /// Its uncompressed length, to size the buffer of its next encoding.
    text_len: usize,
    at: Instant,
}

/// When an encoded piece may be reused.
enum Reuse {
    /// While its data has this generation.
    While([u64; 4]),
    /// While younger than this (`None`: for as long as it lasts).
    Younger(Option<Duration>),
    Never,
}

/// The last body, what it shows, and when its process values were read.
struct Cached {
    key: CacheKey,
    process_at: Instant,
    body: Body,
    /// When it was put together, and how long that took.
    made: Instant,
    took: Duration,
}

/// A body whose collectors' data changed since (and nothing else) still serves for this many
/// times as long as putting it together took, up to [`HOLD_AT_MOST`]: under scrapers that
/// ask without pause, re-encoding changed pieces takes at most about 1/60 of a core however
/// often push mode publishes (up to four times a second at a busy org). What that costs
/// in freshness is bounded by the time a body takes, and by five seconds: nothing at 36
/// queues (a changed body in well under a millisecond), up to 5 s at 5,000 queues with every
/// queue busy and scrapers asking more than once every 5 s, and nothing for a Prometheus
/// that scrapes every 15 s. Genesys itself sends a queue's changes at most once a second,
/// and poll mode at that size is 20 s behind. The bound is what keeps the 1/60 at 5,000
/// queues: under `wrk -c32` a changed body there takes 50-85 ms, 3-5 s at 60 times. (At
/// 30 times and 1 s, and at 60 times and 2 s, push mode at 5,000 queues under that load
/// spent a few percent of a core more than poll mode re-encoding the live families, and
/// served fewer scrapes.)
const HOLD_FOR_TIMES: u32 = 60;
const HOLD_AT_MOST: Duration = Duration::from_secs(5);

impl Cached {
    fn serves(&self, key: &CacheKey, now: Instant, hold: bool) -> bool {
        let process_fresh = process::REFRESH
            .is_none_or(|refresh| now.saturating_duration_since(self.process_at) < refresh);
        if !process_fresh {
            return false;
        }
        if self.key == *key {
            return true;
        }
        // Only collectors' data changed (the self-metrics, reloads and orgs did not): held.
        let only_data = self.key.orgs == key.orgs
            && self.key.api == key.api
            && self.key.reloads == key.reloads
            && self.key.http == key.http
            && self.key.forgotten == key.forgotten
            && self.key.slots.len() == key.slots.len();
        let held = self.took.saturating_mul(HOLD_FOR_TIMES).min(HOLD_AT_MOST);
        hold && only_data && now.saturating_duration_since(self.made) < held
    }
}

/// Everything a body depends on, the process families aside: which orgs it shows, each
/// collector's completed polls and whether its data is still fresh (time moves that), the
/// API self-metrics' generations, the reload counters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    orgs: u64,
    slots: Vec<(u64, bool)>,
    api: Vec<u64>,
    reloads: (u64, u64),
    http: u64,
    forgotten: u64,
}

/// A body being put together from the pieces kept and the pieces written anew.
struct Assembly {
    format: Format,
    gzip: bool,
    /// Reuse no piece (a new epoch: see [`CacheKey::epoch`]).
    forget: bool,
    now: Instant,
    /// The pieces of the last body; what this one reuses is moved to `kept`.
    old: HashMap<PieceId, Encoded>,
    kept: HashMap<PieceId, Encoded>,
    pieces: Vec<Bytes>,
    samples: u64,
    /// With gzip, the CRC of the text of the pieces so far.
    crc: flate2::Crc,
    /// With gzip, the compressor the last piece written used, reset.
    compress: Option<flate2::Compress>,
}

impl Assembly {
    /// Adds a piece: the one kept if `reuse` allows, else written by `write` (into the
    /// memory of the one kept, for plain text, once no body holds it any more: at a few
    /// hundred thousand series, the kernel's fresh zeroed pages cost more than the encoding).
    fn piece(
        &mut self,
        id: PieceId,
        reuse: Reuse,
        write: impl FnOnce(&mut Exposition) -> Result<(), RenderError>,
    ) -> Result<(), RenderError> {
        let old = self.old.remove(&id);
        if let Some(old) = old
            .as_ref()
            .filter(|_| !self.forget)
            .filter(|old| match &reuse {
                Reuse::While(generation) => old.generation == *generation,
                Reuse::Younger(age) => {
                    age.is_none_or(|age| self.now.saturating_duration_since(old.at) < age)
                }
                Reuse::Never => false,
            })
        {
            self.pieces.push(old.bytes.clone());
            self.samples += old.samples;
            if let Some(crc) = &old.crc {
                self.crc.combine(crc);
            }
        } else {
            let (buffer, expected) = match old {
                Some(old) if !self.gzip => {
                    let len = old.text_len;
                    let buffer = old.bytes.try_into_mut().map(Vec::from).unwrap_or_default();
                    (buffer, len)
                }
                Some(old) => (Vec::new(), old.text_len),
                None => (Vec::new(), 0),
            };
            let compress = match self.gzip {
                true => Some(
                    self.compress
                        .take()
                        .unwrap_or_else(|| flate2::Compress::new(GZIP_LEVEL, false)),
                ),
                false => None,
            };
            let mut e = Exposition::compressing(self.format, compress, buffer, expected);
            write(&mut e)?;
            let (samples, text_len) = (e.samples(), e.text_len());
            let exposition::Finished {
                bytes,
                crc,
                compress,
            } = e.finish_piece().map_err(RenderError::Compress)?;
            self.compress = compress;
            self.pieces.push(bytes.clone());
            self.samples += samples;
            if let Some(crc) = &crc {
                self.crc.combine(crc);
            }
            let generation = match reuse {
                Reuse::While(generation) => generation,
                _ => [0; 4],
            };
            self.kept.insert(
                id,
                Encoded {
                    generation,
                    bytes,
                    crc,
                    samples,
                    text_len,
                    at: self.now,
                },
            );
            return Ok(());
        }
        if let Some(old) = old {
            self.kept.insert(id, old);
        }
        Ok(())
    }
}

impl CacheKey {
    /// What every piece is encoded anew after: a new org list (the parts' positions mean
    /// nothing in another) and a reload. A reload need not re-encode what did not change,
    /// but it is rare, and so it times a full encoding in a running exporter
    /// (`POST /-/reload`, what `scripts/scale-bench.sh` does): what the first scrape after
    /// start pays.
    fn epoch(&self) -> (u64, u64, u64) {
        (self.orgs, self.reloads.0, self.forgotten)
    }
}

impl Metrics {
    /// The body of an exporter watching one org: no `org` label, as it always was.
    #[must_use]
    pub fn new(
        parts: Vec<Arc<dyn Part>>,
        api: Arc<dyn Registered>,
        reloads: &ReloadMetrics,
    ) -> Metrics {
        Metrics::single(Arc::new(OrgMetrics::single(parts, api)), reloads)
    }

    /// The body of an exporter watching one org (made by [`OrgMetrics::single`]).
    #[must_use]
    pub(crate) fn single(org: Arc<OrgMetrics>, reloads: &ReloadMetrics) -> Metrics {
        let mut registry = Registry::default();
        org.api.register(&mut registry);
        reloads.register(&mut registry);
        Metrics::with_orgs(registry, vec![org], false, reloads)
    }

    /// The body of an exporter watching several orgs (each made by [`OrgMetrics::labelled`]).
    #[must_use]
    pub(crate) fn several(orgs: Vec<Arc<OrgMetrics>>, reloads: &ReloadMetrics) -> Metrics {
        let mut registry = Registry::default();
        reloads.register(&mut registry);
        Metrics::with_orgs(registry, orgs, true, reloads)
    }

    fn with_orgs(
        registry: Registry,
        orgs: Vec<Arc<OrgMetrics>>,
        labelled: bool,
        reloads: &ReloadMetrics,
    ) -> Metrics {
        Metrics {
            registry,
            orgs: RwLock::new(Orgs {
                list: Arc::new(orgs),
                generation: 0,
                labelled,
            }),
            reloads: reloads.clone(),
            http: None,
            cache: Mutex::new(HashMap::new()),
            making: Mutex::new(()),
            forgotten: AtomicU64::new(0),
            hold: true,
        }
    }

    /// Shows the HTTP server's self-metrics too.
    #[must_use]
    pub(crate) fn with_http(mut self, http: &http::HttpMetrics) -> Metrics {
        http.register(&mut self.registry);
        self.http = Some(http.clone());
        self
    }

    /// Replaces the orgs shown (a reload added, removed or restarted some). Every piece is
    /// encoded anew after it ([`CacheKey::epoch`]).
    pub(crate) fn set_orgs(&self, orgs: Vec<Arc<OrgMetrics>>) {
        let mut current = self.orgs.write().unwrap_or_else(|e| e.into_inner());
        current.list = Arc::new(orgs);
        current.generation += 1;
    }

    fn orgs(&self) -> (Arc<Vec<Arc<OrgMetrics>>>, u64, bool) {
        let o = self.orgs.read().unwrap_or_else(|e| e.into_inner());
        (o.list.clone(), o.generation, o.labelled)
    }

    /// The body for a scrape: the last one if nothing changed since it was put together,
    /// else a new one of the pieces that did not change and those that did, encoded anew
    /// (gzip-compressed when `gzip`). One scrape at a time makes a body: concurrent scrapers
    /// that find the last one outdated wait for it instead of each making their own, or with
    /// gzip are served the last one meanwhile ([`Encodings::making`]).
    ///
    /// # Errors
    /// When the self-metrics cannot be encoded or compressing fails.
    pub fn body(&self, format: Format, gzip: bool) -> Result<Body, RenderError> {
        if let Some(body) = self.served(format, gzip, true) {
            return Ok(body);
        }
        let _one_maker = self.making.lock().unwrap_or_else(|e| e.into_inner());
        // The scrape that made a body while this one waited may have made the one it needs.
        if let Some(body) = self.served(format, gzip, false) {
            return Ok(body);
        }
        self.make(format, gzip)
    }

    /// The cached body if it serves a scrape now, or (`stand_in`) if it stands in for the
    /// one being made: see [`Encodings::making`].
    fn served(&self, format: Format, gzip: bool, stand_in: bool) -> Option<Body> {
        let key = self.key(SystemTime::now());
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, encodings| now.saturating_duration_since(encodings.asked) < KEEP_UNASKED);
        let encodings = cache
            .entry((format, gzip))
            .or_insert_with(|| Encodings::new(&key, now));
        encodings.asked = now;
        let cached = encodings.body.as_ref()?;
        let serves = cached.serves(&key, now, self.hold)
            || (stand_in && encodings.making && cached.key.epoch() == key.epoch());
        serves.then(|| cached.body.clone())
    }

    /// A new body, from the pieces kept and those whose data changed (all of them in a new
    /// epoch). Called by one scrape at a time.
    fn make(&self, format: Format, gzip: bool) -> Result<Body, RenderError> {
        let key = self.key(SystemTime::now());
        let now = Instant::now();
        let (old, forget) = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let encodings = cache
                .entry((format, gzip))
                .or_insert_with(|| Encodings::new(&key, now));
            let stands_in = gzip
                && encodings
                    .body
                    .as_ref()
                    .is_some_and(|cached| cached.key.epoch() == key.epoch());
            if !stands_in {
                // Dropped first, so that the pieces no response holds any more lend their
                // memory.
                encodings.body = None;
            }
            encodings.making = stands_in;
            // A new epoch reuses no piece, but their memory and sizes still (a plain body is
            // written into the buffers of the last, sized as it was).
            let forget = encodings.epoch != key.epoch();
            encodings.epoch = key.epoch();
            (std::mem::take(&mut encodings.pieces), forget)
        };
        // Ends the stand-in however the making ends (a panic in a snapshot's `write`
        // included), after the lock below is let go.
        let _made = Made {
            cache: &self.cache,
            at: (format, gzip),
        };
        let mut assembly = Assembly {
            format,
            gzip,
            forget,
            now,
            kept: HashMap::with_capacity(old.len()),
            old,
            pieces: match gzip {
                true => vec![Bytes::from_static(&exposition::GZIP_HEADER)],
                false => Vec::new(),
            },
            samples: 0,
            crc: flate2::Crc::new(),
            compress: None,
        };
        let assembled = self.assemble(&mut assembly, &key);
        let took = now.elapsed();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let encodings = cache
            .entry((format, gzip))
            .or_insert_with(|| Encodings::new(&key, now));
        encodings.pieces = assembly.kept;
        encodings.making = false;
        assembled?;
        let process_at = [PieceId::Global, PieceId::Merged]
            .iter()
            .find_map(|id| encodings.pieces.get(id))
            .map_or(now, |p| p.at);
        let body = Body::new(assembly.pieces);
        encodings.body = Some(Cached {
            key,
            process_at,
            body: body.clone(),
            made: now,
            took,
        });
        Ok(body)
    }

    /// Every body whose data changed is made anew, however soon after the last (benchmarks
    /// that time the encoding of each change; see [`HOLD_FOR_TIMES`]).
    #[must_use]
    pub fn without_hold(mut self) -> Metrics {
        self.hold = false;
        self
    }

    /// Reuses no encoded piece for the next body, as after a reload: it is encoded whole, in
    /// the memory of the last (benchmarks).
    pub fn forget_encodings(&self) {
        self.forgotten.fetch_add(1, Ordering::Relaxed);
    }

    fn key(&self, now: SystemTime) -> CacheKey {
        let (orgs, generation, _) = self.orgs();
        CacheKey {
            orgs: generation,
            slots: orgs
                .iter()
                .flat_map(|o| o.parts.iter().map(|c| c.version(now)))
                .collect(),
            api: orgs.iter().map(|o| o.api.generation()).collect(),
            reloads: (self.reloads.reloads.get(), self.reloads.failures.get()),
            http: self.http.as_ref().map_or(0, http::HttpMetrics::generation),
            forgotten: self.forgotten.load(Ordering::Relaxed),
        }
    }

    /// The pieces of a body: self-metrics, collector health, build and process, the
    /// collectors' data, and last `genesys_exporter_series`, which counts every sample before
    /// it (the OpenMetrics `# EOF` after it).
    fn assemble(&self, a: &mut Assembly, key: &CacheKey) -> Result<(), RenderError> {
        let (orgs, _, several) = self.orgs();
        let format = a.format;
        match (several, orgs.first()) {
            (false, Some(org)) => {
                let own = [
                    key.api.first().copied().unwrap_or_default(),
                    key.reloads.0,
                    key.reloads.1,
                    key.http,
                ];
                a.piece(PieceId::Own, Reuse::While(own), |e| {
                    let text = encode_registry(&self.registry, format)?;
                    e.raw(&text).map_err(RenderError::Compress)
                })?;
                let (health, data) = families::read(&org.parts, SystemTime::now());
                a.piece(PieceId::Health, Reuse::Never, |e| {
                    families::write_health(e, &health).map_err(RenderError::Compress)
                })?;
                a.piece(PieceId::Global, Reuse::Younger(process::REFRESH), |e| {
                    families::write_global(e).map_err(RenderError::Compress)
                })?;
                for (i, snapshot) in data.iter().enumerate() {
                    let Some(snapshot) = snapshot else { continue };
                    match snapshot.pieces() {
                        None => {
                            let version = key.slots.get(i).map_or(0, |(v, _)| *v);
                            a.piece(PieceId::Whole(i), Reuse::While([version, 0, 0, 0]), |e| {
                                snapshot.write(e).map_err(RenderError::Compress)
                            })?;
                        }
                        Some(pieces) => {
                            for p in pieces {
                                let reuse = Reuse::While([p.generation, 1, 0, 0]);
                                a.piece(PieceId::Keyed(i, p.key), reuse, |e| {
                                    snapshot
                                        .write_piece(p.key, e)
                                        .map_err(RenderError::Compress)
                                })?;
                            }
                        }
                    }
                }
            }
            _ => {
                let own = encode_registry(&self.registry, format)?;
                let merged = merge_orgs(format, &own, &orgs)?;
                a.piece(PieceId::Merged, Reuse::Never, |e| {
                    e.raw(&merged).map_err(RenderError::Compress)
                })?;
            }
        }
        let compress = match a.gzip {
            true => Some(
                a.compress
                    .take()
                    .unwrap_or_else(|| flate2::Compress::new(GZIP_LEVEL, false)),
            ),
            false => None,
        };
        let mut e = Exposition::compressing(format, compress, Vec::new(), 0);
        families::write_series(&mut e, a.samples).map_err(RenderError::Compress)?;
        let crc = std::mem::take(&mut a.crc);
        a.pieces
            .push(e.finish_last(crc).map_err(RenderError::Compress)?);
        Ok(())
    }
}

/// A registry's families in `format`, without the OpenMetrics `# EOF` (the body ends once).
fn encode_registry(registry: &Registry, format: Format) -> Result<String, RenderError> {
    let mut own = String::new();
    match format {
        Format::OpenMetrics => {
            prometheus_client::encoding::text::encode_registry(&mut own, registry)
        }
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut own, registry),
    }
    .map_err(|_| RenderError::Encode)?;
    Ok(own)
}

/// The families of several orgs, each org's samples labelled with it, each family described
/// once: the shared self-metrics and process families, then every org's.
fn merge_orgs(format: Format, own: &str, orgs: &[Arc<OrgMetrics>]) -> Result<String, RenderError> {
    let now = SystemTime::now();
    let plain = |write: &dyn Fn(&mut Exposition) -> std::io::Result<()>| {
        let mut e = Exposition::new(format, None, Vec::new(), 0);
        write(&mut e).map_err(RenderError::Compress)?;
        let body = e.finish().map_err(RenderError::Compress)?;
        String::from_utf8(body.to_vec()).map_err(|_| RenderError::Encode)
    };
    let mut merged = merge::Merged::default();
    merged.add(own, None);
    merged.add(&plain(&families::write_global)?, None);
    for org in orgs {
        if let Some(registry) = &org.registry {
            merged.add(&encode_registry(registry, format)?, org.label.as_ref());
        }
        let text = plain(&|e| families::write_org(e, &org.parts, now))?;
        merged.add(&text, org.label.as_ref());
    }
    Ok(merged.into_text())
}

#[cfg(test)]
mod tests {

    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    use super::*;

    /// A collector as the writer sees it: healthy, nothing to write.
    struct Idle(&'static str);

    impl Part for Idle {
        fn version(&self, _: SystemTime) -> (u64, bool) {
            (1, true)
        }

        fn read(&self, _: SystemTime) -> (Health, Option<Arc<dyn Snapshot>>) {
            let health = Health {
                name: self.0,
                up: true,
                last_success: Some(1.0),
                last_duration: Some(Duration::from_millis(5)),
                last_requests: 1,
                interval: Duration::from_secs(15),
                polls: 1,
                failures: 0,
            };
            (health, None)
        }
    }

    /// Self-metrics kept elsewhere: requests by status code, as the client's are.
    #[derive(Clone, Default)]
    struct Api {
        requests: Family<Vec<(String, String)>, Counter>,
        generation: Arc<AtomicU64>,
    }

    impl Api {
        fn request(&self, code: &str) {
            self.requests
                .get_or_create(&vec![("code".to_string(), code.to_string())])
                .inc();
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Registered for Api {
        fn register(&self, registry: &mut Registry) {
            registry.register("genesys_api_requests", "Requests.", self.requests.clone());
        }

        fn generation(&self) -> u64 {
            self.generation.load(Ordering::Relaxed)
        }
    }

    fn metrics() -> (Metrics, Api) {
        let api = Api::default();
        let parts: Vec<Arc<dyn Part>> =
            vec![Arc::new(Idle("queues")), Arc::new(Idle("observations"))];
        (
            Metrics::new(parts, Arc::new(api.clone()), &ReloadMetrics::default()),
            api,
        )
    }

    #[test]
    fn an_unchanged_state_serves_the_cached_body() {
        let (m, api) = metrics();
        let first = m.body(Format::Text, false).unwrap();
        let again = m.body(Format::Text, false).unwrap();
        assert!(first.same(&again), "the same bytes, not a re-encoding");
        let other_format = m.body(Format::OpenMetrics, false).unwrap();
        assert!(!first.same(&other_format));
        assert!(other_format.to_vec().ends_with(b"# EOF\n"));

        api.request("200");
        let changed = m.body(Format::Text, false).unwrap();
        assert!(!first.same(&changed), "a self-metric changed: re-encoded");
        assert!(String::from_utf8_lossy(&changed.to_vec()).contains("code=\"200\""));
    }

    #[test]
    fn a_new_plain_piece_reuses_the_memory_of_the_last_once_nobody_holds_it() {
        let (m, api) = metrics();
        // The self-metrics are the body's first piece, and the one a request changes.
        let own = |body: &Body| body.pieces()[0].clone();
        // The first body has no size to go by; from the second on, buffers have room to spare.
        drop(m.body(Format::Text, false).unwrap());
        api.request("200");
        let second = m.body(Format::Text, false).unwrap();
        let (at, len) = (own(&second).as_ptr(), own(&second).len());
        drop(second);
        // The same counter goes from 1 to 2: a new piece of the same length.
        api.request("200");
        let third = m.body(Format::Text, false).unwrap();
        assert_eq!(
            own(&third).as_ptr(),
            at,
            "written into the previous piece's buffer"
        );
        assert_eq!(own(&third).len(), len, "a new piece of the same length");
        assert!(String::from_utf8_lossy(&third.to_vec()).contains("code=\"200\"} 2"));

        // While a response still holds it, the old piece is left alone.
        api.request("429");
        let fourth = m.body(Format::Text, false).unwrap();
        assert_ne!(own(&fourth).as_ptr(), own(&third).as_ptr());
        assert!(!String::from_utf8_lossy(&third.to_vec()).contains("code=\"429\""));
        assert!(String::from_utf8_lossy(&fourth.to_vec()).contains("code=\"429\""));
    }

    #[test]
    fn build_info_carries_the_revision_and_the_compiler() {
        let (m, _) = metrics();
        let text = String::from_utf8(m.body(Format::Text, false).unwrap().to_vec()).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("genesys_exporter_build_info{"))
            .expect("build info");
        let expected = format!(
            "genesys_exporter_build_info{{version=\"{}\",revision=\"{}\",rustc_version=\"",
            env!("CARGO_PKG_VERSION"),
            env!("GENESYS_EXPORTER_REVISION"),
        );
        assert!(line.starts_with(&expected), "{line}");
        assert!(
            line.contains("rustc_version=\"1.") && line.ends_with("\"} 1.0"),
            "{line}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_cached_body_is_re_encoded_once_its_process_values_are_too_old() {
        let (m, _) = metrics();
        let first = m.body(Format::Text, false).unwrap();
        let text = String::from_utf8_lossy(&first.to_vec()).into_owned();
        assert!(text.contains("\nprocess_resident_memory_bytes "));
        let again = m.body(Format::Text, false).unwrap();
        assert!(first.same(&again), "young: served from the cache");

        let refresh = process::REFRESH.expect("Linux serves process families");
        let older = |t: Instant| t.checked_sub(refresh).expect("up for 5 s");
        for encodings in m.cache.lock().unwrap().values_mut() {
            if let Some(cached) = &mut encodings.body {
                cached.process_at = older(cached.process_at);
            }
            for piece in encodings.pieces.values_mut() {
                piece.at = older(piece.at);
            }
        }
        let later = m.body(Format::Text, false).unwrap();
        assert!(
            !first.same(&later),
            "as old as the refresh: re-encoded with fresh process values"
        );
        let process = |body: &Body| {
            body.pieces()
                .iter()
                .find(|p| String::from_utf8_lossy(p).contains("# TYPE process_"))
                .map(|p| p.as_ptr())
        };
        assert!(process(&first).is_some());
        assert_ne!(
            process(&first),
            process(&later),
            "the process piece read anew"
        );
        let reused = m.body(Format::Text, false).unwrap();
        assert!(later.same(&reused), "and young again");
    }

    /// A gzip body decoded: one gzip member, and nothing after it (a member per piece would
    /// stop curl), decoding the same as a reader of several members (Go's, Prometheus') does.
    fn gunzip(body: &Body) -> Vec<u8> {
        let zipped = body.to_vec();
        let mut out = Vec::new();
        let mut one = flate2::bufread::GzDecoder::new(&zipped[..]);
        std::io::Read::read_to_end(&mut one, &mut out).unwrap();
        assert!(
            one.into_inner().is_empty(),
            "one gzip member, and nothing after it"
        );
        let mut multi = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&zipped[..]),
            &mut multi,
        )
        .unwrap();
        assert_eq!(multi, out);
        out
    }

    /// The body without the process families' values, which move between two encodings.
    fn steady(body: &[u8]) -> String {
        String::from_utf8_lossy(body)
            .lines()
            .map(|l| match l.strip_prefix("process_") {
                Some(sample) => sample.split(' ').next().unwrap_or_default(),
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_reload_encodes_every_piece_anew() {
        let (m, things) = with_things(true);
        let generations: Vec<u64> = (0..4).map(|_| next_generation()).collect();
        things.set(&[1.0, 2.0, 3.0, 4.0], &generations, true);
        let first = m.body(Format::Text, false).unwrap();
        let reused = m.body(Format::Text, false).unwrap();
        assert!(first.same(&reused));
        m.reloads.reloads.inc();
        let after = m.body(Format::Text, false).unwrap();
        assert_eq!(
            steady(&after.to_vec()).replace("reloads_total 1", "reloads_total 0"),
            steady(&first.to_vec())
        );
        for (a, b) in first.pieces().iter().zip(after.pieces()) {
            assert_ne!(a.as_ptr(), b.as_ptr(), "every piece written anew");
        }
    }

    #[test]
    fn small_pieces_are_sent_copied_together_and_large_ones_as_kept() {
        let sizes = [10, 20_000, 40_000, 30, 5_000, 30_000, 70_000, 1];
        let pieces: Vec<Bytes> = sizes
            .iter()
            .zip(b'a'..)
            .map(|(&n, c)| Bytes::from(vec![c; n]))
            .collect();
        let body = Body::new(pieces.clone());
        assert_eq!(body.to_vec(), pieces.concat());
        assert_eq!(body.len(), sizes.iter().sum::<usize>());
        let chunks = body.clone().into_chunks();
        let lens: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(lens, [20_010, 40_000, 35_030, 70_000, 1]);
        assert_eq!(
            chunks[1].as_ptr(),
            pieces[2].as_ptr(),
            "a large piece is not copied"
        );
        assert_eq!(chunks[3].as_ptr(), pieces[6].as_ptr());
    }

    #[test]
    fn gzip_bodies_decompress_to_the_plain_ones() {
        let (m, _) = metrics();
        let plain = m.body(Format::Text, false).unwrap();
        let zipped = m.body(Format::Text, true).unwrap();
        assert!(zipped.pieces().len() > 3, "in pieces");
        assert_eq!(steady(&gunzip(&zipped)), steady(&plain.to_vec()));
    }

    /// A snapshot of `values.len()` pieces, one family across them: piece `k` writes the
    /// samples of thing `k`, with generation `generations[k]`. `keyed: false` offers no
    /// pieces, so the writer encodes it whole.
    struct Things {
        values: Vec<f64>,
        generations: Vec<u64>,
        keyed: bool,
        gate: Option<Gate>,
    }

    /// Holds the writing of a snapshot: says when it began, and waits to be let go.
    struct Gate {
        began: Mutex<std::sync::mpsc::Sender<()>>,
        go: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    const THINGS: catalog::Family = catalog::Family {
        name: "genesys_things",
        kind: Kind::Counter,
        unit: None,
        help: "Things.",
        labels: &["thing"],
    };

    impl Snapshot for Things {
        fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
            if let Some(gate) = &self.gate {
                gate.began.lock().unwrap().send(()).unwrap();
                // Bounded, so that a test that fails before letting it go ends.
                let _ = gate
                    .go
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
            }
            (0..self.values.len() as u64).try_for_each(|k| self.write_piece(k, e))
        }

        fn pieces(&self) -> Option<Vec<Piece>> {
            self.keyed.then(|| {
                (0..self.values.len() as u64)
                    .zip(&self.generations)
                    .map(|(key, &generation)| Piece { key, generation })
                    .collect()
            })
        }

        fn write_piece(&self, key: u64, e: &mut Exposition) -> std::io::Result<()> {
            let i = usize::try_from(key).unwrap();
            if i == 0 {
                e.begin(&THINGS)?;
            } else {
                e.resume(&THINGS);
            }
            for j in 0..3 {
                let labels = Labels::of(&[("thing", &format!("{i}-{j}"))]);
                e.sample(&[&labels], self.values[i] + f64::from(j))?;
            }
            Ok(())
        }
    }

    /// A collector whose snapshot a test replaces.
    struct Changing {
        snapshot: Mutex<(u64, Arc<Things>)>,
    }

    impl Part for Changing {
        fn version(&self, _: SystemTime) -> (u64, bool) {
            (self.snapshot.lock().unwrap().0, true)
        }

        fn read(&self, now: SystemTime) -> (Health, Option<Arc<dyn Snapshot>>) {
            let (health, _) = Idle("things").read(now);
            let snapshot = self.snapshot.lock().unwrap().1.clone();
            (health, Some(snapshot as Arc<dyn Snapshot>))
        }
    }

    impl Changing {
        fn set(&self, values: &[f64], generations: &[u64], keyed: bool) {
            self.set_gated(values, generations, keyed, None);
        }

        fn set_gated(&self, values: &[f64], generations: &[u64], keyed: bool, gate: Option<Gate>) {
            let mut s = self.snapshot.lock().unwrap();
            s.0 += 1;
            s.1 = Arc::new(Things {
                values: values.to_vec(),
                generations: generations.to_vec(),
                keyed,
                gate,
            });
        }
    }

    fn with_things(keyed: bool) -> (Metrics, Arc<Changing>) {
        let things = Arc::new(Changing {
            snapshot: Mutex::new((
                0,
                Arc::new(Things {
                    values: Vec::new(),
                    generations: Vec::new(),
                    keyed,
                    gate: None,
                }),
            )),
        });
        let parts: Vec<Arc<dyn Part>> = vec![Arc::new(Idle("queues")), things.clone()];
        let m = Metrics::new(parts, Arc::new(Api::default()), &ReloadMetrics::default());
        (m, things)
    }

    #[test]
    fn a_body_whose_data_changed_is_held_for_sixty_times_its_making_and_at_most_five_seconds() {
        let key = CacheKey {
            orgs: 1,
            slots: vec![(7, true), (3, true)],
            api: vec![2],
            reloads: (0, 0),
            http: 5,
            forgotten: 0,
        };
        let made = Instant::now();
        let cached = |took: Duration| Cached {
            key: key.clone(),
            process_at: made,
            body: Body::new(Vec::new()),
            made,
            took,
        };
        let ms = Duration::from_millis;
        let data_changed = CacheKey {
            slots: vec![(8, true), (3, true)],
            ..key.clone()
        };
        let went_stale = CacheKey {
            slots: vec![(7, false), (3, true)],
            ..key.clone()
        };
        // 10 ms to make: held for 600 ms.
        let ten = cached(ms(10));
        assert!(ten.serves(&key, made + ms(700), true), "nothing changed");
        assert!(ten.serves(&data_changed, made + ms(599), true));
        assert!(ten.serves(&went_stale, made + ms(599), true));
        assert!(!ten.serves(&data_changed, made + ms(600), true));
        // Anything else changed is served at once: the self-metrics, a reload, the orgs.
        for other in [
            CacheKey {
                http: 6,
                ..data_changed.clone()
            },
            CacheKey {
                api: vec![3],
                ..data_changed.clone()
            },
            CacheKey {
                reloads: (1, 0),
                ..data_changed.clone()
            },
            CacheKey {
                orgs: 2,
                ..data_changed.clone()
            },
            CacheKey {
                forgotten: 1,
                ..data_changed.clone()
            },
        ] {
            assert!(!ten.serves(&other, made + ms(1), true), "{other:?}");
        }
        // A slow body is held five seconds at most; one made in no time, not at all.
        let slow = cached(ms(300));
        assert!(slow.serves(&data_changed, made + ms(4999), true));
        assert!(!slow.serves(&data_changed, made + ms(5000), true));
        assert!(!cached(Duration::ZERO).serves(&data_changed, made, true));
        assert!(
            !ten.serves(&data_changed, made + ms(1), false),
            "without the hold (benchmarks)"
        );
    }

    #[test]
    fn while_one_scrape_makes_a_compressed_body_the_others_are_served_the_last_one() {
        // Without the hold, so that a change is made at once.
        let (m, things) = with_things(false);
        let m = m.without_hold();
        let value = |body: &Body, format: Format| {
            let text = match format {
                Format::Text => body.to_vec(),
                _ => gunzip(body),
            };
            String::from_utf8(text)
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("genesys_things_total{thing=\"0-0\"} "))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap()
        };
        for (format, gzip) in [(Format::OpenMetrics, true), (Format::Text, false)] {
            things.set(&[1.0], &[1], false);
            let last = m.body(format, gzip).unwrap();
            assert_eq!(value(&last, format), 1.0);
            let (began, began_rx) = std::sync::mpsc::channel();
            let (go, go_rx) = std::sync::mpsc::channel();
            things.set_gated(
                &[2.0],
                &[2],
                false,
                Some(Gate {
                    began: Mutex::new(began),
                    go: Mutex::new(go_rx),
                }),
            );
            std::thread::scope(|s| {
                let maker = s.spawn(|| m.body(format, gzip).unwrap());
                began_rx.recv().unwrap();
                if gzip {
                    let meanwhile = m.body(format, gzip).unwrap();
                    assert!(
                        meanwhile.same(&last),
                        "the last body, while the next is made"
                    );
                    go.send(()).unwrap();
                    let made = maker.join().unwrap();
                    assert_eq!(value(&made, format), 2.0);
                    let after = m.body(format, gzip).unwrap();
                    assert!(after.same(&made), "and the new one once it is made");
                } else {
                    // A plain scrape meanwhile waits for the body being made.
                    let waiter = s.spawn(|| m.body(format, gzip).unwrap());
                    go.send(()).unwrap();
                    let made = maker.join().unwrap();
                    let waited = waiter.join().unwrap();
                    assert_eq!(value(&made, format), 2.0);
                    assert!(waited.same(&made), "{}", value(&waited, format));
                }
            });
        }
    }

    #[test]
    fn a_body_of_pieces_is_the_body_encoded_whole_and_a_change_re_encodes_its_piece_only() {
        // Without the hold, so that a change shows at once (the hold has its own test).
        let (pieces, keyed) = with_things(true);
        let pieces = pieces.without_hold();
        let (whole, unkeyed) = with_things(false);
        let whole = whole.without_hold();
        let generations: Vec<u64> = (0..4).map(|_| next_generation()).collect();
        keyed.set(&[1.0, 2.0, 3.0, 4.0], &generations, true);
        unkeyed.set(&[1.0, 2.0, 3.0, 4.0], &generations, false);
        for (format, gzip) in [
            (Format::Text, false),
            (Format::OpenMetrics, false),
            (Format::OpenMetrics, true),
        ] {
            let read = |m: &Metrics| {
                let body = m.body(format, gzip).unwrap();
                let text = if gzip { gunzip(&body) } else { body.to_vec() };
                (body, steady(&text))
            };
            let (first, text) = read(&pieces);
            assert_eq!(text, read(&whole).1, "{format:?} gzip {gzip}");
            assert!(text.contains("genesys_things_total{thing=\"3-2\"} 6.0"));
            let samples = text.lines().filter(|l| !l.starts_with('#')).count();
            assert!(
                text.lines()
                    .any(|l| l == format!("genesys_exporter_series {samples}.0")),
                "the series count counts every piece's samples: {text}"
            );

            // Thing 2 changes: its piece is encoded anew, the other three are the same bytes.
            let mut changed = generations.clone();
            changed[2] = next_generation();
            keyed.set(&[1.0, 2.0, 30.0, 4.0], &changed, true);
            unkeyed.set(&[1.0, 2.0, 30.0, 4.0], &changed, false);
            let (second, text) = read(&pieces);
            assert_eq!(text, read(&whole).1, "{format:?} gzip {gzip}");
            assert!(text.contains("genesys_things_total{thing=\"2-1\"} 31.0"));
            // After the gzip header, if any, the self-metrics, health and process.
            let first_thing = 3 + usize::from(gzip);
            let things = |body: &Body| {
                body.pieces()[first_thing..first_thing + 4]
                    .iter()
                    .map(|p| p.as_ptr())
                    .collect::<Vec<_>>()
            };
            let (before, after) = (things(&first), things(&second));
            assert_eq!(
                before
                    .iter()
                    .zip(&after)
                    .map(|(a, b)| a == b)
                    .collect::<Vec<_>>(),
                [true, true, false, true],
                "{format:?} gzip {gzip}"
            );
            keyed.set(&[1.0, 2.0, 3.0, 4.0], &generations, true);
            unkeyed.set(&[1.0, 2.0, 3.0, 4.0], &generations, false);
        }
    }
}
