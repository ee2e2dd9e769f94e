//! `GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime` and
//! `GET /api/v2/organizations/limits/namespaces/{namespaceName}`.
//!
//! The estimate is the model's own queueing arithmetic: conversations waiting × the media
//! type's mean handle time / agents on queue (at least one), in whole seconds. Genesys'
//! formulas are not published; what matters to the exporter is that the value is the
//! model's, and that `SimOrg::estimated_wait_seconds` gives the same number.

use serde::Serialize;

use super::error::ApiError;
use super::media::Media;
use super::model::Model;

pub(crate) const EWT_PREFIX: &str = "/api/v2/routing/queues/";
pub(crate) const EWT_SUFFIX: &str = "/estimatedwaittime";
pub(crate) const LIMITS_PREFIX: &str = "/api/v2/organizations/limits/namespaces/";

/// `EstimatedWaitTimePredictions` (the official SDKs' model; not in `openapi-subset.json`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EstimatedWaitTimePredictions {
    pub(crate) results: Vec<PredictionResults>,
}

/// `PredictionResults`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PredictionResults {
    pub(crate) intent: String,
    pub(crate) formula: String,
    pub(crate) estimated_wait_time_seconds: i64,
}

/// `LimitsEntityListing` (`openapi-subset.json`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LimitsEntityListing {
    pub(crate) entities: Vec<Limit>,
}

/// `Limit` (`openapi-subset.json`): key, namespace, value.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Limit {
    pub(crate) key: String,
    pub(crate) namespace: String,
    pub(crate) value: i64,
}

/// `{queueId}` and `{mediaType}` of an estimated wait path, if it is one.
pub(crate) fn ewt_params(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(EWT_PREFIX)?.strip_suffix(EWT_SUFFIX)?;
    let (queue_id, media) = rest.split_once("/mediatypes/")?;
    (!queue_id.is_empty() && !queue_id.contains('/') && !media.is_empty() && !media.contains('/'))
        .then_some((queue_id, media))
}

/// `{namespaceName}` of a limits path, if it is one.
pub(crate) fn limits_namespace(path: &str) -> Option<&str> {
    let ns = path.strip_prefix(LIMITS_PREFIX)?;
    (!ns.is_empty() && !ns.contains('/')).then_some(ns)
}

/// The routing vocabulary of the path (`call` for telephony).
fn path_media(media: &str) -> Option<Media> {
    match media {
        "call" => Some(Media::Voice),
        "voice" => None,
        other => Media::parse_analytics(other),
    }
}

/// The model's estimate for a queue and media type, in whole seconds.
// Counts of conversations and agents are far below 2^52, and the result is a few hours at
// most, so the conversions are exact and the rounding fits i64.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
pub(crate) fn estimate(model: &Model, queue_id: &str, media: Media) -> Option<i64> {
    let qi = model.queue_index(queue_id)?;
    let snap = model.snapshot(qi);
    let waiting = snap.waiting[media.idx()] as f64;
    let agents = snap.on_queue().max(1) as f64;
    Some((waiting * media.mean_handle_s() / agents).round() as i64)
}

pub(crate) fn estimated_wait(
    model: &Model,
    queue_id: &str,
    media: &str,
) -> Result<EstimatedWaitTimePredictions, ApiError> {
    let media_type = path_media(media).ok_or_else(|| {
        ApiError::bad_request(format!(
            "mediaType '{media}' is not valid; expected one of call, callback, chat, email, message"
        ))
    })?;
    let seconds = estimate(model, queue_id, media_type).ok_or_else(|| ApiError {
        status: 404,
        code: "not.found",
        message: format!("Queue {queue_id} was not found"),
    })?;
    Ok(EstimatedWaitTimePredictions {
        results: vec![PredictionResults {
            // The SDKs' `PredictionResults.intent` enum: the path's media type in upper case
            // (CALL, CALLBACK, CHAT, EMAIL, MESSAGE).
            intent: media.to_ascii_uppercase(),
            formula: "BEST".to_string(),
            estimated_wait_time_seconds: seconds,
        }],
    })
}

/// The org's effective limits in a namespace: `platform.api` holds the per-token budget the
/// simulator enforces (`SimConfig::rate_limit_per_minute`); other namespaces are empty.
pub(crate) fn limits(namespace: &str, per_token_per_minute: u32) -> LimitsEntityListing {
    let entities = if namespace == "platform.api" {
        vec![
            Limit {
                key: "client.credentials.token.rate.per.minute".to_string(),
                namespace: namespace.to_string(),
                value: i64::from(per_token_per_minute),
            },
            Limit {
                key: "request.bytes.max".to_string(),
                namespace: namespace.to_string(),
                value: 512_000,
            },
        ]
    } else {
        Vec::new()
    };
    LimitsEntityListing { entities }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed() {
        assert_eq!(
            ewt_params("/api/v2/routing/queues/q1/mediatypes/call/estimatedwaittime"),
            Some(("q1", "call"))
        );
        assert_eq!(
            ewt_params("/api/v2/routing/queues/q1/estimatedwaittime"),
            None
        );
        assert_eq!(
            ewt_params("/api/v2/routing/queues//mediatypes/call/estimatedwaittime"),
            None
        );
        assert_eq!(
            limits_namespace("/api/v2/organizations/limits/namespaces/platform.api"),
            Some("platform.api")
        );
        assert_eq!(
            limits_namespace("/api/v2/organizations/limits/namespaces/"),
            None
        );
    }
}
