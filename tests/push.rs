//! Push mode end to end: the exporter against the simulated org's Notifications API
//! (channels, subscriptions, WebSocket events), with polling only to baseline, reconcile and
//! fall back. Every wait is bounded (`common::eventually`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use genesys_sim::{Endpoint, Fault, SimConfig, SimOrg};

mod common;

use common::{conversations, eventually, scrape, value, Scrape};

const QUEUES: usize = 4;

fn sim_config(queues: usize) -> SimConfig {
    SimConfig {
        queues,
        heartbeat_interval: Duration::from_millis(500),
        ..common::sim_config()
    }
}

/// Push mode with a 2 s observations interval: pings every 667 ms, a socket silent for 2 s
/// is stalled, live data stays fresh for 6 s. No reconciliation unless a test asks.
const PUSH: &[&str] = &[
    "--live.mode=auto",
    "--collector.observations.interval=2s",
    "--live.reconcile-interval=1h",
];

async fn start(sim: &SimOrg, extra: &[&str]) -> genesys_exporter::app::Exporter {
    let mut flags = PUSH.to_vec();
    flags.extend_from_slice(extra);
    let exporter = common::start_exporter_on_sim_clock(sim, &flags).await;
    common::wait_ready(&exporter).await;
    exporter
}

fn delivery(s: &Scrape, how: &str) -> f64 {
    value(s, "genesys_live_queues", &[("delivery", how)])
}

async fn wait_all_pushed(addr: SocketAddr, n: usize) -> Scrape {
    eventually("every queue pushed", || async move {
        let s = scrape(addr).await;
        (delivery(&s, "push") == n as f64).then_some(s)
    })
    .await
}

fn queues_with_series(s: &Scrape) -> usize {
    let ids: std::collections::BTreeSet<String> = s
        .all("genesys_queue_conversations")
        .into_iter()
        .filter_map(|(l, _)| l.get("queue_id").cloned())
        .collect();
    ids.len()
}

