//! The objects the audit reads, reduced while they are read: each type deserializes straight
//! from the API server's JSON and keeps only the fields the checks use. Labels and annotations
//! keep only the keys this project defines (a pod's `kubectl.kubernetes.io/last-applied-configuration`
//! is skipped, never held), env only the variables the audit compares, volumes and mounts only
//! whether they are the webhook's token volume.

use std::collections::BTreeMap;
use std::fmt;

use std::borrow::Cow;

pub use crate::kept::Kept;
use gke_aws_webhook::inject::{TOKEN_DIR, VOLUME};
use gke_aws_webhook::keys::AWS_CONFIG;
use gke_aws_webhook::mutate::{AUDIENCE, GSA, IDENTITY, INJECT_LABEL, REGION, ROLE_ARN};
use gke_aws_webhook::paths::normalise;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Prefixes of the per-role KSA annotations (`gke-aws-verifier/role.NAME`, `…/region.NAME`).
pub const NAMED_ROLE_PREFIX: &str = "gke-aws-verifier/role.";
pub const NAMED_REGION_PREFIX: &str = "gke-aws-verifier/region.";

/// Longest `gke-aws-verifier/aws-config` pod annotation kept: more than the webhook writes for
/// eleven profiles of the longest values it takes (2,048-character ARNs). A longer one is not
/// the webhook's; it is kept as an empty value, which no profile file the webhook writes is.
pub const MAX_AWS_CONFIG_BYTES: usize = 32 * 1024;

/// The env variables of an injected container that the audit compares.
const KEPT_ENV: [&str; 3] = ["AWS_ROLE_ARN", "AWS_REGION", "AWS_DEFAULT_REGION"];

/// A page of a list: its items and where the next page starts.
#[derive(Debug, Deserialize)]
pub struct List<T> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListMeta {
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

/// Metadata, reduced: the opt-in label as a flag, the annotations this project defines, and
/// the controlling owner.
#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default, deserialize_with = "opt_in_label")]
    pub labels: OptIn,
    #[serde(default, deserialize_with = "kept_annotations")]
    pub annotations: Kept,
    /// Boxed: most objects read (KSAs) have none, and then it costs 8 bytes, not 48.
    #[serde(default, rename = "ownerReferences", deserialize_with = "controller")]
    pub owner: Option<Box<Owner>>,
}

/// Names Kubernetes accepts, checked on every object read: a name the API server would have
/// refused means something else answered, and such an object becomes a finding, never part of
/// a command.
pub trait Named {
    /// Why the object's names are not Kubernetes names (`None`: they are).
    fn invalid_name(&self) -> Option<String>;
}

impl Meta {
    /// The name a DNS subdomain, the namespace (if any) a DNS label, the owner's name a
    /// subdomain and its kind a word.
    fn invalid_name(&self) -> Option<String> {
        if !is_dns_subdomain(&self.name) {
            return Some(format!("the name {:?} is not a DNS subdomain", shown(&self.name)));
        }
        if !self.namespace.is_empty() && !is_dns_label(&self.namespace) {
            return Some(format!("the namespace {:?} is not a DNS label", shown(&self.namespace)));
        }
        let owner = self.owner.as_ref()?;
        if !is_dns_subdomain(&owner.name)
            || owner.kind.is_empty()
            || !owner.kind.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Some(format!(
                "its owner {:?}/{:?} is not a Kubernetes kind and name",
                shown(&owner.kind),
                shown(&owner.name)
            ));
        }
        None
    }
}

impl Named for Pod {
    fn invalid_name(&self) -> Option<String> {
        self.metadata.invalid_name().or_else(|| {
            let ksa = self.spec.service_account_name.as_deref()?;
            (!is_dns_subdomain(ksa)).then(|| format!("its serviceAccountName {:?} is not a DNS subdomain", shown(ksa)))
        })
    }
}

impl Named for ServiceAccount {
    fn invalid_name(&self) -> Option<String> {
        self.metadata.invalid_name()
    }
}

impl Named for Workload {
    fn invalid_name(&self) -> Option<String> {
        self.metadata.invalid_name()
    }
}

impl Named for WebhookConfiguration {
    fn invalid_name(&self) -> Option<String> {
        self.metadata.invalid_name()
    }
}

