//! Credentials for workloads: the `credential-process` helper with its cache, and the
//! `token-file` writer that keeps a web-identity token fresh for the SDKs.

pub mod cache;
pub mod credential_process;
pub mod token_file;
