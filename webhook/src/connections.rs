//! What the HTTPS listener may hold at once: a bounded number of connections, each bounded in
//! time while it is not in a request, and a bounded number of request-body bytes across all of
//! them.
//!
//! Connections go through phases: the TLS handshake, then waiting for a request's headers
//! (right after TLS, or once a request's first bytes came), in a request, and idle between
//! requests (keep-alive). A timer ([`Limits::sweep`], every [`SWEEP_EVERY`]) closes those that
//! stay too long where a peer can stall: the first request's headers after [`HEADER_TIMEOUT`]
//! from the end of TLS, any request's headers after [`HEADER_TIMEOUT`] from their first byte,
//! an idle connection after the keep-alive bound; the handshake has its own deadline. A
//! connection in a request is never cut (its body and its answer are bounded in time). When
//! every slot is taken, a newcomer closes one: first the oldest that has never completed a
//! request (a handshake or headers that drip, a peer that connected and said nothing), then the
//! one idle the longest. kube-apiserver keeps its connections busy and reuses the most recent,
//! so its connections are the last to go, whatever their age. Bodies: the first
//! [`SMALL_BODY_BYTES`] of every request are covered by its connection's slot (every review the
//! API server sends for an ordinary pod fits); what is beyond comes from one shared pool, and a
//! request that finds it empty is refused at once rather than waiting behind stalled senders.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::metrics::Closed;

/// Body bytes each connection may buffer without drawing on the shared pool.
pub const SMALL_BODY_BYTES: usize = 64 << 10;
/// A TLS handshake: the API server's takes milliseconds.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A request's headers, from their first byte (or, for the first request, from the end of the
/// handshake: the API server writes its review as soon as TLS is up).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the timer looks for connections past their bound.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A slot taken for the next connection, not accepted yet.
    Accepting,
    Handshake,
    /// Waiting for a request: no byte of it yet (after TLS, or idle after an answer).
    Waiting,
    /// A request's first bytes came, not yet all its headers.
    Headers,
    /// In a request: never closed from here.
    Busy,
}

/// The connection slots and the shared body pool.
pub struct Limits {
    max_connections: usize,
    /// How long a connection may wait idle between requests.
    idle_timeout: Duration,
    open: Mutex<Open>,
    freed: Notify,
    pool: Arc<Semaphore>,
}

#[derive(Default)]
struct Open {
    next: u64,
    slots: BTreeMap<u64, Arc<Slot>>,
}

/// One connection's slot: its phase since when, whether it ever completed a request, and the
/// signal that asks it to close.
pub struct Slot {
    state: Mutex<State>,
    close: Notify,
}

#[derive(Debug, Clone, Copy)]
struct State {
    phase: Phase,
    since: Instant,
    served: bool,
    /// Why it was asked to close, if it was.
    closing: Option<Closed>,
}

/// Held for a connection's life; dropping it frees the slot.
pub struct Ticket {
    id: u64,
    slot: Arc<Slot>,
    limits: Arc<Limits>,
}

