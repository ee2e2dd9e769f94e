//! `POST /api/v2/analytics/conversations/aggregates/query`, answered from the conversation
//! records of the traffic model.
//!
//! Every metric is stamped at one instant (when it completes) and lands in the bucket holding
//! that instant; it becomes visible to the API only `lag` later, where the lag is fixed per
//! conversation (see [`lag_ms`]). Stamping rules, per conversation record:
//! * `nOffered` at arrival; `nConnected`, `tAnswered` (arrival -> answer) and `nOverSla`
//!   (that wait > the service level threshold) at answer;
//! * `tAbandon` (arrival -> abandon) at abandon, `tShortAbandon` too when that wait < 10 s;
//! * `tAcd` and `tWait` (arrival -> answer or abandon) at answer or abandon;
//! * `tTalk` (answer -> talk end minus holds) and `nTransferred` at talk end;
//! * `tHeld` once per hold span at its end; `tAlert` once per offer at its end;
//! * `tAcw` (talk end -> wrap-up end) and `tHandle` (answer -> wrap-up end) at wrap-up end;
//! * `oServiceLevel`: numerator += 1 at answer when wait <= threshold; denominator += 1 at
//!   answer and at every abandon that is not short;
//! * `tNotResponding` once per offer the agent did not answer, at its end (its alert time);
//! * `nBlindTransferred` or `nConsultTransferred` with `nTransferred`, at talk end;
//! * for an outbound conversation, `nOutbound`, `tDialing` and `tContacting` at arrival (the
//!   customer answered; dialing and contacting lie just before it);
//! * `nError` when an errored conversation ends (wrap-up end, abandon or removal);
//! * `tIvr` (the IVR flow before the queue: 10-60 s, nine inbound voice conversations in ten)
//!   at arrival, when the flow transferred the conversation to the queue. Source: the
//!   metric's name and `AnalyticsSession.flow` ("IVR flow execution associated with this
//!   session", OpenAPI); which queue gets it is inferred: the one the IVR transferred to;
//! * `tFlowOut` (time in queue) when the conversation leaves the queue neither answered nor
//!   abandoned, with `SimConfig::flow_outs` only: then one in three inbound voice callers out
//!   of patience after 30 s or more is sent to the queue's voicemail instead of abandoning,
//!   and has no `tAbandon`, no `tShortAbandon`, no service level denominator (`tAcd` and
//!   `tWait` as before). Source: help.mypurecloud.com FAQ "Why does the Offered metric not
//!   always equal the Answered plus Abandoned metrics?" (offered = answered + abandoned +
//!   flow-outs, which include transfers to voicemail) and `AnalyticsSession.flowOutType`
//!   ("Type of flow out that occurred when emitting tFlowOut");
//! * `tVoicemail` (the message, 15-90 s) at its end, for those flow-outs: at most
//!   `records::MAX_VOICEMAIL_MS` after the conversation's end, and like every stamp not
//!   before the model's clock gets there. Source: the metric's name and the `voicemail`
//!   purpose and segment type (OpenAPI); the queue, whose voicemail it is, is inferred;
//! * `nCallbackScheduled` at arrival, for one callback in three (a time the customer chose).
//!   Source: the metric's name and `AnalyticsSession.callbackScheduledTime` ("Scheduled
//!   callback date/time", OpenAPI); the instant (creation, not the scheduled time) is
//!   inferred;
//! * `oCallbackServiceLevel`, for callback conversations only: the rule of `oServiceLevel`
//!   applied to them, with the queue's callback service level threshold (a record's
//!   `service_level_ms` is its media type's): numerator += 1 at answer when wait <=
//!   threshold; denominator += 1 at answer and at every abandon that is not short (callbacks
//!   never abandon in this model); `target` the callback media's service level percentage.
//!   Nothing else reports it (0 elsewhere, left out like every zero), and `oServiceLevel`
//!   keeps counting callbacks as before, so on a callback group the two are equal. Source:
//!   only the name and its place in the official enum of
//!   `ConversationAggregationQuery.metrics` (OpenAPI; added in Platform API version 10398
//!   with `nCfcOffered` and `tCfc*`, say the Genesys SDKs' release notes); no definition was
//!   found in the Genesys Cloud Resource Center or the Developer Center. The reading is
//!   inferred: Genesys' service level (Resource Center, "Configure the service level
//!   calculation": answered within the target / answered + abandoned, short abandons
//!   excluded by default), whose target each queue sets per media type, callback included
//!   (Resource Center, performance views, "Service Level %"), and the `o` prefix and
//!   numerator/denominator shape it shares with `oServiceLevel`.
//!
//! Grouped by `originatingDirection` too, each group splits into `inbound` and `outbound`
//! (no IVR and no voicemail on outbound conversations).
//!
//! Nothing is stamped later than the model's current instant (a hold planned to end in the
//! future, or cut short by a queue removal, or a voicemail still being left, has not been
//! stamped yet).
//!
//! Views (`views[]`, `ConversationAggregationView`; REFERENCE 2.1, DEV "aggregate views"): at
//! most [`MAX_VIEWS`] per query, `function` `rangeBound` only, `target` one of the timers the
//! simulator models (every modeled `t*` metric: tAnswered, tAbandon, tHandle, ...), `name`
//! non-empty and unique in the query, `range.gte` < `range.lt` when both are given (either,
//! or the whole range, may be absent: an open side). Anything else is a 400 `ErrorBody`. A
//! view counts, per interval and group, the observations of its target (the very values the
//! metric's count and sum are made of, stamped and lagged the same way) with
//! `gte <= value_ms < lt`, and is answered as `views: [{name, stats: {count}}]` in request
//! order. The view's target need not be among the query's metrics.
//!
//! Empty views (not documented by Genesys; the simulator's choice): an interval is answered
//! when it has a metric or a view with a non-zero count, and then lists every view, those
//! with no observation as `count: 0`. With `Faults::set_omit_empty_views` those are left out
//! instead (and the `views` key too when none is left). A query without views answers no
//! `views` key at all. An interval answered for its views only (the target is not among the
//! query's metrics, or none of them was stamped there) has `metrics: []`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::api::*;
use super::error::{check_enum, ApiError, ListAllowed};
use super::faults::{Faults, Refusal};
use super::filter::Filter;
use super::media::Media;
use super::model::Model;
use super::records::{ConversationRecord, MAX_VOICEMAIL_MS};
use super::rng::{mix, GOLDEN_GAMMA};

