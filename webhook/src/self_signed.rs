//! The self-signed mode (`--self-signed-secret`, overlay `k8s/webhook/overlays/self-signed`):
//! the webhook manages its own certificate, for clusters without cert-manager.
//!
//! At start, and every `--self-signed-check-interval` after, each replica:
//! 1. reads the Secret (its namespace, by name); absent, unreadable or near its end: issues a
//!    CA and serving certificate ([`certs`]) and stores them: a create, or an update carrying the
//!    resourceVersion it read. The Secret is the lock: the API server refuses the create of an
//!    existing Secret (409 AlreadyExists) and an update from a stale resourceVersion (409
//!    Conflict), so of two replicas one wins and the other reads again and takes the winner's
//!    certificate;
//! 2. makes its own MutatingWebhookConfiguration's `caBundle` (each webhook of it) the Secret's
//!    CA bundle: a get, then a JSON patch of that one object by name, only when it differs (so a
//!    `caBundle` someone emptied is back within one interval);
//! 3. writes `tls.crt` and `tls.key` to `--tls-cert-file` and `--tls-key-file` (an in-memory
//!    emptyDir), each through a rename, where [`crate::tls::ReloadingCert`] picks them up at the
//!    next handshake: a renewal needs no restart.
//!
//! RBAC (the overlay's): get/update of that one Secret and get/patch of that one webhook
//! configuration by `resourceNames`; create of Secrets in the namespace (Kubernetes cannot
//! restrict a create by name).

pub mod certs;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use rustls::crypto::CryptoProvider;
use serde_json::json;
use time::OffsetDateTime;

use crate::metrics::Metrics;
use certs::{Bundle, Verdict};

/// Label on the Secret: who writes it.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "gke-aws-webhook");
/// Reads and writes of one round before it gives up (each 409 is another replica's write).
const ATTEMPTS: usize = 5;

/// Flags of the self-signed mode (flattened into the webhook's).
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Self-signed mode: the Secret of the webhook's namespace that holds its own CA and serving
    /// certificate (created, renewed and shared by the replicas); --tls-cert-file and
    /// --tls-key-file are then written by the webhook (an emptyDir). Without it, the files come
    /// from elsewhere (cert-manager).
    #[arg(long, value_name = "SECRET")]
    pub self_signed_secret: Option<String>,
    /// Self-signed mode: the MutatingWebhookConfiguration whose caBundle the webhook keeps.
    #[arg(long, default_value = "gke-aws-webhook", value_name = "NAME")]
    pub self_signed_webhook_configuration: String,
    /// Self-signed mode: the Service in front of the webhook; the certificate is for
    /// SERVICE.NAMESPACE.svc and SERVICE.NAMESPACE.svc.cluster.local.
    #[arg(long, default_value = "gke-aws-webhook", value_name = "NAME")]
    pub self_signed_service: String,
    /// Self-signed mode: how often the Secret and the caBundle are checked (renewal, a caBundle
    /// someone emptied, another replica's renewal).
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub self_signed_check_interval: Duration,
}

