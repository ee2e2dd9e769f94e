//! Sharding one org across exporters (`--shard=N --total-shards=M`), kube-state-metrics style:
//! each queue belongs to exactly one shard (FNV-1a 64 of its id, modulo M), the shards together
//! serve exactly the series one exporter serves, and the families that are org-wide rather than
//! per queue come from shard 0 alone, so that a sum over the shards counts them once.
//!
//! Every exporter here runs against the same simulated org on its manual clock, with intervals
//! longer than the test: each polls once, at the same business time, so their values compare
//! exactly.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use genesys_exporter::app::{Exporter, Options};
use genesys_exporter::collect::queues::Shard;
use genesys_exporter::config::{Config, ConfigError, Target};
use genesys_sim::{SimConfig, SimOrg};

const SHARDS: u32 = 3;

/// One poll per collector: the intervals outlast the test, so every exporter serves what it
/// saw at the same (frozen) business time.
const ONE_POLL: [&str; 4] = [
    "--collector.queues.interval=1h",
    "--collector.observations.interval=1h",
    "--collector.activity.interval=1h",
    "--collector.aggregates.interval=1h",
];

/// Families that describe one exporter process (its API use, polls, build, process, how its
/// live data arrives) rather than the org: every instance serves its own.
fn per_instance(name: &str) -> bool {
    [
        "process_",
        "genesys_api_",
        "genesys_exporter_",
        "genesys_collector_",
        "genesys_live_",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || name == "genesys_up"
}

/// Families not keyed by queue that shard 0 alone serves.
const ORG_WIDE: [&str; 2] = ["genesys_conversations", "genesys_flow_conversations"];

type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The org's series of a scrape: every sample but the per-instance families.
fn org_series(s: &Scrape) -> Series {
    s.samples
        .iter()
        .filter(|((name, _), _)| !per_instance(name))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn queue_ids(s: &Scrape) -> BTreeSet<String> {
    s.all("genesys_queue_info")
        .into_iter()
        .map(|(labels, _)| labels["queue_id"].clone())
        .collect()
}

fn has_queue_label(labels: &[(String, String)]) -> bool {
    labels.iter().any(|(k, _)| k == "queue_id")
}

/// A file that is removed when the test ends, pass or fail.
struct TempFile(PathBuf);

impl TempFile {
    fn new(what: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "gx-shard-{what}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, text).expect("temp file written");
        TempFile(path)
    }

    fn flag(&self, name: &str) -> String {
        format!("--{name}={}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// One exporter alone, then `SHARDS` exporters with `extra` flags, each ready and scraped.
/// The shards read their client id from a file, as a StatefulSet gives it to them; their
/// `--genesys.client-id` names a client the simulator refuses, so only the file's id works.
async fn one_then_shards(sim: &SimOrg, extra: &[&str]) -> (Scrape, Vec<Scrape>) {
    let client_id = TempFile::new(
        "client-id",
        &format!("{}\n", SimConfig::default().client_id),
    );
    let id_flag = client_id.flag("genesys.client-id-file");
    let mut flags: Vec<&str> = ONE_POLL.to_vec();
    flags.extend_from_slice(extra);
    let single = start_exporter_on_sim_clock(sim, &flags).await;
    let mut shards = Vec::new();
    for n in 0..SHARDS {
        let shard = format!("--shard={n}");
        let total = format!("--total-shards={SHARDS}");
        let mut own = flags.clone();
        own.extend([
            shard.as_str(),
            total.as_str(),
            "--genesys.client-id=not-a-client-of-the-simulator",
            id_flag.as_str(),
        ]);
        shards.push(start_exporter_on_sim_clock(sim, &own).await);
    }
    wait_ready(&single).await;
    let whole = scrape(single.local_addr()).await;
    let mut parts = Vec::new();
    for shard in &shards {
        wait_ready(shard).await;
        parts.push(scrape(shard.local_addr()).await);
    }
    single.shutdown().await;
    for shard in shards {
        shard.shutdown().await;
    }
    (whole, parts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_shards_together_serve_exactly_the_series_of_one_exporter() {
    let sim = start_sim(SimConfig {
        clock: busy_at(10, 30),
        ..sim_config()
    })
    .await;
    // The opt-in flows collector too: org-wide, like activity.
    let (whole, parts) = one_then_shards(&sim, &["--collector.flows"]).await;

    // Every queue on exactly one shard, and every shard with some.
    let all = queue_ids(&whole);
    assert!(all.len() >= 30, "the simulated org has its queues: {all:?}");
    let mut seen = BTreeSet::new();
    for (n, part) in parts.iter().enumerate() {
        let mine = queue_ids(part);
        assert!(!mine.is_empty(), "shard {n} watches no queue");
        let twice: Vec<_> = mine.intersection(&seen).collect();
        assert!(twice.is_empty(), "shard {n} also watches {twice:?}");
        let shard = Shard::new(u32::try_from(n).expect("a small number"), SHARDS).unwrap();
        assert!(mine.iter().all(|id| shard.owns(id)), "shard {n}: {mine:?}");
        seen.extend(mine);
    }
    assert_eq!(seen, all, "the shards together watch every queue");

    // The shards' series, merged: a per-queue series comes from one shard only; the others
    // (the queue count, by media type sums) add up over the shards.
    let mut merged = Series::new();
    for (n, part) in parts.iter().enumerate() {
        for ((name, labels), value) in org_series(part) {
            let key = (name.clone(), labels.clone());
            match merged.get_mut(&key) {
                Some(sum) => {
                    assert!(
                        !has_queue_label(&labels),
                        "{name}{labels:?} is served by shard {n} and another"
                    );
                    *sum += value;
                }
                None => {
                    merged.insert(key, value);
                }
            }
        }
    }
    let expected = org_series(&whole);
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !merged.contains_key(k))
        .collect();
    let extra: Vec<_> = merged
        .keys()
        .filter(|k| !expected.contains_key(k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not served by any shard: {missing:#?}; served by the shards only: {extra:#?}"
    );
    for (key, value) in &expected {
        assert_eq!(merged[key], *value, "{key:?}");
    }
    assert!(
        expected
            .keys()
            .any(|(name, _)| name == "genesys_conversations_offered_total"),
        "the comparison covers the analytics counters"
    );

    // Org-wide families: shard 0 only, not even their HELP elsewhere.
    for family in ORG_WIDE {
        assert!(parts[0].has(family), "shard 0 serves {family}");
        for (n, part) in parts.iter().enumerate().skip(1) {
            assert!(!part.has(family), "shard {n} serves {family}");
            assert!(
                !part.text.contains(&format!("# HELP {family} ")),
                "shard {n} describes {family}"
            );
            // Its collector stays up without spending budget on the org-wide query.
            let activity = [("collector", "activity")];
            assert_eq!(value(part, "genesys_up", &activity), 1.0, "shard {n}");
            assert_eq!(
                value(part, "genesys_collector_requests", &activity),
                0.0,
                "shard {n}"
            );
        }
    }
    sim.shutdown().await;
}

/// `--aggregates.by=media_type` sums over the watched queues, so over a shard's queues: the
/// shards' counts add up to one exporter's, their maxima have its maximum, and the service
/// level is theirs recomputed from its numerator and denominator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn summed_by_media_type_the_shards_add_up_to_one_exporter() {
    let sim = start_sim(SimConfig {
        clock: busy_at(10, 30),
        ..sim_config()
    })
    .await;
    let (whole, parts) = one_then_shards(&sim, &["--aggregates.by=media_type"]).await;
    let analytics = |name: &str| {
        (name.starts_with("genesys_conversations_") || name.starts_with("genesys_window_"))
            || name.ends_with("_seconds_total")
            || name == "genesys_holds_total"
    };
    let expected: Series = org_series(&whole)
        .into_iter()
        .filter(|((name, _), _)| analytics(name))
        .collect();
    assert!(
        expected.keys().all(|(_, labels)| !has_queue_label(labels)),
        "by media type, no queue labels"
    );
    let mut checked = 0;
    for ((name, labels), want) in &expected {
        let values: Vec<f64> = parts
            .iter()
            .filter_map(|p| p.samples.get(&(name.clone(), labels.clone())).copied())
            .collect();
        let got = if name.ends_with("_max_seconds") {
            values.iter().copied().fold(0.0, f64::max)
        } else if name == "genesys_window_service_level_ratio" {
            let sum = |family: &str| -> f64 {
                let key = (family.to_string(), labels.clone());
                parts.iter().filter_map(|p| p.samples.get(&key)).sum()
            };
            sum("genesys_window_conversations_within_sla")
                / sum("genesys_window_conversations_sla_eligible")
        } else {
            values.iter().sum()
        };
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name}{labels:?}: one exporter {want}, the shards {got} from {values:?}"
        );
        checked += 1;
    }
    assert!(checked > 100, "compared {checked} series");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_an_exporter_to_another_shard() {
    let sim = start_sim(sim_config()).await;
    let file = TempFile::new("config.yml", "");
    let mut args = exporter_config_args(&sim);
    args.push(file.flag("config.file"));
    let secret = SimConfig::default().client_secret;
    let load = move || Config::from_args(args.clone(), Some(secret.clone()));
    let options = Options {
        reload_from: Some(Arc::new(load.clone())),
        ..Options::default()
    };
    let exporter = Exporter::start_with(load().expect("valid config"), options)
        .await
        .expect("exporter starts");
    wait_ready(&exporter).await;
    let addr = exporter.local_addr();
    let before = scrape(addr).await;
    let all = queue_ids(&before);
    assert!(
        before.has("genesys_conversations"),
        "unsharded, it serves everything"
    );

    std::fs::write(&file.0, "shard: 1\ntotal-shards: 3\n").expect("config file written");
    exporter.reload().await.expect("the reload succeeds");
    let shard = Shard::new(1, 3).unwrap();
    let mine: BTreeSet<String> = all.iter().filter(|id| shard.owns(id)).cloned().collect();
    assert!(!mine.is_empty() && mine.len() < all.len(), "{mine:?}");
    eventually(
        "the queues of shard 1 only, and no org-wide family",
        || async {
            let s = scrape(addr).await;
            (queue_ids(&s) == mine && !s.has("genesys_conversations")).then_some(())
        },
    )
    .await;
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// A command line like `common::exporter_config`'s, kept to be parsed again on each reload.
fn exporter_config_args(sim: &SimOrg) -> Vec<String> {
    vec![
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url={}", sim.api_url()),
        format!("--genesys.login-url={}", sim.login_url()),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        "--collector.queues.interval=200ms".into(),
        "--collector.observations.interval=200ms".into(),
        "--collector.activity.interval=200ms".into(),
        "--collector.aggregates.interval=200ms".into(),
        format!("--genesys.requests-per-minute={TEST_BUDGET}"),
        "--live.mode=poll".into(),
    ]
}

/// The configuration of a command line (without the program name), for an org with these
/// credentials.
fn config(args: &[&str]) -> Result<Config, ConfigError> {
    Config::from_args(
        ["genesys-exporter", "--genesys.client-id=from-flag"]
            .into_iter()
            .chain(args.iter().copied()),
        Some("secret".into()),
    )
}

fn described(config: &Config, key: &str) -> Option<String> {
    config
        .describe()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[test]
fn a_shard_number_not_below_the_number_of_shards_is_a_flag_error() {
    let Err(ConfigError::Flags(e)) = config(&["--shard=3", "--total-shards=3"]) else {
        panic!("--shard=3 of 3 accepted")
    };
    assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
    let text = e.to_string();
    assert!(
        text.contains("--shard=3 is not below --total-shards=3: shards are numbered 0 to 2"),
        "{text}"
    );
    let Err(ConfigError::Flags(e)) = config(&["--total-shards=0"]) else {
        panic!("--total-shards=0 accepted")
    };
    assert!(e.to_string().contains("--total-shards"), "{e}");
    assert!(config(&["--shard=2", "--total-shards=3"]).is_ok());
}

#[test]
fn check_config_shows_the_shard_from_flags_or_the_config_file() {
    let unsharded = config(&[]).expect("valid");
    assert_eq!(described(&unsharded, "shard").as_deref(), Some("0"));
    assert_eq!(described(&unsharded, "total-shards").as_deref(), Some("1"));

    let file = TempFile::new("config.yml", "shard: 2\ntotal-shards: 4\n");
    let from_file = config(&[&file.flag("config.file")]).expect("valid");
    assert_eq!(described(&from_file, "shard").as_deref(), Some("2"));
    assert_eq!(described(&from_file, "total-shards").as_deref(), Some("4"));

    let bad = TempFile::new("config.yml", "shard: 4\ntotal-shards: 4\n");
    assert!(matches!(
        config(&[&bad.flag("config.file")]),
        Err(ConfigError::Flags(_))
    ));
}

#[test]
fn the_client_id_file_wins_over_the_flag_and_loses_its_whitespace() {
    let file = TempFile::new("client-id", "  id-of-shard-1\n");
    let c = config(&[&file.flag("genesys.client-id-file")]).expect("valid");
    let Target::Org { credentials, .. } = &c.startup.target else {
        panic!("an org")
    };
    assert_eq!(credentials.client_id, "id-of-shard-1");
    assert_eq!(
        described(&c, "genesys.client-id").as_deref(),
        Some("id-of-shard-1")
    );
}

#[test]
fn a_missing_or_empty_client_id_file_is_named_in_the_error() {
    let err = config(&["--genesys.client-id-file=/nonexistent/client-id"])
        .expect_err("a missing file")
        .to_string();
    assert!(
        err.starts_with("--genesys.client-id-file /nonexistent/client-id: "),
        "{err}"
    );
    let empty = TempFile::new("client-id", "\n");
    let err = config(&[&empty.flag("genesys.client-id-file")])
        .expect_err("an empty file")
        .to_string();
    assert!(err.ends_with(": file is empty"), "{err}");
}
