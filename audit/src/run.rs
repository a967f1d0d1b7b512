//! One audit run: every cluster read concurrently, Google (`--gcp`) and IAM (`--aws`) read
//! once for all of them, then the pure checks; the findings grouped by cluster (IAM's own,
//! about roles and accounts, and Terraform's workloads that no cluster holds, in a group
//! `aws`; Google's about projects and credentials in a group `gcp`).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;

use crate::checks::{self, aws};
use crate::cli::{Settings, Target};
use crate::cluster;
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::google::{self, Gsa};
use crate::iam::{self, Iam};
use crate::read::Reader;
use crate::report::{ClusterReport, Report};
use crate::snapshot::{self, Snapshot};

/// The groups of findings about AWS and Google themselves (defined beside the report, which
/// counts them apart from clusters).
pub use crate::report::{AWS_GROUP, GCP_GROUP};

/// The report's line when GSA unique ids were Terraform's.
pub const IDS_FROM_TERRAFORM: &str = "GSA unique ids were taken from Terraform's output, not from Google: a GSA recreated under the same e-mail is not seen (add --gcp)";

pub async fn run(settings: &Settings) -> Report {
    let snapshots = join_all(settings.targets.iter().map(|target| async move {
        let name = match (&settings.cluster_name, settings.targets.len()) {
            (Some(name), 1) => name.clone(),
            _ => cluster::name_of(target),
        };
        let snapshot = read_cluster(settings, target, &name).await;
        (name, snapshot)
    }))
    .await;
    let mut clusters: Vec<ClusterReport> = snapshots
        .iter()
        .map(|(name, snapshot)| ClusterReport {
            cluster: name.clone(),
            findings: match snapshot {
                Ok(snapshot) => checks::kubernetes(snapshot, &settings.scope, &settings.workloads),
                Err(unreachable) => vec![unreachable.clone()],
            },
        })
        .collect();
    // Only IAM (--aws) and Google (--gcp) are asked about the identities: without them the
    // KSAs were read as the pods and Terraform name them, and no subject is needed.
    let subjects = if settings.aws.is_some() || settings.gcp.is_some() {
        Subjects::of(settings, &snapshots)
    } else {
        Subjects::default()
    };
    let live = match &settings.gcp {
        Some(gcp) => {
            let emails: BTreeSet<String> = subjects.all().filter_map(|s| s.gsa_email.clone()).collect();
            Some(google::read(gcp, &emails, settings.timeout).await)
        }
        None => None,
    };
    let mut notes = Vec::new();
    if let Some(client) = &settings.aws {
        let aws_findings = audit_aws(settings, client.clone(), &subjects, live.as_ref(), &mut clusters).await;
        clusters.push(ClusterReport {
            cluster: AWS_GROUP.to_owned(),
            findings: aws_findings,
        });
        if live.is_none() {
            notes.push(IDS_FROM_TERRAFORM.to_owned());
        }
    }
    if let Some(live) = &live {
        let own = route(&mut clusters, &subjects, |subjects| {
            checks::gcp::check(subjects, live, settings.aws.is_some())
        });
        clusters.push(ClusterReport {
            cluster: GCP_GROUP.to_owned(),
            findings: own,
        });
    }
    Report::new(clusters, settings.fail_on).with_notes(notes)
}

/// The identities the clusters' KSAs and Terraform's workloads name, per cluster and those
/// only Terraform has.
#[derive(Default)]
struct Subjects {
    per_cluster: Vec<Vec<aws::Subject>>,
    terraform_only: Vec<aws::Subject>,
}

impl Subjects {
    fn of(settings: &Settings, snapshots: &[(String, Result<Snapshot, Finding>)]) -> Subjects {
        let namespace = settings.scope.namespace.as_deref();
        let per_cluster: Vec<Vec<aws::Subject>> = snapshots
            .iter()
            .map(|(_, snapshot)| match snapshot {
                Ok(s) => {
                    let mut subjects = aws::subjects(
                        s.service_accounts.as_deref().unwrap_or_default(),
                        &settings.workloads,
                        namespace,
                    );
                    // Cluster mode: the issuer this cluster serves, not the one the role's trust
                    // or Terraform names, is what the KSA's tokens carry.
                    if let Some(served) = &s.issuer {
                        for subject in subjects
                            .iter_mut()
                            .filter(|x| x.mode == aws::ModeKey::Cluster && x.in_cluster)
                        {
                            subject.issuer = Some(aws::host_path(served));
                        }
                    }
                    subjects
                }
                Err(_) => Vec::new(),
            })
            .collect();
        // Terraform's workloads are read even when no cluster answered.
        let terraform_only: Vec<aws::Subject> = aws::subjects(&[], &settings.workloads, namespace)
            .into_iter()
            .filter(|t| {
                !per_cluster
                    .iter()
                    .flatten()
                    .any(|s| s.in_cluster && s.namespace == t.namespace && s.ksa == t.ksa)
            })
            .collect();
        Subjects {
            per_cluster,
            terraform_only,
        }
    }

