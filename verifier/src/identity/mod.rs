//! Stage 1, the workload's identity: the web-identity token STS will be shown.
//! - GSA mode: the GKE metadata server mints a Google-signed ID token for the pod's Google
//!   service account ([`crate::identity::metadata`]).
//! - Cluster mode: the kubelet projects a Kubernetes service-account token signed by the
//!   cluster's own OIDC issuer into a file ([`projected`]); AWS trusts that issuer directly,
//!   and [`issuer`] checks it the way AWS will.

pub mod annotation;
pub mod cluster;
pub mod cluster_trust;
pub mod id_token;
pub mod issuer;
mod issuer_fetch;
pub mod ksa_token;
pub mod metadata;
pub mod projected;

use std::path::PathBuf;
use std::time::Duration;

use aws_smithy_http_client::tls::TlsContext;
use tokio::time::Instant;

use self::cluster::ClusterToken;
use self::issuer::IssuerClient;
use self::metadata::MetadataServer;
use self::projected::FileToken;
use crate::clock::unix_now;
use crate::error::StageError;
use crate::identity::id_token::IdToken;
use crate::stage::Stage;

/// Where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// The GKE metadata server at `host[:port]` (`GCE_METADATA_HOST`).
    MetadataServer { host: String },
    /// A token file (`AWS_WEB_IDENTITY_TOKEN_FILE`): a projected Kubernetes token (cluster
    /// mode) or a Google ID token kept there by `token-file`.
    TokenFile { path: PathBuf, check_issuer: bool },
}

impl IdentitySource {
    /// What a cached credential was obtained through: the metadata host or the token file.
    pub fn describe(&self) -> String {
        match self {
            IdentitySource::MetadataServer { host } => format!("metadata:{host}"),
            IdentitySource::TokenFile { path, .. } => format!("file:{}", path.display()),
        }
    }
}

/// The identity stage's settings, validated.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub source: IdentitySource,
    /// The audience the token must carry (`accounts.google.com:oaud`, or the projected
    /// volume's audience in cluster mode).
    pub audience: String,
    /// Bound on the whole run, retries included.
    pub timeout: Duration,
}

impl IdentitySettings {
    /// The stage that obtains the token: known before the token is seen, for its timing and
    /// its failures.
    pub fn source_stage(&self) -> Stage {
        match self.source {
            IdentitySource::MetadataServer { .. } => Stage::GcpIdentity,
            IdentitySource::TokenFile { .. } => Stage::ClusterIdentity,
        }
    }

    /// The same, without fetching a cluster issuer's discovery and keys: what credential-process
    /// does unless `--check-issuer` asks (STS fetches them itself; the pod may have no route).
    pub fn without_issuer_check(mut self) -> Self {
        if let IdentitySource::TokenFile { check_issuer, .. } = &mut self.source {
            *check_issuer = false;
        }
        self
    }

    /// The HTTPS client that checks a cluster issuer, trusting `tls` (the run's CA bundle,
    /// [`crate::aws::sdk::tls_context`]); `None` when no issuer will be checked.
    pub fn issuer_client(&self, tls: &TlsContext) -> Option<IssuerClient> {
        match self.source {
            IdentitySource::TokenFile { check_issuer: true, .. } => Some(IssuerClient::new(tls.clone())),
            _ => None,
        }
    }
}

/// A web-identity token that passed the local checks.
#[derive(Debug, Clone)]
pub enum Identity {
    /// GSA mode: a Google ID token.
    Google(IdToken),
    /// Cluster mode: a projected Kubernetes service-account token, and its issuer's check.
    Cluster(ClusterToken),
}

impl Identity {
    /// Obtains the token from `settings.source` and checks it locally; `expected_gsa`
    /// applies to Google tokens.
    /// A token file may hold either kind: a projected KSA token (cluster mode) or the Google ID
    /// token `token-file` keeps there; its issuer says which. `issuer` checks a cluster issuer.
    pub async fn obtain(
        settings: &IdentitySettings,
        expected_gsa: Option<&str>,
        issuer: Option<&IssuerClient>,
        deadline: Instant,
    ) -> Result<Self, StageError> {
        let audience = &settings.audience;
        match &settings.source {
            IdentitySource::MetadataServer { host } => MetadataServer::new(host)
                .checked_token(audience, expected_gsa, deadline)
                .await
                .map(Identity::Google),
            IdentitySource::TokenFile { path, .. } => match projected::read_file_token(path, deadline).await? {
                FileToken::Google(token) => {
                    metadata::check_token(&token, audience, expected_gsa, unix_now())?;
                    Ok(Identity::Google(token))
                }
                FileToken::Kubernetes(token) => ClusterToken::check(token, audience, issuer, unix_now(), deadline)
                    .await
                    .map(Identity::Cluster),
            },
        }
    }

    /// The stage this identity's failures and report line belong to.
    pub fn stage(&self) -> Stage {
        match self {
            Identity::Google(_) => Stage::GcpIdentity,
            Identity::Cluster(_) => Stage::ClusterIdentity,
        }
    }

    /// The token itself: for STS only, never for logs or reports.
    pub fn expose(&self) -> &str {
        match self {
            Identity::Google(token) => token.expose(),
            Identity::Cluster(token) => token.expose(),
        }
    }
}
