//! One cluster as the audit sees it: every list it needs, read concurrently through the bounded
//! [`Reader`], each either in full or as a [`CannotRead`](crate::finding::Code::CannotRead)
//! finding. A cluster that does not answer at all is one `ClusterUnreachable` finding. Pods are
//! listed with the opt-in label selector ([`OPT_IN_SELECTOR`]): the checks judge only pods that
//! opted in, so a cluster of 200,000 pods is read as the few thousand that did.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::de::IgnoredAny;

use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::objects::{
    EndpointSlice, Named, Namespace, Owner, Pod, SERVICE_NAME_LABEL, ServiceAccount, WebhookConfiguration, Workload,
};
use crate::read::{ReadError, Reader};
use crate::shell::sh;

/// The pods the audit reads: those labelled for injection (the API server filters).
pub const OPT_IN_SELECTOR: &str = "gke-aws-verifier/inject=true";

/// The guard (k8s/webhook/base): the ValidatingAdmissionPolicy and its binding of this name,
/// which refuse a labelled pod the webhook did not admit.
pub const INJECT_GUARD: &str = "gke-aws-verifier-inject-guard";
const GUARD_POLICIES: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const GUARD_BINDINGS: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";

/// Whether the guard's two objects exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    pub policy: bool,
    pub binding: bool,
}

/// Where the audit looks, and for which webhook.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `None`: every namespace.
    pub namespace: Option<String>,
    /// The webhook's MutatingWebhookConfiguration, Service and namespace.
    pub webhook_configuration: String,
    pub webhook_namespace: String,
    pub webhook_service: String,
}

/// The workload kinds, with their API paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    ReplicaSet,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
        }
    }

    /// The resource name, as RBAC and `kubectl` spell it.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
        }
    }

    fn group_version(self) -> &'static str {
        match self {
            Kind::Job | Kind::CronJob => "batch/v1",
            _ => "apps/v1",
        }
    }
}

/// Everything read from one cluster. A list that could not be read is `None`, and its
/// `CannotRead` finding is in `failures`.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub pods: Option<Vec<Pod>>,
    pub service_accounts: Option<Vec<ServiceAccount>>,
    pub workloads: HashMap<Kind, Vec<Workload>>,
    pub webhook_configurations: Option<Vec<WebhookConfiguration>>,
    /// Ready endpoints of the webhook's Service, from its EndpointSlices (`Some(0)` when it
    /// has none).
    pub webhook_endpoints: Option<usize>,
    /// The namespaces and their labels, for the webhook's `namespaceSelector`.
    pub namespaces: Option<Vec<Namespace>>,
    /// The issuer the cluster serves (`/.well-known/openid-configuration` through the API
    /// server), `None` when it serves none or it could not be read.
    pub issuer: Option<String>,
    /// The guard, read by name (`None`: unreadable, its `CannotRead` is in `failures`).
    pub inject_guard: Option<Guard>,
    pub failures: Vec<Finding>,
}