/// Abandons shorter than this are short abandons (`tShortAbandon`).
pub(crate) const SHORT_ABANDON_MS: i64 = 10_000;
const MAX_PREDICATES: usize = 100;
/// "You are currently limited to 10 views in a single API call" (DEV, aggregate views).
pub(crate) const MAX_VIEWS: usize = 10;
const MAX_INTERVAL_MS: i64 = 31 * 86_400_000;
/// Default lag model: most conversations 0-180 s, 5% up to 20 minutes.
const LAG_MS: i64 = 180_000;
const LONG_LAG_MS: i64 = 1_200_000;

pub(crate) const AGGREGATE_GROUP_BY: [&str; 83] = [
    "activeRouting",
    "activeSkillId",
    "addressFrom",
    "addressTo",
    "agentAssistantId",
    "agentBullseyeRing",
    "agentOwned",
    "agentRank",
    "agentScore",
    "ani",
    "assignerId",
    "authenticated",
    "conversationId",
    "conversationInitiator",
    "convertedFrom",
    "convertedTo",
    "customerParticipation",
    "deliveryStatus",
    "destinationAddress",
    "direction",
    "disconnectType",
    "divisionId",
    "dnis",
    "edgeId",
    "eligibleAgentCount",
    "errorCode",
    "extendedDeliveryStatus",
    "externalContactId",
    "externalMediaCount",
    "externalOrganizationId",
    "externalTag",
    "firstQueue",
    "flaggedReason",
    "flowInType",
    "flowOutType",
    "groupId",
    "interactionType",
    "journeyActionId",
    "journeyActionMapId",
    "journeyActionMapVersion",
    "journeyCustomerId",
    "journeyCustomerIdType",
    "journeyCustomerSessionId",
    "journeyCustomerSessionIdType",
    "knowledgeBaseId",
    "mediaCount",
    "mediaType",
    "messageType",
    "originatingDirection",
    "originatingSocialMediaPublic",
    "outboundCampaignId",
    "outboundContactId",
    "outboundContactListId",
    "participantName",
    "peerId",
    "proposedAgentId",
    "provider",
    "purpose",
    "queueId",
    "remote",
    "removedSkillId",
    "requestedLanguageId",
    "requestedRouting",
    "requestedRoutingSkillId",
    "roomId",
    "routingPriority",
    "routingRing",
    "routingRule",
    "routingRuleType",
    "scoredAgentId",
    "selectedAgentId",
    "selectedAgentRank",
    "selfServed",
    "sessionDnis",
    "sessionId",
    "skillExpressionId",
    "stationId",
    "teamId",
    "usedRouting",
    "userId",
    "videoPresent",
    "waitingInteractionCount",
    "wrapUpCode",
];
pub(crate) const AGGREGATE_METRICS: [&str; 80] = [
    "nBlindTransferred",
    "nBotInteractions",
    "nCallbackAttempts",
    "nCallbackOverSla",
    "nCallbackScheduled",
    "nCfcOffered",
    "nCobrowseSessions",
    "nConnected",
    "nConsult",
    "nConsultTransferred",
    "nConversations",
    "nError",
    "nOffered",
    "nOutbound",
    "nOutboundAbandoned",
    "nOutboundAttempted",
    "nOutboundConnected",
    "nOverSla",
    "nStateTransitionError",
    "nTakeover",
    "nTransferred",
    "oAudioMessageCount",
    "oCallbackServiceLevel",
    "oExternalAudioMessageCount",
    "oExternalMediaCount",
    "oMediaCount",
    "oMessageCount",
    "oMessageSegmentCount",
    "oMessageTurn",
    "oServiceLevel",
    "oServiceTarget",
    "oSkillExpressionApplications",
    "tAbandon",
    "tAcd",
    "tActiveCallback",
    "tActiveCallbackComplete",
    "tAcw",
    "tAgentResponseTime",
    "tAgentVideoConnected",
    "tAlert",
    "tAnswered",
    "tAverageAgentResponseTime",
    "tAverageCustomerResponseTime",
    "tBarging",
    "tCallbackAbandon",
    "tCallbackConnect",
    "tCallbackNotReached",
    "tCallbackVirtualWait",
    "tCfcAbandon",
    "tCfcAcd",
    "tCfcAnswered",
    "tCfcFlowOut",
    "tCoaching",
    "tCoachingComplete",
    "tConnected",
    "tContacting",
    "tDialing",
    "tFirstConnect",
    "tFirstDial",
    "tFirstEngagement",
    "tFirstResponse",
    "tFlowOut",
    "tHandle",
    "tHeld",
    "tHeldComplete",
    "tIvr",
    "tMonitoring",
    "tMonitoringComplete",
    "tNotResponding",
    "tPark",
    "tParkComplete",
    "tScreenMonitoring",
    "tShortAbandon",
    "tSnippetRecord",
    "tTalk",
    "tTalkComplete",
    "tTransmitting",
    "tUserResponseTime",
    "tVoicemail",
    "tWait",
];
/// Filter predicate dimensions: every groupBy dimension, plus one that can only filter.
static AGGREGATE_DIMS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut dims = AGGREGATE_GROUP_BY.to_vec();
    dims.push("canonicalExternalContactId");
    dims.sort_unstable();
    dims
});

