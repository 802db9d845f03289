//! The `sidecar-injector` binary on the manifests under tests/cli/manifests: its output against
//! golden files (`UPDATE_GOLDEN=1 cargo test --test cli` rewrites them after a deliberate change),
//! and its exit codes.

// A test crate: its helpers panic where a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use std::io::Write;

const OPT_IN: &str = "examples/opt-in.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sidecar-injector"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn manifest(name: &str) -> String {
    format!("tests/cli/manifests/{name}")
}

/// A file under the temporary directory, removed when dropped (also when a test fails).
struct TempFile(PathBuf);

impl TempFile {
    /// `name` is made unique to this test run and to this file (tests run in parallel, and two
    /// may name their files alike); the file holds `text`.
    fn new(name: &str, text: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "sidecar-injector-cli-{}-{n}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Compares with tests/cli/golden/NAME, or writes it when UPDATE_GOLDEN is set.
fn golden(name: &str, actual: &str) {
    let path = root().join("tests/cli/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "{} differs from the output:\n{actual}",
        path.display()
    );
}

fn succeeds(args: &[&str]) -> String {
    let output = run(args, None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

#[test]
fn check_explains_each_object() {
    for name in ["deployment", "cronjob", "multi"] {
        let text = succeeds(&[
            "check",
            "--settings",
            OPT_IN,
            &manifest(&format!("{name}.yaml")),
        ]);
        golden(&format!("{name}.check.txt"), &text);
    }
}

#[test]
fn check_speaks_json_for_programs() {
    let text = succeeds(&[
        "check",
        "--settings",
        OPT_IN,
        "--output",
        "json",
        &manifest("multi.yaml"),
    ]);
    let reports: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reports.as_array().map(Vec::len), Some(3));
    golden("multi.check.json", &text);
}

#[test]
fn namespace_labels_come_from_the_command_line() {
    let args = |labels: &str| {
        succeeds(&[
            "check",
            "--settings",
            OPT_IN,
            "-n",
            "shop",
            "--namespace-labels",
            labels,
            &manifest("deployment.yaml"),
        ])
    };
    let selected = args("istio-injection=enabled,team=web");
    assert!(selected.contains(": injected:"), "{selected}");
    let not_selected = args("istio-injection=disabled");
    assert!(
        not_selected
            .contains(": not injected: the policy is not called: namespace shop does not match"),
        "{not_selected}"
    );
}

#[test]
fn inject_writes_the_manifests_with_the_sidecar() {
    let injected = succeeds(&[
        "inject",
        "--settings",
        OPT_IN,
        "-n",
        "shop",
        "--namespace-labels",
        "istio-injection=enabled",
        &manifest("deployment.yaml"),
    ]);
    golden("deployment.inject.yaml", &injected);
    let multi = succeeds(&["inject", "--settings", OPT_IN, &manifest("multi.yaml")]);
    golden("multi.inject.yaml", &multi);
}

#[test]
fn documents_without_injection_pass_through_byte_for_byte() {
    let original = std::fs::read_to_string(root().join(manifest("cronjob.yaml"))).unwrap();
    assert_eq!(
        succeeds(&["inject", "--settings", OPT_IN, &manifest("cronjob.yaml")]),
        original
    );
    let multi = std::fs::read_to_string(root().join(manifest("multi.yaml"))).unwrap();
    let injected = succeeds(&["inject", "--settings", OPT_IN, &manifest("multi.yaml")]);
    // Namespaces, the Service and the Deployment in the unlabelled namespace are untouched.
    let untouched: Vec<&str> = multi.split("\n---\n").take(4).collect();
    assert!(
        injected.starts_with(&untouched.join("\n---\n")),
        "{injected}"
    );
}

#[test]
fn injecting_again_changes_nothing() {
    for name in ["deployment.yaml", "cronjob.yaml", "multi.yaml"] {
        let once = succeeds(&[
            "inject",
            "--settings",
            OPT_IN,
            "--namespace-labels",
            "istio-injection=enabled",
            &manifest(name),
        ]);
        let output = run(
            &[
                "inject",
                "--settings",
                OPT_IN,
                "--namespace-labels",
                "istio-injection=enabled",
                "--fail-if-not-injected",
            ],
            Some(&once),
        );
        let twice = stdout(&output);
        assert_eq!(twice, once, "{name}");
    }
}

#[test]
fn reads_stdin_and_writes_a_file() {
    let pod = std::fs::read_to_string(root().join("examples/pod.yaml")).unwrap();
    let out = TempFile::new("out.yaml", "");
    let output = run(
        &["inject", "--settings", OPT_IN, "-q", "-o", out.path()],
        Some(&pod),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "", "--quiet");
    let written = std::fs::read_to_string(out.path()).unwrap();
    assert!(written.contains("name: istio-proxy"), "{written}");
}

#[test]
fn fail_if_not_injected_exits_1() {
    let check = run(
        &[
            "check",
            "--settings",
            OPT_IN,
            "--fail-if-not-injected",
            &manifest("cronjob.yaml"),
        ],
        None,
    );
    assert_eq!(check.status.code(), Some(1));
    let inject = run(
        &[
            "inject",
            "--settings",
            OPT_IN,
            "--fail-if-not-injected",
            &manifest("cronjob.yaml"),
        ],
        None,
    );
    assert_eq!(inject.status.code(), Some(1));
    assert_eq!(
        stdout(&inject),
        std::fs::read_to_string(root().join(manifest("cronjob.yaml"))).unwrap()
    );
    let injected = run(
        &[
            "check",
            "--settings",
            OPT_IN,
            "--fail-if-not-injected",
            &manifest("deployment.yaml"),
        ],
        None,
    );
    assert_eq!(injected.status.code(), Some(0));
}

/// Bad input of every kind exits 2 with a message that says where.
#[test]
fn bad_input_exits_2() {
    let file = TempFile::new;
    let bad_settings = file(
        "settings.yaml",
        "policy: Enabled\ntemplate:\n  containers: [{name: p, image: p}]\n",
    );
    let bad_yaml = file("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [oops\n");
    let boolean = file(
        "bool.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    sidecar.istio.io/inject: true\nspec:\n  containers: [{name: a, image: a}]\n",
    );
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "check",
                "--settings",
                bad_settings.path(),
                &manifest("deployment.yaml"),
            ],
            "settings.yaml: invalid settings: policy: expected \"enabled\" or \"disabled\", got \"Enabled\"",
        ),
        (
            &["check", "--settings", OPT_IN, bad_yaml.path()],
            "bad.yaml: error: line 3",
        ),
        (
            &["check", "--settings", OPT_IN, boolean.path()],
            "bool.yaml, document 1: Pod default/p: metadata.annotations.sidecar.istio.io/inject: expected a string, got a boolean; Kubernetes refuses it too: quote the value, as in \"true\"",
        ),
        (
            &[
                "check",
                "--settings",
                OPT_IN,
                "--namespace-labels",
                "istio-injection",
                &manifest("deployment.yaml"),
            ],
            "--namespace-labels: expected key=value pairs separated by commas, got \"istio-injection\"",
        ),
        (
            &[
                "check",
                "--settings",
                "no/such/file.yaml",
                &manifest("deployment.yaml"),
            ],
            "no/such/file.yaml: ",
        ),
        (
            &["check", "--settings", OPT_IN, "--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
    ];
    for (args, message) in cases {
        let output = run(args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let inject = run(&["inject", "--settings", OPT_IN, boolean.path()], None);
    assert_eq!(inject.status.code(), Some(2));
    assert_eq!(
        stdout(&inject),
        "",
        "nothing is written when an object cannot be injected"
    );
}

#[test]
fn settings_files_as_json_are_read() {
    let text = succeeds(&[
        "check",
        "--settings",
        "e2e-tests/settings/sidecar.json",
        "examples/pod.yaml",
    ]);
    assert!(
        text.starts_with("Pod default/shop-web-7c9d8b5f4-: injected:"),
        "{text}"
    );
}

/// The README's `$ sidecar-injector ...` examples print what the README shows ("..." ends a
/// shortened output).
#[test]
fn readme_examples_print_what_the_readme_shows() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut examples = 0;
    for block in readme.split("```console\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let mut lines = block.lines();
        let Some(command) = lines
            .next()
            .and_then(|l| l.strip_prefix("$ sidecar-injector "))
        else {
            continue;
        };
        let (command, heredoc) = match command.split_once(" <<'YAML'") {
            Some((command, _)) => {
                let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "YAML").collect();
                (command, Some(body.join("\n") + "\n"))
            }
            None => (command, None),
        };
        let args: Vec<&str> = command.split_whitespace().collect();
        let output = run(&args, heredoc.as_deref());
        let actual = stdout(&output);
        let expected: Vec<&str> = lines.collect();
        match expected.split_last() {
            Some((&"...", shown)) => assert!(
                actual.starts_with(&(shown.join("\n") + "\n")),
                "README example `{command}` prints:\n{actual}"
            ),
            _ => assert_eq!(
                actual,
                expected.join("\n") + "\n",
                "README example `{command}`"
            ),
        }
        examples += 1;
    }
    assert_eq!(examples, 6, "README examples found");
}

/// A policy manifest that would keep the policy from injecting is warned about on stderr.
#[test]
fn policy_manifest_mistakes_are_warned_about() {
    let opt_in = std::fs::read_to_string(root().join(OPT_IN)).unwrap();
    let mistaken = opt_in
        .replace("  mutating: true\n", "")
        .replace(
            "    matchExpressions:\n      - key: istio-injection\n        operator: In\n        values: [enabled]\n",
            "    matchLabels:\n      istio-injection: enabled\n",
        );
    assert_ne!(mistaken, opt_in, "the example changed: update this test");
    let policy = TempFile::new("cap.yaml", &mistaken);
    let output = run(
        &[
            "check",
            "--settings",
            policy.path(),
            &manifest("deployment.yaml"),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    let warnings = stderr(&output);
    assert!(
        warnings.contains("warning: ") && warnings.contains("does not set spec.mutating: true"),
        "{warnings}"
    );
    assert!(
        warnings.contains("drops spec.namespaceSelector.matchLabels (istio-injection=enabled)"),
        "{warnings}"
    );
}

/// Namespaces as `kubectl get namespaces -o yaml` prints them give their labels.
#[test]
fn namespace_lists_give_labels() {
    let namespaces = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: shop\n    labels: {istio-injection: enabled}\n";
    let namespaces = TempFile::new("namespaces.yaml", namespaces);
    let text = succeeds(&[
        "check",
        "--settings",
        OPT_IN,
        namespaces.path(),
        &manifest("deployment.yaml"),
    ]);
    assert!(
        text.contains("  policy server: calls the policy: namespace shop matches"),
        "{text}"
    );
}

/// The policy's namespace rules read the Namespace manifests given: their labels decide (Istio's
/// rules, a mandatory namespace), their annotations reach the sidecar (`ns`), and a namespace
/// that is needed and not given is an error that says what to give.
#[test]
fn namespace_rules_read_the_namespace_manifests() {
    let namespaces = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {istio-injection: enabled}\n  annotations: {sidecar.istio.io/proxyMemory: 300Mi}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: pay\n  labels: {mesh.example/required: \"true\"}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n";
    let namespaces = TempFile::new("namespaces.yaml", namespaces);
    let policy = "examples/istio-namespaces.yaml";
    let pod = TempFile::new(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: app, image: app:1}]}\n",
    );
    let refusing = TempFile::new(
        "refusing.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {sidecar.istio.io/inject: \"false\"}}\nspec: {containers: [{name: app, image: app:1}]}\n",
    );
    let check = |namespace: &str, pod: &TempFile| {
        succeeds(&[
            "check",
            "--settings",
            policy,
            "-n",
            namespace,
            namespaces.path(),
            pod.path(),
        ])
    };
    let first = |text: String| text.lines().next().unwrap_or_default().to_string();
    assert!(first(check("shop", &pod)).starts_with("Pod shop/web: injected: "));
    assert!(
        first(check("legacy", &pod)).starts_with("Pod legacy/web: not injected: by Istio's namespace rules (namespaceRules: istio), none of Istio's injection webhooks for revision default would be called for this Pod in namespace legacy: "),
    );
    assert!(
        first(check("pay", &pod))
            .starts_with("Pod pay/web: injected: the sidecar is mandatory in namespace pay")
    );
    assert!(
        first(check("pay", &refusing)).starts_with("Pod pay/web: rejected: the Pod refuses the sidecar with its label sidecar.istio.io/inject is \"false\", but the sidecar is mandatory in namespace pay"),
    );
    let injected = succeeds(&[
        "inject",
        "--settings",
        policy,
        "-n",
        "shop",
        namespaces.path(),
        pod.path(),
    ]);
    assert!(injected.contains("memory: 300Mi"), "{injected}");
    // The Pod records the hash of the Namespace's labels and annotations its template read: the
    // stale report tells when they changed, given the Namespace's manifest.
    // The Pod alone: inject writes the Namespaces it was given too.
    let live = TempFile::new("live.yaml", injected.rsplit("\n---\n").next().unwrap());
    let report = |namespaces: &TempFile| {
        succeeds(&[
            "check",
            "--settings",
            policy,
            "-n",
            "shop",
            namespaces.path(),
            live.path(),
        ])
    };
    assert!(
        first(report(&namespaces)).starts_with("Pod shop/web: already injected: "),
        "{}",
        report(&namespaces)
    );
    assert!(
        report(&namespaces).contains("  up to date: injected with revision default"),
        "{}",
        report(&namespaces)
    );
    let changed = TempFile::new(
        "changed.yaml",
        &std::fs::read_to_string(namespaces.path())
            .unwrap()
            .replace("300Mi", "400Mi"),
    );
    assert!(
        report(&changed).contains(
            "the labels or annotations of its Namespace, which its templates read, changed since"
        ),
        "{}",
        report(&changed)
    );
    // A namespace the policy needs and was not given.
    let output = run(
        &["check", "--settings", policy, "-n", "other", pod.path()],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Pod other/web: namespace other could not be read, and the policy's mandatory.namespaceSelector selects namespaces by their labels: its manifest was not given; give it (kubectl get namespace other -o yaml), or its labels"),
        "{}",
        stderr(&output)
    );
}

/// A template string that fails for a Pod is an error in `check` too, as the module refuses the Pod.
#[test]
fn a_template_that_fails_for_the_pod_fails_check() {
    let settings = r#"{"template": {"containers": [{"name": "proxy", "image": "proxy:1",
        "env": [{"name": "ID", "value": "{{ pod.metadata.name | nosuchfilter }}"}]}]}}"#;
    let settings = TempFile::new("render.json", settings);
    let output = run(
        &["check", "--settings", settings.path(), "examples/pod.yaml"],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("examples/pod.yaml, document 1: Pod default/shop-web-7c9d8b5f4-: ")
            && message.contains("template.containers[0].env[0].value")
            && message.contains("nosuchfilter"),
        "{message}"
    );
}

