//! The routing queues listing, queue observations, conversation activity and flow activity,
//! answered from the traffic model.

use std::collections::BTreeMap;

use super::api::*;
use super::error::{check_enum, ApiError, ListAllowed};
use super::filter::{Filter, FLOW_FILTERS};
use super::flows::{self, FlowType};
use super::media::Media;
use super::model::{Model, ROUTING_STATUSES};
use super::names::{ORG_PRESENCES, SYSTEM_PRESENCES};

pub(crate) const OBSERVATION_METRICS: [&str; 11] = [
    "oActiveUsers",
    "oAlerting",
    "oInteracting",
    "oLongestInteracting",
    "oLongestWaiting",
    "oMemberUsers",
    "oOffQueueUsers",
    "oOnQueueUsers",
    "oUserPresences",
    "oUserRoutingStatuses",
    "oWaiting",
];
const OBSERVATION_DETAIL_METRICS: [&str; 9] = [
    "oActiveUsers",
    "oAlerting",
    "oInteracting",
    "oMemberUsers",
    "oOffQueueUsers",
    "oOnQueueUsers",
    "oUserPresences",
    "oUserRoutingStatuses",
    "oWaiting",
];
const OBSERVATION_DIMS: [&str; 2] = ["mediaType", "queueId"];
const MAX_QUEUE_PREDICATES: usize = 100;

pub(crate) const ACTIVITY_METRICS: [&str; 5] = [
    "oAlerting",
    "oInteracting",
    "oLongestInteracting",
    "oLongestWaiting",
    "oWaiting",
];
const ACTIVITY_DIMS: [&str; 22] = [
    "activeRouting",
    "addressFrom",
    "addressTo",
    "agentScore",
    "ani",
    "conversationId",
    "convertedFrom",
    "convertedTo",
    "direction",
    "dnis",
    "mediaType",
    "participantName",
    "queueId",
    "requestedLanguageId",
    "requestedRouting",
    "requestedRoutingSkillId",
    "routingPriority",
    "scoredAgentId",
    "sessionId",
    "teamId",
    "usedRouting",
    "userId",
];

pub(crate) const FLOW_ACTIVITY_METRICS: [&str; 1] = ["oFlow"];
/// `FlowActivityQuery.groupBy` and `FlowActivityQueryPredicate.dimension` (the newest official
/// SDK models: the 22 of conversation activity, `flowId` and `flowType`).
const FLOW_ACTIVITY_DIMS: [&str; 24] = [
    "activeRouting",
    "addressFrom",
    "addressTo",
    "agentScore",
    "ani",
    "conversationId",
    "convertedFrom",
    "convertedTo",
    "direction",
    "dnis",
    "flowId",
    "flowType",
    "mediaType",
    "participantName",
    "queueId",
    "requestedLanguageId",
    "requestedRouting",
    "requestedRoutingSkillId",
    "routingPriority",
    "scoredAgentId",
    "sessionId",
    "teamId",
    "usedRouting",
    "userId",
];

fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request could not be understood: {e}")))
}

// ---------- GET /api/v2/routing/queues ----------

pub(crate) fn list_queues(
    model: &Model,
    query: Option<&str>,
) -> Result<QueueEntityListing, ApiError> {
    let mut page_size = 25usize;
    let mut page_number = 1usize;
    let mut desc = false;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "pageSize" => {
                page_size = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| ApiError::bad_request(format!("pageSize '{v}' is not valid")))?
                    .min(500)
            }
            "pageNumber" => {
                page_number = v.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                    ApiError::bad_request(format!("pageNumber '{v}' is not valid"))
                })?
            }
            "sortOrder" => match v.as_ref() {
                "asc" | "ASC" => desc = false,
                "desc" | "DESC" => desc = true,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "sortOrder '{other}' is not valid"
                    )))
                }
            },
            _ => {}
        }
    }
    let total = model.sorted.len();
    let page_count = total.div_ceil(page_size);
    let uri = |n: usize| format!("/api/v2/routing/queues?pageSize={page_size}&pageNumber={n}");
    let order: Box<dyn Iterator<Item = &usize>> = if desc {
        Box::new(model.sorted.iter().rev())
    } else {
        Box::new(model.sorted.iter())
    };
    let entities = order
        .skip((page_number - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|&qi| queue_entity(model, qi))
        .collect();
    Ok(QueueEntityListing {
        entities,
        page_size,
        page_number,
        total,
        first_uri: uri(1),
        next_uri: (page_number < page_count).then(|| uri(page_number + 1)),
        previous_uri: (page_number > 1 && page_count > 0)
            .then(|| uri((page_number - 1).min(page_count))),
        last_uri: uri(page_count.max(1)),
        self_uri: uri(page_number),
        page_count,
    })
}

