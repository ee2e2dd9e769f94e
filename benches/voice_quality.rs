//! Request cost of the `voice_quality` collector at a realistic volume: the exporter polls the
//! simulated org's details query once a business minute (its default interval), with the
//! default look-back (10m), page size (100) and page cap (20), and this prints, per org size,
//! the ended calls with a MOS an hour the simulator produced and the details requests a
//! minute the exporter sent (mean and most in a minute), next to the budget plan's share.
//!
//! The simulator's HTTP server runs on loopback in this process, on a manual clock (a busy
//! weekday from 09:30 UTC): each step advances it one minute and waits for one poll, so a
//! minute of the table is a business minute, and the run takes seconds, not hours. Details
//! lag: the simulator's default (0-60 s, one call in ten 1-6 min).
//! Run: `cargo bench --bench voice_quality` (optionally `-- QUEUES...`, default 40 400).

use std::time::Duration;

use genesys_exporter::app::Exporter;
use genesys_exporter::config::Config;
use genesys_sim::{SimClock, SimConfig, SimOrg};

const PATH: &str = "/api/v2/analytics/conversations/details/query";
const WARM_UP_MINUTES: u32 = 20;
const MEASURED_MINUTES: u32 = 30;

fn details_requests(sim: &SimOrg) -> u64 {
    sim.stats()
        .by_endpoint
        .iter()
        .filter(|((method, path, _), _)| method == "POST" && path == PATH)
        .map(|(_, n)| n)
        .sum()
}

/// The exporter's body; a failed scrape (the exporter under load closing a connection) is
/// retried, a bounded number of times.
async fn scrape(addr: std::net::SocketAddr) -> String {
    for _ in 0..50 {
        let answer = reqwest::Client::new()
            .get(format!("http://{addr}/metrics"))
            .send()
            .await;
        if let Ok(body) = async { answer?.text().await }.await {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no scrape of {addr} in 50 tries");
}

fn metric(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn polls(addr: std::net::SocketAddr) -> f64 {
    metric(
        &scrape(addr).await,
        "genesys_collector_polls_total{collector=\"voice_quality\"}",
    )
}

/// Advances the org a minute and waits (bounded) for the exporter's next voice quality poll.
async fn one_minute(sim: &SimOrg, addr: std::net::SocketAddr) {
    let before = polls(addr).await;
    sim.advance(Duration::from_secs(60));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while polls(addr).await < before + 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no poll within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(queues: usize) -> (f64, f64, u64, f64) {
    use chrono::TimeZone;
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 3, 10, 9, 30, 0)
        .single()
        .expect("a time");
    let sim = SimOrg::start(
        SimConfig {
            queues,
            clock: SimClock::ManualAt(start),
            rate_limit_per_minute: 100_000,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    // An hour of traffic before the exporter starts: the org is in its steady state.
    sim.advance(Duration::from_secs(3600));
    let args = [
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url={}", sim.api_url()),
        format!("--genesys.login-url={}", sim.login_url()),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        "--genesys.requests-per-minute=100000".into(),
        "--live.mode=poll".into(),
        "--collector.voice_quality".into(),
        // The other collectors' requests and series are not what is measured here.
        "--no-collector.activity".into(),
        "--no-collector.aggregates".into(),
        // One poll per step: the step waits for it, and the next one is not due before.
        "--collector.voice_quality.interval=300ms".into(),
    ];
    let config = Config::from_args(args, Some(SimConfig::default().client_secret)).expect("config");
    let clock = std::sync::Arc::new(genesys_exporter::clock::FnClock(sim.clock_fn()));
    let exporter = Exporter::start_with_clock(config, clock)
        .await
        .expect("exporter");
    let addr = exporter.local_addr();
    for _ in 0..WARM_UP_MINUTES {
        one_minute(&sim, addr).await;
    }
    let from = sim.now_ms();
    let mut per_minute = Vec::new();
    for _ in 0..MEASURED_MINUTES {
        let before = details_requests(&sim);
        one_minute(&sim, addr).await;
        per_minute.push(details_requests(&sim) - before);
    }
    let to = sim.now_ms();
    let calls: u64 = sim
        .mos_truth(from, to, None, &[5.0])
        .values()
        .map(|t| t.count)
        .sum();
    let calls_per_hour = calls as f64 * 60.0 / f64::from(MEASURED_MINUTES);
    let mean = per_minute.iter().sum::<u64>() as f64 / per_minute.len() as f64;
    let most = per_minute.iter().copied().max().unwrap_or(0);
    let body = scrape(addr).await;
    let capped = metric(&body, "genesys_conversation_mos_capped_polls_total");
    exporter.shutdown().await;
    sim.shutdown().await;
    (calls_per_hour, mean, most, capped)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![40, 400]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("| queues | ended calls with a MOS an hour | details requests a minute, mean | most in a minute | share of the default budget (200/min) | capped polls |");
    println!("|---|---|---|---|---|---|");
    for queues in sizes {
        let (calls, mean, most, capped) = rt.block_on(run(queues));
        println!(
            "| {queues} | {calls:.0} | {mean:.2} | {most} | {:.1} % | {capped} |",
            mean / 200.0 * 100.0
        );
    }
}
