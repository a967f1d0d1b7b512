//! The command line, and its validation into [`Settings`] before any network call.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use gke_aws_verifier::exit_table::Program;

use crate::bad_input::BadInput;
use crate::finding::Severity;
use crate::snapshot::Scope;
use crate::terraform;

/// Finds, read-only, what breaks keyless AWS access in GKE clusters: pods that missed injection,
/// the opt-in label on the wrong object, KSAs that drifted from Terraform, pods injected with
/// what their KSA no longer says, an unhealthy webhook, and with --aws the IAM side (trust,
/// roles, OIDC providers, quotas). Writes nothing, anywhere.
#[derive(Debug, Parser)]
#[command(name = "gke-aws-audit", bin_name = "gke-aws-verifier audit", version, after_long_help = Program::Audit.help())]
pub struct Cli {
    /// Kubeconfig context to audit; repeat it (or give a comma-separated list) for a fleet.
    /// Default: the in-cluster config in a pod, else the kubeconfig's current context.
    #[arg(long = "context", value_name = "CONTEXT", value_delimiter = ',')]
    pub contexts: Vec<String>,

    /// Only this namespace (default: all namespaces).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,

    /// `terraform output -json` (or `terraform output -json workloads`): compare the KSAs with
    /// Terraform's workloads.
    #[arg(long, value_name = "FILE")]
    pub terraform_output: Option<PathBuf>,

    /// Also read IAM with AWS credentials from the standard chain (AWS_PROFILE, keys, web
    /// identity, ECS, EC2 metadata): sts:GetCallerIdentity, iam:GetRole,
    /// iam:ListOpenIDConnectProviders and iam:GetOpenIDConnectProvider.
    #[arg(long)]
    pub aws: bool,

    /// Also read each GSA the KSAs name as Google has it now (iam.serviceAccounts.get: its
    /// unique id, disabled), with Application Default Credentials: a GSA recreated under the
    /// same e-mail, missing or disabled. Without it, GSA unique ids come from Terraform.
    #[arg(long)]
    pub gcp: bool,

    /// The IAM API endpoint for --gcp (a Private Service Connect endpoint, or a stand-in).
    #[arg(long, value_name = "URL", default_value = crate::google::IAM_ENDPOINT, env = "AUDIT_GCP_IAM_ENDPOINT")]
    pub gcp_iam_endpoint: String,

    /// With --aws: a role a workload names that IAM says was not used within this many days
    /// (RoleLastUsed) is a RoleUnused finding (info), 1 to 400 (IAM tracks 400 days).
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub unused_days: u32,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "AUDIT_FORMAT")]
    pub format: Format,

    /// Exit 6 when a finding at or above this severity was found.
    #[arg(long, value_enum, default_value_t = Severity::Warning, env = "AUDIT_FAIL_ON")]
    pub fail_on: Severity,

    /// Push the counts to this Prometheus Pushgateway (http://…), one group per cluster.
    #[arg(long, env = "AUDIT_PUSHGATEWAY")]
    pub pushgateway: Option<String>,

    /// The cluster's name in the report and the metrics (one cluster only; default: the
    /// context's name, or `in-cluster`).
    #[arg(long, env = "AUDIT_CLUSTER_NAME")]
    pub cluster_name: Option<String>,

    /// The webhook's MutatingWebhookConfiguration.
    #[arg(long, default_value = "gke-aws-webhook")]
    pub webhook_configuration: String,

    /// The webhook's namespace (its pods, and kube-system's, are never injected).
    #[arg(long, default_value = "gke-aws-webhook")]
    pub webhook_namespace: String,

    /// The webhook's Service, whose Endpoints must have a ready address.
    #[arg(long, default_value = "gke-aws-webhook")]
    pub webhook_service: String,

    /// Items per page of every list (the `limit` of each request), 1 to 5000.
    #[arg(long, default_value_t = 250)]
    pub page_size: u32,

    /// Bound on each request to an API server or IAM, answer included: 1s to 5m.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Your account's "Role trust policy length" quota (IAM's default 2048, at most 8192).
    #[arg(long, default_value_t = 2048)]
    pub trust_policy_quota: usize,

    /// Your account's "OpenId connect providers per account" quota (IAM's default 100, at most 700).
    #[arg(long, default_value_t = 100)]
    pub oidc_provider_quota: usize,

    /// Log level on stderr: error, warn, info or debug.
    #[arg(long, default_value = "warn", env = "AUDIT_LOG_LEVEL")]
    pub log_level: tracing::Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Which clusters, and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The pod's own cluster (the CronJob).
    InCluster,
    /// The kubeconfig's current context.
    Current,
    /// A named kubeconfig context.
    Context(String),
}

