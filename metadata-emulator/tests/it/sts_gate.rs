//! The STS gate in front of real moto: AWS's web-identity refusals from what moto's IAM holds,
//! and moto's own answers for everything that passes.

use gke_metadata_emulator::{ClusterIssuer, IssuerConfig, IssuerHandle, KsaToken, StsGate};
use serde_json::json;

use crate::common::{Answer, Moto, client, send};

const ISSUER: &str = "https://container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/prod";
const HOST_PATH: &str = "container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/prod";
const PROVIDER_ARN: &str = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/prod";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ledger-reader";

/// A token as GKE's issuer `iss` signs it for `token`.
fn token_from(issuer: &IssuerHandle, iss: &str, token: &KsaToken) -> String {
    let mut claims = issuer.claims(token);
    claims.iss = iss.to_owned();
    issuer.sign(&claims).expect("signed")
}

async fn assume(gate: &StsGate, token: &str) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", ROLE_ARN)
        .append_pair("RoleSessionName", "gate-test")
        .append_pair("WebIdentityToken", token)
        .finish();
    let request = client()
        .post(gate.endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    send(request).await.expect("the gate answers")
}

fn expect_refusal(answer: &Answer, status: u16, code: &str, message: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(answer.body.contains(&format!("<Code>{code}</Code>")), "{}", answer.body);
    assert!(answer.body.contains(message), "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_as_aws_from_what_motos_iam_holds_and_passes_the_rest_to_moto() {
    let moto = Moto::start();
    let gate = StsGate::start(&moto.endpoint).await.expect("gate starts");
    let issuer = ClusterIssuer::start(IssuerConfig::default())
        .await
        .expect("issuer starts");
    let ledger = KsaToken::new("payments", "ledger");
    let token = token_from(&issuer, ISSUER, &ledger);

    // No provider registered yet: what AWS says, and moto never asked.
    let answer = assume(&gate, &token).await;
    expect_refusal(
        &answer,
        400,
        "InvalidIdentityToken",
        &format!("No OpenIDConnect provider found in your account for {ISSUER}"),
    );

    let created = moto
        .iam(&[
            ("Action", "CreateOpenIDConnectProvider"),
            ("Url", ISSUER),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
            ("ThumbprintList.member.1", "08745487e891c19e3078c1f2a07e452950ef36f6"),
        ])
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER_ARN},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{HOST_PATH}:sub"): "system:serviceaccount:payments:ledger",
            format!("{HOST_PATH}:aud"): "sts.amazonaws.com",
        }},
    }]});
    let role = moto
        .iam(&[
            ("Action", "CreateRole"),
            ("RoleName", "ledger-reader"),
            ("AssumeRolePolicyDocument", &policy.to_string()),
        ])
        .await;
    assert_eq!(role.status, 200, "{}", role.body);

    // Allowed: moto's own answer comes back.
    let answer = assume(&gate, &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("<AssumedRoleUser>"), "{}", answer.body);
    assert!(
        answer.body.contains("assumed-role/ledger-reader/gate-test"),
        "{}",
        answer.body
    );

    let other_audience = KsaToken {
        audiences: vec!["vault".to_owned()],
        ..ledger.clone()
    };
    let cases = [
        (
            token_from(&issuer, &ISSUER.replace("/prod", "/staging"), &ledger),
            400,
            "InvalidIdentityToken",
            "No OpenIDConnect provider found in your account for",
        ),
        (
            token_from(&issuer, ISSUER, &other_audience),
            400,
            "InvalidIdentityToken",
            "Incorrect token audience",
        ),
        (
            token_from(&issuer, ISSUER, &KsaToken::new("payments", "intruder")),
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ),
        ("not-a-jwt".to_owned(), 400, "InvalidIdentityToken", "not a valid JWT"),
    ];
    for (token, status, code, message) in cases {
        expect_refusal(&assume(&gate, &token).await, status, code, message);
    }
    let mut expired = issuer.claims(&ledger);
    expired.iss = ISSUER.to_owned();
    expired.exp = expired.iat - 1;
    let answer = assume(&gate, &issuer.sign(&expired).unwrap()).await;
    expect_refusal(&answer, 400, "ExpiredTokenException", "Token expired");

    // Other calls go to moto unchanged.
    let list = client()
        .post(gate.endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body("Action=ListRoles&Version=2010-05-08");
    let list = send(list).await.expect("answer");
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("<RoleName>ledger-reader</RoleName>"),
        "{}",
        list.body
    );

    // The provider deleted: refused again.
    let deleted = moto
        .iam(&[
            ("Action", "DeleteOpenIDConnectProvider"),
            ("OpenIDConnectProviderArn", PROVIDER_ARN),
        ])
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    expect_refusal(
        &assume(&gate, &token).await,
        400,
        "InvalidIdentityToken",
        "No OpenIDConnect provider found",
    );
    assert_eq!(gate.counts(), (7, 1));
}
