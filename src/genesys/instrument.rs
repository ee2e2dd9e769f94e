//! Self-metrics of the Genesys client: what it spends of the API budget, and why it retried.
//! Direct instrumentation is right here (the Prometheus exporter guide allows it for the
//! exporter's own work); the data series come from snapshots instead.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::catalog::{self, register};

use super::request::CLIENT_ENDPOINTS;
use super::Endpoint;

const API_REQUESTS: catalog::Family = catalog::Family {
    name: "genesys_api_requests",
    kind: catalog::Kind::Counter,
    unit: None,
    help: "Requests sent to the Genesys Cloud API, by endpoint and HTTP status code.",
    labels: &["endpoint", "code"],
};

const API_RETRIES: catalog::Family = catalog::Family {
    name: "genesys_api_retries",
    kind: catalog::Kind::Counter,
    unit: None,
    help: "Requests repeated after a retryable failure, by endpoint and reason.",
    labels: &["endpoint", "reason"],
};

const API_BUDGET_WAIT_SECONDS: catalog::Family = catalog::Family {
    name: "genesys_api_budget_wait_seconds",
    kind: catalog::Kind::Counter,
    unit: Some("seconds"),
    help: "Time requests spent waiting for the client-side request budget.",
    labels: &[],
};

const API_BUDGET_REQUESTS_PER_MINUTE: catalog::Family = catalog::Family {
    name: "genesys_api_budget_requests_per_minute",
    kind: catalog::Kind::Gauge,
    unit: None,
    help: "Client-side request budget shared by all collectors (Genesys allows 300/min per token by default).",
    labels: &[],
};

const API_BUDGET_WAITING_REQUESTS: catalog::Family = catalog::Family {
    name: "genesys_api_budget_waiting_requests",
    kind: catalog::Kind::Gauge,
    unit: None,
    help: "Requests waiting right now for the client-side budget; above 0 for long, the budget is too small for the intervals.",
    labels: &[],
};

const API_PLANNED_REQUESTS_PER_MINUTE: catalog::Family = catalog::Family {
    name: "genesys_api_planned_requests_per_minute",
    kind: catalog::Kind::Gauge,
    unit: None,
    help: "Requests a minute the collectors' effective intervals cost for the watched queues.",
    labels: &[],
};

const API_TOKEN_REFRESHES: catalog::Family = catalog::Family {
    name: "genesys_api_token_refreshes",
    kind: catalog::Kind::Counter,
    unit: None,
    help: "OAuth client-credentials tokens obtained from the login host.",
    labels: &[],
};

const API_ORG_LIMIT_REQUESTS_PER_MINUTE: catalog::Family = catalog::Family {
    name: "genesys_api_org_limit_requests_per_minute",
    kind: catalog::Kind::Gauge,
    unit: None,
    help: "The org's own limit of requests a minute per token (client.credentials.token.rate.per.minute of GET /api/v2/organizations/limits/namespaces/platform.api, read at start-up); absent when not readable.",
    labels: &[],
};

/// The client's families, in the order a scrape writes them (`crate::families::ALL` takes
/// them first).
pub(crate) const FAMILIES: &[&catalog::Family] = &[
    &API_REQUESTS,
    &API_RETRIES,
    &API_BUDGET_WAIT_SECONDS,
    &API_BUDGET_REQUESTS_PER_MINUTE,
    &API_BUDGET_WAITING_REQUESTS,
    &API_PLANNED_REQUESTS_PER_MINUTE,
    &API_TOKEN_REFRESHES,
    &API_ORG_LIMIT_REQUESTS_PER_MINUTE,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) endpoint: &'static str,
    /// HTTP status, or `timeout` / `connection_error` when no response came back.
    pub(crate) code: String,
}

/// A series without labels that exists only once set (a plain gauge is always served).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NoLabels {}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RetryLabels {
    pub(crate) endpoint: &'static str,
    /// `rate_limited` (429), `server_error` (502/503/504), `timeout`, `connection_error`,
    /// `unauthorized` (401: token refreshed, request retried once).
    pub(crate) reason: &'static str,
}

/// The reasons a request to `endpoint` can be retried for (`genesys::client`).
fn retry_reasons(endpoint: Endpoint) -> &'static [&'static str] {
    const TRANSIENT: &[&str] = &[
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
    ];
    const ALL: &[&str] = &[
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
        "unauthorized",
    ];
    if endpoint.retries_unauthorized {
        ALL
    } else {
        TRANSIENT
    }
}

