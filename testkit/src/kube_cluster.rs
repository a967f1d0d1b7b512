//! A Kubernetes API stand-in for whole clusters, as the audit reads them: pods,
//! ServiceAccounts, ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs, CronJobs,
//! MutatingWebhookConfigurations, Endpoints, EndpointSlices and Namespaces, listed cluster-wide
//! or per namespace with `limit`/`continue` pagination and an equality-based `labelSelector`,
//! and got by name; and the service-account issuer's `/.well-known/openid-configuration`. Faults a real API server produces: a 403 on
//! a chosen resource (RBAC), a 410 Gone on a `continue` token that expired (etcd compaction),
//! and a server that went away. Plain HTTP on 127.0.0.1, reached through a kubeconfig it writes.
//! [`objects`] builds the objects as the API server would return them.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

type Body = BoxBody<Bytes, Infallible>;

/// Every resource served: (group/version path prefix, plural, kind, namespaced).
const RESOURCES: [(&str, &str, &str, bool); 12] = [
    ("/apis/discovery.k8s.io/v1", "endpointslices", "EndpointSlice", true),
    ("/api/v1", "namespaces", "Namespace", false),
    ("/api/v1", "pods", "Pod", true),
    ("/api/v1", "serviceaccounts", "ServiceAccount", true),
    ("/api/v1", "endpoints", "Endpoints", true),
    ("/apis/apps/v1", "replicasets", "ReplicaSet", true),
    ("/apis/apps/v1", "deployments", "Deployment", true),
    ("/apis/apps/v1", "statefulsets", "StatefulSet", true),
    ("/apis/apps/v1", "daemonsets", "DaemonSet", true),
    ("/apis/batch/v1", "jobs", "Job", true),
    ("/apis/batch/v1", "cronjobs", "CronJob", true),
    (
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
    ),
];

#[derive(Default)]
struct Store {
    /// plural → (namespace, name) → object. Cluster-scoped objects have namespace "".
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    forbidden: BTreeSet<String>,
    /// Continue tokens carry this epoch; [`KubeCluster::expire_continue_tokens`] moves it on.
    epoch: u64,
    /// How many more continue tokens expire on use (then the next list works).
    expire_next: usize,
    /// Requests served, by path (without the query).
    requests: BTreeMap<String, usize>,
    largest_limit: Option<u64>,
    /// A hostile list of pods that never ends (see [`Endless`]).
    endless: Option<Endless>,
    /// Every list answer padded with this many bytes, as a hostile or broken server might.
    padding: usize,
    /// The issuer in `/.well-known/openid-configuration` (`None`: discovery is off, 404).
    issuer: Option<String>,
}

/// How a hostile API server keeps a list of pods going forever: every page full of the same
/// pods and another `continue` token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endless {
    /// The same token every time (`"same"`).
    Repeat,
    /// A new token every time, so only a cap on pages or items ends the list.
    Fresh,
}

/// A running stand-in; stops, connections included, when dropped.
pub struct KubeCluster {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    tasks: JoinSet<()>,
}

impl KubeCluster {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> KubeCluster {
        Self::start_on("127.0.0.1:0").await
    }

