//! Each rule of the evaluation, one situation each.

use serde_json::{Value, json};

use super::*;

const HOST_PATH: &str = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";
const ARN: &str =
    "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/p/locations/l/clusters/c";

fn cluster_claims(sub: &str) -> Value {
    json!({"iss": format!("https://{HOST_PATH}"), "sub": sub, "aud": ["sts.amazonaws.com"], "exp": 2000})
}

fn google_claims() -> Value {
    json!({"iss": "https://accounts.google.com", "sub": "1122", "azp": "1122", "aud": "sts.amazonaws.com", "exp": 2000})
}

fn registered() -> ProviderLookup {
    ProviderLookup::Registered(Provider {
        arn: ARN.to_owned(),
        client_ids: vec!["sts.amazonaws.com".to_owned()],
    })
}

fn statement(effect: &str, condition: Value) -> Value {
    json!({"Effect": effect, "Principal": {"Federated": ARN}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition})
}

fn cluster(statements: Value, sub: &str) -> Explanation {
    let policy = json!({"Version": "2012-10-17", "Statement": statements});
    explain(&cluster_claims(sub), &registered(), Some(&policy))
}

fn sub_is(operator: &str, value: Value) -> Value {
    json!({operator: {format!("{HOST_PATH}:sub"): value}})
}

const LEDGER: &str = "system:serviceaccount:payments:ledger";

#[test]
fn a_matching_allow_accepts_and_says_what_held() {
    let explanation = cluster(
        json!([statement("Allow", sub_is("StringEquals", json!(LEDGER)))]),
        LEDGER,
    );
    assert_eq!(explanation.verdict, Verdict::Accept);
    let statement = &explanation.statements[0];
    assert_eq!(
        (statement.principal.result, statement.action.result, statement.applies),
        (Outcome::Holds, Outcome::Holds, Outcome::Holds)
    );
    let condition = &statement.conditions[0];
    assert_eq!(condition.claim.as_deref(), Some("sub"));
    assert_eq!(condition.expected, [LEDGER]);
    assert_eq!(condition.actual.as_deref(), Some(&[LEDGER.to_owned()][..]));
}

#[test]
fn an_explicit_deny_wins_over_an_allow() {
    let deny = statement("Deny", sub_is("StringLike", json!("system:serviceaccount:payments:*")));
    let allow = statement("Allow", Value::Null);
    let explanation = cluster(json!([allow, deny]), LEDGER);
    assert_eq!(explanation.verdict, Verdict::Refuse);
    assert_eq!(explanation.statements[1].applies, Outcome::Holds);
    assert_eq!(
        cluster(json!([allow, deny]), "system:serviceaccount:web:app").verdict,
        Verdict::Accept
    );
}

#[test]
fn the_second_statement_may_allow_what_the_first_does_not() {
    let first = statement(
        "Allow",
        sub_is("StringEquals", json!("system:serviceaccount:other:ksa")),
    );
    let second = statement("Allow", sub_is("StringEquals", json!([LEDGER, "x"])));
    let explanation = cluster(json!([first, second]), LEDGER);
    assert_eq!(explanation.verdict, Verdict::Accept);
    assert_eq!(explanation.statements[0].applies, Outcome::Fails);
    assert_eq!(explanation.statements[1].applies, Outcome::Holds);
}