/// What the simulator models, in the order it reports them when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Stamp {
    NOffered,
    NConnected,
    NOverSla,
    NTransferred,
    TAnswered,
    TAbandon,
    TShortAbandon,
    TAcd,
    TWait,
    TTalk,
    THeld,
    TAcw,
    THandle,
    TAlert,
    SlNumerator,
    SlDenominator,
    TNotResponding,
    NBlindTransferred,
    NConsultTransferred,
    NOutbound,
    TDialing,
    TContacting,
    NError,
    TIvr,
    TFlowOut,
    TVoicemail,
    NCallbackScheduled,
    CbSlNumerator,
    CbSlDenominator,
}

const N_STAMPS: usize = 29;

impl Stamp {
    fn metric(name: &str) -> Option<Vec<Stamp>> {
        Some(match name {
            "nOffered" => vec![Stamp::NOffered],
            "nConnected" => vec![Stamp::NConnected],
            "nOverSla" => vec![Stamp::NOverSla],
            "nTransferred" => vec![Stamp::NTransferred],
            "tAnswered" => vec![Stamp::TAnswered],
            "tAbandon" => vec![Stamp::TAbandon],
            "tShortAbandon" => vec![Stamp::TShortAbandon],
            "tAcd" => vec![Stamp::TAcd],
            "tWait" => vec![Stamp::TWait],
            "tTalk" => vec![Stamp::TTalk],
            "tHeld" => vec![Stamp::THeld],
            "tAcw" => vec![Stamp::TAcw],
            "tHandle" => vec![Stamp::THandle],
            "tAlert" => vec![Stamp::TAlert],
            "oServiceLevel" => vec![Stamp::SlNumerator, Stamp::SlDenominator],
            "tNotResponding" => vec![Stamp::TNotResponding],
            "nBlindTransferred" => vec![Stamp::NBlindTransferred],
            "nConsultTransferred" => vec![Stamp::NConsultTransferred],
            "nOutbound" => vec![Stamp::NOutbound],
            "tDialing" => vec![Stamp::TDialing],
            "tContacting" => vec![Stamp::TContacting],
            "nError" => vec![Stamp::NError],
            "tIvr" => vec![Stamp::TIvr],
            "tFlowOut" => vec![Stamp::TFlowOut],
            "tVoicemail" => vec![Stamp::TVoicemail],
            "nCallbackScheduled" => vec![Stamp::NCallbackScheduled],
            "oCallbackServiceLevel" => vec![Stamp::CbSlNumerator, Stamp::CbSlDenominator],
            _ => return None,
        })
    }
}

