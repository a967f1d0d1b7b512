//! The KSA annotation `gke-aws-verifier/identity`: which token a pod's chain starts from. The
//! webhook and the audit read it with [`Mode::from_annotation`], so both accept the same words.

/// The annotation's key.
pub const KEY: &str = "gke-aws-verifier/identity";

/// The identity mode a KSA names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// GSA mode (the default): a Google ID token from the metadata server for the KSA's Google
    /// service account. Written `gsa`, Terraform's `identity_mode` word; `gke`, the first
    /// spelling, stays accepted.
    Gsa,
    /// Cluster mode: the KSA's own projected token, signed by the cluster's issuer.
    Cluster,
}

/// The words [`Mode::from_annotation`] accepts, for error messages.
pub const EXPECTED: &str = "gsa (the default; gke is the same) or cluster";

impl Mode {
    /// The annotation's value: absent, `gsa` or `gke` is GSA mode, `cluster` cluster mode;
    /// anything else is `None`.
    pub fn from_annotation(value: Option<&str>) -> Option<Mode> {
        match value {
            None | Some("gsa") | Some("gke") => Some(Mode::Gsa),
            Some("cluster") => Some(Mode::Cluster),
            Some(_) => None,
        }
    }

    /// The word the docs, the manifests and fix commands write.
    pub fn as_annotation(self) -> &'static str {
        match self {
            Mode::Gsa => "gsa",
            Mode::Cluster => "cluster",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_annotation())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsa_and_its_alias_gke_are_one_mode() {
        assert_eq!(Mode::from_annotation(None), Some(Mode::Gsa));
        assert_eq!(Mode::from_annotation(Some("gsa")), Some(Mode::Gsa));
        assert_eq!(Mode::from_annotation(Some("gke")), Some(Mode::Gsa));
        assert_eq!(Mode::from_annotation(Some("cluster")), Some(Mode::Cluster));
        for bad in ["GSA", "", "workload-identity", "gsa "] {
            assert_eq!(Mode::from_annotation(Some(bad)), None, "{bad:?}");
        }
        for mode in [Mode::Gsa, Mode::Cluster] {
            assert_eq!(Mode::from_annotation(Some(mode.as_annotation())), Some(mode));
        }
    }
}
