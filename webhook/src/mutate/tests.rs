//! One case per rule of the injection, each named for the situation it reproduces. Patches are
//! applied with a real JSON Patch implementation and the resulting pod is checked.

use serde_json::{Value, json};

use super::*;
use crate::inject::{CONFIG_DIR, CONFIG_FILE, CONFIG_VOLUME, FIRST_TOKEN, SIDECAR, TOKEN_DIR, TOKEN_FILE, VOLUME};
use crate::resources::Resources;

const ARN: &str = "arn:aws:iam::123456789012:role/team-reader";

fn settings() -> Settings {
    Settings {
        sidecar_image: "registry.example/gke-aws-verifier:0.1.0".to_owned(),
        default_region: Some("eu-west-1".to_owned()),
        own_namespace: "gke-aws-webhook".to_owned(),
        resources: Resources::default(),
    }
}

/// An opted-in pod of KSA team/reports with one container and one init container.
fn pod_json() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "reports-7f9c", "namespace": "team",
                      "labels": { "gke-aws-verifier/inject": "true" } },
        "spec": {
            "serviceAccountName": "reports",
            "securityContext": { "fsGroup": 2000 },
            "initContainers": [{ "name": "migrate", "image": "app:1" }],
            "containers": [{ "name": "app", "image": "app:1",
                             "env": [{ "name": "LOG", "value": "debug" }] }]
        }
    })
}

fn ksa(extra: &[(&str, &str)]) -> Annotations {
    let mut a = Annotations::from([
        (ROLE_ARN.to_owned(), ARN.to_owned()),
        (GSA.to_owned(), "reports@proj.iam.gserviceaccount.com".to_owned()),
    ]);
    for (k, v) in extra {
        a.insert((*k).to_owned(), (*v).to_owned());
    }
    a
}

fn pod(v: &Value) -> Pod {
    serde_json::from_value(v.clone()).expect("fixture is a pod")
}

/// Reviews the pod; on injection returns the patched pod and the warnings.
fn injected(v: &Value, annotations: &Annotations) -> (Value, Vec<String>) {
    match review(&pod(v), "team", Some(annotations), &settings()) {
        Outcome::Inject { patch, warnings } => {
            let mut patched = v.clone();
            json_patch::patch(&mut patched, &patch).expect("the patch applies");
            // Every admitted pod carries the guard's marker, whatever else the patch does.
            assert_eq!(
                patched["metadata"]["annotations"][crate::marker::ADMITTED_BY],
                crate::marker::WEBHOOK,
                "{patched}"
            );
            (patched, warnings)
        }
        other => panic!("expected an injection, got {other:?}"),
    }
}

