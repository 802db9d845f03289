//! The Namespace a Pod is created in, read from the cluster only when something asks for it: the
//! settings' namespace rules ([`crate::namespace_rules`]) for its labels, a template string for
//! `ns` (its labels and annotations). A request that asks for nothing reads nothing: without those
//! settings and templates, no host call is made.
//!
//! How it is read is the caller's: the policy asks the policy server (`kubernetes/get_resource`,
//! answered from the policy server's cache of the cluster), the CLI and the playground look in the
//! Namespace manifests they were given, tests give a map. [`NamespaceSource`] reads once per
//! request, whoever asks first, and keeps the answer, or the failure, for the others.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::error::json_type;
use crate::webhook::NAMESPACE_NAME_LABEL;

/// Reads a Namespace by name: its object as JSON text, or why it could not be read.
pub type ReadNamespace = dyn Fn(&str) -> Result<String, String> + Send + Sync;

/// What the policy uses of a Namespace: its labels and annotations, and the object itself, which
/// template strings read as `ns`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Namespace {
    pub name: String,
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
    /// The object as JSON text, as it was read.
    pub object: String,
}

/// Why the Pod's Namespace could not be used: the policy never guesses what it would have said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace {namespace} could not be read, and {needed}: {cause}")]
pub struct NamespaceError {
    pub namespace: String,
    /// What needed it, as the message says it: "the policy's namespaceRules decide by its labels".
    pub needed: String,
    pub cause: String,
}

/// The Pod's Namespace, read at most once, when first asked for. Cheap to clone: the clones share
/// the answer.
#[derive(Clone)]
pub struct NamespaceSource {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    read: Option<Arc<ReadNamespace>>,
    got: OnceLock<Result<Arc<Namespace>, String>>,
}

impl fmt::Debug for NamespaceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceSource")
            .field("name", &self.inner.name)
            .field("got", &self.inner.got.get())
            .finish()
    }
}

impl NamespaceSource {
    /// The Namespace `name`, read with `read` when asked for.
    pub fn new(name: &str, read: Arc<ReadNamespace>) -> Self {
        Self::with(name, Some(read))
    }

    /// A Namespace that cannot be read: where the caller has no way to (every ask fails, saying
    /// so).
    pub fn unreadable(name: &str) -> Self {
        Self::with(name, None)
    }

    /// A Namespace known already (tests, and callers that hold it).
    pub fn known(namespace: Namespace) -> Self {
        let source = Self::with(&namespace.name.clone(), None);
        let _ = source.inner.got.set(Ok(Arc::new(namespace)));
        source
    }

    fn with(name: &str, read: Option<Arc<ReadNamespace>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_string(),
                read,
                got: OnceLock::new(),
            }),
        }
    }

    /// The Namespace's name (the request's).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The Namespace, read now if it was not yet; `needed` says what needs it, for the error.
    pub fn get(&self, needed: &str) -> Result<Arc<Namespace>, NamespaceError> {
        self.fetch().clone().map_err(|cause| NamespaceError {
            namespace: self.inner.name.clone(),
            needed: needed.to_string(),
            cause,
        })
    }

    /// The answer, reading it on the first call.
    fn fetch(&self) -> &Result<Arc<Namespace>, String> {
        self.inner.got.get_or_init(|| {
            let Some(read) = &self.inner.read else {
                return Err("nothing here can read Namespaces".to_string());
            };
            let text = read(&self.inner.name)?;
            Namespace::from_json(&text, &self.inner.name).map(Arc::new)
        })
    }

    /// Whether it was asked for (and so read, or tried): for the tests that say a request made
    /// no host call.
    pub fn was_read(&self) -> bool {
        self.inner.got.get().is_some()
    }
}

impl Namespace {
    /// A hash of the labels and annotations (16 hex digits), which template strings read as `ns`:
    /// recorded in the status annotation of a Pod whose templates read them, so that the stale
    /// report can tell when they changed. Key order does not count.
    pub fn hash(&self) -> String {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (part, map) in [(b"labels", &self.labels), (b"annots", &self.annotations)] {
            hasher.update(part);
            let mut keys: Vec<&String> = map.keys().collect();
            crate::sort::sort(&mut keys);
            for key in keys {
                let value = map
                    .get(key.as_str())
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                for text in [key.as_str(), value] {
                    hasher.update(&(text.len() as u64).to_le_bytes());
                    hasher.update(text.as_bytes());
                }
            }
        }
        format!("{:016x}", hasher.digest())
    }

