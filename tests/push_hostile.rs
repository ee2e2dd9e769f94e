//! Push mode against hostile frames (issue 24, items 3 and 7): undocumented media types and
//! routing statuses, counts that are no counts, a body naming another queue than its topic,
//! events on topics never subscribed, aggregates frames on the observations topic. The
//! simulator sends them (`SimOrg::push_hostile`); every wait is bounded (`common::eventually`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use genesys_sim::{Endpoint, Fault, Hostile, SimConfig, SimOrg, Truth};

mod common;

use common::{conversations, eventually, scrape, value, Scrape};

const QUEUES: usize = 4;

/// Extra label values kept per label and org beyond the documented ones (the exporter's
/// `rows::MAX_EXTRA_VALUES`).
const EXTRA: usize = 8;

/// Series one media type of one queue has: three conversation states, longest waiting and
/// longest interacting.
const SERIES_PER_MEDIA: usize = 5;

fn sim_config() -> SimConfig {
    SimConfig {
        queues: QUEUES,
        heartbeat_interval: Duration::from_millis(500),
        // Mid-morning: conversations waiting and agents in every routing status.
        clock: common::busy_at(10, 30),
        ..common::sim_config()
    }
}

/// Push mode, polled only for the baseline unless a test asks for reconciliation.
async fn start(sim: &SimOrg, extra: &[&str]) -> genesys_exporter::app::Exporter {
    let mut flags = vec![
        "--live.mode=auto",
        "--collector.observations.interval=1h",
        "--live.reconcile-interval=1h",
    ];
    flags.extend_from_slice(extra);
    let exporter = common::start_exporter_on_sim_clock(sim, &flags).await;
    common::wait_ready(&exporter).await;
    exporter
}

async fn wait_pushed(addr: SocketAddr, n: usize) -> Scrape {
    eventually("every queue pushed", || async move {
        let s = scrape(addr).await;
        (value(&s, "genesys_live_queues", &[("delivery", "push")]) == n as f64).then_some(s)
    })
    .await
}

fn ignored(s: &Scrape, reason: &str) -> f64 {
    value(
        s,
        "genesys_live_ignored_values_total",
        &[("reason", reason)],
    )
}

fn frames(s: &Scrape, topic: &str) -> f64 {
    value(s, "genesys_live_events_total", &[("topic", topic)])
}

fn observation_polls(s: &Scrape) -> f64 {
    value(
        s,
        "genesys_collector_polls_total",
        &[("collector", "observations")],
    )
}

/// What a scrape says of the queues' conversations and routing statuses that the truth does
/// not (for the documented media types and statuses only).
fn mismatches(s: &Scrape, truth: &Truth, skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for q in truth
        .queues
        .iter()
        .filter(|q| !skip.contains(&q.id.as_str()))
    {
        for m in &q.media_types {
            for (state, want) in [
                ("waiting", &q.waiting),
                ("interacting", &q.interacting),
                ("alerting", &q.alerting),
            ] {
                let want = want.get(m).copied().unwrap_or(0) as f64;
                let got = conversations(s, &q.id, m, state);
                if got != Some(want) {
                    out.push(format!("{} {m} {state}: {got:?}, truth {want}", q.name));
                }
            }
        }
        for (status, want) in &q.routing_statuses {
            let status = status.to_ascii_lowercase();
            let labels = [
                ("queue_id", q.id.as_str()),
                ("queue", q.name.as_str()),
                ("routing_status", status.as_str()),
            ];
            let got = s.get("genesys_queue_users", &labels);
            if got != Some(*want as f64) {
                out.push(format!("{} {status}: {got:?}, truth {want}", q.name));
            }
        }
    }
    out
}

/// Waits until every queue's served values (but those of `skip`) are the simulator's truth.
async fn wait_truth_but(addr: SocketAddr, sim: &SimOrg, skip: &[&str], what: &str) -> Scrape {
    let truth = sim.truth();
    eventually(what, || async {
        let s = scrape(addr).await;
        mismatches(&s, &truth, skip).is_empty().then_some(s)
    })
    .await
}

