//! With `--aws`, the IAM side, pure: for every identity a KSA or Terraform names, does its role
//! exist (`RoleMissing`), does a cluster-mode issuer have its OIDC provider in the role's
//! account (`OidcProviderMissing`), and does the role's trust accept the token this KSA's pods
//! present (`TrustDrift`, the trust-policy evaluator's explanation; `GsaRecreated` when it
//! pins a unique id the GSA no longer has, with `--gcp`)? Per role and account:
//! `TrustPolicyNearLimit`, `OidcProviderQuota`, `RoleUnused`; an account whose roles could not
//! be read is one `CannotRead`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use gke_aws_verifier::input::RoleArn;
use gke_aws_webhook::mutate::{AUDIENCE, DEFAULT_AUDIENCE, GSA, IDENTITY, ROLE_ARN};
use serde_json::{Value, json};
use trust_policy::{Explanation, Outcome, Provider, ProviderLookup, Verdict};

use super::fix::{self, sh};
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::google::Gsa;
use crate::iam::Iam;
use crate::objects::{Mode, NAMED_ROLE_PREFIX, ServiceAccount};
use crate::terraform::Workload;

/// IAM's quota codes (Service Quotas, service `iam`).
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>
pub const TRUST_POLICY_QUOTA_CODE: &str = "L-C07B4B0D";
pub const OIDC_PROVIDER_QUOTA_CODE: &str = "L-858F3967";
/// A finding from this share of a quota on.
const NEAR: f64 = 0.9;

/// One identity a role must trust: a KSA (and, from Terraform, its GSA or its cluster's issuer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    pub namespace: String,
    pub ksa: String,
    pub role_arn: String,
    /// Where the role is named: the KSA annotation, or Terraform.
    pub named_by: String,
    pub mode: ModeKey,
    pub audience: String,
    /// GSA mode: the GSA's e-mail (the KSA's annotation, else Terraform's) and its unique id
    /// as Terraform's output has it.
    pub gsa_email: Option<String>,
    pub gsa_unique_id: Option<String>,
    /// The cluster issuer's host/path (without `https://`): the one the cluster serves, else
    /// Terraform's.
    pub issuer: Option<String>,
    /// Found in the cluster (else only in Terraform).
    pub in_cluster: bool,
}

/// [`Mode`], ordered, for the subject's sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModeKey {
    Gke,
    Cluster,
}

impl From<Mode> for ModeKey {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Gsa => ModeKey::Gke,
            Mode::Cluster => ModeKey::Cluster,
        }
    }
}

/// The identities of one cluster's KSAs and of Terraform's workloads in `namespace` scope.
pub fn subjects(ksas: &[ServiceAccount], workloads: &[Workload], namespace: Option<&str>) -> Vec<Subject> {
    let mut subjects = BTreeSet::new();
    let in_scope = |ns: &str| namespace.is_none_or(|n| n == ns);
    let terraform = |ns: &str, ksa: &str| workloads.iter().find(|w| w.namespace == ns && w.ksa == ksa);
    for w in workloads.iter().filter(|w| in_scope(&w.namespace)) {
        let found = ksas
            .iter()
            .any(|k| k.metadata.namespace == w.namespace && k.metadata.name == w.ksa);
        let roles = std::iter::once(("role_arn".to_owned(), &w.role_arn)).chain(
            w.roles
                .iter()
                .map(|(name, r)| (format!("roles.{name}.role_arn"), &r.role_arn)),
        );
        for (field, arn) in roles {
            subjects.insert(Subject {
                namespace: w.namespace.clone(),
                ksa: w.ksa.clone(),
                role_arn: arn.to_string(),
                named_by: format!("Terraform's workloads.{}.{field}", w.name),
                mode: w.mode.into(),
                audience: w.audience.clone(),
                gsa_email: w.gsa_email.clone(),
                gsa_unique_id: w.gsa_unique_id.clone(),
                issuer: w.issuer_url.as_deref().map(host_path),
                in_cluster: found,
            });
        }
    }
    // (namespace, KSA, role) already a subject: a set, not a scan of every subject per KSA
    // (100,000 annotated KSAs were 5 × 10⁹ comparisons).
    let mut named_already: BTreeSet<(String, String, String)> = subjects
        .iter()
        .map(|s: &Subject| (s.namespace.clone(), s.ksa.clone(), s.role_arn.clone()))
        .collect();
    for ksa in ksas.iter().filter(|k| in_scope(&k.metadata.namespace)) {
        let (ns, name) = (ksa.metadata.namespace.as_str(), ksa.metadata.name.as_str());
        let Some(mode) = Mode::from_annotation(ksa.annotation(IDENTITY)) else {
            continue;
        };
        let tf = terraform(ns, name);
        let mut named: Vec<(String, &str)> = ksa
            .annotation(ROLE_ARN)
            .map(|a| (ROLE_ARN.to_owned(), a))
            .into_iter()
            .collect();
        named.extend(
            ksa.named_roles()
                .into_iter()
                .map(|(n, a)| (format!("{NAMED_ROLE_PREFIX}{n}"), a)),
        );
        for (key, arn) in named {
            if RoleArn::parse(arn).is_err() || !named_already.insert((ns.to_owned(), name.to_owned(), arn.to_owned())) {
                continue;
            }
            subjects.insert(Subject {
                namespace: ns.to_owned(),
                ksa: name.to_owned(),
                role_arn: arn.to_owned(),
                named_by: format!("the KSA's annotation {key}"),
                mode: mode.into(),
                audience: ksa.annotation(AUDIENCE).unwrap_or(DEFAULT_AUDIENCE).to_owned(),
                gsa_email: (mode == Mode::Gsa)
                    .then(|| {
                        ksa.annotation(GSA)
                            .map(str::to_owned)
                            .or_else(|| tf.and_then(|w| w.gsa_email.clone()))
                    })
                    .flatten(),
                gsa_unique_id: tf.and_then(|w| w.gsa_unique_id.clone()),
                issuer: tf.and_then(|w| w.issuer_url.as_deref()).map(host_path),
                in_cluster: true,
            });
        }
    }
    subjects.into_iter().collect()
}

