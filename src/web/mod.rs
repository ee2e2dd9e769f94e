//! `--web.config.file`: the Prometheus exporter-toolkit web configuration (TLS, client
//! certificates, basic auth, extra response headers, rate limit) as a library for the HTTP
//! server.
//!
//! The server uses one [`WebGuard`] per process: per connection [`WebGuard::tls_acceptor`]
//! (then [`WebGuard::client_allowed`] on the peer certificates), per request
//! [`WebGuard::admit`] (429 when false), [`WebGuard::authorize`] (401 with
//! [`WWW_AUTHENTICATE`] on [`Unauthorized`]) and [`WebGuard::extra_headers`] on every response.
//!
//! Differences from the Go toolkit, all forced by rustls:
//! - `min_version`/`max_version` TLS10 and TLS11 are refused (rustls speaks TLS 1.2 and 1.3).
//! - `cipher_suites` restricts TLS 1.2 as in Go (TLS 1.3 suites are always on); the Go names
//!   rustls implements (ECDHE with AES-GCM or CHACHA20-POLY1305) are mapped in the listed order,
//!   other valid Go names are ignored with a warning, unknown names are errors.
//! - `curve_preferences`: X25519, CurveP256, CurveP384 are mapped in order; CurveP521 and
//!   X25519MLKEM768 are ignored with a warning (ring lacks them).
//! - `prefer_server_cipher_suites` maps to rustls `ignore_client_order` (default true).
//! - `http_server_config.http2: true` is accepted with a warning: the server is HTTP/1.1 only.
//!
//! Beyond the toolkit, for `basic_auth_users`: bcrypt costs above [`MAX_BCRYPT_COST`] (and below
//! bcrypt's minimum, 4) are refused; loading runs no bcrypt (start-up, reload and check-config
//! stay fast); and every check that runs bcrypt costs the highest cost in use, for known and
//! unknown users alike, so response times do not tell which users exist.

mod auth;
mod config;
mod ratelimit;
mod san;
mod tls;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;

pub use auth::{Unauthorized, MAX_BCRYPT_COST, WWW_AUTHENTICATE};

use auth::BasicAuth;
use config::ParseError;
use ratelimit::TokenBucket;
use tls::TlsReloader;

/// A validation problem: the key path (`tls_server_config.client_auth_type`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) key: String,
    pub(crate) message: String,
}

impl Issue {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Issue {
        Issue {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// How often [`WebGuard::tls_acceptor`] looks at the certificate files, at most.
pub(crate) const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A `--web.config.file` that cannot be used. Messages name the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("web config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax, unknown keys, wrong types.
    #[error("web config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    /// A value that is not valid, or a certificate/key/CA file that cannot be used.
    #[error("web config file {}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        /// The key path, like `tls_server_config.client_auth_type`.
        key: String,
        message: String,
    },
}

impl WebConfigError {
    fn invalid(path: &Path, issue: Issue) -> WebConfigError {
        WebConfigError::Invalid {
            path: path.to_path_buf(),
            key: issue.key,
            message: issue.message,
        }
    }
}

struct Inner {
    tls: Option<TlsReloader>,
    auth: BasicAuth,
    headers: Vec<(HeaderName, HeaderValue)>,
    allowed_sans: Option<Vec<String>>,
    rate_limit: Option<TokenBucket>,
}

/// TLS, authentication and response headers from `--web.config.file`. Cheap to clone.
#[derive(Clone)]
pub struct WebGuard {
    inner: Arc<Inner>,
}

impl fmt::Debug for WebGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebGuard")
            .field("tls", &self.inner.tls)
            .field("auth", &self.inner.auth)
            .field("headers", &self.inner.headers)
            .field("rate_limit", &self.inner.rate_limit)
            .finish()
    }
}

impl WebGuard {
    /// Reads and validates the file (and the cert/key/CA files it names). Relative paths are
    /// relative to the file's directory.
    ///
    /// # Errors
    /// When a file cannot be read or the configuration is invalid (the error says which key).
    pub fn load(path: &Path) -> Result<WebGuard, WebConfigError> {
        Self::load_with_reload_interval(path, RELOAD_CHECK_INTERVAL)
    }

