//! HTTP side: hyper 1 server, routing, auth, budget, faults, stats.
//!
//! Endpoints (all under one listener): `POST /login/oauth/token`; `GET /api/v2/routing/queues`;
//! `POST /api/v2/analytics/queues/observations/query`,
//! `…/conversations/activity/query`, `…/conversations/aggregates/query`,
//! `…/flows/activity/query`; `GET …/routing/queues/{id}/mediatypes/{type}/estimatedwaittime`;
//! `GET /api/v2/organizations/limits/namespaces/{name}`; the notification channels, their
//! subscriptions and the channel WebSocket (`/channels/{id}`).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::aggregates;
use super::api::{AuthErrorBody, ErrorBody, TokenResponse};
use super::auth::AuthFailure;
use super::details;
use super::endpoints;
use super::error::ApiError;
use super::estimated_wait;
use super::faults::{Endpoint, Fault};
use super::notify::{CHANNELS_PATH, SOCKET_PREFIX};
use super::shared::Shared;
use super::stats::STATUS_RESET;

pub(crate) const TOKEN_PATH: &str = "/login/oauth/token";
const QUEUES_PATH: &str = "/api/v2/routing/queues";
const OBSERVATIONS_PATH: &str = "/api/v2/analytics/queues/observations/query";
const ACTIVITY_PATH: &str = "/api/v2/analytics/conversations/activity/query";
const AGGREGATES_PATH: &str = "/api/v2/analytics/conversations/aggregates/query";
const FLOW_ACTIVITY_PATH: &str = "/api/v2/analytics/flows/activity/query";
const DETAILS_PATH: &str = "/api/v2/analytics/conversations/details/query";
/// `request.bytes.max` of the platform API.
const MAX_BODY: usize = 512_000;

type Resp = Response<Full<Bytes>>;

/// Returned to hyper to drop the connection without an answer (`Fault::Reset`).
#[derive(Debug, thiserror::Error)]
#[error("connection reset by fault injection")]
pub(crate) struct ResetConnection;

fn json<T: Serialize>(status: u16, body: &T) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_body(status: u16, code: &str, message: String, ctx: &str) -> Resp {
    json(
        status,
        &ErrorBody {
            message,
            code: code.to_string(),
            status,
            context_id: ctx.to_string(),
            details: Vec::new(),
            errors: Vec::new(),
        },
    )
}

fn api_error(e: ApiError, ctx: &str) -> Resp {
    error_body(e.status, e.code, e.message, ctx)
}

fn too_many(retry_after: u64, ctx: &str) -> Resp {
    let mut r = error_body(
        429,
        "too.many.requests.retry.after",
        format!("Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds"),
        ctx,
    );
    r.headers_mut()
        .insert("Retry-After", HeaderValue::from(retry_after));
    r
}

fn fault_response(status: u16, retry_after: Option<u64>, ctx: &str) -> Resp {
    if status == 429 {
        return too_many(retry_after.unwrap_or(1), ctx);
    }
    let (code, message) = match status {
        400 => ("bad.request", "The request could not be understood by the server due to malformed syntax."),
        401 => ("authentication.required", "No authentication bearer token specified in authorization header."),
        403 => ("missing.permissions", "Unable to perform the requested action. You are missing the following permission(s)."),
        404 => ("not.found", "The requested resource was not found."),
        500 => ("internal.server.error", "The server encountered an unexpected condition which prevented it from fulfilling the request."),
        502 => ("bad.gateway", "The server received an invalid response from an upstream server."),
        503 => ("service.unavailable", "The server is currently unavailable (because it is overloaded or down for maintenance)."),
        504 => ("request.timeout", "The request timed out."),
        _ => ("internal.server.error", "Simulated failure."),
    };
    let mut r = error_body(status, code, message.to_string(), ctx);
    if let Some(s) = retry_after {
        r.headers_mut().insert("Retry-After", HeaderValue::from(s));
    }
    r
}

fn auth_error(status: u16, error: &str, description: &str) -> Resp {
    json(
        status,
        &AuthErrorBody {
            error: error.to_string(),
            description: description.to_string(),
            error_description: description.to_string(),
        },
    )
}

