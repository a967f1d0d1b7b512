//! Every Kubernetes-side finding, in both identity modes, and a clean cluster that has none.

use testkit::kube_cluster::objects::{self, Injected};

use crate::helpers::{
    MODES, Mode, OWN_ROLE, audit_json, clean_cluster, named_role, named_roles_fixture, terraform_fixture, with_own_role,
};

#[tokio::test]
async fn a_clean_cluster_gives_no_finding_and_exit_0() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let dir = tempfile::tempdir().unwrap();
        let tf = terraform_fixture();
        let run = audit_json(&cluster, dir.path(), &["--terraform-output", tf.to_str().unwrap()]).await;
        assert_eq!(run.code, 0, "{mode:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.findings().is_empty(), "{mode:?}: {}", run.stdout);
        assert_eq!(run.json()["clusters"][0]["cluster"], "stand-in");
    }
}

#[tokio::test]
async fn a_pod_the_webhook_missed_is_not_injected_and_its_owner_is_restarted() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        cluster.add(objects::pod(
            "payments",
            "api-7d9f-x2",
            mode.ksa(),
            true,
            Some(("ReplicaSet", "api-7d9f")),
            &Injected::No,
        ));
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        assert_eq!(run.code, 6, "{mode:?}: {}", run.stdout);
        let found = run.with_code("NotInjected");
        assert_eq!(found.len(), 1, "{mode:?}: {}", run.stdout);
        let f = &found[0];
        assert_eq!(f["severity"], "error");
        assert_eq!(
            f["object"],
            serde_json::json!({ "kind": "Pod", "namespace": "payments", "name": "api-7d9f-x2" })
        );
        assert_eq!(
            f["owner"],
            serde_json::json!({ "kind": "Deployment", "namespace": "payments", "name": "api" })
        );
        assert_eq!(f["fix"], "kubectl rollout restart deployment/api --namespace payments");
        assert_eq!(run.codes(), vec!["NotInjected"], "{mode:?}: only that one");
    }
}

