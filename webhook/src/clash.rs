//! Names and paths the pod already uses where the injection would put its own: a volume named
//! like ours, a mount at (or inside) the token's or config's folder, a container named like
//! our token writers. Any of them would give a half injection (our env without our volume, a
//! patch the API server refuses for duplicate names), so the pod is refused with the clash
//! named. What the webhook itself added at an earlier admission is recognised by its shape:
//! the token volume only when it is exactly the one the webhook adds (a projected token of
//! another audience or lifetime under our name would get our env pointing at a token STS
//! refuses).

use k8s_openapi::api::core::v1::{Container, Pod, Volume};

use crate::inject::{
    CONFIG_DIR, CONFIG_VOLUME, Credentials, FIRST_TOKEN, Identity, PROJECTED_TOKEN_SECONDS, SIDECAR, TOKEN_DIR, VOLUME,
    config_field_path, token_volume,
};
use crate::message::quoted;
use crate::paths::{normalise, within};

/// Clashes listed in one denial; more are counted.
const MAX_LISTED: usize = 4;

/// Each clash in words, e.g. `volume "gke-aws-token" is not the webhook's token volume`.
pub fn clashes(pod: &Pod, credentials: &Credentials, with_config: bool) -> Vec<String> {
    let mut found = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return found;
    };
    for volume in spec.volumes.iter().flatten() {
        if volume.name == VOLUME && !is_our_token_volume(volume, credentials) {
            found.push(format!(
                "volume {VOLUME:?} is not the webhook's token volume ({})",
                our_token_volume(credentials)
            ));
        }
        if with_config && volume.name == CONFIG_VOLUME && !is_our_config_volume(volume) {
            found.push(format!("volume {CONFIG_VOLUME:?} is not the webhook's config volume"));
        }
    }
    let inits = spec.init_containers.iter().flatten();
    let writers = credentials.identity == Identity::Gke;
    for container in &spec.containers {
        if writers && [FIRST_TOKEN, SIDECAR].contains(&container.name.as_str()) {
            found.push(format!(
                "container {:?} has the name of a webhook init container",
                container.name
            ));
        }
    }
    for container in inits.clone() {
        if writers && [FIRST_TOKEN, SIDECAR].contains(&container.name.as_str()) && !is_our_writer(container) {
            found.push(format!(
                "init container {:?} is not the webhook's (it runs no token-file)",
                container.name
            ));
        }
    }
    let mut folders = vec![(TOKEN_DIR, VOLUME)];
    if with_config {
        folders.push((CONFIG_DIR, CONFIG_VOLUME));
    }
    for container in spec.containers.iter().chain(inits.filter(|c| !is_our_writer(c))) {
        for mount in container.volume_mounts.iter().flatten() {
            for (dir, ours) in &folders {
                let ours_here = mount.name == *ours && normalise(&mount.mount_path) == *dir;
                if within(&mount.mount_path, dir) && !ours_here {
                    found.push(format!(
                        "container {} mounts {} at {}, the webhook's folder {dir}",
                        quoted(&container.name),
                        quoted(&mount.name),
                        quoted(&mount.mount_path)
                    ));
                }
            }
        }
    }
    if found.len() > MAX_LISTED {
        let more = found.len() - MAX_LISTED;
        found.truncate(MAX_LISTED);
        found.push(format!("{more} more"));
    }
    found
}

/// Our token writer: an init container that runs `token-file`.
pub fn is_our_writer(c: &Container) -> bool {
    [FIRST_TOKEN, SIDECAR].contains(&c.name.as_str())
        && c.args
            .as_deref()
            .and_then(|a| a.first())
            .is_some_and(|a| a == "token-file")
}

/// Exactly the volume [`token_volume`] adds, as the API server keeps it (it fills in a
/// projected volume's `defaultMode`, 0644, when a later webhook's change is decoded again).
fn is_our_token_volume(v: &Volume, c: &Credentials) -> bool {
    let mut v = v.clone();
    if let Some(projected) = v.projected.as_mut()
        && projected.default_mode == Some(0o644)
    {
        projected.default_mode = None;
    }
    serde_json::to_value(&v).ok() == Some(token_volume(c))
}

/// What the webhook's token volume is, for the denial.
fn our_token_volume(c: &Credentials) -> String {
    match c.identity {
        Identity::Gke => "which is an emptyDir in memory, 1Mi".to_owned(),
        Identity::Cluster => format!(
            "which is a projected serviceAccountToken: audience {}, expirationSeconds {PROJECTED_TOKEN_SECONDS}, path token",
            quoted(&c.audience)
        ),
    }
}

fn is_our_config_volume(v: &Volume) -> bool {
    let field_path = config_field_path();
    v.downward_api.as_ref().is_some_and(|d| {
        d.items
            .iter()
            .flatten()
            .any(|item| item.path == "config" && item.field_ref.as_ref().is_some_and(|f| f.field_path == field_path))
    })
}
