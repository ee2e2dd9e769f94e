//! A notification server that keeps breaking channels must not spend the org's request budget:
//! every reason to reopen a channel waits its turn (a pace that doubles while channels die
//! young, with jitter), reopens are held to a share of the budget, channels let go have their
//! subscriptions deleted, and the reconciling polls a replacement asks for are held apart.
//! Each test runs the exporter against the simulated org for a fixed, short span of wall time
//! and counts what the simulator was asked; no wait is unbounded.

use std::time::Duration;

use genesys_sim::{Endpoint, Fault, SimConfig, SimOrg};

mod common;

use common::{eventually, get, scrape, value};

const CHANNELS: &str = "/api/v2/notifications/channels";
const OBSERVATIONS: &str = "/api/v2/analytics/queues/observations/query";

/// How long each hostile server is watched.
const SPAN: Duration = Duration::from_secs(12);

fn sim_config() -> SimConfig {
    SimConfig {
        queues: 4,
        // A frame soon after every upgrade, so a fault "instead of the next frame" strikes
        // right after the socket opens.
        heartbeat_interval: Duration::from_millis(200),
        ..common::sim_config()
    }
}

/// Push mode, a 2 s observations interval; reconciliation only when a test's events ask.
async fn start(sim: &SimOrg) -> genesys_exporter::app::Exporter {
    let exporter = common::start_exporter_on_sim_clock(
        sim,
        &[
            "--live.mode=auto",
            "--collector.observations.interval=2s",
            "--live.reconcile-interval=1h",
        ],
    )
    .await;
    common::wait_ready(&exporter).await;
    exporter
}

/// Channels created and observation polls sent while `fault` hits every channel (`endpoint`)
/// for [`SPAN`], once the first channel is up.
async fn under(
    endpoint: Endpoint,
    fault: Fault,
) -> (SimOrg, genesys_exporter::app::Exporter, u64, u64) {
    let sim = common::start_sim(sim_config()).await;
    sim.faults().fail_next(endpoint, 100_000, fault);
    let exporter = start(&sim).await;
    let (channels, polls) = (
        sim.stats().count("POST", CHANNELS),
        sim.stats().count("POST", OBSERVATIONS),
    );
    tokio::time::sleep(SPAN).await;
    let stats = sim.stats();
    (
        sim,
        exporter,
        stats.count("POST", CHANNELS) - channels,
        stats.count("POST", OBSERVATIONS) - polls,
    )
}

/// With a pace of 1, 2, 4, 8 s (each ±20 %), 12 s hold at most four more opens; a worker
/// reopening at once would open one for every frame, 60 a minute or more.
const MAX_REOPENS_IN_SPAN: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_breaks_right_after_the_upgrade_is_reopened_at_a_bounded_pace() {
    let (sim, exporter, reopened, polls) = under(Endpoint::WebSocket, Fault::Garbage).await;
    let per_minute = reopened as f64 * 60.0 / SPAN.as_secs_f64();
    println!("broken after the upgrade: {reopened} channels in {SPAN:?} ({per_minute:.0}/min), {polls} polls");
    assert!(
        (1..=MAX_REOPENS_IN_SPAN).contains(&reopened),
        "{reopened} channels in {SPAN:?}"
    );
    let s = scrape(exporter.local_addr()).await;
    assert!(
        value(&s, "genesys_live_reconnects_total", &[("reason", "broken")]) >= 1.0,
        "a broken stream is counted as broken, not as an orderly close"
    );
    // The queues are polled meanwhile, so live state is still served.
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_whose_expires_is_already_past_is_renewed_at_a_bounded_pace() {
    let (sim, exporter, reopened, _) = under(Endpoint::Channels, Fault::ExpiresPast).await;
    println!("expires already past: {reopened} channels in {SPAN:?}");
    assert!(
        (1..=MAX_REOPENS_IN_SPAN).contains(&reopened),
        "{reopened} channels in {SPAN:?}"
    );
    // Every channel let go had its subscriptions deleted (the API cannot delete a channel).
    let deleted = eventually("the replaced channels' subscriptions deleted", || {
        let sim = &sim;
        async move {
            let n = sim.stats().count_between(
                "DELETE",
                "/api/v2/notifications/channels/",
                "/subscriptions",
            );
            (n >= reopened).then_some(n)
        }
    })
    .await;
    assert!(
        deleted <= reopened + 1,
        "{deleted} deletions for {reopened} replacements"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_closing_on_every_socket_is_followed_at_a_bounded_pace_and_reconciled_sparingly() {
    let (sim, exporter, reopened, polls) = under(Endpoint::WebSocket, Fault::SocketClosing).await;
    println!("socket_closing on every socket: {reopened} channels, {polls} polls in {SPAN:?}");
    assert!(
        (1..=MAX_REOPENS_IN_SPAN).contains(&reopened),
        "{reopened} channels in {SPAN:?}"
    );
    // At most one poll asked for at once every 5 s (the 2 s interval caps the gap at 2 s),
    // whatever the replacements ask for: 12 s hold about six.
    assert!(polls <= 7, "{polls} observation polls in {SPAN:?}");
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_are_counted_and_change_nothing() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim).await;
    sim.faults()
        .fail_next(Endpoint::WebSocket, 3, Fault::Binary);
    let addr = exporter.local_addr();
    eventually("three binary frames counted", || async move {
        let s = scrape(addr).await;
        (value(&s, "genesys_live_events_total", &[("topic", "binary")]) == 3.0).then_some(())
    })
    .await;
    let s = scrape(addr).await;
    assert_eq!(
        value(&s, "genesys_live_reconnects_total", &[("reason", "closed")]),
        0.0
    );
    assert_eq!(
        value(&s, "genesys_live_reconnects_total", &[("reason", "broken")]),
        0.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// A login host that answers `expires_in` of 2^64-1, then 0, then a sane hour is taken in
/// stride: no collector panics, the process stays healthy, and once the answer is sane every
/// collector is up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_lifetime_of_two_to_the_sixty_four_or_zero_seconds_breaks_nothing() {
    let sim = common::start_sim(sim_config()).await;
    sim.faults()
        .set_token_lifetime(Duration::from_secs(u64::MAX));
    let exporter = common::start_exporter(&sim, &["--collector.observations.interval=1s"]).await;
    common::wait_ready(&exporter).await;
    let addr = exporter.local_addr();
    let all_up = |s: &common::Scrape| s.all("genesys_up").iter().all(|(_, v)| *v == 1.0);
    assert!(
        all_up(&scrape(addr).await),
        "up with a token that claims to live forever"
    );
    for lifetime in [Duration::ZERO, Duration::from_secs(3600)] {
        sim.faults().set_token_lifetime(lifetime);
        // Every token issued so far is refused: the exporter must take a new one.
        sim.faults().revoke_tokens();
        let tokens = sim.stats().tokens().len();
        eventually(&format!("a new token with lifetime {lifetime:?}"), || {
            let sim = &sim;
            async move { (sim.stats().tokens().len() > tokens).then_some(()) }
        })
        .await;
        assert_eq!(get(addr, "/-/healthy").await.0, 200, "{lifetime:?}");
    }
    // A token of a sane lifetime: everything recovers.
    eventually("every collector up again", || async move {
        all_up(&scrape(addr).await).then_some(())
    })
    .await;
    exporter.shutdown().await;
    sim.shutdown().await;
}
