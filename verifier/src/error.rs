//! What can go wrong, in the words the report and the exit code need.

use std::fmt;

use serde::Serialize;

use crate::exit_code::ExitCode;
pub use crate::stage::Stage;

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
const MAX_DIAGNOSIS_CHARS: usize = 4000;

impl StageError {
    /// Every message and hint is redacted and bounded here, whatever built it: the last line
    /// of defence between a peer's text and the report or the logs.
    pub fn new(stage: Stage, code: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            stage,
            code: bounded(code),
            message: bounded(&message.into()),
            hint: bounded(&hint.into()),
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
            problem: bounded(&problem.into()),
        }
    }
}

fn bounded(text: &str) -> String {
    let redacted = crate::redact::redact(text);
    if redacted.chars().count() <= MAX_DIAGNOSIS_CHARS {
        return redacted;
    }
    let cut: String = redacted.chars().take(MAX_DIAGNOSIS_CHARS).collect();
    format!("{cut}… (cut)")
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
            Failure::Unexpected(e) => write!(f, "unexpected error: {}", bounded(e)),
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
