//! The `web-config.yml` file of the Prometheus exporter-toolkit: serde types (strict: unknown
//! keys are errors) and validation into [`Settings`], with errors that name the key path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::SupportedKxGroup;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use serde::Deserialize;

use super::Issue;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    burst: Option<u64>,
}

/// Where a PEM blob comes from: a file (re-read when it changes) or inline text.
#[derive(Clone)]
pub(crate) enum PemSource {
    File(PathBuf),
    Inline(String),
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => write!(f, "File({})", p.display()),
            PemSource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

pub(crate) const CLIENT_AUTH_TYPES: &str =
    "NoClientCert, RequestClientCert, RequireAnyClientCert, \
     VerifyClientCertIfGiven, RequireAndVerifyClientCert";

impl ClientAuth {
    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // "RequireClientCert" is the toolkit's backwards-compatible alias.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    pub(crate) fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    pub(crate) fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// Validated TLS settings; the PEM files are read by `tls.rs` (and re-read when they change).
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub cert: PemSource,
    pub key: PemSource,
    pub client_auth: ClientAuth,
    pub client_ca: Option<PemSource>,
    pub allowed_sans: Option<Vec<String>>,
    pub versions: Vec<&'static SupportedProtocolVersion>,
    pub cipher_suites: Vec<SupportedCipherSuite>,
    pub kx_groups: Vec<&'static dyn SupportedKxGroup>,
    pub prefer_server_cipher_suites: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("client_auth", &self.client_auth)
            .field("client_ca", &self.client_ca)
            .field("allowed_sans", &self.allowed_sans)
            .field("versions", &self.versions)
            .field("cipher_suites", &self.cipher_suites)
            .field(
                "prefer_server_cipher_suites",
                &self.prefer_server_cipher_suites,
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub interval: Duration,
    pub burst: u64,
}

/// The whole validated file.
#[derive(Default)]
pub(crate) struct Settings {
    pub tls: Option<TlsSettings>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// user → bcrypt hash.
    pub users: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimit>,
    /// Messages to log as warnings once the file is accepted (ignored settings).
    pub warnings: Vec<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("tls", &self.tls)
            .field("headers", &self.headers)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// Parses and validates YAML text; relative paths are joined to `base_dir`.
pub(crate) fn parse(text: &str, base_dir: &Path) -> Result<Settings, ParseError> {
    let raw: Option<RawConfig> = if text.trim().is_empty() {
        None
    } else {
        // No source snippet in messages: neighbouring lines can hold hashes or an inline key.
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| ParseError::Syntax(e.to_string()))?
    };
    validate(raw.unwrap_or_default(), base_dir).map_err(ParseError::Invalid)
}

#[derive(Debug)]
pub(crate) enum ParseError {
    Syntax(String),
    Invalid(Issue),
}

fn validate(raw: RawConfig, base_dir: &Path) -> Result<Settings, Issue> {
    let mut warnings = Vec::new();
    let tls = match raw.tls_server_config {
        Some(t) => validate_tls(t, base_dir, &mut warnings)?,
        None => None,
    };
    let mut headers = Vec::new();
    if let Some(http) = raw.http_server_config {
        if http.http2 == Some(true) {
            warnings.push(
                "http_server_config.http2: the server speaks HTTP/1.1 only for now; setting ignored"
                    .to_string(),
            );
        }
        for (name, value) in http.headers.unwrap_or_default() {
            headers.push(validate_header(&name, &value)?);
        }
    }
    let mut users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        let key = format!("basic_auth_users.{user}");
        let hash = hash.ok_or_else(|| Issue::new(&key, "missing bcrypt hash"))?;
        crate::web::auth::check_hash(&hash).map_err(|why| Issue::new(&key, why))?;
        users.insert(user, hash);
    }
    let rate_limit = match raw.rate_limit {
        Some(r) => validate_rate_limit(r)?,
        None => None,
    };
    Ok(Settings {
        tls,
        headers,
        users,
        rate_limit,
        warnings,
    })
}

/// The toolkit allows only these response headers; `Some` lists the only accepted values.
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

fn validate_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Issue> {
    let key = format!("http_server_config.headers.{name}");
    let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
        return Err(Issue::new(
            key,
            format!(
                "HTTP header {name:?} can not be configured (allowed: {})",
                names.join(", ")
            ),
        ));
    };
    if let Some(values) = allowed {
        // Header values of these tokens are case-insensitive (RFC 7034, RFC 7230).
        if !values.iter().any(|v| v.eq_ignore_ascii_case(value.trim())) {
            return Err(Issue::new(
                key,
                format!("{value:?} is not one of {}", values.join(", ")),
            ));
        }
    }
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| Issue::new(&key, format!("invalid header name: {e}")))?;
    let header_value = HeaderValue::from_str(value)
        .map_err(|e| Issue::new(&key, format!("invalid header value: {e}")))?;
    Ok((header_name, header_value))
}

