//! The other input validators of `input.rs` (and `session_name::explicit`): cheap, so one
//! target. Invariants: never panic; on success the value is returned unchanged and obeys
//! the documented shape; on failure the error names the flag or variable at fault.
#![no_main]

use gke_aws_verifier::{input, session_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Before the UTF-8 check, which would make most numbers (900 among them) unreachable.
    if let Some(bytes) = data.get(..4) {
        let n = u32::from_le_bytes(bytes.try_into().unwrap());
        match input::duration_seconds(n) {
            Ok(d) => assert!((900..=43_200).contains(&d) && d as u32 == n),
            Err(e) => assert_eq!(e.field, "--duration-seconds"),
        }
    }

    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };

    match input::region(value) {
        Ok(v) => {
            assert_eq!(v, value);
            assert!(v.len() <= 32 && v.split('-').count() >= 3);
            assert!(
                v.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
        }
        Err(e) => assert_eq!(e.field, "--region (AWS_REGION)"),
    }

    match input::bucket(value) {
        Ok(v) => {
            assert_eq!(v, value);
            assert!((3..=63).contains(&v.len()) && !v.contains(".."));
            assert!(
                v.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            );
        }
        Err(e) => assert_eq!(e.field, "--bucket"),
    }

    match input::audience(value) {
        Ok(v) => {
            assert_eq!(v, value);
            assert!((1..=255).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()));
        }
        Err(e) => assert_eq!(e.field, "--audience"),
    }

    match input::service_account_email(value) {
        Ok(v) => {
            assert_eq!(v, value);
            assert!(v.contains('@') && !v.contains(char::is_whitespace));
        }
        Err(e) => assert_eq!(e.field, "--expected-gsa"),
    }

    match input::metadata_host(value) {
        Ok(v) => {
            assert_eq!(v, value);
            assert!(!v.contains('/') && !v.is_empty());
        }
        Err(e) => assert_eq!(e.field, "--metadata-host (GCE_METADATA_HOST)"),
    }

    match input::endpoint_url("AWS_ENDPOINT_URL", value) {
        Ok(()) => assert!(value.starts_with("http://") || value.starts_with("https://")),
        Err(e) => assert_eq!(e.field, "AWS_ENDPOINT_URL"),
    }

    if let Ok(v) = session_name::explicit(value) {
        assert_eq!(v, value);
    }
});