fn env_of(container: &Value) -> Vec<(String, Value)> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_owned(),
                        e.get("value").cloned().unwrap_or(e["valueFrom"].clone()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn env_value(container: &Value, name: &str) -> Option<Value> {
    env_of(container).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn denial(v: &Value, annotations: Option<&Annotations>) -> String {
    match review(&pod(v), "team", annotations, &settings()) {
        Outcome::Deny { message } => message,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn pods_that_are_not_ours_are_skipped_without_a_lookup() {
    let mut unlabelled = pod_json();
    unlabelled["metadata"]["labels"] = json!({});
    let mut label_false = pod_json();
    label_false["metadata"]["labels"]["gke-aws-verifier/inject"] = json!("false");
    for (case, v, namespace) in [
        ("no label", unlabelled, "team"),
        ("label false", label_false, "team"),
        ("the webhook's own namespace", pod_json(), "gke-aws-webhook"),
        ("kube-system", pod_json(), "kube-system"),
    ] {
        assert!(ksa_to_look_up(&pod(&v), namespace, &settings()).is_err(), "{case}");
        let outcome = review(&pod(&v), namespace, Some(&ksa(&[])), &settings());
        assert!(matches!(outcome, Outcome::Skip { .. }), "{case}: {outcome:?}");
    }
}

#[test]
fn the_ksa_is_the_pods_or_default() {
    assert_eq!(
        ksa_to_look_up(&pod(&pod_json()), "team", &settings()),
        Ok("reports".to_owned())
    );
    let mut v = pod_json();
    v["spec"].as_object_mut().unwrap().remove("serviceAccountName");
    assert_eq!(ksa_to_look_up(&pod(&v), "team", &settings()), Ok("default".to_owned()));
}

#[test]
fn a_missing_ksa_is_denied_with_the_commands_that_fix_it() {
    let message = denial(&pod_json(), None);
    for part in [
        "\"reports\"",
        "\"team\"",
        "does not exist",
        "kubectl create serviceaccount reports --namespace team",
        "kubectl annotate serviceaccount reports --namespace team amazonaws.com/role-arn=arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[test]
fn a_ksa_without_role_arn_is_denied_naming_namespace_ksa_annotation_and_command() {
    let mut a = ksa(&[]);
    a.remove(ROLE_ARN);
    let message = denial(&pod_json(), Some(&a));
    for part in [
        "\"reports\"",
        "namespace \"team\"",
        "no annotation amazonaws.com/role-arn",
        "kubectl annotate serviceaccount reports --namespace team amazonaws.com/role-arn=arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[test]
fn bad_annotations_are_denied_naming_the_annotation() {
    for (case, key, value) in [
        ("user ARN", ROLE_ARN, "arn:aws:iam::123456789012:user/bob"),
        ("short account", ROLE_ARN, "arn:aws:iam::1234:role/x"),
        ("region typo", REGION, "eu-west"),
        ("audience with a space", AUDIENCE, "sts amazonaws.com"),
        ("unknown identity mode", IDENTITY, "metadata"),
    ] {
        let message = denial(&pod_json(), Some(&ksa(&[(key, value)])));
        assert!(message.contains(&format!("annotation {key}")), "{case}: {message}");
        assert!(
            message.contains("kubectl annotate serviceaccount reports --namespace team"),
            "{case}: {message}"
        );
        assert!(message.contains("--overwrite"), "{case}: {message}");
    }
}

/// `gsa` (Terraform's and the docs' word), `gke` (its first spelling) and no annotation are
/// one mode: the same patch; a bad word is denied with the words that work.
#[test]
fn gsa_and_gke_are_one_identity_mode() {
    let (absent, _) = injected(&pod_json(), &ksa(&[]));
    for word in ["gsa", "gke"] {
        let (patched, _) = injected(&pod_json(), &ksa(&[(IDENTITY, word)]));
        assert_eq!(patched, absent, "{word}");
    }
    let message = denial(&pod_json(), Some(&ksa(&[(IDENTITY, "GSA")])));
    assert!(
        message.contains("expected gsa (the default; gke is the same) or cluster"),
        "{message}"
    );
    assert!(message.contains(&format!("{IDENTITY}=gsa")), "{message}");
}

#[test]
fn the_first_token_then_the_native_sidecar_come_before_the_apps_init_containers() {
    let (p, warnings) = injected(&pod_json(), &ksa(&[]));
    assert_eq!(warnings, Vec::<String>::new());
    let inits = p["spec"]["initContainers"].as_array().unwrap();
    let names: Vec<&str> = inits.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, [FIRST_TOKEN, SIDECAR, "migrate"]);
    let (first, sidecar) = (&inits[0], &inits[1]);
    assert_eq!(sidecar["restartPolicy"], "Always");
    assert_eq!(
        first.get("restartPolicy"),
        None,
        "the first token's init container must exit"
    );
    assert_eq!(sidecar["image"], "registry.example/gke-aws-verifier:0.1.0");
    let args = |c: &Value| {
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        args(sidecar),
        [
            "token-file",
            "--path",
            TOKEN_FILE,
            "--audience",
            "sts.amazonaws.com",
            "--file-mode",
            "0644",
            "--log-format",
            "json"
        ]
    );
    assert_eq!(args(first).last().map(String::as_str), Some("--once"));
    for c in [sidecar, first] {
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(
            c["volumeMounts"],
            json!([{ "name": VOLUME, "mountPath": TOKEN_DIR }]),
            "the writers mount it read-write"
        );
        assert_eq!(c.get("env"), None, "the writers need no AWS env");
    }
}

#[test]
fn every_app_container_gets_the_memory_volume_read_only_and_the_env() {
    let (p, _) = injected(&pod_json(), &ksa(&[]));
    assert_eq!(
        p["spec"]["volumes"],
        json!([{ "name": VOLUME, "emptyDir": { "medium": "Memory", "sizeLimit": "1Mi" } }])
    );
    assert_eq!(
        p["spec"]["securityContext"],
        json!({ "fsGroup": 2000 }),
        "fsGroup untouched"
    );
    for c in [&p["spec"]["containers"][0], &p["spec"]["initContainers"][2]] {
        assert_eq!(
            c["volumeMounts"],
            json!([{ "name": VOLUME, "mountPath": TOKEN_DIR, "readOnly": true }])
        );
        let env: Vec<String> = env_of(c).into_iter().map(|(n, _)| n).collect();
        let mut expected = vec![
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_SESSION_NAME",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_STS_REGIONAL_ENDPOINTS",
        ];
        if c["name"] == "app" {
            expected.insert(0, "LOG");
        }
        assert_eq!(env, expected, "{}", c["name"]);
        assert_eq!(env_value(c, "AWS_ROLE_ARN"), Some(json!(ARN)));
        assert_eq!(env_value(c, "AWS_WEB_IDENTITY_TOKEN_FILE"), Some(json!(TOKEN_FILE)));
        assert_eq!(env_value(c, "AWS_ROLE_SESSION_NAME"), Some(json!("reports-7f9c")));
        assert_eq!(env_value(c, "AWS_REGION"), Some(json!("eu-west-1")));
        assert_eq!(env_value(c, "AWS_STS_REGIONAL_ENDPOINTS"), Some(json!("regional")));
    }
}

#[test]
fn a_container_that_sets_any_variable_of_a_unit_keeps_the_whole_unit() {
    let mut v = pod_json();
    v["spec"]["containers"][0]["env"] = json!([
        { "name": "AWS_REGION", "value": "us-west-2" },
        { "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::210987654321:role/own" }
    ]);
    v["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "uid", "image": "x", "env": [
            { "name": "AWS_ROLE_SESSION_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.uid" } } }
        ] }));
    let (p, warnings) = injected(&v, &ksa(&[]));
    let app = &p["spec"]["containers"][0];
    let names: Vec<String> = env_of(app).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["AWS_REGION", "AWS_ROLE_ARN", "AWS_STS_REGIONAL_ENDPOINTS"],
        "neither our token file nor our AWS_DEFAULT_REGION beside its own: {app}"
    );
    assert_eq!(
        app.get("volumeMounts"),
        None,
        "no token for a container with its own role"
    );
    let uid = &p["spec"]["containers"][1];
    assert_eq!(env_value(uid, "AWS_ROLE_ARN"), None);
    assert_eq!(
        env_value(uid, "AWS_ROLE_SESSION_NAME"),
        Some(json!({ "fieldRef": { "fieldPath": "metadata.uid" } }))
    );
    assert_eq!(env_value(uid, "AWS_DEFAULT_REGION"), Some(json!("eu-west-1")));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().all(|w| w.contains("so it gets no token: container")),
        "{warnings:?}"
    );
    // The migrate init container sets nothing: it gets everything.
    assert_eq!(
        env_value(&p["spec"]["initContainers"][2], "AWS_ROLE_ARN"),
        Some(json!(ARN))
    );
}

#[test]
fn the_session_name_fits_sts_and_generated_names_come_from_the_kubelet() {
    let mut long = pod_json();
    long["metadata"]["name"] = json!("x".repeat(100));
    let (p, _) = injected(&long, &ksa(&[]));
    assert_eq!(
        env_value(&p["spec"]["containers"][0], "AWS_ROLE_SESSION_NAME"),
        Some(json!("x".repeat(64)))
    );

    let mut generated = pod_json();
    generated["metadata"].as_object_mut().unwrap().remove("name");
    generated["metadata"]["generateName"] = json!(format!("{}-", "y".repeat(80)));
    let (p, _) = injected(&generated, &ksa(&[]));
    assert_eq!(
        env_value(&p["spec"]["containers"][0], "AWS_ROLE_SESSION_NAME"),
        Some(json!({ "fieldRef": { "fieldPath": "metadata.name" } }))
    );
}

