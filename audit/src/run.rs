//! One audit run: every cluster read concurrently, IAM read once for all of them with `--aws`,
//! then the pure checks; the findings grouped by cluster (IAM's own, about roles and the
//! account, and Terraform's workloads that no cluster holds, in a group `aws`).

use std::collections::BTreeSet;

use futures_util::future::join_all;

use crate::checks::{self, aws};
use crate::cli::{Settings, Target};
use crate::cluster;
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::iam::{self, Iam};
use crate::read::Reader;
use crate::report::{ClusterReport, Report};
use crate::snapshot::{self, Snapshot};

/// The group of findings about AWS itself.
pub const AWS_GROUP: &str = "aws";

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
    if let Some(client) = &settings.aws {
        let aws_findings = audit_aws(settings, client.clone(), &snapshots, &mut clusters).await;
        clusters.push(ClusterReport {
            cluster: AWS_GROUP.to_owned(),
            findings: aws_findings,
        });
    }
    Report::new(clusters, settings.fail_on)
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
    snapshot::read(&reader, name, &settings.scope).await
}

/// IAM once for the fleet; findings about a KSA go to its cluster, the rest are returned.
async fn audit_aws(
    settings: &Settings,
    client: aws_sdk_iam::config::SharedHttpClient,
    snapshots: &[(String, Result<Snapshot, Finding>)],
    clusters: &mut [ClusterReport],
) -> Vec<Finding> {
    let namespace = settings.scope.namespace.as_deref();
    let per_cluster: Vec<Vec<aws::Subject>> = snapshots
        .iter()
        .map(|(_, snapshot)| match snapshot {
            Ok(s) => aws::subjects(
                s.service_accounts.as_deref().unwrap_or_default(),
                &settings.workloads,
                namespace,
            ),
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
    let all = per_cluster.iter().flatten().chain(&terraform_only);
    let roles: BTreeSet<String> = all.clone().map(|s| s.role_arn.clone()).collect();
    let Some(reader) = iam::Reader::new(client, &roles).await else {
        return Vec::new();
    };
    let mut iam = Iam::default();
    reader.roles(&mut iam, &roles).await;
    let issuers: BTreeSet<String> = all.filter_map(|s| aws::issuer_of(s, &iam)).collect();
    reader.providers(&mut iam, &issuers).await;

    let mut own = aws::check_quotas(
        &iam,
        settings.trust_policy_quota,
        settings.oidc_provider_quota,
        reader.account(),
    );
    for (report, subjects) in clusters.iter_mut().zip(&per_cluster) {
        // Terraform's workloads without a KSA here are left out: AnnotationDrift says so.
        let in_cluster: Vec<_> = subjects.iter().filter(|s| s.in_cluster).cloned().collect();
        for finding in aws::check_subjects(&in_cluster, &iam) {
            // Account- and provider-level findings once, in the aws group.
            if finding.object.namespace.is_some() {
                report.findings.push(finding);
            } else {
                own.push(finding);
            }
        }
    }
    own.extend(aws::check_subjects(&terraform_only, &iam));
    own.sort_by(|a, b| a.object.cmp(&b.object).then(a.code.cmp(&b.code)));
    own.dedup();
    own
}
