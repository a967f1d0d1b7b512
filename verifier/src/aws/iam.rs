//! The IAM reads `explain` makes: the role (`iam:GetRole`, its trust policy) and, for a cluster
//! issuer, the account's OIDC provider (`iam:ListOpenIDConnectProviders`,
//! `iam:GetOpenIDConnectProvider`: its client IDs). They use the caller's own credentials from
//! the standard chain (environment, `AWS_PROFILE` and the config files, ECS, EC2 metadata) but
//! never a web-identity token: that is the workload's identity, the one being explained.
//! Only these reads load AWS config files; `verify`'s chain loads none (sdk.rs).

use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use serde_json::Value;
use trust_policy::{Provider, ProviderLookup};

use crate::aws::answer::{MalformedAnswer, WholeAnswer};
use crate::error::{Stage, StageError, error_chain};
use crate::input::RoleArn;
use crate::redact;

/// The permissions the reads need, as a hint names them.
pub const PERMISSIONS: &str = "iam:GetRole, iam:ListOpenIDConnectProviders and iam:GetOpenIDConnectProvider";

/// An IAM client with the caller's credentials.
pub struct IamReader {
    client: aws_sdk_iam::Client,
}

/// What IAM holds for a role.
#[derive(Debug, Clone)]
pub struct Role {
    pub arn: String,
    /// The trust policy, decoded.
    pub trust_policy: Value,
}

impl IamReader {
    /// A client for the role's partition (IAM is global: its region is the partition's STS
    /// region), honouring `AWS_ENDPOINT_URL_IAM` and `AWS_ENDPOINT_URL`, over `https_client`
    /// (the run's CA bundle, answers bounded).
    pub async fn new(role: &RoleArn, https_client: SharedHttpClient) -> IamReader {
        let region = Region::new(role.partition_sts_region().to_owned());
        let provider_config = ProviderConfig::default()
            .with_region(Some(region.clone()))
            .with_http_client(https_client.clone());
        let credentials =
            CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new())
                .or_else(
                    "Profile",
                    ProfileFileCredentialsProvider::builder()
                        .configure(&provider_config)
                        .build(),
                )
                .or_else(
                    "EcsContainer",
                    aws_config::ecs::EcsCredentialsProvider::builder()
                        .configure(&provider_config)
                        .build(),
                )
                .or_else(
                    "Ec2InstanceMetadata",
                    aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                        .configure(&provider_config)
                        .build(),
                );
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .http_client(https_client)
            .credentials_provider(credentials)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .load()
            .await;
        // The SDK's parser stops once it has what it wants: a GetRole or a provider listing
        // followed by junk would count. Every answer must parse to its end.
        let iam_config = aws_sdk_iam::config::Builder::from(&config)
            .interceptor(WholeAnswer::new())
            .build();
        IamReader {
            client: aws_sdk_iam::Client::from_conf(iam_config),
        }
    }

    /// The role and its trust policy; `None` when the account has no such role.
    pub async fn role(&self, role: &RoleArn) -> Result<Option<Role>, StageError> {
        let answer = match self.client.get_role().role_name(&role.role_name).send().await {
            Ok(answer) => answer,
            Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(failure(e, "iam:GetRole", role)),
        };
        let Some(found) = answer.role() else {
            return Err(bad_answer("GetRole answered without a role"));
        };
        // GetRole takes a name: credentials of another account read that account's role.
        if found.arn() != role.as_str() {
            return Err(StageError::new(
                Stage::Sts,
                "IamWrongAccount",
                format!("GetRole {} answered with {}", role.role_name, found.arn()),
                format!(
                    "Your AWS credentials are for another account than the role's ({}). Use a profile of account \
                     {} (AWS_PROFILE=...), or give the trust policy with --trust-policy FILE.",
                    role.account_id, role.account_id
                ),
            ));
        }
        let document = found.assume_role_policy_document().unwrap_or_default();
        let trust_policy = trust_policy::document::parse(document)
            .map_err(|why| bad_answer(&format!("GetRole {}: {why}", role.role_name)))?;
        Ok(Some(Role {
            arn: found.arn().to_owned(),
            trust_policy,
        }))
    }

    /// The account's OIDC provider for the issuer `host_path` (as IAM names it), with its
    /// client IDs; [`ProviderLookup::Missing`] when the account has none.
    pub async fn provider(&self, role: &RoleArn, host_path: &str) -> Result<ProviderLookup, StageError> {
        let arn = format!(
            "arn:{}:iam::{}:oidc-provider/{host_path}",
            role.partition, role.account_id
        );
        let list = self
            .client
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| failure(e, "iam:ListOpenIDConnectProviders", role))?;
        if !list
            .open_id_connect_provider_list()
            .iter()
            .any(|p| p.arn() == Some(arn.as_str()))
        {
            return Ok(ProviderLookup::Missing);
        }
        let provider = self
            .client
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .map_err(|e| failure(e, "iam:GetOpenIDConnectProvider", role))?;
        Ok(ProviderLookup::Registered(Provider {
            arn,
            client_ids: provider.client_id_list().to_vec(),
        }))
    }
}

