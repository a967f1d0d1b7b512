//! Each command's own exit-code table, for its `--help` and its docs page: the codes it can
//! end with, from the stages it runs ([`Stage::exit_code`]) and the failures every command
//! shares ([`crate::error::Failure`]), said in the command's words.
//!
//! One number means one thing across the binary: 0 ok, 1 unexpected, 2 bad input, 3 the
//! identity stage, 4 STS (and `explain`'s refusal), 5 S3, 6 the audit's findings.

use crate::exit_code::ExitCode;
use crate::stage::Stage;

/// A command of the binary (`gke-aws-verifier` alone is [`Program::Any`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The binary as a whole: every code, in general words.
    Any,
    Verify,
    CredentialProcess,
    TokenFile,
    Explain,
    Audit,
}

impl Program {
    /// Every command, for the tests and the docs.
    pub const ALL: [Program; 6] = [
        Program::Any,
        Program::Verify,
        Program::CredentialProcess,
        Program::TokenFile,
        Program::Explain,
        Program::Audit,
    ];

    /// The subcommand's name (`None` for the binary as a whole).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Program::Any => None,
            Program::Verify => Some("verify"),
            Program::CredentialProcess => Some("credential-process"),
            Program::TokenFile => Some("token-file"),
            Program::Explain => Some("explain"),
            Program::Audit => Some("audit"),
        }
    }

    /// The stages the command runs; their failures end it with their stage's code.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Program::Any | Program::Verify => &[Stage::GcpIdentity, Stage::ClusterIdentity, Stage::Sts, Stage::S3],
            Program::CredentialProcess => &[Stage::GcpIdentity, Stage::ClusterIdentity, Stage::Sts],
            Program::TokenFile => &[Stage::GcpIdentity],
            // The claims (metadata server, token file), then IAM's reads, counted as STS's side.
            Program::Explain => &[Stage::GcpIdentity, Stage::Sts],
            // The audit's failed reads are findings (CannotRead), not stages.
            Program::Audit => &[],
        }
    }

    /// The codes the command can end with, in numeric order.
    pub fn codes(self) -> Vec<ExitCode> {
        let mut codes = vec![ExitCode::Success, ExitCode::Unexpected, ExitCode::BadInput];
        codes.extend(self.stages().iter().map(|stage| stage.exit_code()));
        if matches!(self, Program::Any | Program::Audit) {
            codes.push(ExitCode::Findings);
        }
        codes.sort_by_key(|code| i32::from(*code));
        codes.dedup();
        codes
    }

    /// What `code` means for this command.
    pub fn meaning(self, code: ExitCode) -> &'static str {
        match (self, code) {
            (Program::Verify, ExitCode::Success) => "access proven",
            (Program::CredentialProcess, ExitCode::Success) => "credentials printed",
            (Program::TokenFile, ExitCode::Success) => {
                "the token was written (--once), or SIGTERM/SIGINT ended the loop"
            }
            (Program::TokenFile, ExitCode::GcpIdentity) => "the identity stage failed (metadata server, token)",
            (Program::Explain, ExitCode::Success) => "STS would accept the token",
            (Program::Explain, ExitCode::GcpIdentity) => {
                "the claims could not be obtained from the metadata server or the token file"
            }
            (Program::Explain, ExitCode::Sts) => {
                "STS would refuse the token (or the verdict depends on what is not evaluated), or the IAM reads failed"
            }
            (Program::Audit, ExitCode::Success) => "nothing at or above --fail-on was found",
            (Program::Audit, ExitCode::BadInput) => "bad input, found before any request to a cluster or IAM",
            (_, code) => code.meaning(),
        }
    }

    /// `--help`'s closing section: `Exit codes:` and one code a line.
    pub fn help(self) -> String {
        let rows: String = self
            .codes()
            .into_iter()
            .map(|code| format!("  {}  {}\n", i32::from(code), self.meaning(code)))
            .collect();
        format!("Exit codes:\n{rows}")
    }

    /// The same table as Markdown rows (`| 0 | access proven |`), as the docs show it.
    pub fn markdown_rows(self) -> Vec<String> {
        self.codes()
            .into_iter()
            .map(|code| format!("| {} | {} |", i32::from(code), self.meaning(code)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The docs page of each command repeats its table: it must say what the code says.
    #[test]
    fn each_commands_docs_say_what_its_codes_mean() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (program, page) in [
            (Program::Verify, "docs/verify.md"),
            (Program::Explain, "docs/explain.md"),
            (Program::Audit, "docs/audit.md"),
            (Program::CredentialProcess, "docs/credential-helpers.md"),
            (Program::TokenFile, "docs/credential-helpers.md"),
        ] {
            let docs = std::fs::read_to_string(root.join(page)).expect(page);
            for row in program.markdown_rows() {
                assert!(docs.contains(&row), "{page} lacks the row {row:?} of {program:?}");
            }
        }
    }

    #[test]
    fn one_number_one_meaning_across_commands() {
        assert_eq!(
            Program::Any.codes().into_iter().map(i32::from).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5, 6]
        );
        for program in Program::ALL {
            for code in program.codes() {
                assert!(Program::Any.codes().contains(&code), "{program:?}: {code:?}");
            }
        }
        assert_eq!(
            Program::Audit.codes().into_iter().map(i32::from).collect::<Vec<_>>(),
            vec![0, 1, 2, 6]
        );
    }

    /// `explain` exits by its verdict: every verdict's code is in its table.
    #[test]
    fn explain_table_covers_every_verdict() {
        use crate::explain::ExplainReport;
        use trust_policy::Verdict;
        for verdict in [Verdict::Accept, Verdict::Refuse, Verdict::NotEvaluated] {
            let report = ExplainReport {
                verdict: Some(verdict),
                ..ExplainReport::default()
            };
            assert!(Program::Explain.codes().contains(&report.exit_code()), "{verdict:?}");
        }
    }
}
