//! `POST /api/v2/analytics/conversations/details/query` (REFERENCE 2.4): the conversations of
//! the traffic model, one `AnalyticsConversationWithoutAttributes` each, with the voice quality
//! of every ended voice conversation (`mediaStatsMinConversationMos`).
//!
//! What the simulated org does, and where it chooses what Genesys does not document:
//! * **Interval**: "filters on the conversation start timestamp … conversations are stored in
//!   daily indexes based on their start timestamp": a conversation is a candidate when its start
//!   lies on a UTC day the interval touches (the whole day, not just the interval's part of it;
//!   which time zone the daily indexes use is not documented, UTC is the simulator's choice).
//!   At most 7 days without a filter, 31 with one (DEV, detail query).
//! * **Details lag**: an ended conversation is answered as ended (with `conversationEnd` and its
//!   MOS) only [`details_lag_ms`] after its end; until then it is answered as still active (no
//!   end, no MOS). Default: 0-60 s for nine conversations in ten, 1-6 min for the rest;
//!   `Faults::set_details_lag` overrides it.
//! * **Voice quality**: every ended voice conversation has a minimum MOS (1-5, in steps of
//!   1/1024 so that sums are exact in any order) and its R-factor; other media have neither.
//!   Nine calls in ten score 4.0-4.6, one in twelve 3.5-4.0, the rest 2.0-3.5. A queue whose
//!   calls turn bad (`SimOrg::spike_mos`) scores 1.5-3.5 for every call that ends there from
//!   then on.
//! * **Long conversations**: three voice conversations in a hundred started 1-5 hours before
//!   they entered the queue (a parked or long self-service call); the others start at the
//!   IVR before the queue (inbound) or when dialing began (outbound). Only the details show
//!   this start; the aggregates are unchanged.
//! * **No queue**: one outbound voice conversation in ten is answered without an `acd`
//!   participant and without `queueId` on any segment (an agent's direct call): the details
//!   know no queue for it.
//! * **Filters**: `conversationFilters` on `conversationId`, `conversationEnd`,
//!   `conversationStart`, `mediaStatsMinConversationMos`, `originatingDirection`, `divisionId`
//!   (`matches`, `exists`, `notExists`); `segmentFilters` on `queueId`, `mediaType`, `purpose`,
//!   `direction` (a segment filter holds when one segment satisfies it). Filters in a list must
//!   all hold; `type` and/or joins a filter's predicates and clauses. Any other dimension the
//!   schema allows, metric and property predicates, `range`, aggregations and evaluation,
//!   survey and resolution filters are a 400 "not supported by the simulated org".
//! * **Order**: `orderBy` conversationStart (default), conversationEnd, segmentStart (the first
//!   segment's start: the conversation start) or segmentEnd (the last segment's end: the
//!   conversation end); `order` asc (default), desc or unordered (answered as asc). A
//!   conversation without an end sorts after every ended one in asc (as if it ended at
//!   infinity); ties by `conversationId`.
//! * **Paging**: `paging.pageSize` 1-100 and `pageNumber` from 1, both required when `paging`
//!   is given (`PagingSpec`); without `paging`, 25 and 1. A page past the end answers no
//!   `conversations` key. `totalHits` is exact here (Genesys: approximate).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::aggregates::parse_interval;
use super::error::{check_enum, ApiError, ListAllowed};
use super::model::{Model, MosSpike};
use super::records::ConversationRecord;
use super::rng::{hash_str, mix, GOLDEN_GAMMA};

const DAY_MS: i64 = 86_400_000;
/// "if no filter is supplied, you will be limited to an interval no longer than seven days. If
/// you do provide a filter, the limit increases to 31 days." (DEV, detail query).
const MAX_INTERVAL_NO_FILTER_MS: i64 = 7 * DAY_MS;
const MAX_INTERVAL_MS: i64 = 31 * DAY_MS;
/// Not documented (REFERENCE 8.1: "commonly 100").
pub(crate) const MAX_PAGE_SIZE: i64 = 100;
/// "Default page size is 25" (`PagingSpec`).
const DEFAULT_PAGE_SIZE: i64 = 25;

