//! A reference for the gate's property tests: STS's decision on the generated subset of trust
//! policies and tokens, written from IAM's documentation alone, as plainly as possible, and
//! sharing nothing with the evaluator (`trust_policy`). Three-valued: `None` is "this subset
//! does not say" (an operator or a key it does not know), and STS is then taken to refuse.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>

use serde_json::Value;

/// What STS answers: `Ok` or the error code.
pub type Decision = Result<(), &'static str>;

/// A registered OIDC provider: its ARN and client IDs.
pub struct Registered<'a> {
    pub arn: &'a str,
    pub client_ids: &'a [String],
}

/// STS's decision for a token with `claims` at `now`, the issuer's provider `registered`
/// (ignored for Google's issuer, which is built in) and the role's trust `policy`.
pub fn decide(claims: &Value, now: u64, registered: Option<&Registered>, policy: &Value) -> Decision {
    let iss = claims["iss"].as_str().unwrap_or("");
    let issuer = iss.strip_prefix("https://").unwrap_or(iss);
    let google = issuer == "accounts.google.com";
    let principal = if google {
        "accounts.google.com".to_owned()
    } else {
        let Some(provider) = registered else {
            return Err("InvalidIdentityToken");
        };
        if !texts(&claims["aud"])
            .iter()
            .any(|aud| provider.client_ids.contains(aud))
        {
            return Err("InvalidIdentityToken");
        }
        provider.arn.to_owned()
    };
    if claims["exp"].as_u64().unwrap_or(0) <= now {
        return Err("ExpiredTokenException");
    }
    let mut allowed = Some(false);
    let mut denied = Some(false);
    for statement in policy["Statement"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let applies = applies(statement, &principal, issuer, google, claims);
        match statement["Effect"].as_str() {
            Some("Allow") => allowed = or(allowed, applies),
            Some("Deny") => denied = or(denied, applies),
            _ => return Err("unsupported effect: outside the generated subset"),
        }
    }
    // An explicit Deny wins; what might deny, or only might allow, is refused.
    if denied == Some(false) && allowed == Some(true) {
        Ok(())
    } else {
        Err("AccessDenied")
    }
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// A string, or each string of a list.
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn applies(statement: &Value, principal: &str, issuer: &str, google: bool, claims: &Value) -> Option<bool> {
    let federated = &statement["Principal"]["Federated"];
    let principal_ok = statement["Principal"] == "*" || texts(federated).iter().any(|p| p == principal);
    let action = "sts:assumerolewithwebidentity";
    let action_ok = texts(&statement["Action"])
        .iter()
        .any(|a| wildcard(&a.to_lowercase(), action));
    let mut result = Some(principal_ok && action_ok);
    if let Some(block) = statement["Condition"].as_object() {
        for (operator, keys) in block {
            for (key, expected) in keys.as_object().into_iter().flatten() {
                result = and(
                    result,
                    condition(operator, key, &texts(expected), issuer, google, claims),
                );
            }
        }
    }
    result
}

/// The request's values for `key`: `Some(None)` when the request has no such key, `None`
/// when this subset does not know what fills it.
fn request_values(key: &str, issuer: &str, google: bool, claims: &Value) -> Option<Option<Vec<String>>> {
    let (prefix, name) = key.rsplit_once(':')?;
    if !prefix.eq_ignore_ascii_case(issuer) {
        // Another issuer's key is never in this request; `aws:...` keys are not modelled.
        return prefix.contains('.').then_some(None);
    }
    let claim = match (google, name.to_lowercase().as_str()) {
        // AWS: accounts.google.com:aud is the token's azp when it has one, :oaud its aud.
        (true, "aud") if claims.get("azp").is_some() => "azp",
        (true, "aud" | "oaud") => "aud",
        (true, "sub") => "sub",
        (false, "aud") => "aud",
        (false, "sub") => "sub",
        (false, "amr") => "amr",
        _ => return None,
    };
    Some(claims.get(claim).map(texts))
}

fn condition(
    operator: &str,
    key: &str,
    expected: &[String],
    issuer: &str,
    google: bool,
    claims: &Value,
) -> Option<bool> {
    let values = request_values(key, issuer, google, claims)?;
    if operator == "Null" {
        return match expected {
            [flag] if flag == "true" => Some(values.is_none()),
            [flag] if flag == "false" => Some(values.is_some()),
            _ => None,
        };
    }
    let (set, base) = match operator.split_once(':') {
        Some((set, base)) => (set, base),
        None => ("", operator),
    };
    // A request value matches the condition when it matches one of the policy's values;
    // for a negated operator, when it matches none.
    let matches_one: fn(&str, &str) -> bool = match base.replace("Not", "").as_str() {
        "StringEquals" => |value, pattern| value == pattern,
        "StringEqualsIgnoreCase" => |value, pattern| value.to_lowercase() == pattern.to_lowercase(),
        "StringLike" => |value, pattern| wildcard(pattern, value),
        _ => return None,
    };
    let negated = base.contains("Not");
    let satisfies = |value: &String| expected.iter().any(|pattern| matches_one(value, pattern)) != negated;
    Some(match (set, values) {
        // ForAllValues: true when every request value satisfies, and when there are none.
        ("ForAllValues", None) => true,
        ("ForAllValues", Some(values)) => values.iter().all(satisfies),
        // ForAnyValue: true when some request value satisfies; false when there are none.
        ("ForAnyValue", None) => false,
        ("ForAnyValue", Some(values)) => values.iter().any(satisfies),
        // No set operator: a missing key fails a positive operator and satisfies a negated one.
        ("", None) => negated,
        ("", Some(values)) => {
            let any_matches = values.iter().any(|v| expected.iter().any(|p| matches_one(v, p)));
            any_matches != negated
        }
        _ => return None,
    })
}

/// IAM's wildcards, by recursion: `*` any run of characters, `?` exactly one.
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.chars().next() {
        None => value.is_empty(),
        Some('*') => (0..=value.len())
            .filter(|&i| value.is_char_boundary(i))
            .any(|i| wildcard(&pattern[1..], &value[i..])),
        Some(first) => {
            let mut rest = value.chars();
            match rest.next() {
                Some(c) if first == '?' || first == c => wildcard(&pattern[first.len_utf8()..], rest.as_str()),
                _ => false,
            }
        }
    }
}

#[test]
fn the_reference_wildcards() {
    assert!(wildcard("a*c", "abbc") && wildcard("a?c", "abc") && wildcard("*", "") && wildcard("sts:*", "sts:x"));
    assert!(!wildcard("a?c", "ac") && !wildcard("a*c", "ab") && !wildcard("abc", "abcd"));
}
