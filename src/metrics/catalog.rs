//! Every metric family the exporter serves, declared once: name, type, unit, help and label
//! names. Most are declared here; the analytics aggregates' are derived from their quantity
//! rows (`collect::aggregates::quantities`) and taken as one part (`aggregates::FAMILIES`),
//! so that [`ALL`] is assembled, at compile time. The writer, the prometheus-client registry
//! of the self-metrics and the tests all read [`ALL`]; `tests/catalog.rs` compares it with a
//! golden list, with the metric tables of docs/metrics.md and with what a scrape serves.
//!
//! Names are without the `_total` a counter is exposed with (both encoders add it). The
//! analytics families carry `queue_id` and `queue` only with `--aggregates.by=queue` (the
//! default); with `--aggregates.by=media_type` they are summed over queues and drop both.
//! With `--aggregates.by-direction` they carry a `direction` label after `media_type` (not
//! listed here: the default body has none).

pub mod family;

pub(crate) use family::register;
pub use family::{Family, Kind};

const NO_LABELS: &[&str] = &[];
const COLLECTOR: &[&str] = &["collector"];
const QUEUE: &[&str] = &["queue_id", "queue"];
const QUEUE_MEDIA: &[&str] = &["queue_id", "queue", "media_type"];

// The Genesys client: what it spends of the API budget (`genesys::instrument`).
pub(crate) const API_REQUESTS: Family = Family {
    name: "genesys_api_requests",
    kind: Kind::Counter,
    unit: None,
    help: "Requests sent to the Genesys Cloud API, by endpoint and HTTP status code.",
    labels: &["endpoint", "code"],
};

pub(crate) const API_RETRIES: Family = Family {
    name: "genesys_api_retries",
    kind: Kind::Counter,
    unit: None,
    help: "Requests repeated after a retryable failure, by endpoint and reason.",
    labels: &["endpoint", "reason"],
};

pub(crate) const API_BUDGET_WAIT_SECONDS: Family = Family {
    name: "genesys_api_budget_wait_seconds",
    kind: Kind::Counter,
    unit: Some("seconds"),
    help: "Time requests spent waiting for the client-side request budget.",
    labels: NO_LABELS,
};

pub(crate) const API_BUDGET_REQUESTS_PER_MINUTE: Family = Family {
    name: "genesys_api_budget_requests_per_minute",
    kind: Kind::Gauge,
    unit: None,
    help: "Client-side request budget shared by all collectors (Genesys allows 300/min per token by default).",
    labels: NO_LABELS,
};

pub(crate) const API_BUDGET_WAITING_REQUESTS: Family = Family {
    name: "genesys_api_budget_waiting_requests",
    kind: Kind::Gauge,
    unit: None,
    help: "Requests waiting right now for the client-side budget; above 0 for long, the budget is too small for the intervals.",
    labels: NO_LABELS,
};

pub(crate) const API_PLANNED_REQUESTS_PER_MINUTE: Family = Family {
    name: "genesys_api_planned_requests_per_minute",
    kind: Kind::Gauge,
    unit: None,
    help: "Requests a minute the collectors' effective intervals cost for the watched queues.",
    labels: NO_LABELS,
};

pub(crate) const API_TOKEN_REFRESHES: Family = Family {
    name: "genesys_api_token_refreshes",
    kind: Kind::Counter,
    unit: None,
    help: "OAuth client-credentials tokens obtained from the login host.",
    labels: NO_LABELS,
};

pub(crate) const API_ORG_LIMIT_REQUESTS_PER_MINUTE: Family = Family {
    name: "genesys_api_org_limit_requests_per_minute",
    kind: Kind::Gauge,
    unit: None,
    help: "The org's own limit of requests a minute per token (client.credentials.token.rate.per.minute of GET /api/v2/organizations/limits/namespaces/platform.api, read at start-up); absent when not readable.",
    labels: NO_LABELS,
};

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

// `queues` collector: queue discovery.
pub(crate) const QUEUES: Family = Family {
    name: "genesys_queues",
    kind: Kind::Gauge,
    unit: None,
    help: "Queues being watched (after the include/exclude filters).",
    labels: NO_LABELS,
};

