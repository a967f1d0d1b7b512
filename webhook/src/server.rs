//! The two listeners: HTTPS for the API server (`POST /mutate`, AdmissionReview v1, and
//! `GET /healthz` for the liveness probe) and plain HTTP for Prometheus and the kubelet
//! (`/metrics`, `/healthz`, `/readyz`).
//!
//! Every peer is bounded: connections and the bytes they buffer ([`Limits`]), handshake,
//! header and body time (a timer closes connections past their phase's bound:
//! [`crate::connections`]), body size. Idle keep-alive connections stay open for
//! [`IDLE_TIMEOUT`], longer than kube-apiserver keeps its pooled connections (Go's 90 s
//! `IdleConnTimeout`), so the API server never writes a review into a connection the webhook is
//! closing. `accept()` errors (out of file descriptors) back off. On shutdown the listener
//! closes, in-flight reviews are answered, idle connections close, within [`DRAIN_TIMEOUT`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::choice;
use crate::connections::{HANDSHAKE_TIMEOUT, Limits, SMALL_BODY_BYTES, Ticket, Watched};
use crate::keys::NAMED_ROLE_PREFIX;
use crate::ksa_cache::{KsaCache, LookupError, Progress};
use crate::message;
use crate::metrics::{Admission, Closed, Metrics};
use crate::mutate::{self, Outcome, Settings};
use crate::native_sidecars::{self, Policy, Support, Verdict};
use crate::review::{self, Answer};

/// The API server sends at most a few MB (its own request limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// Body bytes beyond each request's first [`SMALL_BODY_BYTES`], across all connections: two
/// of the largest reviews at once.
pub const SHARED_BODY_BYTES: usize = 2 * MAX_BODY_BYTES;
/// Body time.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait idle for its next request (the timer's bound; hyper's header
/// timer, which also runs while a kept-alive connection waits, is set to it as a backstop).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long kube-apiserver keeps an idle pooled connection (Go's `IdleConnTimeout`).
pub const API_SERVER_IDLE_CONN: Duration = Duration::from_secs(90);
// Closing first would lose the review the API server writes into the closing connection.
const _: () = assert!(
    IDLE_TIMEOUT.as_secs() > API_SERVER_IDLE_CONN.as_secs(),
    "IDLE_TIMEOUT must outlast the API server's pooled connections"
);
/// hyper's read buffer per connection (also the bound on a request's headers).
const READ_BUFFER_BYTES: usize = 16 << 10;
/// After shutdown begins, in-flight reviews get this long to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// Connections to the metrics listener (Prometheus and the kubelet's probes).
const METRICS_CONNECTIONS: usize = 32;

pub struct App {
    pub cache: KsaCache,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Whether the nodes run native sidecars, once the API server's version is read.
    pub sidecars: Support,
    pub sidecar_policy: Policy,
    pub limits: Arc<Limits>,
    /// Set on SIGTERM: not ready any more, so the Service stops sending reviews here.
    pub draining: AtomicBool,
}

impl App {
    /// Ready: not shutting down, the API server's version is known, and the API server has
    /// answered the KSA list (its first page at least: until the cache is synced, a KSA not seen
    /// yet is read directly). Either way the answer says what it waits for, or how far the
    /// cache is.
    pub fn readiness(&self) -> Result<String, String> {
        if self.draining.load(Ordering::SeqCst) {
            return Err("not ready: shutting down\n".to_owned());
        }
        if self.sidecars.get().is_none() {
            return Err("not ready: waiting for the API server's version (GET /version)\n".to_owned());
        }
        match self.cache.progress() {
            Progress::Waiting { last_error } => Err(format!(
                "not ready: waiting for the first page of the ServiceAccount list (list serviceaccounts){}\n",
                last_error.map(|e| format!("; last error: {e}")).unwrap_or_default()
            )),
            Progress::Warming { listed } => Ok(format!(
                "ready; KSA cache warming: {listed} ServiceAccounts listed so far, the others are read from the API server until it is synced\n"
            )),
            Progress::Synced { size } => Ok(format!("ready; KSA cache synced: {size} ServiceAccounts\n")),
        }
    }
}

