//! `LabelNotOnPodTemplate`: the opt-in label on a Deployment, StatefulSet, DaemonSet, Job or
//! CronJob itself, where the webhook never looks, but not on the pods it creates.

use gke_aws_webhook::mutate::INJECT_LABEL;

use super::{Context, fix};
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::snapshot::Kind;

pub fn check(context: &Context) -> Vec<Finding> {
    let kinds = [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
    ];
    let mut findings = Vec::new();
    for kind in kinds {
        for workload in context.snapshot.workloads.get(&kind).into_iter().flatten() {
            let meta = &workload.metadata;
            // A CronJob's Jobs inherit its template: the CronJob's finding covers them.
            let from_cronjob = kind == Kind::Job && meta.owner.as_ref().is_some_and(|o| o.kind == "CronJob");
            if from_cronjob || !context.mutated_namespace(&meta.namespace) {
                continue;
            }
            if workload.labelled() && !workload.template_labelled() {
                let where_ = if kind == Kind::CronJob {
                    "spec.jobTemplate.spec.template"
                } else {
                    "spec.template"
                };
                findings.push(Finding::new(
                    Code::LabelNotOnPodTemplate,
                    Severity::Error,
                    ObjectRef::namespaced(kind.as_str(), &meta.namespace, &meta.name),
                    format!(
                        "carries {INJECT_LABEL}=true on itself, not on its pod template ({where_}.metadata.labels): the webhook sees only pods, so its pods get no AWS credentials"
                    ),
                    fix::label_template(kind.as_str(), &meta.namespace, &meta.name),
                ));
            }
        }
    }
    findings
}
