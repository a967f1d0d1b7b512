//! A Kubernetes API stand-in that serves ServiceAccounts the way kube-rs reads them: list
//! (`GET /api/v1/serviceaccounts`, in `limit`/`continue` pages in key order, with
//! `labelSelector` and `resourceVersion` as the API server reads them: [`crate::kube_list`]),
//! watch (the same with `watch=true`, a stream of JSON lines from a resourceVersion; one from a
//! compacted version gets the API server's 410 `ERROR` event), get
//! (`GET /api/v1/namespaces/NS/serviceaccounts/NAME`) and `GET /version`; Secrets and
//! MutatingWebhookConfigurations (get, create, update, JSON patch) through [`KubeApi::objects`]. Plain HTTP on
//! 127.0.0.1, reached through a kubeconfig it writes. Stops, connections included, when
//! dropped or [`KubeApi::stop`]ped, as an API server that went away.
//!
//! Large clusters are generated, not stored: [`KubeApi::add_generated_service_accounts`]
//! serves 100,000 KSAs across 10,000 namespaces by building each page's objects when it is
//! asked for, so the stand-in holds no more than a page of JSON at a time.
//!
//! For the cases a real API server only produces on a bad day: the watch can be held back (a
//! cache that is behind), direct gets can be held (a review in flight), and [`Hostile`] modes
//! answer without end or end at once.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::kube_list::{ListQuery, encode_continue, query_pairs};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

use crate::kube_objects::Objects;

type Body = BoxBody<Bytes, Infallible>;

/// Ways an API server (or something posing as one) answers badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A list whose body never ends: items without end.
    EndlessList,
    /// Every list page has a `continue` token for one more.
    EndlessContinue,
    /// A direct get answered with 50 MB (one endless annotation).
    HugeGet,
    /// A watch that sends new ServiceAccounts without end, each with a large annotation.
    WatchFlood,
    /// Every watch answers 410 Gone (the resourceVersion is too old) at once: a relist each time.
    GoneStorm,
    /// Every watch ends as soon as it starts.
    WatchClosesAtOnce,
}

/// KSAs made when they are read: `count` of them, `ksa-NNNNNN` in namespaces `gen-NNNNN`,
/// `per_namespace` to a namespace, each with these annotations (`{name}` and `{namespace}`
/// in a value are the KSA's own) and resourceVersion `rv`.
struct Generated {
    count: usize,
    per_namespace: usize,
    annotations: Vec<(String, String)>,
    rv: u64,
}

impl Generated {
    fn key(&self, i: usize) -> String {
        format!("gen-{:05}/ksa-{i:06}", i / self.per_namespace)
    }

