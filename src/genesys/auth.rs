//! OAuth client-credentials grant against the login host (REFERENCE.md 1.1-1.2).
//!
//! One token is cached and shared; it is refreshed shortly before `expires_in` runs out. The
//! refresh happens under the cache lock, so while one request fetches a token the others wait
//! for it instead of sending their own token requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::instrument::ApiMetrics;
use super::models::{AuthErrorResponse, TokenResponse};
use super::request::TOKEN;
use super::response::{read_body_capped, retry_after, BodyError};

/// Genesys' default token lifetime, assumed when a response leaves out `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The Go SDK re-authenticates 60 s before expiry; short-lived tokens (tests, 5-minute
/// clients) refresh after 90% of their life instead.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The longest lifetime an OAuth client can be configured with (REFERENCE.md 1.2: 5 min to
/// 48 h). A longer `expires_in` (up to 2^64-1 from a broken or hostile login host) is read as
/// this: the token is refreshed early, never held past what Genesys can issue, and no
/// `Instant` arithmetic on it can overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(48 * 3600);
/// Token responses are tiny; anything bigger is not a token response.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// OAuth client credentials. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Equal when both the id and the secret are: a reload compares the running credentials with
/// the configured ones without ever printing either secret.
impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.client_id == other.client_id
            && self.client_secret.expose_secret() == other.client_secret.expose_secret()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// An access token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BearerToken(Arc<str>);

impl BearerToken {
    #[must_use]
    pub(crate) fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token request to {url} failed")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("login host refused the client credentials: HTTP {status} {error}: {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    /// 429 or a server error: the login host is busy or failing, not refusing the client.
    #[error("login host could not issue a token: HTTP {status} {error}: {description}")]
    Unavailable {
        status: u16,
        error: String,
        description: String,
        /// `Retry-After` of a 429, if it gave one.
        retry_after: Option<Duration>,
    },
    #[error("token response from {url} is not usable: {reason}")]
    InvalidResponse { url: String, reason: String },
}

struct CachedToken {
    token: BearerToken,
    refresh_at: Instant,
}

pub(crate) struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    credentials: Credentials,
    cached: Mutex<Option<CachedToken>>,
    metrics: ApiMetrics,
}

impl TokenSource {
    #[must_use]
    pub(crate) fn new(
        http: reqwest::Client,
        login_url: &str,
        credentials: Credentials,
        metrics: ApiMetrics,
    ) -> TokenSource {
        TokenSource {
            http,
            token_url: format!("{}/oauth/token", login_url.trim_end_matches('/')),
            credentials,
            cached: Mutex::new(None),
            metrics,
        }
    }

    /// A valid token: the cached one, or a fresh one if it is missing or about to expire.
    ///
    /// # Errors
    /// When the token request fails or the login host refuses the credentials.
    pub(crate) async fn token(&self) -> Result<BearerToken, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops `rejected` after the API answered 401 to it, unless another request has already
    /// replaced it, so that many concurrent 401s lead to one token request, not many.
    pub(crate) async fn invalidate(&self, rejected: &BearerToken) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == rejected) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<CachedToken, AuthError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.credentials.client_id,
            self.credentials.client_secret.expose_secret()
        ));
        let sent = Instant::now();
        let response = self
            .http
            .post(&self.token_url)
            .header(AUTHORIZATION, format!("Basic {basic}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(source) => {
                self.metrics.request(TOKEN, transport_code(&source));
                return Err(AuthError::Transport {
                    url: self.token_url.clone(),
                    source,
                });
            }
        };
        let status = response.status();
        self.metrics.request(TOKEN, status.as_str());
        let retry_after = retry_after(response.headers());
        let body = read_body_capped(response, MAX_TOKEN_BODY)
            .await
            .map_err(|e| match e {
                BodyError::Transport(source) => AuthError::Transport {
                    url: self.token_url.clone(),
                    source,
                },
                BodyError::TooLarge(limit) => AuthError::InvalidResponse {
                    url: self.token_url.clone(),
                    reason: format!("body larger than {limit} bytes"),
                },
            })?;
        if !status.is_success() {
            let err: AuthErrorResponse = serde_json::from_slice(&body).unwrap_or_default();
            let error = err.error.unwrap_or_else(|| "unknown_error".into());
            let description = err
                .error_description
                .or(err.description)
                .unwrap_or_else(|| "no description".into());
            let status = status.as_u16();
            return Err(if status == 429 || status >= 500 {
                AuthError::Unavailable {
                    status,
                    error,
                    description,
                    retry_after,
                }
            } else {
                AuthError::Rejected {
                    status,
                    error,
                    description,
                }
            });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| AuthError::InvalidResponse {
                url: self.token_url.clone(),
                reason: e.to_string(),
            })?;
        if parsed.access_token.is_empty() {
            return Err(AuthError::InvalidResponse {
                url: self.token_url.clone(),
                reason: "empty access_token".into(),
            });
        }
        self.metrics.token_refreshes.inc();
        self.metrics.changed();
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME)
            .min(MAX_LIFETIME);
        let margin = (lifetime / 10).min(MAX_REFRESH_MARGIN);
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            "obtained a Genesys access token"
        );
        Ok(CachedToken {
            token: BearerToken(parsed.access_token.into()),
            // 48 h from now fits any clock's `Instant`; saturate all the same (no arithmetic
            // on outside input may panic).
            refresh_at: sent.checked_add(lifetime - margin).unwrap_or(sent),
        })
    }
}

/// The `code` label for a request that got no HTTP response.
pub(crate) fn transport_code(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else {
        "connection_error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = Credentials {
            client_id: "id-123".into(),
            client_secret: SecretString::from("hunter2"),
        };
        let shown = format!("{c:?} {:?}", BearerToken("tok-abc".into()));
        assert!(shown.contains("id-123"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("tok-abc"), "{shown}");
    }
}
