//! Validation and evaluation of the and/or query filters of observations, conversation
//! activity, aggregates and flow activity.

use std::collections::HashSet;

use super::api::{QueryFilter, QueryPredicate};
use super::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    QueueId,
    MediaType,
    FlowType,
}

impl Dim {
    fn name(self) -> &'static str {
        match self {
            Dim::QueueId => "queueId",
            Dim::MediaType => "mediaType",
            Dim::FlowType => "flowType",
        }
    }
}

/// What the simulated org can evaluate in one endpoint's filters (everything else that the
/// schema allows is a 400 "not supported by the simulated org").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Support {
    dims: &'static [Dim],
    /// Whether `exists` and `notExists` are supported besides `matches`.
    presence_operators: bool,
}

/// Queue observations, conversation activity and aggregates: queueId and mediaType, every
/// operator.
pub(crate) const QUEUE_FILTERS: Support = Support {
    dims: &[Dim::QueueId, Dim::MediaType],
    presence_operators: true,
};

/// Flow activity: flowType and mediaType, `matches` only.
pub(crate) const FLOW_FILTERS: Support = Support {
    dims: &[Dim::FlowType, Dim::MediaType],
    presence_operators: false,
};

/// The value of one dimension in the group a filter is evaluated against.
enum Field<'a> {
    /// The group has this value (None: the dimension does not apply to it).
    Is(Option<&'a str>),
    /// Predicates on this dimension do not constrain the group (always true).
    Any,
}

#[derive(Debug, Clone)]
enum Op {
    Matches(String),
    Exists,
    NotExists,
}

#[derive(Debug, Clone)]
struct Pred {
    dim: Dim,
    op: Op,
}

#[derive(Debug, Clone)]
struct Group {
    and: bool,
    preds: Vec<Pred>,
}

/// A validated filter; `None` parts mean "no constraint".
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    top: Group,
    clauses: Vec<Group>,
    /// Number of queueId predicates (for the 100 limit).
    pub(crate) queue_id_predicates: usize,
}

fn parse_type(t: Option<&str>, what: &str) -> Result<bool, ApiError> {
    match t.map(str::to_ascii_lowercase).as_deref() {
        Some("and") => Ok(true),
        Some("or") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "{what} type '{other}' is not valid; expected 'and' or 'or'"
        ))),
        None => Err(ApiError::bad_request(format!("{what} type is required"))),
    }
}

/// `valid_dims`: the dimension enum of the schema; `support`: what the simulator can evaluate.
fn parse_pred(
    p: &QueryPredicate,
    valid_dims: &[&str],
    support: Support,
    count: &mut usize,
) -> Result<Pred, ApiError> {
    if let Some(kind) = p.kind.as_deref() {
        match kind {
            "dimension" => {}
            "property" | "metric" => {
                return Err(ApiError::bad_request(format!(
                    "predicate type '{kind}' is not supported for this query"
                )))
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "predicate type '{other}' is not valid; expected dimension, property or metric"
                )))
            }
        }
    }
    let Some(dim) = p.dimension.as_deref() else {
        return Err(ApiError::bad_request("predicate dimension is required"));
    };
    if !valid_dims.contains(&dim) {
        return Err(ApiError::bad_request(format!(
            "predicate dimension '{dim}' is not valid; expected one of {}",
            valid_dims.join(", ")
        )));
    }
    let Some(dim) = support.dims.iter().copied().find(|d| d.name() == dim) else {
        let only: Vec<&str> = support.dims.iter().map(|d| d.name()).collect();
        return Err(ApiError::bad_request(format!(
            "predicate dimension '{dim}' is not supported by the simulated org (only {})",
            only.join(" and ")
        )));
    };
    if dim == Dim::QueueId {
        *count += 1;
    }
    let op = match p.operator.as_deref().unwrap_or("matches") {
        "matches" => match &p.value {
            Some(v) => Op::Matches(v.clone()),
            None => {
                return Err(ApiError::bad_request(
                    "predicate value is required for operator 'matches'",
                ))
            }
        },
        op @ ("exists" | "notExists") if !support.presence_operators => {
            return Err(ApiError::bad_request(format!(
                "predicate operator '{op}' is not supported by the simulated org (only matches)"
            )))
        }
        "exists" => Op::Exists,
        "notExists" => Op::NotExists,
        other => {
            return Err(ApiError::bad_request(format!(
                "predicate operator '{other}' is not valid; expected matches, exists or notExists"
            )))
        }
    };
    Ok(Pred { dim, op })
}

