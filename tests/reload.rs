//! Configuration file and reload: POST /-/reload and SIGHUP apply a new file without dropping
//! the listener; a bad file keeps the old configuration and is counted.

mod common;

use std::sync::Arc;

use common::*;
use genesys_exporter::app::{Exporter, Options};
use genesys_exporter::config::Config;
use genesys_sim::{SimConfig, SimOrg};

/// The exporter as main starts it: flags plus the file, re-read on every reload.
async fn start(sim: &SimOrg, file: &ConfigFile) -> Exporter {
    let args: Vec<String> = [
        "genesys-exporter".to_string(),
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--genesys.api-url={}", sim.api_url()),
        format!("--genesys.login-url={}", sim.login_url()),
        format!("--genesys.client-id={}", SimConfig::default().client_id),
        format!("--config.file={}", file.0.display()),
        "--web.enable-lifecycle".into(),
    ]
    .into();
    let secret = SimConfig::default().client_secret;
    let load = move || Config::from_args(args.clone(), Some(secret.clone()));
    let config = load().expect("valid config");
    let options = Options {
        reload_from: Some(Arc::new(load)),
        ..Options::default()
    };
    Exporter::start_with(config, options)
        .await
        .expect("exporter starts")
}

async fn post_reload(addr: std::net::SocketAddr) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn watched(s: &Scrape) -> Vec<String> {
    let mut names: Vec<String> = s
        .all("genesys_queue_info")
        .into_iter()
        .map(|(l, _)| l["queue"].clone())
        .collect();
    names.sort();
    names
}

