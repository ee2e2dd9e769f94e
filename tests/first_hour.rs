//! What a new user meets in the first hour, beyond the CLI's own tests (`tests/cli.rs`): the
//! log says when the exporter is first ready, in one INFO line (the queues it watches, the
//! collectors that run and those that failed, how live state arrives), and the README says
//! on which address the demo listens.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_genesys-exporter");

#[test]
fn a_demo_run_logs_one_ready_line_naming_queues_collectors_and_live_mode() {
    let port = common::free_port();
    let mut child = Command::new(BIN)
        .args(["--demo", &format!("--web.listen-address=127.0.0.1:{port}")])
        .env_remove("GENESYS_CLIENT_SECRET")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("exporter starts");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready = Vec::new();
    let mut seen = Vec::new();
    while ready.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "no ready line within 60 s; the log said:\n{}",
                seen.join("\n")
            )
        });
        if line.contains(" ready ") || line.ends_with(" ready") || line.contains("ready queues=") {
            ready.push(line.clone());
        }
        seen.push(line);
    }
    let line = &ready[0];
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("queues=36"),
        "the demo org's 36 queues: {line}"
    );
    assert!(
        line.contains("collectors=queues,observations,activity,aggregates"),
        "the default collectors: {line}"
    );
    assert!(line.contains("failed="), "{line}");
    assert!(
        line.contains("live=\"auto\"") || line.contains("live=auto"),
        "{line}"
    );
    // Once: a while later there is no second one.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status}");
    let later: Vec<String> = rx
        .try_iter()
        .filter(|l| l.contains("ready queues="))
        .collect();
    assert!(later.is_empty(), "a second ready line: {later:?}");
}

#[test]
fn the_readme_says_the_default_address_listens_on_every_interface() {
    let out = Command::new(BIN).arg("--help").output().expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("[default: :19464]"),
        "the default listen address changed: {help}"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    assert!(
        readme.contains("listens on every interface (`:19464`, i.e. `0.0.0.0:19464`"),
        "the README must say that :19464 is every interface"
    );
    assert!(
        readme.contains("--web.listen-address=127.0.0.1:19464"),
        "and how to keep the demo to this machine"
    );
}