    /// Listens on `addr` (a fixed port for the demo).
    pub async fn start_on(addr: &str) -> KubeCluster {
        let listener = TcpListener::bind(addr).await.expect("bind the stand-in's address");
        let addr = listener.local_addr().expect("local address");
        let store = Arc::new(Mutex::new(Store::default()));
        let mut tasks = JoinSet::new();
        let accept_store = store.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let store = accept_store.clone();
                let service = service_fn(move |request| {
                    let store = store.clone();
                    async move { Ok::<_, Infallible>(route(&store, &request)) }
                });
                connections.spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        KubeCluster { addr, store, tasks }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig with one context, `context`, for this server into `dir`.
    pub fn kubeconfig(&self, dir: &Path, context: &str) -> PathBuf {
        write_kubeconfig(dir, &[(context, &self.url())])
    }

    /// Adds (or replaces) an object; its kind decides where it is served.
    pub fn add(&self, object: Value) {
        let kind = object["kind"].as_str().expect("an object has a kind");
        let (_, plural, _, namespaced) = RESOURCES
            .iter()
            .find(|(_, _, k, _)| *k == kind)
            .unwrap_or_else(|| panic!("the stand-in does not serve {kind}"));
        let meta = &object["metadata"];
        let namespace = if *namespaced {
            meta["namespace"].as_str().expect("namespaced").to_owned()
        } else {
            String::new()
        };
        let name = meta["name"].as_str().expect("an object has a name").to_owned();
        let mut store = self.store.lock().unwrap();
        store
            .objects
            .entry((*plural).to_owned())
            .or_default()
            .insert((namespace, name), object);
    }

    /// Removes an object by kind, namespace ("" for cluster-scoped) and name.
    pub fn remove(&self, kind: &str, namespace: &str, name: &str) {
        let plural = RESOURCES
            .iter()
            .find(|(_, _, k, _)| *k == kind)
            .expect("a served kind")
            .1;
        let mut store = self.store.lock().unwrap();
        if let Some(objects) = store.objects.get_mut(plural) {
            objects.remove(&(namespace.to_owned(), name.to_owned()));
        }
    }

    /// RBAC refuses every list and get of this resource (its plural, e.g. `replicasets`).
    pub fn forbid(&self, plural: &str) {
        self.store.lock().unwrap().forbidden.insert(plural.to_owned());
    }

    /// The next `count` continue tokens presented are expired (410 Gone), as after a compaction.
    pub fn expire_continue_tokens(&self, count: usize) {
        let mut store = self.store.lock().unwrap();
        store.expire_next = count;
    }

    /// Lists of pods never end from now on: each page repeats the stored pods (as many as the
    /// `limit` asks for) and carries another continue token.
    pub fn endless_pods(&self, endless: Endless) {
        self.store.lock().unwrap().endless = Some(endless);
    }

    /// Every list answer from now on carries `bytes` of padding (an answer too large to count).
    pub fn pad_answers(&self, bytes: usize) {
        self.store.lock().unwrap().padding = bytes;
    }

    /// Serves `/.well-known/openid-configuration` with this issuer, as the API server does
    /// for its service-account issuer (`None`: 404, as with discovery off).
    pub fn serve_issuer(&self, issuer: Option<&str>) {
        self.store.lock().unwrap().issuer = issuer.map(str::to_owned);
    }

    /// Requests served for this path (e.g. `/api/v1/pods`).
    pub fn requests(&self, path: &str) -> usize {
        self.store.lock().unwrap().requests.get(path).copied().unwrap_or(0)
    }

    /// The largest `limit` any list asked for (`None`: no list had one).
    pub fn largest_limit(&self) -> Option<u64> {
        self.store.lock().unwrap().largest_limit
    }

    /// Stops listening and drops every open connection.
    pub fn stop(mut self) {
        self.tasks.abort_all();
    }
}

/// A kubeconfig with one context per (name, server URL), the first current; no credentials.
pub fn write_kubeconfig(dir: &Path, contexts: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("kubeconfig");
    let mut clusters = String::new();
    let mut entries = String::new();
    for (name, url) in contexts {
        clusters.push_str(&format!("- name: {name}\n  cluster:\n    server: {url}\n"));
        entries.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: stand-in\n"
        ));
    }
    let current = contexts.first().map_or("", |c| c.0);
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: stand-in\n  user: {{}}\ncontexts:\n{entries}current-context: {current}\n"
    );
    std::fs::write(&path, config).expect("write kubeconfig");
    path
}

