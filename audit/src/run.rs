//! One audit run: every cluster read and checked concurrently, IAM read once with `--aws`, the
//! findings grouped by cluster.

use futures_util::future::join_all;

use crate::checks;
use crate::cli::Settings;
use crate::cluster;
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::read::Reader;
use crate::report::{ClusterReport, Report};
use crate::snapshot;

pub async fn run(settings: &Settings) -> Report {
    let clusters = join_all(settings.targets.iter().map(|target| async move {
        let name = match (&settings.cluster_name, settings.targets.len()) {
            (Some(name), 1) => name.clone(),
            _ => cluster::name_of(target),
        };
        let findings = audit_cluster(settings, target, &name).await;
        ClusterReport {
            cluster: name,
            findings,
        }
    }))
    .await;
    Report::new(clusters, settings.fail_on)
}

async fn audit_cluster(settings: &Settings, target: &crate::cli::Target, name: &str) -> Vec<Finding> {
    let client = match cluster::client(target, settings.timeout).await {
        Ok(client) => client,
        Err(why) => {
            return vec![Finding::new(
                Code::ClusterUnreachable,
                Severity::Error,
                ObjectRef::cluster_scoped("Cluster", name),
                format!("no client for the cluster: {why}"),
                "check the kubeconfig entry: kubectl config view --minify --context CONTEXT".replace("CONTEXT", name),
            )];
        }
    };
    let reader = Reader {
        client,
        page_size: settings.page_size,
        timeout: settings.timeout,
    };
    match snapshot::read(&reader, name, &settings.scope).await {
        Ok(snapshot) => checks::kubernetes(&snapshot, &settings.scope, &settings.workloads),
        Err(unreachable) => vec![unreachable],
    }
}
