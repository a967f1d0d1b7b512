//! The webhook over real HTTPS, as the API server calls it, against the Kubernetes API
//! stand-in: one test per rule, the cache's failure modes, metrics, certificate rotation,
//! and the patched pods validated by kubernetes-validate --strict.

use crate::common::{ARN, GSA, Webhook, env_value, guard, patched, pod};
use serde_json::json;
use testkit::kube_api::KubeApi;

/// The stand-in with the KSAs the tests use, and a webhook that has synced with it.
async fn started() -> (KubeApi, Webhook) {
    let api = KubeApi::start().await;
    api.add_service_account(
        "team",
        "reader",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    api.add_service_account("team", "no-role", &[("iam.gke.io/gcp-service-account", GSA)]);
    api.add_service_account("team", "no-gsa", &[("amazonaws.com/role-arn", ARN)]);
    api.add_service_account(
        "team",
        "cluster",
        &[
            ("amazonaws.com/role-arn", ARN),
            ("gke-aws-verifier/identity", "cluster"),
        ],
    );
    api.add_service_account("gke-aws-webhook", "reader", &[("amazonaws.com/role-arn", ARN)]);
    api.add_service_account("kube-system", "reader", &[("amazonaws.com/role-arn", ARN)]);
    let webhook = Webhook::start(&api.url(), &[]).await;
    webhook.wait_synced().await;
    (api, webhook)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_in_pod_gets_the_sidecar_volume_and_env() {
    let (api, webhook) = started().await;
    let pod = pod("reports-1", "reader");
    let response = webhook.admit("team", &pod).await;
    assert_eq!(response.get("warnings"), None, "{response}");
    let p = patched(&pod, &response);
    let inits: Vec<&str> = p["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(inits, ["gke-aws-token-init", "gke-aws-token", "migrate"]);
    assert_eq!(p["spec"]["initContainers"][1]["restartPolicy"], "Always");
    assert_eq!(p["spec"]["initContainers"][1]["image"], crate::common::IMAGE);
    for c in [&p["spec"]["containers"][0], &p["spec"]["initContainers"][2]] {
        assert_eq!(env_value(c, "AWS_ROLE_ARN"), Some(json!(ARN)));
        assert_eq!(env_value(c, "AWS_REGION"), Some(json!("us-east-1")), "--default-region");
        assert_eq!(env_value(c, "AWS_ROLE_SESSION_NAME"), Some(json!("reports-1")));
        assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    }
    assert_eq!(api.gets(), 0, "a synced cache needs no direct lookup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_admits_every_pod_the_webhook_admits_and_refuses_the_pod_it_never_saw() {
    let (_api, webhook) = started().await;
    // Pods given nothing are admitted with the marker too: the webhook decided on them.
    let mut every_none = pod("every-none", "reader");
    every_none["metadata"]["annotations"] = json!({
        "gke-aws-verifier/profile.app": "none", "gke-aws-verifier/profile.migrate": "none" });
    let mut all_skipped = pod("all-skipped", "reader");
    all_skipped["metadata"]["annotations"] = json!({ "gke-aws-verifier/skip-containers": "app,migrate" });
    let mut generated = pod("", "cluster");
    generated["metadata"] = json!({ "generateName": "reports-", "labels": { "gke-aws-verifier/inject": "true" },
                                    "annotations": { "team": "reports" } });
    let mut admitted = Vec::new();
    for p in [pod("plain", "reader"), every_none, all_skipped, generated] {
        // `patched` asserts the marker and the guard's "admitted".
        admitted.push(patched(&p, &webhook.admit("team", &p).await));
    }
    // The reinvocation of an admitted pod adds nothing, and the pod stays admitted.
    let again = webhook.admit("team", &admitted[0]).await;
    assert_eq!(again["allowed"], true, "{again}");
    assert_eq!(again.get("patch"), None, "{again}");
    // The same pods as the webhook never saw them (its configuration deleted or Ignore), and
    // an admitted pod whose marker was taken off: refused.
    let mut unmarked = admitted[0].clone();
    unmarked["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("gke-aws-verifier/admitted-by");
    let never_saw = [pod("plain", "reader"), unmarked];
    assert_eq!(guard(&never_saw), ["refused", "refused"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_over_https() {
    let (api, webhook) = started().await;
    // Not ours: answered allowed, without a patch.
    let mut unlabelled = pod("plain", "reader");
    unlabelled["metadata"]["labels"] = json!({});
    for (case, namespace, p) in [
        ("no opt-in label", "team", unlabelled),
        ("the webhook's own namespace", "gke-aws-webhook", pod("own", "reader")),
        ("kube-system", "kube-system", pod("sys", "reader")),
    ] {
        let response = webhook.admit(namespace, &p).await;
        assert_eq!(response["allowed"], true, "{case}: {response}");
        assert_eq!(response.get("patch"), None, "{case}: {response}");
    }
    // Denials name the namespace, the KSA, the annotation and the command.
    for (case, ksa, expected) in [
        (
            "KSA missing",
            "ghost",
            "kubectl create serviceaccount ghost --namespace team",
        ),
        (
            "no role ARN",
            "no-role",
            "kubectl annotate serviceaccount no-role --namespace team amazonaws.com/role-arn=",
        ),
    ] {
        let response = webhook.admit("team", &pod("denied", ksa)).await;
        assert_eq!(response["allowed"], false, "{case}: {response}");
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{case}: {message}");
        assert!(
            message.contains("\"team\"") && message.contains(&format!("\"{ksa}\"")),
            "{case}: {message}"
        );
    }
    // Warnings for what fails at run time.
    let response = webhook.admit("team", &pod("risky", "no-gsa")).await;
    let warnings = response["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].as_str().unwrap().contains("iam.gke.io/gcp-service-account"));
    // Refusals for what cannot run: Windows and hostNetwork in GSA mode; a KSA name that is
    // no name is refused before any lookup.
    let mut windows = pod("windows", "reader");
    windows["spec"]["nodeSelector"] = json!({ "kubernetes.io/os": "windows" });
    let mut host = pod("host", "reader");
    host["spec"]["hostNetwork"] = json!(true);
    let traversal = pod("traversal", "../../prod/serviceaccounts/deployer");
    for (case, p, words) in [
        ("windows", windows, "Linux-only"),
        ("hostNetwork", host, "hostNetwork"),
        ("serviceAccountName", traversal, "no ServiceAccount name"),
    ] {
        let gets = api.gets();
        let response = webhook.admit("team", &p).await;
        if case == "serviceAccountName" {
            assert_eq!(api.gets(), gets, "no lookup for a name that is no name");
        }
        assert_eq!(response["allowed"], false, "{case}: {response}");
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{case}: {message}");
    }
    // Skip-containers, env the pod sets, reinvocation.
    let mut p = pod("skips", "reader");
    p["metadata"]["annotations"] = json!({ "gke-aws-verifier/skip-containers": "migrate" });
    p["spec"]["containers"][0]["env"] = json!([{ "name": "AWS_REGION", "value": "eu-west-3" }]);
    let injected = patched(&p, &webhook.admit("team", &p).await);
    assert_eq!(
        injected["spec"]["initContainers"][2],
        json!({ "name": "migrate", "image": "app:1" })
    );
    assert_eq!(
        env_value(&injected["spec"]["containers"][0], "AWS_REGION"),
        Some(json!("eu-west-3"))
    );
    let again = webhook.admit("team", &injected).await;
    assert_eq!(again["allowed"], true, "{again}");
    assert_eq!(again.get("patch"), None, "a second admission changes nothing: {again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ksa_the_cache_has_not_seen_is_looked_up_directly() {
    let (api, webhook) = started().await;
    api.add_unwatched_service_account(
        "team",
        "just-applied",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    let pod = pod("fresh", "just-applied");
    let p = patched(&pod, &webhook.admit("team", &pod).await);
    assert_eq!(env_value(&p["spec"]["containers"][0], "AWS_ROLE_ARN"), Some(json!(ARN)));
    assert_eq!(api.gets(), 1);
    assert_eq!(
        webhook
            .metric("gke_aws_webhook_ksa_cache_misses_total")
            .await
            .as_deref(),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ksa_created_after_the_sync_arrives_by_the_watch() {
    let (api, webhook) = started().await;
    api.add_service_account(
        "team",
        "later",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    webhook
        .wait_for(
            || async { webhook.metric("gke_aws_webhook_ksa_cache_size").await.as_deref() == Some("7") },
            "the watch delivers the KSA",
        )
        .await;
    let pod = pod("late", "later");
    patched(&pod, &webhook.admit("team", &pod).await);
    assert_eq!(api.gets(), 0, "served from the cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_the_api_server_has_answered_the_list() {
    // Down from the start: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let webhook = Webhook::start(&url, &[]).await;
    assert_eq!(webhook.get_plain("/healthz").await.0, 200, "alive, only not ready");
    for _ in 0..5 {
        assert_eq!(webhook.get_plain("/readyz").await.0, 503);
    }
    let synced = "gke_aws_webhook_ksa_cache_synced";
    assert_eq!(webhook.metric(synced).await.as_deref(), Some("0"));
    let refused = webhook.admit("team", &pod("early", "reader")).await;
    assert_eq!(refused["allowed"], false, "no cache and no API server: {refused}");
    assert!(
        refused["status"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot look up ServiceAccount \"reader\""),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_synced_the_cache_serves_while_the_api_server_is_away() {
    let (api, webhook) = started().await;
    assert_eq!(
        webhook.metric("gke_aws_webhook_ksa_cache_synced").await.as_deref(),
        Some("1")
    );
    api.stop();
    let p = pod("cached", "reader");
    let injected = patched(&p, &webhook.admit("team", &p).await);
    assert_eq!(
        env_value(&injected["spec"]["containers"][0], "AWS_ROLE_ARN"),
        Some(json!(ARN))
    );
    assert_eq!(webhook.get_plain("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_admissions_by_outcome() {
    let (_api, webhook) = started().await;
    webhook.admit("team", &pod("a", "reader")).await;
    webhook.admit("team", &pod("b", "ghost")).await;
    webhook.admit("kube-system", &pod("c", "reader")).await;
    let (_, text) = webhook.get_plain("/metrics").await;
    for line in [
        "gke_aws_webhook_admissions_total{outcome=\"injected\"} 1",
        "gke_aws_webhook_admissions_total{outcome=\"denied\"} 1",
        "gke_aws_webhook_admissions_total{outcome=\"skipped\"} 1",
        "gke_aws_webhook_ksa_cache_size 6",
        "gke_aws_webhook_admission_duration_seconds_count 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_of_something_other_than_a_pod_is_allowed_unchanged_and_counted() {
    let (api, webhook) = started().await;
    // A rule that also sends Deployments (a misconfiguration): not a 400 that would block every
    // Deployment under failurePolicy Fail.
    let deployment = json!({ "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "team", "labels": { "gke-aws-verifier/inject": "true" } },
        "spec": { "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "serviceAccountName": "reader", "containers": [{ "name": "web", "image": "web:1" }] } } } });
    let mut body = crate::common::review("team", &deployment);
    body["request"]["kind"] = json!({ "group": "apps", "version": "v1", "kind": "Deployment" });
    body["request"]["resource"] = json!({ "group": "apps", "version": "v1", "resource": "deployments" });
    let (status, answer) = webhook.post_with("/mutate", &body, &webhook.serving.cert_pem).await;
    assert_eq!(status, 200, "{answer}");
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    assert_eq!(response.get("patch"), None, "{answer}");
    let warning = response["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("\"apps/v1 Deployment\" is not a Pod") && warning.chars().count() <= 120,
        "{warning}"
    );
    assert_eq!(
        webhook
            .metric("gke_aws_webhook_admissions_total{outcome=\"not_pod\"}")
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(api.gets(), 0, "no lookup for it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_mode_pod_with_an_empty_dir_named_like_the_token_volume_is_refused_with_the_name() {
    let (_api, webhook) = started().await;
    let mut p = pod("own-volume", "cluster");
    p["spec"]["volumes"] = json!([{ "name": "gke-aws-token", "emptyDir": {} }]);
    let response = webhook.admit("team", &p).await;
    assert_eq!(response["allowed"], false, "taken as injected: {response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("volume \"gke-aws-token\" is not the webhook's token volume") && message.contains("rename"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let (_api, webhook) = started().await;
    let expiry = "gke_aws_webhook_serving_certificate_expiry_timestamp_seconds";
    // 4096-01-01T00:00:00Z, the first certificate's notAfter.
    assert_eq!(webhook.metric(expiry).await.as_deref(), Some("67090118400"));
    let renewed_dir = tempfile::tempdir().unwrap();
    let renewed = crate::common::serving_cert_until(renewed_dir.path(), (2031, 5, 17));
    // As the kubelet updates a Secret volume: whole new files in place of the old ones.
    std::fs::rename(&renewed.key, &webhook.serving.key).unwrap();
    std::fs::rename(&renewed.cert, &webhook.serving.cert).unwrap();
    let body = crate::common::review("team", &pod("r", "reader"));
    let (status, response) = webhook.post_with("/mutate", &body, &renewed.cert_pem).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["response"]["allowed"], true);
    // The reload told the metric: 2031-05-17T00:00:00Z.
    assert_eq!(webhook.metric(expiry).await.as_deref(), Some("1936742400"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_certificate_keeps_the_previous_one_in_service() {
    let (_api, webhook) = started().await;
    // cert-manager writes the two files one after the other: a key that does not go with the
    // certificate, for a moment, must not break the handshake.
    let other_dir = tempfile::tempdir().unwrap();
    let other = crate::common::serving_cert(other_dir.path());
    std::fs::rename(&other.key, &webhook.serving.key).unwrap();
    let body = crate::common::review("team", &pod("h", "reader"));
    let (status, response) = webhook.post_with("/mutate", &body, &webhook.serving.cert_pem).await;
    assert_eq!(status, 200, "{response}");
    std::fs::write(&webhook.serving.cert, "not a certificate").unwrap();
    let (status, _) = webhook.post_with("/mutate", &body, &webhook.serving.cert_pem).await;
    assert_eq!(status, 200, "still the previous pair");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_answers() {
    let (_api, webhook) = started().await;
    let cert = webhook.serving.cert_pem.clone();
    let (status, body) = webhook.post_with("/mutate", &json!({ "not": "a review" }), &cert).await;
    assert_eq!(status, 200);
    assert_eq!(body["response"]["allowed"], false, "{body}");
    assert_eq!(webhook.post_with("/elsewhere", &json!({}), &cert).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let serving = crate::common::serving_cert(dir.path());
    let (cert, key) = (serving.cert.to_str().unwrap(), serving.key.to_str().unwrap());
    for (case, flag, value, expected) in [
        (
            "missing cert",
            "--tls-cert-file",
            "/nonexistent/tls.crt",
            "invalid --tls-cert-file",
        ),
        ("key is a cert", "--tls-key-file", cert, "invalid --tls-key-file"),
        ("bad region", "--default-region", "mars", "invalid --default-region"),
        ("blank image", "--sidecar-image", " ", "invalid --sidecar-image"),
    ] {
        let mut flags = vec![
            ("--sidecar-image", "img"),
            ("--tls-cert-file", cert),
            ("--tls-key-file", key),
        ];
        flags.retain(|(f, _)| *f != flag);
        flags.extend([
            (flag, value),
            ("--listen", "127.0.0.1:0"),
            ("--metrics-listen", "127.0.0.1:0"),
        ]);
        let args: Vec<&str> = flags.iter().flat_map(|(f, v)| [*f, *v]).collect();
        let out = tokio::process::Command::new(crate::common::BIN)
            .args(&args)
            .env_clear()
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patched_pods_are_valid_kubernetes_1_29_and_1_33() {
    let (api, webhook) = started().await;
    let mut generated = pod("", "reader");
    generated["metadata"] =
        json!({ "generateName": "reports-", "namespace": "team", "labels": { "gke-aws-verifier/inject": "true" } });
    let mut with_lists = pod("lists", "reader");
    with_lists["metadata"]["namespace"] = json!("team");
    with_lists["spec"]["volumes"] = json!([{ "name": "data", "emptyDir": {} }]);
    with_lists["spec"]["containers"][0]["env"] = json!([{ "name": "A", "value": "b" }]);
    let mut plain = pod("plain", "reader");
    plain["metadata"]["namespace"] = json!("team");
    let mut cluster = pod("projected", "cluster");
    cluster["metadata"]["namespace"] = json!("team");
    // Named roles, a container bound to one, one with none, own resources, in both modes.
    for (ksa, identity) in [("multi", "gsa"), ("multi-cluster", "cluster")] {
        api.add_unwatched_service_account(
            "team",
            ksa,
            &[
                ("amazonaws.com/role-arn", ARN),
                ("iam.gke.io/gcp-service-account", GSA),
                ("gke-aws-verifier/identity", identity),
                ("gke-aws-verifier/role.logs", "arn:aws:iam::123456789012:role/team-logs"),
                ("gke-aws-verifier/region.logs", "eu-west-3"),
            ],
        );
    }
    let multi = |name: &str, ksa: &str| {
        let mut p = pod(name, ksa);
        p["metadata"]["namespace"] = json!("team");
        p["metadata"]["annotations"] = json!({
            "gke-aws-verifier/profile.logs": "logs",
            "gke-aws-verifier/profile.migrate": "none",
            "gke-aws-verifier/sidecar-cpu": "0.1",
            "gke-aws-verifier/sidecar-memory": "48Mi",
        });
        p["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "name": "logs", "image": "fluent:1" }));
        p
    };
    // A pod that switches profiles at run time, with a container that sets its own AWS_PROFILE.
    let mut runtime = multi("runtime", "multi");
    runtime["metadata"]["annotations"]["gke-aws-verifier/profile-switching"] = json!("runtime");
    runtime["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "tool", "image": "tool:1", "env": [{ "name": "AWS_PROFILE", "value": "logs" }] }));
    let pods = [
        generated,
        with_lists,
        plain,
        cluster,
        multi("multi", "multi"),
        multi("multi-cluster", "multi-cluster"),
        runtime,
    ];
    let mut injected = Vec::new();
    for p in &pods {
        injected.push(patched(p, &webhook.admit("team", p).await));
    }
    crate::common::assert_valid_strict(&injected).await;
}

/// Every annotation the webhook reads, beside ten named roles with their regions and regions
/// left behind by removed roles, reaches the pod: from the cache and from the direct GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_named_roles_and_every_default_annotation_reach_the_pod() {
    let arn = |i: usize| format!("arn:aws:iam::123456789012:role/team-r{i}");
    let mut owned: Vec<(String, String)> = vec![
        ("amazonaws.com/role-arn".into(), ARN.into()),
        ("amazonaws.com/region".into(), "eu-central-1".into()),
        ("amazonaws.com/audience".into(), "sts.amazonaws.com".into()),
        ("iam.gke.io/gcp-service-account".into(), GSA.into()),
        // `gke`, the first spelling of `gsa`, still works.
        ("gke-aws-verifier/identity".into(), "gke".into()),
    ];
    for i in 0..10 {
        owned.push((format!("gke-aws-verifier/role.r{i}"), arn(i)));
        owned.push((format!("gke-aws-verifier/region.r{i}"), "eu-west-3".into()));
    }
    for i in 0..3 {
        owned.push((format!("gke-aws-verifier/region.old{i}"), "eu-west-1".into()));
    }
    let annotations: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let api = KubeApi::start().await;
    api.add_service_account("team", "many", &annotations);
    let webhook = Webhook::start(&api.url(), &[]).await;
    webhook.wait_synced().await;
    api.add_unwatched_service_account("team", "many-direct", &annotations);
    for (ksa, gets) in [("many", 0), ("many-direct", 1)] {
        let p = pod(ksa, ksa);
        let response = webhook.admit("team", &p).await;
        assert_eq!(api.gets(), gets, "{ksa}: from the cache or the direct GET");
        let warnings = response["warnings"].to_string();
        assert!(warnings.contains("region.old2 has no role.old2"), "{ksa}: {warnings}");
        let injected = patched(&p, &response);
        // The only warnings are the three leftover regions' (a dropped GSA would add one).
        assert_eq!(
            response["warnings"].as_array().map(Vec::len),
            Some(3),
            "{ksa}: {warnings}"
        );
        let config = injected["metadata"]["annotations"]["gke-aws-verifier/aws-config"]
            .as_str()
            .unwrap_or_else(|| panic!("{ksa}: a config file: {injected}"));
        let default = config.split('[').find(|s| s.starts_with("default]"));
        assert!(
            default.is_some_and(|s| s.contains(ARN) && s.contains("eu-central-1")),
            "{ksa}: the default role and region in {config}"
        );
        for i in 0..10 {
            let section = config
                .split('[')
                .find(|s| s.starts_with(&format!("profile r{i}]")))
                .unwrap_or_else(|| panic!("{ksa}: profile r{i} in {config}"));
            assert!(
                section.contains(&arn(i)) && section.contains("eu-west-3"),
                "{ksa}: {section}"
            );
        }
    }
}

/// A namespace no API server would send, and a KSA name that is no name: each refused before
/// any lookup, each with its own fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_name_that_is_no_name_gets_its_own_fix() {
    let (api, webhook) = started().await;
    let response = webhook.admit("../x", &pod("p", "reader")).await;
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert_eq!(response["allowed"], false, "{response}");
    assert!(message.contains("check what calls the webhook"), "{message}");
    assert!(!message.contains("serviceAccountName"), "{message}");
    let response = webhook.admit("team", &pod("p", "../x")).await;
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("spec.serviceAccountName"), "{message}");
    assert_eq!(api.gets(), 0, "no lookup for either");
}
