//! Fetching an issuer's public documents as AWS does: anonymous GETs over HTTPS (the run's CA
//! bundle, [`crate::aws::sdk::tls_context`]; `HTTPS_PROXY`/`NO_PROXY` honoured), bounded in size,
//! with redirects kept on one host. The AWS SDK's own HTTP client sends them: no second TLS stack.

use std::time::Duration;

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::error::error_chain;
use crate::redact;

/// Discovery documents and key sets are a few KiB; more is not one.
pub(super) const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 3;
/// Connection failures and 5xx are tried this often, inside the deadline.
pub(super) const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Fetches issuer documents: HTTPS only, anonymous, bounded in size, redirects kept on one host.
#[derive(Debug)]
pub struct IssuerClient {
    connector: Connector,
    /// Plain HTTP only for the unit tests' local server: AWS requires HTTPS issuers.
    allow_http: bool,
}

/// Why a fetch failed; diagnosed by [`IssuerClient::check`] with the URL's role in mind.
#[derive(Debug)]
pub(super) enum Fetch {
    Unreachable(String),
    Status(u16, String),
    Refused(String),
}

impl IssuerClient {
    /// A client trusting `context`: the one the SDK's client for STS and S3 was built with
    /// (`crate::aws::sdk`), so that the bundle is read and parsed once per run.
    pub fn new(context: TlsContext) -> Self {
        Self::with_context(context, false)
    }

    pub(super) fn with_context(context: TlsContext, allow_http: bool) -> Self {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(10))
            .build();
        let connector = Connector::builder()
            .connector_settings(settings)
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .proxy_config(ProxyConfig::from_env())
            .build();
        Self { connector, allow_http }
    }

    pub(super) fn https_url(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
        let scheme_ok = url.scheme() == "https" || (self.allow_http && url.scheme() == "http");
        if !scheme_ok || url.host_str().is_none() {
            return Err("is not an https:// URL with a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Said without the userinfo: it may be a password.
            return Err("has userinfo (user:password@), which an OIDC issuer URL may not carry".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("has a query or a fragment, which an OIDC issuer may not".into());
        }
        Ok(url)
    }

    /// GETs `url` and parses it as JSON; retries connection failures and 5xx while time
    /// allows, follows redirects on the same host only.
    pub(super) async fn get_json<T: DeserializeOwned>(&self, url: &str, deadline: Instant) -> Result<T, Fetch> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        let body = loop {
            match self.get(url).await {
                Err(Fetch::Unreachable(_) | Fetch::Status(500.., _))
                    if attempt < ATTEMPTS && Instant::now() + backoff < deadline =>
                {
                    tracing::warn!(url, attempt, "issuer not answering, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                result => break result?,
            }
        };
        // serde's messages quote the values they did not expect: an excerpt only.
        serde_json::from_slice(&body).map_err(|e| {
            Fetch::Refused(format!(
                "not the expected JSON: {}",
                redact::excerpt(e.to_string().as_bytes())
            ))
        })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, Fetch> {
        let mut current = self.https_url(url).map_err(Fetch::Refused)?;
        for _ in 0..=MAX_REDIRECTS {
            let mut request = HttpRequest::get(current.as_str()).map_err(|e| Fetch::Refused(e.to_string()))?;
            request.headers_mut().insert("accept", "application/json");
            let response = self
                .connector
                .call(request)
                .await
                .map_err(|e| Fetch::Unreachable(error_chain(&e)))?;
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                let location = response.headers().get("location").unwrap_or_default();
                let next = current
                    .join(location)
                    .map_err(|_| Fetch::Refused(format!("HTTP {status} to an unreadable location")))?;
                if !next.username().is_empty() || next.password().is_some() {
                    return Err(Fetch::Refused(format!(
                        "HTTP {status} redirects to a URL with userinfo (user:password@), not followed"
                    )));
                }
                if host_port(&next) != host_port(&current) || next.scheme() != current.scheme() {
                    return Err(Fetch::Refused(format!(
                        "HTTP {status} redirects to another host, {next}"
                    )));
                }
                current = next;
                continue;
            }
            let body = read_bounded(response.into_body()).await?;
            if status != 200 {
                return Err(Fetch::Status(status, redact::excerpt(&body)));
            }
            return Ok(body);
        }
        Err(Fetch::Refused(format!("more than {MAX_REDIRECTS} redirects")))
    }
}

pub(super) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    format!("{host}:{}", url.port_or_known_default().unwrap_or(443))
}

/// Reads at most [`MAX_DOCUMENT_BYTES`]; a longer body is refused, not truncated.
async fn read_bounded(body: SdkBody) -> Result<Vec<u8>, Fetch> {
    let mut stream = ByteStream::new(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Fetch::Unreachable(error_chain(&e)))?;
        if bytes.len().saturating_add(chunk.len()) > MAX_DOCUMENT_BYTES {
            return Err(Fetch::Refused(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `text` as a diagnosis may quote a URL: any userinfo (`user:password@`) replaced, whether
/// or not the rest parses.
pub(super) fn without_userinfo(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<userinfo>{}", &rest[at..]),
        None => text.to_owned(),
    }
}

/// A host AWS can reach from the public internet by name: not an address literal, not
/// `localhost`, and not a name only a private network resolves (one label, `.local`,
/// `.internal`, `.localdomain`, `.home.arpa`, `.corp`, `.lan`).
pub(super) fn public_name(url: &Url) -> Result<(), String> {
    const PRIVATE_SUFFIXES: [&str; 7] = [
        "localhost",
        "local",
        "internal",
        "localdomain",
        "home.arpa",
        "corp",
        "lan",
    ];
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let private = !name.contains('.')
                || PRIVATE_SUFFIXES
                    .iter()
                    .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")));
            if private {
                Err(format!(
                    "is on {name}, a name only a private network resolves; AWS fetches the keys from the public internet"
                ))
            } else {
                Ok(())
            }
        }
        Some(address) => Err(format!(
            "is on the address {address}, not a public DNS name: AWS fetches the keys by name from the public internet, \
             and a link-local, private or loopback address is the pod's network, not the issuer's"
        )),
        None => Err("has no host".into()),
    }
}