const FAST: &str = "collector:\n  queues: {interval: 200ms}\n  observations: {interval: 200ms}\n  activity: {interval: 200ms}\n  aggregates: {interval: 200ms}\ngenesys.requests-per-minute: 100000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_a_new_file_and_a_bad_one_keeps_the_old() {
    let sim = start_sim(sim_config()).await;
    let names: Vec<String> = sim.truth().queues.iter().map(|q| q.name.clone()).collect();
    let first = names[0].clone();
    let last = names[names.len() - 1].clone();
    let file = ConfigFile::new(&format!(
        "{FAST}queues:\n  include: '^{}$'\n",
        regex::escape(&first)
    ));
    let exporter = start(&sim, &file).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    assert_eq!(watched(&scrape(addr).await), vec![first.clone()]);

    // A new filter in the file, applied on POST /-/reload.
    file.write(&format!(
        "{FAST}queues:\n  include: '^{}$'\n",
        regex::escape(&last)
    ));
    let (status, body) = post_reload(addr).await;
    assert_eq!((status, body.as_str()), (200, "Reloaded.\n"));
    eventually("the new filter applied", || async {
        (watched(&scrape(addr).await) == vec![last.clone()]).then_some(())
    })
    .await;
    let s = scrape(addr).await;
    assert_eq!(value(&s, "genesys_exporter_config_reloads_total", &[]), 1.0);
    assert_eq!(
        value(&s, "genesys_exporter_config_last_reload_successful", &[]),
        1.0
    );

    // A bad file: 500 naming the key, the old configuration stays, the failure is counted.
    file.write(&format!("{FAST}queues:\n  include: '('\n"));
    let (status, body) = post_reload(addr).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("queues.include") && body.contains("previous configuration stays"),
        "{body}"
    );
    let s = wait_polls(addr, "queues").await;
    assert_eq!(watched(&s), vec![last.clone()]);
    assert_eq!(
        value(&s, "genesys_exporter_config_reload_failures_total", &[]),
        1.0
    );
    assert_eq!(
        value(&s, "genesys_exporter_config_last_reload_successful", &[]),
        0.0
    );
    assert_eq!(
        value(&s, "genesys_up", &[("collector", "observations")]),
        1.0,
        "still serving"
    );

    // Settings that only a restart applies are named, and keep their value.
    file.write(&format!("{FAST}web.telemetry-path: /elsewhere\n"));
    let (status, body) = post_reload(addr).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("applied only by a restart: web.telemetry-path"),
        "{body}"
    );
    assert_eq!(
        get(addr, "/metrics").await.0,
        200,
        "the old path still serves"
    );
    assert_eq!(
        get(addr, "/-/healthy").await.0,
        200,
        "the listener is untouched"
    );
    // The filter went back to none: every queue is watched again.
    eventually("no filter", || async {
        (watched(&scrape(addr).await).len() == names.len()).then_some(())
    })
    .await;

    let r = reqwest::get(format!("http://{addr}/-/reload"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "POST, PUT");
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_request_budget_in_place() {
    let sim = start_sim(sim_config()).await;
    let file = ConfigFile::new(FAST);
    let exporter = start(&sim, &file).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;

    file.write(&FAST.replace("requests-per-minute: 100000", "requests-per-minute: 77"));
    assert_eq!(post_reload(addr).await.0, 200);
    let s = scrape(addr).await;
    assert_eq!(
        value(&s, "genesys_api_budget_requests_per_minute", &[]),
        77.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// Like Prometheus: `POST /-/reload` only with `--web.enable-lifecycle`; SIGHUP (here
/// `Exporter::reload`, what the SIGHUP handler calls) always reloads. The last successful load
/// is the start, not 0, so `time() - ..._success_timestamp_seconds` alerts stay quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_endpoint_needs_enable_lifecycle_and_the_load_time_is_the_start() {
    let sim = start_sim(sim_config()).await;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exporter = start_exporter(&sim, &[]).await;
    let addr = exporter.local_addr();
    let loaded = value(
        &scrape(addr).await,
        "genesys_exporter_config_last_reload_success_timestamp_seconds",
        &[],
    );
    assert!(
        loaded >= started.floor() && loaded < started + 60.0,
        "loaded at {loaded}, started at {started}"
    );

    let (status, body) = post_reload(addr).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--web.enable-lifecycle"), "{body}");
    let s = scrape(addr).await;
    assert_eq!(value(&s, "genesys_exporter_config_reloads_total", &[]), 0.0);

    exporter.reload().await.expect("the SIGHUP path reloads");
    let s = scrape(addr).await;
    assert_eq!(value(&s, "genesys_exporter_config_reloads_total", &[]), 1.0);
    exporter.shutdown().await;
    sim.shutdown().await;
}

/// A reload cannot switch TLS off (passwords would travel in clear on a port that was TLS) or
/// on (every scraper would break): it is refused, counted, and the old configuration stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_switches_tls_off_is_refused() {
    let dir = std::env::temp_dir().join(format!("gx-reload-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), cert.signing_key.serialize_pem()).unwrap();
    let users = format!(
        "basic_auth_users:\n  alice: {}\n",
        bcrypt::hash("wonderland", 4).unwrap()
    );
    let tls =
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{users}");
    let web = dir.join("web.yml");
    std::fs::write(&web, &tls).unwrap();

    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &[&format!("--web.config.file={}", web.display())]).await;
    let addr = exporter.local_addr();
    let https = https_trusting(&cert.cert.pem());
    let healthy = |client: reqwest::Client, scheme: &'static str| async move {
        client
            .get(format!("{scheme}://{addr}/-/healthy"))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    };
    assert!(healthy(https.clone(), "https").await);

    // The same users without TLS: valid on its own, refused as a reload.
    std::fs::write(&web, &users).unwrap();
    let err = exporter
        .reload()
        .await
        .expect_err("switching TLS off is refused");
    assert!(err.to_string().contains("turns TLS off"), "{err}");
    assert!(healthy(https, "https").await, "still TLS");
    assert!(
        !healthy(reqwest::Client::new(), "http").await,
        "never plain HTTP"
    );
    let s = https_trusting(&cert.cert.pem())
        .get(format!("https://{addr}/metrics"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let s = parse(&s);
    assert_eq!(
        value(&s, "genesys_exporter_config_reload_failures_total", &[]),
        1.0
    );
    exporter.shutdown().await;
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
