//! A stand-in for what Google's Rust clients call to read a GSA (the audit's `--gcp`), served
//! beside the metadata paths on the emulator's port:
//!
//! - the access token Application Default Credentials get from the metadata server on GKE
//!   (`GET /computeMetadata/v1/instance/service-accounts/default/token`, in `metadata.rs`), and
//!   from Google's OAuth token endpoint for a `gcloud auth application-default login` file
//!   (`POST /token`, `grant_type=refresh_token`; the file's `token_uri` points here);
//! - the IAM API's `GET /v1/projects/-/serviceAccounts/EMAIL` (`iam.serviceAccounts.get`), with
//!   Google's answers: 200 with the account (`uniqueId`, `disabled` only when true), 404
//!   `NOT_FOUND`, 403 `PERMISSION_DENIED` with its `ErrorInfo` reason (`IAM_PERMISSION_DENIED`,
//!   `SERVICE_DISABLED`), 401 `UNAUTHENTICATED` for a token it did not issue, each in Google's
//!   JSON error body (`{"error": {code, message, status, details}}`).
//!
//! <https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/get>,
//! <https://cloud.google.com/apis/design/errors#http_mapping>,
//! <https://developers.google.com/identity/protocols/oauth2/web-server#offline> (refresh);
//! a caller without `iam.serviceAccounts.get` gets 403 whether or not the account exists
//! (hashicorp/terraform-provider-google#3349, #11208).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::response::{APPLICATION_JSON, Reply, reply};

/// Largest accepted `POST /token` body.
const MAX_FORM: usize = 16 * 1024;
/// Tokens remembered; the oldest is forgotten past this (a token it forgot is refused, as an
/// expired one would be).
const MAX_TOKENS: usize = 4096;
/// Lifetime announced for an access token, as Google's (just under an hour).
const EXPIRES_IN: u64 = 3599;

/// A GSA as the IAM API holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// The 21-digit unique id (a new one when the account is recreated under the same e-mail).
    pub unique_id: String,
    pub disabled: bool,
}

/// How the IAM API refuses every read, whatever the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller lacks `iam.serviceAccounts.get` (`roles/iam.serviceAccountViewer`).
    PermissionDenied,
    /// The IAM API is not enabled in the caller's (quota) project.
    ServiceDisabled,
}

/// What the IAM stand-in holds: the accounts by e-mail, a refusal, and the tokens issued.
#[derive(Debug, Default)]
pub(crate) struct GoogleIam {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: BTreeMap<String, ServiceAccount>,
    refusal: Option<Refusal>,
    /// Access token → the principal it was issued to, in order of issue.
    tokens: Vec<(String, String)>,
    /// Refresh tokens of authorized_user files → the user.
    refresh_tokens: BTreeMap<String, String>,
    reads: u64,
}

impl GoogleIam {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_account(&self, email: &str, account: Option<ServiceAccount>) {
        let mut inner = self.lock();
        match account {
            Some(account) => inner.accounts.insert(email.to_owned(), account),
            None => inner.accounts.remove(email),
        };
    }

    pub fn set_refusal(&self, refusal: Option<Refusal>) {
        self.lock().refusal = refusal;
    }

    pub fn reads(&self) -> u64 {
        self.lock().reads
    }

    /// A new access token for `principal`, remembered so that the IAM API accepts it.
    pub fn issue_token(&self, principal: &str) -> String {
        let token = format!("ya29.emulated-{}", random_hex());
        let mut inner = self.lock();
        if inner.tokens.len() >= MAX_TOKENS {
            inner.tokens.remove(0);
        }
        inner.tokens.push((token.clone(), principal.to_owned()));
        token
    }

    /// A refresh token for `user`, for an authorized_user credentials file.
    pub fn issue_refresh_token(&self, user: &str) -> String {
        let token = format!("1//emulated-{}", random_hex());
        self.lock().refresh_tokens.insert(token.clone(), user.to_owned());
        token
    }

