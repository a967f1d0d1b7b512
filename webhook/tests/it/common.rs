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
    // rcgen's default validity: until 4096-01-01.
    serving_cert_until(dir, (4096, 1, 1))
}

/// A self-signed serving certificate valid until midnight UTC of `(year, month, day)`.
pub fn serving_cert_until(dir: &Path, (year, month, day): (i32, u8, u8)) -> ServingCert {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(year, month, day);
    let signing_key = rcgen::KeyPair::generate().unwrap();
    let generated = params.self_signed(&signing_key).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let cert_pem = generated.pem();
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, signing_key.serialize_pem()).unwrap();
    ServingCert { cert_pem, cert, key }
}

pub struct Webhook {
    /// Killed with the test when it is still running.
    child: tokio::process::Child,
    pub https: String,
    pub metrics: String,
    /// Held for its drop: the certificate and kubeconfig go with the test.
    _dir: tempfile::TempDir,
    pub serving: ServingCert,
    /// The log after the serving line, as the webhook wrote it (for tests that count events).
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Webhook {
    /// Starts the binary with KUBECONFIG pointing at `api_url`, and waits for its listeners.
    pub async fn start(api_url: &str, extra: &[&str]) -> Webhook {
        Webhook::start_bin(Path::new(BIN), &[], api_url, extra).await
    }

    /// As [`Webhook::start`], with another build of the binary, run through `wrapper` (e.g.
    /// `prlimit --nofile=…`, which execs it: the pid stays the webhook's).
    pub async fn start_bin(bin: &Path, wrapper: &[&str], api_url: &str, extra: &[&str]) -> Webhook {
        let dir = tempfile::tempdir().unwrap();
        let serving = serving_cert(dir.path());
        let kubeconfig = testkit::kube_api::write_kubeconfig(dir.path(), api_url);
        let mut command = match wrapper {
            [] => tokio::process::Command::new(bin),
            [program, args @ ..] => {
                let mut command = tokio::process::Command::new(program);
                command.args(args).arg(bin);
                command
            }
        };
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
        // The rest of its log goes to the test's stderr, for a failing test's story, and is
        // kept (the first 10,000 lines) for tests that count what it says.
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("webhook: {line}");
                let mut kept = kept.lock().unwrap();
                if kept.len() < 10_000 {
                    kept.push(line);
                }
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
            child,
            _dir: dir,
            serving,
            log,
        }
    }

    /// POSTs `body` to /mutate over TLS, trusting only the serving certificate `cert_pem`.
    pub async fn post_with(&self, path: &str, body: &Value, cert_pem: &str) -> (u16, Value) {
        let tcp = TcpStream::connect(&self.https).await.unwrap();
        let mut sender = tls_client(tcp, cert_pem).await;
        post(&mut sender, path, Bytes::from(body.to_string())).await
    }

    /// The lines of its log (after the serving line) that contain `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// The process id (for its /proc entry and signals).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the webhook is running")
    }

    /// The webhook's peak resident set so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Sends `signal` (e.g. `TERM`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("kill(1) runs (procps)");
        assert!(status.success());
    }

    /// The exit status, waited for within [`WAIT`].
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the webhook exits within the bound")
            .unwrap()
    }
}

/// An HTTP/1.1 client over TLS on `io`, trusting only `cert_pem`.
pub async fn tls_client<IO>(io: IO, cert_pem: &str) -> hyper::client::conn::http1::SendRequest<Full<Bytes>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let tls = tls_connect(io, cert_pem).await;
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// A TLS connection on `io`, trusting only `cert_pem`.
pub async fn tls_connect<IO>(io: IO, cert_pem: &str) -> tokio_rustls::client::TlsStream<IO>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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
    connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), io)
        .await
        .expect("TLS handshake")
}

/// POSTs `body` on an open connection: (status, the body as JSON, or as a string).
pub async fn post(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: &str,
    body: Bytes,
) -> (u16, Value) {
    let request = hyper::Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body))
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

/// The optimised build, on which memory bounds are measured (`make release-test` builds it: the
/// release profile without link-time optimisation, which changes the binary's size, not its heap).
pub fn release_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("release-test/gke-aws-webhook");
    assert!(
        bin.exists(),
        "{} is missing: build it first (make release-test)",
        bin.display()
    );
    bin
}

/// The Deployment's memory limit in KiB, read from the manifest (k8s/webhook/base/deployment.yaml),
/// so that the bound the hostile tests assert follows the manifest.
pub fn memory_limit_kib() -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/webhook/base/deployment.yaml");
    let manifest = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    container_memory_limit_kib(&manifest, "webhook").unwrap_or_else(|problem| panic!("{}: {problem}", path.display()))
}

/// `resources.limits.memory` of container `name` in a Deployment manifest, in KiB: a reading of
/// the YAML's indentation (block style, as the manifests here are written), not a YAML parser.
pub fn container_memory_limit_kib(manifest: &str, name: &str) -> Result<u64, String> {
    let lines: Vec<&str> = manifest
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let container = under(&lines, &format!("- name: {name}")).ok_or(format!("no container {name}"))?;
    let limits = under(&container, "resources:")
        .and_then(|resources| under(&resources, "limits:"))
        .ok_or(format!("container {name} has no resources.limits"))?;
    let memory = limits
        .iter()
        .find_map(|l| l.trim().strip_prefix("memory:"))
        .ok_or(format!("container {name} has no memory limit"))?;
    kib(memory.trim().trim_matches(|c: char| c == '"' || c == '\''))
}