    fn all(&self) -> impl Iterator<Item = &aws::Subject> + Clone {
        self.per_cluster.iter().flatten().chain(&self.terraform_only)
    }
}

/// Runs `check` on each cluster's KSAs (Terraform's workloads without a KSA there are left out:
/// AnnotationDrift says so) and on the workloads only Terraform has; findings about a KSA go
/// to its cluster, the rest are returned once, sorted.
fn route(
    clusters: &mut [ClusterReport],
    subjects: &Subjects,
    check: impl Fn(&[aws::Subject]) -> Vec<Finding>,
) -> Vec<Finding> {
    let mut own = Vec::new();
    for (report, subjects) in clusters.iter_mut().zip(&subjects.per_cluster) {
        let in_cluster: Vec<_> = subjects.iter().filter(|s| s.in_cluster).cloned().collect();
        for finding in check(&in_cluster) {
            if finding.object.namespace.is_some() {
                report.findings.push(finding);
            } else {
                own.push(finding);
            }
        }
    }
    own.extend(check(&subjects.terraform_only));
    own.sort_by(|a, b| a.object.cmp(&b.object).then(a.code.cmp(&b.code)));
    own.dedup();
    own
}

async fn read_cluster(settings: &Settings, target: &Target, name: &str) -> Result<Snapshot, Finding> {
    let client = cluster::client(target, settings.timeout).await.map_err(|why| {
        Finding::new(
            Code::ClusterUnreachable,
            Severity::Error,
            ObjectRef::cluster_scoped("Cluster", name),
            format!("no client for the cluster: {why}"),
            format!(
                "check the kubeconfig entry: kubectl config view --minify --context {}",
                checks::fix::sh(name)
            ),
        )
    })?;
    let reader = Reader {
        client,
        page_size: settings.page_size,
        timeout: settings.timeout,
    };
    snapshot::read(&reader, name, &settings.scope, &wanted(settings)).await
}

/// What the checks judge of a cluster beyond its opted-in pods, from the flags and Terraform.
fn wanted(settings: &Settings) -> snapshot::Wanted {
    snapshot::Wanted {
        terraform_ksas: settings
            .workloads
            .iter()
            .map(|w| (w.namespace.clone(), w.ksa.clone()))
            .collect(),
        every_identity: settings.aws.is_some() || settings.gcp.is_some(),
    }
}

/// IAM once for the fleet; findings about a KSA go to its cluster, the rest are returned.
async fn audit_aws(
    settings: &Settings,
    client: aws_sdk_iam::config::SharedHttpClient,
    subjects: &Subjects,
    live: Option<&BTreeMap<String, Gsa>>,
    clusters: &mut [ClusterReport],
) -> Vec<Finding> {
    let roles: BTreeSet<String> = subjects.all().map(|s| s.role_arn.clone()).collect();
    let Some(reader) = iam::Reader::new(client, &roles).await else {
        return Vec::new();
    };
    let mut iam = Iam::default();
    reader.roles(&mut iam, &roles).await;
    // OIDC providers in each role's own account, keyed by account and issuer.
    let issuers: BTreeSet<(String, String)> = subjects
        .all()
        .filter_map(|s| aws::issuer_of(s, &iam).map(|issuer| (aws::account_of(&s.role_arn), issuer)))
        .collect();
    reader.providers(&mut iam, &issuers).await;

    let mut own = aws::check_accounts(&iam, &roles);
    if let Some(caller) = &iam.caller {
        own.extend(aws::check_quotas(
            &iam,
            settings.trust_policy_quota,
            settings.oidc_provider_quota,
            caller,
        ));
    }
    own.extend(aws::check_unused(
        &iam,
        std::time::SystemTime::now(),
        settings.unused_days,
    ));
    own.extend(route(clusters, subjects, |subjects| {
        aws::check_subjects(subjects, &iam, live)
    }));
    own.sort_by(|a, b| a.object.cmp(&b.object).then(a.code.cmp(&b.code)));
    own.dedup();
    own
}
