//! Talks to one API server: paginated lists (`limit`/`continue`) and gets, each answer bounded
//! in bytes and time and parsed to its end before it counts. A `continue` token that expired
//! (410 Gone) restarts the list once from the beginning; the items of the first attempt are
//! dropped, so nothing is counted twice.
//!
//! Memory is bounded whatever the server does: one answer holds at most [`MAX_ANSWER_BYTES`],
//! at most [`ANSWERS_IN_FLIGHT`] answers are held at once across every concurrent read (and
//! every cluster of a fleet), and a list ends after [`MAX_ITEMS_PER_LIST`] items or when a
//! `continue` token comes back a second time. A read takes its slot only once the answer's
//! headers arrived, so a server that never answers holds none and stalls no other cluster.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use kube::Client;
use kube::api::{GetParams, ListParams};
use kube::client::Body;
use serde::de::DeserializeOwned;

use crate::objects::List;

/// The most one answer may hold; a page of the default 250 real pods (managedFields and all,
/// some 10 KB each) is well below it, and 5000 small ones too.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Answers held at once, process-wide: about 2 × 8 MiB of raw JSON, whatever the number of
/// lists and clusters read concurrently (the CronJob's limit is 128 MiB).
pub const ANSWERS_IN_FLIGHT: usize = 2;

/// The most items one list may give (10,000 pods is the scale the audit is built for).
pub const MAX_ITEMS_PER_LIST: usize = 20_000;

/// Shared by every [`Reader`]: an answer's body is read only while it holds one of these.
static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(ANSWERS_IN_FLIGHT);

/// Why a read failed; each becomes a finding, never a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// RBAC: the caller may not list or get this resource.
    Forbidden(String),
    /// The object does not exist (gets only).
    NotFound,
    /// The list's continue token expired twice in a row.
    Expired(String),
    /// No answer: connection refused, TLS, DNS or the deadline.
    Unreachable(String),
    /// An answer, but not one that counts (another status, too large, not the expected JSON).
    Bad(String),
    /// The list did not end within the audit's bounds (items, pages, a repeated `continue`).
    Endless(String),
}

/// One cluster's API server, with the bounds every read obeys.
#[derive(Clone)]
pub struct Reader {
    pub client: Client,
    pub page_size: u32,
    pub timeout: Duration,
}

impl Reader {
    /// Every item of a list at `path` (e.g. `/api/v1/pods`), page by page.
    pub async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ReadError> {
        match self.list_once(path).await {
            Err(ReadError::Expired(_)) => {
                tracing::info!(path, "continue token expired (410): listing again from the start");
                self.list_once(path).await
            }
            other => other,
        }
    }

    async fn list_once<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ReadError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        let mut seen_tokens = std::collections::HashSet::new();
        let max_pages = MAX_ITEMS_PER_LIST / self.page_size.max(1) as usize + 1;
        for _ in 0..max_pages {
            let mut params = ListParams::default().limit(self.page_size);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let request = kube::core::Request::new(path)
                .list(&params)
                .map_err(|e| ReadError::Bad(e.to_string()))?;
            let page: List<T> = self.answer(request).await?;
            if items.len() + page.items.len() > MAX_ITEMS_PER_LIST {
                return Err(ReadError::Endless(format!(
                    "{path} gives more than {MAX_ITEMS_PER_LIST} items (the audit's cap per list)"
                )));
            }
            items.extend(page.items);
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(next) if !seen_tokens.insert(next.clone()) => {
                    return Err(ReadError::Endless(format!(
                        "{path} answered the continue token {:?} a second time, so the list would never end",
                        next.chars().take(64).collect::<String>()
                    )));
                }
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
        Err(ReadError::Endless(format!(
            "{path} did not end within {max_pages} pages of {} (the audit's cap of {MAX_ITEMS_PER_LIST} items per list)",
            self.page_size
        )))
    }

    /// One object: `name` in the collection at `path` (e.g. `/api/v1/namespaces/NS/endpoints`).
    pub async fn get<T: DeserializeOwned>(&self, path: &str, name: &str) -> Result<T, ReadError> {
        let request = kube::core::Request::new(path)
            .get(name, &GetParams::default())
            .map_err(|e| ReadError::Bad(e.to_string()))?;
        self.answer(request).await
    }

    /// The items of the list at `path` that `label_selector` (`KEY=VALUE`) selects, in one
    /// page of at most `page_size` (a Service's EndpointSlices: a few); more is `Endless`.
    pub async fn list_selected<T: DeserializeOwned>(
        &self,
        path: &str,
        label_selector: &str,
    ) -> Result<Vec<T>, ReadError> {
        let params = ListParams::default().labels(label_selector).limit(self.page_size);
        let request = kube::core::Request::new(path)
            .list(&params)
            .map_err(|e| ReadError::Bad(e.to_string()))?;
        let page: List<T> = self.answer(request).await?;
        if page.metadata.continue_token.is_some_and(|t| !t.is_empty()) {
            return Err(ReadError::Endless(format!(
                "{path} selects more than {} items with {label_selector}",
                self.page_size
            )));
        }
        Ok(page.items)
    }

    /// A document at a path that is no resource (`/.well-known/openid-configuration`).
    pub async fn get_document<T: DeserializeOwned>(&self, path: &str) -> Result<T, ReadError> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| ReadError::Bad(e.to_string()))?;
        self.answer(request).await
    }

    async fn answer<T: DeserializeOwned>(&self, request: http::Request<Vec<u8>>) -> Result<T, ReadError> {
        let what = request.uri().path().to_owned();
        let late = || {
            ReadError::Unreachable(format!(
                "no full answer to {what} within {}",
                humantime::format_duration(self.timeout)
            ))
        };
        let started = tokio::time::Instant::now();
        let response = tokio::time::timeout(self.timeout, self.client.send(request.map(Body::from)))
            .await
            .map_err(|_| late())?
            .map_err(|e| ReadError::Unreachable(gke_aws_verifier::error::error_chain(&e)))?;
        let headers_took = started.elapsed();
        // Taken once the headers are in, so a server that never answers holds no slot; held
        // until the answer is parsed: bounds the bytes in memory across all reads.
        let _permit = IN_FLIGHT
            .acquire()
            .await
            .map_err(|_| ReadError::Bad("the reads were shut down".to_owned()))?;
        let status = response.status().as_u16();
        // The wait for a slot is the audit's, not the server's: the body gets what is left.
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect();
        let body = tokio::time::timeout(self.timeout.saturating_sub(headers_took), body)
            .await
            .map_err(|_| late())?
            .map_err(|e| {
                ReadError::Bad(format!(
                    "the answer to {what} could not be read in full (at most {MAX_ANSWER_BYTES} bytes): {e}"
                ))
            })?
            .to_bytes();
        match status {
            200 => serde_json::from_slice(&body)
                .map_err(|e| ReadError::Bad(format!("the answer to {what} is not the expected JSON: {e}"))),
            403 => Err(ReadError::Forbidden(status_message(&body))),
            404 => Err(ReadError::NotFound),
            410 => Err(ReadError::Expired(status_message(&body))),
            other => Err(ReadError::Bad(format!(
                "{what} answered HTTP {other}: {}",
                status_message(&body)
            ))),
        }
    }
}

/// The `message` of a Kubernetes `Status` answer, bounded; else the start of the body.
fn status_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(default)]
        message: String,
    }
    let text = match serde_json::from_slice::<Status>(body) {
        Ok(status) if !status.message.is_empty() => status.message,
        _ => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    };
    text.chars().take(300).collect()
}