/// Reads the whole cluster; `Err` is the cluster's single `ClusterUnreachable` finding.
pub async fn read(reader: &Reader, cluster: &str, scope: &Scope, wanted: &Wanted) -> Result<Snapshot, Finding> {
    let ns_path = |group_version: &str, resource: &str| {
        let base = if group_version == "v1" {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{group_version}")
        };
        match &scope.namespace {
            Some(ns) => format!("{base}/namespaces/{ns}/{resource}"),
            None => format!("{base}/{resource}"),
        }
    };
    let pods_path = ns_path("v1", "pods");
    let ksa_path = ns_path("v1", "serviceaccounts");
    let workload_paths: Vec<(Kind, String)> = Kind::ALL
        .iter()
        .map(|k| (*k, ns_path(k.group_version(), k.resource())))
        .collect();
    let webhooks_path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
    let (slices_path, service_selector) = webhook_slices(scope);

    // The pods first: they say which KSAs and ReplicaSets the checks judge, and only those are
    // kept of lists that are the largest of a large cluster (100,000 KSAs, ReplicaSets of
    // every revision). The rest is read meanwhile.
    let pods_and_theirs = async {
        let pods = reader.list_selected::<Pod>(&pods_path, OPT_IN_SELECTOR).await;
        let judged = Judged::of(pods.as_deref().unwrap_or_default(), wanted);
        let (service_accounts, workloads) = tokio::join!(
            reader.list_kept::<ServiceAccount>(&ksa_path, None, |ksa| judged.service_account(ksa)),
            futures_util::future::join_all(workload_paths.iter().map(|(kind, path)| {
                let judged = &judged;
                async move {
                    let items = reader
                        .list_kept::<Workload>(path, None, |w| judged.workload(*kind, w))
                        .await;
                    (*kind, items)
                }
            })),
        );
        drop(judged);
        (pods, service_accounts, workloads)
    };
    let ((pods, service_accounts, workloads), webhooks, slices, (namespaces, issuer), guard) = tokio::join!(
        pods_and_theirs,
        reader.list::<WebhookConfiguration>(webhooks_path),
        reader.list_selected::<EndpointSlice>(&slices_path, &service_selector),
        read_cluster_config(reader),
        read_guard(reader),
    );

    let mut snapshot = Snapshot::default();
    let mut unreachable = None;
    let mut note = |resource: &str, error: ReadError, snapshot: &mut Snapshot| match error {
        ReadError::Unreachable(why) => unreachable = unreachable.take().or(Some(why)),
        other => snapshot.failures.push(cannot_read(resource, scope, other)),
    };
    match pods {
        Ok(pods) => snapshot.pods = Some(named("pods", pods, &mut snapshot.failures)),
        Err(e) => note("pods", e, &mut snapshot),
    }
    match service_accounts {
        Ok(ksas) => snapshot.service_accounts = Some(named("serviceaccounts", ksas, &mut snapshot.failures)),
        Err(e) => note("serviceaccounts", e, &mut snapshot),
    }
    for (kind, result) in workloads {
        match result {
            Ok(items) => {
                let items = named(kind.resource(), items, &mut snapshot.failures);
                snapshot.workloads.insert(kind, items);
            }
            Err(e) => note(kind.resource(), e, &mut snapshot),
        }
    }
    match webhooks {
        Ok(configs) => {
            snapshot.webhook_configurations =
                Some(named("mutatingwebhookconfigurations", configs, &mut snapshot.failures))
        }
        Err(e) => note("mutatingwebhookconfigurations", e, &mut snapshot),
    }
    match slices {
        // Only the Service's own slices count, whatever else answered the selector.
        Ok(slices) => {
            snapshot.webhook_endpoints = Some(
                slices
                    .iter()
                    .filter(|s| s.metadata.labels.as_deref() == Some(scope.webhook_service.as_str()))
                    .map(|s| s.endpoints)
                    .sum(),
            )
        }
        Err(e) => note("endpointslices", e, &mut snapshot),
    }
    match namespaces {
        Ok(list) => snapshot.namespaces = Some(named("namespaces", list, &mut snapshot.failures)),
        Err(e) => note("namespaces", e, &mut snapshot),
    }
    match issuer {
        Ok(issuer) => snapshot.issuer = issuer,
        Err(e) => note("/.well-known/openid-configuration", e, &mut snapshot),
    }
    match guard {
        (Ok(policy), Ok(binding)) => snapshot.inject_guard = Some(Guard { policy, binding }),
        (Err(e), _) => note("validatingadmissionpolicies", e, &mut snapshot),
        (_, Err(e)) => note("validatingadmissionpolicybindings", e, &mut snapshot),
    }
    if let Some(why) = unreachable {
        return Err(Finding::new(
            Code::ClusterUnreachable,
            Severity::Error,
            ObjectRef::cluster_scoped("Cluster", cluster),
            format!("the cluster's API server did not answer: {why}"),
            format!(
                "check the context and the network: kubectl --context {} get --raw /version",
                sh(cluster)
            ),
        ));
    }
    Ok(snapshot)
}

/// What the checks judge beyond the pods that opted in, as the run knows it before reading.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// The KSAs Terraform's workloads name, by (namespace, name): `AnnotationDrift`.
    pub terraform_ksas: BTreeSet<(String, String)>,
    /// Every KSA that names a role or a GSA (`--aws`, `--gcp`: the identities IAM and Google
    /// are asked about); else only those the pods and Terraform name.
    pub every_identity: bool,
}

