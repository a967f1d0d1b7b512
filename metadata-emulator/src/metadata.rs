//! The metadata paths: the `Metadata-Flavor` rule, the faults, and the values served.
//!
//! Behaviour follows <https://cloud.google.com/compute/docs/metadata/querying-metadata>
//! and, for the identity endpoint,
//! <https://cloud.google.com/compute/docs/instances/verifying-instance-identity>.

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::messages;
use crate::response::{APPLICATION_JSON, APPLICATION_TEXT, Refused, Reply, TEXT_HTML, TEXT_PLAIN, reply};
use crate::state::Shared;
use crate::token::{Claims, TokenRequest};

const SERVICE_ACCOUNTS: &str = "/computeMetadata/v1/instance/service-accounts/";

/// Answers one request to a metadata path, faults included.
pub(crate) async fn handle(shared: &Shared, request: Request<Incoming>) -> Result<Reply, Refused> {
    if shared.refusing() {
        return Err(Refused);
    }
    if let Some(delay) = shared.faults().slow {
        tokio::time::sleep(delay).await;
    }
    let headers = request.headers();
    if headers.contains_key("x-forwarded-for") {
        return Ok(reply(StatusCode::FORBIDDEN, TEXT_PLAIN, messages::FORWARDED));
    }
    // The legacy `X-Google-Metadata-Request: True` is not accepted on GKE.
    if headers.get("metadata-flavor").is_none_or(|v| v != "Google") {
        return Ok(reply(StatusCode::FORBIDDEN, TEXT_PLAIN, messages::MISSING_FLAVOR));
    }
    if request.method() != Method::GET {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT_PLAIN,
            messages::METHOD_NOT_ALLOWED,
        ));
    }
    if shared.take_server_error() {
        return Ok(reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT_PLAIN,
            messages::UNAVAILABLE,
        ));
    }
    let query = Query::parse(request.uri().query());
    Ok(route(shared, request.uri().path(), &query))
}

fn route(shared: &Shared, path: &str, query: &Query) -> Reply {
    let config = &shared.config;
    let email = effective_email(shared);
    let text = |body: String| reply(StatusCode::OK, APPLICATION_TEXT, body);
    match path {
        "/" => text(messages::ROOT.to_owned()),
        "/computeMetadata/" => text("v1/\n".to_owned()),
        "/computeMetadata/v1/" => text("instance/\nproject/\n".to_owned()),
        "/computeMetadata/v1/instance/" => text("hostname\nservice-accounts/\n".to_owned()),
        "/computeMetadata/v1/instance/hostname" => text(config.hostname.clone()),
        "/computeMetadata/v1/project/" => text("project-id\n".to_owned()),
        "/computeMetadata/v1/project/project-id" => text(config.project_id.clone()),
        SERVICE_ACCOUNTS => text(format!("default/\n{email}/\n")),
        _ => match service_account_item(path, &email) {
            Some("") if query.recursive => reply(
                StatusCode::OK,
                APPLICATION_JSON,
                serde_json::json!({
                    "aliases": ["default"],
                    "email": email,
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                })
                .to_string(),
            ),
            Some("") => text("aliases\nemail\nidentity\n".to_owned()),
            Some("aliases") => text("default\n".to_owned()),
            Some("email") => text(email),
            Some("identity") => identity(shared, query),
            Some("token") => access_token(shared, &email),
            _ => reply(StatusCode::NOT_FOUND, TEXT_PLAIN, messages::NOT_FOUND),
        },
    }
}

/// The GSA email, or — for a KSA without the annotation — the Workload Identity pool,
/// which is what GKE's email endpoint answers then.
fn effective_email(shared: &Shared) -> String {
    if shared.faults().ksa_not_annotated {
        shared.config.workload_pool()
    } else {
        shared.config.gsa_email.clone()
    }
}

/// For `SERVICE_ACCOUNTS` + `default` or the email + `/ITEM`, the item ("" for the
/// directory itself).
fn service_account_item<'p>(path: &'p str, email: &str) -> Option<&'p str> {
    let (account, item) = path.strip_prefix(SERVICE_ACCOUNTS)?.split_once('/')?;
    (account == "default" || account == email).then_some(item)
}

