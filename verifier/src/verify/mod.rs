//! `verify`: the chain (identity, STS), then S3, each bounded by the run's deadline, and a
//! report of what each stage learned or why it failed.

pub mod all_profiles;
pub mod pushgateway;
pub mod report;

use tokio::time::Instant;

use crate::aws::s3::{self, ListRequest};
use crate::aws::sts::RoleSettings;
use crate::chain::{self, Assumed, Failed};
use crate::error::Failure;
use crate::explain;
use crate::identity::IdentitySettings;
use crate::stage::Stage;
use crate::verify::report::{Details, Explained, Report};

/// Everything `verify` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub identity: IdentitySettings,
    pub role: RoleSettings,
    /// Fail unless a Google token belongs to this service account.
    pub expected_gsa: Option<String>,
    pub list: ListRequest,
    /// `--explain`: when STS refuses, the trust policy's explanation goes into the report.
    pub explain: bool,
}

pub async fn run(settings: &Settings) -> Report {
    let deadline = Instant::now() + settings.identity.timeout;
    let chained = chain::assume_role(
        &settings.identity,
        &settings.role,
        settings.expected_gsa.as_deref(),
        deadline,
    )
    .await;
    let mut report = Report::new();
    report.role_arn = Some(settings.role.request.role_arn.to_string());
    let Assumed {
        identity,
        role,
        sdk_config,
    } = match chained {
        Err(input) => return Report::from_failure(Failure::Input(input)),
        Ok(Err(Failed { identity, error })) => {
            if let Some(identity) = &identity {
                report.passed(
                    identity.value.stage(),
                    identity.elapsed_ms,
                    Details::of_identity(&identity.value),
                );
            }
            let refused = error.value.stage == Stage::Sts;
            report.failed(error.value, error.elapsed_ms);
            if let (true, true, Some(identity)) = (settings.explain, refused, &identity) {
                let explained = explain::after_refusal(
                    &identity.value,
                    &settings.role.request.role_arn,
                    settings.identity.timeout,
                )
                .await;
                report.explanation = Some(Explained {
                    json: serde_json::to_value(&explained).unwrap_or_default(),
                    text: explained.to_text(),
                });
            }
            return report;
        }
        Ok(Ok(assumed)) => assumed,
    };
    report.passed(
        identity.value.stage(),
        identity.elapsed_ms,
        Details::of_identity(&identity.value),
    );
    let request = &settings.role.request;
    report.passed(
        Stage::Sts,
        role.elapsed_ms,
        Details::Sts {
            role_arn: request.role_arn.to_string(),
            assumed_role_arn: role.value.arn.clone(),
            session_name: request.session_name.clone(),
            credential_expiration: role.value.expiration_rfc3339(),
        },
    );

    let (listing, elapsed) = Stage::S3
        .run(
            deadline,
            settings.identity.timeout,
            s3::list_objects(&sdk_config, role.value.credentials, &settings.list, &request.role_arn),
        )
        .await;
    match listing {
        Ok(listing) => report.passed(
            Stage::S3,
            elapsed,
            Details::S3 {
                bucket: settings.list.bucket.clone(),
                prefix: settings.list.prefix.clone(),
                object_count: listing.object_count,
                truncated: listing.truncated,
                access: settings.list.access,
                read_key: listing.read_key,
                read_not_exercised: listing.read_not_exercised,
            },
        ),
        Err(e) => report.failed(e, elapsed),
    }
    report
}