/// Which KSAs and workloads a cluster's opted-in pods (and Terraform) make the checks judge.
struct Judged<'a> {
    wanted: &'a Wanted,
    /// (namespace, KSA) of each pod and of Terraform's workloads.
    ksas: HashSet<(&'a str, &'a str)>,
    /// (namespace, ReplicaSet) that own a pod: the pod's Deployment is found through them.
    replica_sets: HashSet<(&'a str, &'a str)>,
}

impl<'a> Judged<'a> {
    fn of(pods: &'a [Pod], wanted: &'a Wanted) -> Self {
        let replica_sets = pods
            .iter()
            .filter_map(|p| {
                let owner = p.metadata.owner.as_deref()?;
                (owner.kind == Kind::ReplicaSet.as_str())
                    .then_some((p.metadata.namespace.as_str(), owner.name.as_str()))
            })
            .collect();
        Judged {
            wanted,
            ksas: pods
                .iter()
                .map(|p| (p.metadata.namespace.as_str(), p.service_account()))
                .chain(
                    wanted
                        .terraform_ksas
                        .iter()
                        .map(|(ns, ksa)| (ns.as_str(), ksa.as_str())),
                )
                .collect(),
            replica_sets,
        }
    }

    /// A KSA a pod or Terraform names, or with `every_identity` one with any of the
    /// annotations the audit keeps (the others name no identity, so no subject).
    fn service_account(&self, ksa: &ServiceAccount) -> bool {
        let key = (ksa.metadata.namespace.as_str(), ksa.metadata.name.as_str());
        self.ksas.contains(&key) || (self.wanted.every_identity && !ksa.metadata.annotations.is_empty())
    }

    /// ReplicaSets that own an opted-in pod (the others are old revisions or pods that did not
    /// opt in, which no check judges); every other workload.
    fn workload(&self, kind: Kind, workload: &Workload) -> bool {
        kind != Kind::ReplicaSet
            || self
                .replica_sets
                .contains(&(workload.metadata.namespace.as_str(), workload.metadata.name.as_str()))
    }
}

/// The webhook Service's EndpointSlices: the list in its namespace, and the label that ties a
/// slice to its Service (discovery.k8s.io/v1, which Kubernetes recommends since v1 Endpoints
/// was deprecated in 1.33: <https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/>).
fn webhook_slices(scope: &Scope) -> (String, String) {
    (
        format!(
            "/apis/discovery.k8s.io/v1/namespaces/{}/endpointslices",
            scope.webhook_namespace
        ),
        format!("{SERVICE_NAME_LABEL}={}", scope.webhook_service),
    )
}

/// What the cluster says about itself: its namespaces' labels, and the issuer it serves
/// (its OIDC discovery document, through the API server, as `kubectl get --raw` reads it;
/// 404 where service-account issuer discovery is off).
/// <https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery>
async fn read_cluster_config(
    reader: &Reader,
) -> (Result<Vec<Namespace>, ReadError>, Result<Option<String>, ReadError>) {
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
    }
    let (namespaces, discovery) = tokio::join!(
        reader.list::<Namespace>("/api/v1/namespaces"),
        reader.get_document::<Discovery>("/.well-known/openid-configuration"),
    );
    let issuer = match discovery {
        Ok(d) if d.issuer.starts_with("https://") && d.issuer.len() <= 2048 => Ok(Some(d.issuer)),
        Ok(_) | Err(ReadError::NotFound) => Ok(None),
        Err(e) => Err(e),
    };
    (namespaces, issuer)
}

/// Whether the guard's policy and binding exist: a get of each by name (404: missing, also where
/// the API server predates admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy, 1.30).
async fn read_guard(reader: &Reader) -> (Result<bool, ReadError>, Result<bool, ReadError>) {
    let exists = |read: Result<IgnoredAny, ReadError>| match read {
        Ok(_) => Ok(true),
        Err(ReadError::NotFound) => Ok(false),
        Err(e) => Err(e),
    };
    let (policy, binding) = tokio::join!(
        reader.get::<IgnoredAny>(GUARD_POLICIES, INJECT_GUARD),
        reader.get::<IgnoredAny>(GUARD_BINDINGS, INJECT_GUARD),
    );
    (exists(policy), exists(binding))
}

