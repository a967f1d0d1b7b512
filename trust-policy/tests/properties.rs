//! The verdict against the algebra of IAM's evaluation, on generated policies and tokens: an
//! explicit Deny wins, statement order does not matter, condition keys ignore case, and
//! whatever JSON comes in, the explanation is whole and no larger than what it explains.

use proptest::prelude::*;
use serde_json::{Value, json};
use trust_policy::{Provider, ProviderLookup, Verdict, explain};

const HOST_PATH: &str = "oidc.example.com/id/ABC";
const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC";

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(items)
}

fn value() -> impl Strategy<Value = Value> {
    let values = &[
        "sts.amazonaws.com",
        "1122",
        "team:*",
        "team:reader",
        "TEAM:READER",
        "true",
        "x",
    ];
    prop_oneof![
        pick(values).prop_map(|v| json!(v)),
        proptest::collection::vec(pick(values), 0..3).prop_map(|v| json!(v)),
    ]
}

fn statement() -> impl Strategy<Value = Value> {
    let operators = pick(&[
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "ForAnyValue:StringEquals",
        "ForAnyValue:StringLike",
        "ForAnyValue:StringNotEquals",
        "ForAnyValue:StringNotLike",
        "ForAllValues:StringEquals",
        "ForAllValues:StringLike",
        "ForAllValues:StringNotEquals",
        "ForAllValues:StringNotLike",
        "Null",
        "DateGreaterThan",
    ]);
    let keys = pick(&["sub", "aud", "amr"]);
    let conditions = proptest::collection::vec((operators, keys, value()), 0..3);
    let effects = pick(&["Allow", "Allow", "Deny"]);
    let principals = pick(&[ARN, "accounts.google.com"]);
    (effects, principals, conditions).prop_map(|(effect, principal, conditions)| {
        let mut block = serde_json::Map::new();
        for (operator, key, value) in conditions {
            block.entry(operator).or_insert_with(|| json!({}))[format!("{HOST_PATH}:{key}")] = value;
        }
        json!({"Effect": effect, "Principal": {"Federated": principal}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": block})
    })
}

fn claims() -> impl Strategy<Value = Value> {
    (
        pick(&["team:reader", "team:writer"]),
        value(),
        proptest::option::of(value()),
    )
        .prop_map(|(sub, aud, amr)| {
            let mut claims = json!({"iss": format!("https://{HOST_PATH}"), "sub": sub, "aud": aud});
            if let Some(amr) = amr {
                claims["amr"] = amr;
            }
            claims
        })
}

/// The string operators, each of which a set operator may qualify.
const OPERATORS_OF_STRINGS: [&str; 6] = [
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
];

fn provider() -> ProviderLookup {
    ProviderLookup::Registered(Provider {
        arn: ARN.to_owned(),
        client_ids: vec!["sts.amazonaws.com".to_owned(), "1122".to_owned()],
    })
}

fn verdict(claims: &Value, statements: &[Value]) -> Verdict {
    explain(claims, &provider(), Some(&json!({"Statement": statements}))).verdict
}

/// Every condition key of `statements` in upper case.
fn shouted(statements: &[Value]) -> Vec<Value> {
    let mut statements = statements.to_vec();
    for statement in &mut statements {
        if let Some(block) = statement["Condition"].as_object_mut() {
            for keys in block.values_mut() {
                if let Some(map) = keys.as_object() {
                    *keys = Value::Object(map.iter().map(|(k, v)| (k.to_uppercase(), v.clone())).collect());
                }
            }
        }
    }
    statements
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn an_explicit_deny_that_applies_refuses_whatever_allows(claims in claims(), statements in proptest::collection::vec(statement(), 0..4)) {
        let mut with_deny = statements.clone();
        with_deny.push(json!({"Effect": "Deny", "Principal": "*", "Action": "sts:*"}));
        prop_assert_eq!(verdict(&claims, &with_deny), Verdict::Refuse);
    }

    #[test]
    fn statement_order_does_not_matter(claims in claims(), statements in proptest::collection::vec(statement(), 0..4)) {
        let mut reversed = statements.clone();
        reversed.reverse();
        prop_assert_eq!(verdict(&claims, &statements), verdict(&claims, &reversed));
    }

    #[test]
    fn condition_keys_ignore_case(claims in claims(), statements in proptest::collection::vec(statement(), 0..4)) {
        prop_assert_eq!(verdict(&claims, &statements), verdict(&claims, &shouted(&statements)));
    }

    #[test]
    fn accept_means_an_allow_applies_and_no_deny_may(claims in claims(), statements in proptest::collection::vec(statement(), 0..4)) {
        let explanation = explain(&claims, &provider(), Some(&json!({"Statement": statements})));
        let applies = |effect: &str, outcome| explanation.statements.iter().any(|s| s.effect == effect && s.applies == outcome);
        let accepted = explanation.provider.audience == trust_policy::Outcome::Holds
            && applies("Allow", trust_policy::Outcome::Holds)
            && !applies("Deny", trust_policy::Outcome::Holds)
            && !applies("Deny", trust_policy::Outcome::NotEvaluated);
        prop_assert_eq!(explanation.verdict == Verdict::Accept, accepted);
    }

    #[test]
    fn on_a_key_the_token_lacks_only_forallvalues_and_plain_negations_hold(
        operator in pick(&OPERATORS_OF_STRINGS), set in pick(&["", "ForAnyValue:", "ForAllValues:"]), values in value(),
    ) {
        // IAM: a missing key fails a positive operator and satisfies a negated one; ForAllValues
        // over no values is true, ForAnyValue over no values false, negated or not.
        let claims = json!({"iss": format!("https://{HOST_PATH}"), "sub": "team:reader", "aud": "sts.amazonaws.com"});
        let statement = json!({"Effect": "Allow", "Principal": {"Federated": ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {format!("{set}{operator}"): {format!("{HOST_PATH}:amr"): values}}});
        let holds = match set {
            "ForAllValues:" => true,
            "ForAnyValue:" => false,
            _ => operator.contains("Not"),
        };
        let expected = if holds { Verdict::Accept } else { Verdict::Refuse };
        prop_assert_eq!(verdict(&claims, &[statement]), expected, "{}{}", set, operator);
    }

    #[test]
    fn any_json_is_explained_without_panicking_and_bounded(policy in arbitrary_json(), claims in arbitrary_json()) {
        let explanation = explain(&claims, &ProviderLookup::NotRead, Some(&policy));
        let size = serde_json::to_string(&explanation).unwrap().len();
        let input = policy.to_string().len() + claims.to_string().len();
        prop_assert!(size <= 100 * input + 4096, "{} bytes for {} bytes in", size, input);
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z:*?$/{}.]{0,12}".prop_map(Value::String),
        pick(&[
            "Statement",
            "Effect",
            "Allow",
            "Deny",
            "Principal",
            "Federated",
            "Condition",
            "StringLike",
            "iss",
            "aud"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                pick(&[
                    "Statement",
                    "Effect",
                    "Principal",
                    "Federated",
                    "Action",
                    "Condition",
                    "StringEquals",
                    "iss",
                    "aud",
                    "sub",
                    "x:sub"
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
