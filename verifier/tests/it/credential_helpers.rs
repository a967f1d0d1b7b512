//! The credential helpers with their real clients: the `aws` CLI runs `credential-process`,
//! boto3 reads the file `token-file` keeps. STS calls are counted by the proxy.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{BIN, BUCKET, Chain, KEYS, Run, faults};
use gke_aws_verifier::credentials::cache::{Entry, ProcessCredentials};
use testkit::emulator::{Config, Faults};
use testkit::{Fault, Operation};

/// An AWS config whose profile `gke` gets its credentials from the helper.
fn aws_config(chain: &Chain, cache_dir: &Path) -> PathBuf {
    let path = chain.home.path().join("aws-config");
    let config = format!(
        "[profile gke]\nregion = us-east-1\ncredential_process = {BIN} credential-process --role-arn {} --region us-east-1 --cache-dir {}\n",
        chain.role_arn,
        cache_dir.display()
    );
    std::fs::write(&path, config).unwrap();
    path
}

fn aws_cli(chain: &Chain, config: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("aws");
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", chain.home.path())
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", chain.home.path().join("no-credentials"))
        .env("AWS_PROFILE", "gke")
        .env("AWS_ENDPOINT_URL", chain.proxy.endpoint())
        .env("GCE_METADATA_HOST", chain.emulator.host())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_lists_the_bucket_through_the_helper_with_one_sts_call_for_three_commands() {
    let chain = Chain::start().await;
    let config = aws_config(&chain, &chain.cache_dir());
    for _ in 0..3 {
        let run = Run::helper(aws_cli(
            &chain,
            &config,
            &["s3api", "list-objects-v2", "--bucket", BUCKET, "--output", "json"],
        ))
        .await;
        assert_eq!(run.code, 0, "{run:?}");
        let listing: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let mut keys: Vec<&str> = listing["Contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Key"].as_str().unwrap())
            .collect();
        keys.sort();
        let mut expected = KEYS.to_vec();
        expected.sort();
        assert_eq!(keys, expected);
    }
    assert_eq!(
        chain.proxy.count(Operation::AssumeRoleWithWebIdentity),
        1,
        "the cache served the second and third command"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_is_refused_what_the_role_may_not_do() {
    let chain = Chain::start().await;
    let config = aws_config(&chain, &chain.cache_dir());
    let run = Run::helper(aws_cli(
        &chain,
        &config,
        &["s3api", "put-object", "--bucket", BUCKET, "--key", "new.txt"],
    ))
    .await;
    assert_ne!(run.code, 0, "{run:?}");
    // S3's refusal of the write, not STS's: the helper got credentials, once.
    assert!(
        run.stderr.contains("AccessDenied") && run.stderr.contains("PutObject"),
        "{}",
        run.stderr
    );
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_helpers_at_once_on_an_empty_cache_make_one_sts_call() {
    concurrent_helpers_make_one_sts_call(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_helpers_at_once_give_correct_output_and_one_sts_call() {
    concurrent_helpers_make_one_sts_call(200).await;
}

async fn concurrent_helpers_make_one_sts_call(helpers: usize) {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let helpers: Vec<_> = (0..helpers)
        .map(|_| {
            let args = ["credential-process", "--cache-dir", cache_dir.to_str().unwrap()];
            Run::helper(chain.command(&args))
        })
        .collect();
    let runs = futures_join_all(helpers).await;
    let mut outputs = Vec::new();
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
        let credentials: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(credentials["Version"], 1);
        for field in ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"] {
            assert!(
                credentials[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field} in {credentials}"
            );
        }
        assert!(
            credentials["Expiration"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 UTC: {credentials}"
        );
        assert_eq!(
            run.stdout.lines().count(),
            1,
            "stdout carries the JSON and nothing else"
        );
        outputs.push(run.stdout.clone());
    }
    outputs.dedup();
    assert_eq!(outputs.len(), 1, "every helper served the same credentials");
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1);
    assert_eq!(chain.emulator.tokens_issued(), 1);
}

/// Waits for all futures, concurrently (the helpers must overlap to test the lock).
async fn futures_join_all<F: std::future::Future<Output = Run> + Send + 'static>(futures: Vec<F>) -> Vec<Run> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut runs = Vec::new();
    for handle in handles {
        runs.push(handle.await.expect("helper task"));
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_cache_is_replaced_and_unusable_cache_dir_is_bad_input() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = ["credential-process", "--cache-dir", cache_dir.to_str().unwrap()];
    assert_eq!(Run::helper(chain.command(&args)).await.code, 0);
    let entry = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    std::fs::write(&entry, b"{\"key\": truncated").unwrap();
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("corrupt cache file"), "{}", run.stderr);
    assert_eq!(
        chain.proxy.count(Operation::AssumeRoleWithWebIdentity),
        2,
        "a corrupt entry is not trusted"
    );
    assert!(
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&entry).unwrap()).is_ok(),
        "and it was replaced"
    );

    let not_a_folder = chain.home.path().join("aws-config-file");
    std::fs::write(&not_a_folder, b"").unwrap();
    let run = Run::helper(chain.command(&["credential-process", "--cache-dir", not_a_folder.to_str().unwrap()])).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--cache-dir"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

/// The cache entries in `cache_dir` (lock files aside).
fn cache_entries(cache_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "lock"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_kept_from_the_cache_lock_gives_up_at_its_timeout() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = [
        "credential-process",
        "--cache-dir",
        cache_dir.to_str().unwrap(),
        "--timeout",
        "1s",
    ];
    assert_eq!(Run::helper(chain.command(&args)).await.code, 0);
    // A miss, while another helper holds the lock and never lets go.
    let entry = cache_entries(&cache_dir).pop().unwrap();
    std::fs::remove_file(&entry).unwrap();
    let held = std::fs::File::open(entry.with_extension("lock")).unwrap();
    held.lock().unwrap();
    let run = tokio::time::timeout(Duration::from_secs(60), Run::helper(chain.command(&args)))
        .await
        .expect("the helper exits at its --timeout, not when the lock is released");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains("CacheLockTimeout") && run.stderr.contains("held the cache lock"),
        "the message names the lock, not the network: {}",
        run.stderr
    );
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_the_cache_gets_whole_credentials_or_nothing() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = [
        "credential-process",
        "--cache-dir",
        cache_dir.to_str().unwrap(),
        "--timeout",
        "5s",
    ];

    // Failures that persist: an exit code and a hint, and nothing cached.
    chain.set_faults(Faults {
        refuse: true,
        ..faults()
    });
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 3, "{run:?}");
    chain.set_faults(Faults {
        html_body: true,
        ..faults()
    });
    assert_eq!(Run::helper(chain.command(&args)).await.code, 3);
    chain.set_faults(faults());
    // A refusal STS does not retry (a retried error may end in Timeout or in its own code,
    // depending on the backoff's jitter).
    chain.proxy.inject(
        Operation::AssumeRoleWithWebIdentity,
        Fault::sts(400, "InvalidIdentityToken", "Incorrect token audience", 1),
    );
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("InvalidIdentityToken"), "{}", run.stderr);
    assert_eq!(
        cache_entries(&cache_dir),
        Vec::<PathBuf>::new(),
        "a failure caches nothing"
    );

    // Bursts that retries outlast: credentials, cached whole (checked when `chain` drops).
    chain.proxy.inject(
        Operation::AssumeRoleWithWebIdentity,
        Fault::sts(400, "Throttling", "Rate exceeded", 2),
    );
    chain.set_faults(Faults {
        server_errors: 2,
        ..faults()
    });
    let sts_calls = chain.proxy.count(Operation::AssumeRoleWithWebIdentity);
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(chain.emulator.faults().server_errors, 0, "the 5xx burst was met");
    assert_eq!(
        chain.proxy.count(Operation::AssumeRoleWithWebIdentity) - sts_calls,
        3,
        "two throttled calls, then success"
    );
    assert_eq!(cache_entries(&cache_dir).len(), 1);
    let served: ProcessCredentials = serde_json::from_str(&run.stdout).unwrap();
    let cached = Entry::parse(&std::fs::read(&cache_entries(&cache_dir)[0]).unwrap()).expect("a whole entry");
    assert_eq!(cached.credentials, served, "the cache holds what was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_failures_go_to_stderr_with_the_hint() {
    let chain = Chain::start().await;
    chain.set_faults(Faults {
        binding_missing: true,
        ..faults()
    });
    let run =
        Run::helper(chain.command(&["credential-process", "--cache-dir", chain.cache_dir().to_str().unwrap()])).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "", "nothing but credentials on stdout");
    assert!(
        run.stderr.contains("WorkloadIdentityBindingMissing") && run.stderr.contains("roles/iam.workloadIdentityUser"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_lists_the_bucket_with_the_token_file() {
    let chain = Chain::start().await;
    let token_path = chain.token_path();
    let run = Run::helper(chain.command(&["token-file", "--once", "--path", token_path.to_str().unwrap()])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&token_path).unwrap().permissions());
    assert_eq!(mode & 0o007, 0, "not world-readable");

    let script = format!(
        "import boto3; print(sorted(o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='{BUCKET}')['Contents']))"
    );
    let mut python = tokio::process::Command::new("python3");
    python
        .args(["-c", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", chain.home.path())
        .env("AWS_CONFIG_FILE", chain.home.path().join("none"))
        .env("AWS_ROLE_ARN", &chain.role_arn)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_path)
        .env("AWS_ROLE_SESSION_NAME", "boto3-app")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", chain.proxy.endpoint());
    let run = Run::helper(python).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mut expected: Vec<String> = KEYS.iter().map(|k| format!("'{k}'")).collect();
    expected.sort();
    assert_eq!(run.stdout.trim(), format!("[{}]", expected.join(", ")));
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1);
}

#[tokio::test]
async fn token_file_path_in_a_missing_folder_is_bad_input() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("missing/token");
    let mut command =
        crate::common::isolated_command(&["token-file", "--once", "--path", path.to_str().unwrap()], home.path());
    command.env("GCE_METADATA_HOST", "127.0.0.1:9");
    let run = Run::helper(command).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--path") && run.stderr.contains("must exist"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_cache_and_read_only_folders_are_bad_input_before_any_network_call() {
    let chain = Chain::start().await;
    let read_only = chain.home.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, Permissions::from_mode(0o555)).unwrap();
    let cache_dir = chain.cache_dir();
    let cache_args = ["credential-process", "--cache-dir", cache_dir.to_str().unwrap()];
    // A cache entry for these very arguments, then made unreadable to the helper.
    assert_eq!(Run::helper(chain.command(&cache_args)).await.code, 0);
    std::fs::set_permissions(&cache_dir, Permissions::from_mode(0o755)).unwrap();
    let entry = cache_entries(&cache_dir).pop().unwrap();
    if crate::common::running_as_root() {
        // The helper runs as nobody: the folders are nobody's, the entry stays root's 0600.
        std::os::unix::fs::chown(&cache_dir, Some(crate::common::NOBODY), Some(crate::common::NOBODY)).unwrap();
        std::os::unix::fs::chown(&read_only, Some(crate::common::NOBODY), Some(crate::common::NOBODY)).unwrap();
    } else {
        std::fs::set_permissions(&entry, Permissions::from_mode(0o000)).unwrap();
    }
    let (tokens, sts_calls) = (
        chain.emulator.tokens_issued(),
        chain.proxy.count(Operation::AssumeRoleWithWebIdentity),
    );

    let token_in_read_only = read_only.join("token");
    for (args, named, fix) in [
        (
            vec!["token-file", "--once", "--path", token_in_read_only.to_str().unwrap()],
            "--path",
            "writable",
        ),
        (
            vec!["credential-process", "--cache-dir", read_only.to_str().unwrap()],
            "--cache-dir",
            "writable folder",
        ),
        (cache_args.to_vec(), "--cache-dir", "remove it or fix its owner"),
    ] {
        let run = Run::helper(chain.unprivileged_command(&args)).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr.contains(named) && run.stderr.contains(fix) && run.stderr.contains("ermission denied"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(chain.emulator.tokens_issued(), tokens, "no token was fetched");
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), sts_calls);
    assert!(!token_in_read_only.exists());
    // Readable again for the secret check when `chain` drops.
    std::fs::set_permissions(&entry, Permissions::from_mode(0o600)).unwrap();
}

