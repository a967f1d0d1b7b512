//! Secrets and MutatingWebhookConfigurations for the Kubernetes API stand-in
//! ([`crate::kube_api::KubeApi::objects`]): get, create, update and JSON patch, answered as
//! kube-apiserver answers them:
//!
//! - get of a missing object: 404 `NotFound`;
//! - create (POST to the collection): 201; an existing name: 409 `AlreadyExists`; a
//!   `resourceVersion` in the body: 400 (kube-apiserver: "resourceVersion should not be set on
//!   objects to be created");
//! - update (PUT): 404 for a missing object (neither kind is created on update); a Secret whose
//!   `type` changes: 422 `Invalid` (immutable); a body whose
//!   `metadata.resourceVersion` is not the stored one: 409 `Conflict` ("the object has been
//!   modified; please apply your changes to the latest version and try again", the optimistic
//!   lock of k8s.io/apiserver's generic registry); without one: unconditional;
//! - patch with `application/json-patch+json` (RFC 6902): 200; a patch that does not decode: 400;
//!   one whose operations fail (a `test` that does not hold, a path that is not there): 422, as
//!   k8s.io/apiserver/pkg/endpoints/handlers/patch.go (`jsonPatcher.applyJSPatch`) answers;
//!   other patch types: 415.
//!
//! Every write takes the next resourceVersion; `uid` and `creationTimestamp` are kept from the
//! create. Tests set the scene and play "someone else" through [`Objects::put`] and
//! [`Objects::edit`], and read what clients did through [`Objects::writes`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

/// The kinds served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Secret,
    MutatingWebhookConfiguration,
}

impl Kind {
    fn plural(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::MutatingWebhookConfiguration => "mutatingwebhookconfigurations",
        }
    }

    fn group(self) -> &'static str {
        match self {
            Kind::Secret => "",
            Kind::MutatingWebhookConfiguration => "admissionregistration.k8s.io",
        }
    }

    fn of(object: &Value) -> Option<Kind> {
        match object.get("kind")?.as_str()? {
            "Secret" => Some(Kind::Secret),
            "MutatingWebhookConfiguration" => Some(Kind::MutatingWebhookConfiguration),
            _ => None,
        }
    }
}

/// A request path this module answers: one object, or the collection it is created in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    /// None for the collection.
    pub name: Option<String>,
}

/// The path's target, if it is one of this module's.
pub fn target(segments: &[&str]) -> Option<Target> {
    let (kind, namespace, name) = match segments {
        ["api", "v1", "namespaces", ns, "secrets"] => (Kind::Secret, *ns, None),
        ["api", "v1", "namespaces", ns, "secrets", name] => (Kind::Secret, *ns, Some(*name)),
        [
            "apis",
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
        ] => (Kind::MutatingWebhookConfiguration, "", None),
        [
            "apis",
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            name,
        ] => (Kind::MutatingWebhookConfiguration, "", Some(*name)),
        _ => return None,
    };
    Some(Target {
        kind,
        namespace: namespace.to_owned(),
        name: name.map(str::to_owned),
    })
}

type Key = (Kind, String, String);

#[derive(Default)]
struct Store {
    resource_version: u64,
    objects: BTreeMap<Key, Value>,
    writes: Vec<String>,
    /// Someone else's write, made right after the next get of its object.
    after_get: Option<Value>,
}

/// The stored objects.
#[derive(Default)]
pub struct Objects {
    store: Mutex<Store>,
}

impl Objects {
    /// Answers one request: (status, body).
    pub fn handle(&self, method: &str, target: &Target, content_type: Option<&str>, body: &[u8]) -> (u16, Value) {
        let mut store = self.store.lock().unwrap();
        match (method, &target.name) {
            ("GET", Some(name)) => {
                let key = (target.kind, target.namespace.clone(), name.clone());
                let answer = match store.objects.get(&key) {
                    Some(object) => (200, object.clone()),
                    None => not_found(target.kind, name),
                };
                if store.after_get.as_ref().is_some_and(|w| key_of(target.kind, w) == key) {
                    let write = store.after_get.take().expect("checked");
                    store.commit(key, write);
                }
                answer
            }
            ("POST", None) => store.create(target, body),
            ("PUT", Some(name)) => store.update(target, name, body),
            ("PATCH", Some(name)) => store.patch(target, name, content_type, body),
            _ => (
                405,
                status(
                    405,
                    "MethodNotAllowed",
                    &format!("{method} is not supported here (stand-in)"),
                    None,
                ),
            ),
        }
    }

