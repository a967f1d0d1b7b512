//! `explain`: why STS accepts or refuses a token for a role, condition by condition. It composes
//! a claims source ([`crate::explain::claims_source`]), a trust source (IAM through [`crate::aws::iam`], or a
//! file through [`crate::explain::trust_source`]), the shared evaluator ([`trust_policy`]) and the
//! fixes ([`crate::explain::trust_fix`]). It writes nothing anywhere and never holds more of a token
//! than its claims.

pub mod claims_source;
pub mod trust_fix;
pub mod trust_source;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use trust_policy::{Explanation, GOOGLE, Outcome, Provider, ProviderLookup, Verdict};

use self::claims_source::{ClaimsSource, TokenClaims};
use crate::aws::iam::IamReader;
use crate::error::ReportError;
use crate::error::{Failure, InputError, Stage, StageError};
use crate::exit_code::ExitCode;
use crate::identity::Identity;
use crate::input::RoleArn;
use crate::redact::shown;
use crate::{aws::sdk, input_file};

/// Largest `--trust-policy` file: `terraform show -json` of a big configuration.
const MAX_TRUST_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Where the trust policy comes from.
#[derive(Debug, Clone)]
pub enum TrustInput {
    /// `iam:GetRole` (and the OIDC provider) with the caller's credentials.
    Iam,
    /// `--trust-policy FILE`: no AWS call.
    File(PathBuf),
}

/// Everything `explain` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub claims: ClaimsSource,
    pub trust: TrustInput,
    /// `--role-arn`; else the report's role (or `--profile`'s).
    pub role_arn: Option<RoleArn>,
    pub timeout: Duration,
    /// `--profile`: the web identity profile whose role and token are explained.
    pub profile: Option<String>,
}

/// One thing that held, failed, or was not evaluated, in words.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub result: Outcome,
    /// The statement it belongs to, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
    pub text: String,
}

/// What can refuse `sts:AssumeRoleWithWebIdentity` beyond the role's trust policy and the
/// OIDC provider, which no verdict here covers: a resource control policy of AWS
/// Organizations can deny what the trust allows, and so can the policy of the VPC endpoint
/// the call goes through.
/// <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html>
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>
pub const NOT_EVALUATED: [&str; 2] = ["Organizations resource control policies", "VPC endpoint policies"];

/// The outcome of `explain`: the explanation, or why none could be made.
#[derive(Debug, Default, Serialize)]
pub struct ExplainReport {
    pub verdict: Option<Verdict>,
    /// The web identity profile (`--profile`) whose role and token these are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// What the verdict does not cover ([`NOT_EVALUATED`]), with every verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_evaluated: Vec<&'static str>,
    /// The error STS answers with when it refuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sts_error: Option<&'static str>,
    pub role_arn: Option<String>,
    /// The token's claims (never the token).
    pub claims: Option<Value>,
    pub claims_source: Option<&'static str>,
    pub trust_source: Option<String>,
    /// Refusing first, then not evaluated, then what held.
    pub findings: Vec<Finding>,
    pub fixes: Vec<String>,
    pub explanation: Option<Explanation>,
    pub error: Option<ReportError>,
}

/// Runs `explain`: files first (bad input before any network call), then the metadata server
/// or IAM, each by the deadline.
pub async fn run(settings: &Settings) -> ExplainReport {
    let deadline = Instant::now() + settings.timeout;
    let mut report = ExplainReport {
        role_arn: settings.role_arn.as_ref().map(ToString::to_string),
        profile: settings.profile.clone(),
        ..ExplainReport::default()
    };
    if let Err(failure) = explain_into(&mut report, settings, deadline).await {
        report.error = Some(ReportError::from(failure));
    }
    report
}

