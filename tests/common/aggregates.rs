//! The analytics counters and the simulator's truth they must equal (tests/aggregates.rs,
//! tests/aggregates_refused.rs).

use chrono::TimeZone;
use genesys_sim::{AggregateTruth, SimOrg};

use super::Scrape;

/// Every exported counter, and the Genesys statistic it must equal.
pub const COUNTERS: [(&str, &str, Field); 20] = [
    (
        "genesys_conversations_offered_total",
        "nOffered",
        Field::Count,
    ),
    (
        "genesys_conversations_answered_total",
        "tAnswered",
        Field::Count,
    ),
    (
        "genesys_conversations_abandoned_total",
        "tAbandon",
        Field::Count,
    ),
    (
        "genesys_conversations_short_abandoned_total",
        "tShortAbandon",
        Field::Count,
    ),
    (
        "genesys_conversations_handled_total",
        "tHandle",
        Field::Count,
    ),
    (
        "genesys_conversations_transferred_total",
        "nTransferred",
        Field::Count,
    ),
    (
        "genesys_conversations_over_sla_total",
        "nOverSla",
        Field::Count,
    ),
    (
        "genesys_conversations_connected_total",
        "nConnected",
        Field::Count,
    ),
    (
        "genesys_conversations_within_sla_total",
        "oServiceLevel",
        Field::Numerator,
    ),
    (
        "genesys_conversations_sla_eligible_total",
        "oServiceLevel",
        Field::Denominator,
    ),
    ("genesys_holds_total", "tHeld", Field::Count),
    ("genesys_handle_seconds_total", "tHandle", Field::Seconds),
    ("genesys_talk_seconds_total", "tTalk", Field::Seconds),
    ("genesys_hold_seconds_total", "tHeld", Field::Seconds),
    ("genesys_acw_seconds_total", "tAcw", Field::Seconds),
    ("genesys_acd_wait_seconds_total", "tAcd", Field::Seconds),
    (
        "genesys_answer_wait_seconds_total",
        "tAnswered",
        Field::Seconds,
    ),
    (
        "genesys_abandon_wait_seconds_total",
        "tAbandon",
        Field::Seconds,
    ),
    ("genesys_wait_seconds_total", "tWait", Field::Seconds),
    ("genesys_alert_seconds_total", "tAlert", Field::Seconds),
];

#[derive(Clone, Copy)]
pub enum Field {
    Count,
    Seconds,
    Numerator,
    Denominator,
}

pub fn truth_value(
    t: &AggregateTruth,
    queue: &str,
    media: &str,
    metric: &str,
    field: Field,
) -> f64 {
    let Some(s) = t
        .groups
        .get(&(queue.to_string(), media.to_string()))
        .and_then(|g| g.get(metric))
    else {
        return 0.0;
    };
    match field {
        Field::Count => s.count as f64,
        Field::Seconds => s.sum_ms as f64 / 1000.0,
        Field::Numerator => s.numerator,
        Field::Denominator => s.denominator,
    }
}

/// An instant as the analytics APIs write it: ISO-8601, milliseconds, `Z`.
pub fn iso(ms: i64) -> String {
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .expect("a valid instant")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An analytics `interval`: `<from>/<to>`.
pub fn interval(from: i64, to: i64) -> String {
    format!("{}/{}", iso(from), iso(to))
}

/// Every queue and media type's `today` window gauge `family` in `s` equals `metric`'s
/// count in `truth`.
pub fn assert_today_windows(
    s: &Scrape,
    sim: &SimOrg,
    truth: &AggregateTruth,
    family: &str,
    metric: &str,
) {
    for q in &sim.truth().queues {
        for media in &q.media_types {
            let l = [
                ("queue_id", q.id.as_str()),
                ("queue", q.name.as_str()),
                ("media_type", media.as_str()),
                ("window", "today"),
            ];
            let want = truth_value(truth, &q.id, media, metric, Field::Count);
            assert_eq!(s.get(family, &l), Some(want), "{l:?}");
        }
    }
}
