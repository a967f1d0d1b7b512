//! Findings are data: a stable code, a severity, the object at fault (and the workload that owns
//! it), what is wrong and the exact command that fixes it. Every check produces them; the
//! report and the metrics render them; nothing else decides what a finding says.

use std::fmt;

use serde::Serialize;

/// How much a finding matters. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing fails because of it.
    Info,
    /// Something will fail or is drifting; nothing fails yet, or the audit could not see everything.
    Warning,
    /// A workload gets no credentials, or the wrong ones.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The stable codes: alerts, dashboards and scripts match on them. Keep them stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// An opted-in pod runs without any of the injection.
    NotInjected,
    /// An opted-in pod the webhook's own configuration excludes (its namespaceSelector or
    /// objectSelector): a restart can never inject it.
    ExcludedByWebhook,
    /// A workload carries the opt-in label on itself, not on its pod template.
    LabelNotOnPodTemplate,
    /// A pod was injected with a role, region or identity mode its KSA no longer says.
    StaleInjection,
    /// A KSA disagrees with Terraform's workload, or the workload's KSA does not exist.
    AnnotationDrift,
    /// The role's trust does not accept this KSA's identity.
    TrustDrift,
    /// `--gcp`: the GSA was deleted and recreated under the same e-mail: the role's trust
    /// pins a unique id the GSA no longer has.
    GsaRecreated,
    /// `--gcp`: the GSA a KSA names does not exist.
    GsaMissing,
    /// `--gcp`: the GSA a KSA names is disabled: Google mints no token for it.
    GsaDisabled,
    /// `--gcp`: a GSA could not be read (permission, the IAM API disabled, no credentials).
    GsaUnreadable,
    /// The role a KSA or Terraform names does not exist.
    RoleMissing,
    /// A cluster-mode issuer has no IAM OIDC provider in the account.
    OidcProviderMissing,
    /// The role's trust policy is close to IAM's length quota.
    TrustPolicyNearLimit,
    /// The account's OIDC providers are close to IAM's quota.
    OidcProviderQuota,
    /// A role a workload names was never used, or not within `--unused-days`.
    RoleUnused,
    /// The injection webhook is missing, fails open, has no CA or no ready endpoint.
    WebhookUnhealthy,
    /// A resource the caller may not read (RBAC 403, IAM AccessDenied) or could not read.
    CannotRead,
    /// The cluster did not answer at all.
    ClusterUnreachable,
}

impl Code {
    /// Every code, for the docs and the metrics.
    pub const ALL: [Code; 18] = [
        Code::NotInjected,
        Code::ExcludedByWebhook,
        Code::LabelNotOnPodTemplate,
        Code::StaleInjection,
        Code::AnnotationDrift,
        Code::TrustDrift,
        Code::GsaRecreated,
        Code::GsaMissing,
        Code::GsaDisabled,
        Code::GsaUnreadable,
        Code::RoleMissing,
        Code::OidcProviderMissing,
        Code::TrustPolicyNearLimit,
        Code::OidcProviderQuota,
        Code::RoleUnused,
        Code::WebhookUnhealthy,
        Code::CannotRead,
        Code::ClusterUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotInjected => "NotInjected",
            Code::ExcludedByWebhook => "ExcludedByWebhook",
            Code::GsaRecreated => "GsaRecreated",
            Code::GsaMissing => "GsaMissing",
            Code::GsaDisabled => "GsaDisabled",
            Code::GsaUnreadable => "GsaUnreadable",
            Code::RoleUnused => "RoleUnused",
            Code::LabelNotOnPodTemplate => "LabelNotOnPodTemplate",
            Code::StaleInjection => "StaleInjection",
            Code::AnnotationDrift => "AnnotationDrift",
            Code::TrustDrift => "TrustDrift",
            Code::RoleMissing => "RoleMissing",
            Code::OidcProviderMissing => "OidcProviderMissing",
            Code::TrustPolicyNearLimit => "TrustPolicyNearLimit",
            Code::OidcProviderQuota => "OidcProviderQuota",
            Code::WebhookUnhealthy => "WebhookUnhealthy",
            Code::CannotRead => "CannotRead",
            Code::ClusterUnreachable => "ClusterUnreachable",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kubernetes object (or an AWS one: kind `IAMRole`, `OIDCProvider`, no namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    pub fn cluster_scoped(kind: &str, name: &str) -> Self {
        ObjectRef {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// One thing the audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    /// The object at fault.
    pub object: ObjectRef,
    /// The workload that owns it (through ownerReferences), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<ObjectRef>,
    /// What is wrong, with the values compared.
    pub message: String,
    /// The command (or the step) that fixes it.
    pub fix: String,
}

impl Finding {
    pub fn new(code: Code, severity: Severity, object: ObjectRef, message: String, fix: String) -> Self {
        Finding {
            code,
            severity,
            object,
            owner: None,
            message,
            fix,
        }
    }

    pub fn owned_by(mut self, owner: Option<ObjectRef>) -> Self {
        self.owner = owner;
        self
    }
}
