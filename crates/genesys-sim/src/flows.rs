//! Conversations in Architect flows now: the `oFlow` counts that
//! `POST /api/v2/analytics/flows/activity/query` reports and `Truth::flows` holds, both from
//! [`in_flows`] at the model's instant.
//!
//! Which conversations `oFlow` counts is inferred: the API documents the metric ("the number
//! of conversations in a flow") but not which flows a conversation is in at a given moment.
//! The simulated org models five flow types (the official `AnalyticsFlow.flowType` values):
//!
//! * `INQUEUECALL`, `INQUEUEEMAIL`, `INQUEUESHORTMESSAGE`: every conversation waiting in a
//!   queue (not alerting, not interacting) runs that queue's in-queue flow for its media type
//!   (voice, email, message). Chat and callback waiters run none.
//! * `VOICEMAIL` (only with `SimConfig::flow_outs`): a voice conversation that flowed out to
//!   the queue's voicemail (`ConversationRecord::voicemail`) while its message is being
//!   recorded, from the flow-out for the length of the message: `[flow_out_ms,
//!   flow_out_ms + message_ms)`.
//! * `INBOUNDCALL`: the IVR's self-service callers, who are served by the IVR and hang up
//!   without reaching a queue. They are a process of their own ([`self_service`]), a pure
//!   function of the org seed, the number of live voice queues, the demand curve and the
//!   instant: no draw from the model's random stream, so the traffic, the records and every
//!   other number of a seed are the same as without them, and the count does not depend on
//!   when (or how often) it is asked for.
//!
//! A simplification: callers who do reach a queue also passed the IVR first (`tIvr`,
//! `ConversationRecord::ivr_ms`), but the model creates them when they reach the queue and
//! stamps their IVR time then, so they are never in `INBOUNDCALL` here; only the self-service
//! callers are.
//!
//! Media types: `INBOUNDCALL`, `INQUEUECALL` and `VOICEMAIL` are voice, `INQUEUEEMAIL` email,
//! `INQUEUESHORTMESSAGE` message (the analytics vocabulary).

use std::collections::BTreeMap;

use super::media::Media;
use super::model::{Demand, Model};
use super::records::MAX_VOICEMAIL_MS;
use super::rng::{mix, SimRng};

/// A flow type the simulated org models, in the order of the official enum (so results and
/// `Truth::flows` list them alphabetically).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FlowType {
    InboundCall,
    InQueueCall,
    InQueueEmail,
    InQueueShortMessage,
    Voicemail,
}

impl FlowType {
    pub(crate) const ALL: [FlowType; 5] = [
        FlowType::InboundCall,
        FlowType::InQueueCall,
        FlowType::InQueueEmail,
        FlowType::InQueueShortMessage,
        FlowType::Voicemail,
    ];

    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// The official `flowType` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FlowType::InboundCall => "INBOUNDCALL",
            FlowType::InQueueCall => "INQUEUECALL",
            FlowType::InQueueEmail => "INQUEUEEMAIL",
            FlowType::InQueueShortMessage => "INQUEUESHORTMESSAGE",
            FlowType::Voicemail => "VOICEMAIL",
        }
    }

    /// The media type of the conversations in this flow type.
    pub(crate) fn media(self) -> Media {
        match self {
            FlowType::InboundCall | FlowType::InQueueCall | FlowType::Voicemail => Media::Voice,
            FlowType::InQueueEmail => Media::Email,
            FlowType::InQueueShortMessage => Media::Message,
        }
    }

    /// The in-queue flow a conversation of `media` waiting in a queue runs, if any.
    fn in_queue(media: Media) -> Option<FlowType> {
        match media {
            Media::Voice => Some(FlowType::InQueueCall),
            Media::Email => Some(FlowType::InQueueEmail),
            Media::Message => Some(FlowType::InQueueShortMessage),
            Media::Chat | Media::Callback => None,
        }
    }
}