/// RFC 1123 subdomain, as Kubernetes checks object names: at most 253 characters of lowercase
/// alphanumerics, `-` and `.`, starting and ending alphanumeric.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && !name.is_empty() && name.split('.').all(is_label_chars)
}

/// RFC 1123 label, as Kubernetes checks namespaces: at most 63 characters of lowercase
/// alphanumerics and `-`, starting and ending alphanumeric.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_label_chars(name)
}

fn is_label_chars(part: &str) -> bool {
    let bytes = part.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bytes.first().is_some_and(edge) && bytes.last().is_some_and(edge) && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// At most 100 characters of a name that is not one, for a message.
pub fn shown(name: &str) -> String {
    name.chars().take(100).collect()
}

/// Whether the labels carry `gke-aws-verifier/inject=true`, and the labels themselves (at most
/// [`MAX_LABELS`]), which a webhook's `objectSelector` is evaluated against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptIn(pub bool, pub Kept);

/// Labels kept of one object; the API server sets no count, real objects carry a handful.
pub const MAX_LABELS: usize = 64;

/// The controlling owner (`controller: true`) of an object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// A pod, reduced.
#[derive(Debug, Deserialize)]
pub struct Pod {
    pub metadata: Meta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub init_containers: Vec<Container>,
    /// The kind of the webhook's token volume, `None` when the pod has none; other volumes are
    /// skipped.
    #[serde(default, rename = "volumes", deserialize_with = "token_volume")]
    pub token_volume: Option<Mode>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Container {
    #[serde(default, deserialize_with = "kept_env")]
    pub env: Kept,
    /// Whether it mounts the webhook's token volume at the token's folder: the webhook mounts
    /// it into each container it gives a role, and into no container that sets its own.
    #[serde(default, rename = "volumeMounts", deserialize_with = "mounts_token")]
    pub mounts_token: bool,
}

/// The identity mode, as the KSA annotation and the webhook's volume say it: the verifier's
/// parser, shared with the webhook.
pub use gke_aws_verifier::identity::annotation::Mode;

/// What the webhook left in a pod, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injection {
    /// The token volume's kind: emptyDir (the sidecar's, GSA mode) or projected (cluster mode).
    pub mode: Option<Mode>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
}

impl Injection {
    /// None of the injection: no token volume. The webhook adds it to every pod it mutates;
    /// AWS variables without it are the application's own.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none()
    }
}

impl Pod {
    pub fn opted_in(&self) -> bool {
        self.metadata.labels.0
    }

    /// Running or Pending: admitted already, and still there to get credentials.
    pub fn is_live(&self) -> bool {
        matches!(self.status.phase.as_deref(), Some("Running" | "Pending") | None)
    }

    pub fn service_account(&self) -> &str {
        self.spec
            .service_account_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }

    /// The injection: the token volume's kind, and the role and region as the first container
    /// that mounts the volume shows them. A container without the mount was left alone by the
    /// webhook (it sets its own role), so its variables are not the injection's.
    pub fn injection(&self) -> Injection {
        let Some(mode) = self.spec.token_volume else {
            return Injection::default();
        };
        let mounted = self
            .spec
            .containers
            .iter()
            .chain(&self.spec.init_containers)
            .filter(|c| c.mounts_token);
        // The webhook writes the two region variables together, and neither into a container
        // that sets one itself: a region without its twin is the container's own, not stale.
        let injected_region = |c: &Container| {
            let region = c.env.get("AWS_REGION")?;
            (c.env.get("AWS_DEFAULT_REGION") == Some(region)).then(|| region.to_owned())
        };
        Injection {
            mode: Some(mode),
            role_arn: mounted
                .clone()
                .find_map(|c| c.env.get("AWS_ROLE_ARN").map(str::to_owned)),
            region: mounted.clone().find_map(injected_region),
        }
    }
}

/// A ServiceAccount, reduced to the annotations this project defines.
#[derive(Debug, Deserialize)]
pub struct ServiceAccount {
    pub metadata: Meta,
}

impl ServiceAccount {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.get(key)
    }

    /// The named roles (`gke-aws-verifier/role.NAME`), by name.
    pub fn named_roles(&self) -> BTreeMap<&str, &str> {
        self.metadata
            .annotations
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(NAMED_ROLE_PREFIX).map(|name| (name, v)))
            .collect()
    }
}

