//! `--web.config.file` end to end: a tiny hyper server that uses `WebGuard` as the exporter
//! will, real TLS (rcgen certificates) and basic auth over loopback.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use genesys_exporter::web::{WebConfigError, WebGuard, WWW_AUTHENTICATE};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, WWW_AUTHENTICATE as WWW_AUTHENTICATE_HEADER};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// Test server: exactly the calls the exporter makes.

async fn handle(guard: WebGuard, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut response = if !guard.admit() {
        let mut r = Response::new(Full::new(Bytes::from_static(b"too many requests\n")));
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r
    } else {
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match guard.authorize(authorization).await {
            Ok(()) => Response::new(Full::new(Bytes::from_static(b"ok\n"))),
            Err(_unauthorized) => {
                let mut r = Response::new(Full::new(Bytes::from_static(b"Unauthorized\n")));
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                r.headers_mut().insert(
                    WWW_AUTHENTICATE_HEADER,
                    hyper::header::HeaderValue::from_static(WWW_AUTHENTICATE),
                );
                r
            }
        }
    };
    for (name, value) in guard.extra_headers() {
        response.headers_mut().insert(name, value);
    }
    response
}

async fn serve_connection<I>(io: I, guard: WebGuard)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let guard = guard.clone();
        async move { Ok::<_, Infallible>(handle(guard, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

async fn start_server(guard: WebGuard) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let guard = guard.clone();
            tokio::spawn(async move {
                match guard.tls_acceptor() {
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        if !guard.client_allowed(tls.get_ref().1.peer_certificates()) {
                            return;
                        }
                        serve_connection(TokioIo::new(tls), guard).await;
                    }
                    None => serve_connection(TokioIo::new(tcp), guard).await,
                }
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "genesys-exporter-webcfg-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes a file with an explicit mtime, so a rewrite is a change whatever the file
    /// system's timestamp granularity.
    fn write(&self, name: &str, contents: &str, mtime_secs: u64) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime_secs))
            .expect("set mtime");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

fn make_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("ca key");
    let pem = params.self_signed(&key).expect("ca cert").pem();
    Ca { params, key, pem }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn make_leaf(ca: &Ca, sans: Vec<SanType>, serial: u64) -> Leaf {
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.serial_number = Some(serial.into());
    params.distinguished_name.push(DnType::CommonName, "leaf");
    let key = KeyPair::generate().expect("leaf key");
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).expect("leaf cert");
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

fn server_leaf(ca: &Ca, serial: u64) -> Leaf {
    make_leaf(
        ca,
        vec![SanType::IpAddress("127.0.0.1".parse().expect("ip"))],
        serial,
    )
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().expect("dns name"))
}

fn https_client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("ca"))
        .timeout(Duration::from_secs(10));
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("client")
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The certificate the server presents on a fresh connection (no session resumption).
async fn served_certificate(addr: SocketAddr, ca: &Ca) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("ca pem"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let certs = tls.get_ref().1.peer_certificates().expect("server certs");
    certs[0].clone().into_owned()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// TLS config with server cert files `server.crt`/`server.key` in `dir` and `extra` lines.
fn tls_config(dir: &TempDir, ca: &Ca, extra: &str) -> PathBuf {
    let leaf = server_leaf(ca, 1);
    dir.write("server.crt", &leaf.cert_pem, 1_000);
    dir.write("server.key", &leaf.key_pem, 1_000);
    dir.write("ca.crt", &ca.pem, 1_000);
    dir.write(
        "web.yml",
        &format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}"),
        1_000,
    )
}

// ---------------------------------------------------------------------------------------------
// TLS.

