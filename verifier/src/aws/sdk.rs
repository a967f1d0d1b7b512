//! The AWS SDK configuration shared by the STS and S3 stages.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::os::unix::fs::OpenOptionsExt as _;

use crate::error::InputError;
use crate::input;

/// Every AWS answer the chain reads is small: STS's under 2 KiB, a listing of five keys under
/// 16 KiB. A larger one is cut off here instead of filling memory.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Loads the SDK's configuration for `region`, with the client from [`https_client`]. It
/// honours `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL_S3`, and never
/// looks for credentials: the chain is keyless, and any keys lying around must not change
/// what is proven. It reads no AWS config or credentials file: the region is resolved before
/// (flag, environment, partition), and an `endpoint_url` in a profile would send the token
/// somewhere the documented variables do not say; a FIFO or a huge file there cannot stall it.
pub async fn load(region: &str, https_client: SharedHttpClient) -> SdkConfig {
    let no_files = EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Config, "")
        .with_contents(EnvConfigFileKind::Credentials, "")
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .http_client(https_client)
        .profile_files(no_files)
        .no_credentials()
        // Throttling, 5xx and IDPCommunicationError are retried with jittered backoff;
        // --timeout bounds the whole run on top of this.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(6)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(4)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}

/// The CA bundle file Debian (and distroless) ship, unless `SSL_CERT_FILE` names another.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Debian's bundle is about 200 KiB; anything past this is not a CA bundle.
const MAX_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// The TLS trust of every HTTPS call in a run (STS, S3, a cluster issuer): the CA bundle file
/// alone (the SDK's default also walks /etc/ssl/certs and parses every root a second time,
/// about 3 ms of each run, bench/FINDINGS.md); without a bundle file, the platform's roots.
/// Built before any call: a bundle that does not parse, is not a regular file or is too large
/// is bad input, where the SDK's client would panic or hang on it.
pub fn tls_context() -> Result<TlsContext, InputError> {
    let path = std::env::var_os("SSL_CERT_FILE").unwrap_or_else(|| CA_BUNDLE.into());
    let bad = |problem: String| {
        InputError::new(
            "SSL_CERT_FILE",
            format!(
                "the CA bundle {} {problem}; point SSL_CERT_FILE at a PEM file of CA certificates",
                std::path::Path::new(&path).display()
            ),
        )
    };
    let mut context = TlsContext::builder();
    if let Some(pem) = read_bundle(std::path::Path::new(&path)).map_err(bad)? {
        check_bundle(&pem).map_err(|error| bad(format!("does not parse ({error})")))?;
        context = context.with_trust_store(TrustStore::empty().with_pem_certificate(pem));
    }
    context
        .build()
        .map_err(|e| bad(format!("cannot be used ({})", crate::error::error_chain(&e))))
}

/// The SDK's default HTTPS client (rustls, `HTTPS_PROXY`/`NO_PROXY` honoured) trusting
/// `context` ([`tls_context`]). Every answer is cut at [`MAX_ANSWER_BYTES`].
pub fn https_client(context: TlsContext) -> SharedHttpClient {
    let client = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = Connector::builder()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(Bounded(client))
}

/// The bundle's bytes; `None` when there is no file (the platform's roots then).
fn read_bundle(path: &std::path::Path) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read as _;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read ({e})")),
        Ok(meta) if !meta.is_file() => return Err("is not a regular file".into()),
        Ok(meta) if meta.len() > MAX_BUNDLE_BYTES => {
            return Err(format!("is larger than {} MiB", MAX_BUNDLE_BYTES >> 20));
        }
        Ok(_) => {}
    }
    // Non-blocking open: a file swapped for a FIFO after the check cannot stall the run.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot be read ({e})"))?;
    let mut pem = Vec::new();
    file.take(MAX_BUNDLE_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| format!("cannot be read ({e})"))?;
    if pem.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(format!("is larger than {} MiB", MAX_BUNDLE_BYTES >> 20));
    }
    Ok(Some(pem))
}

/// An HTTP client whose answers are cut at [`MAX_ANSWER_BYTES`].
#[derive(Debug)]
struct Bounded(SharedHttpClient);

impl HttpClient for Bounded {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(BoundedConnector(self.0.http_connector(settings, components)))
    }
}

#[derive(Debug)]
struct BoundedConnector(SharedHttpConnector);

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let answer = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let response = answer.await?;
            Ok(response.map(|body| SdkBody::from_body_1_x(http_body_util::Limited::new(body, MAX_ANSWER_BYTES))))
        })
    }
}

/// What the SDK's rustls client does with the bundle, as a `Result`: it would panic.
fn check_bundle(pem: &[u8]) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|e| format!("not PEM: {e}"))?;
        roots
            .add(certificate)
            .map_err(|e| format!("a certificate does not parse: {e}"))?;
    }
    Ok(())
}

/// Endpoint overrides from the environment, checked before any call is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// A custom S3 endpoint (moto, MinIO, a VPC endpoint URL) needs path-style addressing.
    pub custom_s3: bool,
    /// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`: where the SDK sends STS calls.
    custom_sts: Option<String>,
}

impl Endpoints {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        for variable in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3"] {
            if let Some(value) = env(variable).filter(|v| !v.is_empty()) {
                input::endpoint_url(variable, &value)?;
            }
        }
        let set = |v: &str| env(v).filter(|v| !v.is_empty());
        Ok(Self {
            custom_s3: set("AWS_ENDPOINT_URL_S3").or_else(|| set("AWS_ENDPOINT_URL")).is_some(),
            custom_sts: set("AWS_ENDPOINT_URL_STS").or_else(|| set("AWS_ENDPOINT_URL")),
        })
    }

    /// The STS endpoint the SDK calls in `region`: the override, else the region's own.
    pub fn sts_url(&self, region: &str) -> String {
        self.custom_sts
            .clone()
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sts_endpoint_is_the_one_the_sdk_calls() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        let sts_endpoint = |region: &str, env| Endpoints::from_env(env).unwrap().sts_url(region);
        assert_eq!(
            sts_endpoint("eu-west-1", env(&[])),
            "https://sts.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            sts_endpoint("eu-west-1", env(&[("AWS_ENDPOINT_URL", "http://a")])),
            "http://a"
        );
        assert_eq!(
            sts_endpoint(
                "eu-west-1",
                env(&[("AWS_ENDPOINT_URL", "http://a"), ("AWS_ENDPOINT_URL_STS", "http://s")])
            ),
            "http://s"
        );
        assert_eq!(
            sts_endpoint("eu-west-1", env(&[("AWS_ENDPOINT_URL_STS", "")])),
            "https://sts.eu-west-1.amazonaws.com"
        );
    }
}