fn observation_polls(s: &Scrape) -> f64 {
    value(
        s,
        "genesys_collector_polls_total",
        &[("collector", "observations")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_is_on_metrics_within_two_seconds_without_a_poll() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    // Polling at most once an hour: only push can deliver the spike in time.
    let exporter = start(&sim, &["--collector.observations.interval=1h"]).await;
    let addr = exporter.local_addr();
    let before = wait_all_pushed(addr, QUEUES).await;
    assert_eq!(value(&before, "genesys_live_channels", &[]), 1.0);

    let truth = sim.truth();
    let queue = &truth.queues[0];
    let media = queue.media_types[0].clone();
    let was = queue.waiting[&media];
    sim.schedule_spike(&queue.name, Duration::ZERO, 60);
    sim.advance(Duration::from_secs(1));
    let changed = Instant::now();
    let expected = sim.truth().queue(&queue.id).unwrap().waiting[&media] as f64;
    // Agents may answer some of the 60 within the simulated second.
    assert!(
        expected >= (was + 40) as f64,
        "the spike happened: {was} -> {expected}"
    );

    let seen = eventually("the spike on /metrics", || async {
        let s = scrape(addr).await;
        (conversations(&s, &queue.id, &media, "waiting") == Some(expected)).then_some(s)
    })
    .await;
    let delay = changed.elapsed();
    assert!(
        delay < Duration::from_secs(2),
        "pushed within 2 s, took {delay:?}"
    );
    assert_eq!(
        observation_polls(&seen),
        observation_polls(&before),
        "no poll delivered it"
    );
    assert!(
        value(
            &seen,
            "genesys_live_events_total",
            &[("topic", "observations")]
        ) >= 1.0
    );
    assert!(seen.has("genesys_live_last_event_timestamp_seconds"));
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// What a scrape says of every queue's members, active and off-queue users and presences that
/// the simulator's truth does not.
fn agent_mismatches(s: &Scrape, truth: &genesys_sim::Truth) -> Vec<String> {
    let mut out = Vec::new();
    for q in &truth.queues {
        let ql = [("queue_id", q.id.as_str()), ("queue", q.name.as_str())];
        for (family, want) in [
            ("genesys_queue_member_users", q.member_users),
            ("genesys_queue_active_users", q.active_users),
            ("genesys_queue_off_queue_users", q.off_queue_users),
        ] {
            let got = s.get(family, &ql);
            if got != Some(want as f64) {
                out.push(format!("{} {family}: {got:?}, truth {want}", q.name));
            }
        }
        for (presence, want) in &q.presences {
            let mut l = ql.to_vec();
            l.push(("presence", presence.as_str()));
            let got = s.get("genesys_queue_presence_users", &l);
            if got != Some(*want as f64) {
                out.push(format!("{} {presence}: {got:?}, truth {want}", q.name));
            }
        }
    }
    out
}

/// Presences arrive by push as organization presence ids, without the mapping: the exporter
/// rolls them up with the mapping its baseline poll brought, so after twenty busy minutes the
/// members, presences (two organization presences of Break summed) and off-queue users it
/// serves are the simulator's truth, with no poll since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_presences_roll_up_with_the_mapping_of_the_baseline_poll() {
    let sim = common::start_sim(SimConfig {
        // Early morning: shifts start, so agents are offline, then on queue, then on breaks.
        clock: common::busy_at(7, 30),
        ..sim_config(QUEUES)
    })
    .await;
    // A count gone to zero is pushed as 0, so the default reading of events (rows) is right
    // without a reconciliation.
    sim.faults().set_push_changed_metrics_only(true);
    let exporter = start(&sim, &["--collector.observations.interval=1h"]).await;
    let addr = exporter.local_addr();
    let before = wait_all_pushed(addr, QUEUES).await;
    for _ in 0..240 {
        sim.advance(Duration::from_secs(5));
    }
    let truth = sim.truth();
    let away: u64 = truth
        .queues
        .iter()
        .flat_map(|q| q.presences.iter())
        .filter(|(p, _)| p.as_str() != "on_queue")
        .map(|(_, n)| n)
        .sum();
    assert!(away > 0, "some agent is away from the queue: {truth:#?}");
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let seen = loop {
        let s = scrape(addr).await;
        let wrong = agent_mismatches(&s, &truth);
        if wrong.is_empty() {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pushed agents never equalled the truth; {} differences: {:#?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        observation_polls(&seen),
        observation_polls(&before),
        "no poll delivered them"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// Scrapes until `done` holds, asserting on every scrape that every queue has its live
/// series and the observations collector is up.
async fn no_gap_until(addr: SocketAddr, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + common::WAIT;
    loop {
        let s = scrape(addr).await;
        assert_eq!(
            queues_with_series(&s),
            QUEUES,
            "a gap in the live series while waiting for {what}"
        );
        assert_eq!(
            value(&s, "genesys_up", &[("collector", "observations")]),
            1.0,
            "genesys_up fell while waiting for {what}"
        );
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_closing_drop_and_stall_recover_without_a_gap() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_all_pushed(addr, QUEUES).await;
    for (fault, reason) in [
        (Fault::SocketClosing, "socket_closing"),
        (Fault::Drop, "closed"),
        (Fault::Stall, "stalled"),
    ] {
        let labels = [("reason", reason)];
        let before = value(
            &scrape(addr).await,
            "genesys_live_reconnects_total",
            &labels,
        );
        sim.faults()
            .fail_next(Endpoint::WebSocket, 1, fault.clone());
        no_gap_until(addr, &format!("a reconnect after {fault:?}"), |s| {
            value(s, "genesys_live_reconnects_total", &labels) > before
                && delivery(s, "push") == QUEUES as f64
        })
        .await;
        // Still live: a change after the reconnect is pushed.
        let truth = sim.truth();
        let queue = &truth.queues[1];
        let media = queue.media_types[0].clone();
        sim.schedule_spike(&queue.name, Duration::ZERO, 10);
        sim.advance(Duration::from_secs(1));
        let expected = sim.truth().queue(&queue.id).unwrap().waiting[&media] as f64;
        no_gap_until(addr, &format!("a pushed change after {fault:?}"), |s| {
            conversations(s, &queue.id, &media, "waiting") == Some(expected)
        })
        .await;
    }
    assert_eq!(sim.faults().pending(), 0, "every fault was taken");
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// Every channel creation answers 403 until the faults are cleared.
fn refuse_channels(sim: &SimOrg) {
    sim.faults().fail_next(
        Endpoint::Channels,
        1_000,
        Fault::Status {
            status: 403,
            retry_after_secs: None,
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_channel_falls_back_to_polling_and_push_resumes_when_allowed() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    refuse_channels(&sim);
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    let s = eventually("a refused channel counted", || async {
        let s = scrape(addr).await;
        (value(&s, "genesys_live_reconnects_total", &[("reason", "failed")]) >= 1.0).then_some(s)
    })
    .await;
    assert_eq!(delivery(&s, "poll"), QUEUES as f64);
    assert_eq!(delivery(&s, "push"), 0.0);
    assert_eq!(value(&s, "genesys_live_channels", &[]), 0.0);
    // Polled exactly as before push: the truth, for every queue.
    let truth = sim.truth();
    for q in &truth.queues {
        for m in &q.media_types {
            assert_eq!(
                conversations(&s, &q.id, m, "waiting"),
                Some(q.waiting[m] as f64),
                "{} {m}",
                q.name
            );
        }
    }
    sim.faults().clear();
    wait_all_pushed(addr, QUEUES).await;
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_topic_is_polled_and_only_that_queue() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_all_pushed(addr, QUEUES).await;
    sim.faults()
        .fail_next(Endpoint::Subscriptions, 1, Fault::Rejected);
    let added = sim.add_queue("Added Later", &["voice"]);
    let s = eventually("the added queue rejected and polled", || async {
        let s = scrape(addr).await;
        (value(&s, "genesys_live_topics", &[("state", "rejected")]) == 1.0
            && conversations(&s, &added, "voice", "waiting").is_some())
        .then_some(s)
    })
    .await;
    assert_eq!(
        delivery(&s, "push"),
        QUEUES as f64,
        "the others stay pushed"
    );
    assert_eq!(
        delivery(&s, "poll"),
        1.0,
        "exactly the rejected queue is polled"
    );
    assert_eq!(
        value(&s, "genesys_live_topics", &[("state", "permitted")]),
        QUEUES as f64
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// The subscriptions of the simulator's channels, as topic names, by channel id.
async fn sim_subscriptions(sim: &SimOrg) -> Vec<(String, Vec<String>)> {
    let token = common::sim_token(sim).await;
    let client = common::sim_client();
    let get = |path: String| {
        let client = client.clone();
        let token = token.clone();
        async move {
            client
                .get(path)
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .text()
                .await
                .map(|t| serde_json::from_str::<serde_json::Value>(&t).expect("JSON"))
                .expect("body")
        }
    };
    let channels = get(format!("{}/api/v2/notifications/channels", sim.api_url())).await;
    let mut out = Vec::new();
    for ch in channels["entities"].as_array().cloned().unwrap_or_default() {
        let id = ch["id"].as_str().unwrap_or_default().to_string();
        let subs = get(format!(
            "{}/api/v2/notifications/channels/{id}/subscriptions",
            sim.api_url()
        ))
        .await;
        let topics = subs["entities"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect();
        out.push((id, topics));
    }
    out
}

fn topic(queue_id: &str) -> String {
    format!("v2.analytics.queues.{queue_id}.observations")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_removing_a_queue_subscribes_and_unsubscribes_it_on_the_same_channel() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_all_pushed(addr, QUEUES).await;
    let before = sim_subscriptions(&sim).await;
    assert_eq!(before.len(), 1, "one channel: {before:?}");
    let channel = before[0].0.clone();

    let added = sim.add_queue("Added Later", &["voice"]);
    wait_all_pushed(addr, QUEUES + 1).await;
    let subs = sim_subscriptions(&sim).await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].0, channel, "the channel was kept");
    assert!(subs[0].1.contains(&topic(&added)), "{subs:?}");

    sim.remove_queue(&added);
    let s = wait_all_pushed(addr, QUEUES).await;
    assert_eq!(
        value(&s, "genesys_live_topics", &[("state", "permitted")]),
        QUEUES as f64
    );
    let subs = sim_subscriptions(&sim).await;
    assert_eq!(subs[0].0, channel, "the channel was kept");
    assert!(!subs[0].1.contains(&topic(&added)), "{subs:?}");
    assert_eq!(subs[0].1.len(), QUEUES);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_five_hundred_queues_use_three_channels() {
    let sim = common::start_sim(sim_config(2_500)).await;
    let exporter = start(&sim, &["--collector.observations.interval=10s"]).await;
    let addr = exporter.local_addr();
    let s = wait_all_pushed(addr, 2_500).await;
    assert_eq!(value(&s, "genesys_live_channels", &[]), 3.0);
    let subs = sim_subscriptions(&sim).await;
    let mut sizes: Vec<usize> = subs.iter().map(|(_, t)| t.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [500, 1_000, 1_000], "at most 1,000 topics a channel");
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// The budget plan counts push at what it costs: the reconciles, and a reserve of one
/// channel's queues polled at the observations interval, so that losing a channel needs no
/// new plan. Not every queue polled as if every channel failed (which, at 5,000 queues,
/// stretched every interval by a third for polls that never happened). When the channels are
/// refused and the queues really are polled, the plan counts those polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_counts_push_at_its_real_cost_and_polling_when_it_falls_back() {
    // 2,500 queues on 3 channels: 25 queries for all of them, polled every 10 s when not
    // pushed, reconciled every 5 minutes; the listing (25 pages) hourly, and nothing else.
    const FLAGS: &[&str] = &[
        "--collector.observations.interval=10s",
        "--live.reconcile-interval=5m",
        "--collector.queues.interval=1h",
        "--no-collector.activity",
        "--no-collector.aggregates",
    ];
    let listing = 25.0 / 60.0;
    let reconciles = 25.0 / 5.0;
    let one_channel_polled = 10.0 * 6.0;
    let all_polled = 25.0 * 6.0;
    let planned = |s: &Scrape| value(s, "genesys_api_planned_requests_per_minute", &[]);
    let plan_is = |addr: SocketAddr, what: &'static str, want: f64| async move {
        eventually(what, || async move {
            let s = scrape(addr).await;
            ((planned(&s) - want).abs() < 1e-6).then_some(s)
        })
        .await
    };

    let sim = common::start_sim(sim_config(2_500)).await;
    let exporter = start(&sim, FLAGS).await;
    let addr = exporter.local_addr();
    wait_all_pushed(addr, 2_500).await;
    let s = plan_is(
        addr,
        "push planned",
        listing + reconciles + one_channel_polled,
    )
    .await;
    assert_eq!(
        value(
            &s,
            "genesys_collector_interval_seconds",
            &[("collector", "observations")]
        ),
        10.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;

    let sim = common::start_sim(sim_config(2_500)).await;
    refuse_channels(&sim);
    let exporter = start(&sim, FLAGS).await;
    let addr = exporter.local_addr();
    let s = plan_is(addr, "fallback planned", listing + reconciles + all_polled).await;
    assert_eq!(delivery(&s, "poll"), 2_500.0);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_repairs_a_wrong_pushed_value_and_counts_it() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    let exporter = start(&sim, &["--live.reconcile-interval=4s"]).await;
    let addr = exporter.local_addr();
    wait_all_pushed(addr, QUEUES).await;
    // Events now lie by +5 on every count; the observations query does not.
    sim.faults().set_push_count_offset(5);
    // Right after a reconciliation (every queue is pushed, so every poll is one), the next
    // is 4 s away: time to see the lie.
    let polls = observation_polls(&scrape(addr).await);
    eventually("a reconciliation", || async {
        (observation_polls(&scrape(addr).await) > polls).then_some(())
    })
    .await;
    let truth = sim.truth();
    let queue = &truth.queues[2];
    let media = queue.media_types[0].clone();
    sim.schedule_spike(&queue.name, Duration::ZERO, 10);
    sim.advance(Duration::from_secs(1));
    let right = sim.truth().queue(&queue.id).unwrap().waiting[&media] as f64;
    let lie = eventually("the wrong pushed value on /metrics", || async {
        let s = scrape(addr).await;
        (conversations(&s, &queue.id, &media, "waiting") == Some(right + 5.0)).then_some(s)
    })
    .await;
    let counted = value(
        &lie,
        "genesys_live_reconcile_differences_total",
        &[("reading", "rows")],
    );
    // No change in the simulator from here on: only the reconciling poll can repair it.
    let s = eventually("the reconciled value", || async {
        let s = scrape(addr).await;
        (conversations(&s, &queue.id, &media, "waiting") == Some(right)).then_some(s)
    })
    .await;
    assert!(
        value(
            &s,
            "genesys_live_reconcile_differences_total",
            &[("reading", "rows")]
        ) > counted,
        "the difference was counted"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_opens_no_channel() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    let exporter = start(&sim, &["--live.mode=poll"]).await;
    let addr = exporter.local_addr();
    let s = common::wait_polls(addr, "observations").await;
    assert_eq!(value(&s, "genesys_live_mode", &[("mode", "poll")]), 1.0);
    assert_eq!(delivery(&s, "poll"), QUEUES as f64);
    assert_eq!(queues_with_series(&s), QUEUES);
    assert_eq!(
        sim.stats().count("POST", "/api/v2/notifications/channels"),
        0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mode_never_falls_back_to_polling() {
    let sim = common::start_sim(sim_config(QUEUES)).await;
    refuse_channels(&sim);
    // Not `start`: without a channel the collector has no data, so never becomes ready.
    let mut flags = PUSH.to_vec();
    flags.push("--live.mode=push");
    let exporter = common::start_exporter_on_sim_clock(&sim, &flags).await;
    let addr = exporter.local_addr();
    let s = eventually("a refused channel counted twice", || async {
        let s = scrape(addr).await;
        (value(&s, "genesys_live_reconnects_total", &[("reason", "failed")]) >= 2.0).then_some(s)
    })
    .await;
    assert_eq!(value(&s, "genesys_live_mode", &[("mode", "push")]), 1.0);
    assert_eq!(delivery(&s, "push"), 0.0);
    assert_eq!(
        queues_with_series(&s),
        0,
        "no live series without a channel"
    );
    sim.faults().clear();
    wait_all_pushed(addr, QUEUES).await;
    let s = eventually("live series once pushed", || async {
        let s = scrape(addr).await;
        (queues_with_series(&s) == QUEUES).then_some(s)
    })
    .await;
    assert_eq!(value(&s, "genesys_live_mode", &[("mode", "push")]), 1.0);
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// A busy simulated hour, pushed and reconciled every 3 s, in phases that leave every
/// reconciling poll a still org: right after a reconciliation, ten busy simulated minutes at
/// once, then the clock stops, so that the events of the changes have gone out (a topic sends
/// at most once a second) long before the next poll. Each poll then differs from the pushed
/// state only where a reading of the events is wrong, not because an event was in flight.
/// `changed_only`: events carry only what changed (a count gone to zero as `count: 0`);
/// otherwise the simulator's default, every metric of the group with zero counts left out.
/// Before the first phase, events are read as `rows`.
async fn reconciled_busy_hour(changed_only: bool) -> Scrape {
    let sim = common::start_sim(SimConfig {
        clock: common::busy_at(10, 30),
        ..sim_config(QUEUES)
    })
    .await;
    sim.faults().set_push_changed_metrics_only(changed_only);
    let exporter = start(&sim, &["--live.reconcile-interval=3s"]).await;
    let addr = exporter.local_addr();
    let before = wait_all_pushed(addr, QUEUES).await;
    assert_eq!(reading(&before, "rows"), 1.0, "rows until evidence");
    let mut polls = observation_polls(&before);
    for _ in 0..6 {
        let s = eventually("the next reconciliation", || async {
            let s = scrape(addr).await;
            (observation_polls(&s) > polls).then_some(s)
        })
        .await;
        polls = observation_polls(&s);
        // Counts rise and fall back to zero within the ten minutes.
        for _ in 0..120 {
            sim.advance(Duration::from_secs(5));
        }
    }
    let s = eventually("the last phase reconciled", || async {
        let s = scrape(addr).await;
        (observation_polls(&s) > polls).then_some(s)
    })
    .await;
    eprintln!(
        "differences: rows {}, groups {}",
        differences(&s, "rows"),
        differences(&s, "groups")
    );
    exporter.shutdown().await;
    sim.shutdown().await;
    s
}

fn differences(s: &Scrape, reading: &str) -> f64 {
    value(
        s,
        "genesys_live_reconcile_differences_total",
        &[("reading", reading)],
    )
}

fn reading(s: &Scrape, reading: &str) -> f64 {
    value(s, "genesys_live_event_reading", &[("reading", reading)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_group_events_are_read_as_groups_once_reconciliation_says_so() {
    let s = reconciled_busy_hour(false).await;
    assert!(differences(&s, "rows") > differences(&s, "groups"));
    assert_eq!(reading(&s, "groups"), 1.0);
    assert_eq!(reading(&s, "rows"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_metrics_only_events_stay_read_as_rows() {
    let s = reconciled_busy_hour(true).await;
    assert!(differences(&s, "groups") > differences(&s, "rows"));
    assert_eq!(reading(&s, "rows"), 1.0);
}