/// Default details lag: nine conversations in ten within a minute, the rest 1-6 minutes.
const LAG_MS: i64 = 60_000;
const LONG_LAG_MS: i64 = 360_000;

const ORDER: [&str; 3] = ["asc", "desc", "unordered"];
const ORDER_BY: [&str; 4] = [
    "conversationStart",
    "conversationEnd",
    "segmentStart",
    "segmentEnd",
];
const FILTER_TYPES: [&str; 2] = ["and", "or"];
const OPERATORS: [&str; 3] = ["matches", "exists", "notExists"];
const PREDICATE_TYPES: [&str; 3] = ["dimension", "property", "metric"];
/// `ConversationDetailQueryPredicate.dimension` (openapi-subset.json).
const CONVERSATION_DIMS: [&str; 11] = [
    "accessAttribute",
    "conversationEnd",
    "conversationId",
    "conversationInitiator",
    "conversationStart",
    "customerParticipation",
    "divisionId",
    "externalTag",
    "mediaStatsMinConversationMos",
    "originatingDirection",
    "originatingSocialMediaPublic",
];
/// The conversation dimensions the simulated org evaluates.
const CONVERSATION_DIMS_MODELED: [&str; 6] = [
    "conversationEnd",
    "conversationId",
    "conversationStart",
    "divisionId",
    "mediaStatsMinConversationMos",
    "originatingDirection",
];
/// The segment dimensions the simulated org evaluates (the schema allows 80).
const SEGMENT_DIMS_MODELED: [&str; 4] = ["direction", "mediaType", "purpose", "queueId"];

// ---------- wire types (the simulator's own, named after the official models) ----------

/// `ConversationQuery` (required: `interval`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConversationQuery {
    interval: Option<String>,
    conversation_filters: Option<Vec<DetailFilter>>,
    segment_filters: Option<Vec<DetailFilter>>,
    evaluation_filters: Option<Vec<serde_json::Value>>,
    survey_filters: Option<Vec<serde_json::Value>>,
    resolution_filters: Option<Vec<serde_json::Value>>,
    order: Option<String>,
    order_by: Option<String>,
    aggregations: Option<Vec<serde_json::Value>>,
    paging: Option<PagingSpec>,
}

/// `PagingSpec` (required: `pageSize`, `pageNumber`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PagingSpec {
    page_size: Option<i64>,
    page_number: Option<i64>,
}

/// `ConversationDetailQueryFilter` / `SegmentDetailQueryFilter` (required: `type`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
    clauses: Option<Vec<DetailClause>>,
    predicates: Option<Vec<DetailPredicate>>,
}

/// `ConversationDetailQueryClause` / `SegmentDetailQueryClause` (required: both).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailClause {
    #[serde(rename = "type")]
    kind: Option<String>,
    predicates: Option<Vec<DetailPredicate>>,
}

/// `ConversationDetailQueryPredicate` / `SegmentDetailQueryPredicate`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DetailPredicate {
    #[serde(rename = "type")]
    kind: Option<String>,
    dimension: Option<String>,
    metric: Option<String>,
    property_type: Option<String>,
    property: Option<String>,
    operator: Option<String>,
    value: Option<String>,
    range: Option<serde_json::Value>,
}

/// `AnalyticsConversationQueryResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationQueryResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    conversations: Option<Vec<DetailConversation>>,
    total_hits: u64,
}

/// `AnalyticsConversationWithoutAttributes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailConversation {
    conversation_id: String,
    conversation_start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_end: Option<String>,
    conversation_initiator: &'static str,
    originating_direction: &'static str,
    division_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_stats_min_conversation_mos: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_stats_min_conversation_r_factor: Option<f64>,
    participants: Vec<DetailParticipant>,
}

/// `AnalyticsParticipantWithoutAttributes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailParticipant {
    participant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    participant_name: Option<String>,
    purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    sessions: Vec<DetailSession>,
}