impl Limits {
    /// `max_connections` slots, `pool_bytes` of shared body bytes, connections idle between
    /// requests for at most `idle_timeout`.
    pub fn new(max_connections: usize, pool_bytes: usize, idle_timeout: Duration) -> Arc<Limits> {
        Arc::new(Limits {
            max_connections: max_connections.max(1),
            idle_timeout,
            open: Mutex::default(),
            freed: Notify::new(),
            pool: Arc::new(Semaphore::new(pool_bytes.min(Semaphore::MAX_PERMITS))),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().slots.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a new connection: at once when one is free; else a connection is asked to
    /// close ([`Limits::victim`]) and this waits for a slot (all busy: until a request ends).
    pub async fn admit(self: &Arc<Self>) -> Ticket {
        loop {
            let freed = self.freed.notified();
            {
                let mut open = self.lock();
                if open.slots.len() < self.max_connections {
                    let id = open.next;
                    open.next += 1;
                    let slot = Arc::new(Slot {
                        state: Mutex::new(State {
                            phase: Phase::Accepting,
                            since: Instant::now(),
                            served: false,
                            closing: None,
                        }),
                        close: Notify::new(),
                    });
                    open.slots.insert(id, slot.clone());
                    return Ticket {
                        id,
                        slot,
                        limits: self.clone(),
                    };
                }
                if let Some(victim) = victim(open.slots.values()) {
                    victim.ask_to_close(Closed::Evicted);
                }
            }
            freed.await;
        }
    }

    /// Asks every connection past its phase's bound at `now` to close; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let open = self.lock();
        let mut closed = 0;
        for slot in open.slots.values() {
            let state = slot.state();
            let bound = match (state.phase, state.served) {
                (Phase::Handshake, _) => HANDSHAKE_TIMEOUT,
                (Phase::Waiting, false) | (Phase::Headers, _) => HEADER_TIMEOUT,
                (Phase::Waiting, true) => self.idle_timeout,
                (Phase::Busy | Phase::Accepting, _) => continue,
            };
            if state.closing.is_none() && now.saturating_duration_since(state.since) > bound {
                let why = match state.phase {
                    Phase::Handshake => Closed::Handshake,
                    Phase::Waiting if state.served => Closed::Idle,
                    _ => Closed::Headers,
                };
                slot.ask_to_close(why);
                closed += 1;
            }
        }
        closed
    }

    /// Permits for `bytes` more body bytes from the shared pool, or `None` when it is empty.
    pub fn draw(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes).ok()?;
        self.pool.clone().try_acquire_many_owned(bytes).ok()
    }
}

/// The timer: every [`SWEEP_EVERY`], asks the connections past their phase's bound to close.
/// Runs until dropped (aborted).
pub async fn close_past_bounds(limits: Arc<Limits>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        limits.sweep(Instant::now());
    }
}

/// The connection to close for a newcomer: the oldest that never completed a request, else
/// the one idle the longest; never one in a request (`None`: all are).
fn victim<'a>(slots: impl Iterator<Item = &'a Arc<Slot>>) -> Option<&'a Arc<Slot>> {
    slots
        .filter_map(|slot| {
            let state = slot.state();
            let open = !matches!(state.phase, Phase::Busy | Phase::Accepting);
            (open && state.closing.is_none()).then_some((slot, state))
        })
        .min_by_key(|(_, state)| (state.served, state.since))
        .map(|(slot, _)| slot)
}

impl Ticket {
    /// Resolves when the connection is asked to close (a newcomer needs its slot, or it is
    /// past its bound), with why.
    pub async fn evicted(&self) -> Closed {
        loop {
            let notified = self.slot.close.notified();
            if let Some(why) = self.slot.state().closing {
                return why;
            }
            notified.await;
        }
    }

    /// A handle for the service of this connection.
    pub fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }
}

impl Slot {
    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn ask_to_close(&self, why: Closed) {
        self.update(|s| s.closing = s.closing.or(Some(why)));
        self.close.notify_one();
    }

    /// The phase the connection is in now.
    pub fn phase(&self) -> Phase {
        self.state().phase
    }

    /// Whether it is between requests with a request's headers still to come (or all of them,
    /// never having served one): nothing to answer, so it can go at once.
    pub fn before_headers(&self) -> bool {
        let state = self.state();
        match state.phase {
            Phase::Accepting | Phase::Handshake | Phase::Headers => true,
            Phase::Waiting => !state.served,
            Phase::Busy => false,
        }
    }

    /// A connection came: its handshake begins.
    pub fn accepted(&self) {
        self.update(|s| {
            s.phase = Phase::Handshake;
            s.since = Instant::now();
        });
    }

    /// The TLS handshake is done: waiting for the first request.
    pub fn handshake_done(&self) {
        self.update(|s| {
            s.phase = Phase::Waiting;
            s.since = Instant::now();
        });
    }

    /// Bytes came while waiting: a request's headers have begun.
    fn bytes_came(&self) {
        self.update(|s| {
            if s.phase == Phase::Waiting {
                s.phase = Phase::Headers;
                s.since = Instant::now();
            }
        });
    }

    /// Marks the connection as in a request (never closed by the timer or for a newcomer)
    /// until the guard drops; then it is idle, having served.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.update(|s| {
            s.phase = Phase::Busy;
            s.since = Instant::now();
        });
        Busy(self.clone())
    }
}

