//! The admission decision, pure: a pod, its namespace, its KSA's annotations (or `None` when
//! the KSA does not exist) and the webhook's settings in; a patch with warnings, a skip or a
//! denial out. No I/O and no clock, so every rule is a table test. A pod it touches either
//! gets everything it needs to run or is refused with the fix: nothing half-injected.

use std::collections::BTreeMap;

use gke_aws_verifier::identity::annotation;
use gke_aws_verifier::input::{self, RoleArn};
use gke_aws_verifier::profiles;
use json_patch::Patch;
use k8s_openapi::api::core::v1::Pod;

use crate::choice::{self, Choice};
use crate::clash;
use crate::inject::{self, Credentials, FIRST_TOKEN, Identity, Plan, SIDECAR};
use crate::marker;
// The names and the settings live in their own modules; re-exported for the callers that
// took them from here.
use crate::keys;
pub use crate::keys::{
    AUDIENCE, GSA, IDENTITY, INCLUDE_CONTAINERS, INJECT_LABEL, REGION, ROLE_ARN, SIDECAR_CPU, SIDECAR_MEMORY,
    SKIP_CONTAINERS,
};
use crate::message::{self, quoted};
use crate::platform;
use crate::resources::{self, Resources};
use crate::roles::{self, BadAnnotation};
pub use crate::settings::Settings;
use crate::share::Delivery;

pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// Namespaces whose pods are never mutated, whatever their labels say.
const KUBE_SYSTEM: &str = "kube-system";

pub type Annotations = BTreeMap<String, String>;

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

/// The KSA to look up for this pod; or, with no lookup, the answer: a skip when the pod is not
/// ours to mutate, a denial when its `serviceAccountName` is no valid name (it would otherwise
/// go into the lookup's URL path as it is).
pub fn ksa_to_look_up(pod: &Pod, namespace: &str, settings: &Settings) -> Result<String, Outcome> {
    let skip = |reason| Err(Outcome::Skip { reason });
    if namespace == settings.own_namespace {
        return skip("the webhook's own namespace is never mutated");
    }
    if namespace == KUBE_SYSTEM {
        return skip("kube-system is never mutated");
    }
    let opted_in = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(INJECT_LABEL))
        .is_some_and(|v| v == "true");
    if !opted_in {
        return skip("the pod is not labelled gke-aws-verifier/inject=true");
    }
    let spec_ksa = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref());
    let name = spec_ksa.filter(|s| !s.is_empty()).unwrap_or("default");
    if !keys::dns_subdomain(name, 253) {
        return Err(Outcome::Deny {
            message: format!(
                "gke-aws-verifier: spec.serviceAccountName {} is no ServiceAccount name (lower-case letters, digits, '-' and '.', at most 253 characters); name the pod's ServiceAccount",
                quoted(name)
            ),
        });
    }
    Ok(name.to_owned())
}

/// The whole decision for one pod. `ksa` is `None` when the KSA does not exist (after the
/// direct lookup).
pub fn review(pod: &Pod, namespace: &str, ksa: Option<&Annotations>, settings: &Settings) -> Outcome {
    let ksa_name = match ksa_to_look_up(pod, namespace, settings) {
        Ok(name) => name,
        Err(outcome) => return outcome,
    };
    match decide(pod, namespace, &ksa_name, ksa, settings) {
        Ok(outcome) => marked(pod, outcome),
        Err(message) => Outcome::Deny { message },
    }
}

/// The answer for an opted-in pod, with the marker the guard requires ([`marker`]): added
/// to an injection's patch; an already injected pod that lacks it gets a patch of the marker
/// alone. Denials stay denials.
fn marked(pod: &Pod, outcome: Outcome) -> Outcome {
    if marker::is_marked(pod) {
        return outcome;
    }
    match outcome {
        Outcome::Inject { mut patch, warnings } => {
            marker::add(pod, &mut patch);
            Outcome::Inject { patch, warnings }
        }
        Outcome::Skip { .. } => {
            let mut patch = Patch(Vec::new());
            marker::add(pod, &mut patch);
            Outcome::Inject {
                patch,
                warnings: Vec::new(),
            }
        }
        deny @ Outcome::Deny { .. } => deny,
    }
}

