//! What a real AWS account needs beyond listing: proving read access, and helpers that work
//! when pasted, with no region anywhere (the AWS CLI passes none to `credential_process`).

use crate::common::{BIN, BUCKET, Chain, KEYS, Run};
use serde_json::Value;

/// The report of a run that proved access.
#[track_caller]
fn proven(run: &Run) -> Value {
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["ok"], true, "{report}");
    report
}

/// A role that may list and read the bucket, beside the chain's list-only role.
async fn reader_role(chain: &Chain) -> String {
    chain.moto.enforce_iam(false).await;
    let bucket_arn = format!("arn:aws:s3:::{BUCKET}");
    let objects_arn = format!("{bucket_arn}/*");
    let arn = chain
        .moto
        .create_role(
            "team-reader-rw",
            &["s3:ListBucket", "s3:GetObject"],
            &[&bucket_arn, &objects_arn],
        )
        .await;
    chain.moto.enforce_iam(true).await;
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_access_is_proven_by_reading_one_byte_of_a_listed_object() {
    let chain = Chain::start().await;
    let role = reader_role(&chain).await;
    let run = chain.verify(&["--access", "read", "--role-arn", &role]).await;
    let report = proven(&run);
    let s3 = &report["stages"][2];
    assert_eq!(s3["access"], "read", "{report}");
    assert!(KEYS.contains(&s3["read_key"].as_str().unwrap_or_default()), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_list_but_not_read_fails_read_access_naming_get_object() {
    let chain = Chain::start().await;
    // The chain's role has s3:ListBucket only.
    let list = chain.verify(&["--access", "list"]).await;
    proven(&list);
    let run = chain.verify(&["--access", "read"]).await;
    let error = run.expect_failure(5, "AccessDenied");
    let report = run.json();
    let message = error["message"].as_str().unwrap();
    let hint = error["hint"].as_str().unwrap();
    assert!(message.contains("s3:GetObject"), "{message}");
    assert!(message.contains(&format!("arn:aws:s3:::{BUCKET}/")), "{message}");
    assert!(hint.contains("access = \"read\""), "{hint}");
    assert_eq!(report["stages"][2]["ok"], false, "{report}");
}

/// Listing is proven, reading is not: the report says so in both formats, so a green smoke
/// run on an empty prefix cannot pass for a proof of s3:GetObject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_access_on_an_empty_listing_passes_saying_that_read_was_not_exercised() {
    let chain = Chain::start().await;
    let role = reader_role(&chain).await;
    let args = ["--access", "read", "--role-arn", &role, "--prefix", "nothing-here/"];
    let run = chain.verify(&args).await;
    let report = proven(&run);
    let s3 = &report["stages"][2];
    assert_eq!(s3["object_count"], 0, "{report}");
    assert!(s3.get("read_key").is_none(), "{report}");
    let why = s3["read_not_exercised"].as_str().unwrap_or_default();
    assert!(
        why.contains("no object was read") && why.contains("s3:GetObject"),
        "{report}"
    );
    assert!(run.stderr.contains("no object was read"), "{}", run.stderr);

    let mut text = vec!["verify", "--format", "text", "--bucket", BUCKET];
    text.extend_from_slice(&args);
    let run = Run::of(chain.command(&text)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("objects=0 read=not-exercised"), "{}", run.stdout);
    let verdict = run.stdout.lines().last().unwrap_or_default();
    assert!(
        verdict.starts_with("OK: list access proven, read NOT exercised: the listing is empty"),
        "{verdict}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_works_with_a_helper_line_that_names_no_region() {
    let chain = Chain::start().await;
    let config = chain.home.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile gke]\nregion = us-east-1\ncredential_process = {BIN} credential-process --role-arn {} --cache-dir {}\n",
            chain.role_arn,
            chain.cache_dir().display()
        ),
    )
    .unwrap();
    let mut aws = tokio::process::Command::new("aws");
    aws.args(["s3api", "list-objects-v2", "--bucket", BUCKET, "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", chain.home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", chain.home.path().join("no-credentials"))
        .env("AWS_PROFILE", "gke")
        .env("AWS_ENDPOINT_URL", chain.proxy.endpoint())
        .env("GCE_METADATA_HOST", chain.emulator.host())
        .kill_on_drop(true);
    let run = Run::helper(aws).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listing: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        listing["Contents"].as_array().map(Vec::len),
        Some(KEYS.len()),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_region_falls_back_to_aws_default_region_then_to_the_partition() {
    let chain = Chain::start().await;
    for (case, default_region, region_used) in [
        ("AWS_DEFAULT_REGION", Some("us-east-1"), "AWS_DEFAULT_REGION"),
        ("the partition", None, "partition's STS region"),
    ] {
        let mut command = chain.command(&["verify", "--format", "json", "--bucket", BUCKET, "--log-level", "debug"]);
        command.env_remove("AWS_REGION");
        if let Some(region) = default_region {
            command.env("AWS_DEFAULT_REGION", region);
        }
        let run = Run::of(command).await;
        proven(&run);
        assert!(run.stderr.contains(region_used), "{case}: {}", run.stderr);
    }
    let mut bad = chain.command(&["verify", "--format", "json", "--bucket", BUCKET]);
    bad.env_remove("AWS_REGION").env("AWS_DEFAULT_REGION", "Mars");
    Run::of(bad).await.expect_failure(2, "InvalidInput");
}
