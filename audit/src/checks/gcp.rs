//! With `--gcp`, the Google side, pure: the GSA each GSA-mode KSA (or Terraform's workload)
//! names, as Google answered (`google.rs`). `GsaMissing` (404), `GsaDisabled`, and
//! `GsaRecreated` when Terraform's unique id is not Google's (without `--aws`; with it, the
//! role's trust is evaluated against Google's id in `aws.rs`). A GSA that could not be read is
//! one `GsaUnreadable` per project and cause, with what to grant.

use std::collections::BTreeMap;

use super::aws::{ModeKey, Subject};
use super::fix::sh;
use crate::finding::{Code, Finding, ObjectRef, Severity};
use crate::google::{Grant, Gsa, project_of};

/// Every GSA-mode subject's GSA against Google's answers; `with_trust` says whether the
/// roles' trust was evaluated against them (`--aws`), which then says `GsaRecreated`.
pub fn check(subjects: &[Subject], live: &BTreeMap<String, Gsa>, with_trust: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut unreadable: BTreeMap<(String, Grant), (Vec<&str>, &str)> = BTreeMap::new();
    for s in subjects.iter().filter(|s| s.mode == ModeKey::Gke) {
        let Some(email) = s.gsa_email.as_deref() else { continue };
        let object = ObjectRef::namespaced("ServiceAccount", &s.namespace, &s.ksa);
        let project = project_of(email).unwrap_or("PROJECT");
        match live.get(email) {
            None => {}
            Some(Gsa::Missing) => findings.push(Finding::new(
                Code::GsaMissing,
                Severity::Error,
                object,
                format!(
                    "the GSA {email} the KSA {}/{} maps to does not exist (Google's IAM answers 404 NOT_FOUND): the metadata server mints no token, so every pod of this KSA fails",
                    s.namespace, s.ksa
                ),
                format!(
                    "make apply (Terraform creates the GSA), or annotate the KSA with an existing GSA: kubectl annotate serviceaccount {} --namespace {} --overwrite iam.gke.io/gcp-service-account=EMAIL",
                    sh(&s.ksa),
                    sh(&s.namespace)
                ),
            )),
            Some(Gsa::Found { disabled: true, .. }) => findings.push(Finding::new(
                Code::GsaDisabled,
                Severity::Error,
                object,
                format!(
                    "the GSA {email} the KSA {}/{} maps to is disabled: Google mints no token for it, so every pod of this KSA fails",
                    s.namespace, s.ksa
                ),
                format!(
                    "gcloud iam service-accounts enable {} --project {}",
                    sh(email),
                    sh(project)
                ),
            )),
            Some(Gsa::Found { unique_id, .. }) => {
                if let Some(old) = s.gsa_unique_id.as_deref().filter(|old| *old != unique_id && !with_trust) {
                    findings.push(Finding::new(
                        Code::GsaRecreated,
                        Severity::Error,
                        object,
                        format!(
                            "the GSA {email} has unique id {unique_id} now (Google), but Terraform's output (and so the trust it wrote into {}) has {old}: the GSA was deleted and recreated under the same e-mail",
                            s.role_arn
                        ),
                        format!(
                            "re-apply the workload so the role takes the new id: make apply (Terraform reads the GSA's unique id {unique_id} and rewrites the role's trust)"
                        ),
                    ));
                }
            }
            Some(Gsa::Unreadable { why, grant }) => {
                let key = match grant {
                    Grant::EnableApi(consumer) => consumer.trim_start_matches("projects/").to_owned(),
                    _ => project.to_owned(),
                };
                let entry = unreadable.entry((key, grant.clone())).or_insert((Vec::new(), why));
                if !entry.0.contains(&email) {
                    entry.0.push(email);
                }
            }
        }
    }
    for ((project, grant), (emails, why)) in unreadable {
        let shown: Vec<&str> = emails.iter().take(5).copied().collect();
        let more = emails.len() - shown.len();
        let gsas = format!(
            "{}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        let (object, fix) = match &grant {
            Grant::Viewer => (
                ObjectRef::cluster_scoped("GCPProject", &project),
                format!(
                    "grant the audit's Google identity roles/iam.serviceAccountViewer (iam.serviceAccounts.get) on the project: gcloud projects add-iam-policy-binding {} --member=PRINCIPAL --role=roles/iam.serviceAccountViewer (PRINCIPAL: user:YOU@… on a laptop, serviceAccount:GSA for the CronJob)",
                    sh(&project)
                ),
            ),
            Grant::EnableApi(_) => (
                ObjectRef::cluster_scoped("GCPProject", &project),
                format!(
                    "enable the IAM API in the project the audit's credentials bill to: gcloud services enable iam.googleapis.com --project {}",
                    sh(&project)
                ),
            ),
            Grant::Credentials => (
                ObjectRef::cluster_scoped("GCPCredentials", "application-default"),
                "give the audit Application Default Credentials: gcloud auth application-default login on a laptop; in a pod, a KSA mapped to a GSA (Workload Identity) that holds roles/iam.serviceAccountViewer".to_owned(),
            ),
            Grant::Retry => (
                ObjectRef::cluster_scoped("GCPProject", &project),
                "run the audit again; if it persists, check the network to iam.googleapis.com (or --gcp-iam-endpoint)".to_owned(),
            ),
        };
        findings.push(Finding::new(
            Code::GsaUnreadable,
            Severity::Warning,
            object,
            format!("the GSAs {gsas} could not be read from Google: {why}; nothing is said about them"),
            fix,
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(ksa: &str, email: &str, terraform_id: Option<&str>) -> Subject {
        Subject {
            namespace: "payments".into(),
            ksa: ksa.into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            named_by: "the KSA's annotation amazonaws.com/role-arn".into(),
            mode: ModeKey::Gke,
            audience: "sts.amazonaws.com".into(),
            gsa_email: Some(email.into()),
            gsa_unique_id: terraform_id.map(str::to_owned),
            issuer: None,
            in_cluster: true,
        }
    }

    #[test]
    fn each_answer_of_google_is_its_finding() {
        let found = |id: &str, disabled| Gsa::Found {
            unique_id: id.into(),
            disabled,
        };
        let denied = Gsa::Unreadable {
            why: "IAM_PERMISSION_DENIED: Permission 'iam.serviceAccounts.get' denied".into(),
            grant: Grant::Viewer,
        };
        let live: BTreeMap<String, Gsa> = [
            ("gone@p.iam.gserviceaccount.com", Gsa::Missing),
            ("off@p.iam.gserviceaccount.com", found("1", true)),
            ("new@p.iam.gserviceaccount.com", found("222222222222222222222", false)),
            ("same@p.iam.gserviceaccount.com", found("333333333333333333333", false)),
            ("a@other.iam.gserviceaccount.com", denied.clone()),
            ("b@other.iam.gserviceaccount.com", denied),
        ]
        .into_iter()
        .map(|(e, g)| (e.to_owned(), g))
        .collect();
        let subjects = [
            subject("gone", "gone@p.iam.gserviceaccount.com", None),
            subject("off", "off@p.iam.gserviceaccount.com", None),
            subject("new", "new@p.iam.gserviceaccount.com", Some("111111111111111111111")),
            subject("same", "same@p.iam.gserviceaccount.com", Some("333333333333333333333")),
            subject("a", "a@other.iam.gserviceaccount.com", None),
            subject("b", "b@other.iam.gserviceaccount.com", None),
        ];
        let findings = check(&subjects, &live, false);
        let codes: Vec<(Code, &str)> = findings.iter().map(|f| (f.code, f.object.name.as_str())).collect();
        assert_eq!(
            codes,
            [
                (Code::GsaMissing, "gone"),
                (Code::GsaDisabled, "off"),
                (Code::GsaRecreated, "new"),
                (Code::GsaUnreadable, "other"),
            ]
        );
        assert!(
            findings[1]
                .fix
                .contains("gcloud iam service-accounts enable off@p.iam.gserviceaccount.com --project p")
        );
        assert!(
            findings[2].message.contains("222222222222222222222 now")
                && findings[2].message.contains("has 111111111111111111111")
        );
        let unreadable = &findings[3];
        assert!(
            unreadable
                .message
                .contains("a@other.iam.gserviceaccount.com, b@other.iam.gserviceaccount.com")
        );
        assert!(
            unreadable.fix.contains("add-iam-policy-binding other")
                && unreadable.fix.contains("roles/iam.serviceAccountViewer")
        );
        // With the trust evaluated (--aws), GsaRecreated is the evaluator's, not Terraform's.
        assert!(
            check(&subjects, &live, true)
                .iter()
                .all(|f| f.code != Code::GsaRecreated)
        );
    }

    #[test]
    fn a_disabled_api_names_the_project_to_enable_it_in() {
        let live: BTreeMap<String, Gsa> = [(
            "r@p.iam.gserviceaccount.com".to_owned(),
            Gsa::Unreadable {
                why: "SERVICE_DISABLED: …".into(),
                grant: Grant::EnableApi("projects/4242".into()),
            },
        )]
        .into();
        let findings = check(&[subject("r", "r@p.iam.gserviceaccount.com", None)], &live, false);
        assert_eq!(findings[0].object, ObjectRef::cluster_scoped("GCPProject", "4242"));
        assert!(
            findings[0]
                .fix
                .ends_with("gcloud services enable iam.googleapis.com --project 4242"),
            "{}",
            findings[0].fix
        );
    }
}
