//! `--gcp`: each GSA the audited KSAs name, as Google has it now (`iam.serviceAccounts.get`:
//! its unique id, whether it is disabled), read with Google's official Rust clients
//! (`google-cloud-iam-admin-v1`) and the caller's Application Default Credentials
//! (`google-cloud-auth`: `GOOGLE_APPLICATION_CREDENTIALS`, the file `gcloud auth
//! application-default login` writes, else the metadata server, `GCE_METADATA_HOST` honoured).
//! The only module of the audit that talks to Google.
//!
//! Bounds: every read by `--timeout` (one attempt at most twice), at most [`MAX_GSAS`] GSAs,
//! [`CONCURRENT_READS`] at a time; the client parses each answer to its end (serde_json over
//! the whole body, google-cloud-gax-internal `http.rs` `deserialize_body`); it reads an answer
//! whole, with no byte bound of its own and none to set, so the deadline is the bound, and
//! nothing is inflated (reqwest is built here without its gzip, brotli and deflate features).
//! No token is ever printed: the messages kept are Google's error texts, capped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use google_cloud_auth::credentials::Credentials;
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_iam_admin_v1::client::Iam;

use crate::bad_input::BadInput;

/// Google's IAM API (its global endpoint).
pub const IAM_ENDPOINT: &str = "https://iam.googleapis.com";
/// At most this many distinct GSAs are read in one run.
pub const MAX_GSAS: usize = 500;
/// Reads in flight at once.
const CONCURRENT_READS: usize = 4;
/// The most an ADC file may hold (a service-account key is about 2.3 KB).
const MAX_ADC_BYTES: u64 = 64 * 1024;
/// Shown of one of Google's messages.
const MAX_MESSAGE_CHARS: usize = 300;

/// What `--gcp` needs, checked before any network call.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The IAM API endpoint (`--gcp-iam-endpoint`).
    pub endpoint: String,
    /// Application Default Credentials, built (no network call yet).
    pub credentials: Credentials,
}

/// A GSA as Google answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gsa {
    Found {
        unique_id: String,
        disabled: bool,
    },
    /// 404 `NOT_FOUND`: there is no such GSA.
    Missing,
    /// Why it could not be read, and what would let it be.
    Unreadable {
        why: String,
        grant: Grant,
    },
}

/// What the caller lacks when a GSA cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// 403 `IAM_PERMISSION_DENIED`: `iam.serviceAccounts.get` on the GSA's project.
    Viewer,
    /// 403 `SERVICE_DISABLED`: the IAM API in the caller's (quota) project (`projects/N`).
    EnableApi(String),
    /// No usable Application Default Credentials (none, refused, or 401).
    Credentials,
    /// Anything else (the network, the deadline, a 5xx, an answer that does not parse).
    Retry,
}