/// `AnalyticsSession` (the few fields the simulator fills).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailSession {
    session_id: String,
    media_type: String,
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
    segments: Vec<DetailSegment>,
}

/// `AnalyticsConversationSegment`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailSegment {
    segment_start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    segment_end: Option<String>,
    segment_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnect_type: Option<&'static str>,
    conference: bool,
}

// ---------- the model's side ----------

/// A fixed draw for one trait of a conversation: a hash of its id and a salt (no draw from
/// the model's random stream, so adding details changed no earlier number).
fn draw(conversation_id: &str, salt: u64) -> u64 {
    mix(hash_str(conversation_id) ^ salt.wrapping_mul(GOLDEN_GAMMA))
}

/// `x/1024` for a small whole `x`: exact in f64.
#[allow(clippy::cast_precision_loss)] // x < 2^12
fn steps(x: u64) -> f64 {
    x as f64 / 1024.0
}

/// How long after its end a conversation is answered as ended (ms): fixed per conversation.
/// `over`: the test override (min, max).
#[must_use]
pub(crate) fn details_lag_ms(conversation_id: &str, over: Option<(i64, i64)>) -> i64 {
    let h1 = draw(conversation_id, 40);
    let h2 = draw(conversation_id, 41);
    let within = |lo: i64, hi: i64| {
        if hi <= lo {
            lo
        } else {
            lo.saturating_add_unsigned(h2 % (hi.abs_diff(lo) + 1))
        }
    };
    match over {
        Some((lo, hi)) => within(lo.max(0), hi.max(lo.max(0))),
        None if h1 % 10 == 0 => within(LAG_MS + 1, LONG_LAG_MS),
        None => within(0, LAG_MS),
    }
}

/// The minimum MOS of an ended voice conversation: `spiked` when its queue's calls had turned
/// bad by the time it ended.
#[must_use]
pub(crate) fn mos(r: &ConversationRecord, spiked: bool) -> Option<f64> {
    if r.media_type != "voice" || r.ended_ms().is_none() {
        return None;
    }
    let h1 = draw(&r.conversation_id, 42);
    let h2 = draw(&r.conversation_id, 43);
    Some(if spiked {
        1.5 + steps(h2 % 2049)
    } else if h1 % 1000 < 900 {
        4.0 + steps(h2 % 615)
    } else if h1 % 1000 < 983 {
        3.5 + steps(h2 % 512)
    } else {
        2.0 + steps(h2 % 1536)
    })
}

/// The R-factor that goes with a MOS (a straight line through the usual pairs, 4.4 ~ 93).
fn r_factor(mos: f64) -> f64 {
    18.0 * mos + 13.8
}

/// The conversation's start in the details: before it entered the queue.
#[must_use]
pub(crate) fn start_ms(r: &ConversationRecord) -> i64 {
    if r.media_type == "voice" && draw(&r.conversation_id, 44) % 100 < 3 {
        // 1-5 hours, in whole seconds.
        let lead_s = 3600 + i64::try_from(draw(&r.conversation_id, 45) % (4 * 3600)).unwrap_or(0);
        return r.arrival_ms - lead_s * 1000;
    }
    let before =
        r.ivr_ms().unwrap_or(0) + r.contacting_ms().unwrap_or(0) + r.dialing_ms().unwrap_or(0);
    r.arrival_ms - before
}

/// An agent's direct call: no queue in the details.
#[must_use]
pub(crate) fn without_queue(r: &ConversationRecord) -> bool {
    r.outbound() && draw(&r.conversation_id, 46) % 10 == 0
}

/// The queue the details name for a conversation (None: no queue segment).
#[must_use]
pub(crate) fn details_queue(r: &ConversationRecord) -> Option<&str> {
    (!without_queue(r)).then_some(r.queue_id.as_str())
}

/// Whether a conversation ended on a spiked queue after its spike began.
#[must_use]
pub(crate) fn spiked(r: &ConversationRecord, spikes: &[MosSpike]) -> bool {
    let Some(end) = r.ended_ms() else {
        return false;
    };
    details_queue(r).is_some_and(|q| spikes.iter().any(|s| s.queue_id == q && end >= s.from_ms))
}

