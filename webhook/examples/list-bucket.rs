//! Lists a bucket with the AWS SDK for Rust the way an application does: `aws-config`'s
//! default chain and region (environment keys, the profile `AWS_PROFILE` names in
//! `AWS_CONFIG_FILE`, then the web identity variables: aws-config's
//! `default_provider/credentials.rs`), or a profile named in code (`.profile_name()`). The
//! webhook's injected-pod test runs it beside boto3, the aws CLI and the JavaScript SDK
//! (`tests/node/list-bucket.mjs`), with the same output.
//!
//! usage: list-bucket BUCKET [PROFILE]
//!
//! Prints one JSON line, `{"keys": [...]}` or `{"error": CODE, "message": ...}`; exit 1 on an
//! error, 2 on bad usage.

use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bucket, profile) = match args.as_slice() {
        [bucket] => (bucket, None),
        [bucket, profile] => (bucket, Some(profile)),
        _ => {
            eprintln!("usage: list-bucket BUCKET [PROFILE]");
            return ExitCode::from(2);
        }
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let config = loader.load().await;
    // The test points AWS_ENDPOINT_URL at moto on 127.0.0.1: path-style addressing.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    match s3.list_objects_v2().bucket(bucket).send().await {
        Ok(listed) => {
            let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
            keys.sort_unstable();
            println!("{}", json!({ "keys": keys }));
            ExitCode::SUCCESS
        }
        Err(error) => {
            let code = error.code().unwrap_or("NoCode").to_owned();
            let message: String = DisplayErrorContext(&error).to_string().chars().take(300).collect();
            println!("{}", json!({ "error": code, "message": message }));
            ExitCode::from(1)
        }
    }
}
