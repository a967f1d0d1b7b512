//! What the Kubernetes API stand-ins share about lists, done as kube-apiserver does them:
//!
//! - `labelSelector`, equality-based (`k=v`, `k==v`, `k!=v`) and set-based (`k in (a,b)`,
//!   `k notin (a,b)`, `k`, `!k`), comma-separated requirements that must all hold
//!   (<https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>);
//!   `!=` and `notin` also match objects without the key. A selector that does not parse is a
//!   400, as the API server answers.
//! - `continue` tokens as kube-apiserver's storage writes them: base64 (URL alphabet, no
//!   padding) of `{"v":"meta.k8s.io/v1","rv":N,"start":KEY}`, the list's resourceVersion and
//!   the key after the last one returned (kubernetes/kubernetes
//!   `staging/src/k8s.io/apiserver/pkg/storage/continue.go`, `EncodeContinue`). A token whose
//!   resourceVersion was compacted away is a 410 Gone with the API server's message
//!   (<https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks>).
//! - `resourceVersion` on a list (<https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-get-and-list>):
//!   unset or `0` is served at the latest version (a stand-in has no stale cache, and "any" may
//!   be the latest); a version newer than the latest is a 504 "Too large resource version";
//!   with `resourceVersionMatch=Exact`, a compacted version is a 410; with `continue`, a
//!   resourceVersion is a 400.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The API server's message for a `continue` token past the compaction window.
pub const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.";

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parses a selector as the API server reads the query parameter (already URL-decoded).
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(requirement(part).ok_or_else(|| {
                format!("unable to parse requirement: found '{part}', expected: in, notin, =, ==, !=, or a key")
            })?);
        }
        Ok(Selector(requirements))
    }

    /// Whether `labels` (an object's `metadata.labels`, or null) satisfy every requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |key: &str| labels.get(key).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|have| vs.iter().any(|v| v == have)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|have| vs.iter().all(|v| v != have)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }

    /// True when it selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn requirement(part: &str) -> Option<Requirement> {
    let set = |rest: &str| -> Option<Vec<String>> {
        let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
        let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
        values.iter().all(|v| valid_value(v)).then_some(values)
    };
    if let Some((key, rest)) = part.split_once(" notin ") {
        let key = key.trim();
        return valid_key(key).then(|| Some(Requirement::NotIn(key.to_owned(), set(rest)?)))?;
    }
    if let Some((key, rest)) = part.split_once(" in ") {
        let key = key.trim();
        return valid_key(key).then(|| Some(Requirement::In(key.to_owned(), set(rest)?)))?;
    }
    let pair = |key: &str, value: &str| {
        let (key, value) = (key.trim(), value.trim());
        (valid_key(key) && valid_value(value)).then(|| (key.to_owned(), value.to_owned()))
    };
    if let Some((key, value)) = part.split_once("!=") {
        return pair(key, value).map(|(k, v)| Requirement::NotEquals(k, v));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return pair(key, value).map(|(k, v)| Requirement::Equals(k, v));
    }
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| Requirement::NotExists(key.to_owned()));
    }
    valid_key(part).then(|| Requirement::Exists(part.to_owned()))
}

/// A `continue` token for a list at resourceVersion `rv` whose next page starts after `last_key`.
pub fn encode_continue(rv: u64, last_key: &str) -> String {
    // The storage's start key is the last key with a zero byte appended: the next key after it.
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last_key}\u{0}") });
    URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The list's resourceVersion and the key to start from (inclusive), or why the token is bad.
pub fn decode_continue(token: &str) -> Result<(u64, String), String> {
    let bad = || "continue key is not valid: the token is not one this server wrote".to_owned();
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value["v"] != "meta.k8s.io/v1" {
        return Err(bad());
    }
    let rv = value["rv"].as_u64().filter(|rv| *rv > 0).ok_or_else(bad)?;
    let start = value["start"].as_str().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    Ok((rv, start.to_owned()))
}

/// The query of a list request, as the API server reads it.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub selector: Selector,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// Where a page starts and at which version it is served, or the API server's error answer
/// (status code and `Status` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageStart {
    /// The list's resourceVersion (the latest, for a first page).
    pub rv: u64,
    /// The first key that may be returned (inclusive); `None`: from the start.
    pub from: Option<String>,
}

impl ListQuery {
    /// Reads the query pairs (URL-decoded) of a list request.
    pub fn parse(pairs: &BTreeMap<String, String>) -> Result<ListQuery, (u16, Value)> {
        let bad = |message: String| (400, status(400, "BadRequest", &message));
        let limit = match pairs.get("limit").filter(|l| !l.is_empty()) {
            Some(l) => Some(
                l.parse::<i64>()
                    .map_err(|_| bad(format!("invalid limit {l:?}")))?
                    .max(0) as usize,
            ),
            None => None,
        };
        let selector = Selector::parse(pairs.get("labelSelector").map_or("", String::as_str)).map_err(bad)?;
        Ok(ListQuery {
            limit: limit.filter(|l| *l > 0),
            continue_token: pairs.get("continue").filter(|c| !c.is_empty()).cloned(),
            selector,
            resource_version: pairs.get("resourceVersion").filter(|v| !v.is_empty()).cloned(),
            resource_version_match: pairs.get("resourceVersionMatch").filter(|v| !v.is_empty()).cloned(),
        })
    }

