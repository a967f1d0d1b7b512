//! Stage 1, the Google identity: an ID token for the pod's Google service account, from the
//! GKE metadata server, with the checks that can be made before AWS sees it.
//! <https://cloud.google.com/compute/docs/instances/verifying-instance-identity#request_signature>

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::error::{Stage, StageError, error_chain};
use crate::identity::id_token::IdToken;

const IDENTITY_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";
/// Where Google's libraries look for the metadata server when `GCE_METADATA_HOST` is unset.
pub const DEFAULT_HOST: &str = "metadata.google.internal";
/// What the machine says it is. Google's own library tells a Google machine by it
/// (googleapis/google-cloud-go, compute/metadata/metadata.go, `systemInfoSuggestsGCE`:
/// "Google" or "Google Compute Engine").
const PRODUCT_NAME: &str = "/sys/class/dmi/id/product_name";
/// The first retry comes quickly: on a new pod the metadata server needs a few seconds.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The metadata server's answers are under 4 KiB (a `format=full` token is about 1 KiB); a
/// larger one is not from it, and is not read further.
const MAX_ANSWER_BYTES: usize = 8 * 1024;

/// The metadata server at `GCE_METADATA_HOST` (`host[:port]`).
pub struct MetadataServer {
    host: String,
    url: String,
    /// A plain-HTTP client cannot fail to build; if it ever did, every attempt says why.
    client: Result<reqwest::Client, String>,
    /// What a token's `iat` and `exp` are checked against.
    clock: Arc<dyn Clock>,
}

/// One attempt's outcome, kept so that the last one can be diagnosed when retries run out.
enum Attempt {
    Token(String),
    /// A 200 that cannot be the metadata server's: no `Metadata-Flavor: Google`, or too large.
    Impostor(String),
    Transport(String),
    Status(u16, String),
}