fn queue_entity(model: &Model, qi: usize) -> Queue {
    let q = &model.queues[qi];
    let (div_id, div_name) = &model.divisions[q.division];
    let mut ms = QueueMediaSettings::default();
    for m in &q.media {
        let p = m.profile();
        let s = Some(MediaSettings {
            alerting_timeout_seconds: p.alerting_timeout_s,
            service_level: ServiceLevel {
                percentage: p.sl_percentage,
                duration_ms: p.sl_duration_ms,
            },
        });
        match m {
            Media::Voice => ms.call = s,
            Media::Callback => ms.callback = s,
            Media::Chat => ms.chat = s,
            Media::Email => ms.email = s,
            Media::Message => ms.message = s,
        }
    }
    Queue {
        id: q.id.clone(),
        name: q.name.clone(),
        division: Division {
            id: div_id.clone(),
            name: div_name.clone(),
            self_uri: format!("/api/v2/authorization/divisions/{div_id}"),
        },
        date_created: q.date_created.clone(),
        member_count: q.member_count(),
        user_member_count: q.member_count(),
        joined_member_count: q.member_count(),
        media_settings: ms,
        self_uri: format!("/api/v2/routing/queues/{}", q.id),
    }
}

// ---------- POST /api/v2/analytics/queues/observations/query ----------

/// Validated observation query.
pub(crate) struct ObservationQuery {
    filter: Filter,
    metrics: Vec<String>,
}

pub(crate) fn parse_observation_query(body: &[u8]) -> Result<ObservationQuery, ApiError> {
    let q: QueueObservationQuery = parse_json(body)?;
    let Some(filter) = q.filter else {
        return Err(ApiError::bad_request("filter is required"));
    };
    let metrics = q.metrics.unwrap_or_default();
    let detail = q.detail_metrics.unwrap_or_default();
    if metrics.is_empty() && detail.is_empty() {
        return Err(ApiError::bad_request("metrics is required"));
    }
    check_enum(&metrics, &OBSERVATION_METRICS, "metrics", ListAllowed::Yes)?;
    check_enum(
        &detail,
        &OBSERVATION_DETAIL_METRICS,
        "detailMetrics",
        ListAllowed::Yes,
    )?;
    let filter = Filter::parse(&filter, &OBSERVATION_DIMS)?;
    if filter.queue_id_predicates > MAX_QUEUE_PREDICATES {
        return Err(ApiError::bad_request(format!(
            "The filter contains {} queueId predicates; the maximum is {MAX_QUEUE_PREDICATES}",
            filter.queue_id_predicates
        )));
    }
    let mut all = metrics;
    for d in detail {
        if !all.contains(&d) {
            all.push(d);
        }
    }
    Ok(ObservationQuery {
        filter,
        metrics: all,
    })
}

/// Every observation metric of one queue: what a `v2.analytics.queues.{id}.observations`
/// event carries (see `notify.rs`).
pub(crate) fn queue_observation_query(queue_id: &str) -> ObservationQuery {
    let filter = QueryFilter {
        kind: Some("or".to_string()),
        clauses: None,
        predicates: Some(vec![QueryPredicate {
            kind: None,
            dimension: Some("queueId".to_string()),
            operator: None,
            value: Some(queue_id.to_string()),
            range: None,
        }]),
    };
    ObservationQuery {
        // A single `matches` predicate on a valid dimension always parses.
        filter: Filter::parse(&filter, &OBSERVATION_DIMS).unwrap_or_else(|_| unreachable!()),
        metrics: OBSERVATION_METRICS
            .iter()
            .map(|m| (*m).to_string())
            .collect(),
    }
}

fn count_entry(
    metric: &str,
    qualifier: Option<&str>,
    n: u64,
    zeros: bool,
) -> Option<ObservationMetricData> {
    (n > 0 || zeros).then(|| ObservationMetricData {
        metric: metric.to_string(),
        qualifier: qualifier.map(str::to_string),
        stats: StatisticalSummary {
            count: Some(n),
            calculated_metric_value: None,
        },
    })
}

