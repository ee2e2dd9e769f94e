//! Static checks of what the dashboard, the rules and the runbook promise each other, from
//! the files alone (no Prometheus, no Grafana, no simulator):
//! - every query of the dashboard is filtered by `$job` and `$instance`, so two exporters in
//!   one Prometheus are not summed together; the variables' own queries are too;
//! - every query is filtered by `$org` too, the queue and media type lists as well; `$org`
//!   lists the `org` label of a multi-org exporter and falls back to "All" (`.*`, which also
//!   matches series without the label) for a single-org one, whose list is empty; every
//!   aggregation of a graph or table keeps the orgs apart and its legend names the org;
//! - queue names go through `${queue:regex}` in a PromQL raw string (quotes and backslashes
//!   in names work, see `grafana_regex_format` in tests/e2e_prometheus.rs);
//! - every stat panel that draws a sparkline asks for a range;
//! - the panels of alerted quantities carry the alerts' thresholds; NaN and null show as "–";
//! - the job is the same in prometheus.yml, the rules and the dashboard's `$job` default;
//! - every alert links a section of docs/runbook.md that exists;
//! - the provisioned data source does not claim to be Grafana's default.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DASHBOARD: &str = "grafana/dashboards/genesys-overview.json";
const RULES: &str = "prometheus/genesys-rules.yml";
const PROMETHEUS: &str = "prometheus/prometheus.yml";
const RUNBOOK: &str = "docs/runbook.md";
const DATASOURCE: &str = "grafana/provisioning/datasources/prometheus.yml";

/// The placeholder base of every `runbook_url` (docs/dashboards-and-alerts.md: adapt it to
/// your copy).
const RUNBOOK_BASE: &str =
    "https://github.com/genesys-exporter/genesys-exporter/blob/main/docs/runbook.md#";

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("dashboard is valid JSON")
}

/// Every panel but rows, the panels of collapsed rows included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out.retain(|p| p["type"] != "row");
    out
}

fn exprs(p: &Value) -> Vec<&str> {
    p["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["expr"].as_str().expect("expr"))
        .collect()
}

fn variable<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name}"))
}