#[tokio::test]
async fn https_with_the_ca_as_root_and_plain_http_fails() {
    let dir = TempDir::new("https");
    let ca = make_ca("test ca");
    let config = tls_config(
        &dir,
        &ca,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: default-src 'none'\n",
    );
    let guard = WebGuard::load(&config).expect("load");
    assert!(guard.tls_enabled());
    let addr = start_server(guard).await;

    let response = https_client(&ca, None)
        .get(format!("https://{addr}/metrics"))
        .send()
        .await
        .expect("https request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-frame-options"], "deny");
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'"
    );

    let plain = http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP against TLS: {plain:?}");

    // A client that does not trust the CA fails too.
    let other_ca = make_ca("other ca");
    let untrusted = https_client(&other_ca, None)
        .get(format!("https://{addr}/metrics"))
        .send()
        .await;
    assert!(untrusted.is_err());
}

#[tokio::test]
async fn require_and_verify_client_cert() {
    let dir = TempDir::new("mtls");
    let ca = make_ca("test ca");
    let config = tls_config(
        &dir,
        &ca,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let addr = start_server(WebGuard::load(&config).expect("load")).await;
    let url = format!("https://{addr}/metrics");

    let without = https_client(&ca, None).get(&url).send().await;
    assert!(without.is_err(), "no client certificate: {without:?}");

    let client = make_leaf(&ca, vec![dns("client.example")], 7);
    let with = https_client(&ca, Some(&client))
        .get(&url)
        .send()
        .await
        .expect("client cert signed by the CA");
    assert_eq!(with.status(), StatusCode::OK);

    let rogue_ca = make_ca("rogue ca");
    let rogue = make_leaf(&rogue_ca, vec![dns("client.example")], 8);
    let refused = https_client(&ca, Some(&rogue)).get(&url).send().await;
    assert!(refused.is_err(), "client cert from another CA: {refused:?}");
}

#[tokio::test]
async fn client_allowed_sans() {
    let dir = TempDir::new("sans");
    let ca = make_ca("test ca");
    let config = tls_config(
        &dir,
        &ca,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: [client.example, prometheus@example.com]\n",
    );
    let guard = WebGuard::load(&config).expect("load");
    let addr = start_server(guard.clone()).await;
    let url = format!("https://{addr}/metrics");

    let allowed = make_leaf(&ca, vec![dns("client.example")], 10);
    let response = https_client(&ca, Some(&allowed))
        .get(&url)
        .send()
        .await
        .expect("allowed SAN");
    assert_eq!(response.status(), StatusCode::OK);

    let other = make_leaf(&ca, vec![dns("other.example")], 11);
    let refused = https_client(&ca, Some(&other)).get(&url).send().await;
    assert!(refused.is_err(), "SAN not allowed: {refused:?}");

    // The same check on certificates directly: DNS, email, IP and URI SANs.
    let email = make_leaf(
        &ca,
        vec![SanType::Rfc822Name(
            "prometheus@example.com".try_into().expect("email"),
        )],
        12,
    );
    let ip_and_uri = make_leaf(
        &ca,
        vec![
            SanType::IpAddress("10.0.0.1".parse().expect("ip")),
            SanType::URI("spiffe://example/prom".try_into().expect("uri")),
        ],
        13,
    );
    assert!(guard.client_allowed(Some(std::slice::from_ref(&allowed.der))));
    assert!(guard.client_allowed(Some(std::slice::from_ref(&email.der))));
    assert!(!guard.client_allowed(Some(std::slice::from_ref(&other.der))));
    assert!(!guard.client_allowed(Some(std::slice::from_ref(&ip_and_uri.der))));
    assert!(!guard.client_allowed(None));
    assert!(!guard.client_allowed(Some(&[])));
    assert!(!guard.client_allowed(Some(&[CertificateDer::from(vec![0x30, 0x82, 0xff])])));
    assert!(WebGuard::disabled().client_allowed(None));
}

#[tokio::test]
async fn certificate_rotation_and_invalid_replacement() {
    let dir = TempDir::new("rotation");
    let ca = make_ca("test ca");
    let first = server_leaf(&ca, 101);
    dir.write("server.crt", &first.cert_pem, 1_000);
    dir.write("server.key", &first.key_pem, 1_000);
    let config = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        1_000,
    );
    // Zero interval: every connection looks at the files (the default is once per second).
    let guard = WebGuard::load_with_reload_interval(&config, Duration::ZERO).expect("load");
    let addr = start_server(guard).await;
    assert_eq!(served_certificate(addr, &ca).await, first.der);

    let second = server_leaf(&ca, 102);
    dir.write("server.crt", &second.cert_pem, 2_000);
    dir.write("server.key", &second.key_pem, 2_000);
    assert_eq!(served_certificate(addr, &ca).await, second.der);

    // A broken replacement (garbage cert; then a key that does not match) keeps the old pair.
    dir.write("server.crt", "not a certificate\n", 3_000);
    assert_eq!(served_certificate(addr, &ca).await, second.der);
    assert_eq!(served_certificate(addr, &ca).await, second.der);
    let third = server_leaf(&ca, 103);
    dir.write("server.crt", &third.cert_pem, 4_000);
    assert_eq!(served_certificate(addr, &ca).await, second.der);

    // Once the matching key arrives, the new pair serves.
    dir.write("server.key", &third.key_pem, 5_000);
    assert_eq!(served_certificate(addr, &ca).await, third.der);
}