/// Calls `f(stamp, at_ms, value_ms)` for every metric the record has stamped up to `now_ms`;
/// `flow_outs`: `SimConfig::flow_outs`.
pub(crate) fn for_each_stamp(
    r: &ConversationRecord,
    now_ms: i64,
    flow_outs: bool,
    mut f: impl FnMut(Stamp, i64, i64),
) {
    let mut emit = |s: Stamp, at: i64, v: i64| {
        if at <= now_ms {
            f(s, at, v)
        }
    };
    emit(Stamp::NOffered, r.arrival_ms, 0);
    if r.outbound() {
        emit(Stamp::NOutbound, r.arrival_ms, 0);
    }
    if let Some(d) = r.dialing_ms() {
        emit(Stamp::TDialing, r.arrival_ms, d);
    }
    if let Some(c) = r.contacting_ms() {
        emit(Stamp::TContacting, r.arrival_ms, c);
    }
    if let Some(ivr) = r.ivr_ms() {
        emit(Stamp::TIvr, r.arrival_ms, ivr);
    }
    if r.callback_scheduled() {
        emit(Stamp::NCallbackScheduled, r.arrival_ms, 0);
    }
    if let Some(a) = r.answer_ms {
        let wait = a - r.arrival_ms;
        emit(Stamp::NConnected, a, 0);
        emit(Stamp::TAnswered, a, wait);
        emit(Stamp::TAcd, a, wait);
        emit(Stamp::TWait, a, wait);
        if wait > r.service_level_ms {
            emit(Stamp::NOverSla, a, 0);
        } else {
            emit(Stamp::SlNumerator, a, 0);
            if r.callback() {
                emit(Stamp::CbSlNumerator, a, 0);
            }
        }
        emit(Stamp::SlDenominator, a, 0);
        if r.callback() {
            emit(Stamp::CbSlDenominator, a, 0);
        }
    }
    if let Some(vm) = r.voicemail(flow_outs) {
        // Left the queue for its voicemail: a flow-out, not an abandon.
        emit(Stamp::TAcd, vm.flow_out_ms, vm.waited_ms);
        emit(Stamp::TWait, vm.flow_out_ms, vm.waited_ms);
        emit(Stamp::TFlowOut, vm.flow_out_ms, vm.waited_ms);
        emit(
            Stamp::TVoicemail,
            vm.flow_out_ms + vm.message_ms,
            vm.message_ms,
        );
    } else if let Some(ab) = r.abandon_ms {
        let wait = ab - r.arrival_ms;
        emit(Stamp::TAbandon, ab, wait);
        emit(Stamp::TAcd, ab, wait);
        emit(Stamp::TWait, ab, wait);
        if wait < SHORT_ABANDON_MS {
            emit(Stamp::TShortAbandon, ab, wait);
        } else {
            emit(Stamp::SlDenominator, ab, 0);
            if r.callback() {
                emit(Stamp::CbSlDenominator, ab, 0);
            }
        }
    }
    for o in &r.offers {
        emit(
            Stamp::TAlert,
            o.alert_end_ms,
            o.alert_end_ms - o.alert_start_ms,
        );
    }
    for (at, v) in r.not_responding() {
        emit(Stamp::TNotResponding, at, v);
    }
    let cut = r.removed_ms.unwrap_or(i64::MAX);
    for h in &r.holds {
        if h.end_ms <= cut {
            emit(Stamp::THeld, h.end_ms, h.end_ms - h.start_ms);
        }
    }
    if let (Some(a), Some(te)) = (r.answer_ms, r.talk_end_ms) {
        emit(Stamp::TTalk, te, te - a - r.held_ms());
        if r.transferred {
            emit(Stamp::NTransferred, te, 0);
        }
        if r.blind_transferred() {
            emit(Stamp::NBlindTransferred, te, 0);
        }
        if r.consult_transferred() {
            emit(Stamp::NConsultTransferred, te, 0);
        }
        if let Some(we) = r.acw_end_ms {
            emit(Stamp::TAcw, we, we - te);
            emit(Stamp::THandle, we, we - a);
        }
    }
    if let Some(end) = r.ended_ms().filter(|_| r.errored()) {
        emit(Stamp::NError, end, 0);
    }
}

/// How long after its stamps a conversation's metrics become visible (ms). Fixed per
/// conversation: a hash of its id (itself drawn from the seed). `over`: the test override
/// (min, max) in ms; `None` = 0-180 s for 95% of conversations, 180 s-20 min for the rest.
pub(crate) fn lag_ms(conversation_id: &str, over: Option<(i64, i64)>) -> i64 {
    // FNV-1a, then a SplitMix finalizer.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in conversation_id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let h1 = mix(h);
    let h2 = mix(h1 ^ GOLDEN_GAMMA);
    let within = |lo: i64, hi: i64| {
        if hi <= lo {
            lo
        } else {
            // lo + (h2 mod the span); the offset is at most hi - lo, so the sum never saturates.
            lo.saturating_add_unsigned(h2 % (hi.abs_diff(lo) + 1))
        }
    };
    match over {
        Some((lo, hi)) => within(lo.max(0), hi.max(lo.max(0))),
        None if h1 % 100 < 5 => within(LAG_MS + 1, LONG_LAG_MS),
        None => within(0, LAG_MS),
    }
}

/// The override of `Faults::set_aggregate_lag` in ms.
pub(crate) fn lag_override(
    lag: Option<(std::time::Duration, std::time::Duration)>,
) -> Option<(i64, i64)> {
    // Saturates only past i64::MAX ms (292 million years); exact below.
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    lag.map(|(a, b)| (ms(a), ms(b)))
}

// ---------- request ----------

/// A validated aggregates query.
pub(crate) struct AggregateQuery {
    from_ms: i64,
    to_ms: i64,
    granularity_ms: i64,
    by_queue: bool,
    by_direction: bool,
    filter: Option<Filter>,
    /// Requested metric names the simulator models, in request order, deduplicated.
    metrics: Vec<String>,
    /// Requested views, in request order.
    views: Vec<View>,
}

/// A validated `rangeBound` view.
struct View {
    name: String,
    stamp: Stamp,
    gte: Option<f64>,
    lt: Option<f64>,
}

impl View {
    // Timer values are whole ms far below 2^53: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    fn holds(&self, value_ms: i64) -> bool {
        let v = value_ms as f64;
        self.gte.is_none_or(|g| g <= v) && self.lt.is_none_or(|l| v < l)
    }
}

/// Whether `name` is a timer the simulator models (a possible view target).
pub(crate) fn models_timer(name: &str) -> bool {
    name.starts_with('t') && Stamp::metric(name).is_some_and(|s| s.len() == 1)
}

