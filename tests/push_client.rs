//! The exporter's notifications client against the simulated org's notifications API: the two
//! were written from the reference separately, so agreement here is evidence for both.

mod common;

use common::*;
use genesys_exporter::genesys::models::TopicState;
use genesys_exporter::genesys::{ApiError, GenesysClient};
use genesys_sim::{Endpoint, Fault, SimConfig, SimOrg};

fn client(sim: &SimOrg) -> GenesysClient {
    api_client(sim, &SimConfig::default().client_secret, 0)
}

fn topic(queue_id: &str) -> String {
    format!("v2.analytics.queues.{queue_id}.observations")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_created_and_queue_topics_are_subscribed() {
    let sim = start_sim(sim_config()).await;
    let client = client(&sim);
    let channel = client.create_channel().await.expect("a channel");
    assert!(!channel.id.is_empty());
    assert!(
        channel.connect_uri.starts_with("ws://") || channel.connect_uri.starts_with("wss://"),
        "{}",
        channel.connect_uri
    );
    assert!(channel.expires.is_some(), "channels say when they expire");

    let queues: Vec<String> = sim.truth().queues.iter().map(|q| q.id.clone()).collect();
    let topics: Vec<String> = queues.iter().take(2).map(|q| topic(q)).collect();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let listing = client
        .subscribe(&channel.id, &refs, true)
        .await
        .expect("subscribed");
    // In no documented order: compared as a set.
    let answered: std::collections::BTreeSet<(&str, TopicState)> = listing
        .entities
        .iter()
        .map(|t| (t.id.as_str(), t.state))
        .collect();
    let expected = refs.iter().map(|t| (*t, TopicState::Permitted)).collect();
    assert_eq!(answered, expected);

    // More than 1,000 topics on one channel: the documented 400.
    let many: Vec<String> = (0..1_001).map(|i| topic(&format!("q{i}"))).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    match client.subscribe(&channel.id, &refs, true).await {
        Err(ApiError::Status { status: 400, .. }) => {}
        other => panic!("expected a 400 past 1,000 topics, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_channel_is_an_error_the_caller_can_tell_apart() {
    let sim = start_sim(sim_config()).await;
    sim.faults().fail_next(
        Endpoint::Channels,
        1,
        Fault::Status {
            status: 403,
            retry_after_secs: None,
        },
    );
    match client(&sim).create_channel().await {
        Err(ApiError::Status { status: 403, .. }) => {}
        other => panic!("expected 403, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_topics_say_which_permissions_are_missing() {
    let sim = start_sim(sim_config()).await;
    let client = client(&sim);
    let channel = client.create_channel().await.expect("a channel");
    sim.faults()
        .fail_next(Endpoint::Subscriptions, 1, Fault::Rejected);
    let queue = sim.truth().queues[0].id.clone();
    let listing = client
        .subscribe(&channel.id, &[&topic(&queue)], true)
        .await
        .expect("an answer per topic");
    let t = &listing.entities[0];
    assert_eq!(t.state, TopicState::Rejected);
    assert!(!t.missing_permissions.is_empty(), "{t:?}");
    sim.shutdown().await;
}