fn route(store: &Mutex<Store>, request: &Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let query = query(request.uri().query().unwrap_or_default());
    let mut store = store.lock().unwrap();
    *store.requests.entry(path.clone()).or_default() += 1;
    if path == "/.well-known/openid-configuration" {
        return discovery(&store);
    }
    for (prefix, plural, kind, namespaced) in RESOURCES {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let (namespace, name) = match (namespaced, segments.as_slice()) {
            (_, [p]) if *p == plural => (None, None),
            (true, ["namespaces", ns, p]) if *p == plural => (Some(*ns), None),
            (true, ["namespaces", ns, p, name]) if *p == plural => (Some(*ns), Some(*name)),
            (false, [p, name]) if *p == plural => (None, Some(*name)),
            _ => continue,
        };
        if store.forbidden.contains(plural) {
            let scope = namespace.map_or("at the cluster scope".to_owned(), |ns| {
                format!("in the namespace \"{ns}\"")
            });
            let verb = if name.is_some() { "get" } else { "list" };
            return respond(
                403,
                &status(
                    403,
                    "Forbidden",
                    &format!(
                        "{plural} is forbidden: User \"system:serviceaccount:gke-aws-audit:gke-aws-audit\" cannot {verb} resource \"{plural}\" in API group \"\" {scope}"
                    ),
                ),
            );
        }
        return match name {
            Some(name) => get(&store, plural, namespace.unwrap_or(""), name),
            None => list(&mut store, plural, kind, namespace, &query),
        };
    }
    respond(
        404,
        &status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        ),
    )
}

fn get(store: &Store, plural: &str, namespace: &str, name: &str) -> Response<Body> {
    match store
        .objects
        .get(plural)
        .and_then(|o| o.get(&(namespace.to_owned(), name.to_owned())))
    {
        Some(object) => respond(200, object),
        None => respond(404, &status(404, "NotFound", &format!("{plural} \"{name}\" not found"))),
    }
}

/// A page: items after the token's offset, at most `limit`, with a continue token when more remain.
fn list(
    store: &mut Store,
    plural: &str,
    kind: &str,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Response<Body> {
    let limit = query.get("limit").and_then(|l| l.parse::<u64>().ok());
    if let Some(limit) = limit {
        store.largest_limit = Some(store.largest_limit.map_or(limit, |l| l.max(limit)));
    }
    if let Some(endless) = store.endless.filter(|_| plural == "pods") {
        return endless_page(store, endless, limit, query);
    }
    let mut offset = 0usize;
    if let Some(token) = query.get("continue").filter(|t| !t.is_empty()) {
        let parsed = token
            .split_once('.')
            .and_then(|(e, o)| Some((e.parse::<u64>().ok()?, o.parse::<usize>().ok()?)));
        let Some((epoch, at)) = parsed else {
            return respond(400, &status(400, "BadRequest", "invalid continue token"));
        };
        if store.expire_next > 0 || epoch != store.epoch {
            store.expire_next = store.expire_next.saturating_sub(1);
            store.epoch += 1;
            return respond(
                410,
                &status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ),
            );
        }
        offset = at;
    }
    let selector = query.get("labelSelector").map(String::as_str);
    let all: Vec<&Value> = store
        .objects
        .get(plural)
        .map(|objects| {
            objects
                .iter()
                .filter(|((ns, _), _)| namespace.is_none_or(|want| want == ns))
                .map(|(_, v)| v)
                .filter(|v| selector.is_none_or(|s| equality_selected(v, s)))
                .collect()
        })
        .unwrap_or_default();
    let end = limit.map_or(all.len(), |l| (offset + l as usize).min(all.len()));
    let items: Vec<&Value> = all.get(offset..end).map(<[&Value]>::to_vec).unwrap_or_default();
    let mut metadata = json!({ "resourceVersion": "1" });
    if end < all.len() {
        metadata["continue"] = json!(format!("{}.{end}", store.epoch));
        metadata["remainingItemCount"] = json!(all.len() - end);
    }
    let mut body = json!({ "apiVersion": "v1", "kind": format!("{kind}List"), "metadata": metadata, "items": items });
    if store.padding > 0 {
        body["padding"] = json!("x".repeat(store.padding));
    }
    respond(200, &body)
}

