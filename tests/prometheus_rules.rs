//! Static checks of the monitoring files: `promtool check rules`, `promtool test rules` and
//! `promtool check config` on `prometheus/`, alert conventions (severity, summary and
//! description naming the queue and media type, and the org when there is one, thresholds in
//! the expression and in the annotations agree), the `org` kept by every join and aggregation
//! and shown firing per org in the unit tests, and the Grafana dashboard's structure (Grafana 10 schema, variables,
//! rows, a unit on every panel). The queries themselves run against a real Prometheus in
//! `tests/e2e_prometheus.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RULES: &str = "prometheus/genesys-rules.yml";
const RULE_TESTS: &str = "prometheus/tests/genesys-rules.test.yml";
const CONFIG: &str = "prometheus/prometheus.yml";
const DASHBOARD: &str = "grafana/dashboards/genesys-overview.json";

fn path(rel: &str) -> PathBuf {
    Path::new(ROOT).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Runs promtool in the repository root; fails clearly when it is not installed.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool not found ({e}): install Debian's prometheus package (apt-get install prometheus)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_check_rules_is_clean() {
    let out = promtool(&["check", "rules", RULES]);
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let out = promtool(&["test", "rules", RULE_TESTS]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn example_prometheus_config_is_valid_and_loads_the_rules() {
    let out = promtool(&["check", "config", CONFIG]);
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");
    assert!(
        read(CONFIG).contains("job_name: genesys"),
        "GenesysExporterDown matches job=\"genesys\""
    );
}

/// One alerting rule of the rules file, read from its text (no YAML parser in the deps; the
/// file's layout is regular and promtool validates the YAML itself).
#[derive(Debug, Default)]
struct Alert {
    name: String,
    group: String,
    expr: Vec<String>,
    has_for: bool,
    severity: Option<String>,
    annotations: BTreeMap<String, String>,
}

fn alerts() -> Vec<Alert> {
    let text = read(RULES);
    let mut out: Vec<Alert> = Vec::new();
    let mut group = String::new();
    let mut current: Option<Alert> = None;
    let mut section = "";
    let mut last_key = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(g) = t.strip_prefix("- name: ") {
            out.extend(current.take());
            group = g.to_string();
            continue;
        }
        if t.starts_with("- record:") {
            out.extend(current.take());
            continue;
        }
        if let Some(name) = t.strip_prefix("- alert: ") {
            out.extend(current.take());
            current = Some(Alert {
                name: name.to_string(),
                group: group.clone(),
                ..Alert::default()
            });
            section = "";
            continue;
        }
        let Some(a) = current.as_mut() else { continue };
        let indent = line.len() - line.trim_start().len();
        if indent == 8 {
            section = match t.split(':').next().unwrap_or("") {
                "expr" => "expr",
                "labels" => "labels",
                "annotations" => "annotations",
                "for" => {
                    a.has_for = true;
                    ""
                }
                _ => "",
            };
            continue;
        }
        match section {
            "expr" => a.expr.push(t.to_string()),
            "labels" => {
                if let Some(s) = t.strip_prefix("severity: ") {
                    a.severity = Some(s.to_string());
                }
            }
            "annotations" if indent == 10 => {
                let (k, v) = t.split_once(':').expect("annotation key: value");
                last_key = k.to_string();
                a.annotations
                    .insert(k.to_string(), v.trim().trim_matches('"').to_string());
            }
            "annotations" => {
                let v = a.annotations.get_mut(&last_key).unwrap();
                v.push(' ');
                v.push_str(t);
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

#[test]
fn every_alert_has_severity_for_summary_description_and_visible_thresholds() {
    let alerts = alerts();
    let names: BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    for required in [
        "GenesysQueueSpike",
        "GenesysQueueLongestWait",
        "GenesysQueueNobodyOnQueue",
        "GenesysQueueAbandonRatioHigh",
        "GenesysQueueServiceLevelLow",
        "GenesysCollectorDown",
        "GenesysDataStale",
        "GenesysApiRateLimited",
        "GenesysExporterDown",
    ] {
        assert!(
            names.contains(required),
            "missing alert {required}: {names:?}"
        );
    }
    for a in &alerts {
        assert!(a.has_for, "{}: no `for:`", a.name);
        assert!(
            matches!(a.severity.as_deref(), Some("page" | "warning")),
            "{}: severity {:?}",
            a.name,
            a.severity
        );
        let summary = a
            .annotations
            .get("summary")
            .map(String::as_str)
            .unwrap_or("");
        let description = a
            .annotations
            .get("description")
            .map(String::as_str)
            .unwrap_or("");
        assert!(
            !summary.is_empty() && !description.is_empty(),
            "{}: {a:?}",
            a.name
        );
        let needles: &[&str] = if a.group == "genesys-queues" {
            &["$labels.queue }}", "$labels.media_type }}"]
        } else {
            &["$labels.instance }}"]
        };
        // The org when the series have one; nothing (no "org :") for a single-org exporter.
        for n in needles.iter().chain(&["{{ with $labels.org }}"]) {
            assert!(
                summary.contains(n),
                "{}: summary lacks {n}: {summary}",
                a.name
            );
            assert!(
                description.contains(n),
                "{}: description lacks {n}: {description}",
                a.name
            );
        }
        // Every threshold annotation is a number on a `# threshold` line of the expression.
        let thresholds: Vec<(&String, &String)> = a
            .annotations
            .iter()
            .filter(|(k, _)| k.starts_with("threshold"))
            .collect();
        assert!(
            !thresholds.is_empty(),
            "{}: no threshold annotation",
            a.name
        );
        let marked: Vec<&String> = a
            .expr
            .iter()
            .filter(|l| l.contains("# threshold"))
            .collect();
        for (k, v) in thresholds {
            let number =
                regex::Regex::new(&format!(r"(^|[^\w.]){}([^\w.]|$)", regex::escape(v))).unwrap();
            assert!(
                marked
                    .iter()
                    .any(|l| number.is_match(l.split('#').next().unwrap())),
                "{}: annotation {k}={v} is not the number on any `# threshold` line of\n{}",
                a.name,
                a.expr.join("\n")
            );
        }
    }
}

/// The label lists of every `by (...)` and `on (...)` of the rules' expressions, comments
/// left out.
fn grouping_clauses(text: &str) -> Vec<String> {
    let clause = regex::Regex::new(r"\b(by|on)\s*\(([^)]*)\)").unwrap();
    let mut out = Vec::new();
    let mut in_expr = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("expr:") {
            in_expr = true;
        } else if in_expr && (t.starts_with("for:") || t.starts_with("- ") || t.is_empty()) {
            in_expr = false;
        }
        if !in_expr {
            continue;
        }
        let code = t.split('#').next().unwrap();
        out.extend(
            clause
                .captures_iter(code)
                .map(|c| format!("{} ({})", &c[1], &c[2])),
        );
    }
    out
}

#[test]
fn every_join_and_aggregation_keeps_the_org() {
    // Queue ids and names repeat from one org to the next: a join or sum without `org` mixes
    // them (one org's empty queue would page another's staffed one).
    let rules = read(RULES);
    let clauses = grouping_clauses(&rules);
    assert!(clauses.len() >= 4, "{clauses:?}");
    for c in &clauses {
        let labels: Vec<&str> = c[c.find('(').unwrap() + 1..c.len() - 1]
            .split(',')
            .map(str::trim)
            .collect();
        assert!(labels.contains(&"org"), "{RULES}: {c} drops the org");
    }
    // A `query` in an annotation looks the value up in the alert's own org (`org=''` is the
    // single-org exporter's series, which have no org label).
    for a in alerts() {
        for (k, v) in &a.annotations {
            if v.contains("| query") {
                assert!(
                    v.contains("org='%s'") && v.contains("$labels.org"),
                    "{}: {k} queries without the org: {v}",
                    a.name
                );
            }
        }
    }
}

#[test]
fn grouping_clauses_are_found() {
    let text = "      - alert: X\n        expr: |\n          sum by (job, org) (x)  # by (no)\n          and on (org, queue_id) y\n        for: 1m\n        summary: by (not, code)\n";
    assert_eq!(
        grouping_clauses(text),
        ["by (job, org)", "on (org, queue_id)"]
    );
}

#[test]
fn every_alert_fires_per_org_in_a_promtool_test() {
    // A test of two orgs with the same queue: each alert fires with the org among its labels
    // and the org named in its summary and description.
    let tests = read(RULE_TESTS);
    let mut per_org = BTreeSet::new();
    for block in tests.split("- eval_time:").skip(1) {
        let Some(name) = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("alertname: "))
        else {
            continue;
        };
        for alert in block.split("- exp_labels:").skip(1) {
            let Some(org) = alert.lines().find_map(|l| l.trim().strip_prefix("org: ")) else {
                continue;
            };
            let named = |key: &str| {
                alert
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(key))
                    .is_some_and(|v| v.contains(&format!("org {org}")))
            };
            if named("summary: ") && named("description: ") {
                per_org.insert(name.to_string());
            }
        }
    }
    for a in alerts() {
        assert!(
            per_org.contains(&a.name),
            "{} never fires with an org (named in its annotations) in {RULE_TESTS}",
            a.name
        );
    }
}

#[test]
fn every_alert_has_a_promtool_test_that_fires_it() {
    let tests = read(RULE_TESTS);
    let mut fired = BTreeSet::new();
    for block in tests.split("- eval_time:").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("alertname: "))
            .map(str::to_string);
        if let Some(name) = name {
            if block.contains("exp_labels:") {
                fired.insert(name);
            }
        }
    }
    for a in alerts() {
        assert!(
            fired.contains(&a.name),
            "{} never fires in {RULE_TESTS}",
            a.name
        );
    }
    assert!(
        tests.contains("queue=\"Quiet\"") && tests.contains("'0x59 2x10'"),
        "the quiet queue going 0 -> 2 is tested"
    );
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("dashboard is valid JSON")
}

