//! `gke-aws-audit` (run as `gke-aws-verifier audit`): a read-only audit of one cluster or a
//! fleet. Data flows one way: [`cli`] (checked settings) → [`read`] + [`snapshot`] (bounded,
//! paginated Kubernetes reads, reduced by [`objects`]) and [`terraform`] (and [`iam`] with
//! `--aws`, [`google`] with `--gcp`) → [`checks`] (pure rules) → [`finding`]s → [`report`] and
//! [`metrics`].

pub mod bad_input;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod finding;
pub mod google;
pub mod iam;
pub mod kept;
pub mod metrics;
pub mod objects;
pub mod read;
pub mod report;
pub mod run;
pub mod selector;
pub mod shell;
pub mod snapshot;
pub mod terraform;
