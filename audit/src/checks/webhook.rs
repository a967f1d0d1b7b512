//! `WebhookUnhealthy`: no MutatingWebhookConfiguration for the webhook, an entry with no
//! `caBundle`, a `failurePolicy` other than `Fail` (pods then start without credentials while
//! the webhook is down), or no ready endpoint behind its Service. Checked where anything opts in
//! or the configuration exists: a cluster that uses no injection needs no webhook. There too, a
//! missing guard (the ValidatingAdmissionPolicy `gke-aws-verifier-inject-guard` or its binding):
//! a labelled pod the webhook never sees then starts without credentials instead of being refused.

use super::Context;
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::snapshot::{INJECT_GUARD, Snapshot};

pub fn check(context: &Context) -> Vec<Finding> {
    let mut findings = configuration(context);
    let snapshot = context.snapshot;
    let configured = snapshot
        .webhook_configurations
        .iter()
        .flatten()
        .any(|c| c.metadata.name == context.scope.webhook_configuration);
    if configured || anything_opted_in(snapshot) {
        findings.extend(guard(snapshot));
    }
    findings
}

fn anything_opted_in(snapshot: &Snapshot) -> bool {
    snapshot.pods.iter().flatten().any(|p| p.opted_in())
        || snapshot
            .workloads
            .values()
            .flatten()
            .any(|w| w.labelled() || w.template_labelled())
}

/// The guard's policy or binding missing (unreadable: its `CannotRead` says so).
fn guard(snapshot: &Snapshot) -> Option<Finding> {
    let guard = snapshot.inject_guard?;
    let missing: Vec<&str> = [
        (guard.policy, "ValidatingAdmissionPolicy"),
        (guard.binding, "ValidatingAdmissionPolicyBinding"),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, kind)| kind)
    .collect();
    if missing.is_empty() {
        return None;
    }
    // A warning: nothing fails today, but the one guarantee that holds when the webhook
    // configuration breaks is gone.
    Some(Finding::new(
        Code::WebhookUnhealthy,
        Severity::Warning,
        ObjectRef::cluster_scoped("ValidatingAdmissionPolicy", INJECT_GUARD),
        format!(
            "the guard is missing ({} {INJECT_GUARD}): a pod labelled gke-aws-verifier/inject=true that the webhook never sees (its configuration deleted, set to Ignore, or its selectors changed) starts without AWS credentials instead of being refused",
            missing.join(" and ")
        ),
        "make webhook-deploy (kubectl apply -k k8s/webhook/overlays/cert-manager applies the guard with the webhook); it needs Kubernetes 1.30 or later: kubectl version".to_owned(),
    ))
}

fn configuration(context: &Context) -> Vec<Finding> {
    let scope = context.scope;
    let snapshot = context.snapshot;
    let Some(configs) = &snapshot.webhook_configurations else {
        return Vec::new();
    };
    let object = ObjectRef::cluster_scoped("MutatingWebhookConfiguration", &scope.webhook_configuration);
    let unhealthy = |message: String, fix: String| {
        Finding::new(Code::WebhookUnhealthy, Severity::Error, object.clone(), message, fix)
    };
    let deploy = "make webhook-deploy (kubectl apply -k k8s/webhook/overlays/cert-manager)".to_owned();
    let Some(config) = configs.iter().find(|c| c.metadata.name == scope.webhook_configuration) else {
        if !anything_opted_in(snapshot) {
            return Vec::new();
        }
        return vec![unhealthy(
            format!(
                "no MutatingWebhookConfiguration {:?}: pods that opt in get nothing",
                scope.webhook_configuration
            ),
            deploy,
        )];
    };
    let mut findings = Vec::new();
    for (i, webhook) in config.webhooks.iter().enumerate() {
        if !webhook.client_config.ca_bundle {
            findings.push(unhealthy(
                format!("webhook {:?} has an empty caBundle: the API server cannot call it over TLS", webhook.name),
                format!(
                    "with cert-manager: kubectl --namespace {} get certificate,certificaterequest (the cainjector fills caBundle); without: set caBundle as {} says",
                    scope.webhook_namespace, "k8s/webhook/README.md (\"Without cert-manager\")"
                ),
            ));
        }
        let policy = webhook.failure_policy.as_deref().unwrap_or("Fail");
        if policy != "Fail" {
            findings.push(unhealthy(
                format!(
                    "webhook {:?} has failurePolicy {policy}: while it is down, opted-in pods start without credentials",
                    webhook.name
                ),
                format!(
                    "kubectl patch mutatingwebhookconfiguration {} --type json -p '[{{\"op\":\"replace\",\"path\":\"/webhooks/{i}/failurePolicy\",\"value\":\"Fail\"}}]'",
                    super::fix::sh(&config.metadata.name)
                ),
            ));
        }
    }
    // Unreadable (`None`): its CannotRead finding says so.
    if snapshot.webhook_endpoints == Some(0) {
        findings.push(unhealthy(
            format!(
                "Service {}/{} has no ready endpoint: every opted-in pod is refused (or, failing open, gets nothing)",
                scope.webhook_namespace, scope.webhook_service
            ),
            format!(
                "kubectl --namespace {} rollout status deployment/{} && kubectl --namespace {} get pods",
                scope.webhook_namespace, scope.webhook_service, scope.webhook_namespace
            ),
        ));
    }
    findings
}
