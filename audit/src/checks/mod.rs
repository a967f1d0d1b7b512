//! The rules, pure: a cluster's [`Snapshot`] (and Terraform's workloads, and IAM's answers)
//! in, findings out. No I/O, so every rule is a table test.

pub mod aws;
pub mod drift;
pub mod fix;
pub mod gcp;
pub mod pods;
pub mod templates;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};

use crate::finding::Finding;
use crate::objects::{Pod, ServiceAccount};
use crate::snapshot::{Owners, Scope, Snapshot};
use crate::terraform;

/// The namespace the webhook never mutates, whatever the labels say.
pub const KUBE_SYSTEM: &str = "kube-system";

/// What the Kubernetes-side checks read.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub scope: &'a Scope,
    pub owners: Owners<'a>,
    /// KSAs by (namespace, name); empty when they could not be read.
    pub service_accounts: HashMap<(&'a str, &'a str), &'a ServiceAccount>,
    /// Namespaces' labels by name; empty when they could not be read.
    pub namespace_labels: HashMap<&'a str, &'a BTreeMap<String, String>>,
}

/// Whether the API server sends a pod's admission to the webhook, by its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// A webhook of the configuration selects it (and the webhook mutates its namespace).
    Yes,
    /// The configuration (or the webhook itself) leaves it alone: why, with the selector.
    Excluded(String),
    /// The configuration is not known (missing, unreadable, a selector the API server would
    /// refuse): the namespaces the webhook never mutates are left out, as before.
    Unknown,
}

/// The label the API server puts on every namespace, its name (immutable, Kubernetes 1.21+):
/// what a `namespaceSelector` can always read.
/// <https://kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name>
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl<'a> Context<'a> {
    pub fn new(snapshot: &'a Snapshot, scope: &'a Scope) -> Self {
        let service_accounts = snapshot
            .service_accounts
            .iter()
            .flatten()
            .map(|sa| ((sa.metadata.namespace.as_str(), sa.metadata.name.as_str()), sa))
            .collect();
        let namespace_labels = snapshot
            .namespaces
            .iter()
            .flatten()
            .map(|ns| (ns.metadata.name.as_str(), &ns.metadata.labels.1))
            .collect();
        Context {
            snapshot,
            scope,
            owners: Owners::new(snapshot),
            service_accounts,
            namespace_labels,
        }
    }

    /// Whether the webhook's MutatingWebhookConfiguration sends this pod to it, evaluated as
    /// the API server does: some webhook whose `namespaceSelector` selects the pod's namespace
    /// (its labels; `kubernetes.io/metadata.name` when they could not be read) and whose
    /// `objectSelector` selects the pod's labels.
    pub fn sent_to_webhook(&self, pod: &Pod) -> Sent {
        let ns = pod.metadata.namespace.as_str();
        let Some(config) = self
            .snapshot
            .webhook_configurations
            .iter()
            .flatten()
            .find(|c| c.metadata.name == self.scope.webhook_configuration)
        else {
            return Sent::Unknown;
        };
        let fallback: BTreeMap<String, String> = [(NAMESPACE_NAME_LABEL.to_owned(), ns.to_owned())].into();
        let ns_labels = self.namespace_labels.get(ns).copied().unwrap_or(&fallback);
        let mut reasons = Vec::new();
        for webhook in &config.webhooks {
            let by_namespace = webhook
                .namespace_selector
                .as_ref()
                .map_or(Ok(None), |s| s.excludes(ns_labels));
            let by_object = webhook
                .object_selector
                .as_ref()
                .map_or(Ok(None), |s| s.excludes(&pod.metadata.labels.1));
            match (by_namespace, by_object) {
                (Err(_), _) | (_, Err(_)) => return Sent::Unknown,
                (Ok(None), Ok(None)) => {
                    if !self.mutated_namespace(ns) {
                        return Sent::Excluded(format!(
                            "the webhook itself never mutates pods in namespace {ns} (kube-system and its own, {})",
                            self.scope.webhook_namespace
                        ));
                    }
                    return Sent::Yes;
                }
                (Ok(Some(requirement)), _) => reasons.push(format!(
                    "webhook {:?} of MutatingWebhookConfiguration {} has namespaceSelector {requirement}, which namespace {ns} does not meet",
                    webhook.name, config.metadata.name
                )),
                (_, Ok(Some(requirement))) => reasons.push(format!(
                    "webhook {:?} of MutatingWebhookConfiguration {} has objectSelector {requirement}, which the pod's labels do not meet",
                    webhook.name, config.metadata.name
                )),
            }
        }
        if reasons.is_empty() {
            // A configuration without webhooks sends nothing.
            return Sent::Excluded(format!(
                "MutatingWebhookConfiguration {} has no webhook",
                config.metadata.name
            ));
        }
        Sent::Excluded(reasons.join("; "))
    }

    pub fn service_account(&self, namespace: &str, name: &str) -> Option<&'a ServiceAccount> {
        self.service_accounts.get(&(namespace, name)).copied()
    }

    /// Whether the webhook would consider pods of this namespace at all.
    pub fn mutated_namespace(&self, namespace: &str) -> bool {
        namespace != KUBE_SYSTEM && namespace != self.scope.webhook_namespace
    }
}

/// Every Kubernetes-side finding of one cluster (the AWS ones are [`aws`]'s).
pub fn kubernetes(snapshot: &Snapshot, scope: &Scope, workloads: &[terraform::Workload]) -> Vec<Finding> {
    let context = Context::new(snapshot, scope);
    let mut findings = snapshot.failures.clone();
    findings.extend(pods::check(&context));
    findings.extend(templates::check(&context));
    findings.extend(webhook::check(&context));
    if snapshot.service_accounts.is_some() {
        findings.extend(drift::check(&context, workloads));
    }
    findings
}
