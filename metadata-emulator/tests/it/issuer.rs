//! The cluster issuer: discovery and JWKS over HTTPS, KSA-shaped tokens, key rotation, faults.

use std::time::{SystemTime, UNIX_EPOCH};

use gke_metadata_emulator::{ClusterIssuer, IssuerConfig, IssuerFaults, KsaToken};
use serde_json::{Value, json};

use crate::common::{https_client, send, verify};

async fn get_json(issuer: &ClusterIssuer, url: &str) -> (u16, Value) {
    let answer = send(https_client(issuer.ca_pem()).get(url))
        .await
        .expect("an HTTPS answer");
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    (answer.status, serde_json::from_str(&answer.body).expect("JSON"))
}

#[tokio::test]
async fn serves_gkes_discovery_document_and_jwks_over_https_trusted_through_its_ca() {
    let issuer = ClusterIssuer::start(IssuerConfig {
        project_id: "acme-prod".to_owned(),
        location: "europe-west1-b".to_owned(),
        cluster: "payments".to_owned(),
        ..IssuerConfig::default()
    })
    .await
    .expect("issuer starts");
    let port = issuer.addr().port();
    let url = format!("https://127.0.0.1:{port}/v1/projects/acme-prod/locations/europe-west1-b/clusters/payments");
    assert_eq!(issuer.url(), url);
    assert_eq!(issuer.host_path(), url.trim_start_matches("https://"));

    let (status, discovery) = get_json(&issuer, &issuer.discovery_url()).await;
    assert_eq!(status, 200);
    assert_eq!(
        discovery,
        json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["iss", "sub", "kubernetes.io"],
            "grant_types": ["urn:kubernetes:grant_type:programmatic_authorization"],
        })
    );
    let (status, jwks) = get_json(&issuer, &issuer.jwks_uri()).await;
    assert_eq!(status, 200);
    assert_eq!(jwks, issuer.jwks());
    assert_eq!(jwks["keys"][0]["kid"], issuer.kid().as_str());
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    let stats = issuer.stats();
    assert_eq!((stats.discovery_requests, stats.jwks_requests), (1, 1));
    // Only the issuer's own paths are served.
    let other = send(https_client(issuer.ca_pem()).get(format!("https://127.0.0.1:{port}/jwks")))
        .await
        .expect("answer");
    assert_eq!(other.status, 404);
    // Without the test CA, the certificate is not trusted.
    let error = send(https_client("").get(issuer.discovery_url()))
        .await
        .expect_err("untrusted certificate");
    assert!(error.is_connect(), "{error:?}");
}

#[test]
fn names_that_do_not_fit_a_url_are_refused_with_the_field() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime
        .block_on(ClusterIssuer::start(IssuerConfig {
            cluster: "a/b".to_owned(),
            ..IssuerConfig::default()
        }))
        .expect_err("a slash is refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().starts_with("cluster \"a/b\""), "{error}");
}

#[tokio::test]
async fn mints_ksa_shaped_tokens_that_verify_against_the_served_jwks() {
    let issuer = ClusterIssuer::start(IssuerConfig::default())
        .await
        .expect("issuer starts");
    let token = KsaToken {
        audiences: vec!["sts.amazonaws.com".to_owned(), "other".to_owned()],
        ..KsaToken::new("apps", "reports")
    };
    let jwt = issuer.mint(&token).expect("minted");
    let (_, jwks) = get_json(&issuer, &issuer.jwks_uri()).await;
    let (header, claims) = verify(&jwt, &jwks);
    assert_eq!(header, json!({ "alg": "RS256", "kid": issuer.kid() }));
    assert_eq!(claims["iss"], issuer.url());
    assert_eq!(claims["sub"], "system:serviceaccount:apps:reports");
    assert_eq!(claims["aud"], json!(["sts.amazonaws.com", "other"]));
    let k8s = &claims["kubernetes.io"];
    assert_eq!(k8s["namespace"], "apps");
    assert_eq!(k8s["serviceaccount"]["name"], "reports");
    assert_eq!(k8s["pod"]["name"], "reports-0");
    assert_eq!(k8s["pod"]["uid"].as_str().unwrap().len(), 36);
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert_eq!((exp - iat, claims["nbf"].as_u64().unwrap()), (3600, iat));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(iat.abs_diff(now) <= 5, "iat {iat} is now ({now})");

    let expired = crate::common::claims_of(&issuer.mint_expired(&token).unwrap());
    assert!(expired["exp"].as_u64().unwrap() + 3000 < now, "{expired}");
    // Altered claims are signed as given.
    let mut claims = issuer.claims(&token);
    claims.aud = vec!["wrong-audience".to_owned()];
    let (_, signed) = verify(&issuer.sign(&claims).unwrap(), &jwks);
    assert_eq!(signed["aud"], json!(["wrong-audience"]));
    assert_eq!(issuer.stats().tokens_minted, 3);
}

