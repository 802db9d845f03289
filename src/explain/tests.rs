use super::*;
use rstest::rstest;
use serde_json::{Map, json};

use crate::scope::tests::{cluster_policy, namespaces, opt_in, settings};

// As the Kubewarden controller installs it: its own requirement first, then the policy's.
const SELECTOR: &str = "kubernetes.io/metadata.name notin (kubewarden),istio-injection=enabled";

fn deployment(pod_labels: Value, own_labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": own_labels},
        "spec": {"replicas": 1, "template": {
            "metadata": {"labels": pod_labels},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}
    })
}

fn report(object: &Value, policy: &Policy, namespaces: &Namespaces) -> Report {
    check(object, policy, namespaces, "default")
        .unwrap()
        .unwrap()
}

#[test]
fn plain_settings_leave_the_namespace_unknown() {
    let policy = Policy::from_value(&settings()).unwrap();
    let report = report(
        &deployment(json!({"app": "web"}), json!({})),
        &policy,
        &Namespaces::default(),
    );
    assert!(matches!(report.call, Call::Unknown(_)));
    assert!(report.injected);
    assert_eq!(
        report.row.to_string(),
        "namespaceSelector match: assumed yes, policy: enabled, pod override: absent → yes"
    );
}

#[rstest]
#[case::selected(json!({"istio-injection": "enabled"}), true, "namespace shop matches the namespaceSelector {SELECTOR}")]
#[case::other_value(json!({"istio-injection": "true"}), false,
    "namespace shop does not match the namespaceSelector {SELECTOR}: label istio-injection is \"true\", and istio-injection=enabled is required")]
#[case::unlabelled(json!({}), false,
    "namespace shop does not match the namespaceSelector {SELECTOR}: label istio-injection is absent, and istio-injection=enabled is required")]
fn the_namespace_selector_decides_whether_the_policy_is_called(
    #[case] labels: Value,
    #[case] called: bool,
    #[case] why: &str,
) {
    let report = report(
        &deployment(json!({"app": "web"}), json!({})),
        &opt_in(),
        &namespaces(labels),
    );
    assert_eq!(report.call.reason(), why.replace("{SELECTOR}", SELECTOR));
    assert_eq!(report.injected, called);
    assert_eq!(matches!(report.call, Call::Called(_)), called);
}

#[test]
fn match_labels_are_dropped_as_the_kubewarden_controller_does() {
    let policy = Policy::from_value(&cluster_policy(
        json!({"matchLabels": {"istio-injection": "enabled"}}),
    ))
    .unwrap();
    assert_eq!(
        policy.warnings,
        [
            "the Kubewarden controller drops spec.namespaceSelector.matchLabels (istio-injection=enabled) and keeps only matchExpressions: write each label as a matchExpression with operator In"
        ]
    );
    let in_shop = report(
        &deployment(json!({}), json!({})),
        &policy,
        &namespaces(json!({})),
    );
    assert!(
        in_shop.injected,
        "every namespace but kubewarden's is selected: {in_shop:?}"
    );

    let mut manifest = cluster_policy(json!({"matchLabels": {"istio-injection": "enabled"}}));
    manifest["spec"]["allowInsideAdmissionControllerNamespace"] = json!(true);
    let policy = Policy::from_value(&manifest).unwrap();
    assert!(policy.warnings.is_empty());
    assert!(
        !report(
            &deployment(json!({}), json!({})),
            &policy,
            &namespaces(json!({}))
        )
        .injected
    );
}

#[test]
fn the_kubewarden_namespace_is_kept_out() {
    let mut object = deployment(json!({}), json!({}));
    object["metadata"]["namespace"] = json!("kubewarden");
    let mut namespaces = Namespaces::default();
    namespaces.insert("kubewarden", Map::new());
    let policy = Policy::from_value(&cluster_policy(json!({}))).unwrap();
    assert!(!report(&object, &policy, &namespaces).injected);
}

#[test]
fn a_selector_can_use_the_name_label_kubernetes_adds() {
    let policy = Policy::from_value(&cluster_policy(
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}]}),
    ))
    .unwrap();
    let report = report(
        &deployment(json!({}), json!({})),
        &policy,
        &namespaces(json!({})),
    );
    assert!(report.injected, "{report:?}");
}

