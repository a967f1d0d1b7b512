//! Each fault mode gives GKE's status and body, and faults change at runtime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{EMAIL, IDENTITY, client, get, send, verify};
use gke_metadata_emulator::{Config, Emulator, Faults};

fn identity(audience: &str) -> String {
    format!("{IDENTITY}?audience={audience}")
}

async fn start(faults: Faults) -> Emulator {
    Emulator::start(Config {
        faults,
        ..Config::default()
    })
    .await
    .expect("start")
}

#[tokio::test]
async fn ksa_not_annotated_is_404_and_email_is_the_pool() {
    let emulator = start(Faults {
        ksa_not_annotated: true,
        ..Faults::default()
    })
    .await;
    let answer = get(&emulator.base_url(), &identity("a")).await.expect("answer");
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.body,
        "Your Kubernetes service account (gke-aws/verifier) is not annotated with a target Google \
         service account, which is a requirement for retrieving Identity Tokens using Workload \
         Identity.\nPlease add the iam.gke.io/gcp-service-account=[GSA_NAME]@[PROJECT_ID] annotation \
         to your Kubernetes service account.\nRefer to \
         https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity\n"
    );
    let email = get(&emulator.base_url(), EMAIL).await.expect("answer");
    assert_eq!((email.status, email.body.as_str()), (200, "demo-project.svc.id.goog"));
    assert_eq!(emulator.tokens_issued(), 0);
}

#[tokio::test]
async fn binding_missing_is_403_with_the_iam_message() {
    let emulator = start(Faults {
        binding_missing: true,
        ..Faults::default()
    })
    .await;
    let answer = get(&emulator.base_url(), &identity("a")).await.expect("answer");
    assert_eq!(answer.status, 403);
    assert!(answer.body.starts_with(
        "Unable to generate identity token; IAM returned 403 Forbidden: Permission \
         'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).\n\
         This error could be caused by a missing IAM policy binding on the target IAM service account.\n"
    ));
    assert!(answer.body.contains("workload-identity#authenticating_to"));
    // The annotation is there: the email is still the GSA's.
    let email = get(&emulator.base_url(), EMAIL).await.expect("answer");
    assert_eq!(email.body, "verifier@demo-project.iam.gserviceaccount.com");
    assert_eq!(emulator.tokens_issued(), 0);
}

#[tokio::test]
async fn server_errors_are_a_burst_of_503_then_tokens() {
    let emulator = start(Faults {
        server_errors: 2,
        ..Faults::default()
    })
    .await;
    let base = emulator.base_url();
    for _ in 0..2 {
        assert_eq!(get(&base, &identity("a")).await.expect("answer").status, 503);
    }
    assert_eq!(emulator.faults().server_errors, 0);
    let answer = get(&base, &identity("a")).await.expect("answer");
    assert_eq!(answer.status, 200);
    verify(&answer.body, &emulator.jwks());
    assert_eq!(emulator.tokens_issued(), 1);
}

#[tokio::test]
async fn html_and_garbage_bodies_are_200_without_a_jwt() {
    let emulator = start(Faults {
        html_body: true,
        ..Faults::default()
    })
    .await;
    let answer = get(&emulator.base_url(), &identity("a")).await.expect("answer");
    assert_eq!(answer.status, 200);
    assert!(answer.body.starts_with("<!DOCTYPE html>"), "{}", answer.body);

    emulator.set_faults(Faults {
        garbage_body: true,
        ..Faults::default()
    });
    let answer = get(&emulator.base_url(), &identity("a")).await.expect("answer");
    assert_eq!(answer.status, 200);
    assert_ne!(answer.body.split('.').count(), 3, "{}", answer.body);
    assert_eq!(emulator.tokens_issued(), 0);
}

#[tokio::test]
async fn expired_tokens_are_signed_but_past_their_exp() {
    let emulator = start(Faults {
        expired_tokens: true,
        ..Faults::default()
    })
    .await;
    let answer = get(&emulator.base_url(), &identity("a")).await.expect("answer");
    let (_, claims) = verify(&answer.body, &emulator.jwks());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let (iat, exp) = (
        claims["iat"].as_u64().expect("iat"),
        claims["exp"].as_u64().expect("exp"),
    );
    assert!(exp < now, "exp {exp} is not in the past (now {now})");
    assert_eq!(exp - iat, 3600);
    assert_eq!(emulator.tokens_issued(), 1);
}

