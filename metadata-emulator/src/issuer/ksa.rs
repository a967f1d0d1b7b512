//! Kubernetes service-account tokens, shaped as the API server issues them for a projected
//! `serviceAccountToken` volume (claims in `k8s.io/kubernetes/pkg/serviceaccount/claims.go`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};

/// What to mint: whose token, for which audiences, for how long.
///
/// Build it with [`KsaToken::new`] and struct update syntax:
/// `KsaToken { lifetime: Duration::from_secs(60), ..KsaToken::new("apps", "reports") }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KsaToken {
    /// The pod's namespace.
    pub namespace: String,
    /// The Kubernetes service account (KSA) the pod runs as.
    pub service_account: String,
    /// The pod's name.
    pub pod: String,
    /// The projected volume's `audience`, as the `aud` array.
    pub audiences: Vec<String>,
    /// `exp - iat`: the volume's `expirationSeconds` (Kubernetes' default is one hour).
    pub lifetime: Duration,
}

impl KsaToken {
    /// A token for `namespace/service_account` in pod `SERVICE_ACCOUNT-0`, audience
    /// `sts.amazonaws.com`, valid for one hour.
    pub fn new(namespace: &str, service_account: &str) -> KsaToken {
        KsaToken {
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
            pod: format!("{service_account}-0"),
            audiences: vec!["sts.amazonaws.com".to_owned()],
            lifetime: Duration::from_secs(3600),
        }
    }

    /// `system:serviceaccount:NAMESPACE:KSA`, the token's `sub`.
    pub fn subject(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.service_account)
    }
}

impl Default for KsaToken {
    fn default() -> Self {
        KsaToken::new("gke-aws", "verifier")
    }
}

/// The claims of a projected KSA token. Fields in alphabetical order, as the API server
/// writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KsaClaims {
    /// The audiences, always a JSON array (even with one).
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// The cluster's issuer URL.
    pub iss: String,
    /// A random id per token (Kubernetes 1.29 and later).
    pub jti: String,
    /// Where the token was bound: namespace, pod, service account.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    /// Not before: the issue time.
    pub nbf: u64,
    /// `system:serviceaccount:NAMESPACE:KSA`.
    pub sub: String,
}

/// The `kubernetes.io` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    pub namespace: String,
    pub pod: ObjectRef,
    pub serviceaccount: ObjectRef,
}

/// A Kubernetes object the token is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

impl KsaClaims {
    /// The claims the issuer `iss` signs for `token`, issued at `now`; with `expired`, they
    /// keep the lifetime but ended an hour ago.
    pub fn new(iss: &str, token: &KsaToken, now: SystemTime, expired: bool) -> KsaClaims {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let lifetime = token.lifetime.as_secs();
        let iat = if expired {
            now.saturating_sub(lifetime + 3600)
        } else {
            now
        };
        let object = |kind: &str, name: &str| ObjectRef {
            name: name.to_owned(),
            uid: uid_of(&format!("{kind}/{}/{name}", token.namespace)),
        };
        KsaClaims {
            aud: token.audiences.clone(),
            exp: iat + lifetime,
            iat,
            iss: iss.to_owned(),
            jti: random_uuid(),
            kubernetes: KubernetesClaim {
                namespace: token.namespace.clone(),
                pod: object("pod", &token.pod),
                serviceaccount: object("serviceaccount", &token.service_account),
            },
            nbf: iat,
            sub: token.subject(),
        }
    }
}

/// A stable UUID-shaped uid for an object name, so the same pod keeps its uid across tokens.
fn uid_of(name: &str) -> String {
    uuid(digest(&SHA256, name.as_bytes()).as_ref())
}

fn random_uuid() -> String {
    let mut bytes = [0; 16];
    // The system RNG does not fail on Linux; a zero id would still be a valid string.
    let _ = SystemRandom::new().fill(&mut bytes);
    uuid(&bytes)
}

/// Formats 16 bytes as a version-4 UUID (`8-4-4-4-12` hex digits).
fn uuid(bytes: &[u8]) -> String {
    let mut b = [0; 16];
    b.copy_from_slice(&bytes[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::token::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://127.0.0.1:1/v1/projects/p/locations/l/clusters/c";

    #[test]
    fn claims_are_shaped_as_kubernetes_writes_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let claims = KsaClaims::new(ISS, &KsaToken::new("apps", "reports"), now, false);
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["aud"], serde_json::json!(["sts.amazonaws.com"]));
        assert_eq!(json["sub"], "system:serviceaccount:apps:reports");
        assert_eq!(
            (claims.iat, claims.nbf, claims.exp),
            (1_700_000_000, 1_700_000_000, 1_700_003_600)
        );
        assert_eq!(json["kubernetes.io"]["namespace"], "apps");
        assert_eq!(json["kubernetes.io"]["serviceaccount"]["name"], "reports");
        assert_eq!(json["kubernetes.io"]["pod"]["name"], "reports-0");
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["aud", "exp", "iat", "iss", "jti", "kubernetes.io", "nbf", "sub"]);
    }

    #[test]
    fn uids_are_stable_per_object_and_jti_is_fresh_per_token() {
        let now = SystemTime::now();
        let token = KsaToken::default();
        let (a, b) = (
            KsaClaims::new(ISS, &token, now, false),
            KsaClaims::new(ISS, &token, now, false),
        );
        assert_eq!(a.kubernetes, b.kubernetes);
        assert_ne!(a.kubernetes.pod.uid, a.kubernetes.serviceaccount.uid);
        assert_ne!(a.jti, b.jti);
        assert_eq!(a.jti.len(), 36);
        assert_eq!(&a.jti[14..15], "4");
    }

    #[test]
    fn expired_claims_keep_the_lifetime_but_ended_an_hour_ago() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let claims = KsaClaims::new(ISS, &KsaToken::default(), now, true);
        assert_eq!(claims.exp, 1_700_000_000 - 3600);
        assert_eq!(claims.exp - claims.iat, 3600);
    }
}