/// Where the mode works: its objects and files.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: String,
    pub secret: String,
    pub webhook_configuration: String,
    pub dns_names: Vec<String>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Target {
    /// From the flags; an error names the flag (bad input, before any network call).
    pub fn new(flags: &Flags, namespace: &str, cert_file: &Path, key_file: &Path) -> Result<Option<Target>, String> {
        let Some(secret) = &flags.self_signed_secret else {
            return Ok(None);
        };
        for (flag, value) in [
            ("--self-signed-secret", secret.as_str()),
            (
                "--self-signed-webhook-configuration",
                &flags.self_signed_webhook_configuration,
            ),
        ] {
            if !is_subdomain(value) {
                return Err(format!(
                    "invalid {flag}: {value:?} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')"
                ));
            }
        }
        for (flag, value) in [
            ("--self-signed-service", flags.self_signed_service.as_str()),
            ("--namespace", namespace),
        ] {
            if !is_label(value) {
                return Err(format!(
                    "invalid {flag}: {value:?} is not a DNS label (lowercase letters, digits and '-', at most 63)"
                ));
            }
        }
        if flags.self_signed_check_interval < Duration::from_secs(1) {
            return Err("invalid --self-signed-check-interval: at least 1s".into());
        }
        let service = format!("{}.{namespace}.svc", flags.self_signed_service);
        Ok(Some(Target {
            namespace: namespace.to_owned(),
            secret: secret.clone(),
            webhook_configuration: flags.self_signed_webhook_configuration.clone(),
            dns_names: vec![service.clone(), format!("{service}.cluster.local")],
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
        }))
    }
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretAction {
    /// The Secret was valid: its certificate is served.
    Kept,
    /// This replica created the Secret.
    Created,
    /// This replica renewed it (why).
    Renewed(String),
}

#[derive(Debug, Clone)]
pub struct Round {
    pub bundle: Bundle,
    pub secret: SecretAction,
    /// 409s met: another replica wrote first, and its certificate was taken.
    pub conflicts: usize,
    /// The caBundle differed (absent, emptied, an older CA) and was patched.
    pub ca_bundle_patched: bool,
    /// The files differed and were written.
    pub files_written: bool,
}

/// The startup hook: with `--self-signed-secret`, one round before the listener starts (the
/// files must exist for [`crate::tls::ReloadingCert::load`]), then a round every interval in the
/// background. Errors: (2, bad input) before any call; (1, why) when the first round fails.
pub async fn start(flags: &Flags, namespace: &str, cert_file: &Path, key_file: &Path) -> Result<(), (u8, String)> {
    let Some(target) = Target::new(flags, namespace, cert_file, key_file).map_err(|e| (2, e))? else {
        return Ok(());
    };
    let config = kube::Config::infer()
        .await
        .map_err(|e| (2, format!("no Kubernetes API configuration ({e}); in a pod the in-cluster config is used, elsewhere set KUBECONFIG")))?;
    let client = crate::api_client::client(config, Arc::new(Metrics::default())).map_err(|e| (1, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let round = first_round(&client, &target, &provider).await.map_err(|e| (1, e))?;
    log_round(&target, &round);
    let interval = flags.self_signed_check_interval;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match run_round(&client, &target, OffsetDateTime::now_utc(), &provider).await {
                Ok(round) => log_round(&target, &round),
                Err(error) => {
                    tracing::warn!(%error, "self-signed certificate: round failed; retrying at the next interval")
                }
            }
        }
    });
    Ok(())
}

