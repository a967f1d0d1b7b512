//! A proxy in front of moto that counts the calls it sees and answers some with injected
//! faults: the STS and S3 errors moto never returns (InvalidIdentityToken, throttling,
//! IDPCommunicationError, 5xx bursts, SlowDown, a bucket in another region). It also keeps
//! the secrets that pass through it, so that tests can look for them where they must not be.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::moto::{self, Moto};

/// The calls the proxy tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    AssumeRoleWithWebIdentity,
    ListObjectsV2,
    Other,
}

/// A canned answer for the next `times` calls of an operation.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub times: u32,
    /// Wait this long before answering (a slow peer).
    pub delay: Option<Duration>,
}

impl Fault {
    /// An STS error in STS's XML shape.
    pub fn sts(status: u16, code: &str, message: &str, times: u32) -> Fault {
        let body = format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"#
        );
        Fault {
            status,
            body,
            headers: vec![("content-type".into(), "text/xml".into())],
            times,
            delay: None,
        }
    }

    /// An S3 error in S3's XML shape.
    pub fn s3(status: u16, code: &str, message: &str, times: u32) -> Fault {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"#
        );
        Fault {
            status,
            body,
            headers: vec![("content-type".into(), "application/xml".into())],
            times,
            delay: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct State {
    faults: HashMap<Operation, Fault>,
    counts: HashMap<Operation, usize>,
    /// ID tokens sent to STS and the credentials STS answered with.
    secrets: Vec<String>,
    /// With moto's IAM enforcement on, an unsigned AssumeRoleWithWebIdentity gets a 500:
    /// lift enforcement for that one call, as AWS itself never signs it.
    lift_enforcement_for_sts: bool,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts the proxy in front of `moto`, on the current tokio runtime.
    pub async fn start(moto: &Moto) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = Upstream {
            endpoint: moto.endpoint.clone(),
            http: reqwest::Client::new(),
            enforcement: tokio::sync::RwLock::new(()),
        };
        let shared = (Arc::clone(&state), Arc::new(upstream));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, upstream) = (Arc::clone(&shared.0), Arc::clone(&shared.1));
                let service = service_fn(move |request| handle(Arc::clone(&state), Arc::clone(&upstream), request));
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        FaultProxy { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`, the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn inject(&self, operation: Operation, fault: Fault) {
        self.state.lock().expect("proxy state").faults.insert(operation, fault);
    }

    /// Calls of `operation` seen so far, faulted or forwarded.
    pub fn count(&self, operation: Operation) -> usize {
        self.state
            .lock()
            .expect("proxy state")
            .counts
            .get(&operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every ID token sent to AssumeRoleWithWebIdentity and every access key id, secret key
    /// and session token it answered with, so far.
    pub fn secrets_seen(&self) -> Vec<String> {
        self.state.lock().expect("proxy state").secrets.clone()
    }

    pub fn lift_enforcement_for_sts(&self) {
        self.state.lock().expect("proxy state").lift_enforcement_for_sts = true;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Upstream {
    endpoint: String,
    http: reqwest::Client,
    /// moto's IAM enforcement is one switch for every caller: a call that lifts it holds this
    /// exclusively (no other call is in flight while enforcement is off, and two lifts never
    /// interleave), every other forwarded call holds it shared.
    enforcement: tokio::sync::RwLock<()>,
}

fn operation(method: &hyper::Method, query: &str, body: &[u8]) -> Operation {
    let body = String::from_utf8_lossy(body);
    if body.contains("Action=AssumeRoleWithWebIdentity") {
        Operation::AssumeRoleWithWebIdentity
    } else if method == hyper::Method::GET && query.contains("list-type=2") {
        Operation::ListObjectsV2
    } else {
        Operation::Other
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    upstream: Arc<Upstream>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let op = operation(&parts.method, &query, &body);
    let (fault, lift) = {
        let mut state = state.lock().expect("proxy state");
        *state.counts.entry(op).or_default() += 1;
        if op == Operation::AssumeRoleWithWebIdentity {
            let token = form_value(&body, "WebIdentityToken");
            state.secrets.extend(token);
        }
        let fault = match state.faults.get_mut(&op) {
            Some(fault) if fault.times > 0 => {
                fault.times -= 1;
                Some(fault.clone())
            }
            _ => None,
        };
        (
            fault,
            state.lift_enforcement_for_sts && op == Operation::AssumeRoleWithWebIdentity,
        )
    };
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        let mut response = Response::builder().status(fault.status);
        for (name, value) in &fault.headers {
            response = response.header(name, value);
        }
        return Ok(response
            .body(Full::new(Bytes::from(fault.body)))
            .expect("valid fault response"));
    }
    // Held until the answer is in: shared, or exclusive while enforcement is lifted.
    let _shared;
    let _exclusive;
    if lift {
        _exclusive = upstream.enforcement.write().await;
        // A failure shows as moto's own answer to the forwarded call.
        let _ = moto::reset_auth(&upstream.http, &upstream.endpoint, false).await;
    } else {
        _shared = upstream.enforcement.read().await;
    }
    let response = forward(&upstream, parts, body, |answer| {
        if op == Operation::AssumeRoleWithWebIdentity {
            let credentials = ["AccessKeyId", "SecretAccessKey", "SessionToken"].map(|tag| xml_text(answer, tag));
            state
                .lock()
                .expect("proxy state")
                .secrets
                .extend(credentials.into_iter().flatten());
        }
    })
    .await;
    if lift {
        let _ = moto::reset_auth(&upstream.http, &upstream.endpoint, true).await;
    }
    Ok(response)
}

/// Forwards the call to moto and shows `inspect` the body of moto's answer.
async fn forward(
    upstream: &Upstream,
    parts: hyper::http::request::Parts,
    body: Bytes,
    inspect: impl FnOnce(&[u8]),
) -> Response<Full<Bytes>> {
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = upstream
        .http
        .request(parts.method, format!("{}{path_and_query}", upstream.endpoint))
        .body(body);
    // The Host header stays: with IAM enforcement on, moto checks the SigV4 signature over it.
    for (name, value) in &parts.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if name != hyper::header::TRANSFER_ENCODING && name != hyper::header::CONNECTION {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            inspect(&bytes);
            response.body(Full::new(bytes)).expect("valid forwarded response")
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("proxy: moto unreachable: {e}"))))
            .expect("valid 502"),
    }
}

/// The value of `name` in a form-encoded body. ID tokens need no percent-decoding: JWTs
/// are made of URL-safe characters.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

/// The text of the first `<tag>` element in an XML body.
fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let body = String::from_utf8_lossy(body);
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + body[start..].find(&format!("</{tag}>"))?;
    Some(body[start..end].trim().to_owned()).filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_in_the_form_and_the_credentials_in_the_xml() {
        let form = b"Action=AssumeRoleWithWebIdentity&WebIdentityToken=eyJ.a-b_c.d&Version=2011-06-15";
        assert_eq!(form_value(form, "WebIdentityToken").as_deref(), Some("eyJ.a-b_c.d"));
        assert_eq!(form_value(form, "Missing"), None);
        let xml = b"<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s/k+</SecretAccessKey></Credentials>";
        assert_eq!(xml_text(xml, "SecretAccessKey").as_deref(), Some("s/k+"));
        assert_eq!(xml_text(xml, "SessionToken"), None);
    }
}
