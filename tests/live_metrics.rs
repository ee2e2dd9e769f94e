//! The exporter against the simulated org: what /metrics says equals the simulator's ground
//! truth at that moment.

mod common;

use std::time::Duration;

use common::*;
use genesys_sim::{SimClock, SimConfig, Truth};

/// One expected sample: metric name, labels, value.
type Expected = (&'static str, Vec<(&'static str, String)>, f64);

/// Every live-state series the exporter should serve for `truth`.
fn expected_series(truth: &Truth) -> Vec<Expected> {
    let mut out = Vec::new();
    for q in &truth.queues {
        let ql = || vec![("queue_id", q.id.clone()), ("queue", q.name.clone())];
        for media in &q.media_types {
            for (state, counts) in [
                ("waiting", &q.waiting),
                ("interacting", &q.interacting),
                ("alerting", &q.alerting),
            ] {
                let mut l = ql();
                l.push(("media_type", media.clone()));
                l.push(("state", state.to_string()));
                out.push((
                    "genesys_queue_conversations",
                    l,
                    counts.get(media).copied().unwrap_or(0) as f64,
                ));
            }
        }
        out.push((
            "genesys_queue_on_queue_users",
            ql(),
            q.on_queue_users as f64,
        ));
        for (status, n) in &q.routing_statuses {
            let mut l = ql();
            l.push(("routing_status", status.to_ascii_lowercase()));
            out.push(("genesys_queue_users", l, *n as f64));
        }
        for (name, n) in [
            ("genesys_queue_member_users", q.member_users),
            ("genesys_queue_active_users", q.active_users),
            ("genesys_queue_off_queue_users", q.off_queue_users),
        ] {
            out.push((name, ql(), n as f64));
        }
        // By system presence: the organization presences of one (Break, Coffee) summed.
        for (presence, n) in &q.presences {
            let mut l = ql();
            l.push(("presence", presence.clone()));
            out.push(("genesys_queue_presence_users", l, *n as f64));
        }
        let mut info = ql();
        info.push(("division", q.division_name.clone()));
        out.push(("genesys_queue_info", info, 1.0));
    }
    let totals = truth.totals();
    for (state, counts) in [
        ("waiting", &totals.waiting),
        ("interacting", &totals.interacting),
        ("alerting", &totals.alerting),
    ] {
        for (media, n) in counts {
            out.push((
                "genesys_conversations",
                vec![("media_type", media.clone()), ("state", state.to_string())],
                *n as f64,
            ));
        }
    }
    out.push(("genesys_queues", vec![], truth.queues.len() as f64));
    out
}

/// Differences between a scrape and the truth, empty when they agree.
fn mismatches(scrape: &Scrape, truth: &Truth) -> Vec<String> {
    expected_series(truth)
        .into_iter()
        .filter_map(|(name, labels, want)| {
            let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let got = scrape.get(name, &l);
            (got != Some(want)).then(|| format!("{name}{labels:?}: exported {got:?}, truth {want}"))
        })
        .collect()
}

async fn assert_matches_truth(addr: std::net::SocketAddr, truth: &Truth) -> Scrape {
    let mut last = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let s = scrape(addr).await;
        last = mismatches(&s, truth);
        if last.is_empty() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "/metrics never matched the simulator's truth; {} differences, first: {:#?}",
        last.len(),
        &last[..last.len().min(10)]
    );
}

