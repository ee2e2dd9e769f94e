//! The HTTP side: landing page, telemetry, health and readiness. It only reads snapshots.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
    VARY, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::http::HttpMetrics;
use crate::metrics::{Format, Metrics};
use crate::reload::Reloader;
use crate::stall::{Stall, StallTimeout, Stalls};
use crate::web::{self, WebGuard};

/// Slow or stalled clients (slowloris) lose their connection after this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A response write that makes no progress for this long closes the connection: the same
/// patience as for request headers, the other direction. Time between two successful writes
/// (nginx's `send_timeout`), so a slow scraper that keeps reading a large body is never cut off.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// With every connection slot taken, the connection stalled on a write the longest is closed for
/// a new client once it has been stalled this long. A scraper reading its body stalls for a
/// round trip at a time, a retransmission or two at worst (200 ms minimum RTO on Linux); a
/// client that stopped reading stalls for good. Each slot then turns over once a second, so a
/// new client waits about (connections queued ahead of it) / (slots) seconds: the listener's
/// accept queue holds 128, so under a second at the default 512 slots (plus a SYN retry, 1 s,
/// if it found the queue full).
const EVICT_AFTER: Duration = Duration::from_secs(1);
/// Bounds request-header buffering per connection.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long in-flight requests get to finish on SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub(crate) struct AppState {
    pub(crate) metrics: Arc<Metrics>,
    /// Connections closed to protect the others (shown in `metrics`).
    pub(crate) http: HttpMetrics,
    pub(crate) telemetry_path: String,
    /// `--web.enable-lifecycle`: POST/PUT /-/reload allowed.
    pub(crate) lifecycle: bool,
    pub(crate) reloader: Arc<Reloader>,
}

impl AppState {
    /// The web configuration in force (a reload may replace it).
    fn web(&self) -> WebGuard {
        self.reloader.web()
    }
}