/// One conversation as the details see it at `now` (ended only once its lag has passed).
struct Seen<'a> {
    r: &'a ConversationRecord,
    start: i64,
    /// Answered as ended: its end.
    end: Option<i64>,
    mos: Option<f64>,
}

fn seen<'a>(
    r: &'a ConversationRecord,
    now: i64,
    lag: Option<(i64, i64)>,
    spikes: &[MosSpike],
) -> Seen<'a> {
    let end = r
        .ended_ms()
        .filter(|e| e + details_lag_ms(&r.conversation_id, lag) <= now);
    Seen {
        r,
        start: start_ms(r),
        end,
        mos: end.and_then(|_| mos(r, spiked(r, spikes))),
    }
}

// ---------- request ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Start,
    End,
}

/// A validated details query.
pub(crate) struct DetailsQuery {
    /// The UTC days touched, [first, last] as day numbers since the epoch.
    first_day: i64,
    last_day: i64,
    conversation_filters: Vec<Filter>,
    segment_filters: Vec<Filter>,
    sort: SortKey,
    desc: bool,
    page_size: usize,
    page_number: usize,
}

#[derive(Debug)]
struct Pred {
    dimension: String,
    op: Op,
}

#[derive(Debug)]
enum Op {
    Matches(String),
    Exists,
    NotExists,
}

#[derive(Debug)]
struct Group {
    any: bool,
    preds: Vec<Pred>,
}

#[derive(Debug)]
struct Filter {
    any: bool,
    preds: Vec<Pred>,
    clauses: Vec<Group>,
}

fn unsupported(what: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{what} is not supported by the simulated org"))
}

fn filter_type(kind: Option<&String>, path: &str) -> Result<bool, ApiError> {
    let kind = kind.ok_or_else(|| ApiError::bad_request(format!("{path}.type is required")))?;
    check_enum(
        std::slice::from_ref(kind),
        &FILTER_TYPES,
        &format!("{path}.type"),
        ListAllowed::Yes,
    )?;
    Ok(kind == "or")
}

fn parse_pred(p: DetailPredicate, segment: bool, path: &str) -> Result<Pred, ApiError> {
    let kind = p.kind.unwrap_or_else(|| "dimension".to_string());
    check_enum(
        std::slice::from_ref(&kind),
        &PREDICATE_TYPES,
        &format!("{path}.type"),
        ListAllowed::Yes,
    )?;
    if kind != "dimension" || p.metric.is_some() || p.property.is_some() {
        return Err(unsupported(format!("{path}: a {kind} predicate")));
    }
    if p.property_type.is_some() || p.range.is_some() {
        return Err(unsupported(format!("{path}: propertyType or range")));
    }
    let dimension = p
        .dimension
        .ok_or_else(|| ApiError::bad_request(format!("{path}.dimension is required")))?;
    let modeled: &[&str] = if segment {
        &SEGMENT_DIMS_MODELED
    } else {
        check_enum(
            std::slice::from_ref(&dimension),
            &CONVERSATION_DIMS,
            &format!("{path}.dimension"),
            ListAllowed::No,
        )?;
        &CONVERSATION_DIMS_MODELED
    };
    if !modeled.contains(&dimension.as_str()) {
        return Err(unsupported(format!("{path}.dimension {dimension}")));
    }
    let operator = p.operator.unwrap_or_else(|| "matches".to_string());
    check_enum(
        std::slice::from_ref(&operator),
        &OPERATORS,
        &format!("{path}.operator"),
        ListAllowed::Yes,
    )?;
    let op = match operator.as_str() {
        "exists" => Op::Exists,
        "notExists" => Op::NotExists,
        _ => Op::Matches(
            p.value
                .ok_or_else(|| ApiError::bad_request(format!("{path}.value is required")))?,
        ),
    };
    Ok(Pred { dimension, op })
}

