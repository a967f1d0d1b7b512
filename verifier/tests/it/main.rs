//! The verifier's integration tests, one binary (one link, shared helpers in `common`): the
//! real binary against real local peers, one module per area.

mod aws_side;
mod cluster_mode;
mod common;
mod credential_helpers;
mod env_vars;
mod exit_codes;
mod explain;
mod hostile;
mod profiles;
mod pushgateway;
mod token_file_day;
mod verify;
