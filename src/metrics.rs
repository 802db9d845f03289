//! Istio's Prometheus metrics merge: the agent in the sidecar serves the application's metrics and
//! its own on one port, so the Pod's `prometheus.io/*` annotations are pointed at the agent, and
//! what they said before goes to the agent in an environment variable, which it scrapes in turn.
//!
//! The setting `prometheusMerge` turns it on (Istio's mesh config has it on by default; the
//! examples here set it). For one Pod:
//! - `prometheus.istio.io/merge-metrics: "true"|"false"` overrides the setting (Go's boolean
//!   spellings, as Istio parses them; anything else refuses the Pod rather than guess);
//! - `prometheus.io/scrape` read as a false boolean means the Pod is not scraped: nothing changes;
//! - a `prometheus.io/port` that already is the agent's port (a Pod merged before) changes nothing.
//!
//! Prometheus reads an annotation key with every character outside `[a-zA-Z0-9_]` made `_`, so
//! `prometheus.io/port`, `prometheus-io/port` and `prometheus_io_port` are one setting to it; so
//! they are here, as in Istio. The Pod's three settings (scrape, path, port) become
//! `{"scrape":…,"path":…,"port":…}` in the agent container's [`PrometheusMerge::env`], every variant
//! key is removed, and `prometheus.io/port`, `prometheus.io/path` and `prometheus.io/scrape` say
//! where the agent serves. This is the one place where injection replaces what a Pod had: the
//! status annotation records the replaced values ([`crate::status::Status::replaced_annotations`])
//! so that [`crate::uninject`] gives them back.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::{RequestError, SettingsError, sorted_names};
use crate::keys::MERGE_METRICS_KEY;
use crate::pod::OBJECT_PATH;

/// The annotation keys the merge writes, as Prometheus reads them.
const SCRAPE: &str = "prometheus.io/scrape";
const PATH: &str = "prometheus.io/path";
const PORT: &str = "prometheus.io/port";
/// Istio's annotation for several scrape endpoints, read but not written.
const TARGETS: &str = "prometheus.istio.io/scrape-targets";

/// The setting `prometheusMerge`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusMerge {
    /// The template container that runs the agent: it receives the Pod's scrape settings in `env`.
    pub container: String,
    /// The port the agent serves the merged metrics on (Istio's status port, 15020).
    #[serde(deserialize_with = "crate::probes::status_port_setting")]
    pub port: u16,
    /// The path it serves them at.
    #[serde(default = "default_path", deserialize_with = "not_empty")]
    pub path: String,
    /// The environment variable that receives the Pod's own scrape settings.
    #[serde(default = "default_env", deserialize_with = "not_empty")]
    pub env: String,
    /// Ports of the Pod a Pod may not have scraped through the agent, each with the reason (the
    /// proxy's own: Istio refuses its admin, capture, tunnel, DNS and metrics ports). The agent's
    /// `port` is always refused.
    #[serde(default, deserialize_with = "reserved_ports")]
    pub reserved_ports: BTreeMap<u16, String>,
}

fn reserved_ports<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<u16, String>, D::Error> {
    struct Ports;
    impl<'de> Visitor<'de> for Ports {
        type Value = BTreeMap<u16, String>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut ports = BTreeMap::new();
            while let Some((key, reason)) = map.next_entry::<Cow<'de, str>, String>()? {
                match port_number(&key) {
                    // Written plainly: no sign, no leading zero (what `port.to_string()` would give).
                    Some(port) if !key.starts_with(['+', '0']) => ports.insert(port, reason),
                    _ => {
                        return Err(serde::de::Error::custom(format!(
                            "expected port numbers from 1 to 65535 as keys, got {key:?}"
                        )));
                    }
                };
            }
            Ok(ports)
        }
    }
    deserializer.deserialize_map(Ports)
}

fn default_path() -> String {
    "/stats/prometheus".to_string()
}

fn default_env() -> String {
    "ISTIO_PROMETHEUS_ANNOTATIONS".to_string()
}

fn not_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(serde::de::Error::custom("expected a non-empty string"));
    }
    Ok(text)
}

