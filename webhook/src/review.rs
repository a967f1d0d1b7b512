//! An AdmissionReview read and answered, bounded: the body is first walked without building
//! anything (its uid, its size in JSON values, its containers counted), so a pod that would
//! take more memory than the webhook has is refused before it is parsed; then only the fields
//! the decision reads are parsed (the pod, the namespace, the operation). A review of another
//! kind of object (`request.kind` is not core/v1 Pod: a rule that sends more than pods) is read
//! without its object, to be allowed unchanged. The answer is written straight to JSON, its
//! patch as base64, with no intermediate tree.

use std::fmt;

use k8s_openapi::api::core::v1::Pod;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Containers (regular, init and ephemeral together) handled in one review. A pod has a few;
/// a review of thousands is someone sending the largest pod the API server accepts (3 MiB of
/// small containers), and is refused before it costs memory.
pub const MAX_CONTAINERS: usize = 250;
/// JSON values (array items and object members, at any depth) in one review. A real pod has a
/// few thousand; 3 MiB of one-byte values would be over a million, each a struct once parsed.
pub const MAX_JSON_VALUES: usize = 50_000;

/// What the API server asked, as far as the decision reads it.
#[derive(Debug)]
pub struct Request {
    pub uid: String,
    pub namespace: Option<String>,
    pub operation: String,
    pub object: Option<Pod>,
    /// The object's kind when it is not a Pod (`group/version Kind`, capped): then `object` is
    /// `None` and the review is allowed unchanged.
    pub not_pod: Option<String>,
}

/// A review that cannot be decided: the uid when it could be read, and why.
#[derive(Debug, PartialEq)]
pub struct Unreadable {
    pub uid: Option<String>,
    pub problem: String,
}

/// Reads a review: the shape walk first, then the fields the decision needs.
pub fn read(body: &[u8]) -> Result<Request, Unreadable> {
    let mut shape = Shape::default();
    let walked = Walk {
        shape: &mut shape,
        path: &mut Vec::new(),
        depth: 0,
    }
    .deserialize(&mut serde_json::Deserializer::from_slice(body));
    let uid = shape.uid.take();
    let unreadable = |problem: String| Unreadable {
        uid: uid.clone(),
        problem,
    };
    if let Err(error) = walked {
        return Err(unreadable(format!("not an AdmissionReview: {error}")));
    }
    if let Some(kind) = shape.kind.not_pod() {
        // Not parsed, so not bounded by the pod's limits: the object is skipped unread.
        let head: IncomingHead =
            serde_json::from_slice(body).map_err(|e| unreadable(format!("not an AdmissionReview: {e}")))?;
        let request = head
            .request
            .ok_or_else(|| unreadable("not an AdmissionReview request: it has no \"request\"".into()))?;
        return Ok(Request {
            uid: request.uid,
            namespace: request.namespace,
            operation: request.operation,
            object: None,
            not_pod: Some(kind),
        });
    }
    if shape.containers > MAX_CONTAINERS {
        return Err(unreadable(format!(
            "the pod has {} containers; the webhook handles at most {MAX_CONTAINERS} per pod (split it, or leave it without the gke-aws-verifier/inject label)",
            shape.containers
        )));
    }
    if shape.values > MAX_JSON_VALUES {
        return Err(unreadable(format!(
            "it holds {} JSON values; the webhook handles at most {MAX_JSON_VALUES} per review",
            shape.values
        )));
    }
    let review: Incoming =
        serde_json::from_slice(body).map_err(|e| unreadable(format!("not an AdmissionReview of a Pod: {e}")))?;
    let request = review
        .request
        .ok_or_else(|| unreadable("not an AdmissionReview request: it has no \"request\"".into()))?;
    Ok(Request {
        uid: request.uid,
        namespace: request.namespace,
        operation: request.operation,
        object: request.object,
        not_pod: None,
    })
}

/// A review without its object.
#[derive(Deserialize)]
struct IncomingHead {
    request: Option<RequestHead>,
}

#[derive(Deserialize)]
struct RequestHead {
    uid: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: String,
}

#[derive(Deserialize)]
struct Incoming {
    request: Option<IncomingRequest>,
}

/// The rest of the request (userInfo, oldObject, options) is skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingRequest {
    uid: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    object: Option<Pod>,
}

#[derive(Default)]
struct Shape {
    uid: Option<String>,
    kind: ReviewedKind,
    values: usize,
    containers: usize,
}

/// `request.kind`, the kind of the object under review, as far as the walk found it.
#[derive(Default)]
struct ReviewedKind {
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
}

