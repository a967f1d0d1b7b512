//! The GKE → AWS keyless chain, one module per stage:
//! [`metadata`] (Google ID token) → [`sts`] (AssumeRoleWithWebIdentity) → [`s3`] (ListObjectsV2)
//! → [`report`]. The subcommands [`verify`], [`credential_process`] and [`token_file`] compose them.

pub mod all_profiles;
pub mod aws_answer;
pub mod cache;
pub mod chain;
pub mod claims_source;
pub mod cli;
pub mod clock;
pub mod credential_process;
pub mod error;
pub mod exit_code;
pub mod explain;
pub mod iam;
pub mod id_token;
pub mod identity;
pub mod input;
pub mod input_file;
pub mod logging;
pub mod metadata;
pub mod profile_file;
pub mod profiles;
pub mod pushgateway;
pub mod redact;
pub mod report;
pub mod s3;
pub mod sdk;
pub mod secret_file;
pub mod session_name;
pub mod stage;
pub mod sts;
pub mod token_file;
pub mod trust_fix;
pub mod trust_source;
pub mod verify;
