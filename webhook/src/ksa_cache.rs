//! The ServiceAccounts the webhook reads, from a kube-rs watcher (list in small pages, then
//! watch), with a direct GET when the cache has not seen a KSA, or when its copy would refuse
//! the pod (a KSA annotated a moment before its pod must not be refused from a cache that is
//! behind). Ready once the first full list is in, and from then on: a later watch failure is
//! retried with backoff, and the only caller of the webhook is the API server itself.
//!
//! Bounded: a KSA is read as [`Ksa`], which keeps its name, namespace, resourceVersion and only
//! the annotations the webhook reads, each cut one character past the longest valid value (so
//! the decision still refuses it as too long), at most [`MAX_KEPT_ROLES`] named roles; the rest of the
//! object is skipped while parsing, never held as a tree. The cache holds at most
//! [`MAX_CACHE_BYTES`]; past it, KSAs are left out and looked up directly.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::api_client::PAGE_SIZE;
use crate::keys::{self, MAX_ANNOTATION_KEY_CHARS, MAX_KSA_VALUE_CHARS, NAMED_REGION_PREFIX, NAMED_ROLE_PREFIX};
use crate::metrics::Metrics;
use crate::mutate::Annotations;

/// Bound on the direct lookup: the API server gives the whole admission a few seconds.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// Named roles kept per KSA: one more than a pod may have, so the decision sees (and refuses)
/// one too many.
pub const MAX_KEPT_ROLES: usize = gke_aws_verifier::profiles::MAX_NAMED_ROLES + 1;
/// What the cache may hold (an estimate: strings plus a fixed cost per KSA).
pub const MAX_CACHE_BYTES: usize = 24 << 20;
const ENTRY_COST: usize = 256;

/// A ServiceAccount as the webhook reads it.
#[derive(Debug, Clone)]
pub struct Ksa {
    metadata: ObjectMeta,
}

impl kube::Resource for Ksa {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "ServiceAccount".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "serviceaccounts".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de> Deserialize<'de> for Ksa {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            metadata: RawMeta,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct RawMeta {
            name: Option<String>,
            namespace: Option<String>,
            resource_version: Option<String>,
            #[serde(default)]
            annotations: Kept,
        }
        let raw = Raw::deserialize(deserializer)?;
        let meta = raw.metadata;
        Ok(Ksa {
            metadata: ObjectMeta {
                name: meta.name,
                namespace: meta.namespace,
                resource_version: meta.resource_version,
                annotations: Some(meta.annotations.0),
                ..ObjectMeta::default()
            },
        })
    }
}

/// The kept annotations ([`keys::read_from_ksa`]), each value cut at one character past
/// [`MAX_KSA_VALUE_CHARS`]. Every single annotation is kept; of the named families at most
/// [`MAX_KEPT_ROLES`] roles, the region of each kept role, and at most [`MAX_KEPT_ROLES`]
/// regions of no kept role (the decision warns about those). Keys longer than Kubernetes
/// allows are skipped.
#[derive(Default)]
struct Kept(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeptVisitor;
        impl<'de> Visitor<'de> for KeptVisitor {
            type Value = Kept;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("annotations")
            }
            fn visit_unit<E>(self) -> Result<Kept, E> {
                Ok(Kept::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kept, A::Error> {
                let mut kept = BTreeMap::new();
                let mut roles = 0;
                // Regions wait for the end: their role may come after them. Each is at most one
                // value of the object, which the client has bounded.
                let mut regions = Vec::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let wanted = key.len() <= MAX_ANNOTATION_KEY_CHARS
                        && keys::read_from_ksa(&key)
                        && (!key.starts_with(NAMED_ROLE_PREFIX) || roles < MAX_KEPT_ROLES);
                    if !wanted {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    let value = cut(&map.next_value::<std::borrow::Cow<'de, str>>()?);
                    if key.starts_with(NAMED_REGION_PREFIX) {
                        regions.push((key.into_owned(), value));
                    } else {
                        roles += usize::from(key.starts_with(NAMED_ROLE_PREFIX) && !kept.contains_key(key.as_ref()));
                        kept.insert(key.into_owned(), value);
                    }
                }
                let mut orphans = 0;
                for (key, value) in regions {
                    let name = &key[NAMED_REGION_PREFIX.len()..];
                    let has_role = kept.contains_key(&format!("{NAMED_ROLE_PREFIX}{name}"));
                    if has_role || orphans < MAX_KEPT_ROLES {
                        orphans += usize::from(!has_role);
                        kept.insert(key, value);
                    }
                }
                Ok(Kept(kept))
            }
        }
        deserializer.deserialize_any(KeptVisitor)
    }
}

fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_KSA_VALUE_CHARS + 1) {
        Some((end, _)) => value[..end].to_owned(),
        None => value.to_owned(),
    }
}