#[test]
fn skipped_containers_get_nothing() {
    let mut v = pod_json();
    v["metadata"]["annotations"] = json!({ SKIP_CONTAINERS: " migrate , proxy" });
    v["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "proxy", "image": "envoy" }));
    let (p, _) = injected(&v, &ksa(&[]));
    assert_eq!(p["spec"]["containers"][1], json!({ "name": "proxy", "image": "envoy" }));
    assert_eq!(
        p["spec"]["initContainers"][2],
        json!({ "name": "migrate", "image": "app:1" })
    );
    assert!(env_value(&p["spec"]["containers"][0], "AWS_ROLE_ARN").is_some());
}

#[test]
fn an_injected_pod_without_the_marker_gets_the_marker_alone() {
    // Copied from an injected pod without its annotations: nothing to inject, only the marker.
    let (mut p, _) = injected(&pod_json(), &ksa(&[]));
    p["metadata"].as_object_mut().unwrap().remove("annotations");
    let (again, warnings) = injected(&p, &ksa(&[]));
    assert_eq!(warnings, Vec::<String>::new());
    let mut expected = p.clone();
    expected["metadata"]["annotations"] = json!({ crate::marker::ADMITTED_BY: crate::marker::WEBHOOK });
    assert_eq!(again, expected);
    // Denials carry no marker: the pod is not admitted.
    assert!(matches!(
        review(&pod(&pod_json()), "team", None, &settings()),
        Outcome::Deny { .. }
    ));
}

#[test]
fn a_second_admission_changes_nothing_but_a_container_added_since_gets_its_share() {
    let (p, _) = injected(&pod_json(), &ksa(&[]));
    let again = review(&pod(&p), "team", Some(&ksa(&[])), &settings());
    assert_eq!(
        again,
        Outcome::Skip {
            reason: "already injected"
        }
    );

    // Another webhook added a container after ours: reinvocation gives it env and mount only.
    let mut grown = p.clone();
    grown["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "late", "image": "x" }));
    let (p2, _) = injected(&grown, &ksa(&[]));
    assert_eq!(p2["spec"]["initContainers"], p["spec"]["initContainers"]);
    assert_eq!(p2["spec"]["volumes"], p["spec"]["volumes"]);
    assert!(env_value(&p2["spec"]["containers"][1], "AWS_ROLE_ARN").is_some());
}

#[test]
fn region_and_audience_come_from_the_ksa_then_the_defaults() {
    let (p, _) = injected(&pod_json(), &ksa(&[(REGION, "ap-south-1"), (AUDIENCE, "my-aud")]));
    let app = &p["spec"]["containers"][0];
    assert_eq!(env_value(app, "AWS_REGION"), Some(json!("ap-south-1")));
    assert_eq!(env_value(app, "AWS_DEFAULT_REGION"), Some(json!("ap-south-1")));
    assert!(
        p["spec"]["initContainers"][1]["args"]
            .as_array()
            .unwrap()
            .contains(&json!("my-aud"))
    );

    let no_default = Settings {
        default_region: None,
        ..settings()
    };
    let Outcome::Inject { patch, warnings } = review(&pod(&pod_json()), "team", Some(&ksa(&[])), &no_default) else {
        panic!("expected an injection");
    };
    let mut p = pod_json();
    json_patch::patch(&mut p, &patch).unwrap();
    assert_eq!(env_value(&p["spec"]["containers"][0], "AWS_REGION"), None);
    assert!(warnings.iter().any(|w| w.contains("no AWS region")), "{warnings:?}");
}

#[test]
fn warnings_name_what_will_fail_at_run_time_within_120_characters() {
    let mut a = ksa(&[]);
    a.remove(GSA);
    let mut v = pod_json();
    let long = format!("{}.{}", "a".repeat(63), "b".repeat(63));
    v["spec"]["serviceAccountName"] = json!(long);
    let Outcome::Inject { warnings, .. } = review(
        &pod(&v),
        "team",
        Some(&a),
        &Settings {
            default_region: None,
            ..settings()
        },
    ) else {
        panic!("expected an injection");
    };
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("no AWS region"), "{warnings:?}");
    assert!(
        warnings[1].contains(&format!("on KSA team/{}", &long[..10])),
        "{warnings:?}"
    );
    for w in &warnings {
        assert!(
            w.chars().count() <= 120,
            "kubectl may cut a warning over 120 characters: {w}"
        );
    }
}

#[test]
fn windows_and_host_network_pods_are_refused_in_gsa_mode() {
    let mut host = pod_json();
    host["spec"]["hostNetwork"] = json!(true);
    let mut selector = pod_json();
    selector["spec"]["nodeSelector"] = json!({ "kubernetes.io/os": "windows" });
    let mut os = pod_json();
    os["spec"]["os"] = json!({ "name": "windows" });
    let mut affinity = pod_json();
    affinity["spec"]["affinity"] = json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{ "matchExpressions": [{ "key": "kubernetes.io/os", "operator": "In", "values": ["windows"] }] }] } } });
    for (case, v, words) in [
        ("hostNetwork", host.clone(), "hostNetwork"),
        ("nodeSelector", selector, "Windows"),
        ("spec.os", os.clone(), "spec.os.name"),
        ("node affinity", affinity, "node affinity"),
    ] {
        let message = denial(&v, Some(&ksa(&[])));
        assert!(message.contains(words), "{case}: {message}");
        assert!(
            message.contains("gke-aws-verifier/identity=cluster"),
            "{case}: the fix: {message}"
        );
    }
    // Cluster mode runs nothing in the pod: both are injected.
    let cluster = ksa(&[(IDENTITY, "cluster")]);
    for v in [host, os] {
        let (p, _) = injected(&v, &cluster);
        assert_eq!(env_value(&p["spec"]["containers"][0], "AWS_ROLE_ARN"), Some(json!(ARN)));
    }
}