/// A response body: its bytes in one piece or, for /metrics, in the body's pieces, each
/// sent as it is kept (no copy into one buffer); the length is known, so it is sent with
/// `Content-Length`.
pub(crate) struct Body {
    pieces: Arc<[Bytes]>,
    next: usize,
    remaining: u64,
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        let remaining = bytes.len() as u64;
        Body {
            pieces: Arc::new([bytes]),
            next: 0,
            remaining,
        }
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<crate::metrics::Body> for Body {
    fn from(body: crate::metrics::Body) -> Body {
        Body {
            remaining: body.len() as u64,
            pieces: body.into_chunks(),
            next: 0,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        while let Some(piece) = self.pieces.get(self.next).cloned() {
            self.next += 1;
            if !piece.is_empty() {
                self.remaining -= piece.len() as u64;
                return std::task::Poll::Ready(Some(Ok(Frame::data(piece))));
            }
        }
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Serves until `shutdown` resolves. At most `max_connections` connections are open at once
/// (`--web.max-connections`, as Prometheus' own): beyond that, new ones wait in the kernel's
/// accept queue, so a flood of idle or half-sent connections costs bounded memory. When every
/// slot is taken, the connection stalled on a write the longest is closed to make room, so that
/// clients that never read their answer cannot hold every slot (see [`crate::stall`]).
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let stalls = Arc::new(Stalls::new(state.http.clone()));
    tokio::pin!(shutdown);
    loop {
        // The slot comes before the accept, so that no more than `max_connections` sockets are
        // ever open (tests/flood.rs counts them). The cost: with every slot taken, a stalled
        // connection is closed even before a new client is known to wait. Every slot taken
        // is a flood already, and the kernel cannot tell the loop whether one waits.
        let permit = tokio::select! {
            permit = free_slot(&slots, &stalls) => permit,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed.
        let Some(permit) = permit else { break };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // A /metrics body goes out in pieces, several writes: with Nagle's algorithm
                // the last of them waits for the client's delayed ACK (40 ms on Linux), which
                // cut the demo's gzip scrapes from 41,000 to 6,000 a second (wrk, 32
                // connections). nginx sets it on keep-alive connections for the same reason.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY not set");
                }
                // The handshake runs in the connection's own task, so one slow client never
                // holds up accepting the next.
                let (state, watcher) = (state.clone(), graceful.watcher());
                let registered = stalls.register();
                tokio::spawn(async move {
                    let stall = registered.stall.clone();
                    tokio::select! {
                        () = connection(stream, state, watcher, stall.clone()) => {}
                        // Dropping the connection future closes the socket (with a reset: see
                        // `stall::Reset`) and ends its graceful-shutdown watch.
                        () = stall.evicted() => {}
                    }
                    drop(registered);
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}

/// A connection slot: at once if one is free; otherwise the first to free up, or the slot of the
/// connection stalled longest on a write once it has been for [`EVICT_AFTER`]. `None` only if
/// the semaphore were closed.
async fn free_slot(slots: &Arc<Semaphore>, stalls: &Stalls) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = slots.clone().try_acquire_owned() {
        return Some(permit);
    }
    tokio::select! {
        permit = slots.clone().acquire_owned() => return permit.ok(),
        stalled = stalls.evict_longest_stalled(EVICT_AFTER) => {
            tracing::debug!(
                ?stalled,
                "every connection slot taken: closing the connection stalled longest on a write"
            );
        }
    }
    // The evicted connection's task releases its slot as soon as it runs; waiting for that slot
    // (rather than evicting again) closes one connection per connection accepted.
    slots.clone().acquire_owned().await.ok()
}

/// One connection: TLS if configured (client certificate checked), then HTTP/1.1. Both run over
/// the write-stall timeout, so a TLS handshake or a close_notify that is never read is bounded
/// too.
async fn connection(stream: TcpStream, state: Arc<AppState>, watcher: Watcher, stall: Arc<Stall>) {
    let stream = StallTimeout::new(stream, stall, WRITE_STALL_TIMEOUT);
    let web = state.web();
    let Some(acceptor) = web.tls_acceptor() else {
        return http(TokioIo::new(stream), state, watcher).await;
    };
    let tls = match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => return tracing::debug!("TLS handshake timed out"),
    };
    if !web.client_allowed(tls.get_ref().1.peer_certificates()) {
        return tracing::debug!("client certificate not allowed");
    }
    http(TokioIo::new(tls), state, watcher).await
}

async fn http<IO>(io: TokioIo<IO>, state: Arc<AppState>, watcher: Watcher)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(guarded(&state, &req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The web configuration's rules around every request: rate limit, basic auth (all paths but
/// /-/healthy, so liveness probes need no credentials), extra headers.
async fn guarded(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let web = state.web();
    let mut response = if !web.admit() {
        text(StatusCode::TOO_MANY_REQUESTS, "too many requests\n")
    } else if req.uri().path() != "/-/healthy"
        && web
            .authorize(
                req.headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
            )
            .await
            .is_err()
    {
        let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(web::WWW_AUTHENTICATE),
        );
        r
    } else {
        route(state, req).await
    };
    for (name, value) in web.extra_headers() {
        response.headers_mut().insert(name, value);
    }
    response
}

async fn route(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let reload = path == "/-/reload";
    if !(reload || path == state.telemetry_path || matches!(path, "/" | "/-/healthy" | "/-/ready"))
    {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    let (allowed, allow) = if reload {
        (
            matches!(*req.method(), Method::POST | Method::PUT),
            "POST, PUT",
        )
    } else {
        (
            matches!(*req.method(), Method::GET | Method::HEAD),
            "GET, HEAD",
        )
    };
    if !allowed {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return r;
    }
    match path {
        "/" => landing_page(&state.telemetry_path),
        "/-/healthy" if state.reloader.healthy() => text(StatusCode::OK, "Healthy.\n"),
        "/-/healthy" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unhealthy: a collector's task has ended; see the log.\n",
        ),
        "/-/ready" if state.reloader.ready() => text(StatusCode::OK, "Ready.\n"),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: queue discovery has not succeeded yet, or a collector is still starting.\n",
        ),
        "/-/reload" if !state.lifecycle => text(
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (--web.enable-lifecycle); SIGHUP reloads.\n",
        ),
        "/-/reload" => match state.reloader.reload().await {
            Ok(restart) if restart.is_empty() => text(StatusCode::OK, "Reloaded.\n"),
            Ok(restart) => respond(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                format!(
                    "Reloaded. Changed, but applied only by a restart: {}.\n",
                    restart.join(", ")
                ),
            ),
            Err(e) => respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("{}\n", crate::ErrorChain(&e)),
            ),
        },
        _ => {
            let header = |name| {
                req.headers()
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
            };
            let format = Format::negotiate(header(ACCEPT));
            let gzip = header(ACCEPT_ENCODING).is_some_and(accepts_gzip);
            // Encoding a large org takes tens of milliseconds: let the runtime move other
            // tasks off this thread meanwhile.
            let body = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                    tokio::task::block_in_place(|| state.metrics.body(format, gzip))
                }
                _ => state.metrics.body(format, gzip),
            };
            match body {
                Ok(body) => {
                    let mut r = respond(StatusCode::OK, format.content_type(), body);
                    r.headers_mut()
                        .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
                    if gzip {
                        r.headers_mut()
                            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    }
                    r
                }
                Err(e) => {
                    tracing::error!(error = %crate::ErrorChain(&e), "cannot serve metrics");
                    text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "failed to encode metrics\n",
                    )
                }
            }
        }
    }
}

/// `Accept-Encoding` allows gzip (a `q=0` refuses it).
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut fields = part.split(';').map(str::trim);
        let coding = fields.next().unwrap_or_default();
        let refused = fields.any(|f| {
            matches!(
                f.replace(' ', "").as_str(),
                "q=0" | "q=0.0" | "q=0.00" | "q=0.000"
            )
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

fn landing_page(telemetry_path: &str) -> Response<Body> {
    let path = html_escape(telemetry_path);
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Genesys Cloud Exporter</title></head>\n\
         <body><h1>Genesys Cloud Exporter</h1>\n\
         <p>Live queue state and analytics from Genesys Cloud, for Prometheus. Version {}.</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li>\n\
         <li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li></ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    respond(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_used_only_when_accepted() {
        for yes in [
            "gzip",
            "gzip, deflate",
            "deflate, GZIP;q=0.5",
            "*",
            "br;q=1.0, gzip;q=0.8",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip; q=0.0",
            "gzipx",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }
}
