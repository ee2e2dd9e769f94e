//! Cost of applying one pushed queue observation event, as the live loop does: parse the
//! WebSocket frame, read its `StatEventQueueTopicStatsNotification`, replace the rows it
//! carries, derive the queue's live state. Frames as the simulator sends them by default (every
//! metric of a `{queueId, mediaType}` group) and for the agent group (`{queueId}`).
//! Target: 5,000 events/s under 10 % of one core, i.e. ≤ 20 µs per event.
//! Run: `cargo bench --bench push`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use genesys_exporter::collect::observations::rows::{self, Rows};
use genesys_exporter::collect::observations::METRICS;
use genesys_exporter::genesys::models::{NotificationFrame, QueueStatsEvent};

const QUEUE: &str = "1d1af111-b11c-11f1-b111-1cf1c11111fc";

fn frame(group: &str, metrics: &str) -> String {
    format!(
        r#"{{"topicName":"v2.analytics.queues.{QUEUE}.observations","version":"2","eventBody":{{"group":{group},"data":[{{"interval":"2026-11-30T10:30:00.000Z/2026-11-30T11:00:00.000Z","metrics":{metrics}}}]}},"metadata":{{"CorrelationId":"5b0a3c8e-7f1d-4c59-9e61-3f1b0d2a4c77"}}}}"#
    )
}

fn apply(text: &str, rows: &mut Rows, media: &[String]) -> usize {
    // As the channel worker reads it: the topic first, then the body of that topic.
    let head: NotificationFrame<serde::de::IgnoredAny> = serde_json::from_str(text).expect("head");
    assert!(head.topic_name.ends_with(".observations"));
    let frame: NotificationFrame<QueueStatsEvent> = serde_json::from_str(text).expect("frame");
    let event = frame.event_body;
    for (k, s) in rows::pushed(&event, &METRICS) {
        rows.insert(k, s);
    }
    rows::derive(rows, media, 1_796_035_000_000).media.len()
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
        let mut rows = Rows::new();
        group.bench_function(name, |b| b.iter(|| apply(text, &mut rows, &media)));
    }
    group.finish();
}

criterion_group!(benches, push);
criterion_main!(benches);
