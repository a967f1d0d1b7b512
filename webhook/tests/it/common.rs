//! The webhook binary as the API server meets it: started with its real flags against the
//! Kubernetes API stand-in, spoken to over HTTPS with AdmissionReviews.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

pub const BIN: &str = env!("CARGO_BIN_EXE_gke-aws-webhook");
pub const IMAGE: &str = "registry.example/gke-aws-verifier:0.1.0";
pub const ARN: &str = "arn:aws:iam::123456789012:role/team-reader";
pub const GSA: &str = "reader@proj.iam.gserviceaccount.com";
/// Bound on every wait for the webhook (start, readiness, a watch event).
pub const WAIT: Duration = Duration::from_secs(20);

/// A self-signed serving certificate for 127.0.0.1, written as the webhook's Secret would be.
pub struct ServingCert {
    pub cert_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn serving_cert(dir: &Path) -> ServingCert {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let cert_pem = generated.cert.pem();
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    ServingCert { cert_pem, cert, key }
}

pub struct Webhook {
    /// Held for its drop: the process is killed with the test.
    _child: tokio::process::Child,
    pub https: String,
    pub metrics: String,
    /// Held for its drop: the certificate and kubeconfig go with the test.
    _dir: tempfile::TempDir,
    pub serving: ServingCert,
}

impl Webhook {
    /// Starts the binary with KUBECONFIG pointing at `api_url`, and waits for its listeners.
    pub async fn start(api_url: &str, extra: &[&str]) -> Webhook {
        let dir = tempfile::tempdir().unwrap();
        let serving = serving_cert(dir.path());
        let kubeconfig = testkit::kube_api::write_kubeconfig(dir.path(), api_url);
        let mut command = tokio::process::Command::new(BIN);
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--sidecar-image",
                IMAGE,
            ])
            .args(["--default-region", "us-east-1", "--namespace", "gke-aws-webhook"])
            .arg("--tls-cert-file")
            .arg(&serving.cert)
            .arg("--tls-key-file")
            .arg(&serving.key)
            .args(extra)
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", dir.path())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the webhook starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let serving_line = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains(" serving ") {
                    return line;
                }
                eprintln!("webhook: {line}");
            }
            panic!("the webhook ended before serving");
        })
        .await
        .expect("the webhook serves within the bound");
        // The rest of its log goes to the test's stderr, for a failing test's story.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("webhook: {line}");
            }
        });
        let field = |name: &str| {
            let start = serving_line
                .find(&format!("{name}="))
                .expect("address in the serving line")
                + name.len()
                + 1;
            serving_line[start..].split_whitespace().next().unwrap().to_owned()
        };
        Webhook {
            https: field("listen"),
            metrics: field("metrics"),
            _child: child,
            _dir: dir,
            serving,
        }
    }

    /// POSTs `body` to /mutate over TLS, trusting only the serving certificate `cert_pem`.
    pub async fn post_with(&self, path: &str, body: &Value, cert_pem: &str) -> (u16, Value) {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(&self.https).await.unwrap();
        let tls = connector
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .expect("TLS handshake");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = tokio::time::timeout(WAIT, sender.send_request(request))
            .await
            .unwrap()
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    }

    /// The AdmissionReview's response for `pod` created in `namespace`.
    pub async fn admit(&self, namespace: &str, pod: &Value) -> Value {
        let (status, body) = self
            .post_with("/mutate", &review(namespace, pod), &self.serving.cert_pem)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1", "{body}");
        assert_eq!(body["kind"], "AdmissionReview", "{body}");
        assert_eq!(
            body["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
            "{body}"
        );
        body["response"].clone()
    }

    /// GET on the metrics listener: (status, body).
    pub async fn get_plain(&self, path: &str) -> (u16, String) {
        let tcp = TcpStream::connect(&self.metrics).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = tokio::time::timeout(WAIT, sender.send_request(request))
            .await
            .unwrap()
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Waits (bounded) until `/readyz` answers `status`.
    pub async fn wait_ready(&self, status: u16) {
        self.wait_for(|| async { self.get_plain("/readyz").await.0 == status }, "readyz")
            .await;
    }

    /// Polls `condition` until it holds, within [`WAIT`]: the webhook's cache follows a watch,
    /// and nothing tells the test when an event has arrived but the webhook's own endpoints.
    pub async fn wait_for<F, Fut>(&self, condition: F, what: &str)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !condition().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not reached within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn metric(&self, line_prefix: &str) -> Option<String> {
        let (_, text) = self.get_plain("/metrics").await;
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .map(|l| l[line_prefix.len()..].trim().to_owned())
    }
}

/// An AdmissionReview v1 as the API server sends it for a pod CREATE.
pub fn review(namespace: &str, pod: &Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "requestKind": { "group": "", "version": "v1", "kind": "Pod" },
            "requestResource": { "group": "", "version": "v1", "resource": "pods" },
            "name": pod["metadata"]["name"].as_str().unwrap_or(""),
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:kube-system:replicaset-controller", "groups": [] },
            "object": pod,
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" }
        }
    })
}

/// An opted-in pod of KSA `ksa`: one container, one init container.
pub fn pod(name: &str, ksa: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "labels": { "gke-aws-verifier/inject": "true" } },
        "spec": {
            "serviceAccountName": ksa,
            "initContainers": [{ "name": "migrate", "image": "app:1" }],
            "containers": [{ "name": "app", "image": "app:1" }]
        }
    })
}

/// The pod after the response's patch, which must be a base64 JSONPatch.
pub fn patched(pod: &Value, response: &Value) -> Value {
    use base64::Engine;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut pod = pod.clone();
    json_patch::patch(&mut pod, &patch).expect("the patch applies to the pod");
    pod
}

pub fn env_value(container: &Value, name: &str) -> Option<Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e.get("value").cloned().unwrap_or(e["valueFrom"].clone()))
}