fn parse_filters(
    filters: Option<Vec<DetailFilter>>,
    segment: bool,
    name: &str,
) -> Result<Vec<Filter>, ApiError> {
    let mut out = Vec::new();
    for (i, f) in filters.unwrap_or_default().into_iter().enumerate() {
        let path = format!("{name}[{i}]");
        let any = filter_type(f.kind.as_ref(), &path)?;
        let preds = f
            .predicates
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(j, p)| parse_pred(p, segment, &format!("{path}.predicates[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut clauses = Vec::new();
        for (j, c) in f.clauses.unwrap_or_default().into_iter().enumerate() {
            let cpath = format!("{path}.clauses[{j}]");
            let cany = filter_type(c.kind.as_ref(), &cpath)?;
            let cpreds = c
                .predicates
                .ok_or_else(|| ApiError::bad_request(format!("{cpath}.predicates is required")))?
                .into_iter()
                .enumerate()
                .map(|(k, p)| parse_pred(p, segment, &format!("{cpath}.predicates[{k}]")))
                .collect::<Result<Vec<_>, _>>()?;
            clauses.push(Group {
                any: cany,
                preds: cpreds,
            });
        }
        if preds.is_empty() && clauses.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{path} needs predicates or clauses"
            )));
        }
        out.push(Filter {
            any,
            preds,
            clauses,
        });
    }
    Ok(out)
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Parses and validates a details query body.
pub(crate) fn parse_details_query(body: &[u8]) -> Result<DetailsQuery, ApiError> {
    let q: ConversationQuery = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request could not be understood: {e}")))?;
    let interval = q
        .interval
        .ok_or_else(|| ApiError::bad_request("interval is required"))?;
    let (from, to) = parse_interval(&interval)?;
    for (name, list) in [
        ("evaluationFilters", &q.evaluation_filters),
        ("surveyFilters", &q.survey_filters),
        ("resolutionFilters", &q.resolution_filters),
        ("aggregations", &q.aggregations),
    ] {
        if list.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(unsupported(name));
        }
    }
    let conversation_filters = parse_filters(q.conversation_filters, false, "conversationFilters")?;
    let segment_filters = parse_filters(q.segment_filters, true, "segmentFilters")?;
    let filtered = !conversation_filters.is_empty() || !segment_filters.is_empty();
    let limit = if filtered {
        MAX_INTERVAL_MS
    } else {
        MAX_INTERVAL_NO_FILTER_MS
    };
    if to - from > limit {
        return Err(ApiError::bad_request(format!(
            "interval '{interval}' is too long: at most {} days {}",
            limit / DAY_MS,
            if filtered {
                "with a filter"
            } else {
                "without a filter"
            }
        )));
    }
    let order = q.order.unwrap_or_else(|| "asc".to_string());
    check_enum(
        std::slice::from_ref(&order),
        &ORDER,
        "order",
        ListAllowed::Yes,
    )?;
    let order_by = q
        .order_by
        .unwrap_or_else(|| "conversationStart".to_string());
    check_enum(
        std::slice::from_ref(&order_by),
        &ORDER_BY,
        "orderBy",
        ListAllowed::Yes,
    )?;
    let (page_size, page_number) = match q.paging {
        None => (DEFAULT_PAGE_SIZE, 1),
        Some(p) => (
            p.page_size
                .ok_or_else(|| ApiError::bad_request("paging.pageSize is required"))?,
            p.page_number
                .ok_or_else(|| ApiError::bad_request("paging.pageNumber is required"))?,
        ),
    };
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::bad_request(format!(
            "paging.pageSize {page_size} is not valid; expected 1 to {MAX_PAGE_SIZE}"
        )));
    }
    if page_number < 1 {
        return Err(ApiError::bad_request(format!(
            "paging.pageNumber {page_number} is not valid; pages are numbered from 1"
        )));
    }
    Ok(DetailsQuery {
        first_day: day_of(from),
        // The interval's end is exclusive: the day of its last millisecond.
        last_day: day_of(to - 1),
        conversation_filters,
        segment_filters,
        sort: if matches!(order_by.as_str(), "conversationEnd" | "segmentEnd") {
            SortKey::End
        } else {
            SortKey::Start
        },
        desc: order == "desc",
        page_size: usize::try_from(page_size).unwrap_or(1),
        page_number: usize::try_from(page_number).unwrap_or(usize::MAX),
    })
}

