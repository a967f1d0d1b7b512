//! The ServiceAccounts the webhook reads, from a kube-rs watcher (list in pages sized to the
//! objects, then watch), with a direct GET when the cache has not seen a KSA, or when its copy
//! would refuse the pod (a KSA annotated a moment before its pod must not be refused from a
//! cache that is behind). The webhook answers reviews from the first list page on: until the
//! first full list is in (synced), a KSA not seen yet is read from the API server directly, so a
//! replica that is warming up admits pods instead of refusing them. A later watch failure is
//! retried with backoff; a relist updates the cache in place (what it has not reached yet keeps
//! serving) and drops, at its end, the KSAs it did not list.
//!
//! Bounded: a KSA is read as [`Ksa`], which keeps its name, namespace, resourceVersion and only
//! the annotations the webhook reads, each cut one character past the longest valid value (so
//! the decision still refuses it as too long), at most [`MAX_KEPT_ROLES`] named roles; the rest of the
//! object is skipped while parsing, never held as a tree. The cache keeps each KSA packed (one
//! key, one buffer of its kept annotations: about 250 bytes for a KSA with a role and a GSA) and
//! holds at most [`MAX_CACHE_BYTES`]; past it, KSAs are left out and looked up directly.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::api_client::START_LIMIT;
use crate::keys::{self, MAX_ANNOTATION_KEY_CHARS, MAX_KSA_VALUE_CHARS, NAMED_REGION_PREFIX, NAMED_ROLE_PREFIX};
use crate::metrics::Metrics;
use crate::mutate::Annotations;

/// Bound on the direct lookup: the API server gives the whole admission a few seconds.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// Named roles kept per KSA: one more than a pod may have, so the decision sees (and refuses)
/// one too many.
pub const MAX_KEPT_ROLES: usize = gke_aws_verifier::profiles::MAX_NAMED_ROLES + 1;
/// What the cache may hold: its keys and packed annotations plus a fixed cost per KSA (the map's
/// slot and the allocator's share), close to what it takes. 100,000 KSAs with a role and a GSA
/// take about 25 MB.
pub const MAX_CACHE_BYTES: usize = 40 << 20;
const ENTRY_COST: usize = 64;
/// Longest error kept for the readiness probe's answer.
const MAX_ERROR_CHARS: usize = 300;

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

/// `namespace/name` (a `/` is in neither).
type Key = Box<str>;

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A cached KSA: its kept annotations packed, and the list that last saw it.
struct Entry {
    packed: Box<[u8]>,
    generation: u32,
}

