//! The real chain on this machine: moto as AWS (behind the fault proxy), the metadata
//! emulator as GKE's metadata server, and the verifier binary run as a user would run it.
#![allow(dead_code)] // each test file uses a different part

use std::process::Stdio;

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

    /// `gke-aws-verifier ARGS` with the environment a pod on GKE would have, pointed at the
    /// local peers. Stray AWS keys are set on purpose: the verifier must ignore them.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = isolated_command(args, self.home.path());
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

    /// `verify --format json` with the bucket set, plus `extra` flags.
    pub async fn verify(&self, extra: &[&str]) -> Run {
        let mut args = vec!["verify", "--format", "json", "--bucket", BUCKET];
        args.extend_from_slice(extra);
        Run::of(self.command(&args)).await
    }
}

/// The binary with a clean environment: no AWS settings or profiles from the machine.
pub fn isolated_command(args: &[&str], home: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
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
        run.assert_no_secrets(&run.stdout);
        run.assert_no_secrets(&run.stderr);
        run
    }

    /// Runs a credential helper: its stdout carries credentials by design, its stderr never.
    pub async fn helper(command: tokio::process::Command) -> Run {
        let run = Self::unchecked(command).await;
        run.assert_no_secrets(&run.stderr);
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

    /// A JWT always starts with `eyJ` (base64 of `{"`); STS access key ids with `ASIA`.
    /// Neither may appear in what the verifier prints.
    fn assert_no_secrets(&self, output: &str) {
        assert!(!output.contains("eyJ"), "a token leaked:\n{output}");
        assert!(!output.contains("ASIA"), "an access key id leaked:\n{output}");
        assert!(!output.contains("stray-secret"), "a stray secret leaked:\n{output}");
    }
}

pub fn faults() -> Faults {
    Faults::default()
}
