//! The fix commands, one place: `kubectl` lines a person can paste as they are. Every argument
//! that comes from a peer (names, namespaces, annotation values) is shell-quoted, so pasting a
//! line runs `kubectl` and nothing else, whatever the API server or Terraform output said.

use gke_aws_webhook::mutate::INJECT_LABEL;

pub use crate::shell::sh;
use crate::snapshot::Owned;

/// What gives a pod a fresh admission: restart its workload, or recreate it.
pub fn readmit(namespace: &str, pod: &str, owned: &Owned) -> String {
    let (namespace, pod) = (sh(namespace), sh(pod));
    let Some(workload) = &owned.workload else {
        return format!(
            "kubectl delete pod {pod} --namespace {namespace}, then create it again from its manifest (a bare pod is never recreated)"
        );
    };
    match workload.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" => format!(
            "kubectl rollout restart {} --namespace {namespace}",
            sh(&format!("{}/{}", workload.kind.to_lowercase(), workload.name))
        ),
        "CronJob" => {
            let job = owned.direct.as_ref().map_or("JOB", |d| d.name.as_str());
            format!(
                "kubectl delete job {} --namespace {namespace} && kubectl create job {} {} --namespace {namespace}",
                sh(job),
                sh(&format!("{job}-readmitted")),
                sh(&format!("--from=cronjob/{}", workload.name))
            )
        }
        "Job" => format!(
            "kubectl delete job {} --namespace {namespace}, then apply its manifest again (a Job's pods are not restarted)",
            sh(&workload.name)
        ),
        // A ReplicaSet without a Deployment, or another controller: it recreates a deleted pod.
        _ => format!(
            "kubectl delete pod {pod} --namespace {namespace} (its {} recreates it)",
            workload.kind
        ),
    }
}

/// Puts the opt-in label on the pod template (which rolls the pods), per kind.
pub fn label_template(kind: &str, namespace: &str, name: &str) -> String {
    let (namespace, name) = (sh(namespace), sh(name));
    let label = format!("{{\"metadata\":{{\"labels\":{{\"{INJECT_LABEL}\":\"true\"}}}}}}");
    match kind {
        "CronJob" => format!(
            "kubectl patch cronjob {name} --namespace {namespace} --type merge -p '{{\"spec\":{{\"jobTemplate\":{{\"spec\":{{\"template\":{label}}}}}}}}}' (and in its manifest, or the next apply undoes it)"
        ),
        "Job" => format!(
            "kubectl delete job {name} --namespace {namespace}, then apply it again with {INJECT_LABEL}: \"true\" under spec.template.metadata.labels (a Job's pod template cannot change)"
        ),
        _ => format!(
            "kubectl patch {} {name} --namespace {namespace} --type merge -p '{{\"spec\":{{\"template\":{label}}}}}' (and in its manifest, or the next apply undoes it)",
            sh(&kind.to_lowercase())
        ),
    }
}

/// Creates a KSA that does not exist, then annotates it.
pub fn create_service_account(namespace: &str, ksa: &str, annotations: &[(String, Option<String>)]) -> String {
    format!(
        "kubectl create serviceaccount {} --namespace {} && {}",
        sh(ksa),
        sh(namespace),
        annotate(namespace, ksa, annotations)
    )
}

/// `kubectl annotate` of a KSA: `Some(value)` sets, `None` removes.
pub fn annotate(namespace: &str, ksa: &str, changes: &[(String, Option<String>)]) -> String {
    let mut line = format!(
        "kubectl annotate serviceaccount {} --namespace {} --overwrite",
        sh(ksa),
        sh(namespace)
    );
    for (key, value) in changes {
        let change = match value {
            Some(v) => format!("{key}={v}"),
            None => format!("{key}-"),
        };
        line.push(' ');
        line.push_str(&sh(&change));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annotation_value_with_shell_syntax_is_one_word() {
        let line = annotate(
            "team",
            "reader",
            &[("eks.amazonaws.com/role-arn".to_owned(), Some("x $(reboot)".to_owned()))],
        );
        assert_eq!(
            line,
            "kubectl annotate serviceaccount reader --namespace team --overwrite 'eks.amazonaws.com/role-arn=x $(reboot)'"
        );
    }

    #[test]
    fn every_word_of_creating_a_ksa_is_quoted() {
        let line = create_service_account("team;id", "r x", &[("k".to_owned(), Some("v".to_owned()))]);
        assert_eq!(
            line,
            "kubectl create serviceaccount 'r x' --namespace 'team;id' && kubectl annotate serviceaccount 'r x' --namespace 'team;id' --overwrite k=v"
        );
    }
}