impl ReviewedKind {
    /// `group/version Kind` when it names something other than a core/v1 Pod (`None` when the
    /// review does not say: it is read as a Pod, as before `request.kind` was looked at).
    fn not_pod(&self) -> Option<String> {
        let kind = self.kind.as_deref()?;
        let group = self.group.as_deref().unwrap_or("");
        if group.is_empty() && kind == "Pod" {
            return None;
        }
        let version = self.version.as_deref().unwrap_or("");
        let group_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        Some(format!("{group_version} {kind}"))
    }
}

/// A walk over any JSON value that allocates only the object keys of its first levels (the
/// path to `request.uid` and to the pod's container lists).
struct Walk<'s, 'p> {
    shape: &'s mut Shape,
    path: &'p mut Vec<String>,
    depth: usize,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
/// Keys kept for the path: `request.object.spec.containers` is four deep.
const PATH_DEPTH: usize = 4;

impl<'p> Walk<'_, 'p> {
    fn in_container_list(&self) -> bool {
        self.depth == PATH_DEPTH
            && matches!(&self.path[..], [r, o, s, list] if r == "request" && o == "object" && s == "spec"
            && CONTAINER_LISTS.contains(&list.as_str()))
    }

    /// Counted, not refused here: the walk goes on (allocating nothing) to find the uid,
    /// wherever it is in the body.
    fn count<E: de::Error>(&mut self) -> Result<(), E> {
        self.shape.values += 1;
        Ok(())
    }