pub(crate) const QUEUE_INFO: Family = Family {
    name: "genesys_queue_info",
    kind: Kind::Gauge,
    unit: None,
    help: "Always 1 for each watched queue; carries its name and division.",
    labels: &["queue_id", "queue", "division"],
};

// `observations` collector: live queue state.
pub(crate) const QUEUE_CONVERSATIONS: Family = Family {
    name: "genesys_queue_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversations in the queue right now by state (waiting, interacting, alerting): oWaiting, oInteracting, oAlerting.",
    labels: &["queue_id", "queue", "media_type", "state"],
};

pub(crate) const QUEUE_LONGEST_WAITING_SECONDS: Family = Family {
    name: "genesys_queue_longest_waiting_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "How long the longest-waiting conversation has waited, as of the last poll (oLongestWaiting); 0 when none waits.",
    labels: QUEUE_MEDIA,
};

pub(crate) const QUEUE_ON_QUEUE_USERS: Family = Family {
    name: "genesys_queue_on_queue_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Agents on queue (oOnQueueUsers).",
    labels: QUEUE,
};

pub(crate) const QUEUE_LONGEST_INTERACTING_SECONDS: Family = Family {
    name: "genesys_queue_longest_interacting_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "How long the longest interaction in the queue has lasted so far (oLongestInteracting); 0 when none is interacting.",
    labels: QUEUE_MEDIA,
};

pub(crate) const QUEUE_MEMBER_USERS: Family = Family {
    name: "genesys_queue_member_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue, whatever their status (oMemberUsers).",
    labels: QUEUE,
};

pub(crate) const QUEUE_ACTIVE_USERS: Family = Family {
    name: "genesys_queue_active_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue who are active on it (oActiveUsers): joined to it, by analogy with the documented user metric oActiveQueues (inferred).",
    labels: QUEUE,
};

pub(crate) const QUEUE_OFF_QUEUE_USERS: Family = Family {
    name: "genesys_queue_off_queue_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue who are off queue (oOffQueueUsers).",
    labels: QUEUE,
};

pub(crate) const QUEUE_PRESENCE_USERS: Family = Family {
    name: "genesys_queue_presence_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Members of the queue by system presence, lower case (oUserPresences, each organization presence counted under the system presence systemToOrganizationMappings maps it to; unknown when unmapped).",
    labels: &["queue_id", "queue", "presence"],
};

pub(crate) const QUEUE_ESTIMATED_WAIT_SECONDS: Family = Family {
    name: "genesys_queue_estimated_wait_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Genesys' estimated wait for a new conversation (GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime), for queue and media types with conversations waiting; opt-in collector estimated_wait.",
    labels: QUEUE_MEDIA,
};

pub(crate) const QUEUE_USERS: Family = Family {
    name: "genesys_queue_users",
    kind: Kind::Gauge,
    unit: None,
    help: "Queue members by routing status (oUserRoutingStatuses).",
    labels: &["queue_id", "queue", "routing_status"],
};

// `observations` collector, how live data arrives (push over notification channels, or polls).
pub(crate) const LIVE_MODE: Family = Family {
    name: "genesys_live_mode",
    kind: Kind::Gauge,
    unit: None,
    help:
        "The configured --live.mode: 1 for the mode in use (auto, push or poll), 0 for the others.",
    labels: &["mode"],
};

pub(crate) const LIVE_QUEUES: Family = Family {
    name: "genesys_live_queues",
    kind: Kind::Gauge,
    unit: None,
    help: "Watched queues by how their live state arrives right now: push (a notification channel) or poll.",
    labels: &["delivery"],
};

pub(crate) const LIVE_CHANNELS: Family = Family {
    name: "genesys_live_channels",
    kind: Kind::Gauge,
    unit: None,
    help: "Notification channels with a connected WebSocket.",
    labels: NO_LABELS,
};

pub(crate) const LIVE_TOPICS: Family = Family {
    name: "genesys_live_topics",
    kind: Kind::Gauge,
    unit: None,
    help: "Queue observation topics by subscription state (permitted, rejected).",
    labels: &["state"],
};

pub(crate) const LIVE_EVENTS: Family = Family {
    name: "genesys_live_events",
    kind: Kind::Counter,
    unit: None,
    help: "WebSocket frames received, by topic kind (observations, heartbeat, pong, socket_closing, binary, other).",
    labels: &["topic"],
};

