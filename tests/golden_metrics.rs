//! The demo's whole /metrics body for a fixed seed and a fixed business clock, byte for byte,
//! in both exposition formats: a restructure that changes what is served (a name, a help text,
//! a label, an order, a value) fails here.
//!
//! Only what depends on the wall clock or the machine is masked: poll timestamps and durations,
//! the reload timestamp, the budget wait, the `process_*` values, and the build's git revision
//! and rustc version. The prometheus-client families keep their samples in a hash map, so
//! their lines are compared sorted. Every other byte is compared as served.
//!
//! After an intended change: `UPDATE_GOLDEN=1 cargo test --test golden_metrics`, then review
//! the diff of `tests/golden/`.

mod common;

use std::path::PathBuf;

use common::*;
use genesys_exporter::metrics::Kind;
use genesys_sim::SimConfig;

/// Families whose values are wall time (or waits measured in it).
const WALL_TIME: [&str; 4] = [
    "genesys_collector_last_success_timestamp_seconds",
    "genesys_collector_duration_seconds",
    "genesys_exporter_config_last_reload_success_timestamp_seconds",
    "genesys_api_budget_wait_seconds_total",
];

/// The process' own figures (CPU time, memory, file descriptors, start time): Linux only.
const PROCESS: [&str; 6] = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

/// Labels of `genesys_exporter_build_info` that change with every commit or toolchain.
const BUILD: [&str; 2] = ["revision", "rustc_version"];

/// Families encoded from a hash map, in no fixed order.
const UNORDERED: [&str; 2] = ["genesys_api_requests_total", "genesys_api_retries_total"];

fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// `line` with the value of each label in `labels` replaced by `<name>`.
fn mask_labels(line: &str, labels: &[&str]) -> String {
    let mut line = line.to_string();
    for label in labels {
        let open = format!("{label}=\"");
        if let Some(start) = line.find(&open).map(|i| i + open.len()) {
            let end = start + line[start..].find('"').expect("a closed label value");
            line.replace_range(start..end, &format!("<{label}>"));
        }
    }
    line
}

/// The body with wall-time and machine-dependent values masked and unordered families sorted.
fn normalize(body: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for line in body.lines() {
        let name = sample_name(line);
        let masked = |mask: &str| {
            let (series, _) = line.rsplit_once(' ').expect("a sample line has a value");
            format!("{series} {mask}")
        };
        let line = if line.starts_with('#') {
            line.to_string()
        } else if WALL_TIME.contains(&name) {
            masked("<wall-time>")
        } else if PROCESS.contains(&name) {
            masked("<process>")
        } else if name == "genesys_exporter_build_info" {
            mask_labels(line, &BUILD)
        } else {
            line.to_string()
        };
        if !line.starts_with('#') && UNORDERED.contains(&name) {
            run.push(line);
            continue;
        }
        run.sort();
        out.append(&mut run);
        out.push(line);
    }
    run.sort();
    out.append(&mut run);
    out.join("\n") + "\n"
}

fn golden(file: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("golden dir");
        std::fs::write(&path, actual).expect("golden written");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{file}: the served body differs from the golden one at line {}:\n golden: {:?}\n served: {:?}",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}

/// Each family served is declared in the catalog with the same type, help and labels, and the
/// catalog declares nothing the demo does not serve.
fn served_families_are_the_catalog(text: &str) {
    use genesys_exporter::families;
    let mut served = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("# HELP ") else {
            continue;
        };
        let (name, help) = rest.split_once(' ').expect("HELP name text");
        let kind = lines
            .next()
            .and_then(|t| t.rsplit(' ').next())
            .expect("a TYPE line");
        let labels: Vec<String> = lines
            .peek()
            .filter(|l| !l.starts_with('#'))
            .and_then(|l| l.split_once('{'))
            .map(|(_, rest)| {
                rest.split("\",")
                    .filter_map(|p| {
                        p.split_once("=\"")
                            .map(|(k, _)| k.trim_start_matches(',').to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let family = families::ALL
            .iter()
            .find(|f| f.exposed_name() == name)
            .unwrap_or_else(|| panic!("{name} is served but not in the catalog"));
        assert_eq!(family.help, help, "{name}: help");
        assert_eq!(
            format!("{:?}", family.kind).to_lowercase(),
            kind,
            "{name}: type"
        );
        // A histogram's buckets carry `le` beyond the family's labels (the writer adds it).
        let labels: Vec<String> = match family.kind {
            Kind::Histogram => labels.into_iter().filter(|l| l != "le").collect(),
            _ => labels,
        };
        assert_eq!(family.labels, labels, "{name}: labels");
        served.push(name.to_string());
    }
    // Analytics quantities exported only when asked for (`--aggregates.metrics`).
    use genesys_exporter::collect::aggregates::{exportable, exported_by_default};
    let by_default = exported_by_default();
    let opt_in: Vec<String> = exportable()
        .into_iter()
        .filter(|q| !by_default.contains(q))
        .flat_map(|q| [format!("genesys_{q}_total"), format!("genesys_window_{q}")])
        .collect();
    assert!(!opt_in.is_empty());
    for family in families::ALL {
        let name = family.exposed_name();
        assert!(
            served.contains(&name)
                || opt_in.contains(&name)
                // Opt-in histograms (`--aggregates.histograms`).
                || name.contains("conversation_abandon_wait_seconds")
                || name.contains("conversation_handle_seconds")
                // Only while Genesys refuses an analytics metric, or the views.
                || name == "genesys_aggregates_refused_metric"
                || name == "genesys_aggregates_refused_histogram"
                // No event is pushed in polling mode.
                || name == "genesys_live_last_event_timestamp_seconds"
                // Opt-in collectors (`--collector.estimated_wait`, `--collector.flows`,
                // `--collector.voice_quality`), off in the demo.
                || name == "genesys_queue_estimated_wait_seconds"
                || name == "genesys_flow_conversations"
                || name.starts_with("genesys_conversation_mos")
                // The process families are read from /proc.
                || (cfg!(not(target_os = "linux")) && name.starts_with("process_")),
            "{name} is in the catalog but not served"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_body_is_byte_identical_for_a_fixed_seed_and_clock() {
    let sim = start_sim(SimConfig {
        clock: busy_at(10, 30),
        ..sim_config()
    })
    .await;
    // One poll per collector: the intervals are longer than the test.
    let exporter = start_exporter_on_sim_clock(
        &sim,
        &[
            "--collector.queues.interval=1h",
            "--collector.observations.interval=1h",
            "--collector.activity.interval=1h",
            "--collector.aggregates.interval=1h",
            // Polling: pushed events arrive on the wall clock, not in a fixed order.
            "--live.mode=poll",
        ],
    )
    .await;
    wait_ready(&exporter).await;
    let addr = exporter.local_addr();
    // The org's limits are read on a task of their own, which readiness does not wait for.
    wait_value(
        addr,
        "the org's limit",
        "genesys_api_org_limit_requests_per_minute",
        &[],
        |v| v > 0.0,
    )
    .await;
    let text = get(addr, "/metrics").await.1;
    let openmetrics = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert!(
        text.contains("genesys_window_conversations_offered{"),
        "{text}"
    );
    served_families_are_the_catalog(&text);
    golden("demo-metrics.txt", &normalize(&text));
    golden("demo-metrics.openmetrics.txt", &normalize(&openmetrics));
    exporter.shutdown().await;
    sim.shutdown().await;
}
