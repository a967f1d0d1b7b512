//! An emulator of the GKE metadata server's Workload Identity endpoints.
//!
//! In a GKE pod, `GET /computeMetadata/v1/instance/service-accounts/default/identity`
//! with `Metadata-Flavor: Google` returns a Google-signed ID token for the Google service
//! account that the pod's Kubernetes service account is mapped to. This crate serves
//! the same paths over plain HTTP on a local port, signs with a key of its own (published
//! at `/oauth2/v3/certs`), and can misbehave the way GKE does: see [`Faults`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use gke_metadata_emulator::{Config, Emulator, Faults};
//!
//! let emulator = Emulator::start(Config::default()).await?;
//! // Point clients at it: GCE_METADATA_HOST=127.0.0.1:PORT
//! let host = emulator.host();
//! emulator.set_faults(Faults { server_errors: 2, ..Faults::default() });
//! assert_eq!(emulator.tokens_issued(), 0);
//! # Ok(()) }
//! ```

mod blocking;
mod config;
mod control;
mod der;
mod messages;
mod metadata;
mod server;
mod state;
mod token;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{OnceCell, watch};
use tokio::task::JoinHandle;

pub use blocking::BlockingEmulator;
pub use config::{Clock, Config, Faults};
pub use state::Handle;
pub use token::{Claims, ISSUER, SigningKey};

/// A running emulator. It serves until [`shutdown`](Emulator::shutdown) or until dropped.
///
/// The server runs as a task on the Tokio runtime that started it, current-thread
/// runtimes included.
#[derive(Debug)]
pub struct Emulator {
    handle: Handle,
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` on a free port.
    pub async fn start(config: Config) -> std::io::Result<Emulator> {
        Emulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts an emulator on `addr` (port 0 picks a free port).
    ///
    /// All emulators of a process sign with one key, generated on first use, since
    /// RSA key generation is the slowest part of starting; use
    /// [`start_with_key`](Emulator::start_with_key) for a key of its own.
    pub async fn start_on(config: Config, addr: SocketAddr) -> std::io::Result<Emulator> {
        Emulator::start_with_key(config, addr, process_key().await?).await
    }

    /// Starts an emulator on `addr` that signs with `key`.
    pub async fn start_with_key(config: Config, addr: SocketAddr, key: Arc<SigningKey>) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(state::Shared::new(config, key));
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared), stopped));
        tracing::debug!(%addr, "metadata emulator listening");
        Ok(Emulator {
            handle: Handle { shared, addr },
            stop,
            task,
        })
    }

    /// Starts an emulator on a thread of its own, for callers without a Tokio runtime.
    pub fn start_blocking(config: Config) -> std::io::Result<BlockingEmulator> {
        BlockingEmulator::start(config)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    /// `127.0.0.1:PORT`, the value for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.handle.host()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.handle.base_url()
    }

    /// Replaces the faults in force; the next request sees the new ones.
    pub fn set_faults(&self, faults: Faults) {
        self.handle.set_faults(faults);
    }

    /// The faults in force now (`server_errors` counts down as the burst is served).
    pub fn faults(&self) -> Faults {
        self.handle.faults()
    }

    /// How many ID tokens the identity endpoint has issued (expired ones included).
    pub fn tokens_issued(&self) -> u64 {
        self.handle.tokens_issued()
    }

    /// The JWK Set with the public key that verifies the issued tokens.
    pub fn jwks(&self) -> serde_json::Value {
        self.handle.jwks()
    }

    /// A cloneable handle with the same accessors, for other tasks or threads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops accepting, drops open connections, and waits until the port is released.
    pub async fn shutdown(self) {
        let Emulator { stop, task, .. } = self;
        // Dropping the sender wakes the accept loop and every connection.
        drop(stop);
        if let Err(error) = task.await {
            tracing::warn!(%error, "metadata emulator task failed");
        }
    }
}

/// The key shared by the emulators of this process, generated once, off the runtime.
async fn process_key() -> std::io::Result<Arc<SigningKey>> {
    static KEY: OnceCell<Arc<SigningKey>> = OnceCell::const_new();
    let key = KEY
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(SigningKey::generate)
                .await
                .map_err(std::io::Error::other)?
                .map(Arc::new)
        })
        .await?;
    Ok(Arc::clone(key))
}
