//! The serving certificate, re-read when its files change: cert-manager renews it in place
//! (a Secret volume's files are swapped by the kubelet), and the webhook must not need a restart.
//! The served certificate's expiry goes to the metrics, on load and on every reload.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::metrics::Metrics;

/// A certificate chain or key is a few KB; anything much larger is not one.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// What identifies a version of the two files (`modified`, `len` of each).
type Stamp = [(Option<SystemTime>, u64); 2];

pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair once; an error names the flag and what is wrong. `metrics` gets the
    /// certificate's expiry.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let stamp = stamp(cert_path, key_path);
        let (key, not_after) = load(cert_path, key_path, &provider)?;
        metrics.set_certificate_expiry(not_after);
        Ok(ReloadingCert {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: Mutex::new((stamp, key)),
            metrics,
        })
    }

    /// The pair to serve: re-read when either file changed; the previous pair is kept when the
    /// new files are incomplete (cert-manager writes them one after the other).
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stamp = stamp(&self.cert_path, &self.key_path);
        if stamp != current.0 {
            match load(&self.cert_path, &self.key_path, &self.provider) {
                Ok((key, not_after)) => {
                    tracing::info!(cert = %self.cert_path.display(), not_after, "serving certificate reloaded");
                    self.metrics.set_certificate_expiry(not_after);
                    *current = (stamp, key);
                }
                Err(error) => {
                    tracing::warn!(%error, "serving certificate changed but does not load; keeping the previous one")
                }
            }
        }
        current.1.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    [cert, key].map(|p| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    })
}

fn read_bounded(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("invalid {flag}: cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("invalid {flag}: cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "invalid {flag}: {} is larger than 1 MiB, not a PEM file",
            path.display()
        ));
    }
    Ok(bytes)
}

/// The pair, and the leaf certificate's notAfter in seconds since the Unix epoch.
fn load(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<(Arc<CertifiedKey>, i64), String> {
    let pem = read_bounded(cert_path, "--tls-cert-file")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid --tls-cert-file: {}: {e}", cert_path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "invalid --tls-cert-file: {} holds no PEM CERTIFICATE (expected tls.crt of the webhook's Secret)",
            cert_path.display()
        ));
    }
    let not_after = not_after(&chain[0]).map_err(|e| {
        format!(
            "invalid --tls-cert-file: {}: the first certificate {e}",
            cert_path.display()
        )
    })?;
    let pem = read_bounded(key_path, "--tls-key-file")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "invalid --tls-key-file: {} holds no PEM private key ({e}); expected tls.key of the webhook's Secret",
            key_path.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("invalid --tls-key-file: it does not go with --tls-cert-file ({e})"))?;
    Ok((Arc::new(certified), not_after))
}

/// The certificate's notAfter (RFC 5280 section 4.1.2.5), in seconds since the Unix epoch.
fn not_after(der: &CertificateDer) -> Result<i64, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("is no X.509 certificate: {e}"))?;
    Ok(cert.validity().not_after.timestamp())
}
