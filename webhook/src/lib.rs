//! `gke-aws-webhook`: a mutating admission webhook that gives opted-in pods keyless AWS
//! credentials. Pure core ([`mutate`], the decision, over [`keys`], [`settings`],
//! [`resources`], [`roles`], [`choice`], [`platform`], [`clash`] and [`message`]; [`inject`],
//! the patch), I/O at the edges ([`ksa_cache`], [`server`], [`tls`]).

pub mod choice;
pub mod clash;
pub mod inject;
pub mod keys;
pub mod ksa_cache;
pub mod message;
pub mod metrics;
pub mod mutate;
pub mod paths;
pub mod platform;
pub mod resources;
pub mod roles;
pub mod server;
pub mod settings;
pub mod tls;
