//! Pods: `NotInjected` (opted in, running, without the webhook's token volume, though the
//! webhook's configuration sends it), `ExcludedByWebhook` (opted in, but the configuration's
//! own selectors never send it: a restart cannot help) and `StaleInjection` (opted in,
//! injected with a role, region or identity mode the KSA no longer says). Only pods that carry
//! the opt-in label are judged: the others are not the webhook's, whatever AWS variables they
//! set themselves.

use gke_aws_webhook::inject::VOLUME;
use gke_aws_webhook::mutate::{IDENTITY, INJECT_LABEL, REGION, ROLE_ARN};

use super::{Context, Sent, fix};
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::objects::{Mode, Pod};

pub fn check(context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    for pod in context.snapshot.pods.iter().flatten() {
        let ns = pod.metadata.namespace.as_str();
        if !pod.opted_in() || !pod.is_live() {
            continue;
        }
        let sent = context.sent_to_webhook(pod);
        if sent == Sent::Unknown && !context.mutated_namespace(ns) {
            continue;
        }
        let injection = pod.injection();
        let owned = context.owners.of(ns, pod.metadata.owner.as_ref());
        let object = ObjectRef::namespaced("Pod", ns, &pod.metadata.name);
        if let (Sent::Excluded(why), true) = (&sent, injection.is_empty()) {
            findings.push(
                Finding::new(
                    Code::ExcludedByWebhook,
                    Severity::Error,
                    object,
                    format!(
                        "labelled {INJECT_LABEL}=true, but the webhook's configuration does not send it: {why}; it gets no AWS credentials, and a restart cannot change that"
                    ),
                    format!(
                        "run it in a namespace the configuration selects, or change the selector (kubectl get mutatingwebhookconfiguration {} -o yaml; the namespace's labels: kubectl get namespace {} --show-labels); if it needs no AWS access, remove the label from its pod template",
                        fix::sh(&context.scope.webhook_configuration),
                        fix::sh(ns)
                    ),
                )
                .owned_by(owned.workload),
            );
            continue;
        }
        let fix = fix::readmit(ns, &pod.metadata.name, &owned);
        if injection.is_empty() {
            findings.push(
                Finding::new(
                    Code::NotInjected,
                    Severity::Error,
                    object,
                    format!(
                        "labelled {INJECT_LABEL}=true and {}, but it has no token volume ({VOLUME}): the webhook was not called when it was created (not installed yet, or failing open); it has none of the webhook's AWS credentials (AWS variables it sets itself are its own)",
                        pod.status.phase.as_deref().unwrap_or("live").to_lowercase()
                    ),
                    fix,
                )
                .owned_by(owned.workload),
            );
            continue;
        }
        if let Some(message) = stale(context, pod, &injection) {
            findings.push(
                Finding::new(Code::StaleInjection, Severity::Warning, object, message, fix).owned_by(owned.workload),
            );
        }
    }
    findings
}

/// What differs between the pod's injection and its KSA now, if anything.
fn stale(context: &Context, pod: &Pod, injection: &crate::objects::Injection) -> Option<String> {
    let ns = pod.metadata.namespace.as_str();
    let ksa_name = pod.service_account();
    let ksa = context.service_account(ns, ksa_name)?;
    let mut differences = Vec::new();
    if let Some(injected) = &injection.role_arn {
        match ksa.annotation(ROLE_ARN) {
            Some(now) if now != injected => {
                differences.push(format!("role {injected} (the KSA now says {now})"));
            }
            None => differences.push(format!("role {injected} (the KSA now has no {ROLE_ARN})")),
            _ => {}
        }
    }
    if let (Some(injected), Some(now)) = (&injection.region, ksa.annotation(REGION))
        && injected != now
    {
        differences.push(format!("region {injected} (the KSA now says {now})"));
    }
    if let (Some(injected), Some(now)) = (injection.mode, Mode::from_annotation(ksa.annotation(IDENTITY)))
        && injected != now
    {
        differences.push(format!("identity mode {injected} (the KSA now says {now})"));
    }
    if differences.is_empty() {
        return None;
    }
    Some(format!(
        "injected with {} by its KSA {ns}/{ksa_name}; a new pod would get what the KSA says now",
        differences.join(", ")
    ))
}