fn parse_views(views: Vec<ConversationAggregationView>) -> Result<Vec<View>, ApiError> {
    if views.len() > MAX_VIEWS {
        return Err(ApiError::bad_request(format!(
            "The query has {} views; you are currently limited to {MAX_VIEWS} views in a single API call",
            views.len()
        )));
    }
    let mut out: Vec<View> = Vec::new();
    for (i, v) in views.into_iter().enumerate() {
        let name = v.name.unwrap_or_default();
        if name.trim().is_empty() {
            return Err(ApiError::bad_request(format!(
                "views[{i}].name is required"
            )));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(ApiError::bad_request(format!(
                "views[{i}].name '{name}' is not unique in the query"
            )));
        }
        match v.function.as_deref() {
            Some("rangeBound") => {}
            None => {
                return Err(ApiError::bad_request(format!(
                    "views[{i}].function is required"
                )))
            }
            Some(f) => {
                return Err(ApiError::bad_request(format!(
                    "views[{i}].function '{f}' is not valid; expected rangeBound"
                )))
            }
        }
        let Some(target) = v.target else {
            return Err(ApiError::bad_request(format!(
                "views[{i}].target is required"
            )));
        };
        check_enum(
            std::slice::from_ref(&target),
            &AGGREGATE_METRICS,
            "views.target",
            ListAllowed::No,
        )?;
        if !models_timer(&target) {
            return Err(ApiError::bad_request(format!(
                "views[{i}].target '{target}' is not supported by the simulated org (only the timers it models)"
            )));
        }
        let range = v.range.unwrap_or_default();
        if let (Some(g), Some(l)) = (range.gte, range.lt) {
            if g >= l {
                return Err(ApiError::bad_request(format!(
                    "views[{i}].range is not valid: gte ({g}) must be less than lt ({l})"
                )));
            }
        }
        let stamp = Stamp::metric(&target).map_or(Stamp::TAnswered, |s| s[0]);
        out.push(View {
            name,
            stamp,
            gte: range.gte,
            lt: range.lt,
        });
    }
    Ok(out)
}

fn parse_instant(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    // No zone: UTC (the schema's own example has none).
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// `"<start>/<end>"` -> (start, end) epoch ms.
pub(crate) fn parse_interval(s: &str) -> Result<(i64, i64), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "interval '{s}' is not valid; expected an ISO-8601 interval such as 2026-11-24T10:00:00.000Z/2026-11-24T12:00:00.000Z"
        ))
    };
    let (a, b) = s.split_once('/').ok_or_else(bad)?;
    let from = parse_instant(a.trim()).ok_or_else(bad)?;
    let to = parse_instant(b.trim()).ok_or_else(bad)?;
    if to <= from {
        return Err(ApiError::bad_request(format!(
            "interval '{s}' is not valid: its end must be after its start"
        )));
    }
    Ok((from, to))
}