    /// [`WebGuard::load`] with another interval between checks of the certificate files (tests
    /// use zero: every new connection checks).
    ///
    /// # Errors
    /// As [`WebGuard::load`].
    pub fn load_with_reload_interval(
        path: &Path,
        reload_interval: Duration,
    ) -> Result<WebGuard, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
        let settings = config::parse(&text, base_dir).map_err(|e| match e {
            ParseError::Syntax(message) => WebConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            ParseError::Invalid(issue) => WebConfigError::invalid(path, issue),
        })?;
        let allowed_sans = settings.tls.as_ref().and_then(|t| t.allowed_sans.clone());
        let tls = match settings.tls {
            Some(t) => Some(
                TlsReloader::new(t, reload_interval)
                    .map_err(|issue| WebConfigError::invalid(path, issue))?,
            ),
            None => None,
        };
        // Runs no bcrypt: start-up, reloads and check-config stay fast whatever the costs.
        let auth =
            BasicAuth::new(settings.users).map_err(|issue| WebConfigError::invalid(path, issue))?;
        for warning in &settings.warnings {
            tracing::warn!("web config file {}: {warning}", path.display());
        }
        Ok(WebGuard {
            inner: Arc::new(Inner {
                tls,
                auth,
                headers: settings.headers,
                allowed_sans,
                rate_limit: settings.rate_limit.map(TokenBucket::new),
            }),
        })
    }

    /// No TLS, no auth (when --web.config.file is not given).
    #[must_use]
    pub fn disabled() -> WebGuard {
        WebGuard {
            inner: Arc::new(Inner {
                tls: None,
                auth: BasicAuth::empty(),
                headers: Vec::new(),
                allowed_sans: None,
                rate_limit: None,
            }),
        }
    }

    /// Is TLS configured?
    #[must_use]
    pub fn tls_enabled(&self) -> bool {
        self.inner.tls.is_some()
    }

    /// The acceptor for a new connection, `None` for plain HTTP. Cert, key and client CA files
    /// are re-read when they change on disk (mtime + length, looked at most once per second); if
    /// the new files are invalid, the old ones keep serving and a warning is logged once per
    /// change. The check is a few `stat` calls, and a file read after a change.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.inner.tls.as_ref().map(TlsReloader::acceptor)
    }

    /// Checks a request's `Authorization` header value. Ok when no users are configured or the
    /// Basic credentials match a user's bcrypt hash.
    ///
    /// # Errors
    /// [`Unauthorized`] when users are configured and the header matches none of them.
    pub async fn authorize(&self, authorization: Option<&str>) -> Result<(), Unauthorized> {
        self.inner.auth.authorize(authorization).await
    }

    /// Are `basic_auth_users` configured?
    #[must_use]
    pub fn auth_enabled(&self) -> bool {
        !self.inner.auth.is_empty()
    }

    /// How many bcrypt comparisons have run (successful checks are cached; for tests).
    #[must_use]
    pub fn bcrypt_runs(&self) -> u64 {
        self.inner.auth.bcrypt_runs()
    }

    /// How many bcrypt rounds those comparisons have run: 2^cost per hash verified. Every
    /// comparison runs 2^(highest cost in use), known user or not (for tests).
    #[must_use]
    pub fn bcrypt_rounds(&self) -> u64 {
        self.inner.auth.bcrypt_rounds()
    }

    /// Extra response headers from http_server_config.headers.
    #[must_use]
    pub fn extra_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.inner.headers.clone()
    }

    /// With `client_allowed_sans`: does the peer's certificate carry one of them? (Call with
    /// `tls_stream.get_ref().1.peer_certificates()`.) The handshake already refuses other
    /// certificates; this is the same check for the server's own use. True without
    /// `client_allowed_sans`.
    #[must_use]
    pub fn client_allowed(&self, peer_certs: Option<&[CertificateDer<'_>]>) -> bool {
        match &self.inner.allowed_sans {
            None => true,
            Some(allowed) => peer_certs
                .and_then(|certs| certs.first())
                .is_some_and(|cert| tls::cert_has_allowed_san(cert, allowed)),
        }
    }

    /// `rate_limit` (one token bucket for the whole server): true when the request may
    /// proceed; the server answers 429 otherwise. Always true without `rate_limit`.
    pub fn admit(&self) -> bool {
        self.inner
            .rate_limit
            .as_ref()
            .is_none_or(TokenBucket::admit)
    }
}
