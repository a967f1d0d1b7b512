//! The STS role session name: shows up in CloudTrail and in the assumed-role ARN, so it
//! should say which pod asked. AWS allows 2-64 characters of `[\w+=,.@-]`.

use crate::error::InputError;

const FALLBACK: &str = "gke-aws-verifier";

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Checks a session name the user gave explicitly: we do not silently rewrite their choice.
pub fn explicit(value: &str) -> Result<String, InputError> {
    if !(2..=64).contains(&value.len()) || !value.chars().all(allowed) {
        return Err(InputError::new(
            "--session-name",
            format!("{value:?} is not a valid STS session name; expected 2-64 characters of A-Z a-z 0-9 and _+=,.@-"),
        ));
    }
    Ok(value.to_owned())
}

/// Derives a session name from the pod name (`HOSTNAME`), cleaned to AWS's rules.
pub fn from_pod_name(pod_name: Option<&str>) -> String {
    let cleaned: String = pod_name
        .unwrap_or_default()
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(64)
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.len() < 2 {
        FALLBACK.to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_cleaned_to_aws_rules() {
        for (case, pod, expected) in [
            ("plain pod name", Some("verify-abc12"), "verify-abc12".to_owned()),
            ("no hostname", None, FALLBACK.to_owned()),
            ("too short", Some("a"), FALLBACK.to_owned()),
            (
                "forbidden characters",
                Some("pod name/with:colons"),
                "pod-name-with-colons".to_owned(),
            ),
            ("unicode", Some("pöd"), "p-d".to_owned()),
            ("too long", Some(&"x".repeat(100)), "x".repeat(64)),
        ] {
            assert_eq!(from_pod_name(pod), expected, "{case}");
        }
    }

    #[test]
    fn every_cleaned_name_is_valid() {
        for pod in ["", "-", "a", "ü", "a b", "--ab--", &"é".repeat(80)] {
            let name = from_pod_name(Some(pod));
            assert!(explicit(&name).is_ok(), "{pod:?} -> {name:?}");
        }
    }

    #[test]
    fn explicit_names_are_checked_not_rewritten() {
        assert_eq!(explicit("ci-run@42").as_deref(), Ok("ci-run@42"));
        for bad in ["a", "has space", "slash/name", &"x".repeat(65)] {
            assert_eq!(explicit(bad).unwrap_err().field, "--session-name");
        }
    }
}