    /// The Namespace `name` with `labels` and `annotations`, as the API server would hold it: with
    /// the name label it gives every Namespace, and as an object for `ns`.
    pub fn of(name: &str, mut labels: Map<String, Value>, annotations: Map<String, Value>) -> Self {
        labels.insert(NAMESPACE_NAME_LABEL.into(), name.into());
        let object = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
        })
        .to_string();
        Self {
            name: name.to_string(),
            labels,
            annotations,
            object,
        }
    }

    /// Reads a Namespace object, as the API server returns it: `name` is the one asked for, and
    /// must be the object's.
    pub fn from_json(text: &str, name: &str) -> Result<Self, String> {
        let object: Value = serde_json::from_str(text)
            .map_err(|e| format!("the answer is not a Kubernetes object: {e}"))?;
        let field = |key: &str| object.get(key).unwrap_or(&Value::Null);
        let kind = field("kind");
        if !kind.is_null() && kind != "Namespace" {
            let kind = kind
                .as_str()
                .map_or_else(|| kind.to_string(), str::to_string);
            return Err(format!("the answer is a {kind}, not a Namespace"));
        }
        let metadata = field("metadata");
        if let Some(found) = metadata.get("name").and_then(Value::as_str)
            && found != name
        {
            return Err(format!("the answer is Namespace {found:?}, not {name:?}"));
        }
        let map = |key: &str| -> Result<Map<String, Value>, String> {
            match metadata.get(key) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(map)) => {
                    if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
                        return Err(format!(
                            "metadata.{key}.{k}: expected a string, got {}",
                            json_type(v)
                        ));
                    }
                    Ok(map.clone())
                }
                Some(other) => Err(format!(
                    "metadata.{key}: expected an object, got {}",
                    json_type(other)
                )),
            }
        };
        let mut labels = map("labels")?;
        // The API server gives every Namespace this label (Kubernetes ≥ 1.21); selectors use it.
        labels
            .entry(NAMESPACE_NAME_LABEL)
            .or_insert_with(|| Value::from(name));
        Ok(Self {
            name: name.to_string(),
            labels,
            annotations: map("annotations")?,
            object: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(
        answer: Result<&'static str, &'static str>,
    ) -> (Arc<AtomicUsize>, Arc<ReadNamespace>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let read: Arc<ReadNamespace> = Arc::new(move |_: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            answer.map(str::to_string).map_err(str::to_string)
        });
        (calls, read)
    }

    #[test]
    fn read_once_when_first_asked() {
        let (calls, read) = counting(Ok(
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"istio-injection":"enabled"},"annotations":{"a":"b"}}}"#,
        ));
        let source = NamespaceSource::new("shop", read);
        assert!(!source.was_read());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let namespace = source.get("test").unwrap();
        assert_eq!(namespace.labels["istio-injection"], "enabled");
        assert_eq!(namespace.annotations["a"], "b");
        let again = source.clone();
        again.get("test").unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(source.was_read());
    }

    #[test]
    fn a_failure_names_the_namespace_what_needed_it_and_the_cause() {
        let (calls, read) = counting(Err("forbidden: policy-server cannot get namespaces"));
        let source = NamespaceSource::new("shop", read);
        let error = source
            .get("the policy's namespaceRules decide by its labels")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "namespace shop could not be read, and the policy's namespaceRules decide by its labels: forbidden: policy-server cannot get namespaces"
        );
        let again = source.get("x").unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a failure is not retried");
        assert_eq!(
            again.cause,
            "forbidden: policy-server cannot get namespaces"
        );
    }

    #[rstest::rstest]
    #[case::not_json("not json", "the answer is not a Kubernetes object")]
    #[case::other_kind(
        r#"{"kind":"Pod","metadata":{"name":"shop"}}"#,
        "the answer is a Pod, not a Namespace"
    )]
    #[case::other_name(
        r#"{"kind":"Namespace","metadata":{"name":"web"}}"#,
        "the answer is Namespace \"web\", not \"shop\""
    )]
    #[case::labels_not_strings(
        r#"{"kind":"Namespace","metadata":{"labels":{"a":1}}}"#,
        "metadata.labels.a: expected a string, got a number"
    )]
    #[case::annotations_not_object(
        r#"{"kind":"Namespace","metadata":{"annotations":[]}}"#,
        "metadata.annotations: expected an object, got an array"
    )]
    fn answers_that_are_not_a_namespace_are_refused(#[case] text: &str, #[case] expected: &str) {
        let error = Namespace::from_json(text, "shop").unwrap_err();
        assert!(error.starts_with(expected), "{error}");
    }

    #[test]
    fn the_hash_is_of_labels_and_annotations_whatever_their_order() {
        let read = |text: &str| Namespace::from_json(text, "shop").unwrap();
        let a = read(r#"{"metadata":{"labels":{"a":"1","b":"2"},"annotations":{"x":"y"}}}"#);
        let b =
            read(r#"{"metadata":{"labels":{"b":"2","a":"1"},"annotations":{"x":"y"},"uid":"u"}}"#);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 16);
        for changed in [
            r#"{"metadata":{"labels":{"a":"1","b":"3"},"annotations":{"x":"y"}}}"#,
            r#"{"metadata":{"labels":{"a":"1","b":"2"},"annotations":{"x":"z"}}}"#,
            r#"{"metadata":{"labels":{"a":"1","b":"2"},"annotations":{"x":"y","w":""}}}"#,
            // A label moved to the annotations.
            r#"{"metadata":{"labels":{"a":"1"},"annotations":{"x":"y","b":"2"}}}"#,
        ] {
            assert_ne!(read(changed).hash(), a.hash(), "{changed}");
        }
    }

    #[test]
    fn no_reader_says_so() {
        let error = NamespaceSource::unreadable("shop").get("x").unwrap_err();
        assert_eq!(error.cause, "nothing here can read Namespaces");
    }

    #[test]
    fn a_namespace_without_metadata_has_no_labels() {
        let namespace = Namespace::from_json(r#"{"kind":"Namespace"}"#, "shop").unwrap();
        assert_eq!(namespace.name, "shop");
        assert_eq!(namespace.labels.len(), 1, "only the name label");
        assert_eq!(namespace.labels[NAMESPACE_NAME_LABEL], "shop");
        assert!(namespace.annotations.is_empty());
    }
}
