//! The Kubernetes service-account token (cluster mode): its claims, the checks that can be
//! made locally, and what the report shows of it. [`super::issuer`] fetches the issuer's keys
//! as AWS will and verifies the signature with them.
//! <https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume>

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Stage, StageError};

/// The stage cluster-mode failures belong to.
pub const STAGE: Stage = Stage::ClusterIdentity;

/// How Kubernetes names a service account in `sub`: `system:serviceaccount:NS:KSA`.
const SUB_PREFIX: &str = "system:serviceaccount:";

/// The claims AWS's OIDC provider for the cluster's issuer looks at, and the pod's identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KubernetesClaims {
    pub iss: String,
    /// `system:serviceaccount:NS:KSA` (`ISSUER:sub` in AWS conditions).
    pub sub: String,
    /// The projected volume's `audience` (`ISSUER:aud`); Kubernetes writes a list.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default, rename = "kubernetes.io")]
    pub kubernetes: Option<KubernetesIo>,
}

/// The `kubernetes.io` claim: what the token is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct KubernetesIo {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub pod: Option<Named>,
    #[serde(default)]
    pub serviceaccount: Option<Named>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Named {
    pub name: String,
}

/// `aud` as a string or a list of strings (both are valid JWT).
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A projected KSA token: the raw text (only ever sent to STS) and what it says.
#[derive(Clone)]
pub struct KsaToken {
    raw: String,
    /// The signing key's id, looked up in the issuer's JWKS.
    pub kid: Option<String>,
    pub claims: KubernetesClaims,
}

impl fmt::Debug for KsaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KsaToken")
            .field("raw", &"<redacted>")
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish()
    }
}

impl KsaToken {
    /// Decodes header and claims, without checking the signature. The error says what the
    /// text looked like, never the text itself.
    pub fn decode(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let parts: Vec<&str> = raw.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err(format!(
                "not a JWT (expected three base64url parts separated by dots; got {} bytes in {} parts)",
                raw.len(),
                parts.len()
            ));
        };
        let part = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| format!("not a JWT: the {what} is not base64url"))
        };
        if signature.is_empty() {
            return Err("not a JWT: the signature is empty (an unsigned token)".into());
        }
        part(signature, "signature")?;
        let header: Header = serde_json::from_slice(&part(header, "header")?)
            .map_err(|e| format!("the JWT's header is unreadable: {e}"))?;
        if header.alg != "RS256" {
            return Err(format!(
                "the JWT is signed with {:?}; Kubernetes signs service-account tokens with RS256 and AWS accepts RS256",
                header.alg
            ));
        }
        let claims: KubernetesClaims = serde_json::from_slice(&part(claims, "claims part")?)
            .map_err(|e| format!("the JWT's claims are unreadable (iss, sub, aud, iat and exp are required): {e}"))?;
        Ok(Self {
            raw: raw.to_owned(),
            kid: header.kid,
            claims,
        })
    }

    /// The token itself: for STS only, never for logs or reports.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// What the signature covers (`HEADER.CLAIMS`, as sent) and the signature's bytes.
    pub fn signed_parts(&self) -> (&str, Vec<u8>) {
        let (input, signature) = self.raw.rsplit_once('.').unwrap_or_default();
        // `decode` checked that the signature is base64url.
        (input, URL_SAFE_NO_PAD.decode(signature).unwrap_or_default())
    }
}

impl KubernetesClaims {
    /// `(namespace, name)` from `sub`, when it names a service account.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let (namespace, name) = self.sub.strip_prefix(SUB_PREFIX)?.split_once(':')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
    }

    /// Seconds until expiry by the local clock (negative once expired), without overflow.
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.exp.saturating_sub(now)
    }

    pub fn pod_name(&self) -> Option<&str> {
        Some(self.kubernetes.as_ref()?.pod.as_ref()?.name.as_str())
    }
}

