//! The `gke-cluster-issuer` binary: the CA and token files, the two stdout lines, SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::binary::terminate;
use crate::common::{https_client, send, verify};

#[tokio::test]
async fn writes_the_ca_and_a_projected_token_then_serves_the_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, token) = (dir.path().join("ca.pem"), dir.path().join("token"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gke-cluster-issuer"))
        .args(["--project-id", "acme", "--location", "us-central1", "--cluster", "prod"])
        .args(["--namespace", "apps", "--ksa", "reports", "--token-lifetime", "10m"])
        .arg("--ca-file")
        .arg(&ca)
        .arg("--token-file")
        .arg(&token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the issuer");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a line within 30 s")
            .expect("read stdout")
            .expect("a line before EOF")
    };
    let listening = next_line().await;
    let host = listening
        .strip_prefix("listening on ")
        .expect("`listening on HOST:PORT`");
    assert!(host.starts_with("127.0.0.1:") && !host.ends_with(":0"), "{listening}");
    let url = format!("https://{host}/v1/projects/acme/locations/us-central1/clusters/prod");
    assert_eq!(next_line().await, format!("issuer {url}"));

    // Both files are in place once the lines are printed.
    let ca_pem = std::fs::read_to_string(&ca).expect("the CA file");
    let client = https_client(&ca_pem);
    let discovery = send(client.get(format!("{url}/.well-known/openid-configuration")))
        .await
        .expect("discovery over HTTPS");
    let discovery: serde_json::Value = serde_json::from_str(&discovery.body).unwrap();
    assert_eq!(discovery["issuer"], url.as_str());
    let jwks = send(client.get(discovery["jwks_uri"].as_str().unwrap()))
        .await
        .expect("JWKS");
    let jwks: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    let (_, claims) = verify(&std::fs::read_to_string(&token).expect("the token file"), &jwks);
    assert_eq!(claims["iss"], url.as_str());
    assert_eq!(claims["sub"], "system:serviceaccount:apps:reports");
    assert_eq!(claims["aud"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 600);

    // On demand, over the control endpoints: an expired token, then a fresh one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let control = |what: &str| client.post(format!("https://{host}/emulator/v1/token/{what}"));
    assert_eq!(send(control("expire")).await.unwrap().status, 200);
    let expired = crate::common::claims_of(&std::fs::read_to_string(&token).unwrap());
    assert!(expired["exp"].as_u64().unwrap() < now, "{expired}");
    assert_eq!(send(control("refresh")).await.unwrap().status, 200);
    let fresh = crate::common::claims_of(&std::fs::read_to_string(&token).unwrap());
    assert!(fresh["exp"].as_u64().unwrap() >= now + 590, "{fresh}");
    terminate(child).await;
}

#[tokio::test]
async fn a_zero_lifetime_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gke-cluster-issuer"))
        .args(["--token-lifetime", "0s", "--ca-file"])
        .arg(dir.path().join("ca.pem"))
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token-lifetime must be more than zero"), "{stderr}");
    assert!(!dir.path().join("ca.pem").exists(), "refused before writing anything");
}

#[tokio::test]
async fn fault_flags_start_the_issuer_unavailable_until_the_control_endpoint_clears_them() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gke-cluster-issuer"))
        .arg("--unavailable")
        .arg("--ca-file")
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the issuer");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut issuer = None;
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
        if let Some(url) = line.strip_prefix("issuer ") {
            issuer = Some(url.to_owned());
            break;
        }
    }
    let issuer = issuer.expect("the issuer line within 30 s");
    let client = https_client(&std::fs::read_to_string(&ca).expect("the CA file"));
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    assert_eq!(send(client.get(&discovery)).await.unwrap().status, 503);
    let host = issuer.trim_start_matches("https://").split('/').next().unwrap();
    let clear = client.put(format!("https://{host}/emulator/v1/faults")).body("{}");
    assert_eq!(send(clear).await.unwrap().status, 200);
    assert_eq!(send(client.get(&discovery)).await.unwrap().status, 200);
    // No --token-file: nothing to refresh.
    let refresh = client.post(format!("https://{host}/emulator/v1/token/refresh"));
    assert_eq!(send(refresh).await.unwrap().status, 404);
    terminate(child).await;
}
