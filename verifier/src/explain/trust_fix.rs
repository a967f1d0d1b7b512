//! What to do about a refusal, from the explanation: the classic causes of GKE → AWS trust
//! mismatches named, with the Terraform input or the command that fixes each.

use serde_json::Value;
use trust_policy::{ConditionCheck, Explanation, GOOGLE, Outcome, StatementCheck, Verdict};

use crate::redact::shown;

/// The fixes, most specific first, without repeats.
pub fn fixes(explanation: &Explanation, claims: &Value, role: Option<&str>) -> Vec<String> {
    let mut fixes: Vec<String> = Vec::new();
    let mut add = |fix: String| {
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    };
    if explanation.verdict == Verdict::Accept {
        return Vec::new();
    }
    let issuer = explanation.issuer.as_str();
    let provider = &explanation.provider;
    let audiences = provider.token_audiences.join(", ");
    if provider.registered == Outcome::Fails {
        let audience = provider
            .token_audiences
            .first()
            .map_or("sts.amazonaws.com", String::as_str);
        add(format!(
            "The account has no IAM OIDC provider for the token's issuer https://{issuer}. Create it with the \
             aws-gke-oidc-provider module (issuer_url = \"https://{issuer}\", client_ids = [\"{audience}\"]), or: aws iam \
             create-open-id-connect-provider --url https://{issuer} --client-id-list {audience}"
        ));
    }
    if provider.audience == Outcome::Fails {
        add(format!(
            "The token's audience ({}) is not among the OIDC provider's client IDs ({}). Add it to the \
             aws-gke-oidc-provider module's client_ids, or set the projected serviceAccountToken volume's audience to \
             a client ID the provider lists.",
            shown(&audiences),
            shown(&provider.client_ids.join(", "))
        ));
    }
    if !explanation.role_found {
        add(format!(
            "The role {} does not exist in its account: apply the Terraform that creates it (make apply), or check \
             --role-arn (AWS_ROLE_ARN).",
            role.unwrap_or("named")
        ));
    }
    let trusted: Vec<&StatementCheck> = explanation
        .statements
        .iter()
        .filter(|s| s.principal.result == Outcome::Holds && s.action.result == Outcome::Holds)
        .collect();
    for deny in trusted
        .iter()
        .filter(|s| s.effect == "Deny" && s.applies == Outcome::Holds)
    {
        add(format!(
            "Statement {}{} denies explicitly, and a Deny wins over every Allow: remove it or narrow its condition.",
            deny.index,
            deny.sid
                .as_deref()
                .map(|sid| format!(" ({})", shown(sid)))
                .unwrap_or_default()
        ));
    }
    let allows: Vec<&&StatementCheck> = trusted.iter().filter(|s| s.effect == "Allow").collect();
    if allows.is_empty() && explanation.role_found && !explanation.statements.is_empty() {
        let first = &explanation.statements[0];
        add(format!(
            "No Allow statement trusts {} for sts:AssumeRoleWithWebIdentity (the role trusts {}). The workload's \
             identity input (gsa or cluster) must match how the pod gets its token: GSA mode trusts \
             accounts.google.com, cluster mode the cluster's OIDC provider; re-apply with the right one.",
            shown(&first.principal.actual),
            shown(&first.principal.expected.join(", "))
        ));
    }
    for statement in allows {
        for condition in statement.conditions.iter().filter(|c| c.result == Outcome::Fails) {
            add(condition_fix(issuer, condition, statement, claims));
        }
    }
    for statement in &explanation.statements {
        for condition in statement
            .conditions
            .iter()
            .filter(|c| c.result == Outcome::NotEvaluated)
        {
            add(format!(
                "Check by hand: {} on {} in statement {} is not evaluated by explain ({}).",
                shown(&condition.operator),
                shown(&condition.key),
                statement.index,
                condition.note.as_deref().unwrap_or("unknown")
            ));
        }
    }
    fixes
}

