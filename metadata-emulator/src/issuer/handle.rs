//! The public handle on a running issuer: what tests and the demo ask of it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::projected::ProjectedToken;
use super::state::Shared;
use super::{IssuerFaults, IssuerStats, KsaClaims, KsaToken};
use crate::token::SigningKey;

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

    /// Signs `claims` with a fresh key the issuer does not publish, under the current key's
    /// `kid`: a key reused under a known `kid` (another cluster's, a forger's). The JWKS lists
    /// that `kid`, but the signature does not verify with its key, so AWS refuses the token.
    pub async fn sign_with_unpublished_key(&self, claims: &KsaClaims) -> std::io::Result<String> {
        let other = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(std::io::Error::other)??;
        other.sign_json(&serde_json::json!({ "alg": "RS256", "kid": self.kid() }), claims)
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