/// Conversations in each flow type now (indexed by `FlowType::idx`), org-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FlowCounts(pub(crate) [u64; FlowType::ALL.len()]);

impl FlowCounts {
    pub(crate) fn get(&self, f: FlowType) -> u64 {
        self.0[f.idx()]
    }

    /// `Truth::flows`: official flow type value -> count, every modelled type (0 included).
    pub(crate) fn by_name(&self) -> BTreeMap<String, u64> {
        FlowType::ALL
            .iter()
            .map(|f| (f.name().to_string(), self.get(*f)))
            .collect()
    }
}

/// What the endpoint and the truth report: the conversations in flows at `model.now_ms`.
pub(crate) fn in_flows(model: &Model) -> FlowCounts {
    let mut c = FlowCounts::default();
    let mut voice_queues = 0;
    for &qi in &model.sorted {
        let q = &model.queues[qi];
        if q.media.contains(&Media::Voice) {
            voice_queues += 1;
        }
        let waiting = model.waiting_now(qi);
        for m in &q.media {
            if let Some(f) = FlowType::in_queue(*m) {
                c.0[f.idx()] += waiting[m.idx()];
            }
        }
    }
    c.0[FlowType::Voicemail.idx()] = recording_voicemails(model);
    c.0[FlowType::InboundCall.idx()] =
        self_service(model.seed, voice_queues, model.now_ms, model.demand);
    c
}

/// Voicemail messages being recorded at `model.now_ms` (0 without flow-outs).
fn recording_voicemails(model: &Model) -> u64 {
    if !model.flow_outs {
        return 0;
    }
    let now = model.now_ms;
    // A message lasts at most MAX_VOICEMAIL_MS and starts at the flow-out, which is recorded
    // at or after it: every message still running was recorded since then.
    let n = model
        .ended_since_all(now - MAX_VOICEMAIL_MS)
        .filter_map(|r| r.voicemail(true))
        .filter(|v| v.flow_out_ms <= now && now < v.flow_out_ms + v.message_ms)
        .count();
    n as u64
}

/// Salt of the self-service callers' streams ("selfserv").
const SELF_SERVICE_SALT: u64 = 0x7365_6C66_7365_7276;
/// Self-service arrivals per second per live voice queue at demand 1.0 (weekday peak). With a
/// mean stay of 70 s, a 10-queue demo (8 or 9 voice queues) has about 17-19 callers in the
/// IVR at peak and well under one at night.
const SELF_SERVICE_PER_QUEUE_PER_S: f64 = 0.03;
/// A self-service caller stays 20-120 s.
const SELF_SERVICE_MIN_S: i64 = 20;
const SELF_SERVICE_MAX_S: i64 = 120;
/// Poisson draws above this mean are split into sums of draws (Knuth's method loses
/// precision for large means); a sum of Poisson counts is a Poisson count.
const MAX_POISSON_MEAN: f64 = 30.0;