fn decide(
    pod: &Pod,
    namespace: &str,
    ksa_name: &str,
    ksa: Option<&Annotations>,
    settings: &Settings,
) -> Result<Outcome, String> {
    let Some(annotations) = ksa else {
        return Err(format!(
            "gke-aws-verifier: the pod asks for AWS credentials (label {INJECT_LABEL}=true) but its ServiceAccount {ksa_name:?} does not exist in namespace {namespace:?}; create it, then give it the role: kubectl create serviceaccount {ksa_name} --namespace {namespace} && {}",
            annotate_command(ksa_name, namespace, ROLE_ARN, "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME")
        ));
    };
    let (credentials, mut warnings) =
        credentials(annotations, ksa_name, namespace, settings.default_region.as_deref())?;
    let spec = pod.spec.clone().unwrap_or_default();
    if credentials.identity == Identity::Gke {
        let refuse = |why: String| {
            format!(
                "gke-aws-verifier: {why}; in GSA mode the token sidecar runs in the pod and cannot work there. Run the AWS client in another pod, or use the cluster identity (annotate the KSA {IDENTITY}=cluster, with a role that trusts the cluster's issuer)"
            )
        };
        if let Some(why) = platform::windows_only(&spec) {
            return Err(refuse(format!(
                "the pod runs on Windows nodes ({why}), and the token sidecar is Linux-only"
            )));
        }
        if platform::host_network(&spec) {
            return Err(refuse(
                "the pod uses hostNetwork, where the GKE metadata server answers as the node, not as the pod's ServiceAccount".to_owned(),
            ));
        }
    }
    let resources = pod_resources(pod, &settings.resources)?;
    let named: Vec<&str> = credentials.named.iter().map(|r| r.name.as_str()).collect();
    let (choices, choice_warnings) = choice::choices(pod, &[FIRST_TOKEN, SIDECAR], &named, ksa_name)?;
    warnings.extend(choice_warnings);
    let delivery = delivery(pod, !credentials.named.is_empty(), &mut warnings)?;
    let with_config = delivery != Delivery::OneRole;
    let clashes = clash::clashes(pod, &credentials, with_config);
    if !clashes.is_empty() {
        return Err(format!(
            "gke-aws-verifier: the pod already uses names or folders the injection needs: {}; rename them (the webhook adds its own) or remove the label {INJECT_LABEL}",
            clashes.join("; ")
        ));
    }
    let config = if with_config {
        let text = profiles::try_render(&inject::profiles(pod, &credentials))
            .map_err(|e| format!("gke-aws-verifier: cannot write the pod's AWS config file: {e}"))?;
        Some(text)
    } else {
        None
    };
    if choices.values().all(|c| *c == Choice::Nothing) {
        warnings.push("gke-aws-verifier: no container of the pod gets AWS credentials".to_owned());
    }
    let plan = Plan {
        credentials: &credentials,
        resources: &resources,
        sidecar_image: &settings.sidecar_image,
        choices: &choices,
        delivery,
        config: config.as_deref(),
    };
    let injection = inject::patch(pod, &plan);
    if injection.patch.0.is_empty() {
        return Ok(Outcome::Skip {
            reason: "already injected",
        });
    }
    warnings.extend(injection.warnings);
    Ok(Outcome::Inject {
        patch: injection.patch,
        warnings: message::warnings(warnings),
    })
}

