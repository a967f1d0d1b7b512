//! The self-signed mode (`--self-signed-secret`) against the Kubernetes API stand-in, with the
//! real kube-rs client: the first start creates the Secret and fills the caBundle; a second
//! replica takes the first one's certificate (also when both start at once: the Secret is the
//! lock); a certificate near its end is renewed from the same CA and reloaded by the listener
//! without a restart; a CA near its end is replaced with both CAs in the bundle; a caBundle
//! someone emptied is restored; and the binary serves the certificate the API server is told
//! to trust.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use gke_aws_webhook::self_signed::certs::{self, CA_RENEW_BEFORE, CA_VALIDITY, SERVING_RENEW_BEFORE, SERVING_VALIDITY};
use gke_aws_webhook::self_signed::{self, Flags, Round, SecretAction, Target};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use testkit::kube_api::KubeApi;
use testkit::kube_objects::Kind;
use time::{Duration, OffsetDateTime};

use crate::common::{WAIT, Webhook};

const NAMESPACE: &str = "gke-aws-webhook";
const SECRET: &str = "gke-aws-webhook-tls";
const CONFIGURATION: &str = "gke-aws-webhook";
const SERVICE_DNS: &str = "gke-aws-webhook.gke-aws-webhook.svc";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The webhook configuration as k8s/webhook/base applies it: no caBundle.
fn configuration() -> Value {
    json!({ "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": { "name": CONFIGURATION },
        "webhooks": [{ "name": "inject.gke-aws-verifier.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail",
            "clientConfig": { "service": { "name": "gke-aws-webhook", "namespace": NAMESPACE, "path": "/mutate", "port": 443 } } }] })
}

/// One replica: its client and its own files (each pod has its own emptyDir).
struct Replica {
    client: kube::Client,
    target: Target,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn new(api: &KubeApi) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let config = kube::Config::new(api.url().parse().unwrap());
        let client = gke_aws_webhook::api_client::client(config, Arc::default()).unwrap();
        let flags = Flags {
            self_signed_secret: Some(SECRET.into()),
            self_signed_webhook_configuration: CONFIGURATION.into(),
            self_signed_service: "gke-aws-webhook".into(),
            self_signed_check_interval: std::time::Duration::from_secs(60),
        };
        let target = Target::new(
            &flags,
            NAMESPACE,
            &dir.path().join("tls.crt"),
            &dir.path().join("tls.key"),
        )
        .unwrap()
        .unwrap();
        Replica {
            client,
            target,
            _dir: dir,
        }
    }

    async fn round(&self, now: OffsetDateTime) -> Round {
        self_signed::run_round(&self.client, &self.target, now, &provider())
            .await
            .unwrap_or_else(|e| panic!("round: {e}"))
    }

    fn file(&self, path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }
}

fn secret_text(api: &KubeApi, key: &str) -> String {
    let secret = api.objects().get(Kind::Secret, NAMESPACE, SECRET).expect("the Secret");
    let encoded = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in the Secret"));
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
}

fn ca_bundle(api: &KubeApi) -> Option<String> {
    let configuration = api
        .objects()
        .get(Kind::MutatingWebhookConfiguration, "", CONFIGURATION)
        .unwrap();
    let encoded = configuration["webhooks"][0]["clientConfig"]["caBundle"].as_str()?;
    Some(String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap())
}

fn writes(api: &KubeApi, verb: &str) -> Vec<String> {
    api.objects()
        .writes()
        .into_iter()
        .filter(|w| w.starts_with(verb))
        .collect()
}

/// A TLS handshake with `addr` as the API server makes it: trusting only `ca_bundle`, for the
/// Service's DNS name. The certificate the server presented, or the handshake's error.
async fn handshake(addr: &str, ca_bundle: &str) -> Result<CertificateDer<'static>, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_bundle.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(SERVICE_DNS).unwrap(), tcp)
        .await?;
    Ok(tls.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned())
}

