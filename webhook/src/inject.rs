//! What an opted-in pod gets, as JSON Patch `add` operations: the token volume, its read-only
//! mount and the AWS env in the containers that get a role (each as its row of
//! [`crate::share::TABLE`] says), in the `gke` identity mode the token-file writers, and for a
//! KSA with named roles the shared config file. Each piece is
//! added only when missing, so a second admission of an injected pod (reinvocation) yields no
//! operation at all. The decision ([`crate::mutate`]) has already refused pods whose names
//! clash with ours, so a piece of our name is ours.

use std::collections::BTreeMap;

use gke_aws_verifier::input::RoleArn;
use gke_aws_verifier::profiles::{DEFAULT_PROFILE, Profile};
use gke_aws_verifier::session_name;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};
use serde_json::{Value, json};

use crate::choice::Choice;
use crate::keys::AWS_CONFIG;
use crate::paths::normalise;
use crate::resources::Resources;
use crate::roles::NamedRole;
use crate::share::{self, Case, Delivery, Sets};

/// The token's folder in every container; the SDKs read `AWS_WEB_IDENTITY_TOKEN_FILE`.
pub const TOKEN_DIR: &str = "/var/run/secrets/gke-aws";
pub const TOKEN_FILE: &str = "/var/run/secrets/gke-aws/token";
pub const VOLUME: &str = "gke-aws-token";
/// The shared config file's folder, beside the token's: a `downwardAPI` volume of the pod's
/// own annotation, so no process of ours writes it. Its own folder because the token's is an
/// `emptyDir` in GSA mode, which a second volume cannot share.
pub const CONFIG_DIR: &str = "/var/run/secrets/gke-aws-config";
pub const CONFIG_FILE: &str = "/var/run/secrets/gke-aws-config/config";
pub const CONFIG_VOLUME: &str = "gke-aws-config";
/// The init container that writes the first token and exits, then the native sidecar that keeps
/// it fresh, both ahead of the application's init containers. The image is distroless (no shell
/// for a startup probe), so the first token's exit is what lets the application start. They run
/// one after the other, never together: each container has its own PID namespace, so two
/// writers of one file could both be PID 1 and clash on the writer's `.token.PID-N.tmp` names.
pub const FIRST_TOKEN: &str = "gke-aws-token-init";
pub const SIDECAR: &str = "gke-aws-token";
/// The projected KSA token's lifetime in cluster mode; the kubelet renews it at 80%.
pub const PROJECTED_TOKEN_SECONDS: i64 = 3600;

/// The variables that are one unit each: a container that sets any of a unit keeps the whole
/// unit its own (our token with its role ARN, or its region beside ours, would mix two setups).
const ROLE_UNIT: [&str; 3] = ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME"];
const REGION_UNIT: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

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
    /// `gke-aws-verifier/role.NAME` roles, sorted by name; empty for a single-role KSA.
    pub named: Vec<NamedRole>,
}

/// Everything the patch is built from.
pub struct Plan<'a> {
    pub credentials: &'a Credentials,
    /// The token writers' CPU and memory.
    pub resources: &'a Resources,
    pub sidecar_image: &'a str,
    /// Each container's choice, by name (containers not in it get nothing).
    pub choices: &'a BTreeMap<String, Choice>,
    /// How the roles reach the containers: which row of [`crate::share::TABLE`] each gets.
    pub delivery: Delivery,
    /// The shared config file, rendered from [`profiles`], when the KSA has named roles.
    pub config: Option<&'a str>,
}

/// The patch, and warnings about containers that keep settings of their own.
pub struct Injection {
    pub patch: Patch,
    pub warnings: Vec<String>,
}

/// The pod's profiles: `[default]` for the default role, then one per named role.
pub fn profiles(pod: &Pod, c: &Credentials) -> Vec<Profile> {
    profiles_with_session(known_session_name(pod), c)
}

