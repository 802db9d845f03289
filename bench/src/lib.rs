//! The benchmark fixtures, generated rather than stored: admission requests for a small Pod, a
//! typical Deployment Pod, a Pod with 2000 environment variables, Pods of 10 KB to 3 MB, the
//! typical Pod under `policy: disabled` (a Pod that is not injected), and requests that are not the
//! creation of a Pod. Each says which floor it is measured against: the no-op module for what is
//! not mutated, the minimal injector (given the template already rendered for the fixture's Pod)
//! for what is.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sidecar_injector::admission::evaluate;
pub use sidecar_injector::json::sorted_keys;

/// What a fixture's request is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// Not mutated: the no-op module, given the same payload.
    NoOp,
    /// Injected: the minimal injector, given the template rendered for this Pod.
    MinimalInjector,
}

pub struct Fixture {
    pub name: String,
    pub settings: Value,
    pub request: Value,
    pub floor: Floor,
}

impl Fixture {
    /// What the policy server sends to `validate`.
    pub fn payload(&self) -> Vec<u8> {
        validate_payload(&self.request, &self.settings)
    }

    /// The minimal injector's settings: the parts sidecar-injector adds to this fixture's Pod,
    /// rendered, so that both modules return the same Pod but for the status annotation.
    pub fn minimal_settings(&self) -> Value {
        let evaluation = evaluate(&self.payload());
        let Some(pod) = evaluation.outcome.mutated_pod() else {
            panic!("{}: not injected: {:?}", self.name, evaluation.outcome);
        };
        let status: Value = pod["metadata"]["annotations"]["sidecar.istio.io/status"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .expect("a status annotation");
        let injected = |list: &str, names: &str| -> Vec<Value> {
            let names = status[names].as_array().cloned().unwrap_or_default();
            pod["spec"][list]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|item| names.contains(&item["name"]))
                .cloned()
                .collect()
        };
        // The labels and annotations injection added, as the status annotation lists them (named
        // templates' and the metrics merge's included).
        let added = |field: &str| -> Map<String, Value> {
            let keys = status[field].as_array();
            keys.into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|key| (key.to_string(), pod["metadata"][field][key].clone()))
                .collect()
        };
        // The application's probes as sidecar-injector rewrote them (probeRewrite).
        let submitted = self.request["object"]["spec"]["containers"].as_array();
        let probes: Map<String, Value> = submitted
            .into_iter()
            .flatten()
            .filter_map(|own| {
                let name = own["name"].as_str()?;
                let out = pod["spec"]["containers"]
                    .as_array()?
                    .iter()
                    .find(|c| c["name"] == name)?;
                let changed: Map<String, Value> =
                    ["readinessProbe", "livenessProbe", "startupProbe"]
                        .into_iter()
                        .filter(|probe| out[*probe] != own[*probe])
                        .map(|probe| (probe.to_string(), out[probe].clone()))
                        .collect();
                (!changed.is_empty()).then(|| (name.to_string(), Value::Object(changed)))
            })
            .collect();
        json!({"holdApplicationUntilProxyStarts": self.settings["holdApplicationUntilProxyStarts"] == true,
            "probes": probes,
            "template": {
            "containers": injected("containers", "containers"),
            "initContainers": injected("initContainers", "initContainers"),
            "volumes": injected("volumes", "volumes"),
            "imagePullSecrets": injected("imagePullSecrets", "imagePullSecrets"),
            "labels": added("labels"),
            "annotations": added("annotations"),
        }})
    }

    /// Size of the request, in KB.
    pub fn request_kb(&self) -> f64 {
        self.request.to_string().len() as f64 / 1024.0
    }
}

/// The repository's root, where `examples/` and the modules are.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The opt-in example's Istio-like settings.
pub fn istio_like_settings() -> Value {
    settings_of("examples/opt-in.yaml")
}

/// The settings of the policy manifest at `path`, from the repository's root.
fn settings_of(path: &str) -> Value {
    let manifest = std::fs::read_to_string(root().join(path)).expect("an example manifest");
    let mut manifest: serde_yaml::Value = serde_yaml::from_str(&manifest).expect("a YAML manifest");
    // examples/istio shares parts of its templates with merge keys (`<<: *annotations`).
    manifest.apply_merge().expect("YAML merge keys");
    let manifest: Value = serde_json::to_value(manifest).expect("a manifest JSON can hold");
    manifest["spec"]["settings"].clone()
}

fn request(pod: Value) -> Value {
    json!({
        "uid": "bench",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "shop",
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": pod,
        "oldObject": null,
        "dryRun": false
    })
}

/// The request for the typical Pod, changed: another operation, or another kind of object.
fn other_request(change: impl FnOnce(&mut Value)) -> Value {
    let mut request = request(typical_pod());
    change(&mut request);
    request
}