/// The first round, retried while the API server is unreachable or answers 5xx (at most about
/// a minute); a refusal (401, 403, 404 of the webhook configuration) is at once an error.
async fn first_round(client: &kube::Client, target: &Target, provider: &Arc<CryptoProvider>) -> Result<Round, String> {
    let mut delay = Duration::from_secs(1);
    for _ in 0..6 {
        match run_round(client, target, OffsetDateTime::now_utc(), provider).await {
            Ok(round) => return Ok(round),
            Err(Error::Refused(why)) => return Err(why),
            Err(Error::Transient(why)) => tracing::warn!(%why, ?delay, "self-signed certificate: retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(16));
    }
    Err("self-signed certificate: the Kubernetes API did not answer; see the warnings above".into())
}

fn log_round(target: &Target, round: &Round) {
    if round.secret != SecretAction::Kept || round.ca_bundle_patched || round.files_written || round.conflicts > 0 {
        tracing::info!(secret = %target.secret, action = ?round.secret, conflicts = round.conflicts,
            ca_bundle_patched = round.ca_bundle_patched, files_written = round.files_written, "self-signed certificate");
    }
}

/// Why a round failed.
#[derive(Debug)]
pub enum Error {
    /// Worth retrying: unreachable, 5xx, 409s without end, a webhook configuration changed meanwhile.
    Transient(String),
    /// Not without someone's fix: RBAC, the webhook configuration missing, files not writable.
    Refused(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Transient(why) | Error::Refused(why) => f.write_str(why),
        }
    }
}

fn api_error(what: &str, error: kube::Error) -> Error {
    match &error {
        kube::Error::Api(status) if matches!(status.code, 401 | 403) => Error::Refused(format!(
            "{what}: {} {} (the overlay's RBAC: get/update of the Secret, create of Secrets, get/patch of the webhook configuration)",
            status.code, status.message
        )),
        kube::Error::Api(status) if status.code == 404 => Error::Refused(format!(
            "{what}: not found ({}); apply the overlay first",
            status.message
        )),
        kube::Error::Api(status) if status.code < 500 && status.code != 409 && status.code != 429 => {
            Error::Refused(format!("{what}: {} {}", status.code, status.message))
        }
        _ => Error::Transient(format!("{what}: {error}")),
    }
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// One round at `now`: the Secret (read, created or renewed), the caBundle, the files.
pub async fn run_round(
    client: &kube::Client,
    target: &Target,
    now: OffsetDateTime,
    provider: &Arc<CryptoProvider>,
) -> Result<Round, Error> {
    let (bundle, secret, conflicts) = settle_secret(client, target, now, provider).await?;
    let ca_bundle_patched = ensure_ca_bundle(client, target, &bundle.ca_crt).await?;
    let files_written = write_files(target, &bundle).map_err(Error::Refused)?;
    Ok(Round {
        bundle,
        secret,
        conflicts,
        ca_bundle_patched,
        files_written,
    })
}

/// Reads the Secret and, when it needs one, writes a new bundle; a 409 means another replica
/// wrote first: read again and take its bundle.
async fn settle_secret(
    client: &kube::Client,
    target: &Target,
    now: OffsetDateTime,
    provider: &Arc<CryptoProvider>,
) -> Result<(Bundle, SecretAction, usize), Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &target.namespace);
    let what = format!("Secret {}/{}", target.namespace, target.secret);
    let mut conflicts = 0;
    for _ in 0..ATTEMPTS {
        let found = secrets.get_opt(&target.secret).await.map_err(|e| api_error(&what, e))?;
        let Some(found) = found else {
            let bundle = certs::renew(
                None,
                &Verdict::RenewCa("no Secret yet".into()),
                &target.dns_names,
                now,
                provider,
            )
            .map_err(Error::Refused)?;
            match secrets
                .create(&PostParams::default(), &secret(target, &bundle, None))
                .await
            {
                Ok(_) => return Ok((bundle, SecretAction::Created, conflicts)),
                Err(e) if is_conflict(&e) => {
                    conflicts += 1;
                    continue;
                }
                Err(e) => return Err(api_error(&what, e)),
            }
        };
        let old = bundle_of(&found);
        let verdict = match &old {
            Some(old) => certs::judge(old, &target.dns_names, now, provider),
            None => Verdict::RenewCa("the Secret lacks ca.crt, ca.key, tls.crt or tls.key".into()),
        };
        let why = match &verdict {
            Verdict::Keep => return Ok((old.expect("judged"), SecretAction::Kept, conflicts)),
            Verdict::RenewServing(why) | Verdict::RenewCa(why) => why.clone(),
        };
        let bundle = certs::renew(old.as_ref(), &verdict, &target.dns_names, now, provider).map_err(Error::Refused)?;
        // The resourceVersion read: the API server refuses the update if anyone wrote since.
        // A Secret's type is immutable: one made by hand (Opaque) keeps its type.
        let mut update = secret(target, &bundle, found.metadata.resource_version.clone());
        update.type_ = found.type_.clone().or(update.type_);
        match secrets.replace(&target.secret, &PostParams::default(), &update).await {
            Ok(_) => return Ok((bundle, SecretAction::Renewed(why), conflicts)),
            Err(e) if is_conflict(&e) => conflicts += 1,
            Err(e) => return Err(api_error(&what, e)),
        }
    }
    Err(Error::Transient(format!(
        "{what}: changed under every one of {ATTEMPTS} writes"
    )))
}

