//! The issuer's HTTPS server: discovery, JWKS, and the emulator's control endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::state::Shared;
use super::{HANDSHAKE_TIMEOUT, IssuerFaults};
use crate::response::{APPLICATION_JSON, Refused, Reply, TEXT_PLAIN, reply};

/// Largest accepted control body.
const MAX_BODY: usize = 64 * 1024;

/// Google's API error for an unavailable backend, as its front end answers.
const UNAVAILABLE: &str =
    r#"{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}"#;

/// Serves connections from `listener` until `shutdown` fires (or its sender is dropped).
pub(super) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<()>,
) {
    let addr = listener.local_addr().ok();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, acceptor.clone(), Arc::clone(&shared), shutdown.clone()));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::debug!(?addr, "cluster issuer stopped");
}

/// One connection: TLS straight to the issuer, or (first byte not a TLS handshake) a plain
/// HTTP `CONNECT` to the issuer's public host, tunnelled into the same TLS server.
async fn connection(stream: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>, shutdown: watch::Receiver<()>) {
    let mut first = [0; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    // 0x16: a TLS record of type handshake (the ClientHello).
    if first[0] == 0x16 {
        serve_tls(stream, acceptor, shared, shutdown).await;
        return;
    }
    let service = service_fn(move |request| connect(request, acceptor.clone(), Arc::clone(&shared), shutdown.clone()));
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = conn.await {
        tracing::debug!(%error, "proxy connection ended");
    }
}

/// Answers a `CONNECT PUBLIC_HOST:443` with 200 and serves the tunnel; refuses anything else.
async fn connect(
    request: Request<Incoming>,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<()>,
) -> Result<Reply, Refused> {
    if request.method() != Method::CONNECT {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT_PLAIN,
            "This port speaks HTTPS, or CONNECT to the issuer's public host\n",
        ));
    }
    let target = request.uri().authority().map(|a| a.as_str().to_owned());
    let allowed = shared.config.public_host.as_ref().map(|host| format!("{host}:443"));
    if target.is_none() || target != allowed {
        tracing::debug!(?target, "CONNECT refused");
        return Ok(reply(
            StatusCode::FORBIDDEN,
            TEXT_PLAIN,
            "CONNECT only to the issuer's public host\n",
        ));
    }
    tokio::spawn(async move {
        match hyper::upgrade::on(request).await {
            Ok(upgraded) => serve_tls(TokioIo::new(upgraded), acceptor, shared, shutdown).await,
            Err(error) => tracing::debug!(%error, "CONNECT upgrade failed"),
        }
    });
    Ok(reply(StatusCode::OK, TEXT_PLAIN, ""))
}

async fn serve_tls<IO>(io: IO, acceptor: TlsAcceptor, shared: Arc<Shared>, mut shutdown: watch::Receiver<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return;
        }
    };
    let service = service_fn(move |request| dispatch(Arc::clone(&shared), request));
    let conn = http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    tokio::select! {
        result = conn => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended");
            }
        }
        _ = shutdown.changed() => {}
    }
}

async fn dispatch(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Reply, Refused> {
    let path = request.uri().path().to_owned();
    let result = match path.strip_prefix(shared.config.issuer_path().as_str()) {
        _ if path.starts_with("/emulator/") => Ok(control(&shared, request).await),
        Some("/.well-known/openid-configuration") => issuer_answer(&shared, &request, Endpoint::Discovery),
        Some("/jwks") => issuer_answer(&shared, &request, Endpoint::Jwks),
        _ => Ok(reply(StatusCode::NOT_FOUND, TEXT_PLAIN, "Not Found\n")),
    };
    match &result {
        Ok(response) => tracing::debug!(%path, status = response.status().as_u16(), "answered"),
        Err(_) => tracing::debug!(%path, "connection dropped"),
    }
    result
}

enum Endpoint {
    Discovery,
    Jwks,
}

fn issuer_answer(shared: &Shared, request: &Request<Incoming>, endpoint: Endpoint) -> Result<Reply, Refused> {
    let counter = match endpoint {
        Endpoint::Discovery => &shared.discovery_requests,
        Endpoint::Jwks => &shared.jwks_requests,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let faults = shared.faults();
    if faults.refuse {
        return Err(Refused);
    }
    if faults.unavailable || shared.take_server_error() {
        return Ok(reply(StatusCode::SERVICE_UNAVAILABLE, APPLICATION_JSON, UNAVAILABLE));
    }
    if request.method() != Method::GET {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT_PLAIN,
            "Method Not Allowed\n",
        ));
    }
    let body = match endpoint {
        Endpoint::Discovery => shared.discovery(),
        Endpoint::Jwks => shared.key().jwks(),
    };
    Ok(reply(StatusCode::OK, APPLICATION_JSON, body.to_string()))
}

/// `/emulator/v1/faults` (GET, PUT), `/emulator/v1/stats` (GET), `/emulator/v1/rotate-key`,
/// `/emulator/v1/token/refresh`, `/emulator/v1/token/expire` (POST): for scripts that run the
/// binary. No fault applies to them.
async fn control(shared: &Shared, request: Request<Incoming>) -> Reply {
    let json = |value: serde_json::Value| reply(StatusCode::OK, APPLICATION_JSON, value.to_string());
    let path = request.uri().path().to_owned();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/emulator/v1/faults") => json(serde_json::json!(shared.faults())),
        (Method::PUT, "/emulator/v1/faults") => match read_faults(request).await {
            Ok(faults) => {
                tracing::info!(?faults, "issuer faults changed");
                shared.set_faults(faults.clone());
                json(serde_json::json!(faults))
            }
            Err(message) => reply(StatusCode::BAD_REQUEST, TEXT_PLAIN, format!("{message}\n")),
        },
        (Method::GET, "/emulator/v1/stats") => json(serde_json::json!(shared.stats())),
        (Method::POST, "/emulator/v1/rotate-key") => match shared.rotate_key().await {
            Ok(kid) => json(serde_json::json!({ "kid": kid })),
            Err(error) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT_PLAIN, format!("{error}\n")),
        },
        (Method::POST, "/emulator/v1/token/refresh" | "/emulator/v1/token/expire") => {
            match shared.command_projected(path.ends_with("/expire")).await {
                Ok(()) => json(serde_json::json!({ "written": true })),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    reply(StatusCode::NOT_FOUND, TEXT_PLAIN, format!("{error}\n"))
                }
                Err(error) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT_PLAIN, format!("{error}\n")),
            }
        }
        (
            _,
            "/emulator/v1/faults"
            | "/emulator/v1/stats"
            | "/emulator/v1/rotate-key"
            | "/emulator/v1/token/refresh"
            | "/emulator/v1/token/expire",
        ) => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT_PLAIN, "Method Not Allowed\n"),
        _ => reply(StatusCode::NOT_FOUND, TEXT_PLAIN, "Not Found\n"),
    }
}

async fn read_faults(request: Request<Incoming>) -> Result<IssuerFaults, String> {
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|error| format!("cannot read the body: {error}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|error| format!("invalid faults JSON: {error}"))
}
