//! Fault injection: make the next N calls of an endpoint fail in a chosen way.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::auth::AuthState;

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Queues,
    Observations,
    Activity,
    Aggregates,
    /// `POST /api/v2/analytics/flows/activity/query`.
    FlowActivity,
    /// `POST /api/v2/analytics/conversations/details/query`.
    Details,
    /// `POST`/`GET /api/v2/notifications/channels` and `HEAD .../channels/{id}`
    /// (`Status { status: 403, .. }` = channel creation refused).
    Channels,
    /// `GET`/`PUT`/`POST`/`DELETE .../channels/{id}/subscriptions`.
    Subscriptions,
    /// `GET /api/v2/routing/queues/{queueId}/mediatypes/{mediaType}/estimatedwaittime`.
    EstimatedWait,
    /// `GET /api/v2/organizations/limits/namespaces/{namespaceName}`.
    Limits,
    /// The notification WebSocket: HTTP faults (`Status`, `Delay`, `Reset`) hit the upgrade
    /// request; push faults (`SocketClosing`, `Drop`, `Stall`) hit a connected socket.
    WebSocket,
    Any,
}

/// What happens instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status: 429 uses the normalized Genesys 429 body, other statuses an
    /// `ErrorBody` with the matching code; `Retry-After` is sent when given (always for 429).
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Answer normally, but only after this delay (client timeout tests).
    Delay(Duration),
    /// Close the connection without a response.
    Reset,
    /// 200 with the normal JSON cut in half.
    Malformed,
    /// 200 with a well-formed JSON body of about this many bytes (response-size caps).
    Oversized(usize),
    /// The normal answer plus what a newer Genesys might send: extra fields in every object,
    /// and in every `results` list one more entry for the first queue with an unknown media
    /// type, an unknown metric and an unknown routing status. Known values are unchanged.
    Mangled,
    /// The normal answer with `stats` removed from every metric entry and `group` from every
    /// other result.
    Stripped,
    /// The normal answer with the `count` of every `oWaiting` entry replaced by a value that
    /// is no count: `1e308`, `-5`, `"NaN"`, `1.5` in turn (by the entry's place in `results`).
    InvalidCounts,
    /// Push (WebSocket): instead of the next frame a socket would send (heartbeat, pong or
    /// event), a `v2.system.socket_closing` notice, then a close frame.
    SocketClosing,
    /// Push: instead of the next frame, the TCP connection is closed without a close frame.
    Drop,
    /// Push: from the next frame on, the socket sends nothing (no heartbeats, pongs or
    /// events) and stays open, until the client closes it or a newer socket displaces it.
    Stall,
    /// Subscriptions: the next `PUT`/`POST` answers every requested topic `Rejected` with
    /// `missingPermissions` and subscribes none of them.
    Rejected,
    /// Channels: the next channel created answers an `expires` an hour past (the channel
    /// itself lives its normal time): a client that renews before `expires` renews at once.
    ExpiresPast,
    /// Channels: the next `POST` creates nothing and answers the newest existing channel
    /// again (its id and `connectUri`), as a broken Genesys might hand one channel to several
    /// callers.
    SameId,
    /// Push: instead of the next frame, bytes that are no WebSocket frame, then the TCP
    /// connection closes (a proxy that breaks the stream right after the upgrade).
    Garbage,
    /// Push: a binary frame before the next frame (Genesys sends text only).
    Binary,
}