/// A Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob, reduced: its labels'
/// opt-in flag, its pod template's, and its owner.
#[derive(Debug, Deserialize)]
pub struct Workload {
    pub metadata: Meta,
    #[serde(default)]
    pub spec: WorkloadSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    #[serde(default)]
    pub template: Option<Template>,
    /// CronJobs: the Job template, whose own labels are the Jobs' and whose template is the pods'.
    #[serde(default)]
    pub job_template: Option<JobTemplate>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Template {
    #[serde(default)]
    pub metadata: TemplateMeta,
}

#[derive(Debug, Default, Deserialize)]
pub struct TemplateMeta {
    #[serde(default, deserialize_with = "opt_in_label")]
    pub labels: OptIn,
}

#[derive(Debug, Default, Deserialize)]
pub struct JobTemplate {
    #[serde(default)]
    pub metadata: TemplateMeta,
    #[serde(default)]
    pub spec: JobTemplateSpec,
}

#[derive(Debug, Default, Deserialize)]
pub struct JobTemplateSpec {
    #[serde(default)]
    pub template: Template,
}

impl Workload {
    /// The opt-in label on the object itself (for a CronJob, also on its Job template).
    pub fn labelled(&self) -> bool {
        self.metadata.labels.0 || self.spec.job_template.as_ref().is_some_and(|j| j.metadata.labels.0)
    }

    /// The opt-in label on the pods' template, which is where the webhook looks.
    pub fn template_labelled(&self) -> bool {
        match &self.spec.job_template {
            Some(job) => job.spec.template.metadata.labels.0,
            None => self.spec.template.as_ref().is_some_and(|t| t.metadata.labels.0),
        }
    }
}

/// A MutatingWebhookConfiguration, reduced to what says whether injection can work.
#[derive(Debug, Deserialize)]
pub struct WebhookConfiguration {
    pub metadata: Meta,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub client_config: ClientConfig,
    /// Unset means `Fail` in admissionregistration.k8s.io/v1.
    #[serde(default)]
    pub failure_policy: Option<String>,
    /// Which namespaces' pods the API server sends (unset: every namespace).
    #[serde(default)]
    pub namespace_selector: Option<crate::selector::LabelSelector>,
    /// Which pods the API server sends (unset: every pod).
    #[serde(default)]
    pub object_selector: Option<crate::selector::LabelSelector>,
}

/// A Namespace, reduced to its name and labels (what a `namespaceSelector` reads).
#[derive(Debug, Deserialize)]
pub struct Namespace {
    pub metadata: Meta,
}

impl Named for Namespace {
    fn invalid_name(&self) -> Option<String> {
        (!is_dns_label(&self.metadata.name))
            .then(|| format!("the name {:?} is not a DNS label", shown(&self.metadata.name)))
    }
}

/// A `discovery.k8s.io/v1` EndpointSlice, reduced to the Service it belongs to (its
/// `kubernetes.io/service-name` label) and how many of its endpoints are ready.
#[derive(Debug, Deserialize)]
pub struct EndpointSlice {
    #[serde(default)]
    pub metadata: SliceMeta,
    #[serde(default, deserialize_with = "ready_endpoints")]
    pub endpoints: usize,
}

#[derive(Debug, Default, Deserialize)]
pub struct SliceMeta {
    #[serde(default, deserialize_with = "service_name")]
    pub labels: Option<String>,
}

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn service_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(kept_map(d, |k| k == SERVICE_NAME_LABEL)?.remove(SERVICE_NAME_LABEL))
}

