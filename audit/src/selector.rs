//! Label selectors as the API server evaluates a MutatingWebhookConfiguration's
//! `namespaceSelector` and `objectSelector`: `matchLabels` and `matchExpressions` (`In`,
//! `NotIn`, `Exists`, `DoesNotExist`), every requirement ANDed; an absent or empty selector
//! matches everything. Parsed once from the configuration, evaluated per pod.
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>,
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#matching-requests-namespaceselector>

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::kept::Kept;

/// A `LabelSelector` as the API returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// The first requirement `labels` fail, `None` when they match; `Err` for a selector the
    /// API server would have refused (an unknown operator, values where none belong).
    pub fn excludes(&self, labels: &Kept) -> Result<Option<String>, String> {
        for (key, value) in &self.match_labels {
            if labels.get(key) != Some(value.as_str()) {
                return Ok(Some(format!("{key}={value}")));
            }
        }
        for r in &self.match_expressions {
            let has = labels.get(&r.key);
            let holds = match (r.operator.as_str(), r.values.is_empty()) {
                ("In", false) => has.is_some_and(|v| r.values.iter().any(|x| x == v)),
                ("NotIn", false) => has.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                ("Exists", true) => has.is_some(),
                ("DoesNotExist", true) => has.is_none(),
                (operator, _) => {
                    return Err(format!(
                        "the requirement {} {operator} {:?} is not one the API server accepts",
                        r.key, r.values
                    ));
                }
            };
            if !holds {
                return Ok(Some(r.to_string()));
            }
        }
        Ok(None)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operator.as_str() {
            "Exists" => write!(f, "{} Exists", self.key),
            "DoesNotExist" => write!(f, "{} DoesNotExist", self.key),
            op => write!(f, "{} {op} ({})", self.key, self.values.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Kept {
        Kept::from_map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    fn selector(json: serde_json::Value) -> LabelSelector {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_operator_as_the_api_server_evaluates_it() {
        let ns = |name: &str| labels(&[("kubernetes.io/metadata.name", name), ("team", "a")]);
        let not_in = selector(serde_json::json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["gke-aws-webhook", "kube-system"]}]}));
        assert_eq!(not_in.excludes(&ns("payments")), Ok(None));
        assert_eq!(
            not_in.excludes(&ns("kube-system")),
            Ok(Some(
                "kubernetes.io/metadata.name NotIn (gke-aws-webhook, kube-system)".to_owned()
            ))
        );
        // NotIn holds for a label that is absent.
        assert_eq!(not_in.excludes(&labels(&[])), Ok(None));
        let in_ = selector(
            serde_json::json!({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}),
        );
        assert_eq!(in_.excludes(&ns("x")), Ok(None));
        assert!(in_.excludes(&labels(&[])).unwrap().is_some());
        let exists = selector(serde_json::json!({"matchExpressions": [{"key": "team", "operator": "Exists"}]}));
        assert_eq!(exists.excludes(&ns("x")), Ok(None));
        assert_eq!(exists.excludes(&labels(&[])), Ok(Some("team Exists".to_owned())));
        let absent =
            selector(serde_json::json!({"matchExpressions": [{"key": "opt-out", "operator": "DoesNotExist"}]}));
        assert_eq!(absent.excludes(&ns("x")), Ok(None));
        assert!(absent.excludes(&labels(&[("opt-out", "")])).unwrap().is_some());
        let match_labels = selector(serde_json::json!({"matchLabels": {"gke-aws-verifier/inject": "true"}}));
        assert_eq!(
            match_labels.excludes(&labels(&[("gke-aws-verifier/inject", "true")])),
            Ok(None)
        );
        assert_eq!(
            match_labels.excludes(&labels(&[("gke-aws-verifier/inject", "yes")])),
            Ok(Some("gke-aws-verifier/inject=true".to_owned()))
        );
        // Empty: everything.
        assert_eq!(LabelSelector::default().excludes(&labels(&[])), Ok(None));
        // What the API server refuses is not guessed.
        let bad = selector(serde_json::json!({"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]}));
        assert!(bad.excludes(&labels(&[])).is_err());
        let in_without_values = selector(serde_json::json!({"matchExpressions": [{"key": "k", "operator": "In"}]}));
        assert!(in_without_values.excludes(&labels(&[])).is_err());
    }
}
