//! The verdict, for a person (`--format text`) or a machine (`--format json`). It shows what
//! each stage learned (claims, the assumed role, the listing) and never a token or a key.

use std::fmt::Write as _;

use serde::Serialize;

use crate::aws::s3::Access;
use crate::clock::unix_now;
use crate::error::{Failure, ReportError, StageError};
use crate::exit_code::ExitCode;
use crate::identity::Identity;
use crate::identity::ksa_token::ClusterIdentity;
use crate::redact::shown;
use crate::stage::Stage;

#[derive(Debug, Default)]
pub struct Report {
    /// The stages that ran, in order; a failed stage is the last one.
    pub stages: Vec<StageReport>,
    pub error: Option<ReportError>,
    /// The role the run was for (once the input is valid): `explain --report` reads it back.
    pub role_arn: Option<String>,
    /// `verify --explain`: why STS refused, from the role's trust policy.
    pub explanation: Option<Explained>,
    /// `--profile` / `--all-profiles`: the profile of the AWS config file the role came from.
    pub profile: Option<String>,
}

/// An explanation of STS's refusal, rendered by `explain` for both formats.
#[derive(Debug, Clone)]
pub struct Explained {
    pub json: serde_json::Value,
    pub text: String,
}

/// The JSON form: `ok` first, derived.
#[derive(Serialize)]
struct ReportJson<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: &'a Option<String>,
    stages: &'a [StageReport],
    error: &'a Option<ReportError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct StageReport {
    pub name: Stage,
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
        /// Always `gsa`, beside cluster mode's `cluster`.
        mode: &'static str,
        email: Option<String>,
        sub: String,
        azp: String,
        aud: String,
        iss: String,
        exp: i64,
        expires_in_s: i64,
    },
    ClusterIdentity(ClusterIdentity),
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
        access: Access,
        /// With `--access read`: the key one byte was read from.
        #[serde(skip_serializing_if = "Option::is_none")]
        read_key: Option<String>,
        /// With `--access read` and nothing to read: why reading was not exercised.
        #[serde(skip_serializing_if = "Option::is_none")]
        read_not_exercised: Option<&'static str>,
    },
}

impl Report {
    pub fn new() -> Self {
        Self::default()
    }

    /// Access was proven: every stage ran and passed, the last being S3.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.stages.last().is_some_and(|s| s.ok && s.name == Stage::S3)
    }

    /// Access was proven, but `--access read` found nothing to read: why.
    pub fn read_not_exercised(&self) -> Option<&'static str> {
        self.stages.iter().find_map(|s| match &s.details {
            Some(Details::S3 { read_not_exercised, .. }) => *read_not_exercised,
            _ => None,
        })
    }

    pub fn passed(&mut self, stage: Stage, duration_ms: u64, details: Details) {
        self.stages.push(StageReport {
            name: stage,
            ok: true,
            duration_ms,
            details: Some(details),
        });
    }

    pub fn failed(&mut self, error: StageError, duration_ms: u64) {
        self.stages.push(StageReport {
            name: error.stage,
            ok: false,
            duration_ms,
            details: None,
        });
        self.error = Some(ReportError::from(Failure::Stage(error)));
    }

    /// 0 when access was proven, else the failed stage's code.
    pub fn exit_code(&self) -> ExitCode {
        self.error.as_ref().map_or(ExitCode::Success, |e| e.exit_code)
    }

    /// A report for a run that failed before any stage (bad input) or outside them.
    pub fn from_failure(failure: Failure) -> Self {
        Self {
            error: Some(ReportError::from(failure)),
            ..Self::default()
        }
    }

    pub fn to_json(&self) -> String {
        let json = ReportJson {
            ok: self.ok(),
            profile: &self.profile,
            role_arn: &self.role_arn,
            stages: &self.stages,
            error: &self.error,
            explanation: self.explanation.as_ref().map(|e| &e.json),
        };
        // Strings, numbers and enums only: serializing cannot fail.
        serde_json::to_string(&json).unwrap_or_default()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(profile) = &self.profile {
            let role = self.role_arn.as_deref().unwrap_or("-");
            let _ = writeln!(out, "PROFILE {}  role={}", shown(profile), shown(role));
        }
        for stage in &self.stages {
            let verdict = if stage.ok { "PASS" } else { "FAIL" };
            // As wide as the longest stage name (cluster_identity), so the columns line up.
            let _ = write!(out, "{verdict} {:<16} {:>6} ms", stage.name, stage.duration_ms);
            if let Some(details) = &stage.details {
                let _ = write!(out, "  {}", details.summary());
            }
            out.push('\n');
        }
        match &self.error {
            None => match self.read_not_exercised() {
                None => out.push_str("OK: access proven, the whole chain works\n"),
                Some(why) => {
                    let _ = writeln!(out, "OK: list access proven, read NOT exercised: {why}");
                }
            },
            Some(e) => {
                let _ = writeln!(out, "ERROR {}: {}: {}", e.stage, e.code, e.message);
                let _ = writeln!(out, "  hint: {}", e.hint);
            }
        }
        if let Some(explained) = &self.explanation {
            out.push_str("explain:\n");
            for line in explained.text.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}

impl Details {
    /// What the report shows of the token: its claims, never the token.
    pub fn of_identity(identity: &Identity) -> Details {
        match identity {
            Identity::Google(token) => {
                let claims = &token.claims;
                Details::GcpIdentity {
                    mode: "gsa",
                    email: claims.email.clone(),
                    sub: claims.sub.clone(),
                    azp: claims.azp.clone(),
                    aud: claims.aud.clone(),
                    iss: claims.iss.clone(),
                    exp: claims.exp,
                    expires_in_s: claims.seconds_left(unix_now()),
                }
            }
            Identity::Cluster(token) => Details::ClusterIdentity(token.details(unix_now())),
        }
    }

    fn summary(&self) -> String {
        match self {
            Details::GcpIdentity {
                email,
                sub,
                aud,
                expires_in_s,
                ..
            } => {
                // Claims are the token issuer's text: shown so that none can forge a line.
                format!(
                    "email={} sub={} aud={} expires_in={expires_in_s}s",
                    email.as_deref().map_or("-".to_owned(), shown),
                    shown(sub),
                    shown(aud)
                )
            }
            Details::ClusterIdentity(identity) => format!(
                "mode=cluster sub={} aud={} expires_in={}s{}",
                shown(&identity.sub),
                shown(&identity.aud.join(",")),
                identity.expires_in_s,
                identity
                    .issuer_note
                    .as_deref()
                    .map(|n| format!(" note={}", shown(n)))
                    .unwrap_or_default()
            ),
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
                read_key,
                read_not_exercised,
                ..
            } => {
                let more = if *truncated { "+" } else { "" };
                // Keys and prefixes are the bucket owner's text: quoted, they cannot forge a line.
                let read = match (read_key, read_not_exercised) {
                    (Some(k), _) => format!(" read={}", shown(k)),
                    (None, Some(_)) => " read=not-exercised".to_owned(),
                    (None, None) => String::new(),
                };
                format!(
                    "bucket={bucket} prefix={} objects={object_count}{more}{read}",
                    prefix.as_deref().map_or("-".to_owned(), shown)
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
                access: Access::List,
                read_key: None,
                read_not_exercised: None,
            },
        );
        report.failed(StageError::new(Stage::S3, "NoSuchBucket", "m", "h"), 3);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            json["stages"][0],
            serde_json::json!({"name": "s3", "ok": true, "duration_ms": 7, "bucket": "b", "prefix": null, "object_count": 2, "truncated": false, "access": "list"})
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