#[tokio::test]
async fn each_owner_gets_its_own_fix_for_a_pod_that_missed_injection() {
    let cluster = clean_cluster(Mode::Gsa).await;
    let ksa = Mode::Gsa.ksa();
    cluster.add(objects::workload("StatefulSet", "payments", "db", false, true, None));
    cluster.add(objects::pod(
        "payments",
        "db-0",
        ksa,
        true,
        Some(("StatefulSet", "db")),
        &Injected::No,
    ));
    cluster.add(objects::cronjob("payments", "nightly", false, true));
    cluster.add(objects::workload(
        "Job",
        "payments",
        "nightly-2901",
        false,
        true,
        Some(("CronJob", "nightly")),
    ));
    cluster.add(objects::pod(
        "payments",
        "nightly-2901-abc",
        ksa,
        true,
        Some(("Job", "nightly-2901")),
        &Injected::No,
    ));
    cluster.add(objects::pod("payments", "bare", ksa, true, None, &Injected::No));
    // Never mutated, whatever their labels say: not findings.
    cluster.add(objects::pod("kube-system", "dns", "default", true, None, &Injected::No));
    cluster.add(objects::pod(
        "gke-aws-webhook",
        "webhook-1",
        "gke-aws-webhook",
        true,
        None,
        &Injected::No,
    ));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let fix_of = |pod: &str| {
        let f = run
            .with_code("NotInjected")
            .into_iter()
            .find(|f| f["object"]["name"] == pod)
            .unwrap_or_else(|| panic!("{pod}: {}", run.stdout));
        (
            f["owner"]["kind"].as_str().unwrap_or("-").to_owned(),
            f["fix"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        fix_of("db-0"),
        (
            "StatefulSet".into(),
            "kubectl rollout restart statefulset/db --namespace payments".into()
        )
    );
    assert_eq!(
        fix_of("nightly-2901-abc"),
        ("CronJob".into(), "kubectl delete job nightly-2901 --namespace payments && kubectl create job nightly-2901-readmitted --from=cronjob/nightly --namespace payments".into())
    );
    let (owner, fix) = fix_of("bare");
    assert_eq!(owner, "-");
    assert!(fix.starts_with("kubectl delete pod bare --namespace payments"), "{fix}");
    assert_eq!(run.with_code("NotInjected").len(), 3, "{}", run.stdout);
}

#[tokio::test]
async fn the_label_on_the_workload_instead_of_its_pod_template_is_found_for_each_kind() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        cluster.add(objects::workload(
            "Deployment",
            "payments",
            "wrong-deploy",
            true,
            false,
            None,
        ));
        cluster.add(objects::workload(
            "StatefulSet",
            "payments",
            "wrong-sts",
            true,
            false,
            None,
        ));
        cluster.add(objects::workload(
            "DaemonSet",
            "payments",
            "wrong-ds",
            true,
            false,
            None,
        ));
        cluster.add(objects::workload("Job", "payments", "wrong-job", true, false, None));
        cluster.add(objects::cronjob("payments", "wrong-cron", true, false));
        // Right: on both, or only on the template.
        cluster.add(objects::workload("Deployment", "payments", "right", true, true, None));
        cluster.add(objects::cronjob("payments", "right-cron", false, true));
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        let mut found: Vec<String> = run
            .with_code("LabelNotOnPodTemplate")
            .iter()
            .map(|f| {
                format!(
                    "{}/{}",
                    f["object"]["kind"].as_str().unwrap(),
                    f["object"]["name"].as_str().unwrap()
                )
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "CronJob/wrong-cron",
                "DaemonSet/wrong-ds",
                "Deployment/wrong-deploy",
                "Job/wrong-job",
                "StatefulSet/wrong-sts"
            ],
            "{mode:?}: {}",
            run.stdout
        );
        let deploy = run
            .with_code("LabelNotOnPodTemplate")
            .into_iter()
            .find(|f| f["object"]["name"] == "wrong-deploy")
            .unwrap();
        assert!(
            deploy["fix"].as_str().unwrap().starts_with(
                r#"kubectl patch deployment wrong-deploy --namespace payments --type merge -p '{"spec":{"template":{"metadata":{"labels":{"gke-aws-verifier/inject":"true"}}}}}'"#
            ),
            "{}",
            deploy["fix"]
        );
        let cron = run
            .with_code("LabelNotOnPodTemplate")
            .into_iter()
            .find(|f| f["object"]["name"] == "wrong-cron")
            .unwrap();
        assert!(
            cron["fix"]
                .as_str()
                .unwrap()
                .contains(r#"{"spec":{"jobTemplate":{"spec":{"template":{"metadata""#),
            "{}",
            cron["fix"]
        );
        assert_eq!(run.code, 6);
    }
}

#[tokio::test]
async fn a_pod_injected_with_what_its_ksa_no_longer_says_is_stale() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        // The KSA was re-annotated with another role (and a region) after the pod started.
        let mut annotations = mode.annotations();
        annotations[0].1 = "arn:aws:iam::123456789012:role/new-role";
        annotations.push(("amazonaws.com/region", "eu-west-1"));
        cluster.add(objects::service_account("payments", mode.ksa(), &annotations));
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        let stale = run.with_code("StaleInjection");
        assert_eq!(stale.len(), 1, "{mode:?}: {}", run.stdout);
        let message = stale[0]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "role {} (the KSA now says arn:aws:iam::123456789012:role/new-role)",
                mode.role()
            )),
            "{message}"
        );
        assert_eq!(stale[0]["severity"], "warning");
        assert_eq!(stale[0]["owner"]["name"], "api");
        assert_eq!(
            stale[0]["fix"],
            "kubectl rollout restart deployment/api --namespace payments"
        );
    }
}

#[tokio::test]
async fn pods_that_do_not_opt_in_are_never_judged_stale() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        // An application that sets its own role, on a KSA that names another.
        let own = objects::pod("payments", "own-role", mode.ksa(), false, None, &Injected::No);
        cluster.add(with_own_role(own, OWN_ROLE));
        // A copy of an injected pod's manifest without the label: the webhook never admitted it.
        cluster.add(objects::pod(
            "payments",
            "copied",
            mode.ksa(),
            false,
            None,
            &mode.injected_with(OWN_ROLE),
        ));
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        assert!(run.findings().is_empty(), "{mode:?}: {}", run.stdout);
        assert_eq!(run.code, 0, "{mode:?}: {}", run.stdout);
    }
}

