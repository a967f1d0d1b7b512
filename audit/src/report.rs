//! The report: findings grouped by cluster, sorted by severity (errors first), as a table for
//! a person or JSON for machines; and the exit code `--fail-on` decides.

use std::fmt::Write as _;

use serde::Serialize;

use crate::finding::{Finding, Severity};

/// `text` without what a terminal would act on: control characters (escapes, carriage
/// returns, newlines) and the bidirectional overrides, each shown as `?`.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if unprintable(c) { '?' } else { c }).collect()
}

/// A control character (C0, DEL, C1) or a bidirectional override/mark.
fn unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// The group of findings about AWS itself.
pub const AWS_GROUP: &str = "aws";
/// The group of findings about Google itself (projects, credentials).
pub const GCP_GROUP: &str = "gcp";

/// One cluster's findings (or one of the [`AWS_GROUP`] and [`GCP_GROUP`] groups).
#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub findings: Vec<Finding>,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub clusters: Vec<ClusterReport>,
    pub fail_on: Severity,
    /// What the reader should know about how the run saw things (one line each), e.g. that
    /// GSA unique ids came from Terraform, not from Google.
    pub notes: Vec<String>,
}

/// Counts by severity, for the summary line and the JSON.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl Report {
    pub fn new(mut clusters: Vec<ClusterReport>, fail_on: Severity) -> Self {
        for cluster in &mut clusters {
            cluster.findings.sort_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then(a.code.cmp(&b.code))
                    .then_with(|| a.object.cmp(&b.object))
            });
            cluster.findings.dedup();
        }
        Report {
            clusters,
            fail_on,
            notes: Vec::new(),
        }
    }

    /// The report with these notes.
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.clusters.iter().flat_map(|c| c.findings.iter())
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for f in self.findings() {
            match f.severity {
                Severity::Error => summary.error += 1,
                Severity::Warning => summary.warning += 1,
                Severity::Info => summary.info += 1,
            }
        }
        summary
    }

    /// Whether anything at or above `--fail-on` was found (exit 1).
    pub fn failed(&self) -> bool {
        self.findings().any(|f| f.severity >= self.fail_on)
    }

    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            report: &'a Report,
            summary: Summary,
            failed: bool,
        }
        let json = serde_json::to_string_pretty(&Json {
            report: self,
            summary: self.summary(),
            failed: self.failed(),
        })
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialize the report: {e}\"}}"));
        // serde_json escapes C0 controls only; C1 (U+009B is a CSI to some terminals) and the
        // bidirectional overrides can only be inside strings here, so `\uXXXX` keeps it JSON.
        json.chars().fold(String::with_capacity(json.len()), |mut out, c| {
            if c != '\n' && unprintable(c) {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            } else {
                out.push(c);
            }
            out
        })
    }

    /// The table: one block per cluster (every field through [`printable`], since names and
    /// messages come from the API server), one row per finding, its message and fix beneath.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for cluster in &self.clusters {
            let _ = writeln!(text, "CLUSTER {}", printable(&cluster.cluster));
            if cluster.findings.is_empty() {
                let _ = writeln!(text, "  no finding\n");
                continue;
            }
            let object_width = cluster
                .findings
                .iter()
                .map(|f| printable(&f.object.to_string()).chars().count())
                .max()
                .unwrap_or(0);
            let _ = writeln!(
                text,
                "  {:<8} {:<21} {:<object_width$} OWNER",
                "SEVERITY", "CODE", "OBJECT"
            );
            for f in &cluster.findings {
                let owner = printable(&f.owner.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string));
                let _ = writeln!(
                    text,
                    "  {:<8} {:<21} {:<object_width$} {owner}",
                    f.severity.as_str(),
                    f.code.as_str(),
                    printable(&f.object.to_string())
                );
                let _ = writeln!(text, "           {}", printable(&f.message));
                let _ = writeln!(text, "           fix: {}", printable(&f.fix));
            }
            text.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(text, "NOTE: {}", printable(note));
        }
        let s = self.summary();
        let total = s.error + s.warning + s.info;
        // The aws and gcp groups are not clusters: counted apart, named.
        let is_group = |c: &&ClusterReport| c.cluster == AWS_GROUP || c.cluster == GCP_GROUP;
        let groups: String = self
            .clusters
            .iter()
            .filter(is_group)
            .map(|c| format!(" and the {} group", c.cluster))
            .collect();
        let clusters = format!(
            "{} cluster(s){groups}",
            self.clusters.iter().filter(|c| !is_group(c)).count()
        );
        if total == 0 {
            let _ = writeln!(text, "OK: no finding in {clusters}");
        } else {
            let verdict = if self.failed() { "FAIL" } else { "OK" };
            let _ = writeln!(
                text,
                "{verdict}: {total} finding(s) in {clusters}: {} error, {} warning, {} info (--fail-on {})",
                s.error,
                s.warning,
                s.info,
                self.fail_on.as_str()
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Code, ObjectRef};

    fn finding(code: Code, severity: Severity, name: &str) -> Finding {
        Finding::new(
            code,
            severity,
            ObjectRef::namespaced("Pod", "ns", name),
            "m".into(),
            "f".into(),
        )
    }

    #[test]
    fn errors_come_first_and_fail_on_decides() {
        let findings = vec![
            finding(Code::CannotRead, Severity::Warning, "a"),
            finding(Code::NotInjected, Severity::Error, "b"),
        ];
        let report = Report::new(
            vec![ClusterReport {
                cluster: "c".into(),
                findings,
            }],
            Severity::Error,
        );
        assert_eq!(report.clusters[0].findings[0].code, Code::NotInjected);
        assert!(report.failed());
        let warnings_only = Report::new(
            vec![ClusterReport {
                cluster: "c".into(),
                findings: vec![finding(Code::CannotRead, Severity::Warning, "a")],
            }],
            Severity::Error,
        );
        assert!(!warnings_only.failed());
        assert!(warnings_only.to_text().starts_with("CLUSTER c\n"));
    }

    /// The aws group is no cluster: the summary counts one cluster and names the group.
    #[test]
    fn the_summary_counts_clusters_not_the_aws_group() {
        let report = Report::new(
            vec![
                ClusterReport {
                    cluster: "prod-eu".into(),
                    findings: vec![],
                },
                ClusterReport {
                    cluster: AWS_GROUP.into(),
                    findings: vec![finding(Code::CannotRead, Severity::Warning, "a")],
                },
            ],
            Severity::Error,
        );
        let text = report.to_text();
        assert!(
            text.ends_with(
                "OK: 1 finding(s) in 1 cluster(s) and the aws group: 0 error, 1 warning, 0 info (--fail-on error)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_table_shows_no_control_character_and_the_json_escapes_them() {
        let hostile = Finding::new(
            Code::CannotRead,
            Severity::Warning,
            ObjectRef::namespaced("Pod", "ns", "a\u{1b}[2Jb"),
            "said \u{1b}]0;pwned\u{7}\r\nfix: rm -rf ~ \u{202e}txt".into(),
            "f\u{9b}".into(),
        );
        let report = Report::new(
            vec![ClusterReport {
                cluster: "c\u{1b}".into(),
                findings: vec![hostile],
            }],
            Severity::Error,
        );
        let text = report.to_text();
        assert!(
            !text.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("said ?]0;pwned???fix: rm -rf ~ ?txt"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.trim_start().starts_with("fix:")).count(),
            1,
            "{text}"
        );
        let json = report.to_json();
        assert!(!json.chars().any(|c| unprintable(c) && c != '\n'), "{json:?}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["clusters"][0]["findings"][0]["fix"], "f\u{9b}");
        assert!(json.contains("\\u001b"), "{json}");
    }
}
