//! Where `explain` finds the token's claims (never the token: only its claims are kept):
//! - a `verify --format json` report (`--report FILE`, `-` for standard input: a failed
//!   smoke run's log pasted or piped; its last report line counts),
//! - a token file (`--token-file`: a projected token, or the file `token-file` keeps),
//! - a JSON object of claims (`--token-claims FILE`: a fixture, for CI),
//! - the metadata server, as `verify` gets a token from it.

use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::error::{Failure, InputError};
use crate::identity::Identity;
use crate::identity::id_token::Claims;
use crate::identity::ksa_token::KubernetesClaims;
use crate::identity::metadata::MetadataServer;
use crate::identity::projected::{self, FileToken};
use crate::input_file;

/// Largest input: a report is a few KiB; a pasted log with it a few hundred.
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// Where the claims come from, as the flags say.
#[derive(Debug, Clone)]
pub enum ClaimsSource {
    Report(PathBuf),
    TokenFile(PathBuf),
    TokenClaims(PathBuf),
    /// The GKE metadata server at `host`, for `audience`.
    MetadataServer {
        host: String,
        audience: String,
    },
}

/// The claims, and what the source also said (a report names the role).
#[derive(Debug, Clone)]
pub struct TokenClaims {
    /// A JSON object: `iss`, `sub`, `aud`, and `azp` for Google's tokens.
    pub claims: Value,
    /// The role a report was for.
    pub role_arn: Option<String>,
    /// For the report: `report`, `token file`, `claims file`, `metadata server`.
    pub origin: &'static str,
}

impl ClaimsSource {
    /// Reads the claims by `deadline`. Files that do not hold what they should are bad input.
    pub async fn read(&self, deadline: Instant) -> Result<TokenClaims, Failure> {
        match self {
            ClaimsSource::Report(path) => {
                let text = input_file::read("--report", path, MAX_INPUT_BYTES, deadline).await?;
                Ok(from_report(&text)?)
            }
            ClaimsSource::TokenClaims(path) => {
                let text = input_file::read("--token-claims", path, MAX_INPUT_BYTES, deadline).await?;
                let claims: Value = serde_json::from_str(&text).map_err(|e| {
                    InputError::new(
                        "--token-claims",
                        format!("not JSON ({e}); give the token's claims as one object"),
                    )
                })?;
                let claims = kept("--token-claims", &claims)?;
                if !claims["iss"].is_string() {
                    return Err(InputError::new("--token-claims", "the claims lack iss (the token's issuer)").into());
                }
                Ok(TokenClaims {
                    claims,
                    role_arn: None,
                    origin: "claims file",
                })
            }
            ClaimsSource::TokenFile(path) => {
                let claims = match projected::read_file_token(path, deadline).await? {
                    FileToken::Google(token) => google(&token.claims),
                    FileToken::Kubernetes(token) => kubernetes(&token.claims),
                };
                Ok(TokenClaims {
                    claims,
                    role_arn: None,
                    origin: "token file",
                })
            }
            ClaimsSource::MetadataServer { host, audience } => {
                let token = MetadataServer::new(host).identity_token(audience, deadline).await?;
                Ok(TokenClaims {
                    claims: google(&token.claims),
                    role_arn: None,
                    origin: "metadata server",
                })
            }
        }
    }
}

/// The claims STS reads of a token `verify` obtained.
pub fn of_identity(identity: &Identity) -> Value {
    match identity {
        Identity::Google(token) => google(&token.claims),
        Identity::Cluster(token) => kubernetes(token.claims()),
    }
}

fn google(claims: &Claims) -> Value {
    let mut value = json!({"iss": claims.iss, "sub": claims.sub, "aud": claims.aud});
    if !claims.azp.is_empty() {
        value["azp"] = json!(claims.azp);
    }
    if let Some(email) = &claims.email {
        value["email"] = json!(email);
    }
    value
}

fn kubernetes(claims: &KubernetesClaims) -> Value {
    json!({"iss": claims.iss, "sub": claims.sub, "aud": claims.aud})
}

/// The claims STS and the report read; anything else a claims file or a report holds (a
/// token, an access token, a padding field) is dropped, never echoed.
const KEPT_CLAIMS: [&str; 6] = ["iss", "sub", "aud", "azp", "email", "amr"];

/// Longest claim value kept: issuers, subjects and e-mails are far shorter.
const MAX_CLAIM_CHARS: usize = 1024;

/// Most values of a multi-valued claim (`aud`, `amr`) kept.
const MAX_CLAIM_VALUES: usize = 16;