#[tokio::test]
async fn only_the_webhooks_token_volume_and_the_containers_that_mount_it_are_the_injection() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let owner = Some(("ReplicaSet", "api-7d9f"));
        // Labelled, but without the token volume: the role is the application's own, the
        // webhook never mutated the pod.
        let own = objects::pod("payments", "own-role", mode.ksa(), true, owner, &Injected::No);
        cluster.add(with_own_role(own, OWN_ROLE));
        // Injected, beside a container that keeps its own role (the webhook leaves it alone and
        // gives it no mount): the injection is what the KSA says, not stale.
        let mut mixed = objects::pod("payments", "api-7d9f-x3", mode.ksa(), true, owner, &mode.injected());
        mixed["spec"]["containers"].as_array_mut().unwrap().insert(
            0,
            serde_json::json!({ "name": "own", "image": "registry.example/own:1",
                "env": [{ "name": "AWS_ROLE_ARN", "value": OWN_ROLE }] }),
        );
        cluster.add(mixed);
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        assert_eq!(run.codes(), ["NotInjected"], "{mode:?}: {}", run.stdout);
        let found = &run.with_code("NotInjected")[0];
        assert_eq!(found["object"]["name"], "own-role");
        assert_eq!(
            found["fix"],
            "kubectl rollout restart deployment/api --namespace payments"
        );
    }
}

#[tokio::test]
async fn a_pod_injected_in_one_identity_mode_whose_ksa_switched_is_stale() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let switched: Vec<(&str, &str)> = match mode {
            Mode::Gsa => vec![
                ("amazonaws.com/role-arn", mode.role()),
                ("gke-aws-verifier/identity", "cluster"),
            ],
            Mode::Cluster => vec![("amazonaws.com/role-arn", mode.role())],
        };
        cluster.add(objects::service_account("payments", mode.ksa(), &switched));
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        let stale = run.with_code("StaleInjection");
        assert_eq!(stale.len(), 1, "{mode:?}: {}", run.stdout);
        let want = match mode {
            Mode::Gsa => "identity mode gsa (the KSA now says cluster)",
            Mode::Cluster => "identity mode cluster (the KSA now says gsa)",
        };
        assert!(
            stale[0]["message"].as_str().unwrap().contains(want),
            "{}",
            stale[0]["message"]
        );
    }
}

#[tokio::test]
async fn a_ksa_edited_by_hand_drifts_from_terraform() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let mut annotations = mode.annotations();
        annotations[0].1 = "arn:aws:iam::123456789012:role/by-hand";
        cluster.add(objects::service_account("payments", mode.ksa(), &annotations));
        let dir = tempfile::tempdir().unwrap();
        let tf = terraform_fixture();
        let run = audit_json(&cluster, dir.path(), &["--terraform-output", tf.to_str().unwrap()]).await;
        let drift = run.with_code("AnnotationDrift");
        assert_eq!(drift.len(), 1, "{mode:?}: {}", run.stdout);
        assert_eq!(drift[0]["object"]["name"], mode.ksa());
        assert!(
            drift[0]["message"].as_str().unwrap().contains(&format!(
                "amazonaws.com/role-arn is arn:aws:iam::123456789012:role/by-hand, Terraform says {}",
                mode.role()
            )),
            "{}",
            drift[0]["message"]
        );
        assert_eq!(
            drift[0]["fix"],
            format!(
                "kubectl annotate serviceaccount {} --namespace payments --overwrite amazonaws.com/role-arn={}",
                mode.ksa(),
                mode.role()
            )
        );
        // The pod still carries the role the KSA had: stale as well.
        assert_eq!(run.with_code("StaleInjection").len(), 1, "{}", run.stdout);
    }
}

#[tokio::test]
async fn a_ksa_that_lost_its_gsa_or_its_mode_drifts_and_a_missing_ksa_is_found() {
    let cluster = clean_cluster(Mode::Gsa).await;
    // GSA mode: the GSA annotation names another account; cluster mode: the mode annotation is gone.
    cluster.add(objects::service_account(
        "payments",
        "reports-reader",
        &[
            ("amazonaws.com/role-arn", Mode::Gsa.role()),
            (
                "iam.gke.io/gcp-service-account",
                "someone-else@example-project.iam.gserviceaccount.com",
            ),
        ],
    ));
    cluster.add(objects::service_account(
        "payments",
        "ledger",
        &[("amazonaws.com/role-arn", Mode::Cluster.role())],
    ));
    cluster.remove("ServiceAccount", "gke-aws-verifier", "gke-aws-verifier");
    let dir = tempfile::tempdir().unwrap();
    let tf = terraform_fixture();
    let run = audit_json(&cluster, dir.path(), &["--terraform-output", tf.to_str().unwrap()]).await;
    let drift = |ksa: &str| {
        run.with_code("AnnotationDrift")
            .into_iter()
            .find(|f| f["object"]["name"] == ksa)
            .unwrap_or_else(|| panic!("{ksa}: {}", run.stdout))
    };
    assert!(drift("reports-reader")["fix"].as_str().unwrap().ends_with(
        "--overwrite iam.gke.io/gcp-service-account=reports-reader@example-project.iam.gserviceaccount.com"
    ));
    assert!(
        drift("ledger")["fix"]
            .as_str()
            .unwrap()
            .ends_with("--overwrite gke-aws-verifier/identity=cluster")
    );
    let missing = drift("gke-aws-verifier");
    assert!(
        missing["message"].as_str().unwrap().contains("does not exist"),
        "{}",
        missing["message"]
    );
    assert!(missing["fix"].as_str().unwrap().starts_with(
        "kubectl create serviceaccount gke-aws-verifier --namespace gke-aws-verifier && kubectl annotate serviceaccount gke-aws-verifier"
    ));
    assert_eq!(run.with_code("AnnotationDrift").len(), 3, "{}", run.stdout);
}

