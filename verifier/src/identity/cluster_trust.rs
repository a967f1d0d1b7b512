//! STS's refusals of a cluster-mode token, explained: the IAM OIDC provider for the cluster's
//! issuer, its client IDs, and the role's trust conditions on `ISSUER_HOST_PATH:sub`/`:aud`.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif>

use super::ksa_token::KubernetesClaims;
use crate::input::RoleArn;

/// STS's messages for this mode (`InvalidIdentityToken`), as AWS words them.
const NO_PROVIDER: &str = "No OpenIDConnect provider found in your account for";
const WRONG_AUDIENCE: &str = "Incorrect token audience";
const NO_KEYS: &str = "Couldn't retrieve verification key from your identity provider";

/// The audience AWS's SDKs and the Terraform modules use by default.
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// A refusal's stable code and hint, from STS's `code` and `message` and the token's claims.
/// Codes STS shares across causes get a precise one (`OidcProviderMissing`,
/// `AudienceNotAllowed`, `IssuerKeysUnavailable`); the rest keep STS's code.
pub fn refusal_hint(role: &RoleArn, code: &str, message: &str, claims: &KubernetesClaims) -> (String, String) {
    let issuer = claims.iss.trim_end_matches('/');
    let host_path = host_path(issuer);
    let account = &role.account_id;
    let provider_arn = format!("arn:{}:iam::{account}:oidc-provider/{host_path}", role.partition);
    let audience = audience(claims);
    if message.contains(NO_PROVIDER) {
        return (
            "OidcProviderMissing".into(),
            format!(
                "Account {account} has no IAM OIDC provider for the token's issuer {issuer}. Create it once per account \
                 and cluster with the aws-gke-oidc-provider Terraform module (project_id, location and cluster_name, or \
                 issuer_url = \"{issuer}\"; client_ids = [\"{audience}\"]), or: aws iam create-open-id-connect-provider \
                 --url {issuer} --client-id-list {audience}. The URL must be the token's iss exactly; the role's trust \
                 policy then names {provider_arn}."
            ),
        );
    }
    if message.contains(WRONG_AUDIENCE) {
        return (
            "AudienceNotAllowed".into(),
            format!(
                "The token's audience {aud:?} is not among the client IDs of {provider_arn}. Set the projected \
                 serviceAccountToken volume's audience to a client ID the provider lists (sts.amazonaws.com by default), \
                 or add {audience:?} to the aws-gke-oidc-provider module's client_ids. Compare: aws iam \
                 get-open-id-connect-provider --open-id-connect-provider-arn {provider_arn} --query ClientIDList",
                aud = claims.aud,
            ),
        );
    }
    if code == "IDPCommunicationError" {
        return (
            code.to_owned(),
            format!(
                "AWS could not reach the cluster's issuer {issuer} to fetch its keys (retried until the deadline). \
                 GKE's issuer is public, so this is usually transient: try again in a few minutes. A self-managed \
                 cluster's issuer must answer AWS over HTTPS from the internet."
            ),
        );
    }
    if message.contains(NO_KEYS) {
        return (
            "IssuerKeysUnavailable".into(),
            format!(
                "AWS could not fetch the signing keys of {issuer} (its /.well-known/openid-configuration and jwks_uri) \
                 from the internet. GKE's issuers are public; a self-managed cluster's issuer must be served over HTTPS \
                 from a public address. If the issuer check passed from the pod, the keys are reachable only from inside: \
                 publish them, or use the GSA mode."
            ),
        );
    }
    (
        code.to_owned(),
        trust_hint(role, claims, &provider_arn, host_path, audience),
    )
}

/// Puts the token's `sub` and `aud` beside the condition keys AWS compares them with, and
/// prints the trust statement that would accept this very token.
fn trust_hint(
    role: &RoleArn,
    claims: &KubernetesClaims,
    provider_arn: &str,
    host_path: &str,
    audience: &str,
) -> String {
    let statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": { "Federated": provider_arn },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                format!("{host_path}:sub"): claims.sub,
                format!("{host_path}:aud"): audience,
            }
        }
    });
    format!(
        "AWS refused this token for {role}. The token carries sub={sub:?} and aud={aud:?}; the trust policy compares \
         {host_path}:sub with sub (system:serviceaccount:NAMESPACE:KSA) and {host_path}:aud with aud. Check that the \
         role exists in account {account} and that its trust policy has this statement (Terraform writes it for \
         the workload with identity = \"cluster\" from its namespace, ksa and the audience input): {statement} Compare: aws iam get-role \
         --role-name {name} --query Role.AssumeRolePolicyDocument",
        sub = claims.sub,
        aud = claims.aud,
        account = role.account_id,
        name = role.role_name,
    )
}