    /// Stores `object` as is (a new resourceVersion; uid and creationTimestamp set when
    /// missing): what was there before the test, or someone else's write.
    pub fn put(&self, object: Value) {
        let kind = Kind::of(&object).expect("a Secret or MutatingWebhookConfiguration");
        let mut store = self.store.lock().unwrap();
        let key = key_of(kind, &object);
        store.commit(key, object);
    }

    /// Changes a stored object as someone else would (e.g. empties a caBundle): a new resourceVersion.
    pub fn edit(&self, kind: Kind, namespace: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut store = self.store.lock().unwrap();
        let key = (kind, namespace.to_owned(), name.to_owned());
        let mut object = store.objects.get(&key).expect("an object to edit").clone();
        change(&mut object);
        store.commit(key, object);
    }

    /// Right after the next get of `object`'s name (answered with what was there before), stores
    /// `object` as someone else's write: a client that then creates or updates from what it read
    /// meets the 409 of a lost race, deterministically.
    pub fn after_next_get(&self, object: Value) {
        Kind::of(&object).expect("a Secret or MutatingWebhookConfiguration");
        self.store.lock().unwrap().after_get = Some(object);
    }

    /// The stored object, if any.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .get(&(kind, namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every write request so far, answered or refused: "create secrets NS/NAME 201",
    /// "update ... 409", "patch ... 200".
    pub fn writes(&self) -> Vec<String> {
        self.store.lock().unwrap().writes.clone()
    }
}

impl Store {
    fn commit(&mut self, key: Key, mut object: Value) -> Value {
        self.resource_version += 1;
        let before = self.objects.get(&key).cloned();
        let metadata = object["metadata"].as_object_mut().expect("metadata");
        metadata.insert("resourceVersion".into(), json!(self.resource_version.to_string()));
        let kept = |field: &str, default: Value| {
            before
                .as_ref()
                .and_then(|b| b["metadata"].get(field).cloned())
                .unwrap_or(default)
        };
        let uid = kept("uid", json!(format!("uid-{}-{}-{}", key.0.plural(), key.1, key.2)));
        let created = kept("creationTimestamp", json!("2026-01-01T00:00:00Z"));
        metadata.insert("uid".into(), uid);
        metadata.insert("creationTimestamp".into(), created);
        if !key.1.is_empty() {
            metadata.insert("namespace".into(), json!(key.1));
        }
        self.objects.insert(key, object.clone());
        object
    }

