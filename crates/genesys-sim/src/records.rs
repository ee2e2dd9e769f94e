//! Per-conversation event timestamps, from which
//! `POST /api/v2/analytics/conversations/aggregates/query` is answered (stamping rules in
//! `aggregates.rs`: nOffered, tAnswered, tAbandon, tHandle stamped at wrap-up end, tTalk,
//! tHeld, tAcw, tAcd, tWait, nTransferred, nOverSla, tAlert, oServiceLevel, tNotResponding,
//! nBlindTransferred, nConsultTransferred, nOutbound, tDialing, tContacting, nError, tIvr,
//! tFlowOut, tVoicemail, nCallbackScheduled, oCallbackServiceLevel).
//! All times are epoch milliseconds of the simulated business clock.
//!
//! The traits added for the later metrics (direction, dialing and contacting times, the kind
//! of transfer, errors, the IVR, voicemail flow-outs, scheduled callbacks) are fixed hashes of
//! the conversation id, like the aggregates lag: no draw from the model's random stream, so
//! adding them left every earlier number unchanged. Flow-outs to voicemail turn abandons into
//! flow-outs, so they exist only when the org is started with them (`SimConfig::flow_outs`).

use super::rng::{mix, GOLDEN_GAMMA};

/// The longest voicemail message: the only stamp later than the end of its conversation
/// (`tVoicemail`, at the end of the message) is at most this much later.
pub(crate) const MAX_VOICEMAIL_MS: i64 = 90_000;

/// A conversation the queue's in-queue flow sent to the queue's voicemail (a flow-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voicemail {
    /// Left the queue (tFlowOut is stamped here; the message starts).
    pub flow_out_ms: i64,
    /// Time in queue before the flow-out: the tFlowOut value.
    pub waited_ms: i64,
    /// Length of the message, 15-90 s: the tVoicemail value, stamped at its end.
    pub message_ms: i64,
}

/// One offer of the conversation to an agent (the alerting segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub agent_id: String,
    pub alert_start_ms: i64,
    pub alert_end_ms: i64,
    /// false: the agent did not answer before the alerting timeout (went NOT_RESPONDING).
    pub answered: bool,
}

/// A hold inside the talk segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldSpan {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Event timestamps of one ACD conversation through one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub conversation_id: String,
    pub queue_id: String,
    pub division_id: String,
    /// Analytics vocabulary: voice, chat, email, callback, message.
    pub media_type: String,
    /// Entered the queue (nOffered is stamped here).
    pub arrival_ms: i64,
    pub offers: Vec<Offer>,
    pub answer_ms: Option<i64>,
    pub agent_id: Option<String>,
    pub holds: Vec<HoldSpan>,
    /// Customer side ends (talk end, conversation disconnected).
    pub talk_end_ms: Option<i64>,
    /// After-call work ends (tHandle and tAcw are stamped here).
    pub acw_end_ms: Option<i64>,
    pub abandon_ms: Option<i64>,
    /// Disconnected by the simulator because its queue was removed.
    pub removed_ms: Option<i64>,
    pub transferred: bool,
    /// The queue's service level threshold for this media type.
    pub service_level_ms: i64,
}

impl ConversationRecord {
    /// When the conversation is over for good (wrap-up end, abandon or removal).
    #[must_use]
    pub fn ended_ms(&self) -> Option<i64> {
        self.acw_end_ms.or(self.abandon_ms).or(self.removed_ms)
    }

    /// tWait / tAnswered / tAbandon value: time in queue until answer or abandon.
    #[must_use]
    pub fn wait_ms(&self) -> Option<i64> {
        self.answer_ms
            .or(self.abandon_ms)
            .map(|end| end - self.arrival_ms)
    }

    /// tHeld: total hold time.
    #[must_use]
    pub fn held_ms(&self) -> i64 {
        self.holds.iter().map(|h| h.end_ms - h.start_ms).sum()
    }

    /// tTalk: connected time minus hold.
    #[must_use]
    pub fn talk_ms(&self) -> Option<i64> {
        match (self.answer_ms, self.talk_end_ms) {
            (Some(a), Some(e)) => Some(e - a - self.held_ms()),
            _ => None,
        }
    }

