//! Connections whose response writes stall: closed after a timeout, and first in line to be
//! closed when every connection slot is taken.
//!
//! A client that sends `GET /metrics` and never reads holds its connection slot as long as it
//! likes: the body (megabytes at a large org) does not fit in the socket buffers, so the write
//! waits forever. Measured (issue 24): 5,000 such clients held all 512 slots of
//! `--web.max-connections` indefinitely and 3 of 4 good scrapes timed out at 15 s.
//!
//! The crate `tokio-io-timeout` would give the timeout alone. It is written by hand here because
//! the accept loop also needs each connection's stall state ([`Stalls`]), to evict the one stalled
//! longest when it has no slot for a new client.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use prometheus_client::metrics::counter::Counter;

use crate::metrics::http::HttpMetrics;

/// What one connection shares with the accept loop.
#[derive(Default)]
pub(crate) struct Stall {
    /// Since when its writes have made no progress; `None` while they do, or while it is not
    /// waiting to write at all (reading a request, idle between requests).
    since: Mutex<Option<Instant>>,
    /// Closed for stalling (timed out or evicted): its socket is reset rather than closed.
    abandoned: AtomicBool,
    evict: Notify,
    /// `genesys_exporter_http_write_timeouts_total`.
    timeouts: Counter,
}

impl Stall {
    fn set_since(&self, since: Option<Instant>) {
        *self.since.lock().unwrap_or_else(PoisonError::into_inner) = since;
    }

    fn since(&self) -> Option<Instant> {
        *self.since.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when the accept loop has evicted this connection: its task then drops the
    /// connection (and with it the socket, reset).
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// The live connections' stall states, for the accept loop. An entry lives as long as its
/// connection's [`Registered`] guard, so there are never more than `--web.max-connections`.
#[derive(Default)]
pub(crate) struct Stalls {
    live: Mutex<HashMap<u64, Arc<Stall>>>,
    next_id: AtomicU64,
    metrics: HttpMetrics,
}

/// A connection's entry in [`Stalls`]; dropping it removes the entry.
pub(crate) struct Registered {
    stalls: Arc<Stalls>,
    id: u64,
    pub(crate) stall: Arc<Stall>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.stalls.entries().remove(&self.id);
    }
}

impl Stalls {
    /// Counting into `metrics`.
    pub(crate) fn new(metrics: HttpMetrics) -> Stalls {
        Stalls {
            metrics,
            ..Stalls::default()
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Stall>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stall = Arc::new(Stall {
            timeouts: self.metrics.write_timeouts.clone(),
            ..Stall::default()
        });
        self.entries().insert(id, stall.clone());
        Registered {
            stalls: self.clone(),
            id,
            stall,
        }
    }

    /// Closes the connection that has been stalled on a write the longest, once one has been
    /// for at least `after` (waiting until then), and returns how long it had been stalled.
    ///
    /// Only connections stalled on a write are candidates: a scrape that is reading its body
    /// makes progress every few milliseconds, so `after` of a second never picks it, while a
    /// client that stopped reading is stalled from its first full socket buffer on.
    pub(crate) async fn evict_longest_stalled(&self, after: Duration) -> Duration {
        loop {
            let now = Instant::now();
            let eligible_at = {
                let mut live = self.entries();
                let longest = live
                    .iter()
                    .filter_map(|(id, stall)| Some((*id, stall.since()?)))
                    .min_by_key(|&(_, since)| since);
                match longest {
                    Some((id, since)) if now.duration_since(since) >= after => {
                        // Out of the registry at once, so that the next scan (the loop may
                        // need another slot before this connection's task has run) never
                        // picks it twice.
                        if let Some(stall) = live.remove(&id) {
                            stall.abandoned.store(true, Ordering::Relaxed);
                            stall.evict.notify_one();
                            self.metrics.evicted.inc();
                        }
                        return now.duration_since(since);
                    }
                    Some((_, since)) => since + after,
                    // Nothing stalled: none can be eligible before `after` from now.
                    None => now + after,
                }
            };
            tokio::time::sleep_until(eligible_at).await;
        }
    }
}

/// A socket that can be closed with a reset.
pub(crate) trait Reset {
    /// Makes the close that follows abortive (`SO_LINGER` 0): a closed socket that still holds
    /// unsent data for a peer that does not read would otherwise linger in the kernel, probing
    /// a zero window with its send buffer allocated, long after the exporter let go of it
    /// (nginx's `reset_timedout_connection`).
    fn reset_on_close(&self);
}

impl Reset for TcpStream {
    fn reset_on_close(&self) {
        if let Err(e) = self.set_zero_linger() {
            tracing::debug!(error = %e, "cannot set SO_LINGER 0 on a stalled connection");
        }
    }
}

/// A connection's IO with a write-stall timeout: a write (or flush, or shutdown) that has made no
/// progress for `timeout` fails with [`io::ErrorKind::TimedOut`], and hyper closes the
/// connection. The time counts between two successful writes, not for the whole response
/// (nginx's `send_timeout`): a slow but reading client is never cut off.
///
/// Reads are not timed here: hyper's header read timeout bounds those.
pub(crate) struct StallTimeout<IO: Reset> {
    io: IO,
    stall: Arc<Stall>,
    timeout: Duration,
    /// Allocated at the first stall and reset at each next one.
    timer: Option<Pin<Box<Sleep>>>,
    /// A write is waiting and `timer` runs for it.
    armed: bool,
}

impl<IO: Reset> StallTimeout<IO> {
    pub(crate) fn new(io: IO, stall: Arc<Stall>, timeout: Duration) -> Self {
        StallTimeout {
            io,
            stall,
            timeout,
            timer: None,
            armed: false,
        }
    }

