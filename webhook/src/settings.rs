//! The webhook's own configuration, from its flags: what every admission decision shares.

use crate::resources::Resources;

/// The webhook's own configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Image of the token-file sidecar (the gke-aws-verifier image).
    pub sidecar_image: String,
    /// Region for pods whose KSA has no `amazonaws.com/region`.
    pub default_region: Option<String>,
    /// The webhook's own namespace: its pods must start even when it is down.
    pub own_namespace: String,
    /// CPU and memory of the injected init container and sidecar (`--sidecar-cpu`,
    /// `--sidecar-memory`), unless the pod's annotations say otherwise.
    pub resources: Resources,
}
