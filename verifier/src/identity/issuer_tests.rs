//! The issuer check against a real HTTP server on 127.0.0.1 (TLS to a real issuer stand-in
//! is covered by `tests/it/cluster_mode.rs`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use aws_smithy_http_client::tls::TlsContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::identity::id_token::tests::token_with;
use crate::identity::issuer_fetch::{ATTEMPTS, MAX_DOCUMENT_BYTES};
use crate::identity::issuer_fetch::{public_name, without_userinfo};
use crate::identity::ksa_token::tests::projected_by;

/// A real HTTP server on 127.0.0.1 answering each path with a fixed response, counting
/// requests.
struct Server {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    routes: impl Fn(&str, &str) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (routes, counted, shown) = (Arc::new(routes), hits.clone(), base.clone());
    let task = tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = vec![0; 4096];
            let n = stream.read(&mut head).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&head[..n]);
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            *counted.lock().unwrap().entry(path.clone()).or_default() += 1;
            let (status, headers, body) = routes(&shown, &path);
            let mut response = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    Server { base, hits, task }
}

fn discovery(base: &str, issuer: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}","jwks_uri":"{base}/jwks","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}}"#
    )
}

/// The issuer's two keys (`key-1`, `key-0`) and a third it does not publish.
static KEYS: LazyLock<[KeyPair; 3]> =
    LazyLock::new(|| [(); 3].map(|()| KeyPair::generate(KeySize::Rsa2048).expect("RSA key")));

fn jwk(kid: &str, key: &KeyPair) -> serde_json::Value {
    let public = key.public_key();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    serde_json::json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero())})
}

fn jwks() -> String {
    serde_json::json!({"keys": [jwk("key-1", &KEYS[0]), jwk("key-0", &KEYS[1])]}).to_string()
}