/// Every panel, rows included, with the panels nested in collapsed rows.
fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

#[test]
fn dashboard_is_grafana_10_with_datasource_queue_and_media_type_variables() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_i64().expect("schemaVersion");
    assert!(
        (37..=39).contains(&schema),
        "schemaVersion {schema} is not Grafana 10's"
    );
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(
        d.get("__inputs").is_none(),
        "no import-time inputs: the datasource is a variable"
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no template variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for name in ["org", "queue", "media_type"] {
        let v = var(name);
        assert_eq!(v["type"], "query", "{name}");
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap_or("");
        assert!(q.starts_with("label_values("), "{name}: {q}");
        assert!(q.contains(&format!(", {name})")), "{name}: {q}");
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(v["allValue"], ".*", "{name}");
    }
    // Every query panel reads from the datasource variable.
    for p in all_panels(&d).into_iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
}

#[test]
fn dashboard_has_the_rows_unique_ids_and_a_unit_on_every_panel() {
    let d = dashboard();
    let panels = all_panels(&d);
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "Live now",
            "Today and last hour",
            "Trends",
            "Answer wait distribution",
            "Exporter health",
            "Opt-in: estimated wait, flows, voice quality, transfers, IVR and callbacks (--collector.estimated_wait, --collector.flows, --collector.voice_quality, --aggregates.metrics)"
        ]
    );
    let mut ids = BTreeSet::new();
    for p in &panels {
        let id = p["id"].as_i64().expect("panel id");
        assert!(ids.insert(id), "duplicate panel id {id}");
    }
    let mut titles = BTreeSet::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().expect("title");
        assert!(titles.insert(title), "duplicate title {title}");
        let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
        assert!(!unit.is_empty(), "{title}: no unit");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}");
        }
        // Ratios are 0..1 (percentunit) and times are seconds, whatever the panel type.
        let words: Vec<&str> = title.split_whitespace().collect();
        let expected = if words.contains(&"ratio") || title.contains("Service level") {
            Some("percentunit")
        } else if [
            "AHT",
            "ASA",
            "Average hold",
            "Longest wait",
            "Data age",
            "duration",
        ]
        .iter()
        .any(|k| title.contains(k))
        {
            Some("s")
        } else {
            None
        };
        if let Some(expected) = expected {
            assert_eq!(unit, expected, "{title}");
        }
        if p["type"] == "table" {
            // Mixed columns: the time and ratio columns carry their own unit.
            let overrides: BTreeMap<&str, &str> = p["fieldConfig"]["overrides"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o["matcher"]["options"].as_str().unwrap(),
                        o["properties"][0]["value"].as_str().unwrap(),
                    )
                })
                .collect();
            let columns: Vec<&str> = p["transformations"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t["options"]["renameByName"].as_object())
                .flat_map(|names| names.values().filter_map(|v| v.as_str()))
                .collect();
            let mut unit_columns = 0;
            for (col, u) in [
                ("Abandon ratio", "percentunit"),
                ("Service level", "percentunit"),
                ("AHT", "s"),
                ("ASA", "s"),
                ("Average hold", "s"),
                ("p50", "s"),
                ("p90", "s"),
                ("p99", "s"),
                ("Answered within 20 s", "percentunit"),
            ] {
                if columns.contains(&col) {
                    assert_eq!(overrides.get(col), Some(&u), "{title}: column {col}");
                    unit_columns += 1;
                }
            }
            assert!(unit_columns >= 4, "{title}: columns {columns:?}");
        }
    }
    // The issue's panels, by what they query.
    let exprs: Vec<String> = panels
        .iter()
        .filter_map(|p| p["targets"].as_array())
        .flatten()
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    for needle in [
        "state=\"waiting\"",
        "state=\"interacting\"",
        "state=\"alerting\"",
        "genesys_queue_longest_waiting_seconds",
        "genesys_queue_users",
        "genesys_window_conversations_offered",
        "genesys_window_conversations_abandoned",
        "genesys_window_handle_seconds",
        "genesys_window_hold_seconds",
        "genesys_window_answer_wait_seconds",
        "genesys_window_conversations_within_sla",
        "window=\"today\"",
        // The last hour, from the counters (rolling windows are opt-in).
        "[1h]))",
        "genesys_conversation_answer_wait_seconds_bucket",
        "genesys_window_conversation_answer_wait_seconds_bucket",
        "rate(genesys_conversations_offered_total",
        "genesys_up",
        "genesys_collector_last_success_timestamp_seconds",
        "genesys_api_requests_total",
        "genesys_api_retries_total",
        "code=\"429\"",
        "up{",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(needle)),
            "no panel queries {needle}"
        );
    }
}

#[test]
fn grafana_provisioning_points_at_the_dashboard_and_a_prometheus() {
    let ds = read("grafana/provisioning/datasources/prometheus.yml");
    assert!(
        ds.contains("apiVersion: 1") && ds.contains("type: prometheus"),
        "{ds}"
    );
    let dash = read("grafana/provisioning/dashboards/genesys.yml");
    assert!(
        dash.contains("apiVersion: 1") && dash.contains("type: file"),
        "{dash}"
    );
    assert!(
        dash.contains("path: /var/lib/grafana/dashboards/genesys"),
        "{dash}"
    );
    assert!(
        dash.contains("grafana/dashboards:/var/lib/grafana/dashboards/genesys"),
        "{dash}"
    );
}