/// Serves `POST /mutate` over TLS until `stop` turns true, then drains.
pub async fn serve_https(listener: TcpListener, acceptor: TlsAcceptor, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    // The timer that closes connections past their phase's bound.
    let sweeper = tokio::spawn(crate::connections::close_past_bounds(app.limits.clone()));
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    loop {
        let ticket = tokio::select! {
            ticket = app.limits.admit() => ticket,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                backoff = FIRST_ACCEPT_BACKOFF;
                ticket.slot().accepted();
                let task = connection(tcp, peer, acceptor.clone(), app.clone(), ticket, stop.clone());
                connections.spawn(task);
            }
            Err(error) => {
                // EMFILE and the like: retrying at once would spin; the slot goes back first.
                drop(ticket);
                app.metrics.accept_error();
                tracing::warn!(%error, ?backoff, "accept failed; backing off");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    sweeper.abort();
    tracing::info!(
        open = connections.len(),
        "HTTPS listener closed; answering the reviews in flight"
    );
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after {DRAIN_TIMEOUT:?}; closing them"
        );
        connections.abort_all();
    }
}

/// One HTTPS connection, from the TLS handshake to its close: served until it ends, is asked
/// to close (for a newcomer, or past its phase's bound), or `stop` turns true. A request in
/// progress is answered first; a connection idle after a request closes cleanly; one that never
/// sent its headers is dropped.
pub async fn connection<IO>(
    tcp: IO,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Arc<App>,
    ticket: Ticket,
    mut stop: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let tls = tokio::select! {
        tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match tls {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => {
                app.metrics.connection_closed(Closed::Handshake);
                return tracing::debug!(%peer, "TLS handshake timed out");
            }
        },
        why = ticket.evicted() => {
            app.metrics.connection_closed(why);
            return;
        }
        _ = stop.wait_for(|stop| *stop) => return,
    };
    let slot = ticket.slot();
    slot.handshake_done();
    let tls = Watched::new(tls, slot.clone());
    let metrics = app.metrics.clone();
    let service = service_fn(move |request| {
        let app = app.clone();
        let busy = slot.busy();
        async move {
            let response = route_https(&app, request).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1_builder(IDLE_TIMEOUT).serve_connection(TokioIo::new(tls), service);
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => Some(ended),
        why = ticket.evicted() => {
            metrics.connection_closed(why);
            // Headers that never came: nothing to answer, the connection goes at once (hyper
            // closes only an idle one gracefully, not one waiting for its first request).
            if ticket.slot().before_headers() {
                return tracing::debug!(%peer, ?why, "closed before its request's headers");
            }
            None
        }
        _ = stop.wait_for(|stop| *stop) => None,
    };
    // Asked to close: a request in progress is answered first, an idle connection closes now.
    let ended = match ended {
        Some(ended) => ended,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

fn http1_builder(idle: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper's header timer also runs while a kept-alive connection waits: the idle bound.
        .header_read_timeout(idle)
        .max_buf_size(READ_BUFFER_BYTES);
    builder
}

/// Serves the metrics and health endpoints over plain HTTP until the process ends.
pub async fn serve_metrics(listener: TcpListener, app: Arc<App>) {
    let limits = Limits::new(METRICS_CONNECTIONS, 0, PEER_TIMEOUT);
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    loop {
        let ticket = limits.admit().await;
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(error) => {
                drop(ticket);
                app.metrics.accept_error();
                tracing::warn!(%error, ?backoff, "accept failed on the metrics listener; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_ACCEPT_BACKOFF;
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(route_metrics(&app, request.uri().path())) }
            });
            let connection = http1_builder(PEER_TIMEOUT).serve_connection(TokioIo::new(tcp), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = ticket.evicted() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn route_metrics(app: &App, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/metrics" => text(StatusCode::OK, app.metrics.render()),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match app.readiness() {
            Ok(ready) => text(StatusCode::OK, ready),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn route_https(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        // The liveness probe: a TLS handshake and an answer from this listener.
        (&Method::GET, "/healthz") => return text(StatusCode::OK, "ok\n"),
        (&Method::POST, "/mutate") => {}
        (_, "/mutate") => return text(StatusCode::METHOD_NOT_ALLOWED, "POST an AdmissionReview to /mutate\n"),
        _ => return text(StatusCode::NOT_FOUND, "not found; the webhook answers POST /mutate\n"),
    }
    let body = match tokio::time::timeout(PEER_TIMEOUT, read_body(app, request.into_body())).await {
        Ok(Ok(body)) => body,
        Ok(Err(refused)) => return refused,
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "body not received in time\n"),
    };
    let started = Instant::now();
    let (uid, answer, outcome) = answer(app, body).await;
    app.metrics.admission(outcome, started.elapsed());
    match review::encode(&uid, &answer) {
        Ok(json) => {
            let mut response = text(StatusCode::OK, json);
            response.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the review: {error}\n"),
        ),
    }
}

/// A request body and the shared-pool bytes it holds.
struct ReadBody {
    bytes: Vec<u8>,
    _pool: Option<OwnedSemaphorePermit>,
}

/// Reads the body within [`MAX_BODY_BYTES`]; what goes past [`SMALL_BODY_BYTES`] must find
/// room in the shared pool, or the request is refused at once (503).
async fn read_body(app: &App, mut body: Incoming) -> Result<ReadBody, Response<Full<Bytes>>> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an AdmissionReview is at most {MAX_BODY_BYTES} bytes\n"),
        )
    };
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(SMALL_BODY_BYTES.min(body.size_hint().lower() as usize));
    let mut pool: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| text(StatusCode::BAD_REQUEST, format!("unreadable body: {e}\n")))?;
        let Ok(data) = frame.into_data() else { continue };
        let needed = bytes.len() + data.len();
        if needed > MAX_BODY_BYTES {
            return Err(too_large());
        }
        if needed > bytes.capacity() {
            // Grown by doubling, as Vec would, but every byte past the small share paid for first.
            let capacity = needed.max(bytes.capacity() * 2).clamp(SMALL_BODY_BYTES, MAX_BODY_BYTES);
            let held = pool.as_ref().map_or(0, |p| p.num_permits());
            let more = capacity.saturating_sub(SMALL_BODY_BYTES).saturating_sub(held);
            if more > 0 {
                let Some(permit) = app.limits.draw(more) else {
                    app.metrics.body_refused();
                    return Err(text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the webhook is buffering as many request bytes as it allows; retry\n",
                    ));
                };
                match pool.as_mut() {
                    Some(held) => held.merge(permit),
                    None => pool = Some(permit),
                }
            }
            bytes.reserve_exact(capacity - bytes.len());
        }
        bytes.extend_from_slice(&data);
    }
    Ok(ReadBody { bytes, _pool: pool })
}

