//! The process exit codes scripts and the CronJob rely on.

/// How a run ended. The numbers are part of the interface: keep them stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Access proven (or credentials served).
    Success,
    /// Anything nobody planned for; a bug report is welcome.
    Unexpected,
    /// Bad input or configuration, found before any network call.
    BadInput,
    /// The Google identity stage failed (metadata server, token).
    GcpIdentity,
    /// The AWS STS stage failed.
    Sts,
    /// The S3 stage failed.
    S3,
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        match code {
            ExitCode::Success => 0,
            ExitCode::Unexpected => 1,
            ExitCode::BadInput => 2,
            ExitCode::GcpIdentity => 3,
            ExitCode::Sts => 4,
            ExitCode::S3 => 5,
        }
    }
}
