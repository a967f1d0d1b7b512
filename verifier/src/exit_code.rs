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

impl ExitCode {
    /// Every code, in numeric order.
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Success,
        ExitCode::Unexpected,
        ExitCode::BadInput,
        ExitCode::GcpIdentity,
        ExitCode::Sts,
        ExitCode::S3,
    ];

    /// What the code means, as `--help`, the metrics' help text and the docs say it.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "access proven (or credentials served)",
            ExitCode::Unexpected => "unexpected (a bug, or stdout could not be written)",
            ExitCode::BadInput => "bad input or configuration, found before any network call",
            ExitCode::GcpIdentity => "the identity stage failed (metadata server, token file, token, issuer)",
            ExitCode::Sts => "the STS stage failed",
            ExitCode::S3 => "the S3 stage failed",
        }
    }

    /// The table, one code a line: the single source for `--help` and the docs' table.
    pub fn table() -> String {
        Self::ALL
            .iter()
            .map(|code| format!("  {}  {}\n", i32::from(*code), code.meaning()))
            .collect()
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/verify.md repeats the table for its readers: it must say what the code says.
    #[test]
    fn the_docs_say_what_the_codes_mean() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let docs = std::fs::read_to_string(root.join("docs/verify.md")).expect("docs/verify.md");
        for code in ExitCode::ALL {
            let row = format!("| {} | {} |", i32::from(code), code.meaning());
            assert!(docs.contains(&row), "docs/verify.md lacks the row {row:?}");
        }
    }
}