#[test]
fn cluster_identity_projects_the_ksa_token_instead_of_a_sidecar() {
    let mut a = ksa(&[(IDENTITY, "cluster"), (AUDIENCE, "sts.amazonaws.com/cluster")]);
    a.remove(GSA);
    let mut v = pod_json();
    v["spec"]["hostNetwork"] = json!(true);
    let (p, warnings) = injected(&v, &a);
    assert_eq!(
        warnings,
        Vec::<String>::new(),
        "no metadata server, no sidecar: nothing to warn about"
    );
    let names: Vec<&str> = p["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["migrate"]);
    assert_eq!(
        p["spec"]["volumes"],
        json!([{ "name": VOLUME, "projected": { "sources": [{ "serviceAccountToken": {
            "audience": "sts.amazonaws.com/cluster", "expirationSeconds": 3600, "path": "token" } }] } }])
    );
    let app = &p["spec"]["containers"][0];
    assert_eq!(app["volumeMounts"][0]["mountPath"], TOKEN_DIR);
    assert_eq!(env_value(app, "AWS_WEB_IDENTITY_TOKEN_FILE"), Some(json!(TOKEN_FILE)));
    let again = review(&pod(&p), "team", Some(&a), &settings());
    assert_eq!(
        again,
        Outcome::Skip {
            reason: "already injected"
        }
    );
}

#[test]
fn existing_lists_are_appended_to() {
    let mut v = pod_json();
    v["spec"]["volumes"] = json!([{ "name": "data", "emptyDir": {} }]);
    v["spec"]["containers"][0]["volumeMounts"] = json!([{ "name": "data", "mountPath": "/data" }]);
    let (p, _) = injected(&v, &ksa(&[]));
    assert_eq!(p["spec"]["volumes"][0]["name"], "data");
    assert_eq!(p["spec"]["volumes"][1]["name"], VOLUME);
    let mounts = &p["spec"]["containers"][0]["volumeMounts"];
    assert_eq!(mounts[0]["name"], "data");
    assert_eq!(
        mounts[1],
        json!({ "name": VOLUME, "mountPath": TOKEN_DIR, "readOnly": true })
    );
}

#[test]
fn a_pod_without_init_containers_gets_the_list() {
    let mut v = pod_json();
    v["spec"].as_object_mut().unwrap().remove("initContainers");
    let (p, _) = injected(&v, &ksa(&[]));
    let names: Vec<&str> = p["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [FIRST_TOKEN, SIDECAR]);
}

/// The pod's QoS class as the kubelet computes it (requests default to limits when unset).
fn qos_class(p: &Value) -> &'static str {
    let all: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| p["spec"][k].as_array().into_iter().flatten())
        .collect();
    let figure = |c: &Value, kind: &str, resource: &str| c["resources"][kind][resource].as_str().map(str::to_owned);
    let any = all
        .iter()
        .any(|c| ["requests", "limits"].iter().any(|k| c["resources"][k].is_object()));
    if !any {
        return "BestEffort";
    }
    let guaranteed = all.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = figure(c, "limits", r);
            limit.is_some() && figure(c, "requests", r).or(limit.clone()) == limit
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

/// What a ResourceQuota tracking `tracked` (e.g. `limits.cpu`) says of the pod: the containers
/// that leave a tracked figure unset, as the quota admission refuses them ("must specify").
fn quota_refusal(p: &Value, tracked: &[&str]) -> Vec<String> {
    let mut refused = Vec::new();
    for kind in ["containers", "initContainers"] {
        for c in p["spec"][kind].as_array().into_iter().flatten() {
            for t in tracked {
                let (k, r) = t.split_once('.').unwrap();
                let kind = if k == "limits" { "limits" } else { "requests" };
                if c["resources"][kind][r].is_null() {
                    refused.push(format!("must specify {t} for: {}", c["name"]));
                }
            }
        }
    }
    refused
}

#[test]
fn the_writers_requests_equal_their_limits_so_quotas_and_guaranteed_pods_hold() {
    let mut v = pod_json();
    let figures = json!({ "cpu": "500m", "memory": "256Mi" });
    for k in ["containers", "initContainers"] {
        v["spec"][k][0]["resources"] = json!({ "requests": figures, "limits": figures });
    }
    assert_eq!(qos_class(&v), "Guaranteed");
    let (p, _) = injected(&v, &ksa(&[]));
    let tracked = ["limits.cpu", "limits.memory", "requests.cpu", "requests.memory"];
    assert_eq!(quota_refusal(&p, &tracked), Vec::<String>::new());
    assert_eq!(qos_class(&p), "Guaranteed", "a Guaranteed pod stays Guaranteed");
    for writer in &p["spec"]["initContainers"].as_array().unwrap()[..2] {
        let r = &writer["resources"];
        assert_eq!(
            r["requests"], r["limits"],
            "{}: LimitRange maxLimitRequestRatio 1 holds",
            writer["name"]
        );
        assert_eq!(
            r["limits"],
            json!({ "cpu": "50m", "memory": "64Mi" }),
            "the documented defaults"
        );
    }
    // The pod may choose its own figures; bad ones are refused naming the annotation.
    let mut own = pod_json();
    own["metadata"]["annotations"] = json!({ SIDECAR_CPU: "100m", SIDECAR_MEMORY: "48Mi" });
    let (p, _) = injected(&own, &ksa(&[]));
    assert_eq!(
        p["spec"]["initContainers"][1]["resources"],
        json!({ "requests": { "cpu": "100m", "memory": "48Mi" }, "limits": { "cpu": "100m", "memory": "48Mi" } })
    );
    for (key, value, words) in [
        (SIDECAR_CPU, "1m", "10m to 2"),
        (SIDECAR_MEMORY, "lots", "not a memory quantity"),
        (SIDECAR_MEMORY, "8Mi", "32Mi to 1Gi"),
    ] {
        let mut bad = pod_json();
        bad["metadata"]["annotations"] = json!({ key: value });
        let message = denial(&bad, Some(&ksa(&[])));
        assert!(message.contains(key) && message.contains(words), "{message}");
    }
}

#[test]
fn names_the_pod_already_uses_are_refused_never_half_injected() {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = pod_json();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Value, Annotations, &str)> = vec![
        (
            "a Secret volume named like ours",
            with(&|v| v["spec"]["volumes"] = json!([{ "name": VOLUME, "secret": { "secretName": "s" } }])),
            ksa(&[]),
            "volume \"gke-aws-token\"",
        ),
        (
            "cluster mode: an emptyDir named like the projected token",
            with(&|v| v["spec"]["volumes"] = json!([{ "name": VOLUME, "emptyDir": {} }])),
            ksa(&[(IDENTITY, "cluster")]),
            "volume \"gke-aws-token\"",
        ),
        (
            "a mount at the token's folder",
            with(&|v| {
                v["spec"]["volumes"] = json!([{ "name": "creds", "emptyDir": {} }]);
                v["spec"]["containers"][0]["volumeMounts"] =
                    json!([{ "name": "creds", "mountPath": "/var/run/secrets//gke-aws/" }]);
            }),
            ksa(&[]),
            "mounts \"creds\" at \"/var/run/secrets//gke-aws/\"",
        ),
        (
            "a mount over the token file",
            with(&|v| {
                v["spec"]["volumes"] = json!([{ "name": "creds", "emptyDir": {} }]);
                v["spec"]["initContainers"][0]["volumeMounts"] = json!([{ "name": "creds", "mountPath": TOKEN_FILE }]);
            }),
            ksa(&[]),
            "container \"migrate\" mounts",
        ),
        (
            "a regular container named like our init container",
            with(&|v| v["spec"]["containers"][0]["name"] = json!(FIRST_TOKEN)),
            ksa(&[]),
            "container \"gke-aws-token-init\"",
        ),
        (
            "an init container named like our sidecar",
            with(&|v| v["spec"]["initContainers"][0]["name"] = json!(SIDECAR)),
            ksa(&[]),
            "init container \"gke-aws-token\"",
        ),
        (
            "a volume named like the config, with named roles",
            with(&|v| v["spec"]["volumes"] = json!([{ "name": CONFIG_VOLUME, "emptyDir": {} }])),
            ksa(&[("gke-aws-verifier/role.logs", ARN)]),
            "volume \"gke-aws-config\"",
        ),
    ];
    for (case, v, a, words) in cases {
        let message = denial(&v, Some(&a));
        assert!(message.contains(words), "{case}: {message}");
        assert!(message.contains("rename them"), "{case}: {message}");
    }
    // Without named roles the config's names are free for the pod to use.
    let own_config = with(&|v| v["spec"]["volumes"] = json!([{ "name": CONFIG_VOLUME, "emptyDir": {} }]));
    injected(&own_config, &ksa(&[]));
    // A mount of our volume at our path, spelled differently, is ours: no second mount.
    let spelled = with(&|v| {
        v["spec"]["containers"][0]["volumeMounts"] =
            json!([{ "name": VOLUME, "mountPath": "/var/run/secrets//gke-aws/" }]);
    });
    let (p, _) = injected(&spelled, &ksa(&[]));
    assert_eq!(p["spec"]["containers"][0]["volumeMounts"].as_array().unwrap().len(), 1);
}

