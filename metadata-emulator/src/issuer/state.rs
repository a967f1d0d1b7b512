//! The state one running issuer shares between its connections, its projected tokens and
//! its handles ([`super::handle`]).

use std::io::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::refresh::{self, Ack, Command};
use super::{IssuerConfig, IssuerFaults, IssuerStats, KsaClaims, KsaToken};
use crate::config::Clock;
use crate::token::SigningKey;

/// State shared by the server's connections, the projected tokens and the handles.
pub(crate) struct Shared {
    pub(super) config: IssuerConfig,
    pub(super) url: String,
    pub(super) ca_pem: &'static str,
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
        refresh::send(&commands, command).await
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