/// Hostile notification frames, sent at once by `SimOrg::push_hostile` on the connected
/// sockets: what a newer (or broken) Genesys might push. The model is not changed; frames for
/// a subscribed topic go to the socket of the channel that subscribed it, in topic order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// Events on the subscribed observation topics in turn, each for a group
    /// `{queueId, mediaType}` of a media type never sent before (`newmedia1`, `newmedia2`,
    /// ...) with one `oWaiting` count of 1.
    NewMediaTypes,
    /// Events on the subscribed observation topics in turn, each the queue's agent group
    /// `{queueId}` as it is now plus one `oUserRoutingStatuses` row of a qualifier never sent
    /// before (`NEW_STATUS_1`, ...) with a count of 1.
    NewRoutingStatuses,
    /// On each subscribed observation topic, the group of its queue's first media type as it
    /// is now, with an `oWaiting` row whose `count` is this raw JSON (`1e308`, `-5`, `"NaN"`,
    /// `1.5`).
    InvalidCount(String),
    /// On the topic of queue `topic`, an event whose group names queue `body` instead:
    /// `{queueId: body, mediaType: media}` with `oWaiting` count `waiting`.
    OtherQueueInBody {
        topic: String,
        body: String,
        media: String,
        waiting: u64,
    },
    /// On every connected socket, an event on the observations topic of queue `queue`, which
    /// no channel subscribed: group `{queueId: queue, mediaType: media}`, `oWaiting` count
    /// `waiting`.
    UnsubscribedTopic {
        queue: String,
        media: String,
        waiting: u64,
    },
    /// On each subscribed observation topic, for each group of its queue, a frame of the
    /// current half hour's aggregates, shaped as REFERENCE.md 2.7's capture (`tAlert`,
    /// `nOffered`, `oServiceLevel`, `tWait`): no observation metric at all.
    Aggregates,
}

impl Fault {
    /// Carried out by a connected WebSocket rather than on an HTTP request.
    pub(crate) fn is_push(&self) -> bool {
        matches!(
            self,
            Fault::SocketClosing | Fault::Drop | Fault::Stall | Fault::Garbage | Fault::Binary
        )
    }
}

/// How the aggregates query refuses a metric ([`Faults::refuse_aggregate_metrics`]): the
/// whole query answers 400 `bad.request` (REFERENCE §8 item 11; the text is not documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refusal {
    /// The message names the first refused metric the query asked for:
    /// "metrics value 'tAnswered' is not valid for this organization".
    #[default]
    Named,
    /// The message names nothing: Genesys' generic "bad request" text.
    Generic,
}

/// Fault injection handle (interior mutability; shared with the server).
pub struct Faults {
    pending: Mutex<Vec<(Endpoint, u32, Fault)>>,
    auth: Arc<AuthState>,
    zero_counts: AtomicBool,
    changed_metrics_only: AtomicBool,
    push_count_offset: AtomicI64,
    aggregate_lag: Mutex<Option<(Duration, Duration)>>,
    refused_metrics: Mutex<(Vec<String>, Refusal)>,
    omit_empty_views: AtomicBool,
    refused_views: AtomicBool,
    details_lag: Mutex<Option<(Duration, Duration)>>,
}

impl Faults {
    pub(crate) fn new(auth: Arc<AuthState>) -> Faults {
        Faults {
            pending: Mutex::new(Vec::new()),
            auth,
            zero_counts: AtomicBool::new(false),
            changed_metrics_only: AtomicBool::new(false),
            push_count_offset: AtomicI64::new(0),
            aggregate_lag: Mutex::new(None),
            refused_metrics: Mutex::new((Vec::new(), Refusal::Named)),
            omit_empty_views: AtomicBool::new(false),
            refused_views: AtomicBool::new(false),
            details_lag: Mutex::new(None),
        }
    }

    /// The next `count` calls of `endpoint` get `fault` (queued after earlier faults).
    pub fn fail_next(&self, endpoint: Endpoint, count: u32, fault: Fault) {
        if count > 0 {
            self.lock().push((endpoint, count, fault));
        }
    }

    /// Drop every pending fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Number of fault responses still to be served.
    pub fn pending(&self) -> u32 {
        self.lock().iter().map(|(_, n, _)| n).sum()
    }

    /// Every token issued so far gets 401 (`authentication.required`); new tokens work.
    pub fn revoke_tokens(&self) {
        self.auth.revoke_all();
    }

