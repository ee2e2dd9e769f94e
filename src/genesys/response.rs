//! Reading response bodies with a size cap: shared by the token request and API calls.

use bytes::{Bytes, BytesMut};

pub(crate) enum BodyError {
    Transport(reqwest::Error),
    TooLarge(usize),
}

/// Reads a response body, refusing (not buffering) anything larger than `limit`.
pub(crate) async fn read_body_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