fn bearer(req: &Request<Incoming>) -> Option<String> {
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn basic_credentials(req: &Request<Incoming>) -> Option<(String, String)> {
    use base64::Engine;
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, enc) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(enc.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn content_type_is(req: &Request<Incoming>, want: &str) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| ApiError {
            status: 413,
            code: "bad.request",
            message: format!(
                "The request body is too large or could not be read (max {MAX_BODY} bytes)"
            ),
        })
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Resp, ResetConnection> {
    let at = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let token = bearer(&req);
    let result = dispatch(&shared, req, &method, &path).await;
    let status = match &result {
        Ok(r) => r.status().as_u16(),
        Err(_) => STATUS_RESET,
    };
    let api_token = token.filter(|_| path.starts_with("/api/"));
    shared.stats.record(
        method.as_str(),
        &path,
        status,
        api_token.as_deref(),
        at,
        shared.started,
    );
    result
}

const CHANNELS_METHODS: &[Method] = &[Method::POST, Method::GET];
const CHANNEL_METHODS: &[Method] = &[Method::HEAD];
const SUBSCRIPTIONS_METHODS: &[Method] = &[Method::GET, Method::PUT, Method::POST, Method::DELETE];
const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];

/// The endpoint at `path` and the methods it takes.
fn route(path: &str) -> Option<(Endpoint, &'static [Method])> {
    Some(match path {
        TOKEN_PATH => (Endpoint::Token, POST),
        QUEUES_PATH => (Endpoint::Queues, GET),
        OBSERVATIONS_PATH => (Endpoint::Observations, POST),
        ACTIVITY_PATH => (Endpoint::Activity, POST),
        AGGREGATES_PATH => (Endpoint::Aggregates, POST),
        FLOW_ACTIVITY_PATH => (Endpoint::FlowActivity, POST),
        DETAILS_PATH => (Endpoint::Details, POST),
        CHANNELS_PATH => (Endpoint::Channels, CHANNELS_METHODS),
        _ => {
            if let Some(rest) = path
                .strip_prefix(CHANNELS_PATH)
                .and_then(|r| r.strip_prefix('/'))
            {
                match rest.split_once('/') {
                    None if !rest.is_empty() => (Endpoint::Channels, CHANNEL_METHODS),
                    Some((id, "subscriptions")) if !id.is_empty() => {
                        (Endpoint::Subscriptions, SUBSCRIPTIONS_METHODS)
                    }
                    _ => return None,
                }
            } else if estimated_wait::ewt_params(path).is_some() {
                (Endpoint::EstimatedWait, GET)
            } else if estimated_wait::limits_namespace(path).is_some() {
                (Endpoint::Limits, GET)
            } else {
                let id = path.strip_prefix(SOCKET_PREFIX)?;
                if id.is_empty() || id.contains('/') {
                    return None;
                }
                (Endpoint::WebSocket, GET)
            }
        }
    })
}

/// Whether a pending `fault` is for this request (HTTP faults; push faults are the socket's).
fn fault_applies(endpoint: Endpoint, method: &Method, fault: &Fault) -> bool {
    match fault {
        Fault::SocketClosing | Fault::Drop | Fault::Stall | Fault::Garbage | Fault::Binary => false,
        Fault::ExpiresPast | Fault::SameId => {
            endpoint == Endpoint::Channels && method == Method::POST
        }
        Fault::Rejected => {
            endpoint == Endpoint::Subscriptions && (method == Method::PUT || method == Method::POST)
        }
        Fault::Status { .. } | Fault::Delay(_) | Fault::Reset => true,
        Fault::Malformed
        | Fault::Oversized(_)
        | Fault::Mangled
        | Fault::Stripped
        | Fault::InvalidCounts => endpoint != Endpoint::WebSocket,
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    method: &Method,
    path: &str,
) -> Result<Resp, ResetConnection> {
    let ctx = uuid::Uuid::new_v4().to_string();
    let Some((endpoint, allowed)) = route(path) else {
        let r = error_body(
            404,
            "not.found",
            format!("The requested resource was not found: {path}"),
            &ctx,
        );
        return Ok(with_correlation(r, &ctx));
    };
    if !allowed.contains(method) {
        let mut r = error_body(
            405,
            "method.not.allowed",
            format!("Method {method} is not allowed on {path}"),
            &ctx,
        );
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        r.headers_mut().insert(
            "Allow",
            HeaderValue::from_str(&allow.join(", ")).unwrap_or(HeaderValue::from_static("GET")),
        );
        return Ok(with_correlation(r, &ctx));
    }
    if endpoint == Endpoint::Token {
        shared.stats.record_token_request();
    }
    let mut rewrite: Option<Fault> = None;
    let mut rejected = false;
    match shared
        .faults
        .take_if(endpoint, |f| fault_applies(endpoint, method, f))
    {
        Some(Fault::Reset) => return Err(ResetConnection),
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Status {
            status,
            retry_after_secs,
        }) => {
            return Ok(with_correlation(
                fault_response(status, retry_after_secs, &ctx),
                &ctx,
            ))
        }
        Some(Fault::Oversized(bytes)) => {
            let padding = "x".repeat(bytes);
            let body = format!("{{\"results\":[],\"padding\":\"{padding}\"}}");
            return Ok(with_correlation(json_text(200, body), &ctx));
        }
        Some(f @ (Fault::Malformed | Fault::Mangled | Fault::Stripped | Fault::InvalidCounts)) => {
            rewrite = Some(f);
        }
        Some(Fault::Rejected) => rejected = true,
        Some(Fault::ExpiresPast) => {
            let mut channel = shared.hub.create_channel(shared.as_ref());
            channel.expires = crate::notify::iso(shared.business_now_ms() - 3_600_000);
            return Ok(with_correlation(json(200, &channel), &ctx));
        }
        Some(Fault::SameId) => {
            let channel = shared
                .hub
                .newest_channel(shared.as_ref())
                .unwrap_or_else(|| shared.hub.create_channel(shared.as_ref()));
            return Ok(with_correlation(json(200, &channel), &ctx));
        }
        Some(
            Fault::SocketClosing | Fault::Drop | Fault::Stall | Fault::Garbage | Fault::Binary,
        )
        | None => {}
    }
    let resp = match endpoint {
        Endpoint::Token => token_endpoint(shared, req).await,
        Endpoint::WebSocket => websocket_upgrade(shared, req, path, &ctx),
        _ => api_endpoint(shared, req, endpoint, rejected, &ctx).await,
    };
    let resp = match rewrite {
        Some(Fault::Malformed) => truncate(resp).await,
        Some(Fault::Mangled) => rewrite_json(resp, mangle).await,
        Some(Fault::Stripped) => rewrite_json(resp, strip).await,
        Some(Fault::InvalidCounts) => rewrite_json(resp, invalid_counts).await,
        _ => resp,
    };
    Ok(with_correlation(resp, &ctx))
}

