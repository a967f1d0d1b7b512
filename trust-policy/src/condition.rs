//! The condition operators web-identity trust policies use, with IAM's rules for a key the
//! request lacks and for multi-valued keys (`ForAnyValue:`, `ForAllValues:`).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>

use serde_json::Value;

use crate::keys::{self, Key};
use crate::{ConditionCheck, Outcome, glob};

/// A string comparison.
#[derive(Clone, Copy)]
enum Compare {
    Equals,
    EqualsIgnoreCase,
    Like,
}

#[derive(Clone, Copy)]
enum Set {
    /// No qualifier: the key's values, any of them.
    Single,
    ForAnyValue,
    ForAllValues,
}

enum Operator {
    String {
        set: Set,
        compare: Compare,
        negated: bool,
        if_exists: bool,
    },
    Null,
}

/// The operators known here; anything else is `None` (not evaluated).
fn parse(operator: &str) -> Option<Operator> {
    let (set, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
        (Set::ForAnyValue, rest)
    } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
        (Set::ForAllValues, rest)
    } else {
        (Set::Single, operator)
    };
    if rest == "Null" {
        return matches!(set, Set::Single).then_some(Operator::Null);
    }
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (compare, negated) = match rest {
        "StringEquals" => (Compare::Equals, false),
        "StringNotEquals" => (Compare::Equals, true),
        "StringEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, true),
        "StringLike" => (Compare::Like, false),
        "StringNotLike" => (Compare::Like, true),
        _ => return None,
    };
    Some(Operator::String {
        set,
        compare,
        negated,
        if_exists,
    })
}

/// Evaluates `key: expected` under `operator` for a token of `issuer` with `claims`.
pub fn check(operator: &str, key: &str, expected: &Value, issuer: &str, claims: &Value) -> ConditionCheck {
    let mut check = ConditionCheck {
        operator: operator.to_owned(),
        key: key.to_owned(),
        claim: None,
        expected: Vec::new(),
        actual: None,
        result: Outcome::NotEvaluated,
        note: None,
    };
    let Some(expected) = keys::strings(expected) else {
        check.note = Some("the policy's value is not a string or a list of at most 64 strings".into());
        return check;
    };
    check.expected = expected;
    let actual = match keys::read(key, issuer, claims) {
        Key::Token { claim, values } => {
            check.claim = Some(claim);
            values
        }
        Key::OtherIssuer => {
            check.note = Some(format!("a key of another issuer: a token of {issuer} never has it"));
            None
        }
        Key::Unknown(why) => {
            check.note = Some(format!("{why}: not evaluated"));
            return check;
        }
    };
    check.actual = actual.clone();
    let Some(operator) = parse(operator) else {
        check.note = Some(format!("operator {operator} is not evaluated here"));
        return check;
    };
    check.result = match operator {
        Operator::Null => match check.expected.as_slice() {
            [flag] if flag == "true" => Outcome::of(actual.is_none()),
            [flag] if flag == "false" => Outcome::of(actual.is_some()),
            _ => {
                check.note = Some("Null takes one value, true or false".into());
                Outcome::NotEvaluated
            }
        },
        Operator::String {
            set,
            compare,
            negated,
            if_exists,
        } => {
            if check.expected.iter().any(|p| p.contains("${")) {
                check.note = Some("a policy variable (${...}) is not evaluated here".into());
                return check;
            }
            string(&check.expected, actual.as_deref(), set, compare, negated, if_exists)
        }
    };
    if let (Outcome::Fails, None, None, Some(claim)) = (check.result, &actual, &check.note, &check.claim) {
        check.note = Some(format!("the token has no {claim} claim"));
    }
    check
}

/// IAM's rules: a missing key fails a positive operator and satisfies a negated one (and
/// `ForAllValues:`); `…IfExists` holds when the key is missing.
fn string(
    patterns: &[String],
    values: Option<&[String]>,
    set: Set,
    compare: Compare,
    negated: bool,
    if_exists: bool,
) -> Outcome {
    let one = |value: &String| {
        patterns.iter().any(|pattern| match compare {
            Compare::Equals => value == pattern,
            Compare::EqualsIgnoreCase => value.to_lowercase() == pattern.to_lowercase(),
            Compare::Like => glob::matches(pattern, value, false),
        })
    };
    let Some(values) = values else {
        return Outcome::of(if_exists || matches!(set, Set::ForAllValues) || (negated && matches!(set, Set::Single)));
    };
    Outcome::of(match set {
        Set::Single => values.iter().any(one) != negated,
        Set::ForAnyValue => values.iter().any(|v| one(v) != negated),
        Set::ForAllValues => values.iter().all(|v| one(v) != negated),
    })
}
