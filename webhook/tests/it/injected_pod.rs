//! The proof that what the webhook writes works: the injected pod run on this machine. The
//! first-token init container and the native sidecar run as the kubelet would run them (their
//! own args and env, the gke-aws-verifier binary in place of the image, folders in place of
//! the volumes, the pod's config annotation written where its downwardAPI volume puts it)
//! against the metadata emulator; then boto3, the aws CLI, the AWS SDK for JavaScript v3, the
//! Rust SDK (`examples/list-bucket.rs`, aws-config's default chain) and a client that reads
//! only the two web identity variables, with nothing but a container's env, list buckets in
//! moto with IAM enforcement on, where each role may list only its own bucket: a listing that
//! succeeds names the role that made it. Independent clients run concurrently.

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

/// The Rust client: `examples/list-bucket.rs`, built beside this test's webhook binary (cargo
/// builds a package's examples with its tests).
fn rust_client() -> PathBuf {
    let path = Path::new(crate::common::BIN)
        .with_file_name("examples")
        .join("list-bucket");
    assert!(
        path.exists(),
        "{} is missing: cargo build -p gke-aws-webhook --examples (cargo nextest run builds it)",
        path.display()
    );
    path
}

/// The clients, each listing a bucket with an optional profile named in its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Boto3,
    AwsCli,
    JsSdk,
    RustSdk,
    /// Reads `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` and calls
    /// AssumeRoleWithWebIdentity itself, as the Java SDK v1's `WebIdentityTokenCredentialsProvider`
    /// (Hadoop S3A, Spark) and many tools do: it never reads a config file.
    EnvOnly,
}

/// Every SDK; the env-only client is run where the variables are the point.
const SDKS: [Client; 4] = [Client::Boto3, Client::AwsCli, Client::JsSdk, Client::RustSdk];

/// boto3 by its default chain, or `Session(profile_name=...)`.
const BOTO3: &str = "import json, sys, boto3, botocore.exceptions as x\n\
    profile = sys.argv[2] if len(sys.argv) > 2 else None\n\
    s3 = boto3.Session(profile_name=profile).client('s3')\n\
    try:\n    print(json.dumps(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[1]).get('Contents', []))))\n\
    except x.ClientError as e:\n    print(e.response['Error']['Code']); sys.exit(1)\n";

/// Only the two variables (and the session name), an unsigned AssumeRoleWithWebIdentity, then
/// S3 with the credentials it returned: no credential chain, no config file.
const ENV_ONLY: &str = "import json, os, sys, boto3, botocore, botocore.config, botocore.exceptions as x\n\
    role, token = os.environ['AWS_ROLE_ARN'], open(os.environ['AWS_WEB_IDENTITY_TOKEN_FILE']).read()\n\
    sts = boto3.client('sts', config=botocore.config.Config(signature_version=botocore.UNSIGNED))\n\
    c = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName=os.environ.get('AWS_ROLE_SESSION_NAME', 'env-only'), WebIdentityToken=token)['Credentials']\n\
    s3 = boto3.client('s3', aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])\n\
    try:\n    print(json.dumps(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[1]).get('Contents', []))))\n\
    except x.ClientError as e:\n    print(e.response['Error']['Code']); sys.exit(1)\n";

impl Client {
    /// The program and its arguments; `profile` as the client names one: `--profile`,
    /// `Session(profile_name=)`, `fromIni({ profile })`, `.profile_name()`.
    fn command(self, bucket: &str, profile: Option<&str>) -> (PathBuf, Vec<String>) {
        let mut args: Vec<String> = match self {
            Client::Boto3 => vec!["-c".into(), BOTO3.into(), bucket.into()],
            Client::EnvOnly => vec!["-c".into(), ENV_ONLY.into(), bucket.into()],
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
            Client::RustSdk => vec![bucket.into()],
        };
        match (self, profile) {
            (Client::AwsCli, Some(p)) => args.extend(["--profile".into(), p.into()]),
            (Client::EnvOnly, Some(_)) => panic!("the env-only client names no profile"),
            (_, Some(p)) => args.push(p.into()),
            (_, None) => {}
        }
        let program = match self {
            Client::Boto3 | Client::EnvOnly => PathBuf::from("python3"),
            Client::AwsCli => PathBuf::from("aws"),
            Client::JsSdk => PathBuf::from("node"),
            Client::RustSdk => rust_client(),
        };
        (program, args)
    }
}

