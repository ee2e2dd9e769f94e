//! The HTTP client for the Genesys Cloud API.
//!
//! Every request goes through one path: wait for the shared request budget, attach the
//! bearer token, send with a timeout, read at most `max_body_bytes`, decode. Retries follow
//! the official SDKs (REFERENCE.md 3.3): 429 after `Retry-After`, 502/503/504 and transport
//! failures with exponential backoff and jitter, a 401 once after a token refresh.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::auth::{transport_code, AuthError, BearerToken, Credentials, TokenSource};
use super::instrument::ApiMetrics;
use super::models::{
    Channel, ChannelTopicEntityListing, ErrorBody, QueueEntityListing, TopicRequest,
};
use super::ratelimit::{Class, RateLimiter};
use super::request::{CreateChannel, QueuesPage, Subscribe, UnsubscribeAll, TOKEN};
use super::response::{read_body_capped, retry_after, BodyError};
use super::{Endpoint, Request};

/// The official SDKs give up on a 429 whose `Retry-After` is longer than this: such answers
/// come from daily quotas, not from the per-minute limit.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(180);
/// Used when a 429 carries no usable `Retry-After` (the .NET SDK's default).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(3);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_url: String,
    pub login_url: String,
    pub credentials: Credentials,
    pub requests_per_minute: u32,
    pub request_timeout: Duration,
    /// Retries after the first attempt, for 429, 5xx and transport failures.
    pub max_retries: u32,
    pub max_body_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{endpoint}: authentication failed")]
    Auth {
        endpoint: &'static str,
        #[source]
        source: AuthError,
    },
    #[error("{endpoint}: HTTP {status} {code}: {message}")]
    Status {
        endpoint: &'static str,
        status: u16,
        code: String,
        message: String,
        /// The other strings of the `ErrorBody` (`messageParams`, `details`, nested
        /// `errors`...): where a 400 may name what it refused.
        context: Vec<String>,
    },
    #[error("{endpoint}: request failed")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{endpoint}: response body larger than {limit} bytes, refused")]
    BodyTooLarge {
        endpoint: &'static str,
        limit: usize,
    },
    #[error("{endpoint}: the request body could not be encoded as JSON")]
    Encode {
        endpoint: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{endpoint}: response is not valid JSON for this endpoint")]
    Decode {
        endpoint: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{endpoint}: gave up after {attempts} attempts")]
    RetriesExhausted {
        endpoint: &'static str,
        attempts: u32,
        #[source]
        last: Box<ApiError>,
    },
    #[error(
        "{endpoint}: rate limited with Retry-After {seconds}s, longer than the {max}s we wait"
    )]
    RetryAfterTooLong {
        endpoint: &'static str,
        seconds: u64,
        max: u64,
    },
    #[error("invalid API base URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
}

impl ApiError {
    /// Genesys refused the request as such: a 4xx other than 401 (a token to refresh), 408
    /// and 429 (waits). Asking again the same way gets the same answer.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => {
                (400..500).contains(status) && !matches!(status, 401 | 408 | 429)
            }
            ApiError::RetriesExhausted { last, .. } => last.is_permanent(),
            _ => false,
        }
    }
}

/// What one attempt came to, and whether it is worth another.
enum Attempt<T> {
    Done(T),
    Retry {
        /// The request repeated: the call's own, or the token request before it.
        retried: Endpoint,
        reason: &'static str,
        wait: Option<Duration>,
        error: ApiError,
    },
    Reauthenticate {
        rejected: BearerToken,
        error: ApiError,
    },
    Fail(ApiError),
}

#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: String,
    tokens: TokenSource,
    limiter: RateLimiter,
    metrics: ApiMetrics,
    max_retries: u32,
    max_body_bytes: usize,
}

