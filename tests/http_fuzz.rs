//! Arbitrary HTTP requests and raw garbage against a running exporter (basic auth on): every
//! request gets a well-formed answer with an expected status, nothing panics, and the server
//! keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use proptest::prelude::*;

/// Sends raw bytes, returns the status code of the answer (None: connection closed without
/// one). `half_close` ends the client's side after writing, to make the server see the end
/// of garbage; well-formed requests say `Connection: close` instead, since hyper drops a
/// connection whose client half-closed before the answer was ready.
fn raw(addr: SocketAddr, request: &[u8], half_close: bool) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(request).ok()?;
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"][..]
        )
        .prop_map(str::to_string),
        "[A-Z]{1,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "/",
                "/metrics",
                "/-/healthy",
                "/-/ready",
                "/-/reload",
                "/metrics?x=1",
                "//metrics",
                "/metrics/"
            ][..]
        )
        .prop_map(str::to_string),
        "/[a-zA-Z0-9%._~/?=&-]{0,60}",
        "[ -~]{0,40}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/openmetrics-text; version=1.0.0".to_string()),
        Just("Basic YWxpY2U6d29uZGVybGFuZA==".to_string()),
        Just("Basic !!!notbase64".to_string()),
        Just("Basic Og==".to_string()),
        "Basic [A-Za-z0-9+/=]{0,40}",
        "[ -~]{0,80}",
    ]
}

#[test]
fn arbitrary_requests_get_answers_and_never_break_the_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("gx-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "basic_auth_users:\n  alice: {}\n",
            bcrypt::hash("wonderland", 4).unwrap()
        ),
    )
    .unwrap();
    let (sim, exporter) = runtime.block_on(async {
        let sim = start_sim(sim_config()).await;
        let exporter = start_exporter(
            &sim,
            &[
                &format!("--web.config.file={}", web.display()),
                "--web.enable-lifecycle",
            ],
        )
        .await;
        (sim, exporter)
    });
    let addr = exporter.local_addr();

    proptest!(ProptestConfig::with_cases(300), |(m in method(), p in path(), accept in header_value(), auth in header_value())| {
        let request = format!("{m} {p} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n");
                let status = raw(addr, request.as_bytes(), false);
        // 400 is hyper refusing a malformed request line or header.
        prop_assert!(matches!(status, Some(200 | 400 | 401 | 404 | 405 | 503)), "{request:?} -> {status:?}");
    });

    proptest!(ProptestConfig::with_cases(200), |(garbage in proptest::collection::vec(any::<u8>(), 0..2048))| {
                let status = raw(addr, &garbage, true);
        prop_assert!(status.is_none() || matches!(status, Some(400 | 401 | 404 | 405 | 414 | 431 | 505)), "{status:?}");
    });

    // Oversized headers are refused, not buffered without end.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert!(matches!(
        raw(addr, huge.as_bytes(), false),
        None | Some(431)
    ));

    // Still serving, and serving right.
    assert_eq!(
        raw(
            addr,
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false
        ),
        Some(200)
    );
    let authorized = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(addr, authorized, false), Some(200));
    runtime.block_on(async {
        exporter.shutdown().await;
        sim.shutdown().await;
    });
    std::fs::remove_dir_all(&dir).ok();
}

/// Slowloris: connections that trickle a header never finish it. They must not keep others
/// from being served, and the server drops them after its header read timeout (10 s).
#[test]
fn slow_clients_neither_block_others_nor_linger() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (sim, exporter) = runtime.block_on(async {
        let sim = start_sim(sim_config()).await;
        let exporter = start_exporter(&sim, &[]).await;
        (sim, exporter)
    });
    let addr = exporter.local_addr();
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // Everyone else is served meanwhile.
    let started = std::time::Instant::now();
    assert_eq!(
        raw(
            addr,
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false
        ),
        Some(200)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a normal request waited behind slow ones"
    );
    // The slow ones are dropped after the header timeout, however long they trickle.
    let first = &mut slow[0];
    first
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for _ in 0..3 {
        let _ = first.write_all(b"a");
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut buf = [0u8; 256];
    let dropped_after = std::time::Instant::now();
    let n = first.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 408"),
        "expected the connection closed, got {answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(19),
        "still open after {:?}",
        dropped_after.elapsed()
    );
    runtime.block_on(async {
        exporter.shutdown().await;
        sim.shutdown().await;
    });
}
