//! Invariants of the policy over generated inputs: the security rules hold against any settings,
//! injection loses nothing of the submitted Pod, injection is idempotent, and the decision agrees
//! with a plain encoding of the truth table.

// A test crate: its helpers panic where a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sidecar_injector::admission::{Outcome, evaluate};
use sidecar_injector::decision::Reason;
use sidecar_injector::json::sorted_keys;
use sidecar_injector::keys::STATUS_KEY;
use sidecar_injector::settings::Settings;

const INJECT: &str = "sidecar.istio.io/inject";

/// Any JSON value, nested a few levels, for fields this policy does not know.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e9f64..1.0e9).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Extra fields with names no Kubernetes object uses, to be carried through untouched.
fn extra_fields() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x[A-Z][a-z]{0,8}", any_json(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn labels() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        "[a-z]{1,5}(/[a-z]{1,5})?",
        "pod-[a-z0-9]{0,6}".prop_map(Value::from),
        1..4,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// A probe of each kind probe rewriting knows: the three it rewrites, on a port by number or by
/// name, and `exec`, which it leaves.
fn probe() -> impl Strategy<Value = Value> {
    prop_oneof![
        (
            prop::sample::select(vec![json!(8080), json!("http")]),
            "/[a-z]{0,5}"
        )
            .prop_map(
                |(port, path)| json!({"httpGet": {"path": path, "port": port}, "periodSeconds": 5})
            ),
        Just(json!({"timeoutSeconds": 2, "tcpSocket": {"port": "http"}})),
        Just(json!({"grpc": {"port": 9090}})),
        Just(json!({"exec": {"command": ["true"]}})),
    ]
}

fn container(name: String) -> impl Strategy<Value = Value> {
    (
        extra_fields(),
        prop::option::of(probe()),
        prop::option::of(probe()),
        prop::option::of(probe()),
    )
        .prop_map(move |(extra, readiness, liveness, startup)| {
            let mut container = Map::new();
            container.insert("name".into(), json!(name));
            container.insert("image".into(), json!(format!("registry.example/{name}:1")));
            if readiness.is_some() || liveness.is_some() || startup.is_some() {
                container.insert(
                    "ports".into(),
                    json!([{"name": "http", "containerPort": 8080}]),
                );
            }
            for (field, probe) in [
                ("readinessProbe", readiness),
                ("livenessProbe", liveness),
                ("startupProbe", startup),
            ] {
                if let Some(probe) = probe {
                    container.insert(field.into(), probe);
                }
            }
            container.extend(extra);
            Value::Object(container)
        })
}