// ---------- evaluation ----------

fn fmt_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn holds(op: &Op, values: &[&str]) -> bool {
    match op {
        Op::Exists => !values.is_empty(),
        Op::NotExists => values.is_empty(),
        Op::Matches(v) => values.iter().any(|x| x == v),
    }
}

fn conversation_values(s: &Seen<'_>, dim: &str) -> Vec<String> {
    match dim {
        "conversationId" => vec![s.r.conversation_id.clone()],
        "conversationStart" => vec![fmt_ms(s.start)],
        "conversationEnd" => s.end.map(fmt_ms).into_iter().collect(),
        "divisionId" => vec![s.r.division_id.clone()],
        "mediaStatsMinConversationMos" => s.mos.map(|m| m.to_string()).into_iter().collect(),
        "originatingDirection" => vec![s.r.originating_direction().to_string()],
        _ => Vec::new(),
    }
}

fn eval<F: Fn(&Pred) -> bool>(any: bool, preds: &[Pred], clauses: &[Group], f: &F) -> bool {
    let mut results = preds.iter().map(f).chain(clauses.iter().map(|c| {
        if c.any {
            c.preds.iter().any(f)
        } else {
            c.preds.iter().all(f)
        }
    }));
    if any {
        results.any(|b| b)
    } else {
        results.all(|b| b)
    }
}

/// The conversation filters (no answer built: a query reads the whole retained day).
fn conversation_matches(q: &DetailsQuery, s: &Seen<'_>) -> bool {
    q.conversation_filters.iter().all(|f| {
        eval(
            f.any,
            &f.preds,
            &f.clauses,
            &|p: &Pred| match (&p.op, p.dimension.as_str()) {
                // Presence without formatting a date: the collector's filters, on every record.
                (Op::Exists | Op::NotExists, "conversationEnd") => {
                    s.end.is_some() == matches!(p.op, Op::Exists)
                }
                (Op::Exists | Op::NotExists, "mediaStatsMinConversationMos") => {
                    s.mos.is_some() == matches!(p.op, Op::Exists)
                }
                _ => {
                    let values = conversation_values(s, &p.dimension);
                    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                    holds(&p.op, &refs)
                }
            },
        )
    })
}

/// The segment filters, on the conversation as answered.
fn segments_match(q: &DetailsQuery, conv: &DetailConversation) -> bool {
    q.segment_filters.iter().all(|f| {
        conv.participants.iter().any(|part| {
            part.sessions.iter().any(|session| {
                session.segments.iter().any(|seg| {
                    eval(f.any, &f.preds, &f.clauses, &|p: &Pred| {
                        let value: Option<&str> = match p.dimension.as_str() {
                            "queueId" => seg.queue_id.as_deref(),
                            "mediaType" => Some(session.media_type.as_str()),
                            "purpose" => Some(part.purpose),
                            "direction" => Some(session.direction),
                            _ => None,
                        };
                        holds(&p.op, &value.into_iter().collect::<Vec<_>>())
                    })
                })
            })
        })
    })
}

fn segment(start: i64, end: Option<i64>, kind: &'static str, queue: Option<&str>) -> DetailSegment {
    DetailSegment {
        segment_start: fmt_ms(start),
        segment_end: end.map(fmt_ms),
        segment_type: kind,
        queue_id: queue.map(str::to_string),
        disconnect_type: None,
        conference: false,
    }
}

