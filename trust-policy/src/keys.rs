//! Which token claim fills which condition key, as AWS maps them for web identity.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif>

use serde_json::Value;

use crate::{GOOGLE, MAX_ITEMS};

/// The token's issuer as IAM names providers and keys: `iss` without `https://`.
pub fn issuer_host_path(claims: &Value) -> Option<&str> {
    claims["iss"]
        .as_str()
        .map(|iss| iss.strip_prefix("https://").unwrap_or(iss))
}

/// What a condition key reads.
pub enum Key {
    /// A key of the token's issuer, filled from `claim`; `values` is `None` when the token
    /// has no such claim (the request then has no such key).
    Token { claim: String, values: Option<Vec<String>> },
    /// A key of another issuer: the request never has it.
    OtherIssuer,
    /// A key this crate does not know (`aws:SourceIp`, an OIDC issuer's `:email`): not evaluated.
    Unknown(String),
}

/// Reads `key` (compared case-insensitively, as IAM compares keys) for a token of `issuer`.
pub fn read(key: &str, issuer: &str, claims: &Value) -> Key {
    let Some((prefix, name)) = key.rsplit_once(':') else {
        return Key::Unknown(format!("{key} is not a condition key (PREFIX:NAME)"));
    };
    let name = name.to_ascii_lowercase();
    if !prefix.eq_ignore_ascii_case(issuer) {
        // Issuers are host names with a path; service prefixes (aws:, sts:) are plain words.
        return if prefix.contains('.') {
            Key::OtherIssuer
        } else {
            Key::Unknown(format!("{key} is a request key this evaluator does not read"))
        };
    }
    let claim = match (issuer == GOOGLE, name.as_str()) {
        // Google's service-account tokens carry the GSA's unique id in azp: AWS puts it in :aud.
        (true, "aud") if claims["azp"].is_string() => "azp",
        (true, "aud") => "aud",
        (true, "oaud") => "aud",
        (true, "sub") => "sub",
        // Trust policies that pin the GSA's e-mail: AWS fills the key from the token's `email`
        // claim (a Google ID token of a GSA carries it with `format=full`).
        (true, "email") => "email",
        (false, "aud" | "sub" | "amr") => name.as_str(),
        _ => {
            return Key::Unknown(format!(
                "AWS fills no key {key} from this issuer's tokens that is known here"
            ));
        }
    };
    match &claims[claim] {
        Value::Null => Key::Token {
            claim: claim.to_owned(),
            values: None,
        },
        value => match strings(value) {
            Some(values) => Key::Token {
                claim: claim.to_owned(),
                values: Some(values),
            },
            None => Key::Unknown(format!(
                "the token's {claim} claim is not a string or a list of strings"
            )),
        },
    }
}

/// A JSON string, number or boolean as IAM compares it (text), or a list of them; at most
/// [`MAX_ITEMS`] values. `None` for anything else.
pub fn strings(value: &Value) -> Option<Vec<String>> {
    let one = |value: &Value| match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if items.len() <= MAX_ITEMS => items.iter().map(one).collect(),
        Value::Array(_) => None,
        other => one(other).map(|s| vec![s]),
    }
}
