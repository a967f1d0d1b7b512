//! Where `explain` finds the role's trust policy (and, for a cluster issuer, the account's OIDC
//! provider): IAM, read with the caller's credentials ([`crate::aws::iam`]), or a file given with
//! `--trust-policy`, in any of the forms people have at hand:
//! - `aws iam get-role --role-name NAME` (`{"Role": {"AssumeRolePolicyDocument": …}}`),
//! - the document itself, plain or URL-encoded as IAM's API returns it,
//! - `terraform show -json` of a plan or a state holding the role (`aws_iam_role`), and the
//!   OIDC provider (`aws_iam_openid_connect_provider`) when it holds that too.

use serde_json::Value;
use trust_policy::{Provider, ProviderLookup};

use crate::error::InputError;

/// The trust policy and what is known of the provider, and where they came from.
#[derive(Debug, Clone)]
pub struct Trust {
    /// `None`: the account has no such role.
    pub policy: Option<Value>,
    pub provider: ProviderLookup,
    /// For the report: `IAM (GetRole)`, `aws iam get-role`, `terraform module.x.aws_iam_role.this`.
    pub origin: String,
}

const FIELD: &str = "--trust-policy";

/// Reads the trust policy out of `text` (a file's contents). `role_name` picks the role when
/// a Terraform document holds several; `issuer` (as IAM names it) picks the OIDC provider.
pub fn from_file(text: &str, role_name: Option<&str>, issuer: &str) -> Result<Trust, InputError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        // IAM's URL-encoded document, as `GetRole` returns it.
        let policy = trust_policy::document::parse(trimmed).map_err(|why| InputError::new(FIELD, why))?;
        return Ok(file_trust(policy, "a URL-encoded trust policy"));
    }
    let json: Value = serde_json::from_str(trimmed)
        .map_err(|e| InputError::new(FIELD, format!("the file is not JSON ({e}); {FORMS}")))?;
    if let Some(role) = json.get("Role") {
        let policy = match &role["AssumeRolePolicyDocument"] {
            Value::String(text) => trust_policy::document::parse(text).map_err(|why| InputError::new(FIELD, why))?,
            document @ Value::Object(_) => within_iams_size(document.clone())?,
            _ => return Err(InputError::new(FIELD, "Role.AssumeRolePolicyDocument is missing")),
        };
        return Ok(file_trust(policy, "aws iam get-role"));
    }
    if json.get("Statement").is_some() {
        return Ok(file_trust(within_iams_size(json)?, "a trust policy document"));
    }
    if json.get("format_version").is_some() {
        return terraform(&json, role_name, issuer);
    }
    Err(InputError::new(
        FIELD,
        format!("the file holds no trust policy; {FORMS}"),
    ))
}

const FORMS: &str = "give the output of `aws iam get-role --role-name NAME`, the policy document (plain or \
                     URL-encoded), or `terraform show -json` of a plan or state holding the role";

/// A document already parsed is held to the size every other form is ([`document::parse`]):
/// a policy larger than IAM could ever store is no role's, and matching patterns costs time
/// in their length.
///
/// [`document::parse`]: trust_policy::document::parse
fn within_iams_size(policy: Value) -> Result<Value, InputError> {
    let size = policy.to_string().len();
    if size > trust_policy::document::MAX_DOCUMENT_BYTES {
        return Err(InputError::new(
            FIELD,
            format!(
                "the trust policy is {size} bytes, larger than {} bytes",
                trust_policy::document::MAX_DOCUMENT_BYTES
            ),
        ));
    }
    Ok(policy)
}

fn file_trust(policy: Value, origin: &str) -> Trust {
    Trust {
        policy: Some(policy),
        provider: ProviderLookup::NotRead,
        origin: origin.to_owned(),
    }
}

/// A managed resource of `terraform show -json`: its type, its address and its (planned) values.
struct Resource<'a> {
    kind: &'a str,
    address: &'a str,
    values: &'a Value,
}

