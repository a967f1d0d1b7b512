//! The two listeners: HTTPS for the API server (`POST /mutate`, AdmissionReview v1) and plain
//! HTTP for Prometheus and the kubelet (`/metrics`, `/healthz`, `/readyz`). Every peer is
//! bounded: handshake and header time, body size and read time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::ksa_cache::KsaCache;
use crate::metrics::{Admission, Metrics};
use crate::mutate::{self, Outcome, Settings};

/// The API server sends at most a few MB (its own request limit is 3 MiB).
const MAX_BODY_BYTES: usize = 4 << 20;
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

pub struct App {
    pub cache: KsaCache,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
}

/// Serves `POST /mutate` over TLS until the process ends.
pub async fn serve_https(listener: TcpListener, acceptor: TlsAcceptor, app: Arc<App>) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(PEER_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(route_https(&app, request).await) }
            });
            serve(TokioIo::new(tls), service).await;
        });
    }
}

/// Serves the metrics and health endpoints over plain HTTP until the process ends.
pub async fn serve_metrics(listener: TcpListener, app: Arc<App>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(route_metrics(&app, request.uri().path())) }
            });
            serve(TokioIo::new(tcp), service).await;
        });
    }
}

async fn serve<IO, S>(io: TokioIo<IO>, service: S)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>,
    S::Future: Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(PEER_TIMEOUT)
        .serve_connection(io, service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error");
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
        "/readyz" if app.cache.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "KSA cache not synced\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn route_https(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/mutate" {
        return text(StatusCode::NOT_FOUND, "not found; the webhook answers POST /mutate\n");
    }
    if request.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "POST an AdmissionReview to /mutate\n");
    }
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(PEER_TIMEOUT, body).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(error)) => return text(StatusCode::BAD_REQUEST, format!("unreadable body: {error}\n")),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "body not received in time\n"),
    };
    let started = Instant::now();
    let (review, outcome) = admit(app, &body).await;
    app.metrics.admission(outcome, started.elapsed());
    match encode(&review) {
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

/// The review as JSON, with the patch as base64: the API server's documented form (kube-rs
/// writes the bytes as a JSON array of numbers).
fn encode(review: &AdmissionReview<DynamicObject>) -> serde_json::Result<Vec<u8>> {
    use base64::Engine;
    let mut json = serde_json::to_value(review)?;
    if let Some(patch) = json.pointer_mut("/response/patch") {
        let bytes: Vec<u8> = serde_json::from_value(patch.take())?;
        *patch = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    serde_json::to_vec(&json)
}

/// One AdmissionReview in, its answer out.
pub async fn admit(app: &App, body: &[u8]) -> (AdmissionReview<DynamicObject>, Admission) {
    let request: Result<AdmissionRequest<Pod>, String> = serde_json::from_slice::<AdmissionReview<Pod>>(body)
        .map_err(|e| format!("not an AdmissionReview of a Pod: {e}"))
        .and_then(|review| review.try_into().map_err(|e| format!("{e}")));
    let request = match request {
        Ok(request) => request,
        Err(error) => return (AdmissionResponse::invalid(error).into_review(), Admission::Denied),
    };
    let response = AdmissionResponse::from(&request);
    let (response, outcome) = decide(app, &request, response).await;
    (response.into_review(), outcome)
}

async fn decide(
    app: &App,
    request: &AdmissionRequest<Pod>,
    response: AdmissionResponse,
) -> (AdmissionResponse, Admission) {
    let Some(pod) = request
        .object
        .as_ref()
        .filter(|_| request.operation == Operation::Create)
    else {
        return (response, Admission::Skipped);
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
    let ksa_name = match mutate::ksa_to_look_up(pod, namespace, &app.settings) {
        Ok(ksa) => ksa,
        Err(Outcome::Deny { message }) => {
            tracing::info!(namespace, pod = pod_name, %message, "denied");
            return (response.deny(message), Admission::Denied);
        }
        Err(_) => {
            tracing::debug!(namespace, pod = pod_name, "skipped: not ours to mutate");
            return (response, Admission::Skipped);
        }
    };
    let ksa = match app.cache.annotations(namespace, &ksa_name).await {
        Ok(ksa) => ksa,
        Err(error) => {
            let message = format!(
                "gke-aws-verifier: cannot look up ServiceAccount {ksa_name:?} in namespace {namespace:?} ({}); retry, and check the webhook's RBAC (get serviceaccounts)",
                error.0
            );
            tracing::warn!(namespace, pod = pod_name, ksa = ksa_name, %message, "denied");
            return (response.deny(message), Admission::Denied);
        }
    };
    match mutate::review(pod, namespace, ksa.as_ref(), &app.settings) {
        Outcome::Skip { reason } => {
            tracing::debug!(namespace, pod = pod_name, reason, "skipped");
            (response, Admission::Skipped)
        }
        Outcome::Deny { message } => {
            tracing::info!(namespace, pod = pod_name, ksa = ksa_name, %message, "denied");
            (response.deny(message), Admission::Denied)
        }
        Outcome::Inject { patch, warnings } => {
            tracing::info!(
                namespace,
                pod = pod_name,
                ksa = ksa_name,
                warnings = warnings.len(),
                "injected"
            );
            match response.clone().with_patch(patch) {
                Ok(mut patched) => {
                    patched.warnings = Some(warnings).filter(|w| !w.is_empty());
                    (patched, Admission::Injected)
                }
                Err(error) => (
                    response.deny(format!("gke-aws-verifier: cannot encode the patch: {error}")),
                    Admission::Denied,
                ),
            }
        }
    }
}