async fn explain_into(report: &mut ExplainReport, settings: &Settings, deadline: Instant) -> Result<(), Failure> {
    let trust_text = match &settings.trust {
        TrustInput::File(path) => {
            let text = input_file::read("--trust-policy", path, MAX_TRUST_FILE_BYTES, deadline).await?;
            let role_name = settings.role_arn.as_ref().map(|r| r.role_name.as_str());
            trust_source::from_file(&text, role_name, "")?;
            Some(text)
        }
        TrustInput::Iam => None,
    };
    let claims = match &settings.claims {
        ClaimsSource::MetadataServer { .. } => None,
        files => Some(files.read(deadline).await?),
    };
    let role = match (&settings.role_arn, claims.as_ref().and_then(|c| c.role_arn.as_deref())) {
        (Some(role), _) => Some(role.clone()),
        (None, Some(from_report)) => {
            Some(RoleArn::parse(from_report).map_err(|e| InputError::new("--report", e.problem))?)
        }
        (None, None) => None,
    };
    let no_role = || {
        InputError::new(
            "--role-arn",
            "name the role to explain (AWS_ROLE_ARN), e.g. arn:aws:iam::123456789012:role/NAME, or give --trust-policy FILE",
        )
    };
    if role.is_none() && trust_text.is_none() {
        return Err(no_role().into());
    }
    let TokenClaims {
        claims,
        role_arn: _,
        origin,
    } = match claims {
        Some(claims) => claims,
        None => settings.claims.read(deadline).await?,
    };
    report.role_arn = role.as_ref().map(ToString::to_string);
    report.claims = Some(claims.clone());
    report.claims_source = Some(origin);
    let issuer = trust_policy::issuer_host_path(&claims).unwrap_or_default().to_owned();
    let trust = match (trust_text, &role) {
        (Some(text), role) => trust_source::from_file(&text, role.as_ref().map(|r| r.role_name.as_str()), &issuer)?,
        (None, Some(role)) => timed_iam(role, &issuer, deadline, settings.timeout).await?,
        (None, None) => return Err(no_role().into()),
    };
    report.explained(&claims, &trust);
    Ok(())
}

/// The IAM reads, bounded by the run's deadline.
async fn timed_iam(
    role: &RoleArn,
    issuer: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<trust_source::Trust, Failure> {
    tokio::time::timeout_at(deadline, from_iam(role, issuer))
        .await
        .unwrap_or_else(|_| Err(StageError::timed_out(Stage::Sts, timeout).into()))
}

async fn from_iam(role: &RoleArn, issuer: &str) -> Result<trust_source::Trust, Failure> {
    let reader = IamReader::new(role, sdk::https_client(sdk::tls_context()?)).await;
    // GetRole answers for the caller's account only: another account's role is not "missing".
    reader.check_account(role).await?;
    let found = reader.role(role).await?;
    let provider = if issuer == GOOGLE {
        ProviderLookup::Registered(Provider::google())
    } else {
        reader.provider(role, issuer).await?
    };
    Ok(trust_source::Trust {
        policy: found.map(|r| r.trust_policy),
        provider,
        origin: "IAM (iam:GetRole with your credentials)".into(),
    })
}

/// `verify --explain`: the same explanation for the token `verify` just had refused, with the
/// caller's IAM read credentials.
pub async fn after_refusal(identity: &Identity, role: &RoleArn, timeout: Duration) -> ExplainReport {
    let deadline = Instant::now() + timeout;
    let claims = claims_source::of_identity(identity);
    let issuer = trust_policy::issuer_host_path(&claims).unwrap_or_default().to_owned();
    let mut report = ExplainReport {
        role_arn: Some(role.to_string()),
        claims: Some(claims.clone()),
        claims_source: Some("verify"),
        ..ExplainReport::default()
    };
    match timed_iam(role, &issuer, deadline, timeout).await {
        Err(failure) => report.error = Some(ReportError::from(failure)),
        Ok(trust) => report.explained(&claims, &trust),
    }
    report
}

impl ExplainReport {
    /// Fills in the explanation of `claims` against `trust`, and what follows from it.
    fn explained(&mut self, claims: &Value, trust: &trust_source::Trust) {
        self.trust_source = Some(trust.origin.clone());
        let explanation = trust_policy::explain(claims, &trust.provider, trust.policy.as_ref());
        self.fixes = trust_fix::fixes(&explanation, claims, self.role_arn.as_deref());
        self.findings = findings(&explanation);
        self.sts_error = sts_error(&explanation);
        self.verdict = Some(explanation.verdict);
        self.not_evaluated = NOT_EVALUATED.to_vec();
        self.explanation = Some(explanation);
    }
}

fn sts_error(explanation: &Explanation) -> Option<&'static str> {
    let provider = &explanation.provider;
    match explanation.verdict {
        Verdict::Accept => None,
        _ if provider.registered == Outcome::Fails || provider.audience == Outcome::Fails => {
            Some("InvalidIdentityToken")
        }
        Verdict::Refuse => Some("AccessDenied"),
        Verdict::NotEvaluated => None,
    }
}

