//! Helpers shared by the integration tests: a client and a JWT checker.

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub const IDENTITY: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";
pub const EMAIL: &str = "/computeMetadata/v1/instance/service-accounts/default/email";

/// A client that opens a new connection per request, so a dropped connection can't
/// leak from one assertion into the next.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// A response reduced to what the tests look at.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub flavor: Option<String>,
    pub server: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// GETs `base` + `path` with `Metadata-Flavor: Google`.
pub async fn get(base: &str, path: &str) -> reqwest::Result<Answer> {
    send(
        client()
            .get(format!("{base}{path}"))
            .header("Metadata-Flavor", "Google"),
    )
    .await
}

pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<Answer> {
    let response = request.send().await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (flavor, server) = (header("metadata-flavor"), header("server"));
    let content_type = header("content-type");
    let status = response.status().as_u16();
    Ok(Answer {
        status,
        flavor,
        server,
        content_type,
        body: response.text().await?,
    })
}

/// Splits a compact JWT, checks its RS256 signature against `jwks`, and returns
/// `(header, claims)`.
pub fn verify(token: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(parts[0])).expect("header JSON");
    let claims: Value = serde_json::from_slice(&decode(parts[1])).expect("claims JSON");
    let keys = jwks["keys"].as_array().expect("JWKS keys");
    let jwk = keys
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("a key with the token's kid");
    let component = |name: &str| decode(jwk[name].as_str().expect("n and e are strings"));
    let public = PublicKeyComponents {
        n: component("n"),
        e: component("e"),
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &decode(parts[2]))
        .expect("the signature verifies against the JWKS");
    (header, claims)
}

/// An HTTPS client that trusts only the PEM certificates in `ca_pem` (none: trusts nothing).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    let roots = if ca_pem.is_empty() {
        Vec::new()
    } else {
        reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).expect("a PEM CA")
    };
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tls_certs_only(roots)
        .build()
        .expect("client")
}

/// The claims of a JWT, without checking anything.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims JSON")
}

/// moto's server on a free port, killed on drop. Fails (never skips) without `moto_server`.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("moto_server runs: run `make venv` and put .venv/bin on PATH");
        let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let endpoint = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("Running on ").map(|(_, url)| url.trim().to_owned()))
            .expect("moto_server exited before listening");
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Moto { child, endpoint }
    }

    /// An IAM query-protocol call (moto routes it by the placeholder credential scope).
    pub async fn iam(&self, params: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .append_pair("Version", "2010-05-08")
            .finish();
        let request = client()
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body);
        send(request).await.expect("moto answers")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
