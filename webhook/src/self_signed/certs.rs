//! The self-signed mode's certificates, without I/O: a CA of the webhook's own and, from it, the
//! serving certificate for the Service's DNS names (both ECDSA P-256, issued with rcgen), read
//! back from the Secret's PEM and judged against a given `now`.
//!
//! The CA lives long (10 years) and signs each new serving certificate (90 days, renewed 30 days
//! before its end), so the webhook configuration's `caBundle` stays the same across renewals and
//! the API server never sees a certificate it does not trust yet. When the CA itself nears its
//! end (a year before), a new one is made and the old one stays in the bundle after it until it
//! expires: a replica still serving a certificate of the old CA stays trusted.

use std::fmt;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use time::{Duration, OffsetDateTime};

/// How long a new CA is valid.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// A CA this close to its end is replaced (its successor is in the bundle first).
pub const CA_RENEW_BEFORE: Duration = Duration::days(365);
/// How long a new serving certificate is valid.
pub const SERVING_VALIDITY: Duration = Duration::days(90);
/// A serving certificate this close to its end is replaced.
pub const SERVING_RENEW_BEFORE: Duration = Duration::days(30);
/// Certificates a bundle may hold: the current CA and its predecessors still valid.
const MAX_BUNDLE_CAS: usize = 3;
/// Clock skew allowed between replicas and the API server: a certificate starts this early.
const BACKDATE: Duration = Duration::minutes(5);

/// The four PEM texts the Secret holds (`ca.crt`, `ca.key`, `tls.crt`, `tls.key`).
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The current CA, then predecessors still valid: the webhook configuration's `caBundle`.
    pub ca_crt: String,
    pub ca_key: String,
    pub tls_crt: String,
    pub tls_key: String,
}

impl fmt::Debug for Bundle {
    /// Without the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("ca_crt", &self.ca_crt)
            .finish_non_exhaustive()
    }
}

/// What a bundle needs at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid for long enough: serve it.
    Keep,
    /// A new serving certificate from the same CA (why).
    RenewServing(String),
    /// A new CA and serving certificate (why).
    RenewCa(String),
}

/// Judges `bundle` for `dns_names` at `now`: the CA is readable, goes with its key and lasts
/// beyond [`CA_RENEW_BEFORE`]; the serving certificate is signed by it, valid now for every
/// name, goes with its key and lasts beyond [`SERVING_RENEW_BEFORE`].
pub fn judge(bundle: &Bundle, dns_names: &[String], now: OffsetDateTime, provider: &Arc<CryptoProvider>) -> Verdict {
    let Some(ca_pem) = first_pem(&bundle.ca_crt) else {
        return Verdict::RenewCa("ca.crt holds no certificate".into());
    };
    let ca_end = match not_after(&ca_pem) {
        Ok(end) => end,
        Err(e) => return Verdict::RenewCa(format!("ca.crt does not parse ({e})")),
    };
    if ca_end - CA_RENEW_BEFORE <= now {
        return Verdict::RenewCa(format!("the CA ends {ca_end}"));
    }
    if let Err(e) = KeyPair::from_pem(&bundle.ca_key) {
        return Verdict::RenewCa(format!("ca.key does not parse ({e})"));
    }
    let serving_end = match not_after(&bundle.tls_crt) {
        Ok(end) => end,
        Err(e) => return Verdict::RenewServing(format!("tls.crt does not parse ({e})")),
    };
    if serving_end - SERVING_RENEW_BEFORE <= now {
        return Verdict::RenewServing(format!("the serving certificate ends {serving_end}"));
    }
    if let Err(why) = verify(
        &bundle.ca_crt,
        &bundle.tls_crt,
        &bundle.tls_key,
        dns_names,
        now,
        provider,
    ) {
        return Verdict::RenewServing(why);
    }
    Verdict::Keep
}

