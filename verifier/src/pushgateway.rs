//! Pushes the outcome of a `verify` run to a Prometheus Pushgateway, so that a failing
//! CronJob can page someone without anybody reading logs.
//! <https://github.com/prometheus/pushgateway#api>

use std::fmt::Write as _;
use std::time::Duration;

use crate::clock::unix_now;
use crate::report::Report;

/// Metrics for one run, in Prometheus' text format. `last_success` is only sent on
/// success: pushed with POST, the previous value stays in place after a failure.
pub fn exposition(report: &Report, now: i64) -> String {
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(
            text,
            "# HELP gke_aws_verifier_{name} {help}\n# TYPE gke_aws_verifier_{name} gauge"
        );
        for (labels, value) in samples {
            let _ = writeln!(text, "gke_aws_verifier_{name}{labels} {value}");
        }
    };
    gauge(
        "last_run_timestamp_seconds",
        "When the last verify run finished.",
        &[(String::new(), now as f64)],
    );
    if report.ok() {
        gauge(
            "last_success_timestamp_seconds",
            "When access was last proven.",
            &[(String::new(), now as f64)],
        );
    }
    gauge(
        "exit_code",
        "Exit code of the last run (0 access proven, 3 identity, 4 STS, 5 S3).",
        &[(String::new(), f64::from(i32::from(report.exit_code())))],
    );
    let durations: Vec<(String, f64)> = report
        .stages
        .iter()
        .map(|s| (format!("{{stage=\"{}\"}}", s.name), s.duration_ms as f64 / 1000.0))
        .collect();
    gauge(
        "stage_duration_seconds",
        "Duration of each stage of the last run.",
        &durations,
    );
    let oks: Vec<(String, f64)> = report
        .stages
        .iter()
        .map(|s| (format!("{{stage=\"{}\"}}", s.name), if s.ok { 1.0 } else { 0.0 }))
        .collect();
    gauge("stage_ok", "1 if the stage passed in the last run.", &oks);
    text
}

/// POSTs the run's metrics to `{url}/metrics/job/gke-aws-verifier/role/{role}/bucket/{bucket}`:
/// a stable group per checked access, whatever the pod's name.
pub async fn push(url: &str, role: &str, bucket: &str, report: &Report) -> Result<(), String> {
    let endpoint = format!(
        "{}/metrics/job/gke-aws-verifier/role/{role}/bucket/{bucket}",
        url.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(&endpoint)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(exposition(report, unix_now()))
        .send()
        .await
        .map_err(|e| crate::error::error_chain(&e))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(format!(
            "{endpoint} answered HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        )),
    }
}

/// Pushes a `verify` run's outcome and logs how that went. A failed push does not change
/// the verdict: the exit code still carries it, and an alert on a stale `last_run` catches it.
pub async fn push_outcome(url: &str, settings: &crate::verify::Settings, report: &Report) {
    match push(
        url,
        &settings.role.request.role_arn.role_name,
        &settings.list.bucket,
        report,
    )
    .await
    {
        Ok(()) => tracing::info!(pushgateway = %url, "metrics pushed"),
        Err(e) => tracing::error!(pushgateway = %url, "could not push metrics: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Stage, StageError};
    use crate::report::Details;

    #[test]
    fn failed_runs_carry_no_last_success() {
        let mut report = Report::new();
        report.passed(
            Stage::GcpIdentity,
            12,
            Details::S3 {
                bucket: "b".into(),
                prefix: None,
                object_count: 0,
                truncated: false,
                access: crate::s3::Access::List,
                read_key: None,
            },
        );
        report.failed(StageError::new(Stage::Sts, "AccessDenied", "m", "h"), 40);
        let text = exposition(&report, 1000);
        assert!(!text.contains("last_success"), "{text}");
        assert!(text.contains("gke_aws_verifier_exit_code 4\n"), "{text}");
        assert!(
            text.contains("gke_aws_verifier_stage_duration_seconds{stage=\"sts\"} 0.04\n"),
            "{text}"
        );
        assert!(
            text.contains("gke_aws_verifier_stage_ok{stage=\"gcp_identity\"} 1\n"),
            "{text}"
        );
    }
}