#[test]
fn the_include_list_gives_credentials_to_the_named_containers_only() {
    let mut v = pod_json();
    v["metadata"]["annotations"] = json!({ INCLUDE_CONTAINERS: "app" });
    v["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "istio-proxy", "image": "proxy" }));
    let (p, _) = injected(&v, &ksa(&[]));
    assert!(env_value(&p["spec"]["containers"][0], "AWS_ROLE_ARN").is_some());
    assert_eq!(
        p["spec"]["containers"][1],
        json!({ "name": "istio-proxy", "image": "proxy" })
    );
    assert_eq!(
        p["spec"]["initContainers"][2],
        json!({ "name": "migrate", "image": "app:1" })
    );
}

#[test]
fn echoed_values_are_capped_and_the_ksa_name_is_checked_before_any_lookup() {
    let message = denial(&pod_json(), Some(&ksa(&[(IDENTITY, &"x".repeat(262_144))])));
    assert!(message.len() < 600, "{} bytes", message.len());
    assert!(message.contains("262144 characters"), "{message}");
    for name in [
        "../../prod/serviceaccounts/deployer",
        "Reports",
        "a..b",
        &"a".repeat(254),
    ] {
        let mut v = pod_json();
        v["spec"]["serviceAccountName"] = json!(name);
        match ksa_to_look_up(&pod(&v), "team", &settings()) {
            Err(Outcome::Deny { message }) => assert!(message.contains("no ServiceAccount name"), "{message}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

const LOGS_ARN: &str = "arn:aws:iam::123456789012:role/team-logs";

/// A KSA with the default role and two named ones, `logs` with its own region.
fn multi(extra: &[(&str, &str)]) -> Annotations {
    let mut a = ksa(&[
        ("gke-aws-verifier/role.logs", LOGS_ARN),
        ("gke-aws-verifier/region.logs", "eu-west-3"),
        (
            "gke-aws-verifier/role.audit",
            "arn:aws:iam::123456789012:role/team-audit",
        ),
    ]);
    for (k, v) in extra {
        a.insert((*k).to_owned(), (*v).to_owned());
    }
    a
}

fn mounts_of(c: &Value) -> Vec<(String, String)> {
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["mountPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn named_roles_become_profiles_of_one_config_file_projected_from_the_pods_annotation() {
    let (p, warnings) = injected(&pod_json(), &multi(&[]));
    assert_eq!(warnings, Vec::<String>::new());
    let text = p["metadata"]["annotations"][crate::keys::AWS_CONFIG].as_str().unwrap();
    let profiles = gke_aws_verifier::profiles::parse(text).unwrap();
    let summary: Vec<(&str, &str, Option<&str>)> = profiles
        .iter()
        .map(|p| (p.name.as_str(), p.role_arn.as_str(), p.region.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("default", ARN, Some("eu-west-1")),
            ("audit", "arn:aws:iam::123456789012:role/team-audit", Some("eu-west-1")),
            ("logs", LOGS_ARN, Some("eu-west-3")),
        ]
    );
    assert!(
        profiles
            .iter()
            .all(|p| p.web_identity_token_file == TOKEN_FILE && p.role_session_name.as_deref() == Some("reports-7f9c"))
    );
    assert_eq!(
        p["spec"]["volumes"][1],
        json!({ "name": CONFIG_VOLUME, "downwardAPI": { "items": [{ "path": "config",
            "fieldRef": { "fieldPath": "metadata.annotations['gke-aws-verifier/aws-config']" } }] } })
    );
    for c in [&p["spec"]["containers"][0], &p["spec"]["initContainers"][2]] {
        // The default role's variables stay, and say what [default] says (the JavaScript and
        // Rust SDKs read [default] before them): every SDK gets the same default role.
        let default = &profiles[0];
        assert_eq!(env_value(c, "AWS_ROLE_ARN"), Some(json!(default.role_arn)));
        assert_eq!(
            env_value(c, "AWS_WEB_IDENTITY_TOKEN_FILE"),
            Some(json!(default.web_identity_token_file))
        );
        assert_eq!(
            env_value(c, "AWS_ROLE_SESSION_NAME"),
            Some(json!(default.role_session_name))
        );
        assert_eq!(env_value(c, "AWS_REGION"), Some(json!(default.region)));
        assert_eq!(env_value(c, "AWS_PROFILE"), None);
        assert_eq!(env_value(c, "AWS_CONFIG_FILE"), Some(json!(CONFIG_FILE)));
        assert_eq!(
            mounts_of(c),
            [
                (CONFIG_VOLUME.to_owned(), CONFIG_DIR.to_owned()),
                (VOLUME.to_owned(), TOKEN_DIR.to_owned())
            ]
        );
    }
    let again = review(&pod(&p), "team", Some(&multi(&[])), &settings());
    assert_eq!(
        again,
        Outcome::Skip {
            reason: "already injected"
        }
    );
}

#[test]
fn a_container_bound_to_a_profile_gets_aws_profile_and_none_gets_nothing() {
    let mut v = pod_json();
    v["metadata"]["annotations"] = json!({
        "gke-aws-verifier/profile.logs": "logs",
        "gke-aws-verifier/profile.migrate": "none",
    });
    v["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "logs", "image": "fluent" }));
    for a in [multi(&[]), multi(&[(IDENTITY, "cluster")])] {
        let (p, _) = injected(&v, &a);
        let logs = &p["spec"]["containers"][1];
        assert_eq!(env_value(logs, "AWS_PROFILE"), Some(json!("logs")));
        assert_eq!(env_value(logs, "AWS_CONFIG_FILE"), Some(json!(CONFIG_FILE)));
        assert_eq!(env_value(logs, "AWS_ROLE_ARN"), None);
        assert_eq!(
            env_value(&p["spec"]["containers"][0], "AWS_PROFILE"),
            None,
            "app: the default chain's [default]"
        );
        let migrate = p["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "migrate")
            .unwrap();
        assert_eq!(
            migrate,
            &json!({ "name": "migrate", "image": "app:1" }),
            "none: no token, no config, no env"
        );
        let again = review(&pod(&p), "team", Some(&a), &settings());
        assert_eq!(
            again,
            Outcome::Skip {
                reason: "already injected"
            }
        );
    }
    // A single-role KSA knows only the default profile.
    let message = denial(&v, Some(&ksa(&[])));
    assert!(message.contains("it has: default, or none"), "{message}");
    let message = denial(&v, Some(&ksa(&[("gke-aws-verifier/role.audit", ARN)])));
    assert!(
        message.contains("profile \"logs\"") && message.contains("it has: default, audit, or none"),
        "{message}"
    );
}

#[test]
fn a_container_with_its_own_config_file_keeps_it_with_a_warning() {
    let mut v = pod_json();
    v["spec"]["containers"][0]["env"] = json!([{ "name": "AWS_CONFIG_FILE", "value": "/etc/aws/config" }]);
    let (p, warnings) = injected(&v, &multi(&[]));
    assert_eq!(
        env_value(&p["spec"]["containers"][0], "AWS_CONFIG_FILE"),
        Some(json!("/etc/aws/config"))
    );
    assert!(
        warnings.iter().any(|w| w.contains("own AWS_CONFIG_FILE")),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|w| w.chars().count() <= 120), "{warnings:?}");
}

#[test]
fn a_pod_named_by_generate_name_gets_its_session_name_from_the_kubelet() {
    let mut v = pod_json();
    v["metadata"].as_object_mut().unwrap().remove("name");
    v["metadata"]["generateName"] = json!("reports-");
    let (p, _) = injected(&v, &multi(&[]));
    let text = p["metadata"]["annotations"][crate::keys::AWS_CONFIG].as_str().unwrap();
    let profiles = gke_aws_verifier::profiles::parse(text).unwrap();
    assert!(profiles.iter().all(|p| p.role_session_name.is_none()), "{text}");
    assert_eq!(
        env_value(&p["spec"]["containers"][0], "AWS_ROLE_SESSION_NAME"),
        Some(json!({ "fieldRef": { "fieldPath": "metadata.name" } }))
    );
}

#[test]
fn with_named_roles_a_container_added_by_another_webhook_gets_its_share_and_nothing_twice() {
    let (p, _) = injected(&pod_json(), &multi(&[]));
    let mut grown = p.clone();
    grown["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "late", "image": "x" }));
    let (p2, warnings) = injected(&grown, &multi(&[]));
    assert_eq!(
        warnings,
        Vec::<String>::new(),
        "our own variables are not the container's own"
    );
    assert_eq!(p2["metadata"], p["metadata"]);
    assert_eq!(p2["spec"]["volumes"], p["spec"]["volumes"]);
    assert_eq!(p2["spec"]["containers"][0], p["spec"]["containers"][0]);
    let late = &p2["spec"]["containers"][1];
    assert_eq!(env_value(late, "AWS_CONFIG_FILE"), Some(json!(CONFIG_FILE)));
    assert_eq!(mounts_of(late).len(), 2);
}

#[test]
fn with_named_roles_the_go_sdk_v1_is_told_to_read_the_config_file() {
    let mut v = pod_json();
    v["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "own", "image": "x", "env": [{ "name": "AWS_SDK_LOAD_CONFIG", "value": "0" }] }));
    let (p, warnings) = injected(&v, &multi(&[]));
    assert_eq!(warnings, Vec::<String>::new());
    for c in [&p["spec"]["containers"][0], &p["spec"]["initContainers"][2]] {
        // Without it the Go SDK v1 reads neither AWS_CONFIG_FILE nor AWS_PROFILE.
        assert_eq!(env_value(c, "AWS_SDK_LOAD_CONFIG"), Some(json!("1")), "{c}");
    }
    let own = &p["spec"]["containers"][1];
    let set: Vec<String> = env_of(own).into_iter().map(|(name, _)| name).collect();
    assert_eq!(set.iter().filter(|n| *n == "AWS_SDK_LOAD_CONFIG").count(), 1, "{own}");
    assert_eq!(
        env_value(own, "AWS_SDK_LOAD_CONFIG"),
        Some(json!("0")),
        "its own is kept"
    );
    let again = review(&pod(&p), "team", Some(&multi(&[])), &settings());
    assert_eq!(
        again,
        Outcome::Skip {
            reason: "already injected"
        }
    );
    // One role: the web identity variables, which the Go SDK v1 reads without it.
    let (single, _) = injected(&pod_json(), &ksa(&[]));
    assert_eq!(env_value(&single["spec"]["containers"][0], "AWS_SDK_LOAD_CONFIG"), None);
}

#[test]
fn in_cluster_mode_only_the_webhooks_own_projected_token_is_ours() {
    let a = ksa(&[(IDENTITY, "cluster")]);
    let ours = json!({ "serviceAccountToken": { "audience": "sts.amazonaws.com", "expirationSeconds": 3600, "path": "token" } });
    let projected = |sources: Value| {
        let mut v = pod_json();
        v["spec"]["volumes"] = json!([{ "name": VOLUME, "projected": { "sources": sources } }]);
        v
    };
    for (case, sources) in [
        (
            "a token for another audience",
            json!([{ "serviceAccountToken": { "audience": "vault", "expirationSeconds": 3600, "path": "token" } }]),
        ),
        (
            "another lifetime",
            json!([{ "serviceAccountToken": { "audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token" } }]),
        ),
        (
            "the API server's audience",
            json!([{ "serviceAccountToken": { "expirationSeconds": 3600, "path": "token" } }]),
        ),
        (
            "ours and a ConfigMap",
            json!([ours, { "configMap": { "name": "ca", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } }]),
        ),
    ] {
        let message = denial(&projected(sources), Some(&a));
        assert!(
            message.contains("volume \"gke-aws-token\" is not the webhook's token volume")
                && message.contains("audience \"sts.amazonaws.com\", expirationSeconds 3600, path token"),
            "{case}: {message}"
        );
    }
    // Ours as the API server keeps it when it decodes a later webhook's change (defaultMode
    // filled in): a reinvocation adds nothing.
    let (p, _) = injected(&pod_json(), &a);
    let mut kept = p.clone();
    kept["spec"]["volumes"][0]["projected"]["defaultMode"] = json!(420);
    let again = review(&pod(&kept), "team", Some(&a), &settings());
    assert_eq!(
        again,
        Outcome::Skip {
            reason: "already injected"
        }
    );
    // Set by hand, exactly ours, it is ours: no second volume.
    let (p, _) = injected(&projected(json!([ours])), &a);
    assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
}

// --- What each container gets: one test per row of `share::TABLE` ---------------------------

/// The variables' names of a container, in order.
fn env_names(c: &Value) -> Vec<String> {
    env_of(c).into_iter().map(|(name, _)| name).collect()
}

/// A container of the patched pod, by name (containers or init containers).
fn container<'a>(p: &'a Value, name: &str) -> &'a Value {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|k| p["spec"][k].as_array().into_iter().flatten())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {p}"))
}

/// The pod of `pod_json()` with one more container `c`, as given, and `annotations`.
fn with_container(c: Value, annotations: Value) -> Value {
    let mut v = pod_json();
    v["metadata"]["annotations"] = annotations;
    v["spec"]["containers"].as_array_mut().unwrap().push(c);
    v
}

/// Checks that `case` with `delivery` is row `index` of the table, and that container `name`
/// of the pod, injected with `ksa`, has exactly `env` (its own variables first) and `mounts`.
#[track_caller]
fn assert_row(
    index: usize,
    (delivery, case): (crate::share::Delivery, crate::share::Case),
    (v, ksa): (&Value, &Annotations),
    name: &str,
    env: &[&str],
    mounts: &[&str],
) -> Vec<String> {
    let row = crate::share::row(delivery, case).expect("a row");
    assert!(
        std::ptr::eq(row, &crate::share::TABLE[index]),
        "{delivery:?} {case:?} is row {index}: {row:?}"
    );
    let (p, warnings) = injected(v, ksa);
    let c = container(&p, name);
    assert_eq!(env_names(c), env, "{name}: {c}");
    let mount_names: Vec<String> = mounts_of(c).into_iter().map(|(volume, _)| volume).collect();
    assert_eq!(mount_names, mounts, "{name}: {c}");
    let again = review(&pod(&p), "team", Some(ksa), &settings());
    assert_eq!(
        again,
        Outcome::Skip {
            reason: "already injected"
        },
        "reinvocation adds nothing"
    );
    warnings
}

const WEB_IDENTITY: [&str; 6] = [
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
];

fn runtime() -> Value {
    json!({ "gke-aws-verifier/profile-switching": "runtime" })
}

#[test]
fn row_none_gets_nothing_whatever_the_delivery() {
    use crate::share::{Case, Delivery};
    let v = with_container(
        json!({ "name": "proxy", "image": "envoy" }),
        json!({ "gke-aws-verifier/profile.proxy": "none" }),
    );
    let mut runtime_pod = v.clone();
    runtime_pod["metadata"]["annotations"]["gke-aws-verifier/profile-switching"] = json!("runtime");
    for (delivery, v, ksa) in [
        (Delivery::OneRole, &v, ksa(&[])),
        (Delivery::Profiles, &v, multi(&[])),
        (Delivery::RuntimeSwitching, &runtime_pod, multi(&[])),
    ] {
        assert_row(0, (delivery, Case::Nothing), (v, &ksa), "proxy", &[], &[]);
        let (p, _) = injected(v, &ksa);
        assert_eq!(container(&p, "proxy"), &json!({ "name": "proxy", "image": "envoy" }));
    }
}

#[test]
fn row_one_role_a_default_container_gets_the_web_identity_variables() {
    use crate::share::{Case, Delivery};
    let v = with_container(json!({ "name": "job", "image": "x" }), json!({}));
    assert_row(
        1,
        (Delivery::OneRole, Case::DefaultRole),
        (&v, &ksa(&[])),
        "job",
        &WEB_IDENTITY,
        &[VOLUME],
    );
}

#[test]
fn row_named_roles_a_default_container_keeps_the_web_identity_variables_and_gets_the_config_file() {
    use crate::share::{Case, Delivery};
    let v = with_container(json!({ "name": "job", "image": "x" }), json!({}));
    let mut expected = WEB_IDENTITY[..5].to_vec();
    expected.extend(["AWS_CONFIG_FILE", "AWS_SDK_LOAD_CONFIG", "AWS_STS_REGIONAL_ENDPOINTS"]);
    let warnings = assert_row(
        2,
        (Delivery::Profiles, Case::DefaultRole),
        (&v, &multi(&[])),
        "job",
        &expected,
        &[CONFIG_VOLUME, VOLUME],
    );
    assert_eq!(warnings, Vec::<String>::new());
}

#[test]
fn row_runtime_switching_a_default_container_gets_the_config_file_only() {
    use crate::share::{Case, Delivery};
    let v = with_container(json!({ "name": "job", "image": "x" }), runtime());
    assert_row(
        3,
        (Delivery::RuntimeSwitching, Case::DefaultRole),
        (&v, &multi(&[])),
        "job",
        &[
            "AWS_ROLE_SESSION_NAME",
            "AWS_CONFIG_FILE",
            "AWS_SDK_LOAD_CONFIG",
            "AWS_STS_REGIONAL_ENDPOINTS",
        ],
        &[CONFIG_VOLUME, VOLUME],
    );
    // Every container of such a pod: none gets AWS_ROLE_ARN or a region variable.
    let (p, _) = injected(&v, &multi(&[]));
    for name in ["app", "migrate", "job"] {
        for absent in [
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
        ] {
            assert_eq!(env_value(container(&p, name), absent), None, "{absent} in {name}");
        }
    }
}

#[test]
fn row_bound_a_container_gets_aws_profile_and_the_config_file_and_no_web_identity() {
    use crate::share::{Case, Delivery};
    let bound = json!({ "gke-aws-verifier/profile.logs": "logs" });
    let mut runtime_bound = bound.clone();
    runtime_bound["gke-aws-verifier/profile-switching"] = json!("runtime");
    for (delivery, annotations) in [(Delivery::Profiles, bound), (Delivery::RuntimeSwitching, runtime_bound)] {
        let v = with_container(json!({ "name": "logs", "image": "fluent" }), annotations);
        assert_row(
            4,
            (delivery, Case::Bound),
            (&v, &multi(&[])),
            "logs",
            &[
                "AWS_ROLE_SESSION_NAME",
                "AWS_CONFIG_FILE",
                "AWS_SDK_LOAD_CONFIG",
                "AWS_PROFILE",
                "AWS_STS_REGIONAL_ENDPOINTS",
            ],
            &[CONFIG_VOLUME, VOLUME],
        );
    }
}

#[test]
fn row_own_aws_profile_the_config_file_and_no_web_identity_with_a_warning() {
    use crate::share::{Case, Delivery};
    let own = json!({ "name": "tool", "image": "x", "env": [{ "name": "AWS_PROFILE", "value": "logs" }] });
    for (delivery, annotations) in [(Delivery::Profiles, json!({})), (Delivery::RuntimeSwitching, runtime())] {
        let v = with_container(own.clone(), annotations);
        let warnings = assert_row(
            5,
            (delivery, Case::OwnProfile),
            (&v, &multi(&[])),
            "tool",
            &[
                "AWS_PROFILE",
                "AWS_ROLE_SESSION_NAME",
                "AWS_CONFIG_FILE",
                "AWS_SDK_LOAD_CONFIG",
                "AWS_STS_REGIONAL_ENDPOINTS",
            ],
            &[CONFIG_VOLUME, VOLUME],
        );
        assert_eq!(
            warnings,
            ["gke-aws-verifier: sets its own AWS_PROFILE, so it gets no AWS_ROLE_ARN: container tool"]
        );
    }
    // Without named roles its AWS_PROFILE names a file of its own: the default role's row.
    let v = with_container(own, json!({}));
    let (p, warnings) = injected(&v, &ksa(&[]));
    assert_eq!(warnings, Vec::<String>::new());
    let mut expected = vec!["AWS_PROFILE"];
    expected.extend(WEB_IDENTITY);
    assert_eq!(env_names(container(&p, "tool")), expected);
}

#[test]
fn row_own_role_keeps_it_and_gets_the_region_without_named_roles_or_with_them() {
    use crate::share::{Case, Delivery};
    let own = json!({ "name": "own", "image": "x", "env": [{ "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::210987654321:role/own" }] });
    for (delivery, ksa) in [(Delivery::OneRole, ksa(&[])), (Delivery::Profiles, multi(&[]))] {
        let v = with_container(own.clone(), json!({}));
        let warnings = assert_row(
            6,
            (delivery, Case::OwnRole),
            (&v, &ksa),
            "own",
            &[
                "AWS_ROLE_ARN",
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "AWS_STS_REGIONAL_ENDPOINTS",
            ],
            &[],
        );
        assert!(
            warnings[0].contains("so it gets no token: container own"),
            "{warnings:?}"
        );
    }
}

#[test]
fn row_own_role_in_a_runtime_switching_pod_gets_no_region() {
    use crate::share::{Case, Delivery};
    let own = json!({ "name": "own", "image": "x", "env": [{ "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::210987654321:role/own" }] });
    let v = with_container(own, runtime());
    assert_row(
        7,
        (Delivery::RuntimeSwitching, Case::OwnRole),
        (&v, &multi(&[])),
        "own",
        &["AWS_ROLE_ARN", "AWS_STS_REGIONAL_ENDPOINTS"],
        &[],
    );
}

#[test]
fn profile_switching_takes_runtime_only_and_warns_without_named_roles() {
    let mut v = pod_json();
    v["metadata"]["annotations"] = json!({ "gke-aws-verifier/profile-switching": "yes" });
    let message = denial(&v, Some(&multi(&[])));
    assert!(
        message.contains("gke-aws-verifier/profile-switching: \"yes\" is not a value it takes")
            && message.contains("gke-aws-verifier/profile-switching: \"runtime\""),
        "{message}"
    );
    let mut v = pod_json();
    v["metadata"]["annotations"] = runtime();
    let (p, warnings) = injected(&v, &ksa(&[]));
    assert_eq!(
        warnings,
        ["gke-aws-verifier: gke-aws-verifier/profile-switching: the KSA has no named roles, nothing to switch"]
    );
    assert_eq!(env_value(container(&p, "app"), "AWS_ROLE_ARN"), Some(json!(ARN)));
    assert_eq!(p["metadata"]["annotations"].get(crate::keys::AWS_CONFIG), None);
}

#[test]
fn the_pods_config_annotation_is_the_same_whatever_the_delivery() {
    let (profiles, _) = injected(&pod_json(), &multi(&[]));
    let mut v = pod_json();
    v["metadata"]["annotations"] = runtime();
    let (runtime_pod, _) = injected(&v, &multi(&[]));
    assert_eq!(
        profiles["metadata"]["annotations"][crate::keys::AWS_CONFIG],
        runtime_pod["metadata"]["annotations"][crate::keys::AWS_CONFIG]
    );
}
