//! The benchmark fixtures, generated rather than stored: admission requests for a small Pod, a
//! typical Deployment Pod, a Pod with 2000 environment variables, Pods of 10 KB to 3 MB, and the
//! typical Pod under `policy: disabled` (the path that injects nothing).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub struct Fixture {
    pub name: String,
    pub settings: Value,
    pub request: Value,
}

impl Fixture {
    /// What the policy server sends to `validate`.
    pub fn payload(&self) -> Vec<u8> {
        json!({"request": self.request, "settings": self.settings})
            .to_string()
            .into_bytes()
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
    let manifest =
        std::fs::read_to_string(root().join("examples/opt-in.yaml")).expect("examples/opt-in.yaml");
    let manifest: Value = serde_yaml::from_str(&manifest).expect("a YAML manifest");
    manifest["spec"]["settings"].clone()
}

fn request(pod: Value) -> Value {
    json!({
        "uid": "bench",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "shop",
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": pod,
        "oldObject": null,
        "dryRun": false
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
    let fixture = |name: &str, settings: &Value, pod: Value| Fixture {
        name: name.to_string(),
        settings: settings.clone(),
        request: request(pod),
    };
    vec![
        fixture("small", &istio, small_pod()),
        fixture("typical", &istio, typical_pod()),
        fixture("skip", &disabled, typical_pod()),
        fixture("env-2000", &istio, env_pod(2000)),
        fixture("size-10KB", &istio, sized_pod(10 * 1024)),
        fixture("size-100KB", &istio, sized_pod(100 * 1024)),
        fixture("size-1MB", &istio, sized_pod(1024 * 1024)),
        fixture("size-3MB", &istio, sized_pod(3 * 1024 * 1024)),
    ]
}