    fn log(&mut self, verb: &str, target: &Target, name: &str, code: u16) {
        let at = if target.namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", target.namespace)
        };
        self.writes.push(format!("{verb} {} {at} {code}", target.kind.plural()));
    }

    fn create(&mut self, target: &Target, body: &[u8]) -> (u16, Value) {
        let object = match parse(target.kind, body) {
            Ok(object) => object,
            Err(answer) => return answer,
        };
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let answer = if name.is_empty() {
            bad_request("metadata.name: Required value: name or generateName is required")
        } else if !object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            bad_request("resourceVersion should not be set on objects to be created")
        } else if self
            .objects
            .contains_key(&(target.kind, target.namespace.clone(), name.clone()))
        {
            (
                409,
                status(
                    409,
                    "AlreadyExists",
                    &format!("{} \"{name}\" already exists", target.kind.plural()),
                    Some((target.kind, &name)),
                ),
            )
        } else {
            (
                201,
                self.commit((target.kind, target.namespace.clone(), name.clone()), object),
            )
        };
        self.log("create", target, &name, answer.0);
        answer
    }

    fn update(&mut self, target: &Target, name: &str, body: &[u8]) -> (u16, Value) {
        let answer = self.update_answer(target, name, body);
        self.log("update", target, name, answer.0);
        answer
    }

    fn update_answer(&mut self, target: &Target, name: &str, body: &[u8]) -> (u16, Value) {
        let object = match parse(target.kind, body) {
            Ok(object) => object,
            Err(answer) => return answer,
        };
        let key = (target.kind, target.namespace.clone(), name.to_owned());
        let Some(stored) = self.objects.get(&key) else {
            return not_found(target.kind, name);
        };
        if object["metadata"]["name"].as_str() != Some(name) {
            return bad_request("the name of the object does not match the name on the URL");
        }
        let sent = object["metadata"]["resourceVersion"].as_str().unwrap_or_default();
        if !sent.is_empty() && Some(sent) != stored["metadata"]["resourceVersion"].as_str() {
            return conflict(target.kind, name);
        }
        // A Secret's type cannot change (kube-apiserver's validation: "field is immutable"); unset is Opaque.
        let type_of = |o: &Value| o.get("type").and_then(Value::as_str).unwrap_or("Opaque").to_owned();
        if target.kind == Kind::Secret && type_of(&object) != type_of(stored) {
            let message = format!(
                "Secret \"{name}\" is invalid: type: Invalid value: \"{}\": field is immutable",
                type_of(&object)
            );
            return (422, status(422, "Invalid", &message, Some((target.kind, name))));
        }
        (200, self.commit(key, object))
    }

    fn patch(&mut self, target: &Target, name: &str, content_type: Option<&str>, body: &[u8]) -> (u16, Value) {
        let answer = self.patch_answer(target, name, content_type, body);
        self.log("patch", target, name, answer.0);
        answer
    }

    fn patch_answer(&mut self, target: &Target, name: &str, content_type: Option<&str>, body: &[u8]) -> (u16, Value) {
        let key = (target.kind, target.namespace.clone(), name.to_owned());
        let Some(stored) = self.objects.get(&key) else {
            return not_found(target.kind, name);
        };
        if content_type.map(|c| c.split(';').next().unwrap_or_default().trim()) != Some("application/json-patch+json") {
            return (
                415,
                status(
                    415,
                    "UnsupportedMediaType",
                    "the stand-in takes only application/json-patch+json",
                    None,
                ),
            );
        }
        let patch: json_patch::Patch = match serde_json::from_slice(body) {
            Ok(patch) => patch,
            Err(e) => return bad_request(&e.to_string()),
        };
        let mut patched = stored.clone();
        if let Err(e) = json_patch::patch(&mut patched, &patch) {
            return (422, status(422, "", &e.to_string(), None));
        }
        (200, self.commit(key, patched))
    }
}

fn key_of(kind: Kind, object: &Value) -> Key {
    let text = |field: &str| object["metadata"][field].as_str().unwrap_or_default().to_owned();
    (kind, text("namespace"), text("name"))
}

fn parse(kind: Kind, body: &[u8]) -> Result<Value, (u16, Value)> {
    let object: Value =
        serde_json::from_slice(body).map_err(|e| bad_request(&format!("the body does not decode: {e}")))?;
    if Kind::of(&object) != Some(kind) || !object["metadata"].is_object() {
        return Err(bad_request("the body is not an object of the kind of its path"));
    }
    Ok(object)
}

fn status(code: u16, reason: &str, message: &str, details: Option<(Kind, &str)>) -> Value {
    let mut status = json!({ "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                             "message": message, "reason": reason, "code": code });
    if let Some((kind, name)) = details {
        status["details"] = json!({ "name": name, "group": kind.group(), "kind": kind.plural() });
    }
    status
}

fn not_found(kind: Kind, name: &str) -> (u16, Value) {
    let message = format!("{} \"{name}\" not found", kind.plural());
    (404, status(404, "NotFound", &message, Some((kind, name))))
}

fn conflict(kind: Kind, name: &str) -> (u16, Value) {
    let message = format!(
        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
        kind.plural()
    );
    (409, status(409, "Conflict", &message, Some((kind, name))))
}

fn bad_request(message: &str) -> (u16, Value) {
    (400, status(400, "BadRequest", message, None))
}
