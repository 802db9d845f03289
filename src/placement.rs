//! Where the injected containers go: the settings that place them, and what a Pod may change of
//! that for itself, as in Istio.
//!
//! - `nativeSidecars`: the sidecar containers become init containers with `restartPolicy:
//!   Always`. A Pod's annotation `sidecar.istio.io/nativeSidecar` set to `"true"` or `"false"`
//!   decides for that Pod (only those exact values count, as for the inject annotation).
//! - `holdApplicationUntilProxyStarts`: the sidecar containers before the application's. A Pod's
//!   proxy config (annotation `proxy.istio.io/config`, Istio's `ProxyConfig` as YAML or JSON) that
//!   sets `holdApplicationUntilProxyStarts` decides for that Pod.
//! - `networkInitContainers`: the template init containers that redirect the Pod's traffic, run
//!   after the Pod's own init containers unless the sidecar runs as a native sidecar.
//! - `probeRewrite`: the application's probes sent to the agent ([`crate::probes`]).
//!
//! What a Pod chooses is part of its revision ([`crate::revision`]): the same settings place the
//! sidecar of two Pods differently when one of them chooses.

use serde_json::{Map, Value};

use crate::error::{RequestError, json_type};
use crate::keys::{NATIVE_SIDECAR_KEY, PROXY_CONFIG_KEY};
use crate::metrics::PrometheusMerge;
use crate::pod::OBJECT_PATH;
use crate::probes::ProbeRewrite;
use crate::settings::Settings;

/// The key of Istio's `ProxyConfig` read here.
const HOLD_KEY: &str = "holdApplicationUntilProxyStarts";

/// Where the injected parts of one Pod go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'s> {
    pub native_sidecars: bool,
    pub hold_application_until_proxy_starts: bool,
    pub network_init_containers: &'s [String],
    pub probe_rewrite: Option<&'s ProbeRewrite>,
    /// Not where anything goes but how the agent is wired to the Pod, with the probe rewrite: both
    /// are part of the revision.
    pub prometheus_merge: Option<&'s PrometheusMerge>,
}

impl<'s> Placement<'s> {
    /// What `settings` say, for a Pod that does not choose.
    pub fn of(settings: &'s Settings) -> Self {
        Self {
            native_sidecars: settings.native_sidecars,
            hold_application_until_proxy_starts: settings.hold_application_until_proxy_starts,
            network_init_containers: &settings.network_init_containers,
            probe_rewrite: settings.probe_rewrite.as_ref(),
            prometheus_merge: settings.prometheus_merge.as_ref(),
        }
    }

    /// What `settings` say, changed by what a Pod with these annotations chooses. A proxy config
    /// that sets `holdApplicationUntilProxyStarts` in a way this policy cannot read refuses the
    /// Pod, rather than place its sidecar where the Pod did not ask.
    pub fn for_pod(
        settings: &'s Settings,
        annotations: Option<&Map<String, Value>>,
    ) -> Result<Self, RequestError> {
        let mut placement = Self::of(settings);
        let choice = Choice::of(annotations)?;
        if let Some(native) = choice.native_sidecars {
            placement.native_sidecars = native;
        }
        if let Some(hold) = choice.hold_application_until_proxy_starts {
            placement.hold_application_until_proxy_starts = hold;
        }
        Ok(placement)
    }
}

/// What a Pod chooses of its placement; `None` where it does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choice {
    pub native_sidecars: Option<bool>,
    pub hold_application_until_proxy_starts: Option<bool>,
}

impl Choice {
    /// Read from the Pod's annotations.
    pub fn of(annotations: Option<&Map<String, Value>>) -> Result<Self, RequestError> {
        let annotation = |key| annotations.and_then(|map| map.get(key));
        let native_sidecars = match annotation(NATIVE_SIDECAR_KEY).and_then(Value::as_str) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        let hold_application_until_proxy_starts = match annotation(PROXY_CONFIG_KEY) {
            Some(Value::String(config)) => hold_from_proxy_config(config).map_err(|problem| {
                RequestError::field(
                    format!("{OBJECT_PATH}.metadata.annotations.{PROXY_CONFIG_KEY}"),
                    problem,
                )
            })?,
            _ => None,
        };
        Ok(Self {
            native_sidecars,
            hold_application_until_proxy_starts,
        })
    }