fn validate_rate_limit(r: RawRateLimit) -> Result<Option<RateLimit>, Issue> {
    let interval = match r.interval.as_deref().map(str::trim) {
        None | Some("") | Some("0") => Duration::ZERO,
        Some(s) => humantime::parse_duration(s).map_err(|e| {
            Issue::new(
                "rate_limit.interval",
                format!("{s:?} is not a duration (like 1s or 100ms): {e}"),
            )
        })?,
    };
    let burst = r.burst.unwrap_or(0);
    if interval.is_zero() {
        // The toolkit: interval 0 means no rate limit.
        return Ok(None);
    }
    if burst == 0 {
        return Err(Issue::new(
            "rate_limit.burst",
            "must be at least 1 when rate_limit.interval is set (0 would refuse every request)",
        ));
    }
    Ok(Some(RateLimit { interval, burst }))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn pem_source(
    file_key: &str,
    inline_key: &str,
    file: Option<String>,
    inline: Option<String>,
    base_dir: &Path,
) -> Result<Option<PemSource>, Issue> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(Issue::new(
            file_key,
            format!("cannot specify both {file_key} and {inline_key}"),
        )),
        (Some(f), None) => Ok(Some(PemSource::File(base_dir.join(f)))),
        (None, Some(i)) => Ok(Some(PemSource::Inline(i))),
        (None, None) => Ok(None),
    }
}

fn parse_version(key: &str, s: &str) -> Result<u8, Issue> {
    match s {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        _ => Err(Issue::new(
            key,
            format!("{s:?} is not one of TLS10, TLS11, TLS12, TLS13"),
        )),
    }
}

