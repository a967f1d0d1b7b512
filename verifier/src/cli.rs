//! The command line: flags, their environment equivalents, and their validation into settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing::level_filters::LevelFilter;

use crate::error::InputError;
use crate::exit_code::ExitCode;
use crate::identity::{IdentitySettings, IdentitySource};
use crate::input::{self, RoleArn};
use crate::logging::LogFormat;
use crate::s3::{Access, ListRequest};
use crate::sdk::Endpoints;
use crate::session_name;
use crate::sts::{RoleRequest, RoleSettings};
use crate::verify::Settings;

/// `--help`'s closing section: the exit codes, from [`ExitCode`].
fn exit_codes_help() -> String {
    format!("Exit codes:\n{}", ExitCode::table())
}

/// `--version`: the crate version, the commit and the target it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GKE_AWS_VERIFIER_COMMIT"),
    ", ",
    env!("GKE_AWS_VERIFIER_TARGET"),
    ")"
);

/// Proves that a GKE workload can reach AWS through Workload Identity and STS, and serves
/// the same chain to workloads as AWS credential helpers.
#[derive(Debug, Parser)]
#[command(name = "gke-aws-verifier", version = VERSION, after_long_help = exit_codes_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr: text, or Cloud Logging's JSON (`severity`, `message`, fields).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "VERIFY_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Log level of this program's own logs: error, warn, info, debug or trace.
    #[arg(long, global = true, default_value_t = LevelFilter::INFO, env = "VERIFY_LOG_LEVEL")]
    pub log_level: LevelFilter,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prove the whole chain: identity token, STS AssumeRoleWithWebIdentity, S3 (list, and read).
    #[command(after_long_help = exit_codes_help())]
    Verify(VerifyArgs),
    /// Print credentials as AWS `credential_process` version 1 JSON, cached until shortly before expiry.
    #[command(after_long_help = exit_codes_help())]
    CredentialProcess(CredentialProcessArgs),
    /// Keep a Google ID token in a file for the AWS SDKs' own web-identity support
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`).
    #[command(after_long_help = exit_codes_help())]
    TokenFile(TokenFileArgs),
    /// Explain why STS accepts or refuses a token for a role: the token's claims against the
    /// role's trust policy, statement by statement, condition by condition (exit 0 accept, 4 refuse).
    #[command(after_long_help = exit_codes_help())]
    Explain(ExplainArgs),
}

/// Where the Google ID token comes from.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Audience to mint the ID token for; must equal the role's `accounts.google.com:oaud` condition.
    #[arg(long, default_value = "sts.amazonaws.com", env = "VERIFY_AUDIENCE")]
    pub audience: String,

    /// The metadata server's host[:port]; on GKE leave the default.
    #[arg(long, default_value = "metadata.google.internal", env = "GCE_METADATA_HOST")]
    pub metadata_host: String,

    /// Bound on the whole run, retries included: 1s to 1h (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "VERIFY_TIMEOUT")]
    pub timeout: Duration,
}

/// The AWS role to assume.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// ARN of the IAM role that trusts accounts.google.com (the Terraform output role_arn).
    #[arg(long, env = "AWS_ROLE_ARN")]
    pub role_arn: String,

    /// AWS region: the STS and S3 endpoints used are this region's (default: AWS_DEFAULT_REGION,
    /// else the STS region of the role's partition, us-east-1 for aws).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,

    /// STS role session name (default: the pod name from HOSTNAME, cleaned to AWS's rules).
    #[arg(long, env = "AWS_ROLE_SESSION_NAME")]
    pub session_name: Option<String>,

    /// Lifetime of the STS credentials, 900 to 43200 seconds (default: STS's, one hour).
    #[arg(long, env = "VERIFY_DURATION_SECONDS")]
    pub duration_seconds: Option<u32>,
}

/// Cluster mode: a token file instead of the metadata server.
#[derive(Debug, Args)]
pub struct TokenSourceArgs {
    /// Read the web-identity token from this file (a projected service-account token in cluster
    /// mode) instead of asking the metadata server.
    #[arg(long, env = "AWS_WEB_IDENTITY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// With --token-file: do not fetch the issuer's discovery document and keys (for clusters
    /// with no route to the issuer; AWS still fetches them).
    #[arg(long, env = "VERIFY_SKIP_ISSUER_CHECK")]
    pub skip_issuer_check: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub source: TokenSourceArgs,

    #[command(flatten)]
    pub role: RoleArgs,

    /// S3 bucket to list with the role's credentials (the name, not an ARN).
    #[arg(long, env = "VERIFY_BUCKET")]
    pub bucket: String,

    /// Only list keys under this prefix (for roles limited to prefixes).
    #[arg(long, env = "VERIFY_PREFIX")]
    pub prefix: Option<String>,

    /// The access to prove: list (s3:ListBucket), or read (also s3:GetObject of one listed object).
    #[arg(long, value_enum, default_value_t = Access::List, env = "VERIFY_ACCESS")]
    pub access: Access,

    /// Fail unless the token belongs to this Google service account (e-mail).
    #[arg(long, env = "VERIFY_EXPECTED_GSA")]
    pub expected_gsa: Option<String>,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, env = "VERIFY_FORMAT")]
    pub format: ReportFormat,

    /// Push the outcome as Prometheus metrics to this Pushgateway (e.g. http://pushgateway:9091).
    #[arg(long, env = "VERIFY_PUSHGATEWAY")]
    pub pushgateway: Option<String>,

    /// When STS refuses, explain why in the report: the role's trust policy, read with your own
    /// AWS credentials (the standard chain, AWS_PROFILE; iam:GetRole), against the token's claims.
    #[arg(long, env = "VERIFY_EXPLAIN")]
    pub explain: bool,
}

/// `explain`: one claims source (default: the metadata server) and one trust source
/// (default: IAM with your own AWS credentials).
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    /// Take the claims (and the role) from a `verify --format json` report, or a log holding
    /// one; `-` reads standard input.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["token_file", "token_claims"])]
    pub report: Option<PathBuf>,

    /// Take the claims of the token in this file (a projected token, or token-file's); only its
    /// claims are used.
    #[arg(long, value_name = "FILE", conflicts_with = "token_claims")]
    pub token_file: Option<PathBuf>,

    /// Take the claims from a JSON object in this file (a fixture, for CI).
    #[arg(long, value_name = "FILE")]
    pub token_claims: Option<PathBuf>,

    /// Read the trust policy from this file instead of IAM (no AWS call): `aws iam get-role`
    /// output, the document (plain or URL-encoded), or `terraform show -json` of a plan or state.
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,

    /// The role (default: the report's); picks the role in a Terraform JSON holding several.
    #[arg(long, env = "AWS_ROLE_ARN")]
    pub role_arn: Option<String>,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, env = "VERIFY_FORMAT")]
    pub format: ReportFormat,
}

impl ExplainArgs {
    /// Checks every input before anything is read or asked.
    pub fn settings(&self) -> Result<crate::explain::Settings, InputError> {
        use crate::claims_source::ClaimsSource;
        let identity = self.identity.validate()?;
        let path = |flag: &'static str, path: &PathBuf| {
            if path.as_os_str().is_empty() {
                Err(InputError::new(flag, "is empty; give a file path"))
            } else {
                Ok(path.clone())
            }
        };
        let claims = match (&self.report, &self.token_file, &self.token_claims) {
            (Some(report), _, _) => ClaimsSource::Report(path("--report", report)?),
            (_, Some(file), _) => ClaimsSource::TokenFile(path("--token-file", file)?),
            (_, _, Some(file)) => ClaimsSource::TokenClaims(path("--token-claims", file)?),
            // As verify obtains a token: the token file a pod names, else the metadata server.
            _ => match std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").filter(|p| !p.is_empty()) {
                Some(file) => ClaimsSource::TokenFile(file.into()),
                None => match identity.source {
                    crate::identity::IdentitySource::MetadataServer { host } => ClaimsSource::MetadataServer {
                        host,
                        audience: identity.audience.clone(),
                    },
                    crate::identity::IdentitySource::TokenFile { path, .. } => ClaimsSource::TokenFile(path),
                },
            },
        };
        let trust = match &self.trust_policy {
            Some(file) => crate::explain::TrustInput::File(path("--trust-policy", file)?),
            None => crate::explain::TrustInput::Iam,
        };
        let role_arn = match self.role_arn.as_deref().filter(|r| !r.is_empty()) {
            Some(arn) => Some(RoleArn::parse(arn)?),
            None => None,
        };
        Ok(crate::explain::Settings {
            claims,
            trust,
            role_arn,
            timeout: identity.timeout,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub source: TokenSourceArgs,

    #[command(flatten)]
    pub role: RoleArgs,

    /// Folder for cached credentials (default: $XDG_CACHE_HOME/gke-aws-verifier, else ~/.cache/gke-aws-verifier).
    #[arg(long, env = "VERIFY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenFileArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    /// File to keep the token in; point AWS_WEB_IDENTITY_TOKEN_FILE at it.
    #[arg(long, env = "AWS_WEB_IDENTITY_TOKEN_FILE")]
    pub path: PathBuf,

    /// Write the token once and exit (for an init container).
    #[arg(long)]
    pub once: bool,

    /// The token file's mode: 0640 (owner and the pod's fsGroup), 0600 (owner only), or 0644
    /// (anyone: only where the pod is the boundary, as with the injection webhook's sidecar).
    #[arg(long, default_value = "0640", value_parser = crate::token_file::parse_file_mode, env = "VERIFY_TOKEN_FILE_MODE")]
    pub file_mode: u32,
}

/// `--timeout` bounds: a deadline must be reachable and must not overflow the clock.
const TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(3600);

impl IdentityArgs {
    /// The metadata-server identity (`token-file`, and the default of the others).
    pub fn validate(&self) -> Result<IdentitySettings, InputError> {
        self.validate_with(&TokenSourceArgs {
            token_file: None,
            skip_issuer_check: false,
        })
    }

    pub fn validate_with(&self, source: &TokenSourceArgs) -> Result<IdentitySettings, InputError> {
        if !TIMEOUT_RANGE.contains(&self.timeout) {
            return Err(InputError::new(
                "--timeout",
                format!(
                    "{} is out of range; expected 1s to 1h, e.g. 30s",
                    humantime::format_duration(self.timeout)
                ),
            ));
        }
        let source = match &source.token_file {
            Some(path) if !path.as_os_str().is_empty() => IdentitySource::TokenFile {
                path: path.clone(),
                check_issuer: !source.skip_issuer_check,
            },
            _ => IdentitySource::MetadataServer {
                host: input::metadata_host(&self.metadata_host)?,
            },
        };
        Ok(IdentitySettings {
            source,
            audience: input::audience(&self.audience)?,
            timeout: self.timeout,
        })
    }
}

impl RoleArgs {
    pub fn validate(&self) -> Result<RoleSettings, InputError> {
        self.validate_in(|v| std::env::var(v).ok())
    }

    fn validate_in(&self, env: impl Fn(&str) -> Option<String>) -> Result<RoleSettings, InputError> {
        let role_arn = RoleArn::parse(&self.role_arn)?;
        let region = resolve_region(self.region.as_deref(), &role_arn, &env)?;
        let session_name = match &self.session_name {
            Some(name) => session_name::explicit(name)?,
            None => session_name::from_pod_name(env("HOSTNAME").as_deref()),
        };
        let duration_seconds = self.duration_seconds.map(input::duration_seconds).transpose()?;
        Ok(RoleSettings {
            request: RoleRequest {
                role_arn,
                session_name,
                duration_seconds,
            },
            region,
        })
    }
}

/// `--region` (or `AWS_REGION`), else `AWS_DEFAULT_REGION`, else the STS region of the role's
/// partition. The AWS CLI does not pass a profile's `region` to its `credential_process`, so
/// a helper line without `--region` must still work.
fn resolve_region(
    flag: Option<&str>,
    role_arn: &RoleArn,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, InputError> {
    let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
    if let Some(region) = flag.filter(|r| !r.is_empty()) {
        tracing::debug!(region, "region from --region or AWS_REGION");
        return input::region(region);
    }
    if let Some(region) = non_empty(env("AWS_DEFAULT_REGION")) {
        tracing::debug!(region, "region from AWS_DEFAULT_REGION");
        return input::region(&region).map_err(|e| InputError::new("AWS_DEFAULT_REGION", e.problem));
    }
    let region = role_arn.partition_sts_region();
    tracing::debug!(
        region,
        partition = role_arn.partition,
        "no region given: the partition's STS region"
    );
    Ok(region.to_owned())
}

impl VerifyArgs {
    /// Checks every input before anything touches the network.
    pub fn settings(&self) -> Result<Settings, InputError> {
        let identity = self.identity.validate_with(&self.source)?;
        let role = self.role.validate()?;
        let endpoints = Endpoints::from_env(|v| std::env::var(v).ok())?;
        let expected_gsa = self
            .expected_gsa
            .as_deref()
            .map(input::service_account_email)
            .transpose()?;
        let list = ListRequest {
            bucket: input::bucket(&self.bucket)?,
            prefix: self.prefix.as_deref().map(input::prefix).transpose()?.flatten(),
            path_style: endpoints.custom_s3,
            access: self.access,
        };
        if let Some(url) = &self.pushgateway {
            input::endpoint_url("--pushgateway", url)?;
            if url.starts_with("https://") {
                // The verifier's only TLS stack is the AWS SDK's; in-cluster Pushgateways speak HTTP.
                return Err(InputError::new(
                    "--pushgateway",
                    "only http:// Pushgateway URLs are supported, e.g. http://pushgateway.monitoring:9091",
                ));
            }
        }
        Ok(Settings {
            identity,
            role,
            expected_gsa,
            list,
            explain: self.explain,
        })
    }
}

impl CredentialProcessArgs {
    pub fn settings(&self) -> Result<crate::credential_process::Settings, InputError> {
        let identity = self.identity.validate_with(&self.source)?;
        let role = self.role.validate()?;
        let endpoints = Endpoints::from_env(|v| std::env::var(v).ok())?;
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir(|v| std::env::var_os(v).filter(|v| !v.is_empty()))?,
        };
        Ok(crate::credential_process::Settings {
            identity,
            role,
            cache_dir,
            endpoints,
        })
    }
}

/// `$XDG_CACHE_HOME/gke-aws-verifier`, else `~/.cache/gke-aws-verifier`.
fn default_cache_dir(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, InputError> {
    let base = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".cache")));
    base.map(|b| b.join("gke-aws-verifier")).ok_or_else(|| {
        InputError::new(
            "--cache-dir",
            "neither XDG_CACHE_HOME nor HOME is set; give --cache-dir (in a pod, an emptyDir)",
        )
    })
}

impl TokenFileArgs {
    pub fn settings(&self) -> Result<crate::token_file::Settings, InputError> {
        // The path is checked by token_file::run, first thing.
        Ok(crate::token_file::Settings {
            identity: self.identity.validate()?,
            path: self.path.clone(),
            once: self.once,
            file_mode: self.file_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_follows_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).into())
        };
        assert_eq!(
            default_cache_dir(env(&[("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")])).unwrap(),
            PathBuf::from("/xdg/gke-aws-verifier")
        );
        assert_eq!(
            default_cache_dir(env(&[("HOME", "/home/u")])).unwrap(),
            PathBuf::from("/home/u/.cache/gke-aws-verifier")
        );
        assert_eq!(default_cache_dir(env(&[])).unwrap_err().field, "--cache-dir");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
