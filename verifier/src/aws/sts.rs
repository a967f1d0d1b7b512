//! Stage 2, AWS STS: `AssumeRoleWithWebIdentity` exchanges the Google ID token for temporary
//! credentials on the role. The call is unsigned; the token is the only proof of identity.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc_user-id.html>

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::aws::answer::{MalformedAnswer, WholeAnswer};
use crate::clock;
use crate::error::{Stage, StageError, error_chain};
use crate::identity::id_token::Claims;
use crate::identity::{Identity, cluster_trust};
use crate::input::RoleArn;
use crate::redact;

/// What to assume, already validated.
#[derive(Debug, Clone)]
pub struct RoleRequest {
    pub role_arn: RoleArn,
    pub session_name: String,
    pub duration_seconds: Option<i32>,
}

/// The STS stage's settings, validated: the role, and the region whose endpoints serve it.
#[derive(Debug, Clone)]
pub struct RoleSettings {
    pub request: RoleRequest,
    /// From `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, else the partition's STS region.
    pub region: String,
}

/// The temporary identity STS handed out.
#[derive(Debug, Clone)]
pub struct AssumedRole {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// Redacted in `Debug`; only the credential helpers print them, on stdout.
    pub credentials: Credentials,
    pub expiration: SystemTime,
}

impl AssumedRole {
    /// The credentials' expiry in Unix seconds.
    pub fn expires_at(&self) -> i64 {
        clock::unix_seconds(self.expiration)
    }

    /// The credentials' expiry in RFC 3339, as AWS and `credential_process` write times.
    pub fn expiration_rfc3339(&self) -> String {
        DateTime::from_secs(self.expires_at())
            .fmt(Format::DateTime)
            .unwrap_or_default()
    }
}

pub async fn assume_role(
    config: &SdkConfig,
    request: &RoleRequest,
    identity: &Identity,
) -> Result<AssumedRole, StageError> {
    let client = aws_sdk_sts::Client::new(config);
    let answer = WholeAnswer::new();
    let output = client
        .assume_role_with_web_identity()
        .role_arn(request.role_arn.as_str())
        .role_session_name(&request.session_name)
        .web_identity_token(identity.expose())
        .set_duration_seconds(request.duration_seconds)
        .customize()
        .interceptor(answer.clone())
        .send()
        .await
        .map_err(|e| diagnose(e, request, identity, answer.date().as_deref()))?;
    warn_of_skew(answer.date().as_deref(), clock::unix_now());
    let bad_answer = |what: &str| {
        StageError::new(
            Stage::Sts,
            "StsBadResponse",
            format!("STS answered 200 but {what}"),
            "Something other than AWS STS answered, or the answer was damaged: check AWS_ENDPOINT_URL_STS \
             and any proxy in between. These credentials were not used.",
        )
    };
    let (Some(user), Some(creds)) = (output.assumed_role_user(), output.credentials()) else {
        return Err(bad_answer("without credentials"));
    };
    if creds.access_key_id().is_empty() || creds.secret_access_key().is_empty() || creds.session_token().is_empty() {
        return Err(bad_answer("with an empty access key, secret key or session token"));
    }
    let expiration = SystemTime::try_from(*creds.expiration()).unwrap_or(SystemTime::UNIX_EPOCH);
    if expiration <= SystemTime::now() {
        return Err(bad_answer(&format!(
            "with credentials that expired at {} (check the clock: clock skew)",
            creds.expiration()
        )));
    }
    Ok(AssumedRole {
        arn: user.arn().to_owned(),
        credentials: Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            Some(expiration),
            "AssumeRoleWithWebIdentity",
        ),
        expiration,
    })
}

/// STS's clock, from the `Date` header of its answer, in Unix seconds.
fn sts_clock(date: Option<&str>) -> Option<i64> {
    DateTime::from_str(date?, Format::HttpDate).ok().map(|t| t.secs())
}

/// STS judges a token's times with its own clock: a pod clock that differs from it is said,
/// with both times (the identity stage warns of a token that looks early by the pod's clock).
fn warn_of_skew(date: Option<&str>, pod_clock: i64) {
    let Some(sts_clock) = sts_clock(date) else { return };
    let skew = pod_clock.saturating_sub(sts_clock);
    if skew.abs() > clock::CLOCK_SKEW_LEEWAY_SECS {
        tracing::warn!(
            pod_clock,
            sts_clock,
            skew_s = skew,
            "the pod's clock differs from STS's (its Date header): tokens and credentials are judged by STS's \
             clock; check NTP on the node"
        );
    }
}