/// `GET ws://…/channels/{id}` with an upgrade to WebSocket (no bearer token: the channel id
/// is what the client holds, as with Genesys' `connectUri`).
fn websocket_upgrade(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
    path: &str,
    ctx: &str,
) -> Resp {
    use hyper::header::{
        CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
    };
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let wants_upgrade = header(UPGRADE).eq_ignore_ascii_case("websocket")
        && header(CONNECTION)
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        && header(SEC_WEBSOCKET_VERSION) == "13";
    let key = header(SEC_WEBSOCKET_KEY);
    if !wants_upgrade || key.is_empty() {
        let mut r = error_body(
            426,
            "bad.request",
            "This is a notification channel: connect with a WebSocket (version 13)".to_string(),
            ctx,
        );
        r.headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        return r;
    }
    let channel_id = path.trim_start_matches(SOCKET_PREFIX).to_string();
    let Some((socket_id, rx)) = shared.hub.connect(shared.as_ref(), &channel_id) else {
        return error_body(
            404,
            "not.found",
            format!("Channel {channel_id} was not found"),
            ctx,
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let sh = shared.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            super::websocket::serve(sh.clone(), channel_id.clone(), upgraded, rx).await;
        }
        sh.hub.detach(&channel_id, socket_id);
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// Channels and subscriptions (after auth and budget).
async fn notify_endpoint(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    endpoint: Endpoint,
    rejected: bool,
) -> Result<Resp, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let hub = &shared.hub;
    // `…/channels/{id}` or `…/channels/{id}/subscriptions`.
    let channel_id = path
        .strip_prefix(CHANNELS_PATH)
        .unwrap_or("")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    match (endpoint, &method) {
        (Endpoint::Channels, &Method::POST) => Ok(json(200, &hub.create_channel(shared.as_ref()))),
        (Endpoint::Channels, &Method::GET) => Ok(json(200, &hub.list_channels(shared.as_ref()))),
        (Endpoint::Channels, _) => {
            if hub.exists(shared.as_ref(), &channel_id) {
                Ok(empty(StatusCode::OK))
            } else {
                Err(ApiError {
                    status: 404,
                    code: "not.found",
                    message: format!("Channel {channel_id} was not found"),
                })
            }
        }
        (_, &Method::GET) => hub
            .subscriptions(shared.as_ref(), &channel_id)
            .map(|v| json(200, &v)),
        (_, &Method::DELETE) => hub
            .unsubscribe_all(shared.as_ref(), &channel_id)
            .map(|()| empty(StatusCode::NO_CONTENT)),
        _ => {
            if !content_type_is(&req, "application/json") {
                return Err(ApiError {
                    status: 415,
                    code: "unsupported.media.type",
                    message: "Content-Type must be application/json".to_string(),
                });
            }
            let replace = method == Method::PUT;
            let body = read_body(req).await?;
            let topics: Vec<super::api::ChannelTopicRequest> = serde_json::from_slice(&body)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "The request could not be understood: expected a list of topics ({e})"
                    ))
                })?;
            hub.subscribe(shared.as_ref(), &channel_id, topics, replace, rejected)
                .map(|v| json(200, &v))
        }
    }
}

