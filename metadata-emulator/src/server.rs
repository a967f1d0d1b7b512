//! The HTTP/1 server: accepting connections, dispatching requests, common headers.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::response::{APPLICATION_JSON, Refused, Reply, reply};
use crate::state::Shared;
use crate::{control, google_iam, metadata};

/// Serves connections from `listener` until `shutdown` fires (or its sender is dropped).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<()>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, Arc::clone(&shared), shutdown.clone()));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::debug!("metadata emulator stopped");
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut shutdown: watch::Receiver<()>) {
    let service = service_fn(move |request| dispatch(Arc::clone(&shared), request));
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
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
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let result = if path.starts_with("/emulator/") {
        Ok(control::handle(&shared, request).await)
    } else if path == "/oauth2/v3/certs" {
        // Google serves its keys from www.googleapis.com, outside the metadata server:
        // no Metadata-Flavor rule and no faults here.
        Ok(reply(StatusCode::OK, APPLICATION_JSON, shared.key.jwks().to_string()))
    } else if google_iam::serves(&path) {
        // Google's IAM API and OAuth token endpoint live outside the metadata server:
        // no Metadata-Flavor rule and no faults there.
        Ok(google_iam::handle(&shared.google, &shared.config.project_id, request).await)
    } else {
        metadata::handle(&shared, request).await
    };
    match result {
        Ok(mut response) => {
            tracing::debug!(%method, %path, status = response.status().as_u16(), "answered");
            // Every answer carries these, as GKE's do; clients check the first one.
            let headers = response.headers_mut();
            headers.insert("metadata-flavor", HeaderValue::from_static("Google"));
            headers.insert(SERVER, HeaderValue::from_static("GKE Metadata Server"));
            Ok(response)
        }
        Err(refused) => {
            tracing::debug!(%method, %path, "connection dropped");
            Err(refused)
        }
    }
}
