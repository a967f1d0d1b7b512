//! Terraform's `workloads` output (`terraform output -json`, whole or just that output): what
//! each workload's KSA should say. Read and checked before any network call; every error names
//! the field at fault. Named roles (`roles = { NAME = { role_arn, … } }`) are optional, so
//! outputs from before them still read. A workload's namespace and KSA must be Kubernetes names:
//! they go into the fix commands, and the cluster could hold no other.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use gke_aws_verifier::input::{self, RoleArn};
use serde::Deserialize;

use crate::bad_input::BadInput;
use crate::objects::{Mode, is_dns_label, is_dns_subdomain, shown};

/// The most a Terraform output file may hold.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
const FLAG: &str = "--terraform-output";

/// One workload as Terraform wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub name: String,
    pub mode: Mode,
    pub namespace: String,
    pub ksa: String,
    pub gsa_email: Option<String>,
    pub gsa_unique_id: Option<String>,
    pub role_arn: RoleArn,
    pub audience: String,
    pub region: Option<String>,
    /// Cluster mode: the cluster's issuer (`https://container.googleapis.com/v1/projects/…`).
    pub issuer_url: Option<String>,
    /// Named roles, by name.
    pub roles: BTreeMap<String, NamedRole>,
}

/// A named role: `gke-aws-verifier/role.NAME` (and `…/region.NAME`) on the KSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRole {
    pub role_arn: RoleArn,
    pub region: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    identity: Option<String>,
    namespace: String,
    ksa: String,
    #[serde(default)]
    gsa_email: Option<String>,
    #[serde(default)]
    gsa_unique_id: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    issuer_url: Option<String>,
    #[serde(default)]
    roles: Option<BTreeMap<String, WireRole>>,
}

#[derive(Deserialize)]
struct WireRole {
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    aws_region: Option<String>,
}

/// Reads the file (a regular file, at most 16 MiB).
pub fn load(path: &Path) -> Result<Vec<Workload>, BadInput> {
    let bad = |problem: String| BadInput::new(FLAG, problem);
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(bad(format!(
            "{} is not a regular file; write it with: terraform -chdir=terraform output -json > workloads.json",
            path.display()
        )));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(format!("{} is larger than {MAX_FILE_BYTES} bytes", path.display())));
    }
    parse(&text)
}

/// The workloads of `terraform output -json` (the whole object) or `terraform output -json workloads`.
pub fn parse(text: &str) -> Result<Vec<Workload>, BadInput> {
    let bad = |problem: String| BadInput::new(FLAG, problem);
    let mut data: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("is not JSON: {e}")))?;
    if let Some(value) = data.get_mut("workloads").and_then(|w| w.get_mut("value")) {
        data = value.take();
    }
    let serde_json::Value::Object(map) = data else {
        return Err(bad(
            "expected the workloads output: { \"NAME\": { \"namespace\", \"ksa\", \"role_arn\", … } } (terraform output -json)"
                .to_owned(),
        ));
    };
    map.into_iter().map(|(name, value)| workload(name, value)).collect()
}

