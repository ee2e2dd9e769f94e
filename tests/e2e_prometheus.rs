//! End to end on a real Prometheus (Debian's `prometheus` package): the exporter runs in demo
//! mode with a spike scheduled on one queue, Prometheus scrapes it with the example config
//! (faster intervals) and the repository's rules, and through Prometheus' HTTP API:
//! - every query of the Grafana dashboard, with the template variables substituted (all
//!   values, then one real queue, media type and job), returns at least one series; every
//!   query of its default rows does so too from a second demo exporter at default settings
//!   (job `genesys-defaults`): only the collapsed opt-in row may be empty at defaults;
//! - every rule is healthy; every recording rule's expression and recorded series return
//!   data; every alerting rule's expression returns data once its threshold comparisons are
//!   made non-filtering (`> 10` becomes `> bool 10`), so a rule that cannot match any series
//!   (a misspelt metric or label) fails;
//! - the queue spike alert becomes `firing` for the spiked queue, and Alertmanager (Debian's
//!   `prometheus-alertmanager`, with the example `prometheus/alertmanager.yml`) delivers its
//!   notification to a webhook receiver run by the test: the spike-to-notification time is
//!   printed;
//! - the queue variable works for the demo's queue names with a quote, a backslash and
//!   parentheses, formatted as Grafana 10.4 formats `${queue:regex}`.
//!
//! Loopback only, free ports, bounded polling; every process is killed on drop.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
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
                panic!("cannot start {name} ({e}); prometheus and alertmanager come from Debian's prometheus and prometheus-alertmanager packages (apt-get install prometheus prometheus-alertmanager)")
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

/// The Alertmanager binary: Debian's package installs it as `prometheus-alertmanager`,
/// upstream's tarball as `alertmanager`. Missing, the test fails: it never skips.
fn alertmanager_binary() -> &'static str {
    for name in ["prometheus-alertmanager", "alertmanager"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name;
        }
    }
    panic!(
        "Alertmanager not found (neither prometheus-alertmanager nor alertmanager is on PATH): \
         install Debian's prometheus-alertmanager package (apt-get install prometheus-alertmanager)"
    );
}

#[test]
fn example_alertmanager_config_passes_amtool() {
    let out = Command::new("amtool")
        .args(["check-config", "prometheus/alertmanager.yml"])
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| {
            panic!("amtool not found ({e}): install Debian's prometheus-alertmanager package (apt-get install prometheus-alertmanager)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("SUCCESS"), "{text}");
    assert!(
        text.contains("1 inhibit rules") && text.contains("2 receivers"),
        "{text}"
    );
}

/// A notification received by the webhook receiver.
struct Notification {
    at: Instant,
    path: String,
    body: Value,
}

/// A webhook receiver on a free loopback port: answers every POST with 200 and passes the
/// request's path and JSON body on, with the time it arrived.
fn webhook_receiver() -> (u16, mpsc::Receiver<Notification>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = read_request(&mut stream);
            let status = if request.is_some() {
                "200 OK"
            } else {
                "400 Bad Request"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
            if let Some((path, body)) = request {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let n = Notification {
                    at: Instant::now(),
                    path,
                    body,
                };
                if tx.send(n).is_err() {
                    return;
                }
            }
        }
    });
    (port, rx)
}

/// One HTTP/1.1 request with a Content-Length body: (path, body).
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + len].to_vec()))
}

/// `text` with each `(from, to)` applied; each `from` must occur exactly once in `text`, so
/// an example configuration cannot drift away from what is tested.
fn edit_exactly_once(file: &str, text: &str, edits: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "{from} in {file}");
        out = out.replace(from, to);
    }
    out
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

/// What Grafana 10.4 puts into `=~"$var"` for one value of a multi-value variable without an
/// explicit format (the Prometheus data source's `prometheusSpecialRegexEscape`): a
/// backslash becomes four, `$^*{}[]'+?.()|` get two in front, meant for a PromQL
/// double-quoted string. A double quote is left alone and ends the string: that is why the
/// dashboard uses `${queue:regex}` in backticks for queue names. Used here for `$instance`.
fn grafana_regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c == '\\' {
            out.push_str(r"\\\\");
        } else {
            if "$^*{}[]'+?.()|".contains(c) {
                out.push_str(r"\\");
            }
            out.push(c);
        }
    }
    out
}