/// `unsigned` (a token as `projected_by` builds it) signed again with `key`.
fn signed_with(unsigned: &str, key: &KeyPair) -> String {
    let (input, _) = unsigned.rsplit_once('.').unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An issuer at `/ok`, and the ways one goes wrong at other paths.
async fn issuer() -> Server {
    serve(|base, path| match path {
        "/ok/.well-known/openid-configuration" => (200, vec![], discovery(base, &format!("{base}/ok"))),
        "/jwks" => (200, vec![], jwks()),
        "/moved/.well-known/openid-configuration" => (
            302,
            vec![("location", "/ok/.well-known/openid-configuration".into())],
            String::new(),
        ),
        "/away/.well-known/openid-configuration" => {
            let other = base.replace("127.0.0.1", "localhost");
            (
                302,
                vec![("location", format!("{other}/ok/.well-known/openid-configuration"))],
                String::new(),
            )
        }
        "/loop/.well-known/openid-configuration" => (301, vec![("location", path.into())], String::new()),
        "/big/.well-known/openid-configuration" => (
            200,
            vec![],
            format!(
                r#"{{"jwks_uri":"{base}/jwks","pad":"{}"}}"#,
                "x".repeat(MAX_DOCUMENT_BYTES)
            ),
        ),
        "/html/.well-known/openid-configuration" => (200, vec![], "<html>proxy login</html>".into()),
        "/failing/.well-known/openid-configuration" => (
            503,
            vec![],
            "backend\r\nFAIL forged line \x1b[31m eyJhbGciOi.eyJzdWIi.c2ln".into(),
        ),
        "/plain-jwks/.well-known/openid-configuration" => {
            (200, vec![], r#"{"jwks_uri":"ftp://example.com/jwks"}"#.into())
        }
        "/metadata-jwks/.well-known/openid-configuration" => (
            200,
            vec![],
            r#"{"jwks_uri":"http://169.254.169.254/computeMetadata/v1/"}"#.into(),
        ),
        "/private-jwks/.well-known/openid-configuration" => {
            (200, vec![], r#"{"jwks_uri":"http://10.0.0.7/jwks"}"#.into())
        }
        "/internal-jwks/.well-known/openid-configuration" => (
            200,
            vec![],
            r#"{"jwks_uri":"http://metadata.google.internal/jwks"}"#.into(),
        ),
        "/localhost-jwks/.well-known/openid-configuration" => {
            (200, vec![], r#"{"jwks_uri":"http://localhost/jwks"}"#.into())
        }
        "/userinfo-redirect/.well-known/openid-configuration" => {
            let with_userinfo = base.replace("http://", "http://admin:hunter2@");
            (
                302,
                vec![(
                    "location",
                    format!("{with_userinfo}/ok/.well-known/openid-configuration"),
                )],
                String::new(),
            )
        }
        "/bad-type/.well-known/openid-configuration" => (200, vec![], format!(r#"{{"jwks_uri":"{base}/bad-keys"}}"#)),
        "/bad-keys" => (200, vec![], format!(r#"{{"keys":"{}"}}"#, "q".repeat(1000))),
        "/big-error/.well-known/openid-configuration" => (500, vec![], format!("<html>{}</html>", "e".repeat(3000))),
        _ => (404, vec![], "<html>404 page not found</html>".into()),
    })
    .await
}

/// A token from `iss` under `kid`, signed with the key the issuer publishes for it (`key-1`,
/// `key-0`), else with one it does not publish.
fn token(iss: &str, kid: &str) -> KsaToken {
    let key = match kid {
        "key-1" => &KEYS[0],
        "key-0" => &KEYS[1],
        _ => &KEYS[2],
    };
    KsaToken::decode(&signed_with(&unsigned(iss, kid), key)).unwrap()
}

fn unsigned(iss: &str, kid: &str) -> String {
    projected_by(iss, kid, r#"["sts.amazonaws.com"]"#, 0, i64::MAX)
}

fn client() -> IssuerClient {
    IssuerClient::with_context(TlsContext::default(), true)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test]
async fn finds_the_tokens_key_as_aws_would() {
    let server = issuer().await;
    let iss = format!("{}/ok", server.base);
    let check = client().check(&token(&iss, "key-1"), soon()).await.unwrap();
    assert_eq!(check.jwks_uri, format!("{}/jwks", server.base));
    assert_eq!(check.keys, 2);
    assert!(
        check.note.as_deref().unwrap().starts_with("issuer is not GKE's"),
        "{check:?}"
    );
    // A redirect on the same host is followed.
    let moved = client()
        .check(&token(&format!("{}/moved", server.base), "key-1"), soon())
        .await
        .unwrap();
    assert!(moved.note.unwrap().contains(&format!("names issuer \"{iss}\"")));
}

#[tokio::test]
async fn each_failure_is_diagnosed() {
    let server = issuer().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let b = &server.base;
    for (case, iss, kid, code, says) in [
        (
            "key rotated",
            format!("{b}/ok"),
            "key-2",
            "KeyNotInJwks",
            r#"["key-1", "key-0"]"#,
        ),
        (
            "no discovery",
            format!("{b}/none"),
            "key-1",
            "IssuerDiscoveryFailed",
            "HTTP 404",
        ),
        (
            "redirect to another host",
            format!("{b}/away"),
            "key-1",
            "IssuerDiscoveryFailed",
            "redirects to another host",
        ),
        (
            "redirect loop",
            format!("{b}/loop"),
            "key-1",
            "IssuerDiscoveryFailed",
            "more than 3 redirects",
        ),
        (
            "oversized",
            format!("{b}/big"),
            "key-1",
            "IssuerDiscoveryFailed",
            "larger than 65536 bytes",
        ),
        (
            "html",
            format!("{b}/html"),
            "key-1",
            "IssuerDiscoveryFailed",
            "not the expected JSON",
        ),
        (
            "jwks not https",
            format!("{b}/plain-jwks"),
            "key-1",
            "IssuerDiscoveryFailed",
            "jwks_uri is not an https:// URL",
        ),
        (
            "unreachable",
            format!("http://{closed}/x"),
            "key-1",
            "IssuerUnreachable",
            "Connection refused",
        ),
        (
            "not a URL",
            "container.googleapis.com/v1/projects/p".into(),
            "key-1",
            "IssuerNotHttps",
            "not a URL",
        ),
        (
            "with a query",
            format!("{b}/ok?x=1"),
            "key-1",
            "IssuerNotHttps",
            "a query",
        ),
    ] {
        let error = client().check(&token(&iss, kid), soon()).await.unwrap_err();
        assert_eq!((error.code.as_str(), error.stage), (code, STAGE), "{case}: {error}");
        assert!(error.message.contains(says), "{case}: {error}");
    }
    let production = IssuerClient::with_context(TlsContext::default(), false);
    let plain = production
        .check(&token(&format!("{b}/ok"), "key-1"), soon())
        .await
        .unwrap_err();
    assert_eq!(plain.code, "IssuerNotHttps", "{plain}");
}

#[tokio::test]
async fn server_errors_are_retried_then_diagnosed() {
    let server = issuer().await;
    let error = client()
        .check(&token(&format!("{}/failing", server.base), "key-1"), soon())
        .await
        .unwrap_err();
    assert_eq!(error.code, "IssuerDiscoveryFailed");
    // The body is the issuer's text: on one line, without control characters or tokens.
    assert!(
        error
            .message
            .ends_with(r#"HTTP 503, body "backend FAIL forged line [31m <redacted>""#),
        "{error}"
    );
    assert_eq!(
        server.hits.lock().unwrap()["/failing/.well-known/openid-configuration"],
        ATTEMPTS as usize
    );
}

#[tokio::test]
async fn the_hints_name_the_fix() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let error = client()
        .check(&token(&format!("http://{closed}/x"), "key-1"), soon())
        .await
        .unwrap_err();
    assert!(
        error.hint.contains(&format!("egress to {closed}")) && error.hint.contains("--skip-issuer-check"),
        "{}",
        error.hint
    );
    let server = issuer().await;
    let rotated = client()
        .check(&token(&format!("{}/ok", server.base), "key-9"), soon())
        .await
        .unwrap_err();
    assert!(rotated.hint.contains("rotated"), "{}", rotated.hint);
}

#[test]
fn gke_issuers_get_no_note() {
    let gke = "https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/c";
    assert_eq!(issuer_note(gke, Some(gke)), None);
    assert!(
        issuer_note("https://oidc.example.com", None)
            .unwrap()
            .contains("not GKE's")
    );
}

#[tokio::test]
async fn an_issuer_that_never_answers_ends_at_the_deadline() {
    // Accepts connections and reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let deadline = Instant::now() + Duration::from_millis(500);
    let error = client()
        .check(&token(&format!("http://{address}/x"), "key-1"), deadline)
        .await
        .unwrap_err();
    silent.abort();
    assert_eq!((error.code.as_str(), error.stage), ("Timeout", STAGE), "{error}");
    assert!(error.hint.contains("--skip-issuer-check"), "{}", error.hint);
}

#[tokio::test]
async fn the_signature_is_verified_as_aws_verifies_it() {
    let server = issuer().await;
    let iss = format!("{}/ok", server.base);
    assert!(
        client().check(&token(&iss, "key-0"), soon()).await.is_ok(),
        "the second key signs too"
    );
    // Claims altered after signing: the same signature, another subject.
    let whole = signed_with(&unsigned(&iss, "key-1"), &KEYS[0]);
    let [header, claims, signature]: [&str; 3] = whole.split('.').collect::<Vec<_>>().try_into().unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    let altered = claims.replace("team:reader", "team:admin");
    let altered = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(altered));
    // Another key published under the same kid: the unpublished key signs as "key-1".
    let reused_kid = signed_with(&unsigned(&iss, "key-1"), &KEYS[2]);
    for (case, raw) in [("altered", altered), ("another key under the same kid", reused_kid)] {
        let error = client()
            .check(&KsaToken::decode(&raw).unwrap(), soon())
            .await
            .unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.stage),
            ("SignatureInvalid", STAGE),
            "{case}: {error}"
        );
        assert!(error.message.contains(r#"kid "key-1""#), "{case}: {error}");
        assert!(
            error.hint.contains("InvalidIdentityToken") && error.hint.contains("--skip-issuer-check"),
            "{case}: {error}"
        );
    }
    // A kid-less token is checked against every usable key.
    let no_kid = signed_with(&token_with(r#"{"alg":"RS256"}"#, &claims), &KEYS[1]);
    assert!(
        client()
            .check(&KsaToken::decode(&no_kid).unwrap(), soon())
            .await
            .is_ok()
    );
    let no_kid = signed_with(&token_with(r#"{"alg":"RS256"}"#, &claims), &KEYS[2]);
    let error = client()
        .check(&KsaToken::decode(&no_kid).unwrap(), soon())
        .await
        .unwrap_err();
    assert_eq!(error.code, "SignatureInvalid", "{error}");
}

#[tokio::test]
async fn keys_are_fetched_only_where_aws_could_fetch_them() {
    let server = issuer().await;
    let b = &server.base;
    for (case, path, says) in [
        (
            "link-local metadata address",
            "metadata-jwks",
            "the address 169.254.169.254",
        ),
        ("private address", "private-jwks", "the address 10.0.0.7"),
        (
            "internal name",
            "internal-jwks",
            "metadata.google.internal, a name only a private network",
        ),
        (
            "localhost",
            "localhost-jwks",
            "localhost, a name only a private network",
        ),
    ] {
        let error = client()
            .check(&token(&format!("{b}/{path}"), "key-1"), soon())
            .await
            .unwrap_err();
        assert_eq!(error.code, "IssuerDiscoveryFailed", "{case}: {error}");
        assert!(error.message.contains(says), "{case}: {error}");
    }
    assert!(public_name(&Url::parse("https://keys.example.com/jwks").unwrap()).is_ok());
    let gke = Url::parse("https://container.googleapis.com/v1/projects/p/locations/l/clusters/c").unwrap();
    let elsewhere = keys_where_aws_fetches_them(&gke, Url::parse("https://keys.example.com/jwks").unwrap());
    assert!(elsewhere.unwrap_err().contains("not on container.googleapis.com"));
    let at_home = Url::parse("https://container.googleapis.com/v1/projects/p/locations/l/clusters/c/jwks").unwrap();
    assert!(keys_where_aws_fetches_them(&gke, at_home).is_ok());
}

#[tokio::test]
async fn userinfo_is_refused_and_never_echoed() {
    let server = issuer().await;
    let with_userinfo = server.base.replace("http://", "http://admin:hunter2@");
    let error = client()
        .check(&token(&format!("{with_userinfo}/ok"), "key-1"), soon())
        .await
        .unwrap_err();
    assert_eq!(error.code, "IssuerNotHttps", "{error}");
    assert!(
        error.message.contains("userinfo") && error.message.contains("<userinfo>@127.0.0.1"),
        "{error}"
    );
    let redirected = client()
        .check(&token(&format!("{}/userinfo-redirect", server.base), "key-1"), soon())
        .await
        .unwrap_err();
    assert!(redirected.message.contains("userinfo"), "{redirected}");
    for error in [error, redirected] {
        assert!(
            !error.to_string().contains("hunter2") && !error.to_string().contains("admin"),
            "{error}"
        );
    }
    assert_eq!(without_userinfo("not a url u:p@h"), "not a url u:p@h");
    assert_eq!(without_userinfo("https://u:p@h/x@y"), "https://<userinfo>@h/x@y");
}

#[tokio::test]
async fn peer_bodies_reach_the_report_only_as_a_short_excerpt() {
    let server = issuer().await;
    let long = client()
        .check(&token(&format!("{}/big-error", server.base), "key-1"), soon())
        .await
        .unwrap_err();
    assert!(long.message.contains("bytes in all"), "{long}");
    assert!(
        long.message.chars().count() < 400,
        "{} chars: {long}",
        long.message.chars().count()
    );
    let typed = client()
        .check(&token(&format!("{}/bad-type", server.base), "key-1"), soon())
        .await
        .unwrap_err();
    assert!(!typed.message.contains(&"q".repeat(200)), "{typed}");
}