#[test]
fn principal_and_action_forms() {
    let mut s = statement("Allow", Value::Null);
    s["Principal"]["Federated"] = json!(["accounts.google.com", ARN]);
    s["Action"] = json!(["sts:AssumeRole", "sts:*"]);
    assert_eq!(cluster(json!(s.clone()), LEDGER).verdict, Verdict::Accept);
    s["Action"] = json!("*");
    assert_eq!(cluster(json!(s.clone()), LEDGER).verdict, Verdict::Accept);
    s["Action"] = json!("STS:AssumeRoleWithWebIdentity");
    assert_eq!(cluster(json!(s.clone()), LEDGER).verdict, Verdict::Accept);
    s["Action"] = json!("sts:AssumeRole");
    let explanation = cluster(json!(s.clone()), LEDGER);
    assert_eq!(
        (explanation.verdict, explanation.statements[0].action.result),
        (Verdict::Refuse, Outcome::Fails)
    );
    s["Action"] = json!("sts:AssumeRoleWithWebIdentity");
    s["Principal"]["Federated"] = json!("arn:aws:iam::123456789012:oidc-provider/other");
    let explanation = cluster(json!(s), LEDGER);
    assert_eq!(explanation.statements[0].principal.result, Outcome::Fails);
    assert_eq!(explanation.statements[0].principal.actual, ARN);
}

#[test]
fn condition_keys_are_case_insensitive_values_are_not() {
    let upper = json!({"StringEquals": {format!("{}:SUB", HOST_PATH.to_uppercase()): LEDGER}});
    assert_eq!(cluster(statement("Allow", upper), LEDGER).verdict, Verdict::Accept);
    let shouting = sub_is("StringEquals", json!(LEDGER.to_uppercase()));
    assert_eq!(cluster(statement("Allow", shouting), LEDGER).verdict, Verdict::Refuse);
    let ignoring = sub_is("StringEqualsIgnoreCase", json!(LEDGER.to_uppercase()));
    assert_eq!(cluster(statement("Allow", ignoring), LEDGER).verdict, Verdict::Accept);
}

#[test]
fn negated_operators_and_a_missing_key() {
    let not = sub_is("StringNotEquals", json!("system:serviceaccount:payments:intruder"));
    assert_eq!(cluster(statement("Allow", not), LEDGER).verdict, Verdict::Accept);
    let not_like = sub_is("StringNotLike", json!("system:serviceaccount:payments:*"));
    assert_eq!(cluster(statement("Allow", not_like), LEDGER).verdict, Verdict::Refuse);
    let not_ignoring = sub_is("StringNotEqualsIgnoreCase", json!(LEDGER.to_uppercase()));
    assert_eq!(
        cluster(statement("Allow", not_ignoring), LEDGER).verdict,
        Verdict::Refuse
    );
    // A key the token lacks: a positive operator fails, a negated one holds.
    let amr = |operator: &str| json!({operator: {format!("{HOST_PATH}:amr"): "x"}});
    let explanation = cluster(statement("Allow", amr("StringEquals")), LEDGER);
    assert_eq!(explanation.verdict, Verdict::Refuse);
    assert_eq!(
        explanation.statements[0].conditions[0].note.as_deref(),
        Some("the token has no amr claim")
    );
    assert_eq!(
        cluster(statement("Allow", amr("StringNotEquals")), LEDGER).verdict,
        Verdict::Accept
    );
    assert_eq!(
        cluster(statement("Allow", amr("StringEqualsIfExists")), LEDGER).verdict,
        Verdict::Accept
    );
}

