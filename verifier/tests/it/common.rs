//! The real chain on this machine: moto as AWS (behind the fault proxy), the metadata
//! emulator as GKE's metadata server, and the verifier binary run as a user would run it.
//!
//! Secret hygiene is checked on every run, at the most verbose log level: each output as it
//! comes ([`Run`]), and when a test's [`Chain`] is dropped, every file under its HOME and
//! every output against the exact secrets that passed through the proxy.

use std::fs::Permissions;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use serde_json::Value;
use testkit::emulator::{Config, Emulator, Faults};
use testkit::{FaultProxy, Moto};

pub const BIN: &str = env!("CARGO_BIN_EXE_gke-aws-verifier");
pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "team-data";
pub const OTHER_BUCKET: &str = "other-team-data";
/// Granted to the role but never created, as when a bucket is deleted behind Terraform's back.
pub const MISSING_BUCKET: &str = "team-data-archive";
pub const KEYS: [&str; 3] = ["reports/2026-11-01.csv", "reports/2026-11-02.csv", "readme.txt"];

/// The outputs that must hold no secret, kept for the exact-secret check at the end of a test.
static CHECKED_OUTPUTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// moto with a readable bucket, a bucket the role may not read, and the role; the proxy in
/// front; the emulator beside. IAM enforcement is on, so S3 checks the role's policy.
pub struct Chain {
    pub moto: Moto,
    pub proxy: FaultProxy,
    pub emulator: Emulator,
    pub role_arn: String,
    pub home: tempfile::TempDir,
}

impl Chain {
    pub async fn start() -> Chain {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> Chain {
        let moto = Moto::start();
        moto.create_bucket(REGION, BUCKET, &KEYS).await;
        moto.create_bucket(REGION, OTHER_BUCKET, &["secret.txt"]).await;
        let granted = [
            format!("arn:aws:s3:::{BUCKET}"),
            format!("arn:aws:s3:::{MISSING_BUCKET}"),
        ];
        let role_arn = moto
            .create_role("team-reader", &["s3:ListBucket"], &[&granted[0], &granted[1]])
            .await;
        moto.enforce_iam(true).await;
        let proxy = FaultProxy::start(&moto).await;
        proxy.lift_enforcement_for_sts();
        let emulator = Emulator::start(config).await.expect("emulator starts");
        Chain {
            moto,
            proxy,
            emulator,
            role_arn,
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.emulator.set_faults(faults);
    }

    /// Where tests keep the credential cache: one of the two places secrets may be written.
    pub fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    /// Where tests keep the token file: the other place.
    pub fn token_path(&self) -> PathBuf {
        self.home.path().join("token")
    }

    /// Checks `text`, which left the verifier some other way (a push to a gateway), for the
    /// secrets that passed through the proxy and for what any secret looks like.
    #[track_caller]
    pub fn assert_no_secret_in(&self, text: &str, place: &str) {
        assert_free_of_secrets(text, &self.proxy.secrets_seen(), place);
    }

    /// Secrets are in the helpers' stdout, the credential cache and the token file, and in
    /// nothing else: no other output, no other file under HOME (a temporary file left behind).
    /// The cache entries and the token file that remain are whole and unexpired.
    pub fn assert_secrets_only_where_meant(&self) {
        let secrets = self.proxy.secrets_seen();
        for output in CHECKED_OUTPUTS.lock().unwrap().iter() {
            assert_free_of_secrets(output, &secrets, "an output");
        }
        let now = gke_aws_verifier::clock::unix_now();
        for file in files_under(self.home.path()) {
            if file == self.home.path().join(BINARY_COPY) {
                continue;
            }
            let contents = std::fs::read(&file).unwrap();
            let in_cache = file.parent() == Some(self.cache_dir().as_path());
            match file.extension().and_then(|e| e.to_str()) {
                Some("json") if in_cache => {
                    let entry = gke_aws_verifier::credentials::cache::Entry::parse(&contents)
                        .unwrap_or_else(|| panic!("partial or corrupt cache entry {}", file.display()));
                    assert!(entry.expires_at > now, "expired cache entry {}", file.display());
                }
                Some("lock") if in_cache => assert!(contents.is_empty(), "{}", file.display()),
                _ if file == self.token_path() => {
                    let token =
                        gke_aws_verifier::identity::id_token::IdToken::decode(&String::from_utf8_lossy(&contents))
                            .unwrap_or_else(|e| panic!("partial or corrupt token file: {e}"));
                    assert!(token.claims.exp > now, "expired token in {}", file.display());
                }
                _ => assert_free_of_secrets(
                    &String::from_utf8_lossy(&contents),
                    &secrets,
                    &file.display().to_string(),
                ),
            }
        }
    }

    /// `gke-aws-verifier ARGS` with the environment a pod on GKE would have, pointed at the
    /// local peers. Stray AWS keys are set on purpose: the verifier must ignore them.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        self.command_of(Path::new(BIN), args)
    }

    pub fn command_of(&self, program: &Path, args: &[&str]) -> tokio::process::Command {
        let mut command = isolated_command_of(program, args, self.home.path());
        command
            .env("GCE_METADATA_HOST", self.emulator.host())
            .env("AWS_ENDPOINT_URL", self.proxy.endpoint())
            .env("AWS_REGION", REGION)
            .env("AWS_ROLE_ARN", &self.role_arn)
            .env("HOSTNAME", "verify-job-x7k2p")
            // The most verbose level, so that every test also checks that nothing leaks.
            .env("VERIFY_LOG_LEVEL", "trace")
            .env("AWS_ACCESS_KEY_ID", "AKIASTRAYKEY0000000")
            .env("AWS_SECRET_ACCESS_KEY", "stray-secret-that-must-not-be-used");
        command
    }

    /// [`command`](Chain::command) as a user whom file permissions apply to. Root ignores
    /// them, so as root the command runs as `nobody`, from a copy of the binary that
    /// `nobody` can reach wherever the checkout is, and HOME becomes readable by all.
    pub fn unprivileged_command(&self, args: &[&str]) -> tokio::process::Command {
        if !running_as_root() {
            return self.command(args);
        }
        let program = self.home.path().join(BINARY_COPY);
        // Never copy onto an earlier link: that would truncate the binary itself.
        if !program.exists() && std::fs::hard_link(BIN, &program).is_err() {
            std::fs::copy(BIN, &program).unwrap();
        }
        std::fs::set_permissions(self.home.path(), Permissions::from_mode(0o755)).unwrap();
        let mut command = self.command_of(&program, args);
        command.uid(NOBODY).gid(NOBODY);
        command
    }

    /// Starts a long-running helper whose stdout and stderr go to a file in HOME, so that
    /// the check at the end of the test reads them too.
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        let log = std::fs::File::create(self.home.path().join(format!("{}.log", args[0]))).unwrap();
        self.command(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// `verify --format json` with the bucket set, plus `extra` flags.
    pub async fn verify(&self, extra: &[&str]) -> Run {
        let mut args = vec!["verify", "--format", "json", "--bucket", BUCKET];
        args.extend_from_slice(extra);
        Run::of(self.command(&args)).await
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        // A failed test has said what failed; a second panic would abort the process.
        if !std::thread::panicking() {
            self.assert_secrets_only_where_meant();
        }
    }
}

/// `127.0.0.1:PORT` where nothing listens (a port just freed).
pub fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

pub const NOBODY: u32 = 65534;
/// The copy of the binary that `nobody` runs, in HOME.
const BINARY_COPY: &str = "gke-aws-verifier";

pub fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// Every file below `folder`, at any depth.
fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A JWT always starts with `eyJ` (base64 of `{"`); STS access key ids with `ASIA`. Neither,
/// nor the stray key the tests set, nor any of `secrets`, may appear in `text`.
#[track_caller]
fn assert_free_of_secrets(text: &str, secrets: &[String], place: &str) {
    assert!(!text.contains("eyJ"), "a token leaked into {place}:\n{text}");
    assert!(!text.contains("ASIA"), "an access key id leaked into {place}:\n{text}");
    assert!(
        !text.contains("stray-secret"),
        "a stray secret leaked into {place}:\n{text}"
    );
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret that passed through STS leaked into {place}:\n{text}"
        );
    }
}