#[tokio::test]
async fn inline_cert_and_key() {
    let dir = TempDir::new("inline");
    let ca = make_ca("test ca");
    let leaf = server_leaf(&ca, 5);
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let config = dir.write(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indent(&leaf.cert_pem),
            indent(&leaf.key_pem)
        ),
        1_000,
    );
    let guard = WebGuard::load(&config).expect("load");
    assert!(!format!("{guard:?}").contains("PRIVATE KEY"));
    let addr = start_server(guard).await;
    assert_eq!(served_certificate(addr, &ca).await, leaf.der);
}

// ---------------------------------------------------------------------------------------------
// Basic auth.

#[tokio::test]
async fn basic_auth() {
    let dir = TempDir::new("auth");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let config = dir.write(
        "web.yml",
        &format!("basic_auth_users:\n  alice: {hash}\n"),
        1_000,
    );
    let guard = WebGuard::load(&config).expect("load");
    assert!(guard.auth_enabled());
    assert!(!format!("{guard:?}").contains(&hash));
    let addr = start_server(guard.clone()).await;
    let url = format!("http://{addr}/metrics");
    let client = http_client();
    let status = |authorization: Option<reqwest::header::HeaderValue>| {
        let mut request = client.get(&url);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        async move {
            let response = request.send().await.expect("request");
            if response.status() == StatusCode::UNAUTHORIZED {
                assert_eq!(response.headers()["www-authenticate"], WWW_AUTHENTICATE);
            }
            response.status()
        }
    };
    let value = |s: &str| Some(reqwest::header::HeaderValue::from_str(s).expect("header"));

    assert_eq!(
        status(value(&basic("alice", "s3cret"))).await,
        StatusCode::OK
    );
    assert_eq!(guard.bcrypt_runs(), 1);
    assert_eq!(
        status(value(&basic("alice", "s3cret"))).await,
        StatusCode::OK
    );
    assert_eq!(
        guard.bcrypt_runs(),
        1,
        "the second check comes from the cache"
    );

    assert_eq!(
        status(value(&basic("alice", "wrong"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(value(&basic("mallory", "s3cret"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(guard.bcrypt_runs(), 3, "an unknown user pays bcrypt too");
    assert_eq!(status(None).await, StatusCode::UNAUTHORIZED);
    for malformed in [
        "Basic",
        "Basic !!!",
        "Bearer abc",
        "Basic YWxpY2U=",
        "Basic Og==",
    ] {
        assert_eq!(
            status(value(malformed)).await,
            StatusCode::UNAUTHORIZED,
            "{malformed}"
        );
    }
    let not_utf8 = reqwest::header::HeaderValue::from_bytes(b"Basic \xff\xfe").expect("bytes");
    assert_eq!(status(Some(not_utf8)).await, StatusCode::UNAUTHORIZED);
    // The server still answers properly after all that.
    assert_eq!(
        status(value(&basic("alice", "s3cret"))).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn basic_auth_over_tls() {
    let dir = TempDir::new("auth-tls");
    let ca = make_ca("test ca");
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let config = tls_config(&dir, &ca, &format!("basic_auth_users:\n  bob: {hash}\n"));
    let addr = start_server(WebGuard::load(&config).expect("load")).await;
    let client = https_client(&ca, None);
    let url = format!("https://{addr}/");
    let ok = client
        .get(&url)
        .header(AUTHORIZATION, basic("bob", "pw"))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
    let denied = client.get(&url).send().await.expect("request");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
}

/// A well-formed bcrypt hash at `cost`, made without hashing at that cost (costs this high take
/// hours): a cost-4 hash with its cost field rewritten. No password matches it.
fn hash_at_cost(cost: u32) -> String {
    let hash = bcrypt::hash("irrelevant", 4).expect("hash");
    format!("{}{cost:02}{}", &hash[..4], &hash[6..])
}

#[test]
fn bcrypt_costs_above_the_maximum_are_refused_at_load() {
    let dir = TempDir::new("max-cost");
    let alice = bcrypt::hash("pw", 4).expect("hash");
    // 15 first: before the limit, loading it computed a cost-15 dummy hash and then succeeded;
    // 31 (bcrypt's own maximum) made the exporter and check-config hang for days.
    for cost in [15, 17, 31] {
        let (err, message) = load_error(
            &dir,
            &format!(
                "basic_auth_users:\n  alice: {alice}\n  bob: {}\n",
                hash_at_cost(cost)
            ),
        );
        assert_eq!(invalid_key(&err), "basic_auth_users.bob", "{message}");
        assert!(
            message.contains(&format!("bcrypt cost {cost} is above the maximum of 14")),
            "{message}"
        );
        assert!(
            !message.contains(&alice[7..]),
            "no hash in the message: {message}"
        );
    }
    // Below bcrypt's own minimum nobody could log in: refused too.
    let (err, message) = load_error(
        &dir,
        &format!("basic_auth_users:\n  carol: {}\n", hash_at_cost(3)),
    );
    assert_eq!(invalid_key(&err), "basic_auth_users.carol", "{message}");
    assert!(message.contains("below the minimum of 4"), "{message}");
    // The maximum itself is accepted.
    let path = dir.write(
        "web.yml",
        &format!("basic_auth_users:\n  alice: {}\n", hash_at_cost(14)),
        1_000,
    );
    assert!(WebGuard::load(&path).expect("cost 14 loads").auth_enabled());
}

/// A web config with two users of different bcrypt costs: alice (`alice-pw`, cost 4) and bob
/// (`bob-pw`, cost 6).
fn alice_at_cost_4_and_bob_at_cost_6(dir: &TempDir) -> PathBuf {
    dir.write(
        "web.yml",
        &format!(
            "basic_auth_users:\n  alice: {}\n  bob: {}\n",
            bcrypt::hash("alice-pw", 4).expect("hash"),
            bcrypt::hash("bob-pw", 6).expect("hash"),
        ),
        1_000,
    )
}

#[test]
fn loading_a_web_config_runs_no_bcrypt() {
    let dir = TempDir::new("load-no-bcrypt");
    let path = alice_at_cost_4_and_bob_at_cost_6(&dir);
    // Start-up, every reload and check-config go through load: no bcrypt there (the dummy hash
    // for unknown users used to be computed here, at the highest cost in use).
    let guard = WebGuard::load(&path).expect("load");
    assert_eq!(guard.bcrypt_runs(), 0);
    assert_eq!(guard.bcrypt_rounds(), 0, "bcrypt rounds run by load");
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_cost_the_highest_cost_in_use() {
    let dir = TempDir::new("auth-costs");
    let path = alice_at_cost_4_and_bob_at_cost_6(&dir);
    let guard = WebGuard::load(&path).expect("load");
    // Every check that runs bcrypt costs 2^6 rounds, bob's cost, whoever asks: an unknown user
    // or a wrong password must not be told apart from a known user by the time it takes.
    let highest = 1u64 << 6;
    for (user, password, ok) in [
        ("mallory", "x", false),
        ("alice", "wrong", false),
        ("bob", "wrong", false),
        ("alice", "alice-pw", true),
        ("bob", "bob-pw", true),
        ("mallory", "alice-pw", false),
        ("alice", "bob-pw", false),
    ] {
        let (runs, rounds) = (guard.bcrypt_runs(), guard.bcrypt_rounds());
        assert_eq!(
            guard.authorize(Some(&basic(user, password))).await.is_ok(),
            ok,
            "{user}:{password}"
        );
        assert_eq!(guard.bcrypt_runs() - runs, 1, "{user}:{password}");
        assert_eq!(
            guard.bcrypt_rounds() - rounds,
            highest,
            "{user}:{password}: bcrypt rounds of one check"
        );
    }
    // A cached success runs no bcrypt at all.
    let rounds = guard.bcrypt_rounds();
    assert!(guard
        .authorize(Some(&basic("alice", "alice-pw")))
        .await
        .is_ok());
    assert_eq!(guard.bcrypt_rounds(), rounds);
}

#[tokio::test]
async fn no_config_means_plain_http_without_auth() {
    let guard = WebGuard::disabled();
    assert!(guard.tls_acceptor().is_none());
    assert!(guard.authorize(None).await.is_ok());
    assert!(guard.extra_headers().is_empty());
    assert!(guard.admit());
    let addr = start_server(guard).await;
    let response = http_client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);

    let dir = TempDir::new("empty");
    let config = dir.write("web.yml", "# nothing\n", 1_000);
    let guard = WebGuard::load(&config).expect("empty file");
    assert!(guard.tls_acceptor().is_none() && !guard.auth_enabled());
}

#[tokio::test]
async fn rate_limit() {
    let dir = TempDir::new("rate");
    let config = dir.write(
        "web.yml",
        "rate_limit:\n  interval: 1h\n  burst: 2\n",
        1_000,
    );
    let addr = start_server(WebGuard::load(&config).expect("load")).await;
    let client = http_client();
    let url = format!("http://{addr}/");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(client.get(&url).send().await.expect("request").status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Config errors: each names the file and the key.

fn load_error(dir: &TempDir, yaml: &str) -> (WebConfigError, String) {
    let path = dir.write("web.yml", yaml, 1_000);
    let err = WebGuard::load(&path).expect_err("invalid config");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "names the file: {message}"
    );
    (err, message)
}

fn invalid_key(err: &WebConfigError) -> &str {
    match err {
        WebConfigError::Invalid { key, .. } => key,
        other => panic!("expected an invalid value, got {other}"),
    }
}

#[test]
fn config_errors_name_the_key() {
    let dir = TempDir::new("errors");
    let ca = make_ca("test ca");
    let leaf = server_leaf(&ca, 1);
    dir.write("server.crt", &leaf.cert_pem, 1_000);
    dir.write("server.key", &leaf.key_pem, 1_000);
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

    let (err, message) = load_error(&dir, &format!("{tls}  client_auth: NoClientCert\n"));
    assert!(matches!(err, WebConfigError::Parse { .. }), "{message}");
    assert!(message.contains("client_auth"), "{message}");

    let (err, message) = load_error(&dir, &format!("{tls}  client_auth_type: Foo\n"));
    assert_eq!(invalid_key(&err), "tls_server_config.client_auth_type");
    assert!(
        message.contains("tls_server_config.client_auth_type: \"Foo\" is not one of"),
        "{message}"
    );

    let (err, message) = load_error(
        &dir,
        &format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
    );
    assert_eq!(invalid_key(&err), "tls_server_config.client_ca_file");
    assert!(message.contains("RequireAndVerifyClientCert"), "{message}");

    let (err, message) = load_error(&dir, &format!("{tls}  min_version: TLS10\n"));
    assert_eq!(invalid_key(&err), "tls_server_config.min_version");
    assert!(message.contains("TLS12"), "{message}");

    let (err, message) = load_error(
        &dir,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
    );
    assert_eq!(invalid_key(&err), "tls_server_config.cert_file");
    assert!(message.contains("missing.crt"), "{message}");

    let (err, _) = load_error(
        &dir,
        &format!(
            "{tls}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: server.key\n"
        ),
    );
    assert_eq!(invalid_key(&err), "tls_server_config.client_ca_file");

    let other = server_leaf(&ca, 2);
    dir.write("other.key", &other.key_pem, 1_000);
    let (err, _) = load_error(
        &dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
    );
    assert_eq!(invalid_key(&err), "tls_server_config.key_file");

    let (err, message) = load_error(&dir, "basic_auth_users:\n  alice: plaintext-password\n");
    assert_eq!(invalid_key(&err), "basic_auth_users.alice");
    assert!(!message.contains("plaintext-password"), "{message}");

    let (err, message) = load_error(
        &dir,
        "basic_auth_users:\n  alice: $2y$04$secrethashsecrethashsecrethashsecrethashsecrethashsec\n  bob: [1]\n",
    );
    assert!(matches!(err, WebConfigError::Parse { .. }));
    assert!(message.contains("line 3"), "{message}");
    assert!(
        !message.contains("secrethash"),
        "no snippet with secrets: {message}"
    );
    let (err, message) = load_error(&dir, "tls_server_config: [\n");
    assert!(matches!(err, WebConfigError::Parse { .. }), "{message}");

    let missing = WebGuard::load(Path::new("/nonexistent/web.yml")).expect_err("missing file");
    assert!(matches!(missing, WebConfigError::Read { .. }));
    assert!(missing.to_string().contains("/nonexistent/web.yml"));
}

#[tokio::test]
async fn other_client_auth_types() {
    let ca = make_ca("test ca");
    let rogue_ca = make_ca("rogue ca");
    let good = make_leaf(&ca, vec![dns("client.example")], 20);
    let rogue = make_leaf(&rogue_ca, vec![dns("client.example")], 21);

    // VerifyClientCertIfGiven: no certificate is fine, an unverifiable one is not.
    let dir = TempDir::new("verify-if-given");
    let config = tls_config(
        &dir,
        &ca,
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n",
    );
    let addr = start_server(WebGuard::load(&config).expect("load")).await;
    let url = format!("https://{addr}/");
    for (identity, ok) in [(None, true), (Some(&good), true), (Some(&rogue), false)] {
        let result = https_client(&ca, identity).get(&url).send().await;
        assert_eq!(result.is_ok(), ok, "VerifyClientCertIfGiven: {result:?}");
    }

    // RequireAnyClientCert: any certificate (chain not verified, as in Go), but one is needed.
    let dir = TempDir::new("require-any");
    let config = tls_config(&dir, &ca, "  client_auth_type: RequireAnyClientCert\n");
    let addr = start_server(WebGuard::load(&config).expect("load")).await;
    let url = format!("https://{addr}/");
    for (identity, ok) in [(None, false), (Some(&good), true), (Some(&rogue), true)] {
        let result = https_client(&ca, identity).get(&url).send().await;
        assert_eq!(result.is_ok(), ok, "RequireAnyClientCert: {result:?}");
    }

    // RequestClientCert: optional and not verified.
    let dir = TempDir::new("request");
    let config = tls_config(&dir, &ca, "  client_auth_type: RequestClientCert\n");
    let addr = start_server(WebGuard::load(&config).expect("load")).await;
    let url = format!("https://{addr}/");
    for identity in [None, Some(&rogue)] {
        let result = https_client(&ca, identity).get(&url).send().await;
        assert!(result.is_ok(), "RequestClientCert: {result:?}");
    }
}