/// The issuer host/path of a URL (`https://HOST/PATH` → `HOST/PATH`).
pub fn host_path(url: &str) -> String {
    url.trim_start_matches("https://").trim_end_matches('/').to_owned()
}

/// The cluster issuer a cluster-mode subject's token comes from: Terraform's, else the OIDC
/// provider its role's trust names.
pub fn issuer_of(subject: &Subject, iam: &Iam) -> Option<String> {
    if subject.mode != ModeKey::Cluster {
        return None;
    }
    subject.issuer.clone().or_else(|| {
        let policy = &iam.roles.get(&subject.role_arn)?.as_ref().ok()?.as_ref()?.trust_policy;
        federated(policy)
            .into_iter()
            .find_map(|p| p.split_once(":oidc-provider/").map(|(_, hp)| hp.to_owned()))
    })
}

fn federated(policy: &Value) -> Vec<String> {
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        other => vec![other.clone()],
    };
    statements
        .iter()
        .flat_map(|s| match &s["Principal"]["Federated"] {
            Value::String(p) => vec![p.clone()],
            Value::Array(list) => list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The account of a role ARN (empty when it does not parse).
pub fn account_of(role_arn: &str) -> String {
    RoleArn::parse(role_arn).map(|r| r.account_id).unwrap_or_default()
}

/// Findings about the subjects (RoleMissing, OidcProviderMissing, TrustDrift, GsaRecreated,
/// CannotRead). `live` is Google's answer for each GSA with `--gcp`: then a GSA-mode trust is
/// evaluated against the unique id the GSA has now, not Terraform's.
pub fn check_subjects(subjects: &[Subject], iam: &Iam, live: Option<&BTreeMap<String, Gsa>>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for s in subjects {
        let object = ObjectRef::namespaced("ServiceAccount", &s.namespace, &s.ksa);
        let role = match iam.roles.get(&s.role_arn) {
            None => continue,
            Some(Err(why)) => {
                findings.push(cannot_read("IAMRole", &s.role_arn, why));
                continue;
            }
            Some(Ok(None)) => {
                let fix = if s.named_by.starts_with("Terraform") {
                    "make apply (Terraform creates the role)".to_owned()
                } else {
                    let key = s.named_by.trim_start_matches("the KSA's annotation ").to_owned();
                    format!(
                        "give the KSA an existing role (the role_arn Terraform outputs): {}, or create the role with make apply",
                        fix::annotate(&s.namespace, &s.ksa, &[(key, Some("ARN".to_owned()))])
                    )
                };
                findings.push(Finding::new(
                    Code::RoleMissing,
                    Severity::Error,
                    object,
                    format!(
                        "the role {} named by {} does not exist in its account",
                        s.role_arn, s.named_by
                    ),
                    fix,
                ));
                continue;
            }
            Some(Ok(Some(role))) => role,
        };
        let (claims, provider) = match s.mode {
            ModeKey::Gke => {
                // The GSA's unique id as Google has it now (--gcp), else as Terraform says; with
                // neither, what the trust pins cannot be checked. A GSA Google does not serve
                // (missing, disabled, unreadable) has its own finding.
                let uid = match (live, &s.gsa_email) {
                    (Some(live), Some(email)) => match live.get(email) {
                        Some(Gsa::Found { unique_id, .. }) => unique_id.clone(),
                        _ => continue,
                    },
                    _ => match &s.gsa_unique_id {
                        Some(uid) => uid.clone(),
                        None => continue,
                    },
                };
                let mut claims =
                    json!({ "iss": "https://accounts.google.com", "sub": uid, "azp": uid, "aud": s.audience });
                if let Some(email) = &s.gsa_email {
                    claims["email"] = json!(email);
                }
                (claims, ProviderLookup::Registered(Provider::google()))
            }
            ModeKey::Cluster => {
                let Some(issuer) = issuer_of(s, iam) else { continue };
                let provider = match iam.providers.get(&(account_of(&s.role_arn), issuer.clone())) {
                    None => continue,
                    Some(Err(why)) => {
                        findings.push(cannot_read("OIDCProvider", &issuer, why));
                        continue;
                    }
                    Some(Ok(ProviderLookup::Missing)) => {
                        findings.push(Finding::new(
                            Code::OidcProviderMissing,
                            Severity::Error,
                            ObjectRef::cluster_scoped("OIDCProvider", &issuer),
                            format!(
                                "the cluster issuer https://{issuer} (cluster mode, KSA {}/{}) has no IAM OIDC provider: STS refuses every token it signs",
                                s.namespace, s.ksa
                            ),
                            format!(
                                "make apply (the aws-gke-oidc-provider module), or: aws iam create-open-id-connect-provider --url {} --client-id-list {}",
                                sh(&format!("https://{issuer}")),
                                sh(&s.audience)
                            ),
                        ));
                        continue;
                    }
                    Some(Ok(found)) => found.clone(),
                };
                let claims = json!({ "iss": format!("https://{issuer}"), "sub": format!("system:serviceaccount:{}:{}", s.namespace, s.ksa), "aud": s.audience });
                (claims, provider)
            }
        };
        let explanation = trust_policy::explain(&claims, &provider, Some(&role.trust_policy));
        if explanation.verdict == Verdict::Refuse
            && live.is_some()
            && let Some(recreated) = recreated(s, &explanation, &claims)
        {
            findings.push(recreated);
            continue;
        }
        let (severity, verdict) = match explanation.verdict {
            Verdict::Accept => continue,
            Verdict::Refuse => (Severity::Error, "refuses"),
            Verdict::NotEvaluated => (Severity::Info, "may refuse (a part of it is not evaluated)"),
        };
        let who = match s.mode {
            ModeKey::Gke => format!("the GSA with unique id {}", s.gsa_unique_id.as_deref().unwrap_or("?")),
            ModeKey::Cluster => format!("system:serviceaccount:{}:{}", s.namespace, s.ksa),
        };
        let fixes = gke_aws_verifier::explain::trust_fix::fixes(&explanation, &claims, Some(&s.role_arn));
        let fix = if fixes.is_empty() {
            "make apply (the role's trust is Terraform's: re-applying restores it)".to_owned()
        } else {
            fixes.join(" ")
        };
        findings.push(Finding::new(
            Code::TrustDrift,
            severity,
            object,
            format!("the trust of {} {verdict} {who}: {}", s.role_arn, why(&explanation)),
            fix,
        ));
    }
    findings
}

/// `GsaRecreated` when the trust refuses the GSA's live unique id because a condition on
/// `accounts.google.com:aud` or `:sub` pins another one: the GSA was deleted and recreated
/// under the same e-mail (Google gives a recreated GSA a new unique id).
/// <https://cloud.google.com/iam/docs/service-accounts-delete-undelete#deleting>
fn recreated(s: &Subject, explanation: &Explanation, claims: &Value) -> Option<Finding> {
    let live = claims["azp"].as_str()?;
    let pinned: BTreeSet<&str> = explanation
        .statements
        .iter()
        .flat_map(|st| &st.conditions)
        .filter(|c| c.result == Outcome::Fails && matches!(c.claim.as_deref(), Some("azp" | "sub")))
        .flat_map(|c| c.expected.iter())
        .map(String::as_str)
        .filter(|id| id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()) && *id != live)
        .collect();
    if pinned.is_empty() {
        return None;
    }
    let pinned: Vec<&str> = pinned.into_iter().collect();
    let email = s.gsa_email.as_deref().unwrap_or("the GSA");
    Some(Finding::new(
        Code::GsaRecreated,
        Severity::Error,
        ObjectRef::namespaced("ServiceAccount", &s.namespace, &s.ksa),
        format!(
            "the GSA {email} has unique id {live} now (Google), but the trust of {} pins {}: the GSA was deleted and recreated under the same e-mail, and STS refuses every token of it",
            s.role_arn,
            pinned.join(", ")
        ),
        format!(
            "re-apply the workload so the role takes the new id: make apply (Terraform reads the GSA's unique id {live} and rewrites the role's trust); to check first: gke-aws-verifier explain --role-arn {}",
            sh(&s.role_arn)
        ),
    ))
}

/// The refusal in one line: the first failing condition of a statement that trusts the issuer.
fn why(explanation: &Explanation) -> String {
    let trusted = explanation
        .statements
        .iter()
        .filter(|s| s.principal.result == Outcome::Holds && s.action.result == Outcome::Holds);
    let mut reasons = Vec::new();
    for s in trusted {
        if s.effect == "Deny" && s.applies == Outcome::Holds {
            reasons.push(format!("statement {} denies it", s.index));
        }
        for c in s.conditions.iter().filter(|c| c.result != Outcome::Holds) {
            let actual = c.actual.as_ref().map_or_else(|| "nothing".to_owned(), |a| a.join(", "));
            reasons.push(format!(
                "statement {}: {} {} expects {}, the token gives {actual}",
                s.index,
                c.operator,
                c.key,
                c.expected.join(", ")
            ));
        }
    }
    if reasons.is_empty() {
        let trusts: Vec<String> = explanation
            .statements
            .iter()
            .flat_map(|s| s.principal.expected.clone())
            .collect();
        return format!(
            "no statement trusts {} (it trusts {})",
            explanation.issuer,
            trusts.join(", ")
        );
    }
    reasons.join("; ")
}

/// Per role: its trust policy's length against IAM's quota (IAM counts no whitespace; the
/// compact JSON counted here has none outside strings).
pub fn check_quotas(iam: &Iam, trust_policy_quota: usize, oidc_provider_quota: usize, account: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (arn, read) in &iam.roles {
        let Ok(Some(role)) = read else { continue };
        let length = serde_json::to_string(&role.trust_policy).map_or(0, |t| t.chars().count());
        if length as f64 >= NEAR * trust_policy_quota as f64 {
            let desired = (trust_policy_quota * 2).min(8192);
            findings.push(Finding::new(
                Code::TrustPolicyNearLimit,
                Severity::Warning,
                ObjectRef::cluster_scoped("IAMRole", arn),
                format!(
                    "its trust policy is {length} of the {trust_policy_quota} characters IAM allows (\"Role trust policy length\"): a few more KSAs and apply fails"
                ),
                format!(
                    "aws service-quotas request-service-quota-increase --service-code iam --quota-code {TRUST_POLICY_QUOTA_CODE} --desired-value {desired} (at most 8192), or split the KSAs over several roles"
                ),
            ));
        }
    }
    match &iam.provider_count {
        Some(Ok(count)) if *count as f64 >= NEAR * oidc_provider_quota as f64 => {
            let severity = if *count >= oidc_provider_quota {
                Severity::Error
            } else {
                Severity::Warning
            };
            findings.push(Finding::new(
                Code::OidcProviderQuota,
                severity,
                ObjectRef::cluster_scoped("AWSAccount", account),
                format!(
                    "the account has {count} IAM OIDC providers of the {oidc_provider_quota} IAM allows (\"OpenId connect providers per account\"): a cluster in cluster mode needs one each"
                ),
                format!(
                    "delete the providers of clusters that are gone (aws iam list-open-id-connect-providers; aws iam delete-open-id-connect-provider --open-id-connect-provider-arn ARN), or: aws service-quotas request-service-quota-increase --service-code iam --quota-code {OIDC_PROVIDER_QUOTA_CODE} --desired-value {}",
                    (oidc_provider_quota * 2).min(700)
                ),
            ));
        }
        Some(Err(why)) => findings.push(cannot_read("AWSAccount", account, why)),
        _ => {}
    }
    findings
}

/// What the reads call, as the read-only policy to grant lists them.
const READ_ONLY: &str =
    "sts:GetCallerIdentity, iam:GetRole, iam:ListOpenIDConnectProviders and iam:GetOpenIDConnectProvider";

fn cannot_read(kind: &str, name: &str, why: &str) -> Finding {
    Finding::new(
        Code::CannotRead,
        Severity::Warning,
        ObjectRef::cluster_scoped(kind, name),
        format!("IAM could not be read: {why}"),
        format!("use credentials allowed {READ_ONLY} (AWS_PROFILE=…)"),
    )
}

/// One `CannotRead` per account whose roles could not be read, naming the roles skipped and
/// the read-only policy to grant there.
pub fn check_accounts(iam: &Iam, roles: &BTreeSet<String>) -> Vec<Finding> {
    iam.unreadable_accounts
        .iter()
        .map(|(account, why)| {
            let skipped: Vec<&str> = roles
                .iter()
                .filter(|arn| account_of(arn) == *account)
                .map(String::as_str)
                .collect();
            let shown: Vec<&str> = skipped.iter().take(5).copied().collect();
            let more = skipped.len().saturating_sub(shown.len());
            Finding::new(
                Code::CannotRead,
                Severity::Warning,
                ObjectRef::cluster_scoped("AWSAccount", account),
                format!(
                    "the roles of account {account} were not read ({}{}): {why}; nothing is said about them",
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ),
                format!(
                    "in account {account}, allow {READ_ONLY} (the read-only policy of terraform/modules/aws-iam-reader), then audit with credentials of that account: AWS_PROFILE=PROFILE_OF_{account} gke-aws-verifier audit --aws"
                ),
            )
        })
        .collect()
}

/// `RoleUnused` (info): a role a workload names whose `RoleLastUsed` is empty (never used
/// in IAM's tracking period of 400 days) or older than `unused_days` at `now`.
/// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_RoleLastUsed.html>
pub fn check_unused(iam: &Iam, now: SystemTime, unused_days: u32) -> Vec<Finding> {
    let window = Duration::from_secs(u64::from(unused_days) * 86_400);
    let mut findings = Vec::new();
    for (arn, read) in &iam.roles {
        let Ok(Some(role)) = read else { continue };
        let message = match role.last_used {
            None => {
                "IAM has no record of it being used (RoleLastUsed is empty: never used in the last 400 days)".to_owned()
            }
            Some(at) => match now.duration_since(at) {
                Ok(ago) if ago > window => format!(
                    "last used {} days ago, not within --unused-days {unused_days}",
                    ago.as_secs() / 86_400
                ),
                _ => continue,
            },
        };
        findings.push(Finding::new(
            Code::RoleUnused,
            Severity::Info,
            ObjectRef::cluster_scoped("IAMRole", arn),
            format!("a workload names it, but {message}: a role nobody uses is access nobody needs"),
            format!(
                "if no workload needs it any more, remove it from Terraform's workloads (make apply); else check that its workload runs: aws iam get-role --role-name {} --query Role.RoleLastUsed",
                sh(arn.rsplit('/').next().unwrap_or(arn))
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use gke_aws_verifier::aws::iam::Role;

    use super::*;

    #[test]
    fn fixes_quote_what_a_cluster_or_terraform_said() {
        let subject = |role: &str, named_by: &str, issuer: &str| Subject {
            namespace: "payments".into(),
            ksa: "ledger".into(),
            role_arn: format!("arn:aws:iam::123456789012:role/{role}"),
            named_by: named_by.into(),
            mode: ModeKey::Cluster,
            audience: "sts.amazonaws.com".into(),
            gsa_email: None,
            gsa_unique_id: None,
            issuer: Some(issuer.into()),
            in_cluster: true,
        };
        // A named role's key as an API server sent it, an issuer as a Terraform output said it.
        let issuer = "container.googleapis.com/v1/projects/p/clusters/c;id";
        let subjects = [
            subject("gone", "the KSA's annotation gke-aws-verifier/role.x;id", issuer),
            subject("ledger-reader", "Terraform's workloads.w.role_arn", issuer),
        ];
        let mut iam = Iam::default();
        iam.roles.insert(subjects[0].role_arn.clone(), Ok(None));
        let role = Role {
            arn: subjects[1].role_arn.clone(),
            trust_policy: json!({}),
            last_used: None,
        };
        iam.roles.insert(subjects[1].role_arn.clone(), Ok(Some(role)));
        iam.providers
            .insert(("123456789012".into(), issuer.into()), Ok(ProviderLookup::Missing));
        let findings = check_subjects(&subjects, &iam, None);
        let fix_of = |code: Code| &findings.iter().find(|f| f.code == code).expect("the finding").fix;
        assert!(
            fix_of(Code::RoleMissing).contains(
                "kubectl annotate serviceaccount ledger --namespace payments --overwrite 'gke-aws-verifier/role.x;id=ARN',"
            ),
            "{}",
            fix_of(Code::RoleMissing)
        );
        assert!(
            fix_of(Code::OidcProviderMissing).ends_with(
                "--url 'https://container.googleapis.com/v1/projects/p/clusters/c;id' --client-id-list sts.amazonaws.com"
            ),
            "{}",
            fix_of(Code::OidcProviderMissing)
        );
    }

    fn role(last_used: Option<SystemTime>) -> Role {
        Role {
            arn: "arn:aws:iam::123456789012:role/r".into(),
            trust_policy: json!({}),
            last_used,
        }
    }

    #[test]
    fn a_role_never_used_or_not_within_the_days_is_unused() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 * 86_400);
        let day = |d: u64| Some(now - Duration::from_secs(d * 86_400));
        let unused = |last_used, days| {
            let mut iam = Iam::default();
            iam.roles
                .insert("arn:aws:iam::123456789012:role/r".into(), Ok(Some(role(last_used))));
            check_unused(&iam, now, days)
        };
        let never = unused(None, 90);
        assert_eq!(never.len(), 1);
        assert_eq!((never[0].code, never[0].severity), (Code::RoleUnused, Severity::Info));
        assert!(
            never[0].message.contains("RoleLastUsed is empty"),
            "{}",
            never[0].message
        );
        assert!(unused(day(89), 90).is_empty());
        assert!(unused(day(90), 90).is_empty());
        let old = unused(day(91), 90);
        assert!(
            old[0]
                .message
                .contains("last used 91 days ago, not within --unused-days 90"),
            "{}",
            old[0].message
        );
        assert!(unused(day(91), 120).is_empty());
    }

    #[test]
    fn a_gsa_recreated_is_named_with_both_ids_only_when_the_trust_pins_another() {
        let trust = |uid: &str| {
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"accounts.google.com:aud": uid, "accounts.google.com:oaud": "sts.amazonaws.com"}}}]})
        };
        let subject = Subject {
            namespace: "payments".into(),
            ksa: "reports".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            named_by: "Terraform's workloads.w.role_arn".into(),
            mode: ModeKey::Gke,
            audience: "sts.amazonaws.com".into(),
            gsa_email: Some("reports@p.iam.gserviceaccount.com".into()),
            gsa_unique_id: Some("111111111111111111111".into()),
            issuer: None,
            in_cluster: true,
        };
        let with_trust = |policy: Value| {
            let mut iam = Iam::default();
            iam.roles.insert(
                subject.role_arn.clone(),
                Ok(Some(Role {
                    trust_policy: policy,
                    ..role(None)
                })),
            );
            iam
        };
        let mut live = BTreeMap::new();
        live.insert(
            "reports@p.iam.gserviceaccount.com".to_owned(),
            Gsa::Found {
                unique_id: "222222222222222222222".into(),
                disabled: false,
            },
        );
        // Terraform's id (the old one) agrees with the trust: only Google's shows the recreate.
        let iam = with_trust(trust("111111111111111111111"));
        assert!(check_subjects(std::slice::from_ref(&subject), &iam, None).is_empty());
        let found = check_subjects(std::slice::from_ref(&subject), &iam, Some(&live));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, Code::GsaRecreated);
        assert!(
            found[0].message.contains("unique id 222222222222222222222 now")
                && found[0].message.contains("pins 111111111111111111111"),
            "{}",
            found[0].message
        );
        assert!(found[0].fix.starts_with("re-apply the workload"), "{}", found[0].fix);
        // A trust that refuses for another reason is drift, not a recreated GSA.
        let mut other = trust("222222222222222222222");
        other["Statement"][0]["Condition"]["StringEquals"]["accounts.google.com:oaud"] = json!("other");
        let drift = check_subjects(std::slice::from_ref(&subject), &with_trust(other), Some(&live));
        assert_eq!(drift[0].code, Code::TrustDrift);
        // The live id accepted: nothing.
        assert!(
            check_subjects(
                std::slice::from_ref(&subject),
                &with_trust(trust("222222222222222222222")),
                Some(&live)
            )
            .is_empty()
        );
    }
}