#[test]
fn typed_values_are_written_and_a_value_that_does_not_fit_fails_check() {
    let settings = r#"{"template": {"containers": [{"name": "proxy", "image": "proxy:1",
        "readinessProbe": {"periodSeconds": "{{ pod.metadata.annotations['period'] | default(15) }}"},
        "resources": {"limits": {"cpu": "{{ pod.metadata.annotations['cpuLimit'] | default(none) }}"}}}]}}"#;
    let settings = TempFile::new("typed.json", settings);
    let pod = |annotations: &str| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "web", "namespace": "shop", "annotations": {annotations}}}, "spec": {{"containers": [{{"name": "app", "image": "web:1"}}]}}}}"#
        )
    };
    let output = run(
        &["inject", "--settings", settings.path()],
        Some(&pod(r#"{"period": "20"}"#)),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let injected = values(&stdout(&output)).remove(0).unwrap();
    assert_eq!(
        injected["spec"]["containers"][1],
        serde_json::json!({"name": "proxy", "image": "proxy:1", "readinessProbe": {"periodSeconds": 20}})
    );
    let output = run(
        &["check", "--settings", settings.path()],
        Some(&pod(r#"{"period": "often"}"#)),
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "sidecar-injector: <stdin>, document 1: Pod shop/web: the sidecar cannot be injected into this Pod, because the API server would refuse the result: template.containers[0].readinessProbe.periodSeconds: expected a 32-bit integer, got the string \"often\"; the template string \"{{ pod.metadata.annotations['period'] | default(15) }}\" gave it for this Pod\n"
    );
}

/// The values of a stream's documents, to compare manifests whatever their formatting.
fn values(text: &str) -> Vec<Option<serde_json::Value>> {
    sidecar_injector::manifest::read_stream(text)
        .unwrap()
        .into_iter()
        .map(|document| document.value)
        .collect()
}

#[test]
fn uninject_gives_back_the_manifests_before_injection() {
    for name in ["deployment", "multi"] {
        let injected = format!("tests/cli/golden/{name}.inject.yaml");
        let output = run(&["uninject", &injected], None);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let uninjected = stdout(&output);
        golden(&format!("{name}.uninject.yaml"), &uninjected);
        let original =
            std::fs::read_to_string(root().join(manifest(&format!("{name}.yaml")))).unwrap();
        assert_eq!(values(&uninjected), values(&original), "{name}");
        // Documents that had no sidecar are written back byte for byte.
        if name == "multi" {
            let untouched: Vec<&str> = original.split("\n---\n").take(4).collect();
            assert!(
                uninjected.starts_with(&untouched.join("\n---\n")),
                "{uninjected}"
            );
        }
    }
}

#[test]
fn uninject_tells_what_it_removed_and_what_had_no_sidecar() {
    let output = run(&["uninject", "tests/cli/golden/multi.inject.yaml"], None);
    let notes = stderr(&output);
    assert!(
        notes.contains("StatefulSet shop/cache: uninjected: removed containers istio-proxy; initContainers istio-init; volumes "),
        "{notes}"
    );
    assert!(
        notes.contains("Pod shop/debug: no sidecar.istio.io/status annotation, so no sidecar to take out: written back unchanged\n"),
        "{notes}"
    );
    // From stdin, to a file, quietly; a Pod without the sidecar comes back as it was.
    let pod = std::fs::read_to_string(root().join("examples/pod.yaml")).unwrap();
    let out = TempFile::new("uninjected.yaml", "");
    let output = run(&["uninject", "-q", "-o", out.path()], Some(&pod));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stderr(&output), "", "--quiet");
    assert_eq!(std::fs::read_to_string(out.path()).unwrap(), pod);
}

#[test]
fn uninject_needs_no_settings_and_refuses_a_malformed_status() {
    let pod = |status: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  annotations:\n    sidecar.istio.io/status: '{status}'\nspec:\n  containers: [{{name: web, image: web}}]\n"
        )
    };
    let good = TempFile::new("good.yaml", &pod(r#"{"containers":[]}"#));
    let bad = TempFile::new("bad-status.yaml", &pod(r#"{"containers":"istio-proxy"}"#));
    let output = run(&["uninject", good.path(), bad.path()], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stdout(&output),
        "",
        "nothing is written when an object cannot be uninjected"
    );
    assert!(
        stderr(&output).contains(&format!(
            "sidecar-injector: {}, document 1: Pod web: metadata.annotations.sidecar.istio.io/status: containers: expected an array of strings, got a string\n",
            bad.path()
        )),
        "{}",
        stderr(&output)
    );
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata:\n      annotations: {sidecar.istio.io/status: nope}\n    spec: {containers: []}\n";
    let output = run(
        &["uninject"],
        Some(&format!("{}---\n{deployment}", pod("{}"))),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("<stdin>, document 2: Deployment web: spec.template.metadata.annotations.sidecar.istio.io/status: not valid JSON: "),
        "{}",
        stderr(&output)
    );
    let output = run(&["uninject", "--settings", OPT_IN], Some(""));
    assert_eq!(output.status.code(), Some(2), "uninject takes no settings");
}

/// A live Pod as `kubectl get pods -o yaml` lists it, owned by `owner`'s ReplicaSet.
fn live_pod(name: &str, owner: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: shop\n  labels: {{app: web}}\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: ReplicaSet, name: {owner}, uid: u-{owner}, controller: true}}\nspec:\n  containers: [{{name: web, image: registry.example/web:1}}]\n"
    )
}

/// The opt-in example with another proxy image: a new revision. `test` names the files, which
/// tests running at the same time must not share.
fn upgraded_policy(test: &str) -> TempFile {
    let opt_in = std::fs::read_to_string(root().join(OPT_IN)).unwrap();
    let upgraded = opt_in.replace("proxyv2:1.27.3", "proxyv2:1.28.0");
    assert_ne!(upgraded, opt_in, "the example changed: update this test");
    TempFile::new(&format!("{test}-upgraded.yaml"), &upgraded)
}

/// The hash in an injected Pod's status annotation.
fn hash_of(injected: &str) -> String {
    let pod = values(injected).remove(0).unwrap();
    let status = pod["metadata"]["annotations"]["sidecar.istio.io/status"]
        .as_str()
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(status).unwrap();
    assert_eq!(status["revision"], "default", "{status}");
    status["hash"].as_str().unwrap().to_string()
}

/// Live Pods injected by the old and the new template, and one never injected, in a v1 List.
fn live_pods(test: &str, upgraded: &TempFile) -> (TempFile, String, String) {
    let inject = |settings: &str, pod: &str| {
        let output = run(&["inject", "-q", "--settings", settings], Some(pod));
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output)
    };
    let old = inject(OPT_IN, &live_pod("web-old-1", "web-5d4f"));
    let new = inject(upgraded.path(), &live_pod("web-new-1", "web-8b2c"));
    let (old_hash, new_hash) = (hash_of(&old), hash_of(&new));
    assert_ne!(old_hash, new_hash);
    let items: Vec<serde_json::Value> = [old, new, live_pod("batch-1", "batch-77")]
        .iter()
        .map(|pod| values(pod).remove(0).unwrap())
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let file = TempFile::new(&format!("{test}-live-pods.json"), &list.to_string());
    (file, old_hash, new_hash)
}

#[test]
fn check_finds_the_stale_sidecars_of_live_pods() {
    let upgraded = upgraded_policy("report");
    let (pods, old, new) = live_pods("report", &upgraded);
    let report = succeeds(&["check", "--settings", upgraded.path(), pods.path()]);
    assert!(
        report.contains(
            "Pod shop/web-old-1: already injected: the Pod already has the sidecar (annotation sidecar.istio.io/status is set) [outside the seed table: step 4 of the decision (already injected) → no]\n  policy server: assumed to call the policy: "
        ),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "\n  stale: injected with revision default (hash {old}), the policy now injects revision default (hash {new}): the hash differs; restart its owner ReplicaSet/web-5d4f\n"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "\n  up to date: injected with revision default (hash {new})\n"
        )),
        "{report}"
    );
    assert!(
        report.ends_with("Pods: 1 up to date, 1 stale, 1 uninjected\n"),
        "{report}"
    );

    // Against the old template, the other Pod is the stale one.
    let report = succeeds(&["check", "--settings", OPT_IN, pods.path()]);
    assert!(
        report.contains(&format!(
            "  stale: injected with revision default (hash {new}), the policy now injects revision default (hash {old}): the hash differs; restart its owner ReplicaSet/web-8b2c\n"
        )),
        "{report}"
    );

    let json = succeeds(&[
        "check",
        "--settings",
        upgraded.path(),
        "--output",
        "json",
        pods.path(),
    ]);
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        reports[0]["sidecar"],
        serde_json::json!({
            "stale": true,
            "revision": "default",
            "hash": old,
            "currentRevision": "default",
            "currentHash": new,
            "owners": [{"kind": "ReplicaSet", "name": "web-5d4f", "controller": true}],
            "verdict": format!("stale: injected with revision default (hash {old}), the policy now injects revision default (hash {new}): the hash differs; restart its owner ReplicaSet/web-5d4f"),
        })
    );
    assert_eq!(reports[1]["sidecar"]["stale"], false);
    assert_eq!(reports[2]["sidecar"], serde_json::Value::Null);
}