/// An ISO-8601 duration of weeks, days, hours, minutes and (decimal) seconds, in ms.
/// Years and months have no fixed length and are refused.
pub(crate) fn parse_duration_ms(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut total: i64 = 0;
    let mut parts = 0;
    let mut eat = |text: &str, units: &[(char, i64)]| -> Option<()> {
        let mut num = String::new();
        let mut next_unit = 0;
        for c in text.chars() {
            if c.is_ascii_digit() || (c == '.' && units.iter().any(|u| u.0 == 'S')) {
                num.push(c);
                continue;
            }
            let i = units.iter().position(|u| u.0 == c)?;
            if i < next_unit || num.is_empty() {
                return None;
            }
            next_unit = i + 1;
            let ms = if num.contains('.') {
                if c != 'S' {
                    return None;
                }
                let v: f64 = num.parse().ok()?;
                secs_to_ms(v)
            } else {
                num.parse::<i64>().ok()?.checked_mul(units[i].1)?
            };
            total = total.checked_add(ms)?;
            parts += 1;
            num.clear();
        }
        num.is_empty().then_some(())
    };
    eat(date, &[('W', 604_800_000), ('D', 86_400_000)])?;
    if let Some(t) = time {
        eat(t, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?;
    }
    (parts > 0 && total > 0).then_some(total)
}

/// Decimal seconds (parsed from digits and one '.': never NaN or negative) to whole ms.
// Float-to-int `as` saturates, and that is the clamp wanted: ms beyond i64 (an absurd
// duration, or +inf from a very long number) become i64::MAX; everything else fits exactly.
#[allow(clippy::cast_possible_truncation)]
fn secs_to_ms(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// Whether the simulated org answers `name` (a metric of the aggregates query it models).
pub(crate) fn models_metric(name: &str) -> bool {
    Stamp::metric(name).is_some()
}

/// A query for a metric the org refuses (`Faults::refuse_aggregate_metrics`) is one 400 for
/// the whole query, not an answer without that metric.
pub(crate) fn check_refused(q: &AggregateQuery, faults: &Faults) -> Result<(), ApiError> {
    if !q.views.is_empty() && faults.views_refused() {
        return Err(ApiError::bad_request(
            "The request could not be understood by the server due to malformed syntax.",
        ));
    }
    match faults.refused_metric(&q.metrics) {
        None => Ok(()),
        Some((metric, Refusal::Named)) => Err(ApiError::bad_request(format!(
            "metrics value '{metric}' is not valid for this organization"
        ))),
        Some((_, Refusal::Generic)) => Err(ApiError::bad_request(
            "The request could not be understood by the server due to malformed syntax.",
        )),
    }
}

pub(crate) fn parse_aggregate_query(body: &[u8]) -> Result<AggregateQuery, ApiError> {
    let q: ConversationAggregationQuery = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request could not be understood: {e}")))?;
    let Some(interval) = q.interval.as_deref() else {
        return Err(ApiError::bad_request("interval is required"));
    };
    let (from_ms, to_ms) = parse_interval(interval)?;
    if to_ms - from_ms > MAX_INTERVAL_MS {
        return Err(ApiError::bad_request(format!(
            "interval '{interval}' is longer than the maximum of 31 days"
        )));
    }
    let granularity_ms = match q.granularity.as_deref() {
        None => to_ms - from_ms,
        Some(g) => parse_duration_ms(g).ok_or_else(|| {
            ApiError::bad_request(format!(
                "granularity '{g}' is not valid; expected an ISO-8601 duration such as PT5M, PT1H or P1D (years and months are not supported)"
            ))
        })?,
    };
    if (to_ms - from_ms) % granularity_ms != 0 {
        return Err(ApiError::bad_request(format!(
            "interval '{interval}' is not a whole multiple of the granularity"
        )));
    }
    let metrics = q.metrics.unwrap_or_default();
    if metrics.is_empty() {
        return Err(ApiError::bad_request("metrics is required"));
    }
    check_enum(&metrics, &AGGREGATE_METRICS, "metrics", ListAllowed::No)?;
    let group_by = q.group_by.unwrap_or_default();
    check_enum(&group_by, &AGGREGATE_GROUP_BY, "groupBy", ListAllowed::No)?;
    if let Some(other) = group_by
        .iter()
        .find(|g| !["queueId", "mediaType", "originatingDirection"].contains(&g.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "groupBy '{other}' is not supported by the simulated org (only queueId, mediaType and originatingDirection)"
        )));
    }
    let filter = match &q.filter {
        None => None,
        Some(f) => {
            let n = f.predicates.as_ref().map_or(0, Vec::len)
                + f.clauses
                    .iter()
                    .flatten()
                    .map(|c| c.predicates.as_ref().map_or(0, Vec::len))
                    .sum::<usize>();
            if n > MAX_PREDICATES {
                return Err(ApiError::bad_request(format!(
                    "The filter contains {n} predicates; the maximum is {MAX_PREDICATES}"
                )));
            }
            Some(Filter::parse(f, &AGGREGATE_DIMS)?)
        }
    };
    let views = parse_views(q.views.unwrap_or_default())?;
    let mut wanted: Vec<String> = Vec::new();
    for m in metrics {
        if Stamp::metric(&m).is_some() && !wanted.contains(&m) {
            wanted.push(m);
        }
    }
    Ok(AggregateQuery {
        from_ms,
        to_ms,
        granularity_ms,
        by_queue: group_by.iter().any(|g| g == "queueId"),
        by_direction: group_by.iter().any(|g| g == "originatingDirection"),
        filter,
        metrics: wanted,
        views,
    })
}

// ---------- answer ----------

#[derive(Debug, Clone, Copy)]
struct Acc {
    count: u64,
    sum: i64,
    max: i64,
    min: i64,
}

impl Default for Acc {
    fn default() -> Acc {
        Acc {
            count: 0,
            sum: 0,
            max: i64::MIN,
            min: i64::MAX,
        }
    }
}

impl Acc {
    fn add(&mut self, v: i64) {
        self.count += 1;
        self.sum += v;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
    }
}

fn fmt_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The records the query can see: ended ones recorded at or after its start (less the longest
/// voicemail, whose stamp comes after its conversation's end), and live ones.
fn candidate_records<'a>(
    model: &'a Model,
    from_ms: i64,
    filter: Option<&Filter>,
) -> Vec<&'a ConversationRecord> {
    let from_ms = from_ms.saturating_sub(MAX_VOICEMAIL_MS);
    let bound = filter.and_then(Filter::queue_bound);
    let mut out: Vec<&ConversationRecord> = Vec::new();
    match &bound {
        Some(ids) => {
            let mut qis: Vec<usize> = ids
                .iter()
                .filter_map(|id| model.queue_index_any(id))
                .collect();
            qis.sort_unstable();
            qis.dedup();
            for qi in qis {
                out.extend(model.ended_since(qi, from_ms));
                out.extend(model.active_of(qi));
            }
        }
        None => {
            out.extend(model.ended_since_all(from_ms));
            out.extend(model.active_iter());
        }
    }
    out
}

