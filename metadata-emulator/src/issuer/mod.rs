//! A stand-in for a GKE cluster's OIDC issuer: the discovery document and JWKS that GKE
//! publishes at `https://container.googleapis.com/v1/projects/P/locations/L/clusters/C`,
//! here served over HTTPS on `127.0.0.1` with a test CA, and the projected Kubernetes
//! service-account tokens that the cluster signs.

mod ksa;
mod projected;
mod serve;
mod tls;

use std::io::{Error, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use ksa::{KsaClaims, KsaToken, KubernetesClaim, ObjectRef};
pub use projected::ProjectedToken;

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

/// State shared by the server's connections, the projected tokens and the handles.
pub(crate) struct Shared {
    config: IssuerConfig,
    url: String,
    ca_pem: &'static str,
    key: Mutex<Arc<SigningKey>>,
    faults: Mutex<IssuerFaults>,
    started: (SystemTime, Instant),
    discovery_requests: AtomicU64,
    jwks_requests: AtomicU64,
    tokens_minted: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("url", &self.url).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here can be left half-written by a panic: keep serving.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn now(&self) -> SystemTime {
        match self.config.clock {
            Clock::System => SystemTime::now(),
            Clock::Tokio => self.started.0 + self.started.1.elapsed(),
        }
    }

    fn key(&self) -> Arc<SigningKey> {
        Arc::clone(&lock(&self.key))
    }

    /// Uses up one error of a 503 burst, if one is pending.
    fn take_server_error(&self) -> bool {
        let mut faults = lock(&self.faults);
        let pending = faults.server_errors > 0;
        if pending {
            faults.server_errors -= 1;
        }
        pending
    }

    fn discovery(&self) -> serde_json::Value {
        // GKE's document lists these fields (GetOpenIDConfigResponse in the GKE API).
        serde_json::json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/jwks", self.url),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["iss", "sub", "kubernetes.io"],
            "grant_types": ["urn:kubernetes:grant_type:programmatic_authorization"],
        })
    }

    fn sign(&self, claims: &KsaClaims) -> std::io::Result<String> {
        let key = self.key();
        // The API server's JWS header: no `typ`.
        let token = key.sign_json(&serde_json::json!({ "alg": "RS256", "kid": key.kid() }), claims)?;
        self.tokens_minted.fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }

    fn mint(&self, token: &KsaToken, expired: bool) -> std::io::Result<String> {
        self.sign(&KsaClaims::new(&self.url, token, self.now(), expired))
    }

    async fn rotate_key(&self) -> std::io::Result<String> {
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(Error::other)??;
        let kid = key.kid().to_owned();
        tracing::info!(%kid, "issuer key rotated");
        *lock(&self.key) = Arc::new(key);
        Ok(kid)
    }

    fn faults(&self) -> IssuerFaults {
        lock(&self.faults).clone()
    }

    fn set_faults(&self, faults: IssuerFaults) {
        *lock(&self.faults) = faults;
    }

    fn stats(&self) -> IssuerStats {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        IssuerStats {
            discovery_requests: count(&self.discovery_requests),
            jwks_requests: count(&self.jwks_requests),
            tokens_minted: count(&self.tokens_minted),
        }
    }
}

/// A cheap, cloneable handle on a running issuer. It does not keep the server alive.
#[derive(Clone, Debug)]
pub struct IssuerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl IssuerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer URL, `https://127.0.0.1:PORT/v1/projects/P/locations/L/clusters/C`:
    /// the tokens' `iss`, and what an AWS OIDC provider would be registered for.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The URL without `https://`, as IAM condition keys name the issuer.
    pub fn host_path(&self) -> &str {
        self.shared.url.trim_start_matches("https://")
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.url)
    }

    /// `{issuer}/jwks`, where GKE serves the keys.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.shared.url)
    }

    /// The test CA's certificate (PEM) that the HTTPS certificate chains to: write it to a
    /// file and point `SSL_CERT_FILE` at it.
    pub fn ca_pem(&self) -> &str {
        self.shared.ca_pem
    }

    /// The JWK Set served at [`jwks_uri`](Self::jwks_uri): the current key only.
    pub fn jwks(&self) -> serde_json::Value {
        self.shared.key().jwks()
    }

    /// The `kid` that new tokens carry.
    pub fn kid(&self) -> String {
        self.shared.key().kid().to_owned()
    }

    /// Mints a token for `token`, signed with the current key.
    pub fn mint(&self, token: &KsaToken) -> std::io::Result<String> {
        self.shared.mint(token, false)
    }

    /// Mints a signed token that expired an hour ago.
    pub fn mint_expired(&self, token: &KsaToken) -> std::io::Result<String> {
        self.shared.mint(token, true)
    }

    /// The claims [`mint`](Self::mint) would sign now, to alter before [`sign`](Self::sign)
    /// (another audience, another issuer, ...).
    pub fn claims(&self, token: &KsaToken) -> KsaClaims {
        KsaClaims::new(&self.shared.url, token, self.shared.now(), false)
    }

    /// Signs `claims` as they are, with the current key.
    pub fn sign(&self, claims: &KsaClaims) -> std::io::Result<String> {
        self.shared.sign(claims)
    }

    /// Replaces the signing key with a new one; the JWKS then lists only the new key, so
    /// tokens minted before no longer verify (their `kid` is unknown). RSA key generation
    /// is CPU-bound and runs in `spawn_blocking`.
    pub async fn rotate_key(&self) -> std::io::Result<()> {
        self.shared.rotate_key().await.map(drop)
    }

    /// Replaces the faults in force; the next request sees the new ones.
    pub fn set_faults(&self, faults: IssuerFaults) {
        self.shared.set_faults(faults);
    }

    /// The faults in force now (`server_errors` counts down as the burst is served).
    pub fn faults(&self) -> IssuerFaults {
        self.shared.faults()
    }

    /// Request and token counters.
    pub fn stats(&self) -> IssuerStats {
        self.shared.stats()
    }

    /// Writes a token for `token` to `path` now, as the kubelet does for a projected volume,
    /// and keeps it fresh: a new token at 80% of the lifetime. See [`ProjectedToken`].
    pub async fn project(&self, path: impl Into<PathBuf>, token: KsaToken) -> std::io::Result<ProjectedToken> {
        ProjectedToken::start(Arc::clone(&self.shared), path.into(), token).await
    }
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
        let url = format!("https://{addr}{}", config.issuer_path());
        let faults = Mutex::new(config.faults.clone());
        let shared = Arc::new(Shared {
            config,
            url,
            ca_pem: &ca.ca_pem,
            key: Mutex::new(Arc::new(key)),
            faults,
            started: (SystemTime::now(), Instant::now()),
            discovery_requests: AtomicU64::new(0),
            jwks_requests: AtomicU64::new(0),
            tokens_minted: AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(serve::serve(
            listener,
            ca.acceptor.clone(),
            Arc::clone(&shared),
            stopped,
        ));
        tracing::debug!(url = %shared.url, "cluster issuer listening");
        Ok(ClusterIssuer {
            handle: IssuerHandle { shared, addr },
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