impl GenesysClient {
    /// A client for one org: its URLs, credentials, budget and retry policy.
    ///
    /// # Errors
    /// [`ApiError::BadUrl`] when the API or login URL is not an http(s) base URL; when the HTTP
    /// client cannot be built.
    pub fn new(config: ClientConfig, metrics: ApiMetrics) -> Result<GenesysClient, ApiError> {
        for url in [&config.api_url, &config.login_url] {
            let parsed = url::Url::parse(url).map_err(|e| ApiError::BadUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ApiError::BadUrl {
                    url: url.clone(),
                    reason: "scheme must be http or https".into(),
                });
            }
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("genesys-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transport {
                endpoint: "client",
                source: e,
            })?;
        metrics
            .budget_per_minute
            .set(i64::from(config.requests_per_minute));
        let tokens = TokenSource::new(
            http.clone(),
            &config.login_url,
            config.credentials,
            metrics.clone(),
        );
        Ok(GenesysClient {
            inner: Arc::new(Inner {
                http,
                api_url: config.api_url.trim_end_matches('/').to_string(),
                tokens,
                limiter: RateLimiter::new(config.requests_per_minute),
                metrics,
                max_retries: config.max_retries,
                max_body_bytes: config.max_body_bytes,
            }),
        })
    }

    /// Requests a minute the polling plan costs (see `budget`).
    pub(crate) fn set_planned_per_minute(&self, per_minute: f64) {
        self.inner.metrics.planned_per_minute.set(per_minute);
        self.inner.metrics.changed();
    }

    /// Requests a minute the plan's live collectors send: the share of the budget that
    /// background requests leave to them (see `ratelimit`).
    pub(crate) fn set_live_reserve(&self, per_minute: f64) {
        // A count of requests: rounded up, and far below usize::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.inner
            .limiter
            .set_reserved(per_minute.max(0.0).ceil() as usize);
    }

    /// A new client-side budget (config reload).
    pub(crate) fn set_requests_per_minute(&self, per_minute: u32) {
        self.inner.limiter.set_per_minute(per_minute);
        self.inner.metrics.changed();
        self.inner
            .metrics
            .budget_per_minute
            .set(i64::from(per_minute.max(1)));
    }

    /// Sends `request`: its endpoint's budget, retries and self-metrics, its body as JSON,
    /// its answer decoded as its response type.
    ///
    /// # Errors
    /// When the request fails after its retries, or the answer is not the expected JSON.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response, ApiError> {
        self.call(
            R::ENDPOINT,
            request.method(),
            &request.path(),
            request.body(),
        )
        .await
    }

    /// `GET /api/v2/routing/queues`, one page.
    ///
    /// # Errors
    /// As [`GenesysClient::send`].
    pub async fn queues_page(
        &self,
        page_number: u32,
        page_size: u32,
    ) -> Result<QueueEntityListing, ApiError> {
        self.send(&QueuesPage {
            page_number,
            page_size,
        })
        .await
    }

    /// `POST /api/v2/notifications/channels`: a new notification channel (its WebSocket is
    /// connected to `connectUri` exactly as returned).
    ///
    /// # Errors
    /// As [`GenesysClient::send`]; an org without the notifications API answers 404 or
    /// 403, which the caller reads as "poll instead".
    pub async fn create_channel(&self) -> Result<Channel, ApiError> {
        self.send(&CreateChannel).await
    }

    /// Subscribes a channel to `topics`: `PUT` replaces its subscriptions, `POST` adds to
    /// them. The answer says per topic whether it is `Permitted` or `Rejected` (and which
    /// permissions are missing). `ignoreErrors=true` asks for that per-topic answer rather than
    /// an error for the whole request when some topic is not permitted (unverified: the
    /// reference shows the parameter, not its effect; a wrong guess fails the request, and the
    /// queues are polled instead).
    ///
    /// # Errors
    /// As [`GenesysClient::send`]; more than 1,000 topics on a channel is a 400.
    pub async fn subscribe(
        &self,
        channel_id: &str,
        topics: &[&str],
        replace: bool,
    ) -> Result<ChannelTopicEntityListing, ApiError> {
        self.send(&Subscribe {
            channel_id,
            topics: topics.iter().map(|id| TopicRequest { id }).collect(),
            replace,
        })
        .await
    }

    /// `DELETE /api/v2/notifications/channels/{channelId}/subscriptions`: the channel
    /// delivers nothing from now on (a channel let go; the API cannot delete a channel).
    ///
    /// # Errors
    /// As [`GenesysClient::send`].
    pub async fn unsubscribe_all(&self, channel_id: &str) -> Result<(), ApiError> {
        self.send(&UnsubscribeAll { channel_id }).await
    }

    /// The client-side budget in force (requests a minute).
    #[must_use]
    pub(crate) fn requests_per_minute(&self) -> u32 {
        self.inner.limiter.per_minute()
    }

    /// The API is plain HTTP (tests, the simulator): a `ws://` `connectUri` is then expected.
    #[must_use]
    pub(crate) fn api_is_plain_http(&self) -> bool {
        self.inner.api_url.starts_with("http://")
    }

    /// `genesys_api_org_limit_requests_per_minute`: the org's own per-token limit.
    pub(crate) fn set_org_limit_per_minute(&self, per_minute: i64) {
        self.inner.metrics.set_org_limit(per_minute);
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let body = match body {
            Some(b) => Some(Bytes::from(serde_json::to_vec(b).map_err(|source| {
                ApiError::Encode {
                    endpoint: endpoint.label,
                    source,
                }
            })?)),
            None => None,
        };
        let url = format!("{}{}", self.inner.api_url, path_and_query);
        let mut retries = 0;
        let mut reauthenticated = false;
        loop {
            match self.attempt(endpoint, &method, &url, body.clone()).await {
                Attempt::Done(bytes) => {
                    // `204 No Content` (a `DELETE`) reads as `null`, which only `()` accepts.
                    let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                    return serde_json::from_slice(bytes).map_err(|source| ApiError::Decode {
                        endpoint: endpoint.label,
                        source,
                    });
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Reauthenticate { rejected, error } => {
                    // Its retry series have no `unauthorized` either (`instrument`).
                    if reauthenticated || !endpoint.retries_unauthorized {
                        return Err(error);
                    }
                    reauthenticated = true;
                    self.inner.metrics.retry(endpoint, "unauthorized");
                    tracing::info!(
                        endpoint = endpoint.label,
                        "token rejected (401), refreshing once"
                    );
                    self.inner.tokens.invalidate(&rejected).await;
                }
                Attempt::Retry {
                    retried,
                    reason,
                    wait,
                    error,
                } => {
                    if retries >= self.inner.max_retries {
                        return Err(ApiError::RetriesExhausted {
                            endpoint: endpoint.label,
                            attempts: retries + 1,
                            last: Box::new(error),
                        });
                    }
                    let wait = wait.unwrap_or_else(|| backoff(retries));
                    retries += 1;
                    self.inner.metrics.retry(retried, reason);
                    tracing::warn!(
                        endpoint = retried.label,
                        reason,
                        retry = retries,
                        wait_ms = crate::clock::millis_u64(wait),
                        error = %error,
                        "retrying Genesys request"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        endpoint: Endpoint,
        method: &Method,
        url: &str,
        body: Option<Bytes>,
    ) -> Attempt<Bytes> {
        let inner = &self.inner;
        let token = match inner.tokens.token().await {
            Ok(t) => t,
            Err(source) => {
                // The token request is retried like any other: a login host that is busy,
                // failing or unreachable for a moment must not cost a whole poll.
                let (reason, wait) = match &source {
                    AuthError::Transport { source: e, .. } => (transport_code(e), None),
                    AuthError::Unavailable {
                        status: 429,
                        retry_after,
                        ..
                    } => (
                        "rate_limited",
                        Some(
                            retry_after
                                .unwrap_or(DEFAULT_RETRY_AFTER)
                                .min(MAX_RETRY_AFTER),
                        ),
                    ),
                    AuthError::Unavailable { .. } => ("server_error", None),
                    AuthError::Rejected { .. } | AuthError::InvalidResponse { .. } => {
                        return Attempt::Fail(ApiError::Auth {
                            endpoint: endpoint.label,
                            source,
                        })
                    }
                };
                return Attempt::Retry {
                    retried: TOKEN,
                    reason,
                    wait,
                    error: ApiError::Auth {
                        endpoint: endpoint.label,
                        source,
                    },
                };
            }
        };
        inner.metrics.budget_waiting.inc();
        inner.metrics.changed();
        let class = CLASS.try_with(|c| *c).unwrap_or(Class::Live);
        let waited = inner.limiter.acquire(class).await;
        inner.metrics.budget_waiting.dec();
        inner
            .metrics
            .budget_wait_seconds
            .inc_by(waited.as_secs_f64());
        let mut request = inner
            .http
            .request(method.clone(), url)
            .header(reqwest::header::AUTHORIZATION, token.header_value());
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(source) => {
                let code = transport_code(&source);
                inner.metrics.request(endpoint, code);
                count_request();
                let error = ApiError::Transport {
                    endpoint: endpoint.label,
                    source,
                };
                return Attempt::Retry {
                    retried: endpoint,
                    reason: code,
                    wait: None,
                    error,
                };
            }
        };
        let status = response.status();
        inner.metrics.request(endpoint, status.as_str());
        count_request();
        let retry_after = retry_after(response.headers());
        let bytes = match read_body_capped(response, inner.max_body_bytes).await {
            Ok(b) => b,
            Err(BodyError::TooLarge(limit)) => {
                return Attempt::Fail(ApiError::BodyTooLarge {
                    endpoint: endpoint.label,
                    limit,
                })
            }
            Err(BodyError::Transport(source)) => {
                let reason = transport_code(&source);
                let error = ApiError::Transport {
                    endpoint: endpoint.label,
                    source,
                };
                return Attempt::Retry {
                    retried: endpoint,
                    reason,
                    wait: None,
                    error,
                };
            }
        };
        if status.is_success() {
            return Attempt::Done(bytes);
        }
        let error = status_error(endpoint, status, &bytes);
        match status {
            StatusCode::UNAUTHORIZED => Attempt::Reauthenticate {
                rejected: token,
                error,
            },
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                if wait > MAX_RETRY_AFTER {
                    return Attempt::Fail(ApiError::RetryAfterTooLong {
                        endpoint: endpoint.label,
                        seconds: wait.as_secs(),
                        max: MAX_RETRY_AFTER.as_secs(),
                    });
                }
                // Every collector shares the token's budget, so all of them hold back.
                inner.limiter.pause_for(wait);
                Attempt::Retry {
                    retried: endpoint,
                    reason: "rate_limited",
                    wait: Some(wait),
                    error,
                }
            }
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Attempt::Retry {
                retried: endpoint,
                reason: "server_error",
                wait: None,
                error,
            },
            _ => Attempt::Fail(error),
        }
    }
}

tokio::task_local! {
    static REQUESTS: std::cell::Cell<u64>;
    /// Set by [`in_background`]; live when unset.
    static CLASS: Class;
}

/// Runs `fut` with its requests in the budget's background class: they wait while a live
/// request waits and leave live state its planned share of the budget (`ratelimit`). What
/// an analytics collector's polls run in.
pub(crate) async fn in_background<F: std::future::Future>(fut: F) -> F::Output {
    CLASS.scope(Class::Background, fut).await
}

/// Runs `fut` and counts the API requests it sent (retries included), so a collector can say
/// what one refresh costs.
pub(crate) async fn counting_requests<F: std::future::Future>(fut: F) -> (F::Output, u64) {
    REQUESTS
        .scope(std::cell::Cell::new(0), async move {
            let out = fut.await;
            (out, REQUESTS.with(|c| c.get()))
        })
        .await
}

fn count_request() {
    let _ = REQUESTS.try_with(|c| c.set(c.get() + 1));
}

fn status_error(endpoint: Endpoint, status: StatusCode, body: &[u8]) -> ApiError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    ApiError::Status {
        endpoint: endpoint.label,
        status: status.as_u16(),
        context: parsed.context(),
        code: parsed.code.unwrap_or_else(|| "no.error.code".into()),
        message: parsed
            .message
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").into()),
    }
}

/// Exponential backoff with full jitter: a random wait in [d/2, d], d = 0.5 s · 2^n, capped.
fn backoff(retry: u32) -> Duration {
    let full = BACKOFF_BASE
        .saturating_mul(1 << retry.min(8))
        .min(BACKOFF_MAX);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for retry in 0..20 {
            let d = backoff(retry);
            let full = BACKOFF_BASE
                .saturating_mul(1 << retry.min(8))
                .min(BACKOFF_MAX);
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn an_error_body_keeps_its_other_strings_as_context() {
        let body = br#"{"message": "bad", "code": "bad.request", "status": 400,
            "messageWithParams": "metric {metric} is not valid", "messageParams": {"metric": "tAnswered"},
            "details": [{"errorCode": "x", "fieldName": "metrics"}], "errors": [{"message": "nested"}]}"#;
        let ApiError::Status { context, .. } = status_error(
            crate::genesys::request::QUEUES,
            StatusCode::BAD_REQUEST,
            body,
        ) else {
            panic!("a status error");
        };
        for s in [
            "metric {metric} is not valid",
            "tAnswered",
            "metrics",
            "nested",
        ] {
            assert!(context.iter().any(|c| c == s), "{s} in {context:?}");
        }
        // An odd type in a field nobody documented keeps the code and message.
        let e = status_error(
            crate::genesys::request::QUEUES,
            StatusCode::BAD_REQUEST,
            br#"{"message": "bad", "code": "bad.request", "details": 7}"#,
        );
        assert!(e.to_string().contains("400 bad.request: bad"), "{e}");
    }

    #[test]
    fn error_bodies_give_code_and_message() {
        let body = include_bytes!("../../tests/fixtures/error-429.response.devforum.json");
        let e = status_error(
            crate::genesys::request::QUEUES,
            StatusCode::TOO_MANY_REQUESTS,
            body,
        );
        let text = e.to_string();
        assert!(text.contains("429 too.many.requests.retry.after"), "{text}");
        assert!(text.contains("Retry the request in [42] seconds"), "{text}");
        let e = status_error(
            crate::genesys::request::QUEUES,
            StatusCode::BAD_GATEWAY,
            b"<html>oops</html>",
        );
        assert!(
            e.to_string().contains("502 no.error.code: Bad Gateway"),
            "{e}"
        );
    }
}