fn workload(name: String, value: serde_json::Value) -> Result<Workload, BadInput> {
    let field = |f: &str| format!("{FLAG} workloads.{name}.{f}");
    let wire: Wire =
        serde_json::from_value(value).map_err(|e| BadInput::new(&format!("{FLAG} workloads.{name}"), e.to_string()))?;
    // Both become names in the report and arguments of its fix commands: Kubernetes names only.
    let kubernetes_name = |f: &str, value: &str, valid: fn(&str) -> bool, what: &str| {
        if valid(value) {
            Ok(())
        } else {
            Err(BadInput::new(&field(f), format!("{:?} is not {what}", shown(value))))
        }
    };
    kubernetes_name(
        "namespace",
        &wire.namespace,
        is_dns_label,
        "a Kubernetes namespace (a DNS label, e.g. payments)",
    )?;
    kubernetes_name(
        "ksa",
        &wire.ksa,
        is_dns_subdomain,
        "a Kubernetes ServiceAccount name (a DNS subdomain, e.g. reports-reader)",
    )?;
    let mode = match wire.identity.as_deref() {
        None | Some("gsa") => Mode::Gsa,
        Some("cluster") => Mode::Cluster,
        Some(other) => {
            return Err(BadInput::new(
                &field("identity"),
                format!("{other:?}: expected gsa or cluster"),
            ));
        }
    };
    let arn = |f: &str, value: Option<&str>| {
        let value = value.ok_or_else(|| {
            BadInput::new(
                &field(f),
                "is null: the role was not created; run terraform apply first",
            )
        })?;
        RoleArn::parse(value).map_err(|e| BadInput::from_check(&field(f), e))
    };
    let region = |f: &str, value: Option<&str>| {
        value
            .map(|v| input::region(v).map_err(|e| BadInput::from_check(&field(f), e)))
            .transpose()
    };
    let role_arn = arn("role_arn", wire.role_arn.as_deref())?;
    let mut roles = BTreeMap::new();
    for (role, r) in wire.roles.unwrap_or_default() {
        let role_arn = arn(&format!("roles.{role}.role_arn"), r.role_arn.as_deref())?;
        let region = region(&format!("roles.{role}.aws_region"), r.aws_region.as_deref())?;
        roles.insert(role, NamedRole { role_arn, region });
    }
    let region = region("aws_region", wire.aws_region.as_deref())?;
    let audience = input::audience(wire.audience.as_deref().unwrap_or("sts.amazonaws.com"))
        .map_err(|e| BadInput::from_check(&field("audience"), e))?;
    if mode == Mode::Cluster && wire.issuer_url.as_deref().is_none_or(str::is_empty) {
        return Err(BadInput::new(
            &field("issuer_url"),
            "is empty on a cluster-mode workload",
        ));
    }
    Ok(Workload {
        name,
        mode,
        namespace: wire.namespace,
        ksa: wire.ksa,
        gsa_email: wire.gsa_email.filter(|_| mode == Mode::Gsa),
        gsa_unique_id: wire.gsa_unique_id.filter(|_| mode == Mode::Gsa),
        role_arn,
        audience,
        region,
        issuer_url: wire.issuer_url.filter(|_| mode == Mode::Cluster),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole `terraform output -json` object, from before named roles.
    const WHOLE: &str = include_str!("../tests/fixtures/terraform-output.json");
    /// `terraform output -json workloads` with named roles.
    const NAMED: &str = include_str!("../tests/fixtures/workloads-named-roles.json");

    #[test]
    fn reads_the_whole_object_and_the_bare_output_with_named_roles() {
        let whole = parse(WHOLE).unwrap();
        let bare = parse(NAMED).unwrap();
        let without_roles = |ws: &[Workload]| -> Vec<Workload> {
            ws.iter()
                .cloned()
                .map(|w| Workload {
                    roles: BTreeMap::new(),
                    ..w
                })
                .collect()
        };
        assert_eq!(without_roles(&bare), whole);
        let reports = bare.iter().find(|w| w.name == "reports").unwrap();
        assert_eq!(reports.roles["exports"].role_arn.role_name, "reports-reader.exports");
        assert_eq!(reports.roles["exports"].region.as_deref(), Some("eu-west-1"));
        let cluster = whole.iter().find(|w| w.name == "example-cluster").unwrap();
        assert_eq!(cluster.mode, Mode::Cluster);
        assert!(cluster.gsa_email.is_none() && cluster.issuer_url.is_some());
        assert!(whole.iter().all(|w| w.roles.is_empty()));
    }

    #[test]
    fn named_roles_are_read_and_checked() {
        let text = r#"{"w":{"namespace":"n","ksa":"k","role_arn":"arn:aws:iam::123456789012:role/a",
            "roles":{"writer":{"role_arn":"arn:aws:iam::123456789012:role/b","s3_buckets":["x"]}}}}"#;
        let w = &parse(text).unwrap()[0];
        assert_eq!(w.roles["writer"].role_arn.role_name, "b");
        let bad = parse(&text.replace("role/b", "user/b")).unwrap_err();
        assert_eq!(bad.field, "--terraform-output workloads.w.roles.writer.role_arn");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"w":{"namespace":"n","ksa":"k","role_arn":null}}"#).unwrap_err();
        assert_eq!(e.field, "--terraform-output workloads.w.role_arn");
        let e =
            parse(r#"{"w":{"namespace":"n","ksa":"k","role_arn":"arn:aws:iam::123456789012:role/a","identity":"x"}}"#)
                .unwrap_err();
        assert_eq!(e.field, "--terraform-output workloads.w.identity");
        assert_eq!(parse("[]").unwrap_err().field, FLAG);
    }

    #[test]
    fn namespace_and_ksa_must_be_kubernetes_names() {
        let output = |ns: &str, ksa: &str| {
            serde_json::json!({ "w": { "namespace": ns, "ksa": ksa, "role_arn": "arn:aws:iam::123456789012:role/a" } })
                .to_string()
        };
        assert!(parse(&output("payments", "reports.reader-1")).is_ok());
        for (ns, ksa, field) in [
            ("payments;id", "k", "namespace"),
            ("Payments", "k", "namespace"),
            ("a.b", "k", "namespace"),
            ("n", "k $(reboot)", "ksa"),
            ("n", "-k", "ksa"),
            ("n", "", "ksa"),
        ] {
            let e = parse(&output(ns, ksa)).unwrap_err();
            assert_eq!(
                e.field,
                format!("--terraform-output workloads.w.{field}"),
                "{ns:?} {ksa:?}"
            );
        }
    }
}