#[tokio::test]
async fn first_start_creates_the_secret_fills_the_ca_bundle_and_writes_the_files() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    let replica = Replica::new(&api);
    let now = OffsetDateTime::now_utc();
    let round = replica.round(now).await;
    assert_eq!(round.secret, SecretAction::Created);
    assert!(round.ca_bundle_patched && round.files_written);
    assert_eq!(
        writes(&api, ""),
        [
            "create secrets gke-aws-webhook/gke-aws-webhook-tls 201",
            "patch mutatingwebhookconfigurations gke-aws-webhook 200"
        ]
    );
    let secret = api.objects().get(Kind::Secret, NAMESPACE, SECRET).unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "gke-aws-webhook"
    );
    assert_eq!(ca_bundle(&api).as_deref(), Some(secret_text(&api, "ca.crt").as_str()));
    assert_eq!(replica.file(&replica.target.cert_file), secret_text(&api, "tls.crt"));
    assert_eq!(replica.file(&replica.target.key_file), secret_text(&api, "tls.key"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&replica.target.key_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
    // 90 days, for both DNS names, signed by the CA in the caBundle.
    let end = certs::not_after(&secret_text(&api, "tls.crt")).unwrap();
    assert!(
        (end - now - SERVING_VALIDITY).abs() < Duration::minutes(1),
        "ends {end}"
    );
    assert_eq!(
        certs::judge(&round.bundle, &replica.target.dns_names, now, &provider()),
        certs::Verdict::Keep
    );
    assert_eq!(
        replica.target.dns_names,
        [SERVICE_DNS, "gke-aws-webhook.gke-aws-webhook.svc.cluster.local"]
    );
    // A second round changes nothing.
    let again = replica.round(now).await;
    assert_eq!(again.secret, SecretAction::Kept);
    assert!(!again.ca_bundle_patched && !again.files_written);
    assert_eq!(writes(&api, "").len(), 2);
}

#[tokio::test]
async fn a_second_replica_takes_the_first_ones_certificate() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    let (first, second) = (Replica::new(&api), Replica::new(&api));
    let now = OffsetDateTime::now_utc();
    let one = first.round(now).await;
    let two = second.round(now).await;
    assert_eq!(two.secret, SecretAction::Kept);
    assert_eq!(one.bundle, two.bundle);
    assert!(!two.ca_bundle_patched, "the caBundle was already the Secret's");
    assert_eq!(
        second.file(&second.target.cert_file),
        first.file(&first.target.cert_file)
    );
    assert_eq!(writes(&api, "create").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_agree_on_one_certificate() {
    // Each pair races for real: whoever's create lands second gets 409 AlreadyExists (or reads
    // the Secret already there) and takes the winner's. Several pairs, so both orders occur.
    for _ in 0..5 {
        let api = KubeApi::start().await;
        api.objects().put(configuration());
        let (a, b) = (Replica::new(&api), Replica::new(&api));
        let now = OffsetDateTime::now_utc();
        let (one, two) = tokio::join!(a.round(now), b.round(now));
        assert_eq!(one.bundle, two.bundle, "both serve the same certificate");
        assert_eq!(
            writes(&api, "create secrets gke-aws-webhook/gke-aws-webhook-tls 201").len(),
            1
        );
        let created = [&one, &two]
            .iter()
            .filter(|r| r.secret == SecretAction::Created)
            .count();
        assert_eq!(created, 1);
        let conflicts = writes(&api, "create secrets gke-aws-webhook/gke-aws-webhook-tls 409").len();
        assert_eq!(one.conflicts + two.conflicts, conflicts, "each 409 was read again");
        assert_eq!(ca_bundle(&api).as_deref(), Some(one.bundle.ca_crt.as_str()));
        // Both renew at once, 61 days on: one update wins, the stale one gets 409 and takes it.
        let later = now + SERVING_VALIDITY - SERVING_RENEW_BEFORE + Duration::days(1);
        let (one, two) = tokio::join!(a.round(later), b.round(later));
        assert_eq!(one.bundle, two.bundle);
        assert_eq!(
            writes(&api, "update secrets gke-aws-webhook/gke-aws-webhook-tls 200").len(),
            1
        );
        let stale = writes(&api, "update secrets gke-aws-webhook/gke-aws-webhook-tls 409").len();
        assert_eq!(one.conflicts + two.conflicts, stale);
    }
}

/// The Secret as another replica writes it, holding `bundle`.
fn secret_of(bundle: &certs::Bundle) -> Value {
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    json!({ "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": SECRET, "namespace": NAMESPACE },
        "data": { "ca.crt": encode(&bundle.ca_crt), "ca.key": encode(&bundle.ca_key),
                  "tls.crt": encode(&bundle.tls_crt), "tls.key": encode(&bundle.tls_key) } })
}

#[tokio::test]
async fn a_lost_race_is_a_409_and_the_round_takes_the_winners_certificate() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    let (replica, other) = (Replica::new(&api), Replica::new(&api));
    let now = OffsetDateTime::now_utc();
    let dns = &replica.target.dns_names;
    // The create: the other replica creates the Secret right after this one found none.
    let theirs = certs::renew(None, &certs::Verdict::RenewCa("test".into()), dns, now, &provider()).unwrap();
    api.objects().after_next_get(secret_of(&theirs));
    let round = replica.round(now).await;
    assert_eq!((round.secret.clone(), round.conflicts), (SecretAction::Kept, 1));
    assert_eq!(round.bundle, theirs, "the winner's certificate");
    assert_eq!(
        writes(&api, "create"),
        ["create secrets gke-aws-webhook/gke-aws-webhook-tls 409"]
    );
    assert_eq!(ca_bundle(&api).as_deref(), Some(theirs.ca_crt.as_str()));
    // The update: both renew; the other's update lands between this one's get and update.
    let later = now + SERVING_VALIDITY - SERVING_RENEW_BEFORE + Duration::days(1);
    let verdict = certs::judge(&theirs, dns, later, &provider());
    assert!(matches!(verdict, certs::Verdict::RenewServing(_)));
    let renewed = certs::renew(Some(&theirs), &verdict, dns, later, &provider()).unwrap();
    api.objects().after_next_get(secret_of(&renewed));
    let round = replica.round(later).await;
    assert_eq!((round.secret.clone(), round.conflicts), (SecretAction::Kept, 1));
    assert_eq!(round.bundle, renewed);
    assert_eq!(
        writes(&api, "update"),
        ["update secrets gke-aws-webhook/gke-aws-webhook-tls 409"]
    );
    assert_eq!(replica.file(&replica.target.cert_file), renewed.tls_crt);
    // The other replica, at its next round, serves the same.
    assert_eq!(other.round(later).await.bundle, renewed);
}

