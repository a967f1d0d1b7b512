//! The AWS SDK configuration shared by the STS and S3 stages.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::InputError;
use crate::input;

/// Loads the SDK's configuration for `region`, with the client from [`https_client`]. It
/// honours `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL_S3`, and never
/// looks for credentials: the chain is keyless, and any keys lying around must not change
/// what is proven.
pub async fn load(region: &str, https_client: Option<SharedHttpClient>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if let Some(client) = https_client {
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

/// The SDK's default HTTPS client (rustls, `HTTPS_PROXY`/`NO_PROXY` honoured), trusting the
/// CA bundle file alone: the default also walks /etc/ssl/certs and parses every root a
/// second time, about 3 ms of each run (bench/FINDINGS.md). `None` (the SDK's default
/// client) without a readable bundle. Built before any call: a bundle that does not parse
/// is bad input, where the SDK's client would panic on it.
pub fn https_client() -> Result<Option<SharedHttpClient>, InputError> {
    let path = std::env::var_os("SSL_CERT_FILE").unwrap_or_else(|| CA_BUNDLE.into());
    let Ok(pem) = std::fs::read(&path) else {
        return Ok(None);
    };
    check_bundle(&pem).map_err(|error| {
        InputError::new(
            "SSL_CERT_FILE",
            format!(
                "the CA bundle {} does not parse ({error}); point SSL_CERT_FILE at a PEM file of CA certificates",
                path.display()
            ),
        )
    })?;
    let Ok(context) = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
    else {
        return Ok(None);
    };
    Ok(Some(Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut connector = Connector::builder()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        },
    )))
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