type Key = (String, String);

#[derive(Default)]
struct Index {
    map: HashMap<Key, Arc<Annotations>>,
    bytes: usize,
}

fn cost(key: &Key, annotations: &Annotations) -> usize {
    ENTRY_COST + key.0.len() + key.1.len() + annotations.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

impl Index {
    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.map.remove(key) {
            self.bytes -= cost(key, &old);
        }
    }

    /// Keeps `ksa` when it fits; otherwise drops any older copy (a lookup then asks the API
    /// server rather than trusting what may have changed).
    fn apply(&mut self, ksa: Ksa) {
        let Some(key) = key_of(&ksa) else { return };
        self.remove(&key);
        let annotations = ksa.metadata.annotations.unwrap_or_default();
        let size = cost(&key, &annotations);
        if self.bytes + size <= MAX_CACHE_BYTES {
            self.bytes += size;
            self.map.insert(key, Arc::new(annotations));
        }
    }
}

fn key_of(ksa: &Ksa) -> Option<Key> {
    Some((ksa.metadata.namespace.clone()?, ksa.metadata.name.clone()?))
}

/// What a lookup found: the KSA's annotations (`None`: no such KSA), and whether they come
/// straight from the API server.
#[derive(Debug, Clone)]
pub struct Found {
    pub annotations: Option<Arc<Annotations>>,
    pub fresh: bool,
}

/// Why a lookup has no answer.
#[derive(Debug)]
pub enum LookupError {
    /// The name cannot be a ServiceAccount's (nothing was asked).
    InvalidName(String),
    /// The API server did not answer usably: the webhook cannot tell whether the KSA exists.
    Unavailable(String),
}

#[derive(Clone)]
pub struct KsaCache {
    index: Arc<RwLock<Index>>,
    client: Client,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl KsaCache {
    /// Starts the watcher on a background task.
    pub fn start(client: Client, metrics: Arc<Metrics>) -> Self {
        let cache = KsaCache {
            index: Arc::default(),
            client: client.clone(),
            ready: Arc::new(AtomicBool::new(false)),
            metrics,
        };
        let api: Api<Ksa> = Api::all(client);
        let config = watcher::Config::default().page_size(PAGE_SIZE);
        let events = watcher(api, config).default_backoff();
        let task = cache.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            // A list in progress builds its own index; the previous one serves until it is done.
            let mut building: Option<Index> = None;
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Init) => building = Some(Index::default()),
                    Ok(watcher::Event::InitApply(ksa)) => building.get_or_insert_default().apply(ksa),
                    Ok(watcher::Event::InitDone) => {
                        let listed = building.take().unwrap_or_default();
                        let size = listed.map.len();
                        *task.write() = listed;
                        // The gauge first: whoever sees the webhook ready sees it synced.
                        task.metrics.set_cache_synced(true);
                        task.ready.store(true, Ordering::SeqCst);
                        tracing::info!(service_accounts = size, "KSA cache synced");
                    }
                    Ok(watcher::Event::Apply(ksa)) => task.write().apply(ksa),
                    Ok(watcher::Event::Delete(ksa)) => {
                        if let Some(key) = key_of(&ksa) {
                            task.write().remove(&key);
                        }
                    }
                    // Retried with backoff; each failure is said (e.g. RBAC: list serviceaccounts).
                    Err(error) => tracing::warn!(%error, "KSA list or watch failed; retrying"),
                }
                let size = task.index.read().unwrap_or_else(|p| p.into_inner()).map.len();
                task.metrics.set_cache_size(size);
            }
        });
        cache
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the cache has held every KSA (the first full list is in).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The KSA from the cache, or from the API server when the cache has not seen it.
    pub async fn lookup(&self, namespace: &str, name: &str) -> Result<Found, LookupError> {
        check_names(namespace, name)?;
        let key = (namespace.to_owned(), name.to_owned());
        let cached = self
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(&key)
            .cloned();
        match cached {
            Some(annotations) => Ok(Found {
                annotations: Some(annotations),
                fresh: false,
            }),
            None => self.fetch(namespace, name).await,
        }
    }

    /// The KSA straight from the API server (counted as a cache miss).
    pub async fn fetch(&self, namespace: &str, name: &str) -> Result<Found, LookupError> {
        check_names(namespace, name)?;
        self.metrics.cache_miss();
        let api: Api<Ksa> = Api::namespaced(self.client.clone(), namespace);
        match tokio::time::timeout(LOOKUP_TIMEOUT, api.get_opt(name)).await {
            Ok(Ok(ksa)) => Ok(Found {
                annotations: ksa.map(|k| Arc::new(k.metadata.annotations.unwrap_or_default())),
                fresh: true,
            }),
            Ok(Err(error)) => Err(LookupError::Unavailable(format!("the API server's answer: {error}"))),
            Err(_) => Err(LookupError::Unavailable(format!(
                "no answer from the API server within {LOOKUP_TIMEOUT:?}"
            ))),
        }
    }
}