/// A new bundle for what `verdict` asks: a new serving certificate from `old`'s CA, or a new CA
/// (with `old`'s CAs still valid after it) and a serving certificate from it. Without `old`, or
/// when a serving certificate from the old CA does not verify (its key is not the CA's), a new CA.
pub fn renew(
    old: Option<&Bundle>,
    verdict: &Verdict,
    dns_names: &[String],
    now: OffsetDateTime,
    provider: &Arc<CryptoProvider>,
) -> Result<Bundle, String> {
    if let (Some(old), Verdict::RenewServing(_)) = (old, verdict) {
        let renewed = first_pem(&old.ca_crt)
            .ok_or_else(|| "ca.crt holds no certificate".to_owned())
            .and_then(|ca| serving(&ca, &old.ca_key, dns_names, now))
            .and_then(|(tls_crt, tls_key)| {
                verify(&old.ca_crt, &tls_crt, &tls_key, dns_names, now, provider)?;
                Ok(Bundle {
                    tls_crt,
                    tls_key,
                    ..old.clone()
                })
            });
        match renewed {
            Ok(bundle) => return Ok(bundle),
            Err(why) => tracing::warn!(%why, "the CA cannot sign a serving certificate that verifies; making a new CA"),
        }
    }
    let (ca_crt, ca_key) = new_ca(now)?;
    let (tls_crt, tls_key) = serving(&ca_crt, &ca_key, dns_names, now)?;
    let mut cas = vec![ca_crt];
    if let Some(old) = old {
        cas.extend(still_valid(&old.ca_crt, now).into_iter().take(MAX_BUNDLE_CAS - 1));
    }
    let bundle = Bundle {
        ca_crt: cas.concat(),
        ca_key,
        tls_crt,
        tls_key,
    };
    verify(
        &bundle.ca_crt,
        &bundle.tls_crt,
        &bundle.tls_key,
        dns_names,
        now,
        provider,
    )?;
    Ok(bundle)
}

fn new_ca(now: OffsetDateTime) -> Result<(String, String), String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot make the CA's key: {e}"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("gke-aws-webhook-ca {}", now.unix_timestamp()),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot make the CA: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn serving(ca_crt: &str, ca_key: &str, dns_names: &[String], now: OffsetDateTime) -> Result<(String, String), String> {
    let ca_key = KeyPair::from_pem(ca_key).map_err(|e| format!("ca.key does not parse ({e})"))?;
    let issuer = Issuer::from_ca_cert_pem(ca_crt, ca_key).map_err(|e| format!("ca.crt does not parse ({e})"))?;
    let key = KeyPair::generate().map_err(|e| format!("cannot make the serving key: {e}"))?;
    let mut params =
        CertificateParams::new(dns_names.to_vec()).map_err(|e| format!("invalid DNS name for the certificate: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, dns_names.first().cloned().unwrap_or_default());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = now + SERVING_VALIDITY;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| format!("cannot sign the serving certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The serving certificate chains to one of `ca_crt`'s CAs, is valid at `now` for every name,
/// and `tls_key` is its key: what the API server and the TLS listener will check.
fn verify(
    ca_crt: &str,
    tls_crt: &str,
    tls_key: &str,
    dns_names: &[String],
    now: OffsetDateTime,
    provider: &Arc<CryptoProvider>,
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_crt.as_bytes()) {
        let ca = ca.map_err(|e| format!("ca.crt does not parse ({e})"))?;
        roots.add(ca).map_err(|e| format!("ca.crt is not a CA ({e})"))?;
    }
    let leaf =
        CertificateDer::from_pem_slice(tls_crt.as_bytes()).map_err(|e| format!("tls.crt does not parse ({e})"))?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("ca.crt cannot verify ({e})"))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.unix_timestamp().max(0) as u64));
    for name in dns_names {
        let server = ServerName::try_from(name.as_str()).map_err(|e| format!("invalid DNS name {name:?}: {e}"))?;
        verifier
            .verify_server_cert(&leaf, &[], &server, &[], at)
            .map_err(|e| format!("the serving certificate does not verify for {name} ({e})"))?;
    }
    let key = PrivateKeyDer::from_pem_slice(tls_key.as_bytes()).map_err(|e| format!("tls.key does not parse ({e})"))?;
    rustls::sign::CertifiedKey::from_der(vec![leaf], key, provider)
        .map(drop)
        .map_err(|e| format!("tls.key does not go with tls.crt ({e})"))
}

/// When the (first) certificate of `pem` ends.
pub fn not_after(pem: &str) -> Result<OffsetDateTime, String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string())?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).map_err(|e| e.to_string())
}

/// The first PEM block of `pem`, re-encoded (the current CA of a bundle).
fn first_pem(pem: &str) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()?;
    Some(pem_of(&der))
}

/// The CAs of `pem` not expired at `now`, each as PEM.
fn still_valid(pem: &str, now: OffsetDateTime) -> Vec<String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|der| pem_of(&der))
        .filter(|pem| not_after(pem).is_ok_and(|end| end > now))
        .collect()
}

fn pem_of(der: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
