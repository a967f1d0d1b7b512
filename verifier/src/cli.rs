//! The command line: flags, their environment equivalents, and their validation into settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing::level_filters::LevelFilter;

use crate::aws::s3::{Access, ListRequest};
use crate::aws::sdk::Endpoints;
use crate::aws::sts::{RoleRequest, RoleSettings};
use crate::error::InputError;
use crate::exit_table::Program;
use crate::identity::{IdentitySettings, IdentitySource};
use crate::input::{self, RoleArn};
use crate::logging::LogFormat;
use crate::profiles::file::PROFILE_FLAG;
use crate::profiles::{self, Profile};
use crate::session_name;
use crate::verify::Settings;

/// `--help`'s closing section: the command's own exit codes, from [`Program`].
fn exit_codes_help(program: Program) -> String {
    program.help()
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
#[command(name = "gke-aws-verifier", version = VERSION, after_long_help = exit_codes_help(Program::Any))]
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
    #[command(after_long_help = exit_codes_help(Program::Verify))]
    Verify(VerifyArgs),
    /// Print credentials as AWS `credential_process` version 1 JSON, cached until shortly before expiry.
    #[command(after_long_help = exit_codes_help(Program::CredentialProcess))]
    CredentialProcess(CredentialProcessArgs),
    /// Keep a Google ID token in a file for the AWS SDKs' own web-identity support
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`).
    #[command(after_long_help = exit_codes_help(Program::TokenFile))]
    TokenFile(TokenFileArgs),
    /// Explain why STS accepts or refuses a token for a role: the token's claims against the
    /// role's trust policy, statement by statement, condition by condition (exit 0 accept, 4 refuse).
    #[command(after_long_help = exit_codes_help(Program::Explain))]
    Explain(ExplainArgs),
    /// Audit clusters, read-only: pods that missed injection, drift between Terraform, the
    /// cluster and AWS. Runs `gke-aws-audit` (installed beside this binary) with these
    /// arguments; `audit --help` lists them.
    #[command(disable_help_flag = true)]
    Audit(AuditArgs),
}

/// `audit`'s arguments, passed to `gke-aws-audit` as they are.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<std::ffi::OsString>,
}

/// Where the Google ID token comes from.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Audience of the token; must equal the role's audience condition (`accounts.google.com:oaud`
    /// in GSA mode, `ISSUER:aud` in cluster mode).
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
    /// ARN of the IAM role to assume (the Terraform output role_arn): it trusts accounts.google.com
    /// in GSA mode, the cluster's issuer in cluster mode; required unless a profile names the role.
    #[arg(long, env = "AWS_ROLE_ARN", default_value = "", hide_default_value = true)]
    pub role_arn: String,

    /// --role-arn was given on the command line (not through AWS_ROLE_ARN): it then clashes
    /// with --profile. Set by [`Cli::parse_noting_sources`].
    #[arg(skip)]
    pub role_arn_on_command_line: bool,

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

    /// S3 bucket to list with the role's credentials (the name, not an ARN); with
    /// --all-profiles, the bucket of the profiles --profile-bucket does not name.
    #[arg(long, env = "VERIFY_BUCKET", default_value = "", hide_default_value = true)]
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

    #[command(flatten)]
    pub profiles: VerifyProfileArgs,
}

/// `explain`: one claims source (default: the metadata server) and one trust source
/// (default: IAM with your own AWS credentials).
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    /// Take the claims (and the role) from a `verify --format json` report, or a log holding
    /// one; `-` reads standard input.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["token_file", "token_claims", "profile"])]
    pub report: Option<PathBuf>,

    /// Take the claims of the token in this file (a projected token, or token-file's); only its
    /// claims are used.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["token_claims", "profile"])]
    pub token_file: Option<PathBuf>,

    /// Take the claims from a JSON object in this file (a fixture, for CI).
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    pub token_claims: Option<PathBuf>,

    // --profile: the role and the token of a web identity profile of the AWS config file (its
    // role_arn, and the token in its web_identity_token_file: in a pod with several roles, that
    // role's own token, never the metadata server).
    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Read the trust policy from this file instead of IAM (no AWS call): `aws iam get-role`
    /// output, the document (plain or URL-encoded), or `terraform show -json` of a plan or state.
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,

    /// The role (default: the report's, or --profile's); picks the role in a Terraform JSON
    /// holding several.
    #[arg(long, env = "AWS_ROLE_ARN")]
    pub role_arn: Option<String>,

    /// --role-arn was given on the command line (not through AWS_ROLE_ARN): it then clashes
    /// with --profile. Set by [`Cli::parse_noting_sources`].
    #[arg(skip)]
    pub role_arn_on_command_line: bool,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, env = "VERIFY_FORMAT")]
    pub format: ReportFormat,
}

impl ExplainArgs {
    /// Checks every input before anything is read or asked.
    pub fn settings(&self) -> Result<crate::explain::Settings, InputError> {
        use crate::explain::claims_source::ClaimsSource;
        let identity = self.identity.validate()?;
        let path = |flag: &'static str, path: &PathBuf| {
            if path.as_os_str().is_empty() {
                Err(InputError::new(flag, "is empty; give a file path"))
            } else {
                Ok(path.clone())
            }
        };
        if let Some(profile) = self.profile_selected()? {
            let trust = match &self.trust_policy {
                Some(file) => crate::explain::TrustInput::File(path("--trust-policy", file)?),
                None => crate::explain::TrustInput::Iam,
            };
            let in_profile = |e: InputError| {
                InputError::new(
                    PROFILE_FLAG,
                    format!("profile {:?}: role_arn: {}", profile.name, e.problem),
                )
            };
            return Ok(crate::explain::Settings {
                claims: ClaimsSource::TokenFile(PathBuf::from(&profile.web_identity_token_file)),
                trust,
                role_arn: Some(RoleArn::parse(&profile.role_arn).map_err(in_profile)?),
                timeout: identity.timeout,
                profile: Some(profile.name),
            });
        }
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
            profile: None,
        })
    }

    /// The profile --profile names, read from the config file; `None` without --profile. A
    /// --role-arn on the command line beside it is refused, `AWS_ROLE_ARN` (a pod's default
    /// role) is not read.
    fn profile_selected(&self) -> Result<Option<Profile>, InputError> {
        let Some(name) = &self.profile.profile else {
            return Ok(None);
        };
        if self.role_arn_on_command_line {
            return Err(InputError::new(
                PROFILE_FLAG,
                "--profile and --role-arn both name the role; give one of them",
            ));
        }
        profiles::file::select(&self.profile.config_path()?, name).map(Some)
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

    /// Cluster mode: fetch the issuer's discovery document and keys on every refresh and check
    /// the token against them, as verify does. Off by default: STS fetches them itself, and an
    /// egress that allows only AWS (or a blip of Google's API) must not leave the application
    /// without credentials STS would have issued.
    #[arg(long, env = "VERIFY_CHECK_ISSUER")]
    pub check_issuer: bool,

    #[command(flatten)]
    pub profile: ProfileArgs,
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
    #[arg(long, default_value = "0640", value_parser = crate::credentials::token_file::parse_file_mode, env = "VERIFY_TOKEN_FILE_MODE")]
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
        if self.role_arn.is_empty() {
            return Err(InputError::new(
                "--role-arn",
                "is required: give the role's ARN (or AWS_ROLE_ARN), or name a profile of the AWS config file with --profile",
            ));
        }
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
    // Set but empty is a mistake (a Helm value left blank), not "the default region".
    if flag == Some("") || (flag.is_none() && env("AWS_REGION").is_some_and(|v| v.is_empty())) {
        return Err(InputError::new(
            "--region (AWS_REGION)",
            "is set but empty; give a region such as eu-west-1, or unset it for AWS_DEFAULT_REGION, else the \
             role's partition's STS region",
        ));
    }
    if let Some(region) = flag {
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
        if let Some(profile) = self.profiles.chosen.selected(&self.role)? {
            return self.profile_settings(&profile);
        }
        let identity = self.identity.validate_with(&self.source)?;
        let role = self.role.validate()?;
        self.settings_for(identity, role, &self.bucket)
    }

    /// The settings of one role, whether from the flags or from a profile.
    fn settings_for(
        &self,
        identity: IdentitySettings,
        role: RoleSettings,
        bucket: &str,
    ) -> Result<Settings, InputError> {
        if bucket.is_empty() {
            return Err(InputError::new(
                "--bucket",
                "is required: give the S3 bucket the role may list (with --all-profiles, --profile-bucket NAME=BUCKET per profile)",
            ));
        }
        let endpoints = Endpoints::from_env(|v| std::env::var(v).ok())?;
        let expected_gsa = self
            .expected_gsa
            .as_deref()
            .map(input::service_account_email)
            .transpose()?;
        let list = ListRequest {
            bucket: input::bucket(bucket)?,
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
    pub fn settings(&self) -> Result<crate::credentials::credential_process::Settings, InputError> {
        // With --profile, the profile's role: never its credential_process line, which is not run.
        let (identity, role) = self.profile.role_of(&self.identity, &self.source, &self.role)?;
        let identity = if self.check_issuer {
            identity
        } else {
            identity.without_issuer_check()
        };
        let endpoints = Endpoints::from_env(|v| std::env::var(v).ok())?;
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir(|v| std::env::var_os(v).filter(|v| !v.is_empty()))?,
        };
        Ok(crate::credentials::credential_process::Settings {
            identity,
            role,
            cache_dir,
            endpoints,
        })
    }
}

// ---- Named roles: the profiles of the pod's shared AWS config file ----------------------
// `--profile` and `--all-profiles` are the only way an AWS config file is read: without them
// verify and credential-process take the role from their flags and environment alone.

/// Which profile of the AWS config file names the role (`verify`, `credential-process`,
/// `explain`).
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Take the role from this web identity profile of the AWS config file (its role_arn,
    /// web_identity_token_file, role_session_name and region) instead of --role-arn and
    /// --token-file; `default` is the [default] profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// The AWS config file the profile flags read (default: ~/.aws/config, as the SDKs).
    #[arg(long, value_name = "FILE", env = "AWS_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
}

/// `verify`'s profile flags: one profile, or every role of the pod.
#[derive(Debug, Args)]
pub struct VerifyProfileArgs {
    #[command(flatten)]
    pub chosen: ProfileArgs,

    /// Prove every web identity profile of the AWS config file (every role of the pod) in one
    /// run, concurrently: one report entry per role, and the worst exit code.
    #[arg(long, conflicts_with = "profile", env = "VERIFY_ALL_PROFILES")]
    pub all_profiles: bool,

    /// The bucket of one profile, as NAME=BUCKET (repeat the flag, or separate with commas);
    /// --bucket serves the profiles not named here.
    #[arg(
        long,
        value_name = "NAME=BUCKET",
        env = "VERIFY_PROFILE_BUCKETS",
        value_delimiter = ','
    )]
    pub profile_bucket: Vec<String>,
}

impl Cli {
    /// [`Parser::parse`], also noting whether --role-arn came from the command line: the
    /// environment may hold `AWS_ROLE_ARN` beside a profile (a container's own, or a component's),
    /// but a user who writes both `--role-arn` and `--profile` must choose.
    pub fn parse_noting_sources() -> Self {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        // A variable set but empty counts as unset, never as the flag's value.
        let command = crate::empty_env::unset_empty(Self::command(), &|v| std::env::var_os(v));
        let matches = command.get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let given = |name: &str| {
            matches
                .subcommand_matches(name)
                .is_some_and(|m| m.value_source("role_arn") == Some(ValueSource::CommandLine))
        };
        match &mut cli.command {
            Command::Verify(args) => args.role.role_arn_on_command_line = given("verify"),
            Command::CredentialProcess(args) => args.role.role_arn_on_command_line = given("credential-process"),
            Command::Explain(args) => args.role_arn_on_command_line = given("explain"),
            _ => {}
        }
        cli
    }
}

impl ProfileArgs {
    /// The config file the profile flags read.
    pub fn config_path(&self) -> Result<PathBuf, InputError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        profiles::file::location(self.config_file.as_deref(), home.as_deref())
    }

    /// The profile --profile names, read from the config file; `None` without --profile.
    pub fn selected(&self, role: &RoleArgs) -> Result<Option<Profile>, InputError> {
        let Some(name) = &self.profile else {
            return Ok(None);
        };
        refuse_role_arn_flag(role, "--profile")?;
        profiles::file::select(&self.config_path()?, name).map(Some)
    }

    /// The identity and role: the profile's with --profile, else the flags'.
    pub fn role_of(
        &self,
        identity: &IdentityArgs,
        source: &TokenSourceArgs,
        role: &RoleArgs,
    ) -> Result<(IdentitySettings, RoleSettings), InputError> {
        match self.selected(role)? {
            None => Ok((identity.validate_with(source)?, role.validate()?)),
            Some(profile) => profile_role(&profile, identity, source, role),
        }
    }
}

fn refuse_role_arn_flag(role: &RoleArgs, flag: &'static str) -> Result<(), InputError> {
    if role.role_arn_on_command_line {
        return Err(InputError::new(
            flag,
            format!("{flag} and --role-arn both name the role; give one of them"),
        ));
    }
    Ok(())
}

/// A profile's identity and role. The profile's token file replaces --token-file (and
/// `AWS_WEB_IDENTITY_TOKEN_FILE`), its role_arn `AWS_ROLE_ARN`; --region (`AWS_REGION`)
/// overrides its region as `AWS_REGION` does in the SDKs; its role_session_name wins over
/// --session-name. A bad value names the profile and the key.
fn profile_role(
    profile: &Profile,
    identity: &IdentityArgs,
    source: &TokenSourceArgs,
    role: &RoleArgs,
) -> Result<(IdentitySettings, RoleSettings), InputError> {
    let in_profile = |e: InputError| {
        let key = match e.field {
            "--role-arn" => "role_arn",
            "--region" => "region",
            "--session-name" => "role_session_name",
            "--token-file" => "web_identity_token_file",
            other => other,
        };
        InputError::new("--profile", format!("profile {:?}: {key}: {}", profile.name, e.problem))
    };
    let token_source = TokenSourceArgs {
        token_file: Some(PathBuf::from(&profile.web_identity_token_file)),
        skip_issuer_check: source.skip_issuer_check,
    };
    let identity = identity.validate_with(&token_source)?;
    let env = |v: &str| std::env::var(v).ok();
    let role_arn = RoleArn::parse(&profile.role_arn).map_err(in_profile)?;
    let region = match (role.region.as_deref(), &profile.region) {
        (None, Some(region)) => input::region(region).map_err(in_profile)?,
        (flag, _) => resolve_region(flag, &role_arn, &env)?,
    };
    let session_name = match (&profile.role_session_name, &role.session_name) {
        (Some(name), _) => session_name::explicit(name).map_err(in_profile)?,
        (None, Some(name)) => session_name::explicit(name)?,
        (None, None) => session_name::from_pod_name(env("HOSTNAME").as_deref()),
    };
    let duration_seconds = role.duration_seconds.map(input::duration_seconds).transpose()?;
    Ok((
        identity,
        RoleSettings {
            request: RoleRequest {
                role_arn,
                session_name,
                duration_seconds,
            },
            region,
        },
    ))
}

impl VerifyProfileArgs {
    /// --profile-bucket's entries, checked: `NAME=BUCKET`, each name once.
    fn buckets(&self) -> Result<Vec<(String, String)>, InputError> {
        let mut buckets: Vec<(String, String)> = Vec::new();
        for entry in self.profile_bucket.iter().filter(|e| !e.is_empty()) {
            let bad = |why: &str| InputError::new("--profile-bucket", format!("{entry:?} {why}; expected NAME=BUCKET"));
            let Some((name, bucket)) = entry.split_once('=') else {
                return Err(bad("has no '='"));
            };
            if !(name == profiles::DEFAULT_PROFILE || profiles::valid_name(name)) {
                return Err(bad("does not start with a profile name"));
            }
            if buckets.iter().any(|(n, _)| n == name) {
                return Err(bad("names a profile a second time"));
            }
            let bucket = input::bucket(bucket).map_err(|e| InputError::new("--profile-bucket", e.problem))?;
            buckets.push((name.to_owned(), bucket));
        }
        Ok(buckets)
    }
}

impl VerifyArgs {
    /// The bucket for `profile`: its --profile-bucket entry, else --bucket.
    fn bucket_for(&self, profile: &str, buckets: &[(String, String)]) -> Result<String, InputError> {
        let bucket = buckets
            .iter()
            .find(|(n, _)| n == profile)
            .map_or(self.bucket.as_str(), |(_, b)| b.as_str());
        if bucket.is_empty() {
            return Err(InputError::new(
                "--profile-bucket",
                format!("no bucket for profile {profile:?}: give --profile-bucket {profile}=BUCKET, or --bucket"),
            ));
        }
        Ok(bucket.to_owned())
    }

    /// `verify --profile NAME`: the named role's settings.
    fn profile_settings(&self, profile: &Profile) -> Result<Settings, InputError> {
        let (identity, role) = profile_role(profile, &self.identity, &self.source, &self.role)?;
        let bucket = self.bucket_for(&profile.name, &self.profiles.buckets()?)?;
        self.settings_for(identity, role, &bucket)
    }

    /// `verify --all-profiles`: every web identity profile of the config file with its
    /// settings, in the file's order, all checked before any network call.
    pub fn all_profile_settings(&self) -> Result<Vec<(String, Settings)>, InputError> {
        refuse_role_arn_flag(&self.role, "--all-profiles")?;
        let path = self.profiles.chosen.config_path()?;
        let every = profiles::file::every(&path)?;
        let buckets = self.profiles.buckets()?;
        if let Some((name, _)) = buckets.iter().find(|(n, _)| !every.iter().any(|p| &p.name == n)) {
            let names: Vec<&str> = every.iter().map(|p| p.name.as_str()).collect();
            return Err(InputError::new(
                "--profile-bucket",
                format!(
                    "names profile {name:?}, which {} lacks: it has {}",
                    path.display(),
                    names.join(", ")
                ),
            ));
        }
        every
            .iter()
            .map(|profile| {
                let (identity, role) = profile_role(profile, &self.identity, &self.source, &self.role)?;
                let bucket = self.bucket_for(&profile.name, &buckets)?;
                Ok((profile.name.clone(), self.settings_for(identity, role, &bucket)?))
            })
            .collect()
    }
}

// ---- end of the named roles' block -----------------------------------------------------

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
    pub fn settings(&self) -> Result<crate::credentials::token_file::Settings, InputError> {
        // The path is checked by token_file::run, first thing.
        Ok(crate::credentials::token_file::Settings {
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
