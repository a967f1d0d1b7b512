//! The ServiceAccounts the webhook reads, from a kube-rs reflector (list, then watch), with a
//! direct GET when the cache has not seen a KSA yet: a KSA applied together with its pod must
//! not be refused. Ready once the first full list is in, and from then on: a later watch failure
//! is retried with backoff (from the last resourceVersion, so no new full list need come), and
//! the only caller of the webhook is the API server itself, so a replica taken out of the Service
//! while the API server blinks would only refuse pods once it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::metrics::Metrics;
use crate::mutate::Annotations;

// The annotations the webhook reads (`keys::read_from_ksa`: these and the named roles); the
// rest (e.g. kubectl's last-applied-configuration) is dropped before it reaches the cache.

/// Bound on the direct lookup: the API server gives the whole admission a few seconds.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct KsaCache {
    store: Store<ServiceAccount>,
    client: Client,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

/// The direct lookup failed: the webhook cannot tell whether the KSA exists.
#[derive(Debug)]
pub struct LookupError(pub String);

impl KsaCache {
    /// Starts the reflector on a background task.
    pub fn start(client: Client, metrics: Arc<Metrics>) -> Self {
        let (store, writer) = reflector::store();
        let ready = Arc::new(AtomicBool::new(false));
        let cache = KsaCache {
            store,
            client: client.clone(),
            ready: ready.clone(),
            metrics: metrics.clone(),
        };
        let api: Api<ServiceAccount> = Api::all(client);
        let events = watcher(api, watcher::Config::default())
            .default_backoff()
            .map_ok(|event| event.modify(keep_what_we_read))
            .reflect(writer);
        let store = cache.store.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => {
                        ready.store(true, Ordering::SeqCst);
                        tracing::info!(service_accounts = store.len(), "KSA cache synced");
                    }
                    Ok(_) => {}
                    // Retried with backoff; each failure is said (e.g. RBAC: list serviceaccounts).
                    Err(error) => tracing::warn!(%error, "KSA list or watch failed; retrying"),
                }
                metrics.set_cache_size(store.len());
            }
        });
        cache
    }

    /// True once the cache has held every KSA (the first full list is in).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The KSA's annotations, `None` when it does not exist.
    pub async fn annotations(&self, namespace: &str, name: &str) -> Result<Option<Annotations>, LookupError> {
        let key = ObjectRef::new(name).within(namespace);
        if let Some(sa) = self.store.get(&key) {
            return Ok(Some(sa.metadata.annotations.clone().unwrap_or_default()));
        }
        self.metrics.cache_miss();
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let found = tokio::time::timeout(LOOKUP_TIMEOUT, api.get_opt(name)).await;
        match found {
            Ok(Ok(sa)) => Ok(sa.map(|mut sa| {
                keep_what_we_read(&mut sa);
                sa.metadata.annotations.unwrap_or_default()
            })),
            Ok(Err(error)) => Err(LookupError(format!("the API server's answer: {error}"))),
            Err(_) => Err(LookupError(format!(
                "no answer from the API server within {LOOKUP_TIMEOUT:?}"
            ))),
        }
    }
}

fn keep_what_we_read(sa: &mut ServiceAccount) {
    sa.secrets = None;
    sa.image_pull_secrets = None;
    sa.automount_service_account_token = None;
    let meta = &mut sa.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    meta.owner_references = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| crate::keys::read_from_ksa(key));
    }
}
