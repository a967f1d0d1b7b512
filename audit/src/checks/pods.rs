//! Pods: `NotInjected` (opted in, running, without the webhook's token volume, though the
//! webhook's configuration sends it), `ExcludedByWebhook` (opted in, but the configuration's
//! own selectors never send it: a restart cannot help) and `StaleInjection` (opted in,
//! injected with a role, region, identity mode or named roles the KSA no longer says). Only
//! pods that carry the opt-in label are judged: the others are not the webhook's, whatever AWS
//! variables they set themselves.

use gke_aws_verifier::profiles::{self, DEFAULT_PROFILE, Profile};
use gke_aws_webhook::inject::{self, VOLUME};
use gke_aws_webhook::keys::{AWS_CONFIG, NAMED_ROLE_PREFIX};
use gke_aws_webhook::mutate::{self, IDENTITY, INJECT_LABEL, REGION, ROLE_ARN};

use super::{Context, Sent, fix};
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::objects::{Mode, Pod, ServiceAccount};

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
        let owned = context.owners.of(ns, pod.metadata.owner.as_deref());
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
    differences.extend(stale_profiles(pod, ksa, injection));
    if differences.is_empty() {
        return None;
    }
    Some(format!(
        "injected with {} by its KSA {ns}/{ksa_name}; a new pod would get what the KSA says now",
        differences.join(", ")
    ))
}

/// What differs between the profiles the pod was given (its `gke-aws-verifier/aws-config`
/// annotation) and the ones the webhook renders from its KSA now: the webhook's own
/// [`mutate::credentials`] and [`inject::profiles_with_session`], so the audit and the
/// webhook cannot disagree on what a KSA means. Regions are compared where the KSA names one
/// (a region from the webhook's `--default-region` is not known here); the default role and
/// region are left to the variables' comparison when a container shows them.
fn stale_profiles(pod: &Pod, ksa: &ServiceAccount, injection: &crate::objects::Injection) -> Vec<String> {
    let ns = pod.metadata.namespace.as_str();
    // A KSA the webhook would refuse now says nothing a new pod would get.
    let Ok((now, _)) = mutate::credentials(&ksa.metadata.annotations.to_map(), pod.service_account(), ns, None) else {
        return Vec::new();
    };
    let expected = (!now.named.is_empty()).then(|| inject::profiles_with_session(None, &now));
    let given = match pod.metadata.annotations.get(AWS_CONFIG).map(profiles::parse) {
        None => None,
        Some(Ok(given)) if !given.is_empty() => Some(given),
        Some(Ok(_)) => {
            return vec![format!(
                "a {AWS_CONFIG} annotation with no profile (empty, or longer than any the webhook writes)"
            )];
        }
        Some(Err(e)) => return vec![format!("a {AWS_CONFIG} annotation the webhook did not write ({e})")],
    };
    let named = |profiles: &[Profile]| -> Vec<String> {
        profiles
            .iter()
            .filter(|p| p.name != DEFAULT_PROFILE)
            .map(|p| p.name.clone())
            .collect()
    };
    match (given, expected) {
        (None, None) => Vec::new(),
        (None, Some(expected)) => vec![format!(
            "no named roles (the KSA now has {})",
            named(&expected)
                .iter()
                .map(|n| format!("{NAMED_ROLE_PREFIX}{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )],
        (Some(given), None) => vec![format!(
            "named roles {} (the KSA now has none)",
            named(&given).join(", ")
        )],
        (Some(given), Some(expected)) => {
            let mut differences = Vec::new();
            for g in &given {
                let is_default = g.name == DEFAULT_PROFILE;
                let Some(e) = expected.iter().find(|e| e.name == g.name) else {
                    differences.push(format!(
                        "profile {} (the KSA now has no {NAMED_ROLE_PREFIX}{})",
                        g.name, g.name
                    ));
                    continue;
                };
                if g.role_arn != e.role_arn && !(is_default && injection.role_arn.is_some()) {
                    differences.push(format!(
                        "profile {} role {} (the KSA now says {})",
                        g.name, g.role_arn, e.role_arn
                    ));
                }
                if let (Some(was), Some(now)) = (&g.region, &e.region)
                    && was != now
                    && !(is_default && injection.region.is_some())
                {
                    differences.push(format!("profile {} region {was} (the KSA now says {now})", g.name));
                }
            }
            for e in expected.iter().filter(|e| !given.iter().any(|g| g.name == e.name)) {
                differences.push(format!(
                    "no profile {} (the KSA now has {NAMED_ROLE_PREFIX}{})",
                    e.name, e.name
                ));
            }
            differences
        }
    }
}
