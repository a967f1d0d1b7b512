//! Bad input, found before any network call: the flag or field at fault and the fix. Exit 2.

use std::fmt;

use gke_aws_verifier::error::InputError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// The flag, or the field inside a file (`--terraform-output workloads.NAME.role_arn`).
    pub field: String,
    /// What is wrong and what a valid value looks like.
    pub problem: String,
}

impl BadInput {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        BadInput {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    /// The verifier's check of a value, said for this field.
    pub fn from_check(field: &str, error: InputError) -> Self {
        BadInput::new(field, error.problem)
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.problem)
    }
}
