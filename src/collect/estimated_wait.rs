//! Genesys' own estimate of how long a new conversation would wait:
//! `GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime`.
//!
//! One request per queue and media type, so the collector is opt-in (`--collector.estimated_wait`)
//! and asks only where the latest observations show conversations waiting, most waiting first,
//! at most `--estimated-wait.max-queries` a poll. Neither the endpoint nor its answer
//! (`EstimatedWaitTimePredictions`) is in `openapi-subset.json`; the shape is the official
//! SDKs'. An answer without a usable `results[].estimatedWaitTimeSeconds` fails the poll
//! (`genesys_collector_poll_failures_total{collector="estimated_wait"}`) and serves no series.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::observations::ObservationsSnapshot;
use super::{
    CollectError, CollectorSettings, Context, FlagSet, Poll, Registration, SettingError, Settings,
    Slot, Snapshot, Started,
};
use crate::genesys::request::{segment, Endpoint, Permission, Request};
use crate::genesys::{ApiError, GenesysClient};
use crate::metrics::catalog::{Family, Kind};
use crate::metrics::exposition::{Exposition, Labels};

/// `--estimated-wait.max-queries` default: at the 1m default interval, 50 of the 200 requests
/// a minute of the default budget.
pub(crate) const DEFAULT_MAX_QUERIES: u32 = 50;

pub(crate) const REGISTRATION: Registration = Registration {
    name: "estimated_wait",
    polls: "ask for the estimated wait of queues with conversations waiting (GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime)",
    default_interval: "1m",
    // Opt-in: this is the help of `--collector.estimated_wait`, which turns it on.
    disable: Some("Enable the estimated wait collector: one request per queue and media type with conversations waiting, at most --estimated-wait.max-queries a poll."),
    opt_in: true,
    org_wide: false,
    // The cap: what a busy poll costs at the default --estimated-wait.max-queries (the plan
    // does not see another cap; it never costs more than the cap it runs with).
    // At most the cap: what the plan must reserve.
    requests_per_poll: |settings, _| {
        settings
            .of::<EstimatedWaitSettings>()
            .map_or(0.0, |s| f64::from(s.max_queries))
    },
    cost_from_polls: false,
    background: false,
    flags: Some(&FLAGS),
    endpoints: &[ESTIMATED_WAIT_TIME],
    start,
    families: FAMILIES,
};

/// What a reload may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EstimatedWaitSettings {
    /// Requests a poll, at most (`--estimated-wait.max-queries`).
    pub(crate) max_queries: u32,
}

/// Added to the command line by the registration's flag set.
#[derive(Debug, clap::Args)]
struct EstimatedWaitFlags {
    /// Estimated wait requests a poll, at most (one per queue and media type with
    /// conversations waiting, most waiting first); the collector is off unless
    /// --collector.estimated_wait.
    #[arg(long = "estimated-wait.max-queries", default_value_t = DEFAULT_MAX_QUERIES,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    estimated_wait_max_queries: u32,
}

const FLAGS: FlagSet = FlagSet {
    args: <EstimatedWaitFlags as clap::Args>::augment_args,
    settings: |matches| {
        let flags = <EstimatedWaitFlags as clap::FromArgMatches>::from_arg_matches(matches)
            .map_err(SettingError::parse)?;
        Ok(Arc::new(EstimatedWaitSettings {
            max_queries: flags.estimated_wait_max_queries,
        }))
    },
    check: |_, _| None,
};

impl CollectorSettings for EstimatedWaitSettings {
    fn same(&self, other: &dyn CollectorSettings) -> bool {
        (other as &dyn std::any::Any).downcast_ref::<Self>() == Some(self)
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![("estimated-wait.max-queries", self.max_queries.to_string())]
    }
}

impl Default for EstimatedWaitSettings {
    fn default() -> Self {
        EstimatedWaitSettings {
            max_queries: DEFAULT_MAX_QUERIES,
        }
    }
}

