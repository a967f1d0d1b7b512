//! The names the webhook reads and writes on pods and ServiceAccounts: labels, annotations and
//! the per-container and per-role annotation families. Pure data, so every stage (the decision,
//! the patch, the KSA cache) takes them from one place.

/// The pod label that opts a pod in (the webhook configuration's objectSelector matches it).
pub const INJECT_LABEL: &str = "gke-aws-verifier/inject";

// --- Pod annotations -------------------------------------------------------------------------

/// Comma-separated names of containers that get nothing.
pub const SKIP_CONTAINERS: &str = "gke-aws-verifier/skip-containers";
/// Comma-separated names of the only containers that get credentials (containers added later
/// by other webhooks, a service mesh proxy for one, then get nothing unasked).
pub const INCLUDE_CONTAINERS: &str = "gke-aws-verifier/containers";
/// CPU of the injected init container and sidecar (requests = limits), overriding the flag.
pub const SIDECAR_CPU: &str = "gke-aws-verifier/sidecar-cpu";
/// Memory of the injected init container and sidecar (requests = limits), overriding the flag.
pub const SIDECAR_MEMORY: &str = "gke-aws-verifier/sidecar-memory";
/// `gke-aws-verifier/profile.CONTAINER: NAME | default | none`: the role that container's
/// default credential chain uses, or nothing at all.
pub const PROFILE_PREFIX: &str = "gke-aws-verifier/profile.";
/// `gke-aws-verifier/profile-switching: runtime`: with named roles, no container gets the web
/// identity or region variables, only the config file, so `AWS_PROFILE` set at run time picks
/// the role in every SDK (containers on the default role then read it from `[default]`; clients
/// that read only `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` get nothing).
pub const PROFILE_SWITCHING: &str = "gke-aws-verifier/profile-switching";
/// The one value of [`PROFILE_SWITCHING`].
pub const RUNTIME_SWITCHING: &str = "runtime";
/// Written by the webhook: the pod's shared AWS config file, projected into the containers by
/// a `downwardAPI` volume (no process of ours writes it).
pub const AWS_CONFIG: &str = "gke-aws-verifier/aws-config";

// --- ServiceAccount annotations --------------------------------------------------------------

/// The default role (the one this project's Terraform outputs).
pub const ROLE_ARN: &str = "amazonaws.com/role-arn";
pub const REGION: &str = "amazonaws.com/region";
pub const AUDIENCE: &str = "amazonaws.com/audience";
pub const GSA: &str = "iam.gke.io/gcp-service-account";
/// `gsa` (default; `gke` is an alias): a Google ID token from the metadata server, kept fresh by
/// a sidecar; `cluster`: the KSA's own token, projected by the kubelet (the role trusts the
/// cluster's issuer). Parsed by `gke_aws_verifier::identity::annotation`, as the audit does.
pub const IDENTITY: &str = gke_aws_verifier::identity::annotation::KEY;
/// `gke-aws-verifier/role.NAME: ARN`: a named role, one profile of the shared config file.
pub const NAMED_ROLE_PREFIX: &str = "gke-aws-verifier/role.";
/// `gke-aws-verifier/region.NAME: REGION`: that named role's region.
pub const NAMED_REGION_PREFIX: &str = "gke-aws-verifier/region.";

/// Longest KSA annotation value the webhook reads: a role ARN is at most 2,048 characters,
/// every other value it reads is shorter. Longer values are refused, not cut.
pub const MAX_KSA_VALUE_CHARS: usize = 2048;

/// True for the KSA annotations the decision reads; the cache keeps only these.
pub fn read_from_ksa(key: &str) -> bool {
    [ROLE_ARN, REGION, AUDIENCE, GSA, IDENTITY].contains(&key)
        || key.starts_with(NAMED_ROLE_PREFIX)
        || key.starts_with(NAMED_REGION_PREFIX)
}

/// Longest annotation key Kubernetes allows: a DNS subdomain prefix (253), `/`, a name (63).
pub const MAX_ANNOTATION_KEY_CHARS: usize = 253 + 1 + 63;

/// True for an RFC 1123 subdomain of at most `max` characters: dot-separated labels of
/// `[a-z0-9-]`, each starting and ending with a letter or digit (a ServiceAccount's name; with
/// `max` 63 and no dot, a namespace's).
pub fn dns_subdomain(name: &str, max: usize) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= max && name.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_subdomains() {
        for good in ["reader", "a.b-c", "0", &"a".repeat(63)] {
            assert!(dns_subdomain(good, 253), "{good}");
        }
        for bad in ["", "Reader", "a..b", "-a", "a-", "../x", "a/b", &"a".repeat(254)] {
            assert!(!dns_subdomain(bad, 253), "{bad}");
        }
        assert!(!dns_subdomain(&"a".repeat(64), 63));
    }

    #[test]
    fn the_cache_keeps_the_named_roles_and_nothing_else() {
        for key in [
            ROLE_ARN,
            GSA,
            "gke-aws-verifier/role.logs",
            "gke-aws-verifier/region.logs",
        ] {
            assert!(read_from_ksa(key), "{key}");
        }
        for key in [
            "kubectl.kubernetes.io/last-applied-configuration",
            "gke-aws-verifier/roles",
            "x/role.a",
        ] {
            assert!(!read_from_ksa(key), "{key}");
        }
    }
}
