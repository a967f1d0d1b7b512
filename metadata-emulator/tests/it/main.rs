//! The emulator's integration tests, one binary with one module per area.

mod binary;
mod common;
mod faults;
mod issuer;
mod issuer_binary;
mod metadata;
mod projected;
mod readme;
mod sts_gate;
