//! moto's server (`moto_server` from the project's venv) as the AWS STS, S3 and IAM endpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    http: reqwest::Client,
}

impl Moto {
    /// Starts moto on a free port and returns once it listens. Fails the test, rather than
    /// skipping it, when `moto_server` is not on PATH.
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// Starts moto serving HTTPS with this certificate and key (PEM files).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Moto {
        Self::start_with(&["-c".as_ref(), cert.as_os_str(), "-k".as_ref(), key.as_os_str()])
    }

    fn start_with(extra: &[&std::ffi::OsStr]) -> Moto {
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}): run `make venv` and put .venv/bin on PATH (make test does)")
            });
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        // moto prints " * Running on http://127.0.0.1:PORT" once it listens.
        let endpoint = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("Running on ").map(|(_, url)| url.trim().to_owned()))
            .expect("moto_server exited before listening");
        // Keep reading its request log so that the pipe never fills and blocks it.
        std::thread::spawn(move || lines.for_each(drop));
        Moto {
            child,
            endpoint,
            http: reqwest::Client::new(),
        }
    }

    /// Turns moto's IAM enforcement on (`true`) or off: with it on, every signed request is
    /// checked against the caller's IAM policies.
    pub async fn enforce_iam(&self, on: bool) {
        let status = reset_auth(&self.http, &self.endpoint, on)
            .await
            .expect("moto answers reset-auth");
        assert!(status.is_success(), "reset-auth: {status}");
    }

    /// Creates a bucket in `region` holding `keys`.
    pub async fn create_bucket(&self, region: &str, bucket: &str, keys: &[&str]) {
        let mut create = self.signed(self.http.put(format!("{}/{bucket}", self.endpoint)), "s3", region);
        if region != "us-east-1" {
            create = create.body(format!(
                "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            ));
        }
        expect_ok(create, "CreateBucket").await;
        for key in keys {
            let put = self
                .signed(self.http.put(format!("{}/{bucket}/{key}", self.endpoint)), "s3", region)
                .body(format!("content of {key}"));
            expect_ok(put, "PutObject").await;
        }
    }

    /// Creates an IAM role with an inline policy allowing `actions` on `resources`; returns its ARN.
    pub async fn create_role(&self, name: &str, actions: &[&str], resources: &[&str]) -> String {
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"}, "Action": "sts:AssumeRoleWithWebIdentity"}]});
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]});
        let trust = trust.to_string();
        let policy = policy.to_string();
        self.iam(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust),
        ])
        .await;
        self.iam(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", name),
            ("PolicyName", "access"),
            ("PolicyDocument", &policy),
        ])
        .await;
        format!("arn:aws:iam::123456789012:role/{name}")
    }

    async fn iam(&self, params: &[(&str, &str)]) {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.push(("Version", "2010-05-08"));
        let body = reqwest::Url::parse_with_params("http://x/", &form)
            .expect("form encodes")
            .query()
            .unwrap_or_default()
            .to_owned();
        let request = self
            .signed(self.http.post(format!("{}/", self.endpoint)), "iam", "us-east-1")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        expect_ok(request, params[0].1).await;
    }

    /// moto routes a request by the credential scope of its signature; with enforcement off
    /// it checks nothing else, so a well-formed header is enough for setup calls.
    fn signed(&self, request: reqwest::RequestBuilder, service: &str, region: &str) -> reqwest::RequestBuilder {
        request.header(
            "Authorization",
            format!("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
    }
}

/// moto's switch for IAM enforcement: `POST /moto-api/reset-auth` with the number of
/// requests to let through unchecked (0: enforce from now on; inf: never).
pub(crate) async fn reset_auth(
    http: &reqwest::Client,
    endpoint: &str,
    on: bool,
) -> reqwest::Result<reqwest::StatusCode> {
    let count = if on { "0" } else { "inf" };
    let response = http
        .post(format!("{endpoint}/moto-api/reset-auth"))
        .body(count)
        .send()
        .await?;
    Ok(response.status())
}

async fn expect_ok(request: reqwest::RequestBuilder, what: &str) {
    let response = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what} failed: {status} {body}");
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