fn bad_answer(what: &str) -> StageError {
    StageError::new(
        Stage::Sts,
        "IamBadResponse",
        what,
        "Something other than AWS IAM answered, or the answer was damaged: check AWS_ENDPOINT_URL_IAM and any proxy.",
    )
}

/// A failed read, in the words of what to do: the permission, the credentials, the network.
fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
    action: &str,
    role: &RoleArn,
) -> StageError {
    if let Some(malformed) = MalformedAnswer::in_error(&e) {
        return StageError::new(
            Stage::Sts,
            "IamBadResponse",
            format!("{action}: IAM answered 200 but {malformed}"),
            "Something other than AWS IAM answered, or the answer was cut or damaged on the way: check \
             AWS_ENDPOINT_URL_IAM and any proxy in between. Nothing was explained from it.",
        );
    }
    let profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let whose = profile.map_or_else(
        || "Your AWS credentials (the standard chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, ...)".to_owned(),
        |p| format!("The credentials of AWS_PROFILE={p}"),
    );
    let alternative =
        "or give the trust policy offline with --trust-policy FILE (aws iam get-role, terraform show -json)";
    let status = e.raw_response().map(|r| r.status().as_u16());
    // An error body the SDK cannot read still says 403: forbidden to these credentials.
    let denied = matches!(
        e.code(),
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")
    ) || (e.code().is_none() && status == Some(403));
    let (code, hint) = match e.code() {
        _ if denied => (
            "IamAccessDenied",
            format!(
                "{whose} may not call {action} in account {}. Use a profile allowed {PERMISSIONS} on the role and \
                 the account's OIDC providers, {alternative}.",
                role.account_id
            ),
        ),
        Some("InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken" | "ExpiredTokenException") => (
            "IamCredentialsRefused",
            format!(
                "{whose} were refused by IAM (unknown, wrong or expired keys). Refresh them (aws sso login, a new session), {alternative}."
            ),
        ),
        Some(_) => (
            "IamReadFailed",
            format!("IAM refused {action}; see the message. {alternative}."),
        ),
        None => match &e {
            // The SDK tried every source of the chain and found no credentials.
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if error_chain(&e).contains("no credentials") =>
            {
                (
                    "IamNoCredentials",
                    format!(
                        "No AWS credentials for the IAM reads (the message lists what was tried): set AWS_PROFILE to \
                         a profile allowed {PERMISSIONS}, {alternative}."
                    ),
                )
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => (
                "IamUnreachable",
                format!("Cannot reach AWS IAM; check the network and AWS_ENDPOINT_URL_IAM if set, {alternative}."),
            ),
            _ => (
                "IamBadResponse",
                format!("IAM's answer could not be read, {alternative}."),
            ),
        },
    };
    let message = match (e.code(), status) {
        (Some(code), _) => redact::cap(&format!("{action}: {code}: {}", e.message().unwrap_or("(no message)"))),
        (None, Some(status)) => format!("{action}: HTTP {status}: {}", error_chain(&e)),
        (None, None) => format!("{action}: {}", error_chain(&e)),
    };
    StageError::new(Stage::Sts, code, message, hint)
}
