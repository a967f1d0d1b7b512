//! The AWS SDK configuration shared by the STS and S3 stages.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::error::InputError;
use crate::input;

/// Loads the SDK's configuration for `region`. It honours `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL_S3`, and never looks for credentials:
/// the chain is keyless, and any keys lying around must not change what is proven.
pub async fn load(region: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if let Some(client) = https_client_with_bundle() {
        loader = loader.http_client(client);
    }
    loader
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

/// An HTTPS client trusting the CA bundle file alone. The SDK's default also walks
/// /etc/ssl/certs and parses every root a second time: about 3 ms of each run
/// (bench/FINDINGS.md). Without a readable bundle, the default client is used.
fn https_client_with_bundle() -> Option<SharedHttpClient> {
    let path = std::env::var_os("SSL_CERT_FILE").unwrap_or_else(|| CA_BUNDLE.into());
    let pem = std::fs::read(path).ok()?;
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
        .ok()?;
    Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https(),
    )
}

/// Endpoint overrides from the environment, checked before any call is made.
pub struct Endpoints {
    /// A custom S3 endpoint (moto, MinIO, a VPC endpoint URL) needs path-style addressing.
    pub custom_s3: bool,
}

impl Endpoints {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        for variable in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3"] {
            if let Some(value) = env(variable).filter(|v| !v.is_empty()) {
                input::endpoint_url(variable, &value)?;
            }
        }
        let set = |v: &str| env(v).is_some_and(|v| !v.is_empty());
        Ok(Self {
            custom_s3: set("AWS_ENDPOINT_URL_S3") || set("AWS_ENDPOINT_URL"),
        })
    }
}