pub(crate) fn aggregates(
    model: &Model,
    q: &AggregateQuery,
    lag: Option<(i64, i64)>,
    omit_empty_views: bool,
) -> ConversationAggregateQueryResponse {
    let now = model.now_ms;
    // At least 1 (from < to, granularity > 0, checked by `parse_aggregate_query`): exact.
    let buckets = usize::try_from((q.to_ms - q.from_ms) / q.granularity_ms).unwrap_or(usize::MAX);
    let wanted: HashSet<Stamp> = q
        .metrics
        .iter()
        .filter_map(|m| Stamp::metric(m))
        .flatten()
        .chain(q.views.iter().map(|v| v.stamp))
        .collect();
    // (queue id or "", media, direction or "") -> bucket -> per-stamp accumulators and
    // per-view counts.
    type Buckets = BTreeMap<usize, ([Acc; N_STAMPS], Vec<u64>)>;
    let mut groups: BTreeMap<(String, String, &str), Buckets> = BTreeMap::new();
    // Filter verdict per (queue, media): a 100-predicate filter is evaluated once per group.
    let mut matched: HashMap<(&str, &str), bool> = HashMap::new();
    if !wanted.is_empty() && q.from_ms <= now {
        for r in candidate_records(model, q.from_ms, q.filter.as_ref()) {
            if r.arrival_ms >= q.to_ms {
                continue;
            }
            if let Some(f) = &q.filter {
                let ok = *matched
                    .entry((r.queue_id.as_str(), r.media_type.as_str()))
                    .or_insert_with(|| f.matches(&r.queue_id, Some(&r.media_type)));
                if !ok {
                    continue;
                }
            }
            let visible_until = now - lag_ms(&r.conversation_id, lag);
            let key = (
                if q.by_queue {
                    r.queue_id.clone()
                } else {
                    String::new()
                },
                r.media_type.clone(),
                if q.by_direction {
                    r.originating_direction()
                } else {
                    ""
                },
            );
            // Groups left without buckets are dropped when the answer is written.
            let g = groups.entry(key).or_default();
            for_each_stamp(r, visible_until, model.flow_outs, |s, at, v| {
                if at < q.from_ms || at >= q.to_ms || !wanted.contains(&s) {
                    return;
                }
                // Non-negative (at >= from_ms), so exact.
                let b = usize::try_from((at - q.from_ms) / q.granularity_ms).unwrap_or(usize::MAX);
                if b < buckets {
                    let (accs, counts) = g
                        .entry(b)
                        .or_insert_with(|| ([Acc::default(); N_STAMPS], vec![0; q.views.len()]));
                    accs[s as usize].add(v);
                    for (view, n) in q.views.iter().zip(counts.iter_mut()) {
                        if view.stamp == s && view.holds(v) {
                            *n += 1;
                        }
                    }
                }
            });
        }
    }
    let mut results = Vec::new();
    for ((queue_id, media, direction), bs) in groups {
        let target = Media::parse_analytics(&media).map(|m| m.profile().sl_percentage);
        let mut data = Vec::new();
        for (b, (accs, counts)) in bs {
            let mut metrics = Vec::new();
            for name in &q.metrics {
                let Some(stamps) = Stamp::metric(name) else {
                    continue;
                };
                // oServiceLevel and oCallbackServiceLevel: a numerator and a denominator.
                let stats = if let [n, d] = stamps[..] {
                    let num = accs[n as usize].count as f64;
                    let den = accs[d as usize].count as f64;
                    if den == 0.0 {
                        continue;
                    }
                    AggregateStats {
                        ratio: Some(num / den),
                        numerator: Some(num),
                        denominator: Some(den),
                        target,
                        ..AggregateStats::default()
                    }
                } else {
                    let s = stamps[0];
                    let a = accs[s as usize];
                    if a.count == 0 {
                        continue;
                    }
                    if name.starts_with('n') {
                        AggregateStats {
                            count: Some(a.count),
                            ..AggregateStats::default()
                        }
                    } else {
                        AggregateStats {
                            max: Some(a.max),
                            min: Some(a.min),
                            count: Some(a.count),
                            sum: Some(a.sum),
                            ..AggregateStats::default()
                        }
                    }
                };
                metrics.push(AggregateMetricData {
                    metric: name.clone(),
                    stats,
                });
            }
            if metrics.is_empty() && counts.iter().all(|&n| n == 0) {
                continue;
            }
            let views = (!q.views.is_empty()).then(|| {
                q.views
                    .iter()
                    .zip(&counts)
                    .filter(|(_, &n)| n > 0 || !omit_empty_views)
                    .map(|(v, &n)| AggregateViewData {
                        name: v.name.clone(),
                        stats: AggregateStats {
                            count: Some(n),
                            ..AggregateStats::default()
                        },
                    })
                    .collect::<Vec<_>>()
            });
            let views = views.filter(|v| !v.is_empty());
            // b < buckets, and buckets came from an i64: exact.
            let start = q.from_ms + i64::try_from(b).unwrap_or(i64::MAX) * q.granularity_ms;
            data.push(StatisticalResponse {
                interval: format!("{}/{}", fmt_ms(start), fmt_ms(start + q.granularity_ms)),
                metrics,
                views,
            });
        }
        if data.is_empty() {
            continue;
        }
        let mut group = BTreeMap::new();
        if q.by_queue {
            group.insert("queueId".to_string(), queue_id);
        }
        group.insert("mediaType".to_string(), media);
        if q.by_direction {
            group.insert("originatingDirection".to_string(), direction.to_string());
        }
        results.push(ConversationAggregateDataContainer { group, data });
    }
    ConversationAggregateQueryResponse { results }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_a_fixed_hash_of_the_conversation_id() {
        assert_eq!(lag_ms("", None), 868_156);
        assert_eq!(lag_ms("a", None), 25_776);
        assert_eq!(lag_ms("conv-1", None), 33_281);
        assert_eq!(lag_ms("c58", None), 615_705);
        assert_eq!(
            lag_ms("3f2b7c1e-0000-4000-8000-000000000000", None),
            164_879
        );
        assert_eq!(lag_ms("conv-2", Some((1000, 5000))), 3726);
    }

    /// A record of `media` that waited `wait_s` and was answered, or abandoned (`answered`
    /// false), under a 20 s threshold.
    fn record(media: &str, wait_s: i64, answered: bool) -> ConversationRecord {
        let end = 1_000_000 + wait_s * 1000;
        ConversationRecord {
            conversation_id: format!("{media}-{wait_s}-{answered}"),
            queue_id: "q".into(),
            division_id: "d".into(),
            media_type: media.into(),
            arrival_ms: 1_000_000,
            offers: Vec::new(),
            answer_ms: answered.then_some(end),
            agent_id: None,
            holds: Vec::new(),
            talk_end_ms: None,
            acw_end_ms: None,
            abandon_ms: (!answered).then_some(end),
            removed_ms: None,
            transferred: false,
            service_level_ms: 20_000,
        }
    }

    /// (numerator, denominator) of oServiceLevel and of oCallbackServiceLevel.
    fn service_levels(r: &ConversationRecord) -> [(u32, u32); 2] {
        let mut out = [(0, 0); 2];
        for_each_stamp(r, i64::MAX, false, |s, _, _| match s {
            Stamp::SlNumerator => out[0].0 += 1,
            Stamp::SlDenominator => out[0].1 += 1,
            Stamp::CbSlNumerator => out[1].0 += 1,
            Stamp::CbSlDenominator => out[1].1 += 1,
            _ => {}
        });
        out
    }

    fn views_of(views: serde_json::Value) -> Result<Vec<View>, ApiError> {
        parse_views(serde_json::from_value(views).unwrap())
    }

    #[test]
    fn a_view_counts_gte_inclusive_lt_exclusive_open_sides_open() {
        let vs = views_of(serde_json::json!([
            {"target": "tAnswered", "function": "rangeBound", "name": "a", "range": {"gte": 5000, "lt": 10000}},
            {"target": "tHandle", "function": "rangeBound", "name": "b", "range": {"lt": 10000}},
            {"target": "tAbandon", "function": "rangeBound", "name": "c", "range": {"gte": 4999.5}},
            {"target": "tAbandon", "function": "rangeBound", "name": "d"},
        ]))
        .unwrap();
        assert_eq!(vs[0].stamp, Stamp::TAnswered);
        assert_eq!(vs[1].stamp, Stamp::THandle);
        let holds = |v: &View| [4999, 5000, 9999, 10000].map(|x| v.holds(x));
        assert_eq!(holds(&vs[0]), [false, true, true, false]);
        assert_eq!(holds(&vs[1]), [true, true, true, false]);
        assert_eq!(holds(&vs[2]), [false, true, true, true]);
        assert_eq!(holds(&vs[3]), [true; 4]);
    }

    #[test]
    fn view_limits() {
        let v = |name: &str| serde_json::json!({"target": "tAnswered", "function": "rangeBound", "name": name});
        let ten: Vec<_> = (0..10).map(|i| v(&format!("v{i}"))).collect();
        assert_eq!(views_of(serde_json::json!(ten)).unwrap().len(), 10);
        let eleven: Vec<_> = (0..11).map(|i| v(&format!("v{i}"))).collect();
        assert!(views_of(serde_json::json!(eleven)).is_err());
        assert!(views_of(serde_json::json!([v("a"), v("a")])).is_err());
        assert!(views_of(serde_json::json!([v(" ")])).is_err());
        for t in ["nOffered", "oServiceLevel", "tCfcAcd", "tBogus"] {
            let bad = serde_json::json!([{"target": t, "function": "rangeBound", "name": "a"}]);
            assert!(views_of(bad).is_err(), "{t}");
        }
        let bad = serde_json::json!([{"target": "tAnswered", "function": "rangeBound", "name": "a", "range": {"gte": 2, "lt": 2}}]);
        assert!(views_of(bad).is_err());
        for t in [
            "tAnswered",
            "tAbandon",
            "tHandle",
            "tTalk",
            "tAcd",
            "tWait",
            "tVoicemail",
        ] {
            assert!(models_timer(t), "{t}");
        }
    }

    #[test]
    fn callback_service_level_is_the_service_level_of_callbacks_only() {
        for (wait_s, answered, want) in [
            (5, true, (1, 1)),
            (20, true, (1, 1)),
            (21, true, (0, 1)),
            (5, false, (0, 0)),
            (15, false, (0, 1)),
        ] {
            let cb = service_levels(&record("callback", wait_s, answered));
            assert_eq!(cb, [want, want], "callback {wait_s} s, answered {answered}");
            for media in ["voice", "chat", "email", "message"] {
                let other = service_levels(&record(media, wait_s, answered));
                assert_eq!(other, [want, (0, 0)], "{media} {wait_s} s");
            }
        }
        assert_eq!(
            Stamp::metric("oCallbackServiceLevel"),
            Some(vec![Stamp::CbSlNumerator, Stamp::CbSlDenominator])
        );
    }
}
