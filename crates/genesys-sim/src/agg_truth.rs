//! Ground truth for the aggregates endpoint, computed metric by metric straight from the
//! conversation records (no shared code with the endpoint's stamping or bucketing, except
//! the per-conversation lag, which is part of the model).

use std::collections::BTreeMap;

use super::aggregates::{lag_ms, SHORT_ABANDON_MS};
use super::model::Model;

/// One metric of one (queue, media type) group over one span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatTruth {
    /// Entries (counters and timers); for `oServiceLevel` and `oCallbackServiceLevel` the
    /// denominator.
    pub count: u64,
    /// Timers only (ms); 0 for counters and the two service levels.
    pub sum_ms: i64,
    pub max_ms: i64,
    pub min_ms: i64,
    /// `oServiceLevel` and `oCallbackServiceLevel` (callbacks only) only: answered within the
    /// threshold / answered + non-short abandons.
    pub numerator: f64,
    pub denominator: f64,
}

/// What the aggregates endpoint reports for one span as one bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggregateTruth {
    /// (queue id, media type) -> API metric name -> stats. Only what the endpoint would
    /// report: metrics with count 0 (the service levels: denominator 0) and empty groups left
    /// out.
    pub groups: BTreeMap<(String, String), BTreeMap<String, StatTruth>>,
}

impl AggregateTruth {
    /// The stats of one metric summed over every group (None if no group has it).
    #[must_use]
    pub fn total(&self, metric: &str) -> Option<StatTruth> {
        let mut out: Option<StatTruth> = None;
        for s in self.groups.values().filter_map(|g| g.get(metric)) {
            let o = out.get_or_insert(StatTruth {
                max_ms: i64::MIN,
                min_ms: i64::MAX,
                ..StatTruth::default()
            });
            o.count += s.count;
            o.sum_ms += s.sum_ms;
            o.max_ms = o.max_ms.max(s.max_ms);
            o.min_ms = o.min_ms.min(s.min_ms);
            o.numerator += s.numerator;
            o.denominator += s.denominator;
        }
        out
    }
}

/// Every observation the aggregates endpoint sees over one span, value by value: the truth of
/// its `views[]` (`rangeBound` over a timer's milliseconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewTruth {
    /// (queue id, media type) -> API metric name -> the observations' values (ms for timers;
    /// 0 for counters, 1/0 within/not within the threshold for the two service levels), in
    /// no particular order.
    pub groups: BTreeMap<(String, String), BTreeMap<String, Vec<i64>>>,
}

/// `gte <= value_ms < lt`, an absent bound being open.
fn in_range(value_ms: i64, gte: Option<f64>, lt: Option<f64>) -> bool {
    // Whole ms far below 2^53: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let v = value_ms as f64;
    gte.is_none_or(|g| g <= v) && lt.is_none_or(|l| v < l)
}

impl ViewTruth {
    /// How many observations of `timer` in the (queue, media type) group fall in
    /// [`gte`, `lt`) (None: an open side): the count of a view over that group and span.
    #[must_use]
    pub fn count_in(
        &self,
        queue_id: &str,
        media_type: &str,
        timer: &str,
        gte: Option<f64>,
        lt: Option<f64>,
    ) -> u64 {
        self.groups
            .get(&(queue_id.to_string(), media_type.to_string()))
            .and_then(|g| g.get(timer))
            .map_or(0, |vals| {
                vals.iter().filter(|&&v| in_range(v, gte, lt)).count() as u64
            })
    }

    /// [`ViewTruth::count_in`] summed over every group.
    #[must_use]
    pub fn total_in(&self, timer: &str, gte: Option<f64>, lt: Option<f64>) -> u64 {
        self.groups
            .values()
            .filter_map(|g| g.get(timer))
            .flatten()
            .filter(|&&v| in_range(v, gte, lt))
            .count() as u64
    }
}

pub(crate) fn build(
    model: &Model,
    from_ms: i64,
    to_ms: i64,
    visible_at_ms: Option<i64>,
    lag: Option<(i64, i64)>,
    direction: Option<&str>,
) -> AggregateTruth {
    let timers = observations(model, from_ms, to_ms, visible_at_ms, lag, direction).groups;
    let mut groups = BTreeMap::new();
    for (key, metrics) in timers {
        let mut out = BTreeMap::new();
        for (name, vals) in metrics {
            let s = if name == "oServiceLevel" || name == "oCallbackServiceLevel" {
                StatTruth {
                    count: vals.len() as u64,
                    numerator: vals.iter().sum::<i64>() as f64,
                    denominator: vals.len() as f64,
                    ..StatTruth::default()
                }
            } else if name.starts_with('n') {
                StatTruth {
                    count: vals.len() as u64,
                    ..StatTruth::default()
                }
            } else {
                StatTruth {
                    count: vals.len() as u64,
                    sum_ms: vals.iter().sum(),
                    max_ms: vals.iter().copied().max().unwrap_or(0),
                    min_ms: vals.iter().copied().min().unwrap_or(0),
                    ..StatTruth::default()
                }
            };
            out.insert(name, s);
        }
        groups.insert(key, out);
    }
    AggregateTruth { groups }
}