/// Endpoints whose `conditions.ready` is not false: "nil should be interpreted as true"
/// (discovery.k8s.io/v1 EndpointConditions,
/// <https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/>).
fn ready_endpoints<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(default)]
        conditions: Conditions,
    }
    #[derive(Default, Deserialize)]
    struct Conditions {
        #[serde(default)]
        ready: Option<bool>,
    }
    let endpoints = Option::<Vec<Endpoint>>::deserialize(d)?.unwrap_or_default();
    Ok(endpoints.iter().filter(|e| e.conditions.ready != Some(false)).count())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    #[serde(default, deserialize_with = "present")]
    pub ca_bundle: bool,
    #[serde(default)]
    pub service: Option<ServiceRef>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ServiceRef {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

fn opt_in_label<'de, D: Deserializer<'de>>(d: D) -> Result<OptIn, D::Error> {
    let labels = kept_map(d, |_| true)?;
    let opted_in = labels.get(INJECT_LABEL).is_some_and(|v| v == "true");
    let mut kept: BTreeMap<String, String> = labels.into_iter().take(MAX_LABELS).collect();
    if opted_in {
        kept.insert(INJECT_LABEL.to_owned(), "true".to_owned());
    }
    Ok(OptIn(opted_in, Kept::from_map(kept)))
}

fn kept_annotations<'de, D: Deserializer<'de>>(d: D) -> Result<Kept, D::Error> {
    let mut kept = kept_map(d, |k| {
        [ROLE_ARN, REGION, AUDIENCE, GSA, IDENTITY, AWS_CONFIG].contains(&k)
            || k.starts_with(NAMED_ROLE_PREFIX)
            || k.starts_with(NAMED_REGION_PREFIX)
    })?;
    if let Some(config) = kept.get_mut(AWS_CONFIG)
        && config.len() > MAX_AWS_CONFIG_BYTES
    {
        // Not the webhook's: kept as empty, so the checks see it was there.
        *config = String::new();
    }
    Ok(Kept::from_map(kept))
}

/// A JSON object of strings (or null), keeping only the keys `keep` accepts: the others'
/// values are skipped by the parser, never allocated.
fn kept_map<'de, D: Deserializer<'de>>(d: D, keep: fn(&str) -> bool) -> Result<BTreeMap<String, String>, D::Error> {
    struct Kept(fn(&str) -> bool);
    impl<'de> Visitor<'de> for Kept {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of strings")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if (self.0)(&key) {
                    kept.insert(key.into_owned(), map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(kept)
        }
    }
    d.deserialize_any(Kept(keep))
}

/// `env: [{name, value}]` → the variables of [`KEPT_ENV`] that have a literal value.
fn kept_env<'de, D: Deserializer<'de>>(d: D) -> Result<Kept, D::Error> {
    kept_env_map(d).map(Kept::from_map)
}

fn kept_env_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct EnvVar {
        name: String,
        #[serde(default)]
        value: Option<String>,
    }
    let vars: Option<Vec<EnvVar>> = Option::deserialize(d)?;
    Ok(vars
        .unwrap_or_default()
        .into_iter()
        .filter(|v| KEPT_ENV.contains(&v.name.as_str()))
        .filter_map(|v| v.value.map(|value| (v.name, value)))
        .collect())
}

/// `volumes: [...]` → the kind of the one named like the webhook's token volume, if it is one
/// of the two the webhook writes (emptyDir in GSA mode, projected in cluster mode).
fn token_volume<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Volume<'a> {
        #[serde(default, borrow)]
        name: Cow<'a, str>,
        #[serde(default)]
        empty_dir: Option<IgnoredAny>,
        #[serde(default)]
        projected: Option<IgnoredAny>,
    }
    let volumes: Option<Vec<Volume>> = Option::deserialize(d)?;
    let ours = volumes.unwrap_or_default().into_iter().find(|v| v.name == VOLUME);
    Ok(ours.and_then(|v| match (v.empty_dir, v.projected) {
        (Some(_), None) => Some(Mode::Gsa),
        (None, Some(_)) => Some(Mode::Cluster),
        _ => None,
    }))
}

/// `volumeMounts: [...]` → whether one mounts the token volume at the token's folder (the
/// paths compared as the webhook compares them).
fn mounts_token<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Mount<'a> {
        #[serde(default, borrow)]
        name: Cow<'a, str>,
        #[serde(default, borrow)]
        mount_path: Cow<'a, str>,
    }
    let mounts: Option<Vec<Mount>> = Option::deserialize(d)?;
    Ok(mounts
        .unwrap_or_default()
        .iter()
        .any(|m| m.name == VOLUME && normalise(&m.mount_path) == TOKEN_DIR))
}

