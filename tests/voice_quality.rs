//! The opt-in `voice_quality` collector against the simulated org: off by default it sends
//! nothing; on, its MOS histogram equals the simulator's truth in every bucket, `_count` and
//! `_sum`, per queue and org-wide, over two hours that cross midnight, with calls
//! shown minutes late, calls that started hours before they ended, and a page cap small
//! enough that polls overflow and carry the rest; and the budget plan counts the pages the
//! polls needed.

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_sim::{MosTruth, SimConfig, SimOrg};

mod common;

use common::*;

const PATH: &str = "/api/v2/analytics/conversations/details/query";
const MOS: &str = "genesys_conversation_mos";
/// The collector's default bounds, as the `le` label spells them.
/// The default bounds and `le` as the text format spells them (as Go's clients do: "3", not
/// "3.0").
const BOUNDS: [(f64, &str); 7] = [
    (2.5, "2.5"),
    (3.0, "3"),
    (3.5, "3.5"),
    (3.8, "3.8"),
    (4.0, "4"),
    (4.2, "4.2"),
    (4.4, "4.4"),
];
/// The collector's look-back (`--voice-quality.lookback=10m`), in ms.
const LOOKBACK_MS: i64 = 600_000;
const INTERVAL_S: f64 = 0.2;

/// Details queries the simulator answered.
fn requests(sim: &SimOrg) -> u64 {
    sim.stats()
        .by_endpoint
        .iter()
        .filter(|((method, path, _), _)| method == "POST" && path == PATH)
        .map(|(_, n)| n)
        .sum()
}

fn polls(s: &Scrape) -> f64 {
    value(
        s,
        "genesys_collector_polls_total",
        &[("collector", "voice_quality")],
    )
}

/// Waits for `n` more voice quality polls, all of them succeeded.
async fn more_polls(addr: std::net::SocketAddr, n: f64) -> Scrape {
    let before = polls(&scrape(addr).await);
    let s = eventually("more voice quality polls", || async {
        let s = scrape(addr).await;
        (polls(&s) >= before + n).then_some(s)
    })
    .await;
    assert_eq!(
        value(
            &s,
            "genesys_collector_poll_failures_total",
            &[("collector", "voice_quality")]
        ),
        0.0
    );
    s
}

/// Waits until a poll reached the floor: two polls in a row that were not capped.
async fn caught_up(addr: std::net::SocketAddr) -> Scrape {
    let capped = |s: &Scrape| value(s, "genesys_conversation_mos_capped_polls_total", &[]);
    let mut last = capped(&more_polls(addr, 1.0).await);
    for _ in 0..200 {
        let s = more_polls(addr, 2.0).await;
        if capped(&s) == last {
            return s;
        }
        last = capped(&s);
    }
    panic!("the voice quality collector never caught up");
}