/// Every observation stamped in [from_ms, to_ms) (and visible at `visible_at_ms`), per group
/// and metric.
pub(crate) fn observations(
    model: &Model,
    from_ms: i64,
    to_ms: i64,
    visible_at_ms: Option<i64>,
    lag: Option<(i64, i64)>,
    direction: Option<&str>,
) -> ViewTruth {
    let now = model.now_ms;
    let mut timers: BTreeMap<(String, String), BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    let records = model.ended.iter().chain(model.active_iter());
    for r in records {
        // The originatingDirection dimension: one voice conversation in five is outbound.
        let outbound = r.outbound();
        let dir = if outbound { "outbound" } else { "inbound" };
        if direction.is_some_and(|d| d != dir) {
            continue;
        }
        let lag = lag_ms(&r.conversation_id, lag);
        let seen = |at: i64| {
            at >= from_ms && at < to_ms && at <= now && visible_at_ms.is_none_or(|v| at + lag <= v)
        };
        let key = (r.queue_id.clone(), r.media_type.clone());
        let mut put = |metric: &str, v: i64| {
            timers
                .entry(key.clone())
                .or_default()
                .entry(metric.to_string())
                .or_default()
                .push(v)
        };
        if seen(r.arrival_ms) {
            put("nOffered", 0);
            if outbound {
                put("nOutbound", 0);
                put("tDialing", r.dialing_ms().unwrap_or_default());
                put("tContacting", r.contacting_ms().unwrap_or_default());
            }
            // The IVR that transferred the conversation to the queue (never on outbound).
            if let Some(ivr) = r.ivr_ms() {
                put("tIvr", ivr);
            }
            if r.callback_scheduled() {
                put("nCallbackScheduled", 0);
            }
        }
        if let Some(a) = r.answer_ms.filter(|&a| seen(a)) {
            let wait = a - r.arrival_ms;
            put("nConnected", 0);
            put("tAnswered", wait);
            put("tAcd", wait);
            put("tWait", wait);
            // oServiceLevel: value 1 = within the threshold (numerator), 0 = not.
            put("oServiceLevel", i64::from(wait <= r.service_level_ms));
            // oCallbackServiceLevel: the same, callbacks only (their threshold is the queue's
            // callback one).
            if r.callback() {
                put(
                    "oCallbackServiceLevel",
                    i64::from(wait <= r.service_level_ms),
                );
            }
            if wait > r.service_level_ms {
                put("nOverSla", 0);
            }
        }
        // With flow-outs, some callers out of patience go to the queue's voicemail: a flow-out
        // (tAcd, tWait, tFlowOut when they leave the queue; tVoicemail when the message ends),
        // not an abandon.
        let voicemail = r.voicemail(model.flow_outs);
        if let Some(ab) = r.abandon_ms.filter(|&ab| seen(ab)) {
            let wait = ab - r.arrival_ms;
            put("tAcd", wait);
            put("tWait", wait);
            if voicemail.is_some() {
                put("tFlowOut", wait);
            } else {
                put("tAbandon", wait);
                if wait < SHORT_ABANDON_MS {
                    put("tShortAbandon", wait);
                } else {
                    put("oServiceLevel", 0);
                    if r.callback() {
                        put("oCallbackServiceLevel", 0);
                    }
                }
            }
        }
        if let Some(vm) = voicemail {
            let end = vm.flow_out_ms + vm.message_ms;
            if seen(end) {
                put("tVoicemail", vm.message_ms);
            }
        }
        if let (Some(a), Some(te)) = (r.answer_ms, r.talk_end_ms) {
            if seen(te) {
                let held: i64 = r.holds.iter().map(|h| h.end_ms - h.start_ms).sum();
                put("tTalk", te - a - held);
                if r.transferred {
                    put("nTransferred", 0);
                    // Blind or consult, never both.
                    if r.blind_transferred() {
                        put("nBlindTransferred", 0);
                    } else {
                        put("nConsultTransferred", 0);
                    }
                }
            }
            if let Some(we) = r.acw_end_ms.filter(|&we| seen(we)) {
                put("tAcw", we - te);
                put("tHandle", we - a);
            }
        }
        for h in &r.holds {
            if seen(h.end_ms) && r.removed_ms.is_none_or(|rm| h.end_ms <= rm) {
                put("tHeld", h.end_ms - h.start_ms);
            }
        }
        for o in &r.offers {
            if seen(o.alert_end_ms) {
                put("tAlert", o.alert_end_ms - o.alert_start_ms);
                if !o.answered {
                    put("tNotResponding", o.alert_end_ms - o.alert_start_ms);
                }
            }
        }
        let end = r.acw_end_ms.or(r.abandon_ms).or(r.removed_ms);
        if r.errored() && end.is_some_and(seen) {
            put("nError", 0);
        }
    }
    ViewTruth { groups: timers }
}
