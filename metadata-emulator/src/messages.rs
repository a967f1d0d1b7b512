//! The bodies the GKE metadata server answers with, word for word where known.
//!
//! Sources: GKE's own answers as quoted in public bug reports (the 403 for a missing
//! `Metadata-Flavor`, with its `Content-Length: 94`, in googleapis/google-cloud-ruby#3750;
//! the IAM 403 in camunda/camunda#31106, there for access tokens) and the
//! Workload Identity guide,
//! <https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity>.

/// 403 for a request without `Metadata-Flavor: Google`.
pub const MISSING_FLAVOR: &str =
    "GKE Metadata Server encountered an error: Missing required header \"Metadata-Flavor\": \"Google\"\n";

/// 403 for a request that went through a proxy. The metadata server rejects any request
/// carrying `X-Forwarded-For` (see "Limitations" in
/// <https://cloud.google.com/compute/docs/metadata/querying-metadata>); GKE's exact
/// wording is not published, so this follows the style of its other errors.
pub const FORWARDED: &str =
    "GKE Metadata Server encountered an error: Requests with the \"X-Forwarded-For\" header are not allowed\n";

/// 400 for an identity request without a non-empty `audience`.
pub const MISSING_AUDIENCE: &str = "non-empty audience parameter required\n";

/// 404 for a path the server does not serve (Go's `net/http` default, which GKE's
/// server answers with).
pub const NOT_FOUND: &str = "404 page not found\n";

/// 405 for anything but `GET` on a metadata path.
pub const METHOD_NOT_ALLOWED: &str = "Method Not Allowed\n";

/// 503 during an emulated 5xx burst.
pub const UNAVAILABLE: &str =
    "GKE Metadata Server encountered an error: the metadata server is temporarily unavailable\n";

/// What `/` answers: the only directory below it.
pub const ROOT: &str = "computeMetadata/\n";

/// 404 from the identity endpoint when the KSA lacks the `iam.gke.io/gcp-service-account`
/// annotation.
pub fn ksa_not_annotated(namespace: &str, ksa: &str) -> String {
    format!(
        "Your Kubernetes service account ({namespace}/{ksa}) is not annotated with a target \
         Google service account, which is a requirement for retrieving Identity Tokens using \
         Workload Identity.\n\
         Please add the iam.gke.io/gcp-service-account=[GSA_NAME]@[PROJECT_ID] annotation to \
         your Kubernetes service account.\n\
         Refer to https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity\n"
    )
}

/// 403 from the identity endpoint when IAM refuses `getOpenIdToken`, typically because the
/// GSA lacks the `roles/iam.workloadIdentityUser` binding for the KSA.
pub const BINDING_MISSING: &str = "Unable to generate identity token; IAM returned 403 Forbidden: \
     Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).\n\
     This error could be caused by a missing IAM policy binding on the target IAM service account.\n\
     For more information, refer to the Workload Identity documentation:\n\
     \thttps://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#authenticating_to\n\n";

/// A captive proxy's login page, for the `html_body` fault.
pub const PROXY_LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html lang=en>\n<head><meta charset=utf-8>\
     <title>Sign in to continue</title></head>\n<body><h1>Network login required</h1>\
     <form method=post action=/login><input name=user><input name=password type=password>\
     <button>Sign in</button></form></body>\n</html>\n";

/// Text that is not a JWT (no dots, not base64url), for the `garbage_body` fault.
pub const GARBAGE: &str = "{\"status\": \"ok\"}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_flavor_body_has_gkes_length() {
        // GKE answered this with `Content-Length: 94`.
        assert_eq!(MISSING_FLAVOR.len(), 94);
    }

    #[test]
    fn ksa_message_names_the_service_account() {
        let msg = ksa_not_annotated("gke-aws", "verifier");
        assert!(msg.starts_with("Your Kubernetes service account (gke-aws/verifier) is not annotated"));
        assert!(msg.contains("\nPlease add the iam.gke.io/gcp-service-account=[GSA_NAME]@[PROJECT_ID]"));
    }

    #[test]
    fn binding_message_keeps_gkes_line_breaks() {
        assert!(BINDING_MISSING.contains("(or it may not exist).\nThis error could be caused"));
        assert!(BINDING_MISSING.contains(":\n\thttps://cloud.google.com/"));
    }
}