/// A request in progress on a connection.
pub struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.phase = Phase::Waiting;
            s.since = Instant::now();
            s.served = true;
        });
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.limits.lock().slots.remove(&self.id);
        self.limits.freed.notify_waiters();
    }
}

/// A connection's stream, telling its slot when a request's first bytes come.
pub struct Watched<IO> {
    io: IO,
    slot: Arc<Slot>,
}

impl<IO> Watched<IO> {
    pub fn new(io: IO, slot: Arc<Slot>) -> Self {
        Watched { io, slot }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.slot.bytes_came();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(120);

    #[tokio::test(start_paused = true)]
    async fn a_full_house_closes_a_connection_that_never_served_before_the_api_servers() {
        let limits = Limits::new(3, 10, IDLE);
        // The API server's connection: the oldest, and it has served.
        let api_server = limits.admit().await;
        api_server.slot().accepted();
        api_server.slot().handshake_done();
        drop(api_server.slot().busy());
        tokio::time::advance(Duration::from_secs(1)).await;
        // A peer that completed one request and then idles.
        let idler = limits.admit().await;
        idler.slot().accepted();
        idler.slot().handshake_done();
        drop(idler.slot().busy());
        tokio::time::advance(Duration::from_secs(1)).await;
        // The API server is active again: the most recent.
        drop(api_server.slot().busy());
        // A peer whose headers drip.
        let dripper = limits.admit().await;
        dripper.slot().accepted();
        dripper.slot().handshake_done();
        dripper.slot().bytes_came();
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.admit().await }
        });
        assert_eq!(dripper.evicted().await, Closed::Evicted);
        drop(dripper);
        let newcomer = waiting.await.unwrap();
        // The next to go is the idler, idle longer than the API server's connection.
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.admit().await }
        });
        assert_eq!(idler.evicted().await, Closed::Evicted);
        drop(idler);
        drop(waiting.await.unwrap());
        assert_eq!(api_server.slot().phase(), Phase::Waiting);
        assert_eq!(api_server.slot().state().closing, None);
        drop(newcomer);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_in_a_request_is_never_chosen() {
        let limits = Limits::new(1, 10, IDLE);
        let first = limits.admit().await;
        let busy = first.slot().busy();
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.admit().await }
        });
        tokio::time::advance(IDLE * 2).await;
        assert_eq!(limits.sweep(Instant::now()), 0);
        assert!(!waiting.is_finished());
        drop(busy);
        drop(first);
        waiting.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_closes_each_phase_past_its_bound_and_no_sooner() {
        let limits = Limits::new(10, 10, IDLE);
        let not_yet = limits.admit().await;
        let handshake = limits.admit().await;
        handshake.slot().accepted();
        let after_tls = limits.admit().await;
        after_tls.slot().handshake_done();
        let headers = limits.admit().await;
        headers.slot().handshake_done();
        drop(headers.slot().busy());
        headers.slot().bytes_came();
        let idle = limits.admit().await;
        idle.slot().handshake_done();
        drop(idle.slot().busy());
        assert_eq!(
            limits.sweep(Instant::now() + HEADER_TIMEOUT),
            0,
            "not past any bound yet"
        );
        let later = Instant::now() + HEADER_TIMEOUT + Duration::from_millis(1);
        assert_eq!(limits.sweep(later), 3);
        assert_eq!(handshake.evicted().await, Closed::Handshake);
        assert_eq!(after_tls.evicted().await, Closed::Headers);
        assert_eq!(headers.evicted().await, Closed::Headers);
        assert_eq!(idle.slot().state().closing, None, "idle within the keep-alive bound");
        assert_eq!(
            not_yet.slot().state().closing,
            None,
            "a slot waiting for accept() is no connection"
        );
        assert_eq!(limits.sweep(Instant::now() + IDLE + Duration::from_millis(1)), 1);
        assert_eq!(idle.evicted().await, Closed::Idle);
    }

    #[test]
    fn the_shared_pool_refuses_when_empty() {
        let limits = Limits::new(1, 100, IDLE);
        let held = limits.draw(80).unwrap();
        assert!(limits.draw(30).is_none());
        drop(held);
        assert!(limits.draw(100).is_some());
    }
}
