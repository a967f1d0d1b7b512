//! The proof that what the webhook writes works: the injected pod run on this machine. The
//! first-token init container and the native sidecar run as the kubelet would run them (their
//! own args and env, the gke-aws-verifier binary in place of the image, folders in place of
//! the volumes, the pod's config annotation written where its downwardAPI volume puts it)
//! against the metadata emulator; then boto3, the aws CLI and the AWS SDK for JavaScript v3,
//! with nothing but a container's env, list buckets in moto with IAM enforcement on, where
//! each role may list only its own bucket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{GSA, Webhook, patched, pod};
use gke_aws_webhook::inject::{CONFIG_DIR, TOKEN_DIR};
use gke_aws_webhook::keys::AWS_CONFIG;
use serde_json::{Value, json};
use testkit::Moto;
use testkit::emulator::{Config, Emulator};
use testkit::kube_api::KubeApi;
use testkit::proxy::FaultProxy;

const DATA: &str = "team-data";
const DATA_KEYS: [&str; 2] = ["readme.txt", "reports/2026-11-01.csv"];
const LOGS: &str = "team-logs";
const LOGS_KEYS: [&str; 1] = ["logs/2026-11-30.log"];

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

/// The JS client script, with its node_modules from `npm ci` (make node-deps); missing fails.
fn js_script() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/node");
    assert!(
        dir.join("node_modules/@aws-sdk/client-s3").exists(),
        "the AWS SDK for JavaScript v3 is missing in {}: run `make node-deps` (npm ci there)",
        dir.display()
    );
    dir.join("list-bucket.mjs")
}