/// The binary with a clean environment: no AWS settings or profiles from the machine.
pub fn isolated_command(args: &[&str], home: &Path) -> tokio::process::Command {
    isolated_command_of(Path::new(BIN), args, home)
}

fn isolated_command_of(program: &Path, args: &[&str], home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs a command whose output must hold no secret at all.
    pub async fn of(command: tokio::process::Command) -> Run {
        let run = Self::unchecked(command).await;
        checked(&run.stdout);
        checked(&run.stderr);
        run
    }

    /// Runs a credential helper: its stdout carries credentials by design, its stderr never.
    pub async fn helper(command: tokio::process::Command) -> Run {
        let run = Self::unchecked(command).await;
        checked(&run.stderr);
        run
    }

    async fn unchecked(mut command: tokio::process::Command) -> Run {
        let output = command.output().await.expect("the command runs");
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The JSON report on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The report's `error` object, after checking the exit code and the error code.
    #[track_caller]
    pub fn expect_failure(&self, exit_code: i32, code: &str) -> Value {
        assert_eq!(
            self.code, exit_code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let report = self.json();
        assert_eq!(report["ok"], false);
        assert_eq!(report["error"]["code"], code, "report: {report:#}");
        report["error"].clone()
    }
}

/// Checks an output now for what any secret looks like, and keeps it for the exact check.
#[track_caller]
fn checked(output: &str) {
    assert_free_of_secrets(output, &[], "an output");
    CHECKED_OUTPUTS.lock().unwrap().push(output.to_owned());
}

pub fn faults() -> Faults {
    Faults::default()
}
