//! A healthy emulator: the Metadata-Flavor rule, the paths, and the tokens.

use std::time::Duration;

use crate::common::{EMAIL, IDENTITY, client, get, send, verify};
use gke_metadata_emulator::{Clock, Config, Emulator};

const MISSING_FLAVOR: &str =
    "GKE Metadata Server encountered an error: Missing required header \"Metadata-Flavor\": \"Google\"\n";

#[tokio::test]
async fn requests_without_metadata_flavor_are_forbidden() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let base = emulator.base_url();
    for path in ["/", EMAIL, &format!("{IDENTITY}?audience=a")] {
        let answer = send(client().get(format!("{base}{path}"))).await.expect("answer");
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(answer.body, MISSING_FLAVOR);
        assert_eq!(answer.flavor.as_deref(), Some("Google"));
        assert_eq!(answer.server.as_deref(), Some("GKE Metadata Server"));
    }
    // The legacy header and a wrong value don't count.
    let legacy = client()
        .get(format!("{base}{EMAIL}"))
        .header("X-Google-Metadata-Request", "True");
    assert_eq!(send(legacy).await.expect("answer").status, 403);
    let wrong = client()
        .get(format!("{base}{EMAIL}"))
        .header("Metadata-Flavor", "Amazon");
    assert_eq!(send(wrong).await.expect("answer").status, 403);
    assert_eq!(emulator.tokens_issued(), 0);
}

#[tokio::test]
async fn forwarded_requests_are_forbidden() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let request = client()
        .get(format!("{}{IDENTITY}?audience=a", emulator.base_url()))
        .header("Metadata-Flavor", "Google")
        .header("X-Forwarded-For", "10.0.0.1");
    let answer = send(request).await.expect("answer");
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("X-Forwarded-For"), "{}", answer.body);
    assert_eq!(emulator.tokens_issued(), 0);
}

#[tokio::test]
async fn every_answer_carries_gkes_headers() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let base = emulator.base_url();
    for path in [
        "/",
        "/computeMetadata/v1/nope",
        IDENTITY,
        "/oauth2/v3/certs",
        "/emulator/v1/stats",
    ] {
        let answer = get(&base, path).await.expect("answer");
        assert_eq!(answer.flavor.as_deref(), Some("Google"), "{path}");
        assert_eq!(answer.server.as_deref(), Some("GKE Metadata Server"), "{path}");
    }
}

#[tokio::test]
async fn serves_the_pod_identity_paths() {
    let config = Config {
        hostname: "node-1".to_owned(),
        ..Config::default()
    };
    let emulator = Emulator::start(config).await.expect("start");
    let base = emulator.base_url();
    let gsa = "verifier@demo-project.iam.gserviceaccount.com";
    let cases = [
        ("/", "computeMetadata/\n"),
        (EMAIL, gsa),
        ("/computeMetadata/v1/project/project-id", "demo-project"),
        ("/computeMetadata/v1/instance/hostname", "node-1"),
        (
            "/computeMetadata/v1/instance/service-accounts/default/aliases",
            "default\n",
        ),
        (
            "/computeMetadata/v1/instance/service-accounts/",
            &format!("default/\n{gsa}/\n"),
        ),
        (
            &format!("/computeMetadata/v1/instance/service-accounts/{gsa}/email"),
            gsa,
        ),
    ];
    for (path, expected) in cases {
        let answer = get(&base, path).await.expect("answer");
        assert_eq!((answer.status, answer.body.as_str()), (200, expected), "{path}");
        assert_eq!(answer.content_type.as_deref(), Some("application/text"), "{path}");
    }
    let recursive = get(
        &base,
        "/computeMetadata/v1/instance/service-accounts/default/?recursive=true",
    )
    .await
    .expect("answer");
    let info: serde_json::Value = serde_json::from_str(&recursive.body).expect("JSON");
    assert_eq!(info["email"], gsa);
    assert_eq!(info["aliases"][0], "default");
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let base = emulator.base_url();
    for path in [
        "/computeMetadata/v1/instance/zone",
        "/computeMetadata/v1/instance/service-accounts/other/email",
    ] {
        let answer = get(&base, path).await.expect("answer");
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (404, "404 page not found\n"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn identity_without_audience_is_400() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    for query in ["", "?audience=", "?format=full"] {
        let answer = get(&emulator.base_url(), &format!("{IDENTITY}{query}"))
            .await
            .expect("answer");
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.body, "non-empty audience parameter required\n");
    }
    assert_eq!(emulator.tokens_issued(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn standard_token_has_googles_claims_and_verifies() {
    let config = Config {
        token_lifetime: Duration::from_secs(60),
        ..Config::default()
    };
    let emulator = Emulator::start(config).await.expect("start");
    let audience = "sts.amazonaws.com";
    let answer = get(&emulator.base_url(), &format!("{IDENTITY}?audience={audience}"))
        .await
        .expect("answer");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert!(!answer.body.ends_with('\n'));
    let (header, claims) = verify(&answer.body, &emulator.jwks());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], emulator.jwks()["keys"][0]["kid"]);
    assert_eq!(claims["iss"], "https://accounts.google.com");
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["sub"], "112233445566778899001");
    assert_eq!(claims["azp"], claims["sub"]);
    assert_eq!(claims.get("email"), None);
    assert_eq!(claims.get("email_verified"), None);
    let (iat, exp) = (
        claims["iat"].as_u64().expect("iat"),
        claims["exp"].as_u64().expect("exp"),
    );
    assert_eq!(exp - iat, 60);
    assert_eq!(emulator.tokens_issued(), 1);
}

#[tokio::test]
async fn full_format_adds_the_email() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let path = format!("{IDENTITY}?audience=https%3A%2F%2Fexample.com&format=full&licenses=FALSE");
    let answer = get(&emulator.base_url(), &path).await.expect("answer");
    let (_, claims) = verify(&answer.body, &emulator.jwks());
    assert_eq!(claims["aud"], "https://example.com");
    assert_eq!(claims["email"], "verifier@demo-project.iam.gserviceaccount.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        3600
    );
}

