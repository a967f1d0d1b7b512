//! What AWS STS decides when a web-identity token asks to assume a role
//! (`sts:AssumeRoleWithWebIdentity`), as a pure function that explains itself.
//!
//! [`explain`] takes the token's claims (never the token), what IAM holds for the token's
//! issuer ([`ProviderLookup`]) and the role's trust policy, and returns an [`Explanation`]:
//! the provider checks STS makes first (a registered OIDC provider, the audience among its
//! client IDs), then for every statement whether its `Effect`, `Principal` and `Action` apply
//! and, for every condition key and operator, the values compared and the result, and the
//! overall [`Verdict`]. What this crate does not know (an operator such as `NumericLessThan`,
//! a request key such as `aws:SourceIp`, `NotPrincipal`) is reported as
//! [`Outcome::NotEvaluated`], never guessed: a verdict that depends on it is
//! [`Verdict::NotEvaluated`].
//!
//! It checks neither the token's signature nor its expiry: the callers do (the STS stand-in
//! checks expiry; the verifier checks the issuer's keys).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif>

mod condition;
pub mod document;
mod glob;
mod keys;
mod statement;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use keys::issuer_host_path;

/// Google's issuer, which AWS has built in: no IAM OIDC provider, `Principal.Federated` is
/// `accounts.google.com`, and its condition keys map to claims differently (`:aud` is the
/// token's `azp`, `:oaud` its `aud`).
pub const GOOGLE: &str = "accounts.google.com";

/// The action every statement is checked for.
pub const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// At most this many statements, condition keys in the whole policy, and values per list are
/// evaluated; past that, the rest is [`Outcome::NotEvaluated`]. IAM caps a trust policy at
/// 2,048 characters by default (8,192 at most), well below these. The keys are counted over
/// the whole policy because each check copies the token's values: per statement, a small
/// hostile policy could make an explanation thousands of times its own size.
pub const MAX_ITEMS: usize = 64;

/// An IAM OIDC provider as IAM stores it: its ARN and client IDs (audiences).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`, or [`GOOGLE`] for Google's.
    pub arn: String,
    /// The audiences STS accepts for this provider (empty for Google's).
    pub client_ids: Vec<String>,
}

impl Provider {
    /// The provider STS uses for Google's tokens, without asking IAM.
    pub fn google() -> Provider {
        Provider {
            arn: GOOGLE.to_owned(),
            client_ids: Vec::new(),
        }
    }
}

/// What is known of the IAM OIDC provider for the token's issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderLookup {
    /// IAM has it (or it is Google's built-in provider).
    Registered(Provider),
    /// IAM was asked and has none: STS refuses every token of this issuer.
    Missing,
    /// IAM was not asked (a trust policy from a file): the provider checks are not evaluated.
    NotRead,
}

/// A three-valued result: what held, what failed, and what this crate cannot tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Holds,
    Fails,
    NotEvaluated,
}

impl Outcome {
    fn of(holds: bool) -> Outcome {
        if holds { Outcome::Holds } else { Outcome::Fails }
    }

    /// All of them: a failure decides, else anything not evaluated.
    pub fn and(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Fails, _) | (_, Outcome::Fails) => Outcome::Fails,
            (Outcome::NotEvaluated, _) | (_, Outcome::NotEvaluated) => Outcome::NotEvaluated,
            _ => Outcome::Holds,
        }
    }

    /// Any of them: a success decides, else anything not evaluated.
    pub fn or(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Holds, _) | (_, Outcome::Holds) => Outcome::Holds,
            (Outcome::NotEvaluated, _) | (_, Outcome::NotEvaluated) => Outcome::NotEvaluated,
            _ => Outcome::Fails,
        }
    }
}

/// What STS would answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// STS would hand out credentials.
    Accept,
    /// STS would refuse (`InvalidIdentityToken` for the provider checks, else `AccessDenied`).
    Refuse,
    /// It depends on something this crate does not evaluate; see the explanation's
    /// [`Outcome::NotEvaluated`] parts.
    NotEvaluated,
}

/// The whole explanation: provider checks, each statement, and the verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub verdict: Verdict,
    /// The token's issuer as IAM's keys and provider ARNs spell it (`iss` without `https://`).
    pub issuer: String,
    pub provider: ProviderCheck,
    /// Whether the role (its trust policy) exists at all.
    pub role_found: bool,
    /// Every statement of the trust policy, in order.
    pub statements: Vec<StatementCheck>,
    /// Something about the document as a whole (no `Statement`, too many statements).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// STS's checks of the provider, before any statement is read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderCheck {
    /// The provider's ARN when known.
    pub arn: Option<String>,
    /// IAM has a provider for the issuer (always for Google).
    pub registered: Outcome,
    /// One of the token's `aud` values is among the provider's client IDs (always holds for
    /// Google, whose audience the trust policy pins with `:oaud`).
    pub audience: Outcome,
    /// The token's `aud` values.
    pub token_audiences: Vec<String>,
    /// The provider's client IDs, when known.
    pub client_ids: Vec<String>,
}