/// Everything checked.
#[derive(Debug)]
pub struct Settings {
    pub targets: Vec<Target>,
    pub cluster_name: Option<String>,
    pub scope: Scope,
    pub workloads: Vec<terraform::Workload>,
    /// With `--aws`: the HTTPS client of the IAM reads (the CA bundle checked up front).
    pub aws: Option<aws_sdk_iam::config::SharedHttpClient>,
    /// With `--gcp`: the IAM API endpoint and Application Default Credentials.
    pub gcp: Option<crate::google::Settings>,
    /// `--unused-days`.
    pub unused_days: u32,
    pub format: Format,
    pub fail_on: Severity,
    pub pushgateway: Option<String>,
    pub page_size: u32,
    pub timeout: Duration,
    pub trust_policy_quota: usize,
    pub oidc_provider_quota: usize,
}

impl Cli {
    /// Checks every input; `in_cluster` says whether the in-cluster config is there.
    pub fn settings(&self, in_cluster: bool) -> Result<Settings, BadInput> {
        let targets = self.targets(in_cluster)?;
        if self.cluster_name.is_some() && targets.len() > 1 {
            return Err(BadInput::new(
                "--cluster-name",
                "names one cluster; with several --context, each is named by its context",
            ));
        }
        if let Some(name) = &self.cluster_name {
            label_value("--cluster-name", name)?;
        }
        if let Some(ns) = &self.namespace {
            dns_label("--namespace", ns)?;
        }
        for (flag, value) in [
            ("--webhook-namespace", &self.webhook_namespace),
            ("--webhook-service", &self.webhook_service),
        ] {
            dns_label(flag, value)?;
        }
        if self.webhook_configuration.is_empty() || self.webhook_configuration.len() > 253 {
            return Err(BadInput::new(
                "--webhook-configuration",
                "expected a name such as gke-aws-webhook",
            ));
        }
        if !(1..=5000).contains(&self.page_size) {
            return Err(BadInput::new(
                "--page-size",
                format!("{} is out of range; expected 1 to 5000", self.page_size),
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(300)).contains(&self.timeout) {
            return Err(BadInput::new(
                "--timeout",
                "is out of range; expected 1s to 5m, e.g. 30s",
            ));
        }
        if !(2048..=8192).contains(&self.trust_policy_quota) {
            return Err(BadInput::new(
                "--trust-policy-quota",
                format!(
                    "{} is out of range; IAM's quota is 2048 by default and at most 8192",
                    self.trust_policy_quota
                ),
            ));
        }
        if !(1..=700).contains(&self.oidc_provider_quota) {
            return Err(BadInput::new(
                "--oidc-provider-quota",
                format!(
                    "{} is out of range; IAM's quota is 100 by default and at most 700",
                    self.oidc_provider_quota
                ),
            ));
        }
        if let Some(url) = &self.pushgateway {
            gke_aws_verifier::input::endpoint_url("--pushgateway", url)
                .map_err(|e| BadInput::from_check("--pushgateway", e))?;
            if !url.starts_with("http://") {
                return Err(BadInput::new(
                    "--pushgateway",
                    "only http:// Pushgateway URLs are supported, e.g. http://prometheus-pushgateway.monitoring.svc:9091",
                ));
            }
        }
        if !(1..=400).contains(&self.unused_days) {
            return Err(BadInput::new(
                "--unused-days",
                format!(
                    "{} is out of range; expected 1 to 400 (IAM's RoleLastUsed covers 400 days)",
                    self.unused_days
                ),
            ));
        }
        let gcp = if self.gcp {
            Some(crate::google::settings(&self.gcp_iam_endpoint)?)
        } else {
            None
        };
        let aws = if self.aws {
            let tls =
                gke_aws_verifier::aws::sdk::tls_context().map_err(|e| BadInput::from_check("SSL_CERT_FILE", e))?;
            Some(gke_aws_verifier::aws::sdk::https_client(tls))
        } else {
            None
        };
        let workloads = match &self.terraform_output {
            Some(path) => terraform::load(path)?,
            None => Vec::new(),
        };
        Ok(Settings {
            targets,
            cluster_name: self.cluster_name.clone(),
            scope: Scope {
                namespace: self.namespace.clone(),
                webhook_configuration: self.webhook_configuration.clone(),
                webhook_namespace: self.webhook_namespace.clone(),
                webhook_service: self.webhook_service.clone(),
            },
            workloads,
            aws,
            gcp,
            unused_days: self.unused_days,
            format: self.format,
            fail_on: self.fail_on,
            pushgateway: self.pushgateway.clone(),
            page_size: self.page_size,
            timeout: self.timeout,
            trust_policy_quota: self.trust_policy_quota,
            oidc_provider_quota: self.oidc_provider_quota,
        })
    }

    fn targets(&self, in_cluster: bool) -> Result<Vec<Target>, BadInput> {
        if self.contexts.is_empty() {
            return Ok(vec![if in_cluster { Target::InCluster } else { Target::Current }]);
        }
        let kubeconfig = kube::config::Kubeconfig::read().map_err(|e| {
            BadInput::new(
                "--context",
                format!("no kubeconfig to find contexts in ({e}); set KUBECONFIG"),
            )
        })?;
        let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
        let mut targets = Vec::new();
        for context in &self.contexts {
            if !known.contains(&context.as_str()) {
                return Err(BadInput::new(
                    "--context",
                    format!(
                        "{context:?} is not a context of the kubeconfig; it has: {}",
                        known.join(", ")
                    ),
                ));
            }
            let target = Target::Context(context.clone());
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        Ok(targets)
    }
}

/// A namespace or Service name: an RFC 1123 label.
fn dns_label(flag: &str, value: &str) -> Result<(), BadInput> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(BadInput::new(
            flag,
            format!("{value:?} is not a Kubernetes name; expected e.g. payments"),
        ))
    }
}

fn label_value(flag: &str, value: &str) -> Result<(), BadInput> {
    let ok = !value.is_empty() && value.len() <= 128 && value.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(BadInput::new(
            flag,
            format!("{value:?}: expected 1-128 printable characters without spaces"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_name_their_flag() {
        let cli = |args: &[&str]| Cli::try_parse_from([&["gke-aws-audit"], args].concat()).unwrap();
        let field = |args: &[&str]| cli(args).settings(true).unwrap_err().field;
        assert_eq!(field(&["--namespace", "Bad_NS"]), "--namespace");
        assert_eq!(field(&["--page-size", "0"]), "--page-size");
        assert_eq!(field(&["--trust-policy-quota", "9000"]), "--trust-policy-quota");
        assert_eq!(field(&["--unused-days", "0"]), "--unused-days");
        assert_eq!(
            field(&["--gcp", "--gcp-iam-endpoint", "iam.googleapis.com"]),
            "--gcp-iam-endpoint"
        );
        assert_eq!(field(&["--pushgateway", "https://gw:9091"]), "--pushgateway");
        assert_eq!(
            field(&["--terraform-output", "/nonexistent/out.json"]),
            "--terraform-output"
        );
        assert_eq!(cli(&[]).settings(true).unwrap().targets, vec![Target::InCluster]);
    }
}