pub(crate) const LIVE_RECONNECTS: Family = Family {
    name: "genesys_live_reconnects",
    kind: Kind::Counter,
    unit: None,
    help: "Notification channels replaced, by reason (socket_closing, closed, broken, stalled, expiring, failed).",
    labels: &["reason"],
};

pub(crate) const LIVE_RECONCILE_DIFFERENCES: Family = Family {
    name: "genesys_live_reconcile_differences",
    kind: Kind::Counter,
    unit: None,
    help: "Live series whose pushed value differed from the polled one when a reconciling poll replaced it, by reading of events (rows: an event replaces the rows it carries; groups: it is its group's whole state).",
    labels: &["reading"],
};

pub(crate) const LIVE_EVENT_READING: Family = Family {
    name: "genesys_live_event_reading",
    kind: Kind::Gauge,
    unit: None,
    help: "1 for the reading of pushed events in use (rows or groups): the one with fewer reconcile differences so far.",
    labels: &["reading"],
};

pub(crate) const LIVE_LAST_EVENT_TIMESTAMP_SECONDS: Family = Family {
    name: "genesys_live_last_event_timestamp_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Unix time of the newest queue observation event received (absent before the first).",
    labels: NO_LABELS,
};

pub(crate) const LIVE_IGNORED_VALUES: Family = Family {
    name: "genesys_live_ignored_values",
    kind: Kind::Counter,
    unit: None,
    help: "Values of queue observation events and polls left out, by reason: media_type (a group of an undocumented media type beyond the 8 kept), qualifier (a row of an undocumented qualifier beyond the 8 kept), invalid_count (a count that is not a whole number from 0 up; the previous count is kept).",
    labels: &["reason"],
};

// `activity` collector: org-wide live state.
pub(crate) const CONVERSATIONS: Family = Family {
    name: "genesys_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversations org-wide right now by media type and state (conversation activity query).",
    labels: &["media_type", "state"],
};

// `flows` collector (opt-in): org-wide conversations in Architect flows.
pub(crate) const FLOW_CONVERSATIONS: Family = Family {
    name: "genesys_flow_conversations",
    kind: Kind::Gauge,
    unit: None,
    help: "Conversations in an Architect flow right now, org-wide, by flow type in lower case (oFlow, POST /api/v2/analytics/flows/activity/query grouped by flowType); opt-in collector flows.",
    labels: &["flow_type"],
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
/// own parts between.
pub const OWN: &[&Family] = &[
    &API_REQUESTS,
    &API_RETRIES,
    &API_BUDGET_WAIT_SECONDS,
    &API_BUDGET_REQUESTS_PER_MINUTE,
    &API_BUDGET_WAITING_REQUESTS,
    &API_PLANNED_REQUESTS_PER_MINUTE,
    &API_TOKEN_REFRESHES,
    &API_ORG_LIMIT_REQUESTS_PER_MINUTE,
    &EXPORTER_CONFIG_LAST_RELOAD_SUCCESSFUL,
    &EXPORTER_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
    &EXPORTER_CONFIG_RELOADS,
    &EXPORTER_CONFIG_RELOAD_FAILURES,
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
    &QUEUES,
    &QUEUE_INFO,
    &QUEUE_CONVERSATIONS,
    &QUEUE_LONGEST_WAITING_SECONDS,
    &QUEUE_ON_QUEUE_USERS,
    &QUEUE_USERS,
    &QUEUE_LONGEST_INTERACTING_SECONDS,
    &QUEUE_MEMBER_USERS,
    &QUEUE_ACTIVE_USERS,
    &QUEUE_OFF_QUEUE_USERS,
    &QUEUE_PRESENCE_USERS,
    &QUEUE_ESTIMATED_WAIT_SECONDS,
    &LIVE_MODE,
    &LIVE_QUEUES,
    &LIVE_CHANNELS,
    &LIVE_TOPICS,
    &LIVE_EVENTS,
    &LIVE_RECONNECTS,
    &LIVE_RECONCILE_DIFFERENCES,
    &LIVE_EVENT_READING,
    &LIVE_LAST_EVENT_TIMESTAMP_SECONDS,
    &LIVE_IGNORED_VALUES,
    &CONVERSATIONS,
    &FLOW_CONVERSATIONS,
];
