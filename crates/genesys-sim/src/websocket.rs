//! A channel's WebSocket after the HTTP upgrade: heartbeats, ping/pong, the hub's frames and
//! closes, and the push faults. Framing is tungstenite's.
//!
//! * Every `SimConfig::heartbeat_interval` (wall clock) a `channel.metadata` frame with
//!   `{"message":"WebSocket Heartbeat"}`.
//! * A client text frame `{"message":"ping"}` is answered on `channel.metadata` with
//!   `{"message":"pong"}`; other client frames are ignored (WebSocket-level pings get pongs
//!   from tungstenite).
//! * A displaced, expired, evicted or shut-down socket gets a close frame.
//! * Push faults (`Fault::SocketClosing`, `Drop`, `Stall`) are taken when the socket is about
//!   to send a frame (heartbeat, pong or event) and replace it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::api::{NotificationFrame, NotificationMetadata, SystemMessage};
use super::faults::{Endpoint, Fault};
use super::notify::{
    correlation_id, metadata_frame, Out, CLOSE_GOING_AWAY, HEARTBEAT_MESSAGE, PONG_MESSAGE,
    SOCKET_CLOSING_TOPIC,
};
use super::shared::Shared;

type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long a close handshake may take before the connection is dropped anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

enum Step {
    Send(String),
    Close(u16, &'static str),
    Ignore,
    End,
}

fn is_ping(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("message").and_then(serde_json::Value::as_str) == Some("ping"))
}

/// Serves one socket of channel `channel_id` until it ends.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    channel_id: String,
    upgraded: Upgraded,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let period = shared.hub.heartbeat;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stalled = false;
    loop {
        let step = tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(text)) => Step::Send(text),
                Some(Out::Close(code, reason)) => Step::Close(code, reason),
                None => Step::Close(CLOSE_GOING_AWAY, "server shutting down"),
            },
            _ = beat.tick() => Step::Send(metadata_frame(HEARTBEAT_MESSAGE)),
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if is_ping(t.as_str()) => {
                    Step::Send(metadata_frame(PONG_MESSAGE))
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => Step::End,
                Some(Ok(_)) => Step::Ignore,
            },
        };
        match step {
            Step::Ignore => {}
            Step::Send(_) if stalled => {}
            Step::Send(text) => {
                match shared.faults.take_if(Endpoint::WebSocket, Fault::is_push) {
                    Some(Fault::Stall) => stalled = true,
                    // Dropping the stream closes the TCP connection, no close frame.
                    Some(Fault::Drop) => return,
                    Some(Fault::Garbage) => {
                        // No frame header decodes from these: a reserved opcode, bits set.
                        let _ = ws
                            .get_mut()
                            .write_all(b"\xf7\xff garbage, not a frame")
                            .await;
                        let _ = ws.get_mut().flush().await;
                        return;
                    }
                    Some(Fault::Binary) => {
                        if ws
                            .send(Message::binary(vec![0xde, 0xad, 0xbe, 0xef]))
                            .await
                            .is_err()
                            || ws.send(Message::text(text)).await.is_err()
                        {
                            return;
                        }
                    }
                    Some(Fault::SocketClosing) => {
                        let notice = socket_closing(&shared, &channel_id);
                        if ws.send(Message::text(notice)).await.is_ok() {
                            close(&mut ws, CLOSE_GOING_AWAY, "closing for maintenance").await;
                        }
                        return;
                    }
                    _ => {
                        if ws.send(Message::text(text)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            // A stalled socket says nothing, not even goodbye.
            Step::Close(..) if stalled => return,
            Step::Close(code, reason) => {
                close(&mut ws, code, reason).await;
                return;
            }
            Step::End => {
                // Completes the client's close handshake if it started one.
                let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
                return;
            }
        }
    }
}

fn socket_closing(shared: &Shared, channel_id: &str) -> String {
    let correlation = correlation_id();
    serde_json::to_string(&NotificationFrame {
        topic_name: SOCKET_CLOSING_TOPIC.to_string(),
        version: Some("2".to_string()),
        event_body: SystemMessage {
            channel_id: channel_id.to_string(),
            correlation_id: correlation.clone(),
            oauth_client_id: shared.client_id.clone(),
            message: "The WebSocket is closing for maintenance; reconnect to the channel"
                .to_string(),
        },
        metadata: Some(NotificationMetadata {
            correlation_id: correlation,
        }),
    })
    .unwrap_or_default()
}

/// Sends a close frame and waits (briefly) for the client's.
async fn close(ws: &mut Socket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
