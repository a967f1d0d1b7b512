//! The GKE → AWS keyless chain. The commands ([`cli`], [`verify`], [`explain`],
//! [`credentials`]) compose the parts below them; the data flows one way:
//! commands → [`chain`] and [`profiles`] → the clients ([`identity`]: the workload's token;
//! [`aws`]: STS, S3, IAM) → the shared pieces (errors, stages, input, redaction, clock, files).

pub mod aws;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod credentials;
pub mod empty_env;
pub mod error;
pub mod exit_code;
pub mod exit_table;
pub mod explain;
pub mod identity;
pub mod input;
pub mod input_file;
pub mod logging;
pub mod profiles;
pub mod redact;
pub mod secret_file;
pub mod session_name;
pub mod stage;
pub mod verify;