#[tokio::test]
async fn refuse_drops_connections_until_switched_off() {
    let emulator = start(Faults::default()).await;
    let base = emulator.base_url();
    assert_eq!(get(&base, &identity("a")).await.expect("answer").status, 200);

    emulator.set_faults(Faults {
        refuse: true,
        ..Faults::default()
    });
    assert!(get(&base, &identity("a")).await.is_err());
    assert!(get(&base, "/").await.is_err());
    // The control endpoints and the JWKS stay up, so an outage can be ended.
    assert_eq!(get(&base, "/emulator/v1/stats").await.expect("answer").status, 200);

    emulator.set_faults(Faults::default());
    assert_eq!(get(&base, &identity("a")).await.expect("answer").status, 200);
    assert_eq!(emulator.tokens_issued(), 2);
}

#[tokio::test]
async fn not_ready_drops_connections_then_serves() {
    let config = Config {
        not_ready_for: Duration::from_secs(2),
        ..Config::default()
    };
    let emulator = Emulator::start(config).await.expect("start");
    let base = emulator.base_url();
    assert!(
        get(&base, &identity("a")).await.is_err(),
        "served during the start-up period"
    );
    // Retry as a client would, with a bound; the period ends after 2 s.
    let mut served = None;
    for _ in 0..200 {
        if let Ok(answer) = get(&base, &identity("a")).await {
            served = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served.expect("served after the start-up period").status, 200);
    assert_eq!(emulator.tokens_issued(), 1);
}

#[tokio::test]
async fn slow_delays_but_answers() {
    let delay = Duration::from_millis(300);
    let emulator = start(Faults {
        slow: Some(delay),
        ..Faults::default()
    })
    .await;
    let asked = std::time::Instant::now();
    let answer = get(&emulator.base_url(), &identity("a")).await.expect("answer");
    assert_eq!(answer.status, 200);
    // A lower bound: it cannot pass by luck if the delay is skipped, nor fail on a slow machine.
    assert!(asked.elapsed() >= delay, "answered after {:?}", asked.elapsed());
}

#[tokio::test]
async fn faults_change_over_the_control_endpoint() {
    let emulator = start(Faults::default()).await;
    let base = emulator.base_url();
    // No Metadata-Flavor needed here: scripts use curl plainly.
    let put = client()
        .put(format!("{base}/emulator/v1/faults"))
        .body(r#"{"binding_missing": true, "slow_ms": 5}"#);
    let answer = send(put).await.expect("answer");
    assert_eq!(answer.status, 200);
    let echoed: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(
        (echoed["binding_missing"].as_bool(), echoed["slow_ms"].as_u64()),
        (Some(true), Some(5))
    );
    assert_eq!(
        emulator.faults(),
        Faults {
            binding_missing: true,
            slow: Some(Duration::from_millis(5)),
            ..Faults::default()
        }
    );
    assert_eq!(get(&base, &identity("a")).await.expect("answer").status, 403);

    let bad = client()
        .put(format!("{base}/emulator/v1/faults"))
        .body(r#"{"refused": true}"#);
    assert_eq!(send(bad).await.expect("answer").status, 400);

    let reset = client().put(format!("{base}/emulator/v1/faults")).body("{}");
    assert_eq!(send(reset).await.expect("answer").status, 200);
    assert_eq!(get(&base, &identity("a")).await.expect("answer").status, 200);
    let stats = send(client().get(format!("{base}/emulator/v1/stats")))
        .await
        .expect("answer");
    let stats: serde_json::Value = serde_json::from_str(&stats.body).expect("JSON");
    assert_eq!(stats["tokens_issued"], 1);
    let current = send(client().get(format!("{base}/emulator/v1/faults")))
        .await
        .expect("answer");
    assert_eq!(
        serde_json::from_str::<Faults>(&current.body).expect("faults"),
        Faults::default()
    );
}