pub(crate) fn observations(
    model: &Model,
    q: &ObservationQuery,
    zeros: bool,
) -> QueueObservationQueryResponse {
    let want = |m: &str| q.metrics.iter().any(|x| x == m);
    let mut results = Vec::new();
    let user_metrics = [
        "oOnQueueUsers",
        "oOffQueueUsers",
        "oActiveUsers",
        "oMemberUsers",
        "oUserRoutingStatuses",
        "oUserPresences",
    ];
    let any_user = user_metrics.iter().any(|m| want(m));
    for qi in candidates(model, &q.filter) {
        let queue = &model.queues[qi];
        let user_match = q.filter.matches(&queue.id, None);
        let media_match: Vec<Media> = queue
            .media
            .iter()
            .copied()
            .filter(|m| q.filter.matches(&queue.id, Some(m.analytics())))
            .collect();
        if !user_match && media_match.is_empty() {
            continue;
        }
        let s = model.snapshot(qi);
        if any_user && user_match {
            let mut data = Vec::new();
            if want("oOnQueueUsers") {
                // Qualified by routing status, as the real API reports it.
                for (i, status) in ROUTING_STATUSES.iter().enumerate().skip(1) {
                    data.extend(count_entry(
                        "oOnQueueUsers",
                        Some(status),
                        s.statuses[i],
                        zeros,
                    ));
                }
            }
            if want("oOffQueueUsers") {
                data.extend(count_entry("oOffQueueUsers", None, s.statuses[0], zeros));
            }
            if want("oActiveUsers") {
                data.extend(count_entry("oActiveUsers", None, s.active_users(), zeros));
            }
            if want("oMemberUsers") {
                data.extend(count_entry("oMemberUsers", None, s.members, zeros));
            }
            if want("oUserRoutingStatuses") {
                for (i, status) in ROUTING_STATUSES.iter().enumerate() {
                    data.extend(count_entry(
                        "oUserRoutingStatuses",
                        Some(status),
                        s.statuses[i],
                        zeros,
                    ));
                }
            }
            if want("oUserPresences") {
                // One row per organization presence, qualified by its id.
                for (i, pid) in model.presence_ids.iter().enumerate() {
                    data.extend(count_entry(
                        "oUserPresences",
                        Some(pid),
                        s.presences[i],
                        zeros,
                    ));
                }
            }
            if !data.is_empty() {
                let mut group = BTreeMap::new();
                group.insert("queueId".to_string(), queue.id.clone());
                results.push(QueueObservationDataContainer { group, data });
            }
        }
        for m in media_match {
            let i = m.idx();
            let mut data = Vec::new();
            for metric in &q.metrics {
                match metric.as_str() {
                    "oWaiting" => data.extend(count_entry("oWaiting", None, s.waiting[i], zeros)),
                    "oInteracting" => {
                        data.extend(count_entry("oInteracting", None, s.interacting[i], zeros))
                    }
                    "oAlerting" => {
                        data.extend(count_entry("oAlerting", None, s.alerting[i], zeros))
                    }
                    "oLongestWaiting" | "oLongestInteracting" => {
                        let v = if metric == "oLongestWaiting" {
                            s.longest_waiting[i]
                        } else {
                            s.longest_interacting[i]
                        };
                        if let Some(v) = v {
                            data.push(ObservationMetricData {
                                metric: metric.clone(),
                                qualifier: None,
                                stats: StatisticalSummary {
                                    count: None,
                                    calculated_metric_value: Some(v),
                                },
                            });
                        }
                    }
                    _ => {}
                }
            }
            if !data.is_empty() {
                let mut group = BTreeMap::new();
                group.insert("queueId".to_string(), queue.id.clone());
                group.insert("mediaType".to_string(), m.analytics().to_string());
                results.push(QueueObservationDataContainer { group, data });
            }
        }
    }
    let mappings = want("oUserPresences").then(|| presence_mappings(model));
    QueueObservationQueryResponse {
        system_to_organization_mappings: mappings,
        results,
    }
}

/// `systemToOrganizationMappings`: every system presence of the org with the ids of all the
/// organization presences that map to it (in table order).
fn presence_mappings(model: &Model) -> BTreeMap<String, Vec<String>> {
    SYSTEM_PRESENCES
        .iter()
        .map(|sys| {
            let ids = ORG_PRESENCES
                .iter()
                .zip(&model.presence_ids)
                .filter(|(p, _)| p.system == *sys)
                .map(|(_, id)| id.clone())
                .collect();
            ((*sys).to_string(), ids)
        })
        .collect()
}

