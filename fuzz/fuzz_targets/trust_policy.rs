//! `trust_policy::explain` and `trust_policy::document::parse`: a trust policy and a token's
//! claims from arbitrary JSON (a `--trust-policy` file, a report or claims fixture, IAM's
//! answer through a hostile proxy).
//! Input: the claims JSON, a NUL byte, the policy text (plain or URL-encoded JSON).
//! Invariants: never panics; the explanation is bounded (statements and condition keys by
//! `MAX_ITEMS`, condition keys by `MAX_ITEMS` in the whole policy, its JSON linear in the input's size); the verdict follows from the explanation (no
//! role or a failed provider check refuses; an explicit Deny that applies refuses; accept
//! needs an Allow that applies).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trust_policy::{MAX_ITEMS, Outcome, Provider, ProviderLookup, Verdict, explain};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (claims_text, policy_text) = text.split_once('\0').unwrap_or((text, ""));
    let claims: Value = serde_json::from_str(claims_text).unwrap_or(Value::Null);
    let policy = trust_policy::document::parse(policy_text).ok();
    let lookups = [
        ProviderLookup::NotRead,
        ProviderLookup::Missing,
        ProviderLookup::Registered(Provider::google()),
        ProviderLookup::Registered(Provider {
            arn: "arn:aws:iam::123456789012:oidc-provider/oidc.example.com".into(),
            client_ids: vec!["sts.amazonaws.com".into()],
        }),
    ];
    for lookup in &lookups {
        let explanation = explain(&claims, lookup, policy.as_ref());
        assert!(explanation.statements.len() <= MAX_ITEMS + 1, "statements unbounded");
        for statement in &explanation.statements {
            assert!(statement.conditions.len() <= MAX_ITEMS + 1, "conditions unbounded");
        }
        // Linear in the input: at most MAX_ITEMS + 1 statements and MAX_ITEMS condition keys in
        // the whole policy each copy a few parts of it (the issuer, an operator, the token's
        // values), which JSON escaping can make up to six times longer; plus a fixed size per
        // entry. Counted per statement, keys made it quadratic.
        let size = serde_json::to_string(&explanation).expect("serializes").len();
        let entries = explanation.statements.len()
            + explanation.statements.iter().map(|s| s.conditions.len()).sum::<usize>();
        assert!(
            size <= 32 * (MAX_ITEMS + 1) * data.len() + 1024 * entries + 4096,
            "{size} bytes of explanation for {} bytes",
            data.len()
        );
        let evaluated: usize = explanation
            .statements
            .iter()
            .map(|s| s.conditions.iter().filter(|c| c.key != "(not read)").count())
            .sum();
        assert!(evaluated <= MAX_ITEMS, "{evaluated} condition keys evaluated");
        let applies = |effect: &str, outcome| {
            explanation
                .statements
                .iter()
                .any(|s| s.effect == effect && s.applies == outcome)
        };
        let provider_failed =
            explanation.provider.registered == Outcome::Fails || explanation.provider.audience == Outcome::Fails;
        if policy.is_none() || provider_failed || applies("Deny", Outcome::Holds) {
            assert_eq!(explanation.verdict, Verdict::Refuse);
        }
        if explanation.verdict == Verdict::Accept {
            assert!(
                applies("Allow", Outcome::Holds),
                "accepted without an Allow that applies"
            );
        }
    }
});
