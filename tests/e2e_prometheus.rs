//! End to end on a real Prometheus (Debian's `prometheus` package): the exporter runs in demo
//! mode with a spike scheduled on one queue, Prometheus scrapes it with the example config
//! (faster intervals) and the repository's rules, and through Prometheus' HTTP API:
//! - every query of the Grafana dashboard, with the template variables substituted (all
//!   values, then one real queue, media type and job), returns at least one series;
//! - every rule is healthy; every recording rule's expression and recorded series return
//!   data; every alerting rule's expression returns data once its threshold comparisons are
//!   made non-filtering (`> 10` becomes `> bool 10`), so a rule that cannot match any series
//!   (a misspelt metric or label) fails;
//! - the queue spike alert becomes `firing` for the spiked queue.
//!
//! Loopback only, free ports, bounded polling; both processes are killed on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_genesys-exporter");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
mod common;

use common::{blocking_get, free_port};

/// Prometheus queries over a few minutes of data answer well within this.
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Delay of the scheduled spike: the baseline needs history before the spike.
const SPIKE_AFTER_S: u64 = 90;
const SPIKE_SIZE: u32 = 100;
/// Everything (spike included) must be seen within this long after Prometheus is ready.
const CHECK_DEADLINE: Duration = Duration::from_secs(300);

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("genesys-e2e-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process with its output in a log file; killed on drop, even when a check fails.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}
impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {name} ({e}); prometheus comes from Debian's prometheus package (apt-get install prometheus)")
            });
        Proc { name, child, log }
    }
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
        }
    }
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 200 ms until it holds; panics after `limit`.
fn wait_for(what: &str, limit: Duration, procs: &mut [&mut Proc], mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        for p in procs.iter_mut() {
            p.assert_running();
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_exporter(dir: &Path, name: &'static str, extra: &[String]) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--demo".to_string(),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--collector.observations.interval=2s".into(),
        "--collector.activity.interval=2s".into(),
        "--collector.aggregates.interval=2s".into(),
        "--collector.queues.interval=2s".into(),
    ])
    .args(extra)
    .env_remove("GENESYS_CLIENT_ID")
    .env_remove("GENESYS_CLIENT_SECRET");
    let mut p = Proc::spawn(name, &mut cmd, dir);
    wait_for(
        "the exporter to be ready",
        Duration::from_secs(60),
        &mut [&mut p],
        || blocking_get(port, "/-/ready", HTTP_TIMEOUT).map(|r| r.0) == Some(200),
    );
    (p, port)
}

/// Unescapes a label value of the text exposition format.
fn unescape(v: &str) -> String {
    v.replace("\\\"", "\"")
        .replace("\\n", "\n")
        .replace("\\\\", "\\")
}

/// Queue name -> media types, from the `state="waiting"` series of a scrape.
fn queue_media(metrics: &str) -> BTreeMap<String, Vec<String>> {
    let re = regex::Regex::new(
        r#"^genesys_queue_conversations\{queue_id="[^"]*",queue="((?:[^"\\]|\\.)*)",media_type="([^"]*)",state="waiting"\}"#,
    )
    .unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in metrics.lines() {
        if let Some(c) = re.captures(line) {
            out.entry(unescape(&c[1]))
                .or_default()
                .push(c[2].to_string());
        }
    }
    out
}

struct Prom {
    port: u16,
}
impl Prom {
    fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = blocking_get(self.port, path, HTTP_TIMEOUT).ok_or("no answer")?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status != 200 || v["status"] != "success" {
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(v["data"].clone())
    }
    /// Instant query: the number of series it returns, or the error.
    fn count(&self, expr: &str) -> Result<usize, String> {
        let q: String = url::form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let data = self.api(&format!("/api/v1/query?query={q}"))?;
        Ok(match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => data["result"].as_array().map_or(0, Vec::len),
            _ => 1,
        })
    }
}

