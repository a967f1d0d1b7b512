//! The cluster OIDC issuer as AWS sees it: discovery document and JWKS.
//!
//! AWS fetches `{iss}/.well-known/openid-configuration`, then its `jwks_uri`, anonymously over
//! HTTPS from the public internet, looks up the token's `kid` there and verifies the RS256
//! signature with that key. We do the same from the pod, so that a key rotation, an altered
//! token or a wrong issuer is diagnosed here rather than as STS's bare `InvalidIdentityToken`.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html>

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

pub use super::issuer_fetch::IssuerClient;
use super::issuer_fetch::{Fetch, host_port, public_name, without_userinfo};
use super::ksa_token::{KsaToken, STAGE};
use crate::error::StageError;

/// GKE's issuers: `https://container.googleapis.com/v1/projects/P/locations/L/clusters/C`.
const GKE_ISSUER_PREFIX: &str = "https://container.googleapis.com/v1/projects/";
/// The host GKE serves its issuers' discovery and keys from.
const GKE_ISSUER_HOST: &str = "container.googleapis.com";
/// What the issuer check found, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuerCheck {
    pub jwks_uri: String,
    /// How many keys the issuer publishes; the token's is among them.
    pub keys: usize,
    /// Said when the issuer is not GKE's, or its discovery names another issuer.
    pub note: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    #[serde(default)]
    issuer: Option<String>,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    kty: String,
    #[serde(default)]
    alg: Option<String>,
    /// The RSA modulus and exponent, base64url (RFC 7518, section 6.3.1).
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl IssuerClient {
    /// Checks that `token`'s issuer publishes the key that signed it, by `deadline`.
    pub async fn check(&self, token: &KsaToken, deadline: Instant) -> Result<IssuerCheck, StageError> {
        let iss = &token.claims.iss;
        let issuer = self.https_url(iss).map_err(|why| {
            StageError::new(
                STAGE,
                "IssuerNotHttps",
                format!("token issuer {:?} {why}", without_userinfo(iss)),
                NOT_HTTPS_HINT,
            )
        })?;
        let host = host_port(&issuer);
        let work = async {
            let discovery_url = format!("{}/.well-known/openid-configuration", iss.trim_end_matches('/'));
            let discovery: Discovery = self
                .get_json(&discovery_url, deadline)
                .await
                .map_err(|f| diagnose(f, &discovery_url, &host, "discovery document"))?;
            let jwks_uri = self
                .https_url(&discovery.jwks_uri)
                .and_then(|jwks_uri| keys_where_aws_fetches_them(&issuer, jwks_uri))
                .map_err(|why| {
                    StageError::new(
                        STAGE,
                        "IssuerDiscoveryFailed",
                        format!("{discovery_url}: jwks_uri {why}"),
                        DISCOVERY_HINT,
                    )
                })?;
            let jwks_host = host_port(&jwks_uri);
            let keys: KeySet = self
                .get_json(jwks_uri.as_str(), deadline)
                .await
                .map_err(|f| diagnose(f, jwks_uri.as_str(), &jwks_host, "key set (JWKS)"))?;
            let candidates = find_key(&keys, token.kid.as_deref(), jwks_uri.as_str())?;
            verify_signature(token, &candidates, jwks_uri.as_str())?;
            let note = issuer_note(iss, discovery.issuer.as_deref());
            Ok(IssuerCheck {
                jwks_uri: jwks_uri.to_string(),
                keys: keys.keys.len(),
                note,
            })
        };
        tokio::time::timeout_at(deadline, work).await.unwrap_or_else(|_| {
            Err(StageError::new(
                STAGE,
                "Timeout",
                format!("the issuer at {host} did not answer before the deadline"),
                unreachable_hint(&host),
            ))
        })
    }
}

/// AWS fetches the keys from the public internet: a `jwks_uri` on the issuer's own host is
/// where the issuer serves them (GKE's issuer: only there); another host must be a public DNS
/// name, never an address or a name only the pod's network knows (`localhost`, `*.internal`,
/// a link-local metadata address), which AWS could not reach and the pod should not be sent to.
fn keys_where_aws_fetches_them(issuer: &Url, jwks_uri: Url) -> Result<Url, String> {
    let (issuer_host, jwks_host) = (
        issuer.host_str().unwrap_or_default(),
        jwks_uri.host_str().unwrap_or_default(),
    );
    if jwks_host.eq_ignore_ascii_case(issuer_host) {
        return Ok(jwks_uri);
    }
    if issuer_host.eq_ignore_ascii_case(GKE_ISSUER_HOST) {
        return Err(format!(
            "is on {jwks_host}, not on {GKE_ISSUER_HOST}, where GKE serves every cluster's keys"
        ));
    }
    public_name(&jwks_uri).map(|()| jwks_uri)
}