/// The profiles of [`profiles`], each with `session` as its `role_session_name` (`None` for a
/// pod named by `generateName`, whose name is not known at admission).
pub fn profiles_with_session(session: Option<String>, c: &Credentials) -> Vec<Profile> {
    let profile = |name: &str, arn: &RoleArn, region: &Option<String>| Profile {
        name: name.to_owned(),
        role_arn: arn.as_str().to_owned(),
        web_identity_token_file: TOKEN_FILE.to_owned(),
        role_session_name: session.clone(),
        region: region.clone(),
    };
    let mut all = vec![profile(DEFAULT_PROFILE, &c.role_arn, &c.region)];
    all.extend(c.named.iter().map(|r| profile(&r.name, &r.role_arn, &r.region)));
    all
}

/// The operations that bring `pod` to its injected form; empty when it is already there.
pub fn patch(pod: &Pod, plan: &Plan) -> Injection {
    let mut injection = Injection {
        patch: Patch(Vec::new()),
        warnings: Vec::new(),
    };
    let Some(spec) = pod.spec.as_ref() else {
        return injection;
    };
    let ops = &mut injection.patch.0;
    let c = plan.credentials;
    if let Some(config) = plan.config {
        let current = pod.metadata.annotations.as_ref();
        match current {
            None => add(ops, &["metadata", "annotations"], json!({ AWS_CONFIG: config })),
            Some(a) if a.get(AWS_CONFIG).map(String::as_str) != Some(config) => {
                // `add` on an existing member replaces it (RFC 6902): a value set by hand is ours now.
                add(ops, &["metadata", "annotations", AWS_CONFIG], json!(config));
            }
            Some(_) => {}
        }
    }
    let session = session_name(pod);
    // Application containers first, at their original indices: the sidecars are inserted at
    // the front of initContainers last, which shifts those indices.
    let init_containers = spec.init_containers.as_deref().unwrap_or_default();
    for (kind, containers) in [
        ("containers", spec.containers.as_slice()),
        ("initContainers", init_containers),
    ] {
        for (i, container) in containers.iter().enumerate() {
            let choice = plan.choices.get(&container.name).unwrap_or(&Choice::Nothing);
            let target = Target {
                kind,
                index: i,
                container,
            };
            container_ops(&mut injection.warnings, ops, &target, choice, plan, &session);
        }
    }
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let mut new_volumes = Vec::new();
    if !volumes.iter().any(|v| v.name == VOLUME) {
        new_volumes.push(token_volume(c));
    }
    if plan.config.is_some() && !volumes.iter().any(|v| v.name == CONFIG_VOLUME) {
        new_volumes.push(config_volume());
    }
    add_all(ops, &["spec", "volumes"], spec.volumes.is_none(), new_volumes);
    if c.identity == Identity::Gke {
        let has = |name: &str| init_containers.iter().any(|ic| ic.name == name);
        let mut front = Vec::new();
        if !has(FIRST_TOKEN) {
            front.push(writer(FIRST_TOKEN, plan, true));
        }
        if !has(SIDECAR) {
            front.push(writer(SIDECAR, plan, false));
        }
        if spec.init_containers.is_none() && !front.is_empty() {
            add(ops, &["spec", "initContainers"], Value::Array(front));
        } else {
            for (i, container) in front.into_iter().enumerate() {
                add(ops, &["spec", "initContainers", &i.to_string()], container);
            }
        }
    }
    injection
}

/// The pod's name as STS's session name, when it is known at admission.
fn known_session_name(pod: &Pod) -> Option<String> {
    let name = pod.metadata.name.as_deref().filter(|n| !n.is_empty());
    let generated = pod.metadata.generate_name.as_deref().is_some_and(|g| !g.is_empty());
    (name.is_some() || !generated).then(|| session_name::from_pod_name(name))
}

