//! Secrets never reach logs, /metrics or Debug output: the client secret, and every access token
//! the simulated org issued, checked against everything logged at TRACE level (HTTP client and
//! server internals included) through token fetches, a revoked token, retries and a reload.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use genesys_sim::SimConfig;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_logs_metrics_or_debug_output() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let secret = SimConfig::default().client_secret;
    let sim = start_sim(sim_config()).await;
    let exporter = start_exporter(&sim, &["--log.level=trace"]).await;
    let addr = exporter.local_addr();
    wait_ready(&exporter).await;
    sim.faults().revoke_tokens();
    eventually("a retry after the 401", || async {
        (sum(
            &scrape(addr).await,
            "genesys_api_retries_total",
            ("reason", "unauthorized"),
        ) >= 1.0)
            .then_some(())
    })
    .await;
    let _ = exporter.reload().await;
    let metrics = scrape(addr).await.text;
    let config_debug = format!("{:?}", exporter_config(&sim, &[]));
    exporter.shutdown().await;

    let tokens = sim.stats().tokens();
    assert!(
        tokens.len() >= 2,
        "tokens were issued and replaced: {}",
        tokens.len()
    );
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.len() > 10_000,
        "TRACE logging captured little ({} bytes)",
        logged.len()
    );
    for (what, text) in [
        ("logs", &logged),
        ("/metrics", &metrics),
        ("Debug of the config", &config_debug),
    ] {
        assert!(
            !text.contains(&secret),
            "the client secret is in the {what}"
        );
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "an access token is in the {what}"
            );
        }
    }
    sim.shutdown().await;
}
