//! The issuer check against a real HTTP server on 127.0.0.1 (TLS to a real issuer stand-in
//! is covered by `tests/it/cluster_mode.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_http_client::tls::TlsContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::identity::issuer_fetch::{ATTEMPTS, MAX_DOCUMENT_BYTES};
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

const JWKS: &str = r#"{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"key-1","n":"AQAB","e":"AQAB"},{"kty":"RSA","alg":"RS256","use":"sig","kid":"key-0","n":"AQAB","e":"AQAB"}]}"#;

/// An issuer at `/ok`, and the ways one goes wrong at other paths.
async fn issuer() -> Server {
    serve(|base, path| match path {
        "/ok/.well-known/openid-configuration" => (200, vec![], discovery(base, &format!("{base}/ok"))),
        "/jwks" => (200, vec![], JWKS.into()),
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
        _ => (404, vec![], "<html>404 page not found</html>".into()),
    })
    .await
}

fn token(iss: &str, kid: &str) -> KsaToken {
    KsaToken::decode(&projected_by(iss, kid, r#"["sts.amazonaws.com"]"#, 0, i64::MAX)).unwrap()
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
            .ends_with("HTTP 503: backend FAIL forged line [31m <redacted>"),
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