impl ExplainReport {
    /// A report for a run that failed before anything was explained (bad input).
    pub fn from_failure(failure: Failure) -> Self {
        ExplainReport {
            error: Some(ReportError::from(failure)),
            ..ExplainReport::default()
        }
    }

    /// 0 when STS would accept, 4 when it would refuse (or it depends on what is not
    /// evaluated), else the failure's code (2 bad input, 3 identity, 4 IAM).
    pub fn exit_code(&self) -> ExitCode {
        match (&self.error, self.verdict) {
            (Some(error), _) => error.exit_code,
            (None, Some(Verdict::Accept)) => ExitCode::Success,
            _ => ExitCode::Sts,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// For a person: the verdict, what refuses, what is not evaluated, what held, the fixes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let role = self.role_arn.as_deref().unwrap_or("the role");
        match self.verdict {
            Some(Verdict::Accept) => out.push_str(&format!("ACCEPT: STS would let this token assume {role}\n")),
            Some(Verdict::Refuse) => out.push_str(&format!(
                "REFUSE: STS would refuse this token for {role} ({})\n",
                self.sts_error.unwrap_or("AccessDenied")
            )),
            Some(Verdict::NotEvaluated) => out.push_str(&format!(
                "NOT EVALUATED: whether STS accepts this token for {role} depends on what explain does not evaluate\n"
            )),
            None => {}
        }
        let mut section = |title: &str, result: Outcome| {
            let items: Vec<&Finding> = self.findings.iter().filter(|f| f.result == result).collect();
            if !items.is_empty() {
                out.push_str(title);
                for finding in items {
                    out.push_str(&format!("  {}\n", finding.text));
                }
            }
        };
        let accepted = self.verdict == Some(Verdict::Accept);
        section(
            if accepted { "did not apply:\n" } else { "refusing:\n" },
            Outcome::Fails,
        );
        section("not evaluated:\n", Outcome::NotEvaluated);
        section("held:\n", Outcome::Holds);
        if !self.fixes.is_empty() {
            out.push_str("fix:\n");
            for fix in &self.fixes {
                out.push_str(&format!("  {fix}\n"));
            }
        }
        if let (Some(claims), Some(origin)) = (&self.claims, self.claims_source) {
            let claim = |name: &str| match &claims[name] {
                Value::Null => None,
                Value::String(s) => Some(format!("{name}={}", shown(s))),
                other => Some(format!("{name}={}", shown(&other.to_string()))),
            };
            let shown_claims: Vec<String> = ["iss", "sub", "azp", "aud", "email"]
                .iter()
                .filter_map(|n| claim(n))
                .collect();
            let of_profile = self
                .profile
                .as_deref()
                .map(|p| format!(" of profile {}", shown(p)))
                .unwrap_or_default();
            out.push_str(&format!("claims ({origin}{of_profile}): {}\n", shown_claims.join(" ")));
        }
        if let Some(source) = &self.trust_source {
            out.push_str(&format!("trust policy: {}\n", one_line(source)));
        }
        if !self.not_evaluated.is_empty() {
            out.push_str(&format!(
                "not evaluated: {} (the verdict covers the role's trust policy and the OIDC provider)\n",
                self.not_evaluated.join(", ")
            ));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!(
                "ERROR {}: {}: {}\n  hint: {}\n",
                e.stage, e.code, e.message, e.hint
            ));
        }
        out
    }
}