    /// Where this page starts, given the store's latest and oldest retained (compacted)
    /// resourceVersions.
    pub fn start(&self, latest: u64, compacted: u64) -> Result<PageStart, (u16, Value)> {
        if let Some(token) = &self.continue_token {
            if self.resource_version.is_some() {
                return Err((
                    400,
                    status(
                        400,
                        "BadRequest",
                        "specifying resource version is not allowed when using continue",
                    ),
                ));
            }
            let (rv, from) = decode_continue(token).map_err(|m| (400, status(400, "BadRequest", &m)))?;
            if rv < compacted {
                return Err((410, status(410, "Expired", EXPIRED_CONTINUE)));
            }
            return Ok(PageStart { rv, from: Some(from) });
        }
        match self.resource_version.as_deref() {
            None | Some("0") => Ok(PageStart { rv: latest, from: None }),
            Some(v) => {
                let asked: u64 = v.parse().map_err(|_| {
                    (
                        400,
                        status(400, "BadRequest", &format!("invalid resource version {v:?}")),
                    )
                })?;
                if asked > latest {
                    return Err((504, status(504, "Timeout", "Too large resource version")));
                }
                if self.resource_version_match.as_deref() == Some("Exact") && asked < compacted {
                    return Err((
                        410,
                        status(
                            410,
                            "Expired",
                            &format!("too old resource version: {asked} ({compacted})"),
                        ),
                    ));
                }
                Ok(PageStart { rv: latest, from: None })
            }
        }
    }
}

/// A `Status` answer.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "reason": reason, "message": message, "code": code })
}

/// URL query pairs, percent-decoded (`+` is a space), as the API server reads them.
pub fn query_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_as_the_api_server_documents() {
        let labels = json!({ "gke-aws-verifier/inject": "true", "tier": "web" });
        let cases = [
            ("gke-aws-verifier/inject=true", true),
            ("gke-aws-verifier/inject==true", true),
            ("gke-aws-verifier/inject!=true", false),
            ("tier in (web,api)", true),
            ("tier notin (web)", false),
            ("missing notin (web)", true),
            ("missing!=x", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("tier=web,gke-aws-verifier/inject=true", true),
            ("tier=web,gke-aws-verifier/inject=false", false),
            ("", true),
        ];
        for (text, want) in cases {
            assert_eq!(Selector::parse(text).unwrap().matches(&labels), want, "{text}");
        }
        assert!(!Selector::parse("tier").unwrap().matches(&Value::Null));
        for bad in ["tier in web", "=x", "a b", "tier in (w b)"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn continue_tokens_are_the_api_servers_shape_and_expire_with_compaction() {
        let token = encode_continue(42, "team/reader");
        let raw: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
        assert_eq!(
            raw,
            json!({ "v": "meta.k8s.io/v1", "rv": 42, "start": "team/reader\u{0}" })
        );
        assert_eq!(decode_continue(&token).unwrap(), (42, "team/reader\u{0}".to_owned()));
        assert!(decode_continue("1.500").is_err());
        let query = |pairs: &[(&str, &str)]| {
            ListQuery::parse(&pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()).unwrap()
        };
        let next = query(&[("limit", "500"), ("continue", &token)]);
        assert_eq!(next.start(50, 40).unwrap().rv, 42);
        assert_eq!(next.start(50, 43).unwrap_err().0, 410);
        let with_rv = query(&[("continue", &token), ("resourceVersion", "42")]);
        assert_eq!(with_rv.start(50, 0).unwrap_err().0, 400);
        assert_eq!(query(&[("resourceVersion", "51")]).start(50, 0).unwrap_err().0, 504);
        let exact = query(&[("resourceVersion", "3"), ("resourceVersionMatch", "Exact")]);
        assert_eq!(exact.start(50, 10).unwrap_err().0, 410);
        assert_eq!(
            query(&[("resourceVersion", "0")]).start(50, 10).unwrap(),
            PageStart { rv: 50, from: None }
        );
    }

    #[test]
    fn queries_are_percent_decoded() {
        let pairs = query_pairs("labelSelector=gke-aws-verifier%2Finject%3Dtrue&limit=5&x=%zz+y");
        assert_eq!(pairs["labelSelector"], "gke-aws-verifier/inject=true");
        assert_eq!(pairs["x"], "%zz y");
    }
}