fn start(ctx: Context) -> Started {
    let observations = ctx.slot::<ObservationsSnapshot>();
    ctx.spawner().spawn(EstimatedWaitCollector {
        client: ctx.client,
        live: ctx.live,
        observations,
        first_wait: ctx.interval,
    })
}

/// One estimate: a queue, a media type (analytics vocabulary) and seconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) queue_id: String,
    pub(crate) queue: String,
    pub(crate) media_type: String,
    pub(crate) seconds: f64,
}

/// The estimates of the last poll, sorted by queue name, queue id and media type.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EstimatedWaitSnapshot {
    pub(crate) estimates: Vec<Estimate>,
}

pub(crate) struct EstimatedWaitCollector {
    pub(crate) client: GenesysClient,
    pub(crate) live: watch::Receiver<Arc<Settings>>,
    /// The observations collector's slot (it always runs).
    pub(crate) observations: Option<Arc<Slot<ObservationsSnapshot>>>,
    /// How long the first poll waits for the first observations.
    pub(crate) first_wait: Duration,
}

/// A queue and media type with conversations waiting: a candidate for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub(crate) queue_id: String,
    pub(crate) queue: String,
    pub(crate) media_type: String,
    pub(crate) waiting: u64,
}

/// The pairs to ask about: those with conversations waiting, most waiting first (then by
/// queue name, id and media type), at most `max`.
#[must_use]
pub(crate) fn waiting_pairs(obs: &ObservationsSnapshot, max: usize) -> Vec<Waiting> {
    let mut pairs: Vec<Waiting> = obs
        .queues
        .queues
        .iter()
        .zip(&obs.live)
        .filter_map(|(q, live)| Some((q, live.as_ref()?)))
        .flat_map(|(q, live)| {
            live.media
                .iter()
                .filter(|(_, m)| m.conversations.waiting > 0)
                .map(|(media, m)| Waiting {
                    queue_id: q.id.clone(),
                    queue: q.name.clone(),
                    media_type: media.clone(),
                    waiting: m.conversations.waiting,
                })
        })
        .collect();
    pairs.sort_by(|a, b| {
        b.waiting.cmp(&a.waiting).then_with(|| {
            (&a.queue, &a.queue_id, &a.media_type).cmp(&(&b.queue, &b.queue_id, &b.media_type))
        })
    });
    pairs.truncate(max);
    pairs
}

/// The path's media type: routing's vocabulary calls telephony `call` (REFERENCE.md 4.1).
#[must_use]
pub(crate) fn path_media_type(analytics: &str) -> &str {
    match analytics {
        "voice" => "call",
        other => other,
    }
}

