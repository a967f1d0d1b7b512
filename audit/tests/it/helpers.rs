//! A cluster on the stand-in, the binary run against it, and its JSON report read back.

use std::path::{Path, PathBuf};

use serde_json::Value;
use testkit::kube_cluster::KubeCluster;
use testkit::kube_cluster::objects::{self, Injected};

pub const GSA_ROLE: &str = "arn:aws:iam::123456789012:role/reports-reader";
pub const CLUSTER_ROLE: &str = "arn:aws:iam::123456789012:role/ledger-reader";
pub const GSA_EMAIL: &str = "reports-reader@example-project.iam.gserviceaccount.com";

/// The identity modes every finding is tested in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Gsa,
    Cluster,
}

pub const MODES: [Mode; 2] = [Mode::Gsa, Mode::Cluster];

impl Mode {
    /// The KSA `payments/reports-reader` (GSA) or `payments/ledger` (cluster), as Terraform's
    /// fixture (tests/k8s/fixtures/workloads.json) and `make k8s-config` annotate it.
    pub fn ksa(self) -> &'static str {
        match self {
            Mode::Gsa => "reports-reader",
            Mode::Cluster => "ledger",
        }
    }

    pub fn role(self) -> &'static str {
        match self {
            Mode::Gsa => GSA_ROLE,
            Mode::Cluster => CLUSTER_ROLE,
        }
    }

    pub fn annotations(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Mode::Gsa => vec![
                ("amazonaws.com/role-arn", GSA_ROLE),
                ("iam.gke.io/gcp-service-account", GSA_EMAIL),
            ],
            Mode::Cluster => vec![
                ("amazonaws.com/role-arn", CLUSTER_ROLE),
                ("gke-aws-verifier/identity", "cluster"),
            ],
        }
    }

    /// What the webhook writes into a pod of this KSA.
    pub fn injected(self) -> Injected<'static> {
        self.injected_with(self.role())
    }

    /// What the webhook writes in this mode, with this role.
    pub fn injected_with(self, role_arn: &str) -> Injected<'_> {
        match self {
            Mode::Gsa => Injected::Gke { role_arn, region: None },
            Mode::Cluster => Injected::Cluster { role_arn, region: None },
        }
    }
}

/// A role an application sets for itself (`AWS_ROLE_ARN` in its own manifest).
pub const OWN_ROLE: &str = "arn:aws:iam::123456789012:role/its-own";

/// `pod` (from [`objects::pod`]) whose container sets `AWS_ROLE_ARN` itself.
pub fn with_own_role(mut pod: Value, role_arn: &str) -> Value {
    pod["spec"]["containers"][0]["env"]
        .as_array_mut()
        .expect("the container's env")
        .push(serde_json::json!({ "name": "AWS_ROLE_ARN", "value": role_arn }));
    pod
}

/// A healthy cluster: the webhook configured (CA, Fail) with a ready endpoint, the mode's KSA
/// annotated as Terraform says, and a Deployment whose injected pod runs.
pub async fn clean_cluster(mode: Mode) -> KubeCluster {
    let cluster = KubeCluster::start().await;
    healthy_webhook(&cluster);
    cluster.add(objects::service_account("payments", mode.ksa(), &mode.annotations()));
    // The Terraform fixture's other workloads, so that --terraform-output finds every KSA.
    for other in MODES.iter().filter(|m| **m != mode) {
        cluster.add(objects::service_account("payments", other.ksa(), &other.annotations()));
    }
    cluster.add(objects::service_account(
        "gke-aws-verifier",
        "gke-aws-verifier",
        &[
            (
                "amazonaws.com/role-arn",
                "arn:aws:iam::123456789012:role/gke-aws-verifier-example",
            ),
            (
                "iam.gke.io/gcp-service-account",
                "s3-verifier@example-project.iam.gserviceaccount.com",
            ),
        ],
    ));
    cluster.add(objects::workload("Deployment", "payments", "api", false, true, None));
    cluster.add(objects::workload(
        "ReplicaSet",
        "payments",
        "api-7d9f",
        false,
        true,
        Some(("Deployment", "api")),
    ));
    cluster.add(objects::pod(
        "payments",
        "api-7d9f-x1",
        mode.ksa(),
        true,
        Some(("ReplicaSet", "api-7d9f")),
        &mode.injected(),
    ));
    // A pod that does not opt in and got nothing: not a finding.
    cluster.add(objects::pod("payments", "plain", "default", false, None, &Injected::No));
    cluster
}

pub fn healthy_webhook(cluster: &KubeCluster) {
    cluster.add(objects::webhook_configuration("gke-aws-webhook", true, "Fail"));
    cluster.add(objects::endpoint_slice("gke-aws-webhook", "gke-aws-webhook", 2));
}

/// `terraform output -json` from before named roles: three workloads (GSA and cluster mode).
pub fn terraform_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform-output.json")
}

/// `terraform output -json workloads` with a named role on each of the two payments workloads.
pub fn named_roles_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workloads-named-roles.json")
}

/// The named role of the fixture's workload of this mode: (annotation, ARN).
pub fn named_role(mode: Mode) -> (&'static str, &'static str) {
    match mode {
        Mode::Gsa => (
            "gke-aws-verifier/role.exports",
            "arn:aws:iam::123456789012:role/reports-reader.exports",
        ),
        Mode::Cluster => (
            "gke-aws-verifier/role.audit-log",
            "arn:aws:iam::123456789012:role/ledger-reader.audit-log",
        ),
    }
}

/// A finished run: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Every finding of every cluster.
    pub fn findings(&self) -> Vec<Value> {
        let json = self.json();
        json["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["findings"].as_array().unwrap().clone())
            .collect()
    }

    /// The findings with this code.
    pub fn with_code(&self, code: &str) -> Vec<Value> {
        self.findings().into_iter().filter(|f| f["code"] == code).collect()
    }

    pub fn codes(&self) -> Vec<String> {
        self.findings()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Runs the binary with `KUBECONFIG` at `kubeconfig` and these arguments.
pub async fn audit(kubeconfig: &Path, args: &[&str]) -> Run {
    audit_env(kubeconfig, args, &[]).await
}

pub async fn audit_env(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gke-aws-audit"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run gke-aws-audit");
    Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The cluster audited as JSON with its kubeconfig in `dir`.
pub async fn audit_json(cluster: &KubeCluster, dir: &Path, extra: &[&str]) -> Run {
    let kubeconfig = cluster.kubeconfig(dir, "stand-in");
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    audit(&kubeconfig, &args).await
}
