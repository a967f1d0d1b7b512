//! What can go wrong, in the words the report and the exit code need.

use std::fmt;

use serde::Serialize;

use crate::exit_code::ExitCode;
use crate::redact::bounded;
// The stage's failure lives beside the stages (`stage.rs`), which need it to run one; it is
// named here too, beside the other failures.
pub use crate::stage::{Stage, StageError};

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
            problem: bounded(&problem.into(), MAX_DIAGNOSIS_CHARS),
        }
    }
}

/// Longest problem or unexpected error text carried.
const MAX_DIAGNOSIS_CHARS: usize = crate::stage::MAX_DIAGNOSIS_CHARS;

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
            Failure::Unexpected(e) => write!(f, "unexpected error: {}", bounded(e, MAX_DIAGNOSIS_CHARS)),
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

/// Where a run failed: a stage, or before them (`input`), or outside them (`internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Input,
    Internal,
    #[serde(untagged)]
    Stage(Stage),
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::Input => f.pad("input"),
            Phase::Internal => f.pad("internal"),
            Phase::Stage(stage) => f.pad(stage.name()),
        }
    }
}

/// A failure as a report (verify's, explain's) shows it: where, a stable code, the message and the fix.
#[derive(Debug, Serialize)]
pub struct ReportError {
    pub stage: Phase,
    pub code: String,
    pub message: String,
    pub hint: String,
    #[serde(skip)]
    pub exit_code: ExitCode,
}

impl From<Failure> for ReportError {
    fn from(failure: Failure) -> Self {
        let exit_code = failure.exit_code();
        let (stage, code, message, hint) = match failure {
            Failure::Input(e) => (
                Phase::Input,
                "InvalidInput".to_owned(),
                e.to_string(),
                format!("Fix {} and run again.", e.field),
            ),
            Failure::Stage(e) => (Phase::Stage(e.stage), e.code, e.message, e.hint),
            Failure::Unexpected(e) => (
                Phase::Internal,
                "Unexpected".to_owned(),
                e,
                "This is a bug; please report it with the log above.".to_owned(),
            ),
        };
        Self {
            stage,
            code,
            message,
            hint,
            exit_code,
        }
    }
}

/// The whole chain of an error's causes on one line: `reqwest` and the SDK keep the useful
/// part ("connection refused") in the sources. Redacted, since a cause may quote a request.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::redact::redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnoses_are_redacted_and_bounded_whoever_built_them() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        let error = StageError::new(
            Stage::Sts,
            "X",
            format!("body: WebIdentityToken={jwt}&x=1 {}", "m".repeat(10_000)),
            format!("hint {jwt}"),
        );
        assert!(!error.message.contains(jwt) && !error.hint.contains(jwt), "{error}");
        assert!(error.message.chars().count() <= MAX_DIAGNOSIS_CHARS + 10);
        let input = InputError::new("--role-arn", format!("{jwt:?} is not an ARN"));
        assert!(!input.problem.contains(jwt), "{input}");
    }
}