    /// tAcw: wrap-up duration.
    #[must_use]
    pub fn acw_ms(&self) -> Option<i64> {
        match (self.talk_end_ms, self.acw_end_ms) {
            (Some(t), Some(a)) => Some(a - t),
            _ => None,
        }
    }

    /// tHandle: talk + hold + wrap-up (stamped at `acw_end_ms`).
    #[must_use]
    pub fn handle_ms(&self) -> Option<i64> {
        match (self.answer_ms, self.acw_end_ms) {
            (Some(a), Some(e)) => Some(e - a),
            _ => None,
        }
    }

    /// tAlert summed over all offers.
    #[must_use]
    pub fn alert_ms(&self) -> i64 {
        self.offers
            .iter()
            .map(|o| o.alert_end_ms - o.alert_start_ms)
            .sum()
    }

    /// nOverSla: answered later than the service level threshold.
    #[must_use]
    pub fn over_sla(&self) -> bool {
        self.answer_ms
            .is_some_and(|a| a - self.arrival_ms > self.service_level_ms)
    }

    /// A fixed draw for one trait of this conversation: a hash of its id and the trait.
    fn draw(&self, salt: u64) -> u64 {
        // FNV-1a, then a SplitMix finalizer per trait.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.conversation_id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        mix(h ^ salt.wrapping_mul(GOLDEN_GAMMA))
    }

    /// One voice conversation in five is outbound: a campaign call placed to the customer,
    /// connected, then routed through the queue like an inbound one. Other media are inbound.
    #[must_use]
    pub fn outbound(&self) -> bool {
        self.media_type == "voice" && self.draw(1) % 100 < 20
    }

