//! The IAM reads `explain` and the audit make: the caller's account (`sts:GetCallerIdentity`,
//! once), the role (`iam:GetRole`: its trust policy and when it was last used) and, for a
//! cluster issuer, the account's OIDC provider (`iam:ListOpenIDConnectProviders`,
//! `iam:GetOpenIDConnectProvider`: its client IDs). `GetRole` takes a name and answers for the
//! caller's own account, so a role of another account is never "missing": it is
//! `IamWrongAccount` ([`IamReader::check_account`]).
//!
//! `explain` reads with the caller's own credentials from the standard chain (environment,
//! `AWS_PROFILE` and the config files, ECS, EC2 metadata) but never a web-identity token: that
//! is the workload's identity, the one being explained ([`Caller::Person`]). The audit's
//! CronJob has no other credentials than the ones this project injects, so its chain includes
//! web identity ([`Caller::Standard`]). On a Google machine (GKE, GCE, Cloud Shell) the EC2
//! metadata address is Google's metadata server, which refuses the SDK's IMDSv2 token request
//! (403, or 404): that is "no AWS credentials here", never a network problem.
//! Only these reads load AWS config files; `verify`'s chain loads none (sdk.rs).

use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
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

/// Every action the reads call, as the read-only policy to grant lists them
/// (`terraform/modules/aws-iam-reader`). `sts:GetCallerIdentity` needs no grant: IAM cannot deny it.
pub const ACTIONS: [&str; 4] = [
    "iam:GetRole",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
    "sts:GetCallerIdentity",
];

/// Marks an instance-metadata answer that was not AWS's (a Google metadata server).
const NOT_AWS_METADATA: &str = "the instance metadata address answered, but not as AWS's instance metadata service";