/// How the pod's roles reach its containers: the pod's `gke-aws-verifier/profile-switching`
/// annotation, checked, with named roles; a warning when it has nothing to switch between.
fn delivery(pod: &Pod, named: bool, warnings: &mut Vec<String>) -> Result<Delivery, String> {
    let asked = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::PROFILE_SWITCHING));
    match asked.map(String::as_str) {
        None if named => Ok(Delivery::Profiles),
        None => Ok(Delivery::OneRole),
        Some(keys::RUNTIME_SWITCHING) if named => Ok(Delivery::RuntimeSwitching),
        Some(keys::RUNTIME_SWITCHING) => {
            warnings.push(format!(
                "gke-aws-verifier: {}: the KSA has no named roles, nothing to switch",
                keys::PROFILE_SWITCHING
            ));
            Ok(Delivery::OneRole)
        }
        Some(other) => Err(format!(
            "gke-aws-verifier: pod annotation {}: {} is not a value it takes; write {}: \"{}\" (AWS_PROFILE picks the role at run time in every SDK, and no container gets AWS_ROLE_ARN), or remove it",
            keys::PROFILE_SWITCHING,
            quoted(other),
            keys::PROFILE_SWITCHING,
            keys::RUNTIME_SWITCHING
        )),
    }
}

fn annotate_command(ksa: &str, namespace: &str, key: &str, value: &str) -> String {
    format!("kubectl annotate serviceaccount {ksa} --namespace {namespace} {key}={value}")
}

/// The writers' resources: the settings, or the pod's annotations (checked).
fn pod_resources(pod: &Pod, defaults: &Resources) -> Result<Resources, String> {
    let annotations = pod.metadata.annotations.as_ref();
    let mut chosen = defaults.clone();
    for (key, check, field, example) in [
        (
            SIDECAR_CPU,
            resources::cpu as fn(&str) -> Result<String, String>,
            &mut chosen.cpu,
            "50m",
        ),
        (SIDECAR_MEMORY, resources::memory, &mut chosen.memory, "64Mi"),
    ] {
        if let Some(value) = annotations.and_then(|a| a.get(key)) {
            *field = check(value).map_err(|problem| {
                format!(
                    "gke-aws-verifier: pod annotation {key}: {} {problem}; for example {key}: \"{example}\"",
                    quoted(value)
                )
            })?;
        }
    }
    Ok(chosen)
}

/// Reads and checks the KSA's annotations (`default_region`: the webhook's `--default-region`,
/// for a KSA without `amazonaws.com/region`); a denial message names the one at fault. Also
/// what the audit compares a pod's injection with.
pub fn credentials(
    a: &Annotations,
    ksa: &str,
    namespace: &str,
    default_region: Option<&str>,
) -> Result<(Credentials, Vec<String>), String> {
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
        None => default_region.map(str::to_owned),
    };
    let audience = match a.get(AUDIENCE) {
        Some(v) => input::audience(v).map_err(|e| bad(AUDIENCE, e.problem, DEFAULT_AUDIENCE))?,
        None => DEFAULT_AUDIENCE.to_owned(),
    };
    // The audit reads the annotation with the same parser.
    let identity = match annotation::Mode::from_annotation(a.get(IDENTITY).map(String::as_str)) {
        Some(annotation::Mode::Gsa) => Identity::Gke,
        Some(annotation::Mode::Cluster) => Identity::Cluster,
        None => {
            let other = a.get(IDENTITY).map(String::as_str).unwrap_or_default();
            return Err(bad(
                IDENTITY,
                format!("is {}, expected {}", quoted(other), annotation::EXPECTED),
                annotation::Mode::Gsa.as_annotation(),
            ));
        }
    };
    let (named, mut warnings) = roles::named_roles(a, region.as_deref())
        .map_err(|BadAnnotation { key, problem, example }| bad(&key, problem, example))?;
    if region.is_none() {
        warnings.push(format!(
            "gke-aws-verifier: no AWS region, AWS_REGION is not set: annotate {REGION} on KSA {namespace}/{ksa}"
        ));
    }
    if identity == Identity::Gke && !a.contains_key(GSA) {
        warnings.push(format!(
            "gke-aws-verifier: the token sidecar will fail without {GSA} on KSA {namespace}/{ksa}"
        ));
    }
    let credentials = Credentials {
        role_arn,
        region,
        audience,
        identity,
        named,
    };
    Ok((credentials, warnings))
}

#[cfg(test)]
mod tests;
