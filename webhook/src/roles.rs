//! The KSA's named roles: `gke-aws-verifier/role.NAME: ARN`, each with an optional
//! `gke-aws-verifier/region.NAME`. One token serves them all (every role of a workload trusts
//! the same identity), so each becomes one profile of the pod's shared config file.

use std::collections::BTreeMap;

use gke_aws_verifier::input::{self, RoleArn};
use gke_aws_verifier::profiles::{self, DEFAULT_PROFILE, MAX_NAMED_ROLES};

use crate::keys::{NAMED_REGION_PREFIX, NAMED_ROLE_PREFIX};
use crate::message::quoted;

/// One named role of the KSA.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedRole {
    pub name: String,
    pub role_arn: RoleArn,
    /// `gke-aws-verifier/region.NAME`, else the default role's region.
    pub region: Option<String>,
}

/// An annotation at fault: its key, what is wrong, and a value that would do.
#[derive(Debug, Clone, PartialEq)]
pub struct BadAnnotation {
    pub key: String,
    pub problem: String,
    pub example: &'static str,
}

/// The named roles (sorted by name) and warnings about annotations that name no role.
pub fn named_roles(
    annotations: &BTreeMap<String, String>,
    default_region: Option<&str>,
) -> Result<(Vec<NamedRole>, Vec<String>), BadAnnotation> {
    let bad = |key: &str, problem: String, example| BadAnnotation {
        key: key.to_owned(),
        problem,
        example,
    };
    let mut roles = Vec::new();
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix(NAMED_ROLE_PREFIX) else {
            continue;
        };
        check_name(name).map_err(|problem| bad(key, problem, "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME"))?;
        let role_arn =
            RoleArn::parse(value).map_err(|e| bad(key, e.problem, "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME"))?;
        let region_key = format!("{NAMED_REGION_PREFIX}{name}");
        let region = match annotations.get(&region_key) {
            Some(r) => Some(input::region(r).map_err(|e| bad(&region_key, e.problem, "eu-west-1"))?),
            None => default_region.map(str::to_owned),
        };
        roles.push(NamedRole {
            name: name.to_owned(),
            role_arn,
            region,
        });
    }
    if roles.len() > MAX_NAMED_ROLES {
        let last = format!("{NAMED_ROLE_PREFIX}{}", roles[MAX_NAMED_ROLES].name);
        return Err(bad(
            &last,
            format!(
                "is one of {} named roles, more than the {MAX_NAMED_ROLES} a pod may have: remove some",
                roles.len()
            ),
            "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME",
        ));
    }
    let warnings = annotations
        .keys()
        .filter_map(|key| key.strip_prefix(NAMED_REGION_PREFIX))
        .filter(|name| !roles.iter().any(|r| r.name == *name))
        .map(|name| {
            // Annotation keys are short (the API server holds their name part to 63 characters).
            format!("gke-aws-verifier: KSA annotation {NAMED_REGION_PREFIX}{name} has no role.{name}: it is unused")
        })
        .collect();
    Ok((roles, warnings))
}

fn check_name(name: &str) -> Result<(), String> {
    if name == DEFAULT_PROFILE {
        return Err("names the default role, which is amazonaws.com/role-arn; pick another name".to_owned());
    }
    if !profiles::valid_name(name) {
        return Err(format!(
            "has the role name {}; expected 1 to {} letters, digits, '-' or '_'",
            quoted(name),
            profiles::MAX_NAME_CHARS
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:role/logs";

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn named_roles_take_their_region_or_the_default() {
        let a = annotations(&[
            ("gke-aws-verifier/role.logs", ARN),
            ("gke-aws-verifier/role.audit_2", ARN),
            ("gke-aws-verifier/region.logs", "eu-west-3"),
        ]);
        let (roles, warnings) = named_roles(&a, Some("us-east-1")).unwrap();
        let summary: Vec<(&str, Option<&str>)> = roles.iter().map(|r| (r.name.as_str(), r.region.as_deref())).collect();
        assert_eq!(summary, [("audit_2", Some("us-east-1")), ("logs", Some("eu-west-3"))]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn bad_named_roles_name_the_annotation() {
        for (case, pairs, key) in [
            (
                "bad ARN",
                vec![("gke-aws-verifier/role.logs", "arn:aws:iam::1:user/x")],
                "gke-aws-verifier/role.logs",
            ),
            (
                "bad name",
                vec![("gke-aws-verifier/role.a.b", ARN)],
                "gke-aws-verifier/role.a.b",
            ),
            (
                "default",
                vec![("gke-aws-verifier/role.default", ARN)],
                "gke-aws-verifier/role.default",
            ),
            (
                "bad region",
                vec![
                    ("gke-aws-verifier/role.logs", ARN),
                    ("gke-aws-verifier/region.logs", "mars"),
                ],
                "gke-aws-verifier/region.logs",
            ),
        ] {
            let error = named_roles(&annotations(&pairs), None).unwrap_err();
            assert_eq!(error.key, key, "{case}: {error:?}");
        }
        let eleven: Vec<(String, &str)> = (0..11)
            .map(|i| (format!("gke-aws-verifier/role.r{i:02}"), ARN))
            .collect();
        let a: BTreeMap<String, String> = eleven.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
        let error = named_roles(&a, None).unwrap_err();
        assert!(error.problem.contains("11 named roles"), "{error:?}");
    }

    #[test]
    fn a_region_without_its_role_is_a_warning() {
        let a = annotations(&[("gke-aws-verifier/region.logz", "eu-west-3")]);
        let (roles, warnings) = named_roles(&a, None).unwrap();
        assert!(roles.is_empty());
        assert!(warnings[0].contains("region.logz has no role.logz"), "{warnings:?}");
    }
}