/// The IVR's self-service callers at `now_ms`: for each whole second `s` of the last 120 s
/// (epoch seconds, `s * 1000 <= now_ms`), a Poisson number of arrivals with mean
/// `0.03 × voice_queues × demand(s)`, each staying a uniform 20-120 s; counted while
/// `s * 1000 + stay > now_ms`. The draws of second `s` come from a stream of their own,
/// seeded with `mix(mix(seed ^ SALT) ^ s)`: the same second gives the same callers whenever
/// it is looked at.
pub(crate) fn self_service(seed: u64, voice_queues: usize, now_ms: i64, demand: Demand) -> u64 {
    if voice_queues == 0 {
        return 0;
    }
    let base = mix(seed ^ SELF_SERVICE_SALT);
    let now_s = now_ms.div_euclid(1000);
    let rate = SELF_SERVICE_PER_QUEUE_PER_S * voice_queues as f64;
    let mut n = 0;
    for s in now_s - (SELF_SERVICE_MAX_S - 1)..=now_s {
        let at_ms = s * 1000;
        let mut rng = SimRng::new(mix(base ^ u64::from_le_bytes(s.to_le_bytes())));
        let mut mean = rate * demand.at(at_ms);
        let mut arrivals = 0;
        while mean > 0.0 {
            arrivals += rng.poisson(mean.min(MAX_POISSON_MEAN));
            mean -= MAX_POISSON_MEAN;
        }
        for _ in 0..arrivals {
            let stay_ms = rng.range(SELF_SERVICE_MIN_S, SELF_SERVICE_MAX_S) * 1000;
            if at_ms + stay_ms > now_ms {
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tuesday 2026-03-10 at `h:m` UTC, epoch ms.
    fn tuesday(h: i64, m: i64) -> i64 {
        1_773_100_800_000 + (h * 60 + m) * 60_000
    }

    #[test]
    fn self_service_depends_only_on_the_seed_the_queues_and_the_instant() {
        let t = tuesday(10, 30);
        assert_eq!(
            self_service(1, 9, t, Demand::Daily),
            self_service(1, 9, t, Demand::Daily)
        );
        assert_eq!(self_service(1, 0, t, Demand::Daily), 0);
        let seeds: std::collections::BTreeSet<u64> = (1..20)
            .map(|seed| self_service(seed, 9, t, Demand::Daily))
            .collect();
        assert!(seeds.len() > 3, "orgs differ: {seeds:?}");
    }

    #[test]
    fn self_service_is_a_handful_to_a_few_dozen_at_peak_for_ten_queues_and_few_at_night() {
        let peak: Vec<u64> = (0..60)
            .map(|i| self_service(1, 9, tuesday(10, 0) + i * 17_000, Demand::Daily))
            .collect();
        let mean = peak.iter().sum::<u64>() as f64 / peak.len() as f64;
        assert!((12.0..=26.0).contains(&mean), "peak mean {mean}: {peak:?}");
        assert!(peak.iter().all(|&n| (3..=45).contains(&n)), "{peak:?}");
        let night: u64 = (0..60)
            .map(|i| self_service(1, 9, tuesday(2, 0) + i * 17_000, Demand::Daily))
            .sum();
        assert!(night < 60, "night total over 60 instants {night}");
    }

    #[test]
    fn the_self_service_count_moves_by_arrivals_and_departures_not_by_fresh_draws() {
        // Step second by second: the count changes only by arrivals and departures, so
        // consecutive instants share most callers (no fresh draw per look).
        let t0 = tuesday(10, 30);
        let counts: Vec<i64> = (0..300)
            .map(|i| i64::try_from(self_service(7, 9, t0 + i * 1000, Demand::Daily)).unwrap_or(0))
            .collect();
        let max_step = counts
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .max()
            .unwrap_or(0);
        assert!(max_step <= 8, "steps too big: {counts:?}");
        // Within a second the count does not move.
        assert_eq!(
            self_service(7, 9, t0, Demand::Daily),
            self_service(7, 9, t0 + 999, Demand::Daily)
        );
    }

    #[test]
    fn large_orgs_draw_poisson_counts_in_pieces() {
        // 5,000 voice queues: 150 arrivals a second at peak, about 10,500 in the IVR.
        let n = self_service(1, 5000, tuesday(10, 0), Demand::Daily);
        assert!((9_000..12_000).contains(&n), "{n}");
    }

    #[test]
    fn flow_types_are_in_the_official_order_with_their_media() {
        let names: Vec<&str> = FlowType::ALL.iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(FlowType::InQueueShortMessage.media(), Media::Message);
        assert_eq!(FlowType::Voicemail.media(), Media::Voice);
        assert_eq!(FlowType::in_queue(Media::Chat), None);
        assert_eq!(FlowType::in_queue(Media::Callback), None);
    }
}
