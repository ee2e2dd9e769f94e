//! Clients that send a complete `GET /metrics` and never read the answer (issue 24 item 4):
//! the response does not fit in the socket buffers, so without a write-stall timeout each one
//! held a connection slot for good and, with every slot taken, good scrapes timed out.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use genesys_exporter::app::Exporter;
use genesys_sim::{SimConfig, SimOrg};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// `--web.max-connections` of these tests: low, to keep the flood cheap.
const SLOTS: usize = 64;
/// Never-reading clients connected before the good scrape: more than the slots plus the
/// listener's accept queue (128), so that the good scrape finds both full and is served only if
/// stalled connections are closed for it.
const SLOW_READERS: usize = 640;
/// The exporter's write-stall timeout (`server::WRITE_STALL_TIMEOUT`).
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// On loopback the server's send buffer grows to `tcp_wmem`'s maximum (4 MiB by default on
/// Linux) even towards a tiny receive window: a body smaller than that could be written whole
/// into the kernel and never stall at all.
const MIN_BODY: usize = 5 << 20;

/// A simulated org big enough for `MIN_BODY`, and an exporter that has polled it once (long
/// intervals: the body is then rendered once and served from the cache).
async fn big_org(extra: &[&str]) -> (SimOrg, Exporter) {
    let sim = start_sim(SimConfig {
        queues: 250,
        agents_per_queue: 2,
        ..busy_sim_config()
    })
    .await;
    let mut flags = vec![
        "--collector.queues.interval=1h",
        "--collector.observations.interval=1h",
        "--collector.activity.interval=1h",
        "--collector.aggregates.interval=1h",
    ];
    flags.extend_from_slice(extra);
    let exporter = start_exporter(&sim, &flags).await;
    wait_ready(&exporter).await;
    (sim, exporter)
}

fn busy_sim_config() -> SimConfig {
    SimConfig {
        clock: busy_at(10, 30),
        ..sim_config()
    }
}

/// A client with a small receive buffer that sends a complete request for the metrics and then
/// never reads.
async fn never_reading_client(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request sent");
    stream
}

/// The exporter closes stalled connections with a reset, which sets the client's `SO_ERROR`.
fn was_reset(stream: &TcpStream) -> bool {
    matches!(stream.take_error(), Ok(Some(e)) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

async fn good_scrape(addr: SocketAddr, deadline: Duration) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(deadline)
        .build()
        .expect("HTTP client");
    let r = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("the good scrape is answered");
    let status = r.status().as_u16();
    (status, r.text().await.expect("the whole body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_scrape_is_served_while_more_clients_than_slots_never_read() {
    let slots = format!("--web.max-connections={SLOTS}");
    let (sim, exporter) = big_org(&[&slots]).await;
    let addr = exporter.local_addr();
    let (status, body) = good_scrape(addr, WAIT).await;
    assert_eq!(status, 200);
    assert!(
        body.len() > MIN_BODY,
        "the body ({} bytes) must not fit in the socket buffers",
        body.len()
    );

    let flood_start = Instant::now();
    let mut slow = Vec::with_capacity(SLOW_READERS);
    // Sequential connects: the listener's accept queue (128) fills, and each next connect waits
    // for a SYN retry (1 s) until slots turn over, so the flood takes about
    // (SLOW_READERS - SLOTS - 128) / SLOTS seconds; concurrent ones could back off for longer.
    let flooded = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..SLOW_READERS {
            slow.push(never_reading_client(addr).await);
        }
    });
    flooded.await.expect("the never-reading clients connect");
    let flood = flood_start.elapsed();

    // Served once every connection queued ahead of it (a full accept queue) has been accepted:
    // with each slot turning over once a second, about 129 / SLOTS seconds, plus a SYN retry
    // if the queue was full when it connected (measured: 2.9 s). The deadline is the test's
    // bound, not a performance target.
    let start = Instant::now();
    let (status, scraped) = good_scrape(addr, Duration::from_secs(10)).await;
    let took = start.elapsed();
    eprintln!(
        "{SLOW_READERS} never-reading clients, {SLOTS} slots: connected in {flood:?}; \
         the good scrape then took {took:?} for {} bytes",
        scraped.len()
    );
    assert_eq!(status, 200);
    let s = parse(&scraped);
    assert_eq!(s.get("genesys_queues", &[]), Some(250.0));
    assert!(scraped.len() > MIN_BODY);

    // It got in because the stalled ones ahead of it were closed, not because they left.
    let reset = slow.iter().filter(|s| was_reset(s)).count();
    assert!(
        reset >= SLOW_READERS - SLOTS,
        "{reset} of {SLOW_READERS} never-reading clients were closed"
    );
    // And the exporter says so: every eviction is counted.
    let evicted = s
        .get("genesys_exporter_http_connections_evicted_total", &[])
        .unwrap_or(0.0);
    assert!(
        evicted >= (SLOW_READERS - SLOTS) as f64,
        "{evicted} evictions counted for {reset} closed"
    );
    drop(slow);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_after_the_write_stall_timeout() {
    let (sim, exporter) = big_org(&[]).await;
    let start = Instant::now();
    let client = never_reading_client(exporter.local_addr()).await;
    // Slots are free, so nothing evicts it: only the timeout can close it.
    let closed = eventually("the stalled connection is closed", || async {
        was_reset(&client).then(|| start.elapsed())
    })
    .await;
    assert!(
        closed >= STALL_TIMEOUT - Duration::from_millis(500),
        "closed after {closed:?}, before the timeout"
    );
    // The exporter still serves, and counted the timeout.
    assert_eq!(get(exporter.local_addr(), "/-/healthy").await.0, 200);
    let s = scrape(exporter.local_addr()).await;
    assert_eq!(
        s.get("genesys_exporter_http_write_timeouts_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        s.get("genesys_exporter_http_connections_evicted_total", &[]),
        Some(0.0),
        "slots were free: nothing evicted"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}
