//! `RoleArn::parse` (`--role-arn`). Invariants: never panics; on success `as_str()` and
//! `Display` are the input unchanged, the partition is a known one, the account id is 12
//! ASCII digits, and the role name is 1-64 characters of IAM's role-name set and is the
//! last path segment of the input; on failure the error names `--role-arn`.
#![no_main]

use gke_aws_verifier::input::RoleArn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    match RoleArn::parse(value) {
        Ok(arn) => {
            assert_eq!(arn.as_str(), value);
            assert_eq!(arn.to_string(), value);
            assert!(matches!(arn.partition.as_str(), "aws" | "aws-cn" | "aws-us-gov"));
            assert_eq!(arn.account_id.len(), 12);
            assert!(arn.account_id.bytes().all(|b| b.is_ascii_digit()));
            assert!(!arn.role_name.is_empty() && arn.role_name.len() <= 64);
            assert!(
                arn.role_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            );
            assert!(value.ends_with(&format!("/{}", arn.role_name)));
            assert!(value.starts_with(&format!("arn:{}:iam::{}:role/", arn.partition, arn.account_id)));
            // Parsing is idempotent.
            assert_eq!(RoleArn::parse(arn.as_str()).as_ref(), Ok(&arn));
        }
        Err(e) => {
            assert_eq!(e.field, "--role-arn");
        }
    }
});
