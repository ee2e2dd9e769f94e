//! Cost of a pushed queue observation event, as the exporter spends it:
//! * "apply one pushed event": the channel worker reads the WebSocket frame as a
//!   `StatEventQueueTopicStatsNotification` (`rows::Pushed`, one pass), and the live loop
//!   applies its rows to the queue's two readings (`rows` and `groups`). Paid per event.
//! * "derive one queue": the served reading's rows become the queue's live state. Paid once per
//!   publish (every 250 ms at most) for each queue events changed, however many they were.
//!
//! Frames as the simulator sends them by default (every metric of a `{queueId, mediaType}`
//! group) and for the agent group (`{queueId}`).
//! Target: 5,000 events/s under 10 % of one core, i.e. ≤ 20 µs per event for everything the
//! process does (the WebSocket, the wake-ups and the publishing included).
//! Run: `cargo bench --bench push`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use genesys_exporter::collect::observations::rows::{self, Pushed, Reading, Rows};
use genesys_exporter::genesys::models::NotificationFrame;

const QUEUE: &str = "1d1af111-b11c-11f1-b111-1cf1c11111fc";

fn frame(group: &str, metrics: &str) -> String {
    format!(
        r#"{{"topicName":"v2.analytics.queues.{QUEUE}.observations","version":"2","eventBody":{{"group":{group},"data":[{{"interval":"2026-11-30T10:30:00.000Z/2026-11-30T11:00:00.000Z","metrics":{metrics}}}]}},"metadata":{{"CorrelationId":"5b0a3c8e-7f1d-4c59-9e61-3f1b0d2a4c77"}}}}"#
    )
}

fn apply(text: &str, readings: &mut [Rows; 2]) -> usize {
    let frame: NotificationFrame<Pushed> = serde_json::from_str(text).expect("frame");
    assert!(frame.topic_name.ends_with(".observations"));
    let event = frame.event_body;
    for reading in Reading::ALL {
        rows::apply(&mut readings[reading.index()], &event, reading);
    }
    event.rows.len()
}

fn push(c: &mut Criterion) {
    let media: Vec<String> = ["voice", "chat", "email", "callback", "message"]
        .iter()
        .map(|m| m.to_string())
        .collect();
    let conversations = frame(
        &format!(r#"{{"queueId":"{QUEUE}","mediaType":"voice"}}"#),
        r#"[{"metric":"oWaiting","stats":{"count":7}},{"metric":"oInteracting","stats":{"count":12}},{"metric":"oAlerting","stats":{"count":2}},{"metric":"oLongestWaiting","stats":{"calculatedMetricValue":1796034990000}}]"#,
    );
    let agents = frame(
        &format!(r#"{{"queueId":"{QUEUE}"}}"#),
        r#"[{"metric":"oOnQueueUsers","qualifier":"IDLE","stats":{"count":3}},{"metric":"oOnQueueUsers","qualifier":"INTERACTING","stats":{"count":12}},{"metric":"oUserRoutingStatuses","qualifier":"IDLE","stats":{"count":3}},{"metric":"oUserRoutingStatuses","qualifier":"INTERACTING","stats":{"count":12}},{"metric":"oUserRoutingStatuses","qualifier":"OFF_QUEUE","stats":{"count":4}}]"#,
    );
    let mut group = c.benchmark_group("apply one pushed event");
    group.throughput(Throughput::Elements(1));
    for (name, text) in [
        ("conversation group", &conversations),
        ("agent group", &agents),
    ] {
        let mut readings = [Rows::new(), Rows::new()];
        group.bench_function(name, |b| b.iter(|| apply(text, &mut readings)));
    }
    group.finish();

    // A queue with both groups' rows, derived as a publish does.
    let mut readings = [Rows::new(), Rows::new()];
    apply(&conversations, &mut readings);
    apply(&agents, &mut readings);
    let presences = rows::Presences::default();
    let mut group = c.benchmark_group("derive one queue");
    group.throughput(Throughput::Elements(1));
    group.bench_function("both groups", |b| {
        b.iter(|| {
            rows::derive(&readings[0], &media, 1_796_035_000_000, &presences)
                .media
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, push);
criterion_main!(benches);
