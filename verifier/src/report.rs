//! The verdict, for a person (`--format text`) or a machine (`--format json`). It shows what
//! each stage learned (claims, the assumed role, the listing) and never a token or a key.

use std::fmt::Write as _;

use serde::Serialize;

use crate::error::{Failure, Stage, StageError};
use crate::exit_code::ExitCode;

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    /// The stages that ran, in order; a failed stage is the last one.
    pub stages: Vec<StageReport>,
    pub error: Option<ReportError>,
}

#[derive(Debug, Serialize)]
pub struct StageReport {
    pub name: &'static str,
    pub ok: bool,
    pub duration_ms: u64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

/// What a stage learned.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Details {
    GcpIdentity {
        email: Option<String>,
        sub: String,
        azp: String,
        aud: String,
        iss: String,
        exp: i64,
        expires_in_s: i64,
    },
    Sts {
        role_arn: String,
        assumed_role_arn: String,
        session_name: String,
        credential_expiration: String,
    },
    S3 {
        bucket: String,
        prefix: Option<String>,
        object_count: usize,
        truncated: bool,
    },
}

#[derive(Debug, Serialize)]
pub struct ReportError {
    /// A stage name, or `input` for bad input and `internal` for the unexpected.
    pub stage: &'static str,
    pub code: String,
    pub message: String,
    pub hint: String,
    #[serde(skip)]
    pub exit_code: ExitCode,
}

impl Report {
    pub fn new() -> Self {
        Self {
            ok: false,
            stages: Vec::new(),
            error: None,
        }
    }

    pub fn passed(&mut self, stage: Stage, duration_ms: u64, details: Details) {
        self.stages.push(StageReport {
            name: stage.name(),
            ok: true,
            duration_ms,
            details: Some(details),
        });
    }

    pub fn failed(&mut self, error: StageError, duration_ms: u64) {
        self.stages.push(StageReport {
            name: error.stage.name(),
            ok: false,
            duration_ms,
            details: None,
        });
        let exit_code = error.stage.exit_code();
        self.error = Some(ReportError {
            stage: error.stage.name(),
            code: error.code,
            message: error.message,
            hint: error.hint,
            exit_code,
        });
    }

    /// 0 when access was proven, else the failed stage's code.
    pub fn exit_code(&self) -> ExitCode {
        self.error.as_ref().map_or(ExitCode::Success, |e| e.exit_code)
    }

    /// A report for a run that failed before any stage (bad input) or outside them.
    pub fn from_failure(failure: &Failure) -> Self {
        let exit_code = failure.exit_code();
        let error = match failure {
            Failure::Input(e) => ReportError {
                stage: "input",
                code: "InvalidInput".into(),
                message: e.to_string(),
                hint: format!("Fix {} and run again.", e.field),
                exit_code,
            },
            Failure::Stage(e) => ReportError {
                stage: e.stage.name(),
                code: e.code.clone(),
                message: e.message.clone(),
                hint: e.hint.clone(),
                exit_code,
            },
            Failure::Unexpected(e) => ReportError {
                stage: "internal",
                code: "Unexpected".into(),
                message: e.clone(),
                hint: "This is a bug; please report it with the log above.".into(),
                exit_code,
            },
        };
        Self {
            ok: false,
            stages: Vec::new(),
            error: Some(error),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the report serializes")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for stage in &self.stages {
            let verdict = if stage.ok { "PASS" } else { "FAIL" };
            let _ = write!(out, "{verdict} {:<12} {:>6} ms", stage.name, stage.duration_ms);
            if let Some(details) = &stage.details {
                let _ = write!(out, "  {}", details.summary());
            }
            out.push('\n');
        }
        match &self.error {
            None => out.push_str("OK: access proven, the whole chain works\n"),
            Some(e) => {
                let _ = writeln!(out, "ERROR {}: {}: {}", e.stage, e.code, e.message);
                let _ = writeln!(out, "  hint: {}", e.hint);
            }
        }
        out
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

impl Details {
    fn summary(&self) -> String {
        match self {
            Details::GcpIdentity {
                email,
                sub,
                aud,
                expires_in_s,
                ..
            } => {
                format!(
                    "email={} sub={sub} aud={aud} expires_in={expires_in_s}s",
                    email.as_deref().unwrap_or("-")
                )
            }
            Details::Sts {
                assumed_role_arn,
                credential_expiration,
                ..
            } => format!("assumed_role={assumed_role_arn} expires={credential_expiration}"),
            Details::S3 {
                bucket,
                prefix,
                object_count,
                truncated,
            } => {
                let more = if *truncated { "+" } else { "" };
                format!(
                    "bucket={bucket} prefix={} objects={object_count}{more}",
                    prefix.as_deref().unwrap_or("-")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_report_has_the_documented_shape() {
        let mut report = Report::new();
        report.passed(
            Stage::S3,
            7,
            Details::S3 {
                bucket: "b".into(),
                prefix: None,
                object_count: 2,
                truncated: false,
            },
        );
        report.failed(StageError::new(Stage::S3, "NoSuchBucket", "m", "h"), 3);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            json["stages"][0],
            serde_json::json!({"name": "s3", "ok": true, "duration_ms": 7, "bucket": "b", "prefix": null, "object_count": 2, "truncated": false})
        );
        assert_eq!(
            json["stages"][1],
            serde_json::json!({"name": "s3", "ok": false, "duration_ms": 3})
        );
        assert_eq!(
            json["error"],
            serde_json::json!({"stage": "s3", "code": "NoSuchBucket", "message": "m", "hint": "h"})
        );
    }
}
