//! What each container of the pod asks for, from the pod's annotations: the skip list
//! (`gke-aws-verifier/skip-containers`), the include list (`gke-aws-verifier/containers`) and
//! the per-container role (`gke-aws-verifier/profile.CONTAINER: NAME | default | none`).

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::Pod;

use crate::keys::{INCLUDE_CONTAINERS, PROFILE_PREFIX, SKIP_CONTAINERS};
use crate::message::quoted;

/// What one container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The default role (and, with named roles, every profile through `--profile`).
    Default,
    /// This named role, for its default credential chain (`AWS_PROFILE`).
    Profile(String),
    /// No credentials, no token, no config.
    Nothing,
}

/// The choice of every container and init container the pod names (the webhook's own token
/// writers excluded), and warnings for annotations that name no container.
pub fn choices(
    pod: &Pod,
    ours: &[&str],
    profiles: &[&str],
    ksa: &str,
) -> Result<(BTreeMap<String, Choice>, Vec<String>), String> {
    let none = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&none);
    let list = |key: &str| -> Option<HashSet<String>> {
        annotations.get(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    let skipped = list(SKIP_CONTAINERS).unwrap_or_default();
    let included = list(INCLUDE_CONTAINERS);
    let spec = pod.spec.as_ref();
    let names: Vec<&str> = spec
        .into_iter()
        .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
        .map(|c| c.name.as_str())
        .filter(|n| !ours.contains(n))
        .collect();
    let mut warnings = Vec::new();
    // The skip list may name a container another webhook adds later (a mesh proxy): no warning.
    for name in included.iter().flatten() {
        if !names.contains(&name.as_str()) {
            warnings.push(format!(
                "gke-aws-verifier: {INCLUDE_CONTAINERS} names no container of the pod: {}",
                quoted(name)
            ));
        }
    }
    let mut chosen = BTreeMap::new();
    for name in &names {
        let listed_out = skipped.contains(*name) || included.as_ref().is_some_and(|i| !i.contains(*name));
        let key = format!("{PROFILE_PREFIX}{name}");
        let choice = match annotations.get(&key).map(String::as_str) {
            None if listed_out => Choice::Nothing,
            None => Choice::Default,
            Some("none") => Choice::Nothing,
            Some(_) if listed_out => {
                return Err(format!(
                    "gke-aws-verifier: annotation {} gives container {} a role, but {SKIP_CONTAINERS} or {INCLUDE_CONTAINERS} leave it out; remove one of the two",
                    quoted(&key),
                    quoted(name)
                ));
            }
            Some("default") => Choice::Default,
            Some(profile) if profiles.contains(&profile) => Choice::Profile(profile.to_owned()),
            Some(profile) => {
                let mut known = vec!["default"];
                known.extend(profiles);
                return Err(format!(
                    "gke-aws-verifier: annotation {} asks for profile {}, which ServiceAccount {ksa:?} does not have; it has: {}, or none for no credentials",
                    quoted(&key),
                    quoted(profile),
                    known.join(", ")
                ));
            }
        };
        chosen.insert((*name).to_owned(), choice);
    }
    for key in annotations.keys() {
        if let Some(name) = key.strip_prefix(PROFILE_PREFIX)
            && !names.contains(&name)
        {
            warnings.push(format!(
                "gke-aws-verifier: a profile annotation names no container of the pod: {key}"
            ));
        }
    }
    Ok((chosen, warnings))
}

/// The named roles the pod's `profile.CONTAINER` annotations ask for (not `default` or `none`).
pub fn named_profiles(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(key, _)| key.starts_with(PROFILE_PREFIX))
        .map(|(_, profile)| profile.as_str())
        .filter(|profile| !["default", "none"].contains(profile))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": { "annotations": annotations },
            "spec": {
                "initContainers": [{ "name": "gke-aws-token" }, { "name": "migrate" }],
                "containers": [{ "name": "app" }, { "name": "logs" }, { "name": "proxy" }]
            }
        }))
        .unwrap()
    }

    fn chosen(annotations: serde_json::Value) -> BTreeMap<String, Choice> {
        choices(&pod(annotations), &["gke-aws-token"], &["reader", "shipper"], "reports")
            .unwrap()
            .0
    }

    #[test]
    fn every_container_but_ours_gets_a_choice() {
        let c = chosen(json!({}));
        assert_eq!(c.keys().collect::<Vec<_>>(), ["app", "logs", "migrate", "proxy"]);
        assert!(c.values().all(|c| *c == Choice::Default));
    }

    #[test]
    fn the_include_list_leaves_out_containers_added_later() {
        let c =
            chosen(json!({ "gke-aws-verifier/containers": "app, logs", "gke-aws-verifier/skip-containers": "logs" }));
        assert_eq!(c["app"], Choice::Default);
        assert_eq!(c["logs"], Choice::Nothing);
        assert_eq!(c["proxy"], Choice::Nothing);
        assert_eq!(c["migrate"], Choice::Nothing);
    }

    #[test]
    fn profiles_per_container() {
        let c = chosen(json!({
            "gke-aws-verifier/profile.logs": "shipper",
            "gke-aws-verifier/profile.proxy": "none",
            "gke-aws-verifier/profile.migrate": "default",
        }));
        assert_eq!(c["logs"], Choice::Profile("shipper".into()));
        assert_eq!(c["proxy"], Choice::Nothing);
        assert_eq!(c["migrate"], Choice::Default);
    }

    #[test]
    fn an_unknown_profile_is_refused_naming_the_ones_the_ksa_has() {
        let error = choices(
            &pod(json!({ "gke-aws-verifier/profile.logs": "writer" })),
            &[],
            &["reader", "shipper"],
            "reports",
        )
        .unwrap_err();
        assert!(error.contains("profile \"writer\""), "{error}");
        assert!(error.contains("it has: default, reader, shipper, or none"), "{error}");
        let contradiction = choices(
            &pod(json!({ "gke-aws-verifier/profile.logs": "reader", "gke-aws-verifier/skip-containers": "logs" })),
            &[],
            &["reader"],
            "reports",
        )
        .unwrap_err();
        assert!(contradiction.contains("remove one of the two"), "{contradiction}");
    }

    #[test]
    fn annotations_that_name_no_container_are_warned_about() {
        let (_, warnings) = choices(
            &pod(json!({ "gke-aws-verifier/profile.ap": "none", "gke-aws-verifier/containers": "app,ap" })),
            &[],
            &[],
            "reports",
        )
        .unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