/// Every histogram in the scrape equals the truth, and the truth has no group the scrape
/// lacks: each bucket, the +Inf bucket, `_count` and `_sum`.
fn assert_histograms_are_the_truth(s: &Scrape, truth: &BTreeMap<(String, String), MosTruth>) {
    let served = s.all(&format!("{MOS}_count"));
    assert!(!served.is_empty());
    let mut compared = 0;
    for (labels, count) in &served {
        let key = if labels["queue_id"] == "none" {
            String::new()
        } else {
            labels["queue_id"].clone()
        };
        let media = labels["media_type"].clone();
        let t = truth
            .get(&(key.clone(), media.clone()))
            .cloned()
            .unwrap_or_else(|| MosTruth {
                buckets: BOUNDS.iter().map(|(b, _)| (*b, 0)).collect(),
                ..MosTruth::default()
            });
        let l = |extra: Option<&'static str>| {
            let mut v = vec![
                ("queue_id", labels["queue_id"].as_str()),
                ("queue", labels["queue"].as_str()),
                ("media_type", media.as_str()),
            ];
            if let Some(le) = extra {
                v.push(("le", le));
            }
            v
        };
        assert_eq!(*count, t.count as f64, "{key:?} {media} _count");
        assert_eq!(
            value(s, &format!("{MOS}_sum"), &l(None)),
            t.sum,
            "{key:?} _sum"
        );
        assert_eq!(
            value(s, &format!("{MOS}_bucket"), &l(Some("+Inf"))),
            t.count as f64,
            "{key:?} +Inf"
        );
        for ((bound, le), (tb, n)) in BOUNDS.iter().zip(&t.buckets) {
            assert_eq!(bound, tb);
            assert_eq!(
                value(s, &format!("{MOS}_bucket"), &l(Some(le))),
                *n as f64,
                "{key:?} le={le}"
            );
        }
        compared += usize::from(t.count > 0);
    }
    let nonempty = truth.values().filter(|t| t.count > 0).count();
    assert_eq!(compared, nonempty, "every group of the truth is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_it_sends_no_details_query_and_serves_nothing() {
    let sim = busy_sim().await;
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let s = wait_polls(exporter.local_addr(), "observations").await;
    assert_eq!(requests(&sim), 0);
    assert!(!s.has(&format!("{MOS}_count")));
    assert!(!s.text.contains(PATH), "no endpoint series either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bucket_count_and_sum_equal_the_truth_across_midnight_with_late_long_and_capped_polls(
) {
    let sim = start_sim(SimConfig {
        queues: 60,
        ..sim_at("2026-03-10T23:10:00Z")
    })
    .await;
    // Calls show up to 8 minutes after they ended, in an order of their own: late ones land
    // behind newer ones, within the 10 minute look-back.
    sim.faults()
        .set_details_lag(Some((Duration::ZERO, Duration::from_secs(480))));
    let spiked = sim
        .truth()
        .queues
        .iter()
        .find(|q| q.media_types.iter().any(|m| m == "voice"))
        .map(|q| q.id.clone())
        .expect("a queue that takes calls");
    sim.spike_mos(&spiked);
    // Ten minutes of calls, to size the page cap by: a poll reads twice that, so one that must
    // read the look-back and half an hour of new calls overflows (after midnight calls are
    // half as frequent), and each of the next ones reads the look-back again and ten more
    // minutes of what is left.
    sim.advance(Duration::from_secs(600));
    let t0 = sim.now_ms();
    let ten_minutes: u64 = sim
        .mos_truth(t0 - 600_000, t0, None, &[5.0])
        .values()
        .map(|t| t.count)
        .sum();
    assert!(ten_minutes >= 30, "enough calls to page: {ten_minutes}");
    let page_size = 5;
    let max_pages = (ten_minutes * 2).div_ceil(page_size);
    let exporter = start_exporter_on_sim_clock(
        &sim,
        &[
            "--collector.voice_quality",
            &format!("--collector.voice_quality.interval={INTERVAL_S}s"),
            &format!("--voice-quality.page-size={page_size}"),
            &format!("--voice-quality.max-pages={max_pages}"),
            "--voice-quality.lookback=10m",
        ],
    )
    .await;
    wait_ready(&exporter).await;
    let addr = exporter.local_addr();
    more_polls(addr, 2.0).await;

    // An hour and a half across midnight, half an hour at a time (the plan check below adds
    // a last half hour); after each step, polls until the overflow is caught up.
    for _ in 0..3 {
        sim.advance(Duration::from_secs(1800));
        caught_up(addr).await;
    }
    // The plan counts what the last polls needed. Quiet polls (the clock stands still) read
    // the same pages each; a capped poll reads the cap, and the plan follows it.
    let quiet = more_polls(addr, 6.0).await;
    let pages = value(
        &quiet,
        "genesys_collector_requests",
        &[("collector", "voice_quality")],
    );
    let planned_quiet = value(&quiet, "genesys_api_planned_requests_per_minute", &[]);
    let capped_before = value(&quiet, "genesys_conversation_mos_capped_polls_total", &[]);
    sim.advance(Duration::from_secs(1800));
    let per_minute = 60.0 / INTERVAL_S;
    let expected = planned_quiet + (max_pages as f64 - pages) * per_minute;
    eventually("the plan counts a capped poll's pages", || async {
        let s = scrape(addr).await;
        let capped = value(&s, "genesys_conversation_mos_capped_polls_total", &[]);
        let planned = value(&s, "genesys_api_planned_requests_per_minute", &[]);
        (capped > capped_before && (planned - expected).abs() < 1e-6).then_some(())
    })
    .await;
    caught_up(addr).await;
    let end = sim.now_ms();
    assert!(
        genesys_sim::utc_date(end) != genesys_sim::utc_date(t0),
        "the run crossed midnight"
    );
    let s = more_polls(addr, 2.0).await;

    let floor0 = t0 - LOOKBACK_MS;
    let bounds: Vec<f64> = BOUNDS.iter().map(|(b, _)| *b).collect();
    let truth = sim.mos_truth(floor0, end + 1, Some(end), &bounds);
    assert_histograms_are_the_truth(&s, &truth);

    // What the run held: overflowing polls, long calls, calls without a queue, a spiked queue.
    let capped = value(&s, "genesys_conversation_mos_capped_polls_total", &[]);
    assert!(
        capped >= 4.0,
        "the half hours overflowed the cap: {capped} capped polls"
    );
    assert!(!sim.long_conversations(floor0, end).is_empty());
    assert!(truth[&(String::new(), "voice".to_string())].count > 0);
    let poor = truth[&(spiked.clone(), "voice".to_string())].clone();
    assert_eq!(
        poor.buckets[2].1, poor.count,
        "every call of the spiked queue is poor"
    );
    for reason in [
        "malformed",
        "invalid_mos",
        "unwatched_queue",
        "beyond_lookback",
    ] {
        assert_eq!(
            value(
                &s,
                "genesys_conversation_mos_skipped_total",
                &[("reason", reason)]
            ),
            0.0,
            "{reason}"
        );
    }
    assert!(value(&s, "genesys_conversation_mos_tracked_conversations", &[]) > 0.0);
}