fn identity(shared: &Shared, query: &Query) -> Reply {
    let Some(audience) = query.audience.as_deref() else {
        return reply(StatusCode::BAD_REQUEST, TEXT_PLAIN, messages::MISSING_AUDIENCE);
    };
    let faults = shared.faults();
    let config = &shared.config;
    if faults.ksa_not_annotated {
        let body = messages::ksa_not_annotated(&config.namespace, &config.ksa);
        return reply(StatusCode::NOT_FOUND, TEXT_PLAIN, body);
    }
    if faults.binding_missing {
        return reply(StatusCode::FORBIDDEN, TEXT_PLAIN, messages::BINDING_MISSING);
    }
    if faults.html_body {
        return reply(StatusCode::OK, TEXT_HTML, messages::PROXY_LOGIN_PAGE);
    }
    if faults.garbage_body {
        return reply(StatusCode::OK, TEXT_HTML, messages::GARBAGE);
    }
    let request = TokenRequest {
        audience,
        full_format: query.full_format,
        email: &config.gsa_email,
        unique_id: &config.unique_id,
        lifetime: config.token_lifetime,
        expired: faults.expired_tokens,
    };
    match shared.key.sign(&Claims::new(&request, shared.now())) {
        Ok(token) => {
            shared.count_token();
            reply(StatusCode::OK, TEXT_HTML, token)
        }
        Err(error) => {
            tracing::error!(%error, "signing failed");
            reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT_PLAIN, format!("{error}\n"))
        }
    }
}

/// The GSA's OAuth access token, which Application Default Credentials read on GKE
/// (google-cloud-auth `credentials/mds.rs`, `MDS_DEFAULT_URI` + `/token`): JSON
/// `{access_token, expires_in, token_type}`, refused as the identity endpoint is when the KSA
/// has no GSA or no binding.
fn access_token(shared: &Shared, email: &str) -> Reply {
    let faults = shared.faults();
    if faults.ksa_not_annotated {
        let body = messages::ksa_not_annotated(&shared.config.namespace, &shared.config.ksa);
        return reply(StatusCode::NOT_FOUND, TEXT_PLAIN, body);
    }
    if faults.binding_missing {
        return reply(StatusCode::FORBIDDEN, TEXT_PLAIN, messages::BINDING_MISSING);
    }
    shared.google.token_answer(email)
}

/// The query parameters the served paths look at.
#[derive(Debug, Default, PartialEq, Eq)]
struct Query {
    /// `audience`, when present and not blank.
    audience: Option<String>,
    /// `format=full`; `standard` (the default) leaves the email out.
    full_format: bool,
    /// `recursive=true`: a directory as one JSON object.
    recursive: bool,
}

impl Query {
    fn parse(query: Option<&str>) -> Query {
        let mut parsed = Query::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*name {
                "audience" if !value.trim().is_empty() => parsed.audience = Some(value.into_owned()),
                "format" => parsed.full_format = value == "full",
                "recursive" => parsed.recursive = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_the_audience_and_flags() {
        let q = Query::parse(Some(
            "audience=https%3A%2F%2Fsts.amazonaws.com&format=full&licenses=FALSE",
        ));
        assert_eq!(q.audience.as_deref(), Some("https://sts.amazonaws.com"));
        assert!(q.full_format);
        assert!(!q.recursive);
    }

    #[test]
    fn blank_audience_counts_as_missing() {
        assert_eq!(Query::parse(Some("audience=%20")).audience, None);
        assert_eq!(Query::parse(None), Query::default());
    }

    #[test]
    fn service_accounts_are_reachable_by_alias_or_email() {
        let email = "sa@p.iam.gserviceaccount.com";
        let by_alias = format!("{SERVICE_ACCOUNTS}default/identity");
        let by_email = format!("{SERVICE_ACCOUNTS}{email}/email");
        assert_eq!(service_account_item(&by_alias, email), Some("identity"));
        assert_eq!(service_account_item(&by_email, email), Some("email"));
        assert_eq!(
            service_account_item(&format!("{SERVICE_ACCOUNTS}other/email"), email),
            None
        );
        assert_eq!(
            service_account_item(&format!("{SERVICE_ACCOUNTS}default/"), email),
            Some("")
        );
    }
}