/// `a > 10` -> `a > bool 10`: comparisons keep every series (as 0 or 1) instead of filtering,
/// so the expression returns data whenever its inputs exist. Label matchers, strings and
/// comments are left alone.
fn without_thresholds(expr: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut braces = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' && c != '`' {
                        i += 1;
                    }
                    i += 1;
                }
                out.extend(&chars[start..=i.min(chars.len() - 1)]);
                i += 1;
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            _ => {}
        }
        if braces == 0 {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if ["==", "!=", ">=", "<="].contains(&two.as_str()) {
                Some(two)
            } else if c == '>' || c == '<' {
                Some(c.to_string())
            } else {
                None
            };
            if let Some(op) = op {
                i += op.len();
                let rest: String = chars[i..].iter().collect();
                out.push_str(&op);
                if !rest.trim_start().starts_with("bool") {
                    out.push_str(" bool");
                    if !rest.starts_with(char::is_whitespace) {
                        out.push(' ');
                    }
                }
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[test]
fn without_thresholds_makes_comparisons_non_filtering() {
    assert_eq!(
        without_thresholds(r#"a{x!="1",y=~"a|b"} > 10 and b == 0 # c > 1"#),
        r#"a{x!="1",y=~"a|b"} > bool 10 and b == bool 0 "#
    );
    assert_eq!(without_thresholds("a >= bool 3 * b"), "a >= bool 3 * b");
    assert_eq!(
        without_thresholds(r#"label_replace(a<1, "x", ">", "", "")"#),
        r#"label_replace(a< bool 1, "x", ">", "", "")"#
    );
}

/// What Grafana puts into `=~"$var"` for one value: regex metacharacters escaped with a
/// backslash, itself escaped for the PromQL string.
fn grafana_regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if "\\^$*+?.()|{}[]".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

#[test]
fn grafana_regex_escape_is_a_valid_promql_string() {
    assert_eq!(
        grafana_regex_escape("Accounts - General"),
        "Accounts - General"
    );
    assert_eq!(grafana_regex_escape("Support (EN)"), r"Support \\(EN\\)");
}

/// Grafana's substitutions for a query run now over the last hour.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut e = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__range", "1h")
        .replace("${__range}", "1h");
    for (name, value) in vars {
        e = e
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(!e.contains('$'), "unsubstituted variable in {e}");
    e
}

#[test]
fn dashboard_and_rules_return_data_and_the_spike_alert_fires_on_a_real_prometheus() {
    let started = Instant::now();
    let dir = TempDir::new();

    // A first run of the demo org to pick the spiked queue by name: one that serves voice
    // only (the spike goes to a queue's first media type) and needs no regex escaping.
    let (probe, probe_port) = start_exporter(&dir.0, "exporter-probe", &[]);
    let (_, metrics) = blocking_get(probe_port, "/metrics", HTTP_TIMEOUT).expect("scrape");
    drop(probe);
    let queues = queue_media(&metrics);
    assert!(queues.len() >= 10, "demo queues: {queues:?}");
    let plain = regex::Regex::new(r"^[A-Za-z0-9 -]+$").unwrap();
    let (queue, media) = queues
        .iter()
        .find(|(q, m)| plain.is_match(q) && m.as_slice() == ["voice"])
        .map(|(q, m)| (q.clone(), m[0].clone()))
        .expect("a voice-only queue with a plain name");
    eprintln!("spiking queue {queue:?} ({media}) after {SPIKE_AFTER_S}s");

    let (mut exporter, exporter_port) = start_exporter(
        &dir.0,
        "exporter",
        &[
            format!("--demo.spike={queue}@+{SPIKE_AFTER_S}s"),
            format!("--demo.spike-size={SPIKE_SIZE}"),
        ],
    );
    let spike_at = Instant::now() + Duration::from_secs(SPIKE_AFTER_S);

    // The example config with the e2e's intervals, target and rules path; each edit must
    // apply exactly once, so the example cannot drift away from what is tested.
    let example =
        std::fs::read_to_string(Path::new(ROOT).join("prometheus/prometheus.yml")).unwrap();
    let rules = Path::new(ROOT).join("prometheus/genesys-rules.yml");
    let mut config = example.clone();
    for (from, to) in [
        ("scrape_interval: 15s", "scrape_interval: 2s".to_string()),
        (
            "evaluation_interval: 15s",
            "evaluation_interval: 2s".to_string(),
        ),
        (
            "- genesys-rules.yml",
            format!("- {:?}", rules.display().to_string()),
        ),
        (
            "\"localhost:19464\"",
            format!("\"127.0.0.1:{exporter_port}\""),
        ),
    ] {
        assert_eq!(
            example.matches(from).count(),
            1,
            "{from} in prometheus/prometheus.yml"
        );
        config = config.replace(from, &to);
    }
    let config_path = dir.0.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();

    let prom_port = free_port();
    let mut prometheus = Proc::spawn(
        "prometheus",
        Command::new("prometheus").args([
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.0.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ]),
        &dir.0,
    );
    let prom = Prom { port: prom_port };
    wait_for(
        "Prometheus to be ready",
        Duration::from_secs(60),
        &mut [&mut prometheus, &mut exporter],
        || blocking_get(prom_port, "/-/ready", HTTP_TIMEOUT).map(|r| r.0) == Some(200),
    );
    wait_for(
        "a successful scrape",
        Duration::from_secs(60),
        &mut [&mut prometheus, &mut exporter],
        || prom.count(r#"up{job="genesys"} == 1"#) == Ok(1),
    );
    let ready = Instant::now();
    eprintln!("prometheus scraping after {:?}", started.elapsed());

    // What must return data: (description, PromQL).
    let mut checks: Vec<(String, String)> = Vec::new();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("grafana/dashboards/genesys-overview.json"))
            .unwrap(),
    )
    .unwrap();
    let queue_re = grafana_regex_escape(&queue);
    let variants: [(&str, Vec<(&str, &str)>); 2] = [
        (
            "all",
            vec![("queue", ".*"), ("media_type", ".*"), ("job", ".*")],
        ),
        (
            "one",
            vec![
                ("queue", queue_re.as_str()),
                ("media_type", media.as_str()),
                ("job", "genesys"),
            ],
        ),
    ];
    let mut panels = 0;
    for p in dashboard["panels"].as_array().unwrap() {
        let Some(targets) = p["targets"].as_array() else {
            continue;
        };
        panels += 1;
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            for (variant, vars) in &variants {
                checks.push((
                    format!("panel {:?} target {} ({variant})", p["title"], t["refId"]),
                    substitute(expr, vars),
                ));
            }
        }
    }

    // Rules as Prometheus loaded them; the count must match the file.
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let in_file = rules_text.matches("- record:").count() + rules_text.matches("- alert:").count();
    let groups = prom.api("/api/v1/rules").unwrap();
    let mut loaded = Vec::new();
    for g in groups["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            loaded.push(r.clone());
        }
    }
    assert_eq!(
        loaded.len(),
        in_file,
        "rules loaded by Prometheus vs {}",
        rules.display()
    );
    for r in &loaded {
        let name = r["name"].as_str().unwrap();
        let query = r["query"].as_str().unwrap();
        if r["type"] == "recording" {
            checks.push((
                format!("recording rule {name} (expression)"),
                query.to_string(),
            ));
            checks.push((
                format!("recording rule {name} (recorded series)"),
                name.to_string(),
            ));
        } else {
            checks.push((
                format!("alert {name} without thresholds"),
                without_thresholds(query),
            ));
        }
    }
    eprintln!("{} panels, {} queries to check", panels, checks.len());

    // Poll until everything returned data, every rule is healthy and the spike fires.
    let mut pending: Vec<(String, String, String)> = checks
        .into_iter()
        .map(|(what, q)| (what, q, String::new()))
        .collect();
    let mut unhealthy = vec![String::from("not evaluated yet")];
    let mut spike_firing_after = None;
    let mut all_data_after = None;
    let mut spike_state = String::from("none");
    let deadline = ready + CHECK_DEADLINE;
    loop {
        pending.retain_mut(|(_, q, last)| match prom.count(q) {
            Ok(n) if n > 0 => false,
            Ok(_) => {
                *last = "no series".into();
                true
            }
            Err(e) => {
                *last = e;
                true
            }
        });
        if pending.is_empty() && all_data_after.is_none() {
            all_data_after = Some(ready.elapsed());
            eprintln!(
                "every query returned data {:?} after the first scrape",
                ready.elapsed()
            );
        }
        let groups = prom.api("/api/v1/rules").unwrap();
        unhealthy = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().iter())
            .filter(|r| r["health"] != "ok")
            .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
            .collect();
        if spike_firing_after.is_none() {
            let alerts = prom.api("/api/v1/alerts").unwrap();
            let spike = alerts["alerts"].as_array().unwrap().iter().find(|a| {
                a["labels"]["alertname"] == "GenesysQueueSpike"
                    && a["labels"]["queue"] == queue.as_str()
            });
            if let Some(a) = spike {
                spike_state = a["state"].as_str().unwrap_or("").to_string();
                if a["state"] == "firing" {
                    assert_eq!(a["labels"]["media_type"], media.as_str());
                    let summary = a["annotations"]["summary"].as_str().unwrap_or("");
                    assert!(
                        summary.starts_with(&format!("Queue {queue} ({media}): "))
                            && summary.contains("1h median is"),
                        "{summary}"
                    );
                    eprintln!("spike alert firing: {summary}");
                    spike_firing_after = Some(Instant::now().saturating_duration_since(spike_at));
                }
            }
        }
        if pending.is_empty() && unhealthy.is_empty() && spike_firing_after.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let failing: Vec<String> = pending
                .iter()
                .map(|(what, q, last)| format!("  {what}: {last}\n    {q}"))
                .collect();
            panic!(
                "after {CHECK_DEADLINE:?}:\n{} queries without data:\n{}\nunhealthy rules: {unhealthy:?}\n\
                 spike alert for {queue:?}: {spike_state}\n--- exporter log\n{}\n--- prometheus log\n{}",
                failing.len(),
                failing.join("\n"),
                exporter.log_tail(),
                prometheus.log_tail()
            );
        }
        exporter.assert_running();
        prometheus.assert_running();
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!(
        "all queries returned data, rules healthy, spike alert firing {:?} after the spike; total {:?}",
        spike_firing_after.unwrap(),
        started.elapsed()
    );
}