/// A Deployment of about the typical Pod's size, as its creation reaches a policy that selects Pods
/// and Deployments alike.
fn deployment() -> Value {
    let pod = typical_pod();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop-web", "namespace": "shop", "labels": pod["metadata"]["labels"]},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "shop-web"}},
                 "template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]}}
    })
}

fn typical_pod() -> Value {
    let pod = std::fs::read_to_string(root().join("examples/pod.yaml")).expect("examples/pod.yaml");
    serde_yaml::from_str(&pod).expect("a YAML Pod")
}

fn small_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "small", "labels": {"app": "small"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
    })
}

fn env(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"name": format!("{prefix}_{i:05}"), "value": format!("value-{i}-abcdefghijklmnopqrstuvwxyz")}))
        .collect()
}

/// The shape of Istio's own injection benchmark: one container with 2000 variables.
fn env_pod(count: usize) -> Value {
    let mut pod = small_pod();
    pod["spec"]["containers"][0]["env"] = Value::Array(env("VAR", count));
    pod
}

/// A Pod of at least `bytes` bytes: containers with variables and mounts, and their volumes.
fn sized_pod(bytes: usize) -> Value {
    let mut pod = typical_pod();
    let mut size = pod.to_string().len();
    let mut containers = Vec::new();
    let mut volumes = Vec::new();
    while size < bytes {
        let i = containers.len();
        let container = json!({
            "name": format!("worker-{i}"),
            "image": format!("registry.example/worker:{i}"),
            "args": ["--queue", format!("queue-{i}"), "--concurrency", "4"],
            "env": env(&format!("W{i}"), 12),
            "volumeMounts": [{"name": format!("data-{i}"), "mountPath": format!("/data/{i}")}],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}
        });
        let volume = json!({"name": format!("data-{i}"), "emptyDir": {}});
        size += container.to_string().len() + volume.to_string().len() + 2;
        containers.push(container);
        volumes.push(volume);
    }
    if let Some(list) = pod["spec"]["containers"].as_array_mut() {
        list.extend(containers);
    }
    pod["spec"]["volumes"] = Value::Array(volumes);
    pod
}

pub fn fixtures() -> Vec<Fixture> {
    let istio = istio_like_settings();
    let mut disabled = istio.clone();
    disabled["policy"] = json!("disabled");
    // Keys sorted, as the policy server serializes what it sends.
    let fixture = |name: &str, settings: &Value, request: Value, floor| Fixture {
        name: name.to_string(),
        settings: sorted_keys(settings),
        request: sorted_keys(&request),
        floor,
    };
    let injected = |name: &str, pod| fixture(name, &istio, request(pod), Floor::MinimalInjector);
    vec![
        injected("small", small_pod()),
        injected("typical", typical_pod()),
        // The settings that inject what istiod injects (examples/istio): named templates, native
        // sidecars, the workload read from the Pod's controller, the metrics merge.
        fixture(
            "istio",
            &settings_of("examples/istio/istio.yaml"),
            request(typical_pod()),
            Floor::MinimalInjector,
        ),
        fixture("skip", &disabled, request(typical_pod()), Floor::NoOp),
        fixture(
            "pod-update",
            &istio,
            other_request(|r| {
                r["operation"] = json!("UPDATE");
                r["oldObject"] = r["object"].clone();
            }),
            Floor::NoOp,
        ),
        fixture(
            "deployment",
            &istio,
            other_request(|r| {
                r["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
                r["resource"] =
                    json!({"group": "apps", "version": "v1", "resource": "deployments"});
                r["requestKind"] = r["kind"].clone();
                r["requestResource"] = r["resource"].clone();
                r["object"] = deployment();
            }),
            Floor::NoOp,
        ),
        injected("env-2000", env_pod(2000)),
        injected("size-10KB", sized_pod(10 * 1024)),
        injected("size-100KB", sized_pod(100 * 1024)),
        injected("size-1MB", sized_pod(1024 * 1024)),
        injected("size-1.5MB", sized_pod(1536 * 1024)),
        injected("size-3MB", sized_pod(3 * 1024 * 1024)),
    ]
}

/// What a guest's `validate` receives for `request` and `settings`: keys sorted, as the hosts send
/// them.
pub fn validate_payload(request: &Value, settings: &Value) -> Vec<u8> {
    json!({"request": sorted_keys(request), "settings": sorted_keys(settings)})
        .to_string()
        .into_bytes()
}

/// The module at `path`, its log output dropped: for the examples that call it in a loop.
pub fn quiet_module(path: &str) -> policy_runner::PolicyModule {
    policy_runner::PolicyModule::from_file(Path::new(path))
        .expect("a module")
        .without_log_output()
}

/// Calls `module`'s `validate` `n` times on `payload` (a fresh instance each time) and prints the
/// time per call on stderr.
pub fn time_validate(module: &policy_runner::PolicyModule, payload: &[u8], n: usize) {
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(module.call("validate", payload).expect("an answer"));
    }
    eprintln!(
        "{:.1} µs per call",
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