    /// `expires_in` (and real expiry, on the business clock) of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.auth.set_lifetime(lifetime);
    }

    /// Emit `count: 0` observation entries instead of leaving them out (the published
    /// tutorial response shows such rows; the default follows the "omit zeros" behaviour).
    pub fn set_emit_zero_counts(&self, on: bool) {
        self.zero_counts.store(on, Ordering::Relaxed);
    }

    pub(crate) fn emit_zero_counts(&self) -> bool {
        self.zero_counts.load(Ordering::Relaxed)
    }

    /// Aggregate views (`views[]` of the aggregates query) with no observation in an interval:
    /// `false` (the default) lists them with `count: 0`; `true` leaves them out (and the
    /// interval's `views` key too when none is left). Genesys does not document which it does.
    pub fn set_omit_empty_views(&self, on: bool) {
        self.omit_empty_views.store(on, Ordering::Relaxed);
    }

    pub(crate) fn omit_empty_views(&self) -> bool {
        self.omit_empty_views.load(Ordering::Relaxed)
    }

    /// From now on, until called again with `false`, every aggregates query with `views[]`
    /// answers 400 with Genesys' generic "bad request" text, naming nothing (views not
    /// available to the org, say: Genesys documents no such refusal, so the hardest case).
    /// A query without views is answered as usual.
    pub fn refuse_aggregate_views(&self, on: bool) {
        self.refused_views.store(on, Ordering::Relaxed);
    }

    pub(crate) fn views_refused(&self) -> bool {
        self.refused_views.load(Ordering::Relaxed)
    }

    /// How late aggregate metrics become visible: `Some((min, max))` = every conversation's
    /// lag is drawn (deterministically per conversation) from [min, max]; `Some((0, 0))` =
    /// visible at once; `None` = the default model (0-180 s, 5% of conversations up to 20 min).
    pub fn set_aggregate_lag(&self, lag: Option<(Duration, Duration)>) {
        *self.aggregate_lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }

    /// How late an ended conversation is answered as ended by the details query:
    /// `Some((min, max))` = every conversation's lag is drawn (deterministically per
    /// conversation) from [min, max]; `None` = the default model (0-60 s, one in ten 1-6 min).
    pub fn set_details_lag(&self, lag: Option<(Duration, Duration)>) {
        *self.details_lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }

    pub(crate) fn details_lag(&self) -> Option<(Duration, Duration)> {
        *self.details_lag.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn aggregate_lag(&self) -> Option<(Duration, Duration)> {
        *self.aggregate_lag.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, until called again, every aggregates query that asks for one of `metrics`
    /// answers 400, the way `refusal` says (a metric retired, renamed or not enabled for the
    /// org); a query without them is answered as usual. An empty list refuses nothing.
    pub fn refuse_aggregate_metrics(&self, metrics: &[&str], refusal: Refusal) {
        *self
            .refused_metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            (metrics.iter().map(ToString::to_string).collect(), refusal);
    }

    /// The first of `asked` that is refused, and how.
    pub(crate) fn refused_metric(&self, asked: &[String]) -> Option<(String, Refusal)> {
        let refused = self
            .refused_metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        asked
            .iter()
            .find(|m| refused.0.contains(m))
            .map(|m| (m.clone(), refused.1))
    }

    /// What a `v2.analytics.queues.{id}.observations` event carries (undocumented by
    /// Genesys): `false` (default) = every metric of the changed group, as the observations
    /// query answers it; `true` = only the metrics whose value changed since the topic's last
    /// event (a count that fell to zero is sent as `count: 0`; a vanished `oLongest*` is not
    /// sent). Clients should not depend on either.
    pub fn set_push_changed_metrics_only(&self, on: bool) {
        self.changed_metrics_only.store(on, Ordering::Relaxed);
    }

    pub(crate) fn push_changed_metrics_only(&self) -> bool {
        self.changed_metrics_only.load(Ordering::Relaxed)
    }

    /// Pushed events lie: every `count` they carry is off by `offset` (0 = the truth). The
    /// observations query is unaffected, so a client's reconciliation can catch the lie.
    pub fn set_push_count_offset(&self, offset: i64) {
        self.push_count_offset.store(offset, Ordering::Relaxed);
    }

    pub(crate) fn push_count_offset(&self) -> i64 {
        self.push_count_offset.load(Ordering::Relaxed)
    }

    /// The next fault for `endpoint` (or `Any`) that `applies`, in queue order.
    pub(crate) fn take_if(
        &self,
        endpoint: Endpoint,
        applies: impl Fn(&Fault) -> bool,
    ) -> Option<Fault> {
        let mut p = self.lock();
        let i = p
            .iter()
            .position(|(e, _, f)| (*e == endpoint || *e == Endpoint::Any) && applies(f))?;
        let fault = p[i].2.clone();
        p[i].1 -= 1;
        if p[i].1 == 0 {
            p.remove(i);
        }
        Some(fault)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Endpoint, u32, Fault)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}