fn diagnose<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
    request: &RoleRequest,
    identity: &Identity,
    sts_date: Option<&str>,
) -> StageError {
    let role = &request.role_arn;
    let err = |code: &str, message: String, hint: String| StageError::new(Stage::Sts, code, message, hint);
    if let Some(malformed) = MalformedAnswer::in_error(&e) {
        return err(
            "StsBadResponse",
            format!("STS answered 200 but {malformed}"),
            "Something other than AWS STS answered, or the answer was cut or damaged on the way: check \
             AWS_ENDPOINT_URL_STS and any proxy in between. These credentials were not used."
                .into(),
        );
    }
    let SdkError::ServiceError(_) = &e else {
        return match e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => err("StsUnreachable", error_chain(&e),
                "Cannot reach AWS STS. Check egress to HTTPS (NetworkPolicy, firewall, proxy) and AWS_ENDPOINT_URL_STS if set.".into()),
            _ => err("StsBadResponse", error_chain(&e), "STS's answer could not be read; check AWS_ENDPOINT_URL_STS points at STS.".into()),
        };
    };
    let Some(code) = e.code().map(str::to_owned) else {
        let status = e.raw_response().map_or(0, |r| r.status().as_u16());
        return err(
            "StsBadResponse",
            format!("HTTP {status} from STS with a body that is not an STS error"),
            "Something other than AWS STS answered (a proxy, a captive portal, a wrong AWS_ENDPOINT_URL_STS). \
             Check the endpoint and any proxy (HTTPS_PROXY, NO_PROXY)."
                .into(),
        );
    };
    let message = redact::cap(&format!("{code}: {}", e.message().unwrap_or("(no message)")));
    match code.as_str() {
        "InvalidIdentityToken" | "AccessDenied" | "IDPRejectedClaim" => match identity {
            Identity::Google(token) => err(&code, message, trust_hint(role, &token.claims)),
            Identity::Cluster(token) => {
                let (code, hint) = cluster_trust::refusal_hint(role, &code, &message, token.claims());
                err(&code, message, hint)
            }
        },
        "ExpiredTokenException" | "ExpiredToken" => {
            let exp = match identity {
                Identity::Google(token) => token.claims.exp,
                Identity::Cluster(token) => token.claims().exp,
            };
            let times = match sts_clock(sts_date) {
                Some(sts) => format!(
                    "By STS's clock (its Date header) it is {sts}, {} s after the token's exp {exp}; the pod's clock says {}.",
                    sts.saturating_sub(exp),
                    clock::unix_now()
                ),
                None => format!("The token's exp is {exp}; the pod's clock says {}.", clock::unix_now()),
            };
            err(&code, message, format!(
                "STS judged the token expired by its own clock. {times} The token was read long after it was minted: a \
                 projected token file the kubelet no longer refreshes (a copy, or a stale volume: restart the pod), or a \
                 token-file sidecar that stopped; fetch a fresh token. If STS's and the pod's clocks differ, the node's clock \
                 is off (clock skew): check NTP."))
        }
        "IDPCommunicationError" => match identity {
            Identity::Google(_) => err(&code, message,
                "AWS could not fetch Google's signing keys (retried until the deadline). This is on AWS's side or Google's; try again in a few minutes.".into()),
            Identity::Cluster(token) => {
                let (code, hint) = cluster_trust::refusal_hint(role, &code, &message, token.claims());
                err(&code, message, hint)
            }
        },
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => err(&code, message,
            "STS rate-limited this account (retried until the deadline). Reuse credentials: the credential-process helper caches them, and token-file lets the SDK refresh them only near expiry.".into()),
        "ValidationError" if message.contains("DurationSeconds") || message.contains("MaxSessionDuration") => err(&code, message, format!(
            "Ask for a shorter session (--duration-seconds) or raise max_session_duration of the aws-workload-role module for {role}.")),
        "RegionDisabledException" => err(&code, message, "STS is not activated in this region for the account: activate it in IAM account settings or use another --region.".into()),
        _ => err(&code, message, format!("STS refused to let the token assume {role}; see the message above.")),
    }
}

/// Puts the token's claims next to the condition keys AWS compares them with, and prints the
/// trust-policy condition that would accept this very token.
fn trust_hint(role: &RoleArn, claims: &Claims) -> String {
    let condition = serde_json::json!({
        "StringEquals": {
            "accounts.google.com:aud": claims.azp,
            "accounts.google.com:oaud": claims.aud,
            "accounts.google.com:sub": claims.sub,
        }
    });
    format!(
        "AWS refused this token for {role}. The token carries azp={azp:?}, aud={aud:?}, sub={sub:?}; the trust policy compares \
         accounts.google.com:aud with azp (the GSA's unique id), accounts.google.com:oaud with aud (the audience) and \
         accounts.google.com:sub with sub. Check that the role exists in account {account} and that its trust policy has \
         Principal {{\"Federated\": \"accounts.google.com\"}}, Action sts:AssumeRoleWithWebIdentity and this condition \
         (Terraform writes it for the workload with identity = \"gsa\" from its Google service account's unique id \
         and the audience input): {condition} \
         Compare: aws iam get-role --role-name {name} --query Role.AssumeRolePolicyDocument",
        azp = claims.azp,
        aud = claims.aud,
        sub = claims.sub,
        account = role.account_id,
        name = role.role_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stss_clock_is_read_from_its_date_header() {
        assert_eq!(sts_clock(Some("Wed, 02 Dec 2026 02:22:25 GMT")), Some(1_796_178_145));
        assert_eq!(sts_clock(Some("yesterday")), None);
        assert_eq!(sts_clock(None), None);
    }

    #[test]
    fn trust_hint_prints_the_condition_that_accepts_the_token() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/reader").unwrap();
        let claims = Claims {
            iss: "https://accounts.google.com".into(),
            aud: "sts.amazonaws.com".into(),
            azp: "42".into(),
            sub: "42".into(),
            email: None,
            iat: 0,
            exp: 1,
        };
        let hint = trust_hint(&role, &claims);
        assert!(hint.contains(r#"{"StringEquals":{"accounts.google.com:aud":"42","accounts.google.com:oaud":"sts.amazonaws.com","accounts.google.com:sub":"42"}}"#), "{hint}");
        assert!(hint.contains("--role-name reader"), "{hint}");
    }
}