/// The checks a projected token must pass before it goes to AWS: it is for `audience`, valid
/// now (`now` in Unix seconds), and names a service account.
pub fn check(token: &KsaToken, audience: &str, now: i64) -> Result<(), StageError> {
    let claims = &token.claims;
    let err = |code, message: String, hint: String| Err(StageError::new(STAGE, code, message, hint));
    if !claims.aud.iter().any(|a| a == audience) {
        let default_token = claims
            .aud
            .iter()
            .any(|a| a == &claims.iss || a.contains("kubernetes.default"));
        return err(
            "AudienceMismatch",
            format!("token audience is {:?}, expected {audience:?}", claims.aud),
            format!(
                "{}Set the projected serviceAccountToken volume's audience to {audience:?} (the OIDC provider's client ID) \
                 in the pod spec, or pass the audience the provider lists with --audience.",
                if default_token {
                    "This is the API server's own token (the default /var/run/secrets/kubernetes.io/serviceaccount/token), \
                     not one projected for AWS. "
                } else {
                    ""
                }
            ),
        );
    }
    let start = claims.nbf.unwrap_or(claims.iat).max(claims.iat);
    if start >= claims.exp {
        return err(
            "TokenNeverValid",
            format!(
                "token valid from {start} until {}: never valid, by any clock",
                claims.exp
            ),
            "The token's own times contradict each other, so AWS refuses it whatever its clock says. Something other \
             than the kubelet wrote the file: point --token-file at the projected serviceAccountToken volume."
                .into(),
        );
    }
    // Early or late only by the pod's clock: STS judges with its own, so it is said, not refused.
    crate::clock::warn_if_early(start, now);
    crate::clock::warn_if_late(claims.exp, now);
    if claims.service_account().is_none() {
        return err(
            "NotAServiceAccount",
            format!("token subject {:?} is not system:serviceaccount:NAMESPACE:NAME", claims.sub),
            "Point --token-file (AWS_WEB_IDENTITY_TOKEN_FILE) at a projected serviceAccountToken volume: only Kubernetes \
             service-account tokens carry a subject the role's trust policy can name."
                .into(),
        );
    }
    Ok(())
}

/// What the report shows of a cluster-mode identity: never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterIdentity {
    /// Always `cluster`, beside GSA mode's `gsa`.
    pub mode: &'static str,
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub expires_in_s: i64,
    pub namespace: Option<String>,
    pub service_account: Option<String>,
    pub pod: Option<String>,
    /// Where the issuer's keys were found, when it was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Set when the issuer was not checked (`--skip-issuer-check`) or is not GKE's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_note: Option<String>,
}