    /// The first index whose key is at or after `from` (keys grow with the index).
    fn position(&self, from: &str) -> usize {
        let (mut low, mut high) = (0, self.count);
        while low < high {
            let mid = (low + high) / 2;
            if self.key(mid).as_str() < from {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    fn index_of(&self, namespace: &str, name: &str) -> Option<usize> {
        let i: usize = name.strip_prefix("ksa-")?.parse().ok()?;
        (i < self.count && self.key(i) == format!("{namespace}/{name}")).then_some(i)
    }

    fn object(&self, i: usize) -> Value {
        let name = format!("ksa-{i:06}");
        let namespace = format!("gen-{:05}", i / self.per_namespace);
        let annotations: Vec<(String, String)> = self
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{name}", &name).replace("{namespace}", &namespace)))
            .collect();
        let annotations: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        service_account(&namespace, &name, &annotations, self.rv)
    }
}

#[derive(Default)]
struct Accounts {
    resource_version: u64,
    /// Watches from before this version, and continue tokens of lists from before it, are 410.
    compacted: u64,
    /// Listed, watched and got, by key (`namespace/name`, the API server's order).
    listed: BTreeMap<String, Value>,
    generated: Option<Generated>,
    /// Only got: a KSA the watch has not delivered yet (a cache that lags behind).
    unwatched: BTreeMap<String, Value>,
    /// Every watch event so far, to replay from a client's resourceVersion.
    log: Vec<(u64, String)>,
    gets: usize,
    lists: usize,
    /// `continue` pages answered (pages after a list's first).
    pages: usize,
    /// The largest `limit` a list asked for.
    largest_limit: usize,
    watches: usize,
    hostile: Option<Hostile>,
    git_version: Option<String>,
}

struct State {
    accounts: Mutex<Accounts>,
    events: broadcast::Sender<(u64, String)>,
    /// True while watch events are held back; gets wait while `gets_held` is true.
    watch_held: watch::Sender<bool>,
    gets_held: watch::Sender<bool>,
    /// Gets waiting on `gets_held`.
    waiting_gets: watch::Sender<usize>,
    /// Moved on to end every open watch (as when they time out).
    watch_epoch: watch::Sender<u64>,
    /// Secrets and MutatingWebhookConfigurations.
    objects: Objects,
}

pub struct KubeApi {
    addr: SocketAddr,
    state: Arc<State>,
    tasks: JoinSet<()>,
}

impl KubeApi {
    pub async fn start() -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let (events, _) = broadcast::channel(4096);
        let state = Arc::new(State {
            accounts: Mutex::new(Accounts::default()),
            events,
            watch_held: watch::channel(false).0,
            gets_held: watch::channel(false).0,
            waiting_gets: watch::channel(0).0,
            watch_epoch: watch::channel(0).0,
            objects: Objects::default(),
        });
        let mut tasks = JoinSet::new();
        let accept_state = state.clone();
        tasks.spawn(async move {
            // Connections live in this set: aborting the accept task ends them all.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(&state, request).await) }
                });
                connections.spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        KubeApi { addr, state, tasks }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig for this server into `dir` and returns its path (for `KUBECONFIG`).
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        write_kubeconfig(dir, &self.url())
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, Accounts> {
        self.state.accounts.lock().unwrap()
    }

    /// A KSA every client sees: in lists, as a watch event, and by get.
    pub fn add_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        self.record(namespace, name, annotations, "ADDED");
    }

    /// New annotations on a KSA (a `MODIFIED` event; held back like any while the watch is).
    pub fn annotate_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        self.record(namespace, name, annotations, "MODIFIED");
    }

    fn record(&self, namespace: &str, name: &str, annotations: &[(&str, &str)], kind: &str) {
        let mut accounts = self.accounts();
        accounts.resource_version += 1;
        let rv = accounts.resource_version;
        let object = service_account(namespace, name, annotations, rv);
        let line = json!({ "type": kind, "object": object }).to_string();
        accounts.listed.insert(format!("{namespace}/{name}"), object);
        accounts.log.push((rv, line.clone()));
        let _ = self.state.events.send((rv, line));
    }

    /// Many KSAs at once, as if they were there before any client came: listed and got, not
    /// replayed to watches (which start from the list's resourceVersion anyway).
    pub fn add_many_service_accounts(&self, namespace: &str, count: usize, annotations: &[(&str, &str)]) {
        let mut accounts = self.accounts();
        for i in 0..count {
            accounts.resource_version += 1;
            let name = format!("ksa-{i}");
            let object = service_account(namespace, &name, annotations, accounts.resource_version);
            accounts.listed.insert(format!("{namespace}/{name}"), object);
        }
    }

    /// `count` KSAs (`ksa-NNNNNN`), `per_namespace` to a namespace (`gen-NNNNN`), each with
    /// `annotations` (`{name}` and `{namespace}` in a value are replaced by the KSA's), as if
    /// they were there before any client came. Made when a page or a get asks for them, never
    /// held.
    pub fn add_generated_service_accounts(&self, count: usize, per_namespace: usize, annotations: &[(&str, &str)]) {
        let mut accounts = self.accounts();
        accounts.resource_version += 1;
        accounts.generated = Some(Generated {
            count,
            per_namespace: per_namespace.max(1),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            rv: accounts.resource_version,
        });
    }

    /// Writes elsewhere in the cluster move the resourceVersion on (it is etcd's revision, one
    /// for every resource), then etcd compacts: every version a client has seen is gone. A watch
    /// that resumes from one, or a list that continues one, gets 410 Gone from now on.
    pub fn compact(&self) {
        let mut accounts = self.accounts();
        accounts.resource_version += 1;
        accounts.compacted = accounts.resource_version;
        accounts.log.clear();
    }

    /// Ends every open watch, as the API server does when a watch's timeout is up: clients
    /// resume from the last version they saw.
    pub fn end_watches(&self) {
        self.state.watch_epoch.send_modify(|e| *e += 1);
    }

    /// A KSA only a direct get finds: the watch has not told anyone yet.
    pub fn add_unwatched_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        let mut accounts = self.accounts();
        let object = service_account(namespace, name, annotations, accounts.resource_version);
        accounts.unwatched.insert(format!("{namespace}/{name}"), object);
    }