/// A page of a list of pods that never ends: the stored pods, repeated up to `limit` (500
/// without one), and a continue token that is the same or new every time.
fn endless_page(
    store: &Store,
    endless: Endless,
    limit: Option<u64>,
    query: &BTreeMap<String, String>,
) -> Response<Body> {
    let pods: Vec<&Value> = store
        .objects
        .get("pods")
        .map(|o| o.values().collect())
        .unwrap_or_default();
    let want = limit.unwrap_or(500) as usize;
    let items: Vec<&Value> = pods
        .iter()
        .copied()
        .cycle()
        .take(if pods.is_empty() { 0 } else { want })
        .collect();
    let token = match endless {
        Endless::Repeat => "same".to_owned(),
        Endless::Fresh => {
            let page = query
                .get("continue")
                .and_then(|t| t.strip_prefix("page-"))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            format!("page-{}", page + 1)
        }
    };
    respond(
        200,
        &json!({ "apiVersion": "v1", "kind": "PodList", "metadata": { "resourceVersion": "1", "continue": token }, "items": items }),
    )
}

/// An equality-based `labelSelector` (`k=v`, `k==v`, `k!=v`, comma-separated: all must hold),
/// as the API server filters a list.
/// <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#equality-based-requirement>
fn equality_selected(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').filter(|r| !r.is_empty()).all(|requirement| {
        if let Some((key, value)) = requirement.split_once("!=") {
            labels[key.trim()].as_str() != Some(value.trim())
        } else if let Some((key, value)) = requirement.split_once("==").or_else(|| requirement.split_once('=')) {
            labels[key.trim()].as_str() == Some(value.trim())
        } else {
            !labels[requirement.trim()].is_null()
        }
    })
}

/// The API server's OIDC discovery document for its service-account issuer.
fn discovery(store: &Store) -> Response<Body> {
    match &store.issuer {
        Some(issuer) => respond(
            200,
            &json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks"), "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"] }),
        ),
        None => respond(
            404,
            &status(404, "NotFound", "the server could not find the requested resource"),
        ),
    }
}

fn query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "reason": reason, "message": message, "code": code })
}

fn respond(code: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = hyper::StatusCode::from_u16(code).expect("a valid status");
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("a header value"));
    response
}

/// Objects as the API server returns them, with the fields the audit reads and a few it must
/// skip (managedFields, last-applied-configuration), so that reduction is exercised.
pub mod objects {
    use serde_json::{Value, json};

    /// The opt-in label.
    pub const INJECT: (&str, &str) = ("gke-aws-verifier/inject", "true");
    const TOKEN_DIR: &str = "/var/run/secrets/gke-aws";

    fn labels(opted_in: bool) -> Value {
        let mut labels = json!({ "app": "app" });
        if opted_in {
            labels[INJECT.0] = json!(INJECT.1);
        }
        labels
    }

