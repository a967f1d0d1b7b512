//! HTTPS for the cluster issuer: a test CA, made once per process, and per issuer a
//! certificate for `127.0.0.1`, `localhost` and its public host, signed by that CA. Clients
//! trust the CA through its PEM (`SSL_CERT_FILE`), as they trust Google's CAs for
//! `container.googleapis.com`.

use std::io::{Error, Result};
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The process's test CA.
pub(crate) struct TestCa {
    /// The CA certificate, PEM: what a client's CA bundle needs.
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn failed(error: rcgen::Error) -> Error {
    Error::other(error.to_string())
}

/// The process's test CA, made on first use (ECDSA P-256: a few milliseconds).
pub(crate) fn test_ca() -> Result<&'static TestCa> {
    static CA: OnceLock<std::result::Result<TestCa, String>> = OnceLock::new();
    CA.get_or_init(|| make_ca().map_err(|error| error.to_string()))
        .as_ref()
        .map_err(|message| Error::other(format!("cannot make the test CA: {message}")))
}

fn make_ca() -> Result<TestCa> {
    let mut ca = CertificateParams::new(Vec::new()).map_err(failed)?;
    ca.distinguished_name
        .push(DnType::CommonName, "gke-cluster-issuer test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(failed)?;
    let ca_pem = ca.self_signed(&key).map_err(failed)?.pem();
    Ok(TestCa {
        ca_pem,
        issuer: Issuer::new(ca, key),
    })
}

impl TestCa {
    /// TLS server settings with a certificate for `127.0.0.1`, `localhost` and `extra_host`.
    pub fn acceptor(&self, extra_host: Option<&str>) -> Result<TlsAcceptor> {
        let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        names.extend(extra_host.map(str::to_owned));
        let mut leaf = CertificateParams::new(names).map_err(failed)?;
        leaf.distinguished_name.push(DnType::CommonName, "gke-cluster-issuer");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().map_err(failed)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &self.issuer).map_err(failed)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain = vec![CertificateDer::from(leaf_cert.der().to_vec())];
        // An explicit provider: with two crypto providers in a build, rustls has no default.
        let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