    /// What the Pod chose, for a person: `native sidecars (sidecar.istio.io/nativeSidecar:
    /// "true")`; empty when it chose nothing.
    pub fn describe(&self) -> Vec<String> {
        let mut said = Vec::new();
        if let Some(native) = self.native_sidecars {
            let not = if native { "" } else { "no " };
            said.push(format!(
                "{not}native sidecars ({NATIVE_SIDECAR_KEY}: \"{native}\")"
            ));
        }
        if let Some(hold) = self.hold_application_until_proxy_starts {
            let not = if hold { "" } else { "not " };
            said.push(format!(
                "the application {not}held until the proxy starts ({PROXY_CONFIG_KEY}: {HOLD_KEY}: {hold})"
            ));
        }
        said
    }
}

/// `holdApplicationUntilProxyStarts` of a proxy config, as Istio reads the annotation: YAML, of
/// which JSON is a part. Read here without a YAML parser, which would double the module: a JSON
/// object, or a YAML block mapping whose top-level line `holdApplicationUntilProxyStarts: true`
/// (or `false`) says it. A config that names the key in any other way is an error that says how to
/// write it, never a guess. One that does not name it chooses nothing.
fn hold_from_proxy_config(config: &str) -> Result<Option<bool>, String> {
    if !config.contains(HOLD_KEY) {
        return Ok(None);
    }
    let unreadable = || {
        format!(
            "{HOLD_KEY} is set in a form this policy does not read; write the proxy config as a JSON object ({{\"{HOLD_KEY}\": true}}) or as YAML with the line \"{HOLD_KEY}: true\" at the top level"
        )
    };
    if config.trim_start().starts_with('{') {
        let object: Map<String, Value> = serde_json::from_str(config).map_err(|_| unreadable())?;
        return match object.get(HOLD_KEY) {
            None => Ok(None),
            Some(Value::Bool(hold)) => Ok(Some(*hold)),
            Some(other) => Err(format!(
                "{HOLD_KEY}: expected true or false, got {}",
                json_type(other)
            )),
        };
    }
    let mut found = None;
    for line in config.lines() {
        // Indented lines belong to another key's value; comments and blank lines say nothing.
        if line.starts_with([' ', '\t', '#']) || line.trim().is_empty() {
            continue;
        }
        if !line.contains(HOLD_KEY) {
            continue;
        }
        // A top-level line that names the key must be that key's `key: value`.
        let (key, value) = line.split_once(':').ok_or_else(unreadable)?;
        let key = key.trim();
        let unquoted = key
            .strip_prefix('"')
            .and_then(|k| k.strip_suffix('"'))
            .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
            .unwrap_or(key);
        if unquoted != HOLD_KEY {
            return Err(unreadable());
        }
        if found.is_some() {
            return Err(format!("{HOLD_KEY} is given twice"));
        }
        let value = value.split(" #").next().unwrap_or_default().trim();
        found = Some(match value {
            "true" | "True" | "TRUE" => true,
            "false" | "False" | "FALSE" => false,
            other => return Err(format!("{HOLD_KEY}: expected true or false, got {other:?}")),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn choice(annotations: Value) -> Result<Choice, RequestError> {
        Choice::of(annotations.as_object())
    }

    #[test]
    fn only_the_exact_values_of_the_native_sidecar_annotation_count() {
        for (value, expected) in [
            ("true", Some(true)),
            ("false", Some(false)),
            ("True", None),
            ("yes", None),
            ("", None),
        ] {
            assert_eq!(
                choice(json!({NATIVE_SIDECAR_KEY: value}))
                    .unwrap()
                    .native_sidecars,
                expected,
                "{value:?}"
            );
        }
        assert_eq!(choice(json!({})).unwrap(), Choice::default());
    }

    #[rstest::rstest]
    #[case::json(r#"{"holdApplicationUntilProxyStarts": true}"#, Some(true))]
    #[case::json_false(
        r#"{ "concurrency": 2, "holdApplicationUntilProxyStarts": false }"#,
        Some(false)
    )]
    #[case::yaml("holdApplicationUntilProxyStarts: true\n", Some(true))]
    #[case::yaml_among_others(
        "concurrency: 2\nproxyMetadata:\n  HOLD: \"holdApplicationUntilProxyStarts: false\"\nholdApplicationUntilProxyStarts: false # for the migration\n",
        Some(false)
    )]
    #[case::yaml_quoted_key("\"holdApplicationUntilProxyStarts\": True", Some(true))]
    #[case::nested_only("proxyMetadata:\n  holdApplicationUntilProxyStarts: \"true\"\n", None)]
    #[case::not_named("concurrency: 2\n", None)]
    #[case::json_nested(
        r#"{"proxyMetadata": {"holdApplicationUntilProxyStarts": "true"}}"#,
        None
    )]
    fn the_proxy_config_says_whether_to_hold_the_application(
        #[case] config: &str,
        #[case] expected: Option<bool>,
    ) {
        assert_eq!(hold_from_proxy_config(config), Ok(expected));
    }

    #[rstest::rstest]
    #[case::flow_yaml(
        "{ holdApplicationUntilProxyStarts: true }",
        "holdApplicationUntilProxyStarts is set in a form this policy does not read; write the proxy config as a JSON object ({\"holdApplicationUntilProxyStarts\": true}) or as YAML with the line \"holdApplicationUntilProxyStarts: true\" at the top level"
    )]
    #[case::json_string(
        r#"{"holdApplicationUntilProxyStarts": "true"}"#,
        "holdApplicationUntilProxyStarts: expected true or false, got a string"
    )]
    #[case::yaml_quoted_value(
        "holdApplicationUntilProxyStarts: \"true\"",
        "holdApplicationUntilProxyStarts: expected true or false, got \"\\\"true\\\"\""
    )]
    #[case::yaml_yes(
        "holdApplicationUntilProxyStarts: yes",
        "holdApplicationUntilProxyStarts: expected true or false, got \"yes\""
    )]
    #[case::twice(
        "holdApplicationUntilProxyStarts: true\nholdApplicationUntilProxyStarts: false",
        "holdApplicationUntilProxyStarts is given twice"
    )]
    #[case::odd_key(
        "? holdApplicationUntilProxyStarts\n: true",
        "holdApplicationUntilProxyStarts is set in a form this policy does not read; write the proxy config as a JSON object ({\"holdApplicationUntilProxyStarts\": true}) or as YAML with the line \"holdApplicationUntilProxyStarts: true\" at the top level"
    )]
    fn a_proxy_config_that_cannot_be_read_for_sure_is_an_error(
        #[case] config: &str,
        #[case] message: &str,
    ) {
        assert_eq!(hold_from_proxy_config(config), Err(message.to_string()));
    }

    #[test]
    fn an_unreadable_proxy_config_refuses_the_pod_naming_the_annotation() {
        let error =
            choice(json!({PROXY_CONFIG_KEY: "holdApplicationUntilProxyStarts: on"})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid admission request: request.object.metadata.annotations.proxy.istio.io/config: holdApplicationUntilProxyStarts: expected true or false, got \"on\""
        );
    }

    #[test]
    fn the_pod_changes_only_what_it_chooses() {
        let settings = Settings::validate(
            json!({"nativeSidecars": true, "holdApplicationUntilProxyStarts": true,
                "template": {"containers": [{"name": "p", "image": "i"}]}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let annotations = json!({NATIVE_SIDECAR_KEY: "false"});
        let placement = Placement::for_pod(&settings, annotations.as_object()).unwrap();
        assert!(!placement.native_sidecars);
        assert!(placement.hold_application_until_proxy_starts);
        let annotations = json!({PROXY_CONFIG_KEY: "{\"holdApplicationUntilProxyStarts\": false}"});
        let placement = Placement::for_pod(&settings, annotations.as_object()).unwrap();
        assert!(placement.native_sidecars);
        assert!(!placement.hold_application_until_proxy_starts);
        assert_eq!(
            Placement::for_pod(&settings, None).unwrap(),
            Placement::of(&settings)
        );
    }

    #[test]
    fn what_the_pod_chose_is_said() {
        let said = choice(json!({NATIVE_SIDECAR_KEY: "true",
            PROXY_CONFIG_KEY: "holdApplicationUntilProxyStarts: false"}))
        .unwrap()
        .describe();
        assert_eq!(
            said,
            [
                "native sidecars (sidecar.istio.io/nativeSidecar: \"true\")",
                "the application not held until the proxy starts (proxy.istio.io/config: holdApplicationUntilProxyStarts: false)"
            ]
        );
    }
}
