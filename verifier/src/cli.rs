//! The command line: flags, their environment equivalents, and their validation into settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing::level_filters::LevelFilter;

use crate::error::InputError;
use crate::input::{self, RoleArn};
use crate::logging::LogFormat;
use crate::s3::ListRequest;
use crate::sdk::Endpoints;
use crate::session_name;
use crate::sts::RoleRequest;
use crate::verify::Settings;

/// Proves that a GKE workload can reach AWS through Workload Identity and STS, and serves
/// the same chain to workloads as AWS credential helpers.
#[derive(Debug, Parser)]
#[command(name = "gke-aws-verifier", version)]
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
    /// Prove the whole chain: Google ID token, STS AssumeRoleWithWebIdentity, S3 ListObjectsV2.
    /// Exit codes: 0 access proven, 2 bad input, 3 Google identity, 4 STS, 5 S3, 1 unexpected.
    Verify(VerifyArgs),
    /// Print credentials as AWS `credential_process` version 1 JSON, cached until shortly before expiry.
    CredentialProcess(CredentialProcessArgs),
    /// Keep a Google ID token in a file for the AWS SDKs' own web-identity support
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`).
    TokenFile(TokenFileArgs),
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

    /// Bound on the whole run, retries included (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "VERIFY_TIMEOUT")]
    pub timeout: Duration,
}

/// The AWS role to assume.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// ARN of the IAM role that trusts accounts.google.com (the Terraform output role_arn).
    #[arg(long, env = "AWS_ROLE_ARN")]
    pub role_arn: String,

    /// AWS region: the STS and S3 endpoints used are this region's.
    #[arg(long, env = "AWS_REGION")]
    pub region: String,

    /// STS role session name (default: the pod name from HOSTNAME, cleaned to AWS's rules).
    #[arg(long, env = "AWS_ROLE_SESSION_NAME")]
    pub session_name: Option<String>,

    /// Lifetime of the STS credentials, 900 to 43200 seconds (default: STS's, one hour).
    #[arg(long, env = "VERIFY_DURATION_SECONDS")]
    pub duration_seconds: Option<u32>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub role: RoleArgs,

    /// S3 bucket to list with the role's credentials (the name, not an ARN).
    #[arg(long, env = "VERIFY_BUCKET")]
    pub bucket: String,

    /// Only list keys under this prefix (for roles limited to prefixes).
    #[arg(long, env = "VERIFY_PREFIX")]
    pub prefix: Option<String>,

    /// Fail unless the token belongs to this Google service account (e-mail).
    #[arg(long, env = "VERIFY_EXPECTED_GSA")]
    pub expected_gsa: Option<String>,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, env = "VERIFY_FORMAT")]
    pub format: ReportFormat,

    /// Push the outcome as Prometheus metrics to this Pushgateway (e.g. http://pushgateway:9091).
    #[arg(long, env = "VERIFY_PUSHGATEWAY")]
    pub pushgateway: Option<String>,
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
}

impl IdentityArgs {
    pub fn validate(&self) -> Result<(String, String), InputError> {
        if self.timeout.is_zero() {
            return Err(InputError::new("--timeout", "must be more than zero, e.g. 30s"));
        }
        Ok((
            input::metadata_host(&self.metadata_host)?,
            input::audience(&self.audience)?,
        ))
    }
}

impl RoleArgs {
    pub fn validate(&self) -> Result<(RoleRequest, String), InputError> {
        let role_arn = RoleArn::parse(&self.role_arn)?;
        let region = input::region(&self.region)?;
        let session_name = match &self.session_name {
            Some(name) => session_name::explicit(name)?,
            None => session_name::from_pod_name(std::env::var("HOSTNAME").ok().as_deref()),
        };
        let duration_seconds = self.duration_seconds.map(input::duration_seconds).transpose()?;
        Ok((
            RoleRequest {
                role_arn,
                session_name,
                duration_seconds,
            },
            region,
        ))
    }
}

impl VerifyArgs {
    /// Checks every input before anything touches the network.
    pub fn settings(&self) -> Result<Settings, InputError> {
        let (metadata_host, audience) = self.identity.validate()?;
        let (role, region) = self.role.validate()?;
        let endpoints = Endpoints::from_env(|v| std::env::var(v).ok())?;
        let expected_gsa = self
            .expected_gsa
            .as_deref()
            .map(input::service_account_email)
            .transpose()?;
        let list = ListRequest {
            bucket: input::bucket(&self.bucket)?,
            prefix: self.prefix.clone().filter(|p| !p.is_empty()),
            path_style: endpoints.custom_s3,
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
            metadata_host,
            audience,
            expected_gsa,
            region,
            role,
            list,
            timeout: self.identity.timeout,
        })
    }
}

impl CredentialProcessArgs {
    pub fn settings(&self) -> Result<crate::credential_process::Settings, InputError> {
        let (metadata_host, audience) = self.identity.validate()?;
        let (role, region) = self.role.validate()?;
        Endpoints::from_env(|v| std::env::var(v).ok())?;
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir(|v| std::env::var_os(v).filter(|v| !v.is_empty()))?,
        };
        Ok(crate::credential_process::Settings {
            metadata_host,
            audience,
            region,
            role,
            cache_dir,
            timeout: self.identity.timeout,
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
        let (metadata_host, audience) = self.identity.validate()?;
        // The path is checked by token_file::run, first thing.
        Ok(crate::token_file::Settings {
            metadata_host,
            audience,
            path: self.path.clone(),
            once: self.once,
            timeout: self.identity.timeout,
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