/// Each series selector of an expression: (metric name, what is between the braces).
/// Every metric must have braces, so a selector without any filter cannot slip through.
fn selectors(expr: &str) -> Vec<(String, String)> {
    let metric = regex::Regex::new(r"\b(genesys_[a-z_]+|up)\b(\{)?").unwrap();
    let mut out = Vec::new();
    for c in metric.captures_iter(expr) {
        let name = c[1].to_string();
        let open = c
            .get(2)
            .unwrap_or_else(|| panic!("{name} without a selector in {expr}"));
        let close = expr[open.end()..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed selector in {expr}"));
        out.push((name, expr[open.end()..open.end() + close].to_string()));
    }
    out
}

#[test]
fn every_query_is_filtered_by_job_and_instance() {
    let d = dashboard();
    let mut checked = 0;
    for p in panels(&d) {
        for e in exprs(p) {
            let sel = selectors(e);
            assert!(!sel.is_empty(), "{}: no metric in {e}", p["title"]);
            for (name, inner) in sel {
                for needle in [r#"job=~"$job""#, r#"instance=~"$instance""#] {
                    assert!(
                        inner.contains(needle),
                        "{}: {name}{{{inner}}} lacks {needle}",
                        p["title"]
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 80, "{checked} selectors");
}

const ORG: &str = r#"org=~"$org""#;

#[test]
fn every_query_is_filtered_by_org() {
    let d = dashboard();
    let mut targets = 0;
    let mut up = 0;
    for p in panels(&d) {
        for e in exprs(p) {
            targets += 1;
            assert!(e.contains(ORG), "{}: {e} lacks {ORG}", p["title"]);
            for (name, inner) in selectors(e) {
                if name == "up" {
                    // Prometheus' `up` is per scrape target, one exporter whatever the number
                    // of orgs it watches: it has no org label, and `org=~"acme"` would empty
                    // it. It is joined on the target with a genesys_ series of the orgs.
                    assert!(!inner.contains("org"), "{}: up{{{inner}}}", p["title"]);
                    assert!(
                        e.contains("and on (job, instance)"),
                        "{}: up is not joined with the org's series: {e}",
                        p["title"]
                    );
                    up += 1;
                } else {
                    assert!(
                        inner.contains(ORG),
                        "{}: {name}{{{inner}}} lacks {ORG}",
                        p["title"]
                    );
                }
            }
        }
    }
    assert!(targets > 50, "{targets} targets");
    assert_eq!(up, 1, "one panel shows Prometheus' up");
}

#[test]
fn the_org_variable_lists_the_orgs_and_defaults_to_all_which_matches_no_org_label() {
    let d = dashboard();
    let list = d["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|v| v["name"].as_str().unwrap()).collect();
    let job = names.iter().position(|n| *n == "job").expect("job");
    assert_eq!(
        names.get(job + 1),
        Some(&"org"),
        "$org right after $job: {names:?}"
    );
    let v = variable(&d, "org");
    assert_eq!(v["type"], "query");
    assert_eq!(v["datasource"]["uid"], "${datasource}");
    let q = v["query"]["query"].as_str().expect("query");
    assert_eq!(q, r#"label_values(genesys_up{job=~"$job"}, org)"#);
    assert_eq!(v["definition"].as_str(), Some(q));
    assert_ne!(v["refresh"], 0, "the list follows the exporters' orgs");
    assert_eq!(v["multi"], true);
    // A single-org exporter has no org label, so the list is empty. Grafana then offers only
    // "All" when includeAll is on (10.x: the options are [All]; scenes, 11.x: an empty list
    // with includeAll selects All), and All is the custom value `.*`: without one it would be
    // the (empty) list of values. It must be the saved selection too.
    assert_eq!(v["includeAll"], true);
    assert_eq!(v["allValue"], ".*");
    assert_eq!(v["current"]["value"], serde_json::json!(["$__all"]));
    // PromQL anchors label regexes, and a missing label is the empty string: `.*` matches
    // single-org series and every org of a multi-org exporter.
    let all = regex::Regex::new(&format!("^(?:{})$", v["allValue"].as_str().unwrap())).unwrap();
    assert!(all.is_match("") && all.is_match("acme"));
    for name in ["queue", "media_type"] {
        let q = variable(&d, name)["query"]["query"].as_str().unwrap();
        assert!(q.contains(ORG), "{name} is not filtered by org: {q}");
    }
}

#[test]
fn graphs_and_tables_keep_orgs_apart_and_name_them() {
    let d = dashboard();
    let by = regex::Regex::new(r"\bby\s*\(([^)]*)\)").unwrap();
    let unsplit = regex::Regex::new(r"\b(sum|min|max|avg|count|group|topk|bottomk)\s*\(").unwrap();
    let mut split = 0;
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap();
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            if p["type"] == "stat" {
                // A big number is the total of the selected orgs.
                assert!(!by.is_match(e), "{title}: {e}");
                continue;
            }
            assert!(
                !unsplit.is_match(e),
                "{title}: aggregation without by (org, …): {e}"
            );
            let clauses: Vec<_> = by.captures_iter(e).collect();
            for c in &clauses {
                let labels: Vec<&str> = c[1].split(',').map(str::trim).collect();
                assert!(labels.contains(&"org"), "{title}: by ({}) in {e}", &c[1]);
            }
            if clauses.is_empty() {
                continue;
            }
            split += 1;
            if t["format"] != "table" {
                let legend = t["legendFormat"].as_str().unwrap_or("");
                assert!(
                    legend.starts_with("{{org}} "),
                    "{title}: legend {legend:?} does not name the org"
                );
            }
        }
    }
    assert!(split > 30, "{split} targets split by org");
}

#[test]
fn variables_are_filtered_by_job_and_the_job_defaults_to_the_rules_job() {
    let d = dashboard();
    for name in ["org", "instance", "queue", "media_type"] {
        let v = variable(&d, name);
        let q = v["query"]["query"].as_str().expect("query");
        assert!(q.contains(r#"job=~"$job""#), "{name}: {q}");
        assert_eq!(v["definition"].as_str(), Some(q), "{name}");
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(v["multi"], true, "{name}");
        assert_eq!(v["allValue"], ".*", "{name}");
    }
    for name in ["queue", "media_type"] {
        let q = variable(&d, name)["query"]["query"].as_str().unwrap();
        assert!(q.contains(r#"instance=~"$instance""#), "{name}: {q}");
    }

    // The job: set by job_name in prometheus.yml, matched literally by the rules, the
    // default of the dashboard's $job.
    let job_name = regex::Regex::new(r"(?m)^\s*- job_name:\s*(\S+)")
        .unwrap()
        .captures_iter(&read(PROMETHEUS))
        .map(|c| c[1].to_string())
        .collect::<Vec<_>>();
    assert_eq!(job_name.len(), 1, "{PROMETHEUS}: {job_name:?}");
    let job = job_name[0].as_str();
    let rules_jobs: BTreeSet<String> = regex::Regex::new(r#"job\s*=\s*"([^"]*)""#)
        .unwrap()
        .captures_iter(&read(RULES))
        .map(|c| c[1].to_string())
        .collect();
    assert!(!rules_jobs.is_empty(), "{RULES} matches the job somewhere");
    assert_eq!(
        rules_jobs,
        BTreeSet::from([job.to_string()]),
        "{RULES} vs {PROMETHEUS}"
    );
    let current = &variable(&d, "job")["current"];
    assert_eq!(current["value"], job, "$job default vs {PROMETHEUS}");
    assert_eq!(current["text"], job, "$job default vs {PROMETHEUS}");
}

#[test]
fn queue_names_go_through_the_regex_format_in_a_raw_string() {
    let d = dashboard();
    let mut uses = 0;
    for p in panels(&d) {
        for e in exprs(p) {
            // `$queue` only as `${queue:regex}` in backticks: Grafana 10.4's default escaping
            // leaves `"` alone, which ends a double-quoted PromQL string.
            let plain = e.matches("$queue").count() + e.matches("${queue}").count();
            let formatted = e.matches("queue=~`${queue:regex}`").count();
            assert_eq!(plain, 0, "{}: {e}", p["title"]);
            assert_eq!(
                e.matches("${queue:").count(),
                formatted,
                "{}: {e}",
                p["title"]
            );
            assert!(!e.contains("queue=~\""), "{}: {e}", p["title"]);
            uses += formatted;
        }
    }
    assert!(uses > 50, "{uses} queue filters");
}

#[test]
fn stat_sparklines_come_from_range_queries() {
    let d = dashboard();
    let mut stats = 0;
    for p in panels(&d).into_iter().filter(|p| p["type"] == "stat") {
        stats += 1;
        let graph = p["options"]["graphMode"].as_str().unwrap_or("none");
        if graph == "none" {
            continue;
        }
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["range"], true, "{}: sparkline without range", p["title"]);
            assert_ne!(t["instant"], true, "{}: instant query", p["title"]);
        }
        assert_eq!(
            p["options"]["reduceOptions"]["calcs"],
            serde_json::json!(["lastNotNull"]),
            "{}: the big number is the last value",
            p["title"]
        );
    }
    assert!(stats >= 14, "{stats} stat panels");
}

/// The `threshold` annotation of alert `name` in the rules file.
fn alert_threshold(name: &str) -> f64 {
    let rules = read(RULES);
    let block = rules
        .split("- alert: ")
        .find(|b| b.starts_with(&format!("{name}\n")))
        .unwrap_or_else(|| panic!("no alert {name}"));
    let v = regex::Regex::new(r#"\n\s+threshold: "([^"]+)""#)
        .unwrap()
        .captures(block)
        .unwrap_or_else(|| panic!("{name}: no threshold annotation"))[1]
        .to_string();
    v.parse().unwrap()
}

/// Threshold steps as (color, value); the base step has no value.
fn steps(thresholds: &Value) -> Vec<(String, Option<f64>)> {
    assert_eq!(thresholds["mode"], "absolute");
    thresholds["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["color"].as_str().unwrap().to_string(),
                s["value"].as_f64(),
            )
        })
        .collect()
}

#[test]
fn alerted_quantities_turn_red_at_the_alert_thresholds() {
    let d = dashboard();
    let sl = alert_threshold("GenesysQueueServiceLevelLow");
    let abandon = alert_threshold("GenesysQueueAbandonRatioHigh");
    let wait = alert_threshold("GenesysQueueLongestWait");
    let stale = alert_threshold("GenesysDataStale");
    let p90 = alert_threshold("GenesysQueueAnswerWaitP90High");
    let expected = |title: &str| -> Option<Vec<(String, Option<f64>)>> {
        let red_above = |v: f64| vec![("green".into(), None), ("red".into(), Some(v))];
        let red_below = |v: f64| vec![("red".into(), None), ("green".into(), Some(v))];
        if title.contains("Service level") {
            Some(red_below(sl))
        } else if title.contains("Abandon ratio") {
            Some(red_above(abandon))
        } else if title.contains("Longest wait") {
            Some(red_above(wait))
        } else if title.starts_with("Answer wait p90") || title == "p90" {
            Some(red_above(p90))
        } else if title == "Data age" {
            Some(red_above(stale))
        } else if ["Agents on queue", "Collector up", "Scrape target up"].contains(&title) {
            Some(red_below(1.0))
        } else {
            None
        }
    };
    let mut seen = BTreeSet::new();
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap();
        let defaults = &p["fieldConfig"]["defaults"];
        // Explicit everywhere: Grafana's implicit default turns any value above 80 red.
        assert!(defaults["thresholds"].is_object(), "{title}: no thresholds");
        if let Some(want) = expected(title) {
            assert_eq!(steps(&defaults["thresholds"]), want, "{title}");
            if p["type"] == "timeseries" {
                let style = &defaults["custom"]["thresholdsStyle"]["mode"];
                assert!(
                    style.as_str().is_some_and(|m| m != "off"),
                    "{title}: thresholds not drawn"
                );
            }
            if p["type"] == "stat" {
                assert_ne!(p["options"]["colorMode"], "none", "{title}: no color");
            }
            seen.insert(title.to_string());
        }
        if p["type"] == "table" {
            for o in p["fieldConfig"]["overrides"].as_array().unwrap() {
                let col = o["matcher"]["options"].as_str().unwrap();
                let Some(want) = expected(col) else { continue };
                let props = o["properties"].as_array().unwrap();
                let th = props
                    .iter()
                    .find(|x| x["id"] == "thresholds")
                    .unwrap_or_else(|| panic!("{title}: column {col} without thresholds"));
                assert_eq!(steps(&th["value"]), want, "{title}: column {col}");
                assert!(
                    props.iter().any(|x| x["id"] == "custom.cellOptions"),
                    "{title}: column {col} is not colored"
                );
                seen.insert(format!("{title}: {col}"));
            }
        }
    }
    for must in [
        "Service level",
        "Service level by queue (30m rolling)",
        "Per queue: today: Service level",
        "Per queue: last hour: Service level",
        "Abandon ratio",
        "Longest wait now",
        "Answer wait p90 by queue (15m rolling)",
        "Per queue: answer wait today: p90",
    ] {
        assert!(
            seen.contains(must),
            "{must} has no alert thresholds: {seen:?}"
        );
    }
}

#[test]
fn nan_and_null_show_as_a_dash() {
    let d = dashboard();
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap();
        let mappings = p["fieldConfig"]["defaults"]["mappings"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no value mappings"));
        let dash = mappings.iter().any(|m| {
            m["type"] == "special"
                && m["options"]["match"] == "null+nan"
                && m["options"]["result"]["text"] == "–"
        });
        assert!(dash, "{title}: NaN is not mapped to –");
    }
}

#[test]
fn provisioned_datasource_is_not_the_default() {
    let ds = read(DATASOURCE);
    for line in ds.lines() {
        let code = line.split('#').next().unwrap().trim();
        assert_ne!(
            code.replace(' ', ""),
            "isDefault:true",
            "{DATASOURCE}: a Grafana that already has a default fails to provision it"
        );
    }
    assert!(ds.contains("type: prometheus"), "{ds}");
}

/// GitHub's anchor of a Markdown heading: lower case, spaces to hyphens, punctuation other
/// than hyphens and underscores dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_links_an_existing_runbook_section() {
    let runbook = read(RUNBOOK);
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect();
    let rules = read(RULES);
    let mut alerts = 0;
    for block in rules.split("- alert: ").skip(1) {
        let name = block.lines().next().unwrap().trim();
        alerts += 1;
        let url = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("runbook_url: "))
            .unwrap_or_else(|| panic!("{name}: no runbook_url"));
        let frag = url
            .strip_prefix(RUNBOOK_BASE)
            .unwrap_or_else(|| panic!("{name}: {url} is not under {RUNBOOK_BASE}"));
        assert!(
            anchors.contains(frag),
            "{name}: no section #{frag} in {RUNBOOK}"
        );
        assert_eq!(
            frag,
            name.to_lowercase(),
            "{name}: the section is named after it"
        );
        // The section says what it means, how to check it and what to do.
        let section = runbook
            .split("\n## ")
            .find(|s| anchor(s.lines().next().unwrap()) == frag)
            .unwrap();
        for part in ["**Means**", "**Check**", "**Do**"] {
            assert!(section.contains(part), "{RUNBOOK} #{frag} lacks {part}");
        }
    }
    assert!(alerts >= 9, "{alerts} alerts");
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(anchor(" GenesysQueueSpike"), "genesysqueuespike");
    assert_eq!(anchor("Queue spike (page)"), "queue-spike-page");
}

/// The metric names the demo serves at default settings (`tests/golden/demo-metrics.txt`):
/// sample names, so `_total`, `_bucket` and the like are there as served.
fn served_at_defaults() -> BTreeSet<String> {
    read("tests/golden/demo-metrics.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The collapsed row at the end that holds what needs an opt-in flag.
const OPT_IN_ROW_FLAGS: [&str; 4] = [
    "--collector.estimated_wait",
    "--collector.flows",
    "--collector.voice_quality",
    "--aggregates.metrics",
];

#[test]
fn panels_that_need_an_opt_in_flag_sit_in_one_collapsed_row_that_names_the_flags() {
    let d = dashboard();
    let top = d["panels"].as_array().expect("panels");
    let defaults = served_at_defaults();
    let needs_opt_in = |p: &Value| {
        exprs(p)
            .iter()
            .flat_map(|e| selectors(e))
            // `up` is Prometheus' own.
            .any(|(name, _)| name != "up" && !defaults.contains(&name))
    };
    // Every panel outside collapsed rows shows only what a default exporter serves.
    for p in top.iter().filter(|p| p["type"] != "row") {
        assert!(
            !needs_opt_in(p),
            "panel {:?} needs an opt-in flag but is in a default row",
            p["title"]
        );
    }
    let collapsed: Vec<&Value> = top.iter().filter(|p| p["collapsed"] == true).collect();
    assert_eq!(collapsed.len(), 1, "one collapsed row for opt-in panels");
    let row = collapsed[0];
    assert!(
        std::ptr::eq(row, top.last().expect("a last panel")),
        "the opt-in row comes last"
    );
    let said = format!(
        "{} {}",
        row["title"].as_str().unwrap_or(""),
        row["description"].as_str().unwrap_or("")
    );
    for flag in OPT_IN_ROW_FLAGS {
        assert!(said.contains(flag), "the opt-in row does not name {flag}");
    }
    let nested = row["panels"]
        .as_array()
        .expect("a collapsed row holds its panels");
    assert!(!nested.is_empty());
    for p in nested {
        assert!(
            needs_opt_in(p),
            "panel {:?} is filled at defaults: move it up",
            p["title"]
        );
        let description = p["description"].as_str().unwrap_or("");
        assert!(
            OPT_IN_ROW_FLAGS.iter().any(|f| description.contains(f)),
            "panel {:?} does not say which flag fills it",
            p["title"]
        );
    }
}