/// How a client picks its role: the default chain, a profile named on its command line or in
/// code, or `AWS_PROFILE` set at run time.
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
        // Nothing from this machine's own AWS files, unless the pod says where its file is;
        // no EC2 metadata, so that a client without credentials fails at once.
        .env("AWS_CONFIG_FILE", v.home.path().join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", v.home.path().join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
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
        .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
    }
    let listed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{client:?}: {e}: {stdout}"));
    // The JS and Rust clients print {"keys": [...]}, the others the list itself.
    let keys = listed.get("keys").unwrap_or(&listed);
    let mut keys: Vec<String> = serde_json::from_value(keys.clone()).unwrap();
    keys.sort();
    Ok(keys)
}

/// One client run and what it must give: the bucket's keys, or a refusal.
struct Case<'a> {
    client: Client,
    container: &'a Value,
    pick: Pick<'a>,
    bucket: &'static str,
    /// `Some(keys)`: it lists them; `None`: S3 refuses it (AccessDenied).
    expect: Option<&'static [&'static str]>,
}

/// Runs every case, a few at a time (they are independent), and checks each: the failures of
/// all of them are shown together.
async fn check_all(cases: Vec<Case<'_>>, v: &Volumes, endpoint: &str) {
    use futures_util::StreamExt;
    let failures: Vec<Option<String>> = futures_util::stream::iter(cases.iter())
        .map(|case| async move {
            let result = list(case.client, case.pick, case.bucket, case.container, v, endpoint).await;
            match (case.expect, &result) {
                (Some(expected), Ok(listed)) if listed == expected => None,
                (None, Err(refusal)) if refusal.contains("AccessDenied") => None,
                _ => Some(format!(
                    "{:?} in {} with {:?} on {}: expected {:?}, got {result:?}",
                    case.client, case.container["name"], case.pick, case.bucket, case.expect
                )),
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
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

/// `client` in `container`, picking its role by `pick`, lists `bucket`'s keys.
fn lists<'a>(client: Client, container: &'a Value, pick: Pick<'a>, bucket: &'static str) -> Case<'a> {
    let expect: &'static [&'static str] = if bucket == DATA { &DATA_KEYS } else { &LOGS_KEYS };
    Case {
        client,
        container,
        pick,
        bucket,
        expect: Some(expect),
    }
}

/// `client` in `container`, picking its role by `pick`, is refused `bucket`.
fn is_refused<'a>(client: Client, container: &'a Value, pick: Pick<'a>, bucket: &'static str) -> Case<'a> {
    Case {
        client,
        container,
        pick,
        bucket,
        expect: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_pod_lists_a_bucket_with_every_client() {
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
    webhook.wait_synced().await;
    let pod = pod("reports-7f9c", "reader");
    let p = patched(&pod, &webhook.admit("team", &pod).await);
    let v = Volumes::new();
    let mut sidecar = world.run_writers(&p, &v).await;
    let app = &p["spec"]["containers"][0];
    let mut cases = Vec::new();
    for client in SDKS.into_iter().chain([Client::EnvOnly]) {
        cases.push(lists(client, app, Pick::DefaultChain, DATA));
        cases.push(is_refused(client, app, Pick::DefaultChain, LOGS));
    }
    check_all(cases, &v, &world.proxy.endpoint()).await;
    assert!(
        sidecar.try_wait().unwrap().is_none(),
        "the sidecar keeps running beside the app"
    );
    sidecar.kill().await.unwrap();
}

/// A KSA with the default role (bucket DATA) and the named role `logs` (bucket LOGS), as
/// `identity` mode says.
fn add_two_role_ksa(world: &World, name: &str, identity: &str) {
    world.api.add_service_account(
        "team",
        name,
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

/// One pod, two roles: `app` on the default role, `shipper` bound to `logs`, `tool` with its own
/// `AWS_PROFILE=logs`. Every client in `app` reaches the default role with no flag and `logs`
/// with an explicit profile; the env-only client keeps the default role (adding a role took
/// nothing away); `AWS_PROFILE` at run time switches the JavaScript and Rust SDKs but not
/// botocore (the webhook's README says why). `shipper` and `tool` reach only `logs`. A pod that
/// asks for profile switching at run time gets it in every client. Cluster mode: the same
/// profiles over the KSA's projected token, and `none` gets no mount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_roles_reach_every_client_and_a_second_role_takes_nothing_from_the_first() {
    let world = World::start().await;
    add_two_role_ksa(&world, "multi", "gsa");
    add_two_role_ksa(&world, "multi-cluster", "cluster");
    let webhook = Webhook::start(&world.api.url(), &[]).await;
    webhook.wait_synced().await;
    let endpoint = world.proxy.endpoint();
    let mut pod = pod("exporter-1", "multi");
    pod["metadata"]["annotations"] = json!({ "gke-aws-verifier/profile.shipper": "logs" });
    pod["spec"]["containers"].as_array_mut().unwrap().extend([
        json!({ "name": "shipper", "image": "fluent:1" }),
        json!({ "name": "tool", "image": "tool:1", "env": [{ "name": "AWS_PROFILE", "value": "logs" }] }),
    ]);
    let p = patched(&pod, &webhook.admit("team", &pod).await);
    let mut runtime_pod = pod.clone();
    runtime_pod["metadata"]["name"] = json!("exporter-2");
    runtime_pod["metadata"]["annotations"]["gke-aws-verifier/profile-switching"] = json!("runtime");
    let runtime = patched(&runtime_pod, &webhook.admit("team", &runtime_pod).await);
    let mut cluster_pod = pod.clone();
    cluster_pod["spec"]["serviceAccountName"] = json!("multi-cluster");
    cluster_pod["metadata"]["annotations"]["gke-aws-verifier/profile.migrate"] = json!("none");
    let cluster = patched(&cluster_pod, &webhook.admit("team", &cluster_pod).await);
    let patched_pods = [p.clone(), runtime.clone(), cluster.clone()];
    let validated = crate::common::assert_valid_strict(&patched_pods);

    let v = Volumes::new();
    v.project_config(&p);
    let mut sidecar = world.run_writers(&p, &v).await;
    let (app, shipper, tool) = (
        &p["spec"]["containers"][0],
        &p["spec"]["containers"][1],
        &p["spec"]["containers"][2],
    );
    let logs = Pick::CommandLine("logs");
    let mut cases = vec![
        lists(Client::EnvOnly, app, Pick::DefaultChain, DATA),
        is_refused(Client::EnvOnly, app, Pick::DefaultChain, LOGS),
    ];
    for client in SDKS {
        // The default container: the default role with no flag, `logs` when named.
        cases.push(lists(client, app, Pick::DefaultChain, DATA));
        cases.push(lists(client, app, logs, LOGS));
        cases.push(is_refused(client, app, logs, DATA));
        // AWS_PROFILE at run time beside the web identity variables: the JavaScript and Rust
        // SDKs read the profile first, botocore lets AWS_ROLE_ARN win.
        let switches = matches!(client, Client::JsSdk | Client::RustSdk);
        let reached = if switches { LOGS } else { DATA };
        cases.push(lists(client, app, Pick::Environment("logs"), reached));
        // Bound to `logs`: that role only.
        cases.push(lists(client, shipper, Pick::DefaultChain, LOGS));
        cases.push(is_refused(client, shipper, Pick::DefaultChain, DATA));
        // Its own AWS_PROFILE: that profile.
        cases.push(lists(client, tool, Pick::DefaultChain, LOGS));
    }
    // The runtime pod's token: the same KSA's, so the token written above stands in for it.
    let (runtime_app, runtime_config) = (&runtime["spec"]["containers"][0], Volumes::new());
    runtime_config.project_config(&runtime);
    std::fs::copy(v.token.path().join("token"), runtime_config.token.path().join("token")).unwrap();
    let mut runtime_cases = Vec::new();
    for client in SDKS {
        // As before the rule: AWS_PROFILE set at run time picks the role in every client.
        runtime_cases.push(lists(client, runtime_app, Pick::Environment("logs"), LOGS));
        runtime_cases.push(lists(client, runtime_app, Pick::DefaultChain, DATA));
    }
    tokio::join!(
        check_all(cases, &v, &endpoint),
        check_all(runtime_cases, &runtime_config, &endpoint),
        validated,
    );
    let token = std::fs::read(v.token.path().join("token")).unwrap();
    sidecar.kill().await.unwrap();

    // Cluster mode: moto checks no token signature, so the token written above stands in for
    // the kubelet's projected one.
    assert_eq!(
        cluster["spec"]["initContainers"][0],
        json!({ "name": "migrate", "image": "app:1" }),
        "none: nothing at all"
    );
    let v = Volumes::new();
    v.project_config(&cluster);
    std::fs::write(v.token.path().join("token"), token).unwrap();
    let (app, shipper) = (&cluster["spec"]["containers"][0], &cluster["spec"]["containers"][1]);
    let mut cases = vec![lists(Client::EnvOnly, app, Pick::DefaultChain, DATA)];
    for client in SDKS {
        cases.push(lists(client, shipper, Pick::DefaultChain, LOGS));
    }
    check_all(cases, &v, &endpoint).await;
}
