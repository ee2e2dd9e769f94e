//! The writer's own families, the self-metrics: configuration reloads, collector health, the
//! build and the process, and the series count written last. The families of the data a
//! collector polls are declared beside the code that writes them, in the collector's module,
//! and listed in its `collect::Registration`; the Genesys client's in `genesys::instrument`.
//! `crate::families::ALL` assembles every family, at compile time; the writer, the
//! prometheus-client registry of the self-metrics and the tests read it, and
//! `tests/catalog.rs` compares it with a golden list, with the metric tables of
//! docs/metrics.md and with what a scrape serves.
//!
//! Names are without the `_total` a counter is exposed with (both encoders add it).

pub mod family;

pub(crate) use family::register;
pub use family::{Family, Kind};

const NO_LABELS: &[&str] = &[];
const COLLECTOR: &[&str] = &["collector"];

// Configuration reloads (`reload`).
pub(crate) const EXPORTER_CONFIG_LAST_RELOAD_SUCCESSFUL: Family = Family {
    name: "genesys_exporter_config_last_reload_successful",
    kind: Kind::Gauge,
    unit: None,
    help: "1 if the last configuration reload succeeded (or none was asked for), else 0.",
    labels: NO_LABELS,
};

pub(crate) const EXPORTER_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: Family = Family {
    name: "genesys_exporter_config_last_reload_success_timestamp_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Unix time of the last successful configuration load.",
    labels: NO_LABELS,
};

pub(crate) const EXPORTER_CONFIG_RELOADS: Family = Family {
    name: "genesys_exporter_config_reloads",
    kind: Kind::Counter,
    unit: None,
    help: "Configuration reloads asked for (SIGHUP or POST /-/reload).",
    labels: NO_LABELS,
};

pub(crate) const EXPORTER_CONFIG_RELOAD_FAILURES: Family = Family {
    name: "genesys_exporter_config_reload_failures",
    kind: Kind::Counter,
    unit: None,
    help: "Configuration reloads that failed; the previous configuration stayed in force.",
    labels: NO_LABELS,
};

// The HTTP server's protection of its connection slots (`server`, `stall`).
pub(crate) const EXPORTER_HTTP_CONNECTIONS_EVICTED: Family = Family {
    name: "genesys_exporter_http_connections_evicted",
    kind: Kind::Counter,
    unit: None,
    help: "Connections closed because every connection slot was taken and their response had stalled for a second or more (a client that does not read): each let a new client in.",
    labels: NO_LABELS,
};

pub(crate) const EXPORTER_HTTP_WRITE_TIMEOUTS: Family = Family {
    name: "genesys_exporter_http_write_timeouts",
    kind: Kind::Counter,
    unit: None,
    help: "Connections closed because a response write made no progress for 10 seconds.",
    labels: NO_LABELS,
};

// Collector health: one series per running collector (`collect`).
pub(crate) const UP: Family = Family {
    name: "genesys_up",
    kind: Kind::Gauge,
    unit: None,
    help:
        "1 when the collector's last poll of Genesys Cloud succeeded and its data is fresh, else 0.",
    labels: COLLECTOR,
};

pub(crate) const COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS: Family = Family {
    name: "genesys_collector_last_success_timestamp_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Unix time of the collector's last successful poll; data age is time() minus this.",
    labels: COLLECTOR,
};

pub(crate) const COLLECTOR_DURATION_SECONDS: Family = Family {
    name: "genesys_collector_duration_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Wall time of the collector's last poll, retries and budget waits included.",
    labels: COLLECTOR,
};

pub(crate) const COLLECTOR_INTERVAL_SECONDS: Family = Family {
    name: "genesys_collector_interval_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "The collector's effective polling interval: the configured one, stretched when the plan does not fit the request budget.",
    labels: COLLECTOR,
};

pub(crate) const COLLECTOR_REQUESTS: Family = Family {
    name: "genesys_collector_requests",
    kind: Kind::Gauge,
    unit: None,
    help: "API requests the collector's last poll sent, retries included: the cost of one refresh.",
    labels: COLLECTOR,
};

