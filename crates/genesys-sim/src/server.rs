//! HTTP side: hyper 1 server, routing, auth, budget, faults, stats.

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
use super::endpoints;
use super::error::ApiError;
use super::faults::{Endpoint, Fault};
use super::shared::Shared;
use super::stats::STATUS_RESET;

pub(crate) const TOKEN_PATH: &str = "/login/oauth/token";
const QUEUES_PATH: &str = "/api/v2/routing/queues";
const OBSERVATIONS_PATH: &str = "/api/v2/analytics/queues/observations/query";
const ACTIVITY_PATH: &str = "/api/v2/analytics/conversations/activity/query";
const AGGREGATES_PATH: &str = "/api/v2/analytics/conversations/aggregates/query";
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

async fn dispatch(
    shared: &Shared,
    req: Request<Incoming>,
    method: &Method,
    path: &str,
) -> Result<Resp, ResetConnection> {
    let ctx = uuid::Uuid::new_v4().to_string();
    let (endpoint, allowed) = match path {
        TOKEN_PATH => (Endpoint::Token, Method::POST),
        QUEUES_PATH => (Endpoint::Queues, Method::GET),
        OBSERVATIONS_PATH => (Endpoint::Observations, Method::POST),
        ACTIVITY_PATH => (Endpoint::Activity, Method::POST),
        AGGREGATES_PATH => (Endpoint::Aggregates, Method::POST),
        _ => {
            let r = error_body(
                404,
                "not.found",
                format!("The requested resource was not found: {path}"),
                &ctx,
            );
            return Ok(with_correlation(r, &ctx));
        }
    };
    if *method != allowed {
        let mut r = error_body(
            405,
            "method.not.allowed",
            format!("Method {method} is not allowed on {path}"),
            &ctx,
        );
        r.headers_mut().insert(
            "Allow",
            HeaderValue::from_str(allowed.as_str()).unwrap_or(HeaderValue::from_static("GET")),
        );
        return Ok(with_correlation(r, &ctx));
    }
    if endpoint == Endpoint::Token {
        shared.stats.record_token_request();
    }
    let mut rewrite: Option<Fault> = None;
    match shared.faults.take(endpoint) {
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
        Some(f @ (Fault::Malformed | Fault::Mangled | Fault::Stripped)) => rewrite = Some(f),
        None => {}
    }
    let resp = if endpoint == Endpoint::Token {
        token_endpoint(shared, req).await
    } else {
        api_endpoint(shared, req, endpoint, &ctx).await
    };
    let resp = match rewrite {
        Some(Fault::Malformed) => truncate(resp).await,
        Some(Fault::Mangled) => rewrite_json(resp, mangle).await,
        Some(Fault::Stripped) => rewrite_json(resp, strip).await,
        _ => resp,
    };
    Ok(with_correlation(resp, &ctx))
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
    shared: &Shared,
    req: Request<Incoming>,
    endpoint: Endpoint,
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
        Endpoint::Observations | Endpoint::Activity | Endpoint::Aggregates => {
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
                        aggregates::parse_aggregate_query(&body).map(|q| {
                            let lag = aggregates::lag_override(shared.faults.aggregate_lag());
                            let model = shared.model_now();
                            json(200, &aggregates::aggregates(&model, &q, lag))
                        })
                    }
                    Ok(body) => endpoints::parse_activity_query(&body, query.as_deref()).map(|q| {
                        let model = shared.model_now();
                        json(200, &endpoints::activity(&model, &q))
                    }),
                }
            }
        }
        Endpoint::Token | Endpoint::Any => Err(ApiError {
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