fn validate_tls(
    t: RawTls,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsSettings>, Issue> {
    const P: &str = "tls_server_config";
    let cert_file = non_empty(t.cert_file);
    let key_file = non_empty(t.key_file);
    let cert = non_empty(t.cert);
    let key = non_empty(t.key);
    let client_ca_file = non_empty(t.client_ca_file);
    let client_ca = non_empty(t.client_ca);
    let client_auth_type = non_empty(t.client_auth_type);
    // The toolkit: a TLS section with none of these set means plain HTTP.
    if cert_file.is_none()
        && key_file.is_none()
        && cert.is_none()
        && key.is_none()
        && client_ca_file.is_none()
        && client_ca.is_none()
        && client_auth_type.is_none()
    {
        return Ok(None);
    }
    let cert = pem_source(&format!("{P}.cert_file"), "cert", cert_file, cert, base_dir)?
        .ok_or_else(|| Issue::new(format!("{P}.cert_file"), "missing cert_file or cert"))?;
    let key = pem_source(&format!("{P}.key_file"), "key", key_file, key, base_dir)?
        .ok_or_else(|| Issue::new(format!("{P}.key_file"), "missing key_file or key"))?;
    let client_ca = pem_source(
        &format!("{P}.client_ca_file"),
        "client_ca",
        client_ca_file,
        client_ca,
        base_dir,
    )?;
    let auth_str = client_auth_type.unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_str).ok_or_else(|| {
        Issue::new(
            format!("{P}.client_auth_type"),
            format!("{auth_str:?} is not one of {CLIENT_AUTH_TYPES}"),
        )
    })?;
    if client_auth.verifies() && client_ca.is_none() {
        return Err(Issue::new(
            format!("{P}.client_ca_file"),
            format!("required by client_auth_type {client_auth:?}"),
        ));
    }
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(Issue::new(
            format!("{P}.client_ca_file"),
            "client CAs are configured without a client_auth_type that verifies them",
        ));
    }
    let allowed_sans = t.client_allowed_sans.filter(|s| !s.is_empty());
    if allowed_sans.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(Issue::new(
            format!("{P}.client_allowed_sans"),
            "needs a client_auth_type that requests a client certificate",
        ));
    }

    let min = match t.min_version.as_deref() {
        Some(s) => parse_version(&format!("{P}.min_version"), s)?,
        None => 12,
    };
    let max = match t.max_version.as_deref() {
        Some(s) => parse_version(&format!("{P}.max_version"), s)?,
        None => 13,
    };
    if min < 12 {
        return Err(Issue::new(
            format!("{P}.min_version"),
            "TLS10 and TLS11 are not supported (rustls implements TLS12 and TLS13 only); use TLS12 or TLS13",
        ));
    }
    if max < 12 {
        return Err(Issue::new(
            format!("{P}.max_version"),
            "TLS10 and TLS11 are not supported (rustls implements TLS12 and TLS13 only); use TLS12 or TLS13",
        ));
    }
    if min > max {
        return Err(Issue::new(
            format!("{P}.min_version"),
            format!("TLS{min} is above max_version TLS{max}"),
        ));
    }
    let mut versions = Vec::new();
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }

    let cipher_suites = match t.cipher_suites.filter(|c| !c.is_empty()) {
        None => rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec(),
        Some(names) => map_cipher_suites(&names, min <= 12, warnings)?,
    };
    let kx_groups = match t.curve_preferences.filter(|c| !c.is_empty()) {
        None => rustls::crypto::ring::DEFAULT_KX_GROUPS.to_vec(),
        Some(names) => map_curves(&names, warnings)?,
    };
    Ok(Some(TlsSettings {
        cert,
        key,
        client_auth,
        client_ca,
        allowed_sans,
        versions,
        cipher_suites,
        kx_groups,
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

/// TLS 1.2 suites by their Go names (the toolkit's spelling) that rustls on ring implements.
fn tls12_suite(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Go's TLS 1.3 suites: Go (and so the toolkit) does not let cipher_suites restrict TLS 1.3.
const GO_TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go's other suite names (CBC, RSA key exchange, RC4, 3DES): valid for the toolkit, but rustls
/// does not implement them.
const GO_UNSUPPORTED_SUITES: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// Maps `cipher_suites` (TLS 1.2 only, in the listed order) onto rustls; TLS 1.3 suites are
/// always all enabled, as in Go.
fn map_cipher_suites(
    names: &[String],
    tls12_enabled: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<SupportedCipherSuite>, Issue> {
    let key = "tls_server_config.cipher_suites";
    let mut tls12 = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        if let Some(suite) = tls12_suite(name) {
            if !tls12.contains(&suite) {
                tls12.push(suite);
            }
        } else if GO_TLS13_SUITES.contains(&name.as_str()) {
            skipped.push(format!("{name} (TLS 1.3 suites are not configurable)"));
        } else if GO_UNSUPPORTED_SUITES.contains(&name.as_str()) {
            skipped.push(format!("{name} (not implemented by rustls)"));
        } else {
            return Err(Issue::new(key, format!("unknown cipher suite {name:?}")));
        }
    }
    if !skipped.is_empty() {
        warnings.push(format!("{key}: ignoring {}", skipped.join(", ")));
    }
    if tls12_enabled && tls12.is_empty() {
        return Err(Issue::new(
            key,
            "none of the listed suites is a TLS 1.2 suite rustls implements (ECDHE with AES-GCM \
             or CHACHA20-POLY1305); TLS 1.2 would have no cipher suite",
        ));
    }
    let mut suites: Vec<SupportedCipherSuite> = rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .copied()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .collect();
    suites.extend(tls12);
    Ok(suites)
}

fn map_curves(
    names: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<&'static dyn SupportedKxGroup>, Issue> {
    let key = "tls_server_config.curve_preferences";
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        let group: &'static dyn SupportedKxGroup = match name.as_str() {
            "X25519" => kx_group::X25519,
            "CurveP256" => kx_group::SECP256R1,
            "CurveP384" => kx_group::SECP384R1,
            "CurveP521" | "X25519MLKEM768" => {
                skipped.push(name.clone());
                continue;
            }
            _ => {
                return Err(Issue::new(
                    key,
                    format!(
                        "{name:?} is not one of CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768"
                    ),
                ))
            }
        };
        if !groups.iter().any(|g| g.name() == group.name()) {
            groups.push(group);
        }
    }
    if !skipped.is_empty() {
        warnings.push(format!(
            "{key}: ignoring {} (not implemented by rustls on ring)",
            skipped.join(", ")
        ));
    }
    if groups.is_empty() {
        return Err(Issue::new(
            key,
            "none of the listed curves is implemented (X25519, CurveP256, CurveP384)",
        ));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(text: &str) -> Issue {
        match parse(text, Path::new("/etc/x")) {
            Err(ParseError::Invalid(issue)) => issue,
            Err(other) => panic!("expected a validation issue, got {other:?}"),
            Ok(s) => panic!("expected an error, got {s:?}"),
        }
    }

    fn syntax(text: &str) -> String {
        match parse(text, Path::new("/etc/x")) {
            Err(ParseError::Syntax(message)) => message,
            Err(other) => panic!("expected a parse error, got {other:?}"),
            Ok(s) => panic!("expected an error, got {s:?}"),
        }
    }

    #[test]
    fn empty_files_and_sections_mean_plain_http_without_auth() {
        for text in [
            "",
            "# comment only\n",
            "tls_server_config:\nbasic_auth_users:\n",
            "tls_server_config: {}\nhttp_server_config: {}\n",
            "tls_server_config:\n  min_version: TLS13\n",
        ] {
            let s = parse(text, Path::new(".")).expect(text);
            assert!(s.tls.is_none() && s.users.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let m = syntax("tls_server_config:\n  cert_fille: a\n");
        assert!(m.contains("cert_fille"), "{m}");
        let m = syntax("basic_auth_user:\n  a: b\n");
        assert!(m.contains("basic_auth_user"), "{m}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let base = "tls_server_config:\n  cert_file: a\n  key_file: b\n";
        let i = issue(&format!("{base}  client_auth_type: Foo\n"));
        assert_eq!(i.key, "tls_server_config.client_auth_type");
        assert!(
            i.message.contains("\"Foo\" is not one of NoClientCert"),
            "{i}"
        );
        let i = issue(&format!(
            "{base}  client_auth_type: RequireAndVerifyClientCert\n"
        ));
        assert_eq!(i.key, "tls_server_config.client_ca_file");
        let i = issue(&format!("{base}  min_version: TLS10\n"));
        assert_eq!(i.key, "tls_server_config.min_version");
        assert!(i.message.contains("not supported"), "{i}");
        let i = issue(&format!("{base}  min_version: TLS14\n"));
        assert_eq!(i.key, "tls_server_config.min_version");
        let i = issue(&format!(
            "{base}  min_version: TLS13\n  max_version: TLS12\n"
        ));
        assert_eq!(i.key, "tls_server_config.min_version");
        let i = issue("tls_server_config:\n  key_file: b\n");
        assert_eq!(i.key, "tls_server_config.cert_file");
        let i = issue("tls_server_config:\n  cert_file: b\n  cert: x\n");
        assert_eq!(i.key, "tls_server_config.cert_file");
        let i = issue(&format!("{base}  client_ca_file: c\n"));
        assert_eq!(i.key, "tls_server_config.client_ca_file");
        let i = issue(&format!("{base}  cipher_suites: [TLS_FOO]\n"));
        assert_eq!(i.key, "tls_server_config.cipher_suites");
        let i = issue(&format!("{base}  curve_preferences: [P1]\n"));
        assert_eq!(i.key, "tls_server_config.curve_preferences");
        let i = issue("http_server_config:\n  headers:\n    Server: x\n");
        assert_eq!(i.key, "http_server_config.headers.Server");
        let i = issue("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
        assert_eq!(i.key, "http_server_config.headers.X-Frame-Options");
        let i = issue("basic_auth_users:\n  alice: secret\n");
        assert_eq!(i.key, "basic_auth_users.alice");
        assert!(!i.message.contains("secret"), "{i}");
        let i = issue(
            "basic_auth_users:\n  bob: $2y$31$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n",
        );
        assert_eq!(i.key, "basic_auth_users.bob");
        assert!(i.message.contains("above the maximum of 14"), "{i}");
        let i = issue("rate_limit:\n  interval: soon\n  burst: 1\n");
        assert_eq!(i.key, "rate_limit.interval");
        let i = issue("rate_limit:\n  interval: 1s\n");
        assert_eq!(i.key, "rate_limit.burst");
    }

    #[test]
    fn maps_tls_options() {
        let mut warnings = Vec::new();
        let suites = map_cipher_suites(
            &[
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".to_string(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string(),
            ],
            true,
            &mut warnings,
        )
        .expect("suites");
        assert!(suites.contains(&cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert!(!suites.contains(&cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        assert!(suites.contains(&cipher_suite::TLS13_AES_256_GCM_SHA384));
        assert_eq!(warnings.len(), 1);
        let groups =
            map_curves(&["CurveP521".into(), "CurveP256".into()], &mut warnings).expect("curves");
        assert_eq!(groups.len(), 1);
        let s = parse(
            "tls_server_config:\n  cert_file: a.crt\n  key: inline\n  max_version: TLS12\nrate_limit:\n  interval: 100ms\n  burst: 3\nhttp_server_config:\n  http2: true\n",
            Path::new("/etc/x"),
        )
        .expect("valid");
        let tls = s.tls.as_ref().expect("tls");
        assert!(matches!(&tls.cert, PemSource::File(p) if p == Path::new("/etc/x/a.crt")));
        assert_eq!(tls.versions.len(), 1);
        assert!(!format!("{s:?}").contains("inline"));
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(
            s.rate_limit,
            Some(RateLimit {
                interval: Duration::from_millis(100),
                burst: 3
            })
        );
    }
}
