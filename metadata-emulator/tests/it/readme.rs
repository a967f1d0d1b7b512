//! The README's library examples, as tests: they compile and their assertions hold.

use std::time::Duration;

use gke_metadata_emulator::{ClusterIssuer, Config, Emulator, Faults, IssuerConfig, IssuerFaults, KsaToken};

use crate::common::{IDENTITY, get};

#[tokio::test]
async fn metadata_server_example() -> std::io::Result<()> {
    let emulator = Emulator::start(Config {
        token_lifetime: Duration::from_secs(60),
        ..Config::default()
    })
    .await?;
    // The value for GCE_METADATA_HOST.
    let host = emulator.host();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    emulator.set_faults(Faults {
        server_errors: 2,
        ..Faults::default()
    });
    let url = format!("{IDENTITY}?audience=sts.amazonaws.com");
    let statuses = [
        get(&emulator.base_url(), &url).await.unwrap().status,
        get(&emulator.base_url(), &url).await.unwrap().status,
        get(&emulator.base_url(), &url).await.unwrap().status,
    ];
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(emulator.tokens_issued(), 1);
    assert_eq!(emulator.jwks()["keys"].as_array().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn cluster_issuer_example() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ca_file, token_file) = (dir.path().join("ca.pem"), dir.path().join("token"));
    let issuer = ClusterIssuer::start(IssuerConfig {
        project_id: "acme".into(),
        location: "europe-west1".into(),
        cluster: "prod".into(),
        ..IssuerConfig::default()
    })
    .await?;
    std::fs::write(&ca_file, issuer.ca_pem())?;
    let token = KsaToken {
        lifetime: Duration::from_secs(600),
        ..KsaToken::new("apps", "reports")
    };
    let projected = issuer.project(&token_file, token.clone()).await?;
    assert_eq!(projected.path(), token_file);
    let jwt = issuer.mint(&token)?;
    assert_eq!(jwt.split('.').count(), 3);
    assert!(
        issuer
            .url()
            .ends_with("/v1/projects/acme/locations/europe-west1/clusters/prod")
    );
    let old_kid = issuer.kid();
    issuer.rotate_key().await?;
    assert_ne!(issuer.kid(), old_kid);
    issuer.set_faults(IssuerFaults {
        unavailable: true,
        ..IssuerFaults::default()
    });
    assert_eq!(issuer.stats().discovery_requests, 0);
    Ok(())
}