/// The pod's volumes on this machine: one folder for the token, one for the config file.
struct Volumes {
    token: tempfile::TempDir,
    config: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Volumes {
    fn new() -> Volumes {
        let dir = || tempfile::tempdir().unwrap();
        Volumes {
            token: dir(),
            config: dir(),
            home: dir(),
        }
    }

    /// A path inside the pod mapped onto the folders (the config's folder first: the token's
    /// folder name is a prefix of it).
    fn mounted(&self, value: &str) -> String {
        value
            .replace(CONFIG_DIR, self.config.path().to_str().unwrap())
            .replace(TOKEN_DIR, self.token.path().to_str().unwrap())
    }

    /// What the kubelet's downwardAPI volume does: the pod's annotation as a file.
    fn project_config(&self, pod: &Value) {
        let text = pod["metadata"]["annotations"][AWS_CONFIG]
            .as_str()
            .expect("the pod carries its config file");
        std::fs::write(self.config.path().join("config"), self.mounted(text)).unwrap();
    }

    /// A container's literal env, with the mount paths mapped onto the folders.
    fn env_of(&self, container: &Value) -> Vec<(String, String)> {
        let vars = container["env"].as_array().cloned().unwrap_or_default();
        vars.iter()
            .map(|e| {
                let value = e["value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("only literal env here: {e}"));
                (e["name"].as_str().unwrap().to_owned(), self.mounted(value))
            })
            .collect()
    }
}

/// A token writer's command as the kubelet runs it: the image's entrypoint with the args.
fn writer_command(container: &Value, v: &Volumes, metadata_host: &str) -> tokio::process::Command {
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| v.mounted(a.as_str().unwrap()))
        .collect();
    let mut command = tokio::process::Command::new(verifier_bin());
    command
        .args(&args)
        .env_clear()
        .envs(v.env_of(container))
        // On GKE the metadata server answers at metadata.google.internal; here the emulator.
        .env("GCE_METADATA_HOST", metadata_host)
        .kill_on_drop(true);
    command
}

/// The clients, each listing a bucket with an optional profile named on its command line.
#[derive(Debug, Clone, Copy)]
enum Client {
    Boto3,
    AwsCli,
    JsSdk,
}

const BOTO3: &str = "import json, sys, boto3, botocore.exceptions as x\n\
    profile = sys.argv[2] if len(sys.argv) > 2 else None\n\
    s3 = boto3.Session(profile_name=profile).client('s3')\n\
    try:\n    print(json.dumps(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[1]).get('Contents', []))))\n\
    except x.ClientError as e:\n    print(e.response['Error']['Code']); sys.exit(1)\n";

impl Client {
    fn command(self, bucket: &str, profile: Option<&str>) -> (String, Vec<String>) {
        let mut args: Vec<String> = match self {
            Client::Boto3 => vec!["-c".into(), BOTO3.into(), bucket.into()],
            Client::AwsCli => [
                "s3api",
                "list-objects-v2",
                "--bucket",
                bucket,
                "--query",
                "Contents[].Key",
            ]
            .map(String::from)
            .into(),
            Client::JsSdk => vec![js_script().to_str().unwrap().to_owned(), bucket.into()],
        };
        match (self, profile) {
            (Client::AwsCli, Some(p)) => args.extend(["--profile".into(), p.into()]),
            (_, Some(p)) => args.push(p.into()),
            (_, None) => {}
        }
        let program = match self {
            Client::Boto3 => "python3",
            Client::AwsCli => "aws",
            Client::JsSdk => "node",
        };
        (program.to_owned(), args)
    }
}

/// How a client picks its role: the default chain, `--profile` (or its SDK's equivalent), or
/// `AWS_PROFILE`.
#[derive(Debug, Clone, Copy)]
enum Pick<'a> {
    DefaultChain,
    CommandLine(&'a str),
    Environment(&'a str),
}

/// Runs `client` with nothing but `container`'s env (pointed at the AWS endpoint): the keys it
/// listed, or what it said when refused.
async fn list(
    client: Client,
    pick: Pick<'_>,
    bucket: &str,
    container: &Value,
    v: &Volumes,
    endpoint: &str,
) -> Result<Vec<String>, String> {
    let profile = match pick {
        Pick::CommandLine(p) => Some(p),
        _ => None,
    };
    let (program, args) = client.command(bucket, profile);
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", v.home.path())
        // Nothing from this machine's own AWS files, unless the pod says where its file is.
        .env("AWS_CONFIG_FILE", v.home.path().join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", v.home.path().join("no-credentials"))
        .envs(v.env_of(container))
        .env("AWS_ENDPOINT_URL", endpoint)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Pick::Environment(p) = pick {
        command.env("AWS_PROFILE", p);
    }
    let out = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
    }
    let listed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{client:?}: {e}: {stdout}"));
    // The JS script prints {"keys": [...]}, the others the list itself.
    let keys = listed.get("keys").unwrap_or(&listed);
    let mut keys: Vec<String> = serde_json::from_value(keys.clone()).unwrap();
    keys.sort();
    Ok(keys)
}

/// moto with two buckets and a role for each, IAM enforcement on, behind the proxy that lets
/// the (unsigned) AssumeRoleWithWebIdentity through; the metadata emulator; the Kubernetes
/// API stand-in and the webhook. Returns the role ARNs (data, logs).
struct World {
    _moto: Moto,
    proxy: FaultProxy,
    emulator: Emulator,
    api: KubeApi,
    data_role: String,
    logs_role: String,
}

impl World {
    async fn start() -> World {
        let moto = Moto::start();
        moto.create_bucket("us-east-1", DATA, &DATA_KEYS).await;
        moto.create_bucket("us-east-1", LOGS, &LOGS_KEYS).await;
        let role = |name: &'static str, bucket: &'static str| {
            let resources = [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")];
            let moto = &moto;
            async move {
                moto.create_role(
                    name,
                    &["s3:ListBucket", "s3:GetObject"],
                    &[&resources[0], &resources[1]],
                )
                .await
            }
        };
        let data_role = role("team-reader", DATA).await;
        let logs_role = role("team-logs", LOGS).await;
        moto.enforce_iam(true).await;
        let proxy = FaultProxy::start(&moto).await;
        proxy.lift_enforcement_for_sts();
        let emulator = Emulator::start(Config::default())
            .await
            .expect("the metadata emulator starts");
        World {
            _moto: moto,
            proxy,
            emulator,
            api: KubeApi::start().await,
            data_role,
            logs_role,
        }
    }

    /// The patched pod and a running sidecar, after the first token is written.
    async fn run_writers(&self, p: &Value, v: &Volumes) -> tokio::process::Child {
        let (first_token, sidecar) = (&p["spec"]["initContainers"][0], &p["spec"]["initContainers"][1]);
        // The init container writes the first token and exits; only then may the app start.
        let out = writer_command(first_token, v, &self.emulator.host())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "first token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = std::fs::metadata(v.token.path().join("token"))
            .expect("the token file exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "readable by the app whatever its user");
        // The native sidecar runs beside the app for the pod's life.
        writer_command(sidecar, v, &self.emulator.host())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

fn keys(k: &[&str]) -> Result<Vec<String>, String> {
    Ok(k.iter().map(|s| (*s).to_owned()).collect())
}

fn refused(result: &Result<Vec<String>, String>) -> bool {
    matches!(result, Err(e) if e.contains("AccessDenied"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_pod_lists_a_bucket_with_boto3_the_aws_cli_and_the_js_sdk() {
    let world = World::start().await;
    world.api.add_service_account(
        "team",
        "reader",
        &[
            ("amazonaws.com/role-arn", &world.data_role),
            ("iam.gke.io/gcp-service-account", GSA),
            ("amazonaws.com/region", "us-east-1"),
        ],
    );
    let webhook = Webhook::start(&world.api.url(), &[]).await;
    webhook.wait_ready(200).await;
    let pod = pod("reports-7f9c", "reader");
    let p = patched(&pod, &webhook.admit("team", &pod).await);
    let v = Volumes::new();
    let mut sidecar = world.run_writers(&p, &v).await;
    let app = &p["spec"]["containers"][0];
    for client in [Client::Boto3, Client::AwsCli, Client::JsSdk] {
        let own = list(client, Pick::DefaultChain, DATA, app, &v, &world.proxy.endpoint()).await;
        assert_eq!(own, keys(&DATA_KEYS), "{client:?}");
        let other = list(client, Pick::DefaultChain, LOGS, app, &v, &world.proxy.endpoint()).await;
        assert!(
            refused(&other),
            "{client:?}: the role may not list the other bucket: {other:?}"
        );
    }
    assert!(
        sidecar.try_wait().unwrap().is_none(),
        "the sidecar keeps running beside the app"
    );
    sidecar.kill().await.unwrap();
}

/// One pod, two roles: the default one for `app`, `logs` by name; `shipper` is bound to `logs`.
/// Every client reaches each bucket with the role that may read it, by every way of picking
/// the role, and a bound container is refused the other role's bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_roles_each_reach_their_own_bucket_with_every_client_and_every_way_of_choosing() {
    let world = World::start().await;
    for (identity, ksa) in [("gsa", "multi"), ("cluster", "multi-cluster")] {
        world.api.add_service_account(
            "team",
            ksa,
            &[
                ("amazonaws.com/role-arn", &world.data_role),
                ("iam.gke.io/gcp-service-account", GSA),
                ("amazonaws.com/region", "us-east-1"),
                ("gke-aws-verifier/identity", identity),
                ("gke-aws-verifier/role.logs", &world.logs_role),
                ("gke-aws-verifier/region.logs", "us-east-1"),
            ],
        );
    }
    let webhook = Webhook::start(&world.api.url(), &[]).await;
    webhook.wait_ready(200).await;
    let mut pod = pod("exporter-1", "multi");
    pod["metadata"]["annotations"] = json!({ "gke-aws-verifier/profile.shipper": "logs" });
    pod["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "shipper", "image": "fluent:1" }));
    let p = patched(&pod, &webhook.admit("team", &pod).await);
    let v = Volumes::new();
    v.project_config(&p);
    let mut sidecar = world.run_writers(&p, &v).await;
    let (app, shipper) = (&p["spec"]["containers"][0], &p["spec"]["containers"][1]);
    let endpoint = world.proxy.endpoint();
    for client in [Client::Boto3, Client::AwsCli, Client::JsSdk] {
        for (container, pick, own, own_keys, other) in [
            (app, Pick::DefaultChain, DATA, &DATA_KEYS[..], LOGS),
            (app, Pick::CommandLine("logs"), LOGS, &LOGS_KEYS[..], DATA),
            (app, Pick::Environment("logs"), LOGS, &LOGS_KEYS[..], DATA),
            (app, Pick::CommandLine("default"), DATA, &DATA_KEYS[..], LOGS),
            (shipper, Pick::DefaultChain, LOGS, &LOGS_KEYS[..], DATA),
        ] {
            let case = format!("{client:?} in {} with {pick:?}", container["name"]);
            assert_eq!(
                list(client, pick, own, container, &v, &endpoint).await,
                keys(own_keys),
                "{case}"
            );
            let refusal = list(client, pick, other, container, &v, &endpoint).await;
            assert!(refused(&refusal), "{case}: the other role's bucket: {refusal:?}");
        }
    }
    let token = std::fs::read(v.token.path().join("token")).unwrap();
    sidecar.kill().await.unwrap();

    // Cluster mode: the same profiles over the KSA's projected token, and `none` gets no mount.
    // moto checks no token signature, so the token written above stands in for the kubelet's.
    let mut cluster_pod = pod.clone();
    cluster_pod["spec"]["serviceAccountName"] = json!("multi-cluster");
    cluster_pod["metadata"]["annotations"]["gke-aws-verifier/profile.migrate"] = json!("none");
    let p = patched(&cluster_pod, &webhook.admit("team", &cluster_pod).await);
    assert_eq!(
        p["spec"]["initContainers"][0],
        json!({ "name": "migrate", "image": "app:1" })
    );
    let v = Volumes::new();
    v.project_config(&p);
    std::fs::write(v.token.path().join("token"), token).unwrap();
    let shipper = &p["spec"]["containers"][1];
    for client in [Client::Boto3, Client::AwsCli, Client::JsSdk] {
        let listed = list(client, Pick::DefaultChain, LOGS, shipper, &v, &endpoint).await;
        assert_eq!(listed, keys(&LOGS_KEYS), "{client:?} in cluster mode");
    }
}
