//! `verify --all-profiles`: every role of the pod proven in one run, concurrently, each as
//! `verify` proves one (its own deadline, its own report), and one verdict over them all.

use std::fmt::Write as _;

use crate::error::Failure;
use crate::exit_code::ExitCode;
use crate::verify::report::Report;
use crate::verify::{self, Settings};

/// One report per profile, in the config file's order, or the input error that stopped the
/// run before any of them.
#[derive(Debug, Default)]
pub struct ProfilesReport {
    pub reports: Vec<Report>,
    /// Bad input found before any role ran (`--config-file`, a profile's value).
    pub input: Option<Report>,
}

/// Proves each role at the same time: the slowest role, not the sum, bounds the run.
pub async fn run(profiles: &[(String, Settings)]) -> ProfilesReport {
    let mut runs = tokio::task::JoinSet::new();
    for (index, (name, settings)) in profiles.iter().cloned().enumerate() {
        runs.spawn(async move {
            let mut report = verify::run(&settings).await;
            report.profile = Some(name);
            (index, report)
        });
    }
    let mut reports: Vec<Option<Report>> = profiles.iter().map(|_| None).collect();
    while let Some(joined) = runs.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            // A role whose run panicked has no report: the slot below says so.
            Err(e) => tracing::error!(error = %e, "a role's run ended abnormally"),
        }
    }
    let reports = reports
        .into_iter()
        .zip(profiles)
        .map(|(report, (name, _))| {
            report.unwrap_or_else(|| {
                let mut report = Report::from_failure(Failure::Unexpected(format!(
                    "the run for profile {name} ended abnormally"
                )));
                report.profile = Some(name.clone());
                report
            })
        })
        .collect();
    ProfilesReport { reports, input: None }
}

impl ProfilesReport {
    /// The run could not start: bad input, exit 2.
    pub fn from_failure(failure: Failure) -> Self {
        Self {
            reports: Vec::new(),
            input: Some(Report::from_failure(failure)),
        }
    }

    /// Every role proven.
    pub fn ok(&self) -> bool {
        self.input.is_none() && !self.reports.is_empty() && self.reports.iter().all(Report::ok)
    }

    /// The worst of the roles' codes: the one that proved least. A role that failed earlier
    /// in the chain proved less (input before identity before STS before S3); an unexpected
    /// error is worst of all, since nothing about that role is known.
    pub fn exit_code(&self) -> ExitCode {
        let codes = self.input.iter().chain(&self.reports).map(Report::exit_code);
        codes.max_by_key(|code| severity(*code)).unwrap_or(ExitCode::Success)
    }

    /// `{"ok", "exit_code", "profiles": [one single-role report each, with its "profile"]}`,
    /// and `error` when the run stopped on bad input.
    pub fn to_json(&self) -> String {
        let entries: Vec<String> = self.reports.iter().map(Report::to_json).collect();
        let mut json = format!(
            "{{\"ok\":{},\"exit_code\":{},\"profiles\":[{}]",
            self.ok(),
            i32::from(self.exit_code()),
            entries.join(",")
        );
        if let Some(input) = &self.input {
            // The single-role report's own error object, as its JSON has it.
            let report: serde_json::Value = serde_json::from_str(&input.to_json()).unwrap_or_default();
            let _ = write!(json, ",\"error\":{}", report["error"]);
        }
        json.push('}');
        json
    }

    /// Each role's report under its `PROFILE` line, then the verdict over them all.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(input) = &self.input {
            out.push_str(&input.to_text());
            return out;
        }
        for report in &self.reports {
            out.push_str(&report.to_text());
            out.push('\n');
        }
        let proven = self.reports.iter().filter(|r| r.ok()).count();
        let total = self.reports.len();
        if self.ok() {
            let _ = writeln!(out, "OK: all {total} roles proven");
        } else {
            let failed: Vec<&str> = self
                .reports
                .iter()
                .filter(|r| !r.ok())
                .filter_map(|r| r.profile.as_deref())
                .collect();
            let _ = writeln!(
                out,
                "FAILED: {proven} of {total} roles proven; failed: {} (exit {})",
                failed.join(", "),
                i32::from(self.exit_code())
            );
        }
        out
    }
}

/// Higher is worse; see [`ProfilesReport::exit_code`].
fn severity(code: ExitCode) -> u8 {
    match code {
        ExitCode::Success => 0,
        ExitCode::S3 => 1,
        ExitCode::Sts => 2,
        ExitCode::GcpIdentity => 3,
        ExitCode::BadInput => 4,
        ExitCode::Unexpected => 5,
        // Never a verify run's; the audit's alone.
        ExitCode::Findings => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::s3::Access;
    use crate::error::{InputError, StageError};
    use crate::stage::Stage;
    use crate::verify::report::Details;

    fn passed(profile: &str) -> Report {
        let mut report = Report::new();
        report.profile = Some(profile.into());
        report.passed(
            Stage::S3,
            1,
            Details::S3 {
                bucket: "b".into(),
                prefix: None,
                object_count: 0,
                truncated: false,
                access: Access::List,
                read_key: None,
                read_not_exercised: None,
            },
        );
        report
    }

    fn failed(profile: &str, stage: Stage) -> Report {
        let mut report = Report::new();
        report.profile = Some(profile.into());
        report.failed(StageError::new(stage, "X", "m", "h"), 1);
        report
    }

    #[test]
    fn the_worst_code_is_the_role_that_proved_least() {
        let all = |reports| ProfilesReport { reports, input: None };
        assert_eq!(all(vec![passed("a"), passed("b")]).exit_code(), ExitCode::Success);
        assert!(all(vec![passed("a"), passed("b")]).ok());
        assert_eq!(all(vec![passed("a"), failed("b", Stage::S3)]).exit_code(), ExitCode::S3);
        assert_eq!(
            all(vec![failed("a", Stage::S3), failed("b", Stage::Sts), passed("c")]).exit_code(),
            ExitCode::Sts
        );
        assert_eq!(
            all(vec![failed("a", Stage::GcpIdentity), failed("b", Stage::Sts)]).exit_code(),
            ExitCode::GcpIdentity
        );
        assert!(!all(vec![]).ok(), "no role is no proof");
    }

    #[test]
    fn json_holds_one_single_role_report_per_profile() {
        let report = ProfilesReport {
            reports: vec![passed("a"), failed("b", Stage::S3)],
            input: None,
        };
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["exit_code"], 5);
        assert_eq!(json["profiles"][0]["profile"], "a");
        assert_eq!(json["profiles"][0]["ok"], true);
        assert_eq!(json["profiles"][1]["error"]["code"], "X");
        assert!(json.get("error").is_none());
        let text = report.to_text();
        assert!(
            text.contains("PROFILE a") && text.contains("FAILED: 1 of 2 roles proven; failed: b (exit 5)"),
            "{text}"
        );
    }

    #[test]
    fn bad_input_is_one_error_and_exit_2() {
        let report = ProfilesReport::from_failure(Failure::Input(InputError::new("--config-file", "missing")));
        assert_eq!(report.exit_code(), ExitCode::BadInput);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["profiles"], serde_json::json!([]));
        assert_eq!(json["error"]["stage"], "input");
        assert!(report.to_text().contains("invalid --config-file: missing"));
    }
}
