//! `verify`: runs the three stages in order, each bounded by the run's deadline, and
//! reports what each learned or why it failed.

use std::time::Duration;

use tokio::time::Instant;

use crate::clock::unix_now;
use crate::error::{Failure, Stage, StageError};
use crate::metadata::MetadataServer;
use crate::report::{Details, Report};
use crate::s3::{self, ListRequest};
use crate::sdk;
use crate::sts::{self, RoleRequest};

/// Everything `verify` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub metadata_host: String,
    pub audience: String,
    pub expected_gsa: Option<String>,
    pub region: String,
    pub role: RoleRequest,
    pub list: ListRequest,
    pub timeout: Duration,
}

pub async fn run(settings: &Settings) -> Report {
    let https_client = match sdk::https_client() {
        Ok(client) => client,
        Err(e) => return Report::from_failure(&Failure::Input(e)),
    };
    let deadline = Instant::now() + settings.timeout;
    let mut report = Report::new();

    // Loading the SDK's configuration reads files; do it while the metadata server answers.
    let metadata_server = MetadataServer::new(&settings.metadata_host);
    let token = metadata_server.checked_token(&settings.audience, settings.expected_gsa.as_deref(), deadline);
    let identity = Stage::GcpIdentity.run(deadline, settings.timeout, token);
    let ((identity, elapsed), sdk_config) = tokio::join!(identity, sdk::load(&settings.region, https_client));
    let token = match identity {
        Ok(token) => token,
        Err(e) => return failed(report, e, elapsed),
    };
    let claims = &token.claims;
    report.passed(
        Stage::GcpIdentity,
        elapsed,
        Details::GcpIdentity {
            email: claims.email.clone(),
            sub: claims.sub.clone(),
            azp: claims.azp.clone(),
            aud: claims.aud.clone(),
            iss: claims.iss.clone(),
            exp: claims.exp,
            expires_in_s: claims.seconds_left(unix_now()),
        },
    );

    let (assumed, elapsed) = Stage::run(
        Stage::Sts,
        deadline,
        settings.timeout,
        sts::assume_role(&sdk_config, &settings.role, &token),
    )
    .await;
    let assumed = match assumed {
        Ok(assumed) => assumed,
        Err(e) => return failed(report, e, elapsed),
    };
    report.passed(
        Stage::Sts,
        elapsed,
        Details::Sts {
            role_arn: settings.role.role_arn.to_string(),
            assumed_role_arn: assumed.arn.clone(),
            session_name: settings.role.session_name.clone(),
            credential_expiration: assumed.expiration_rfc3339(),
        },
    );

    let (listing, elapsed) = Stage::run(
        Stage::S3,
        deadline,
        settings.timeout,
        s3::list_objects(
            &sdk_config,
            assumed.credentials,
            &settings.list,
            &settings.role.role_arn,
        ),
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
            },
        ),
        Err(e) => return failed(report, e, elapsed),
    }
    report.ok = true;
    report
}

fn failed(mut report: Report, error: StageError, elapsed: u64) -> Report {
    report.failed(error, elapsed);
    report
}