    /// Passes a ready result through (progress: the stall is over), and times a pending one.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            if self.armed {
                self.armed = false;
                self.stall.set_since(None);
            }
            return polled;
        }
        let timeout = self.timeout;
        let now = Instant::now();
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(now + timeout)));
        if !self.armed {
            self.armed = true;
            timer.as_mut().reset(now + timeout);
            self.stall.set_since(Some(now));
        }
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                tracing::debug!(?timeout, "response write stalled; closing the connection");
                self.stall.abandoned.store(true, Ordering::Relaxed);
                self.stall.timeouts.inc();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no write progress for {timeout:?}"),
                )))
            }
        }
    }
}

impl<IO: Reset> Drop for StallTimeout<IO> {
    fn drop(&mut self) {
        if self.stall.abandoned.load(Ordering::Relaxed) {
            self.io.reset_on_close();
        }
    }
}

impl<IO: Reset + AsyncRead + Unpin> AsyncRead for StallTimeout<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: Reset + AsyncWrite + Unpin> AsyncWrite for StallTimeout<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, polled)
    }

    /// Timed too: over TLS, closing writes a close_notify that a non-reading peer never takes.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::Instant;

    use super::{Reset, StallTimeout, Stalls};

    impl Reset for DuplexStream {
        fn reset_on_close(&self) {}
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A 64-byte pipe, so that a 1 KiB write stalls unless the other end reads.
    fn pipe(stalls: &Arc<Stalls>) -> (StallTimeout<DuplexStream>, DuplexStream, super::Registered) {
        let (server, client) = tokio::io::duplex(64);
        let registered = stalls.register();
        let io = StallTimeout::new(server, registered.stall.clone(), TIMEOUT);
        (io, client, registered)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_timeout() {
        let stalls = Arc::new(Stalls::default());
        let (mut io, _client, registered) = pipe(&stalls);
        let start = Instant::now();
        let e = io.write_all(&[0; 1024]).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        // Paused time: the timer fired exactly at the timeout, counted from the first stall.
        assert_eq!(start.elapsed(), TIMEOUT);
        assert!(registered
            .stall
            .abandoned
            .load(std::sync::atomic::Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_never_timed_out() {
        let stalls = Arc::new(Stalls::default());
        let (mut io, mut client, registered) = pipe(&stalls);
        // 16 bytes every 9 s: each wait is shorter than the timeout, the whole write much longer.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0; 16];
            while got.len() < 1024 {
                tokio::time::sleep(TIMEOUT - Duration::from_secs(1)).await;
                let n = client.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            got.len()
        });
        let start = Instant::now();
        io.write_all(&[7; 1024]).await.expect("no timeout");
        io.flush().await.expect("flush");
        assert!(start.elapsed() > TIMEOUT * 10, "{:?}", start.elapsed());
        assert_eq!(reader.await.expect("reader"), 1024);
        // Progress cleared the stall.
        assert_eq!(registered.stall.since(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_connection_stalled_longest_is_evicted_and_only_after_the_threshold() {
        let after = Duration::from_secs(1);
        let stalls = Arc::new(Stalls::default());
        let (mut first, _c1, r1) = pipe(&stalls);
        let (mut second, _c2, r2) = pipe(&stalls);
        let (_idle, _c3, r3) = pipe(&stalls);
        let w1 = tokio::spawn(async move { first.write_all(&[0; 1024]).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let w2 = tokio::spawn(async move { second.write_all(&[0; 1024]).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(r1.stall.since().is_some() && r2.stall.since().is_some());
        assert_eq!(r3.stall.since(), None, "not writing is not stalling");

        let start = Instant::now();
        let stalled = stalls.evict_longest_stalled(after).await;
        // The first stalled 300 ms before the second: it reaches the threshold first.
        assert_eq!(stalled, after);
        assert_eq!(start.elapsed(), after - Duration::from_millis(310));
        tokio::time::timeout(Duration::from_millis(1), r1.stall.evicted())
            .await
            .expect("the first is told to close");
        assert!(
            tokio::time::timeout(Duration::from_millis(1), r2.stall.evicted())
                .await
                .is_err(),
            "the second is left alone"
        );
        assert_eq!(
            stalls.entries().len(),
            2,
            "the evicted one left the registry"
        );

        // The next eviction takes the second, once it too has been stalled for the threshold.
        let stalled = stalls.evict_longest_stalled(after).await;
        assert_eq!(stalled, after);
        assert_eq!(start.elapsed(), after - Duration::from_millis(10));
        drop((r1, r2, r3));
        assert!(
            stalls.entries().is_empty(),
            "entries end with their connections"
        );
        w1.abort();
        w2.abort();
    }
}
