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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use prometheus_client::registry::Registry;

pub use catalog::Kind;
pub use exposition::Format;
use exposition::{Exposition, Labels};
pub use part::{Health, Part, Registered, Snapshot};
use reload::ReloadMetrics;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("encoding the self-metrics failed")]
    Encode,
    #[error("compressing the metrics failed")]
    Compress(#[source] std::io::Error),
}

/// Fast compression: a body is compressed once per change of what it shows, and metric text
/// compresses ~10x even so.
const GZIP_LEVEL: flate2::Compression = flate2::Compression::fast();

/// Renders the exposition, and keeps the last body per format and encoding for as long as
/// nothing it shows has changed: concurrent scrapers between two polls share one encoded body.
///
/// The `process_*` families are the exception: they change all the time, and no key could
/// say when without reading /proc on every scrape. They are read when a body is encoded, and a
/// cached body is reused only while it is younger than [`process::REFRESH`] (5 s), so their
/// values are at most that old, and scrapers that come together still share one encoding.
/// The rest of the body is re-encoded with them: `genesys_exporter_series` counts their
/// samples, so they cannot be spliced in after the cached part.
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
    cache: Mutex<HashMap<(Format, bool), Cached>>,
    /// Length of the last uncompressed body, to size the next one's buffer.
    last_len: AtomicUsize,
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

/// An encoded body, what it shows, and when it was encoded (for its process values' age).
struct Cached {
    key: CacheKey,
    encoded: Instant,
    body: Bytes,
}