    /// The walk one level down, under `key` (kept while the path is short).
    fn below<'q>(&'q mut self, key: Option<String>) -> Walk<'q, 'q> {
        if self.depth < PATH_DEPTH {
            self.path.push(key.unwrap_or_default());
        }
        Walk {
            shape: self.shape,
            path: self.path,
            depth: self.depth + 1,
        }
    }

    fn up(&mut self) {
        if self.depth < PATH_DEPTH {
            self.path.pop();
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        if self.depth == 2 && matches!(&self.path[..], [r, u] if r == "request" && u == "uid") {
            // A uid is a UUID; anything longer is not echoed back whole.
            self.shape.uid = Some(value.chars().take(128).collect());
        }
        if self.depth == 3 && matches!(&self.path[..2], [r, k] if r == "request" && k == "kind") {
            // Kubernetes group, version and kind names are short; longer is not echoed whole.
            let kept = Some(value.chars().take(64).collect());
            match self.path[2].as_str() {
                "group" => self.shape.kind.group = kept,
                "version" => self.shape.kind.version = kept,
                "kind" => self.shape.kind.kind = kept,
                _ => {}
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let containers = self.in_container_list();
        loop {
            self.count()?;
            let item = seq.next_element_seed(self.below(None));
            self.up();
            if item?.is_none() {
                return Ok(());
            }
            if containers {
                self.shape.containers += 1;
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        loop {
            let key = if self.depth < PATH_DEPTH {
                map.next_key::<String>()?.map(Some)
            } else {
                map.next_key::<IgnoredAny>()?.map(|_| None)
            };
            let Some(key) = key else {
                return Ok(());
            };
            self.count()?;
            let value = map.next_value_seed(self.below(key));
            self.up();
            value?;
        }
    }
}

/// The answer to a review.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Allow {
        warnings: Vec<String>,
    },
    Patch {
        patch: json_patch::Patch,
        warnings: Vec<String>,
    },
    Deny {
        code: u16,
        message: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Review<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: Response<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a [String]>,
}

/// A metav1.Status, as the API server shows a denial to the user.
#[derive(Serialize)]
struct Status<'a> {
    status: &'static str,
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// The review's answer as the API server reads it (`admission.k8s.io/v1`); an empty uid when
/// the request's could not be read (the API server then says the webhook answered badly,
/// with the message).
pub fn encode(uid: &str, answer: &Answer) -> serde_json::Result<Vec<u8>> {
    fn some(warnings: &[String]) -> Option<&[String]> {
        Some(warnings).filter(|w| !w.is_empty())
    }
    let response = match answer {
        Answer::Allow { warnings } => Response {
            uid,
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: some(warnings),
        },
        Answer::Patch { patch, warnings } => {
            // The patch written as JSON straight into the base64 encoder.
            let mut encoder = base64::write::EncoderStringWriter::new(&base64::engine::general_purpose::STANDARD);
            serde_json::to_writer(&mut encoder, patch)?;
            Response {
                uid,
                allowed: true,
                status: None,
                patch: Some(encoder.into_inner()),
                patch_type: Some("JSONPatch"),
                warnings: some(warnings),
            }
        }
        Answer::Deny { code, message } => Response {
            uid,
            allowed: false,
            status: Some(Status {
                status: "Failure",
                code: *code,
                reason: if *code == 400 { "BadRequest" } else { "Forbidden" },
                message,
            }),
            patch: None,
            patch_type: None,
            warnings: None,
        },
    };
    serde_json::to_vec(&Review {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review(pod: serde_json::Value) -> Vec<u8> {
        json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": { "uid": "u-1", "namespace": "team", "operation": "CREATE", "object": pod,
                             "userInfo": { "username": "x", "extra": { "a": ["b"] } } } })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_review_is_read_with_its_pod() {
        let request = read(&review(
            json!({ "metadata": { "name": "p" }, "spec": { "containers": [{ "name": "a" }] } }),
        ))
        .unwrap();
        assert_eq!(request.uid, "u-1");
        assert_eq!(request.operation, "CREATE");
        assert_eq!(request.namespace.as_deref(), Some("team"));
        assert_eq!(request.object.unwrap().spec.unwrap().containers[0].name, "a");
    }

    #[test]
    fn another_kind_of_object_is_read_without_it_and_without_the_pods_limits() {
        let env: Vec<_> = (0..MAX_JSON_VALUES)
            .map(|i| json!({ "name": format!("E{i}") }))
            .collect();
        let deployment = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": { "uid": "u-9", "namespace": "team", "operation": "CREATE",
                         "kind": { "group": "apps", "version": "v1", "kind": "Deployment" },
                         "object": { "kind": "Deployment", "spec": { "template": { "spec": {
                             "containers": [{ "name": "a", "env": env }] } } } } } });
        let request = read(deployment.to_string().as_bytes()).unwrap();
        assert_eq!(request.uid, "u-9");
        assert_eq!(request.not_pod.as_deref(), Some("apps/v1 Deployment"));
        assert!(request.object.is_none());
        let binding = json!({ "request": { "uid": "u-8", "operation": "CREATE",
            "kind": { "group": "", "version": "v1", "kind": "Binding" }, "object": { "target": {} } } });
        assert_eq!(
            read(binding.to_string().as_bytes()).unwrap().not_pod.as_deref(),
            Some("v1 Binding")
        );
        // A Pod, said so, is read as one.
        let pod = json!({ "request": { "uid": "u-7", "operation": "CREATE",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "object": { "spec": { "containers": [{ "name": "a" }] } } } });
        let request = read(pod.to_string().as_bytes()).unwrap();
        assert_eq!(request.not_pod, None);
        assert!(request.object.is_some());
    }

    #[test]
    fn a_malformed_review_keeps_its_uid_when_readable() {
        let body = br#"{"request":{"uid":"u-2","object":{"spec":{"containers":"not a list"}}}}"#;
        let error = read(body).unwrap_err();
        assert_eq!(error.uid.as_deref(), Some("u-2"));
        assert!(
            error.problem.contains("not an AdmissionReview of a Pod"),
            "{}",
            error.problem
        );
        let error = read(b"{\"request\": {\"uid\": \"u-3\", ").unwrap_err();
        assert_eq!(error.uid.as_deref(), Some("u-3"), "read before the JSON broke off");
        assert_eq!(read(b"[]").unwrap_err().uid, None);
    }

    #[test]
    fn too_many_containers_are_refused_before_parsing() {
        let containers: Vec<_> = (0..=MAX_CONTAINERS)
            .map(|i| json!({ "name": format!("c{i}") }))
            .collect();
        let error = read(&review(json!({ "spec": { "initContainers": containers } }))).unwrap_err();
        assert_eq!(error.uid.as_deref(), Some("u-1"));
        assert!(error.problem.contains("251 containers"), "{}", error.problem);
        let env: Vec<_> = (0..MAX_JSON_VALUES)
            .map(|i| json!({ "name": format!("E{i}") }))
            .collect();
        let error = read(&review(
            json!({ "spec": { "containers": [{ "name": "a", "env": env }] } }),
        ))
        .unwrap_err();
        assert!(error.problem.contains("at most 50000 per review"), "{}", error.problem);
    }

    #[test]
    fn answers_are_the_api_servers_form() {
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{ "op": "add", "path": "/a", "value": 1 }])).unwrap();
        let out: serde_json::Value = serde_json::from_slice(
            &encode(
                "u",
                &Answer::Patch {
                    patch,
                    warnings: vec![],
                },
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            out["response"]["patch"],
            "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d"
        );
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        assert_eq!(out["response"].get("warnings"), None);
        let denied: serde_json::Value = serde_json::from_slice(
            &encode(
                "u",
                &Answer::Deny {
                    code: 403,
                    message: "no".into(),
                },
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            denied["response"],
            json!({ "uid": "u", "allowed": false, "status": { "status": "Failure", "code": 403, "reason": "Forbidden", "message": "no" } })
        );
    }
}
