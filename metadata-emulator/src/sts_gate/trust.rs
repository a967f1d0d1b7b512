//! What AWS STS checks before `AssumeRoleWithWebIdentity` succeeds for an OIDC token, as a
//! pure function: the issuer is a registered OIDC provider, the audience is one of its client
//! IDs, the token is unexpired, and the role's trust policy allows this provider with these
//! claims. The token's signature is not checked here (the verifier checks the issuer's keys).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc.html>

use serde_json::Value;

/// An IAM OIDC provider as IAM stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub arn: String,
    pub client_ids: Vec<String>,
}

/// Why STS refuses, with AWS's error code, HTTP status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn invalid(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            code: "InvalidIdentityToken",
            message: message.into(),
        }
    }

    pub fn access_denied() -> Refusal {
        Refusal {
            status: 403,
            code: "AccessDenied",
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned(),
        }
    }
}

/// The token's claims, or AWS's refusal of a token that is not a JWT.
pub fn claims(token: &str) -> Result<Value, Refusal> {
    use base64::Engine as _;
    let not_jwt = || {
        Refusal::invalid(
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
        )
    };
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(not_jwt());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| not_jwt())?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(not_jwt)
}

/// The token's issuer as IAM names providers: the URL without `https://`.
pub fn issuer_host_path(claims: &Value) -> Option<&str> {
    claims["iss"].as_str().map(|iss| iss.trim_start_matches("https://"))
}

/// Google's issuer, which AWS has built in: no OIDC provider, `Principal.Federated` is
/// `accounts.google.com`, and its condition keys map differently (see [`claim_for`]).
pub const GOOGLE: &str = "accounts.google.com";

/// The provider STS uses for Google's tokens, without asking IAM.
pub fn google() -> Provider {
    Provider {
        arn: GOOGLE.to_owned(),
        client_ids: Vec::new(),
    }
}

/// The claim values a condition key `ISSUER:name` reads. For Google, AWS fills
/// `accounts.google.com:aud` from the token's `azp` (when present) and `:oaud` from its `aud`.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif>
fn claim_for(claims: &Value, host_path: &str, name: &str) -> Vec<String> {
    let name = match (host_path, name) {
        (GOOGLE, "aud") if claims["azp"].is_string() => "azp",
        (GOOGLE, "oaud") => "aud",
        (_, name) => name,
    };
    string_or_list(&claims[name])
}

/// STS's checks in its order: provider, audience, expiry, then the trust policy.
pub fn check(claims: &Value, now: u64, provider: Option<&Provider>, trust: Option<&Value>) -> Result<(), Refusal> {
    let iss = claims["iss"].as_str().unwrap_or_default();
    let Some(provider) = provider else {
        return Err(Refusal::invalid(format!(
            "No OpenIDConnect provider found in your account for {iss}"
        )));
    };
    let audiences = string_or_list(&claims["aud"]);
    // Google's built-in provider has no client ID list: the trust policy pins the audience.
    let known = |aud: &String| provider.client_ids.iter().any(|id| id == aud);
    if provider.arn != GOOGLE && !audiences.iter().any(known) {
        return Err(Refusal::invalid("Incorrect token audience"));
    }
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= now {
        return Err(Refusal {
            status: 400,
            code: "ExpiredTokenException",
            message: format!("Token expired: current date/time {now} must be before the expiration date/time {exp}"),
        });
    }
    let host_path = issuer_host_path(claims).unwrap_or_default();
    let allowed = trust
        .map(|policy| list(&policy["Statement"]))
        .unwrap_or_default()
        .into_iter()
        .any(|statement| allows(statement, &provider.arn, host_path, claims));
    if allowed { Ok(()) } else { Err(Refusal::access_denied()) }
}

fn allows(statement: &Value, provider_arn: &str, host_path: &str, claims: &Value) -> bool {
    statement["Effect"] == "Allow"
        && string_or_list(&statement["Action"])
            .iter()
            .any(|action| action == "sts:AssumeRoleWithWebIdentity" || action == "sts:*" || action == "*")
        && string_or_list(&statement["Principal"]["Federated"])
            .iter()
            .any(|principal| principal == provider_arn)
        && conditions_hold(&statement["Condition"], host_path, claims)
}

/// Every operator and key must hold (IAM ANDs them); a key the token lacks fails.
fn conditions_hold(conditions: &Value, host_path: &str, claims: &Value) -> bool {
    let Some(operators) = conditions.as_object() else {
        return conditions.is_null();
    };
    operators.iter().all(|(operator, keys)| {
        keys.as_object().is_some_and(|keys| {
            keys.iter().all(|(key, expected)| {
                let claim = key
                    .strip_prefix(host_path)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(|name| claim_for(claims, host_path, name))
                    .unwrap_or_default();
                let expected = string_or_list(expected);
                claim.iter().any(|value| {
                    expected.iter().any(|pattern| match operator.as_str() {
                        "StringEquals" => value == pattern,
                        "StringLike" => glob(pattern, value),
                        // Anything else is not modelled here: refuse rather than guess.
                        _ => false,
                    })
                })
            })
        })
    })
}