/// Whose credentials the reads use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A person's or a CI job's: environment, profile files, ECS, EC2 metadata; never a
    /// web-identity token (`explain`: that token is the identity being explained).
    Person,
    /// The whole standard chain, web identity included (`AWS_ROLE_ARN` +
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`): the audit's CronJob, given keyless access by this
    /// project's injection.
    Standard,
}

/// An IAM client (and an STS one, for the caller's account) with the caller's credentials.
pub struct IamReader {
    client: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
}

/// What IAM holds for a role.
#[derive(Debug, Clone)]
pub struct Role {
    pub arn: String,
    /// The trust policy, decoded.
    pub trust_policy: Value,
    /// `RoleLastUsed.LastUsedDate`: when an STS session of the role last called AWS; `None`
    /// when IAM has none (never used in IAM's tracking period of 400 days).
    pub last_used: Option<std::time::SystemTime>,
}

impl IamReader {
    /// A client for the role's partition (IAM is global: its region is the partition's STS
    /// region), honouring `AWS_ENDPOINT_URL_IAM` and `AWS_ENDPOINT_URL`, over `https_client`
    /// (the run's CA bundle, answers bounded).
    pub async fn new(role: &RoleArn, https_client: SharedHttpClient) -> IamReader {
        IamReader::for_caller(role, https_client, Caller::Person).await
    }

    /// As [`new`](IamReader::new), with the credentials of `caller`.
    pub async fn for_caller(role: &RoleArn, https_client: SharedHttpClient, caller: Caller) -> IamReader {
        let region = Region::new(role.partition_sts_region().to_owned());
        let provider_config = ProviderConfig::default()
            .with_region(Some(region.clone()))
            .with_http_client(https_client.clone());
        let mut credentials =
            CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new()).or_else(
                "Profile",
                ProfileFileCredentialsProvider::builder()
                    .configure(&provider_config)
                    .build(),
            );
        if caller == Caller::Standard {
            credentials = credentials.or_else(
                "WebIdentityToken",
                WebIdentityTokenCredentialsProvider::builder()
                    .configure(&provider_config)
                    .build(),
            );
        }
        let credentials = credentials
            .or_else(
                "EcsContainer",
                aws_config::ecs::EcsCredentialsProvider::builder()
                    .configure(&provider_config)
                    .build(),
            )
            .or_else(
                "Ec2InstanceMetadata",
                AwsInstanceMetadata(
                    aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                        .configure(&provider_config)
                        .build(),
                ),
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
        let sts_config = aws_sdk_sts::config::Builder::from(&config)
            .interceptor(WholeAnswer::new())
            .build();
        IamReader {
            client: aws_sdk_iam::Client::from_conf(iam_config),
            sts: aws_sdk_sts::Client::from_conf(sts_config),
        }
    }

    /// The caller's account (`sts:GetCallerIdentity`, which needs no permission). Its failures
    /// say why there are no usable credentials; `role` names the account the reads are for.
    pub async fn caller_account(&self, role: &RoleArn) -> Result<String, StageError> {
        let answer = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| failure(e, "sts:GetCallerIdentity", role))?;
        match answer.account() {
            Some(account) if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(account.to_owned())
            }
            other => Err(bad_answer(&format!(
                "GetCallerIdentity answered the account {:?}, not 12 digits",
                redact::cap(other.unwrap_or_default())
            ))),
        }
    }

    /// `Err(IamWrongAccount)` when the caller's account is not the role's: IAM can then say
    /// nothing about the role, not even that it is missing.
    pub async fn check_account(&self, role: &RoleArn) -> Result<(), StageError> {
        let caller = self.caller_account(role).await?;
        if caller == role.account_id {
            return Ok(());
        }
        Err(wrong_account(role, &caller))
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
            let caller = RoleArn::parse(found.arn()).map_or_else(|_| "another".to_owned(), |r| r.account_id);
            return Err(wrong_account(role, &caller));
        }
        let document = found.assume_role_policy_document().unwrap_or_default();
        let trust_policy = trust_policy::document::parse(document)
            .map_err(|why| bad_answer(&format!("GetRole {}: {why}", role.role_name)))?;
        let last_used = found
            .role_last_used()
            .and_then(|used| used.last_used_date())
            .and_then(|date| std::time::SystemTime::try_from(*date).ok());
        Ok(Some(Role {
            arn: found.arn().to_owned(),
            trust_policy,
            last_used,
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

/// The caller's credentials are of account `caller`, the role is in another: say so, with
/// both accounts, before anything is said about the role.
pub fn wrong_account(role: &RoleArn, caller: &str) -> StageError {
    StageError::new(
        Stage::Sts,
        "IamWrongAccount",
        format!(
            "your AWS credentials are of account {caller}, the role {role} is in account {}: IAM answers GetRole \
             for the caller's own account only, so it cannot tell whether the role exists",
            role.account_id
        ),
        format!(
            "Use credentials of account {} (AWS_PROFILE=a profile of that account allowed {PERMISSIONS}), or give \
             the trust policy offline with --trust-policy FILE (aws iam get-role, terraform show -json).",
            role.account_id
        ),
    )
}

/// The EC2 metadata provider, where a metadata server that is not AWS's means "no credentials
/// here" and the chain goes on, instead of a failure that reads as a network problem. Google's
/// (GKE, GCE, Cloud Shell) answers the SDK's IMDSv2 token request (`PUT /latest/api/token`,
/// without `Metadata-Flavor: Google`) with 403, or 404 without the TTL header: aws-config makes
/// both a provider error that ends the chain (aws-config 1.13 `imds/client/token.rs`
/// `parse_token_response`). Unreachable metadata (a laptop) is "not loaded" there already, and
/// an EC2 instance without a role answers the token and then 404, "not loaded" too
/// (`imds/credentials.rs` `get_profile_uncached`): both left as they are.
#[derive(Debug)]
struct AwsInstanceMetadata(aws_config::imds::credentials::ImdsCredentialsProvider);

impl ProvideCredentials for AwsInstanceMetadata {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            match self.0.provide_credentials().await {
                Err(e @ (CredentialsError::ProviderError(_) | CredentialsError::Unhandled(_))) => Err(
                    CredentialsError::not_loaded(format!("{NOT_AWS_METADATA} ({})", error_chain(&e))),
                ),
                other => other,
            }
        })
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
            // On a Google machine: the metadata address is Google's, which has no AWS credentials.
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if error_chain(&e).contains(NOT_AWS_METADATA) =>
            {
                (
                    "IamNoCredentials",
                    format!(
                        "No AWS credentials for IAM reads here: the instance metadata server is not AWS's (on GKE, \
                         GCE and Cloud Shell it is Google's, which serves none). Set AWS_PROFILE to a profile allowed \
                         {PERMISSIONS} (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), {alternative}."
                    ),
                )
            }
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