#[test]
fn fail_if_stale_exits_1_when_a_pod_is_stale() {
    let upgraded = upgraded_policy("fail");
    let (pods, _, _) = live_pods("fail", &upgraded);
    let code = |settings: &str, input: &str| {
        run(
            &["check", "--fail-if-stale", "--settings", settings, input],
            None,
        )
        .status
        .code()
    };
    assert_eq!(code(upgraded.path(), pods.path()), Some(1));
    assert_eq!(code(OPT_IN, pods.path()), Some(1));
    // Without the flag, or without stale Pods, 0.
    let output = run(&["check", "--settings", OPT_IN, pods.path()], None);
    assert_eq!(output.status.code(), Some(0));
    let up_to_date = run(
        &["inject", "-q", "--settings", OPT_IN],
        Some(&live_pod("web-1", "web-5d4f")),
    );
    let up_to_date = TempFile::new("up-to-date.yaml", &stdout(&up_to_date));
    assert_eq!(code(OPT_IN, up_to_date.path()), Some(0));
    // A status annotation that is not JSON: the revision and the hash are unknown, so the Pod is
    // stale.
    let garbled = TempFile::new(
        "garbled.yaml",
        &live_pod("web-2", "web-5d4f").replace(
            "  labels:",
            "  annotations: {sidecar.istio.io/status: '{'}\n  labels:",
        ),
    );
    assert_eq!(code(OPT_IN, garbled.path()), Some(1));
    let report = succeeds(&["check", "--settings", OPT_IN, garbled.path()]);
    assert!(
        report.contains("  stale: injected with an unknown revision and hash (metadata.annotations.sidecar.istio.io/status: not valid JSON: "),
        "{report}"
    );
}