/// One AdmissionReview in, its uid and answer out.
async fn answer(app: &App, body: ReadBody) -> (String, Answer, Admission) {
    let request = review::read(&body.bytes);
    // The body (and its share of the pool) goes before any waiting on the API server.
    drop(body);
    let request = match request {
        Ok(request) => request,
        Err(unreadable) => {
            let message = format!(
                "gke-aws-verifier: cannot read the AdmissionReview: {}",
                unreadable.problem
            );
            tracing::warn!(%message, "denied");
            let answer = Answer::Deny { code: 400, message };
            return (unreadable.uid.unwrap_or_default(), answer, Admission::Denied);
        }
    };
    let (answer, outcome) = decide(app, &request).await;
    (request.uid, answer, outcome)
}

fn deny(message: String) -> (Answer, Admission) {
    (Answer::Deny { code: 403, message }, Admission::Denied)
}

async fn decide(app: &App, request: &review::Request) -> (Answer, Admission) {
    if let Some(kind) = &request.not_pod {
        // A rule that sends more than pods: refusing would block every such object in the
        // cluster under failurePolicy Fail; it is let through as it is, and said.
        tracing::warn!(
            kind,
            namespace = request.namespace.as_deref().unwrap_or(""),
            "a review of something other than a Pod: allowed unchanged; the MutatingWebhookConfiguration's rules should send pods only"
        );
        let warning = format!(
            "gke-aws-verifier: {} is not a Pod: allowed unchanged (the webhook's rules should send pods only)",
            message::quoted(kind)
        );
        return (
            Answer::Allow {
                warnings: message::warnings(vec![warning]),
            },
            Admission::NotPod,
        );
    }
    let skipped = (Answer::Allow { warnings: Vec::new() }, Admission::Skipped);
    let Some(pod) = request.object.as_ref().filter(|_| request.operation == "CREATE") else {
        return skipped;
    };
    let namespace = request
        .namespace
        .as_deref()
        .or(pod.metadata.namespace.as_deref())
        .unwrap_or("default");
    let pod_name = pod
        .metadata
        .name
        .as_deref()
        .or(pod.metadata.generate_name.as_deref())
        .unwrap_or("");
    let (ksa_name, outcome) = match mutate::ksa_to_look_up(pod, namespace, &app.settings) {
        Ok(ksa_name) => {
            let outcome = match review_with_ksa(app, pod, namespace, &ksa_name).await {
                Ok(outcome) => outcome,
                Err(denied) => return denied,
            };
            (ksa_name, outcome)
        }
        Err(outcome) => (String::new(), outcome),
    };
    match outcome {
        Outcome::Skip { reason } => {
            tracing::debug!(namespace, pod = pod_name, reason, "skipped");
            skipped
        }
        Outcome::Deny { message } => {
            tracing::info!(namespace, pod = pod_name, ksa = ksa_name, %message, "denied");
            deny(message)
        }
        Outcome::Inject { patch, mut warnings } => {
            if native_sidecars::adds_native_sidecar(&patch) {
                match (app.sidecars.get(), app.sidecar_policy) {
                    (Some(Verdict::Reliable), _) => {}
                    (Some(Verdict::Unreliable(why)), Policy::Refuse) => {
                        let message = format!(
                            "gke-aws-verifier: the pod would get the token sidecar (a native sidecar), but {why}"
                        );
                        tracing::info!(namespace, pod = pod_name, %message, "denied");
                        return deny(message);
                    }
                    (Some(Verdict::Unreliable(_)), Policy::Warn) => {
                        // First, so the answer's budget keeps it; through the same caps as the rest.
                        warnings.insert(
                            0,
                            "gke-aws-verifier: on a node older than 1.29 the token sidecar hangs this pod in Init"
                                .to_owned(),
                        );
                        warnings = message::warnings(warnings);
                    }
                    (None, _) => {
                        return deny(
                            "gke-aws-verifier: the webhook has not read the API server's version yet, so it cannot tell whether nodes run native sidecars; retry".to_owned(),
                        );
                    }
                }
            }
            tracing::info!(
                namespace,
                pod = pod_name,
                ksa = ksa_name,
                warnings = warnings.len(),
                "injected"
            );
            (Answer::Patch { patch, warnings }, Admission::Injected)
        }
    }
}