#[derive(Clone, Debug, Default)]
pub struct ApiMetrics {
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) retries: Family<RetryLabels, Counter>,
    pub(crate) budget_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    pub(crate) budget_per_minute: Gauge,
    pub(crate) budget_waiting: Gauge,
    pub(crate) planned_per_minute: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(crate) token_refreshes: Counter,
    /// `genesys_api_org_limit_requests_per_minute`: no series until the org's limits said it.
    pub(crate) org_limit_per_minute: Family<NoLabels, Gauge>,
    /// Bumped on every change above, so a scrape can tell whether its cached body is current.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ApiMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        // Retries are few and their label values known: every series exists from the start
        // at 0, so `rate()` and `increase()` see the first retry, and an alert on them does
        // not need `or vector(0)`. (Requests are not: their `code` is whatever came back.)
        for endpoint in CLIENT_ENDPOINTS {
            self.init_retries(endpoint);
        }
        register(registry, &API_REQUESTS, self.requests.clone());
        register(registry, &API_RETRIES, self.retries.clone());
        register(
            registry,
            &API_BUDGET_WAIT_SECONDS,
            self.budget_wait_seconds.clone(),
        );
        register(
            registry,
            &API_BUDGET_REQUESTS_PER_MINUTE,
            self.budget_per_minute.clone(),
        );
        register(
            registry,
            &API_BUDGET_WAITING_REQUESTS,
            self.budget_waiting.clone(),
        );
        register(
            registry,
            &API_PLANNED_REQUESTS_PER_MINUTE,
            self.planned_per_minute.clone(),
        );
        register(registry, &API_TOKEN_REFRESHES, self.token_refreshes.clone());
        register(
            registry,
            &API_ORG_LIMIT_REQUESTS_PER_MINUTE,
            self.org_limit_per_minute.clone(),
        );
    }

    /// Creates `endpoint`'s retry series at 0.
    pub(crate) fn init_retries(&self, endpoint: Endpoint) {
        for &reason in retry_reasons(endpoint) {
            drop(self.retries.get_or_create(&RetryLabels {
                endpoint: endpoint.label,
                reason,
            }));
        }
        self.changed();
    }

    /// The org's per-token request limit, as its limits API reported it.
    pub(crate) fn set_org_limit(&self, per_minute: i64) {
        self.org_limit_per_minute
            .get_or_create(&NoLabels {})
            .set(per_minute);
        self.changed();
    }

    /// Changes with every update of these metrics.
    #[must_use]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn request(&self, endpoint: Endpoint, code: impl Into<String>) {
        self.changed();
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.label,
                code: code.into(),
            })
            .inc();
    }

    pub(crate) fn retry(&self, endpoint: Endpoint, reason: &'static str) {
        self.changed();
        self.retries
            .get_or_create(&RetryLabels {
                endpoint: endpoint.label,
                reason,
            })
            .inc();
    }
}

/// The writer reads the client's self-metrics through its own trait.
impl crate::metrics::Registered for ApiMetrics {
    fn register(&self, registry: &mut Registry) {
        ApiMetrics::register(self, registry);
    }

    fn generation(&self) -> u64 {
        ApiMetrics::generation(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::reload::ReloadMetrics;
    use crate::metrics::{Format, Metrics};

    fn metrics() -> (Metrics, ApiMetrics) {
        let api = ApiMetrics::default();
        let m = Metrics::new(Vec::new(), Arc::new(api.clone()), &ReloadMetrics::default());
        (m, api)
    }

    #[test]
    fn retry_series_exist_at_0_before_any_retry() {
        let (m, api) = metrics();
        let text = String::from_utf8(m.body(Format::Text, false).unwrap().to_vec()).unwrap();
        let retries: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("genesys_api_retries_total{"))
            .collect();
        // The client's 5 endpoints x 5 reasons, less the token endpoint's `unauthorized` (the
        // endpoints collectors declare get theirs when the org starts them).
        assert_eq!(retries.len(), 24, "{retries:#?}");
        assert!(retries.iter().all(|l| l.ends_with(" 0")), "{retries:#?}");
        assert!(text.contains(
            "genesys_api_retries_total{endpoint=\"/oauth/token\",reason=\"rate_limited\"} 0\n"
        ));
        assert!(!text.contains("endpoint=\"/oauth/token\",reason=\"unauthorized\""));

        api.retry(crate::genesys::request::QUEUES, "unauthorized");
        let text = String::from_utf8(m.body(Format::Text, false).unwrap().to_vec()).unwrap();
        assert!(text.contains(
            "genesys_api_retries_total{endpoint=\"/api/v2/routing/queues\",reason=\"unauthorized\"} 1\n"
        ));
    }
}
