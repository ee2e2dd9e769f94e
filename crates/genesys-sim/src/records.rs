//! Per-conversation event timestamps, from which
//! `POST /api/v2/analytics/conversations/aggregates/query` is answered (stamping rules in
//! `aggregates.rs`: nOffered, tAnswered, tAbandon, tHandle stamped at wrap-up end, tTalk,
//! tHeld, tAcw, tAcd, tWait, nTransferred, nOverSla, tAlert, oServiceLevel, tNotResponding,
//! nBlindTransferred, nConsultTransferred, nOutbound, tDialing, tContacting, nError).
//! All times are epoch milliseconds of the simulated business clock.
//!
//! The traits added for the later metrics (direction, dialing and contacting times, the kind
//! of transfer, errors) are fixed hashes of the conversation id, like the aggregates lag: no
//! draw from the model's random stream, so adding them left every earlier number unchanged.

use super::rng::{mix, GOLDEN_GAMMA};

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
}