/// The conversation as the details answer it.
fn conversation(s: &Seen<'_>, now: i64) -> DetailConversation {
    let r = s.r;
    let id = &r.conversation_id;
    let queue = details_queue(r);
    let direction = r.originating_direction();
    // Segment ends are known only when the conversation is answered as ended, or for what
    // finished before now.
    let done = |t: Option<i64>| t.filter(|t| s.end.is_some() || *t <= now);
    let customer_end = r.talk_end_ms.or(r.abandon_ms).or(r.removed_ms);
    let mut customer = segment(s.start, done(customer_end).or(s.end), "interact", queue);
    if s.end.is_some() {
        customer.disconnect_type = Some(if r.abandon_ms.is_some() {
            "client"
        } else {
            "peer"
        });
    }
    let mut participants = vec![DetailParticipant {
        participant_id: format!("{id}-customer"),
        participant_name: Some("Customer".to_string()),
        purpose: if r.outbound() { "external" } else { "customer" },
        user_id: None,
        sessions: vec![DetailSession {
            session_id: format!("{id}-s1"),
            media_type: r.media_type.clone(),
            direction,
            peer_id: None,
            segments: vec![customer],
        }],
    }];
    if let Some(q) = queue {
        let left_queue = r.answer_ms.or(r.abandon_ms).or(r.removed_ms);
        participants.push(DetailParticipant {
            participant_id: format!("{id}-acd"),
            participant_name: None,
            purpose: "acd",
            user_id: None,
            sessions: vec![DetailSession {
                session_id: format!("{id}-s2"),
                media_type: r.media_type.clone(),
                direction,
                peer_id: Some(format!("{id}-s1")),
                segments: vec![segment(r.arrival_ms, done(left_queue), "interact", Some(q))],
            }],
        });
    }
    if let (Some(agent), Some(answer)) = (&r.agent_id, r.answer_ms) {
        let mut segments = vec![segment(answer, done(r.talk_end_ms), "interact", queue)];
        if let Some(t) = r.talk_end_ms.filter(|t| *t <= now) {
            segments.push(segment(t, done(r.acw_end_ms), "wrapup", queue));
        }
        participants.push(DetailParticipant {
            participant_id: format!("{id}-agent"),
            participant_name: None,
            purpose: "agent",
            user_id: Some(agent.clone()),
            sessions: vec![DetailSession {
                session_id: format!("{id}-s3"),
                media_type: r.media_type.clone(),
                direction,
                peer_id: Some(format!("{id}-s1")),
                segments,
            }],
        });
    }
    DetailConversation {
        conversation_id: id.clone(),
        conversation_start: fmt_ms(s.start),
        conversation_end: s.end.map(fmt_ms),
        conversation_initiator: if r.outbound() { "agent" } else { "customer" },
        originating_direction: direction,
        division_ids: vec![r.division_id.clone()],
        media_stats_min_conversation_mos: s.mos,
        media_stats_min_conversation_r_factor: s.mos.map(r_factor),
        participants,
    }
}

