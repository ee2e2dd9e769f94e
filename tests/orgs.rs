//! Several orgs in one exporter (`orgs:` in the config file): each org's series carry its
//! name, each org has its own token, budget and collectors, and one org's trouble stays its
//! own. Every org here is a simulated org of its own (own seed, size and credentials).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use genesys_exporter::app::{Exporter, Options};
use genesys_exporter::config::Config;
use genesys_sim::{Endpoint, Fault, SimConfig, SimOrg};

mod common;

use common::{eventually, scrape, value, Scrape};

/// Families whose values depend on when polls happened (counts of polls and requests,
/// timings), or that belong to the process rather than to an org.
fn timing_or_process(name: &str) -> bool {
    [
        "genesys_collector_",
        "genesys_api_",
        "genesys_exporter_",
        "process_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || name == "genesys_live_last_event_timestamp_seconds"
}

/// Settings every exporter of these tests shares: fast polls, polling only, a big budget.
const FLAGS: &[&str] = &[
    "--web.listen-address=127.0.0.1:0",
    "--collector.queues.interval=1s",
    "--collector.observations.interval=250ms",
    "--collector.activity.interval=250ms",
    "--collector.aggregates.interval=250ms",
    "--genesys.request-timeout=2s",
    "--live.mode=poll",
];

/// Simulated org `i` of `n` (its own seed and credentials), all on the same still business
/// clock, and its configuration.
async fn start_org(i: usize, n: usize, queues: usize) -> (SimOrg, SimConfig) {
    let base = SimConfig {
        queues,
        clock: common::busy_at(10, 30),
        ..common::sim_config()
    };
    let config = base.for_org(i, n);
    (common::start_sim(config.clone()).await, config)
}

/// A scratch directory for one test's config and secret files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gx-orgs-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The YAML of one `orgs:` entry for `sim`, its secret in a file of its own; `extra` is
/// more YAML of the entry, indented by four spaces.
fn org_entry(dir: &Path, name: &str, (sim, config): &(SimOrg, SimConfig), extra: &str) -> String {
    org_entry_with_budget(dir, name, (sim, config), common::TEST_BUDGET, extra)
}

fn org_entry_with_budget(
    dir: &Path,
    name: &str,
    (sim, config): (&SimOrg, &SimConfig),
    budget: u32,
    extra: &str,
) -> String {
    let secret = dir.join(format!("{name}.secret"));
    std::fs::write(&secret, &config.client_secret).expect("secret file");
    format!(
        "  - name: {name}\n    genesys:\n      api_url: {}\n      login_url: {}\n      client_id: {}\n      client_secret_file: {}\n      requests_per_minute: {}\n{extra}",
        sim.api_url(),
        sim.login_url(),
        config.client_id,
        secret.display(),
        budget,
    )
}

fn write_config(dir: &Path, entries: &[String]) -> PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(&path, format!("orgs:\n{}", entries.concat())).expect("config file");
    path
}

fn load(path: &Path) -> Config {
    let mut args: Vec<String> = vec!["genesys-exporter".into()];
    args.extend(FLAGS.iter().map(|s| s.to_string()));
    args.push(format!("--config.file={}", path.display()));
    // No GENESYS_CLIENT_SECRET: every org has its own secret file.
    Config::from_args(args, None).expect("valid config")
}

/// The exporter of `path`'s orgs, on `clock_of`'s business clock, reloading from the file.
async fn start(path: &Path, clock_of: &SimOrg) -> Exporter {
    let file = path.to_path_buf();
    let options = Options {
        clock: std::sync::Arc::new(genesys_exporter::clock::FnClock(clock_of.clock_fn())),
        reload_from: Some(std::sync::Arc::new(move || {
            let mut args: Vec<String> = vec!["genesys-exporter".into()];
            args.extend(FLAGS.iter().map(|s| s.to_string()));
            args.push(format!("--config.file={}", file.display()));
            Config::from_args(args, None)
        })),
    };
    let exporter = Exporter::start_with(load(path), options)
        .await
        .expect("exporter starts");
    common::wait_ready(&exporter).await;
    exporter
}

type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The org's data series in a scrape of several orgs, without the `org` label.
fn series_of(s: &Scrape, org: &str) -> Series {
    s.samples
        .iter()
        .filter(|((name, _), _)| !timing_or_process(name))
        .filter(|((_, labels), _)| labels.iter().any(|(k, val)| k == "org" && val == org))
        .map(|((name, labels), v)| {
            let rest = labels.iter().filter(|(k, _)| k != "org").cloned().collect();
            ((name.clone(), rest), *v)
        })
        .collect()
}