/// Reads the token file, if there is one, and checks it is a whole, unexpired token.
fn read_valid_token(path: &Path) -> Option<String> {
    let raw = std::fs::read_to_string(path).ok()?;
    let token = gke_aws_verifier::identity::id_token::IdToken::decode(&raw)
        .unwrap_or_else(|e| panic!("partial or corrupt token file: {e}"));
    let now = gke_aws_verifier::clock::unix_now();
    assert!(
        token.claims.exp > now,
        "expired token in the file: exp {} now {now}",
        token.claims.exp
    );
    Some(raw)
}

/// Polls the token file until `done` says so, checking every read; bounded by `limit`.
async fn watch(path: &Path, limit: Duration, mut done: impl FnMut(Option<&String>) -> bool) {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let seen = read_valid_token(path);
        if done(seen.as_ref()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_keeps_no_token_its_clock_calls_expired() {
    // verify leaves expiry to STS's clock; token-file schedules by the pod's, so a token that
    // clock calls expired is refused, not written and removed at once.
    let chain = Chain::start().await;
    chain.set_faults(Faults {
        expired_tokens: true,
        ..faults()
    });
    let path = chain.token_path();
    let run = Run::of(chain.command(&["token-file", "--once", "--path", path.to_str().unwrap()])).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("TokenExpiredByPodClock") && run.stderr.contains("NTP"),
        "{}",
        run.stderr
    );
    assert!(!path.exists(), "no file written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Outages are in the simulated day (`token_file_day.rs`); this runs the real binary on the wall clock.
async fn token_file_refreshes_before_expiry_and_stays_on_sigterm() {
    let chain = Chain::start_with(Config {
        token_lifetime: Duration::from_secs(6),
        ..Config::default()
    })
    .await;
    let path = chain.token_path();
    let mut child = chain.spawn(&["token-file", "--path", path.to_str().unwrap()]);

    // Refreshes: three different tokens in a row, each whole and unexpired when read.
    let mut tokens: Vec<String> = Vec::new();
    watch(&path, Duration::from_secs(20), |seen| {
        if let Some(raw) = seen
            && tokens.last() != Some(raw)
        {
            tokens.push(raw.clone());
        }
        tokens.len() >= 3
    })
    .await;

    // SIGTERM: the helper exits cleanly and leaves the valid token in place.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().await.unwrap().success());
    assert!(read_valid_token(&path).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_is_removed_rather_than_left_expired_when_an_outage_outlasts_it() {
    let chain = Chain::start_with(Config {
        token_lifetime: Duration::from_secs(4),
        ..Config::default()
    })
    .await;
    let path = chain.token_path();
    let _child = chain.spawn(&["token-file", "--path", path.to_str().unwrap()]);
    watch(&path, Duration::from_secs(20), |seen| seen.is_some()).await;
    chain.set_faults(Faults {
        refuse: true,
        ..faults()
    });
    // Every read checks the token is unexpired; the file must disappear before it would be.
    watch(&path, Duration::from_secs(20), |seen| seen.is_none()).await;
}

/// The one cache entry in `cache_dir`, after a first helper run made it.
fn only_entry(cache_dir: &Path) -> PathBuf {
    let mut entries = cache_entries(cache_dir);
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_folder_others_may_write_is_refused_and_its_entries_never_served() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = ["credential-process", "--cache-dir", cache_dir.to_str().unwrap()];
    assert_eq!(Run::helper(chain.command(&args)).await.code, 0);
    // Anyone may now write there, so anyone could have planted this entry.
    std::fs::set_permissions(&cache_dir, Permissions::from_mode(0o777)).unwrap();
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "", "nothing served from a folder others may write");
    assert!(
        run.stderr.contains("--cache-dir")
            && run.stderr.contains("writable by anyone")
            && run.stderr.contains("chmod 700"),
        "{}",
        run.stderr
    );
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1);
    // The fix the message gives, as in a pod whose emptyDir root is 0777: a folder inside it,
    // which the helper creates owner-only.
    let inside = cache_dir.join("gke-aws-verifier");
    let run = Run::helper(chain.command(&["credential-process", "--cache-dir", inside.to_str().unwrap()])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::metadata(&inside).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 2);
    // The secret check at the end allows credentials in the cache folder itself only.
    std::fs::remove_dir_all(&inside).unwrap();
    std::fs::set_permissions(&cache_dir, Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_obtained_through_another_sts_endpoint_are_not_served() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = [
        "credential-process",
        "--cache-dir",
        cache_dir.to_str().unwrap(),
        "--timeout",
        "2s",
    ];
    assert_eq!(Run::helper(chain.command(&args)).await.code, 0);
    let entry = only_entry(&cache_dir);
    // Same role, audience and session, another STS: the cached entry is not theirs to give.
    let mut command = chain.command(&args);
    command.env(
        "AWS_ENDPOINT_URL_STS",
        format!("http://{}", crate::common::closed_address()),
    );
    let run = Run::helper(command).await;
    assert_eq!(run.code, 4, "asked the configured STS instead: {run:?}");
    assert_eq!(run.stdout, "");
    // And an entry planted under this request's name, copied from another request's, is not served.
    let other_args = [&args[..], &["--session-name", "another-session"]].concat();
    let other = Run::helper(chain.command(&other_args)).await;
    assert_eq!(other.code, 0, "{other:?}");
    let other_entry = cache_entries(&cache_dir).into_iter().find(|p| *p != entry).unwrap();
    std::fs::copy(&other_entry, &entry).unwrap();
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_ne!(run.stdout, other.stdout, "another session's credentials are not served");
    assert!(run.stderr.contains("obtained for something else"), "{}", run.stderr);
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_symlinks_and_fifos_in_the_cache_are_refused_not_followed() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = ["credential-process", "--cache-dir", cache_dir.to_str().unwrap()];
    assert_eq!(Run::helper(chain.command(&args)).await.code, 0);
    let entry = only_entry(&cache_dir);
    let lock = entry.with_extension("lock");
    let victim = chain.home.path().join("victim");

    // A FIFO entry: refused at once, never waited on.
    std::fs::remove_file(&entry).unwrap();
    let status = std::process::Command::new("mkfifo").arg(&entry).status().unwrap();
    assert!(status.success());
    let run = tokio::time::timeout(Duration::from_secs(60), Run::helper(chain.command(&args)))
        .await
        .expect("a FIFO entry does not hang the helper");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("a FIFO") && run.stderr.contains("remove it"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&entry).unwrap();

    // A lock that is a symlink: its target is never created.
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("a symlink"), "{}", run.stderr);
    assert!(!victim.exists(), "the symlink was followed");
    // An entry that is a symlink to a file of credentials: not read.
    std::fs::remove_file(&lock).unwrap();
    std::fs::write(&victim, b"{}").unwrap();
    std::os::unix::fs::symlink(&victim, &entry).unwrap();
    let run = Run::helper(chain.command(&args)).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("a symlink"), "{}", run.stderr);
    assert_eq!(
        chain.proxy.count(Operation::AssumeRoleWithWebIdentity),
        1,
        "no STS call"
    );
    std::fs::remove_file(&entry).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_sts_credentials_are_neither_printed_nor_cached() {
    let chain = Chain::start().await;
    let cache_dir = chain.cache_dir();
    let args = ["credential-process", "--cache-dir", cache_dir.to_str().unwrap()];
    for (case, key_id, expiration) in [
        ("an empty access key id", "", "2099-01-01T00:00:00Z"),
        (
            "an expiration in the past",
            "ASIAPASTEXPIRY000001",
            "2001-01-01T00:00:00Z",
        ),
    ] {
        let body = format!(
            r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>planted-secret-key</SecretAccessKey><SessionToken>planted-session-token</SessionToken><Expiration>{expiration}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/team-reader/s</Arn></AssumedRoleUser><SubjectFromWebIdentityToken>1</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience><Provider>accounts.google.com</Provider></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"#
        );
        chain.proxy.inject(
            Operation::AssumeRoleWithWebIdentity,
            Fault {
                status: 200,
                body,
                headers: vec![("content-type".into(), "text/xml".into())],
                times: 1,
                delay: None,
            },
        );
        let run = Run::helper(chain.command(&args)).await;
        assert_eq!(run.code, 4, "{case}: {run:?}");
        assert_eq!(run.stdout, "", "{case}");
        assert!(!run.stderr.contains("planted-"), "{case}: {}", run.stderr);
        assert_eq!(
            cache_entries(&cache_dir),
            Vec::<PathBuf>::new(),
            "{case}: nothing cached"
        );
    }
}

/// `token-file` with only a metadata host that nothing answers on: for checks made before
/// any network call.
fn token_file_offline(home: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = crate::common::isolated_command(&[&["token-file"], args].concat(), home);
    command.env("GCE_METADATA_HOST", crate::common::closed_address());
    command
}

#[tokio::test]
async fn token_file_refuses_special_files_symlinks_and_names_too_long() {
    let home = tempfile::tempdir().unwrap();
    let fifo = home.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let to_device = home.path().join("stdout");
    std::os::unix::fs::symlink("/dev/null", &to_device).unwrap();
    let long = home.path().join("t".repeat(240));
    for (path, says) in [
        (fifo.clone(), "a FIFO"),
        (PathBuf::from("/dev/null"), "a device"),
        (to_device.clone(), "a symlink"),
        (long, "the file name is"),
    ] {
        let run = tokio::time::timeout(
            Duration::from_secs(60),
            Run::helper(token_file_offline(
                home.path(),
                &["--once", "--path", path.to_str().unwrap()],
            )),
        )
        .await
        .expect("never waits on a FIFO");
        assert_eq!(run.code, 2, "{}: {run:?}", path.display());
        assert!(
            run.stderr.contains("--path") && run.stderr.contains(says),
            "{}: {}",
            path.display(),
            run.stderr
        );
    }
    assert!(std::fs::symlink_metadata(&to_device).unwrap().file_type().is_symlink());
    let run = Run::helper(token_file_offline(
        home.path(),
        &["--once", "--file-mode", "0666", "--path", "t"],
    ))
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--file-mode"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_has_exactly_its_mode_whatever_the_umask_and_clears_leftovers() {
    let chain = Chain::start().await;
    let path = chain.token_path();
    // A temporary file a SIGKILLed writer left a while ago (a live write takes milliseconds).
    let leftover = chain.home.path().join(".token.4194305-0-00000000000000ab.tmp");
    std::fs::write(&leftover, b"eyJhalf").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    for (umask, flag, mode) in [
        ("077", None, 0o640),
        ("000", None, 0o640),
        ("077", Some("0600"), 0o600),
        ("022", Some("0644"), 0o644),
    ] {
        let mut line = format!("umask {umask}; exec \"$0\" token-file --once --path \"$1\"");
        if let Some(flag) = flag {
            line.push_str(&format!(" --file-mode {flag}"));
        }
        let command = chain.command_of(Path::new("/bin/sh"), &["-c", &line, BIN, path.to_str().unwrap()]);
        let run = Run::helper(command).await;
        assert_eq!(run.code, 0, "{run:?}");
        let found = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(found, mode, "umask {umask}, --file-mode {flag:?}");
    }
    assert!(!leftover.exists(), "the leftover temporary file was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_token_file_during_its_first_fetch() {
    let chain = Chain::start().await;
    // A metadata server that accepts and never answers: the helper is in its first fetch
    // once the connection is accepted.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let path = chain.token_path();
    let mut command = chain.command(&["token-file", "--timeout", "60s", "--path", path.to_str().unwrap()]);
    command.env("GCE_METADATA_HOST", silent.local_addr().unwrap().to_string());
    // The log goes to HOME, where the secret check at the end reads it.
    let log = std::fs::File::create(chain.home.path().join("token-file.log")).unwrap();
    let mut child = command.stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    let (_connection, _) = tokio::time::timeout(Duration::from_secs(30), silent.accept())
        .await
        .expect("the helper connects")
        .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Without the signal it would wait for its 60 s --timeout; the bound is far from both.
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("SIGTERM ends the helper during its first fetch")
        .unwrap();
    assert_eq!(status.code(), Some(1), "no token was written: not a success");
    assert!(!path.exists());
}

/// A metadata server (on 127.0.0.1) that answers every request with `token`.
async fn metadata_server_answering(token: String) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let token = token.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\nContent-Type: application/text\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{token}",
                    token.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (host, task)
}

#[tokio::test]
async fn token_file_never_keeps_a_token_with_absurd_times() {
    use base64::Engine as _;
    let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let home = tempfile::tempdir().unwrap();
    for (iat, exp) in [
        (1_700_000_000_i64, i64::MIN),
        (i64::MIN, i64::MAX),
        (1_700_000_000, i64::MAX),
    ] {
        let claims = format!(
            r#"{{"iss":"https://accounts.google.com","aud":"sts.amazonaws.com","azp":"1","sub":"1","iat":{iat},"exp":{exp}}}"#
        );
        let token = format!("{}.{}.c2ln", encode(r#"{"alg":"RS256"}"#), encode(&claims));
        let (host, server) = metadata_server_answering(token).await;
        let path = home.path().join("token");
        let mut command = crate::common::isolated_command(
            &[
                "token-file",
                "--once",
                "--timeout",
                "5s",
                "--path",
                path.to_str().unwrap(),
            ],
            home.path(),
        );
        command.env("GCE_METADATA_HOST", host);
        let run = Run::helper(command).await;
        server.abort();
        assert_eq!(run.code, 3, "iat {iat} exp {exp}: {run:?}");
        assert!(run.stderr.contains("NotAToken"), "{}", run.stderr);
        assert!(!path.exists(), "iat {iat} exp {exp}: the token was kept");
    }
}
