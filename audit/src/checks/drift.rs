//! `AnnotationDrift`: a KSA whose annotations disagree with Terraform's workload (role ARN,
//! named roles, GSA, identity mode, region, audience), or a workload whose KSA does not exist.
//! Terraform is the reference: the fix makes the KSA say what Terraform says.

use gke_aws_webhook::mutate::{AUDIENCE, DEFAULT_AUDIENCE, GSA, IDENTITY, REGION, ROLE_ARN};

use super::{Context, fix};
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::objects::{Mode, NAMED_REGION_PREFIX, NAMED_ROLE_PREFIX, ServiceAccount};
use crate::terraform::Workload;

pub fn check(context: &Context, workloads: &[Workload]) -> Vec<Finding> {
    let in_scope = |w: &&Workload| context.scope.namespace.as_ref().is_none_or(|ns| *ns == w.namespace);
    let mut findings = Vec::new();
    for w in workloads.iter().filter(in_scope) {
        let object = ObjectRef::namespaced("ServiceAccount", &w.namespace, &w.ksa);
        let expected = expected(w);
        match context.service_account(&w.namespace, &w.ksa) {
            None => {
                let set: Vec<(String, Option<String>)> = expected
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), Some(v))))
                    .collect();
                findings.push(Finding::new(
                    Code::AnnotationDrift,
                    Severity::Error,
                    object,
                    format!(
                        "Terraform's workload {:?} names KSA {}/{}, which does not exist: its pods cannot start",
                        w.name, w.namespace, w.ksa
                    ),
                    fix::create_service_account(&w.namespace, &w.ksa, &set),
                ));
            }
            Some(ksa) => {
                let mut changes = differences(ksa, &expected);
                changes.extend(optional_differences(ksa, w));
                if changes.is_empty() {
                    continue;
                }
                let said: Vec<String> = changes
                    .iter()
                    .map(|(key, want)| {
                        let now = ksa.annotation(key).unwrap_or("(none)");
                        let want = want.as_deref().unwrap_or("(none)");
                        format!("{key} is {now}, Terraform says {want}")
                    })
                    .collect();
                findings.push(Finding::new(
                    Code::AnnotationDrift,
                    Severity::Error,
                    object,
                    format!("disagrees with Terraform's workload {:?}: {}", w.name, said.join("; ")),
                    fix::annotate(&w.namespace, &w.ksa, &changes),
                ));
            }
        }
    }
    findings
}

/// Each annotation Terraform decides, with its value (`None`: must be absent). Region and
/// audience are only compared where the KSA sets them (absent, the webhook's defaults apply).
fn expected(w: &Workload) -> Vec<(String, Option<String>)> {
    let mut expected = vec![(ROLE_ARN.to_owned(), Some(w.role_arn.to_string()))];
    match w.mode {
        Mode::Gsa => {
            if let Some(gsa) = &w.gsa_email {
                expected.push((GSA.to_owned(), Some(gsa.clone())));
            }
        }
        Mode::Cluster => expected.push((IDENTITY.to_owned(), Some(Mode::Cluster.as_annotation().to_owned()))),
    }
    for (name, role) in &w.roles {
        expected.push((format!("{NAMED_ROLE_PREFIX}{name}"), Some(role.role_arn.to_string())));
    }
    expected
}

fn differences(ksa: &ServiceAccount, expected: &[(String, Option<String>)]) -> Vec<(String, Option<String>)> {
    let mut changes: Vec<(String, Option<String>)> = expected
        .iter()
        .filter(|(key, want)| ksa.annotation(key) != want.as_deref())
        .cloned()
        .collect();
    // GSA mode: `gke-aws-verifier/identity` absent, `gsa` or `gke`; anything else is drift.
    let wants_cluster = expected.iter().any(|(k, _)| k == IDENTITY);
    if !wants_cluster
        && ksa
            .annotation(IDENTITY)
            .is_some_and(|v| Mode::from_annotation(Some(v)) != Some(Mode::Gsa))
    {
        changes.push((IDENTITY.to_owned(), None));
    }
    // Named roles Terraform does not have.
    for name in ksa.named_roles().keys() {
        let key = format!("{NAMED_ROLE_PREFIX}{name}");
        if !expected.iter().any(|(k, _)| *k == key) {
            changes.push((key, None));
        }
    }
    changes
}

/// Region and audience: only where the KSA sets them, and then they must match.
fn optional_differences(ksa: &ServiceAccount, w: &Workload) -> Vec<(String, Option<String>)> {
    let mut changes = Vec::new();
    if let (Some(now), Some(want)) = (ksa.annotation(REGION), &w.region)
        && now != want
    {
        changes.push((REGION.to_owned(), Some(want.clone())));
    }
    for (name, role) in &w.roles {
        let key = format!("{NAMED_REGION_PREFIX}{name}");
        if let (Some(now), Some(want)) = (ksa.annotation(&key), &role.region)
            && now != want
        {
            changes.push((key, Some(want.clone())));
        }
    }
    let audience = ksa.annotation(AUDIENCE).unwrap_or(DEFAULT_AUDIENCE);
    if audience != w.audience {
        changes.push((AUDIENCE.to_owned(), Some(w.audience.clone())));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ksa_with_identity(word: &str) -> ServiceAccount {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "reader", "namespace": "payments", "annotations": { IDENTITY: word } }
        }))
        .unwrap()
    }

    /// A GSA-mode workload whose KSA says `gsa` or its alias `gke` has not drifted; any other
    /// word has (the webhook would deny it).
    #[test]
    fn gsa_and_gke_are_gsa_mode_and_other_words_drift() {
        for word in ["gsa", "gke"] {
            assert_eq!(differences(&ksa_with_identity(word), &[]), vec![], "{word}");
        }
        assert_eq!(
            differences(&ksa_with_identity("metadata"), &[]),
            vec![(IDENTITY.to_owned(), None)]
        );
    }
}
