//! A Kubernetes API stand-in that serves ServiceAccounts the way kube-rs reads them: list
//! (`GET /api/v1/serviceaccounts`), watch (the same with `watch=true`, a stream of JSON lines
//! from a resourceVersion) and get (`GET /api/v1/namespaces/NS/serviceaccounts/NAME`). Plain
//! HTTP on 127.0.0.1, reached through a kubeconfig it writes. Stops, connections included,
//! when dropped or [`KubeApi::stop`]ped, as an API server that went away.

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
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

type Body = BoxBody<Bytes, Infallible>;

#[derive(Default)]
struct Accounts {
    resource_version: u64,
    /// Listed, watched and got.
    listed: BTreeMap<(String, String), Value>,
    /// Only got: a KSA the watch has not delivered yet (a cache that lags behind).
    unwatched: BTreeMap<(String, String), Value>,
    /// Every watch event so far, to replay from a client's resourceVersion.
    log: Vec<(u64, String)>,
    gets: usize,
}

struct State {
    accounts: Mutex<Accounts>,
    events: broadcast::Sender<(u64, String)>,
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
                    async move { Ok::<_, Infallible>(route(&state, request)) }
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

    /// A KSA every client sees: in lists, as a watch event, and by get.
    pub fn add_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        let mut accounts = self.state.accounts.lock().unwrap();
        accounts.resource_version += 1;
        let rv = accounts.resource_version;
        let object = service_account(namespace, name, annotations, rv);
        let line = json!({ "type": "ADDED", "object": object }).to_string();
        accounts.listed.insert((namespace.to_owned(), name.to_owned()), object);
        accounts.log.push((rv, line.clone()));
        let _ = self.state.events.send((rv, line));
    }

    /// A KSA only a direct get finds: the watch has not told anyone yet.
    pub fn add_unwatched_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        let mut accounts = self.state.accounts.lock().unwrap();
        let object = service_account(namespace, name, annotations, accounts.resource_version);
        accounts
            .unwatched
            .insert((namespace.to_owned(), name.to_owned()), object);
    }

    /// How many direct gets of a ServiceAccount were served.
    pub fn gets(&self) -> usize {
        self.state.accounts.lock().unwrap().gets
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
    let query = request.uri().query().unwrap_or_default();
    form_pairs(query).into_iter().collect()
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn route(state: &Arc<State>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments[..] {
        ["api", "v1", "serviceaccounts"] => {
            let q = query(&request);
            if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
                let from = q.get("resourceVersion").and_then(|rv| rv.parse().ok()).unwrap_or(0);
                watch(state, from)
            } else {
                list(state)
            }
        }
        ["api", "v1", "namespaces", namespace, "serviceaccounts", name] => get(state, namespace, name),
        _ => json_response(404, &status(404, "NotFound", &format!("no route for {path}"))),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "reason": reason, "message": message, "code": code })
}

fn list(state: &State) -> Response<Body> {
    let accounts = state.accounts.lock().unwrap();
    let items: Vec<&Value> = accounts.listed.values().collect();
    let body = json!({ "apiVersion": "v1", "kind": "ServiceAccountList",
                       "metadata": { "resourceVersion": accounts.resource_version.to_string() }, "items": items });
    json_response(200, &body)
}

fn get(state: &State, namespace: &str, name: &str) -> Response<Body> {
    let mut accounts = state.accounts.lock().unwrap();
    accounts.gets += 1;
    let key = (namespace.to_owned(), name.to_owned());
    match accounts.listed.get(&key).or(accounts.unwatched.get(&key)) {
        Some(object) => json_response(200, object),
        None => json_response(
            404,
            &status(404, "NotFound", &format!("serviceaccounts \"{name}\" not found")),
        ),
    }
}

/// Events after `from`, then every new one, as JSON lines, until the server stops.
fn watch(state: &State, from: u64) -> Response<Body> {
    let (backlog, mut events) = {
        let accounts = state.accounts.lock().unwrap();
        let backlog: Vec<(u64, String)> = accounts.log.iter().filter(|(rv, _)| *rv > from).cloned().collect();
        (backlog, state.events.subscribe())
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut last = from;
        for (rv, line) in backlog {
            last = rv;
            if sender.send(Bytes::from(line + "\n")).await.is_err() {
                return;
            }
        }
        while let Ok((rv, line)) = events.recv().await {
            if rv > last && sender.send(Bytes::from(line + "\n")).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Stream(receiver).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// A response body fed line by line: a watch stays open until the server stops.
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