/// A Pod with arbitrary unknown fields at the pod, metadata, spec and container levels; its
/// containers never take the sidecar's names (that is customization, tested on its own).
fn pod() -> impl Strategy<Value = Value> {
    let containers = prop::collection::btree_set("app[a-z]{0,4}", 1..4)
        .prop_flat_map(|names| names.into_iter().map(container).collect::<Vec<_>>());
    let init_containers = prop::option::of(
        prop::collection::btree_set("init[a-z]{0,4}", 1..3)
            .prop_flat_map(|names| names.into_iter().map(container).collect::<Vec<_>>()),
    );
    let volumes = prop::option::of(prop::collection::btree_set(
        "vol[a-z]{0,3}|sidecar-data",
        1..3,
    ));
    // A name the template uses too, whose entry the Pod keeps.
    let pull_secrets = prop::option::of(prop::collection::btree_set(
        "reg[a-z]{0,3}|mesh-registry",
        1..3,
    ));
    (
        extra_fields(),
        extra_fields(),
        extra_fields(),
        prop::option::of(labels()),
        prop::option::of(labels()),
        containers,
        init_containers,
        (volumes, pull_secrets, any::<bool>()),
    )
        .prop_map(
            |(
                pod_extra,
                metadata_extra,
                spec_extra,
                labels,
                annotations,
                containers,
                inits,
                (volumes, pull_secrets, own_mesh_label),
            )| {
                let mut metadata = Map::new();
                metadata.insert("name".into(), json!("web"));
                // A key the template's labels use too: the Pod's value stays.
                let labels = match (labels, own_mesh_label) {
                    (Some(mut labels), true) => {
                        labels.insert("mesh".into(), json!("pod-own"));
                        Some(labels)
                    }
                    (labels, _) => labels,
                };
                if let Some(labels) = labels {
                    metadata.insert("labels".into(), Value::Object(labels));
                }
                if let Some(annotations) = annotations {
                    metadata.insert("annotations".into(), Value::Object(annotations));
                }
                metadata.extend(metadata_extra);
                let mut spec = Map::new();
                spec.extend(spec_extra);
                spec.insert("containers".into(), Value::Array(containers));
                if let Some(inits) = inits {
                    spec.insert("initContainers".into(), Value::Array(inits));
                }
                if let Some(volumes) = volumes {
                    let volumes = volumes
                        .into_iter()
                        .map(|name| json!({"name": name, "emptyDir": {}}));
                    spec.insert("volumes".into(), Value::Array(volumes.collect()));
                }
                if let Some(secrets) = pull_secrets {
                    let secrets = secrets.into_iter().map(|name| json!({"name": name}));
                    spec.insert("imagePullSecrets".into(), Value::Array(secrets.collect()));
                }
                let mut pod = Map::new();
                pod.insert("apiVersion".into(), json!("v1"));
                pod.insert("kind".into(), json!("Pod"));
                pod.insert("metadata".into(), Value::Object(metadata));
                pod.insert("spec".into(), Value::Object(spec));
                pod.extend(pod_extra);
                Value::Object(pod)
            },
        )
}

fn template() -> Value {
    json!({
        "initContainers": [{"name": "mesh-init", "image": "proxy:1"}],
        "containers": [{"name": "sidecar", "image": "proxy:1", "args": ["--pod={{ pod.metadata.name }}"]}],
        "volumes": [{"name": "sidecar-data", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "mesh-registry"}],
        "labels": {"mesh": "template-on"},
        "annotations": {"mesh.example/port": "template-15020"}
    })
}

/// Settings with any of the template's parts, placements and probe rewriting. The template's
/// container is `sidecar`, a name no generated Pod container has: a Pod container of that name
/// would customize it, merged into it, which no uninjection can take apart again.
fn settings() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 5),
    )
        .prop_map(|(native, hold, rewrite_probes, parts)| {
            let full = template();
            let mut template = json!({"containers": full["containers"]});
            for (key, keep) in [
                "initContainers",
                "volumes",
                "imagePullSecrets",
                "labels",
                "annotations",
            ]
            .into_iter()
            .zip(parts)
            {
                if keep {
                    template[key] = full[key].clone();
                }
            }
            let mut settings = json!({
                "nativeSidecars": native,
                "holdApplicationUntilProxyStarts": hold,
                "template": template,
            });
            if rewrite_probes {
                settings["probeRewrite"] = json!({"container": "sidecar", "statusPort": 15020});
            }
            settings
        })
}

fn request(namespace: &str, pod: &Value) -> Value {
    json!({
        "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "namespace": namespace, "operation": "CREATE", "object": pod
    })
}

fn run(namespace: &str, pod: &Value, settings: &Value) -> Outcome {
    let payload = json!({"request": request(namespace, pod), "settings": settings});
    evaluate(payload.to_string().as_bytes()).outcome
}