fn condition_fix(issuer: &str, condition: &ConditionCheck, statement: &StatementCheck, claims: &Value) -> String {
    let name = condition
        .key
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let expected = condition.expected.join(", ");
    let actual = condition.actual.as_ref().map(|v| v.join(", ")).unwrap_or_default();
    let other = |key: &str| {
        statement
            .conditions
            .iter()
            .find(|c| c.key.to_ascii_lowercase().ends_with(&format!(":{key}")))
    };
    match (issuer == GOOGLE, name.as_str()) {
        (true, "aud" | "oaud") if swapped(condition, other(if name == "aud" { "oaud" } else { "aud" })) => format!(
            "accounts.google.com:aud and :oaud are swapped in the trust policy: AWS fills :aud from the token's azp \
             (the GSA's unique id, {}) and :oaud from its aud (the audience, {}). Write them the right way round \
             (the repository's role modules do: re-apply with make apply).",
            shown(claims["azp"].as_str().unwrap_or_default()),
            shown(
                &claims["aud"]
                    .as_str()
                    .map_or_else(|| claims["aud"].to_string(), str::to_owned)
            )
        ),
        (true, "aud" | "sub") if all_digits(&expected) && all_digits(&actual) => format!(
            "The role trusts the GSA with unique id {} but the token's GSA{} has unique id {}: a GSA deleted and \
             recreated under the same e-mail gets a new unique id. Re-apply the workload (make apply) so that the role's \
             google_service_account_unique_id becomes {}; if the pod runs as another GSA, fix the KSA's \
             iam.gke.io/gcp-service-account annotation.",
            shown(&expected),
            claims["email"]
                .as_str()
                .map(|e| format!(" ({})", shown(e)))
                .unwrap_or_default(),
            shown(&actual),
            shown(&actual)
        ),
        (true, "oaud") => format!(
            "The role pins the audience {} (the Terraform input audience) but the token was minted for {}: run with \
             --audience {} (VERIFY_AUDIENCE), or set audience to {} and re-apply.",
            shown(&expected),
            shown(&actual),
            shown(&expected),
            shown(&actual)
        ),
        (false, "sub") => sub_fix(&expected, &actual),
        (false, "aud") => format!(
            "The role pins the audience {} but the projected token's audience is {}: set the serviceAccountToken \
             volume's audience to {}, or the Terraform input audience to {} and re-apply.",
            shown(&expected),
            shown(&actual),
            shown(&expected),
            shown(&actual)
        ),
        _ => format!(
            "Make {} {} {} hold for the token's {} ({}), or change the trust policy.",
            shown(&condition.key),
            shown(&condition.operator),
            shown(&expected),
            condition.claim.as_deref().unwrap_or("claims"),
            if actual.is_empty() {
                "absent".to_owned()
            } else {
                shown(&actual)
            }
        ),
    }
}

/// Whether `:aud` holds what `:oaud` should and the other way round.
fn swapped(condition: &ConditionCheck, other: Option<&ConditionCheck>) -> bool {
    let Some(other) = other else { return false };
    let (Some(mine), Some(theirs)) = (&condition.actual, &other.actual) else {
        return false;
    };
    mine != theirs
        && theirs.iter().any(|v| condition.expected.contains(v))
        && mine.iter().any(|v| other.expected.contains(v))
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// `system:serviceaccount:NS:KSA` as the role has it and as the token has it.
fn sub_fix(expected: &str, actual: &str) -> String {
    let split = |sub: &str| {
        let rest = sub.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':').map(|(ns, ksa)| (ns.to_owned(), ksa.to_owned()))
    };
    match (split(expected), split(actual)) {
        (Some((ens, eksa)), Some((ans, aksa))) if ens != ans => format!(
            "The role trusts namespace {} (KSA {}) but the token's KSA {} is in namespace {}: set the workload's \
             namespace in terraform.tfvars (workloads.NAME.namespace) to {} and re-apply, or run the pod in {}.",
            shown(&ens),
            shown(&eksa),
            shown(&aksa),
            shown(&ans),
            shown(&ans),
            shown(&ens)
        ),
        (Some((ens, eksa)), Some((_, aksa))) => format!(
            "The role trusts KSA {} in namespace {} but the token is for KSA {}: set the workload's ksa in \
             terraform.tfvars (workloads.NAME.ksa) to {} and re-apply, or run the pod as {}.",
            shown(&eksa),
            shown(&ens),
            shown(&aksa),
            shown(&aksa),
            shown(&eksa)
        ),
        _ => format!(
            "The role trusts sub {} but the token's sub is {}: point the role at the pod's KSA \
             (workloads.NAME.namespace and ksa in terraform.tfvars) and re-apply.",
            shown(expected),
            shown(actual)
        ),
    }
}