#[test]
fn not_called_is_the_seed_tables_last_row_and_wins_over_the_pods_choice() {
    let report = report(
        &deployment(json!({"sidecar.istio.io/inject": "true"}), json!({})),
        &opt_in(),
        &namespaces(json!({})),
    );
    assert!(!report.injected);
    assert!(report.decision.inject, "the policy itself would inject");
    assert_eq!(
        report.row.to_string(),
        "namespaceSelector match: no, policy: any, pod override: any → no (the policy is not called)"
    );
    assert!(
        report
            .reason()
            .starts_with("the policy is not called: namespace shop does not match")
    );
    assert_eq!(
        report.hints,
        [
            "the Pod asks for the sidecar with sidecar.istio.io/inject: \"true\", but a Pod's choice only counts where the policy server calls the policy"
        ]
    );
}

#[test]
fn the_override_on_the_deployment_itself_is_pointed_out() {
    let policy = Policy::from_value(
        &json!({"policy": "disabled", "template": {"containers": [{"name": "p", "image": "p"}]}}),
    )
    .unwrap();
    let report = report(
        &deployment(
            json!({"app": "web"}),
            json!({"sidecar.istio.io/inject": "true"}),
        ),
        &policy,
        &Namespaces::default(),
    );
    assert!(!report.injected);
    assert_eq!(
        report.hints,
        [
            "the Deployment's own metadata has the label sidecar.istio.io/inject: \"true\", which the policy never sees: it reads the Pod's, so set it in spec.template.metadata.labels"
        ]
    );
}

#[rstest]
#[case::yes("yes", "; write \"true\"")]
#[case::capital("True", "; write \"true\"")]
#[case::enabled("enabled", "; write \"true\"")]
#[case::off("off", "; write \"false\"")]
#[case::other("maybe", "")]
fn values_that_do_not_count_get_a_suggestion(#[case] value: &str, #[case] suggestion: &str) {
    let report = report(
        &deployment(json!({"sidecar.istio.io/inject": value}), json!({})),
        &opt_in(),
        &namespaces(json!({"istio-injection": "enabled"})),
    );
    assert_eq!(
        report.hints,
        [format!(
            "the Pod's label sidecar.istio.io/inject is {value:?}, which makes no choice: only exactly \"true\" or \"false\" count{suggestion}"
        )]
    );
    assert_eq!(
        report.row.to_string(),
        "namespaceSelector match: yes, policy: enabled, pod override: absent → yes"
    );
}

#[test]
fn an_unquoted_boolean_is_an_error_that_says_to_quote_it() {
    let mut object = deployment(json!({}), json!({}));
    object["spec"]["template"]["metadata"]["annotations"] =
        json!({"sidecar.istio.io/inject": true});
    let error = check(&object, &opt_in(), &Namespaces::default(), "default").unwrap_err();
    assert_eq!(
        error.to_string(),
        "Deployment shop/web: spec.template.metadata.annotations.sidecar.istio.io/inject: expected a string, got a boolean; Kubernetes refuses it too: quote the value, as in \"true\""
    );
}

#[test]
fn malformed_templates_are_named_by_their_place_in_the_manifest() {
    let mut object = deployment(json!({}), json!({}));
    object["spec"]["template"]["spec"]["hostNetwork"] = json!("yes");
    let error = check(&object, &opt_in(), &Namespaces::default(), "default").unwrap_err();
    assert_eq!(
        error.to_string(),
        "Deployment shop/web: spec.template.spec.hostNetwork: expected a boolean, got a string"
    );
}

#[test]
fn security_rules_are_outside_the_seed_table() {
    let mut object = deployment(json!({"sidecar.istio.io/inject": "true"}), json!({}));
    object["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
    let report = report(
        &object,
        &opt_in(),
        &namespaces(json!({"istio-injection": "enabled"})),
    );
    assert!(!report.injected);
    assert_eq!(
        report.row.to_string(),
        "outside the seed table: step 3 of the decision (hostNetwork, a security rule) → no"
    );
}

#[test]
fn injection_into_a_cron_job_uses_the_policys_injection() {
    let mut object = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "j"}]}}}}}});
    let report = inject_object(
        &mut object,
        &opt_in(),
        &namespaces(json!({"istio-injection": "enabled"})),
        "shop",
    )
    .unwrap()
    .unwrap();
    assert!(report.injected);
    assert_eq!(report.object.to_string(), "CronJob shop/nightly");
    let template = &object["spec"]["jobTemplate"]["spec"]["template"];
    assert_eq!(template["spec"]["containers"][1]["name"], "istio-proxy");
    assert!(template["metadata"]["annotations"]["sidecar.istio.io/status"].is_string());

    let again = inject_object(
        &mut object.clone(),
        &opt_in(),
        &namespaces(json!({"istio-injection": "enabled"})),
        "shop",
    )
    .unwrap()
    .unwrap();
    assert!(!again.injected && again.already_injected && again.has_sidecar());
}

