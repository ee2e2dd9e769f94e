//! `genesys-exporter simulate` as a child process: the first stdout line, credentials,
//! `--faults`, SIGTERM, usage errors (exit 2), and several orgs in one process (`--orgs`).
//! Loopback only, bounded waits only.

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
    let mut cmd = simulate_with(&["--listen", "127.0.0.1:0", "--queues", "5"]);
    cmd.args(extra);
    cmd
}

/// `simulate` with exactly these arguments (no default `--listen` or `--queues`).
fn simulate_with(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("simulate")
        .args(args)
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

#[tokio::test]
async fn one_org_asked_for_explicitly_prints_the_single_org_line() {
    // `start` insists on exactly `api-url=URL login-url=URL`, as scripts parse it.
    let (mut sim, _, login) = start(&["--orgs", "1"]);
    // A single org keeps the credentials unchanged (no `-org01` suffix).
    let (status, v) = token(&login, ID, SECRET).await;
    assert_eq!(status, 200, "{v}");
    let _ = sim.0.kill();
    wait_exit(&mut sim.0, Duration::from_secs(10));
}

/// One org's stdout line under `--orgs N`.
struct OrgLine {
    name: String,
    api: String,
    login: String,
    client_id: String,
}

impl OrgLine {
    /// What this org accepts: the client id it printed, and the secret derived the same way.
    fn secret(&self) -> String {
        format!("{SECRET}-{}", self.name)
    }
}

/// Starts `simulate` with exactly `args` and reads the `orgs` lines of `--orgs`.
fn start_orgs(args: &[&str], orgs: usize) -> (Running, Vec<OrgLine>) {
    let mut child = simulate_with(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn genesys-exporter simulate");
    let stdout = child.stdout.take().expect("stdout piped");
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..orgs {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    let re = regex::Regex::new(
        r"^org=(org[0-9]{2,}) api-url=(http://127\.0\.0\.1:[0-9]+) login-url=(http://127\.0\.0\.1:[0-9]+/login) client-id=(\S+)\n$",
    )
    .expect("regex");
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines = (0..orgs)
        .map(|i| {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(wait)
                .unwrap_or_else(|e| panic!("stdout line {} within 30 s: {e}", i + 1));
            assert!(!line.contains(SECRET), "a secret on stdout: {line:?}");
            let caps = re.captures(&line).unwrap_or_else(|| {
                panic!("line {line:?} is not `org=NAME api-url=URL login-url=URL client-id=ID`")
            });
            let org = OrgLine {
                name: caps[1].to_string(),
                api: caps[2].to_string(),
                login: caps[3].to_string(),
                client_id: caps[4].to_string(),
            };
            assert_eq!(format!("{}/login", org.api), org.login);
            org
        })
        .collect();
    (running, lines)
}

async fn access_token(org: &OrgLine) -> String {
    let (status, v) = token(&org.login, &org.client_id, &org.secret()).await;
    assert_eq!(status, 200, "{}: {v}", org.name);
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[tokio::test]
async fn three_orgs_each_accept_only_their_own_credentials_and_list_their_own_queues() {
    let (mut sim, orgs) = start_orgs(
        &[
            "--listen",
            "127.0.0.1:0",
            "--orgs",
            "3",
            "--queues",
            "5,7,9",
        ],
        3,
    );
    let names: Vec<&str> = orgs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["org01", "org02", "org03"]);
    let mut apis: Vec<&str> = orgs.iter().map(|o| o.api.as_str()).collect();
    apis.sort_unstable();
    apis.dedup();
    assert_eq!(apis.len(), 3, "each org on its own port: {apis:?}");

    for (i, org) in orgs.iter().enumerate() {
        assert_eq!(org.client_id, format!("{ID}-{}", org.name));
        // Another org's credentials, and the undecorated ones, are refused.
        let other = &orgs[(i + 1) % orgs.len()];
        let (status, v) = token(&org.login, &other.client_id, &other.secret()).await;
        assert_eq!(
            status, 401,
            "{} with {}'s credentials: {v}",
            org.name, other.name
        );
        let (status, _) = token(&org.login, ID, SECRET).await;
        assert_eq!(status, 401, "{} with the base credentials", org.name);

        let tok = access_token(org).await;
        let (status, v) = list_queues(&org.api, &tok).await;
        assert_eq!(status, 200, "{}: {v}", org.name);
        assert_eq!(v["total"], [5, 7, 9][i], "{}", org.name);
        // A token is good only where it was issued.
        let (status, _) = list_queues(&other.api, &tok).await;
        assert_eq!(status, 401, "{}'s token at {}", org.name, other.name);
    }

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
async fn a_fault_prefixed_with_an_org_hits_only_that_org() {
    let (mut sim, orgs) = start_orgs(
        &[
            "--listen",
            "127.0.0.1:0",
            "--orgs",
            "2",
            "--queues",
            "5",
            "--faults",
            "org02/queues:503x1,token:429x1",
        ],
        2,
    );
    // The unprefixed `token:429x1` hits every org once.
    for org in &orgs {
        let (status, _) = token(&org.login, &org.client_id, &org.secret()).await;
        assert_eq!(status, 429, "{}", org.name);
    }
    let tok1 = access_token(&orgs[0]).await;
    let tok2 = access_token(&orgs[1]).await;
    let (status, v) = list_queues(&orgs[0].api, &tok1).await;
    assert_eq!(status, 200, "org01 has no queues fault: {v}");
    let (status, _) = list_queues(&orgs[1].api, &tok2).await;
    assert_eq!(status, 503, "org02/queues:503x1");
    let (status, v) = list_queues(&orgs[1].api, &tok2).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 5);
    let _ = sim.0.kill();
    wait_exit(&mut sim.0, Duration::from_secs(10));
}

#[test]
fn impossible_org_layouts_exit_2_naming_the_bad_part() {
    for (args, expect) in [
        (&["--orgs", "3", "--queues", "5,7"][..], "--queues"),
        (&["--orgs", "2", "--queues", "5,7,9"][..], "--queues"),
        (
            &["--orgs", "2", "--faults", "org03/queues:503"][..],
            "org03",
        ),
        (
            &["--orgs", "2", "--faults", "team02/queues:503"][..],
            "team02",
        ),
        (&["--orgs", "0"][..], "--orgs"),
        (&["--orgs", "101"][..], "--orgs"),
        (&["--queues", "5,0"][..], "\"0\""),
    ] {
        let mut cmd = simulate_with(&["--listen", "127.0.0.1:0"]);
        cmd.args(args);
        let (code, err, out) = run_to_exit(cmd);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    let (code, err, _) = run_to_exit(simulate_with(&[
        "--listen",
        "127.0.0.1:65535",
        "--orgs",
        "2",
    ]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("65535"), "{err}");
}
