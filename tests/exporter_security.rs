//! The exporter behind its web configuration: TLS, basic auth on everything but /-/healthy,
//! extra headers; and a reload that swaps the users without dropping the listener.

mod common;

use std::path::PathBuf;

use common::*;
use genesys_exporter::app::{Exporter, StartError};
use genesys_exporter::web::WebConfigError;

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn web_config(dir: &std::path::Path, users: &[(&str, &str)]) -> (PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), cert.signing_key.serialize_pem()).unwrap();
    let mut yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
                    http_server_config:\n  headers:\n    X-Frame-Options: DENY\nbasic_auth_users:\n"
        .to_string();
    for (user, password) in users {
        yaml.push_str(&format!(
            "  {user}: {}\n",
            bcrypt::hash(password, 4).unwrap()
        ));
    }
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).unwrap();
    (path, cert.cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_guard_every_endpoint_but_health() {
    let dir = std::env::temp_dir().join(format!("gx-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Files(dir.clone());
    let (web, ca) = web_config(&dir, &[("alice", "wonderland")]);

    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(
        &sim,
        &[
            &format!("--web.config.file={}", web.display()),
            "--web.enable-lifecycle",
        ],
    )
    .await;
    let addr = exporter.local_addr();
    let https = https_trusting(&ca);
    let url = |path: &str| format!("https://{addr}{path}");

    let r = https.get(url("/-/healthy")).send().await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "liveness probes need no credentials"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    for path in ["/metrics", "/", "/-/ready"] {
        let r = https.get(url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"genesys-exporter\""
        );
        let r = https
            .get(url(path))
            .basic_auth("alice", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let r = https
            .get(url(path))
            .basic_auth("mallory", Some("wonderland"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let ready = eventually("ready over TLS with credentials", || async {
        let r = https
            .get(url("/-/ready"))
            .basic_auth("alice", Some("wonderland"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16() == 200).then_some(())
    });
    ready.await;
    let r = https
        .get(url("/metrics"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("genesys_up{collector=\"observations\"} 1"));

    // Plain HTTP gets nothing from a TLS listener.
    assert!(reqwest::get(format!("http://{addr}/-/healthy"))
        .await
        .is_err());

    // A reload reads new users; the old password stops working, the listener stays.
    let (_, ca2) = web_config(&dir, &[("bob", "builder")]);
    let r = https
        .post(url("/-/reload"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await;
    // The reload also re-reads the certificate: trust the new one from here on.
    assert!(r.is_ok_and(|r| r.status().as_u16() == 200));
    let https2 = https_trusting(&ca2);
    let r = https2
        .get(url("/metrics"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = https2
        .get(url("/metrics"))
        .basic_auth("bob", Some("builder"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bcrypt_cost_above_the_maximum_is_refused_at_start_and_on_reload() {
    let dir = std::env::temp_dir().join(format!("gx-web-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Files(dir.clone());
    let (web, ca) = web_config(&dir, &[("alice", "wonderland")]);
    let flag = format!("--web.config.file={}", web.display());
    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &[&flag, "--web.enable-lifecycle"]).await;
    let addr = exporter.local_addr();
    let https = https_trusting(&ca);
    let url = |path: &str| format!("https://{addr}{path}");

    // A cost-31 hash (bcrypt's own maximum; days of work per hash), written without computing
    // it. Before the limit, the reload computed a dummy hash at that cost and never answered.
    let good = bcrypt::hash("builder", 4).unwrap();
    let yaml = std::fs::read_to_string(&web).unwrap();
    std::fs::write(&web, format!("{yaml}  bob: $2y$31{}\n", &good[6..])).unwrap();
    let r = https
        .post(url("/-/reload"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("basic_auth_users.bob: bcrypt cost 31 is above the maximum of 14"),
        "{body}"
    );
    // The running users stay.
    let r = https
        .get(url("/"))
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The same file at start-up: refused, with the key.
    match Exporter::start(exporter_config(&sim, &[&flag])).await {
        Err(StartError::WebConfig(WebConfigError::Invalid { key, message, .. })) => {
            assert_eq!(key, "basic_auth_users.bob", "{message}");
            assert!(message.contains("maximum of 14"), "{message}");
        }
        Err(other) => panic!("expected basic_auth_users.bob to be refused, got {other:?}"),
        Ok(_) => panic!("an exporter started with a cost-31 bcrypt hash"),
    }
    exporter.shutdown().await;
    sim.shutdown().await;
}