/// The lines nested under the first line that reads `key` (deeper indented, up to the next
/// line that is not).
fn under<'a>(lines: &[&'a str], key: &str) -> Option<Vec<&'a str>> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let at = lines.iter().position(|l| l.trim() == key)?;
    let depth = indent(lines[at]);
    Some(
        lines[at + 1..]
            .iter()
            .take_while(|l| indent(l) > depth)
            .copied()
            .collect(),
    )
}

/// A Kubernetes memory quantity (`128Mi`, `1Gi`, `500M`, bytes) in KiB.
fn kib(quantity: &str) -> Result<u64, String> {
    let split = quantity.find(|c: char| !c.is_ascii_digit()).unwrap_or(quantity.len());
    let (digits, unit) = quantity.split_at(split);
    let bytes: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return Err(format!("memory limit {quantity:?}: unit not read here")),
    };
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("memory limit {quantity:?} is no number"))?;
    Ok(count * bytes / 1024)
}

#[test]
fn the_memory_bound_follows_the_deployments_limit() {
    let manifest = |limit: &str| {
        format!(
            "spec:\n  template:\n    spec:\n      containers:\n        - name: webhook\n          resources:\n            requests:\n              memory: 48Mi\n            limits:\n              memory: {limit}\n        - name: other\n          resources:\n            limits:\n              memory: 1Gi\n"
        )
    };
    assert_eq!(
        container_memory_limit_kib(&manifest("128Mi"), "webhook"),
        Ok(128 * 1024)
    );
    assert_eq!(
        container_memory_limit_kib(&manifest("\"256Mi\""), "webhook"),
        Ok(256 * 1024)
    );
    assert_eq!(container_memory_limit_kib(&manifest("1Gi"), "other"), Ok(1 << 20));
    assert!(container_memory_limit_kib(&manifest("0.5Gi"), "webhook").is_err());
    assert!(container_memory_limit_kib(&manifest("128Mi"), "absent").is_err());
    // The shipped manifest reads.
    assert!(memory_limit_kib() >= 64 * 1024);
}

impl Webhook {
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

    /// Waits (bounded) until the KSA cache has held every KSA (`/readyz` says it is synced).
    pub async fn wait_synced(&self) {
        self.wait_for(
            || async {
                let (status, text) = self.get_plain("/readyz").await;
                status == 200 && text.starts_with("ready; KSA cache synced")
            },
            "the KSA cache synced",
        )
        .await;
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
    // Every pod the webhook admits passes the guard (its marker is there), whatever its
    // containers were given: the guard's CEL evaluated as the API server does.
    assert_eq!(
        pod["metadata"]["annotations"]["gke-aws-verifier/admitted-by"], "gke-aws-webhook",
        "{pod}"
    );
    assert_eq!(guard(std::slice::from_ref(&pod)), ["admitted"], "{pod}");
    pod
}

/// What the guard (`gke-aws-verifier-inject-guard`) does with each pod's CREATE: "admitted",
/// "refused" or "skipped", by tests/k8s/inject_guard.py (cel-python, from the project's .venv:
/// `make venv`; missing is a failure).
pub fn guard(pods: &[Value]) -> Vec<String> {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make venv`", python.display());
    let mut child = std::process::Command::new(python)
        .arg(root.join("tests/k8s/inject_guard.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inject_guard.py starts");
    let input = serde_json::to_vec(pods).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON list of decisions")
}

pub fn env_value(container: &Value, name: &str) -> Option<Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e.get("value").cloned().unwrap_or(e["valueFrom"].clone()))
}

/// kubernetes-validate from the project's .venv (make venv); missing is a failure.
fn kubernetes_validate() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/kubernetes-validate");
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubernetes-validate"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = std::iter::once(venv).chain(on_path).find(|p| p.exists());
    found.expect("kubernetes-validate is missing (in .venv/bin or on PATH): run `make venv`")
}

/// Every pod passes `kubernetes-validate --strict` for Kubernetes 1.29 (the oldest with native
/// sidecars) and 1.33, the two versions checked at once.
pub async fn assert_valid_strict(pods: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        let file = dir.path().join(format!("pod-{i}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(p).unwrap()).unwrap();
        files.push(file);
    }
    let validate = |version: &'static str| {
        let files = files.clone();
        async move {
            let out = tokio::process::Command::new(kubernetes_validate())
                .args(["--strict", "--quiet", "-k", version])
                .args(&files)
                .kill_on_drop(true)
                .output()
                .await
                .unwrap();
            (version, out)
        }
    };
    let (a, b) = tokio::join!(validate("1.29.0"), validate("1.33.0"));
    for (version, out) in [a, b] {
        assert!(
            out.status.success(),
            "kubernetes-validate {version}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
