//! Stage 3, S3: proves the temporary credentials give the access the role was made for:
//! listing a few keys (`list`), and reading one byte of a listed object (`read`).

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::aws::answer::{MalformedAnswer, WholeAnswer};
use crate::error::{Stage, StageError, error_chain};
use crate::input::RoleArn;
use crate::redact;

/// A few keys are enough to prove `s3:ListBucket`; more would only cost time.
const MAX_KEYS: i32 = 5;

/// The access to prove, as the Terraform module's `access` input names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// `s3:ListBucket`.
    List,
    /// `s3:ListBucket` and `s3:GetObject`.
    Read,
}

/// What to list (and read).
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub bucket: String,
    pub prefix: Option<String>,
    /// Custom endpoints (moto, MinIO) need path-style addressing.
    pub path_style: bool,
    pub access: Access,
}

/// What the listing showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub object_count: usize,
    pub truncated: bool,
    /// With `read`: the key of which one byte was read; `None` when the listing was empty.
    pub read_key: Option<String>,
    /// With `read` and an empty listing: why no object was read. The run still proves listing,
    /// and says that reading was not exercised, so a green smoke run cannot hide it.
    pub read_not_exercised: Option<&'static str>,
}

/// Why `--access read` read nothing: there was nothing to read.
pub const EMPTY_LISTING: &str = "the listing is empty, so no object was read: s3:GetObject (and kms:Decrypt for SSE-KMS) are not proven; \
     put an object under the prefix to prove them";

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
    let client = aws_sdk_s3::Client::from_conf(s3_config);
    let region = config.region().map_or("", |r| r.as_ref());
    let output = client
        .list_objects_v2()
        .bucket(&request.bucket)
        .set_prefix(request.prefix.clone())
        .max_keys(MAX_KEYS)
        .customize()
        .interceptor(WholeAnswer::new())
        .send()
        .await
        .map_err(|e| diagnose(e, request, role, region, &Action::List))?;
    let keys: Vec<&str> = output.contents().iter().filter_map(|o| o.key()).collect();
    check_listing(&keys, output.contents().len(), request)?;
    let mut listing = Listing {
        object_count: keys.len(),
        truncated: output.is_truncated().unwrap_or(false),
        read_key: None,
        read_not_exercised: None,
    };
    if request.access == Access::Read {
        let Some(key) = keys.first() else {
            tracing::warn!(bucket = %request.bucket, "{EMPTY_LISTING}");
            listing.read_not_exercised = Some(EMPTY_LISTING);
            return Ok(listing);
        };
        client
            .get_object()
            .bucket(&request.bucket)
            .key(*key)
            // One byte proves s3:GetObject (and kms:Decrypt for SSE-KMS) without downloading the object.
            .range("bytes=0-0")
            .send()
            .await
            .map_err(|e| diagnose(e, request, role, region, &Action::Read(key)))?;
        listing.read_key = Some((*key).to_owned());
    }
    Ok(listing)
}

/// A listing counts only if it is one S3 could have sent for this request: at most the keys
/// asked for, each under the prefix, none without a name.
fn check_listing(keys: &[&str], objects: usize, request: &ListRequest) -> Result<(), StageError> {
    let prefix = request.prefix.as_deref().unwrap_or_default();
    let problem = if objects > MAX_KEYS as usize {
        Some(format!("{objects} objects for max-keys {MAX_KEYS}"))
    } else if keys.len() != objects {
        Some("an object without a key".to_owned())
    } else if keys.iter().any(|k| k.is_empty()) {
        Some("an object with an empty key".to_owned())
    } else {
        keys.iter()
            .find(|k| !k.starts_with(prefix))
            .map(|_| "a key outside the requested prefix".to_owned())
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(StageError::new(
            Stage::S3,
            "S3BadResponse",
            format!("the listing of {} is malformed: {problem}", request.bucket),
            MALFORMED_HINT,
        )),
    }
}

const MALFORMED_HINT: &str = "Something other than Amazon S3 answered, or the answer was cut or damaged on the way: \
check AWS_ENDPOINT_URL_S3 and any proxy in between. Access is not proven by an answer S3 could not have sent.";

/// The S3 call that failed, for the diagnosis.
enum Action<'a> {
    List,
    Read(&'a str),
}

