//! One statement of a trust policy: its `Principal`, its `Action` and its `Condition` block,
//! against the request (this provider, `sts:AssumeRoleWithWebIdentity`, these claims).

use serde_json::Value;

use crate::{ACTION, MAX_ITEMS, Outcome, PartCheck, StatementCheck, condition, glob, keys};

/// The request as the statements see it.
pub struct Context<'a> {
    pub claims: &'a Value,
    /// The token's issuer, as keys spell it.
    pub issuer: &'a str,
    /// The provider's ARN, when IAM was read (or Google's).
    pub provider_arn: Option<&'a str>,
    /// How many more condition keys may be evaluated in this policy.
    pub conditions_left: std::cell::Cell<usize>,
}

/// Every statement of `policy` (`Statement` is one object or a list), and a note about the
/// document when there is something to say.
pub fn all(policy: &Value, context: &Context) -> (Vec<StatementCheck>, Option<String>) {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect(),
        Value::Null => return (Vec::new(), Some("the trust policy has no Statement".into())),
        one => vec![one],
    };
    let note = (statements.len() > MAX_ITEMS).then(|| {
        format!(
            "{} statements: only the first {MAX_ITEMS} are evaluated",
            statements.len()
        )
    });
    let mut checks: Vec<StatementCheck> = statements
        .iter()
        .take(MAX_ITEMS)
        .enumerate()
        .map(|(index, statement)| check(index, statement, context))
        .collect();
    if note.is_some() {
        // What was not read could allow or deny: it stands as one statement of unknown effect.
        checks.push(StatementCheck {
            index: MAX_ITEMS,
            sid: None,
            effect: "(not read)".into(),
            principal: not_read(context),
            action: not_read(context),
            conditions: Vec::new(),
            applies: Outcome::NotEvaluated,
            note: note.clone(),
        });
    }
    (checks, note)
}

fn not_read(context: &Context) -> PartCheck {
    PartCheck {
        result: Outcome::NotEvaluated,
        expected: Vec::new(),
        actual: context.provider_arn.unwrap_or(context.issuer).to_owned(),
        note: None,
    }
}

fn check(index: usize, statement: &Value, context: &Context) -> StatementCheck {
    let principal = principal(statement, context);
    let action = action(statement);
    let (conditions, condition_note) = conditions(&statement["Condition"], context);
    let mut applies = principal.result.and(action.result);
    for condition in &conditions {
        applies = applies.and(condition.result);
    }
    let mut note = condition_note;
    if !statement.is_object() {
        applies = Outcome::NotEvaluated;
        note = Some("the statement is not a JSON object".into());
    }
    StatementCheck {
        index,
        sid: statement["Sid"].as_str().map(str::to_owned),
        effect: match &statement["Effect"] {
            Value::String(effect) => effect.clone(),
            other => other.to_string(),
        },
        principal,
        action,
        conditions,
        applies,
        note,
    }
}

fn principal(statement: &Value, context: &Context) -> PartCheck {
    let actual = context
        .provider_arn
        .map_or_else(|| format!("the OIDC provider for {}", context.issuer), str::to_owned);
    let mut part = PartCheck {
        result: Outcome::Fails,
        expected: Vec::new(),
        actual,
        note: None,
    };
    if !statement["NotPrincipal"].is_null() {
        part.result = Outcome::NotEvaluated;
        part.note = Some("NotPrincipal is not evaluated here".into());
        return part;
    }
    match &statement["Principal"] {
        Value::String(all) if all == "*" => {
            part.expected = vec!["*".into()];
            part.result = Outcome::Holds;
        }
        Value::Object(principal) => {
            let federated = principal.get("Federated").unwrap_or(&Value::Null);
            let Some(names) = keys::strings(federated) else {
                part.note = Some("Principal.Federated is not a string or a list of strings".into());
                part.result = Outcome::NotEvaluated;
                return part;
            };
            part.result = Outcome::of(names.iter().any(|name| {
                match context.provider_arn {
                    Some(arn) => name == arn,
                    // IAM not read: the provider's ARN ends with the issuer.
                    None => name
                        .split_once(":oidc-provider/")
                        .is_some_and(|(_, url)| url == context.issuer),
                }
            }));
            if federated.is_null() {
                part.note = Some("the statement names no Federated principal".into());
            }
            part.expected = names;
        }
        Value::Null => part.note = Some("the statement has no Principal".into()),
        _ => {
            part.result = Outcome::NotEvaluated;
            part.note = Some("Principal is neither \"*\" nor an object".into());
        }
    }
    part
}

fn action(statement: &Value) -> PartCheck {
    let mut part = PartCheck {
        result: Outcome::Fails,
        expected: Vec::new(),
        actual: ACTION.to_owned(),
        note: None,
    };
    if !statement["NotAction"].is_null() {
        part.result = Outcome::NotEvaluated;
        part.note = Some("NotAction is not evaluated here".into());
        return part;
    }
    match keys::strings(&statement["Action"]) {
        Some(actions) => {
            // Actions are case-insensitive and take wildcards (sts:*, *).
            part.result = Outcome::of(actions.iter().any(|a| glob::matches(a, ACTION, true)));
            part.expected = actions;
        }
        None if statement["Action"].is_null() => part.note = Some("the statement has no Action".into()),
        None => {
            part.result = Outcome::NotEvaluated;
            part.note = Some("Action is not a string or a list of strings".into());
        }
    }
    part
}

/// Every key under every operator (IAM ANDs them all).
fn conditions(block: &Value, context: &Context) -> (Vec<crate::ConditionCheck>, Option<String>) {
    let Some(operators) = block.as_object() else {
        return if block.is_null() {
            (Vec::new(), None)
        } else {
            (Vec::new(), Some("Condition is not an object: not evaluated".into()))
        };
    };
    let mut checks = Vec::new();
    let mut note = None;
    for (operator, keys) in operators {
        let Some(keys) = keys.as_object() else {
            checks.push(crate::ConditionCheck {
                operator: operator.clone(),
                key: String::new(),
                claim: None,
                expected: Vec::new(),
                actual: None,
                result: Outcome::NotEvaluated,
                note: Some("the operator's value is not an object of keys".into()),
            });
            continue;
        };
        for (key, expected) in keys {
            if context.conditions_left.get() == 0 {
                let why = format!("more than {MAX_ITEMS} condition keys in the policy: the rest is not evaluated");
                checks.push(crate::ConditionCheck {
                    operator: String::new(),
                    key: "(not read)".into(),
                    claim: None,
                    expected: Vec::new(),
                    actual: None,
                    result: Outcome::NotEvaluated,
                    note: Some(why.clone()),
                });
                return (checks, Some(why));
            }
            context.conditions_left.set(context.conditions_left.get() - 1);
            checks.push(condition::check(
                operator,
                key,
                expected,
                context.issuer,
                context.claims,
            ));
        }
    }
    if checks.is_empty() && !operators.is_empty() {
        note = Some("a Condition operator with no keys".into());
    }
    (checks, note)
}
