//! The admission decision, pure: a pod, its namespace, its KSA's annotations (or `None` when
//! the KSA does not exist) and the webhook's settings in; a patch with warnings, a skip or a
//! denial out. No I/O and no clock, so every rule is a table test.

use std::collections::BTreeMap;

use gke_aws_verifier::input::{self, RoleArn};
use json_patch::Patch;
use k8s_openapi::api::core::v1::Pod;

use crate::inject::{self, Credentials, Identity};

/// The pod label that opts a pod in (the webhook configuration's objectSelector matches it).
pub const INJECT_LABEL: &str = "gke-aws-verifier/inject";
/// Pod annotation: comma-separated names of containers that get nothing.
pub const SKIP_CONTAINERS: &str = "gke-aws-verifier/skip-containers";
/// KSA annotations read here. The role ARN is the one this project's Terraform outputs.
pub const ROLE_ARN: &str = "amazonaws.com/role-arn";
pub const REGION: &str = "amazonaws.com/region";
pub const AUDIENCE: &str = "amazonaws.com/audience";
pub const GSA: &str = "iam.gke.io/gcp-service-account";
/// `gke` (default): a Google ID token from the metadata server, kept fresh by a sidecar;
/// `cluster`: the KSA's own token, projected by the kubelet (the role trusts the cluster's issuer).
pub const IDENTITY: &str = "gke-aws-verifier/identity";

pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// Namespaces whose pods are never mutated, whatever their labels say.
const KUBE_SYSTEM: &str = "kube-system";

pub type Annotations = BTreeMap<String, String>;

/// The webhook's own configuration (from its flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Image of the token-file sidecar (the gke-aws-verifier image).
    pub sidecar_image: String,
    /// Region for pods whose KSA has no `amazonaws.com/region`.
    pub default_region: Option<String>,
    /// The webhook's own namespace: its pods must start even when it is down.
    pub own_namespace: String,
}

/// What the webhook answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Allowed with this patch; the warnings are shown by `kubectl apply`.
    Inject { patch: Patch, warnings: Vec<String> },
    /// Allowed unchanged, for this reason (also the reinvocation of an injected pod).
    Skip { reason: &'static str },
    /// Refused, with a message that says how to fix it.
    Deny { message: String },
}

/// The KSA to look up for this pod, or why the pod is not ours to mutate (no lookup then).
pub fn ksa_to_look_up(pod: &Pod, namespace: &str, settings: &Settings) -> Result<String, &'static str> {
    if namespace == settings.own_namespace {
        return Err("the webhook's own namespace is never mutated");
    }
    if namespace == KUBE_SYSTEM {
        return Err("kube-system is never mutated");
    }
    let opted_in = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(INJECT_LABEL))
        .is_some_and(|v| v == "true");
    if !opted_in {
        return Err("the pod is not labelled gke-aws-verifier/inject=true");
    }
    let spec_ksa = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref());
    Ok(spec_ksa.filter(|s| !s.is_empty()).unwrap_or("default").to_owned())
}

/// The whole decision for one pod. `ksa` is `None` when the KSA does not exist (after the
/// direct lookup).
pub fn review(pod: &Pod, namespace: &str, ksa: Option<&Annotations>, settings: &Settings) -> Outcome {
    let ksa_name = match ksa_to_look_up(pod, namespace, settings) {
        Ok(name) => name,
        Err(reason) => return Outcome::Skip { reason },
    };
    let Some(annotations) = ksa else {
        return Outcome::Deny {
            message: format!(
                "gke-aws-verifier: the pod asks for AWS credentials (label {INJECT_LABEL}=true) but its ServiceAccount {ksa_name:?} does not exist in namespace {namespace:?}; create it, then give it the role: kubectl create serviceaccount {ksa_name} --namespace {namespace} && {}",
                annotate_command(&ksa_name, namespace, ROLE_ARN, "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME")
            ),
        };
    };
    let credentials = match credentials(annotations, &ksa_name, namespace, settings) {
        Ok(c) => c,
        Err(message) => return Outcome::Deny { message },
    };
    let warnings = warnings(pod, annotations, &credentials, &ksa_name, namespace);
    let patch = inject::patch(pod, &credentials, settings);
    if patch.0.is_empty() {
        return Outcome::Skip {
            reason: "already injected",
        };
    }
    Outcome::Inject { patch, warnings }
}

fn annotate_command(ksa: &str, namespace: &str, key: &str, value: &str) -> String {
    format!("kubectl annotate serviceaccount {ksa} --namespace {namespace} {key}={value}")
}

/// Reads and checks the KSA's annotations; a denial message names the one at fault.
fn credentials(a: &Annotations, ksa: &str, namespace: &str, settings: &Settings) -> Result<Credentials, String> {
    let bad = |key: &str, problem: String, example: &str| {
        format!(
            "gke-aws-verifier: ServiceAccount {ksa:?} in namespace {namespace:?}: annotation {key} {problem}; fix it with: {} --overwrite",
            annotate_command(ksa, namespace, key, example)
        )
    };
    let Some(arn) = a.get(ROLE_ARN) else {
        return Err(format!(
            "gke-aws-verifier: ServiceAccount {ksa:?} in namespace {namespace:?} has no annotation {ROLE_ARN}, so there is no AWS role to assume; add it (the role_arn output of the Terraform module): {}",
            annotate_command(ksa, namespace, ROLE_ARN, "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME")
        ));
    };
    let example_arn = "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME";
    let role_arn = RoleArn::parse(arn).map_err(|e| bad(ROLE_ARN, e.problem, example_arn))?;
    let region = match a.get(REGION) {
        Some(r) => Some(input::region(r).map_err(|e| bad(REGION, e.problem, "eu-west-1"))?),
        None => settings.default_region.clone(),
    };
    let audience = match a.get(AUDIENCE) {
        Some(v) => input::audience(v).map_err(|e| bad(AUDIENCE, e.problem, DEFAULT_AUDIENCE))?,
        None => DEFAULT_AUDIENCE.to_owned(),
    };
    let identity = match a.get(IDENTITY).map(String::as_str) {
        None | Some("gke") => Identity::Gke,
        Some("cluster") => Identity::Cluster,
        Some(other) => {
            return Err(bad(IDENTITY, format!("is {other:?}, expected gke or cluster"), "gke"));
        }
    };
    Ok(Credentials {
        role_arn,
        region,
        audience,
        identity,
    })
}

/// What will fail at run time, said at admission so `kubectl apply` shows it.
fn warnings(pod: &Pod, a: &Annotations, c: &Credentials, ksa: &str, namespace: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if c.region.is_none() {
        warnings.push(format!(
            "gke-aws-verifier: no AWS region (annotate KSA {namespace}/{ksa} with {REGION}); AWS_REGION is not set"
        ));
    }
    // The cluster identity needs neither the metadata server nor the sidecar image.
    if c.identity == Identity::Cluster {
        return warnings;
    }
    if !a.contains_key(GSA) {
        warnings.push(format!(
            "gke-aws-verifier: KSA {namespace}/{ksa} has no {GSA} annotation: the token sidecar will fail"
        ));
    }
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        warnings.push(
            "gke-aws-verifier: hostNetwork pods get no Workload Identity: the token sidecar will fail".to_owned(),
        );
    }
    let os = spec
        .and_then(|s| s.node_selector.as_ref())
        .and_then(|n| n.get("kubernetes.io/os"));
    if os.is_some_and(|os| os == "windows") {
        warnings
            .push("gke-aws-verifier: the token sidecar image is Linux-only; it cannot run on Windows nodes".to_owned());
    }
    warnings
}

#[cfg(test)]
mod tests;