/// Removes what the status annotation says was injected, and the template's labels and
/// annotations (the generated Pod's own values never equal the template's).
fn uninject(mut pod: Value) -> Value {
    let status: Value = pod["metadata"]["annotations"][STATUS_KEY]
        .as_str()
        .map(|s| serde_json::from_str(s).unwrap())
        .unwrap();
    let spec = pod["spec"].as_object_mut().unwrap();
    for (list, injected) in [
        ("containers", "containers"),
        ("initContainers", "initContainers"),
        ("volumes", "volumes"),
        ("imagePullSecrets", "imagePullSecrets"),
    ] {
        let names: Vec<&str> = status[injected]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        if let Some(Value::Array(items)) = spec.get_mut(list) {
            items.retain(|item| !names.contains(&item["name"].as_str().unwrap()));
            if items.is_empty() {
                spec.shift_remove(list);
            }
        }
    }
    let metadata = pod["metadata"].as_object_mut().unwrap();
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = metadata.get_mut(field) {
            map.retain(|key, value| {
                key != STATUS_KEY && !value.as_str().is_some_and(|v| v.starts_with("template-"))
            });
            if map.is_empty() {
                metadata.shift_remove(field);
            }
        }
    }
    pod
}

fn label_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["app", "tier", "mesh", "legacy", INJECT]).prop_map(str::to_string)
}

fn label_value() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["web", "db", "true", "false", ""]).prop_map(str::to_string)
}

/// Any valid label selector over a few keys and values, so that selectors do match pods.
fn selector() -> impl Strategy<Value = Value> {
    let expression = (
        label_key(),
        0..4usize,
        prop::collection::vec(label_value(), 1..3),
    )
        .prop_map(|(key, operator, values)| match operator {
            0 => json!({"key": key, "operator": "In", "values": values}),
            1 => json!({"key": key, "operator": "NotIn", "values": values}),
            2 => json!({"key": key, "operator": "Exists"}),
            _ => json!({"key": key, "operator": "DoesNotExist"}),
        });
    (
        prop::collection::btree_map(label_key(), label_value(), 0..2),
        prop::collection::vec(expression, 0..3),
    )
        .prop_filter("a selector must not be empty", |(labels, expressions)| {
            !labels.is_empty() || !expressions.is_empty()
        })
        .prop_map(
            |(labels, expressions)| json!({"matchLabels": labels, "matchExpressions": expressions}),
        )
}

fn override_value() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec![
        "true", "false", "True", "yes", "",
    ]))
}