/// The claims of `given` that [`KEPT_CLAIMS`] names, each a string or a short list of strings
/// of bounded length; another shape is bad input naming `field` and the claim.
fn kept(field: &'static str, given: &Value) -> Result<Value, InputError> {
    let Some(given) = given.as_object() else {
        return Err(InputError::new(
            field,
            "not a JSON object; give the token's claims as one object",
        ));
    };
    let bounded = |name: &str, s: &str| {
        if s.chars().count() > MAX_CLAIM_CHARS {
            Err(InputError::new(
                field,
                format!("the claim {name} is longer than {MAX_CLAIM_CHARS} characters: give the token's real claims"),
            ))
        } else {
            Ok(json!(s))
        }
    };
    let mut claims = serde_json::Map::new();
    for name in KEPT_CLAIMS {
        let value = match given.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => bounded(name, s)?,
            Some(Value::Array(values)) if values.len() <= MAX_CLAIM_VALUES && values.iter().all(Value::is_string) => {
                let values = values.iter().filter_map(Value::as_str).map(|s| bounded(name, s));
                Value::Array(values.collect::<Result<_, _>>()?)
            }
            Some(_) => {
                return Err(InputError::new(
                    field,
                    format!("the claim {name} is neither a string nor a list of at most {MAX_CLAIM_VALUES} strings"),
                ));
            }
        };
        claims.insert(name.to_owned(), value);
    }
    Ok(Value::Object(claims))
}

/// The claims of the identity stage of the last report in `text` (one JSON object, or a log
/// whose lines include the report's).
fn from_report(text: &str) -> Result<TokenClaims, InputError> {
    let is_report = |value: &Value| value["stages"].is_array();
    let report = serde_json::from_str::<Value>(text)
        .ok()
        .filter(is_report)
        .or_else(|| {
            text.lines()
                .rev()
                .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
                .find(is_report)
        })
        .ok_or_else(|| {
            InputError::new(
                "--report",
                "no verify report found: give the output of `verify --format json` (or the smoke Job's log holding it)",
            )
        })?;
    let stages = report["stages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let identity = stages
        .iter()
        .find(|s| matches!(s["name"].as_str(), Some("gcp_identity" | "cluster_identity")) && s["ok"] == true)
        .ok_or_else(|| {
            InputError::new(
                "--report",
                "the report's identity stage did not pass, so it holds no claims: fix the identity first (its hint says how)",
            )
        })?;
    let mut claims = kept("--report", identity)?;
    if claims["azp"].as_str() == Some("") {
        claims.as_object_mut().map(|c| c.remove("azp"));
    }
    if !claims["iss"].is_string() || !claims["sub"].is_string() {
        return Err(InputError::new(
            "--report",
            "the report's identity stage lacks iss or sub",
        ));
    }
    let role_arn = report["role_arn"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| stages.iter().find_map(|s| s["role_arn"].as_str()).map(str::to_owned));
    Ok(TokenClaims {
        claims,
        role_arn,
        origin: "report",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"ok":false,"role_arn":"arn:aws:iam::123456789012:role/r","stages":[{"name":"gcp_identity","ok":true,"duration_ms":3,"mode":"gsa","email":"a@p.iam.gserviceaccount.com","sub":"1122","azp":"1122","aud":"sts.amazonaws.com","iss":"https://accounts.google.com","exp":2,"expires_in_s":1},{"name":"sts","ok":false,"duration_ms":4}],"error":{"stage":"sts","code":"AccessDenied","message":"m","hint":"h"}}"#;

    #[test]
    fn a_report_or_a_log_holding_one() {
        let read = from_report(REPORT).unwrap();
        assert_eq!(
            read.claims,
            json!({"iss": "https://accounts.google.com", "sub": "1122", "azp": "1122", "aud": "sts.amazonaws.com",
                "email": "a@p.iam.gserviceaccount.com"})
        );
        assert_eq!(read.role_arn.as_deref(), Some("arn:aws:iam::123456789012:role/r"));
        let log = format!("2026-11-28T12:00:00Z ERROR stage failed\n{REPORT}\n");
        assert_eq!(from_report(&log).unwrap().claims, read.claims);
        assert_eq!(from_report("nothing here").unwrap_err().field, "--report");
        let failed = REPORT.replace(r#""ok":true"#, r#""ok":false"#);
        assert!(from_report(&failed).unwrap_err().problem.contains("did not pass"));
    }

    #[test]
    fn only_the_claims_sts_reads_are_kept_and_each_is_bounded() {
        let given = json!({"iss": "https://accounts.google.com", "sub": "1122", "aud": ["a", "b"], "azp": "1122",
            "amr": ["pwd"], "email": "a@p.iam.gserviceaccount.com", "token": "eyJhbGciOi.eyJzdWIi.c2ln",
            "access_token": "ya29.secret", "padding": "x".repeat(100_000), "exp": 2});
        assert_eq!(
            kept("--token-claims", &given).unwrap(),
            json!({"iss": "https://accounts.google.com", "sub": "1122", "aud": ["a", "b"], "azp": "1122",
                "amr": ["pwd"], "email": "a@p.iam.gserviceaccount.com"})
        );
        let huge = json!({"iss": "i", "sub": "s".repeat(MAX_CLAIM_CHARS + 1)});
        let error = kept("--token-claims", &huge).unwrap_err();
        assert!(
            error.field == "--token-claims" && error.problem.contains("sub"),
            "{error:?}"
        );
        let many = json!({"iss": "i", "aud": vec!["a"; MAX_CLAIM_VALUES + 1]});
        assert!(kept("--token-claims", &many).unwrap_err().problem.contains("aud"));
        assert!(
            kept("--token-claims", &json!({"iss": {"nested": 1}}))
                .unwrap_err()
                .problem
                .contains("iss")
        );
        assert!(kept("--token-claims", &json!(["iss"])).is_err());
    }
}
