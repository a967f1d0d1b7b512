//! What the HTTPS listener may hold at once: a bounded number of connections, and a bounded
//! number of request-body bytes across all of them.
//!
//! Connections: when every slot is taken, the oldest connection that is not in a request (idle
//! keep-alive, a TLS handshake, headers trickling in) is told to close, so thousands of idle or
//! slow peers cannot keep the API server out; a connection in a request is never cut (its body
//! and its answer are bounded in time). Bodies: the first [`SMALL_BODY_BYTES`] of every request
//! are covered by its connection's slot (every review the API server sends for an ordinary pod
//! fits); what is beyond comes from one shared pool, and a request that finds it empty is
//! refused at once rather than waiting behind stalled senders.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Body bytes each connection may buffer without drawing on the shared pool.
pub const SMALL_BODY_BYTES: usize = 64 << 10;

/// The connection slots and the shared body pool.
pub struct Limits {
    max_connections: usize,
    open: Mutex<Open>,
    freed: Notify,
    pool: Arc<Semaphore>,
}

#[derive(Default)]
struct Open {
    next: u64,
    /// By age: the first idle entry is the one to close.
    slots: BTreeMap<u64, Arc<Slot>>,
}

/// One connection's slot: whether it is in a request, and the signal that asks it to close.
pub struct Slot {
    busy: AtomicBool,
    close: Notify,
}

/// Held for a connection's life; dropping it frees the slot.
pub struct Ticket {
    id: u64,
    slot: Arc<Slot>,
    limits: Arc<Limits>,
}

impl Limits {
    /// `max_connections` slots, `pool_bytes` of shared body bytes.
    pub fn new(max_connections: usize, pool_bytes: usize) -> Arc<Limits> {
        Arc::new(Limits {
            max_connections: max_connections.max(1),
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

    /// A slot for a new connection: at once when one is free; else the oldest idle connection
    /// is asked to close and this waits for a slot (all busy: until a request ends).
    pub async fn admit(self: &Arc<Self>) -> Ticket {
        loop {
            let freed = self.freed.notified();
            {
                let mut open = self.lock();
                if open.slots.len() < self.max_connections {
                    let id = open.next;
                    open.next += 1;
                    let slot = Arc::new(Slot {
                        busy: AtomicBool::new(false),
                        close: Notify::new(),
                    });
                    open.slots.insert(id, slot.clone());
                    return Ticket {
                        id,
                        slot,
                        limits: self.clone(),
                    };
                }
                if let Some(idle) = open.slots.values().find(|s| !s.busy.load(Ordering::SeqCst)) {
                    idle.close.notify_one();
                }
            }
            freed.await;
        }
    }

    /// Permits for `bytes` more body bytes from the shared pool, or `None` when it is empty.
    pub fn draw(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes).ok()?;
        self.pool.clone().try_acquire_many_owned(bytes).ok()
    }
}

impl Ticket {
    /// Resolves when the connection is asked to close to make room.
    pub async fn evicted(&self) {
        self.slot.close.notified().await;
    }

    /// A handle for the service of this connection.
    pub fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }
}

impl Slot {
    /// Marks the connection as in a request (not to be closed for a newcomer) until the guard
    /// drops.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.store(true, Ordering::SeqCst);
        Busy(self.clone())
    }
}

/// A request in progress on a connection.
pub struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.limits.lock().slots.remove(&self.id);
        self.limits.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_house_closes_its_oldest_idle_connection() {
        let limits = Limits::new(2, 10);
        let first = limits.admit().await;
        let second = limits.admit().await;
        let _in_request = first.slot().busy();
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.admit().await }
        });
        // The first is busy: the second, idle, is the one asked to close.
        second.evicted().await;
        drop(second);
        assert_eq!(waiting.await.unwrap().id, 2);
        assert_eq!(limits.open(), 1, "the newcomer's ticket is dropped with it");
    }

    #[test]
    fn the_shared_pool_refuses_when_empty() {
        let limits = Limits::new(1, 100);
        let held = limits.draw(80).unwrap();
        assert!(limits.draw(30).is_none());
        drop(held);
        assert!(limits.draw(100).is_some());
    }
}