/// Settings written another way with the same meaning: keys in another order at every level
/// (`order` picks it), pretty-printed, and integral numbers spelled as floats (`2.0`, `2e0`).
fn respelled(value: &Value, order: u64) -> String {
    fn write(value: &Value, order: u64, depth: usize, out: &mut String) {
        let indent = |out: &mut String, depth: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(depth));
        };
        match value {
            Value::Number(n) => match n.as_i64() {
                // Beyond 2^53 a float cannot hold the integer: spelling it so would change it.
                Some(i) if i.unsigned_abs() < (1 << 53) => {
                    out.push_str(&if order.is_multiple_of(2) {
                        format!("{i}.0")
                    } else {
                        format!("{i}e0")
                    })
                }
                _ => out.push_str(&n.to_string()),
            },
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    write(item, order.rotate_left(7), depth + 1, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                let len = entries.len().max(1);
                entries.rotate_left(order as usize % len);
                if order & 4 != 0 {
                    entries.reverse();
                }
                out.push('{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    out.push_str(&Value::from(key.as_str()).to_string());
                    out.push_str(" : ");
                    write(
                        item,
                        order.rotate_left(13) ^ key.len() as u64,
                        depth + 1,
                        out,
                    );
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, order, 0, &mut out);
    out
}

fn revision_of(settings_json: &[u8]) -> String {
    sidecar_injector::revision::current(&Settings::from_slice(settings_json).unwrap())
}

proptest! {
    // Failures are kept as named regression tests (see the end of this file), not as a file.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn protected_namespaces_and_host_network_are_never_injected(
        pod in pod(),
        policy in prop::sample::select(vec!["enabled", "disabled"]),
        never in prop::collection::vec(selector(), 0..3),
        always in prop::collection::vec(selector(), 0..3),
        ignored in prop::collection::vec("[a-z]{1,6}", 0..3),
        label in override_value(),
        annotation in override_value(),
        pod_labels in prop::collection::btree_map(label_key(), label_value(), 0..4),
        namespace in prop::sample::select(vec!["kube-system", "kube-public", "ignored", "shop"]),
        host_network in any::<bool>(),
    ) {
        prop_assume!(namespace != "shop" || host_network);
        let mut pod = pod;
        for (key, value) in pod_labels {
            pod["metadata"]["labels"][key] = json!(value);
        }
        if let Some(value) = label {
            pod["metadata"]["labels"][INJECT] = json!(value);
        }
        if let Some(value) = annotation {
            pod["metadata"]["annotations"][INJECT] = json!(value);
        }
        pod["spec"]["hostNetwork"] = json!(host_network);
        let mut ignored = ignored;
        ignored.push("ignored".to_string());
        let settings = json!({
            "policy": policy,
            "ignoredNamespaces": ignored,
            "neverInjectSelector": never,
            "alwaysInjectSelector": always,
            "template": template(),
        });
        let outcome = run(namespace, &pod, &settings);
        let Outcome::Accept(decision) = outcome else {
            return Err(TestCaseError::fail(format!("injected or rejected: {outcome:?}")));
        };
        let security_rule = matches!(
            decision.reason,
            Reason::ProtectedNamespace { .. } | Reason::IgnoredNamespace { .. } | Reason::HostNetwork { .. }
        );
        prop_assert!(!decision.inject);
        prop_assert!(security_rule, "{:?}", decision);
    }

    #[test]
    fn the_revision_does_not_depend_on_how_the_settings_are_written(
        extra in prop::collection::vec(extra_fields(), 1..3),
        native in any::<bool>(),
        hold in any::<bool>(),
        order in any::<u64>(),
        port in 1..65536u32,
    ) {
        let mut template = template();
        template["containers"][0]["ports"] = json!([{"containerPort": 15090, "name": "metrics"}]);
        template["containers"][0]["resources"] = json!({"limits": {"nvidia.com/gpu": port % 8}});
        for (container, extra) in template["containers"].as_array_mut().unwrap().iter_mut().zip(&extra) {
            container.as_object_mut().unwrap().extend(extra.clone());
        }
        let settings = json!({"nativeSidecars": native, "holdApplicationUntilProxyStarts": hold, "template": template});
        let revision = revision_of(settings.to_string().as_bytes());
        // The order kwctl and the policy server send: keys sorted, no whitespace.
        prop_assert_eq!(&revision_of(sorted_keys(&settings).to_string().as_bytes()), &revision);
        prop_assert_eq!(&revision_of(respelled(&settings, order).as_bytes()), &revision);
        // YAML, as the CLI reads a settings file.
        let yaml = sidecar_injector::manifest::to_yaml(&settings).unwrap();
        let documents = sidecar_injector::manifest::read_stream(&yaml).unwrap();
        let from_yaml = documents[0].value.clone().unwrap();
        prop_assert_eq!(&revision_of(from_yaml.to_string().as_bytes()), &revision);
    }

    #[test]
    fn injection_is_lossless_and_idempotent(
        pod in pod(),
        native in any::<bool>(),
        hold in any::<bool>(),
    ) {
        let settings = json!({
            "nativeSidecars": native,
            "holdApplicationUntilProxyStarts": hold,
            "template": template(),
        });
        let Some(injected) = run("shop", &pod, &settings).mutated_pod() else {
            return Err(TestCaseError::fail("not injected"));
        };
        prop_assert_eq!(&uninject(injected.clone()), &pod);
        let again = run("shop", &injected, &settings);
        prop_assert!(
            matches!(&again, Outcome::Accept(d) if d.reason == Reason::AlreadyInjected),
            "{:?}", again
        );
    }

    /// `uninject` takes out exactly what `inject` put in: the submitted Pod comes back, values
    /// and order (compared as text: a JSON object's equality ignores the order of its keys).
    /// The generated Pods never have an empty list or map where injection adds (an emptied one
    /// is removed, as injection may have created it), and none carries the status annotation.
    #[test]
    fn uninjection_gives_back_the_submitted_pod(pod in pod(), settings in settings()) {
        let Some(injected) = run("shop", &pod, &settings).mutated_pod() else {
            return Err(TestCaseError::fail("not injected"));
        };
        let mut uninjected = injected.clone();
        let removed = sidecar_injector::uninject::uninject(&mut uninjected);
        prop_assert!(matches!(removed, Ok(Some(_))), "{:?}", removed);
        prop_assert_eq!(uninjected.to_string(), pod.to_string());
    }

    /// Any status annotation on any Pod: `uninject` answers without panicking, and an error
    /// leaves the Pod as it was.
    #[test]
    fn uninjection_never_panics_and_fails_without_changes(
        status in prop::collection::btree_map(
            prop::sample::select(vec!["containers", "initContainers", "volumes", "imagePullSecrets",
                "labels", "annotations", "templates", "revision", "hash", "probes"]),
            any_json(),
            0..5,
        ),
        spec in any_json(),
        labels in any_json(),
    ) {
        let status: Map<String, Value> = status.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut pod = json!({
            "metadata": {"labels": labels, "annotations": {STATUS_KEY: Value::Object(status).to_string()}},
            "spec": spec,
        });
        let before = pod.clone();
        if sidecar_injector::uninject::uninject(&mut pod).is_err() {
            prop_assert_eq!(pod.to_string(), before.to_string());
        }
    }

    #[test]
    fn the_decision_is_the_truth_table(
        policy in prop::sample::select(vec!["enabled", "disabled"]),
        label in override_value(),
        annotation in override_value(),
        never_matches in any::<bool>(),
        always_matches in any::<bool>(),
    ) {
        let mut pod = json!({"metadata": {"name": "p", "labels": {}, "annotations": {}}, "spec": {"containers": [{"name": "app", "image": "a"}]}});
        if let Some(value) = label {
            pod["metadata"]["labels"][INJECT] = json!(value);
        }
        if let Some(value) = annotation {
            pod["metadata"]["annotations"][INJECT] = json!(value);
        }
        if never_matches {
            pod["metadata"]["labels"]["never"] = json!("1");
        }
        if always_matches {
            pod["metadata"]["labels"]["always"] = json!("1");
        }
        let settings = json!({
            "policy": policy,
            "neverInjectSelector": [{"matchLabels": {"never": "1"}}],
            "alwaysInjectSelector": [{"matchExpressions": [{"key": "always", "operator": "In", "values": ["1"]}]}],
            "template": template(),
        });

        // The reference: the label if present (whatever its value), else the annotation; only
        // "true" and "false" choose; then never, then always, then the policy.
        let found = label.or(annotation);
        let expected = match found {
            Some("true") => true,
            Some("false") => false,
            _ if never_matches => false,
            _ if always_matches => true,
            _ => policy == "enabled",
        };

        let injected = matches!(run("shop", &pod, &settings), Outcome::Mutate { .. });
        prop_assert_eq!(injected, expected);
    }
}

/// Found by `injection_is_lossless_and_idempotent`: without serde_json's `float_roundtrip`, a
/// float in a field unknown to Kubernetes came back one unit in the last place off.
#[test]
fn regression_floats_survive_exactly() {
    let pod: Value = serde_json::from_str(
        r#"{"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "a"}]}, "xA": {"a": 109396578.88196693}}"#,
    )
    .unwrap();
    let injected = run("shop", &pod, &json!({"template": template()}))
        .mutated_pod()
        .expect("injected");
    assert_eq!(injected["xA"], pod["xA"]);
    assert_eq!(injected["xA"]["a"].to_string(), "109396578.88196693");
}