impl MetadataServer {
    pub fn new(host: &str) -> Self {
        let client = reqwest::Client::builder()
            // The metadata server is link-local: a proxy could only be in the way.
            .no_proxy()
            // The metadata server never redirects; following one would send the request
            // (and trust the answer) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| error_chain(&e));
        Self {
            host: host.to_owned(),
            url: format!("http://{host}{IDENTITY_PATH}"),
            client,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same server, with tokens checked against `clock` instead of the system clock.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// An ID token for `audience` that passed the local checks ([`check_token`]).
    pub async fn checked_token(
        &self,
        audience: &str,
        expected_gsa: Option<&str>,
        deadline: Instant,
    ) -> Result<IdToken, StageError> {
        let token = self.identity_token(audience, deadline).await?;
        check_token(&token, audience, expected_gsa, self.clock.unix_now())?;
        Ok(token)
    }

    /// Fetches an ID token for `audience`, retrying connection failures and 5xx answers with
    /// backoff until `deadline`; a definite answer (4xx) is diagnosed at once.
    pub async fn identity_token(&self, audience: &str, deadline: Instant) -> Result<IdToken, StageError> {
        if self.host == DEFAULT_HOST
            && let Some(why) = off_google_cloud(Path::new(PRODUCT_NAME)).await
        {
            return Err(StageError::new(
                Stage::GcpIdentity,
                "NoMetadataServer",
                format!("no metadata server answers here: {why}"),
                NO_METADATA_SERVER_HINT,
            ));
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let attempt = self.attempt(audience).await;
            let retryable = match &attempt {
                Attempt::Transport(_) => true,
                Attempt::Status(status, _) => *status >= 500,
                Attempt::Token(_) | Attempt::Impostor(_) => false,
            };
            if !retryable || Instant::now() + backoff >= deadline {
                return self.diagnose(attempt);
            }
            tracing::warn!(url = %self.url, outcome = %describe(&attempt), retry_in_ms = backoff.as_millis() as u64, "metadata server not ready, retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(&self, audience: &str) -> Attempt {
        let client = match &self.client {
            Ok(client) => client,
            Err(e) => return Attempt::Transport(format!("cannot make an HTTP client: {e}")),
        };
        let request = client
            .get(&self.url)
            .query(&[("audience", audience), ("format", "full")])
            .header("Metadata-Flavor", "Google");
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Transport(error_chain(&e)),
        };
        let status = response.status().as_u16();
        let flavored = response
            .headers()
            .get("metadata-flavor")
            .is_some_and(|v| v.as_bytes() == b"Google");
        let body = match read_bounded(response).await {
            Ok(Some(body)) => body,
            Ok(None) if status == 200 => {
                return Attempt::Impostor(format!("an answer larger than {MAX_ANSWER_BYTES} bytes"));
            }
            Ok(None) => return Attempt::Status(status, format!("(an answer larger than {MAX_ANSWER_BYTES} bytes)")),
            Err(e) => return Attempt::Transport(error_chain(&e)),
        };
        match status {
            200 if !flavored => Attempt::Impostor(format!(
                "a 200 without the Metadata-Flavor: Google header ({})",
                preview(&body)
            )),
            200 => Attempt::Token(body),
            _ => Attempt::Status(status, one_line(&body)),
        }
    }

    fn diagnose(&self, attempt: Attempt) -> Result<IdToken, StageError> {
        let err = |code, message: String, hint: &str| Err(StageError::new(Stage::GcpIdentity, code, message, hint));
        match attempt {
            Attempt::Token(body) => IdToken::decode(&body)
                .or_else(|e| err("NotAToken", format!("{e}; got {}", preview(&body)), NOT_A_TOKEN_HINT)),
            Attempt::Impostor(what) => err(
                "NotAToken",
                format!("GET {}: got {what}, not the metadata server's answer", self.url),
                NOT_A_TOKEN_HINT,
            ),
            Attempt::Transport(e) => err(
                "MetadataServerUnreachable",
                format!("GET {}: {e}", self.url),
                UNREACHABLE_HINT,
            ),
            Attempt::Status(404, body) if body.contains("not annotated") => {
                let ksa = annotated_ksa(&body);
                err("KsaNotAnnotated", format!("HTTP 404: {body}"), &ksa_hint(ksa))
            }
            Attempt::Status(403, body) if body.contains("IAM Service Account Credentials API") => {
                let hint = credentials_api_hint(project_of(&body));
                err("IamCredentialsApiDisabled", format!("HTTP 403: {body}"), &hint)
            }
            Attempt::Status(403, body) if body.contains("IAM") || body.contains("iam.") => err(
                "WorkloadIdentityBindingMissing",
                format!("HTTP 403: {body}"),
                BINDING_HINT,
            ),
            Attempt::Status(status, body) if status >= 500 => err(
                "MetadataServerError",
                format!("HTTP {status} until the deadline: {body}"),
                SERVER_ERROR_HINT,
            ),
            Attempt::Status(status, body) => {
                err("MetadataRequestRefused", format!("HTTP {status}: {body}"), REFUSED_HINT)
            }
        }
    }
}

/// Why no metadata server will ever answer at [`DEFAULT_HOST`] on this machine, or `None` when
/// one may: the machine is not a Google machine (its product name) and the name does not
/// resolve. Then retrying until the deadline helps nobody. On a Google machine (a GKE node,
/// gVisor aside, or a GCE VM) a failure is retried as any other: a new pod's DNS and metadata
/// server can take a few seconds (Google documents the GKE metadata server's start-up delay).
async fn off_google_cloud(product_name: &Path) -> Option<String> {
    let product = read_product_name(product_name);
    if matches!(product.as_deref(), Some("Google" | "Google Compute Engine")) {
        return None;
    }
    let resolves = tokio::net::lookup_host((DEFAULT_HOST, 80))
        .await
        .is_ok_and(|mut addresses| addresses.next().is_some());
    match resolves {
        true => None,
        false => Some(format!(
            "{DEFAULT_HOST} does not resolve, and this machine is not a Google Compute Engine VM ({} is {})",
            product_name.display(),
            product.map_or("absent".to_owned(), |p| format!("{p:?}"))
        )),
    }
}

/// The machine's product name: a short sysfs file, read bounded.
fn read_product_name(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(256)
        .read_to_string(&mut text)
        .ok()?;
    Some(text.trim().chars().filter(|c| !c.is_control()).take(64).collect())
}

/// The checks a token for this run must pass before it goes to AWS.
pub fn check_token(token: &IdToken, audience: &str, expected_gsa: Option<&str>, now: i64) -> Result<(), StageError> {
    let claims = &token.claims;
    let err = |code, message: String, hint: String| Err(StageError::new(Stage::GcpIdentity, code, message, hint));
    if !claims.issued_by_google() {
        return err(
            "UnexpectedIssuer",
            format!("token issuer is {:?}, not https://accounts.google.com", claims.iss),
            "GCE_METADATA_HOST points at something that is not Google's metadata server; unset it on GKE.".into(),
        );
    }
    if claims.aud != audience {
        return err("AudienceMismatch", format!("token audience is {:?}, requested {audience:?}", claims.aud),
            "The metadata server ignored the audience parameter: a proxy or a non-GKE metadata server answered. Check GCE_METADATA_HOST.".into());
    }
    // `IdToken::decode` refused a token whose exp is not after its iat: never valid.
    // Issued after, or expired before, the pod's "now": only by the pod's clock, which STS does
    // not use. A really stale token comes back from STS as ExpiredTokenException.
    crate::clock::warn_if_early(claims.iat, now);
    crate::clock::warn_if_late(claims.exp, now);
    if let Some(expected) = expected_gsa {
        let actual = claims.email.as_deref().unwrap_or("(no email claim)");
        if actual != expected {
            return err(
                "UnexpectedServiceAccount",
                format!("token belongs to {actual}, expected {expected}"),
                format!(
                    "The pod runs as another Google service account. Point the KSA's annotation at the right one \
                 (kubectl annotate serviceaccount KSA -n NAMESPACE --overwrite iam.gke.io/gcp-service-account={expected}) \
                 or fix --expected-gsa. A *-compute@developer.gserviceaccount.com account means the node pool does not \
                 run the GKE metadata server: gcloud container node-pools update POOL --cluster CLUSTER --workload-metadata=GKE_METADATA."
                ),
            );
        }
    }
    Ok(())
}

const UNREACHABLE_HINT: &str = "Cannot reach the GKE metadata server. Check that: the pod runs on GKE with Workload Identity \
enabled on the cluster (gcloud container clusters update CLUSTER --workload-pool=PROJECT_ID.svc.id.goog); the node pool \
runs the GKE metadata server (--workload-metadata=GKE_METADATA); the pod is not hostNetwork: true; a NetworkPolicy allows \
egress to the metadata server: 169.254.169.254:80 on Dataplane V2, 169.254.169.252:988 with Calico on GKE 1.21 and later \
(k8s/components/egress-allowlist allows both). Outside GKE, set GCE_METADATA_HOST to an emulator.";
const NO_METADATA_SERVER_HINT: &str = "This machine is not on Google Cloud, so no GKE metadata server can mint the \
Google ID token. To prove the chain here, point at a metadata server: GCE_METADATA_HOST=HOST:PORT (or --metadata-host; \
make demo runs gke-metadata-emulator). For a cluster-mode role, read a projected token from a file instead \
(--token-file or AWS_WEB_IDENTITY_TOKEN_FILE). On GKE, GCE_METADATA_HOST is unset.";
const BINDING_HINT: &str = "The KSA may not impersonate its Google service account: grant roles/iam.workloadIdentityUser \
to serviceAccount:PROJECT_ID.svc.id.goog[NAMESPACE/KSA] on the GSA (the gcp-workload-sa Terraform module does this), e.g. \
gcloud iam service-accounts add-iam-policy-binding GSA_EMAIL --role roles/iam.workloadIdentityUser \
--member \"serviceAccount:PROJECT_ID.svc.id.goog[NAMESPACE/KSA]\". IAM changes can take a few minutes to apply.";
const NOT_A_TOKEN_HINT: &str = "Something other than the GKE metadata server answered: a proxy (HTML) or a wrong \
GCE_METADATA_HOST. Keep metadata.google.internal and 169.254.169.254 out of any proxy (NO_PROXY) and unset GCE_METADATA_HOST on GKE.";
const SERVER_ERROR_HINT: &str = "The metadata server kept failing. On a new pod it needs a few seconds; if it persists, \
check the gke-metadata-server pods in kube-system on this node (kubectl -n kube-system get pods -l k8s-app=gke-metadata-server).";
const REFUSED_HINT: &str =
    "The metadata server refused the request. Check GCE_METADATA_HOST and that the audience is a plain string.";

/// GKE passes on IAM's 403 when the project has the IAM Service Account Credentials API off:
/// the metadata server mints the GSA's tokens through it.
fn credentials_api_hint(project: Option<&str>) -> String {
    let project = project.unwrap_or("PROJECT_ID");
    format!(
        "The IAM Service Account Credentials API (iamcredentials.googleapis.com) is disabled in project {project}; \
         the GKE metadata server needs it to mint the service account's tokens. The workloadIdentityUser binding is not \
         the problem. Enable the API: gcloud services enable iamcredentials.googleapis.com --project '{project}' \
         (the gcp-project-services Terraform module enables it, with its services input), wait a minute, then retry."
    )
}

/// Google names the project as `in project 123456789012 before or it is disabled`.
fn project_of(body: &str) -> Option<&str> {
    let after = body.split_once("in project ")?.1;
    let project = after.split(|c: char| c.is_whitespace() || c == '.').next()?;
    let valid =
        !project.is_empty() && project.len() <= 30 && project.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then_some(project)
}

/// The body, or `None` past [`MAX_ANSWER_BYTES`]: read chunk by chunk, never buffered whole.
async fn read_bounded(mut response: reqwest::Response) -> Result<Option<String>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(String::from_utf8_lossy(&body).into_owned()))
}

fn ksa_hint(ksa: Option<(&str, &str)>) -> String {
    let (namespace, name) = ksa.unwrap_or(("NAMESPACE", "KSA"));
    format!(
        "Annotate the pod's Kubernetes service account with its Google service account: kubectl annotate serviceaccount {name} \
         --namespace {namespace} iam.gke.io/gcp-service-account=GSA_EMAIL (k8s/base does this from the Terraform output), then restart the pod."
    )
}

/// GKE names the KSA in its 404 body as `(NAMESPACE/KSA)`. Only names Kubernetes could have
/// given are taken: the hint pastes them into a command.
fn annotated_ksa(body: &str) -> Option<(&str, &str)> {
    let inside = body.split_once('(')?.1.split_once(')')?.0;
    let kubernetes_name = |n: &str| {
        !n.is_empty()
            && n.len() <= 253
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    inside
        .split_once('/')
        .filter(|(ns, ksa)| kubernetes_name(ns) && kubernetes_name(ksa))
}

fn describe(attempt: &Attempt) -> String {
    match attempt {
        Attempt::Token(_) => "token".into(),
        Attempt::Impostor(what) => what.clone(),
        Attempt::Transport(e) => e.clone(),
        Attempt::Status(status, _) => format!("HTTP {status}"),
    }
}

/// The body folded to one line and cut short: error bodies, never tokens.
fn one_line(body: &str) -> String {
    let folded = body.split_whitespace().collect::<Vec<_>>().join(" ");
    folded.chars().take(400).collect()
}

/// What a non-token body looked like, without echoing anything that might be secret.
fn preview(body: &str) -> String {
    let trimmed = body.trim_start();
    if trimmed.starts_with('<') {
        format!(
            "HTML ({} bytes): {}",
            body.len(),
            one_line(body).chars().take(80).collect::<String>()
        )
    } else if body.trim().is_empty() {
        "an empty body".into()
    } else {
        format!("{} bytes of something else", body.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::id_token::tests::token_with;

    fn token(iat: i64, exp: i64, email: &str) -> IdToken {
        let claims = format!(
            r#"{{"iss":"https://accounts.google.com","aud":"sts.amazonaws.com","azp":"1","sub":"1","email":"{email}","iat":{iat},"exp":{exp}}}"#
        );
        IdToken::decode(&token_with(r#"{"alg":"RS256"}"#, &claims)).unwrap()
    }

    #[tokio::test]
    async fn off_google_cloud_is_told_by_the_product_name_and_the_default_name() {
        let dir = tempfile::tempdir().unwrap();
        let google = dir.path().join("google");
        std::fs::write(&google, "Google Compute Engine\n").unwrap();
        assert_eq!(
            off_google_cloud(&google).await,
            None,
            "a Google machine retries as ever"
        );
        std::fs::write(&google, "Google\n").unwrap();
        assert_eq!(off_google_cloud(&google).await, None);
        // This machine (CI and development) has no metadata.google.internal: if it had one,
        // the case below would not be the one it claims to test.
        assert!(
            tokio::net::lookup_host((DEFAULT_HOST, 80)).await.is_err(),
            "{DEFAULT_HOST} resolves here"
        );
        let laptop = dir.path().join("laptop");
        std::fs::write(&laptop, "ThinkPad X1\x1b[2J").unwrap();
        let why = off_google_cloud(&laptop).await.unwrap();
        assert!(
            why.contains("does not resolve") && why.contains("\"ThinkPad X1[2J\""),
            "{why}"
        );
        let why = off_google_cloud(&dir.path().join("absent")).await.unwrap();
        assert!(why.ends_with("is absent)"), "{why}");
    }

    #[test]
    fn local_checks_name_each_problem() {
        let now = 10_000;
        let gsa = "v@p.iam.gserviceaccount.com";
        let code =
            |t: &IdToken, aud: &str, expected: Option<&str>| check_token(t, aud, expected, now).err().map(|e| e.code);
        assert_eq!(code(&token(now, now + 3600, gsa), "sts.amazonaws.com", Some(gsa)), None);
        // Late or early by the pod's clock only: warned, and left to STS's clock.
        assert_eq!(
            code(&token(now - 7200, now - 3600, gsa), "sts.amazonaws.com", None),
            None
        );
        assert_eq!(
            code(&token(now + 600, now + 4200, gsa), "sts.amazonaws.com", None),
            None
        );

        assert_eq!(
            code(&token(now, now + 3600, gsa), "other", None).as_deref(),
            Some("AudienceMismatch")
        );
        assert_eq!(
            code(
                &token(now, now + 3600, "x@y.iam.gserviceaccount.com"),
                "sts.amazonaws.com",
                Some(gsa)
            )
            .as_deref(),
            Some("UnexpectedServiceAccount")
        );
    }

    #[test]
    fn ksa_is_read_from_gkes_404_body() {
        let body =
            "Your Kubernetes service account (gke-aws/verifier) is not annotated with a target Google service account";
        assert_eq!(annotated_ksa(body), Some(("gke-aws", "verifier")));
        assert_eq!(annotated_ksa("not annotated"), None);
        assert_eq!(annotated_ksa("account (ns/a;reboot) is not annotated"), None);
    }

    #[test]
    fn a_disabled_credentials_api_is_told_apart_from_a_missing_binding() {
        let body = "Unable to generate identity token; IAM returned 403 Forbidden: IAM Service Account Credentials API \
                    has not been used in project 123456789012 before or it is disabled. Enable it by visiting \
                    https://console.developers.google.com/apis/api/iamcredentials.googleapis.com/overview?project=123456789012 then retry.";
        let server = MetadataServer::new("127.0.0.1:1");
        let err = server.diagnose(Attempt::Status(403, body.into())).unwrap_err();
        assert_eq!(err.code, "IamCredentialsApiDisabled");
        assert!(
            err.hint
                .contains("gcloud services enable iamcredentials.googleapis.com --project '123456789012'"),
            "{}",
            err.hint
        );
        // The module that enables the API, not the one that makes the pool.
        assert!(
            err.hint.contains("gcp-project-services") && !err.hint.contains("gke-workload-pool"),
            "{}",
            err.hint
        );
        assert_eq!(project_of("in project $(rm -rf /) before"), None);
        let binding = "Unable to generate identity token; IAM returned 403 Forbidden: Permission 'iam.serviceAccounts.getOpenIdToken' denied";
        assert_eq!(
            server.diagnose(Attempt::Status(403, binding.into())).unwrap_err().code,
            "WorkloadIdentityBindingMissing"
        );
    }

    #[test]
    fn previews_never_echo_token_like_bodies() {
        assert!(preview("<html><title>Proxy login</title></html>").starts_with("HTML"));
        assert_eq!(preview("abc.def"), "7 bytes of something else");
    }
}