    /// While `held`, watch events wait (and are then delivered in order).
    pub fn hold_watch(&self, held: bool) {
        self.state.watch_held.send_replace(held);
    }

    /// While `held`, direct gets wait for the release before they are answered.
    pub fn hold_gets(&self, held: bool) {
        self.state.gets_held.send_replace(held);
    }

    /// Waits until `count` gets are being held.
    pub async fn gets_waiting(&self, count: usize) {
        let mut waiting = self.state.waiting_gets.subscribe();
        let _ = waiting.wait_for(|n| *n >= count).await;
    }

    /// Answers lists, watches or gets the hostile way from now on.
    pub fn set_hostile(&self, hostile: Hostile) {
        self.accounts().hostile = Some(hostile);
    }

    /// The version `GET /version` reports (default v1.33.0).
    pub fn set_version(&self, git_version: &str) {
        self.accounts().git_version = Some(git_version.to_owned());
    }

    /// How many direct gets of a ServiceAccount were served.
    pub fn gets(&self) -> usize {
        self.accounts().gets
    }

    /// How many lists (first pages: relists) were answered.
    pub fn lists(&self) -> usize {
        self.accounts().lists
    }

    /// How many `continue` pages (a list's pages after its first) were answered.
    pub fn pages(&self) -> usize {
        self.accounts().pages
    }

    /// The largest `limit` any list asked for (0: none had one).
    pub fn largest_limit(&self) -> usize {
        self.accounts().largest_limit
    }

    /// How many watches were started.
    pub fn watches(&self) -> usize {
        self.accounts().watches
    }

    /// The Secrets and MutatingWebhookConfigurations it serves (set the scene, edit as someone
    /// else, read what clients wrote).
    pub fn objects(&self) -> &Objects {
        &self.state.objects
    }

    /// Stops listening and drops every open connection (watches included).
    pub fn stop(mut self) {
        self.tasks.abort_all();
    }
}

/// A kubeconfig whose only cluster is `url`, without credentials.
pub fn write_kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {url}\nusers:\n- name: stand-in\n  user: {{}}\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: stand-in\ncurrent-context: stand-in\n"
    );
    std::fs::write(&path, config).expect("write kubeconfig");
    path
}

fn service_account(namespace: &str, name: &str, annotations: &[(&str, &str)], rv: u64) -> Value {
    let annotations: serde_json::Map<String, Value> =
        annotations.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": { "name": name, "namespace": namespace, "resourceVersion": rv.to_string(),
                      "uid": format!("uid-{namespace}-{name}"), "annotations": annotations }
    })
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn query(request: &Request<Incoming>) -> BTreeMap<String, String> {
    query_pairs(request.uri().query().unwrap_or_default())
}

