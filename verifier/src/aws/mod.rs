//! The AWS side of the chain: the SDK's configuration (endpoints, TLS, no ambient credentials)
//! and the clients of STS, S3 and IAM, each answer checked to its end ([`answer`]).

pub mod answer;
pub mod iam;
pub mod s3;
pub mod sdk;
pub mod sts;
