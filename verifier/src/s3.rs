//! Stage 3, S3: proves the temporary credentials work by listing a few keys of the bucket.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::error::{Stage, StageError};
use crate::input::RoleArn;
use crate::metadata::error_chain;

/// A few keys are enough to prove `s3:ListBucket`; more would only cost time.
const MAX_KEYS: i32 = 5;

/// What to list.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub bucket: String,
    pub prefix: Option<String>,
    /// Custom endpoints (moto, MinIO) need path-style addressing.
    pub path_style: bool,
}

/// What the listing showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub object_count: usize,
    pub truncated: bool,
}

pub async fn list_objects(
    config: &SdkConfig,
    credentials: Credentials,
    request: &ListRequest,
    role: &RoleArn,
) -> Result<Listing, StageError> {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .credentials_provider(credentials)
        .force_path_style(request.path_style)
        .build();
    let output = aws_sdk_s3::Client::from_conf(s3_config)
        .list_objects_v2()
        .bucket(&request.bucket)
        .set_prefix(request.prefix.clone())
        .max_keys(MAX_KEYS)
        .send()
        .await
        .map_err(|e| diagnose(e, request, role, config.region().map_or("", |r| r.as_ref())))?;
    Ok(Listing {
        object_count: output.contents().len(),
        truncated: output.is_truncated().unwrap_or(false),
    })
}

fn diagnose<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
    request: &ListRequest,
    role: &RoleArn,
    region: &str,
) -> StageError {
    let err = |code: &str, message: String, hint: String| StageError::new(Stage::S3, code, message, hint);
    let bucket = &request.bucket;
    let SdkError::ServiceError(_) = &e else {
        return match e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => err("S3Unreachable", error_chain(&e),
                "Cannot reach S3. Check egress to HTTPS (NetworkPolicy, firewall, proxy) and AWS_ENDPOINT_URL_S3 if set.".into()),
            _ => err("S3BadResponse", error_chain(&e), "S3's answer could not be read; check AWS_ENDPOINT_URL_S3 points at S3.".into()),
        };
    };
    // S3 names the bucket's real region in a header, also on redirects and 400s.
    let bucket_region = e
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_owned);
    let code = e.code().unwrap_or("Unknown").to_owned();
    let message = format!("{code}: {}", e.message().unwrap_or("(no message)"));
    if let Some(actual) = bucket_region.filter(|r| r != region) {
        return err(
            "WrongRegion",
            format!("{message} (bucket {bucket} is in {actual}, not {region})"),
            format!(
                "Bucket {bucket} lives in {actual}: run with --region {actual} (AWS_REGION={actual}), the region the S3 client must sign for."
            ),
        );
    }
    match code.as_str() {
        "AccessDenied" => {
            let bucket_arn = format!("arn:{}:s3:::{bucket}", role.partition);
            let scope = request.prefix.as_deref().map(|p| format!(" with s3:prefix {p:?}")).unwrap_or_default();
            err("AccessDenied", format!("{message} (role {role} may not s3:ListBucket on {bucket_arn}{scope})"), format!(
                "Grant the role s3:ListBucket on {bucket_arn}{scope}: add the bucket ARN to s3_bucket_arns (and the prefix to s3_prefixes) \
                 of the aws-federated-role module, then terraform apply. If it is there already, look for a Deny in the bucket policy, \
                 an SCP or the role's permissions boundary."))
        }
        "NoSuchBucket" => err(&code, message, format!(
            "Bucket {bucket} does not exist (or not in this partition): check --bucket for typos and that it was created.")),
        "SlowDown" | "InternalError" | "ServiceUnavailable" => err(&code, message,
            "S3 kept failing or throttling until the deadline (each attempt was retried); try again later or raise --timeout.".into()),
        "InvalidAccessKeyId" | "ExpiredToken" | "InvalidToken" => err(&code, message,
            "S3 did not accept the temporary credentials STS just issued: STS and S3 endpoints disagree (check AWS_ENDPOINT_URL_STS / _S3).".into()),
        _ => err(&code, message, format!("S3 refused to list {bucket}; see the message above.")),
    }
}
