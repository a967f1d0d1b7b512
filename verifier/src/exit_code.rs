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
    /// `audit`: something at or above `--fail-on` was found.
    Findings,
}

impl ExitCode {
    /// Every code, in numeric order.
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Success,
        ExitCode::Unexpected,
        ExitCode::BadInput,
        ExitCode::GcpIdentity,
        ExitCode::Sts,
        ExitCode::S3,
        ExitCode::Findings,
    ];

    /// What the code means in general words; each command's table ([`crate::exit_table`])
    /// may say it in its own.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success (access proven, credentials served, STS would accept, nothing found)",
            ExitCode::Unexpected => "unexpected (a bug, or stdout could not be written)",
            ExitCode::BadInput => "bad input or configuration, found before any network call",
            ExitCode::GcpIdentity => "the identity stage failed (metadata server, token file, token, issuer)",
            ExitCode::Sts => "the STS stage failed",
            ExitCode::S3 => "the S3 stage failed",
            ExitCode::Findings => "audit: something at or above --fail-on was found",
        }
    }
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
            ExitCode::Findings => 6,
        }
    }
}