impl ClusterIdentity {
    pub fn new(claims: &KubernetesClaims, now: i64) -> Self {
        let from_sub = claims.service_account();
        let bound = claims.kubernetes.clone().unwrap_or_default();
        Self {
            mode: "cluster",
            iss: claims.iss.clone(),
            sub: claims.sub.clone(),
            aud: claims.aud.clone(),
            exp: claims.exp,
            expires_in_s: claims.seconds_left(now),
            namespace: bound.namespace.or_else(|| from_sub.map(|(ns, _)| ns.to_owned())),
            service_account: bound
                .serviceaccount
                .map(|s| s.name)
                .or_else(|| from_sub.map(|(_, name)| name.to_owned())),
            pod: bound.pod.map(|p| p.name),
            jwks_uri: None,
            issuer_note: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::id_token::tests::token_with;

    pub const ISSUER: &str = "https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/c";

    /// A token as the kubelet projects it, with the given `aud` JSON and lifetime.
    pub fn projected(aud: &str, iat: i64, exp: i64) -> String {
        projected_by(ISSUER, "key-1", aud, iat, exp)
    }

    /// The same from issuer `iss`, signed with key `kid`.
    pub fn projected_by(iss: &str, kid: &str, aud: &str, iat: i64, exp: i64) -> String {
        let claims = format!(
            r#"{{"aud":{aud},"exp":{exp},"iat":{iat},"nbf":{iat},"iss":"{iss}","jti":"j",
            "kubernetes.io":{{"namespace":"team","node":{{"name":"n","uid":"u"}},"pod":{{"name":"app-7f9c","uid":"u"}},
            "serviceaccount":{{"name":"reader","uid":"u"}}}},"sub":"system:serviceaccount:team:reader"}}"#
        );
        token_with(&format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#), &claims)
    }

    #[test]
    fn decodes_a_projected_token() {
        let token = KsaToken::decode(&projected(r#"["sts.amazonaws.com"]"#, 1000, 4600)).unwrap();
        assert_eq!(token.kid.as_deref(), Some("key-1"));
        assert_eq!(token.claims.aud, ["sts.amazonaws.com"]);
        assert_eq!(token.claims.service_account(), Some(("team", "reader")));
        assert_eq!(token.claims.pod_name(), Some("app-7f9c"));
        let single = KsaToken::decode(&projected(r#""sts.amazonaws.com""#, 1000, 4600)).unwrap();
        assert_eq!(single.claims.aud, ["sts.amazonaws.com"]);
    }

    #[test]
    fn refuses_what_is_not_a_token_without_echoing_it() {
        let claims = r#"{"iss":"i","sub":"s","aud":"a","iat":1,"exp":2}"#;
        for (case, text, expected) in [
            ("html", "<html>secret-ish</html>".to_owned(), "not a JWT"),
            ("empty", String::new(), "not a JWT"),
            (
                "unsigned",
                format!(
                    "{}.",
                    token_with(r#"{"alg":"none"}"#, claims).rsplit_once('.').unwrap().0
                ),
                "unsigned",
            ),
            ("hs256", token_with(r#"{"alg":"HS256"}"#, claims), "HS256"),
            (
                "no exp",
                token_with(r#"{"alg":"RS256"}"#, r#"{"iss":"i","sub":"s","aud":"a","iat":1}"#),
                "exp",
            ),
            (
                "aud a number",
                token_with(r#"{"alg":"RS256"}"#, r#"{"iss":"i","sub":"s","aud":7,"iat":1,"exp":2}"#),
                "unreadable",
            ),
        ] {
            let error = KsaToken::decode(&text).unwrap_err();
            assert!(error.contains(expected), "{case}: {error}");
            assert!(!error.contains("secret-ish"), "{case}: {error}");
        }
    }

    #[test]
    fn local_checks_name_each_problem() {
        let now = 10_000;
        let code = |aud: &str, iat: i64, exp: i64, audience: &str| {
            check(&KsaToken::decode(&projected(aud, iat, exp)).unwrap(), audience, now)
                .err()
                .map(|e| e.code)
        };
        let sts = r#"["sts.amazonaws.com"]"#;
        assert_eq!(code(sts, now, now + 3600, "sts.amazonaws.com"), None);
        assert_eq!(
            code(r#"["other","sts.amazonaws.com"]"#, now, now + 3600, "sts.amazonaws.com"),
            None
        );
        assert_eq!(code(sts, now, now + 3600, "other").as_deref(), Some("AudienceMismatch"));
        // Late or early by the pod's clock only: STS's clock decides.
        assert_eq!(code(sts, now - 7200, now - 3600, "sts.amazonaws.com"), None);
        assert_eq!(code(sts, now + 600, now + 4200, "sts.amazonaws.com"), None);
        assert_eq!(
            code(sts, now, now, "sts.amazonaws.com").as_deref(),
            Some("TokenNeverValid")
        );
        assert_eq!(
            code(sts, now + 30, now + 3600, "sts.amazonaws.com"),
            None,
            "within the leeway"
        );
        // Extreme values neither overflow nor pass.
        assert_eq!(
            code(sts, i64::MIN, i64::MIN, "sts.amazonaws.com").as_deref(),
            Some("TokenNeverValid")
        );
        assert_eq!(
            code(sts, i64::MAX, i64::MAX, "sts.amazonaws.com").as_deref(),
            Some("TokenNeverValid")
        );
        assert_eq!(code(sts, i64::MIN, i64::MIN + 1, "sts.amazonaws.com"), None);
    }

    #[test]
    fn the_api_servers_own_token_is_named_in_the_hint() {
        let token = KsaToken::decode(&projected(&format!("[\"{ISSUER}\"]"), 0, i64::MAX)).unwrap();
        let error = check(&token, "sts.amazonaws.com", 10).unwrap_err();
        assert!(error.hint.contains("API server's own token"), "{}", error.hint);
        assert!(
            error.hint.contains("audience to \"sts.amazonaws.com\""),
            "{}",
            error.hint
        );
    }

    #[test]
    fn subjects_that_are_not_service_accounts_are_refused() {
        let claims =
            |sub: &str| format!(r#"{{"iss":"{ISSUER}","sub":"{sub}","aud":"sts.amazonaws.com","iat":10,"exp":5000}}"#);
        for sub in [
            "alice",
            "system:serviceaccount:team",
            "system:serviceaccount::reader",
            "system:node:n1",
            "system:serviceaccount:a:b:c",
        ] {
            let token = KsaToken::decode(&token_with(r#"{"alg":"RS256"}"#, &claims(sub))).unwrap();
            assert_eq!(
                check(&token, "sts.amazonaws.com", 100).unwrap_err().code,
                "NotAServiceAccount",
                "{sub}"
            );
        }
    }

    #[test]
    fn the_report_shows_the_pod_and_never_the_token() {
        let raw = projected(r#"["sts.amazonaws.com"]"#, 1000, 4600);
        let token = KsaToken::decode(&raw).unwrap();
        let details = serde_json::to_value(ClusterIdentity::new(&token.claims, 4000)).unwrap();
        assert_eq!(
            details,
            serde_json::json!({"mode":"cluster","iss":ISSUER,"sub":"system:serviceaccount:team:reader",
                "aud":["sts.amazonaws.com"],"exp":4600,"expires_in_s":600,"namespace":"team",
                "service_account":"reader","pod":"app-7f9c"})
        );
        let signature = raw.rsplit('.').next().unwrap();
        assert!(!format!("{token:?}").contains(signature));
    }
}
