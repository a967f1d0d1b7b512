//! What an opted-in pod gets, as JSON Patch `add` operations: the token volume, its read-only
//! mount and the AWS env in every application container, and in the `gke` identity mode the
//! token-file sidecar. Each piece is added only when missing, so a second admission of an
//! injected pod (reinvocation) yields no operation at all.

use std::collections::HashSet;

use gke_aws_verifier::input::RoleArn;
use gke_aws_verifier::session_name;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use crate::mutate::{SKIP_CONTAINERS, Settings};

/// The token's folder in every container; the SDKs read `AWS_WEB_IDENTITY_TOKEN_FILE`.
pub const TOKEN_DIR: &str = "/var/run/secrets/gke-aws";
pub const TOKEN_FILE: &str = "/var/run/secrets/gke-aws/token";
pub const VOLUME: &str = "gke-aws-token";
/// The init container that writes the first token and exits, then the native sidecar that keeps
/// it fresh, both ahead of the application's init containers. The image is distroless (no shell
/// for a startup probe), so the first token's exit is what lets the application start. They run
/// one after the other, never together: each container has its own PID namespace, so two
/// writers of one file could both be PID 1 and clash on the writer's `.token.PID-N.tmp` names.
pub const FIRST_TOKEN: &str = "gke-aws-token-init";
pub const SIDECAR: &str = "gke-aws-token";
/// The projected KSA token's lifetime in cluster mode; the kubelet renews it at 80%.
const PROJECTED_TOKEN_SECONDS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Google ID token from the GKE metadata server (Workload Identity), via the sidecar.
    Gke,
    /// The KSA's own token, projected by the kubelet.
    Cluster,
}

/// What the KSA's annotations (and the defaults) say the pod gets.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub role_arn: RoleArn,
    pub region: Option<String>,
    pub audience: String,
    pub identity: Identity,
}

/// The operations that bring `pod` to its injected form; empty when it is already there.
pub fn patch(pod: &Pod, c: &Credentials, settings: &Settings) -> Patch {
    let mut ops = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return Patch(ops);
    };
    let skipped = skipped_containers(pod);
    let env = env(pod, c);
    // Application containers first, at their original indices: the sidecars are inserted at
    // the front of initContainers last, which shifts those indices.
    let init_containers = spec.init_containers.as_deref().unwrap_or_default();
    for (kind, containers) in [
        ("containers", spec.containers.as_slice()),
        ("initContainers", init_containers),
    ] {
        for (i, container) in containers.iter().enumerate() {
            let ours = container.name == SIDECAR || container.name == FIRST_TOKEN;
            if !ours && !skipped.contains(container.name.as_str()) {
                container_ops(&mut ops, kind, i, container, &env);
            }
        }
    }
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    if !volumes.iter().any(|v| v.name == VOLUME) {
        add_to_list(&mut ops, &["spec", "volumes"], spec.volumes.is_none(), volume(c));
    }
    if c.identity == Identity::Gke {
        let has = |name: &str| init_containers.iter().any(|ic| ic.name == name);
        let mut front = Vec::new();
        if !has(FIRST_TOKEN) {
            front.push(sidecar(FIRST_TOKEN, c, settings, true));
        }
        if !has(SIDECAR) {
            front.push(sidecar(SIDECAR, c, settings, false));
        }
        if spec.init_containers.is_none() && !front.is_empty() {
            add(&mut ops, &["spec", "initContainers"], Value::Array(front));
        } else {
            for (i, container) in front.into_iter().enumerate() {
                add(&mut ops, &["spec", "initContainers", &i.to_string()], container);
            }
        }
    }
    Patch(ops)
}