fn terraform(json: &Value, role_name: Option<&str>, issuer: &str) -> Result<Trust, InputError> {
    // A plan's planned values, else a state's values.
    let root = match (&json["planned_values"]["root_module"], &json["values"]["root_module"]) {
        (planned @ Value::Object(_), _) => planned,
        (_, state @ Value::Object(_)) => state,
        _ => {
            return Err(InputError::new(
                FIELD,
                "the Terraform JSON has no planned_values or values",
            ));
        }
    };
    let mut resources = Vec::new();
    collect(root, 0, &mut resources);
    let roles: Vec<&Resource> = resources.iter().filter(|r| r.kind == "aws_iam_role").collect();
    let chosen: Vec<&&Resource> = match role_name {
        Some(name) => roles.iter().filter(|r| r.values["name"] == name).collect(),
        None => roles.iter().collect(),
    };
    let addresses = || roles.iter().map(|r| r.address).collect::<Vec<_>>().join(", ");
    let role = match chosen.as_slice() {
        [one] => *one,
        [] if roles.is_empty() => return Err(InputError::new(FIELD, "the Terraform JSON holds no aws_iam_role")),
        [] => {
            return Err(InputError::new(
                FIELD,
                format!(
                    "no aws_iam_role named {:?} in the Terraform JSON (it holds {})",
                    role_name.unwrap_or_default(),
                    addresses()
                ),
            ));
        }
        _ => {
            return Err(InputError::new(
                "--role-arn",
                format!(
                    "the Terraform JSON holds several roles ({}): name one with --role-arn",
                    addresses()
                ),
            ));
        }
    };
    let policy = match &role.values["assume_role_policy"] {
        Value::String(text) => trust_policy::document::parse(text)
            .map_err(|why| InputError::new(FIELD, format!("{}: {why}", role.address)))?,
        _ => {
            return Err(InputError::new(
                FIELD,
                format!(
                    "{}'s assume_role_policy is not known in this plan (it is computed at apply); use a state \
                     (terraform show -json) or run without --trust-policy to read IAM",
                    role.address
                ),
            ));
        }
    };
    let provider = resources
        .iter()
        .filter(|r| r.kind == "aws_iam_openid_connect_provider")
        .find(|r| {
            r.values["url"]
                .as_str()
                .map(|u| u.strip_prefix("https://").unwrap_or(u))
                == Some(issuer)
        })
        .map_or(ProviderLookup::NotRead, |r| {
            let client_ids = r.values["client_id_list"]
                .as_array()
                .map(|ids| ids.iter().filter_map(|id| id.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let arn = r.values["arn"].as_str().map_or_else(
                // Unknown before apply: what IAM will name it.
                || policy_principal(&policy, issuer).unwrap_or_default(),
                str::to_owned,
            );
            ProviderLookup::Registered(Provider { arn, client_ids })
        });
    Ok(Trust {
        policy: Some(policy),
        provider,
        origin: format!("terraform {}", role.address),
    })
}

/// The `Federated` principal of `policy` that names `issuer`'s provider.
fn policy_principal(policy: &Value, issuer: &str) -> Option<String> {
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    statements.into_iter().find_map(|s| {
        let federated = &s["Principal"]["Federated"];
        let names = match federated {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect::<Vec<_>>(),
        };
        names
            .into_iter()
            .find(|n| n.ends_with(&format!(":oidc-provider/{issuer}")))
            .map(str::to_owned)
    })
}

/// Terraform nests modules; real configurations are a few levels deep.
const MAX_MODULE_DEPTH: usize = 16;

fn collect<'a>(module: &'a Value, depth: usize, into: &mut Vec<Resource<'a>>) {
    if depth > MAX_MODULE_DEPTH {
        return;
    }
    // By `type` and `mode`, not by splitting the address: keys such as `["a.b"]` hold dots, and
    // a data source (`data.aws_iam_role`) reads a role, it does not define one.
    for resource in module["resources"].as_array().into_iter().flatten() {
        if let (Some(address), Some(kind), Some("managed")) = (
            resource["address"].as_str(),
            resource["type"].as_str(),
            resource["mode"].as_str(),
        ) {
            into.push(Resource {
                kind,
                address,
                values: &resource["values"],
            });
        }
    }
    for child in module["child_modules"].as_array().into_iter().flatten() {
        collect(child, depth + 1, into);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";

    fn policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}")},
            "Action": "sts:AssumeRoleWithWebIdentity"}]})
    }

    #[test]
    fn every_form_of_the_document() {
        let get_role = json!({"Role": {"RoleName": "r", "AssumeRolePolicyDocument": policy()}});
        let encoded = "%7B%22Statement%22%3A%5B%5D%7D";
        for (text, origin) in [
            (get_role.to_string(), "aws iam get-role"),
            (policy().to_string(), "a trust policy document"),
            (encoded.to_owned(), "a URL-encoded trust policy"),
        ] {
            let trust = from_file(&text, None, ISSUER).unwrap();
            assert_eq!(
                (trust.origin.as_str(), &trust.provider),
                (origin, &ProviderLookup::NotRead)
            );
        }
        let bad = from_file("[1]", None, ISSUER).unwrap_err();
        assert_eq!(bad.field, "--trust-policy");
        // Every form is held to IAM-sized documents, parsed or not.
        let huge = json!({"Statement": [{"Effect": "Allow", "Sid": "x".repeat(70_000)}]});
        for text in [
            huge.to_string(),
            json!({"Role": {"AssumeRolePolicyDocument": huge}}).to_string(),
        ] {
            let error = from_file(&text, None, ISSUER).unwrap_err();
            assert!(error.problem.contains("larger than 65536 bytes"), "{error}");
        }
    }

    #[test]
    fn terraform_plans_and_states_name_the_role_and_the_provider() {
        let role = |name: &str, address: &str| json!({"address": address, "mode": "managed", "type": "aws_iam_role", "values": {"name": name, "assume_role_policy": policy().to_string()}});
        let provider = json!({"address": "module.oidc.aws_iam_openid_connect_provider.this", "mode": "managed",
            "type": "aws_iam_openid_connect_provider",
            "values": {"url": format!("https://{ISSUER}"), "client_id_list": ["sts.amazonaws.com"]}});
        // A data source reads a role; it is not one this configuration defines.
        let read = json!({"address": "data.aws_iam_role.b", "mode": "data", "type": "aws_iam_role",
            "values": {"name": "b", "assume_role_policy": policy().to_string()}});
        let plan = json!({"format_version": "1.2", "planned_values": {"root_module": {
            "resources": [role("a", "aws_iam_role.a"), read],
            "child_modules": [{"resources": [role("b", "module.w[\"b.c\"].aws_iam_role.this"), provider]}]}}});
        let trust = from_file(&plan.to_string(), Some("b"), ISSUER).unwrap();
        assert_eq!(trust.origin, "terraform module.w[\"b.c\"].aws_iam_role.this");
        let ProviderLookup::Registered(found) = trust.provider else {
            panic!("{:?}", trust.provider)
        };
        assert_eq!(found.arn, format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}"));
        assert_eq!(found.client_ids, ["sts.amazonaws.com"]);
        assert_eq!(
            from_file(&plan.to_string(), None, ISSUER).unwrap_err().field,
            "--role-arn"
        );
        assert!(
            from_file(&plan.to_string(), Some("c"), ISSUER)
                .unwrap_err()
                .problem
                .contains("aws_iam_role.a")
        );
        let mut unknown = plan.clone();
        unknown["planned_values"]["root_module"]["resources"][0]["values"]["assume_role_policy"] = Value::Null;
        let error = from_file(&unknown.to_string(), Some("a"), ISSUER).unwrap_err();
        assert!(error.problem.contains("not known in this plan"), "{error}");
    }
}
