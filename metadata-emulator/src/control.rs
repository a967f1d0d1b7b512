//! Emulator-only endpoints under `/emulator/v1/`, for scripts that run the binary:
//! change the faults and read the counters. They need no `Metadata-Flavor` and no
//! fault applies to them, so a script can always end an outage it started.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::config::Faults;
use crate::messages;
use crate::response::{APPLICATION_JSON, Reply, TEXT_PLAIN, reply};
use crate::state::Shared;

/// Largest accepted `PUT /emulator/v1/faults` body.
const MAX_BODY: usize = 64 * 1024;

/// Answers one request under `/emulator/`.
pub(crate) async fn handle(shared: &Shared, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/emulator/v1/faults") => faults_json(&shared.faults()),
        (&Method::PUT, "/emulator/v1/faults") => match read_faults(request).await {
            Ok(faults) => {
                tracing::info!(?faults, "faults changed");
                shared.set_faults(faults.clone());
                faults_json(&faults)
            }
            Err(message) => reply(StatusCode::BAD_REQUEST, TEXT_PLAIN, format!("{message}\n")),
        },
        (&Method::GET, "/emulator/v1/stats") => {
            let stats = serde_json::json!({ "tokens_issued": shared.tokens_issued() });
            reply(StatusCode::OK, APPLICATION_JSON, stats.to_string())
        }
        (_, "/emulator/v1/faults" | "/emulator/v1/stats") => {
            reply(StatusCode::METHOD_NOT_ALLOWED, TEXT_PLAIN, messages::METHOD_NOT_ALLOWED)
        }
        _ => reply(StatusCode::NOT_FOUND, TEXT_PLAIN, messages::NOT_FOUND),
    }
}

fn faults_json(faults: &Faults) -> Reply {
    match serde_json::to_string(faults) {
        Ok(json) => reply(StatusCode::OK, APPLICATION_JSON, json),
        Err(error) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT_PLAIN, format!("{error}\n")),
    }
}

async fn read_faults(request: Request<Incoming>) -> Result<Faults, String> {
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|error| format!("cannot read the body: {error}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|error| format!("invalid faults JSON: {error}"))
}