impl EstimatedWaitCollector {
    /// The latest observations, waiting up to `first_wait` for the first.
    async fn observations(&self) -> Result<Arc<ObservationsSnapshot>, CollectError> {
        let not_yet = CollectError::NotYet(super::observations::REGISTRATION.name);
        let Some(source) = &self.observations else {
            return Err(not_yet);
        };
        let deadline = Instant::now() + self.first_wait;
        loop {
            if let Some(data) = source.latest().data {
                return Ok(data);
            }
            if Instant::now() >= deadline {
                return Err(not_yet);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Poll for EstimatedWaitCollector {
    type Snapshot = EstimatedWaitSnapshot;

    async fn poll(&mut self) -> Result<EstimatedWaitSnapshot, CollectError> {
        let obs = self.observations().await?;
        let max = self
            .live
            .borrow()
            .of::<EstimatedWaitSettings>()
            .map_or(DEFAULT_MAX_QUERIES, |s| s.max_queries);
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut estimates = Vec::new();
        for pair in waiting_pairs(&obs, max) {
            let request = EstimatedWaitTimeRequest {
                queue_id: &pair.queue_id,
                media_type: path_media_type(&pair.media_type),
            };
            let answer = match self.client.send(&request).await {
                Ok(answer) => answer,
                // A queue deleted since the observations, or a media type the endpoint does
                // not take: no estimate for that pair, the others still count.
                Err(ApiError::Status {
                    status: status @ (400 | 404),
                    ..
                }) => {
                    tracing::debug!(queue_id = %pair.queue_id, media_type = %pair.media_type, status, "no estimated wait");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let seconds = answer.seconds().ok_or_else(|| CollectError::Unexpected {
                endpoint: ESTIMATED_WAIT_TIME.label,
                reason: "no results[].estimatedWaitTimeSeconds".into(),
            })?;
            estimates.push(Estimate {
                queue_id: pair.queue_id,
                queue: pair.queue,
                media_type: pair.media_type,
                seconds,
            });
        }
        estimates.sort_by(|a, b| {
            (&a.queue, &a.queue_id, &a.media_type).cmp(&(&b.queue, &b.queue_id, &b.media_type))
        });
        Ok(EstimatedWaitSnapshot { estimates })
    }
}

/// The families this collector writes.
pub(crate) const FAMILIES: &[&Family] = &[&QUEUE_ESTIMATED_WAIT_SECONDS];

pub(crate) const QUEUE_ESTIMATED_WAIT_SECONDS: Family = Family {
    name: "genesys_queue_estimated_wait_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Genesys' estimated wait for a new conversation (GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime), for queue and media types with conversations waiting; opt-in collector estimated_wait.",
    labels: &["queue_id", "queue", "media_type"],
};

impl Snapshot for EstimatedWaitSnapshot {
    fn write(&self, e: &mut Exposition) -> std::io::Result<()> {
        if self.estimates.is_empty() {
            return Ok(());
        }
        e.begin(&QUEUE_ESTIMATED_WAIT_SECONDS)?;
        for est in &self.estimates {
            let labels = Labels::new()
                .with("queue_id", &est.queue_id)
                .with("queue", &est.queue)
                .with("media_type", &est.media_type);
            e.sample(&[&labels], est.seconds)?;
        }
        Ok(())
    }
}

// ---- GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime --------

/// Queue id and media type stay out of the label, as a channel id does. The permission is in
/// none of the references we have (the endpoint is not in `openapi-subset.json`).
pub(crate) const ESTIMATED_WAIT_TIME: Endpoint = Endpoint::api(
    "/api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime",
    Permission::Unverified,
);

/// One queue and media type; `media_type` in the path's vocabulary (`call`, not `voice`).
pub(crate) struct EstimatedWaitTimeRequest<'a> {
    pub(crate) queue_id: &'a str,
    pub(crate) media_type: &'a str,
}

impl Request for EstimatedWaitTimeRequest<'_> {
    const ENDPOINT: Endpoint = ESTIMATED_WAIT_TIME;
    type Body = ();
    type Response = EstimatedWaitTimePredictions;

    fn method(&self) -> Method {
        Method::GET
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "/api/v2/routing/queues/{}/mediatypes/{}/estimatedwaittime",
            segment(self.queue_id),
            segment(self.media_type)
        ))
    }

    fn body(&self) -> Option<&()> {
        None
    }
}

/// `EstimatedWaitTimePredictions`. Not in `openapi-subset.json`: the shape is the official
/// SDKs' model documentation (`build/docs/EstimatedWaitTimePredictions.md`,
/// `PredictionResults.md`). Everything is optional, so the collector, not serde, decides
/// whether an answer holds an estimate: one without any is a failed poll, never a series.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct EstimatedWaitTimePredictions {
    #[serde(default)]
    pub(crate) results: Option<Vec<PredictionResults>>,
}

/// `PredictionResults`: one estimate (the SDKs: `intent` "the media type scope", `formula`,
/// `estimatedWaitTimeSeconds` an integer); only the estimate is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PredictionResults {
    /// A number: an integer by the SDKs, read as f64 so a fractional one is not an error.
    #[serde(default)]
    pub(crate) estimated_wait_time_seconds: Option<f64>,
}

