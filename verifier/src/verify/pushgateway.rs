//! Pushes the outcome of a `verify` run to a Prometheus Pushgateway, so that a failing
//! CronJob can page someone without anybody reading logs.
//! <https://github.com/prometheus/pushgateway#api>

use std::fmt::Write as _;
use std::time::Duration;

use crate::clock::unix_now;
use crate::verify::report::Report;
use crate::{input, redact};

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
        "Exit code of the last run: 0 access proven, else the failed stage's (gke-aws-verifier --help lists them).",
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
    // reqwest sends a URL's user:password as basic auth; they must not reach a message.
    let hide_password = |text: String| match password_of(url) {
        Some(password) => text.replace(&password, "<redacted>"),
        None => text,
    };
    let response = client
        .post(&endpoint)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(exposition(report, unix_now()))
        .send()
        .await
        .map_err(|e| hide_password(crate::error::error_chain(&e.without_url())))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => {
            let body = bounded_text(response).await;
            Err(hide_password(format!(
                "{} answered HTTP {status}: {}",
                input::describe_url(&endpoint),
                redact::cap(&body)
            )))
        }
    }
}

/// Most of an error answer read: enough for the gateway's message, never a flood.
const MAX_ERROR_BODY: usize = 4 * 1024;

/// The start of an error answer's body as text: at most 4 KiB are read,
/// whatever the peer sends (the audit's Pushgateway push reads its errors through this too).
pub async fn bounded_text(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

/// The password in `http://user:password@host`, as written there.
fn password_of(url: &str) -> Option<String> {
    let password = url::Url::parse(url).ok()?.password()?.to_owned();
    Some(password).filter(|p| !p.is_empty())
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
        Ok(()) => tracing::info!(pushgateway = %input::describe_url(url), "metrics pushed"),
        Err(e) => tracing::error!(pushgateway = %input::describe_url(url), "could not push metrics: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Stage, StageError};
    use crate::verify::report::Details;

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
                access: crate::aws::s3::Access::List,
                read_key: None,
                read_not_exercised: None,
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

    #[test]
    fn the_password_of_a_url_is_found_to_be_hidden() {
        assert_eq!(password_of("http://user:s3cret@gw:9091").as_deref(), Some("s3cret"));
        assert_eq!(password_of("http://user@gw:9091"), None);
        assert_eq!(password_of("http://gw:9091"), None);
    }
}
