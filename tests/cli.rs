//! The binary as an operator runs it: bad input fails fast with a clear message, demo mode
//! serves lint-clean metrics, SIGTERM exits 0.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{blocking_get, free_port};

/// Loopback answers take milliseconds; this bounds a hung exporter.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
const BIN: &str = env!("CARGO_BIN_EXE_genesys-exporter");

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("GENESYS_CLIENT_ID")
        .env_remove("GENESYS_CLIENT_SECRET")
        .envs(env.iter().copied())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The demo exporter on `port` with these extra flags; its stderr piped when `log` is set.
fn spawn_demo(port: u16, extra: &[&str], log: bool) -> std::process::Child {
    let listen = format!("--web.listen-address=127.0.0.1:{port}");
    Command::new(BIN)
        .args(["--demo", listen.as_str()])
        .args(extra)
        .env_remove("GENESYS_CLIENT_SECRET")
        .stdout(Stdio::null())
        .stderr(if log { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .expect("exporter starts")
}

/// SIGTERM, then the exit status.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().expect("the exporter exits")
}

/// Waits (bounded) for `/-/ready`, failing if the exporter exits first.
fn wait_until_ready(port: u16, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocking_get(port, "/-/ready", HTTP_TIMEOUT).map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "demo exporter never became ready"
        );
        assert!(child.try_wait().unwrap().is_none(), "exporter exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_unknown_region_fails_and_lists_the_valid_ones() {
    let (code, err) = run(
        &["--genesys.region=mypurecloud.example"],
        &[
            ("GENESYS_CLIENT_ID", "id"),
            ("GENESYS_CLIENT_SECRET", "secret"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown Genesys Cloud region \"mypurecloud.example\""),
        "{err}"
    );
    assert!(
        err.contains("mypurecloud.ie (eu_west_1)") && err.contains("usw2.pure.cloud"),
        "{err}"
    );
}

#[test]
fn missing_credentials_say_where_to_put_them() {
    let (code, err) = run(&[], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("GENESYS_CLIENT_ID"), "{err}");
    let (code, err) = run(&[], &[("GENESYS_CLIENT_ID", "id")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("GENESYS_CLIENT_SECRET") && err.contains("--genesys.client-secret-file"),
        "{err}"
    );
    let (code, err) = run(
        &["--genesys.client-secret-file=/nonexistent/secret"],
        &[("GENESYS_CLIENT_ID", "id")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/secret"), "{err}");
}

#[test]
fn bad_flag_values_name_the_flag() {
    for (flag, needle) in [
        (
            "--collector.observations.interval=fast",
            "--collector.observations.interval",
        ),
        ("--queues.include=([", "--queues.include"),
        ("--web.listen-address=nowhere", "--web.listen-address"),
        ("--no-such-flag", "--no-such-flag"),
    ] {
        let (code, err) = run(&["--demo", flag], &[]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(err.contains(needle), "{flag}: {err}");
    }
}

#[test]
fn a_taken_port_is_a_clear_startup_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = run(&["--demo", &format!("--web.listen-address={addr}")], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn demo_mode_serves_lint_clean_metrics_and_exits_0_on_sigterm() {
    let port = free_port();
    let mut child = spawn_demo(port, &["--collector.observations.interval=1s"], true);
    wait_until_ready(port, &mut child);
    let (status, landing) = blocking_get(port, "/", HTTP_TIMEOUT).unwrap();
    assert_eq!(status, 200);
    assert!(landing.contains("href=\"/metrics\""), "{landing}");
    let (status, metrics) = blocking_get(port, "/metrics", HTTP_TIMEOUT).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("genesys_queue_conversations{"),
        "demo serves queue series"
    );
    assert!(
        !metrics.contains("sim-client-secret"),
        "the client secret leaked into /metrics"
    );

    // promtool (Debian's prometheus package, installed by .ci/run) lints the exposition.
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus)");
    std::io::Write::write_all(lint.stdin.as_mut().unwrap(), metrics.as_bytes()).unwrap();
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

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "exporter did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains("sim-client-secret"),
        "the client secret leaked into the log"
    );
}

#[test]
fn sighup_reloads_the_config_file() {
    let port = free_port();
    let file = std::env::temp_dir().join(format!("gx-sighup-{}.yml", std::process::id()));
    std::fs::write(&file, "genesys.requests-per-minute: 150\n").unwrap();
    let mut child = spawn_demo(port, &[&format!("--config.file={}", file.display())], false);
    let metric = |name: &str| -> Option<f64> {
        let (_, body) = blocking_get(port, "/metrics", HTTP_TIMEOUT)?;
        body.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
    };
    let wait_for = |name: &str, want: f64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while metric(name) != Some(want) {
            assert!(Instant::now() < deadline, "{name} never became {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("genesys_api_budget_requests_per_minute", 150.0);
    std::fs::write(&file, "genesys.requests-per-minute: 90\n").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    wait_for("genesys_api_budget_requests_per_minute", 90.0);
    wait_for("genesys_exporter_config_reloads_total", 1.0);
    terminate(&mut child);
    std::fs::remove_file(&file).ok();
}

#[test]
fn check_config_prints_the_effective_settings_without_secrets() {
    let file = std::env::temp_dir().join(format!("gx-check-{}.yml", std::process::id()));
    std::fs::write(
        &file,
        "genesys:\n  region: eu_west_1\ncollector.observations.interval: 20s\n",
    )
    .unwrap();
    let config_flag = format!("--config.file={}", file.display());
    let out = Command::new(BIN)
        .args([
            "check-config",
            &config_flag,
            "--collector.activity.interval=30s",
        ])
        .env("GENESYS_CLIENT_ID", "my-client")
        .env("GENESYS_CLIENT_SECRET", "hunter2-secret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "genesys.api-url: https://api.mypurecloud.ie",
        "genesys.client-id: my-client",
        "genesys.client-secret: <redacted>",
        "collector.observations.interval: 20s",
        "collector.activity.interval: 30s",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
    assert!(!stdout.contains("hunter2"));

    std::fs::write(&file, "aggregates:\n  windows: [7m]\n").unwrap();
    let (code, err) = run(
        &["check-config", &config_flag],
        &[("GENESYS_CLIENT_ID", "a"), ("GENESYS_CLIENT_SECRET", "b")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("aggregates.windows"), "{err}");
    std::fs::remove_file(&file).ok();
}

/// Runs the demo with `config` as its config file until it is ready, stops it, and returns
/// what it logged.
fn demo_log_with_config_file(config: &str) -> String {
    let port = free_port();
    let file = std::env::temp_dir().join(format!("gx-log-{}-{port}.yml", std::process::id()));
    std::fs::write(&file, config).unwrap();
    let mut child = spawn_demo(port, &[&format!("--config.file={}", file.display())], true);
    wait_until_ready(port, &mut child);
    terminate(&mut child);
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    std::fs::remove_file(&file).ok();
    log
}

#[test]
fn log_level_and_format_in_the_config_file_apply() {
    let quiet = demo_log_with_config_file("log:\n  level: warn\n");
    assert!(
        !quiet.contains("serving metrics") && !quiet.contains("shutting down"),
        "info lines logged at log.level warn:\n{quiet}"
    );

    let json = demo_log_with_config_file("log.level: debug\nlog.format: json\n");
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.iter().any(|l| l.contains("poll ok")),
        "debug lines logged at log.level debug:\n{json}"
    );
    for line in lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
}

#[test]
fn an_unknown_log_level_is_refused() {
    for bad in ["warning", "inf0", "bogus{{"] {
        let (code, err) = run(
            &["check-config", "--demo", &format!("--log.level={bad}")],
            &[],
        );
        assert_eq!(code, 2, "--log.level={bad}: {err}");
        assert!(err.contains("--log.level"), "{err}");
    }
}

/// SIGHUP's default action ends a process: one that arrives while the exporter starts (a
/// config manager reloading right after a deploy) must not kill it. The config file is a FIFO
/// here, so the exporter is certainly inside `main`, blocked reading it, when the SIGHUPs come.
#[test]
fn sighups_during_start_up_never_kill_the_exporter() {
    let dir = std::env::temp_dir().join(format!("gx-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("config.yml");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let port = free_port();
    let mut child = spawn_demo(port, &[&format!("--config.file={}", fifo.display())], false);
    let pid = child.id().to_string();
    let hup = || {
        let _ = Command::new("kill").args(["-HUP", &pid]).status();
    };
    // Until the exporter opens the FIFO it is starting (or blocked reading its config).
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..20 {
        hup();
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "a SIGHUP during start-up ended the exporter"
    );
    // Feed the config, then put a plain file in the FIFO's place for the reloads to read.
    std::fs::write(&fifo, "genesys.requests-per-minute: 150\n").unwrap();
    let plain = dir.join("plain.yml");
    std::fs::write(&plain, "genesys.requests-per-minute: 150\n").unwrap();
    std::fs::rename(&plain, &fifo).unwrap();
    wait_until_ready(port, &mut child);
    for _ in 0..20 {
        hup();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a SIGHUP ended the exporter"
    );
    assert_eq!(terminate(&mut child).code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_invalid_web_config_exits_2_at_start_as_in_check_config() {
    let file = std::env::temp_dir().join(format!("gx-bad-web-{}.yml", std::process::id()));
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
    )
    .unwrap();
    let web = format!("--web.config.file={}", file.display());
    let port = format!("--web.listen-address=127.0.0.1:{}", free_port());
    let (check, err) = run(&["check-config", "--demo", &web], &[]);
    assert_eq!(check, 2, "{err}");
    let (start, err) = run(&["--demo", &port, &web], &[]);
    assert_eq!(start, 2, "{err}");
    assert!(err.contains("web config file"), "{err}");
    std::fs::remove_file(&file).ok();
}

#[test]
fn version_names_the_git_revision_and_the_compiler() {
    let out = Command::new(BIN)
        .arg("--version")
        .output()
        .expect("binary runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let rest = text
        .trim_end()
        .strip_prefix(concat!(
            "genesys-exporter ",
            env!("CARGO_PKG_VERSION"),
            " (revision "
        ))
        .unwrap_or_else(|| panic!("{text}"));
    let (revision, rustc) = rest.split_once(", ").unwrap_or_else(|| panic!("{text}"));
    assert!(
        rustc.starts_with("rustc 1.") && rustc.ends_with(')'),
        "{text}"
    );
    // Built from this checkout: a commit of it (HEAD when built; HEAD may have moved since).
    // Built without .git (a Docker context without the build argument): `unknown`.
    let in_git = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .is_ok_and(|o| o.status.success());
    if in_git {
        assert!(
            revision.len() == 12 && revision.bytes().all(|b| b.is_ascii_hexdigit()),
            "{text}"
        );
        let commit = Command::new("git")
            .args(["cat-file", "-e", &format!("{revision}^{{commit}}")])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("git runs");
        assert!(
            commit.success(),
            "{revision} is not a commit of this checkout"
        );
    } else {
        assert!(!revision.is_empty(), "{text}");
    }
}

/// `genesys-exporter healthcheck ARGS`: exit code, stderr, how long it took.
fn healthcheck(args: &[&str]) -> (i32, String, Duration) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .env_remove("GENESYS_EXPORTER_HEALTHCHECK_URL")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn healthcheck_exits_0_on_a_healthy_exporter_and_1_otherwise() {
    let port = free_port();
    let healthy = format!("--url=http://127.0.0.1:{port}/-/healthy");
    // Nothing listening yet: refused at once.
    let (code, err, took) = healthcheck(&[&healthy]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(took < HTTP_TIMEOUT, "{took:?}");

    let mut child = spawn_demo(port, &[], false);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, err, _) = healthcheck(&[&healthy]);
        if code == 0 {
            break;
        }
        assert_eq!(code, 1, "{err}");
        assert!(Instant::now() < deadline, "never healthy: {err}");
        assert!(child.try_wait().unwrap().is_none(), "exporter exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Anything but a 200 is unhealthy.
    let missing = format!("--url=http://127.0.0.1:{port}/-/missing");
    let (code, err, _) = healthcheck(&[&missing]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");
    terminate(&mut child);
}

#[test]
fn healthcheck_refuses_a_zero_timeout_as_every_timeout_flag_does() {
    let (code, err, _) = healthcheck(&["--timeout=0s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--timeout"), "{err}");
    assert!(err.contains("must be at least 100ms"), "{err}");
}

#[test]
fn healthcheck_gives_up_on_a_listener_that_never_answers() {
    // The kernel completes the handshake; nobody ever reads or writes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("--url=http://{}/-/healthy", silent.local_addr().unwrap());
    let (code, err, took) = healthcheck(&[&url, "--timeout=300ms"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        took >= Duration::from_millis(300) && took < HTTP_TIMEOUT,
        "{took:?}: {err}"
    );
}

/// Runs the binary and returns its exit code, stdout and stderr.
fn run_out(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("GENESYS_CLIENT_ID")
        .env_remove("GENESYS_CLIENT_SECRET")
        .envs(env.iter().copied())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_names_every_subcommand_on_a_line_of_its_own() {
    for args in [&["--help"][..], &["help"]] {
        let (code, out, err) = run_out(args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        for name in ["check-config", "healthcheck", "simulate"] {
            assert!(
                out.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{name} "))),
                "{args:?} does not list {name}:\n{out}"
            );
        }
        // The exporter's own flags stay at the top level.
        assert!(out.contains("--genesys.region"), "{args:?}: {out}");
    }
}

#[test]
fn each_subcommand_has_its_own_help() {
    for args in [&["help", "check-config"][..], &["check-config", "--help"]] {
        let (code, out, err) = run_out(args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.contains("Usage: genesys-exporter check-config [OPTIONS]"),
            "{args:?}:\n{out}"
        );
        assert!(out.contains("--config.file"), "{args:?}: {out}");
        assert!(
            !out.contains("Commands:"),
            "{args:?} printed the main help:\n{out}"
        );
    }
    let (code, out, err) = run_out(&["help", "healthcheck"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Usage: genesys-exporter healthcheck"), "{out}");
    assert!(out.contains("--url"), "{out}");
    let (code, _, err) = run_out(&["chek-config"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a similar subcommand exists: 'check-config'"),
        "{err}"
    );
}

#[test]
fn an_unknown_region_is_explained_once() {
    let (code, err) = run(
        &["--genesys.region=mars"],
        &[
            ("GENESYS_CLIENT_ID", "id"),
            ("GENESYS_CLIENT_SECRET", "secret"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.matches("unknown Genesys Cloud region").count(),
        1,
        "{err}"
    );
    assert_eq!(
        err.matches("mypurecloud.ie (eu_west_1)").count(),
        1,
        "{err}"
    );
}

/// A config file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("gx-cli-{name}-{}.yml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

#[test]
fn a_config_file_with_three_wrong_keys_and_no_credentials_gives_four_findings() {
    let file = TempFile::new(
        "three-wrong",
        "queues.inclde: '^Support'\ngenesys:\n  region: mars\naggregates:\n  timezone: Mars/Olympus\ncollector.observations.interval: 20s\n",
    );
    let shown = file.0.display().to_string();
    let (code, out, err) = run_out(&["check-config", &format!("--config.file={shown}")], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "no effective settings with findings: {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    for key in ["queues.inclde", "genesys.region", "aggregates.timezone"] {
        let prefix = format!("genesys-exporter: config file {shown}: {key}: ");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix)),
            "no finding {prefix:?} in\n{err}"
        );
    }
    // The flag's name is not what a file's bad region is reported under.
    assert!(!err.contains("--genesys.region"), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("no OAuth client id nor secret")),
        "{err}"
    );
}

#[test]
fn check_config_checks_a_file_without_credentials_at_hand() {
    let file = TempFile::new("no-credentials", "collector.observations.interval: 20s\n");
    let config_flag = format!("--config.file={}", file.0.display());
    let (code, out, err) = run_out(&["check-config", &config_flag], &[]);
    assert_eq!(code, 2, "missing credentials are a finding: {out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("GENESYS_CLIENT_ID") && err.contains("GENESYS_CLIENT_SECRET"),
        "{err}"
    );
    let (code, out, err) = run_out(
        &["check-config", &config_flag],
        &[("GENESYS_CLIENT_ID", "id"), ("GENESYS_CLIENT_SECRET", "s")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("collector.observations.interval: 20s"),
        "{out}"
    );
}

#[test]
fn a_misspelled_key_gets_the_nearest_known_one() {
    let file = TempFile::new("misspelled", "queues:\n  inclde: '^Support'\n");
    let (code, _, err) = run_out(
        &[
            "check-config",
            "--demo",
            &format!("--config.file={}", file.0.display()),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("queues.inclde: unknown setting")
            && err.contains("a similar key exists: queues.include"),
        "{err}"
    );
}
