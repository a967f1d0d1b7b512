//! `--pushgateway`: the counts as Prometheus metrics, one group per cluster
//! (`/metrics/job/gke-aws-audit/cluster/NAME`), replaced on every run (PUT), so a fixed finding's
//! count falls to 0 and an alert on `gke_aws_audit_findings > 0` resolves.
//! <https://github.com/prometheus/pushgateway#api>

use std::fmt::Write as _;
use std::time::Duration;

use gke_aws_verifier::input;

use crate::finding::{Code, Severity};
use crate::report::ClusterReport;

/// One cluster's metrics, in Prometheus' text format: every code at every severity (zeros
/// included) and the run's timestamp.
pub fn exposition(cluster: &ClusterReport, now: i64) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP gke_aws_audit_findings Findings of the last audit run, by code and severity.\n# TYPE gke_aws_audit_findings gauge"
    );
    for code in Code::ALL {
        for severity in [Severity::Error, Severity::Warning, Severity::Info] {
            let count = cluster
                .findings
                .iter()
                .filter(|f| f.code == code && f.severity == severity)
                .count();
            let _ = writeln!(
                text,
                "gke_aws_audit_findings{{code=\"{code}\",severity=\"{}\"}} {count}",
                severity.as_str()
            );
        }
    }
    let _ = writeln!(
        text,
        "# HELP gke_aws_audit_last_run_timestamp_seconds When the last audit run finished.\n# TYPE gke_aws_audit_last_run_timestamp_seconds gauge\ngke_aws_audit_last_run_timestamp_seconds {now}"
    );
    text
}

/// Pushes every cluster's group; a failure is logged and does not change the verdict (an
/// alert on a stale `last_run` catches it).
pub async fn push(url: &str, clusters: &[ClusterReport]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for cluster in clusters {
        match push_one(url, cluster, now).await {
            Ok(()) => {
                tracing::info!(pushgateway = %input::describe_url(url), cluster = %cluster.cluster, "metrics pushed")
            }
            Err(e) => {
                tracing::error!(pushgateway = %input::describe_url(url), cluster = %cluster.cluster, "could not push metrics: {e}")
            }
        }
    }
}

async fn push_one(url: &str, cluster: &ClusterReport, now: i64) -> Result<(), String> {
    // The grouping key's value is path-encoded: a context name may hold `/` or `@`.
    let endpoint = format!(
        "{}/metrics/job/gke-aws-audit/cluster@base64/{}",
        url.trim_end_matches('/'),
        base64_url(&cluster.cluster)
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .put(&endpoint)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(exposition(cluster, now))
        .send()
        .await
        .map_err(|e| gke_aws_verifier::error::error_chain(&e.without_url()))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status();
    let body = gke_aws_verifier::verify::pushgateway::bounded_text(response).await;
    Err(format!(
        "{} answered HTTP {status}: {}",
        input::describe_url(url),
        gke_aws_verifier::redact::cap(&body)
    ))
}

/// The Pushgateway's `@base64` form of a label value: URL-safe base64 (RFC 4648 §5); `=` for
/// the empty value.
fn base64_url(value: &str) -> String {
    use base64::Engine as _;
    if value.is_empty() {
        return "=".to_owned();
    }
    base64::engine::general_purpose::URL_SAFE.encode(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, ObjectRef};

    #[test]
    fn counts_every_code_and_severity() {
        let cluster = ClusterReport {
            cluster: "c".into(),
            findings: vec![Finding::new(
                Code::NotInjected,
                Severity::Error,
                ObjectRef::namespaced("Pod", "n", "p"),
                "m".into(),
                "f".into(),
            )],
        };
        let text = exposition(&cluster, 1000);
        assert!(
            text.contains("gke_aws_audit_findings{code=\"NotInjected\",severity=\"error\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gke_aws_audit_findings{code=\"TrustDrift\",severity=\"error\"} 0\n"),
            "{text}"
        );
        assert!(
            text.ends_with("gke_aws_audit_last_run_timestamp_seconds 1000\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_url_safe_base64() {
        assert_eq!(
            base64_url("gke_proj_europe-west1_a"),
            "Z2tlX3Byb2pfZXVyb3BlLXdlc3QxX2E="
        );
        assert_eq!(base64_url("a/b"), "YS9i");
        assert_eq!(base64_url(""), "=");
    }
}