#[test]
fn a_pod_the_policy_server_does_not_send_is_left_alone() {
    let mut object = deployment(json!({}), json!({}));
    let original = object.clone();
    let report = inject_object(&mut object, &opt_in(), &namespaces(json!({})), "default")
        .unwrap()
        .unwrap();
    assert!(!report.injected);
    assert_eq!(object, original);
}

#[test]
fn objects_without_pods_have_no_report() {
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
    assert_eq!(
        check(&service, &opt_in(), &Namespaces::default(), "default"),
        Ok(None)
    );
}

#[test]
fn an_admission_policy_sees_its_own_namespace_only() {
    let mut manifest = cluster_policy(json!({}));
    manifest["kind"] = json!("AdmissionPolicy");
    manifest["metadata"]["namespace"] = json!("shop");
    let policy = Policy::from_value(&manifest).unwrap();
    let in_shop = report(
        &deployment(json!({}), json!({})),
        &policy,
        &Namespaces::default(),
    );
    assert!(in_shop.injected);
    let mut elsewhere = deployment(json!({}), json!({}));
    elsewhere["metadata"]["namespace"] = json!("bank");
    assert!(!report(&elsewhere, &policy, &Namespaces::default()).injected);
}

#[test]
fn reports_for_programs_carry_the_sentences_people_read() {
    let report = report(
        &deployment(json!({}), json!({})),
        &opt_in(),
        &namespaces(json!({})),
    );
    let json = report.to_json();
    assert_eq!(json["reason"], report.reason());
    assert_eq!(json["row"]["text"], report.row.to_string());
    assert_eq!(json["policyServer"]["calls"], false);
    assert_eq!(json["decision"]["step"], 8);
}

/// The table the playground draws is the README's, cell for cell.
#[test]
fn the_seed_table_is_the_readmes() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is read");
    let rows: Vec<Vec<String>> = readme
        .lines()
        .skip_while(|line| {
            !line.starts_with("With the namespace selected, this is the seed truth table")
        })
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    assert_eq!(rows, SEED_TABLE.map(|row| row.map(str::to_string)));
}

/// Each row the report points to says what the report says: the policy, the Pod's override and
/// the verdict; the last is the policy server's.
#[rstest]
fn the_seed_row_is_the_row_of_what_happened(
    #[values("enabled", "disabled")] policy: &str,
    #[values(Some("true"), Some("false"), None)] pod_override: Option<&str>,
) {
    let mut manifest = cluster_policy(json!({}));
    manifest["spec"]["settings"]["policy"] = json!(policy);
    let policy_manifest = Policy::from_value(&manifest).unwrap();
    let labels = pod_override.map_or(json!({}), |value| json!({"sidecar.istio.io/inject": value}));
    let report = report(
        &deployment(labels, json!({})),
        &policy_manifest,
        &namespaces(json!({})),
    );
    let row = report.row.seed_row().unwrap();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    assert_eq!(
        SEED_TABLE[row - 1],
        [
            "yes",
            policy,
            &pod_override.map_or("absent".to_string(), |value| format!("{value:?}")),
            yes_no(report.injected)
        ],
        "{}",
        report.row
    );

    let not_called = self::report(
        &deployment(json!({}), json!({})),
        &opt_in(),
        &namespaces(json!({})),
    );
    assert_eq!(not_called.row.seed_row(), Some(SEED_TABLE.len()));
    assert_eq!(SEED_TABLE[SEED_TABLE.len() - 1][0], "no");
}

#[test]
fn verdicts_are_the_words_people_read() {
    let verdict = |labels: Value, annotations: Value| {
        let mut object = deployment(labels, json!({}));
        object["spec"]["template"]["metadata"]["annotations"] = annotations;
        report(
            &object,
            &opt_in(),
            &namespaces(json!({"istio-injection": "enabled"})),
        )
        .verdict()
        .to_string()
    };
    assert_eq!(verdict(json!({}), json!({})), "injected");
    assert_eq!(
        verdict(json!({"sidecar.istio.io/inject": "false"}), json!({})),
        "not injected"
    );
    assert_eq!(
        verdict(json!({}), json!({"sidecar.istio.io/status": "{}"})),
        "already injected"
    );
    let report = report(
        &deployment(json!({}), json!({})),
        &opt_in(),
        &namespaces(json!({"istio-injection": "enabled"})),
    );
    assert_eq!(report.to_json()["verdict"], "injected");
    assert_eq!(
        report.to_json()["policyServer"]["verdict"],
        "calls the policy"
    );
    assert_eq!(report.to_json()["row"]["seedRow"], 3);
}