fn controller<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Owner>>, D::Error> {
    #[derive(Deserialize)]
    struct Reference {
        kind: String,
        name: String,
        #[serde(default)]
        controller: Option<bool>,
    }
    let refs: Option<Vec<Reference>> = Option::deserialize(d)?;
    Ok(refs
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.controller == Some(true))
        .map(|r| {
            Box::new(Owner {
                kind: r.kind,
                name: r.name,
            })
        }))
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value.is_some_and(|v| !v.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_keeps_only_what_the_audit_reads() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "p", "namespace": "ns",
                "labels": { "app": "x", "gke-aws-verifier/inject": "true" },
                "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{…}", "amazonaws.com/role-arn": "a" },
                "ownerReferences": [{ "kind": "Node", "name": "n" }, { "kind": "ReplicaSet", "name": "rs", "controller": true }] },
            "spec": { "serviceAccountName": "ksa",
                "containers": [
                    // Its own role, so the webhook gave it no mount: not the injection.
                    { "name": "own", "env": [{ "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/own" }] },
                    { "name": "app", "env": [
                        { "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/r" },
                        { "name": "SECRET", "value": "never kept" },
                        { "name": "AWS_ROLE_SESSION_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                        { "name": "AWS_REGION", "value": "eu-west-1" },
                        { "name": "AWS_DEFAULT_REGION", "value": "eu-west-1" }],
                      "volumeMounts": [{ "name": "data", "mountPath": "/data" },
                                       { "name": VOLUME, "mountPath": "/var/run/secrets//gke-aws/", "readOnly": true }] }],
                "volumes": [{ "name": "data", "emptyDir": {} }, { "name": VOLUME, "projected": { "sources": [] } }] },
            "status": { "phase": "Running" }
        }))
        .unwrap();
        assert!(pod.opted_in() && pod.is_live());
        assert_eq!(pod.metadata.annotations.len(), 1);
        assert_eq!(
            pod.metadata.owner.as_deref(),
            Some(&Owner {
                kind: "ReplicaSet".into(),
                name: "rs".into()
            })
        );
        assert_eq!(pod.spec.containers[1].env.len(), 3);
        assert!(!pod.spec.containers[0].mounts_token && pod.spec.containers[1].mounts_token);
        assert_eq!(
            pod.injection(),
            Injection {
                mode: Some(Mode::Cluster),
                role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
                region: Some("eu-west-1".into()),
            }
        );
    }

    #[test]
    fn a_region_without_its_twin_is_the_containers_own() {
        let pod = |env: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": { "name": "p", "namespace": "ns" },
                "spec": { "containers": [{ "name": "app", "env": env,
                    "volumeMounts": [{ "name": VOLUME, "mountPath": TOKEN_DIR }] }],
                    "volumes": [{ "name": VOLUME, "emptyDir": { "medium": "Memory" } }] }
            }))
            .unwrap()
        };
        let region = |name: &str, value: &str| serde_json::json!({ "name": name, "value": value });
        // The webhook leaves a container's own AWS_REGION alone and adds no AWS_DEFAULT_REGION.
        let own = pod(serde_json::json!([region("AWS_REGION", "us-east-1")]));
        assert_eq!(own.injection().region, None);
        let differ = pod(serde_json::json!([
            region("AWS_REGION", "us-east-1"),
            region("AWS_DEFAULT_REGION", "eu-west-1")
        ]));
        assert_eq!(differ.injection().region, None);
        let injected = pod(serde_json::json!([
            region("AWS_REGION", "eu-west-1"),
            region("AWS_DEFAULT_REGION", "eu-west-1")
        ]));
        assert_eq!(injected.injection().region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn without_the_webhooks_token_volume_there_is_no_injection() {
        let pod = |volumes: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": { "name": "p", "namespace": "ns" },
                "spec": { "containers": [{ "name": "app",
                    "env": [{ "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/own" }],
                    "volumeMounts": [{ "name": VOLUME, "mountPath": TOKEN_DIR }] }],
                    "volumes": volumes }
            }))
            .unwrap()
        };
        // Its own role, and a volume of our name that is not of a kind the webhook writes.
        assert!(pod(serde_json::json!(null)).injection().is_empty());
        assert!(
            pod(serde_json::json!([{ "name": VOLUME, "hostPath": { "path": "/x" } }]))
                .injection()
                .is_empty()
        );
        let gke = pod(serde_json::json!([{ "name": VOLUME, "emptyDir": { "medium": "Memory" } }])).injection();
        assert_eq!(gke.mode, Some(Mode::Gsa));
    }

    #[test]
    fn null_maps_and_missing_fields_are_empty() {
        let pod: Pod = serde_json::from_str(r#"{"metadata":{"name":"p","labels":null,"annotations":null},"spec":{"containers":[{"name":"c","env":null}]}}"#).unwrap();
        assert!(!pod.opted_in());
        assert!(pod.injection().is_empty());
        assert_eq!(pod.service_account(), "default");
    }
}