fn cannot_read(resource: &str, scope: &Scope, error: ReadError) -> Finding {
    let everywhere = match &scope.namespace {
        Some(ns) => format!("--namespace {ns}"),
        None => "--all-namespaces".to_owned(),
    };
    // The audit lists everything cluster-wide but the webhook's EndpointSlices, which it lists
    // in the webhook's namespace: the component grants each through its own object (a
    // ClusterRole; a Role in that namespace). The issuer is a path, no resource.
    let (verb, grant) = if resource == "endpointslices" {
        let ns = sh(&scope.webhook_namespace);
        (
            "list",
            format!(
                "grant list on endpointslices.discovery.k8s.io in namespace {ns} (the Role of k8s/components/audit), then check: \
                 kubectl auth can-i list endpointslices.discovery.k8s.io --namespace {ns}"
            ),
        )
    } else if resource.starts_with("validatingadmissionpolic") {
        (
            "get",
            format!(
                "grant get on {resource}.admissionregistration.k8s.io named {INJECT_GUARD} (the ClusterRole of k8s/components/audit), then check: \
                 kubectl auth can-i get {resource}.admissionregistration.k8s.io/{INJECT_GUARD}"
            ),
        )
    } else if resource.starts_with('/') {
        (
            "get",
            format!(
                "grant get on the non-resource URL {resource} (the ClusterRole of k8s/components/audit, or Kubernetes' system:service-account-issuer-discovery), then check: kubectl auth can-i get {resource}"
            ),
        )
    } else {
        (
            "list",
            format!(
                "grant list on {resource} (the ClusterRole of k8s/components/audit), then check: kubectl auth can-i \
                 list {resource} {everywhere}"
            ),
        )
    };
    let (message, fix) = match error {
        ReadError::Forbidden(why) => (
            format!("RBAC refuses to {verb} {resource}: {why}; the audit of what depends on it is skipped"),
            grant,
        ),
        ReadError::Expired(why) => (
            format!(
                "the list of {resource} expired twice while being read (410 Gone: {why}); it is too busy or too large for one pass"
            ),
            "run the audit again, or with a larger --page-size".to_owned(),
        ),
        ReadError::Endless(why) => (
            format!("the list of {resource} was stopped: {why}; the audit of what depends on it is skipped"),
            "audit namespace by namespace (--namespace NS); if one namespace alone does not end, check the API server (or what answers in its place)".to_owned(),
        ),
        ReadError::NotFound | ReadError::Bad(_) | ReadError::Unreachable(_) => (
            format!("{resource} could not be read: {}", describe(&error)),
            "run the audit again; if it persists, check the API server's health".to_owned(),
        ),
    };
    Finding::new(
        Code::CannotRead,
        Severity::Warning,
        ObjectRef::cluster_scoped("Resource", resource),
        message,
        fix,
    )
}

/// The objects whose names are Kubernetes names; each other one is a `CannotRead` finding that
/// quotes its name (escaped) in the message and never in a command.
fn named<T: Named>(resource: &str, items: Vec<T>, failures: &mut Vec<Finding>) -> Vec<T> {
    items
        .into_iter()
        .filter(|item| match item.invalid_name() {
            None => true,
            Some(why) => {
                failures.push(Finding::new(
                    Code::CannotRead,
                    Severity::Warning,
                    ObjectRef::cluster_scoped("Resource", resource),
                    format!(
                        "one of the {resource} cannot be audited: {why}, which an API server refuses; it was skipped"
                    ),
                    "none to paste: find what answers in the API server's place (kubectl get --raw on this list shows the object)"
                        .to_owned(),
                ));
                false
            }
        })
        .collect()
}

fn describe(error: &ReadError) -> String {
    match error {
        ReadError::NotFound => "not found".to_owned(),
        ReadError::Forbidden(w)
        | ReadError::Expired(w)
        | ReadError::Unreachable(w)
        | ReadError::Bad(w)
        | ReadError::Endless(w) => w.clone(),
    }
}

/// The workload that owns a pod, found through ownerReferences.
pub struct Owners<'a> {
    replica_sets: HashMap<(&'a str, &'a str), Option<&'a Owner>>,
    jobs: HashMap<(&'a str, &'a str), Option<&'a Owner>>,
}