/// The data series of a single-org scrape.
fn data_series(s: &Scrape) -> Series {
    s.samples
        .iter()
        .filter(|((name, _), _)| !timing_or_process(name))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn up(s: &Scrape, org: &str, collector: &str) -> f64 {
    value(s, "genesys_up", &[("org", org), ("collector", collector)])
}

fn polls(s: &Scrape, org: &str, collector: &str) -> f64 {
    value(
        s,
        "genesys_collector_polls_total",
        &[("org", org), ("collector", collector)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_org_exports_exactly_what_a_single_org_exporter_of_it_exports_under_its_name() {
    let sizes = [3, 5, 7];
    let mut sims = Vec::new();
    for (i, q) in sizes.iter().enumerate() {
        sims.push(start_org(i + 1, sizes.len(), *q).await);
    }
    let dir = scratch("same");
    let names = ["acme", "globex", "initech"];
    let entries: Vec<String> = sims
        .iter()
        .zip(names)
        .map(|(sim, name)| org_entry(&dir, name, sim, ""))
        .collect();
    let exporter = start(&write_config(&dir, &entries), &sims[0].0).await;
    let addr = exporter.local_addr();

    // One exporter per org, as before `orgs:` existed.
    let mut singles = Vec::new();
    for (sim, config) in &sims {
        let mut flags: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
        flags.push(format!("--genesys.client-secret-file={}", {
            let p = dir.join(format!("{}.single", config.client_id));
            std::fs::write(&p, &config.client_secret).expect("secret file");
            p.display().to_string()
        }));
        flags.push(format!("--genesys.client-id={}", config.client_id));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let single = common::start_exporter_on_sim_clock(sim, &flags).await;
        common::wait_ready(&single).await;
        singles.push(single);
    }

    for ((single, name), size) in singles.iter().zip(names).zip(sizes) {
        let (ours, theirs) = eventually("the org's series match its own exporter's", || async {
            let ours = series_of(&scrape(addr).await, name);
            let theirs = data_series(&scrape(single.local_addr()).await);
            (!ours.is_empty() && ours == theirs).then_some((ours, theirs))
        })
        .await;
        assert_eq!(ours, theirs);
        assert_eq!(
            ours.get(&("genesys_queues".to_string(), vec![])).copied(),
            Some(size as f64),
            "{name} watches its own {size} queues"
        );
    }

    let s = scrape(addr).await;
    for name in names {
        for collector in ["queues", "observations", "activity", "aggregates"] {
            assert_eq!(up(&s, name, collector), 1.0, "{name} {collector}");
        }
        // Its own token: one token request of its own.
        assert!(
            value(
                &s,
                "genesys_api_requests_total",
                &[("org", name), ("endpoint", "/oauth/token"), ("code", "200")]
            ) >= 1.0
        );
    }
    // Only the process' own families go without an org.
    let unlabelled: BTreeSet<&str> = s
        .samples
        .keys()
        .filter(|(_, labels)| !labels.iter().any(|(k, _)| k == "org"))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        unlabelled
            .iter()
            .all(|n| n.starts_with("genesys_exporter_") || n.starts_with("process_")),
        "{unlabelled:?}"
    );
    // Each family is described once although three orgs write it.
    let helps = s
        .text
        .lines()
        .filter(|l| l.starts_with("# HELP genesys_up "))
        .count();
    assert_eq!(helps, 1);

    for single in singles {
        single.shutdown().await;
    }
    exporter.shutdown().await;
    for (sim, _) in sims {
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_and_slow_org_does_not_delay_or_stale_the_others() {
    let healthy = start_org(1, 2, 4).await;
    let broken = start_org(2, 2, 4).await;
    let dir = scratch("isolation");
    let entries = [
        org_entry(&dir, "healthy", &healthy, ""),
        org_entry(&dir, "broken", &broken, ""),
    ];
    let exporter = start(&write_config(&dir, &entries), &healthy.0).await;
    let (healthy, _) = healthy;
    let (broken, _) = broken;
    let addr = exporter.local_addr();

    // From now on every call to the broken org hangs for longer than the request timeout
    // or fails: its collectors go down, its retries wait.
    broken.faults().fail_next(
        Endpoint::Observations,
        1_000,
        Fault::Delay(Duration::from_secs(5)),
    );
    broken.faults().fail_next(
        Endpoint::Aggregates,
        1_000,
        Fault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    let down = eventually("the broken org's collectors down", || async {
        let s = scrape(addr).await;
        (up(&s, "broken", "observations") == 0.0 && up(&s, "broken", "aggregates") == 0.0)
            .then_some(s)
    })
    .await;

    // Meanwhile the healthy org polls at its own pace, every collector up, its data fresh.
    let before = polls(&down, "healthy", "observations");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = scrape(addr).await;
    let done = polls(&s, "healthy", "observations") - before;
    assert!(
        done >= 6.0,
        "250 ms polls went on: {done} in 3 s while the other org hangs"
    );
    for collector in ["queues", "observations", "activity", "aggregates"] {
        assert_eq!(up(&s, "healthy", collector), 1.0, "healthy {collector}");
    }
    let queues_with_data = s
        .all("genesys_queue_conversations")
        .iter()
        .filter(|(l, _)| l.get("org").map(String::as_str) == Some("healthy"))
        .filter_map(|(l, _)| l.get("queue_id").cloned())
        .collect::<BTreeSet<_>>()
        .len();
    assert_eq!(
        queues_with_data, 4,
        "the healthy org's live series are served"
    );
    assert_eq!(
        common::get(addr, "/-/ready").await.0,
        200,
        "a broken org does not make the exporter unready"
    );

    exporter.shutdown().await;
    healthy.shutdown().await;
    broken.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_removes_and_changes_orgs_and_leaves_the_others_running() {
    let a = start_org(1, 3, 3).await;
    let b = start_org(2, 3, 3).await;
    let c = start_org(3, 3, 3).await;
    let dir = scratch("reload");
    let path = write_config(
        &dir,
        &[org_entry(&dir, "a", &a, ""), org_entry(&dir, "b", &b, "")],
    );
    let exporter = start(&path, &a.0).await;
    let addr = exporter.local_addr();
    let token_requests = |s: &Scrape, org: &str| {
        value(
            s,
            "genesys_api_requests_total",
            &[("org", org), ("endpoint", "/oauth/token"), ("code", "200")],
        )
    };
    let before = scrape(addr).await;
    assert_eq!(token_requests(&before, "a"), 1.0);

    // b removed, c added, a's budget changed (applied in place).
    let a_cheaper = org_entry_with_budget(&dir, "a", (&a.0, &a.1), 90_000, "");
    write_config(&dir, &[a_cheaper, org_entry(&dir, "c", &c, "")]);
    let restart = exporter.reload().await.expect("the reload applies");
    assert!(restart.is_empty(), "{restart:?}");
    let s = eventually("c's series, b's gone", || async {
        let s = scrape(addr).await;
        let orgs: BTreeSet<String> = s
            .all("genesys_up")
            .into_iter()
            .filter_map(|(l, _)| l.get("org").cloned())
            .collect();
        (orgs == BTreeSet::from(["a".to_string(), "c".to_string()])
            && up(&s, "c", "observations") == 1.0)
            .then_some(s)
    })
    .await;
    assert_eq!(
        value(
            &s,
            "genesys_api_budget_requests_per_minute",
            &[("org", "a")]
        ),
        90_000.0,
        "a's new budget"
    );
    assert_eq!(
        token_requests(&s, "a"),
        1.0,
        "a kept its token: not restarted"
    );
    assert!(
        polls(&s, "a", "observations") >= polls(&before, "a", "observations"),
        "a's counters went on"
    );

    // A change only a restart applies (its request timeout) restarts a, and only a.
    let c_polls = polls(&s, "c", "observations");
    write_config(
        &dir,
        &[
            org_entry(&dir, "a", &a, "    genesys.request_timeout: 3s\n"),
            org_entry(&dir, "c", &c, ""),
        ],
    );
    exporter.reload().await.expect("the reload applies");
    let s = eventually("a restarted with a new token", || async {
        let s = scrape(addr).await;
        (up(&s, "a", "observations") == 1.0
            && token_requests(&s, "a") == 1.0
            && polls(&s, "a", "observations") < polls(&s, "c", "observations"))
        .then_some(s)
    })
    .await;
    assert!(polls(&s, "c", "observations") >= c_polls, "c went on");

    exporter.shutdown().await;
    for (sim, _) in [a, b, c] {
        sim.shutdown().await;
    }
}