fn busy_sim() -> SimConfig {
    // Business time starts 22 minutes ago; the test advances it by 20 minutes and then in
    // 30 s steps, so it stays behind the wall clock and the simulator's oLongestWaiting
    // timestamps are in the exporter's past, as Genesys' are.
    SimConfig {
        clock: SimClock::ManualAt(chrono::Utc::now() - chrono::Duration::minutes(22)),
        ..sim_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_values_equal_the_simulators_ground_truth() {
    let sim = start_sim(busy_sim()).await;
    sim.advance(Duration::from_secs(20 * 60));
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let addr = exporter.local_addr();

    for step in 0..3 {
        let truth = sim.truth();
        let waiting: u64 = truth.queues.iter().flat_map(|q| q.waiting.values()).sum();
        let interacting: u64 = truth
            .queues
            .iter()
            .flat_map(|q| q.interacting.values())
            .sum();
        assert!(
            interacting > 0,
            "step {step}: the simulated org should be busy"
        );
        let advanced_at = chrono::Utc::now().timestamp_millis();
        let s = assert_matches_truth(addr, &truth).await;
        let scraped_at = chrono::Utc::now().timestamp_millis();

        // oLongestWaiting and oLongestInteracting are timestamps; the exporter turns them into
        // seconds so far at poll time.
        let mut interacting_seen = 0;
        for q in &truth.queues {
            for media in &q.media_types {
                for (family, since) in [
                    (
                        "genesys_queue_longest_waiting_seconds",
                        &q.longest_waiting_since_ms,
                    ),
                    (
                        "genesys_queue_longest_interacting_seconds",
                        &q.longest_interacting_since_ms,
                    ),
                ] {
                    let got = s
                        .get(
                            family,
                            &[
                                ("queue_id", &q.id),
                                ("queue", &q.name),
                                ("media_type", media),
                            ],
                        )
                        .unwrap_or_else(|| panic!("{family} of {} {media} missing", q.name));
                    match since.get(media) {
                        None => assert_eq!(got, 0.0, "{family} {} {media}: none", q.name),
                        Some(since) => {
                            let low = (advanced_at - since - 1000) as f64 / 1000.0;
                            let high = (scraped_at - since + 1000) as f64 / 1000.0;
                            assert!(
                                got >= low && got <= high,
                                "{family} {} {media}: {got} not in [{low}, {high}]",
                                q.name
                            );
                            interacting_seen += usize::from(family.contains("interacting"));
                        }
                    }
                }
            }
        }
        assert!(
            interacting_seen > 0,
            "step {step}: some interaction is timed"
        );
        eprintln!(
            "step {step}: {} queues, {waiting} waiting, {interacting} interacting: all equal",
            truth.queues.len()
        );
        sim.advance(Duration::from_secs(30));
    }
    assert_eq!(s_up(&scrape(addr).await), vec![1.0, 1.0, 1.0]);
    exporter.shutdown().await;
    sim.shutdown().await;
}

fn s_up(s: &Scrape) -> Vec<f64> {
    ["queues", "observations", "activity"]
        .iter()
        .map(|c| s.get("genesys_up", &[("collector", c)]).unwrap_or(-1.0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_counts_are_exported_whether_or_not_genesys_sends_them() {
    let sim = start_sim(sim_config()).await;
    // Some Genesys answers carry explicit zero rows (the tutorial's), most leave them out.
    sim.faults().set_emit_zero_counts(true);
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    assert_matches_truth(exporter.local_addr(), &sim.truth()).await;
    sim.faults().set_emit_zero_counts(false);
    sim.advance(Duration::from_secs(30));
    let s = assert_matches_truth(exporter.local_addr(), &sim.truth()).await;
    // Every watched queue has every routing status and every served media type's states.
    let q = &sim.truth().queues[0];
    for status in [
        "idle",
        "interacting",
        "communicating",
        "not_responding",
        "off_queue",
    ] {
        assert!(s
            .get(
                "genesys_queue_users",
                &[
                    ("queue_id", &q.id),
                    ("queue", &q.name),
                    ("routing_status", status)
                ]
            )
            .is_some());
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_queues_is_listed() {
    let sim = start_sim(SimConfig {
        queues: 250,
        agents_per_queue: 2,
        ..sim_config()
    })
    .await;
    let exporter = start_exporter(&sim, &["--collector.queues.interval=1h"]).await;
    wait_ready(&exporter).await;
    let s = assert_matches_truth(exporter.local_addr(), &sim.truth()).await;
    assert_eq!(s.get("genesys_queues", &[]), Some(250.0));
    assert_eq!(s.all("genesys_queue_info").len(), 250);
    // 250 queues at 100 a page: pages 1, 2 and 3, once each; 3 observation queries per poll.
    let stats = sim.stats();
    assert_eq!(stats.count("GET", "/api/v2/routing/queues"), 3);
    assert_eq!(
        s.get(
            "genesys_api_requests_total",
            &[("endpoint", "/api/v2/routing/queues"), ("code", "200")]
        ),
        Some(3.0)
    );
    // Each observations poll costs ceil(250 / 100) = 3 queries: the simulator's count lies
    // between 3 x the polls finished before it was read and 3 x (those after, + one under way).
    let polls = |s: &Scrape| {
        s.get(
            "genesys_collector_polls_total",
            &[("collector", "observations")],
        )
        .unwrap()
    };
    let before = polls(&scrape(exporter.local_addr()).await);
    let queries = sim
        .stats()
        .count("POST", "/api/v2/analytics/queues/observations/query") as f64;
    let after = polls(&scrape(exporter.local_addr()).await);
    assert!(
        queries >= 3.0 * before && queries <= 3.0 * (after + 1.0),
        "{queries} queries for {before}..{after} polls"
    );
    assert_eq!(
        s.get(
            "genesys_collector_requests",
            &[("collector", "observations")]
        ),
        Some(3.0)
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_and_exclude_filters_pick_queues_by_name() {
    let sim = start_sim(sim_config()).await;
    let names: Vec<String> = sim.truth().queues.iter().map(|q| q.name.clone()).collect();
    let first_word = names[0].split_whitespace().next().unwrap().to_string();
    let exporter = start_exporter(
        &sim,
        &[
            &format!("--queues.include=^{}", regex::escape(&first_word)),
            &format!("--queues.exclude=^{}$", regex::escape(&names[0])),
        ],
    )
    .await;
    wait_ready(&exporter).await;
    let expected: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(&first_word) && **n != names[0])
        .collect();
    let s = scrape(exporter.local_addr()).await;
    let mut got: Vec<String> = s
        .all("genesys_queue_info")
        .into_iter()
        .map(|(l, _)| l["queue"].clone())
        .collect();
    got.sort();
    let mut want: Vec<String> = expected.into_iter().cloned().collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.get("genesys_queues", &[]), Some(want.len() as f64));
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_when_the_scraper_accepts_it() {
    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &[]).await;
    wait_ready(&exporter).await;
    let url = format!("http://{}/metrics", exporter.local_addr());
    let client = reqwest::Client::new();
    let zipped = client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "Accept-Encoding");
    let bytes = zipped.bytes().await.unwrap();
    // The body is kept in pieces, each compressed on its own, and served as one gzip member:
    // a reader of one member reads all of it, and nothing follows.
    let mut text = String::new();
    let mut decoder = flate2::bufread::GzDecoder::new(&bytes[..]);
    std::io::Read::read_to_string(&mut decoder, &mut text).unwrap();
    assert!(decoder.into_inner().is_empty(), "one gzip member");
    assert!(text.contains("genesys_queue_conversations{"));
    assert!(text.trim_end().ends_with(&format!(
        "genesys_exporter_series {}.0",
        text.lines().filter(|l| !l.starts_with('#')).count()
    )));
    let plain = client.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.text().await.unwrap();
    // The same series in the same order (values may move between two scrapes: the
    // collectors poll on).
    let series = |body: &str| -> Vec<String> {
        body.lines()
            .map(|l| {
                l.rsplit_once(' ')
                    .map_or(l, |(series, _)| series)
                    .to_string()
            })
            .collect()
    };
    assert_eq!(series(&text), series(&plain));
    // curl reads every member too, and promtool finds the text it decodes clean.
    let curl = std::process::Command::new("curl")
        .args(["-sS", "--compressed", &url])
        .output()
        .expect("curl is installed");
    assert!(curl.status.success());
    let curled = String::from_utf8(curl.stdout).unwrap();
    assert_eq!(series(&curled), series(&plain));
    let mut lint = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus)");
    std::io::Write::write_all(lint.stdin.as_mut().unwrap(), curled.as_bytes()).unwrap();
    let lint = lint.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(
        lint.status.success() && findings.trim().is_empty(),
        "promtool check metrics: {findings}"
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}
