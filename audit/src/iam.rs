//! `--aws`: what IAM holds for the roles and issuers the clusters and Terraform name, read once
//! for the whole fleet with the caller's own credentials. Roles and providers through the
//! verifier's [`IamReader`] (`iam:GetRole`, `iam:ListOpenIDConnectProviders`, its failures in
//! the verifier's words); the count of the account's providers with one more list.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::BehaviorVersion;
use aws_sdk_iam::config::SharedHttpClient;
use aws_sdk_iam::error::ProvideErrorMetadata;
use gke_aws_verifier::aws::iam::{IamReader, Role};
use gke_aws_verifier::input::RoleArn;
use trust_policy::ProviderLookup;

/// At most this many distinct roles are read in one run (IAM throttles bursts of GetRole).
pub const MAX_ROLES: usize = 500;

/// What one IAM read gave: the answer, or why there is none (a `CannotRead` finding).
pub type Read<T> = Result<T, String>;

/// Everything IAM said.
#[derive(Debug, Default)]
pub struct Iam {
    /// By role ARN: the role, `None` when it does not exist.
    pub roles: BTreeMap<String, Read<Option<Role>>>,
    /// By issuer host/path (`container.googleapis.com/v1/projects/…`).
    pub providers: BTreeMap<String, Read<ProviderLookup>>,
    /// The number of OIDC providers in the caller's account.
    pub provider_count: Option<Read<usize>>,
}

/// The reader every IAM call of the run shares (its region is the first role's partition's).
pub struct Reader {
    reader: IamReader,
    first: RoleArn,
    client: SharedHttpClient,
}

impl Reader {
    /// `None` when no role is named anywhere: there is nothing to read.
    pub async fn new(client: SharedHttpClient, roles: &BTreeSet<String>) -> Option<Reader> {
        let first = roles.iter().find_map(|arn| RoleArn::parse(arn).ok())?;
        let reader = IamReader::new(&first, client.clone()).await;
        Some(Reader { reader, first, client })
    }

    /// `iam:GetRole` of each role (at most [`MAX_ROLES`]).
    pub async fn roles(&self, iam: &mut Iam, roles: &BTreeSet<String>) {
        if roles.len() > MAX_ROLES {
            tracing::warn!(
                roles = roles.len(),
                "more roles than one run reads; the first {MAX_ROLES} are read"
            );
        }
        for arn in roles.iter().take(MAX_ROLES) {
            let Ok(role) = RoleArn::parse(arn) else { continue };
            let answer = self
                .reader
                .role(&role)
                .await
                .map_err(|e| format!("{}: {}", e.message, e.hint));
            iam.roles.insert(arn.clone(), answer);
        }
    }

    /// The OIDC provider of each issuer (host/path), and the count of the account's providers.
    pub async fn providers(&self, iam: &mut Iam, issuers: &BTreeSet<String>) {
        for issuer in issuers {
            let answer = self
                .reader
                .provider(&self.first, issuer)
                .await
                .map_err(|e| format!("{}: {}", e.message, e.hint));
            iam.providers.insert(issuer.clone(), answer);
        }
        iam.provider_count = Some(count_providers(&self.first, self.client.clone()).await);
    }

    /// The account the reads are about (the first role's).
    pub fn account(&self) -> &str {
        &self.first.account_id
    }
}

/// `iam:ListOpenIDConnectProviders`, counted (IAM answers the whole list in one page).
async fn count_providers(role: &RoleArn, client: SharedHttpClient) -> Read<usize> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(role.partition_sts_region()))
        .http_client(client)
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&config);
    match iam.list_open_id_connect_providers().send().await {
        Ok(list) => Ok(list.open_id_connect_provider_list().len()),
        Err(e) => Err(format!(
            "iam:ListOpenIDConnectProviders: {}: {}",
            e.code().unwrap_or("no answer"),
            e.message()
                .map_or_else(|| gke_aws_verifier::error::error_chain(&e), str::to_owned)
        )),
    }
}