/// Queue indices (in name order) the filter can match.
fn candidates(model: &Model, filter: &Filter) -> Vec<usize> {
    match filter.queue_bound() {
        None => model.sorted.clone(),
        Some(ids) => {
            let mut v: Vec<usize> = ids
                .into_iter()
                .filter_map(|id| model.queue_index(id))
                .collect();
            v.sort_by(|&a, &b| {
                let (qa, qb) = (&model.queues[a], &model.queues[b]);
                (&qa.name, &qa.id).cmp(&(&qb.name, &qb.id))
            });
            v
        }
    }
}

// ---------- POST /api/v2/analytics/conversations/activity/query ----------

pub(crate) struct ActivityQuery {
    metrics: Vec<String>,
    by_queue: bool,
    by_media: bool,
    filter: Option<Filter>,
}

/// `pageSize` and `pageNumber` of the activity queries: positive int32 when given.
fn check_paging(query: Option<&str>) -> Result<(), ApiError> {
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if (k == "pageSize" || k == "pageNumber")
            && v.parse::<u32>().ok().filter(|&n| n >= 1).is_none()
        {
            return Err(ApiError::bad_request(format!("{k} '{v}' is not valid")));
        }
    }
    Ok(())
}

/// The metric names of an activity query (`metrics[].metric`): required, non-empty, each in
/// `allowed`.
fn activity_metrics(
    metrics: Option<Vec<ActivityMetric>>,
    allowed: &[&str],
) -> Result<Vec<String>, ApiError> {
    let metrics: Vec<String> = metrics
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            m.metric
                .ok_or_else(|| ApiError::bad_request("metric is required"))
        })
        .collect::<Result<_, _>>()?;
    if metrics.is_empty() {
        return Err(ApiError::bad_request("metrics is required"));
    }
    check_enum(&metrics, allowed, "metric", ListAllowed::Yes)?;
    Ok(metrics)
}

/// The `groupBy` of an activity query: required, non-empty, each in `valid` (the schema's
/// enum) and in `supported` (what the simulated org groups by).
fn activity_group_by(
    group_by: Option<Vec<String>>,
    valid: &[&str],
    supported: [&str; 2],
) -> Result<Vec<String>, ApiError> {
    let group_by = group_by.unwrap_or_default();
    if group_by.is_empty() {
        return Err(ApiError::bad_request("groupBy is required"));
    }
    check_enum(&group_by, valid, "groupBy", ListAllowed::Yes)?;
    if let Some(other) = group_by.iter().find(|g| !supported.contains(&g.as_str())) {
        return Err(ApiError::bad_request(format!(
            "groupBy '{other}' is not supported by the simulated org (only {} and {})",
            supported[0], supported[1]
        )));
    }
    Ok(group_by)
}

fn check_order(order: Option<&str>) -> Result<(), ApiError> {
    if let Some(o) = order {
        check_enum(
            &[o.to_string()],
            &["asc", "desc", "unordered"],
            "order",
            ListAllowed::Yes,
        )?;
    }
    Ok(())
}

pub(crate) fn parse_activity_query(
    body: &[u8],
    query: Option<&str>,
) -> Result<ActivityQuery, ApiError> {
    check_paging(query)?;
    let q: ConversationActivityQuery = parse_json(body)?;
    let metrics = activity_metrics(q.metrics, &ACTIVITY_METRICS)?;
    let group_by = activity_group_by(q.group_by, &ACTIVITY_DIMS, ["queueId", "mediaType"])?;
    check_order(q.order.as_deref())?;
    let filter = q
        .filter
        .as_ref()
        .map(|f| Filter::parse(f, &ACTIVITY_DIMS))
        .transpose()?;
    Ok(ActivityQuery {
        metrics,
        by_queue: group_by.iter().any(|g| g == "queueId"),
        by_media: group_by.iter().any(|g| g == "mediaType"),
        filter,
    })
}