#[test]
fn set_operators_on_a_list_of_audiences() {
    let mut claims = cluster_claims(LEDGER);
    claims["aud"] = json!(["sts.amazonaws.com", "vault"]);
    let aud = |operator: &str, value: Value| {
        let policy = json!({"Statement": statement("Allow", json!({operator: {format!("{HOST_PATH}:aud"): value}}))});
        explain(&claims, &registered(), Some(&policy)).verdict
    };
    assert_eq!(aud("ForAnyValue:StringEquals", json!("vault")), Verdict::Accept);
    assert_eq!(aud("ForAllValues:StringEquals", json!("vault")), Verdict::Refuse);
    assert_eq!(
        aud("ForAllValues:StringEquals", json!(["vault", "sts.amazonaws.com"])),
        Verdict::Accept
    );
    assert_eq!(aud("ForAnyValue:StringNotEquals", json!("vault")), Verdict::Accept);
    assert_eq!(aud("ForAllValues:StringNotLike", json!("v*")), Verdict::Refuse);
    assert_eq!(aud("StringEquals", json!("vault")), Verdict::Accept);
    // ForAllValues over a key the token lacks holds; ForAnyValue fails.
    let amr = |operator: &str| {
        let policy = json!({"Statement": statement("Allow", json!({operator: {format!("{HOST_PATH}:amr"): "x"}}))});
        explain(&claims, &registered(), Some(&policy)).verdict
    };
    assert_eq!(amr("ForAllValues:StringEquals"), Verdict::Accept);
    assert_eq!(amr("ForAnyValue:StringEquals"), Verdict::Refuse);
    // Negation does not change that: ForAnyValue over no values is false, whatever it compares
    // ("for no matching key or a null dataset, the condition returns false"); a negated operator
    // without a set operator holds on a missing key.
    assert_eq!(amr("ForAnyValue:StringNotEquals"), Verdict::Refuse);
    assert_eq!(amr("ForAnyValue:StringNotLike"), Verdict::Refuse);
    assert_eq!(amr("ForAnyValue:StringNotEqualsIgnoreCase"), Verdict::Refuse);
    assert_eq!(amr("ForAllValues:StringNotEquals"), Verdict::Accept);
    assert_eq!(amr("ForAllValues:StringNotLike"), Verdict::Accept);
    assert_eq!(amr("StringNotEquals"), Verdict::Accept);
    assert_eq!(amr("StringNotLike"), Verdict::Accept);
    assert_eq!(amr("StringEquals"), Verdict::Refuse);
    assert_eq!(amr("StringLike"), Verdict::Refuse);
}

#[test]
fn null_checks_whether_the_key_is_there() {
    let null = |key: &str, flag: Value| {
        cluster(
            statement("Allow", json!({"Null": {format!("{HOST_PATH}:{key}"): flag}})),
            LEDGER,
        )
        .verdict
    };
    assert_eq!(null("amr", json!("true")), Verdict::Accept);
    assert_eq!(null("sub", json!(true)), Verdict::Refuse);
    assert_eq!(null("sub", json!("false")), Verdict::Accept);
    assert_eq!(null("sub", json!("maybe")), Verdict::NotEvaluated);
}

#[test]
fn what_is_not_known_is_not_evaluated_never_guessed() {
    let unknown = json!({"NumericLessThan": {format!("{HOST_PATH}:sub"): "3"}});
    let explanation = cluster(statement("Allow", unknown.clone()), LEDGER);
    assert_eq!(explanation.verdict, Verdict::NotEvaluated);
    let condition = &explanation.statements[0].conditions[0];
    assert_eq!(condition.result, Outcome::NotEvaluated);
    assert!(
        condition.note.as_deref().unwrap().contains("NumericLessThan"),
        "{condition:?}"
    );
    // Another statement that allows decides; one that fails elsewhere too.
    let allow = statement("Allow", Value::Null);
    assert_eq!(
        cluster(json!([statement("Allow", unknown.clone()), allow]), LEDGER).verdict,
        Verdict::Accept
    );
    let mut failing = statement("Allow", unknown.clone());
    failing["Action"] = json!("s3:GetObject");
    assert_eq!(cluster(json!([failing]), LEDGER).verdict, Verdict::Refuse);
    // A Deny that may apply leaves an Allow undecided.
    let deny = statement("Deny", json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}));
    let explanation = cluster(json!([statement("Allow", Value::Null), deny]), LEDGER);
    assert_eq!(explanation.verdict, Verdict::NotEvaluated);
    assert!(
        explanation.statements[1].conditions[0]
            .note
            .as_deref()
            .unwrap()
            .contains("aws:SourceIp")
    );
    // Policy variables and NotPrincipal.
    let variable = sub_is("StringLike", json!("system:serviceaccount:${aws:PrincipalTag/ns}:*"));
    assert_eq!(
        cluster(statement("Allow", variable), LEDGER).verdict,
        Verdict::NotEvaluated
    );
    let mut not_principal = statement("Allow", Value::Null);
    not_principal["NotPrincipal"] = json!({"Federated": "x"});
    assert_eq!(cluster(not_principal, LEDGER).verdict, Verdict::NotEvaluated);
}