    /// The access-token answer, as the metadata server and the OAuth endpoint give it.
    pub fn token_answer(&self, principal: &str) -> Reply {
        let body =
            json!({ "access_token": self.issue_token(principal), "expires_in": EXPIRES_IN, "token_type": "Bearer" });
        reply(StatusCode::OK, APPLICATION_JSON, body.to_string())
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // The system's randomness; failing that, a counter still makes tokens distinct.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        bytes[..8].copy_from_slice(&NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` is one the stand-in answers.
pub(crate) fn serves(path: &str) -> bool {
    path == "/token" || path.starts_with("/v1/projects/")
}

/// Answers `POST /token` or `GET /v1/projects/PROJECT/serviceAccounts/EMAIL`.
pub(crate) async fn handle(iam: &GoogleIam, project_id: &str, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    if path == "/token" {
        if request.method() != Method::POST {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "METHOD_NOT_ALLOWED",
                None,
            );
        }
        return refresh(iam, request).await;
    }
    if request.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "METHOD_NOT_ALLOWED",
            None,
        );
    }
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let mut inner = iam.lock();
    inner.reads += 1;
    let known = bearer.is_some_and(|token| inner.tokens.iter().any(|(t, _)| *t == token));
    if !known {
        return error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "UNAUTHENTICATED",
            None,
        );
    }
    let Some(email) = path
        .strip_prefix("/v1/projects/")
        .and_then(|rest| rest.split_once("/serviceAccounts/"))
        .map(|(_, email)| percent_decoded(email))
        .filter(|email| !email.is_empty() && !email.contains('/'))
    else {
        return error(StatusCode::NOT_FOUND, "Method not found.", "NOT_FOUND", None);
    };
    match inner.refusal {
        Some(Refusal::PermissionDenied) => {
            return error(
                StatusCode::FORBIDDEN,
                "Permission 'iam.serviceAccounts.get' denied on resource (or it may not exist).",
                "PERMISSION_DENIED",
                Some(
                    json!({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com", "metadata": { "permission": "iam.serviceAccounts.get" } }),
                ),
            );
        }
        Some(Refusal::ServiceDisabled) => {
            let message = format!(
                "Identity and Access Management (IAM) API has not been used in project {project_id} before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/iam.googleapis.com/overview?project={project_id} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
            );
            return error(
                StatusCode::FORBIDDEN,
                &message,
                "PERMISSION_DENIED",
                Some(
                    json!({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                    "domain": "googleapis.com", "metadata": { "service": "iam.googleapis.com",
                    "consumer": format!("projects/{project_id}"),
                    "activationUrl": format!("https://console.developers.google.com/apis/api/iam.googleapis.com/overview?project={project_id}") } }),
                ),
            );
        }
        None => {}
    }
    match inner.accounts.get(&email) {
        None => error(StatusCode::NOT_FOUND, "Unknown service account", "NOT_FOUND", None),
        Some(account) => {
            let project = email
                .split_once('@')
                .and_then(|(_, domain)| domain.strip_suffix(".iam.gserviceaccount.com"))
                .unwrap_or(project_id);
            let mut body = json!({
                "name": format!("projects/{project}/serviceAccounts/{email}"),
                "projectId": project,
                "uniqueId": account.unique_id,
                "email": email,
                "displayName": "",
                "etag": "MDEwMjE5MjA=",
                "oauth2ClientId": account.unique_id,
            });
            // proto3 JSON leaves a false boolean out.
            if account.disabled {
                body["disabled"] = json!(true);
            }
            reply(StatusCode::OK, APPLICATION_JSON, body.to_string())
        }
    }
}

/// `grant_type=refresh_token` with a refresh token it issued: an access token; anything else
/// is OAuth's `invalid_grant` (RFC 6749 §5.2). The body is a form (RFC 6749 §6) or JSON, which
/// Google's endpoint takes too and google-cloud-auth sends (`credentials/user_account.rs`).
async fn refresh(iam: &GoogleIam, request: Request<Incoming>) -> Reply {
    let json = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let invalid = |description: &str| {
        let body = json!({ "error": "invalid_grant", "error_description": description });
        reply(StatusCode::BAD_REQUEST, APPLICATION_JSON, body.to_string())
    };
    let Ok(body) = Limited::new(request.into_body(), MAX_FORM).collect().await else {
        return invalid("Bad Request");
    };
    let body = body.to_bytes();
    let form: BTreeMap<String, String> = if json {
        match serde_json::from_slice::<BTreeMap<String, Value>>(&body) {
            Ok(fields) => fields
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            Err(_) => return invalid("Bad Request"),
        }
    } else {
        form_urlencoded::parse(&body).into_owned().collect()
    };
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return invalid("Bad Request");
    }
    let user = form
        .get("refresh_token")
        .and_then(|token| iam.lock().refresh_tokens.get(token).cloned());
    match user {
        Some(user) => iam.token_answer(&user),
        None => invalid("Token has been expired or revoked."),
    }
}

fn percent_decoded(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Google's JSON error body: `{"error": {"code", "message", "status", "details"}}`.
fn error(status: StatusCode, message: &str, code_name: &str, detail: Option<Value>) -> Reply {
    let mut body = json!({ "error": { "code": status.as_u16(), "message": message, "status": code_name } });
    if let Some(detail) = detail {
        body["error"]["details"] = json!([detail]);
    }
    let mut answer = reply(status, APPLICATION_JSON, body.to_string());
    answer.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    answer
}
