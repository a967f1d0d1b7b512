//! The rules, pure: a cluster's [`Snapshot`] (and Terraform's workloads, and IAM's answers)
//! in, findings out. No I/O, so every rule is a table test.

pub mod aws;
pub mod drift;
pub mod fix;
pub mod gcp;
pub mod pods;
pub mod templates;
pub mod webhook;

use std::collections::HashMap;

use crate::finding::Finding;
use crate::objects::ServiceAccount;
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
}

impl<'a> Context<'a> {
    pub fn new(snapshot: &'a Snapshot, scope: &'a Scope) -> Self {
        let service_accounts = snapshot
            .service_accounts
            .iter()
            .flatten()
            .map(|sa| ((sa.metadata.namespace.as_str(), sa.metadata.name.as_str()), sa))
            .collect();
        Context {
            snapshot,
            scope,
            owners: Owners::new(snapshot),
            service_accounts,
        }
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
