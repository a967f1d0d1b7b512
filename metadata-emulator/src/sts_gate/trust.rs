//! What AWS STS checks before `AssumeRoleWithWebIdentity` succeeds for an OIDC token, as a
//! pure function: the issuer is a registered OIDC provider, the audience is one of its client
//! IDs, the token is unexpired, and the role's trust policy allows this provider with these
//! claims. The token's signature is not checked here (the verifier checks the issuer's keys).
//! The provider checks and the trust policy are the shared evaluator's ([`trust_policy`]); the
//! gate adds what only STS sees: the token itself and the clock.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc.html>

use serde_json::Value;
pub use trust_policy::{GOOGLE, Provider, issuer_host_path};
use trust_policy::{Outcome, ProviderLookup, Verdict};

#[cfg(test)]
mod reference;

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

/// The provider STS uses for Google's tokens, without asking IAM.
pub fn google() -> Provider {
    Provider::google()
}

/// STS's checks in its order: provider, audience, expiry, then the trust policy.
pub fn check(claims: &Value, now: u64, provider: Option<&Provider>, trust: Option<&Value>) -> Result<(), Refusal> {
    let lookup = match provider {
        Some(provider) => ProviderLookup::Registered(provider.clone()),
        None => ProviderLookup::Missing,
    };
    let explanation = trust_policy::explain(claims, &lookup, trust);
    if explanation.provider.registered == Outcome::Fails {
        let iss = claims["iss"].as_str().unwrap_or_default();
        return Err(Refusal::invalid(format!(
            "No OpenIDConnect provider found in your account for {iss}"
        )));
    }
    if explanation.provider.audience == Outcome::Fails {
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
    // What the evaluator cannot tell, STS here refuses rather than guess.
    match explanation.verdict {
        Verdict::Accept => Ok(()),
        Verdict::Refuse | Verdict::NotEvaluated => Err(Refusal::access_denied()),
    }
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
        let odd = trust("NumericEquals", "system:serviceaccount:payments:ledger");
        assert_eq!(
            check(&token_claims(), 1000, Some(&provider()), Some(&odd)),
            Err(Refusal::access_denied())
        );
        let all = trust("ForAllValues:StringEquals", "system:serviceaccount:payments:ledger");
        assert_eq!(check(&token_claims(), 1000, Some(&provider()), Some(&all)), Ok(()));
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

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::reference::{self, Registered};
        use super::super::*;
        use super::{ARN, HOST_PATH};

        fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
            proptest::sample::select(items)
        }

        const VALUES: &[&str] = &[
            "sts.amazonaws.com",
            "vault",
            "1122",
            "system:serviceaccount:payments:ledger",
            "system:serviceaccount:payments:*",
            "SYSTEM:SERVICEACCOUNT:PAYMENTS:LEDGER",
            "system:serviceaccount:?ayments:ledger",
            "*",
        ];

        /// A string or a list of one to three.
        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                pick(VALUES).prop_map(|v| json!(v)),
                proptest::collection::vec(pick(VALUES), 1..4).prop_map(|v| json!(v)),
            ]
        }

        fn key() -> impl Strategy<Value = String> {
            let names = pick(&["sub", "aud", "aud", "oaud", "amr", "SUB", "Aud"]);
            let prefixes = pick(&[
                HOST_PATH,
                HOST_PATH,
                "accounts.google.com",
                "ACCOUNTS.google.com",
                "aws",
                "other.example.com",
            ]);
            (prefixes, names).prop_map(|(p, n)| format!("{p}:{n}"))
        }

        /// Every string operator, alone or under a set operator, Null, and one operator
        /// neither knows (NumericEquals).
        fn operator() -> impl Strategy<Value = String> {
            let sets = pick(&["", "", "ForAnyValue:", "ForAllValues:"]);
            let bases = pick(&[
                "StringEquals",
                "StringNotEquals",
                "StringLike",
                "StringNotLike",
                "StringEqualsIgnoreCase",
                "StringNotEqualsIgnoreCase",
            ]);
            prop_oneof![
                12 => (sets, bases).prop_map(|(set, base)| format!("{set}{base}")),
                1 => Just("Null".to_owned()),
                1 => Just("NumericEquals".to_owned()),
            ]
        }

        fn condition() -> impl Strategy<Value = Value> {
            let entry = (operator(), key(), value(), pick(&["true", "false"]));
            proptest::collection::vec(entry, 0..3).prop_map(|entries| {
                let mut block = serde_json::Map::new();
                for (operator, key, value, flag) in entries {
                    let value = if operator == "Null" { json!(flag) } else { value };
                    block.entry(operator).or_insert_with(|| json!({}))[key] = value;
                }
                Value::Object(block)
            })
        }

        fn statement() -> impl Strategy<Value = Value> {
            let effects = pick(&["Allow", "Allow", "Deny"]);
            let principals = prop_oneof![
                4 => pick(&[ARN, ARN, "accounts.google.com", "accounts.google.com", "arn:aws:iam::123456789012:oidc-provider/other"])
                    .prop_map(|p| json!({"Federated": p})),
                1 => Just(json!({"Federated": [ "arn:aws:iam::123456789012:oidc-provider/other", ARN]})),
                1 => Just(json!({"Federated": ["accounts.google.com", ARN]})),
                1 => Just(json!("*")),
            ];
            let actions = prop_oneof![
                6 => pick(&[
                    "sts:AssumeRoleWithWebIdentity",
                    "sts:AssumeRoleWithWebIdentity",
                    "sts:*",
                    "*",
                    "sts:AssumeRole",
                    "STS:assumerolewithwebidentity",
                    "sts:AssumeRoleWith?ebIdentity",
                ])
                .prop_map(|a| json!(a)),
                1 => Just(json!(["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"])),
                1 => Just(json!(["sts:TagSession"])),
            ];
            (effects, principals, actions, condition()).prop_map(|(effect, principal, action, condition)| {
                json!({"Effect": effect, "Principal": principal, "Action": action, "Condition": condition})
            })
        }

        fn claims() -> impl Strategy<Value = Value> {
            let issuers = pick(&[
                "https://accounts.google.com",
                "accounts.google.com",
                "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c",
            ]);
            let subs = pick(&[
                "1122",
                "system:serviceaccount:payments:ledger",
                "system:serviceaccount:payment:ledger",
            ]);
            let azp = proptest::option::of(pick(&["1122", "3344"]));
            let amr = proptest::option::of(value());
            let audiences = prop_oneof![
                pick(&["sts.amazonaws.com", "vault", "1122"]).prop_map(|a| json!(a)),
                proptest::collection::vec(pick(&["sts.amazonaws.com", "vault", "1122"]), 1..4).prop_map(|a| json!(a)),
            ];
            (issuers, subs, azp, audiences, amr).prop_map(|(iss, sub, azp, aud, amr)| {
                let mut claims = json!({"iss": iss, "sub": sub, "aud": aud, "exp": 2000});
                if let Some(azp) = azp {
                    claims["azp"] = json!(azp);
                }
                if let Some(amr) = amr {
                    claims["amr"] = amr;
                }
                claims
            })
        }

        /// The cluster issuer's provider as IAM holds it, or none registered.
        fn client_ids() -> impl Strategy<Value = Option<Vec<String>>> {
            let ids = proptest::collection::vec(pick(&["sts.amazonaws.com", "vault"]), 0..3);
            proptest::option::weighted(0.8, ids.prop_map(|ids| ids.into_iter().map(str::to_owned).collect()))
        }

        /// One generated case: the claims, the cluster provider's client IDs, the statements, now.
        fn case() -> impl Strategy<Value = (Value, Option<Vec<String>>, Vec<Value>, u64)> {
            (
                claims(),
                client_ids(),
                proptest::collection::vec(statement(), 0..4),
                pick(&[1000u64, 1000, 1000, 2000]),
            )
        }

        /// The reference's decision, with the gate's inputs for the same case.
        fn decide(
            case: &(Value, Option<Vec<String>>, Vec<Value>, u64),
        ) -> (reference::Decision, Option<Provider>, Value) {
            let (claims, client_ids, statements, now) = case;
            let policy = json!({"Version": "2012-10-17", "Statement": statements});
            // STS looks the provider up by the token's issuer: Google's is built in.
            let provider = if claims["iss"].as_str().unwrap().contains("accounts.google.com") {
                Some(Provider::google())
            } else {
                client_ids.clone().map(|client_ids| Provider {
                    arn: ARN.to_owned(),
                    client_ids,
                })
            };
            let registered = client_ids.as_ref().map(|ids| Registered {
                arn: ARN,
                client_ids: ids,
            });
            (
                reference::decide(claims, *now, registered.as_ref(), &policy),
                provider,
                policy,
            )
        }

        /// The generated cases are not all refusals of one kind: a property over them means something.
        #[test]
        fn the_generated_cases_accept_and_refuse_for_every_reason() {
            use proptest::strategy::ValueTree as _;
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            let mut counts = std::collections::BTreeMap::<&str, usize>::new();
            for _ in 0..4000 {
                let case = case().new_tree(&mut runner).unwrap().current();
                *counts.entry(decide(&case).0.err().unwrap_or("accept")).or_default() += 1;
            }
            for outcome in [
                "accept",
                "AccessDenied",
                "InvalidIdentityToken",
                "ExpiredTokenException",
            ] {
                assert!(counts.get(outcome).copied().unwrap_or(0) >= 200, "{counts:?}");
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

            /// The gate decides as a reference written from IAM's documentation, independent of
            /// the evaluator, on every generated policy and token: accept or the same refusal.
            #[test]
            fn the_gate_decides_as_the_reference_from_iams_documentation(case in case()) {
                let (expected, provider, policy) = decide(&case);
                let (claims, now) = (&case.0, case.3);
                let gate = check(claims, now, provider.as_ref(), Some(&policy)).map_err(|r| r.code);
                prop_assert_eq!(gate, expected, "{:#}", policy);
                // The explanation's verdict is the gate's.
                let lookup = provider.map_or(ProviderLookup::Missing, ProviderLookup::Registered);
                let explanation = trust_policy::explain(claims, &lookup, Some(&policy));
                if now == 1000 {
                    prop_assert_eq!(explanation.verdict == Verdict::Accept, expected.is_ok());
                }
            }
        }
    }
}