#[tokio::test]
async fn a_rotated_key_leaves_earlier_tokens_with_a_kid_the_jwks_no_longer_lists() {
    let issuer = ClusterIssuer::start(IssuerConfig::default())
        .await
        .expect("issuer starts");
    let before = issuer.mint(&KsaToken::default()).unwrap();
    let old_kid = issuer.kid();
    issuer.rotate_key().await.expect("rotated");
    assert_ne!(issuer.kid(), old_kid);
    let (_, jwks) = get_json(&issuer, &issuer.jwks_uri()).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [issuer.kid()]);
    let header = crate::common::claims_of(&format!("x.{}", before.split('.').next().unwrap()));
    assert_eq!(header["kid"], old_kid.as_str());
    verify(&issuer.mint(&KsaToken::default()).unwrap(), &jwks);
}

#[tokio::test]
async fn faults_fail_discovery_and_jwks_until_cleared_while_control_keeps_working() {
    let issuer = ClusterIssuer::start(IssuerConfig {
        faults: IssuerFaults {
            unavailable: true,
            ..IssuerFaults::default()
        },
        ..IssuerConfig::default()
    })
    .await
    .expect("issuer starts");
    for url in [issuer.discovery_url(), issuer.jwks_uri()] {
        let (status, body) = get_json(&issuer, &url).await;
        assert_eq!((status, &body["error"]["status"]), (503, &json!("UNAVAILABLE")));
    }
    // A burst, through the control endpoint as the binary's scripts use it.
    let control = |path: &str| format!("https://{}/emulator/v1/{path}", issuer.addr());
    let put = https_client(issuer.ca_pem())
        .put(control("faults"))
        .body(r#"{"server_errors": 2}"#);
    assert_eq!(send(put).await.unwrap().status, 200);
    let statuses = [
        get_json(&issuer, &issuer.discovery_url()).await.0,
        get_json(&issuer, &issuer.jwks_uri()).await.0,
        get_json(&issuer, &issuer.discovery_url()).await.0,
    ];
    assert_eq!(statuses, [503, 503, 200]);

    issuer.set_faults(IssuerFaults {
        refuse: true,
        ..IssuerFaults::default()
    });
    let refused = send(https_client(issuer.ca_pem()).get(issuer.discovery_url())).await;
    assert!(refused.is_err(), "{refused:?}");
    let stats = send(https_client(issuer.ca_pem()).get(control("stats"))).await.unwrap();
    let stats: Value = serde_json::from_str(&stats.body).unwrap();
    assert_eq!(stats["discovery_requests"], 4);
    let old_kid = issuer.kid();
    let rotated = send(https_client(issuer.ca_pem()).post(control("rotate-key")))
        .await
        .unwrap();
    assert_eq!(rotated.status, 200);
    assert_ne!(issuer.kid(), old_kid);
    let bad = https_client(issuer.ca_pem())
        .put(control("faults"))
        .body(r#"{"refused": true}"#);
    assert_eq!(send(bad).await.unwrap().status, 400);

    issuer.set_faults(IssuerFaults::default());
    assert_eq!(get_json(&issuer, &issuer.discovery_url()).await.0, 200);
}

#[tokio::test]
async fn a_public_host_is_served_through_the_issuers_own_connect_proxy() {
    let issuer = ClusterIssuer::start(IssuerConfig {
        public_host: Some("container.googleapis.com".to_owned()),
        ..IssuerConfig::default()
    })
    .await
    .expect("issuer starts");
    let url = "https://container.googleapis.com/v1/projects/demo-project/locations/europe-west1/clusters/demo-cluster";
    assert_eq!(issuer.url(), url);
    assert_eq!(issuer.proxy_url(), format!("http://{}", issuer.addr()));
    let through_proxy = |ca: &str| {
        let roots = reqwest::Certificate::from_pem_bundle(ca.as_bytes()).expect("PEM");
        reqwest::Client::builder()
            .tls_certs_only(roots)
            .proxy(reqwest::Proxy::https(issuer.proxy_url()).expect("proxy URL"))
            .build()
            .expect("client")
    };
    let answer = send(through_proxy(issuer.ca_pem()).get(issuer.discovery_url()))
        .await
        .expect("discovery through the proxy");
    assert_eq!(answer.status, 200);
    let discovery: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(discovery["jwks_uri"], format!("{url}/jwks"));
    assert_eq!(
        crate::common::claims_of(&issuer.mint(&KsaToken::default()).unwrap())["iss"],
        url
    );
    // The proxy tunnels to the issuer's host only.
    let elsewhere = send(through_proxy(issuer.ca_pem()).get("https://sts.amazonaws.com/")).await;
    assert!(elsewhere.is_err(), "{elsewhere:?}");
    // Plain HTTP that is not CONNECT is told what the port speaks.
    let plain = send(crate::common::client().get(format!("http://{}/", issuer.addr())))
        .await
        .expect("answer");
    assert_eq!(plain.status, 405);
    assert_eq!(issuer.stats().discovery_requests, 1);
}