async fn route(state: &Arc<State>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let Some(target) = crate::kube_objects::target(&segments) {
        return objects(state, request, &target).await;
    }
    let hostile = state.accounts.lock().unwrap().hostile;
    match segments[..] {
        ["version"] => {
            let git = state.accounts.lock().unwrap().git_version.clone();
            let git = git.unwrap_or_else(|| "v1.33.0".to_owned());
            let minor = git.trim_start_matches('v').split('.').nth(1).unwrap_or("").to_owned();
            json_response(
                200,
                &json!({ "major": "1", "minor": minor, "gitVersion": git, "gitCommit": "0", "gitTreeState": "clean",
                         "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64" }),
            )
        }
        ["api", "v1", "serviceaccounts"] => {
            let q = query(&request);
            if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
                let (compacted, _) = {
                    let mut accounts = state.accounts.lock().unwrap();
                    accounts.watches += 1;
                    (accounts.compacted, ())
                };
                let from = q.get("resourceVersion").and_then(|rv| rv.parse().ok()).unwrap_or(0);
                if from < compacted && hostile.is_none() {
                    // The API server answers 200, then one ERROR event with the 410 Status.
                    let message = format!("too old resource version: {from} ({compacted})");
                    let gone = json!({ "type": "ERROR", "object": status(410, "Expired", &message) });
                    return stream_response(vec![Bytes::from(gone.to_string() + "\n")]);
                }
                match hostile {
                    Some(Hostile::WatchFlood) => endless(flood()),
                    Some(Hostile::GoneStorm) => {
                        let gone =
                            json!({ "type": "ERROR", "object": status(410, "Expired", "too old resource version") });
                        stream_response(vec![Bytes::from(gone.to_string() + "\n")])
                    }
                    Some(Hostile::WatchClosesAtOnce) => stream_response(Vec::new()),
                    _ => watch_events(state, from),
                }
            } else {
                let continued = q.get("continue").filter(|c| !c.is_empty()).cloned();
                if continued.is_none() {
                    state.accounts.lock().unwrap().lists += 1;
                } else {
                    state.accounts.lock().unwrap().pages += 1;
                }
                let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
                {
                    let mut accounts = state.accounts.lock().unwrap();
                    accounts.largest_limit = accounts.largest_limit.max(if limit == usize::MAX { 0 } else { limit });
                }
                match hostile {
                    Some(Hostile::EndlessList) => endless(endless_list()),
                    Some(Hostile::EndlessContinue) => {
                        let page: u64 = continued.and_then(|c| c.parse().ok()).unwrap_or(0);
                        endless_continue_page(page, limit)
                    }
                    _ => match ListQuery::parse(&q) {
                        Ok(query) => list(state, &query),
                        Err((code, body)) => json_response(code, &body),
                    },
                }
            }
        }
        ["api", "v1", "namespaces", namespace, "serviceaccounts", name] => {
            let mut held = state.gets_held.subscribe();
            if *held.borrow() {
                state.waiting_gets.send_modify(|n| *n += 1);
                let _ = held.wait_for(|held| !*held).await;
                state.waiting_gets.send_modify(|n| *n -= 1);
            }
            if hostile == Some(Hostile::HugeGet) {
                state.accounts.lock().unwrap().gets += 1;
                return endless(huge_object());
            }
            get(state, namespace, name)
        }
        _ => json_response(404, &status(404, "NotFound", &format!("no route for {path}"))),
    }
}

/// A request for a Secret or MutatingWebhookConfiguration (body at most 4 MiB, as a Secret is at
/// most 1 MiB and kube-apiserver takes 3 MiB requests).
async fn objects(state: &State, request: Request<Incoming>, target: &crate::kube_objects::Target) -> Response<Body> {
    let method = request.method().as_str().to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match http_body_util::Limited::new(request.into_body(), 4 << 20)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => return json_response(413, &status(413, "RequestEntityTooLarge", "request is too large")),
    };
    let (code, answer) = state.objects.handle(&method, target, content_type.as_deref(), &body);
    json_response(code, &answer)
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "reason": reason, "message": message, "code": code })
}