fn with_correlation(mut r: Resp, ctx: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(ctx) {
        r.headers_mut().insert("ININ-Correlation-Id", v);
    }
    r
}

fn json_text(status: u16, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static("application/json"));
    r
}

/// Applies `f` to a JSON response body (left as is if it is not JSON).
async fn rewrite_json(r: Resp, f: fn(&mut serde_json::Value)) -> Resp {
    let (parts, body) = r.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Full::new(bytes));
    };
    f(&mut v);
    let out = serde_json::to_vec(&v).map(Bytes::from).unwrap_or(bytes);
    let mut parts = parts;
    parts.headers.remove("Content-Length");
    Response::from_parts(parts, Full::new(out))
}

fn mangle(v: &mut serde_json::Value) {
    use serde_json::{json, Value};
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(results)) = map.get_mut("results") {
                let queue = results
                    .iter()
                    .find_map(|r| r.pointer("/group/queueId").cloned())
                    .unwrap_or(Value::Null);
                results.push(json!({
                    "group": {"queueId": queue, "mediaType": "hologram"},
                    "data": [
                        {"metric": "oWaiting", "stats": {"count": 2, "brandNewStat": 1}},
                        {"metric": "oBrandNewMetric", "stats": {"count": 5}},
                        {"metric": "oUserRoutingStatuses", "qualifier": "ON_A_NEW_STATUS", "stats": {"count": 1}}
                    ]
                }));
            }
            for child in map.values_mut() {
                mangle(child);
            }
            map.insert(
                "unexpectedField".into(),
                json!({"nested": [1, "two", null]}),
            );
        }
        Value::Array(items) => items.iter_mut().for_each(mangle),
        _ => {}
    }
}

fn invalid_counts(v: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let odd = [json!(1e308), json!(-5), json!("NaN"), json!(1.5)];
    let Some(Value::Array(results)) = v.get_mut("results") else {
        return;
    };
    for (i, r) in results.iter_mut().enumerate() {
        let Some(Value::Array(data)) = r.get_mut("data") else {
            continue;
        };
        for d in data {
            if d.get("metric").and_then(Value::as_str) == Some("oWaiting") {
                if let Some(stats) = d.get_mut("stats").and_then(Value::as_object_mut) {
                    stats.insert("count".into(), odd[i % odd.len()].clone());
                }
            }
        }
    }
}