impl Filter {
    /// A filter of queue observations, conversation activity or aggregates (`QUEUE_FILTERS`).
    pub(crate) fn parse(f: &QueryFilter, valid_dims: &[&str]) -> Result<Filter, ApiError> {
        Filter::parse_supported(f, valid_dims, QUEUE_FILTERS)
    }

    /// `valid_dims`: the dimension enum of the schema (anything else is "not valid");
    /// `support`: what the simulated org evaluates (anything else is "not supported").
    pub(crate) fn parse_supported(
        f: &QueryFilter,
        valid_dims: &[&str],
        support: Support,
    ) -> Result<Filter, ApiError> {
        let mut count = 0;
        let and = parse_type(f.kind.as_deref(), "filter")?;
        let preds = f
            .predicates
            .iter()
            .flatten()
            .map(|p| parse_pred(p, valid_dims, support, &mut count))
            .collect::<Result<Vec<_>, _>>()?;
        let mut clauses = Vec::new();
        for c in f.clauses.iter().flatten() {
            let cand = parse_type(c.kind.as_deref(), "clause")?;
            let Some(ps) = &c.predicates else {
                return Err(ApiError::bad_request("clause predicates are required"));
            };
            let preds = ps
                .iter()
                .map(|p| parse_pred(p, valid_dims, support, &mut count))
                .collect::<Result<Vec<_>, _>>()?;
            clauses.push(Group { and: cand, preds });
        }
        Ok(Filter {
            top: Group { and, preds },
            clauses,
            queue_id_predicates: count,
        })
    }

    /// A superset of the queue ids that can match, when the filter pins them down
    /// (None: any queue may match). Keeps a 100-queue query cheap in a 5000-queue org.
    pub(crate) fn queue_bound(&self) -> Option<HashSet<&str>> {
        fn group(g: &Group) -> Option<HashSet<&str>> {
            let ids = g.preds.iter().filter_map(|p| match (&p.dim, &p.op) {
                (Dim::QueueId, Op::Matches(v)) => Some(v.as_str()),
                _ => None,
            });
            if g.and {
                ids.take(1).map(|v| HashSet::from([v])).next()
            } else if !g.preds.is_empty()
                && g.preds
                    .iter()
                    .all(|p| p.dim == Dim::QueueId && matches!(p.op, Op::Matches(_)))
            {
                Some(ids.collect())
            } else {
                None
            }
        }
        let groups: Vec<Option<HashSet<&str>>> = std::iter::once(&self.top)
            .chain(self.clauses.iter())
            .filter(|g| !g.preds.is_empty())
            .map(group)
            .collect();
        if groups.is_empty() {
            return None;
        }
        if self.top.and {
            groups.into_iter().flatten().next()
        } else {
            groups.into_iter().try_fold(HashSet::new(), |mut acc, g| {
                acc.extend(g?);
                Some(acc)
            })
        }
    }

    /// Does a group match? `media` None = a user group (mediaType predicates do not apply).
    pub(crate) fn matches(&self, queue_id: &str, media: Option<&str>) -> bool {
        self.eval(|dim| match dim {
            Dim::QueueId => Field::Is(Some(queue_id)),
            Dim::MediaType => media.map_or(Field::Any, |m| Field::Is(Some(m))),
            Dim::FlowType => Field::Is(None),
        })
    }

    /// Does a flow group match (flow activity: a flow type and its media type)?
    pub(crate) fn matches_flow(&self, flow_type: &str, media: &str) -> bool {
        self.eval(|dim| match dim {
            Dim::FlowType => Field::Is(Some(flow_type)),
            Dim::MediaType => Field::Is(Some(media)),
            Dim::QueueId => Field::Is(None),
        })
    }

    fn eval<'a>(&self, field: impl Fn(Dim) -> Field<'a>) -> bool {
        let pred = |p: &Pred| -> bool {
            let Field::Is(field) = field(p.dim) else {
                return true;
            };
            match &p.op {
                Op::Matches(v) => field == Some(v.as_str()),
                Op::Exists => field.is_some(),
                Op::NotExists => field.is_none(),
            }
        };
        let group = |g: &Group| -> Option<bool> {
            if g.preds.is_empty() {
                return None;
            }
            Some(if g.and {
                g.preds.iter().all(pred)
            } else {
                g.preds.iter().any(pred)
            })
        };
        let results: Vec<bool> = std::iter::once(group(&self.top))
            .chain(self.clauses.iter().map(group))
            .flatten()
            .collect();
        if results.is_empty() {
            return true;
        }
        if self.top.and {
            results.iter().all(|&b| b)
        } else {
            results.iter().any(|&b| b)
        }
    }
}
