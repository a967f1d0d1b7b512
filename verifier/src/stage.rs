//! The stages of the chain and how one runs: bounded by the run's deadline, timed, logged.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::error::StageError;
use crate::exit_code::ExitCode;

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
