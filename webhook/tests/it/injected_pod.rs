//! The proof that what the webhook writes works: the injected pod run on this machine. The
//! first-token init container and the native sidecar run as the kubelet would run them (their
//! own args and env, the gke-aws-verifier binary in place of the image, a folder in place of
//! the volume) against the metadata emulator; then boto3 and the aws CLI, with nothing but the
//! application container's env, list a bucket in moto.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{GSA, Webhook, patched, pod};
use gke_aws_webhook::inject::TOKEN_DIR;
use serde_json::Value;
use testkit::Moto;
use testkit::emulator::{Config, Emulator};
use testkit::kube_api::KubeApi;

const BUCKET: &str = "team-data";
const KEYS: [&str; 2] = ["reports/2026-11-01.csv", "readme.txt"];

/// The sidecar's binary: GKE_AWS_VERIFIER_BIN (e.g. the release build), else the build beside
/// this test's webhook binary.
fn verifier_bin() -> PathBuf {
    let path = std::env::var_os("GKE_AWS_VERIFIER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(crate::common::BIN).with_file_name("gke-aws-verifier"));
    assert!(
        path.exists(),
        "{} is missing: cargo build -p gke-aws-verifier (make test builds it)",
        path.display()
    );
    path
}

/// A container's literal env, with the volume's mount path mapped onto `volume`.
fn env_of(container: &Value, volume: &Path) -> Vec<(String, String)> {
    let vars = container["env"].as_array().cloned().unwrap_or_default();
    vars.iter()
        .map(|e| {
            let value = e["value"]
                .as_str()
                .unwrap_or_else(|| panic!("only literal env here: {e}"));
            (e["name"].as_str().unwrap().to_owned(), mounted(value, volume))
        })
        .collect()
}

fn mounted(value: &str, volume: &Path) -> String {
    value.replace(TOKEN_DIR, volume.to_str().unwrap())
}

/// A container's command as the kubelet runs it: the image's entrypoint with the args.
fn container_command(container: &Value, volume: &Path, metadata_host: &str) -> tokio::process::Command {
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| mounted(a.as_str().unwrap(), volume))
        .collect();
    let mut command = tokio::process::Command::new(verifier_bin());
    command
        .args(&args)
        .env_clear()
        .envs(env_of(container, volume))
        // On GKE the metadata server answers at metadata.google.internal; here the emulator.
        .env("GCE_METADATA_HOST", metadata_host)
        .kill_on_drop(true);
    command
}

/// The application container's env, and only it, pointed at moto.
fn app_command(
    program: &str,
    args: &[&str],
    app: &Value,
    volume: &Path,
    home: &Path,
    moto: &Moto,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env_of(app, volume))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .kill_on_drop(true);
    command
}

async fn output(mut command: tokio::process::Command, what: &str) -> String {
    let out = command
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{what} failed ({}): {stdout}\n{stderr}",
        out.status
    );
    stdout.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_pod_lists_a_bucket_with_boto3_and_the_aws_cli() {
    let moto = Moto::start();
    moto.create_bucket("us-east-1", BUCKET, &KEYS).await;
    let role_arn = moto
        .create_role("team-reader", &["s3:ListBucket"], &[&format!("arn:aws:s3:::{BUCKET}")])
        .await;
    let emulator = Emulator::start(Config::default())
        .await
        .expect("the metadata emulator starts");
    let api = KubeApi::start().await;
    api.add_service_account(
        "team",
        "reader",
        &[
            ("amazonaws.com/role-arn", &role_arn),
            ("iam.gke.io/gcp-service-account", GSA),
            ("amazonaws.com/region", "us-east-1"),
        ],
    );
    let webhook = Webhook::start(&api.url(), &[]).await;
    webhook.wait_ready(200).await;
    let pod = pod("reports-7f9c", "reader");
    let p = patched(&pod, &webhook.admit("team", &pod).await);
    let (first_token, sidecar, app) = (
        &p["spec"]["initContainers"][0],
        &p["spec"]["initContainers"][1],
        &p["spec"]["containers"][0],
    );

    let volume = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // The init container writes the first token and exits; only then may the app start.
    output(
        container_command(first_token, volume.path(), &emulator.host()),
        "the first-token init container",
    )
    .await;
    let token = volume.path().join("token");
    let mode = std::fs::metadata(&token)
        .expect("the token file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "readable by the app whatever its user");
    // The native sidecar runs beside the app for the pod's life.
    let mut running_sidecar = container_command(sidecar, volume.path(), &emulator.host())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let script = format!(
        "import boto3; print(sorted(o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='{BUCKET}')['Contents']))"
    );
    let listed = output(
        app_command("python3", &["-c", &script], app, volume.path(), home.path(), &moto),
        "boto3",
    )
    .await;
    let mut expected: Vec<String> = KEYS.iter().map(|k| format!("'{k}'")).collect();
    expected.sort();
    assert_eq!(listed.trim(), format!("[{}]", expected.join(", ")));

    let args = [
        "s3api",
        "list-objects-v2",
        "--bucket",
        BUCKET,
        "--query",
        "Contents[].Key",
        "--output",
        "text",
    ];
    let listed = output(
        app_command("aws", &args, app, volume.path(), home.path(), &moto),
        "the aws CLI",
    )
    .await;
    let mut keys: Vec<&str> = listed.split_whitespace().collect();
    keys.sort();
    let mut expected = KEYS.to_vec();
    expected.sort();
    assert_eq!(keys, expected);

    assert!(
        running_sidecar.try_wait().unwrap().is_none(),
        "the sidecar keeps running beside the app"
    );
    running_sidecar.kill().await.unwrap();
}