/// Grafana's `regex` variable format, `${var:regex}`: each value regex-escaped with one
/// backslash (`escapeRegex` of @grafana/data: `\ ^ $ * + ? . ( ) | [ ] { } /`), several values
/// as `(a|b)`. The dashboard puts it in a PromQL raw string, `` queue=~`${queue:regex}` ``,
/// where backslashes and quotes need no further escaping; only a backtick would end it.
fn grafana_regex_format(values: &[&str]) -> String {
    let escaped: Vec<String> = values
        .iter()
        .map(|v| {
            assert!(!v.contains('`'), "a backtick ends a PromQL raw string: {v}");
            let mut out = String::new();
            for c in v.chars() {
                if "\\^$*+?.()|[]{}/".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        })
        .collect();
    if escaped.len() == 1 {
        escaped[0].clone()
    } else {
        format!("({})", escaped.join("|"))
    }
}

#[test]
fn grafana_escaping_is_modelled() {
    assert_eq!(
        grafana_regex_escape("Accounts - General"),
        "Accounts - General"
    );
    assert_eq!(grafana_regex_escape("Support (EN)"), r"Support \\(EN\\)");
    assert_eq!(grafana_regex_escape(r"a\b"), r"a\\\\b");
    assert_eq!(grafana_regex_escape("127.0.0.1:9"), r"127\\.0\\.0\\.1:9");
    assert_eq!(
        grafana_regex_format(&[r#"Support "Tier 2""#]),
        r#"Support "Tier 2""#
    );
    assert_eq!(
        grafana_regex_format(&[r"Billing \ Refunds", "Sales – Nordics (SE/NO)"]),
        r"(Billing \\ Refunds|Sales – Nordics \(SE\/NO\))"
    );
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
fn dashboard_and_rules_return_data_and_the_spike_notification_arrives() {
    let started = Instant::now();
    let alertmanager_bin = alertmanager_binary();
    let dir = TempDir::new();

    // A demo exporter at default settings: it picks the spiked queue by name (one that
    // serves voice only, since the spike goes to a queue's first media type, and needs no
    // regex escaping), and Prometheus scrapes it as job `genesys-defaults`, where every panel
    // of the dashboard's default rows must have data.
    let (mut defaults, defaults_port) = start_exporter(&dir.0, "exporter-defaults", &[]);
    let (_, metrics) = blocking_get(defaults_port, "/metrics", HTTP_TIMEOUT).expect("scrape");
    let queues = queue_media(&metrics);
    assert!(queues.len() >= 10, "demo queues: {queues:?}");
    let plain = regex::Regex::new(r"^[A-Za-z0-9 -]+$").unwrap();
    let (queue, media) = queues
        .iter()
        .find(|(q, m)| plain.is_match(q) && m.as_slice() == ["voice"])
        .map(|(q, m)| (q.clone(), m[0].clone()))
        .expect("a voice-only queue with a plain name");
    eprintln!("spiking queue {queue:?} ({media}) after {SPIKE_AFTER_S}s");
    // The demo's names with a quote, a backslash, parentheses and a slash.
    let odd: Vec<&str> = queues
        .keys()
        .map(String::as_str)
        .filter(|q| q.contains(['"', '\\', '(']))
        .collect();
    assert!(
        odd.iter().any(|q| q.contains('"')) && odd.iter().any(|q| q.contains('\\')),
        "the demo has queue names with a quote and a backslash: {odd:?}"
    );

    let (mut exporter, exporter_port) = start_exporter(
        &dir.0,
        "exporter",
        &[
            format!("--demo.spike={queue}@+{SPIKE_AFTER_S}s"),
            format!("--demo.spike-size={SPIKE_SIZE}"),
            // Estimated wait is opt-in and asked only where conversations wait: on, and the
            // odd-named queues get conversations waiting too, so its panel has data in every
            // variant below.
            "--collector.estimated_wait".to_string(),
            "--collector.estimated_wait.interval=15s".to_string(),
            // Conversations in flows are opt-in too (a permission of their own).
            "--collector.flows".to_string(),
            // And voice quality (another permission): every queue that takes calls has its
            // MOS histogram from the first poll, at 0 until calls end.
            "--collector.voice_quality".to_string(),
            "--collector.voice_quality.interval=15s".to_string(),
            // The opt-in analytics (transfers, errors, IVR, flow-outs, voicemails, callbacks)
            // have panels too, and flow-outs exist in the demo only when asked for.
            "--aggregates.metrics=all".to_string(),
            "--demo.flow-outs".to_string(),
        ]
        .into_iter()
        .chain(
            odd.iter()
                .map(|q| format!("--demo.spike={q}@+{SPIKE_AFTER_S}s")),
        )
        .collect::<Vec<_>>(),
    );
    let spike_at = Instant::now() + Duration::from_secs(SPIKE_AFTER_S);

    // Alertmanager with the example config: receivers pointed at the test's webhook
    // receiver, group_wait shortened so the measured time is Prometheus' and not a batching
    // delay chosen for people.
    let (hook_port, notifications) = webhook_receiver();
    let am_file = "prometheus/alertmanager.yml";
    let am_config = edit_exactly_once(
        am_file,
        &std::fs::read_to_string(Path::new(ROOT).join(am_file)).unwrap(),
        &[
            (
                "https://pager.example.com/genesys/page",
                format!("http://127.0.0.1:{hook_port}/page"),
            ),
            (
                "https://chat.example.com/genesys/warning",
                format!("http://127.0.0.1:{hook_port}/warning"),
            ),
            ("group_wait: 30s", "group_wait: 1s".into()),
            ("group_wait: 10s", "group_wait: 1s".into()),
        ],
    );
    let am_config_path = dir.0.join("alertmanager.yml");
    std::fs::write(&am_config_path, am_config).unwrap();
    let am_port = free_port();
    let mut alertmanager = Proc::spawn(
        "alertmanager",
        Command::new(alertmanager_bin).args([
            format!("--config.file={}", am_config_path.display()),
            format!("--storage.path={}", dir.0.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            // No cluster: it would listen on 0.0.0.0:9094.
            "--cluster.listen-address=".to_string(),
        ]),
        &dir.0,
    );
    wait_for(
        "Alertmanager to be ready",
        Duration::from_secs(60),
        &mut [&mut alertmanager, &mut exporter],
        || blocking_get(am_port, "/-/ready", HTTP_TIMEOUT).map(|r| r.0) == Some(200),
    );

    // The example config with the e2e's intervals, target, rules path and Alertmanager.
    let rules = Path::new(ROOT).join("prometheus/genesys-rules.yml");
    let prom_file = "prometheus/prometheus.yml";
    let config = edit_exactly_once(
        prom_file,
        &std::fs::read_to_string(Path::new(ROOT).join(prom_file)).unwrap(),
        &[
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
            ("\"localhost:9093\"", format!("\"127.0.0.1:{am_port}\"")),
        ],
    );
    let config = format!(
        "{config}  - job_name: genesys-defaults\n    static_configs:\n      - targets: [\"127.0.0.1:{defaults_port}\"]\n"
    );
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
        || {
            prom.count(r#"up{job="genesys"} == 1"#) == Ok(1)
                && prom.count(r#"up{job="genesys-defaults"} == 1"#) == Ok(1)
        },
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
    // Variables as Grafana 10.4 substitutes them: "All" is the custom all value `.*`
    // unformatted; `${queue:regex}` is regex-formatted; `$instance` and `$media_type` get the
    // Prometheus data source's default escaping.
    let queue_re = grafana_regex_format(&[queue.as_str()]);
    let odd_re = grafana_regex_format(&odd);
    let instance_re = grafana_regex_escape(&format!("127.0.0.1:{exporter_port}"));
    let variants: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "all",
            vec![
                ("queue:regex", ".*"),
                ("media_type", ".*"),
                ("job", ".*"),
                ("instance", ".*"),
                // One org: no `org` label, which the All value `.*` matches.
                ("org", ".*"),
            ],
        ),
        (
            "one",
            vec![
                ("queue:regex", queue_re.as_str()),
                ("media_type", media.as_str()),
                ("job", "genesys"),
                ("instance", instance_re.as_str()),
                ("org", ".*"),
            ],
        ),
        (
            "odd names",
            vec![
                ("queue:regex", odd_re.as_str()),
                ("media_type", ".*"),
                ("job", "genesys"),
                ("instance", ".*"),
                // One org: no `org` label, which the All value `.*` matches.
                ("org", ".*"),
            ],
        ),
    ];
    let mut panels = 0;
    // The queue variable's values must each select exactly their queue.
    for name in &odd {
        let one = grafana_regex_format(&[name]);
        let all = grafana_regex_format(&odd);
        for (q, n) in [
            (
                substitute(
                    r#"genesys_queue_info{job=~"$job", queue=~`${queue:regex}`}"#,
                    &[("job", "genesys"), ("queue:regex", &one)],
                ),
                1,
            ),
            (
                substitute(
                    r#"genesys_queue_info{job=~"$job", queue=~`${queue:regex}`}"#,
                    &[("job", "genesys"), ("queue:regex", &all)],
                ),
                odd.len(),
            ),
        ] {
            assert_eq!(prom.count(&q), Ok(n), "{q}");
        }
    }
    // At default settings: the defaults exporter's job, every queue.
    let at_defaults = vec![
        ("queue:regex", ".*"),
        ("media_type", ".*"),
        ("job", "genesys-defaults"),
        ("instance", ".*"),
        ("org", ".*"),
    ];
    // Top-level panels are the default rows'; a collapsed row's panels need opt-in flags.
    let top = dashboard["panels"].as_array().unwrap();
    let nested = top
        .iter()
        .filter_map(|p| p["panels"].as_array())
        .flatten()
        .map(|p| (p, false));
    for (p, default_row) in top.iter().map(|p| (p, true)).chain(nested) {
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
            if default_row {
                checks.push((
                    format!("panel {:?} target {} (at defaults)", p["title"], t["refId"]),
                    substitute(expr, &at_defaults),
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
    let mut notified_after = None;
    let mut received = Vec::new();
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
        while let Ok(n) = notifications.try_recv() {
            let alerts = n.body["alerts"].as_array().cloned().unwrap_or_default();
            received.push(format!(
                "{} {} {}: {}",
                n.path,
                n.body["status"],
                n.body["groupLabels"],
                alerts.len()
            ));
            let spike = alerts.iter().find(|a| {
                a["labels"]["alertname"] == "GenesysQueueSpike"
                    && a["labels"]["queue"] == queue.as_str()
                    && a["status"] == "firing"
            });
            if let (Some(a), None) = (spike, notified_after) {
                assert_eq!(n.path, "/page", "pages go to the pager receiver");
                assert_eq!(n.body["receiver"], "genesys-pager");
                assert_eq!(n.body["groupLabels"]["queue"], queue.as_str());
                assert_eq!(a["labels"]["media_type"], media.as_str());
                assert!(
                    a["annotations"]["runbook_url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("runbook.md#genesysqueuespike")),
                    "{a}"
                );
                let after = n.at.saturating_duration_since(spike_at);
                eprintln!(
                    "spike notification received {after:?} after the spike: {}",
                    a["annotations"]["summary"]
                );
                notified_after = Some(after);
            }
        }
        if pending.is_empty()
            && unhealthy.is_empty()
            && spike_firing_after.is_some()
            && notified_after.is_some()
        {
            break;
        }
        if Instant::now() > deadline {
            let failing: Vec<String> = pending
                .iter()
                .map(|(what, q, last)| format!("  {what}: {last}\n    {q}"))
                .collect();
            panic!(
                "after {CHECK_DEADLINE:?}:\n{} queries without data:\n{}\nunhealthy rules: {unhealthy:?}\n\
                 spike alert for {queue:?}: {spike_state}\nnotifications received: {received:#?}\n\
                 --- exporter log\n{}\n--- prometheus log\n{}\n--- alertmanager log\n{}",
                failing.len(),
                failing.join("\n"),
                exporter.log_tail(),
                prometheus.log_tail(),
                alertmanager.log_tail()
            );
        }
        exporter.assert_running();
        defaults.assert_running();
        prometheus.assert_running();
        alertmanager.assert_running();
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "all queries returned data, rules healthy, spike alert firing {:?} and its notification \
         received {:?} after the spike; total {:?}",
        spike_firing_after.unwrap(),
        notified_after.unwrap(),
        started.elapsed()
    );
}