/// One page, in key order from the token's key (or the start), at most `limit` items that
/// match the selector, with a `continue` token when more remain. A continued page leaves out
/// KSAs added after its list began (the list is of that version); changes to those it lists
/// show as they are now (a simplification: the stand-in keeps no history).
fn list(state: &State, query: &ListQuery) -> Response<Body> {
    let accounts = state.accounts.lock().unwrap();
    let start = match query.start(accounts.resource_version, accounts.compacted) {
        Ok(start) => start,
        Err((code, body)) => return json_response(code, &body),
    };
    let from = start.from.as_deref().unwrap_or("");
    let limit = query.limit.unwrap_or(usize::MAX);
    let mut explicit = accounts
        .listed
        .range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded))
        .filter(|(_, object)| object_rv(object) <= start.rv)
        .peekable();
    let generated = accounts.generated.as_ref().filter(|g| g.rv <= start.rv);
    let mut next_generated = generated.map_or(0, |g| g.position(from));
    let mut items: Vec<Value> = Vec::new();
    let mut last_key = None;
    let more = loop {
        let explicit_key = explicit.peek().map(|(k, _)| k.as_str().to_owned());
        let generated_key = generated
            .filter(|g| next_generated < g.count)
            .map(|g| g.key(next_generated));
        let (key, object) = match (explicit_key, generated_key) {
            (None, None) => break false,
            (Some(e), Some(g)) if g < e => {
                next_generated += 1;
                (g, generated.unwrap().object(next_generated - 1))
            }
            (Some(_), _) => {
                let (k, v) = explicit.next().unwrap();
                (k.clone(), v.clone())
            }
            (None, Some(g)) => {
                next_generated += 1;
                (g, generated.unwrap().object(next_generated - 1))
            }
        };
        if !query.selector.matches(&object["metadata"]["labels"]) {
            continue;
        }
        if items.len() == limit {
            break true;
        }
        items.push(object);
        last_key = Some(key);
    };
    let continue_token = match (more, last_key) {
        (true, Some(last)) => encode_continue(start.rv, &last),
        _ => String::new(),
    };
    let body = json!({ "apiVersion": "v1", "kind": "ServiceAccountList",
                       "metadata": { "resourceVersion": start.rv.to_string(), "continue": continue_token },
                       "items": items });
    json_response(200, &body)
}

fn object_rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn get(state: &State, namespace: &str, name: &str) -> Response<Body> {
    let mut accounts = state.accounts.lock().unwrap();
    accounts.gets += 1;
    let key = format!("{namespace}/{name}");
    let found = accounts
        .listed
        .get(&key)
        .or(accounts.unwatched.get(&key))
        .cloned()
        .or_else(|| {
            let generated = accounts.generated.as_ref()?;
            generated.index_of(namespace, name).map(|i| generated.object(i))
        });
    match found {
        Some(object) => json_response(200, &object),
        None => json_response(
            404,
            &status(404, "NotFound", &format!("serviceaccounts \"{name}\" not found")),
        ),
    }
}

