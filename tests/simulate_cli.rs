//! `genesys-exporter simulate` as a child process: the first stdout line, credentials,
//! `--faults`, SIGTERM, and usage errors (exit 2). Loopback only, bounded waits only.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_genesys-exporter");
const ID: &str = "cli-test-id";
const SECRET: &str = "cli-test-secret";

/// Kills the child if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simulate(extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["simulate", "--listen", "127.0.0.1:0", "--queues", "5"])
        .args(extra)
        .env("GENESYS_CLIENT_ID", ID)
        .env("GENESYS_CLIENT_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Starts the simulator; returns it with its api and login URLs from the first stdout line.
fn start(extra: &[&str]) -> (Running, String, String) {
    let mut child = simulate(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn genesys-exporter simulate");
    let stdout = child.stdout.take().expect("stdout piped");
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("first stdout line within 30 s");
    let re = regex::Regex::new(
        r"^api-url=(http://127\.0\.0\.1:[0-9]+) login-url=(http://127\.0\.0\.1:[0-9]+/login)\n$",
    )
    .expect("regex");
    let caps = re
        .captures(&line)
        .unwrap_or_else(|| panic!("first line {line:?} is not `api-url=URL login-url=URL`"));
    let (api, login) = (caps[1].to_string(), caps[2].to_string());
    assert_eq!(format!("{api}/login"), login);
    (running, api, login)
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("client")
}

async fn token(login: &str, id: &str, secret: &str) -> (u16, Value) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let r = client()
        .post(format!("{login}/oauth/token"))
        .header("Authorization", format!("Basic {auth}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("token body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn list_queues(api: &str, tok: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{api}/api/v2/routing/queues?pageSize=100"))
        .bearer_auth(tok)
        .send()
        .await
        .expect("queues request");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("queues body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn serves_the_simulated_org_until_sigterm() {
    let (mut sim, api, login) = start(&["--seed", "7", "--faults", "queues:503x1"]);

    let (status, v) = token(&login, ID, "wrong-secret").await;
    assert_eq!(status, 401);
    assert_eq!(v["error"], "invalid_client");
    // The simulator's own defaults are not accepted either.
    let (status, _) = token(&login, "sim-client-id", "sim-client-secret").await;
    assert_eq!(status, 401);

    let (status, v) = token(&login, ID, SECRET).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    let tok = v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();

    // `queues:503x1`: the first listing fails, the next one works.
    let (status, v) = list_queues(&api, &tok).await;
    assert_eq!(status, 503, "{v}");
    let (status, v) = list_queues(&api, &tok).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 5);
    assert_eq!(v["entities"].as_array().map(Vec::len), Some(5));

    let pid = sim.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = wait_exit(&mut sim.0, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status:?}");
}

#[tokio::test]
async fn spike_and_fault_kinds_are_accepted() {
    // The queue names come from the seed: learn one from a first run.
    let name = {
        let (mut sim, api, login) = start(&[]);
        let (_, v) = token(&login, ID, SECRET).await;
        let tok = v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        let (_, v) = list_queues(&api, &tok).await;
        let _ = sim.0.kill();
        wait_exit(&mut sim.0, Duration::from_secs(10));
        v["entities"][0]["name"]
            .as_str()
            .expect("a queue name")
            .to_string()
    };
    let spike = format!("{name}@+10m");
    let (mut sim, api, login) = start(&[
        "--spike",
        &spike,
        "--faults",
        "token:429x1,observations:delay=1s,any:mangled",
    ]);
    let (status, _) = token(&login, ID, SECRET).await;
    assert_eq!(status, 429);
    // `any:mangled` serves the next call, the second token request.
    let (status, v) = token(&login, ID, SECRET).await;
    assert_eq!(status, 200, "{v}");
    let tok = v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let (status, _) = list_queues(&api, &tok).await;
    assert_eq!(status, 200);
    let _ = sim.0.kill();
    wait_exit(&mut sim.0, Duration::from_secs(10));
}

/// Runs a usage error to completion; returns (exit code, stderr, stdout).
fn run_to_exit(mut cmd: Command) -> (Option<i32>, String, String) {
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let status = wait_exit(&mut child.0, Duration::from_secs(20));
    let mut err = String::new();
    let mut out = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if let Some(mut o) = child.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    (status.code(), err, out)
}

#[test]
fn missing_credentials_exit_2() {
    for missing in ["GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET"] {
        let mut cmd = simulate(&[]);
        cmd.env_remove(missing);
        let (code, err, out) = run_to_exit(cmd);
        assert_eq!(code, Some(2), "without {missing}: {err}");
        assert!(
            err.contains("GENESYS_CLIENT_ID") && err.contains("GENESYS_CLIENT_SECRET"),
            "{err}"
        );
        assert!(out.is_empty(), "{out}");
    }
}

#[test]
fn bad_invocations_exit_2_naming_the_bad_part() {
    for (args, expect) in [
        (&["--faults", "queues:503,planet:503"][..], "planet:503"),
        (&["--faults", "queues:teapot"][..], "teapot"),
        (&["--faults", "queues:503x0"][..], "queues:503x0"),
        (&["--faults", "observations:delay=soon"][..], "soon"),
        (&["--spike", "Sales EN"][..], "QUEUE_NAME@+DELAY"),
        (&["--spike", "No Such Queue@+1m"][..], "No Such Queue"),
    ] {
        let (code, err, out) = run_to_exit(simulate(args));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}
