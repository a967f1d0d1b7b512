//! A stand-in for a GKE cluster's OIDC issuer: the discovery document and JWKS that GKE
//! publishes at `https://container.googleapis.com/v1/projects/P/locations/L/clusters/C`,
//! here served over HTTPS on `127.0.0.1` with a test CA, and the projected Kubernetes
//! service-account tokens that the cluster signs.

mod handle;
mod ksa;
mod projected;
mod refresh;
mod serve;
mod state;
mod tls;

use std::io::{Error, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use handle::IssuerHandle;
pub use ksa::{KsaClaims, KsaToken, KubernetesClaim, ObjectRef};
pub use projected::ProjectedToken;
use state::Shared;

use crate::config::Clock;
use crate::token::SigningKey;

/// Which cluster the issuer stands for.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// The Google Cloud project of the cluster.
    pub project_id: String,
    /// The cluster's zone (zonal cluster) or region (regional cluster).
    pub location: String,
    /// The cluster's name.
    pub cluster: String,
    /// Serve the issuer under this host instead of `127.0.0.1:PORT`, e.g.
    /// `container.googleapis.com`: then the issuer URL has no port, as IAM requires of an
    /// OIDC provider, and clients reach it through the issuer's own CONNECT proxy
    /// ([`IssuerHandle::proxy_url`], for `HTTPS_PROXY`).
    pub public_host: Option<String>,
    /// The faults in force at start; change them later with `set_faults`.
    pub faults: IssuerFaults,
    /// The clock that dates the tokens (see [`Clock`]).
    pub clock: Clock,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        IssuerConfig {
            project_id: "demo-project".to_owned(),
            location: "europe-west1".to_owned(),
            cluster: "demo-cluster".to_owned(),
            public_host: None,
            faults: IssuerFaults::default(),
            clock: Clock::System,
        }
    }
}

impl IssuerConfig {
    /// `/v1/projects/P/locations/L/clusters/C`, the path of GKE's issuer URL.
    pub fn issuer_path(&self) -> String {
        format!(
            "/v1/projects/{}/locations/{}/clusters/{}",
            self.project_id, self.location, self.cluster
        )
    }

    fn validate(&self) -> std::io::Result<()> {
        for (field, value) in [
            ("project_id", &self.project_id),
            ("location", &self.location),
            ("cluster", &self.cluster),
        ] {
            let valid = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{field} {value:?}: use lowercase letters, digits and hyphens, as GKE names do"),
                ));
            }
        }
        if let Some(host) = &self.public_host {
            let valid = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !valid {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("public_host {host:?}: a DNS name without port, e.g. container.googleapis.com"),
                ));
            }
        }
        Ok(())
    }
}

/// Ways the issuer's discovery and JWKS endpoints fail. As JSON (the control endpoint's
/// body) every field is optional: `{"unavailable": true}`; the binary's flags are these
/// fields (`--unavailable`).
#[derive(Clone, Default, Debug, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerFaults {
    /// Discovery and JWKS answer 503 until switched off.
    #[arg(long, env = "CLUSTER_ISSUER_UNAVAILABLE")]
    pub unavailable: bool,
    /// The next this-many discovery or JWKS requests answer 503 (a burst); counts down.
    #[arg(long, env = "CLUSTER_ISSUER_SERVER_ERRORS", value_name = "N", default_value_t = 0)]
    pub server_errors: u32,
    /// Discovery and JWKS requests get their connection closed without an answer.
    #[arg(long, env = "CLUSTER_ISSUER_REFUSE")]
    pub refuse: bool,
}

/// How often each endpoint was asked, and how many tokens were minted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IssuerStats {
    pub discovery_requests: u64,
    pub jwks_requests: u64,
    pub tokens_minted: u64,
}

/// A running cluster issuer. It serves until [`shutdown`](ClusterIssuer::shutdown) or
/// until dropped, and dereferences to its [`IssuerHandle`].
#[derive(Debug)]
pub struct ClusterIssuer {
    handle: IssuerHandle,
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl ClusterIssuer {
    /// Starts an issuer on `127.0.0.1` on a free port.
    pub async fn start(config: IssuerConfig) -> std::io::Result<ClusterIssuer> {
        ClusterIssuer::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts an issuer on `addr` (port 0 picks a free port), with a signing key of its own.
    pub async fn start_on(config: IssuerConfig, addr: SocketAddr) -> std::io::Result<ClusterIssuer> {
        config.validate()?;
        let ca = tokio::task::spawn_blocking(tls::test_ca)
            .await
            .map_err(Error::other)??;
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(Error::other)??;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let acceptor = ca.acceptor(config.public_host.as_deref())?;
        let url = match &config.public_host {
            Some(host) => format!("https://{host}{}", config.issuer_path()),
            None => format!("https://{addr}{}", config.issuer_path()),
        };
        let shared = Arc::new(Shared::new(config, url, &ca.ca_pem, key));
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(serve::serve(listener, acceptor, Arc::clone(&shared), stopped));
        tracing::debug!(url = %shared.url, "cluster issuer listening");
        Ok(ClusterIssuer {
            handle: IssuerHandle::new(shared, addr),
            stop,
            task,
        })
    }

    /// A cloneable handle, for other tasks or threads.
    pub fn handle(&self) -> IssuerHandle {
        self.handle.clone()
    }

    /// Stops accepting, drops open connections, and waits until the port is released.
    pub async fn shutdown(self) {
        let ClusterIssuer { stop, task, .. } = self;
        drop(stop);
        if let Err(error) = task.await {
            tracing::warn!(%error, "cluster issuer task failed");
        }
    }
}

impl Deref for ClusterIssuer {
    type Target = IssuerHandle;

    fn deref(&self) -> &IssuerHandle {
        &self.handle
    }
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
