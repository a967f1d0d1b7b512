//! The state one running emulator shares between its connections and its owner.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::time::Instant;

use crate::config::{Clock, Config, Faults};
use crate::google_iam::{GoogleIam, Refusal, ServiceAccount};
use crate::token::SigningKey;

/// Everything a request handler needs: the fixed configuration, the signing key and the
/// faults and counters that change while the server runs.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub key: Arc<SigningKey>,
    faults: Mutex<Faults>,
    started: (SystemTime, Instant),
    ready_at: Instant,
    tokens_issued: AtomicU64,
    /// The IAM API stand-in and its access tokens (google_iam.rs).
    pub google: GoogleIam,
}

impl Shared {
    pub fn new(config: Config, key: Arc<SigningKey>) -> Shared {
        let started = (SystemTime::now(), Instant::now());
        let ready_at = started.1 + config.not_ready_for;
        let faults = Mutex::new(config.faults.clone());
        // The pod's own GSA exists, enabled, with the unique id its ID tokens carry.
        let google = GoogleIam::default();
        google.set_account(
            &config.gsa_email,
            Some(ServiceAccount {
                unique_id: config.unique_id.clone(),
                disabled: false,
            }),
        );
        Shared {
            config,
            key,
            faults,
            started,
            ready_at,
            tokens_issued: AtomicU64::new(0),
            google,
        }
    }

    /// The time to date tokens with, by the configured [`Clock`].
    pub fn now(&self) -> SystemTime {
        match self.config.clock {
            Clock::System => SystemTime::now(),
            Clock::Tokio => self.started.0 + self.started.1.elapsed(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Faults> {
        // A panic elsewhere can't leave `Faults` half-written: keep serving.
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn faults(&self) -> Faults {
        self.lock().clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.lock() = faults;
    }

    /// Whether metadata requests should have their connection dropped now: an outage,
    /// or the start-up period.
    pub fn refusing(&self) -> bool {
        self.lock().refuse || Instant::now() < self.ready_at
    }

    /// Uses up one error of a 5xx burst, if one is pending.
    pub fn take_server_error(&self) -> bool {
        let mut faults = self.lock();
        let pending = faults.server_errors > 0;
        if pending {
            faults.server_errors -= 1;
        }
        pending
    }

    pub fn count_token(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }
}

/// A cheap, cloneable handle on a running emulator, to move into other tasks or threads.
///
/// It does not keep the server alive: the server stops when its [`Emulator`](crate::Emulator)
/// (or [`BlockingEmulator`](crate::BlockingEmulator)) is dropped.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addr: SocketAddr,
}

impl Handle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `HOST:PORT`, the value for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://HOST:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults in force; the next request sees the new ones.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// The faults in force now (`server_errors` counts down as the burst is served).
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// How many ID tokens the identity endpoint has issued (expired ones included).
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued()
    }

    /// The JWK Set with the emulator's public key, as served at `/oauth2/v3/certs`.
    pub fn jwks(&self) -> serde_json::Value {
        self.shared.key.jwks()
    }

    /// The configuration the emulator was started with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Sets (`Some`) or deletes (`None`) a GSA in the IAM API stand-in. The pod's own GSA is
    /// there from the start; a GSA recreated under the same e-mail is `Some` with a new id.
    pub fn set_service_account(&self, email: &str, account: Option<ServiceAccount>) {
        self.shared.google.set_account(email, account);
    }

    /// From now on the IAM API refuses every read this way (`None`: it answers).
    pub fn set_iam_refusal(&self, refusal: Option<Refusal>) {
        self.shared.google.set_refusal(refusal);
    }

    /// How many `serviceAccounts.get` requests the IAM API stand-in has answered.
    pub fn iam_reads(&self) -> u64 {
        self.shared.google.reads()
    }

    /// The IAM API stand-in's endpoint (`http://HOST:PORT`): the clients' endpoint override.
    pub fn iam_endpoint(&self) -> String {
        self.base_url()
    }

    /// An Application Default Credentials file of `gcloud auth application-default login`
    /// (`authorized_user`) for `user`, whose `token_uri` is this stand-in's OAuth endpoint.
    pub fn authorized_user_json(&self, user: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "authorized_user",
            "client_id": "764086051850-emulated.apps.googleusercontent.com",
            "client_secret": "emulated-client-secret",
            "refresh_token": self.shared.google.issue_refresh_token(user),
            "token_uri": format!("{}/token", self.base_url()),
        })
    }
}