/// One statement: whether it applies to this request, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatementCheck {
    /// Its position in `Statement`, from 0.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `Allow` or `Deny` as written (anything else is not evaluated).
    pub effect: String,
    pub principal: PartCheck,
    pub action: PartCheck,
    /// Every condition key under every operator, in the document's order.
    pub conditions: Vec<ConditionCheck>,
    /// Principal, Action and every condition together.
    pub applies: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `Principal` or `Action`: what the statement names and what the request is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartCheck {
    pub result: Outcome,
    /// The values the statement names.
    pub expected: Vec<String>,
    /// The request's value (the provider's ARN, or the action).
    pub actual: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One condition key under one operator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConditionCheck {
    /// As written, e.g. `StringEquals` or `ForAnyValue:StringLike`.
    pub operator: String,
    /// As written, e.g. `accounts.google.com:aud`.
    pub key: String,
    /// The token claim AWS fills this key from (`azp` for `accounts.google.com:aud`).
    pub claim: Option<String>,
    /// The policy's values.
    pub expected: Vec<String>,
    /// The token's values for the key; `None` when the request has no such key.
    pub actual: Option<Vec<String>>,
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Explains what STS decides for a token with these `claims` (a JSON object) asking to assume
/// a role whose trust policy is `policy` (`None`: no such role), given what IAM holds for the
/// token's issuer.
pub fn explain(claims: &Value, provider: &ProviderLookup, policy: Option<&Value>) -> Explanation {
    let issuer = issuer_host_path(claims).unwrap_or_default().to_owned();
    let provider_check = provider_check(claims, &issuer, provider);
    let context = statement::Context {
        claims,
        issuer: &issuer,
        provider_arn: match provider {
            ProviderLookup::Registered(p) => Some(p.arn.as_str()),
            _ if issuer == GOOGLE => Some(GOOGLE),
            _ => None,
        },
        conditions_left: std::cell::Cell::new(MAX_ITEMS),
    };
    let (statements, note) = match policy {
        None => (Vec::new(), None),
        Some(policy) => statement::all(policy, &context),
    };
    let verdict = verdict(&provider_check, policy.is_some(), &statements);
    Explanation {
        verdict,
        issuer,
        provider: provider_check,
        role_found: policy.is_some(),
        statements,
        note,
    }
}

fn provider_check(claims: &Value, issuer: &str, provider: &ProviderLookup) -> ProviderCheck {
    let token_audiences = keys::strings(&claims["aud"]).unwrap_or_default();
    let (arn, registered, audience, client_ids) = match provider {
        ProviderLookup::Registered(p) => {
            // Google's built-in provider has no client ID list: the trust policy pins the audience.
            let known = p.arn == GOOGLE || token_audiences.iter().any(|aud| p.client_ids.contains(aud));
            (
                Some(p.arn.clone()),
                Outcome::Holds,
                Outcome::of(known),
                p.client_ids.clone(),
            )
        }
        _ if issuer == GOOGLE => (Some(GOOGLE.to_owned()), Outcome::Holds, Outcome::Holds, Vec::new()),
        ProviderLookup::Missing => (None, Outcome::Fails, Outcome::NotEvaluated, Vec::new()),
        ProviderLookup::NotRead => (None, Outcome::NotEvaluated, Outcome::NotEvaluated, Vec::new()),
    };
    ProviderCheck {
        arn,
        registered,
        audience,
        token_audiences,
        client_ids,
    }
}

/// IAM's evaluation: an explicit Deny wins; else some Allow must apply.
fn verdict(provider: &ProviderCheck, role_found: bool, statements: &[StatementCheck]) -> Verdict {
    let provider = provider.registered.and(provider.audience);
    if provider == Outcome::Fails || !role_found {
        return Verdict::Refuse;
    }
    let (mut allow, mut deny) = (Outcome::Fails, Outcome::Fails);
    for statement in statements {
        match statement.effect.as_str() {
            "Allow" => allow = allow.or(statement.applies),
            "Deny" => deny = deny.or(statement.applies),
            // An effect IAM would not store: it could be either.
            _ => {
                let either = statement.applies.and(Outcome::NotEvaluated);
                allow = allow.or(either);
                deny = deny.or(either);
            }
        }
    }
    match (deny, allow.and(provider)) {
        (Outcome::Holds, _) | (_, Outcome::Fails) => Verdict::Refuse,
        (Outcome::Fails, Outcome::Holds) => Verdict::Accept,
        _ => Verdict::NotEvaluated,
    }
}

#[cfg(test)]
mod tests;
