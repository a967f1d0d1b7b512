//! Real local peers for the verifier's tests: moto's server as AWS, the metadata emulator as
//! GKE's metadata server, and a proxy in front of moto that counts calls and injects the
//! faults moto never produces. Every server listens on 127.0.0.1, on a free port, and stops
//! when its handle is dropped.

pub mod cli_env;
pub mod hostile;
pub mod kube_api;
pub mod kube_cluster;
pub mod kube_list;
pub mod kube_objects;
pub mod moto;
pub mod proxy;

pub use gke_metadata_emulator as emulator;
pub use hostile::{HostilePeer, Reply};
pub use moto::Moto;
pub use proxy::{Fault, FaultProxy, Operation};