    fn metadata(namespace: &str, name: &str, opted_in: bool) -> Value {
        json!({
            "name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}"), "resourceVersion": "1",
            "labels": labels(opted_in),
            "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\",\"kind\":\"…\"}" },
            "managedFields": [{ "manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": { "f:metadata": {} } }]
        })
    }

    /// How the webhook left a pod.
    #[derive(Debug, Clone)]
    pub enum Injected<'a> {
        /// Nothing: the webhook was not called.
        No,
        /// GSA mode: the emptyDir token volume, the env with this role and region.
        Gke { role_arn: &'a str, region: Option<&'a str> },
        /// Cluster mode: the projected token volume, the env.
        Cluster { role_arn: &'a str, region: Option<&'a str> },
    }

    /// A pod of KSA `ksa`, Running, optionally owned (`(kind, name)`, controller).
    pub fn pod(
        namespace: &str,
        name: &str,
        ksa: &str,
        opted_in: bool,
        owner: Option<(&str, &str)>,
        injected: &Injected,
    ) -> Value {
        let mut meta = metadata(namespace, name, opted_in);
        if let Some((kind, owner_name)) = owner {
            meta["ownerReferences"] = json!([{ "apiVersion": "apps/v1", "kind": kind, "name": owner_name,
                "uid": format!("uid-{namespace}-{owner_name}"), "controller": true, "blockOwnerDeletion": true }]);
        }
        let mut env = vec![json!({ "name": "LOG_LEVEL", "value": "info" })];
        let mut volumes = vec![json!({ "name": "kube-api-access", "projected": { "sources": [] } })];
        let mut mounts = vec![];
        let (role_arn, region, volume) = match injected {
            Injected::No => (None, None, None),
            Injected::Gke { role_arn, region } => (
                Some(*role_arn),
                *region,
                Some(json!({ "name": "gke-aws-token", "emptyDir": { "medium": "Memory", "sizeLimit": "1Mi" } })),
            ),
            Injected::Cluster { role_arn, region } => (
                Some(*role_arn),
                *region,
                Some(
                    json!({ "name": "gke-aws-token", "projected": { "sources": [{ "serviceAccountToken": {
                    "audience": "sts.amazonaws.com", "expirationSeconds": 3600, "path": "token" } }] } }),
                ),
            ),
        };
        if let (Some(role_arn), Some(volume)) = (role_arn, volume) {
            env.push(json!({ "name": "AWS_ROLE_ARN", "value": role_arn }));
            env.push(json!({ "name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": format!("{TOKEN_DIR}/token") }));
            env.push(json!({ "name": "AWS_ROLE_SESSION_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }));
            if let Some(region) = region {
                env.push(json!({ "name": "AWS_REGION", "value": region }));
                env.push(json!({ "name": "AWS_DEFAULT_REGION", "value": region }));
            }
            volumes.push(volume);
            mounts.push(json!({ "name": "gke-aws-token", "mountPath": TOKEN_DIR, "readOnly": true }));
        }
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": { "serviceAccountName": ksa, "nodeName": "node-1",
                "containers": [{ "name": "app", "image": "registry.example/app:1", "env": env, "volumeMounts": mounts,
                                 "resources": { "requests": { "cpu": "100m", "memory": "128Mi" } } }],
                "volumes": volumes },
            "status": { "phase": "Running", "podIP": "10.0.0.1", "conditions": [{ "type": "Ready", "status": "True" }] }
        })
    }

    /// A ServiceAccount with these annotations.
    pub fn service_account(namespace: &str, name: &str, annotations: &[(&str, &str)]) -> Value {
        let mut meta = metadata(namespace, name, false);
        for (k, v) in annotations {
            meta["annotations"][*k] = json!(v);
        }
        json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta })
    }

    /// A Deployment, StatefulSet, DaemonSet or ReplicaSet: the label on itself and/or on its
    /// pod template; optionally owned (a ReplicaSet by its Deployment).
    pub fn workload(
        kind: &str,
        namespace: &str,
        name: &str,
        on_itself: bool,
        on_template: bool,
        owner: Option<(&str, &str)>,
    ) -> Value {
        let mut meta = metadata(namespace, name, on_itself);
        if let Some((owner_kind, owner_name)) = owner {
            meta["ownerReferences"] = json!([{ "kind": owner_kind, "name": owner_name, "controller": true,
                "uid": format!("uid-{namespace}-{owner_name}"), "apiVersion": "apps/v1" }]);
        }
        let template = json!({ "metadata": { "labels": labels(on_template) },
            "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1" }] } });
        let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
        json!({ "apiVersion": api_version, "kind": kind, "metadata": meta,
                "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "app" } }, "template": template } })
    }

    /// A CronJob: the label on itself (or its Job template) and/or on its pod template.
    pub fn cronjob(namespace: &str, name: &str, on_itself: bool, on_template: bool) -> Value {
        json!({ "apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata(namespace, name, on_itself),
            "spec": { "schedule": "*/5 * * * *", "jobTemplate": { "metadata": { "labels": labels(false) }, "spec": {
                "template": { "metadata": { "labels": labels(on_template) },
                              "spec": { "restartPolicy": "Never", "containers": [{ "name": "app", "image": "registry.example/app:1" }] } } } } } })
    }

    /// The webhook's configuration: `ca_bundle` present or empty, this `failurePolicy`.
    pub fn webhook_configuration(name: &str, ca_bundle: bool, failure_policy: &str) -> Value {
        json!({ "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": { "name": name, "resourceVersion": "1" },
            "webhooks": [{ "name": "inject.gke-aws-verifier.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": failure_policy,
                "clientConfig": { "caBundle": if ca_bundle { "LS0tLS1CRUdJTi0tLS0t" } else { "" },
                    "service": { "name": "gke-aws-webhook", "namespace": "gke-aws-webhook", "path": "/mutate", "port": 443 } } }] })
    }

    /// The webhook's configuration as k8s/webhook/base writes it, with these selectors
    /// (`Value::Null`: the selector unset).
    pub fn webhook_configuration_with_selectors(
        name: &str,
        namespace_selector: Value,
        object_selector: Value,
    ) -> Value {
        let mut config = webhook_configuration(name, true, "Fail");
        if !namespace_selector.is_null() {
            config["webhooks"][0]["namespaceSelector"] = namespace_selector;
        }
        if !object_selector.is_null() {
            config["webhooks"][0]["objectSelector"] = object_selector;
        }
        config
    }

    /// The selectors of k8s/webhook/base: the opt-in label, and neither the webhook's
    /// namespace nor kube-system.
    pub fn webhook_configuration_as_deployed(name: &str) -> Value {
        webhook_configuration_with_selectors(
            name,
            json!({ "matchExpressions": [{ "key": "kubernetes.io/metadata.name", "operator": "NotIn",
                "values": ["gke-aws-webhook", "kube-system"] }] }),
            json!({ "matchLabels": { INJECT.0: INJECT.1 } }),
        )
    }

    /// A Namespace with these labels and the one the API server adds to every namespace
    /// (`kubernetes.io/metadata.name`).
    pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
        let mut all = json!({ "kubernetes.io/metadata.name": name });
        for (k, v) in labels {
            all[*k] = json!(v);
        }
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": all,
            "resourceVersion": "1" }, "spec": { "finalizers": ["kubernetes"] }, "status": { "phase": "Active" } })
    }

    /// The EndpointSlice of a Service (`kubernetes.io/service-name`) with `ready` ready
    /// endpoints, one not ready and one whose readiness is unknown (`null`: counted as ready).
    pub fn endpoint_slice(namespace: &str, service: &str, ready: usize) -> Value {
        let mut endpoints: Vec<Value> = (0..ready.saturating_sub(1))
            .map(|i| json!({ "addresses": [format!("10.1.0.{}", i + 1)], "conditions": { "ready": true, "serving": true, "terminating": false } }))
            .collect();
        if ready > 0 {
            endpoints.push(json!({ "addresses": ["10.1.0.50"], "conditions": {} }));
        }
        endpoints.push(json!({ "addresses": ["10.1.0.99"], "conditions": { "ready": false, "serving": false, "terminating": true } }));
        json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": { "name": format!("{service}-x7k2p"), "namespace": namespace,
                "labels": { "kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" } },
            "endpoints": endpoints, "ports": [{ "name": "https", "port": 8443, "protocol": "TCP" }] })
    }

    /// The Endpoints of a Service with `ready` ready addresses (and one not ready).
    pub fn endpoints(namespace: &str, name: &str, ready: usize) -> Value {
        let addresses: Vec<Value> = (0..ready)
            .map(|i| json!({ "ip": format!("10.1.0.{}", i + 1) }))
            .collect();
        json!({ "apiVersion": "v1", "kind": "Endpoints", "metadata": { "name": name, "namespace": namespace },
            "subsets": [{ "addresses": addresses, "notReadyAddresses": [{ "ip": "10.1.0.99" }], "ports": [{ "port": 8443 }] }] })
    }
}
