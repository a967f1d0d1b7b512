//! Names and paths the pod already uses where the injection would put its own: a volume named
//! like ours, a mount at (or inside) the token's or config's folder, a container named like
//! our token writers. Any of them would give a half injection (our env without our volume, a
//! patch the API server refuses for duplicate names), so the pod is refused with the clash
//! named. What the webhook itself added at an earlier admission is recognised by its shape.

use k8s_openapi::api::core::v1::{Container, Pod, Volume};

use crate::inject::{CONFIG_DIR, CONFIG_VOLUME, FIRST_TOKEN, Identity, SIDECAR, TOKEN_DIR, VOLUME, config_field_path};
use crate::message::quoted;
use crate::paths::{normalise, within};

/// Clashes listed in one denial; more are counted.
const MAX_LISTED: usize = 4;

/// Each clash in words, e.g. `volume "gke-aws-token" is not the webhook's token volume`.
pub fn clashes(pod: &Pod, identity: Identity, with_config: bool) -> Vec<String> {
    let mut found = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return found;
    };
    for volume in spec.volumes.iter().flatten() {
        if volume.name == VOLUME && !is_our_token_volume(volume, identity) {
            found.push(format!("volume {VOLUME:?} is not the webhook's token volume"));
        }
        if with_config && volume.name == CONFIG_VOLUME && !is_our_config_volume(volume) {
            found.push(format!("volume {CONFIG_VOLUME:?} is not the webhook's config volume"));
        }
    }
    let inits = spec.init_containers.iter().flatten();
    let writers = identity == Identity::Gke;
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

fn is_our_token_volume(v: &Volume, identity: Identity) -> bool {
    match identity {
        Identity::Gke => v
            .empty_dir
            .as_ref()
            .is_some_and(|e| e.medium.as_deref() == Some("Memory")),
        Identity::Cluster => v.projected.as_ref().is_some_and(|p| {
            p.sources
                .iter()
                .flatten()
                .any(|s| s.service_account_token.as_ref().is_some_and(|t| t.path == "token"))
        }),
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