/// The decision with the KSA's annotations: from the cache, and from the API server when the
/// cache has not seen the KSA or its copy would refuse the pod.
async fn review_with_ksa(
    app: &App,
    pod: &k8s_openapi::api::core::v1::Pod,
    namespace: &str,
    ksa_name: &str,
) -> Result<Outcome, (Answer, Admission)> {
    let found = match app.cache.lookup(namespace, ksa_name).await {
        Ok(found) => found,
        Err(LookupError::InvalidName(problem)) => {
            let message = format!("gke-aws-verifier: {problem}");
            tracing::info!(namespace, %message, "denied");
            return Err(deny(message));
        }
        Err(LookupError::Unavailable(error)) => {
            let message = format!(
                "gke-aws-verifier: cannot look up ServiceAccount {ksa_name:?} in namespace {namespace:?} ({error}); retry, and check the webhook's RBAC (get serviceaccounts)"
            );
            tracing::warn!(namespace, ksa = ksa_name, %message, "denied");
            return Err(deny(message));
        }
    };
    let outcome = mutate::review(pod, namespace, found.annotations.as_deref(), &app.settings);
    let denied = matches!(outcome, Outcome::Deny { .. });
    if !denied || found.fresh || !annotations_decide(pod, namespace, &app.settings) {
        return Ok(outcome);
    }
    // The cache may be behind: a KSA annotated a moment before its pod. Ask once.
    match app.cache.fetch(namespace, ksa_name).await {
        Ok(fresh) => Ok(mutate::review(
            pod,
            namespace,
            fresh.annotations.as_deref(),
            &app.settings,
        )),
        Err(error) => {
            tracing::debug!(?error, "the second look at the KSA failed; the cache's answer stands");
            Ok(outcome)
        }
    }
}

/// True when some KSA annotations would admit the pod: then a denial from the cache may be
/// the cache's being behind. Tried: a default role alone, and with a named role for every
/// profile the pod asks for (`profile.C: archive` needs the KSA's `role.archive`, which may be
/// what the cache has not seen yet), each in GSA mode and in cluster mode. A pod refused for
/// itself (Windows, hostNetwork, clashing names, a profile no KSA could have) is refused
/// whatever its KSA says, and costs no lookup.
fn annotations_decide(pod: &k8s_openapi::api::core::v1::Pod, namespace: &str, settings: &Settings) -> bool {
    const ANY_ROLE: &str = "arn:aws:iam::123456789012:role/any";
    let default_role = mutate::Annotations::from([(mutate::ROLE_ARN.to_owned(), ANY_ROLE.to_owned())]);
    let mut with_profiles = default_role.clone();
    for profile in choice::named_profiles(pod) {
        with_profiles.insert(format!("{NAMED_ROLE_PREFIX}{profile}"), ANY_ROLE.to_owned());
    }
    let identities = [None, Some("cluster")];
    [default_role, with_profiles].iter().any(|roles| {
        identities.iter().any(|identity| {
            let mut annotations = roles.clone();
            if let Some(identity) = identity {
                annotations.insert(mutate::IDENTITY.to_owned(), (*identity).to_owned());
            }
            !matches!(
                mutate::review(pod, namespace, Some(&annotations), settings),
                Outcome::Deny { .. }
            )
        })
    })
}