/// Events after `from`, then every new one, as JSON lines, until the server stops; while the
/// watch is held, none is sent.
fn watch_events(state: &State, from: u64) -> Response<Body> {
    let (backlog, mut events) = {
        let accounts = state.accounts.lock().unwrap();
        let backlog: Vec<(u64, String)> = accounts.log.iter().filter(|(rv, _)| *rv > from).cloned().collect();
        (backlog, state.events.subscribe())
    };
    let mut held = state.watch_held.subscribe();
    let mut epoch = state.watch_epoch.subscribe();
    epoch.mark_unchanged();
    let (sender, receiver) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let stream = async {
            let mut last = from;
            for (rv, line) in backlog {
                last = rv;
                let _ = held.wait_for(|held| !*held).await;
                if sender.send(Bytes::from(line + "\n")).await.is_err() {
                    return;
                }
            }
            while let Ok((rv, line)) = events.recv().await {
                let _ = held.wait_for(|held| !*held).await;
                if rv > last && sender.send(Bytes::from(line + "\n")).await.is_err() {
                    return;
                }
            }
        };
        // The watch ends (its body closes) when the epoch moves on.
        tokio::select! {
            () = stream => {}
            _ = epoch.changed() => {}
        }
    });
    let mut response = Response::new(Stream(receiver).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn stream_response(chunks: Vec<Bytes>) -> Response<Body> {
    let (sender, receiver) = mpsc::channel::<Bytes>(chunks.len().max(1));
    for chunk in chunks {
        let _ = sender.try_send(chunk);
    }
    let mut response = Response::new(Stream(receiver).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// A body produced chunk by chunk as the client reads, until the client goes.
fn endless(mut next: impl FnMut(u64) -> Option<Bytes> + Send + 'static) -> Response<Body> {
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut i = 0;
        while let Some(chunk) = next(i) {
            if sender.send(chunk).await.is_err() {
                return;
            }
            i += 1;
        }
    });
    let mut response = Response::new(Stream(receiver).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// One page of a list that never ends: `limit` (at most 500) ServiceAccounts, each with a role
/// ARN of 2,100 characters (which a reader keeps, cut, until the list is done), and a
/// `continue` token to the next page. Built by concatenation: a reader may ask for thousands.
fn endless_continue_page(page: u64, limit: usize) -> Response<Body> {
    let arn = format!("arn:aws:iam::111122223333:role/{}", "r".repeat(2100 - 31));
    let items: Vec<String> = (0..limit.min(500))
        .map(|i| {
            format!(
                r#"{{"apiVersion":"v1","kind":"ServiceAccount","metadata":{{"name":"page-{page}-{i}","namespace":"endless","resourceVersion":"1","annotations":{{"amazonaws.com/role-arn":"{arn}"}}}}}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"ServiceAccountList","metadata":{{"resourceVersion":"1","continue":"{}"}},"items":[{}]}}"#,
        page + 1,
        items.join(",")
    );
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn endless_list() -> impl FnMut(u64) -> Option<Bytes> + Send {
    |i| {
        if i == 0 {
            return Some(Bytes::from_static(
                br#"{"apiVersion":"v1","kind":"ServiceAccountList","metadata":{"resourceVersion":"1"},"items":["#,
            ));
        }
        let item = service_account("endless", &format!("ksa-{i}"), &[], i);
        Some(Bytes::from(format!("{item},")))
    }
}

/// 50 MB of one ServiceAccount: an annotation that goes on and on.
fn huge_object() -> impl FnMut(u64) -> Option<Bytes> + Send {
    const CHUNK: usize = 64 << 10;
    const CHUNKS: u64 = (50 << 20) / CHUNK as u64;
    let filler = Bytes::from(vec![b'a'; CHUNK]);
    move |i| {
        match i {
        0 => Some(Bytes::from_static(
            br#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"huge","namespace":"team","annotations":{"amazonaws.com/role-arn":""#,
        )),
        i if i <= CHUNKS => Some(filler.clone()),
        i if i == CHUNKS + 1 => Some(Bytes::from_static(br#""}}}"#)),
        _ => None,
    }
    }
}

/// ADDED events of new ServiceAccounts without end, each with 64 KiB of annotation (one
/// rendered event, its name spliced in: the flood is as fast as the client reads).
fn flood() -> impl FnMut(u64) -> Option<Bytes> + Send {
    let big = "x".repeat(64 << 10);
    let object = service_account(
        "flood",
        "NAME",
        &[
            ("amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/flood"),
            ("kubectl.kubernetes.io/last-applied-configuration", &big),
        ],
        1,
    );
    let line = json!({ "type": "ADDED", "object": object }).to_string() + "\n";
    let (before, after) = line
        .split_once("\"NAME\"")
        .map(|(b, a)| (b.to_owned(), a.to_owned()))
        .unwrap();
    move |i| Some(Bytes::from(format!("{before}\"flood-{i}\"{after}")))
}

/// A response body fed chunk by chunk: a watch stays open until the server stops.
struct Stream(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Stream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|l| Ok(hyper::body::Frame::data(l))))
    }
}