/// The annotations as one buffer: each key and value after its length (4 bytes, little-endian).
fn pack(annotations: &Annotations) -> Box<[u8]> {
    let mut out = Vec::with_capacity(annotations.iter().map(|(k, v)| 8 + k.len() + v.len()).sum());
    for (k, v) in annotations {
        for part in [k, v] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out.into_boxed_slice()
}

fn unpack(mut packed: &[u8]) -> Annotations {
    let mut next = || -> Option<String> {
        let (len, rest) = packed.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let part = rest.get(..len)?;
        packed = &rest[len..];
        String::from_utf8(part.to_vec()).ok()
    };
    let mut annotations = Annotations::new();
    while let (Some(k), Some(v)) = (next(), next()) {
        annotations.insert(k, v);
    }
    annotations
}

#[derive(Default)]
struct Index {
    map: HashMap<Key, Entry>,
    bytes: usize,
    /// The list in progress (or the last one): entries it did not see go at its end.
    generation: u32,
}

fn cost(key: &str, packed: &[u8]) -> usize {
    ENTRY_COST + key.len() + packed.len()
}

impl Index {
    fn remove(&mut self, key: &str) {
        if let Some((key, old)) = self.map.remove_entry(key) {
            self.bytes -= cost(&key, &old.packed);
        }
    }

    /// Keeps `ksa` when it fits; otherwise drops any older copy (a lookup then asks the API
    /// server rather than trusting what may have changed).
    fn apply(&mut self, ksa: Ksa) {
        let Some(key) = key_of(&ksa) else { return };
        self.remove(&key);
        let packed = pack(&ksa.metadata.annotations.unwrap_or_default());
        let size = cost(&key, &packed);
        if self.bytes + size <= MAX_CACHE_BYTES {
            self.bytes += size;
            let generation = self.generation;
            self.map.insert(key.into_boxed_str(), Entry { packed, generation });
        }
    }

    /// A list starts: what it updates is marked as seen.
    fn start_list(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// The list is complete: the KSAs it did not see are gone.
    fn end_list(&mut self) {
        let generation = self.generation;
        let mut freed = 0;
        self.map.retain(|key, entry| {
            let kept = entry.generation == generation;
            if !kept {
                freed += cost(key, &entry.packed);
            }
            kept
        });
        self.bytes -= freed;
    }

    fn get(&self, namespace: &str, name: &str) -> Option<Annotations> {
        self.map.get(key(namespace, name).as_str()).map(|e| unpack(&e.packed))
    }
}

fn key_of(ksa: &Ksa) -> Option<String> {
    Some(key(ksa.metadata.namespace.as_deref()?, ksa.metadata.name.as_deref()?))
}

/// Where the cache stands, for the readiness probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// No list page yet: reviews cannot be answered reliably (the last error, if any).
    Waiting { last_error: Option<String> },
    /// Pages are coming: `listed` KSAs of the first list so far; others are read directly.
    Warming { listed: usize },
    /// The first full list is in: `size` KSAs held.
    Synced { size: usize },
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
    /// The first full list is in.
    synced: Arc<AtomicBool>,
    /// KSAs the first list has delivered so far (from its first page on).
    listed: Arc<AtomicUsize>,
    /// A first page has come: reviews can be answered (KSAs not seen yet by direct GET).
    answering: Arc<AtomicBool>,
    last_error: Arc<Mutex<Option<String>>>,
    metrics: Arc<Metrics>,
}

impl KsaCache {
    /// Starts the watcher on a background task.
    pub fn start(client: Client, metrics: Arc<Metrics>) -> Self {
        let cache = KsaCache {
            index: Arc::default(),
            client: client.clone(),
            synced: Arc::default(),
            listed: Arc::default(),
            answering: Arc::default(),
            last_error: Arc::default(),
            metrics,
        };
        let api: Api<Ksa> = Api::all(client);
        // The client's layer sizes every page to its objects (crate::paging); this is the first.
        let config = watcher::Config::default().page_size(START_LIMIT);
        let events = watcher(api, config).default_backoff();
        let task = cache.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                task.on(event);
            }
        });
        cache
    }

    fn on(&self, event: Result<watcher::Event<Ksa>, watcher::Error>) {
        match event {
            Ok(watcher::Event::Init) => self.write().start_list(),
            Ok(watcher::Event::InitApply(ksa)) => {
                self.write().apply(ksa);
                self.answering.store(true, Ordering::SeqCst);
                if !self.synced.load(Ordering::SeqCst) {
                    self.listed.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let size = {
                    let mut index = self.write();
                    index.end_list();
                    index.map.len()
                };
                self.answering.store(true, Ordering::SeqCst);
                // The gauge first: whoever sees the cache synced sees the gauge say so.
                self.metrics.set_cache_synced(true);
                if !self.synced.swap(true, Ordering::SeqCst) {
                    tracing::info!(service_accounts = size, "KSA cache synced");
                } else {
                    tracing::info!(service_accounts = size, "KSA cache relisted");
                }
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Ok(watcher::Event::Apply(ksa)) => self.write().apply(ksa),
            Ok(watcher::Event::Delete(ksa)) => {
                if let Some(key) = key_of(&ksa) {
                    self.write().remove(&key);
                }
            }
            // Retried with backoff; each failure is said (e.g. RBAC: list serviceaccounts).
            Err(error) => {
                tracing::warn!(%error, "KSA list or watch failed; retrying");
                let said: String = error.to_string().chars().take(MAX_ERROR_CHARS).collect();
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(said);
            }
        }
        let size = self.index.read().unwrap_or_else(|p| p.into_inner()).map.len();
        self.metrics.set_cache_size(size);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the cache has held every KSA (the first full list is in).
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// Where the cache stands: waiting for its first page, warming, or synced.
    pub fn progress(&self) -> Progress {
        if self.is_synced() {
            let size = self.index.read().unwrap_or_else(|p| p.into_inner()).map.len();
            return Progress::Synced { size };
        }
        if self.answering.load(Ordering::SeqCst) {
            return Progress::Warming {
                listed: self.listed.load(Ordering::SeqCst),
            };
        }
        let last_error = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Progress::Waiting { last_error }
    }

    /// The KSA from the cache, or from the API server when the cache has not seen it.
    pub async fn lookup(&self, namespace: &str, name: &str) -> Result<Found, LookupError> {
        check_names(namespace, name)?;
        let cached = self
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace, name);
        match cached {
            Some(annotations) => Ok(Found {
                annotations: Some(Arc::new(annotations)),
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

    fn ksa(namespace: &str, name: &str, annotations: &[(&str, &str)]) -> Ksa {
        let meta = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            annotations: Some(annotations.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
            ..ObjectMeta::default()
        };
        Ksa { metadata: meta }
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound() {
        let mut index = Index::default();
        let role = "r".repeat(MAX_KSA_VALUE_CHARS);
        for i in 0.. {
            index.apply(ksa("t", &format!("ksa-{i}"), &[(ROLE_ARN, &role)]));
            if index.map.len() < i + 1 {
                break;
            }
        }
        assert!(index.bytes <= MAX_CACHE_BYTES);
        assert!(index.map.len() > 15_000, "{}", index.map.len());
    }

    #[test]
    fn a_hundred_thousand_ordinary_ksas_fit() {
        let mut index = Index::default();
        for i in 0..100_000 {
            let gsa = format!("ksa-{i}@project.iam.gserviceaccount.com");
            let annotations = [
                (ROLE_ARN, "arn:aws:iam::123456789012:role/team-reader"),
                (GSA, gsa.as_str()),
            ];
            index.apply(ksa(&format!("ns-{:05}", i / 10), &format!("ksa-{i}"), &annotations));
        }
        assert_eq!(index.map.len(), 100_000, "{} bytes", index.bytes);
        assert!(index.bytes < 30_000_000, "{} bytes", index.bytes);
    }

    #[test]
    fn annotations_come_back_as_they_were_packed() {
        let mut index = Index::default();
        let annotations = [(ROLE_ARN, "arn:aws:iam::1:role/é"), (REGION, ""), (IDENTITY, "cluster")];
        index.apply(ksa("team", "reader", &annotations));
        let got = index.get("team", "reader").unwrap();
        let want: Annotations = annotations.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        assert_eq!(got, want);
        assert_eq!(index.get("team", "other"), None);
        index.apply(ksa("team", "bare", &[]));
        assert_eq!(index.get("team", "bare"), Some(Annotations::new()));
    }

    #[test]
    fn a_relist_updates_in_place_and_drops_what_it_did_not_list_at_its_end() {
        let mut index = Index::default();
        index.start_list();
        index.apply(ksa("t", "kept", &[(ROLE_ARN, "old")]));
        index.apply(ksa("t", "gone", &[(ROLE_ARN, "x")]));
        index.end_list();
        let before = index.bytes;
        index.start_list();
        index.apply(ksa("t", "kept", &[(ROLE_ARN, "new")]));
        // Mid-list, what it has not reached yet still serves.
        assert_eq!(index.get("t", "gone").unwrap()[ROLE_ARN], "x");
        assert_eq!(index.get("t", "kept").unwrap()[ROLE_ARN], "new");
        index.end_list();
        assert_eq!(index.get("t", "gone"), None);
        assert_eq!(index.map.len(), 1);
        assert_eq!(
            index.bytes,
            before - cost("t/gone", &pack(&[(ROLE_ARN.to_owned(), "x".to_owned())].into()))
        );
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
