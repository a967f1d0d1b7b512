//! `gke-aws-webhook`: a mutating admission webhook that gives opted-in pods keyless AWS
//! credentials. Pure core ([`mutate`], [`inject`]), I/O at the edges.

pub mod inject;
pub mod mutate;