/// The issuer as IAM's condition keys and provider ARNs spell it: no scheme, no trailing slash.
pub fn host_path(issuer: &str) -> &str {
    let issuer = issuer.trim_end_matches('/');
    issuer.strip_prefix("https://").unwrap_or(issuer)
}

/// The audience the trust condition should name: STS's default when the token carries it.
fn audience(claims: &KubernetesClaims) -> &str {
    claims
        .aud
        .iter()
        .find(|a| *a == STS_AUDIENCE)
        .or(claims.aud.first())
        .map_or(STS_AUDIENCE, String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ksa_token::KsaToken;
    use crate::identity::ksa_token::tests::{ISSUER, projected};

    const HOST_PATH: &str = "container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/c";

    fn hint(code: &str, message: &str) -> (String, String) {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/team-reader").unwrap();
        let token = KsaToken::decode(&projected(r#"["sts.amazonaws.com"]"#, 0, 1)).unwrap();
        refusal_hint(&role, code, message, &token.claims)
    }

    #[test]
    fn a_missing_provider_names_the_module_and_the_exact_issuer() {
        // STS's message, as the SDKs print it for EKS and GitHub issuers.
        let (code, hint) = hint(
            "InvalidIdentityToken",
            &format!("InvalidIdentityToken: No OpenIDConnect provider found in your account for {ISSUER}"),
        );
        assert_eq!(code, "OidcProviderMissing");
        assert!(
            hint.contains("aws-gke-oidc-provider") && hint.contains(&format!("issuer_url = \"{ISSUER}\"")),
            "{hint}"
        );
        assert!(
            hint.contains(&format!("arn:aws:iam::123456789012:oidc-provider/{HOST_PATH}")),
            "{hint}"
        );
    }

    #[test]
    fn a_wrong_audience_compares_the_volume_with_the_client_ids() {
        let (code, hint) = hint("InvalidIdentityToken", "InvalidIdentityToken: Incorrect token audience");
        assert_eq!(code, "AudienceNotAllowed");
        assert!(
            hint.contains(r#"audience ["sts.amazonaws.com"]"#) && hint.contains("--query ClientIDList"),
            "{hint}"
        );
    }

    #[test]
    fn unreachable_keys_say_the_issuer_must_be_public() {
        let message = "InvalidIdentityToken: Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";
        let (code, hint) = hint("InvalidIdentityToken", message);
        assert_eq!(code, "IssuerKeysUnavailable");
        assert!(
            hint.contains(&format!("{ISSUER} (its /.well-known/openid-configuration")),
            "{hint}"
        );
    }

    #[test]
    fn aws_failing_to_reach_the_issuer_names_the_issuer_not_google() {
        let (code, hint) = hint(
            "IDPCommunicationError",
            "IDPCommunicationError: Couldn't connect to the identity provider",
        );
        assert_eq!(code, "IDPCommunicationError");
        assert!(
            hint.contains(&format!("issuer {ISSUER}")) && !hint.contains("Google's signing keys"),
            "{hint}"
        );
    }

    #[test]
    fn access_denied_prints_the_statement_that_accepts_this_token() {
        let (code, hint) = hint(
            "AccessDenied",
            "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
        assert_eq!(code, "AccessDenied");
        let statement = format!(
            r#"{{"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{HOST_PATH}:aud":"sts.amazonaws.com","{HOST_PATH}:sub":"system:serviceaccount:team:reader"}}}},"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::123456789012:oidc-provider/{HOST_PATH}"}}}}"#
        );
        assert!(hint.contains(&statement), "{hint}");
        assert!(hint.contains("--role-name team-reader"), "{hint}");
        // The one role module of both modes, chosen by the workload's identity input.
        assert!(
            hint.contains("identity = \"cluster\"") && !hint.contains("aws-cluster-federated-role"),
            "{hint}"
        );
    }

    #[test]
    fn issuers_are_spelled_as_condition_keys_spell_them() {
        assert_eq!(host_path("https://oidc.example.com/id/ABC/"), "oidc.example.com/id/ABC");
        assert_eq!(host_path(ISSUER), HOST_PATH);
    }
}
