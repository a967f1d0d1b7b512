//! The stages of the chain, how one runs, and what can go wrong, in the words the report
//! and the exit code need.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::exit_code::ExitCode;

/// The stages of the chain, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    GcpIdentity,
    Sts,
    S3,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::GcpIdentity => "gcp_identity",
            Stage::Sts => "sts",
            Stage::S3 => "s3",
        }
    }

    /// Runs this stage's `work` until the run's `deadline`, logs the outcome, and returns it
    /// with the time it took in milliseconds.
    pub async fn run<T>(
        self,
        deadline: Instant,
        timeout: Duration,
        work: impl Future<Output = Result<T, StageError>>,
    ) -> (Result<T, StageError>, u64) {
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(StageError::timed_out(self, timeout)));
        let elapsed = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => tracing::info!(stage = self.name(), duration_ms = elapsed, "stage passed"),
            Err(e) => {
                tracing::error!(stage = self.name(), code = %e.code, duration_ms = elapsed, "stage failed: {}", e.message)
            }
        }
        (result, elapsed)
    }

    pub fn exit_code(self) -> ExitCode {
        match self {
            Stage::GcpIdentity => ExitCode::GcpIdentity,
            Stage::Sts => ExitCode::Sts,
            Stage::S3 => ExitCode::S3,
        }
    }
}

/// A stage's failure, diagnosed: a stable `code`, what happened, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageError {
    pub stage: Stage,
    pub code: String,
    pub message: String,
    pub hint: String,
}

impl StageError {
    pub fn new(stage: Stage, code: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            stage,
            code: code.to_owned(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The run's `--timeout` ran out while this stage was still working (or retrying).
    pub fn timed_out(stage: Stage, timeout: std::time::Duration) -> Self {
        Self::new(
            stage,
            "Timeout",
            format!(
                "the {} stage did not finish within --timeout ({})",
                stage.name(),
                humantime::format_duration(timeout)
            ),
            "The peer was unreachable or kept failing with retryable errors until the deadline; \
             the log lines above show each retry. Check the network path (NetworkPolicy egress, proxies) \
             or raise --timeout.",
        )
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {}: {}\n  hint: {}",
            self.stage.name(),
            self.code,
            self.message,
            self.hint
        )
    }
}

/// Bad input, caught before any network call: names the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The flag (or environment variable) at fault, e.g. `--role-arn`.
    pub field: &'static str,
    /// What is wrong and what a valid value looks like.
    pub problem: String,
}

impl InputError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.problem)
    }
}

/// Everything a subcommand can end with, short of success.
#[derive(Debug)]
pub enum Failure {
    Input(InputError),
    Stage(StageError),
    Unexpected(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Input(_) => ExitCode::BadInput,
            Failure::Stage(e) => e.stage.exit_code(),
            Failure::Unexpected(_) => ExitCode::Unexpected,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Input(e) => e.fmt(f),
            Failure::Stage(e) => e.fmt(f),
            Failure::Unexpected(e) => write!(f, "unexpected error: {e}"),
        }
    }
}

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Failure::Input(e)
    }
}

impl From<StageError> for Failure {
    fn from(e: StageError) -> Self {
        Failure::Stage(e)
    }
}