fn strip(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            map.remove("stats");
            if let Some(Value::Array(results)) = map.get_mut("results") {
                for (i, r) in results.iter_mut().enumerate() {
                    if let (0, Some(o)) = (i % 2, r.as_object_mut()) {
                        o.remove("group");
                    }
                }
            }
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

async fn truncate(r: Resp) -> Resp {
    let (mut parts, body) = r.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts.status = StatusCode::OK;
    Response::from_parts(parts, Full::new(cut))
}

async fn token_endpoint(shared: &Shared, req: Request<Incoming>) -> Resp {
    let creds = basic_credentials(&req);
    let form = content_type_is(&req, "application/x-www-form-urlencoded");
    let ok = creds
        .as_ref()
        .is_some_and(|(id, secret)| *id == shared.client_id && *secret == shared.client_secret);
    if !ok {
        return auth_error(
            401,
            "invalid_client",
            "client authentication failed: missing or invalid Basic credentials",
        );
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(_) => return auth_error(400, "invalid_request", "request body could not be read"),
    };
    if !form {
        return auth_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let grant = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    match grant.as_deref() {
        None => auth_error(400, "invalid_request", "grant_type is required"),
        Some("client_credentials") => {
            let (access_token, expires_in) = shared.auth.issue(shared.business_now_ms());
            json(
                200,
                &TokenResponse {
                    access_token,
                    token_type: "bearer".to_string(),
                    expires_in,
                },
            )
        }
        Some(other) => auth_error(
            400,
            "unsupported_grant_type",
            &format!("grant type '{other}' is not supported"),
        ),
    }
}

async fn api_endpoint(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    endpoint: Endpoint,
    rejected: bool,
    ctx: &str,
) -> Resp {
    let token = bearer(&req);
    if let Err(f) = shared
        .auth
        .check(token.as_deref(), shared.business_now_ms())
    {
        let message = match f {
            AuthFailure::Missing => {
                "No authentication bearer token specified in authorization header."
            }
            AuthFailure::Unknown => "Invalid login credentials.",
            AuthFailure::Expired => "Authentication token has expired.",
            AuthFailure::Revoked => "Authentication token has been revoked.",
        };
        let code = if f == AuthFailure::Unknown {
            "bad.credentials"
        } else {
            "authentication.required"
        };
        return error_body(401, code, message.to_string(), ctx);
    }
    let token = token.unwrap_or_default();
    let budget = match shared.auth.admit(&token, Instant::now()) {
        Ok(b) => b,
        Err(retry_after) => return too_many(retry_after, ctx),
    };
    let query = req.uri().query().map(str::to_string);
    let result = match endpoint {
        Endpoint::Queues => {
            let model = shared.model_now();
            endpoints::list_queues(&model, query.as_deref()).map(|v| json(200, &v))
        }
        Endpoint::Observations
        | Endpoint::Activity
        | Endpoint::Aggregates
        | Endpoint::FlowActivity
        | Endpoint::Details => {
            if !content_type_is(&req, "application/json") {
                Err(ApiError {
                    status: 415,
                    code: "unsupported.media.type",
                    message: "Content-Type must be application/json".to_string(),
                })
            } else {
                match read_body(req).await {
                    Err(e) => Err(e),
                    Ok(body) if endpoint == Endpoint::Observations => {
                        endpoints::parse_observation_query(&body).map(|q| {
                            let zeros = shared.faults.emit_zero_counts();
                            let model = shared.model_now();
                            json(200, &endpoints::observations(&model, &q, zeros))
                        })
                    }
                    Ok(body) if endpoint == Endpoint::Aggregates => {
                        aggregates::parse_aggregate_query(&body)
                            .and_then(|q| {
                                aggregates::check_refused(&q, &shared.faults)?;
                                Ok(q)
                            })
                            .map(|q| {
                                let lag = aggregates::lag_override(shared.faults.aggregate_lag());
                                let omit = shared.faults.omit_empty_views();
                                let model = shared.model_now();
                                json(200, &aggregates::aggregates(&model, &q, lag, omit))
                            })
                    }
                    Ok(body) if endpoint == Endpoint::Details => {
                        details::parse_details_query(&body).map(|q| {
                            let lag = aggregates::lag_override(shared.faults.details_lag());
                            let model = shared.model_now();
                            json(200, &details::details(&model, &q, lag))
                        })
                    }
                    Ok(body) if endpoint == Endpoint::FlowActivity => {
                        endpoints::parse_flow_activity_query(&body, query.as_deref()).map(|q| {
                            let model = shared.model_now();
                            json(200, &endpoints::flow_activity(&model, &q))
                        })
                    }
                    Ok(body) => endpoints::parse_activity_query(&body, query.as_deref()).map(|q| {
                        let model = shared.model_now();
                        json(200, &endpoints::activity(&model, &q))
                    }),
                }
            }
        }
        Endpoint::Channels | Endpoint::Subscriptions => {
            notify_endpoint(shared, req, endpoint, rejected).await
        }
        Endpoint::EstimatedWait => {
            let path = req.uri().path().to_string();
            let (queue_id, media) = estimated_wait::ewt_params(&path).unwrap_or_default();
            let model = shared.model_now();
            estimated_wait::estimated_wait(&model, queue_id, media).map(|v| json(200, &v))
        }
        Endpoint::Limits => {
            let path = req.uri().path().to_string();
            let namespace = estimated_wait::limits_namespace(&path).unwrap_or_default();
            Ok(json(
                200,
                &estimated_wait::limits(namespace, shared.auth.limit()),
            ))
        }
        Endpoint::Token | Endpoint::WebSocket | Endpoint::Any => Err(ApiError {
            status: 404,
            code: "not.found",
            message: "not found".to_string(),
        }),
    };
    let mut r = match result {
        Ok(r) => r,
        Err(e) => api_error(e, ctx),
    };
    let h = r.headers_mut();
    h.insert("inin-ratelimit-count", HeaderValue::from(budget.count));
    h.insert("inin-ratelimit-allowed", HeaderValue::from(budget.allowed));
    h.insert("inin-ratelimit-reset", HeaderValue::from(budget.reset_secs));
    r
}
