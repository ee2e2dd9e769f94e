//! rustls server configuration from [`TlsSettings`], re-built when the certificate, key or
//! client CA files change on disk.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsAcceptor;

use super::config::{PemSource, TlsSettings};
use super::san::subject_alt_names;
use super::Issue;

const P: &str = "tls_server_config";

fn read_pem(source: &PemSource, key: &str) -> Result<Vec<u8>, Issue> {
    match source {
        PemSource::Inline(s) => Ok(s.as_bytes().to_vec()),
        PemSource::File(path) => std::fs::read(path)
            .map_err(|e| Issue::new(key, format!("reading {}: {e}", path.display()))),
    }
}

fn describe(source: &PemSource) -> String {
    match source {
        PemSource::File(p) => p.display().to_string(),
        PemSource::Inline(_) => "inline PEM".to_string(),
    }
}

fn certificates(source: &PemSource, key: &str) -> Result<Vec<CertificateDer<'static>>, Issue> {
    let pem = read_pem(source, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Issue::new(key, format!("{}: invalid PEM: {e}", describe(source))))?;
    if certs.is_empty() {
        return Err(Issue::new(
            key,
            format!("{}: no CERTIFICATE block found", describe(source)),
        ));
    }
    Ok(certs)
}

/// Builds the rustls server configuration, reading every PEM source.
pub(crate) fn build(settings: &TlsSettings) -> Result<Arc<ServerConfig>, Issue> {
    let cert_key = key_name(&settings.cert, "cert_file", "cert");
    let key_key = key_name(&settings.key, "key_file", "key");
    let ca_key = match &settings.client_ca {
        Some(ca) => key_name(ca, "client_ca_file", "client_ca"),
        None => format!("{P}.client_ca_file"),
    };
    let certs = certificates(&settings.cert, &cert_key)?;
    let key_pem = read_pem(&settings.key, &key_key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        Issue::new(
            &key_key,
            format!("{}: no usable private key: {e}", describe(&settings.key)),
        )
    })?;

    let provider = Arc::new(CryptoProvider {
        cipher_suites: settings.cipher_suites.clone(),
        kx_groups: settings.kx_groups.clone(),
        ..rustls::crypto::ring::default_provider()
    });
    let algorithms = provider.signature_verification_algorithms;

    let inner: Option<Arc<dyn ClientCertVerifier>> = match &settings.client_ca {
        Some(ca) if settings.client_auth.verifies() => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, &ca_key)? {
                roots.add(cert).map_err(|e| {
                    Issue::new(&ca_key, format!("{}: invalid CA: {e}", describe(ca)))
                })?;
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if !settings.client_auth.mandatory() {
                builder = builder.allow_unauthenticated();
            }
            Some(
                builder
                    .build()
                    .map_err(|e| Issue::new(&ca_key, format!("{}: {e}", describe(ca))))?,
            )
        }
        _ => None,
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&settings.versions)
        .map_err(|e| Issue::new(format!("{P}.min_version"), e.to_string()))?;
    let builder = if settings.client_auth == super::config::ClientAuth::NoClientCert {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(Arc::new(ClientVerifier {
            inner,
            mandatory: settings.client_auth.mandatory(),
            allowed_sans: settings.allowed_sans.clone(),
            algorithms,
        }))
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        Issue::new(
            &key_key,
            format!(
                "{} and {}: {e}",
                describe(&settings.cert),
                describe(&settings.key)
            ),
        )
    })?;
    config.ignore_client_order = settings.prefer_server_cipher_suites;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn key_name(source: &PemSource, file_key: &str, inline_key: &str) -> String {
    match source {
        PemSource::File(_) => format!("{P}.{file_key}"),
        PemSource::Inline(_) => format!("{P}.{inline_key}"),
    }
}

/// Does a client certificate carry one of `allowed` as a SAN?
pub(crate) fn cert_has_allowed_san(cert: &[u8], allowed: &[String]) -> bool {
    subject_alt_names(cert)
        .map(|names| names.iter().any(|n| allowed.contains(n)))
        .unwrap_or(false)
}

/// Client certificate policy: the `webpki` verifier for the Verify* types, signatures only for
/// RequestClientCert / RequireAnyClientCert (Go does not verify those chains either), plus the
/// `client_allowed_sans` check during the handshake, as the toolkit does.
struct ClientVerifier {
    inner: Option<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
    allowed_sans: Option<Vec<String>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("verifies_chain", &self.inner.is_some())
            .field("mandatory", &self.mandatory)
            .field("allowed_sans", &self.allowed_sans)
            .finish()
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.inner {
            Some(v) => v.root_hint_subjects(),
            None => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(inner) = &self.inner {
            inner.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            if !cert_has_allowed_san(end_entity, allowed) {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// mtime and length of a file; `None` when it cannot be read (a change, too).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

struct ReloadState {
    acceptor: TlsAcceptor,
    /// Stamps of the files the current acceptor was built from.
    stamps: Vec<Stamp>,
    last_check: Instant,
    /// Stamps of the last rejected replacement: warn once per change.
    rejected: Option<Vec<Stamp>>,
}

/// The current acceptor; rebuilt when the files change (checked at most once per `interval`).
pub(crate) struct TlsReloader {
    settings: TlsSettings,
    interval: Duration,
    state: Mutex<ReloadState>,
}

impl fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsReloader")
            .field("settings", &self.settings)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl TlsReloader {
    pub(crate) fn new(settings: TlsSettings, interval: Duration) -> Result<TlsReloader, Issue> {
        let stamps = Self::stamps(&settings);
        let config = build(&settings)?;
        Ok(TlsReloader {
            settings,
            interval,
            state: Mutex::new(ReloadState {
                acceptor: TlsAcceptor::from(config),
                stamps,
                last_check: Instant::now(),
                rejected: None,
            }),
        })
    }

    fn stamps(settings: &TlsSettings) -> Vec<Stamp> {
        [
            Some(&settings.cert),
            Some(&settings.key),
            settings.client_ca.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|s| match s {
            PemSource::File(p) => Some(stamp(p)),
            PemSource::Inline(_) => None,
        })
        .collect()
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.last_check.elapsed() >= self.interval {
            state.last_check = Instant::now();
            let stamps = Self::stamps(&self.settings);
            if stamps != state.stamps && state.rejected.as_ref() != Some(&stamps) {
                match build(&self.settings) {
                    Ok(config) => {
                        tracing::info!("web config: TLS certificate files changed, reloaded");
                        state.acceptor = TlsAcceptor::from(config);
                        state.stamps = stamps;
                        state.rejected = None;
                    }
                    Err(issue) => {
                        tracing::warn!(
                            "web config: TLS files changed but are not usable, still serving the previous ones: {issue}"
                        );
                        state.rejected = Some(stamps);
                    }
                }
            }
        }
        state.acceptor.clone()
    }
}
