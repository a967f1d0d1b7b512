//! The audit's integration tests: the real `gke-aws-audit` binary against the Kubernetes API
//! stand-in (`testkit::kube_cluster`), with Terraform outputs from the fixtures and moto for `--aws`.

mod aws;
mod cli;
mod configured;
mod findings;
mod fleet;
mod gcp;
mod helpers;
mod hostile;
mod reads;
mod stale_profiles;