#[tokio::test]
async fn a_certificate_near_its_end_is_renewed_from_the_same_ca_and_reloaded_without_restart() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    let replica = Replica::new(&api);
    let now = OffsetDateTime::now_utc();
    let first = replica.round(now).await;
    let listener = gke_aws_webhook::tls::ReloadingCert::load(
        &replica.target.cert_file,
        &replica.target.key_file,
        provider(),
        Default::default(),
    )
    .unwrap();
    let served = |listener: &gke_aws_webhook::tls::ReloadingCert| listener.current().cert[0].clone();
    let before = served(&listener);
    assert_eq!(
        before,
        CertificateDer::from_pem_slice(first.bundle.tls_crt.as_bytes()).unwrap()
    );
    // A day before the renewal point: kept.
    let kept = replica
        .round(now + SERVING_VALIDITY - SERVING_RENEW_BEFORE - Duration::days(1))
        .await;
    assert_eq!(kept.secret, SecretAction::Kept);
    // A day after: renewed, by an update of the Secret; same CA, so no caBundle patch.
    let renewed = replica
        .round(now + SERVING_VALIDITY - SERVING_RENEW_BEFORE + Duration::days(1))
        .await;
    assert!(
        matches!(&renewed.secret, SecretAction::Renewed(why) if why.contains("serving certificate ends")),
        "{:?}",
        renewed.secret
    );
    assert_eq!(renewed.bundle.ca_crt, first.bundle.ca_crt);
    assert_ne!(renewed.bundle.tls_crt, first.bundle.tls_crt);
    assert!(!renewed.ca_bundle_patched && renewed.files_written);
    assert_eq!(
        writes(&api, "update"),
        ["update secrets gke-aws-webhook/gke-aws-webhook-tls 200"]
    );
    assert_eq!(secret_text(&api, "tls.crt"), renewed.bundle.tls_crt);
    // The listener serves the new pair at its next handshake: no restart.
    let after = served(&listener);
    assert_ne!(after, before);
    assert_eq!(
        after,
        CertificateDer::from_pem_slice(renewed.bundle.tls_crt.as_bytes()).unwrap()
    );
}

#[tokio::test]
async fn a_ca_near_its_end_is_replaced_and_the_old_one_stays_in_the_bundle() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    let replica = Replica::new(&api);
    let now = OffsetDateTime::now_utc();
    let first = replica.round(now).await;
    let later = now + CA_VALIDITY - CA_RENEW_BEFORE + Duration::days(1);
    let renewed = replica.round(later).await;
    assert!(
        matches!(&renewed.secret, SecretAction::Renewed(why) if why.contains("the CA ends")),
        "{:?}",
        renewed.secret
    );
    assert!(renewed.ca_bundle_patched);
    let bundle = ca_bundle(&api).unwrap();
    let cas: Vec<_> = CertificateDer::pem_slice_iter(bundle.as_bytes())
        .map(Result::unwrap)
        .collect();
    assert_eq!(cas.len(), 2, "the new CA, then the old one");
    assert_eq!(
        cas[1],
        CertificateDer::from_pem_slice(first.bundle.ca_crt.as_bytes()).unwrap()
    );
    assert_ne!(cas[0], cas[1]);
    assert_eq!(
        certs::judge(&renewed.bundle, &replica.target.dns_names, later, &provider()),
        certs::Verdict::Keep
    );
}

