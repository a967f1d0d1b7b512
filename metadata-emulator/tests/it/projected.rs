//! The projected token file: written atomically, owner-only, refreshed at 80% of its life,
//! expired and refreshed on demand. Runs on Tokio's paused clock (`Clock::Tokio`).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use gke_metadata_emulator::{Clock, ClusterIssuer, IssuerConfig, KsaToken, ProjectedToken};
use serde_json::Value;

use crate::common::{claims_of, verify};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("the token file is there")
}

/// Lets the refresher run after the clock moved: bounded, it only yields.
async fn until_writes(projected: &ProjectedToken, writes: u64) {
    for _ in 0..100 {
        if projected.writes() >= writes {
            return;
        }
        tokio::task::yield_now().await;
    }
}

fn times(claims: &Value) -> (u64, u64) {
    (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap())
}

#[tokio::test(start_paused = true)]
async fn the_file_is_refreshed_at_80_percent_of_the_tokens_life() {
    let issuer = ClusterIssuer::start(IssuerConfig {
        clock: Clock::Tokio,
        ..IssuerConfig::default()
    })
    .await
    .expect("issuer starts");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let token = KsaToken {
        lifetime: Duration::from_secs(100),
        ..KsaToken::new("apps", "reports")
    };
    let projected = issuer.project(&path, token).await.expect("projected");
    // In place before `project` returns, whole, owner-only, alone in its folder.
    let first = read(&path);
    let (_, claims) = verify(&first, &issuer.jwks());
    assert_eq!(claims["sub"], "system:serviceaccount:apps:reports");
    let (iat, exp) = times(&claims);
    assert_eq!(exp - iat, 100);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    tokio::time::advance(Duration::from_secs(79)).await;
    until_writes(&projected, 2).await;
    assert_eq!((projected.writes(), read(&path)), (1, first.clone()), "not before 80%");
    tokio::time::advance(Duration::from_secs(1)).await;
    until_writes(&projected, 2).await;
    assert_eq!(projected.writes(), 2);
    let second = claims_of(&read(&path));
    assert_eq!(times(&second), (iat + 80, iat + 180));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // On demand: an expired token, and no refresh until asked.
    projected.expire().await.expect("expired");
    let expired = claims_of(&read(&path));
    assert!(times(&expired).1 < iat + 80, "{expired}");
    tokio::time::advance(Duration::from_secs(200)).await;
    until_writes(&projected, 4).await;
    assert_eq!(projected.writes(), 3);
    projected.refresh().await.expect("refreshed");
    let fresh = claims_of(&read(&path));
    assert_eq!(times(&fresh), (iat + 280, iat + 380));
    tokio::time::advance(Duration::from_secs(80)).await;
    until_writes(&projected, 5).await;
    assert_eq!(projected.writes(), 5, "refreshing resumed");
}

#[tokio::test]
async fn a_folder_that_does_not_exist_is_an_error_naming_nothing_secret() {
    let issuer = ClusterIssuer::start(IssuerConfig::default())
        .await
        .expect("issuer starts");
    let dir = tempfile::tempdir().unwrap();
    let error = issuer
        .project(dir.path().join("missing/token"), KsaToken::default())
        .await
        .expect_err("no such folder");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    assert!(!error.to_string().contains("eyJ"), "{error}");
}