/// How a pod is owned: its direct controller, and the workload at the top of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub direct: Option<ObjectRef>,
    pub workload: Option<ObjectRef>,
}

impl<'a> Owners<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let index = |kind: Kind| {
            snapshot
                .workloads
                .get(&kind)
                .map(|items| {
                    items
                        .iter()
                        .map(|w| {
                            (
                                (w.metadata.namespace.as_str(), w.metadata.name.as_str()),
                                w.metadata.owner.as_deref(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Owners {
            replica_sets: index(Kind::ReplicaSet),
            jobs: index(Kind::Job),
        }
    }

    /// ReplicaSet → Deployment, Job → CronJob; StatefulSet, DaemonSet and others as they are.
    pub fn of(&self, namespace: &str, owner: Option<&Owner>) -> Owned {
        let Some(owner) = owner else {
            return Owned {
                direct: None,
                workload: None,
            };
        };
        let direct = ObjectRef::namespaced(&owner.kind, namespace, &owner.name);
        let parent = match owner.kind.as_str() {
            "ReplicaSet" => self
                .replica_sets
                .get(&(namespace, owner.name.as_str()))
                .copied()
                .flatten(),
            "Job" => self.jobs.get(&(namespace, owner.name.as_str())).copied().flatten(),
            _ => None,
        };
        let workload = parent.map_or_else(
            || direct.clone(),
            |p| ObjectRef::namespaced(&p.kind, namespace, &p.name),
        );
        Owned {
            direct: Some(direct),
            workload: Some(workload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, ksa: Option<&str>, owner: Option<(&str, &str)>) -> Pod {
        let owners = owner.map_or(
            serde_json::json!([]),
            |(kind, name)| serde_json::json!([{ "kind": kind, "name": name, "controller": true }]),
        );
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "p", "namespace": ns, "ownerReferences": owners },
            "spec": { "serviceAccountName": ksa }
        }))
        .unwrap()
    }

    fn ksa(ns: &str, name: &str, annotations: serde_json::Value) -> ServiceAccount {
        serde_json::from_value(
            serde_json::json!({ "metadata": { "name": name, "namespace": ns, "annotations": annotations } }),
        )
        .unwrap()
    }

    fn workload(ns: &str, name: &str) -> Workload {
        serde_json::from_value(serde_json::json!({ "metadata": { "name": name, "namespace": ns } })).unwrap()
    }

    #[test]
    fn only_the_ksas_and_replica_sets_the_pods_or_terraform_name_are_kept() {
        let pods = [
            pod("a", Some("reader"), Some(("ReplicaSet", "web-1"))),
            pod("b", None, None),
        ];
        let role = serde_json::json!({ "amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/r" });
        let wanted = Wanted {
            terraform_ksas: [("c".to_owned(), "batch".to_owned())].into(),
            every_identity: false,
        };
        let judged = Judged::of(&pods, &wanted);
        let kept = |k: &ServiceAccount| judged.service_account(k);
        assert!(kept(&ksa("a", "reader", serde_json::json!(null))));
        // A pod without serviceAccountName runs as `default`.
        assert!(kept(&ksa("b", "default", serde_json::json!(null))));
        assert!(kept(&ksa("c", "batch", serde_json::json!(null))));
        // Annotated, but named by no pod and not by Terraform: no check judges it here.
        assert!(!kept(&ksa("a", "other", role.clone())));
        assert!(!kept(&ksa("b", "reader", serde_json::json!(null))));
        assert!(judged.workload(Kind::ReplicaSet, &workload("a", "web-1")));
        assert!(!judged.workload(Kind::ReplicaSet, &workload("a", "web-0")));
        assert!(judged.workload(Kind::Deployment, &workload("a", "web-0")));

        // --aws / --gcp: every KSA that names an identity, and still none that names nothing.
        let every = Wanted {
            every_identity: true,
            ..wanted
        };
        let judged = Judged::of(&pods, &every);
        assert!(judged.service_account(&ksa("a", "other", role)));
        assert!(!judged.service_account(&ksa("a", "plain", serde_json::json!({ "team": "x" }))));
    }
}