#[tokio::test]
async fn named_roles_of_terraform_are_compared_with_the_ksa() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let mut annotations = mode.annotations();
        annotations.push((
            "gke-aws-verifier/role.writer",
            "arn:aws:iam::123456789012:role/old-writer",
        ));
        annotations.push(("gke-aws-verifier/role.gone", "arn:aws:iam::123456789012:role/gone"));
        cluster.add(objects::service_account("payments", mode.ksa(), &annotations));
        let dir = tempfile::tempdir().unwrap();
        let output = named_roles_output(mode);
        let path = dir.path().join("outputs.json");
        std::fs::write(&path, output.to_string()).unwrap();
        let run = audit_json(&cluster, dir.path(), &["--terraform-output", path.to_str().unwrap()]).await;
        let drift = run.with_code("AnnotationDrift");
        assert_eq!(drift.len(), 1, "{mode:?}: {}", run.stdout);
        assert_eq!(
            drift[0]["fix"],
            format!(
                "kubectl annotate serviceaccount {} --namespace payments --overwrite gke-aws-verifier/role.writer=arn:aws:iam::123456789012:role/writer gke-aws-verifier/role.gone-",
                mode.ksa()
            )
        );
    }
}

/// The whole `terraform output -json` object, one workload with a named role.
fn named_roles_output(mode: Mode) -> serde_json::Value {
    let mut workload = serde_json::json!({
        "namespace": "payments", "ksa": mode.ksa(), "role_arn": mode.role(), "audience": "sts.amazonaws.com",
        "aws_region": "eu-west-1",
        "roles": { "writer": { "role_arn": "arn:aws:iam::123456789012:role/writer", "s3_buckets": ["w"], "access": "read" } }
    });
    match mode {
        Mode::Gsa => {
            workload["identity"] = "gsa".into();
            workload["gsa_email"] = crate::helpers::GSA_EMAIL.into();
            workload["gsa_unique_id"] = "112233445566778899002".into();
        }
        Mode::Cluster => {
            workload["identity"] = "cluster".into();
            workload["issuer_url"] =
                "https://container.googleapis.com/v1/projects/example-project/locations/europe-west2/clusters/example"
                    .into();
        }
    }
    serde_json::json!({ "workloads": { "sensitive": false, "type": "object", "value": { "w": workload } } })
}

/// How a case breaks the cluster's webhook.
type Breaks = fn(&testkit::kube_cluster::KubeCluster);

#[tokio::test]
async fn an_unhealthy_webhook_is_found_for_each_cause() {
    let cases: [(&str, Breaks, &str); 4] = [
        (
            "no configuration",
            |c| c.remove("MutatingWebhookConfiguration", "", "gke-aws-webhook"),
            "no MutatingWebhookConfiguration",
        ),
        (
            "empty caBundle",
            |c| c.add(objects::webhook_configuration("gke-aws-webhook", false, "Fail")),
            "empty caBundle",
        ),
        (
            "fails open",
            |c| c.add(objects::webhook_configuration("gke-aws-webhook", true, "Ignore")),
            "failurePolicy Ignore",
        ),
        (
            "no ready endpoint",
            |c| c.add(objects::endpoint_slice("gke-aws-webhook", "gke-aws-webhook", 0)),
            "no ready endpoint",
        ),
    ];
    for mode in MODES {
        for (case, break_it, said) in cases {
            let cluster = clean_cluster(mode).await;
            break_it(&cluster);
            let dir = tempfile::tempdir().unwrap();
            let run = audit_json(&cluster, dir.path(), &[]).await;
            let found = run.with_code("WebhookUnhealthy");
            assert_eq!(found.len(), 1, "{mode:?} {case}: {}", run.stdout);
            assert!(
                found[0]["message"].as_str().unwrap().contains(said),
                "{case}: {}",
                found[0]["message"]
            );
            assert_eq!(found[0]["object"]["kind"], "MutatingWebhookConfiguration");
            assert_eq!(run.code, 6);
        }
    }
    // Without endpoints at all (the Service has no EndpointSlice), the same; another
    // Service's ready slice in the namespace does not count.
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.remove("EndpointSlice", "gke-aws-webhook", "gke-aws-webhook-x7k2p");
    cluster.add(objects::endpoint_slice("gke-aws-webhook", "metrics", 3));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    assert_eq!(run.codes(), vec!["WebhookUnhealthy"], "{}", run.stdout);
}

