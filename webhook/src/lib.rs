//! `gke-aws-webhook`: a mutating admission webhook that gives opted-in pods keyless AWS
//! credentials. Pure core ([`mutate`], the decision, over [`keys`], [`settings`],
//! [`resources`], [`roles`], [`choice`], [`platform`], [`clash`] and [`message`]; [`share`],
//! what each container gets, as one table; [`inject`], the patch; [`render`], the patch
//! applied; [`marker`], what the guard requires), I/O at the edges ([`ksa_cache`] over
//! [`api_client`] and [`paging`], [`server`] with [`review`], [`connections`] and [`shutdown`],
//! [`native_sidecars`], [`tls`], and [`self_signed`], the certificate it can manage itself).

pub mod api_client;
pub mod choice;
pub mod clash;
pub mod connections;
pub mod inject;
pub mod keys;
pub mod ksa_cache;
pub mod marker;
pub mod message;
pub mod metrics;
pub mod mutate;
pub mod native_sidecars;
pub mod paging;
pub mod paths;
pub mod platform;
pub mod render;
pub mod resources;
pub mod review;
pub mod roles;
pub mod self_signed;
pub mod server;
pub mod settings;
pub mod share;
pub mod shutdown;
pub mod tls;