fn secret(target: &Target, bundle: &Bundle, resource_version: Option<String>) -> Secret {
    let data = [
        ("ca.crt", &bundle.ca_crt),
        ("ca.key", &bundle.ca_key),
        ("tls.crt", &bundle.tls_crt),
        ("tls.key", &bundle.tls_key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
    .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(target.secret.clone()),
            namespace: Some(target.namespace.clone()),
            labels: Some([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())].into()),
            resource_version,
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Secret::default()
    }
}

fn bundle_of(secret: &Secret) -> Option<Bundle> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    Some(Bundle {
        ca_crt: text("ca.crt")?,
        ca_key: text("ca.key")?,
        tls_crt: text("tls.crt")?,
        tls_key: text("tls.key")?,
    })
}

/// Sets every webhook's `caBundle` of the configuration to `ca_pem` where it differs; true when
/// it patched. Each `add` is guarded by a `test` of that webhook's name, so a configuration
/// reordered since the get is refused (and retried next round), never patched at the wrong index.
async fn ensure_ca_bundle(client: &kube::Client, target: &Target, ca_pem: &str) -> Result<bool, Error> {
    let configurations: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let what = format!("MutatingWebhookConfiguration {}", target.webhook_configuration);
    let configuration = configurations
        .get(&target.webhook_configuration)
        .await
        .map_err(|e| api_error(&what, e))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let mut operations = Vec::new();
    for (i, webhook) in configuration.webhooks.iter().flatten().enumerate() {
        if webhook.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()) != Some(ca_pem.as_bytes()) {
            operations.push(json!({ "op": "test", "path": format!("/webhooks/{i}/name"), "value": webhook.name }));
            operations
                .push(json!({ "op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": encoded }));
        }
    }
    if operations.is_empty() {
        return Ok(false);
    }
    let patch: json_patch::Patch =
        serde_json::from_value(json!(operations)).map_err(|e| Error::Refused(format!("{what}: {e}")))?;
    configurations
        .patch(
            &target.webhook_configuration,
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
        .map_err(|e| match e {
            // A failed `test` (the webhooks changed since the get): next round.
            kube::Error::Api(status) if status.code == 422 => {
                Error::Transient(format!("{what}: changed while patched ({})", status.message))
            }
            e => api_error(&what, e),
        })?;
    Ok(true)
}

/// Writes the serving pair where the listener reads it, when it differs: each file through a
/// temporary file in the same folder and a rename, the key first (the listener keeps its pair
/// until both files load together).
fn write_files(target: &Target, bundle: &Bundle) -> Result<bool, String> {
    let current = |path: &Path| std::fs::read(path).ok();
    if current(&target.cert_file).as_deref() == Some(bundle.tls_crt.as_bytes())
        && current(&target.key_file).as_deref() == Some(bundle.tls_key.as_bytes())
    {
        return Ok(false);
    }
    for (path, flag, contents) in [
        (&target.key_file, "--tls-key-file", &bundle.tls_key),
        (&target.cert_file, "--tls-cert-file", &bundle.tls_crt),
    ] {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".new");
        write_private(Path::new(&temporary), contents.as_bytes())
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| {
                format!(
                    "invalid {flag}: cannot write {} (self-signed mode writes it; mount an emptyDir there): {e}",
                    path.display()
                )
            })?;
    }
    Ok(true)
}

/// Writes `contents` readable by the owner only (a private key).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

/// A DNS subdomain (RFC 1123), as Kubernetes names most objects.
fn is_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_label)
}

/// A DNS label (RFC 1123): lowercase alphanumerics and '-', not at either end, at most 63.
fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}