#[tokio::test]
async fn a_ca_bundle_someone_emptied_is_restored() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    let replica = Replica::new(&api);
    let now = OffsetDateTime::now_utc();
    let first = replica.round(now).await;
    for emptied in [json!(""), Value::Null] {
        api.objects().edit(
            Kind::MutatingWebhookConfiguration,
            "",
            CONFIGURATION,
            |c| match &emptied {
                Value::Null => {
                    c["webhooks"][0]["clientConfig"]
                        .as_object_mut()
                        .unwrap()
                        .remove("caBundle");
                }
                value => c["webhooks"][0]["clientConfig"]["caBundle"] = value.clone(),
            },
        );
        assert_ne!(ca_bundle(&api).as_deref(), Some(first.bundle.ca_crt.as_str()));
        let round = replica.round(now).await;
        assert_eq!(round.secret, SecretAction::Kept);
        assert!(round.ca_bundle_patched, "{emptied}");
        assert_eq!(ca_bundle(&api).as_deref(), Some(first.bundle.ca_crt.as_str()));
    }
    assert_eq!(writes(&api, "patch").len(), 3);
}

#[tokio::test]
async fn an_empty_secret_made_by_hand_is_filled_and_keeps_its_type() {
    // The overlay's README: create the Secret yourself and drop the `create` rule.
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    api.objects()
        .put(json!({ "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": SECRET, "namespace": NAMESPACE } }));
    let replica = Replica::new(&api);
    let round = replica.round(OffsetDateTime::now_utc()).await;
    assert!(matches!(&round.secret, SecretAction::Renewed(_)), "{:?}", round.secret);
    assert_eq!(
        writes(&api, "update"),
        ["update secrets gke-aws-webhook/gke-aws-webhook-tls 200"]
    );
    assert!(writes(&api, "create").is_empty());
    assert_eq!(
        api.objects().get(Kind::Secret, NAMESPACE, SECRET).unwrap()["type"],
        "Opaque"
    );
    assert_eq!(secret_text(&api, "tls.crt"), round.bundle.tls_crt);
}

#[tokio::test]
async fn without_its_webhook_configuration_the_round_says_to_apply_the_overlay() {
    let api = KubeApi::start().await;
    let replica = Replica::new(&api);
    let error = self_signed::run_round(&replica.client, &replica.target, OffsetDateTime::now_utc(), &provider())
        .await
        .unwrap_err();
    assert!(matches!(error, self_signed::Error::Refused(_)));
    assert!(
        error
            .to_string()
            .contains("MutatingWebhookConfiguration gke-aws-webhook: not found"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_certificate_its_ca_bundle_trusts() {
    let api = KubeApi::start().await;
    api.objects().put(configuration());
    // The test helper pre-fills the files with another certificate: the mode replaces them.
    let webhook = Webhook::start(&api.url(), &["--self-signed-secret", SECRET]).await;
    let bundle = ca_bundle(&api).expect("the caBundle is set before the listener serves");
    let served = tokio::time::timeout(WAIT, handshake(&webhook.https, &bundle))
        .await
        .unwrap()
        .expect("the API server's handshake succeeds");
    assert_eq!(
        served,
        CertificateDer::from_pem_slice(secret_text(&api, "tls.crt").as_bytes()).unwrap()
    );
    assert_ne!(webhook.serving.cert_pem, secret_text(&api, "tls.crt"));
}

#[test]
fn bad_flags_are_named() {
    let flags = |secret: &str, service: &str| Flags {
        self_signed_secret: Some(secret.into()),
        self_signed_webhook_configuration: CONFIGURATION.into(),
        self_signed_service: service.into(),
        self_signed_check_interval: std::time::Duration::from_secs(60),
    };
    let target = |f: Flags| Target::new(&f, NAMESPACE, Path::new("/c"), Path::new("/k"));
    assert!(
        target(flags("Bad_Name", "gke-aws-webhook"))
            .unwrap_err()
            .contains("--self-signed-secret")
    );
    assert!(
        target(flags(SECRET, "a.b"))
            .unwrap_err()
            .contains("--self-signed-service")
    );
    let off = Flags {
        self_signed_secret: None,
        ..flags(SECRET, "x")
    };
    assert!(target(off).unwrap().is_none());
}