pub(crate) const COLLECTOR_POLLS: Family = Family {
    name: "genesys_collector_polls",
    kind: Kind::Counter,
    unit: None,
    help: "Polls the collector has run.",
    labels: COLLECTOR,
};

pub(crate) const COLLECTOR_POLL_FAILURES: Family = Family {
    name: "genesys_collector_poll_failures",
    kind: Kind::Counter,
    unit: None,
    help: "Polls of the collector that failed.",
    labels: COLLECTOR,
};

// The build.
pub(crate) const EXPORTER_BUILD_INFO: Family = Family {
    name: "genesys_exporter_build_info",
    kind: Kind::Gauge,
    unit: None,
    help: "Always 1; the exporter's version, git revision and the rustc that built it as labels.",
    labels: &["version", "revision", "rustc_version"],
};

// The process (`metrics::process`): the standard families of the Prometheus client libraries,
// with their names and help, on Linux only (absent elsewhere).
pub(crate) const PROCESS_CPU_SECONDS: Family = Family {
    name: "process_cpu_seconds",
    kind: Kind::Counter,
    unit: Some("seconds"),
    help: "Total user and system CPU time spent in seconds.",
    labels: NO_LABELS,
};

pub(crate) const PROCESS_RESIDENT_MEMORY_BYTES: Family = Family {
    name: "process_resident_memory_bytes",
    kind: Kind::Gauge,
    unit: Some("bytes"),
    help: "Resident memory size in bytes.",
    labels: NO_LABELS,
};

pub(crate) const PROCESS_VIRTUAL_MEMORY_BYTES: Family = Family {
    name: "process_virtual_memory_bytes",
    kind: Kind::Gauge,
    unit: Some("bytes"),
    help: "Virtual memory size in bytes.",
    labels: NO_LABELS,
};

pub(crate) const PROCESS_OPEN_FDS: Family = Family {
    name: "process_open_fds",
    kind: Kind::Gauge,
    unit: None,
    help: "Number of open file descriptors.",
    labels: NO_LABELS,
};

pub(crate) const PROCESS_MAX_FDS: Family = Family {
    name: "process_max_fds",
    kind: Kind::Gauge,
    unit: None,
    help: "Maximum number of open file descriptors.",
    labels: NO_LABELS,
};

pub(crate) const PROCESS_START_TIME_SECONDS: Family = Family {
    name: "process_start_time_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Start time of the process since unix epoch in seconds.",
    labels: NO_LABELS,
};

// Written last: counts every sample before it.
pub const EXPORTER_SERIES: Family = Family {
    name: "genesys_exporter_series",
    kind: Kind::Gauge,
    unit: None,
    help: "Samples this exporter serves on /metrics, this one included: its cardinality.",
    labels: NO_LABELS,
};

/// The families declared here, in the order a scrape writes them, but for
/// [`EXPORTER_SERIES`], which comes last; `crate::families::ALL` puts the collectors'
/// families between.
pub const OWN: &[&Family] = &[
    &EXPORTER_CONFIG_LAST_RELOAD_SUCCESSFUL,
    &EXPORTER_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
    &EXPORTER_CONFIG_RELOADS,
    &EXPORTER_CONFIG_RELOAD_FAILURES,
    &EXPORTER_HTTP_CONNECTIONS_EVICTED,
    &EXPORTER_HTTP_WRITE_TIMEOUTS,
    &UP,
    &COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS,
    &COLLECTOR_DURATION_SECONDS,
    &COLLECTOR_INTERVAL_SECONDS,
    &COLLECTOR_REQUESTS,
    &COLLECTOR_POLLS,
    &COLLECTOR_POLL_FAILURES,
    &EXPORTER_BUILD_INFO,
    &PROCESS_CPU_SECONDS,
    &PROCESS_RESIDENT_MEMORY_BYTES,
    &PROCESS_VIRTUAL_MEMORY_BYTES,
    &PROCESS_OPEN_FDS,
    &PROCESS_MAX_FDS,
    &PROCESS_START_TIME_SECONDS,
];