/// The explanation in words, refusing first.
fn findings(explanation: &Explanation) -> Vec<Finding> {
    let mut all = Vec::new();
    let mut push = |result, statement, text: String| {
        all.push(Finding {
            result,
            statement,
            text,
        })
    };
    let provider = &explanation.provider;
    let issuer = shown(&explanation.issuer);
    let arn = provider.arn.as_deref().map(shown).unwrap_or_default();
    match provider.registered {
        Outcome::Holds if explanation.issuer == GOOGLE => push(
            Outcome::Holds,
            None,
            "provider accounts.google.com: built into AWS".into(),
        ),
        Outcome::Holds => push(Outcome::Holds, None, format!("provider {arn}: registered in IAM")),
        Outcome::Fails => push(
            Outcome::Fails,
            None,
            format!("provider: the account has no IAM OIDC provider for {issuer}"),
        ),
        Outcome::NotEvaluated => push(
            Outcome::NotEvaluated,
            None,
            format!("provider: the OIDC provider for {issuer} was not read (--trust-policy without it)"),
        ),
    }
    let audiences = shown(&provider.token_audiences.join(","));
    let client_ids = shown(&provider.client_ids.join(","));
    match provider.audience {
        _ if explanation.issuer == GOOGLE || provider.registered != Outcome::Holds => {}
        Outcome::Holds => push(
            Outcome::Holds,
            None,
            format!("audience: token aud {audiences} is among the client IDs {client_ids}"),
        ),
        result => push(
            result,
            None,
            format!("audience: token aud {audiences} is not among the client IDs {client_ids}"),
        ),
    }
    if !explanation.role_found {
        push(Outcome::Fails, None, "role: the account has no such role".into());
    }
    if let Some(note) = &explanation.note {
        push(Outcome::NotEvaluated, None, shown(note));
    }
    for s in &explanation.statements {
        let name = format!(
            "statement {} ({}{})",
            s.index,
            shown(&s.effect),
            s.sid
                .as_deref()
                .map(|sid| format!(" {}", shown(sid)))
                .unwrap_or_default()
        );
        let deny = s.effect == "Deny";
        let parts = format!(
            "Principal {}, the token's provider {}; Action {}",
            shown(&s.principal.expected.join(",")),
            shown(&s.principal.actual),
            shown(&s.action.expected.join(","))
        );
        let part_outcome = s.principal.result.and(s.action.result);
        if deny {
            // A Deny that does not apply is what should be; one that applies refuses.
            let text = match s.applies {
                Outcome::Holds => format!("{name}: applies, an explicit Deny ({parts})"),
                Outcome::Fails => format!("{name}: does not apply"),
                Outcome::NotEvaluated => format!("{name}: may apply"),
            };
            let result = match s.applies {
                Outcome::Holds => Outcome::Fails,
                Outcome::Fails => Outcome::Holds,
                Outcome::NotEvaluated => Outcome::NotEvaluated,
            };
            push(result, Some(s.index), text);
            continue;
        }
        let why = [&s.principal.note, &s.action.note, &s.note]
            .into_iter()
            .flatten()
            .map(|n| shown(n))
            .collect::<Vec<_>>()
            .join("; ");
        push(
            part_outcome,
            Some(s.index),
            format!(
                "{name}: {parts}{}",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({why})")
                }
            ),
        );
        for c in &s.conditions {
            let expected = shown(&c.expected.join(","));
            let actual = match (&c.actual, &c.claim) {
                (Some(values), Some(claim)) => format!("the token's {claim} is {}", shown(&values.join(","))),
                (Some(values), None) => format!("the request has {}", shown(&values.join(","))),
                (None, _) => "absent".to_owned(),
            };
            let note = c
                .note
                .as_deref()
                .map(|n| format!(" ({})", shown(n)))
                .unwrap_or_default();
            push(
                c.result,
                Some(s.index),
                format!(
                    "{name}: {} {}: expected {expected}, {actual}{note}",
                    shown(&c.operator),
                    shown(&c.key)
                ),
            );
        }
    }
    // Refusing first, then not evaluated, then what held; the document's order within each.
    let rank = |r: &Outcome| match r {
        Outcome::Fails => 0,
        Outcome::NotEvaluated => 1,
        Outcome::Holds => 2,
    };
    all.sort_by_key(|f| rank(&f.result));
    all
}

/// Text of ours that may quote a file (a Terraform address): as is, unless a control
/// character could forge a line.
fn one_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        text.to_owned()
    }
}
