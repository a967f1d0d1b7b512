//! The state one running issuer shares between its connections, its projected tokens and
//! its handles, and the public [`IssuerHandle`] on it.

use std::io::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::projected::{self, Ack, Command};
use super::{IssuerConfig, IssuerFaults, IssuerStats, KsaClaims, KsaToken, ProjectedToken};
use crate::config::Clock;
use crate::token::SigningKey;

/// State shared by the server's connections, the projected tokens and the handles.
pub(crate) struct Shared {
    pub(super) config: IssuerConfig,
    pub(super) url: String,
    ca_pem: &'static str,
    key: Mutex<Arc<SigningKey>>,
    faults: Mutex<IssuerFaults>,
    started: (SystemTime, Instant),
    pub(super) discovery_requests: AtomicU64,
    pub(super) jwks_requests: AtomicU64,
    tokens_minted: AtomicU64,
    projected: Mutex<Option<mpsc::Sender<Command>>>,
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
    pub(super) fn new(config: IssuerConfig, url: String, ca_pem: &'static str, key: SigningKey) -> Shared {
        let faults = Mutex::new(config.faults.clone());
        Shared {
            config,
            url,
            ca_pem,
            key: Mutex::new(Arc::new(key)),
            faults,
            started: (SystemTime::now(), Instant::now()),
            discovery_requests: AtomicU64::new(0),
            jwks_requests: AtomicU64::new(0),
            tokens_minted: AtomicU64::new(0),
            projected: Mutex::new(None),
        }
    }

    pub(super) fn now(&self) -> SystemTime {
        match self.config.clock {
            Clock::System => SystemTime::now(),
            Clock::Tokio => self.started.0 + self.started.1.elapsed(),
        }
    }

    pub(super) fn key(&self) -> Arc<SigningKey> {
        Arc::clone(&lock(&self.key))
    }

    /// Uses up one error of a 503 burst, if one is pending.
    pub(super) fn take_server_error(&self) -> bool {
        let mut faults = lock(&self.faults);
        let pending = faults.server_errors > 0;
        if pending {
            faults.server_errors -= 1;
        }
        pending
    }

    pub(super) fn discovery(&self) -> serde_json::Value {
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

    pub(super) fn sign(&self, claims: &KsaClaims) -> std::io::Result<String> {
        let key = self.key();
        // The API server's JWS header: no `typ`.
        let token = key.sign_json(&serde_json::json!({ "alg": "RS256", "kid": key.kid() }), claims)?;
        self.tokens_minted.fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }

    pub(super) fn mint(&self, token: &KsaToken, expired: bool) -> std::io::Result<String> {
        self.sign(&KsaClaims::new(&self.url, token, self.now(), expired))
    }

    pub(super) async fn rotate_key(&self) -> std::io::Result<String> {
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(Error::other)??;
        let kid = key.kid().to_owned();
        tracing::info!(%kid, "issuer key rotated");
        *lock(&self.key) = Arc::new(key);
        Ok(kid)
    }

    pub(super) fn set_projected(&self, commands: mpsc::Sender<Command>) {
        *lock(&self.projected) = Some(commands);
    }

    /// Refreshes (`expire == false`) or expires the latest projected token, for the control
    /// endpoints.
    pub(super) async fn command_projected(&self, expire: bool) -> std::io::Result<()> {
        let commands = lock(&self.projected).clone().ok_or_else(|| {
            Error::new(
                std::io::ErrorKind::NotFound,
                "no projected token: start with --token-file",
            )
        })?;
        let command: fn(Ack) -> Command = if expire { Command::Expire } else { Command::Refresh };
        projected::send(&commands, command).await
    }

    pub(super) fn faults(&self) -> IssuerFaults {
        lock(&self.faults).clone()
    }

    pub(super) fn set_faults(&self, faults: IssuerFaults) {
        *lock(&self.faults) = faults;
    }

    pub(super) fn stats(&self) -> IssuerStats {
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
    pub(super) fn new(shared: Arc<Shared>, addr: SocketAddr) -> IssuerHandle {
        IssuerHandle { shared, addr }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer URL, `https://127.0.0.1:PORT/v1/projects/P/locations/L/clusters/C`:
    /// the tokens' `iss`, and what an AWS OIDC provider would be registered for.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// `http://127.0.0.1:PORT`: the issuer's CONNECT proxy, for `HTTPS_PROXY`. It tunnels only
    /// to `PUBLIC_HOST:443` (see [`IssuerConfig::public_host`]), straight into this issuer.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
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
