//! Accepting connections without letting slow or greedy clients take the server down.
//!
//! axum's own `serve` waits forever for headers and accepts as many connections as the file
//! descriptors allow: ~20,000 clients that never finish their headers exhaust them, and then
//! nobody, `/healthz` included, is answered. Here every connection:
//!
//! - must send a request's headers within [`Limits::header_read`] of the server starting to
//!   wait for them (hyper's header-read timeout, which also runs while a kept-alive connection
//!   waits for its next request: clients should let pooled connections go within 10 s);
//! - is closed after [`Limits::idle`] without a byte read or written while the server waits
//!   on the client (a body trickled in, a client that stopped reading the answer); not while a
//!   handler works (hyper does not read mid-request: `half_close`);
//! - counts against [`Limits::connections_max`] in all and
//!   [`Limits::connections_per_address_max`] per client address (an IPv6 client by its /64,
//!   which one client holds): past either, the connection is closed at once, unread, and a
//!   warning says so (at most once a second per cause, with how many were refused).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// How long and how many.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    pub connections_max: usize,
    pub connections_per_address_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            connections_max: default_connections_max(),
            connections_per_address_max: 256,
        }
    }
}

/// File descriptors the process may hold (Linux: `/proc/self/limits`), less a reserve for the
/// database, logs and the outbound notification client; at most 16,384.
fn default_connections_max() -> usize {
    const RESERVE_FDS: usize = 256;
    const CONNECTIONS_MAX: usize = 16_384;
    let open_files = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1_024);
    open_files
        .saturating_sub(RESERVE_FDS)
        .clamp(64, CONNECTIONS_MAX)
}

/// Connections open now, in all and per client address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    refused_total: u64,
    refused_per_address: u64,
    warned_total: Option<Instant>,
    warned_per_address: Option<Instant>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refusal {
    Total,
    PerAddress,
}

/// The connection counts, shared by the accept loop and the connections' tasks.
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<Open>,
}

/// A connection's place, given back when it closes.
#[derive(Debug)]
pub struct Admitted {
    gate: Arc<Gate>,
    address: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .gate
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

impl Gate {
    /// A place for a connection from `address`, or why there is none.
    pub fn admit(self: &Arc<Gate>, address: IpAddr, limits: &Limits) -> Result<Admitted, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let from_address = open.by_address.get(&address).copied().unwrap_or(0);
        let refusal = if open.total >= limits.connections_max {
            Some(Refusal::Total)
        } else if from_address >= limits.connections_per_address_max {
            Some(Refusal::PerAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let now = Instant::now();
            let warned = match refusal {
                Refusal::Total => {
                    open.refused_total += 1;
                    &mut open.warned_total
                }
                Refusal::PerAddress => {
                    open.refused_per_address += 1;
                    &mut open.warned_per_address
                }
            };
            if warned.is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1)) {
                *warned = Some(now);
                tracing::warn!(
                    %address,
                    ?refusal,
                    open = open.total,
                    from_address,
                    refused_total = open.refused_total,
                    refused_per_address = open.refused_per_address,
                    connections_max = limits.connections_max,
                    connections_per_address_max = limits.connections_per_address_max,
                    "connection refused: too many open"
                );
            }
            return Err(refusal);
        }
        open.total += 1;
        *open.by_address.entry(address).or_default() += 1;
        Ok(Admitted {
            gate: Arc::clone(self),
            address,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// Serves `app` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let gate = Arc::new(Gate::default());
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or the like: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(admitted) = gate.admit(client_of(peer.ip()), &limits) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            limits,
            admitted,
            closed.clone(),
        ));
    }
    // No new connection waits in the backlog while the others finish.
    drop(listener);
    let _ = closing.send(true);
    // In-flight requests finish (each connection closes after its current answer), for at
    // most the time a request may take to arrive.
    let waited = Instant::now();
    while gate.open() > 0 && waited.elapsed() < limits.idle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    admitted: Admitted,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let io = TokioIo::new(Idle::new(stream, limits.idle));
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .half_close(true)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection closed");
            }
        }
        () = async { let _ = closing.wait_for(|closing| *closing).await.map(drop); } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    drop(admitted);
}

/// Who a connection counts against: an IPv4 address, or an IPv6 client's /64 (an IPv4
/// address mapped into IPv6 is that IPv4 address).
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// A stream that fails with `TimedOut` once `idle` passes without a byte read or written.
struct Idle<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> Idle<T> {
    fn new(inner: T, idle: Duration) -> Idle<T> {
        Idle {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Moves the deadline on, when it has come within half the idle time (a reset per read or
    /// write of a large body would cost more than the timer is worth).
    fn progressed(&mut self) {
        let now = tokio::time::Instant::now();
        if self.deadline.deadline().saturating_duration_since(now) < self.idle / 2 {
            self.deadline.as_mut().reset(now + self.idle);
        }
    }

    /// A write's outcome: progress moves the deadline on; a write still waiting fails once
    /// the deadline passed (a client that stopped reading the answer).
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(result) => {
                self.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => match self.expired(cx) {
                Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
                _ => Poll::Pending,
            },
        }
    }

    /// Pending, or an error once the deadline passed (the deadline's waker is registered, so
    /// a connection waiting on a silent peer wakes to close).
    fn expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.expired(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, written)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_all_and_per_address() {
        let gate = Arc::new(Gate::default());
        let limits = Limits {
            connections_max: 3,
            connections_per_address_max: 2,
            ..Limits::default()
        };
        let (a, b, c) = (
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
            IpAddr::from([10, 0, 0, 3]),
        );
        let first = gate.admit(a, &limits).unwrap();
        let _second = gate.admit(a, &limits).unwrap();
        assert_eq!(gate.admit(a, &limits).unwrap_err(), Refusal::PerAddress);
        let _third = gate.admit(b, &limits).unwrap();
        assert_eq!(gate.admit(c, &limits).unwrap_err(), Refusal::Total);
        drop(first);
        assert_eq!(gate.open(), 2);
        let _again = gate.admit(c, &limits).unwrap();
        assert_eq!(gate.admit(a, &limits).unwrap_err(), Refusal::Total);
    }

    #[test]
    fn an_ipv6_client_counts_by_its_slash_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(one), client_of(same));
        assert_ne!(client_of(one), client_of(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_of(mapped), IpAddr::from([192, 0, 2, 7]));
    }
}