impl PrometheusMerge {
    /// Refuses a port the Pod asks to have scraped that is not a port, is the agent's own, or is
    /// reserved, as Istio's injector does: the merged metrics would be wrong or recursive.
    fn check_port(&self, asked: &str, target: bool) -> Result<(), RequestError> {
        let (key, what) = if target {
            (TARGETS, "target port")
        } else {
            (PORT, "port")
        };
        let at = || format!("{OBJECT_PATH}.metadata.annotations.{key}");
        let Some(port) = go_int(asked)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
        else {
            return Err(RequestError::field(
                at(),
                format!("expected a port number from 1 to 65535, got {asked:?}"),
            ));
        };
        if port == self.port {
            return Err(RequestError::field(
                at(),
                format!(
                    "{what} {asked} is the agent's, which serves the merged metrics: it cannot be scraped through itself"
                ),
            ));
        }
        if let Some(reason) = self.reserved_ports.get(&port) {
            return Err(RequestError::field(
                at(),
                format!(
                    "{what} {asked} is reserved for the proxy ({reason}) and cannot be scraped"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a `container` that none of `names` (the templates' containers) is: the merge would
    /// never happen, silently.
    pub fn check_container(&self, names: &[&str]) -> Result<(), SettingsError> {
        if names.contains(&self.container.as_str()) {
            return Ok(());
        }
        let known = if names.is_empty() {
            "the template has no containers".to_string()
        } else {
            format!("expected one of {}", sorted_names(names))
        };
        Err(SettingsError::new(
            "prometheusMerge.container",
            format!("{:?} is not a template container; {known}", self.container),
        ))
    }
}

/// What the merge does to one Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge<'s> {
    pub setting: &'s PrometheusMerge,
    /// The value of [`PrometheusMerge::env`]: the Pod's own scrape settings as JSON; `None` when
    /// the Pod has none, and the agent then scrapes nothing of the application's.
    pub env: Option<String>,
    /// The Pod's annotations the merge removes or replaces, with the values they had.
    pub replaced: BTreeMap<String, String>,
}

impl<'s> Merge<'s> {
    /// The merge for a Pod with these annotations, or `None` when the Pod is not merged.
    pub fn for_pod(
        setting: &'s PrometheusMerge,
        annotations: Option<&Map<String, Value>>,
    ) -> Result<Option<Self>, RequestError> {
        let empty = Map::new();
        let annotations = annotations.unwrap_or(&empty);
        if let Some(value) = annotations.get(MERGE_METRICS_KEY) {
            let at = || format!("{OBJECT_PATH}.metadata.annotations.{MERGE_METRICS_KEY}");
            let text = value
                .as_str()
                .ok_or_else(|| RequestError::expected(at(), "a string", value))?;
            match go_bool(text) {
                Some(false) => return Ok(None),
                Some(true) => {}
                None => {
                    return Err(RequestError::field(
                        at(),
                        format!("expected \"true\" or \"false\", got {text:?}"),
                    ));
                }
            }
        }
        // The Pod's scrape settings, by what Prometheus reads of the key. Of two spellings of one
        // setting, the first the Pod lists is taken (Istio takes either).
        let mut scrape = None;
        let mut path = None;
        let mut port = None;
        let mut targets = None;
        let mut replaced = BTreeMap::new();
        for (key, value) in annotations {
            let slot = if reads_as(key, "prometheus_io_scrape") {
                &mut scrape
            } else if reads_as(key, "prometheus_io_path") {
                &mut path
            } else if reads_as(key, "prometheus_io_port") {
                &mut port
            } else if reads_as(key, "prometheus_istio_io_scrape_targets") {
                &mut targets
            } else {
                continue;
            };
            let text = value.as_str().ok_or_else(|| {
                RequestError::expected(
                    format!("{OBJECT_PATH}.metadata.annotations.{key}"),
                    "a string",
                    value,
                )
            })?;
            slot.get_or_insert(text);
            replaced.insert(key.clone(), text.to_string());
        }
        // An annotation that does not read as a boolean does not refuse scraping (as in Istio).
        if scrape.and_then(go_bool) == Some(false) {
            return Ok(None);
        }
        let agent_port = setting.port.to_string();
        if port == Some(agent_port.as_str()) {
            return Ok(None);
        }
        // Several endpoints, as `port:path,port:path`; the first is also the one older agents read.
        // A list with an empty port is ignored (Istio only logs it), and still removed.
        let targets = targets.and_then(scrape_targets).unwrap_or_default();
        let (port, path) = match targets.first() {
            Some((first_port, first_path)) => {
                (Some(first_port.as_str()), Some(first_path.as_str()))
            }
            None => (port, path),
        };
        let ports = if targets.is_empty() {
            port.filter(|port| !port.is_empty()).into_iter().collect()
        } else {
            targets
                .iter()
                .map(|(port, _)| port.as_str())
                .collect::<Vec<_>>()
        };
        for asked in ports {
            setting.check_port(asked, !targets.is_empty())?;
        }
        // Istio leaves the variable out when nothing is set.
        let set = |value: Option<&str>| value.is_some_and(|text| !text.is_empty());
        let env = (set(scrape) || set(path) || set(port) || !targets.is_empty()).then(|| {
            let mut config = serde_json::json!({
                "scrape": scrape.unwrap_or_default(),
                "path": path.unwrap_or_default(),
                "port": port.unwrap_or_default(),
            });
            if let (false, Some(config)) = (targets.is_empty(), config.as_object_mut()) {
                let targets = targets
                    .iter()
                    .map(|(port, path)| serde_json::json!({"port": port, "path": path}))
                    .collect();
                config.insert("targets".to_string(), targets);
            }
            go_json(&config)
        });
        Ok(Some(Self {
            setting,
            env,
            replaced,
        }))
    }

    /// The annotations the merge writes, in key order.
    pub fn annotations(&self) -> [(&'static str, String); 3] {
        [
            (PATH, self.setting.path.clone()),
            (PORT, self.setting.port.to_string()),
            (SCRAPE, "true".to_string()),
        ]
    }

    /// Applies the merge to the Pod's annotations: the keys it writes keep their place when the
    /// Pod had them. Returns the keys added (absent before) and the replaced ones with their old
    /// values, for the status annotation.
    pub fn apply(
        &self,
        annotations: &mut Map<String, Value>,
    ) -> (Vec<String>, BTreeMap<String, String>) {
        let written = self.annotations();
        for key in self.replaced.keys() {
            if !written.iter().any(|(k, _)| k == key) {
                annotations.shift_remove(key);
            }
        }
        let mut added = Vec::new();
        for (key, value) in written {
            if !self.replaced.contains_key(key) {
                added.push(key.to_string());
            }
            annotations.insert(key.to_string(), Value::String(value));
        }
        (added, self.replaced.clone())
    }
}

/// `port:path,port:path` as Istio reads it: entries trimmed, empty ones skipped, the path
/// `/metrics` when none is given; `None` when an entry has no port.
fn scrape_targets(text: &str) -> Option<Vec<(String, String)>> {
    let mut targets = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (port, path) = entry.split_once(':').unwrap_or((entry, ""));
        let (port, path) = (port.trim(), path.trim());
        if port.is_empty() {
            return None;
        }
        let path = if path.is_empty() { "/metrics" } else { path };
        targets.push((port.to_string(), path.to_string()));
    }
    Some(targets)
}

/// A decimal integer as Go's `strconv.Atoi` reads it (a sign allowed, leading zeros too).
fn go_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A port number, written plainly.
fn port_number(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|port| *port > 0)
}

/// Whether Prometheus reads `key` as `name` (a name of letters, digits and `_`): every character
/// of `key` outside `[a-zA-Z0-9_]` is `_` to it. Compared in place: it runs for every annotation
/// of every injected Pod.
fn reads_as(key: &str, name: &str) -> bool {
    key.chars().count() == name.len()
        && key.chars().zip(name.bytes()).all(|(c, n)| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c as u32 == u32::from(n)
            } else {
                n == b'_'
            }
        })
}

/// A boolean as Go's `strconv.ParseBool` reads it.
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// JSON as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped, so that the
/// agent's environment holds the same text as under Istio's injector.
fn go_json(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn setting() -> PrometheusMerge {
        serde_json::from_value(json!({"container": "istio-proxy", "port": 15020})).unwrap()
    }

    fn merge(annotations: Value) -> Result<Option<Merge<'static>>, RequestError> {
        let setting = Box::leak(Box::new(setting()));
        Merge::for_pod(setting, annotations.as_object())
    }

    #[test]
    fn the_defaults_are_istios() {
        let setting = setting();
        assert_eq!(setting.path, "/stats/prometheus");
        assert_eq!(setting.env, "ISTIO_PROMETHEUS_ANNOTATIONS");
    }

    #[test]
    fn a_pod_without_scrape_settings_is_pointed_at_the_agent_with_no_env() {
        let merge = merge(json!({"other": "1"})).unwrap().unwrap();
        assert_eq!(merge.env, None);
        let mut annotations = json!({"other": "1"}).as_object().unwrap().clone();
        let (added, replaced) = merge.apply(&mut annotations);
        assert_eq!(
            Value::Object(annotations),
            json!({"other": "1", "prometheus.io/path": "/stats/prometheus",
                   "prometheus.io/port": "15020", "prometheus.io/scrape": "true"})
        );
        assert_eq!(
            added,
            [
                "prometheus.io/path",
                "prometheus.io/port",
                "prometheus.io/scrape"
            ]
        );
        assert!(replaced.is_empty());
    }

    #[test]
    fn the_pods_settings_go_to_the_env_and_are_replaced() {
        let pod = json!({"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                         "prometheus.io/path": "/metrics"});
        let merge = merge(pod.clone()).unwrap().unwrap();
        assert_eq!(
            merge.env.as_deref(),
            Some(r#"{"scrape":"true","path":"/metrics","port":"8080"}"#)
        );
        let mut annotations = pod.as_object().unwrap().clone();
        let (added, replaced) = merge.apply(&mut annotations);
        assert!(added.is_empty());
        assert_eq!(
            serde_json::to_value(&replaced).unwrap(),
            json!({"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                   "prometheus.io/path": "/metrics"})
        );
        assert_eq!(annotations["prometheus.io/port"], "15020");
    }

    #[test]
    fn spellings_prometheus_reads_alike_are_one_setting_and_all_removed() {
        let pod = json!({"prometheus-io/port": "9090", "prometheus_io_path": "/m",
                         "prometheus.io/path": "/x"});
        let merge = merge(pod.clone()).unwrap().unwrap();
        // Of two spellings, the first the Pod lists.
        assert_eq!(
            merge.env.as_deref(),
            Some(r#"{"scrape":"","path":"/m","port":"9090"}"#)
        );
        let mut annotations = pod.as_object().unwrap().clone();
        let (added, _) = merge.apply(&mut annotations);
        // prometheus.io/path was the Pod's: replaced, not added.
        assert_eq!(added, ["prometheus.io/port", "prometheus.io/scrape"]);
        assert!(!annotations.contains_key("prometheus-io/port"));
        assert!(!annotations.contains_key("prometheus_io_path"));
        assert_eq!(annotations.len(), 3);
    }

    #[rstest]
    #[case::scrape_false(json!({"prometheus.io/scrape": "false"}))]
    #[case::scrape_go_false(json!({"prometheus.io/scrape": "F"}))]
    #[case::scrape_zero(json!({"prometheus_io_scrape": "0"}))]
    #[case::merge_off(json!({"prometheus.istio.io/merge-metrics": "false"}))]
    #[case::already_the_agents(json!({"prometheus.io/port": "15020", "prometheus.io/path": "/metrics"}))]
    fn pods_that_are_not_merged(#[case] annotations: Value) {
        assert_eq!(merge(annotations).unwrap(), None);
    }

    #[rstest]
    #[case::scrape_unreadable(json!({"prometheus.io/scrape": "yes"}), Some(r#"{"scrape":"yes","path":"","port":""}"#))]
    #[case::merge_on(json!({"prometheus.istio.io/merge-metrics": "true"}), None)]
    #[case::empty_values(json!({"prometheus.io/port": ""}), None)]
    #[case::html_escaped(json!({"prometheus.io/path": "/m?a=1&b=<2>"}), Some(r#"{"scrape":"","path":"/m?a=1\u0026b=\u003c2\u003e","port":""}"#))]
    fn pods_that_are_merged(#[case] annotations: Value, #[case] env: Option<&str>) {
        assert_eq!(merge(annotations).unwrap().unwrap().env.as_deref(), env);
    }

    #[rstest]
    #[case::not_a_boolean(json!({"prometheus.istio.io/merge-metrics": "yes"}),
        "invalid admission request: request.object.metadata.annotations.prometheus.istio.io/merge-metrics: expected \"true\" or \"false\", got \"yes\"")]
    #[case::not_a_string(json!({"prometheus.io/port": 8080}),
        "invalid admission request: request.object.metadata.annotations.prometheus.io/port: expected a string, got a number")]
    fn what_refuses_the_pod(#[case] annotations: Value, #[case] message: &str) {
        assert_eq!(merge(annotations).unwrap_err().to_string(), message);
    }

    #[rstest]
    #[case::port_zero(json!({"container": "p", "port": 0}), "expected a port number from 1 to 65535, got 0")]
    #[case::port_text(json!({"container": "p", "port": "15020"}), "expected a port number from 1 to 65535, got a string")]
    #[case::empty_path(json!({"container": "p", "port": 1, "path": ""}), "expected a non-empty string")]
    #[case::unknown(json!({"container": "p", "port": 1, "pth": "/"}), "unknown field `pth`")]
    fn settings_refused(#[case] setting: Value, #[case] message: &str) {
        let error = serde_json::from_value::<PrometheusMerge>(setting).unwrap_err();
        assert!(error.to_string().contains(message), "{error}");
    }

    #[test]
    fn scrape_targets_go_to_the_env_the_first_as_port_and_path() {
        let pod = json!({"prometheus.istio.io/scrape-targets": " 8080:/m , 9090 ,", "prometheus.io/port": "7070"});
        let merge = merge(pod.clone()).unwrap().unwrap();
        assert_eq!(
            merge.env.as_deref(),
            Some(
                r#"{"scrape":"","path":"/m","port":"8080","targets":[{"port":"8080","path":"/m"},{"port":"9090","path":"/metrics"}]}"#
            )
        );
        let mut annotations = pod.as_object().unwrap().clone();
        merge.apply(&mut annotations);
        assert!(!annotations.contains_key("prometheus.istio.io/scrape-targets"));
        // A list with an empty port is ignored, as Istio does, but still taken out.
        let merge = merge_of(
            json!({"prometheus.istio.io/scrape-targets": ":/m", "prometheus.io/port": "7070"}),
        );
        assert_eq!(
            merge.env.as_deref(),
            Some(r#"{"scrape":"","path":"","port":"7070"}"#)
        );
        assert!(
            merge
                .replaced
                .contains_key("prometheus.istio.io/scrape-targets")
        );
    }

    fn merge_of(annotations: Value) -> Merge<'static> {
        merge(annotations).unwrap().unwrap()
    }

    #[rstest]
    #[case::not_a_port(json!({"prometheus.io/port": "http"}),
        "prometheus.io/port: expected a port number from 1 to 65535, got \"http\"")]
    #[case::too_high(json!({"prometheus.io/port": "65536"}),
        "prometheus.io/port: expected a port number from 1 to 65535, got \"65536\"")]
    #[case::the_agents_written_otherwise(json!({"prometheus.io/port": "015020"}),
        "prometheus.io/port: port 015020 is the agent's, which serves the merged metrics: it cannot be scraped through itself")]
    #[case::reserved(json!({"prometheus.io/port": "15090"}),
        "prometheus.io/port: port 15090 is reserved for the proxy (Envoy Prometheus) and cannot be scraped")]
    #[case::reserved_target(json!({"prometheus.istio.io/scrape-targets": "8080,15000:/x"}),
        "prometheus.istio.io/scrape-targets: target port 15000 is reserved for the proxy (Envoy admin) and cannot be scraped")]
    fn ports_that_cannot_be_scraped_refuse_the_pod(
        #[case] annotations: Value,
        #[case] message: &str,
    ) {
        let setting: &'static PrometheusMerge = Box::leak(Box::new(
            serde_json::from_value(json!({"container": "istio-proxy", "port": 15020,
                "reservedPorts": {"15000": "Envoy admin", "15090": "Envoy Prometheus"}}))
            .unwrap(),
        ));
        let error = Merge::for_pod(setting, annotations.as_object()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("invalid admission request: request.object.metadata.annotations.{message}")
        );
        // A leading sign or zeros read as Go reads them.
        assert!(
            Merge::for_pod(setting, json!({"prometheus.io/port": "+08080"}).as_object()).is_ok()
        );
    }

    #[test]
    fn reserved_ports_are_port_numbers() {
        // Written plainly: a sign, a leading zero, 0 or more than 65535 is no port key.
        for key in ["admin", "+80", "080", "0", "00", "65536", "", " 80"] {
            let error = serde_json::from_value::<PrometheusMerge>(
                json!({"container": "p", "port": 1, "reservedPorts": {key: "Envoy admin"}}),
            )
            .unwrap_err();
            assert!(
                error.to_string().contains(&format!(
                    "expected port numbers from 1 to 65535 as keys, got {key:?}"
                )),
                "{key}: {error}"
            );
        }
        let ports = serde_json::from_value::<PrometheusMerge>(
            json!({"container": "p", "port": 1, "reservedPorts": {"80": "a", "65535": "b", "1": "c"}}),
        )
        .unwrap()
        .reserved_ports;
        assert_eq!(ports.keys().copied().collect::<Vec<_>>(), [1, 80, 65535]);
    }

    #[test]
    fn the_container_must_be_a_template_container() {
        let error = setting().check_container(&["proxy"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "prometheusMerge.container: \"istio-proxy\" is not a template container; expected one of proxy"
        );
        assert!(setting().check_container(&["istio-proxy"]).is_ok());
    }
}