impl EstimatedWaitTimePredictions {
    /// The first estimate that is a finite, non-negative number of seconds.
    #[must_use]
    pub(crate) fn seconds(&self) -> Option<f64> {
        self.results
            .as_deref()?
            .iter()
            .filter_map(|r| r.estimated_wait_time_seconds)
            .find(|s| s.is_finite() && *s >= 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::observations::{
        ConversationCounts, LiveReport, MediaLive, ObservedSet, QueueLive,
    };
    use crate::collect::queues::{QueueSet, WatchedQueue};

    fn obs(waiting: &[(&str, &[(&str, u64)])]) -> ObservationsSnapshot {
        let queues = waiting
            .iter()
            .map(|(name, media)| WatchedQueue {
                id: format!("id-{name}"),
                name: (*name).to_string(),
                division: "d".into(),
                media_types: media.iter().map(|(m, _)| (*m).to_string()).collect(),
            })
            .collect();
        let live = waiting
            .iter()
            .map(|(_, media)| {
                Some(Arc::new(QueueLive {
                    media: media
                        .iter()
                        .map(|(m, w)| {
                            let conversations = ConversationCounts {
                                waiting: *w,
                                ..ConversationCounts::default()
                            };
                            let live = MediaLive {
                                conversations,
                                ..MediaLive::default()
                            };
                            ((*m).to_string(), live)
                        })
                        .collect(),
                    ..QueueLive::default()
                }))
            })
            .collect();
        ObservationsSnapshot::new(
            Arc::new(QueueSet { queues }),
            live,
            LiveReport::default(),
            ObservedSet::ALL,
        )
    }

    #[test]
    fn only_pairs_with_waiting_conversations_most_waiting_first_up_to_the_cap() {
        let o = obs(&[
            ("a", &[("voice", 0), ("chat", 2)]),
            ("b", &[("voice", 5)]),
            ("c", &[("email", 2), ("message", 0)]),
        ]);
        let names = |v: Vec<Waiting>| -> Vec<String> {
            v.into_iter()
                .map(|w| format!("{}/{}", w.queue, w.media_type))
                .collect()
        };
        assert_eq!(
            names(waiting_pairs(&o, 50)),
            ["b/voice", "a/chat", "c/email"]
        );
        assert_eq!(names(waiting_pairs(&o, 2)), ["b/voice", "a/chat"]);
        assert!(waiting_pairs(&o, 0).is_empty());
    }

    #[test]
    fn telephony_is_call_in_the_path() {
        assert_eq!(path_media_type("voice"), "call");
        assert_eq!(path_media_type("chat"), "chat");
    }

    #[test]
    fn an_answer_without_an_estimate_has_no_seconds() {
        let parse = |v: serde_json::Value| -> Option<f64> {
            serde_json::from_value::<EstimatedWaitTimePredictions>(v)
                .ok()?
                .seconds()
        };
        assert_eq!(
            parse(serde_json::json!({"results": [
                {"intent": "ALL", "formula": "BEST", "estimatedWaitTimeSeconds": 42}
            ]})),
            Some(42.0)
        );
        assert_eq!(parse(serde_json::json!({})), None);
        assert_eq!(parse(serde_json::json!({"results": []})), None);
        assert_eq!(
            parse(serde_json::json!({"results": [{"estimatedWaitTimeSeconds": -1}]})),
            None
        );
        assert_eq!(parse(serde_json::json!({"estimatedWaitTime": 42})), None);
    }

    #[test]
    fn its_endpoint_names_its_permission() {
        crate::genesys::request::assert_permission_named(&ESTIMATED_WAIT_TIME);
        let request = EstimatedWaitTimeRequest {
            queue_id: "q/1",
            media_type: "call",
        };
        assert_eq!(
            request.path(),
            "/api/v2/routing/queues/q%2F1/mediatypes/call/estimatedwaittime"
        );
    }
}