#[test]
fn googles_keys_map_aud_to_azp_and_oaud_to_aud() {
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
    let google = ProviderLookup::Registered(Provider::google());
    let right = explain(&google_claims(), &google, Some(&policy("1122", "sts.amazonaws.com")));
    assert_eq!(right.verdict, Verdict::Accept);
    let claims: Vec<_> = right.statements[0]
        .conditions
        .iter()
        .map(|c| c.claim.clone().unwrap())
        .collect();
    assert_eq!(claims, ["azp", "aud", "sub"]);
    let swapped = explain(&google_claims(), &google, Some(&policy("sts.amazonaws.com", "1122")));
    assert_eq!(swapped.verdict, Verdict::Refuse);
    // Without IAM (a policy from a file), Google's provider is still known.
    let offline = explain(
        &google_claims(),
        &ProviderLookup::NotRead,
        Some(&policy("1122", "sts.amazonaws.com")),
    );
    assert_eq!(offline.verdict, Verdict::Accept);
    // A token without azp: :aud is its aud.
    let mut no_azp = google_claims();
    no_azp.as_object_mut().unwrap().remove("azp");
    let explanation = explain(
        &no_azp,
        &google,
        Some(&policy("sts.amazonaws.com", "sts.amazonaws.com")),
    );
    assert_eq!(explanation.verdict, Verdict::Accept);
}

#[test]
fn googles_email_key_is_the_tokens_email_claim() {
    let email = "ledger@acme.iam.gserviceaccount.com";
    let policy = |operator: &str, pinned: &str| {
        json!({"Statement": {
            "Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {operator: {"accounts.google.com:email": pinned, "accounts.google.com:aud": "1122"}},
        }})
    };
    let google = ProviderLookup::Registered(Provider::google());
    let mut claims = google_claims();
    claims["email"] = json!(email);
    let held = explain(&claims, &google, Some(&policy("StringEquals", email)));
    assert_eq!(held.verdict, Verdict::Accept);
    let email_of = |e: &Explanation| {
        e.statements[0]
            .conditions
            .iter()
            .find(|c| c.key == "accounts.google.com:email")
            .cloned()
            .unwrap()
    };
    let condition = email_of(&held);
    assert_eq!(
        (condition.claim.as_deref(), condition.actual.as_deref()),
        (Some("email"), Some(&[email.to_owned()][..]))
    );
    let pattern = explain(
        &claims,
        &google,
        Some(&policy("StringLike", "*@acme.iam.gserviceaccount.com")),
    );
    assert_eq!(pattern.verdict, Verdict::Accept);
    let other = explain(
        &claims,
        &google,
        Some(&policy("StringEquals", "other@acme.iam.gserviceaccount.com")),
    );
    assert_eq!(other.verdict, Verdict::Refuse);
    assert_eq!(email_of(&other).result, Outcome::Fails);
    // A token without the claim (format=standard): the key is absent, a positive operator fails.
    let absent = explain(&google_claims(), &google, Some(&policy("StringEquals", email)));
    assert_eq!(absent.verdict, Verdict::Refuse);
    assert_eq!(email_of(&absent).actual, None);
    // An OIDC issuer's :email is not a key AWS fills: not evaluated, never guessed.
    let mut cluster = cluster_claims(LEDGER);
    cluster["email"] = json!(email);
    let unknown = explain(
        &cluster,
        &registered(),
        Some(&json!({"Statement": statement("Allow", json!({"StringEquals": {format!("{HOST_PATH}:email"): email}}))})),
    );
    assert_eq!(unknown.verdict, Verdict::NotEvaluated);
}

