//! Structured Pods and settings through decision and injection, checking the invariants:
//! protected namespaces and host-network Pods are never injected, the Pod's own containers
//! all survive, and injecting the injected Pod again changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use sidecar_injector::admission::{Outcome, evaluate};
use sidecar_injector::settings::Settings;

#[derive(Debug, Arbitrary)]
struct Case {
    namespace: Namespace,
    policy_enabled: bool,
    native_sidecars: bool,
    hold: bool,
    host_network: Option<bool>,
    label: Option<String>,
    annotation: Option<String>,
    labels: Vec<(String, String)>,
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    volumes: Vec<String>,
    template_arg: String,
    extra: Vec<(String, Leaf)>,
}

#[derive(Debug, Arbitrary)]
enum Namespace {
    KubeSystem,
    KubePublic,
    Ignored,
    Other(String),
}

#[derive(Debug, Arbitrary)]
struct Container {
    name: String,
    extra: Vec<(String, Leaf)>,
}

#[derive(Debug, Arbitrary)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
}

impl Leaf {
    fn json(&self) -> Value {
        match self {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => json!(b),
            Leaf::Int(i) => json!(i),
            Leaf::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Leaf::Text(s) => json!(s),
            Leaf::List(items) => json!(items),
        }
    }
}

fn fields(extra: &[(String, Leaf)], skip: &[&str]) -> Map<String, Value> {
    extra
        .iter()
        .filter(|(key, _)| !skip.contains(&key.as_str()))
        .map(|(key, leaf)| (key.clone(), leaf.json()))
        .collect()
}

fn containers(list: &[Container]) -> Value {
    Value::Array(
        list.iter()
            .map(|c| {
                let mut container = fields(&c.extra, &["name", "env", "ports", "volumeMounts"]);
                container.insert("name".into(), json!(c.name));
                Value::Object(container)
            })
            .collect(),
    )
}

fuzz_target!(|case: Case| {
    let namespace = match &case.namespace {
        Namespace::KubeSystem => "kube-system",
        Namespace::KubePublic => "kube-public",
        Namespace::Ignored => "ignored",
        Namespace::Other(name) => name.as_str(),
    };
    let mut labels: Map<String, Value> = case
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if let Some(label) = &case.label {
        labels.insert("sidecar.istio.io/inject".into(), json!(label));
    }
    let mut annotations = Map::new();
    if let Some(annotation) = &case.annotation {
        annotations.insert("sidecar.istio.io/inject".into(), json!(annotation));
    }
    let mut spec = fields(
        &case.extra,
        &[
            "containers",
            "initContainers",
            "volumes",
            "hostNetwork",
            "imagePullSecrets",
        ],
    );
    spec.insert("containers".into(), containers(&case.containers));
    if !case.init_containers.is_empty() {
        spec.insert("initContainers".into(), containers(&case.init_containers));
    }
    if !case.volumes.is_empty() {
        spec.insert(
            "volumes".into(),
            json!(
                case.volumes
                    .iter()
                    .map(|v| json!({"name": v}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if let Some(host_network) = case.host_network {
        spec.insert("hostNetwork".into(), json!(host_network));
    }
    let pod = json!({"metadata": {"name": "p", "labels": labels, "annotations": annotations}, "spec": spec});

    let settings = json!({
        "policy": if case.policy_enabled { "enabled" } else { "disabled" },
        "ignoredNamespaces": ["ignored"],
        "nativeSidecars": case.native_sidecars,
        "holdApplicationUntilProxyStarts": case.hold,
        "template": {
            "initContainers": [{"name": "mesh-init", "image": "proxy"}],
            "containers": [{"name": "sidecar", "image": "proxy", "args": [case.template_arg]}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }
    });
    // Template strings that do not compile are refused at load, before any request.
    if Settings::validate(settings.to_string().as_bytes()).is_err() {
        return;
    }
    let run = |object: &Value| -> Outcome {
        let payload = json!({
            "request": {
                "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "namespace": namespace, "operation": "CREATE", "object": object
            },
            "settings": settings,
        });
        evaluate(payload.to_string().as_bytes()).outcome
    };

    let outcome = run(&pod);
    let protected = matches!(
        case.namespace,
        Namespace::KubeSystem | Namespace::KubePublic | Namespace::Ignored
    );
    if let Some(injected) = outcome.mutated_pod() {
        assert!(
            !protected && case.host_network != Some(true),
            "a security rule was bypassed"
        );
        let names = |pod: &Value, list: &str| -> Vec<String> {
            pod["spec"][list].as_array().map_or(Vec::new(), |items| {
                items
                    .iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
        };
        let after: Vec<String> = [
            names(&injected, "containers"),
            names(&injected, "initContainers"),
        ]
        .concat();
        for name in [names(&pod, "containers"), names(&pod, "initContainers")].concat() {
            assert!(after.contains(&name), "container {name:?} was lost");
        }
        let again = run(&injected);
        assert!(
            matches!(again, Outcome::Accept(_)),
            "injection is not idempotent: {again:?}"
        );
    }
});
