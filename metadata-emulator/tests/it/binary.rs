//! The `gke-metadata-emulator` binary: the listen line, flags, env, control, SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{EMAIL, IDENTITY, client, get, send, verify};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts the binary with `args` and `envs` and returns it with its `http://HOST:PORT`.
async fn spawn(args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gke-metadata-emulator"))
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the listen line within 30 s")
        .expect("read stdout")
        .expect("a line before EOF");
    let host = line.strip_prefix("listening on ").expect("`listening on HOST:PORT`");
    assert!(host.starts_with("127.0.0.1:") && !host.ends_with(":0"), "{line}");
    (child, format!("http://{host}"))
}

/// Sends SIGTERM and expects a clean exit.
pub async fn terminate(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s of SIGTERM")
        .expect("wait");
    assert!(exit.success(), "{exit}");
}

#[tokio::test]
async fn prints_the_listen_line_serves_tokens_and_stops_on_sigterm() {
    let (child, base) = spawn(&["--token-lifetime", "60s"], &[]).await;
    let answer = get(&base, &format!("{IDENTITY}?audience=sts.amazonaws.com"))
        .await
        .expect("answer");
    assert_eq!(answer.status, 200);
    let jwks = send(client().get(format!("{base}/oauth2/v3/certs")))
        .await
        .expect("answer");
    let jwks: serde_json::Value = serde_json::from_str(&jwks.body).expect("JSON");
    let (_, claims) = verify(&answer.body, &jwks);
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        60
    );
    let stats = send(client().get(format!("{base}/emulator/v1/stats")))
        .await
        .expect("answer");
    assert_eq!(stats.body, r#"{"tokens_issued":1}"#);
    terminate(child).await;
}

#[tokio::test]
async fn flags_and_env_configure_identity_and_faults() {
    let (child, base) = spawn(
        &["--server-errors", "1", "--project-id", "other-project"],
        &[(
            "METADATA_EMULATOR_GSA_EMAIL",
            "sa@other-project.iam.gserviceaccount.com",
        )],
    )
    .await;
    assert_eq!(get(&base, EMAIL).await.expect("answer").status, 503);
    let email = get(&base, EMAIL).await.expect("answer");
    assert_eq!(email.body, "sa@other-project.iam.gserviceaccount.com");

    let put = client()
        .put(format!("{base}/emulator/v1/faults"))
        .body(r#"{"ksa_not_annotated": true}"#);
    assert_eq!(send(put).await.expect("answer").status, 200);
    assert_eq!(
        get(&base, EMAIL).await.expect("answer").body,
        "other-project.svc.id.goog"
    );
    assert_eq!(
        get(&base, &format!("{IDENTITY}?audience=a"))
            .await
            .expect("answer")
            .status,
        404
    );
    terminate(child).await;
}

#[tokio::test]
async fn refuse_flag_starts_in_an_outage_that_the_control_endpoint_ends() {
    let (child, base) = spawn(&["--refuse"], &[]).await;
    assert!(get(&base, EMAIL).await.is_err());
    let put = client().put(format!("{base}/emulator/v1/faults")).body("{}");
    assert_eq!(send(put).await.expect("answer").status, 200);
    assert_eq!(get(&base, EMAIL).await.expect("answer").status, 200);
    terminate(child).await;
}

#[tokio::test]
async fn durations_are_human_and_fault_flags_match_the_faults_json() {
    let (child, base) = spawn(
        &["--slow", "250ms", "--binding-missing", "--not-ready-for", "0s"],
        &[("METADATA_EMULATOR_SERVER_ERRORS", "3")],
    )
    .await;
    let faults = send(client().get(format!("{base}/emulator/v1/faults")))
        .await
        .expect("answer");
    let faults: serde_json::Value = serde_json::from_str(&faults.body).expect("JSON");
    assert_eq!(faults["slow_ms"], 250);
    assert_eq!(faults["server_errors"], 3);
    assert_eq!(faults["binding_missing"], true);
    assert_eq!(faults["refuse"], false);
    terminate(child).await;

    // A bare number is not a duration: clap names the flag and exits 2.
    let output = Command::new(env!("CARGO_BIN_EXE_gke-metadata-emulator"))
        .args(["--token-lifetime", "60"])
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--token-lifetime"));
}
