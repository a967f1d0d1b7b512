//! `--aws`: what IAM holds for the roles and issuers the clusters and Terraform name, read once
//! for the whole fleet with credentials from the standard chain, web identity included (the
//! CronJob's, given keyless access by this project's injection). The caller's account first
//! (`sts:GetCallerIdentity`, once): `GetRole` answers for that account only, so the reads are
//! grouped by account, and the roles of an account the credentials are not of are not read at
//! all (one `CannotRead` for the account, never a "missing" role). OIDC providers are looked up
//! in each role's own account (keyed by account and issuer). Roles and providers through the
//! verifier's [`IamReader`], the count of the account's providers with one more list.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::BehaviorVersion;
use aws_sdk_iam::config::SharedHttpClient;
use aws_sdk_iam::error::ProvideErrorMetadata;
use gke_aws_verifier::aws::iam::{Caller, IamReader, Role};
use gke_aws_verifier::error::StageError;
use gke_aws_verifier::input::RoleArn;
use trust_policy::ProviderLookup;

/// At most this many distinct roles are read in one run (IAM throttles bursts of GetRole).
pub const MAX_ROLES: usize = 500;

/// What one IAM read gave: the answer, or why there is none (a `CannotRead` finding).
pub type Read<T> = Result<T, String>;

/// Everything IAM said.
#[derive(Debug, Default)]
pub struct Iam {
    /// By role ARN: the role, `None` when it does not exist. Roles of an account in
    /// [`unreadable_accounts`](Iam::unreadable_accounts) are not here.
    pub roles: BTreeMap<String, Read<Option<Role>>>,
    /// By (account, issuer host/path `container.googleapis.com/v1/projects/…`).
    pub providers: BTreeMap<(String, String), Read<ProviderLookup>>,
    /// The number of OIDC providers in the caller's account.
    pub provider_count: Option<Read<usize>>,
    /// The account of the credentials, when `sts:GetCallerIdentity` answered.
    pub caller: Option<String>,
    /// Accounts none of whose roles could be read, and why: credentials of another account,
    /// no credentials at all, or every read refused.
    pub unreadable_accounts: BTreeMap<String, String>,
}

impl Iam {
    /// Whether the roles of `account` were read.
    pub fn readable(&self, account: &str) -> bool {
        !self.unreadable_accounts.contains_key(account)
    }
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
        let reader = IamReader::for_caller(&first, client.clone(), Caller::Standard).await;
        Some(Reader { reader, first, client })
    }

    /// The caller's account, then `iam:GetRole` of each role of it (at most [`MAX_ROLES`]).
    pub async fn roles(&self, iam: &mut Iam, roles: &BTreeSet<String>) {
        if roles.len() > MAX_ROLES {
            tracing::warn!(
                roles = roles.len(),
                "more roles than one run reads; the first {MAX_ROLES} are read"
            );
        }
        let parsed: Vec<RoleArn> = roles
            .iter()
            .take(MAX_ROLES)
            .filter_map(|arn| RoleArn::parse(arn).ok())
            .collect();
        let accounts: BTreeSet<&str> = parsed.iter().map(|r| r.account_id.as_str()).collect();
        let caller = match self.reader.caller_account(&self.first).await {
            Ok(caller) => caller,
            Err(e) => {
                for account in accounts {
                    iam.unreadable_accounts.insert(account.to_owned(), said(&e));
                }
                return;
            }
        };
        for account in accounts.iter().filter(|a| **a != caller) {
            iam.unreadable_accounts.insert(
                (*account).to_owned(),
                format!(
                    "the AWS credentials are of account {caller}, and IAM answers GetRole for the caller's own account only"
                ),
            );
        }
        let mut denied = Vec::new();
        for role in parsed.iter().filter(|r| r.account_id == caller) {
            let answer = self.reader.role(role).await;
            if let Err(e) = &answer
                && e.code == "IamAccessDenied"
            {
                denied.push(said(e));
            }
            iam.roles.insert(role.to_string(), answer.map_err(|e| said(&e)));
        }
        let read_here = parsed.iter().filter(|r| r.account_id == caller).count();
        // Every read refused: the credentials may not read this account at all; one finding.
        if read_here > 0 && denied.len() == read_here {
            iam.roles.retain(|arn, _| !arn.contains(&format!(":{caller}:")));
            iam.unreadable_accounts.insert(caller.clone(), denied.swap_remove(0));
        }
        iam.caller = Some(caller);
    }

    /// The OIDC provider of each (account, issuer) in a readable account, and the count of the
    /// caller's providers.
    pub async fn providers(&self, iam: &mut Iam, issuers: &BTreeSet<(String, String)>) {
        let Some(caller) = iam.caller.clone().filter(|c| iam.readable(c)) else {
            return;
        };
        for (account, issuer) in issuers.iter().filter(|(a, _)| *a == caller) {
            // The provider's ARN is built from a role's partition and account.
            let Ok(role) = RoleArn::parse(&format!("arn:{}:iam::{account}:role/any", self.first.partition)) else {
                continue;
            };
            let answer = self.reader.provider(&role, issuer).await.map_err(|e| said(&e));
            iam.providers.insert((account.clone(), issuer.clone()), answer);
        }
        iam.provider_count = Some(count_providers(&self.first, self.client.clone()).await);
    }
}

fn said(e: &StageError) -> String {
    format!("{}: {}: {}", e.code, e.message, e.hint)
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