#[tokio::test]
async fn jwks_is_served_over_http_without_metadata_flavor() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let answer = send(client().get(format!("{}/oauth2/v3/certs", emulator.base_url())))
        .await
        .expect("answer");
    assert_eq!(answer.status, 200);
    let jwks: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(jwks, emulator.jwks());
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
}

#[tokio::test]
async fn counts_tokens_across_requests() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    for _ in 0..3 {
        let answer = get(&emulator.base_url(), &format!("{IDENTITY}?audience=a"))
            .await
            .expect("answer");
        assert_eq!(answer.status, 200);
    }
    assert_eq!(emulator.tokens_issued(), 3);
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let addr = emulator.addr();
    emulator.shutdown().await;
    assert!(get(&format!("http://{addr}"), "/").await.is_err());
    // The same port can be bound again.
    let again = Emulator::start_on(Config::default(), addr)
        .await
        .expect("restart on the same port");
    assert_eq!(again.addr(), addr);
}

#[test]
fn blocking_emulator_serves_synchronous_callers() {
    let emulator = Emulator::start_blocking(Config::default()).expect("start");
    let host = emulator.host();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answer = runtime.block_on(get(&format!("http://{host}"), EMAIL)).expect("answer");
    assert_eq!(answer.body, "verifier@demo-project.iam.gserviceaccount.com");
    let token = runtime.block_on(get(&format!("http://{host}"), &format!("{IDENTITY}?audience=a")));
    verify(&token.expect("answer").body, &emulator.jwks());
    assert_eq!(emulator.tokens_issued(), 1);
    drop(emulator);
    assert!(runtime.block_on(get(&format!("http://{host}"), "/")).is_err());
}

#[tokio::test(start_paused = true)]
async fn tokio_clock_dates_tokens_by_paused_time() {
    let emulator = Emulator::start(Config {
        clock: Clock::Tokio,
        token_lifetime: Duration::from_secs(60),
        ..Config::default()
    })
    .await
    .expect("emulator starts");
    let iat = async || {
        let answer = get(&emulator.base_url(), &format!("{IDENTITY}?audience=a"))
            .await
            .expect("answer");
        let (_, claims) = verify(&answer.body, &emulator.jwks());
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 60);
        claims["iat"].as_u64().expect("iat")
    };
    let first = iat().await;
    tokio::time::advance(Duration::from_secs(86_400)).await;
    let second = iat().await;
    // A day of paused time passes in no real time; the wall clock would not have moved a day.
    assert!(
        (86_400..86_400 + 5).contains(&(second - first)),
        "{first} then {second}"
    );
}