#[derive(Default, Clone, Copy)]
struct Acc {
    waiting: u64,
    interacting: u64,
    alerting: u64,
    longest_waiting: Option<i64>,
    longest_interacting: Option<i64>,
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

pub(crate) fn activity(model: &Model, q: &ActivityQuery) -> ConversationActivityResponse {
    // Group key: (queue position or usize::MAX, media index or 5).
    let mut groups: BTreeMap<(usize, usize), Acc> = BTreeMap::new();
    for (pos, &qi) in model.sorted.iter().enumerate() {
        let queue = &model.queues[qi];
        let s = model.snapshot(qi);
        for m in &queue.media {
            if let Some(f) = &q.filter {
                if !f.matches(&queue.id, Some(m.analytics())) {
                    continue;
                }
            }
            let i = m.idx();
            let key = (
                if q.by_queue { pos } else { usize::MAX },
                if q.by_media { i } else { 5 },
            );
            let a = groups.entry(key).or_default();
            a.waiting += s.waiting[i];
            a.interacting += s.interacting[i];
            a.alerting += s.alerting[i];
            a.longest_waiting = min_opt(a.longest_waiting, s.longest_waiting[i]);
            a.longest_interacting = min_opt(a.longest_interacting, s.longest_interacting[i]);
        }
    }
    let mut results = Vec::new();
    for ((pos, mi), a) in groups {
        let mut data = Vec::new();
        for metric in &q.metrics {
            let (count, value) = match metric.as_str() {
                "oWaiting" => (Some(a.waiting).filter(|&n| n > 0), None),
                "oInteracting" => (Some(a.interacting).filter(|&n| n > 0), None),
                "oAlerting" => (Some(a.alerting).filter(|&n| n > 0), None),
                "oLongestWaiting" => (None, a.longest_waiting),
                "oLongestInteracting" => (None, a.longest_interacting),
                _ => (None, None),
            };
            if count.is_some() || value.is_some() {
                data.push(ConversationActivityMetricValue {
                    metric: metric.clone(),
                    count,
                    calculated_metric_value: value,
                });
            }
        }
        if data.is_empty() {
            continue;
        }
        let mut group = BTreeMap::new();
        if pos != usize::MAX {
            group.insert(
                "queueId".to_string(),
                model.queues[model.sorted[pos]].id.clone(),
            );
        }
        if mi < 5 {
            group.insert(
                "mediaType".to_string(),
                Media::ALL[mi].analytics().to_string(),
            );
        }
        results.push(ConversationActivityData { group, data });
    }
    ConversationActivityResponse { results }
}

// ---------- POST /api/v2/analytics/flows/activity/query ----------

/// Validated flow activity query (`oFlow` is its only metric; `details` is accepted and
/// ignored: the simulated org reports no `entityIds`, and `order` does not change the
/// order of the results).
pub(crate) struct FlowQuery {
    by_flow_type: bool,
    by_media: bool,
    filter: Option<Filter>,
}

pub(crate) fn parse_flow_activity_query(
    body: &[u8],
    query: Option<&str>,
) -> Result<FlowQuery, ApiError> {
    check_paging(query)?;
    let q: FlowActivityQuery = parse_json(body)?;
    activity_metrics(q.metrics, &FLOW_ACTIVITY_METRICS)?;
    let group_by = activity_group_by(q.group_by, &FLOW_ACTIVITY_DIMS, ["flowType", "mediaType"])?;
    check_order(q.order.as_deref())?;
    let filter = q
        .filter
        .as_ref()
        .map(|f| Filter::parse_supported(f, &FLOW_ACTIVITY_DIMS, FLOW_FILTERS))
        .transpose()?;
    Ok(FlowQuery {
        by_flow_type: group_by.iter().any(|g| g == "flowType"),
        by_media: group_by.iter().any(|g| g == "mediaType"),
        filter,
    })
}

/// `oFlow` per group of the query, from [`flows::in_flows`] (what `Truth::flows` holds):
/// groups with a count of 0 left out, in flow type then media type order.
pub(crate) fn flow_activity(model: &Model, q: &FlowQuery) -> FlowActivityResponse {
    let counts = flows::in_flows(model);
    let mut groups: BTreeMap<(Option<FlowType>, Option<Media>), u64> = BTreeMap::new();
    for f in FlowType::ALL {
        let media = f.media();
        if let Some(filter) = &q.filter {
            if !filter.matches_flow(f.name(), media.analytics()) {
                continue;
            }
        }
        let key = (q.by_flow_type.then_some(f), q.by_media.then_some(media));
        *groups.entry(key).or_default() += counts.get(f);
    }
    let results = groups
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|((flow, media), count)| {
            let mut group = BTreeMap::new();
            if let Some(f) = flow {
                group.insert("flowType".to_string(), f.name().to_string());
            }
            if let Some(m) = media {
                group.insert("mediaType".to_string(), m.analytics().to_string());
            }
            FlowActivityData {
                group,
                data: vec![FlowActivityMetricValue {
                    metric: FLOW_ACTIVITY_METRICS[0].to_string(),
                    count,
                }],
            }
        })
        .collect();
    FlowActivityResponse { results }
}
