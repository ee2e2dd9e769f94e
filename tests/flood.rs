//! Connection floods against the exporter binary, with a bound on what they cost it: at most
//! `--web.max-connections` are accepted at once, and slow or half-sent requests are dropped
//! after the header timeout, so memory stays bounded however many clients pile up.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{blocking_get, free_port};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_genesys-exporter");
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections each flood opens: enough that, accepted all at once, their header buffers
/// alone would take the exporter ~90 MB (the attack measured ~18 KB per connection).
const FLOOD: usize = 5_000;
/// What a flood may add to the exporter's resident memory.
const RSS_BOUND_KIB: u64 = 48 * 1024;

/// Resident set of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Open file descriptors of a process: its listener, its connections, the rest.
fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The floods need a few thousand sockets on each side.
fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on this process' own limits.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The exporter process, stopped when the test ends (also when it fails).
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn start(max_connections: usize) -> (Exporter, u16) {
    raise_fd_limit();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "--demo",
            &format!("--web.listen-address=127.0.0.1:{port}"),
            &format!("--web.max-connections={max_connections}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exporter starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocking_get(port, "/-/ready", HTTP_TIMEOUT).map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "never ready");
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A few scrapes first: the body cache and its buffers are part of the baseline.
    for _ in 0..3 {
        blocking_get(port, "/metrics", HTTP_TIMEOUT);
    }
    (Exporter(child), port)
}

/// The most the exporter held while a flood held: resident memory (KiB) and open fds.
struct Peak {
    rss_kib: u64,
    fds: u64,
}

/// Opens `FLOOD` connections that each send `header` and then hold, and returns the
/// exporter's peak while they hold.
async fn flood(port: u16, pid: u32, header: &'static [u8]) -> Peak {
    let mut tasks = Vec::new();
    for _ in 0..FLOOD {
        tasks.push(tokio::spawn(async move {
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
            let mut s = tokio::time::timeout(Duration::from_secs(2), connect)
                .await
                .ok()?
                .ok()?;
            // Past the accept queue's space, writes only fill kernel buffers; bounded.
            let _ = tokio::time::timeout(Duration::from_secs(2), s.write_all(header)).await;
            Some(s)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        if let Ok(Some(s)) = t.await {
            held.push(s);
        }
    }
    let mut peak = Peak { rss_kib: 0, fds: 0 };
    for _ in 0..10 {
        peak.rss_kib = peak.rss_kib.max(rss_kib(pid));
        peak.fds = peak.fds.max(fds(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(held);
    peak
}

/// 15 KB of header lines (ten long ones: within hyper's header count and size limits), never
/// ended by the blank line.
fn half_sent_request() -> &'static [u8] {
    let mut r = b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..10 {
        r.extend_from_slice(format!("X-Fill-{i}: {}\r\n", "a".repeat(1_480)).as_bytes());
    }
    r.leak()
}

const MAX_CONNECTIONS: usize = 64;

fn assert_bounded(peak: &Peak, rss_before: u64, fds_before: u64, what: &str) {
    assert!(
        peak.fds <= fds_before + MAX_CONNECTIONS as u64,
        "{} fds open under {FLOOD} {what} (from {fds_before}, cap {MAX_CONNECTIONS})",
        peak.fds
    );
    assert!(
        peak.rss_kib.saturating_sub(rss_before) < RSS_BOUND_KIB,
        "RSS grew from {rss_before} KiB to {} KiB under {FLOOD} {what}",
        peak.rss_kib
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_sent_requests_costs_bounded_memory_and_passes() {
    let (child, port) = start(MAX_CONNECTIONS);
    let pid = child.0.id();
    let (before, fds_before) = (rss_kib(pid), fds(pid));
    let peak = flood(port, pid, half_sent_request()).await;
    assert_bounded(&peak, before, fds_before, "half-sent requests");
    // Once the flood lets go, scrapes are answered again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = tokio::task::spawn_blocking(move || blocking_get(port, "/metrics", HTTP_TIMEOUT))
            .await
            .unwrap()
            .is_some_and(|r| r.0 == 200);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "no scrape after the flood");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(rss_kib(pid).saturating_sub(before) < RSS_BOUND_KIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cost_bounded_memory() {
    let (child, port) = start(MAX_CONNECTIONS);
    let pid = child.0.id();
    let (before, fds_before) = (rss_kib(pid), fds(pid));
    let peak = flood(port, pid, b"G").await;
    assert_bounded(&peak, before, fds_before, "idle connections");
}
