//! The fix commands, one place: `kubectl` lines a person can paste as they are.

use gke_aws_webhook::mutate::INJECT_LABEL;

use crate::snapshot::Owned;

/// What gives a pod a fresh admission: restart its workload, or recreate it.
pub fn readmit(namespace: &str, pod: &str, owned: &Owned) -> String {
    let Some(workload) = &owned.workload else {
        return format!(
            "kubectl delete pod {pod} --namespace {namespace}, then create it again from its manifest (a bare pod is never recreated)"
        );
    };
    match workload.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" => format!(
            "kubectl rollout restart {}/{} --namespace {namespace}",
            workload.kind.to_lowercase(),
            workload.name
        ),
        "CronJob" => {
            let job = owned.direct.as_ref().map_or("JOB", |d| d.name.as_str());
            format!(
                "kubectl delete job {job} --namespace {namespace} && kubectl create job {job}-readmitted --from=cronjob/{} --namespace {namespace}",
                workload.name
            )
        }
        "Job" => format!(
            "kubectl delete job {} --namespace {namespace}, then apply its manifest again (a Job's pods are not restarted)",
            workload.name
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
            kind.to_lowercase()
        ),
    }
}

/// `kubectl annotate` of a KSA: `Some(value)` sets, `None` removes.
pub fn annotate(namespace: &str, ksa: &str, changes: &[(String, Option<String>)]) -> String {
    let mut line = format!("kubectl annotate serviceaccount {ksa} --namespace {namespace} --overwrite");
    for (key, value) in changes {
        match value {
            Some(v) => line.push_str(&format!(" {key}={v}")),
            None => line.push_str(&format!(" {key}-")),
        }
    }
    line
}
