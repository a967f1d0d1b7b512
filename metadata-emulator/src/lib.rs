//! An emulator of the GKE metadata server's Workload Identity endpoints.
//!
//! In a GKE pod, `GET /computeMetadata/v1/instance/service-accounts/default/identity`
//! with `Metadata-Flavor: Google` returns a Google-signed ID token for the Google service
//! account that the pod's Kubernetes service account is mapped to. This crate serves
//! the same paths over plain HTTP on a local port, signs with a key of its own (published
//! at `/oauth2/v3/certs`), and can misbehave the way GKE does: see [`Faults`].
//!
//! Beside the metadata paths it serves what Google's Rust clients call to read a GSA: the
//! IAM API's `serviceAccounts.get` and the OAuth token endpoint ([`google_iam`]).
//!
//! The crate also plays a GKE cluster's OIDC issuer and the kubelet's projected token, for
//! cluster mode: see [`ClusterIssuer`].
//!
//! Usage is in the crate's README; its examples run as tests in `tests/it/readme.rs`
//! (nextest runs no doctests).

mod blocking;
mod config;
mod control;
pub mod google_iam;
pub mod issuer;
mod messages;
mod metadata;
#[doc(hidden)]
pub mod process;
mod response;
mod server;
mod state;
pub mod sts_gate;
mod token;

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{OnceCell, watch};
use tokio::task::JoinHandle;

pub use blocking::BlockingEmulator;
pub use config::{Clock, Config, Faults};
pub use google_iam::{Refusal as IamRefusal, ServiceAccount as GoogleServiceAccount};
pub use issuer::{ClusterIssuer, IssuerConfig, IssuerFaults, IssuerHandle, KsaClaims, KsaToken, ProjectedToken};
pub use state::Handle;
pub use sts_gate::StsGate;
pub use token::{Claims, ISSUER, SigningKey};

/// A running emulator. It serves until [`shutdown`](Emulator::shutdown) or until dropped.
///
/// It dereferences to its [`Handle`]: `addr()`, `host()`, `base_url()`, `set_faults()`,
/// `faults()`, `tokens_issued()`, `jwks()`, `config()`.
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

impl Deref for Emulator {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        &self.handle
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