    /// The `originatingDirection` dimension: `inbound` or `outbound`.
    #[must_use]
    pub fn originating_direction(&self) -> &'static str {
        if self.outbound() {
            "outbound"
        } else {
            "inbound"
        }
    }

    /// tDialing of an outbound conversation: 1-4 s, ending where contacting starts.
    #[must_use]
    pub fn dialing_ms(&self) -> Option<i64> {
        // A remainder below 4: exact.
        #[allow(clippy::cast_possible_wrap)]
        let s = 1 + (self.draw(2) % 4) as i64;
        self.outbound().then_some(s * 1000)
    }

    /// tContacting of an outbound conversation: 5-24 s of ringing the customer, ending when
    /// the customer answers and the conversation enters the queue (`arrival_ms`).
    #[must_use]
    pub fn contacting_ms(&self) -> Option<i64> {
        // A remainder below 20: exact.
        #[allow(clippy::cast_possible_wrap)]
        let s = 5 + (self.draw(3) % 20) as i64;
        self.outbound().then_some(s * 1000)
    }

    /// nBlindTransferred: three transfers in five are blind.
    #[must_use]
    pub fn blind_transferred(&self) -> bool {
        self.transferred && self.draw(4) % 100 < 60
    }

    /// nConsultTransferred: the transfers that are not blind.
    #[must_use]
    pub fn consult_transferred(&self) -> bool {
        self.transferred && !self.blind_transferred()
    }

    /// nError: about one conversation in 125 ends with an error (stamped when it ends).
    #[must_use]
    pub fn errored(&self) -> bool {
        self.draw(5) % 1000 < 8
    }

    /// tNotResponding: the offers the agent did not answer, as (alert end, alert duration).
    pub fn not_responding(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.offers
            .iter()
            .filter(|o| !o.answered)
            .map(|o| (o.alert_end_ms, o.alert_end_ms - o.alert_start_ms))
    }

    /// tIvr: nine inbound voice conversations in ten pass an IVR flow for 10-60 s that ends
    /// when the flow transfers them to the queue (`arrival_ms`). Outbound campaign calls and
    /// the other media types never do.
    #[must_use]
    pub fn ivr_ms(&self) -> Option<i64> {
        // A remainder below 51: exact.
        #[allow(clippy::cast_possible_wrap)]
        let s = 10 + (self.draw(7) % 51) as i64;
        (self.media_type == "voice" && !self.outbound() && self.draw(6) % 10 < 9)
            .then_some(s * 1000)
    }

    /// tFlowOut and tVoicemail, with flow-outs modelled (`flow_outs`): one in three inbound
    /// voice conversations whose caller ran out of patience after at least 30 s in queue was
    /// offered the queue's voicemail by the in-queue flow and left a 15-90 s message. The
    /// conversation then left the queue neither answered nor abandoned (a flow-out, at the
    /// instant `abandon_ms` holds), so it is not counted in tAbandon. Without flow-outs every
    /// such caller abandons, as the model always had it.
    #[must_use]
    pub fn voicemail(&self, flow_outs: bool) -> Option<Voicemail> {
        let at = self.abandon_ms?;
        let waited = at - self.arrival_ms;
        let chosen = flow_outs
            && self.media_type == "voice"
            && !self.outbound()
            && waited >= 30_000
            && self.draw(8) % 3 == 0;
        // A remainder below 76: exact.
        #[allow(clippy::cast_possible_wrap)]
        let s = 15 + (self.draw(9) % 76) as i64;
        chosen.then_some(Voicemail {
            flow_out_ms: at,
            waited_ms: waited,
            message_ms: s * 1000,
        })
    }

    /// A callback conversation: the only ones `oCallbackServiceLevel` counts (by the service
    /// level rule of `oServiceLevel`, with the queue's callback threshold, `service_level_ms`).
    /// No draw: the media type alone decides.
    #[must_use]
    pub fn callback(&self) -> bool {
        self.media_type == "callback"
    }

    /// nCallbackScheduled: one callback in three was scheduled for a time the customer chose
    /// (counted when it enters the queue, `arrival_ms`); the others asked to be called back as
    /// soon as possible. Other media types are never callbacks.
    #[must_use]
    pub fn callback_scheduled(&self) -> bool {
        self.callback() && self.draw(10) % 3 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: usize, media: &str, abandon_after_s: Option<i64>) -> ConversationRecord {
        ConversationRecord {
            conversation_id: format!("conv-{id}"),
            queue_id: "q".into(),
            division_id: "d".into(),
            media_type: media.into(),
            arrival_ms: 1_000_000,
            offers: Vec::new(),
            answer_ms: None,
            agent_id: None,
            holds: Vec::new(),
            talk_end_ms: None,
            acw_end_ms: None,
            abandon_ms: abandon_after_s.map(|s| 1_000_000 + s * 1000),
            removed_ms: None,
            transferred: false,
            service_level_ms: 20_000,
        }
    }

    #[test]
    fn ivr_only_before_inbound_voice_for_10_to_60_seconds() {
        let mut with = 0;
        for i in 0..2000 {
            let r = record(i, "voice", None);
            if let Some(ms) = r.ivr_ms() {
                assert!(!r.outbound(), "no IVR before an outbound call");
                assert!((10_000..=60_000).contains(&ms) && ms % 1000 == 0, "{ms}");
                with += 1;
            }
            for media in ["chat", "email", "callback", "message"] {
                assert_eq!(record(i, media, None).ivr_ms(), None);
            }
        }
        // Nine in ten of the four in five that are inbound.
        assert!((1300..1580).contains(&with), "{with}");
    }

    #[test]
    fn voicemail_only_with_flow_outs_after_an_inbound_voice_wait_of_30_seconds() {
        let mut left = 0;
        for i in 0..3000 {
            let r = record(i, "voice", Some(45));
            assert_eq!(r.voicemail(false), None, "off: every such caller abandons");
            if let Some(vm) = r.voicemail(true) {
                assert!(!r.outbound());
                assert_eq!(vm.flow_out_ms, r.abandon_ms.unwrap());
                assert_eq!(vm.waited_ms, 45_000);
                assert!((15_000..=MAX_VOICEMAIL_MS).contains(&vm.message_ms));
                left += 1;
            }
            // Too short a wait, answered, or not voice: never.
            assert_eq!(record(i, "voice", Some(29)).voicemail(true), None);
            assert_eq!(record(i, "voice", None).voicemail(true), None);
            assert_eq!(record(i, "chat", Some(45)).voicemail(true), None);
        }
        // One in three of the inbound four in five.
        assert!((650..950).contains(&left), "{left}");
    }

    #[test]
    fn only_callbacks_are_scheduled_one_in_three() {
        let n = (0..3000)
            .filter(|&i| record(i, "callback", None).callback_scheduled())
            .count();
        assert!((850..1150).contains(&n), "{n}");
        for media in ["voice", "chat", "email", "message"] {
            assert!((0..300).all(|i| !record(i, media, None).callback_scheduled()));
        }
    }
}