#[test]
fn the_provider_checks_come_first() {
    let policy = json!({"Statement": statement("Allow", Value::Null)});
    let missing = explain(&cluster_claims(LEDGER), &ProviderLookup::Missing, Some(&policy));
    assert_eq!(
        (missing.verdict, missing.provider.registered),
        (Verdict::Refuse, Outcome::Fails)
    );
    // The statements are still explained, against the ARN the provider would have.
    assert_eq!(missing.statements[0].principal.result, Outcome::Holds);
    let other_audience = ProviderLookup::Registered(Provider {
        arn: ARN.to_owned(),
        client_ids: vec!["vault".to_owned()],
    });
    let wrong = explain(&cluster_claims(LEDGER), &other_audience, Some(&policy));
    assert_eq!(
        (wrong.verdict, wrong.provider.audience),
        (Verdict::Refuse, Outcome::Fails)
    );
    let unread = explain(&cluster_claims(LEDGER), &ProviderLookup::NotRead, Some(&policy));
    assert_eq!(
        (unread.verdict, unread.provider.registered),
        (Verdict::NotEvaluated, Outcome::NotEvaluated)
    );
    let no_role = explain(&cluster_claims(LEDGER), &registered(), None);
    assert_eq!((no_role.verdict, no_role.role_found), (Verdict::Refuse, false));
}

#[test]
fn keys_of_another_issuer_are_absent() {
    let google_key = json!({"StringEquals": {"accounts.google.com:sub": LEDGER}});
    let explanation = cluster(statement("Allow", google_key), LEDGER);
    assert_eq!(explanation.verdict, Verdict::Refuse);
    assert!(
        explanation.statements[0].conditions[0]
            .note
            .as_deref()
            .unwrap()
            .contains("another issuer")
    );
}

#[test]
fn too_much_is_bounded_and_not_evaluated() {
    let statements: Vec<Value> = (0..MAX_ITEMS + 5).map(|_| statement("Deny", Value::Null)).collect();
    let explanation = cluster(json!(statements), LEDGER);
    assert_eq!(explanation.statements.len(), MAX_ITEMS + 1);
    assert_eq!(explanation.verdict, Verdict::Refuse);
    let keys: serde_json::Map<String, Value> = (0..MAX_ITEMS + 5)
        .map(|i| (format!("{HOST_PATH}:sub{i}"), json!("x")))
        .collect();
    let explanation = cluster(statement("Allow", json!({"StringNotEquals": keys})), LEDGER);
    assert_eq!(explanation.statements[0].conditions.len(), MAX_ITEMS + 1);
    assert_eq!(explanation.verdict, Verdict::NotEvaluated);
}

#[test]
fn condition_keys_are_counted_over_the_whole_policy() {
    // Each check copies the token's values: 40 statements of 40 keys would be 1,600 copies.
    let keys: serde_json::Map<String, Value> = (0..40).map(|i| (format!("{HOST_PATH}:sub{i}"), json!("x"))).collect();
    let statements: Vec<Value> = (0..40)
        .map(|_| statement("Allow", json!({"StringNotEquals": keys.clone()})))
        .collect();
    let explanation = cluster(json!(statements), LEDGER);
    let evaluated: usize = explanation
        .statements
        .iter()
        .map(|s| s.conditions.iter().filter(|c| c.key != "(not read)").count())
        .sum();
    assert_eq!(evaluated, MAX_ITEMS);
    assert_eq!(explanation.statements[1].conditions.len(), MAX_ITEMS - 40 + 1);
    assert_eq!(explanation.statements[2].conditions.len(), 1, "only the marker");
    assert_eq!(explanation.verdict, Verdict::NotEvaluated);
}

#[test]
fn the_explanation_serializes_for_machines() {
    let explanation = cluster(
        json!([statement("Allow", sub_is("StringEquals", json!(LEDGER)))]),
        LEDGER,
    );
    let json = serde_json::to_value(&explanation).unwrap();
    assert_eq!(json["verdict"], "accept");
    assert_eq!(json["statements"][0]["conditions"][0]["result"], "holds");
    assert_eq!(json["provider"]["registered"], "holds");
}
