//! `gke-aws-webhook`: a mutating admission webhook that gives opted-in pods keyless AWS
//! credentials. Pure core ([`mutate`], [`inject`]), I/O at the edges ([`ksa_cache`],
//! [`server`], [`tls`]).

pub mod inject;
pub mod ksa_cache;
pub mod metrics;
pub mod mutate;
pub mod server;
pub mod tls;