/// The pod's name, within STS's 64 characters. A pod named by `generateName` (every pod of a
/// Deployment or Job) has no name yet at admission; the API server then generates one of at
/// most 63 characters of `[a-z0-9.-]`, which STS accepts as is, so the kubelet fills it in.
fn session_name(pod: &Pod) -> Value {
    match known_session_name(pod) {
        Some(name) => json!({ "value": name }),
        None => json!({ "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }),
    }
}

/// One container of the pod and where it sits.
struct Target<'a> {
    kind: &'static str,
    index: usize,
    container: &'a Container,
}

fn container_ops(
    warnings: &mut Vec<String>,
    ops: &mut Vec<PatchOperation>,
    t: &Target,
    choice: &Choice,
    plan: &Plan,
    session: &Value,
) {
    let c = t.container;
    let existing = c.env.as_deref().unwrap_or_default();
    let find = |name: &str| existing.iter().find(|e| e.name == name);
    let sets = |unit: &[&str]| unit.iter().any(|name| find(name).is_some());
    let mounts = c.volume_mounts.as_deref().unwrap_or_default();
    let mounted = |volume: &str, dir: &str| {
        mounts
            .iter()
            .any(|m| m.name == volume && normalise(&m.mount_path) == dir)
    };
    let has_token = mounted(VOLUME, TOKEN_DIR);
    let bound = match choice {
        Choice::Profile(profile) => Some(profile.as_str()),
        _ => None,
    };
    // Its own role, not ours from an earlier admission (ours comes with our mount); its own
    // AWS_PROFILE on the default role (the webhook writes AWS_PROFILE only for a bound profile).
    let own = Sets {
        own_role: sets(&ROLE_UNIT) && !has_token,
        own_profile: find("AWS_PROFILE").is_some(),
    };
    let case = share::case(*choice == Choice::Nothing, bound.is_some(), own, plan.delivery);
    let gets = share::gets(plan.delivery, case);
    // The container's name last: a cut warning keeps its reason.
    match case {
        Case::OwnRole => warnings.push(format!(
            "gke-aws-verifier: sets its own AWS_ROLE_ARN/…TOKEN_FILE/…SESSION_NAME, so it gets no token: container {}",
            c.name
        )),
        Case::OwnProfile => warnings.push(format!(
            "gke-aws-verifier: sets its own AWS_PROFILE, so it gets no AWS_ROLE_ARN: container {}",
            c.name
        )),
        _ => {}
    }
    let literal = |v: &str| json!({ "value": v });
    let mut env: Vec<(&str, Value)> = Vec::new();
    let mut new_mounts = Vec::new();
    if gets.web_identity && !sets(&ROLE_UNIT) {
        env.push(("AWS_ROLE_ARN", literal(plan.credentials.role_arn.as_str())));
        env.push(("AWS_WEB_IDENTITY_TOKEN_FILE", literal(TOKEN_FILE)));
    }
    // Also alone (without the rest of the unit) for the profiles: botocore and the JavaScript
    // SDK read it for a profile whose file has no role_session_name (a pod named by
    // generateName).
    if gets.session_name && find("AWS_ROLE_SESSION_NAME").is_none() {
        env.push(("AWS_ROLE_SESSION_NAME", session.clone()));
    }
    if gets.region
        && let Some(region) = &plan.credentials.region
        && !sets(&REGION_UNIT)
    {
        env.push(("AWS_REGION", literal(region)));
        env.push(("AWS_DEFAULT_REGION", literal(region)));
    }
    if gets.config_file {
        let own_config = find("AWS_CONFIG_FILE").is_some_and(|e| !is_literal(e, CONFIG_FILE));
        if own_config {
            warnings.push(format!(
                "gke-aws-verifier: sets its own AWS_CONFIG_FILE, without the pod's profiles: container {}",
                c.name
            ));
        } else {
            if find("AWS_CONFIG_FILE").is_none() {
                env.push(("AWS_CONFIG_FILE", literal(CONFIG_FILE)));
            }
            // The Go SDK v1 reads AWS_CONFIG_FILE and AWS_PROFILE only with this set; the
            // other SDKs ignore it.
            if find("AWS_SDK_LOAD_CONFIG").is_none() {
                env.push(("AWS_SDK_LOAD_CONFIG", literal("1")));
            }
            if gets.profile
                && let Some(profile) = bound
            {
                match find("AWS_PROFILE") {
                    None => env.push(("AWS_PROFILE", literal(profile))),
                    Some(e) if !is_literal(e, profile) => warnings.push(format!(
                        "gke-aws-verifier: sets its own AWS_PROFILE, not {profile}: container {}",
                        c.name
                    )),
                    Some(_) => {}
                }
            }
            if !mounted(CONFIG_VOLUME, CONFIG_DIR) {
                new_mounts.push(json!({ "name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": true }));
            }
        }
    }
    if gets.token && !has_token {
        new_mounts.push(json!({ "name": VOLUME, "mountPath": TOKEN_DIR, "readOnly": true }));
    }
    if gets.sts_regional && find("AWS_STS_REGIONAL_ENDPOINTS").is_none() {
        env.push(("AWS_STS_REGIONAL_ENDPOINTS", literal("regional")));
    }
    let index = t.index.to_string();
    let env: Vec<Value> = env.into_iter().map(|(name, v)| env_var(name, v)).collect();
    add_all(ops, &["spec", t.kind, &index, "env"], c.env.is_none(), env);
    add_all(
        ops,
        &["spec", t.kind, &index, "volumeMounts"],
        c.volume_mounts.is_none(),
        new_mounts,
    );
}

fn is_literal(var: &EnvVar, value: &str) -> bool {
    var.value_from.is_none() && var.value.as_deref() == Some(value)
}

fn env_var(name: &str, value: Value) -> Value {
    let mut var = value;
    var["name"] = json!(name);
    var
}

/// The token volume the pod gets (also what [`crate::clash`] recognises as ours).
pub fn token_volume(c: &Credentials) -> Value {
    match c.identity {
        // In memory: the token never touches the node's disk.
        Identity::Gke => json!({ "name": VOLUME, "emptyDir": { "medium": "Memory", "sizeLimit": "1Mi" } }),
        Identity::Cluster => json!({ "name": VOLUME, "projected": { "sources": [{ "serviceAccountToken": {
            "audience": c.audience, "expirationSeconds": PROJECTED_TOKEN_SECONDS, "path": "token" } }] } }),
    }
}

/// The `fieldPath` of the pod's config annotation, as the downward API spells it.
pub fn config_field_path() -> String {
    format!("metadata.annotations['{AWS_CONFIG}']")
}

fn config_volume() -> Value {
    json!({ "name": CONFIG_VOLUME, "downwardAPI": { "items": [
        { "path": "config", "fieldRef": { "fieldPath": config_field_path() } }
    ] } })
}

/// The token writer, hardened like the verify Job. `--file-mode 0644`: every container of the
/// pod may read the token whatever its user (they could all ask the metadata server anyway),
/// and the pod's fsGroup stays the application's. Requests equal limits (see `resources.rs`).
fn writer(name: &str, plan: &Plan, once: bool) -> Value {
    let audience = plan.credentials.audience.as_str();
    let mut args = vec!["token-file", "--path", TOKEN_FILE, "--audience", audience];
    args.extend(["--file-mode", "0644", "--log-format", "json"]);
    if once {
        args.push("--once");
    }
    let mut container = json!({
        "name": name,
        "image": plan.sidecar_image,
        "args": args,
        "resources": plan.resources.json(),
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

/// Appends `values` to the list at `path`, creating the list when the field is absent.
fn add_all(ops: &mut Vec<PatchOperation>, path: &[&str], absent: bool, values: Vec<Value>) {
    if values.is_empty() {
        return;
    }
    if absent {
        add(ops, path, Value::Array(values));
    } else {
        for value in values {
            add_to_list(ops, path, false, value);
        }
    }
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