fn list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn string_or_list(value: &Value) -> Vec<String> {
    list(value)
        .into_iter()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

/// IAM's `StringLike`: `*` any run of characters, `?` one character.
fn glob(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOST_PATH: &str = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";
    const ARN: &str =
        "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/p/locations/l/clusters/c";

    fn token_claims() -> Value {
        json!({
            "iss": format!("https://{HOST_PATH}"),
            "sub": "system:serviceaccount:payments:ledger",
            "aud": ["sts.amazonaws.com"],
            "exp": 2000,
        })
    }

    fn provider() -> Provider {
        Provider {
            arn: ARN.to_owned(),
            client_ids: vec!["sts.amazonaws.com".to_owned()],
        }
    }

    fn trust(operator: &str, sub: &str) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {operator: {
                format!("{HOST_PATH}:sub"): sub,
                format!("{HOST_PATH}:aud"): "sts.amazonaws.com",
            }},
        }]})
    }

    #[test]
    fn a_token_the_trust_policy_names_is_accepted() {
        let policy = trust("StringEquals", "system:serviceaccount:payments:ledger");
        assert_eq!(check(&token_claims(), 1000, Some(&provider()), Some(&policy)), Ok(()));
        let like = trust("StringLike", "system:serviceaccount:payments:*");
        assert_eq!(check(&token_claims(), 1000, Some(&provider()), Some(&like)), Ok(()));
    }

    #[test]
    fn each_refusal_has_awss_code_and_message() {
        let policy = trust("StringEquals", "system:serviceaccount:payments:ledger");
        let refusal = check(&token_claims(), 1000, None, Some(&policy)).unwrap_err();
        assert_eq!(refusal.code, "InvalidIdentityToken");
        assert_eq!(
            refusal.message,
            format!("No OpenIDConnect provider found in your account for https://{HOST_PATH}")
        );
        let other = Provider {
            client_ids: vec!["other".to_owned()],
            ..provider()
        };
        let refusal = check(&token_claims(), 1000, Some(&other), Some(&policy)).unwrap_err();
        assert_eq!(
            (refusal.code, refusal.message.as_str()),
            ("InvalidIdentityToken", "Incorrect token audience")
        );
        let refusal = check(&token_claims(), 2000, Some(&provider()), Some(&policy)).unwrap_err();
        assert_eq!(refusal.code, "ExpiredTokenException");
        let wrong_ksa = trust("StringEquals", "system:serviceaccount:payments:other");
        let refusal = check(&token_claims(), 1000, Some(&provider()), Some(&wrong_ksa)).unwrap_err();
        assert_eq!((refusal.status, refusal.code), (403, "AccessDenied"));
        assert_eq!(
            check(&token_claims(), 1000, Some(&provider()), None),
            Err(Refusal::access_denied())
        );
    }

    #[test]
    fn another_providers_principal_or_an_unknown_operator_is_denied() {
        let mut policy = trust("StringEquals", "system:serviceaccount:payments:ledger");
        policy["Statement"][0]["Principal"]["Federated"] = json!("arn:aws:iam::123456789012:oidc-provider/other");
        assert!(check(&token_claims(), 1000, Some(&provider()), Some(&policy)).is_err());
        let odd = trust("ForAllValues:StringEquals", "system:serviceaccount:payments:ledger");
        assert!(check(&token_claims(), 1000, Some(&provider()), Some(&odd)).is_err());
    }

    #[test]
    fn only_three_part_tokens_with_json_claims_are_jwts() {
        assert_eq!(claims("a.eyJpc3MiOiJ4In0.c").unwrap()["iss"], "x");
        for bad in ["", "a.b", "a.eyJpc3MiOiJ4In0.c.d", "a.!!.c", "a.MQ.c"] {
            assert_eq!(claims(bad).unwrap_err().code, "InvalidIdentityToken", "{bad}");
        }
    }

    #[test]
    fn googles_built_in_provider_maps_aud_to_azp_and_oaud_to_aud() {
        let claims = json!({
            "iss": "https://accounts.google.com", "sub": "1122", "azp": "1122",
            "aud": "sts.amazonaws.com", "exp": 2000,
        });
        let policy = |aud: &str, oaud: &str| {
            json!({"Statement": {
                "Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    "accounts.google.com:aud": aud, "accounts.google.com:sub": "1122",
                    "accounts.google.com:oaud": oaud,
                }},
            }})
        };
        let google = google();
        assert_eq!(
            check(&claims, 1000, Some(&google), Some(&policy("1122", "sts.amazonaws.com"))),
            Ok(())
        );
        let swapped = policy("sts.amazonaws.com", "1122");
        assert_eq!(
            check(&claims, 1000, Some(&google), Some(&swapped)),
            Err(Refusal::access_denied())
        );
    }

    #[test]
    fn string_like_globs() {
        assert!(glob("a*c", "abbc") && glob("a?c", "abc") && glob("*", "") && glob("a*", "a"));
        assert!(!glob("a?c", "ac") && !glob("a*c", "ab") && !glob("abc", "abcd"));
    }
}