/// The keys the token's signature may be checked with: those published for its `kid`, as RSA
/// keys usable for RS256.
fn find_key<'k>(keys: &'k KeySet, kid: Option<&str>, jwks_uri: &str) -> Result<Vec<&'k Jwk>, StageError> {
    let usable = |k: &&Jwk| k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == "RS256");
    let found: Vec<&Jwk> = match kid {
        Some(kid) => keys
            .keys
            .iter()
            .filter(usable)
            .filter(|k| k.kid.as_deref() == Some(kid))
            .collect(),
        // No kid: AWS tries the keys it has; any usable one may be the signer.
        None => keys.keys.iter().filter(usable).collect(),
    };
    if !found.is_empty() {
        return Ok(found);
    }
    let published: Vec<&str> = keys.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
    Err(StageError::new(
        STAGE,
        "KeyNotInJwks",
        format!("the token's key id {kid:?} is not among the RS256 keys at {jwks_uri} ({published:?})"),
        "The issuer does not publish the key that signed this token, so AWS will refuse it (InvalidIdentityToken). \
         The cluster's signing key was rotated and this token predates it, or the token comes from another cluster \
         than the issuer names. The kubelet refreshes projected tokens well before they expire: read the projected \
         volume's file, not a copy, and restart the pod if the file is stale.",
    ))
}

/// The signature must verify with one of the published keys, as AWS verifies it: a token
/// altered after signing, or signed by another key published under the same `kid`, is one
/// AWS refuses (`InvalidIdentityToken`).
fn verify_signature(token: &KsaToken, candidates: &[&Jwk], jwks_uri: &str) -> Result<(), StageError> {
    let (signed, signature) = token.signed_parts();
    let component = |value: &Option<String>| value.as_deref().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let mut unusable = 0;
    for key in candidates {
        let (Some(n), Some(e)) = (component(&key.n), component(&key.e)) else {
            unusable += 1;
            continue;
        };
        let public = RsaPublicKeyComponents { n: &n[..], e: &e[..] };
        if public
            .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
            .is_ok()
        {
            return Ok(());
        }
    }
    let kid = token.kid.as_deref().unwrap_or("(none)");
    let unusable = if unusable > 0 {
        format!(" ({unusable} of them without a readable modulus and exponent)")
    } else {
        String::new()
    };
    Err(StageError::new(
        STAGE,
        "SignatureInvalid",
        format!(
            "the token's RS256 signature does not verify with the {} key(s) published for kid {kid:?} at {jwks_uri}{unusable}",
            candidates.len()
        ),
        "AWS verifies the signature with the same keys and will refuse this token (InvalidIdentityToken). The token was \
         altered after the cluster signed it (a copy edited by hand or by a tool; only the kubelet's file is whole), or \
         another key was published under the same kid (an issuer reusing key ids, or the token comes from another \
         cluster than its iss names). Point --token-file at the projected volume's file as the kubelet writes it; if it \
         is that file, compare the token's kid with `kubectl get --raw /openid/v1/jwks` on the cluster. \
         --skip-issuer-check leaves the judgement to AWS.",
    ))
}

/// Notes for the report: an issuer that is not GKE's is followed, not refused.
fn issuer_note(iss: &str, discovered: Option<&str>) -> Option<String> {
    let mut notes = Vec::new();
    if !iss.starts_with(GKE_ISSUER_PREFIX) {
        notes.push(format!(
            "issuer is not GKE's ({GKE_ISSUER_PREFIX}…): a self-managed or other cluster"
        ));
    }
    if let Some(discovered) = discovered.filter(|d| d.trim_end_matches('/') != iss.trim_end_matches('/')) {
        notes.push(format!("the discovery document names issuer {discovered:?}"));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn diagnose(failure: Fetch, url: &str, host: &str, what: &str) -> StageError {
    match failure {
        Fetch::Unreachable(e) => StageError::new(
            STAGE,
            "IssuerUnreachable",
            format!("GET {url}: {e}"),
            unreachable_hint(host),
        ),
        Fetch::Status(status, body) => StageError::new(
            STAGE,
            "IssuerDiscoveryFailed",
            format!("GET {url}: HTTP {status}, body {body}"),
            DISCOVERY_HINT,
        ),
        Fetch::Refused(why) => StageError::new(
            STAGE,
            "IssuerDiscoveryFailed",
            format!("the issuer's {what} at {url}: {why}"),
            DISCOVERY_HINT,
        ),
    }
}

fn unreachable_hint(host: &str) -> String {
    format!(
        "The pod cannot fetch the issuer's discovery document from {host}. AWS fetches it from the internet, so STS \
         may still accept the token. Allow egress to {host} (NetworkPolicy, firewall; HTTPS_PROXY/NO_PROXY), check \
         SSL_CERT_FILE if the error is about a certificate, or pass --skip-issuer-check when the cluster has no route \
         to Google's APIs."
    )
}

const NOT_HTTPS_HINT: &str = "AWS trusts only https:// issuers. Kubernetes writes the API server's \
--service-account-issuer into iss; on GKE it is https://container.googleapis.com/v1/projects/PROJECT/locations/LOCATION/clusters/NAME.";
const DISCOVERY_HINT: &str = "The token's issuer does not serve an OIDC discovery document and key set as AWS needs. \
On GKE the issuer is https://container.googleapis.com/v1/projects/PROJECT/locations/LOCATION/clusters/NAME; compare \
kubectl get --raw /.well-known/openid-configuration with the token's iss and the OIDC provider's URL.";

#[cfg(test)]
#[path = "issuer_tests.rs"]
mod tests;
