//! The webhook's integration tests, one binary: the webhook over real HTTPS against a
//! Kubernetes API stand-in, and the injected pod run for real.

mod admission;
mod common;
mod hostile;
mod injected_pod;
mod lifecycle;
mod self_signed;