/// Checks the ADC file a client would read and builds the credentials: bad input (exit 2)
/// before any network call. `google-cloud-auth` reads the file whole with no bound
/// (`credentials.rs` `load_adc`): a FIFO or a huge file is refused here first.
pub fn settings(endpoint: &str) -> Result<Settings, BadInput> {
    gke_aws_verifier::input::endpoint_url("--gcp-iam-endpoint", endpoint)
        .map_err(|e| BadInput::from_check("--gcp-iam-endpoint", e))?;
    let adc = match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(path) => Some(("GOOGLE_APPLICATION_CREDENTIALS", std::path::PathBuf::from(path), true)),
        None => std::env::var_os("HOME").map(|home| {
            let path = Path::new(&home).join(".config/gcloud/application_default_credentials.json");
            ("--gcp (gcloud's application_default_credentials.json)", path, false)
        }),
    };
    if let Some((field, path, required)) = adc {
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(e) => return Err(BadInput::new(field, format!("cannot read {}: {e}", path.display()))),
            Ok(meta) if !meta.is_file() || meta.len() > MAX_ADC_BYTES => {
                return Err(BadInput::new(
                    field,
                    format!(
                        "{} is not a credentials file (a regular file of at most {MAX_ADC_BYTES} bytes); run gcloud auth application-default login",
                        path.display()
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    let credentials = google_cloud_auth::credentials::Builder::default()
        .build()
        .map_err(|e| {
            BadInput::new(
                "GOOGLE_APPLICATION_CREDENTIALS",
                format!(
                    "Application Default Credentials cannot be used ({}); run gcloud auth application-default login, or unset it to use the metadata server",
                    capped(&e.to_string())
                ),
            )
        })?;
    Ok(Settings {
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        credentials,
    })
}

/// Reads every GSA of `emails` (at most [`MAX_GSAS`]), each within `timeout`.
pub async fn read(settings: &Settings, emails: &BTreeSet<String>, timeout: Duration) -> BTreeMap<String, Gsa> {
    if emails.len() > MAX_GSAS {
        tracing::warn!(
            gsas = emails.len(),
            "more GSAs than one run reads; the first {MAX_GSAS} are read"
        );
    }
    let client = Iam::builder()
        .with_endpoint(settings.endpoint.clone())
        .with_credentials(settings.credentials.clone())
        .with_retry_policy(Aip194Strict.with_attempt_limit(2))
        .with_attempt_timeout(timeout)
        .build();
    let client = match tokio::time::timeout(timeout, client).await {
        Ok(Ok(client)) => client,
        failed => {
            let why = match failed {
                Ok(Err(e)) => capped(&gke_aws_verifier::error::error_chain(&e)),
                _ => format!("no IAM client within {}", humantime::format_duration(timeout)),
            };
            let gsa = Gsa::Unreadable {
                why,
                grant: Grant::Credentials,
            };
            return emails.iter().take(MAX_GSAS).map(|e| (e.clone(), gsa.clone())).collect();
        }
    };
    futures_util::stream::iter(emails.iter().take(MAX_GSAS))
        .map(|email| {
            let client = client.clone();
            async move {
                let name = format!("projects/-/serviceAccounts/{email}");
                let answer = tokio::time::timeout(timeout, client.get_service_account().set_name(name).send()).await;
                let gsa = match answer {
                    Ok(Ok(account)) => Gsa::Found {
                        unique_id: account.unique_id,
                        disabled: account.disabled,
                    },
                    Ok(Err(e)) => classify(&e),
                    Err(_) => Gsa::Unreadable {
                        why: format!("no answer within {}", humantime::format_duration(timeout)),
                        grant: Grant::Retry,
                    },
                };
                (email.clone(), gsa)
            }
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await
}

/// A failed read in the audit's words, from Google's status and its `ErrorInfo` reason.
fn classify(e: &google_cloud_iam_admin_v1::Error) -> Gsa {
    let unreadable = |why: String, grant| Gsa::Unreadable { why, grant };
    if e.is_authentication() {
        return unreadable(
            format!(
                "no Application Default Credentials could be used: {}",
                capped(&gke_aws_verifier::error::error_chain(e))
            ),
            Grant::Credentials,
        );
    }
    let Some(status) = e.status() else {
        return unreadable(capped(&gke_aws_verifier::error::error_chain(e)), Grant::Retry);
    };
    let message = capped(&status.message);
    let reason = status.details.iter().find_map(|d| match d {
        StatusDetails::ErrorInfo(info) => Some((info.reason.clone(), info.metadata.get("consumer").cloned())),
        _ => None,
    });
    match (status.code, reason) {
        (Code::NotFound, _) => Gsa::Missing,
        (Code::PermissionDenied, Some((reason, consumer))) if reason == "SERVICE_DISABLED" => unreadable(
            format!("{reason}: {message}"),
            Grant::EnableApi(consumer.unwrap_or_default()),
        ),
        (Code::PermissionDenied, reason) => unreadable(
            format!(
                "{}: {message}",
                reason.map_or_else(|| "PERMISSION_DENIED".to_owned(), |r| r.0)
            ),
            Grant::Viewer,
        ),
        (Code::Unauthenticated, _) => unreadable(format!("UNAUTHENTICATED: {message}"), Grant::Credentials),
        (code, _) => unreadable(format!("{}: {message}", code.name()), Grant::Retry),
    }
}

/// At most [`MAX_MESSAGE_CHARS`] of a message, with anything shaped like an OAuth access
/// token (`ya29.…`) cut to its prefix.
fn capped(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|w| match w.find("ya29.") {
            Some(at) => format!("{}ya29.…", &w[..at]),
            None => w.to_owned(),
        })
        .collect();
    words.join(" ").chars().take(MAX_MESSAGE_CHARS).collect()
}

/// The project a GSA belongs to, from its e-mail (`NAME@PROJECT.iam.gserviceaccount.com`).
pub fn project_of(email: &str) -> Option<&str> {
    email.split_once('@')?.1.strip_suffix(".iam.gserviceaccount.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_survive_a_message_and_messages_are_capped() {
        assert_eq!(capped("Bearer ya29.a0AfH6SMB secret"), "Bearer ya29.… secret");
        assert_eq!(capped("x=\"ya29.abc\""), "x=\"ya29.…");
        assert_eq!(capped(&"a".repeat(1000)).chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn the_project_is_the_emails_domain() {
        assert_eq!(project_of("r@acme-prod.iam.gserviceaccount.com"), Some("acme-prod"));
        assert_eq!(project_of("123-compute@developer.gserviceaccount.com"), None);
    }
}