/// The namespace must be a DNS label and the name a DNS subdomain before either goes into a
/// URL path: `../../prod/serviceaccounts/deployer` is neither. Each message names its fix.
fn check_names(namespace: &str, name: &str) -> Result<(), LookupError> {
    if !keys::dns_subdomain(namespace, 63) || namespace.contains('.') {
        return Err(LookupError::InvalidName(format!(
            "the review's namespace {:?} is not a DNS label, so no API server sent it; check what calls the webhook (only the API server should reach it)",
            shown(namespace)
        )));
    }
    if !keys::dns_subdomain(name, 253) {
        return Err(LookupError::InvalidName(format!(
            "serviceAccountName {:?} is not a valid ServiceAccount name (a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters); fix the pod's spec.serviceAccountName",
            shown(name)
        )));
    }
    Ok(())
}

fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{AUDIENCE, GSA, IDENTITY, REGION, ROLE_ARN};

    fn parsed(annotations: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
        let json = serde_json::json!({ "metadata": { "name": "r", "namespace": "t", "annotations": annotations } });
        serde_json::from_value::<Ksa>(json)
            .unwrap()
            .metadata
            .annotations
            .unwrap()
    }

    #[test]
    fn every_annotation_read_is_kept_beside_ten_named_roles_and_leftover_regions() {
        let mut annotations = serde_json::Map::new();
        for key in [ROLE_ARN, REGION, AUDIENCE, GSA, IDENTITY] {
            annotations.insert(key.into(), "v".into());
        }
        for i in 0..10 {
            annotations.insert(format!("{NAMED_ROLE_PREFIX}r{i}"), "arn".into());
            annotations.insert(format!("{NAMED_REGION_PREFIX}r{i}"), "eu-west-3".into());
        }
        // Regions left behind by removed roles: warned about, and never at a role's expense.
        for i in 0..3 {
            annotations.insert(format!("{NAMED_REGION_PREFIX}old{i}"), "eu-west-1".into());
        }
        annotations.insert("kubectl.kubernetes.io/last-applied-configuration".into(), "{}".into());
        let kept = parsed(&annotations);
        assert_eq!(kept.len(), 28, "{:?}", kept.keys());
        assert!(
            kept.keys()
                .all(|k| annotations.contains_key(k) && keys::read_from_ksa(k))
        );
    }

    #[test]
    fn named_families_are_capped_without_losing_a_single_annotation_or_a_kept_roles_region() {
        let mut annotations = serde_json::Map::new();
        for i in 0..40 {
            annotations.insert(format!("{NAMED_ROLE_PREFIX}r{i:02}"), "arn".into());
            annotations.insert(format!("{NAMED_REGION_PREFIX}a{i:02}"), "eu-west-1".into());
            annotations.insert(format!("{NAMED_REGION_PREFIX}r{i:02}"), "eu-west-3".into());
        }
        for key in [ROLE_ARN, GSA, IDENTITY] {
            annotations.insert(key.into(), "v".into());
        }
        annotations.insert(format!("{NAMED_ROLE_PREFIX}{}", "x".repeat(400)), "arn".into());
        let kept = parsed(&annotations);
        let roles: Vec<&String> = kept.keys().filter(|k| k.starts_with(NAMED_ROLE_PREFIX)).collect();
        assert_eq!(roles.len(), MAX_KEPT_ROLES, "{roles:?}");
        for role in roles {
            let region = role.replacen(NAMED_ROLE_PREFIX, NAMED_REGION_PREFIX, 1);
            assert_eq!(kept.get(&region).map(String::as_str), Some("eu-west-3"), "{region}");
        }
        let orphans = kept
            .keys()
            .filter(|k| k.starts_with("gke-aws-verifier/region.a"))
            .count();
        assert_eq!(orphans, MAX_KEPT_ROLES);
        for key in [ROLE_ARN, GSA, IDENTITY] {
            assert!(kept.contains_key(key), "{key}");
        }
        assert_eq!(kept.len(), 3 + 3 * MAX_KEPT_ROLES);
    }

    #[test]
    fn each_bad_name_says_its_own_fix() {
        let Err(LookupError::InvalidName(namespace)) = check_names("../x", "reader") else {
            panic!()
        };
        assert!(namespace.contains("check what calls the webhook"), "{namespace}");
        assert!(!namespace.contains("serviceAccountName"), "{namespace}");
        let Err(LookupError::InvalidName(name)) = check_names("team", "../x") else {
            panic!()
        };
        assert!(name.contains("fix the pod's spec.serviceAccountName"), "{name}");
    }

    #[test]
    fn a_ksa_keeps_only_what_the_webhook_reads_each_value_cut() {
        let long = "a".repeat(300_000);
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": { "name": "r", "namespace": "t", "resourceVersion": "7",
                "labels": { "x": "y" },
                "annotations": { ROLE_ARN: long, GSA: "g@p.iam.gserviceaccount.com",
                                 "kubectl.kubernetes.io/last-applied-configuration": long,
                                 "gke-aws-verifier/role.logs": "arn" } },
            "secrets": [{ "name": "s" }]
        });
        let ksa: Ksa = serde_json::from_value(json).unwrap();
        let annotations = ksa.metadata.annotations.unwrap();
        assert_eq!(annotations.len(), 3, "{:?}", annotations.keys());
        assert_eq!(annotations[ROLE_ARN].chars().count(), MAX_KSA_VALUE_CHARS + 1);
        assert_eq!(ksa.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(ksa.metadata.labels, None);
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound() {
        let mut index = Index::default();
        let role = "r".repeat(MAX_KSA_VALUE_CHARS);
        for i in 0.. {
            let mut meta = ObjectMeta {
                name: Some(format!("ksa-{i}")),
                namespace: Some("t".into()),
                ..ObjectMeta::default()
            };
            meta.annotations = Some([(ROLE_ARN.to_owned(), role.clone())].into());
            index.apply(Ksa { metadata: meta });
            if index.map.len() < i + 1 {
                break;
            }
        }
        assert!(index.bytes <= MAX_CACHE_BYTES);
        assert!(index.map.len() > 8_000, "{}", index.map.len());
    }

    #[test]
    fn names_are_checked_before_they_go_into_a_path() {
        assert!(check_names("team", "reader").is_ok());
        assert!(check_names("team", "a.b-c").is_ok());
        for (namespace, name) in [
            ("team", "../../prod/serviceaccounts/deployer"),
            ("team", "Reader"),
            ("team", ""),
            ("team", "a..b"),
            ("a/b", "reader"),
            ("te.am", "reader"),
        ] {
            assert!(
                matches!(check_names(namespace, name), Err(LookupError::InvalidName(_))),
                "{namespace} {name}"
            );
        }
        assert!(check_names("team", &"a".repeat(254)).is_err());
    }
}
