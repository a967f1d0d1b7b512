//! Validated inputs. Every check here runs before any network call, and every error names
//! the flag at fault and what a valid value looks like.

use std::fmt;

use crate::error::InputError;

/// The longest RoleArn STS's AssumeRoleWithWebIdentity takes.
pub const MAX_ROLE_ARN_LEN: usize = 2048;

/// An IAM role ARN: `arn:PARTITION:iam::ACCOUNT:role[/PATH]/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    pub partition: String,
    pub account_id: String,
    pub role_name: String,
}

impl RoleArn {
    pub fn parse(value: &str) -> Result<Self, InputError> {
        // STS takes a RoleArn of at most 2,048 characters. A longer value (one cut on its way
        // here would still parse) is refused by its length alone, never echoed.
        if value.len() > MAX_ROLE_ARN_LEN {
            return Err(InputError::new(
                "--role-arn",
                format!(
                    "is {} characters long; an IAM role ARN has at most {MAX_ROLE_ARN_LEN} \
                     (Terraform's role_arn output for the workload)",
                    value.len()
                ),
            ));
        }
        let bad = |why: &str| {
            InputError::new(
                "--role-arn",
                format!(
                    "{value:?} {why}; expected arn:aws:iam::123456789012:role/NAME (Terraform's role_arn output for the workload)"
                ),
            )
        };
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account_id, resource] = parts[..] else {
            return Err(bad("is not an ARN"));
        };
        if arn != "arn" || !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(bad("is not an ARN of a known AWS partition"));
        }
        if service != "iam" || !region.is_empty() {
            return Err(bad("is not an IAM ARN"));
        }
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("has no 12-digit account id"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(bad("is not a role ARN (an assumed-role or user ARN cannot be assumed)"));
        };
        let role_name = path_and_name.rsplit('/').next().unwrap_or_default();
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if role_name.is_empty() || role_name.len() > 64 || !role_name.chars().all(name_ok) {
            return Err(bad("has an invalid role name (1-64 characters of [A-Za-z0-9+=,.@_-])"));
        }
        if !path_and_name.chars().all(|c| name_ok(c) || c == '/') {
            return Err(bad("has an invalid role path (characters of [A-Za-z0-9+=,.@_-/])"));
        }
        Ok(Self {
            arn: value.to_owned(),
            partition: partition.to_owned(),
            account_id: account_id.to_owned(),
            role_name: role_name.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The region whose STS endpoint serves this partition when no region is given.
    pub fn partition_sts_region(&self) -> &'static str {
        match self.partition.as_str() {
            "aws-cn" => "cn-north-1",
            "aws-us-gov" => "us-gov-west-1",
            _ => "us-east-1",
        }
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// An AWS region such as `eu-west-1`; the STS and S3 endpoints are the region's own.
pub fn region(value: &str) -> Result<String, InputError> {
    let mut parts = value.split('-');
    let well_formed = value.len() <= 32
        && parts
            .next()
            .is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .next_back()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.clone().count() >= 1
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    if !well_formed {
        return Err(InputError::new(
            "--region (AWS_REGION)",
            format!("{value:?} is not an AWS region; expected e.g. us-east-1 or eu-west-1"),
        ));
    }
    Ok(value.to_owned())
}

/// The audience the ID token is minted for; the role's trust policy pins it as `accounts.google.com:oaud`.
pub fn audience(value: &str) -> Result<String, InputError> {
    if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InputError::new(
            "--audience",
            format!(
                "{value:?} is not a usable audience; expected 1-255 printable characters without spaces, e.g. sts.amazonaws.com (it must equal the role's accounts.google.com:oaud condition)"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// `DurationSeconds` of the STS session: AWS accepts 900 s to 12 h (the role's maximum may be lower).
pub fn duration_seconds(value: u32) -> Result<i32, InputError> {
    if !(900..=43_200).contains(&value) {
        return Err(InputError::new(
            "--duration-seconds",
            format!(
                "{value} is out of range; STS accepts 900 (15 minutes) to 43200 (12 hours), up to the role's max_session_duration"
            ),
        ));
    }
    Ok(value as i32)
}

/// An S3 bucket name, by AWS's naming rules (3-63 characters of a-z, 0-9, dots and hyphens).
pub fn bucket(value: &str) -> Result<String, InputError> {
    let chars_ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&value.len())
        || !chars_ok
        || !ends_ok(value.as_bytes().first())
        || !ends_ok(value.as_bytes().last())
        || value.contains("..")
    {
        return Err(InputError::new(
            "--bucket",
            format!(
                "{value:?} is not an S3 bucket name; expected 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit (the name, not s3:// or an ARN)"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// The e-mail of the Google service account the token must belong to.
pub fn service_account_email(value: &str) -> Result<String, InputError> {
    // Google's own alphabet for service account e-mails: the value is pasted into hints' commands.
    let valid = value
        .split_once('@')
        .is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'))
        && value.len() <= 254
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'));
    if !valid {
        return Err(InputError::new(
            "--expected-gsa",
            format!("{value:?} is not a service account e-mail; expected NAME@PROJECT.iam.gserviceaccount.com"),
        ));
    }
    Ok(value.to_owned())
}

/// The metadata server's `host[:port]`, as Google's client libraries read `GCE_METADATA_HOST`.
pub fn metadata_host(value: &str) -> Result<String, InputError> {
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    // A DNS name is at most 253 characters; every retry logs the host, so a huge one is refused
    // here rather than repeated in the logs.
    if value.len() > MAX_METADATA_HOST_BYTES {
        return Err(InputError::new(
            "--metadata-host (GCE_METADATA_HOST)",
            format!(
                "is {} bytes long; expected host[:port] of at most {MAX_METADATA_HOST_BYTES} bytes, e.g. metadata.google.internal",
                value.len()
            ),
        ));
    }
    if !host_ok || !port_ok {
        return Err(InputError::new(
            "--metadata-host (GCE_METADATA_HOST)",
            format!(
                "{value:?} is not host[:port]; expected e.g. metadata.google.internal or 127.0.0.1:8080 (no scheme, no path)"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// A DNS name (253) and a port.
const MAX_METADATA_HOST_BYTES: usize = 253 + 6;

/// S3's key limit: a longer prefix matches nothing, and S3 refuses it.
const MAX_PREFIX_BYTES: usize = 1024;

/// A key prefix to list under; empty means the whole bucket.
pub fn prefix(value: &str) -> Result<Option<String>, InputError> {
    if value.len() > MAX_PREFIX_BYTES || value.chars().any(char::is_control) {
        return Err(InputError::new(
            "--prefix",
            format!(
                "a prefix of {} bytes is not an S3 key prefix; expected at most {MAX_PREFIX_BYTES} bytes without control characters, e.g. daily/",
                value.len()
            ),
        ));
    }
    Ok(Some(value.to_owned()).filter(|p| !p.is_empty()))
}

/// An endpoint override from `AWS_ENDPOINT_URL*` (or `--pushgateway`): `http(s)://host[:port][/path]`
/// and nothing else. A stray space or newline (a YAML block scalar) would otherwise reach the
/// SDK, whose error then quotes the whole request, token included.
pub fn endpoint_url(variable: &'static str, value: &str) -> Result<(), InputError> {
    let bad = |why: &str| {
        InputError::new(
            variable,
            format!(
                "{} {why}; expected e.g. https://sts.eu-west-1.amazonaws.com or http://127.0.0.1:5000",
                describe_url(value)
            ),
        )
    };
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "contains whitespace or control characters (a trailing newline from YAML?)",
        ));
    }
    let Some(rest) = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) else {
        return Err(bad("is not an http:// or https:// URL"));
    };
    if value.contains(['?', '#']) {
        return Err(bad("has a query or fragment"));
    }
    if value.len() > MAX_URL_BYTES {
        return Err(bad(&format!(
            "is {} bytes long; an endpoint URL is at most {MAX_URL_BYTES}",
            value.len()
        )));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    // `user:password@` is not the host: the port follows the last colon after it (and after
    // an IPv6 literal's brackets).
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let port = match host_port.rfind(']') {
        Some(end) => host_port[end + 1..].strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(bad("has no host"));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(bad("has a port outside 1-65535"));
    }
    Ok(())
}

/// Longer endpoint URLs are not ones anybody configured.
const MAX_URL_BYTES: usize = 2048;

/// A URL as an error may show it: without a password (`user:pw@host`), quoted.
pub fn describe_url(value: &str) -> String {
    let shown = match value.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://<credentials>@{host}{}", &rest[authority_end..]),
                None => value.to_owned(),
            }
        }
        None => value.to_owned(),
    };
    format!("{:?}", shown.chars().take(200).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arn_accepts_roles_with_and_without_path() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/gke/reader").unwrap();
        assert_eq!(
            (arn.account_id.as_str(), arn.role_name.as_str()),
            ("123456789012", "reader")
        );
        assert!(RoleArn::parse("arn:aws-cn:iam::123456789012:role/reader").is_ok());
    }

    #[test]
    fn role_arn_rejects_what_cannot_be_assumed() {
        for (case, value) in [
            ("empty", ""),
            ("not an arn", "reader"),
            ("s3 arn", "arn:aws:s3:::bucket"),
            ("short account", "arn:aws:iam::1234:role/reader"),
            ("user", "arn:aws:iam::123456789012:user/alice"),
            ("assumed role", "arn:aws:sts::123456789012:assumed-role/reader/s"),
            ("bad name", "arn:aws:iam::123456789012:role/has space"),
            ("bad path", "arn:aws:iam::123456789012:role/has space/reader"),
            ("no name", "arn:aws:iam::123456789012:role/"),
            ("unknown partition", "arn:gcp:iam::123456789012:role/reader"),
        ] {
            let err = RoleArn::parse(value).expect_err(case);
            assert_eq!(err.field, "--role-arn", "{case}");
        }
        let path = "p/".repeat(1100);
        let long = format!("arn:aws:iam::123456789012:role/{path}reader");
        let err = RoleArn::parse(&long).expect_err("over 2048 characters");
        assert!(
            err.to_string().contains("at most 2048") && !err.to_string().contains(&path),
            "{err}"
        );
        let longest = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(64));
        assert!(RoleArn::parse(&longest).is_ok());
    }

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-west-1", "us-gov-west-1", "ap-southeast-2"] {
            assert_eq!(region(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "us", "US-EAST-1", "useast1", "us-east-", "eu_west_1", "us-east-1a"] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets() {
        assert!(bucket("my-data.bucket-1").is_ok());
        for bad in [
            "ab",
            "My-Bucket",
            "s3://bucket",
            "arn:aws:s3:::bucket",
            "-bucket",
            "bucket-",
            "a..b",
            &"b".repeat(64),
        ] {
            assert!(bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_seconds(900), Ok(900));
        assert_eq!(duration_seconds(43_200), Ok(43_200));
        assert!(duration_seconds(899).is_err());
        assert!(duration_seconds(43_201).is_err());
    }

    #[test]
    fn audiences_emails_hosts_and_endpoints() {
        assert!(audience("sts.amazonaws.com").is_ok());
        assert!(audience("").is_err());
        assert!(audience("has space").is_err());
        assert!(service_account_email("v@p.iam.gserviceaccount.com").is_ok());
        assert!(service_account_email("verifier").is_err());
        assert!(metadata_host("metadata.google.internal").is_ok());
        assert!(metadata_host("127.0.0.1:8080").is_ok());
        assert!(metadata_host("http://127.0.0.1:8080").is_err());
        assert!(metadata_host("host:0").is_err());
        assert!(endpoint_url("AWS_ENDPOINT_URL", "http://127.0.0.1:5000").is_ok());
        assert!(endpoint_url("AWS_ENDPOINT_URL", "127.0.0.1:5000").is_err());
    }

    #[test]
    fn endpoints_with_stray_characters_are_refused() {
        assert!(endpoint_url("AWS_ENDPOINT_URL", "https://sts.eu-west-1.amazonaws.com").is_ok());
        assert!(endpoint_url("AWS_ENDPOINT_URL", "https://vpce.example/sts").is_ok());
        for bad in [
            "http://127.0.0.1:5000\n",
            "http://127.0.0.1:5000 ",
            "http://127.0.0.1:5000\t",
            " http://127.0.0.1:5000",
            "http://127.0.0.1:5000/?a=b",
            "http://127.0.0.1:5000/#x",
            "http://",
            "http:///path",
            "ftp://host",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "http://127.0.0.1:port",
            "http://[::1]:70000/",
            "http://user:pw@:5000",
        ] {
            assert!(endpoint_url("AWS_ENDPOINT_URL", bad).is_err(), "{bad:?}");
        }
        for ok in [
            "http://[::1]:5000/",
            "http://[::1]",
            "https://user:pw@host:443/x",
            "http://h:65535",
        ] {
            assert!(endpoint_url("AWS_ENDPOINT_URL", ok).is_ok(), "{ok:?}");
        }
        let long = format!("https://{}.example", "h".repeat(3000));
        let refused = endpoint_url("AWS_ENDPOINT_URL", &long).unwrap_err();
        assert!(refused.problem.len() < 600, "{refused}");
        let port = endpoint_url("AWS_ENDPOINT_URL", "http://127.0.0.1:99999").unwrap_err();
        assert!(port.problem.contains("1-65535"), "{port}");
    }

    #[test]
    fn a_huge_metadata_host_is_refused_by_its_length() {
        let refused = metadata_host(&"m".repeat(100_000)).unwrap_err();
        assert_eq!(refused.field, "--metadata-host (GCE_METADATA_HOST)");
        assert!(refused.problem.len() < 200, "{refused}");
        assert!(metadata_host(&format!("{}:8080", "m".repeat(253))).is_ok());
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        let shown = describe_url("http://user:hunter2@gateway:9091/x");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("gateway:9091/x"), "{shown}");
    }

    #[test]
    fn prefixes_are_bounded_by_s3s_key_limit() {
        assert_eq!(prefix("daily/"), Ok(Some("daily/".into())));
        assert_eq!(prefix(""), Ok(None));
        assert!(prefix(&"p".repeat(1025)).is_err());
        assert!(prefix("a\nb").is_err());
    }

    #[test]
    fn partitions_have_a_default_sts_region() {
        let region = |arn: &str| RoleArn::parse(arn).unwrap().partition_sts_region();
        assert_eq!(region("arn:aws:iam::123456789012:role/r"), "us-east-1");
        assert_eq!(region("arn:aws-cn:iam::123456789012:role/r"), "cn-north-1");
        assert_eq!(region("arn:aws-us-gov:iam::123456789012:role/r"), "us-gov-west-1");
    }
}