#[tokio::test]
async fn a_missing_guard_is_an_unhealthy_webhook() {
    let guard = "gke-aws-verifier-inject-guard";
    for (case, missing) in [
        ("no policy", &["ValidatingAdmissionPolicy"][..]),
        ("no binding", &["ValidatingAdmissionPolicyBinding"][..]),
        (
            "neither",
            &["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"][..],
        ),
    ] {
        let cluster = clean_cluster(Mode::Gsa).await;
        for kind in missing {
            cluster.remove(kind, "", guard);
        }
        let dir = tempfile::tempdir().unwrap();
        let run = audit_json(&cluster, dir.path(), &[]).await;
        assert_eq!(run.codes(), vec!["WebhookUnhealthy"], "{case}: {}", run.stdout);
        let found = &run.with_code("WebhookUnhealthy")[0];
        assert_eq!(found["object"]["kind"], "ValidatingAdmissionPolicy", "{case}");
        assert_eq!(found["object"]["name"], guard, "{case}");
        assert_eq!(found["severity"], "warning", "{case}");
        let message = found["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("the guard is missing ({} {guard})", missing.join(" and "))),
            "{case}: {message}"
        );
        assert!(found["fix"].as_str().unwrap().contains("make webhook-deploy"), "{case}");
    }
    // RBAC refuses the read: CannotRead with the grant, no guess about the guard.
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.forbid("validatingadmissionpolicies");
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    assert_eq!(run.codes(), vec!["CannotRead"], "{}", run.stdout);
    let fix = run.with_code("CannotRead")[0]["fix"].as_str().unwrap().to_owned();
    assert!(
        fix.contains(&format!(
            "grant get on validatingadmissionpolicies.admissionregistration.k8s.io named {guard}"
        )),
        "{fix}"
    );
    // A cluster that uses no injection needs no guard either.
    let cluster = testkit::kube_cluster::KubeCluster::start().await;
    cluster.add(objects::pod("payments", "plain", "default", false, None, &Injected::No));
    let run = audit_json(&cluster, dir.path(), &[]).await;
    assert!(run.findings().is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn a_cluster_without_injection_needs_no_webhook() {
    let cluster = testkit::kube_cluster::KubeCluster::start().await;
    cluster.add(objects::pod("payments", "plain", "default", false, None, &Injected::No));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.findings().is_empty());
}

#[tokio::test]
async fn the_named_roles_shape_of_terraform_is_read_too() {
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let tf = named_roles_fixture();
        let dir = tempfile::tempdir().unwrap();
        // Without the named-role annotations on the KSAs: each payments KSA drifts.
        let run = audit_json(&cluster, dir.path(), &["--terraform-output", tf.to_str().unwrap()]).await;
        let drift = run.with_code("AnnotationDrift");
        assert_eq!(drift.len(), 2, "{mode:?}: {}", run.stdout);
        let (key, arn) = named_role(mode);
        let this = drift.iter().find(|f| f["object"]["name"] == mode.ksa()).unwrap();
        assert!(
            this["fix"]
                .as_str()
                .unwrap()
                .ends_with(&format!("--overwrite {key}={arn}")),
            "{}",
            this["fix"]
        );
        // Annotated as Terraform says: clean.
        for m in MODES {
            let mut annotations = m.annotations();
            annotations.push(named_role(m));
            cluster.add(objects::service_account("payments", m.ksa(), &annotations));
        }
        let run = audit_json(&cluster, dir.path(), &["--terraform-output", tf.to_str().unwrap()]).await;
        // No drift; the pod admitted before the named roles lacks them: stale, not drift.
        assert_eq!(run.codes(), ["StaleInjection"], "{mode:?}: {}", run.stdout);
        let stale = &run.with_code("StaleInjection")[0];
        assert!(
            stale["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("injected with no named roles (the KSA now has {key})")),
            "{stale}"
        );
    }
}