/// The revision's name counts as the hash does: the same templates under another name make a
/// Pod stale. A Pod injected before revision names (its annotation's `revision` is the hash)
/// counts by its hash alone, and `uninject` takes its sidecar out as any other's.
#[test]
fn check_compares_revision_names_and_reads_annotations_older_than_them() {
    let opt_in = std::fs::read_to_string(root().join(OPT_IN)).unwrap();
    let renamed = opt_in.replace("  settings:\n", "  settings:\n    revision: canary\n");
    assert_ne!(renamed, opt_in, "the example changed: update this test");
    let renamed = TempFile::new("renamed.yaml", &renamed);
    let injected = run(
        &["inject", "-q", "--settings", OPT_IN],
        Some(&live_pod("web-1", "web-5d4f")),
    );
    let injected = stdout(&injected);
    let hash = hash_of(&injected);
    let mut pod = values(&injected).remove(0).unwrap();
    let current = TempFile::new("renamed-pod.json", &pod.to_string());
    let code = |settings: &str, input: &str| {
        run(
            &["check", "--fail-if-stale", "--settings", settings, input],
            None,
        )
        .status
        .code()
    };
    assert_eq!(code(OPT_IN, current.path()), Some(0));
    assert_eq!(code(renamed.path(), current.path()), Some(1));
    let report = succeeds(&["check", "--settings", renamed.path(), current.path()]);
    assert!(
        report.contains(&format!(
            "\n  stale: injected with revision default (hash {hash}), the policy now injects revision canary (hash {hash}): the revision name differs; restart its owner ReplicaSet/web-5d4f\n"
        )),
        "{report}"
    );

    // The same Pod as the policy annotated it before revision names.
    let annotation = &mut pod["metadata"]["annotations"]["sidecar.istio.io/status"];
    let status = format!(r#""revision":"default","hash":"{hash}""#);
    let written = annotation.as_str().unwrap().to_string();
    assert!(written.contains(&status), "{written}");
    *annotation = written
        .replace(&status, &format!(r#""revision":"{hash}""#))
        .into();
    let old = TempFile::new("old-annotation.json", &pod.to_string());
    assert_eq!(code(renamed.path(), old.path()), Some(0));
    let json = succeeds(&[
        "check",
        "--settings",
        renamed.path(),
        "--output",
        "json",
        old.path(),
    ]);
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        reports[0]["sidecar"],
        serde_json::json!({
            "stale": false,
            "revision": null,
            "hash": hash,
            "currentRevision": "canary",
            "currentHash": hash,
            "owners": [{"kind": "ReplicaSet", "name": "web-5d4f", "controller": true}],
            "verdict": format!("up to date: injected with hash {hash}, under no revision name (the annotation is older than revision names)"),
        })
    );
    let upgraded = upgraded_policy("old-annotation");
    assert_eq!(code(upgraded.path(), old.path()), Some(1));
    let uninjected = |path: &str| succeeds(&["uninject", "-q", path]);
    assert_eq!(uninjected(old.path()), uninjected(current.path()));
    assert!(
        !uninjected(old.path()).contains("sidecar.istio.io/status"),
        "{}",
        uninjected(old.path())
    );
}

/// Given Namespace manifests, `check` says whether the policy applies in each: the canary
/// example's two policies each take one namespace.
#[test]
fn check_says_which_policy_applies_to_each_namespace() {
    for (policy, applies, other) in [
        ("stable", "shop", "payments"),
        ("canary", "payments", "shop"),
    ] {
        let text = succeeds(&[
            "check",
            "--settings",
            &format!("examples/canary/{policy}.yaml"),
            "examples/canary/namespaces.yaml",
        ]);
        let selector = format!(
            "the namespaceSelector kubernetes.io/metadata.name notin (kubewarden),istio.io/rev={policy}"
        );
        let other_value = if policy == "stable" {
            "canary"
        } else {
            "stable"
        };
        let expected = [
            format!(
                "Namespace {applies}: policy sidecar-injector-{policy} applies: namespace {applies} matches {selector}"
            ),
            format!(
                "Namespace {other}: policy sidecar-injector-{policy} does not apply: namespace {other} does not match {selector}: label istio.io/rev is \"{other_value}\", and istio.io/rev={policy} is required"
            ),
        ];
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_by_key(|line| !line.contains(&format!("Namespace {applies}:")));
        assert_eq!(lines, expected, "{policy}");
    }
    // Plain settings do not say where the policy server calls the policy.
    let settings = TempFile::new(
        "plain-settings.json",
        r#"{"template": {"containers": [{"name": "p", "image": "p"}]}}"#,
    );
    let text = succeeds(&[
        "check",
        "--settings",
        settings.path(),
        "examples/canary/namespaces.yaml",
    ]);
    assert!(
        text.starts_with("Namespace shop: the policy may apply: the settings alone do not say in which namespaces the policy server calls the policy; give the ClusterAdmissionPolicy\n"),
        "{text}"
    );
}