/// Answers a details query from the model at its current instant.
pub(crate) fn details(
    model: &Model,
    q: &DetailsQuery,
    lag: Option<(i64, i64)>,
) -> ConversationQueryResponse {
    let now = model.now_ms;
    let spikes = &model.mos_spikes;
    let mut hits: Vec<(i64, &str, Seen<'_>)> = model
        .ended
        .iter()
        .chain(model.active_iter())
        .filter_map(|r| {
            let s = seen(r, now, lag, spikes);
            let day = day_of(s.start);
            if day < q.first_day || day > q.last_day || !conversation_matches(q, &s) {
                return None;
            }
            if !q.segment_filters.is_empty() && !segments_match(q, &conversation(&s, now)) {
                return None;
            }
            let key = match q.sort {
                SortKey::Start => s.start,
                // Not ended (yet, for the details): after every ended one.
                SortKey::End => s.end.unwrap_or(i64::MAX),
            };
            Some((key, r.conversation_id.as_str(), s))
        })
        .collect();
    hits.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    if q.desc {
        hits.reverse();
    }
    let total = hits.len() as u64;
    let skip = q.page_size.saturating_mul(q.page_number - 1);
    // Only the page's conversations are built.
    let page: Vec<DetailConversation> = hits
        .iter()
        .skip(skip)
        .take(q.page_size)
        .map(|h| conversation(&h.2, now))
        .collect();
    ConversationQueryResponse {
        conversations: (!page.is_empty()).then_some(page),
        total_hits: total,
    }
}

// ---------- truth ----------

/// One bucket set of MOS values: cumulative counts per upper bound (`le`), count and sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MosTruth {
    /// Upper bound -> conversations with a MOS at or below it (cumulative, like `le`).
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

/// The MOS of every voice conversation that ended in [from_ms, to_ms) and is answered as
/// ended by `visible_at_ms` (None: regardless of lag), by (details queue id or "" when it has
/// none, media type).
pub(crate) fn mos_truth(
    model: &Model,
    from_ms: i64,
    to_ms: i64,
    visible_at_ms: Option<i64>,
    lag: Option<(i64, i64)>,
    bounds: &[f64],
) -> BTreeMap<(String, String), MosTruth> {
    let mut out: BTreeMap<(String, String), MosTruth> = BTreeMap::new();
    for r in &model.ended {
        let Some(end) = r.ended_ms() else { continue };
        if end < from_ms || end >= to_ms {
            continue;
        }
        if visible_at_ms.is_some_and(|v| end + details_lag_ms(&r.conversation_id, lag) > v) {
            continue;
        }
        let Some(m) = mos(r, spiked(r, &model.mos_spikes)) else {
            continue;
        };
        let key = (
            details_queue(r).unwrap_or("").to_string(),
            r.media_type.clone(),
        );
        let t = out.entry(key).or_insert_with(|| MosTruth {
            buckets: bounds.iter().map(|b| (*b, 0)).collect(),
            ..MosTruth::default()
        });
        for (b, n) in &mut t.buckets {
            if m <= *b {
                *n += 1;
            }
        }
        t.count += 1;
        t.sum += m;
    }
    out
}

/// The UTC date of an instant (tests that cross midnight).
#[must_use]
pub fn utc_date(ms: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(v: serde_json::Value) -> Result<DetailsQuery, ApiError> {
        parse_details_query(v.to_string().as_bytes())
    }

    #[test]
    fn paging_is_one_to_a_hundred_from_page_one() {
        let base = |paging: serde_json::Value| {
            query(serde_json::json!({
                "interval": "2026-12-01T00:00:00Z/2026-12-02T00:00:00Z",
                "paging": paging
            }))
        };
        assert!(base(serde_json::json!({"pageSize": 100, "pageNumber": 1})).is_ok());
        assert!(base(serde_json::json!({"pageSize": 101, "pageNumber": 1})).is_err());
        assert!(base(serde_json::json!({"pageSize": 0, "pageNumber": 1})).is_err());
        assert!(base(serde_json::json!({"pageSize": 10, "pageNumber": 0})).is_err());
        assert!(base(serde_json::json!({"pageSize": 10})).is_err());
    }

    #[test]
    fn an_interval_touches_whole_utc_days() {
        let q = query(serde_json::json!({
            "interval": "2026-12-01T23:50:00Z/2026-12-02T00:10:00Z"
        }))
        .expect("valid");
        assert_eq!(q.last_day - q.first_day, 1);
        let q = query(serde_json::json!({
            "interval": "2026-12-01T10:00:00Z/2026-12-02T00:00:00Z"
        }))
        .expect("valid");
        assert_eq!(q.last_day, q.first_day, "the end is exclusive");
        assert!(query(serde_json::json!({
            "interval": "2026-11-01T00:00:00Z/2026-11-09T00:00:00Z"
        }))
        .is_err());
    }

    #[test]
    fn the_details_lag_is_a_fixed_hash_within_its_bounds() {
        for i in 0..500 {
            let id = format!("c{i}");
            let lag = details_lag_ms(&id, None);
            assert!((0..=LONG_LAG_MS).contains(&lag));
            assert_eq!(lag, details_lag_ms(&id, None));
            assert!((1000..=2000).contains(&details_lag_ms(&id, Some((1000, 2000)))));
        }
    }
}
