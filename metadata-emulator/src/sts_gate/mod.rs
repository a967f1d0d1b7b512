//! An STS front for moto that checks web-identity tokens as AWS does. moto's
//! `AssumeRoleWithWebIdentity` reads no token at all; behind this gate, a token whose issuer
//! has no OIDC provider in moto's IAM, whose audience is not a client ID, that expired, or
//! that the role's trust policy does not allow is refused with AWS's error. Everything
//! else is passed to moto unchanged.

mod iam;
mod trust;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use trust::{Provider, Refusal};

use crate::response::{Reply, reply};

/// Largest request body passed on (STS and IAM requests are a few KiB).
const MAX_BODY: usize = 1024 * 1024;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

struct Gate {
    upstream: String,
    iam: iam::Iam,
    http: reqwest::Client,
}

/// A running gate in front of moto; stops when dropped.
#[derive(Debug)]
pub struct StsGate {
    addr: SocketAddr,
    counters: Arc<GateCounters>,
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

/// Counters shared with the server task.
#[derive(Debug, Default)]
struct GateCounters {
    refused: AtomicU64,
    passed: AtomicU64,
}

impl StsGate {
    /// Starts a gate on `127.0.0.1` (free port) in front of `upstream` (moto's `http://HOST:PORT`).
    pub async fn start(upstream: &str) -> std::io::Result<StsGate> {
        StsGate::start_on(upstream, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts a gate on `addr` in front of `upstream`.
    pub async fn start_on(upstream: &str, addr: SocketAddr) -> std::io::Result<StsGate> {
        if !upstream.starts_with("http://") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("upstream {upstream:?}: give moto's endpoint as http://HOST:PORT"),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let gate = Arc::new(Gate {
            upstream: upstream.trim_end_matches('/').to_owned(),
            iam: iam::Iam::new(upstream),
            http,
        });
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(GateCounters::default());
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(serve(listener, gate, Arc::clone(&counters), stopped));
        Ok(StsGate {
            addr,
            counters,
            stop,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_STS`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the gate listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many `AssumeRoleWithWebIdentity` calls were refused, and how many passed the checks.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counters.refused.load(Ordering::Relaxed),
            self.counters.passed.load(Ordering::Relaxed),
        )
    }

    /// Stops accepting and waits until the port is released.
    pub async fn shutdown(self) {
        let StsGate { stop, task, .. } = self;
        drop(stop);
        let _ = task.await;
    }
}

async fn serve(listener: TcpListener, gate: Arc<Gate>, counters: Arc<GateCounters>, mut shutdown: watch::Receiver<()>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (gate, counters, mut shutdown) = (Arc::clone(&gate), Arc::clone(&counters), shutdown.clone());
                    tokio::spawn(async move {
                        let service = service_fn(move |request| {
                            let (gate, counters) = (Arc::clone(&gate), Arc::clone(&counters));
                            async move { Ok::<_, std::convert::Infallible>(handle(&gate, &counters, request).await) }
                        });
                        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            _ = conn => {}
                            _ = shutdown.changed() => {}
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn handle(gate: &Gate, counters: &GateCounters, request: Request<Incoming>) -> Reply {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", format!("{error}\n")),
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if field("Action") == Some("AssumeRoleWithWebIdentity") {
        let token = field("WebIdentityToken").unwrap_or_default();
        let role_arn = field("RoleArn").unwrap_or_default();
        match admit(gate, token, role_arn).await {
            Ok(()) => {
                counters.passed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(role_arn, "AssumeRoleWithWebIdentity allowed by the trust policy");
            }
            Err(refusal) => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(code = refusal.code, message = %refusal.message, "AssumeRoleWithWebIdentity refused");
                return error_response(&refusal);
            }
        }
    }
    forward(gate, parts, body).await
}

/// STS's checks against moto's IAM; a failure to read IAM is a 500, as from AWS.
async fn admit(gate: &Gate, token: &str, role_arn: &str) -> Result<(), Refusal> {
    let claims = trust::claims(token)?;
    let internal = |message: String| Refusal {
        status: 500,
        code: "InternalFailure",
        message,
    };
    let host_path = trust::issuer_host_path(&claims).unwrap_or_default();
    let provider = if host_path == trust::GOOGLE {
        Some(trust::google())
    } else {
        gate.iam.provider(host_path).await.map_err(internal)?
    };
    let policy = gate.iam.trust_policy(role_arn).await.map_err(internal)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    trust::check(&claims, now, provider.as_ref(), policy.as_ref())
}

async fn forward(gate: &Gate, parts: hyper::http::request::Parts, body: Bytes) -> Reply {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = gate
        .http
        .request(parts.method, format!("{}{path}", gate.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(error) => return reply(StatusCode::BAD_GATEWAY, "text/plain", format!("moto: {error}\n")),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(error) => return reply(StatusCode::BAD_GATEWAY, "text/plain", format!("moto: {error}\n")),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// STS's query-protocol error document.
fn error_response(refusal: &Refusal) -> Reply {
    let kind = if refusal.status >= 500 { "Receiver" } else { "Sender" };
    let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    \
         <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>00000000-0000-4000-8000-000000000000</RequestId>\n</ErrorResponse>\n",
        refusal.code,
        escape(&refusal.message)
    );
    let mut response = reply(
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
        "text/xml",
        body,
    );
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}
