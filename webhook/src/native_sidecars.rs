//! Whether the cluster runs native sidecars (init containers with `restartPolicy: Always`),
//! which GSA mode's token sidecar is: the kubelet runs them from 1.29. On an older kubelet the
//! sidecar is an ordinary init container that never exits, and the pod hangs in `Init:1/2`.
//! The webhook reads the API server's version once at start; nodes may be older than the
//! control plane (Kubernetes allows kubelets three minor versions behind the API server), so
//! the oldest kubelet the skew allows is what must be 1.29. Cluster mode injects no sidecar and
//! is never affected.

use std::sync::RwLock;

/// The first kubelet (and API server) minor version of Kubernetes 1 with native sidecars on by
/// default.
pub const FIRST_MINOR: u32 = 29;

/// What the webhook does with a pod that would get a native sidecar where one cannot be relied
/// on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Refuse the pod, with the reason and the fix.
    Refuse,
    /// Admit it with a warning.
    Warn,
}

/// The cluster's answer, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Reliable,
    /// Why a native sidecar may not run (said in the denial or warning).
    Unreliable(String),
}

/// The verdict for an API server of `major.minor` when nodes may be `skew` minor versions
/// older. `git_version` is shown as the API server reports it (e.g. `v1.30.5-gke.1014001`).
pub fn judge(major: &str, minor: &str, git_version: &str, skew: u32) -> Verdict {
    // GKE reports minors such as "30+".
    let digits = |s: &str| s.trim_end_matches('+').parse::<u32>().ok();
    let (Some(major), Some(minor)) = (digits(major), digits(minor)) else {
        return Verdict::Unreliable(format!(
            "the API server reports the version {git_version:?} (major {major:?}, minor {minor:?}), which the webhook cannot read"
        ));
    };
    if major > 1 {
        return Verdict::Reliable;
    }
    if minor < FIRST_MINOR {
        return Verdict::Unreliable(format!(
            "the API server is {git_version}: native sidecars (the token sidecar's restartPolicy: Always) need Kubernetes 1.{FIRST_MINOR}; upgrade the cluster, or use the cluster identity (gke-aws-verifier/identity: cluster), which needs no sidecar"
        ));
    }
    let oldest = minor.saturating_sub(skew);
    if oldest < FIRST_MINOR {
        return Verdict::Unreliable(format!(
            "the API server is {git_version} and nodes may be up to {skew} minor versions older (1.{oldest}); the token sidecar needs the kubelet's 1.{FIRST_MINOR}, and on an older node the pod would hang in Init; once every node pool runs 1.{FIRST_MINOR} or later, start the webhook with --node-version-skew={} (or use the cluster identity, gke-aws-verifier/identity: cluster)",
            minor - FIRST_MINOR
        ));
    }
    Verdict::Reliable
}

/// The verdict shared by the reviews: `None` until the version has been read.
#[derive(Debug, Default)]
pub struct Support(RwLock<Option<Verdict>>);

impl Support {
    pub fn set(&self, verdict: Verdict) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
    }

    pub fn get(&self) -> Option<Verdict> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// True when the patch adds an init container with `restartPolicy: Always`.
pub fn adds_native_sidecar(patch: &json_patch::Patch) -> bool {
    fn native(container: &serde_json::Value) -> bool {
        container.get("restartPolicy").and_then(|p| p.as_str()) == Some("Always")
    }
    patch.0.iter().any(|op| match op {
        json_patch::PatchOperation::Add(add) if add.path.as_str().starts_with("/spec/initContainers") => {
            match &add.value {
                serde_json::Value::Array(list) => list.iter().any(native),
                one => native(one),
            }
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_node_the_skew_allows_decides() {
        for (case, minor, skew, reliable) in [
            ("1.33, kubelets three behind: 1.30", "33", 3, true),
            ("1.31, kubelets three behind: 1.28", "31", 3, false),
            ("1.31, nodes kept current", "31", 0, true),
            ("GKE's minor form", "32+", 3, true),
            ("1.28 itself", "28", 0, false),
        ] {
            let verdict = judge("1", minor, &format!("v1.{minor}"), skew);
            assert_eq!(verdict == Verdict::Reliable, reliable, "{case}: {verdict:?}");
        }
        let Verdict::Unreliable(why) = judge("1", "31", "v1.31.2-gke.1", 3) else {
            panic!()
        };
        assert!(why.contains("1.28") && why.contains("--node-version-skew=2"), "{why}");
        assert!(matches!(judge("1", "x", "?", 0), Verdict::Unreliable(_)));
    }

    #[test]
    fn a_native_sidecar_is_seen_in_the_patch() {
        let patch = |ops: serde_json::Value| serde_json::from_value::<json_patch::Patch>(ops).unwrap();
        let sidecar = serde_json::json!({ "name": "s", "restartPolicy": "Always" });
        assert!(adds_native_sidecar(&patch(serde_json::json!([
            { "op": "add", "path": "/spec/initContainers", "value": [{ "name": "i" }, sidecar] }
        ]))));
        assert!(adds_native_sidecar(&patch(serde_json::json!([
            { "op": "add", "path": "/spec/initContainers/1", "value": sidecar }
        ]))));
        assert!(!adds_native_sidecar(&patch(serde_json::json!([
            { "op": "add", "path": "/spec/volumes", "value": [] }
        ]))));
    }
}