impl Cached {
    fn serves(&self, key: &CacheKey, now: Instant) -> bool {
        self.key == *key
            && process::REFRESH
                .is_none_or(|refresh| now.saturating_duration_since(self.encoded) < refresh)
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
            last_len: AtomicUsize::new(0),
        }
    }

    /// Shows the HTTP server's self-metrics too.
    #[must_use]
    pub(crate) fn with_http(mut self, http: &http::HttpMetrics) -> Metrics {
        http.register(&mut self.registry);
        self.http = Some(http.clone());
        self
    }

    /// Replaces the orgs shown (a reload added, removed or restarted some).
    pub(crate) fn set_orgs(&self, orgs: Vec<Arc<OrgMetrics>>) {
        let mut current = self.orgs.write().unwrap_or_else(|e| e.into_inner());
        current.list = Arc::new(orgs);
        current.generation += 1;
    }

    fn orgs(&self) -> (Arc<Vec<Arc<OrgMetrics>>>, u64, bool) {
        let o = self.orgs.read().unwrap_or_else(|e| e.into_inner());
        (o.list.clone(), o.generation, o.labelled)
    }

    /// The body for a scrape: the cached one if nothing changed since it was encoded, else a
    /// fresh encoding (gzip-compressed when `gzip`). Concurrent scrapers that find the cache
    /// outdated wait for one encoding instead of each doing their own.
    ///
    /// # Errors
    /// When the self-metrics cannot be encoded or compressing fails.
    pub fn body(&self, format: Format, gzip: bool) -> Result<Bytes, RenderError> {
        let key = self.key(SystemTime::now());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.get(&(format, gzip)) {
            if cached.serves(&key, Instant::now()) {
                return Ok(cached.body.clone());
            }
        }
        // The previous plain body, once no response holds it any more, lends its memory to
        // the next one: at a few hundred thousand series, the kernel's fresh zeroed pages
        // cost more than the encoding itself.
        let reused = match gzip {
            true => Vec::new(),
            false => cache
                .remove(&(format, false))
                .and_then(|old| old.body.try_into_mut().ok())
                .map(Vec::from)
                .unwrap_or_default(),
        };
        let encoded = Instant::now();
        let body = self.encode(format, gzip.then_some(GZIP_LEVEL), reused)?;
        // Bodies of an older state will not be served again: at 5,000 queues each is
        // megabytes, so only the current state's are kept.
        cache.retain(|_, cached| cached.key == key);
        cache.insert(
            (format, gzip),
            Cached {
                key,
                encoded,
                body: body.clone(),
            },
        );
        Ok(body)
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
        }
    }

    /// A full encoding into `buffer`: self-metrics, collector health and data, and last
    /// `genesys_exporter_series`, which counts every sample before it.
    fn encode(
        &self,
        format: Format,
        gzip: Option<flate2::Compression>,
        buffer: Vec<u8>,
    ) -> Result<Bytes, RenderError> {
        let (orgs, _, several) = self.orgs();
        let own = encode_registry(&self.registry, format)?;
        let expected = self.last_len.load(Ordering::Relaxed);
        let mut e = Exposition::new(format, gzip, buffer, expected);
        let written = match (several, orgs.first()) {
            (false, Some(org)) => e
                .raw(&own)
                .and_then(|()| families::write(&mut e, &org.parts, SystemTime::now())),
            _ => {
                let merged = merge_orgs(format, &own, &orgs)?;
                e.raw(&merged)
            }
        }
        .and_then(|()| families::write_series(&mut e));
        written.map_err(RenderError::Compress)?;
        self.last_len.store(e.text_len(), Ordering::Relaxed);
        e.finish().map_err(RenderError::Compress)
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
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

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
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "the same bytes, not a re-encoding"
        );
        let other_format = m.body(Format::OpenMetrics, false).unwrap();
        assert_ne!(first.as_ptr(), other_format.as_ptr());
        assert!(other_format.ends_with(b"# EOF\n"));

        api.request("200");
        let changed = m.body(Format::Text, false).unwrap();
        assert_ne!(
            first.as_ptr(),
            changed.as_ptr(),
            "a self-metric changed: re-encoded"
        );
        assert!(String::from_utf8_lossy(&changed).contains("code=\"200\""));
    }

    #[test]
    fn a_new_plain_body_reuses_the_memory_of_the_last_once_nobody_holds_it() {
        let (m, api) = metrics();
        // The first body has no size to go by; from the second on, buffers have room to spare.
        drop(m.body(Format::Text, false).unwrap());
        api.request("200");
        // The process' own samples (CPU seconds, memory) may change length between two
        // encodings under load; the rest of the body is compared.
        let own_len = |body: &[u8]| -> usize {
            String::from_utf8_lossy(body)
                .lines()
                .filter(|l| !l.starts_with("process_"))
                .map(str::len)
                .sum()
        };
        let second = m.body(Format::Text, false).unwrap();
        let (at, len) = (second.as_ptr(), own_len(&second));
        drop(second);
        // The same counter goes from 1 to 2: a new body of the same length.
        api.request("200");
        let third = m.body(Format::Text, false).unwrap();
        assert_eq!(
            third.as_ptr(),
            at,
            "written into the previous body's buffer"
        );
        assert_eq!(own_len(&third), len, "a new body of the same length");
        assert!(String::from_utf8_lossy(&third).contains("code=\"200\"} 2"));

        // While a response still holds it, the old body is left alone.
        api.request("429");
        let fourth = m.body(Format::Text, false).unwrap();
        assert_ne!(fourth.as_ptr(), third.as_ptr());
        assert!(!String::from_utf8_lossy(&third).contains("code=\"429\""));
        assert!(String::from_utf8_lossy(&fourth).contains("code=\"429\""));
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
        assert!(String::from_utf8_lossy(&first).contains("\nprocess_resident_memory_bytes "));
        let again = m.body(Format::Text, false).unwrap();
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "young: served from the cache"
        );

        let refresh = process::REFRESH.expect("Linux serves process families");
        for cached in m.cache.lock().unwrap().values_mut() {
            cached.encoded = cached.encoded.checked_sub(refresh).expect("up for 5 s");
        }
        let later = m.body(Format::Text, false).unwrap();
        assert_ne!(
            first.as_ptr(),
            later.as_ptr(),
            "as old as the refresh: re-encoded with fresh process values"
        );
    }

    #[test]
    fn gzip_bodies_decompress_to_the_plain_ones() {
        let (m, _) = metrics();
        let plain = m.body(Format::Text, false).unwrap();
        let zipped = m.body(Format::Text, true).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut out)
            .unwrap();
        // Each is encoded on its own, so the process values (CPU time) may have moved between.
        let steady = |body: &[u8]| -> String {
            String::from_utf8_lossy(body)
                .lines()
                .filter(|l| !l.starts_with("process_"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(steady(&out), steady(&plain));
    }
}