fn diagnose<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
    request: &ListRequest,
    role: &RoleArn,
    region: &str,
    action: &Action,
) -> StageError {
    let err = |code: &str, message: String, hint: String| StageError::new(Stage::S3, code, message, hint);
    let bucket = &request.bucket;
    if let Some(malformed) = MalformedAnswer::in_error(&e) {
        return err(
            "S3BadResponse",
            format!("S3 answered 200 but {malformed}: the listing of {bucket} does not count"),
            MALFORMED_HINT.into(),
        );
    }
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
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    let code = e.code().map_or_else(|| format!("HTTP{status}"), str::to_owned);
    let message = redact::cap(&format!("{code}: {}", e.message().unwrap_or("(no message)")));
    if let Some(actual) = bucket_region.filter(|r| r != region) {
        return err(
            "WrongRegion",
            format!("{message} (bucket {bucket} is in {actual}, not {region})"),
            format!(
                "Bucket {bucket} lives in {actual}: run with --region {actual} (AWS_REGION={actual}), the region the S3 client must sign for."
            ),
        );
    }
    if let Action::Read(key) = action {
        return diagnose_read(&code, message, request, role, key);
    }
    match code.as_str() {
        "AccessDenied" => list_denied(message, request, role),
        "NoSuchBucket" => err(&code, message, format!(
            "Bucket {bucket} does not exist (or not in this partition): check --bucket for typos and that it was created.")),
        "SlowDown" | "InternalError" | "ServiceUnavailable" => err(&code, message,
            "S3 kept failing or throttling until the deadline (each attempt was retried); try again later or raise --timeout.".into()),
        "InvalidAccessKeyId" | "ExpiredToken" | "InvalidToken" => err(&code, message,
            "S3 did not accept the temporary credentials STS just issued: STS and S3 endpoints disagree (check AWS_ENDPOINT_URL_STS / _S3).".into()),
        _ => err(&code, message, format!("S3 refused to list {bucket}; see the message above.")),
    }
}

/// Where Terraform sets what the role may do: the workload's inputs (or a named role's) in the
/// root's `workloads` map, whichever its identity mode; the role's name says which workload.
fn inputs_of(role: &RoleArn, inputs: &str) -> String {
    format!(
        "{inputs} of the workload whose role is {name} (or of its named role) in Terraform's workloads map, \
         whichever its identity (gsa or cluster), then terraform apply",
        name = role.role_name
    )
}

/// S3's wording when the bucket's own account has not allowed a principal of another account:
/// the role's own policy is not enough across accounts.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html>
fn another_accounts_bucket(message: &str) -> bool {
    message.contains("no resource-based policy allows")
}

/// What the bucket's account must add when the bucket is another account's: said as a fact when
/// S3's answer says so, as a possibility when S3 gave no reason at all (it adds one only within
/// the caller's own account or organization, so a bare "Access Denied" is what a bucket of
/// another organization answers), and not at all when S3 blamed something else.
fn cross_account_hint(message: &str, role: &RoleArn, bucket: &str, actions: &str) -> String {
    let what = format!(
        "the bucket's account must allow the role ({{\"AWS\": \"{role}\"}}) {actions} in the bucket policy, and for \
         SSE-KMS objects allow it kms:Decrypt in the key policy (a key's default policy trusts only its own account)."
    );
    let account = &role.account_id;
    if another_accounts_bucket(message) {
        format!(
            " S3's answer says no resource-based policy allows this: bucket {bucket} belongs to another account than the \
             role's ({account}). Across accounts the role's own policy is not enough: {what}"
        )
    } else if !message.contains("because") {
        format!(
            " S3 gave no reason, as it does for a bucket of another organization: if bucket {bucket} belongs to another \
             account than the role's ({account}), the role's own policy is not enough: {what}"
        )
    } else {
        String::new()
    }
}

/// A refused listing: `s3:ListBucket` missing, in the role's policy or (across accounts) in the
/// bucket policy.
fn list_denied(message: String, request: &ListRequest, role: &RoleArn) -> StageError {
    let bucket = &request.bucket;
    let bucket_arn = format!("arn:{}:s3:::{bucket}", role.partition);
    let scope = request
        .prefix
        .as_deref()
        .map(|p| format!(" with s3:prefix {p:?}"))
        .unwrap_or_default();
    let mut hint = format!(
        "Grant the role s3:ListBucket on {bucket_arn}{scope}: add the bucket ARN to {}. If it is there already, look for \
         a Deny in the bucket policy, an SCP or the role's permissions boundary.",
        inputs_of(role, "s3_bucket_arns (and the prefix to s3_prefixes)")
    );
    hint.push_str(&cross_account_hint(
        &message,
        role,
        bucket,
        &format!("s3:ListBucket on {bucket_arn}"),
    ));
    StageError::new(
        Stage::S3,
        "AccessDenied",
        format!("{message} (role {role} may not s3:ListBucket on {bucket_arn}{scope})"),
        hint,
    )
}

