//! The stages of the chain, how one runs (bounded by the run's deadline, timed, logged) and
//! how one fails ([`StageError`]).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::exit_code::ExitCode;
use crate::redact::bounded;

/// The stages of the chain, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// GSA mode: a Google ID token (metadata server, or a file holding one).
    GcpIdentity,
    /// Cluster mode: a projected Kubernetes service-account token, and its issuer.
    ClusterIdentity,
    Sts,
    S3,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::GcpIdentity => "gcp_identity",
            Stage::ClusterIdentity => "cluster_identity",
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
        self.run_named(deadline, timeout, work, |_| self).await
    }

    /// [`Stage::run`] for a stage whose name its outcome decides, as the report names it: a
    /// token file holds a Google or a Kubernetes token (`named` says which stage it passed as),
    /// and a failure carries its own stage. The log and the report then say the same name.
    pub async fn run_named<T>(
        self,
        deadline: Instant,
        timeout: Duration,
        work: impl Future<Output = Result<T, StageError>>,
        named: impl FnOnce(&T) -> Stage,
    ) -> (Result<T, StageError>, u64) {
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(StageError::timed_out(self, timeout)));
        let elapsed = started.elapsed().as_millis() as u64;
        match &result {
            Ok(value) => tracing::info!(stage = named(value).name(), duration_ms = elapsed, "stage passed"),
            Err(e) => {
                tracing::error!(stage = e.stage.name(), code = %e.code, duration_ms = elapsed, "stage failed: {}", e.message)
            }
        }
        (result, elapsed)
    }

    pub fn exit_code(self) -> ExitCode {
        match self {
            Stage::GcpIdentity | Stage::ClusterIdentity => ExitCode::GcpIdentity,
            Stage::Sts => ExitCode::Sts,
            Stage::S3 => ExitCode::S3,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
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

/// Longest message or hint a diagnosis carries: the hints that print a trust condition are
/// the longest, well under this.
pub const MAX_DIAGNOSIS_CHARS: usize = 4000;

impl StageError {
    /// Every message and hint is redacted and bounded here, whatever built it: the last line
    /// of defence between a peer's text and the report or the logs.
    pub fn new(stage: Stage, code: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            stage,
            code: bounded(code, MAX_DIAGNOSIS_CHARS),
            message: bounded(&message.into(), MAX_DIAGNOSIS_CHARS),
            hint: bounded(&hint.into(), MAX_DIAGNOSIS_CHARS),
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

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