fn skipped_containers(pod: &Pod) -> HashSet<&str> {
    let annotations = pod.metadata.annotations.as_ref();
    let list = annotations
        .and_then(|a| a.get(SKIP_CONTAINERS))
        .map(String::as_str)
        .unwrap_or_default();
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// The AWS SDKs' web-identity env, in the order the SDKs document it.
fn env(pod: &Pod, c: &Credentials) -> Vec<(&'static str, Value)> {
    let literal = |v: &str| json!({ "value": v });
    let mut env = vec![
        ("AWS_ROLE_ARN", literal(c.role_arn.as_str())),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", literal(TOKEN_FILE)),
        ("AWS_ROLE_SESSION_NAME", session_name(pod)),
    ];
    if let Some(region) = &c.region {
        env.push(("AWS_REGION", literal(region)));
        env.push(("AWS_DEFAULT_REGION", literal(region)));
    }
    env.push(("AWS_STS_REGIONAL_ENDPOINTS", literal("regional")));
    env
}

/// The pod's name, within STS's 64 characters. A pod named by `generateName` (every pod of a
/// Deployment or Job) has no name yet at admission; the API server then generates one of at
/// most 63 characters of `[a-z0-9.-]`, which STS accepts as is, so the kubelet fills it in.
fn session_name(pod: &Pod) -> Value {
    let name = pod.metadata.name.as_deref().filter(|n| !n.is_empty());
    let generated = pod.metadata.generate_name.as_deref().is_some_and(|g| !g.is_empty());
    if name.is_none() && generated {
        return json!({ "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } });
    }
    json!({ "value": session_name::from_pod_name(name) })
}

fn container_ops(ops: &mut Vec<PatchOperation>, kind: &str, i: usize, c: &Container, env: &[(&str, Value)]) {
    let index = i.to_string();
    let existing = c.env.as_deref().unwrap_or_default();
    let missing = env.iter().filter(|(name, _)| !existing.iter().any(|e| e.name == *name));
    if c.env.is_none() {
        let all: Vec<Value> = missing.map(|(name, v)| env_var(name, v)).collect();
        if !all.is_empty() {
            add(ops, &["spec", kind, &index, "env"], Value::Array(all));
        }
    } else {
        for (name, v) in missing {
            add(ops, &["spec", kind, &index, "env", "-"], env_var(name, v));
        }
    }
    let mounts = c.volume_mounts.as_deref().unwrap_or_default();
    let mounted = mounts
        .iter()
        .any(|m| m.name == VOLUME || m.mount_path.trim_end_matches('/') == TOKEN_DIR);
    if !mounted {
        let mount = json!({ "name": VOLUME, "mountPath": TOKEN_DIR, "readOnly": true });
        add_to_list(
            ops,
            &["spec", kind, &index, "volumeMounts"],
            c.volume_mounts.is_none(),
            mount,
        );
    }
}

fn env_var(name: &str, value: &Value) -> Value {
    let mut var = value.clone();
    var["name"] = json!(name);
    var
}

fn volume(c: &Credentials) -> Value {
    match c.identity {
        // In memory: the token never touches the node's disk.
        Identity::Gke => json!({ "name": VOLUME, "emptyDir": { "medium": "Memory", "sizeLimit": "1Mi" } }),
        Identity::Cluster => json!({ "name": VOLUME, "projected": { "sources": [{ "serviceAccountToken": {
            "audience": c.audience, "expirationSeconds": PROJECTED_TOKEN_SECONDS, "path": "token" } }] } }),
    }
}

/// The token writer, hardened like the verify Job. `--file-mode 0644`: every container of the
/// pod may read the token whatever its user (they could all ask the metadata server anyway),
/// and the pod's fsGroup stays the application's.
fn sidecar(name: &str, c: &Credentials, settings: &Settings, once: bool) -> Value {
    let mut args = vec!["token-file", "--path", TOKEN_FILE, "--audience", &c.audience];
    args.extend(["--file-mode", "0644", "--log-format", "json"]);
    if once {
        args.push("--once");
    }
    let mut container = json!({
        "name": name,
        "image": settings.sidecar_image,
        "args": args,
        "resources": { "requests": { "cpu": "10m", "memory": "32Mi" }, "limits": { "memory": "64Mi" } },
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "privileged": false,
            "capabilities": { "drop": ["ALL"] }, "seccompProfile": { "type": "RuntimeDefault" }
        },
        "volumeMounts": [{ "name": VOLUME, "mountPath": TOKEN_DIR }],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    });
    if !once {
        // A native sidecar: runs beside the app and ends with the pod, so Jobs complete.
        container["restartPolicy"] = json!("Always");
    }
    container
}

/// Appends `value` to the list at `path`, creating the list when the field is absent.
fn add_to_list(ops: &mut Vec<PatchOperation>, path: &[&str], absent: bool, value: Value) {
    if absent {
        add(ops, path, Value::Array(vec![value]));
    } else {
        let mut tokens = path.to_vec();
        tokens.push("-");
        add(ops, &tokens, value);
    }
}

fn add(ops: &mut Vec<PatchOperation>, path: &[&str], value: Value) {
    let path = PointerBuf::from_tokens(path.iter().copied());
    ops.push(PatchOperation::Add(AddOperation { path, value }));
}