/// A refused one-byte GET: `s3:GetObject` missing, or the object's KMS key not usable.
fn diagnose_read(code: &str, message: String, request: &ListRequest, role: &RoleArn, key: &str) -> StageError {
    let err = |code: &str, message: String, hint: String| StageError::new(Stage::S3, code, message, hint);
    let bucket = &request.bucket;
    let object_arn = format!("arn:{}:s3:::{bucket}/{key}", role.partition);
    let shown_arn = format!("{object_arn:?}");
    let kms = message.contains("KMS") || message.contains("kms:");
    let cross_account = cross_account_hint(
        &message,
        role,
        bucket,
        &format!("s3:GetObject on arn:{}:s3:::{bucket}/*", role.partition),
    );
    match code {
        "AccessDenied" if kms => err(
            "KmsAccessDenied",
            format!("{message} (role {role} may not kms:Decrypt the key of {shown_arn})"),
            format!(
                "The object is encrypted with SSE-KMS and the role may not use its key: add the key's ARN to {} (it \
                 grants kms:Decrypt via s3.REGION.amazonaws.com). The key policy must also allow it: a key's default \
                 policy does so for its own account ({}) only; a key of another account must name the role in its key policy.{}",
                inputs_of(role, "kms_key_arns"),
                role.account_id,
                cross_account
            ),
        ),
        "AccessDenied" => err(
            "AccessDenied",
            format!("{message} (role {role} may not s3:GetObject on {shown_arn})"),
            format!(
                "The role may list but not read: grant s3:GetObject on arn:{partition}:s3:::{bucket}/*: set {}. If it is \
                 set, look for a Deny in the bucket policy, an SCP or the role's permissions boundary; or run with \
                 --access list if the workload only lists.{}",
                inputs_of(role, "access = \"read\" (and the prefix in s3_prefixes)"),
                cross_account,
                partition = role.partition
            ),
        ),
        _ => err(
            code,
            message,
            format!("S3 refused to read {shown_arn} (one byte, to prove s3:GetObject); see the message above."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ListRequest {
        ListRequest {
            bucket: "acme-reports".into(),
            prefix: Some("daily/".into()),
            path_style: false,
            access: Access::Read,
        }
    }

    #[test]
    fn a_refused_read_names_get_object_or_the_kms_key() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/reader").unwrap();
        let denied = diagnose_read(
            "AccessDenied",
            "AccessDenied: Access Denied".into(),
            &request(),
            &role,
            "daily/a.csv",
        );
        assert_eq!(denied.code, "AccessDenied");
        assert!(
            denied.message.contains("s3:GetObject") && denied.message.contains("arn:aws:s3:::acme-reports/daily/a.csv"),
            "{denied}"
        );
        assert!(denied.hint.contains("access = \"read\""), "{denied}");
        // S3's wording when the object's KMS key refuses the role.
        let kms = "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/reader/s is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because no identity-based policy allows the kms:Decrypt action";
        let kms = diagnose_read("AccessDenied", kms.into(), &request(), &role, "daily/a.csv");
        assert_eq!(kms.code, "KmsAccessDenied");
        assert!(
            kms.hint.contains("kms_key_arns") && kms.hint.contains("kms:Decrypt"),
            "{kms}"
        );
    }

    #[test]
    fn denials_name_the_workloads_inputs_and_across_accounts_the_bucket_policy() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/gke-reports-reader").unwrap();
        // S3 names the reason within the caller's own account or organization: not the bucket's.
        let same = "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/gke-reports-reader/s is not authorized \
                    to perform: s3:ListBucket on resource: \"arn:aws:s3:::acme-reports\" because no identity-based policy \
                    allows the s3:ListBucket action";
        let same = list_denied(same.into(), &request(), &role);
        assert!(
            same.hint.contains("s3_bucket_arns") && same.hint.contains("whose role is gke-reports-reader"),
            "{same}"
        );
        assert!(
            !same.hint.contains("bucket policy, and") && !same.hint.contains("module"),
            "{same}"
        );
        // A bare "Access Denied" is what a bucket of another organization answers: the bucket
        // policy is named as a possibility.
        let bare = list_denied("AccessDenied: Access Denied".into(), &request(), &role);
        assert!(
            bare.hint.contains("S3 gave no reason")
                && bare
                    .hint
                    .contains("if bucket acme-reports belongs to another account than the role's (123456789012)")
                && bare.hint.contains("key policy"),
            "{bare}"
        );
        // S3's words when the bucket's own account has not allowed the role.
        let cross = "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/gke-reports-reader/s is not authorized \
                     to perform: s3:ListBucket on resource: \"arn:aws:s3:::acme-reports\" because no resource-based policy \
                     allows the s3:ListBucket action";
        let cross = list_denied(cross.into(), &request(), &role);
        assert!(
            cross.hint.contains("another account than the role's (123456789012)")
                && cross
                    .hint
                    .contains(r#"{"AWS": "arn:aws:iam::123456789012:role/gke-reports-reader"}"#)
                && cross.hint.contains("key policy"),
            "{cross}"
        );
        let read = diagnose_read(
            "AccessDenied",
            "AccessDenied: ... because no resource-based policy allows the s3:GetObject action".into(),
            &request(),
            &role,
            "daily/a.csv",
        );
        assert!(
            read.hint.contains("s3:GetObject on arn:aws:s3:::acme-reports/*") && read.hint.contains("another account")
        );
    }

    #[test]
    fn listings_s3_could_not_have_sent_are_refused() {
        let ok = check_listing(&["daily/a", "daily/b"], 2, &request());
        assert!(ok.is_ok());
        let empty_key = ListRequest {
            prefix: None,
            ..request()
        };
        assert_eq!(check_listing(&[""], 1, &empty_key).unwrap_err().code, "S3BadResponse");
        for (keys, objects) in [(vec!["other/a"], 1), (vec!["daily/a"], 2), (vec!["daily/a"; 6], 6)] {
            let err = check_listing(&keys, objects, &request()).unwrap_err();
            assert_eq!(err.code, "S3BadResponse", "{keys:?}");
        }
    }
}