async fn wait_truth(addr: SocketAddr, sim: &SimOrg, what: &str) -> Scrape {
    wait_truth_but(addr, sim, &[], what).await
}

fn assert_truth(s: &Scrape, truth: &Truth, skip: &[&str], what: &str) {
    let wrong = mismatches(s, truth, skip);
    assert!(wrong.is_empty(), "{what}: {wrong:#?}");
}

fn series(s: &Scrape) -> usize {
    s.samples.len()
}

/// How many hostile events the first test sends: 5,000 unless `HOSTILE_EVENTS` says (to
/// measure larger floods; the time taken is printed).
fn flood_size() -> usize {
    std::env::var("HOSTILE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_events_with_new_media_types_add_at_most_eight_media_types_per_queue() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    let before = wait_truth(addr, &sim, "the baseline").await;
    let n = flood_size();
    let started = Instant::now();
    let sent = sim.push_hostile(&Hostile::NewMediaTypes, n);
    assert_eq!(sent, n);
    let after = eventually("every event of the flood taken", || async {
        let s = scrape(addr).await;
        (frames(&s, "observations") >= frames(&before, "observations") + n as f64
            && ignored(&s, "media_type") == (n - EXTRA) as f64)
            .then_some(s)
    })
    .await;
    eprintln!(
        "{n} events with new media types: taken in {:?}; series {} -> {}; /metrics {} -> {} bytes",
        started.elapsed(),
        series(&before),
        series(&after),
        before.text.len(),
        after.text.len()
    );
    // The 8 kept are each on one queue; a queue could hold all 8: at most 8 media types'
    // series on each queue.
    let bound = series(&before) + EXTRA * SERIES_PER_MEDIA * QUEUES;
    assert!(
        series(&after) <= bound,
        "{} series after the flood, bound {bound}",
        series(&after)
    );
    let kept: std::collections::BTreeSet<String> = after
        .all("genesys_queue_conversations")
        .into_iter()
        .filter_map(|(l, _)| l.get("media_type").cloned())
        .filter(|m| m.starts_with("newmedia"))
        .collect();
    assert_eq!(kept.len(), EXTRA, "the first 8 are kept: {kept:?}");
    assert_eq!(ignored(&after, "qualifier"), 0.0);
    assert_eq!(ignored(&after, "invalid_count"), 0.0);
    assert_truth(&after, &sim.truth(), &[], "documented media types");
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciling_poll_forgets_the_new_values_only_events_brought() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim, &["--live.reconcile-interval=3s"]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    let new_media = |s: &Scrape| {
        s.all("genesys_queue_conversations")
            .into_iter()
            .filter(|(l, _)| {
                l.get("media_type")
                    .is_some_and(|m| m.starts_with("newmedia"))
            })
            .count()
    };
    let mut total_ignored = 0;
    for round in 0..2 {
        // Right after a reconciliation, so that the next one comes after the whole flood.
        let polls = observation_polls(&scrape(addr).await);
        eventually("a reconciliation", || async {
            (observation_polls(&scrape(addr).await) > polls).then_some(())
        })
        .await;
        assert_eq!(sim.push_hostile(&Hostile::NewMediaTypes, 100), 100);
        total_ignored += 100 - EXTRA;
        let s = eventually("the flood taken", || async {
            let s = scrape(addr).await;
            (ignored(&s, "media_type") == total_ignored as f64).then_some(s)
        })
        .await;
        assert_eq!(
            new_media(&s),
            EXTRA * 3,
            "round {round}: 8 new media types kept, again"
        );
        let polls = observation_polls(&s);
        let s = eventually(
            "the new media types gone at the next reconciliation",
            || async {
                let s = scrape(addr).await;
                (observation_polls(&s) > polls && new_media(&s) == 0).then_some(s)
            },
        )
        .await;
        assert_truth(&s, &sim.truth(), &[], "after the reconciliation");
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_routing_status_in_every_event_adds_at_most_eight_statuses() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    let before = wait_truth(addr, &sim, "the baseline").await;
    let n = 2_000;
    assert_eq!(sim.push_hostile(&Hostile::NewRoutingStatuses, n), n);
    let after = eventually("every event taken", || async {
        let s = scrape(addr).await;
        (ignored(&s, "qualifier") == (n - EXTRA) as f64).then_some(s)
    })
    .await;
    let statuses = after.all("genesys_queue_users").len();
    assert!(
        statuses <= QUEUES * (5 + EXTRA),
        "{statuses} routing status series"
    );
    assert!(series(&after) <= series(&before) + QUEUES * EXTRA);
    // Every event is the agent group as it is, so the documented statuses stay exact.
    assert_truth(&after, &sim.truth(), &[], "documented routing statuses");
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// A queue with conversations waiting on its first media type, after a spike, pushed (or
/// polled).
async fn waiting_queue(sim: &SimOrg, addr: SocketAddr) -> (String, String, f64) {
    // A count gone to zero is pushed as 0: the default reading of events (rows) is then
    // right without a reconciliation.
    sim.faults().set_push_changed_metrics_only(true);
    let truth = sim.truth();
    let q = &truth.queues[0];
    sim.schedule_spike(&q.name, Duration::ZERO, 20);
    sim.advance(Duration::from_secs(1));
    let media = q.media_types[0].clone();
    let want = sim.truth().queue(&q.id).unwrap().waiting[&media] as f64;
    assert!(want > 0.0, "the spike waits");
    wait_truth(addr, sim, "the spike pushed").await;
    (q.id.clone(), media, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_pushed_count_keeps_the_previous_value_and_is_counted() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    let (queue, media, want) = waiting_queue(&sim, addr).await;
    let mut counted = 0.0;
    for raw in ["1e308", "-5", r#""NaN""#, "1.5"] {
        let sent = sim.push_hostile(&Hostile::InvalidCount(raw.to_string()), 1);
        assert_eq!(sent, QUEUES, "one per topic");
        counted += sent as f64;
        let s = eventually(&format!("count {raw} counted"), || async {
            let s = scrape(addr).await;
            (ignored(&s, "invalid_count") == counted).then_some(s)
        })
        .await;
        assert_eq!(
            conversations(&s, &queue, &media, "waiting"),
            Some(want),
            "count {raw}: the previous value, not 0"
        );
        assert_truth(&s, &sim.truth(), &[], raw);
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_polled_count_keeps_the_previous_value_and_is_counted() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(
        &sim,
        &["--live.mode=poll", "--collector.observations.interval=1s"],
    )
    .await;
    let addr = exporter.local_addr();
    let (queue, media, want) = waiting_queue(&sim, addr).await;
    // Every poll from now on answers counts that are none.
    sim.faults()
        .fail_next(Endpoint::Observations, 1_000, Fault::InvalidCounts);
    let s = eventually("the invalid counts of two polls counted", || async {
        let s = scrape(addr).await;
        (ignored(&s, "invalid_count") >= 2.0).then_some(s)
    })
    .await;
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0,
        "an odd count fails no poll"
    );
    assert_eq!(
        conversations(&s, &queue, &media, "waiting"),
        Some(want),
        "the previous poll's value, not 0"
    );
    assert_truth(&s, &sim.truth(), &[], "while the counts are invalid");
    sim.faults().clear();
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_naming_another_queue_changes_the_topic_s_queue_only() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim, &[]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    wait_truth(addr, &sim, "the baseline").await;
    let truth = sim.truth();
    let (topic, body) = (&truth.queues[0], &truth.queues[1]);
    let media = body.media_types[0].clone();
    let sent = sim.push_hostile(
        &Hostile::OtherQueueInBody {
            topic: topic.id.clone(),
            body: body.id.clone(),
            media: media.clone(),
            waiting: 77,
        },
        1,
    );
    assert_eq!(sent, 1);
    let s = eventually("the event applied to the topic's queue", || async {
        let s = scrape(addr).await;
        (conversations(&s, &topic.id, &media, "waiting") == Some(77.0)).then_some(s)
    })
    .await;
    assert_truth(&s, &truth, &[&topic.id], "the body's queue and the others");
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_on_topics_never_subscribed_are_counted_as_other_and_change_nothing() {
    let sim = common::start_sim(SimConfig {
        queues: QUEUES + 1,
        ..sim_config()
    })
    .await;
    let truth = sim.truth();
    let unwatched = truth.queues[QUEUES].clone();
    let exclude = format!("--queues.exclude=^{}$", regex::escape(&unwatched.name));
    let exporter = start(&sim, &[&exclude]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    let before = wait_truth_but(addr, &sim, &[&unwatched.id], "the baseline").await;
    let watched = &truth.queues[0];
    let media = watched.media_types[0].clone();
    let mut sent = 0;
    for queue in [unwatched.id.clone(), "not-a-queue-of-this-org".to_string()] {
        sent += sim.push_hostile(
            &Hostile::UnsubscribedTopic {
                queue,
                media: media.clone(),
                waiting: 99,
            },
            5,
        );
    }
    // And one the watched queue's topic carries, to know when the others were read.
    let marker = sim.push_hostile(
        &Hostile::OtherQueueInBody {
            topic: watched.id.clone(),
            body: watched.id.clone(),
            media: media.clone(),
            waiting: 55,
        },
        1,
    );
    assert_eq!(marker, 1);
    let s = eventually("the marker event", || async {
        let s = scrape(addr).await;
        (conversations(&s, &watched.id, &media, "waiting") == Some(55.0)).then_some(s)
    })
    .await;
    assert_eq!(frames(&s, "other"), frames(&before, "other") + sent as f64);
    assert_eq!(
        frames(&s, "observations"),
        frames(&before, "observations") + 1.0,
        "only the marker is an observation"
    );
    assert_eq!(
        conversations(&s, &unwatched.id, &media, "waiting"),
        None,
        "no series for the queue not watched"
    );
    let mut without_unwatched = truth.clone();
    without_unwatched.queues.truncate(QUEUES);
    assert_truth(&s, &without_unwatched, &[&watched.id], "the other queues");
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregates_frame_on_the_observations_topic_changes_no_reading() {
    let sim = common::start_sim(sim_config()).await;
    let exporter = start(&sim, &["--live.reconcile-interval=2s"]).await;
    let addr = exporter.local_addr();
    wait_pushed(addr, QUEUES).await;
    let before = wait_truth(addr, &sim, "the baseline").await;
    let differences = |s: &Scrape| {
        [
            value(
                s,
                "genesys_live_reconcile_differences_total",
                &[("reading", "rows")],
            ),
            value(
                s,
                "genesys_live_reconcile_differences_total",
                &[("reading", "groups")],
            ),
        ]
    };
    let sent = sim.push_hostile(&Hostile::Aggregates, 1);
    assert!(sent > QUEUES, "a frame per group: {sent}");
    let taken = eventually("the aggregates frames taken", || async {
        let s = scrape(addr).await;
        (frames(&s, "observations") >= frames(&before, "observations") + sent as f64).then_some(s)
    })
    .await;
    assert_truth(&taken, &sim.truth(), &[], "right after the frames");
    // The simulator did not change: a reconciling poll after the frames finds either reading
    // of the pushed state as it was (under `groups` an aggregates frame read as its group's
    // whole state would have cleared the group's rows).
    let polls = observation_polls(&taken);
    let s = eventually("a reconciliation after the frames", || async {
        let s = scrape(addr).await;
        (observation_polls(&s) > polls).then_some(s)
    })
    .await;
    assert_eq!(differences(&s), differences(&before));
    assert_truth(&s, &sim.truth(), &[], "after the reconciliation");
    exporter.shutdown().await;
    sim.shutdown().await;
}
