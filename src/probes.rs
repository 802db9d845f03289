//! Application probe rewriting, as Istio does it: the kubelet's HTTP, TCP and gRPC probes are sent
//! to the sidecar's status port instead of the application, and the sidecar's agent runs the
//! original probes from inside the Pod.
//!
//! Why: with mutual TLS in STRICT mode, the sidecar refuses the kubelet's plain connections to the
//! application's ports, so the Pod fails probes that worked before injection. Istio rewrites each
//! such probe to `httpGet` on the agent's status port, at `/app-health/<container>/readyz`,
//! `/livez` or `/startupz`, and gives the agent the original probes in the environment variable
//! `ISTIO_KUBE_APP_PROBERS`, as JSON keyed by those paths. A container's lifecycle hooks
//! (`lifecycle.preStop`, `postStart`) go the same way, to `/app-lifecycle/<container>/prestopz`
//! and `/poststartz`.
//!
//! This module is that rewrite as a pure library over JSON containers, in four parts:
//! - [`ProbeRewrite`]: the `probeRewrite` setting and its checks;
//! - [`status_port`]: whether a Pod's probes are rewritten, and to which port (its annotations
//!   may turn the rewrite off or move the port);
//! - [`rewrite`]: the rewrite itself, giving the originals' JSON and the paths rewritten;
//! - [`restore`]: the inverse, for taking the sidecar out again.
//!
//! What is rewritten is what Istio rewrites: a probe with `httpGet`, `tcpSocket` or `grpc` (not
//! `exec`), a hook with `httpGet` or `tcpSocket` (not `exec` or `sleep`; a hook has no timeout). Every other field of the probe is kept. An `httpGet` keeps its own fields (`host`,
//! `httpHeaders`, ...) with the path and the port replaced, and `scheme: HTTPS` becomes `HTTP`,
//! because the agent, not the kubelet, speaks TLS to the application. A `tcpSocket` or `grpc`
//! probe becomes a plain `httpGet` with only the path and the port. In the originals, each entry
//! has the probe's action, with a named port resolved to the container's port number (the agent
//! takes numbers only), and its `timeoutSeconds`, which the agent applies itself; the other
//! fields stay with the kubelet in the rewritten probe.
//!
//! Where this module differs from Istio, it is on purpose: a probe whose named port the container
//! does not declare, or that does not say which one action it takes, is left as it is (Istio would
//! send the kubelet to an agent that does not know it); a probe already on the status port at an
//! `/app-health/` path is left as it is, so that the rewrite is idempotent; only the exact value
//! `"false"` of `sidecar.istio.io/rewriteAppHTTPProbers` turns it off, as for the inject override;
//! and a status port annotation that is not a port refuses the Pod rather than being logged.
//!
//! [`restore`] gives back exactly the probes [`rewrite`] was given: the rewritten probe still has
//! every field but the action, the originals have the action, and the originals keep the
//! action's fields in the order the Pod wrote them, so the rewritten action is put back in its
//! place. The one thing the originals cannot say is the name of a named port, since the agent
//! needs its number: [`Rewritten::port_names`] records those names, and whoever stores the
//! originals stores them too (in the status annotation) and hands them to [`restore`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::error::{RequestError, SettingsError, json_type, sorted_names};
use crate::keys::{REWRITE_KEY, STATUS_PORT_KEY};
use crate::pod::OBJECT_PATH;

/// The environment variable Istio's agent reads the original probes from.
pub const DEFAULT_ENV: &str = "ISTIO_KUBE_APP_PROBERS";

/// Where a container holds something the kubelet calls that [`rewrite`] sends to the agent: a
/// probe (`readinessProbe`), or a lifecycle hook (`lifecycle.preStop`), with the last segment of
/// the agent's path for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    field: &'static str,
    /// The hook, in `lifecycle`; `None` for a probe.
    hook: Option<&'static str>,
    endpoint: &'static str,
}

const PLACES: [Place; 5] = [
    Place::probe("readinessProbe", "readyz"),
    Place::probe("livenessProbe", "livez"),
    Place::probe("startupProbe", "startupz"),
    Place::hook("preStop", "prestopz"),
    Place::hook("postStart", "poststartz"),
];
const LIFECYCLE: &str = "lifecycle";
/// The container fields that hold what [`rewrite`] rewrites.
pub const PROBE_FIELDS: [&str; 4] = [PLACES[0].field, PLACES[1].field, PLACES[2].field, LIFECYCLE];
/// The actions a Kubernetes probe may take, one per probe, and those rewritten.
const PROBE_ACTIONS: [&str; 4] = ["httpGet", "tcpSocket", "grpc", "exec"];
const PROBE_REWRITTEN: [&str; 3] = ["httpGet", "tcpSocket", "grpc"];
/// The actions a lifecycle hook may take, one per hook, and those rewritten.
const HOOK_ACTIONS: [&str; 4] = ["httpGet", "tcpSocket", "exec", "sleep"];
const HOOK_REWRITTEN: [&str; 2] = ["httpGet", "tcpSocket"];
const HTTP_GET: &str = "httpGet";

impl Place {
    const fn probe(field: &'static str, endpoint: &'static str) -> Self {
        Self {
            field,
            hook: None,
            endpoint,
        }
    }

    const fn hook(hook: &'static str, endpoint: &'static str) -> Self {
        Self {
            field: LIFECYCLE,
            hook: Some(hook),
            endpoint,
        }
    }

    /// The path at which the agent serves it for `container`, as Istio names it:
    /// `/app-health/web/readyz`, `/app-lifecycle/web/prestopz`.
    fn path(self, container: &str) -> String {
        let kind = if self.hook.is_some() {
            "app-lifecycle"
        } else {
            "app-health"
        };
        format!("/{kind}/{container}/{}", self.endpoint)
    }

    /// The actions it may take, and those that are rewritten.
    fn actions(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self.hook {
            None => (&PROBE_ACTIONS, &PROBE_REWRITTEN),
            Some(_) => (&HOOK_ACTIONS, &HOOK_REWRITTEN),
        }
    }

    /// The probe or hook of the container whose fields are `container`.
    fn get(self, container: &Map<String, Value>) -> Option<&Value> {
        let value = container.get(self.field)?;
        match self.hook {
            None => Some(value),
            Some(hook) => value.get(hook),
        }
    }

    fn get_mut(self, container: &mut Map<String, Value>) -> Option<&mut Value> {
        let value = container.get_mut(self.field)?;
        match self.hook {
            None => Some(value),
            Some(hook) => value.get_mut(hook),
        }
    }
}

/// The `probeRewrite` setting: rewrite the application's probes to the sidecar's status port.
/// Absent, probes are left as they are. Read with the other settings, by serde: every message
/// names the field below `probeRewrite`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeRewrite {
    /// The template container that runs the agent: it receives the originals in `env`.
    pub container: String,
    /// The agent's status port, 1 to 65535, which the kubelet probes instead of the application.
    #[serde(deserialize_with = "status_port_setting")]
    pub status_port: u16,
    /// The environment variable the originals go into.
    #[serde(default = "default_env", deserialize_with = "not_empty")]
    pub env: String,
}

fn default_env() -> String {
    DEFAULT_ENV.to_string()
}

/// `statusPort`: read as any JSON value, so that whatever is not a port is answered with the range
/// and the value given (a number as written, anything else by its type).
pub(crate) fn status_port_setting<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<u16, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value.as_u64().and_then(|n| u16::try_from(n).ok()) {
        Some(port) if port > 0 => Ok(port),
        _ => Err(serde::de::Error::custom(format!(
            "expected a port number from 1 to 65535, got {}",
            shown(&value)
        ))),
    }
}

fn not_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(text)
}

/// A number as written, anything else by its type.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        other => json_type(other).to_string(),
    }
}

impl ProbeRewrite {
    /// Refuses a `container` that none of `names` (the templates' containers) is.
    pub fn check_container(&self, names: &[&str]) -> Result<(), SettingsError> {
        let settings = self;
        if !names.contains(&settings.container.as_str()) {
            let known = if names.is_empty() {
                "the template has no containers".to_string()
            } else {
                format!("expected one of {}", sorted_names(names))
            };
            return Err(SettingsError::new(
                "probeRewrite.container",
                format!(
                    "{:?} is not a template container; {known}",
                    settings.container
                ),
            ));
        }
        Ok(())
    }
}

/// The status port the Pod's probes are rewritten to, or `None` when the Pod turns the rewrite off
/// (`sidecar.istio.io/rewriteAppHTTPProbers: "false"`, or `status.sidecar.istio.io/port: "0"`).
/// The Pod's port annotation overrides the setting's port; a value that is not a port (a decimal
/// integer from 0 to 65535) refuses the Pod. A Pod that turns the rewrite off is not refused for
/// its port annotation, which then serves nothing here.
pub fn status_port(
    annotations: Option<&Map<String, Value>>,
    settings: &ProbeRewrite,
) -> Result<Option<u16>, RequestError> {
    let annotation = |key| annotations.and_then(|map| map.get(key));
    // The port is checked even when the Pod turns rewriting off, as Istio checks it: the
    // templates write it too (istio-init's excluded ports, the drain hook's --debug-port).
    let port = match annotation(STATUS_PORT_KEY) {
        None => Some(settings.status_port),
        Some(value) => status_port_annotation(value)?,
    };
    if annotation(REWRITE_KEY).and_then(Value::as_str) == Some("false") {
        return Ok(None);
    }
    Ok(port)
}

/// The annotation's port; `None` for "0".
fn status_port_annotation(value: &Value) -> Result<Option<u16>, RequestError> {
    let at = || format!("{OBJECT_PATH}.metadata.annotations.{STATUS_PORT_KEY}");
    let Some(text) = value.as_str() else {
        return Err(RequestError::expected(at(), "a string", value));
    };
    // `u16::from_str` would also take a sign.
    let port = Some(text)
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u16>().ok());
    match port {
        Some(0) => Ok(None),
        Some(port) => Ok(Some(port)),
        None => Err(RequestError::field(
            at(),
            format!(
                "expected a port number from 1 to 65535, or \"0\" to leave the probes as they are; got {text:?}"
            ),
        )),
    }
}

/// What [`rewrite`] did: what the agent's environment, the status annotation and reports need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The original probes, as Istio's agent reads them: a JSON object keyed by path, with sorted
    /// keys, each entry holding the probe's action (named port resolved) and its `timeoutSeconds`.
    /// The value of the environment variable [`ProbeRewrite::env`].
    pub originals: String,
    /// The paths of the rewritten probes, sorted (the keys of the originals).
    pub paths: Vec<String>,
    /// The port name of each rewritten probe that named its port, by path. [`restore`] needs it
    /// to give the probe back its name; it is empty when no probe named its port.
    pub port_names: BTreeMap<String, String>,
}

/// Rewrites the readiness, liveness and startup probes of `containers` to `status_port`; `None`
/// when no probe was rewritten (then there are no originals to give the agent, as in Istio).
///
/// Give it the application's containers only: the Pod's, never the injected sidecar, whose
/// probes are its own. A container without a name, or whose name an earlier container already
/// used, is left as it is (injection refuses such Pods before).
pub fn rewrite<'a>(
    containers: impl IntoIterator<Item = &'a mut Value>,
    status_port: u16,
) -> Option<Rewritten> {
    let mut originals = BTreeMap::new();
    let mut port_names = BTreeMap::new();
    for container in containers {
        let Some(fields) = container.as_object_mut() else {
            continue;
        };
        let Some(name) = fields
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        for place in PLACES {
            let path = place.path(&name);
            if originals.contains_key(&path) {
                continue;
            }
            let Some(plan) = place
                .get(fields)
                .and_then(|probe| plan(fields, place, probe, &path, status_port))
            else {
                continue;
            };
            if let Some(Value::Object(probe)) = place.get_mut(fields) {
                replace_entry(probe, plan.action, HTTP_GET, plan.rewritten);
                originals.insert(path.clone(), plan.original);
                if let Some(port_name) = plan.port_name {
                    port_names.insert(path, port_name);
                }
            }
        }
    }
    if originals.is_empty() {
        return None;
    }
    let paths = originals.keys().cloned().collect();
    // The map is filled in key order, which the JSON keeps.
    let originals = Value::Object(originals.into_iter().collect()).to_string();
    Some(Rewritten {
        originals,
        paths,
        port_names,
    })
}

/// How one probe is rewritten.
struct Plan {
    /// The probe's action, which `httpGet` replaces in its place.
    action: &'static str,
    /// The new `httpGet`.
    rewritten: Value,
    /// The entry of the originals.
    original: Value,
    /// The probe's port name, when it named its port.
    port_name: Option<String>,
}

/// How `probe`, of the container whose fields are `container`, is rewritten to `status_port`, or
/// `None` when it is left as it is.
fn plan(
    container: &Map<String, Value>,
    place: Place,
    probe: &Value,
    path: &str,
    status_port: u16,
) -> Option<Plan> {
    let probe = probe.as_object()?;
    // Exactly one action; Kubernetes refuses a probe with more, and a null is no action.
    let (known, rewritten) = place.actions();
    let mut actions = known
        .iter()
        .copied()
        .filter(|action| probe.get(*action).is_some_and(|value| !value.is_null()));
    let action = actions.next()?;
    if actions.next().is_some() || !rewritten.contains(&action) {
        return None;
    }
    // `httpGet: null` next to a `tcpSocket` would be lost when `httpGet` takes its place.
    if action != HTTP_GET && probe.contains_key(HTTP_GET) {
        return None;
    }
    let handler = probe.get(action)?.as_object()?;
    if action == HTTP_GET && on_status_port(handler, status_port) {
        return None;
    }
    let (port, port_name) = match handler.get("port")? {
        port @ Value::Number(number) if number.is_i64() || number.is_u64() => (port.clone(), None),
        Value::String(name) => (named_port(container, name)?, Some(name.clone())),
        _ => return None,
    };
    let mut original_action = handler.clone();
    original_action.insert("port".to_string(), port);
    let mut original = Map::new();
    original.insert(
        action.to_string(),
        as_istio_writes(action, &original_action),
    );
    // As Istio writes it: a zero timeout is no timeout. A hook has none.
    if let Some(timeout) = probe
        .get("timeoutSeconds")
        .filter(|t| place.hook.is_none() && !t.is_null() && t.as_i64() != Some(0))
    {
        original.insert("timeoutSeconds".to_string(), timeout.clone());
    }
    let rewritten = if action == HTTP_GET {
        let mut http = handler.clone();
        http.insert("path".to_string(), json!(path));
        http.insert("port".to_string(), json!(status_port));
        if http.get("scheme").and_then(Value::as_str) == Some("HTTPS") {
            http.insert("scheme".to_string(), json!("HTTP"));
        }
        Value::Object(http)
    } else {
        json!({"path": path, "port": status_port})
    };
    Some(Plan {
        action,
        rewritten,
        original: Value::Object(original),
        port_name,
    })
}

/// A probe's action as Istio writes it into the originals (Go's encoding of Kubernetes' types):
/// the fields in the types' order, the empty ones that Kubernetes omits left out, fields the types
/// do not have dropped, and a gRPC probe's `service` always there (`null` when unset: the type does
/// not omit it). The agent reads either; Istio's tooling compares the text.
fn as_istio_writes(action: &str, handler: &Map<String, Value>) -> Value {
    let fields: &[&str] = match action {
        HTTP_GET => &["path", "port", "host", "scheme", "httpHeaders"],
        "tcpSocket" => &["port", "host"],
        _ => &["port", "service"],
    };
    let empty = |value: &Value| match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    };
    let mut out = Map::new();
    for field in fields {
        match handler.get(*field) {
            Some(Value::Array(headers)) if *field == "httpHeaders" && !headers.is_empty() => {
                let headers = headers.iter().map(|header| match header {
                    Value::Object(header) => {
                        let mut ordered = Map::new();
                        for key in ["name", "value"] {
                            ordered
                                .insert(key.into(), header.get(key).cloned().unwrap_or(json!("")));
                        }
                        Value::Object(ordered)
                    }
                    other => other.clone(),
                });
                out.insert((*field).into(), Value::Array(headers.collect()));
            }
            Some(value) if *field == "port" || *field == "service" && !value.is_null() => {
                out.insert((*field).into(), value.clone());
            }
            Some(value) if !empty(value) => {
                out.insert((*field).into(), value.clone());
            }
            _ if *field == "service" => {
                out.insert((*field).into(), Value::Null);
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// An `httpGet` that already goes to the agent: rewritten before.
fn on_status_port(http: &Map<String, Value>, status_port: u16) -> bool {
    http.get("port").and_then(Value::as_u64) == Some(u64::from(status_port))
        && http
            .get("path")
            .and_then(Value::as_str)
            .is_some_and(|path| {
                path.starts_with("/app-health/") || path.starts_with("/app-lifecycle/")
            })
}

/// The number of the container's port called `name` (the first so named, as the kubelet finds it).
fn named_port(container: &Map<String, Value>, name: &str) -> Option<Value> {
    let port = container
        .get("ports")?
        .as_array()?
        .iter()
        .find(|port| port.get("name").and_then(Value::as_str) == Some(name))?
        .get("containerPort")?;
    (port.is_i64() || port.is_u64()).then(|| port.clone())
}

/// Replaces the entry `old` of `map` by `new: value`, in the same place.
fn replace_entry(map: &mut Map<String, Value>, old: &str, new: &str, value: Value) {
    let mut value = Some(value);
    *map = std::mem::take(map)
        .into_iter()
        .map(|(key, current)| match value.take_if(|_| key == old) {
            Some(value) => (new.to_string(), value),
            None => (key, current),
        })
        .collect();
}

/// Saved probes that cannot be put back: the Pod or the saved probes changed since the rewrite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RestoreError {
    /// The probe's path (`/app-health/web/readyz`), or empty for the originals as a whole.
    pub path: String,
    pub problem: String,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the original probes cannot be restored: ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.problem)
    }
}

impl RestoreError {
    fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Puts back the probes [`rewrite`] rewrote: `originals` is [`Rewritten::originals`] and
/// `port_names` is [`Rewritten::port_names`]. Each rewritten probe gets its original action back
/// in the place of its `httpGet`, with its port name if it had one; its other fields are already
/// the original ones. Returns the paths restored, sorted.
///
/// Nothing is changed unless everything can be restored: every saved probe must belong to a
/// container and still be the rewritten one (an `httpGet` at its path).
pub fn restore<'a>(
    containers: impl IntoIterator<Item = &'a mut Value>,
    originals: &str,
    port_names: &BTreeMap<String, String>,
) -> Result<Vec<String>, RestoreError> {
    let saved = match serde_json::from_str::<Value>(originals) {
        Ok(Value::Object(saved)) => saved,
        Ok(other) => {
            return Err(RestoreError::new(
                "",
                format!("expected a JSON object, got {}", json_type(&other)),
            ));
        }
        Err(error) => {
            return Err(RestoreError::new(
                "",
                format!("the saved probes are not valid JSON: {error}"),
            ));
        }
    };
    if let Some(path) = port_names.keys().find(|path| !saved.contains_key(*path)) {
        return Err(RestoreError::new(
            path,
            "a port name is recorded for a probe that was not saved",
        ));
    }
    let mut containers: Vec<&mut Value> = containers.into_iter().collect();
    let mut restored = BTreeSet::new();
    let mut changes = Vec::new();
    for (index, container) in containers.iter().enumerate() {
        let Some(fields) = container.as_object() else {
            continue;
        };
        let Some(name) = fields.get("name").and_then(Value::as_str) else {
            continue;
        };
        for place in PLACES {
            let path = place.path(name);
            let Some(entry) = saved.get(&path) else {
                continue;
            };
            // A second container of the same name was not rewritten either.
            if restored.contains(&path) {
                continue;
            }
            let probe = original_probe(
                place,
                place.get(fields),
                entry,
                port_names.get(&path),
                &path,
            )?;
            changes.push((index, place, probe));
            restored.insert(path);
        }
    }
    if let Some(path) = saved.keys().find(|path| !restored.contains(*path)) {
        return Err(RestoreError::new(
            path,
            "no container has this probe (was a container renamed or removed?)",
        ));
    }
    for (index, place, probe) in changes {
        if let Some(Value::Object(fields)) = containers.get_mut(index).map(|c| &mut **c)
            && let Some(slot) = place.get_mut(fields)
        {
            *slot = probe;
        }
    }
    Ok(restored.into_iter().collect())
}

/// The probe that was rewritten into `current`, from its saved `entry`.
fn original_probe(
    place: Place,
    current: Option<&Value>,
    entry: &Value,
    port_name: Option<&String>,
    path: &str,
) -> Result<Value, RestoreError> {
    let error = |problem: &str| RestoreError::new(path, problem);
    let Some(Value::Object(current)) = current else {
        return Err(error("the container no longer has this probe"));
    };
    let points_here = current
        .get(HTTP_GET)
        .and_then(|http| http.get("path"))
        .and_then(Value::as_str)
        == Some(path);
    if !points_here {
        return Err(error(
            "the container's probe is no longer the rewritten one (an httpGet at this path)",
        ));
    }
    let Some(entry) = entry.as_object() else {
        return Err(error("expected a saved probe object"));
    };
    let (_, rewritten) = place.actions();
    let mut saved = rewritten
        .iter()
        .filter_map(|action| Some((*action, entry.get(*action)?.as_object()?)));
    let (Some((action, handler)), None) = (saved.next(), saved.next()) else {
        return Err(error(if place.hook.is_none() {
            "expected a saved probe with one of httpGet, tcpSocket or grpc"
        } else {
            "expected a saved lifecycle hook with one of httpGet or tcpSocket"
        }));
    };
    if action != HTTP_GET && current.contains_key(action) {
        return Err(error(&format!(
            "the container's probe has both httpGet and {action}"
        )));
    }
    let mut handler = handler.clone();
    // Written for the agent as Go writes it (`as_istio_writes`): an unset service is no field.
    if handler.get("service").is_some_and(Value::is_null) {
        handler.remove("service");
    }
    if let Some(name) = port_name {
        handler.insert("port".to_string(), Value::String(name.clone()));
    }
    let mut probe = current.clone();
    replace_entry(&mut probe, HTTP_GET, action, Value::Object(handler));
    Ok(Value::Object(probe))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn settings() -> ProbeRewrite {
        ProbeRewrite {
            container: "mesh-proxy".to_string(),
            status_port: 15020,
            env: DEFAULT_ENV.to_string(),
        }
    }

    /// The setting read from its text, then checked against these template containers, as
    /// `Settings::validate` does.
    fn validate_with(value: &Value, containers: &[&str]) -> Result<ProbeRewrite, SettingsError> {
        let text = value.to_string();
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        let settings: ProbeRewrite = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| SettingsError::from_serde(e, "probeRewrite"))?;
        settings.check_container(containers)?;
        Ok(settings)
    }

    fn validate(value: Value) -> Result<ProbeRewrite, String> {
        validate_with(&value, &["mesh-proxy", "debug"]).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_with_every_field() {
        let read = validate(json!({"container": "debug", "statusPort": 15021, "env": "PROBES"}));
        let expected = ProbeRewrite {
            container: "debug".to_string(),
            status_port: 15021,
            env: "PROBES".to_string(),
        };
        assert_eq!(read, Ok(expected));
    }

    #[test]
    fn settings_env_defaults_to_istios() {
        let read = validate(json!({"container": "mesh-proxy", "statusPort": 15020}));
        assert_eq!(read, Ok(settings()));
    }

    #[rstest]
    #[case::port_one(json!(1), 1)]
    #[case::port_highest(json!(65535), 65535)]
    fn settings_port_bounds(#[case] port: Value, #[case] expected: u16) {
        let read = validate(json!({"container": "mesh-proxy", "statusPort": port}));
        assert_eq!(read.map(|s| s.status_port), Ok(expected));
    }

    // Not an object (an array, which serde would read field by field) is refused before, by
    // `Settings::validate`, as for every object of the settings: settings.rs's `probe_as_list`.
    #[rstest]
    #[case::unknown_key(json!({"container": "mesh-proxy", "statusPort": 15020, "statusPrt": 1}),
        "probeRewrite.statusPrt: unknown field; expected one of container, statusPort, env")]
    #[case::container_missing(json!({"statusPort": 15020}), "probeRewrite.container: missing")]
    #[case::container_not_string(json!({"container": 1, "statusPort": 15020}),
        "probeRewrite.container: invalid type: integer 1, expected a string")]
    #[case::container_unknown(json!({"container": "mesh-proxi", "statusPort": 15020}),
        r#"probeRewrite.container: "mesh-proxi" is not a template container; expected one of debug, mesh-proxy"#)]
    #[case::container_empty(json!({"container": "", "statusPort": 15020}),
        r#"probeRewrite.container: "" is not a template container; expected one of debug, mesh-proxy"#)]
    #[case::port_missing(json!({"container": "mesh-proxy"}), "probeRewrite.statusPort: missing")]
    #[case::port_zero(json!({"container": "mesh-proxy", "statusPort": 0}),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got 0")]
    #[case::port_too_high(json!({"container": "mesh-proxy", "statusPort": 65536}),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got 65536")]
    #[case::port_negative(json!({"container": "mesh-proxy", "statusPort": -1}),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got -1")]
    #[case::port_fraction(json!({"container": "mesh-proxy", "statusPort": 15020.5}),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got 15020.5")]
    #[case::port_string(json!({"container": "mesh-proxy", "statusPort": "15020"}),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got a string")]
    #[case::env_empty(json!({"container": "mesh-proxy", "statusPort": 15020, "env": ""}),
        "probeRewrite.env: must not be empty")]
    #[case::env_not_string(json!({"container": "mesh-proxy", "statusPort": 15020, "env": true}),
        "probeRewrite.env: invalid type: boolean true, expected a string")]
    fn settings_refusals(#[case] value: Value, #[case] message: &str) {
        assert_eq!(validate(value), Err(message.to_string()));
    }

    #[test]
    fn settings_container_without_template_containers() {
        let value = json!({"container": "mesh-proxy", "statusPort": 15020});
        let error = validate_with(&value, &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"probeRewrite.container: "mesh-proxy" is not a template container; the template has no containers"#
        );
    }

    #[rstest]
    #[case::no_annotations(None, Some(15020))]
    #[case::other_annotations(Some(json!({"a": "b"})), Some(15020))]
    #[case::rewrite_false(Some(json!({REWRITE_KEY: "false"})), None)]
    #[case::rewrite_true(Some(json!({REWRITE_KEY: "true"})), Some(15020))]
    #[case::rewrite_capitalized_false_counts_not(Some(json!({REWRITE_KEY: "False"})), Some(15020))]
    #[case::rewrite_zero_counts_not(Some(json!({REWRITE_KEY: "0"})), Some(15020))]
    #[case::rewrite_empty_counts_not(Some(json!({REWRITE_KEY: ""})), Some(15020))]
    #[case::rewrite_boolean_counts_not(Some(json!({REWRITE_KEY: false})), Some(15020))]
    #[case::port_overrides(Some(json!({STATUS_PORT_KEY: "15021"})), Some(15021))]
    #[case::port_highest(Some(json!({STATUS_PORT_KEY: "65535"})), Some(65535))]
    #[case::port_leading_zero(Some(json!({STATUS_PORT_KEY: "015021"})), Some(15021))]
    #[case::port_zero_disables(Some(json!({STATUS_PORT_KEY: "0"})), None)]
    #[case::rewrite_false_wins_over_port(Some(json!({REWRITE_KEY: "false", STATUS_PORT_KEY: "15021"})), None)]
    fn when_it_applies(#[case] annotations: Option<Value>, #[case] expected: Option<u16>) {
        let annotations = annotations.and_then(|a| a.as_object().cloned());
        assert_eq!(status_port(annotations.as_ref(), &settings()), Ok(expected));
    }

    #[rstest]
    #[case::too_high(json!("65536"), "got \"65536\"")]
    #[case::negative(json!("-1"), "got \"-1\"")]
    #[case::signed(json!("+15021"), "got \"+15021\"")]
    #[case::spaces(json!(" 15021"), "got \" 15021\"")]
    #[case::empty(json!(""), "got \"\"")]
    #[case::word(json!("status"), "got \"status\"")]
    #[case::fraction(json!("15021.0"), "got \"15021.0\"")]
    #[case::hexadecimal(json!("0x3aad"), "got \"0x3aad\"")]
    fn status_port_annotation_that_is_not_a_port(#[case] value: Value, #[case] got: &str) {
        let annotations = json!({STATUS_PORT_KEY: value});
        let error = status_port(annotations.as_object(), &settings()).unwrap_err();
        assert_eq!(error.code(), 400);
        assert_eq!(
            error.to_string(),
            format!(
                "invalid admission request: request.object.metadata.annotations.status.sidecar.istio.io/port: \
                 expected a port number from 1 to 65535, or \"0\" to leave the probes as they are; {got}"
            )
        );
    }

    #[test]
    fn status_port_annotation_that_is_not_a_port_is_refused_even_without_rewriting() {
        let annotations = json!({STATUS_PORT_KEY: "abc", REWRITE_KEY: "false"});
        let error = status_port(annotations.as_object(), &settings()).unwrap_err();
        assert_eq!(error.code(), 400);
        let annotations = json!({STATUS_PORT_KEY: "15030", REWRITE_KEY: "false"});
        assert_eq!(status_port(annotations.as_object(), &settings()), Ok(None));
    }

    #[test]
    fn status_port_annotation_that_is_not_a_string() {
        let annotations = json!({STATUS_PORT_KEY: 15021});
        let error = status_port(annotations.as_object(), &settings()).unwrap_err();
        assert_eq!(error.code(), 400);
        assert_eq!(
            error.to_string(),
            "invalid admission request: request.object.metadata.annotations.status.sidecar.istio.io/port: \
             expected a string, got a number"
        );
    }

    fn web(probes: Value) -> Value {
        let mut container = json!({"name": "web", "image": "web:1",
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 9090}]});
        if let (Some(container), Some(probes)) = (container.as_object_mut(), probes.as_object()) {
            container.extend(probes.clone());
        }
        container
    }

    /// Rewrites `web` with `probes` to 15020: the container's probes after, and the originals.
    fn rewritten(probes: Value) -> (Value, Option<String>) {
        let mut containers = [web(probes)];
        let done = rewrite(&mut containers, 15020);
        let [container] = containers;
        let probes = Value::Object(
            PROBE_FIELDS
                .iter()
                .filter_map(|field| Some((field.to_string(), container.get(*field)?.clone())))
                .collect(),
        );
        (probes, done.map(|done| done.originals))
    }

    #[rstest]
    #[case::http_readiness(
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 5}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 5}}),
        Some(r#"{"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8080,"scheme":"HTTP"},"timeoutSeconds":1}}"#))]
    #[case::lifecycle_hooks(
        json!({"lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": "http"}}, "postStart": {"tcpSocket": {"port": 9090}}}}),
        json!({"lifecycle": {"preStop": {"httpGet": {"path": "/app-lifecycle/web/prestopz", "port": 15020}}, "postStart": {"httpGet": {"path": "/app-lifecycle/web/poststartz", "port": 15020}}}}),
        Some(r#"{"/app-lifecycle/web/poststartz":{"tcpSocket":{"port":9090}},"/app-lifecycle/web/prestopz":{"httpGet":{"path":"/drain","port":8080}}}"#))]
    #[case::lifecycle_exec_and_sleep_left_alone(
        json!({"lifecycle": {"preStop": {"exec": {"command": ["drain"]}}, "postStart": {"sleep": {"seconds": 1}}}}),
        json!({"lifecycle": {"preStop": {"exec": {"command": ["drain"]}}, "postStart": {"sleep": {"seconds": 1}}}}),
        None)]
    #[case::lifecycle_already_on_the_status_port(
        json!({"lifecycle": {"preStop": {"httpGet": {"path": "/app-lifecycle/web/prestopz", "port": 15020}}}}),
        json!({"lifecycle": {"preStop": {"httpGet": {"path": "/app-lifecycle/web/prestopz", "port": 15020}}}}),
        None)]
    #[case::http_liveness(
        json!({"livenessProbe": {"httpGet": {"path": "/live", "port": 8080}}}),
        json!({"livenessProbe": {"httpGet": {"path": "/app-health/web/livez", "port": 15020}}}),
        Some(r#"{"/app-health/web/livez":{"httpGet":{"path":"/live","port":8080}}}"#))]
    #[case::http_startup(
        json!({"startupProbe": {"httpGet": {"path": "/started", "port": 8080}, "failureThreshold": 30}}),
        json!({"startupProbe": {"httpGet": {"path": "/app-health/web/startupz", "port": 15020}, "failureThreshold": 30}}),
        Some(r#"{"/app-health/web/startupz":{"httpGet":{"path":"/started","port":8080}}}"#))]
    #[case::https_becomes_http(
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": 8443, "scheme": "HTTPS"}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020, "scheme": "HTTP"}}}),
        Some(r#"{"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8443,"scheme":"HTTPS"}}}"#))]
    #[case::other_schemes_stay(
        json!({"readinessProbe": {"httpGet": {"port": 8080, "scheme": "https"}}}),
        json!({"readinessProbe": {"httpGet": {"port": 15020, "scheme": "https", "path": "/app-health/web/readyz"}}}),
        Some(r#"{"/app-health/web/readyz":{"httpGet":{"port":8080,"scheme":"https"}}}"#))]
    #[case::http_keeps_host_and_headers(
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "host": "127.0.0.1", "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020, "host": "127.0.0.1", "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}}),
        Some(r#"{"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8080,"host":"127.0.0.1","httpHeaders":[{"name":"X-Probe","value":"1"}]}}}"#))]
    #[case::tcp_socket(
        json!({"livenessProbe": {"tcpSocket": {"port": 5432}, "timeoutSeconds": 3, "periodSeconds": 10}}),
        json!({"livenessProbe": {"httpGet": {"path": "/app-health/web/livez", "port": 15020}, "timeoutSeconds": 3, "periodSeconds": 10}}),
        Some(r#"{"/app-health/web/livez":{"tcpSocket":{"port":5432},"timeoutSeconds":3}}"#))]
    #[case::tcp_socket_with_host(
        json!({"livenessProbe": {"tcpSocket": {"host": "localhost", "port": 5432}}}),
        json!({"livenessProbe": {"httpGet": {"path": "/app-health/web/livez", "port": 15020}}}),
        Some(r#"{"/app-health/web/livez":{"tcpSocket":{"port":5432,"host":"localhost"}}}"#))]
    #[case::grpc(
        json!({"readinessProbe": {"grpc": {"port": 9090, "service": "health"}, "timeoutSeconds": 2}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}, "timeoutSeconds": 2}}),
        Some(r#"{"/app-health/web/readyz":{"grpc":{"port":9090,"service":"health"},"timeoutSeconds":2}}"#))]
    #[case::every_other_field_kept(
        json!({"livenessProbe": {"initialDelaySeconds": 3, "httpGet": {"path": "/live", "port": 8080}, "timeoutSeconds": 4,
            "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 6, "terminationGracePeriodSeconds": 7, "xUnknown": {"a": [1]}}}),
        json!({"livenessProbe": {"initialDelaySeconds": 3, "httpGet": {"path": "/app-health/web/livez", "port": 15020}, "timeoutSeconds": 4,
            "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 6, "terminationGracePeriodSeconds": 7, "xUnknown": {"a": [1]}}}),
        Some(r#"{"/app-health/web/livez":{"httpGet":{"path":"/live","port":8080},"timeoutSeconds":4}}"#))]
    #[case::zero_timeout_is_not_saved(
        json!({"livenessProbe": {"tcpSocket": {"port": 5432}, "timeoutSeconds": 0}}),
        json!({"livenessProbe": {"httpGet": {"path": "/app-health/web/livez", "port": 15020}, "timeoutSeconds": 0}}),
        Some(r#"{"/app-health/web/livez":{"tcpSocket":{"port":5432}}}"#))]
    #[case::named_port_resolved(
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}, "livenessProbe": {"grpc": {"port": 9090}},
            "startupProbe": {"tcpSocket": {"port": "grpc"}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}},
            "livenessProbe": {"httpGet": {"path": "/app-health/web/livez", "port": 15020}},
            "startupProbe": {"httpGet": {"path": "/app-health/web/startupz", "port": 15020}}}),
        Some(r#"{"/app-health/web/livez":{"grpc":{"port":9090,"service":null}},"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8080}},"/app-health/web/startupz":{"tcpSocket":{"port":9090}}}"#))]
    #[case::exec_left_alone(
        json!({"livenessProbe": {"exec": {"command": ["true"]}}}),
        json!({"livenessProbe": {"exec": {"command": ["true"]}}}),
        None)]
    #[case::undeclared_named_port_left_alone(
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": "admin"}}, "livenessProbe": {"tcpSocket": {"port": "http"}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": "admin"}}, "livenessProbe": {"httpGet": {"path": "/app-health/web/livez", "port": 15020}}}),
        Some(r#"{"/app-health/web/livez":{"tcpSocket":{"port":8080}}}"#))]
    #[case::already_on_status_port_left_alone(
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}}}),
        None)]
    #[case::status_port_elsewhere_is_rewritten(
        json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": 15020}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}}}),
        Some(r#"{"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":15020}}}"#))]
    #[case::app_health_on_another_port_is_rewritten(
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15021}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}}}),
        Some(r#"{"/app-health/web/readyz":{"httpGet":{"path":"/app-health/web/readyz","port":15021}}}"#))]
    #[case::two_actions_left_alone(
        json!({"readinessProbe": {"httpGet": {"port": 8080}, "tcpSocket": {"port": 8080}}}),
        json!({"readinessProbe": {"httpGet": {"port": 8080}, "tcpSocket": {"port": 8080}}}),
        None)]
    #[case::null_action_is_no_action(
        json!({"readinessProbe": {"exec": null, "tcpSocket": {"port": 8080}}}),
        json!({"readinessProbe": {"exec": null, "httpGet": {"path": "/app-health/web/readyz", "port": 15020}}}),
        Some(r#"{"/app-health/web/readyz":{"tcpSocket":{"port":8080}}}"#))]
    #[case::null_http_get_next_to_tcp_left_alone(
        json!({"readinessProbe": {"httpGet": null, "tcpSocket": {"port": 8080}}}),
        json!({"readinessProbe": {"httpGet": null, "tcpSocket": {"port": 8080}}}),
        None)]
    #[case::no_action_left_alone(
        json!({"readinessProbe": {"periodSeconds": 3}}),
        json!({"readinessProbe": {"periodSeconds": 3}}),
        None)]
    #[case::malformed_probes_left_alone(
        json!({"readinessProbe": "GET /ready", "livenessProbe": {"httpGet": "/live"}, "startupProbe": {"tcpSocket": {"port": true}}}),
        json!({"readinessProbe": "GET /ready", "livenessProbe": {"httpGet": "/live"}, "startupProbe": {"tcpSocket": {"port": true}}}),
        None)]
    #[case::portless_probe_left_alone(
        json!({"readinessProbe": {"httpGet": {"path": "/ready"}}}),
        json!({"readinessProbe": {"httpGet": {"path": "/ready"}}}),
        None)]
    #[case::no_probes(json!({}), json!({}), None)]
    fn rewrites(#[case] probes: Value, #[case] expected: Value, #[case] originals: Option<&str>) {
        let (after, saved) = rewritten(probes);
        assert_eq!(after, expected);
        assert_eq!(saved.as_deref(), originals);
    }

    #[test]
    fn the_action_is_replaced_in_its_place() {
        let mut containers = [json!({"name": "web", "livenessProbe":
            {"periodSeconds": 5, "tcpSocket": {"port": 5432}, "timeoutSeconds": 1}})];
        rewrite(&mut containers, 15020);
        assert_eq!(
            containers[0]["livenessProbe"].to_string(),
            r#"{"periodSeconds":5,"httpGet":{"path":"/app-health/web/livez","port":15020},"timeoutSeconds":1}"#
        );
    }

    #[test]
    fn the_originals_are_sorted_and_reported() {
        let mut containers = [
            json!({"name": "web", "livenessProbe": {"tcpSocket": {"port": 8080}}, "readinessProbe": {"httpGet": {"port": "http"}},
                "ports": [{"name": "http", "containerPort": 8080}]}),
            json!({"name": "api", "startupProbe": {"grpc": {"port": 9090}}}),
            json!({"name": "cron", "livenessProbe": {"exec": {"command": ["true"]}}}),
        ];
        let done = rewrite(&mut containers, 15020).unwrap();
        assert_eq!(
            done.originals,
            r#"{"/app-health/api/startupz":{"grpc":{"port":9090,"service":null}},"/app-health/web/livez":{"tcpSocket":{"port":8080}},"/app-health/web/readyz":{"httpGet":{"port":8080}}}"#
        );
        assert_eq!(
            done.paths,
            [
                "/app-health/api/startupz",
                "/app-health/web/livez",
                "/app-health/web/readyz"
            ]
        );
        assert_eq!(
            done.port_names,
            BTreeMap::from([("/app-health/web/readyz".to_string(), "http".to_string())])
        );
    }

    #[test]
    fn the_first_declaration_of_a_port_name_counts() {
        let mut containers = [
            json!({"name": "web", "readinessProbe": {"tcpSocket": {"port": "http"}},
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "http", "containerPort": 8081}]}),
        ];
        let done = rewrite(&mut containers, 15020).unwrap();
        assert_eq!(
            done.originals,
            r#"{"/app-health/web/readyz":{"tcpSocket":{"port":8080}}}"#
        );
    }

    #[test]
    fn containers_that_cannot_be_told_apart_are_left_alone() {
        let probe = json!({"tcpSocket": {"port": 8080}});
        let mut containers = [
            json!("web"),
            json!({"readinessProbe": probe}),
            json!({"name": 7, "readinessProbe": probe}),
            json!({"name": "web", "readinessProbe": probe}),
            json!({"name": "web", "readinessProbe": probe}),
        ];
        let before = containers.clone();
        let done = rewrite(&mut containers, 15020).unwrap();
        assert_eq!(done.paths, ["/app-health/web/readyz"]);
        assert_eq!(containers[..3], before[..3]);
        assert_ne!(containers[3], before[3]);
        assert_eq!(containers[4], before[4]);
        // Restoring finds the same container.
        restore(&mut containers, &done.originals, &done.port_names).unwrap();
        assert_eq!(containers, before);
    }

    #[test]
    fn init_and_regular_containers_together() {
        let mut init = [json!({"name": "agent", "restartPolicy": "Always",
            "startupProbe": {"tcpSocket": {"port": 7000}}})];
        let mut regular = [json!({"name": "web", "readinessProbe": {"tcpSocket": {"port": 8080}}})];
        let done = rewrite(init.iter_mut().chain(regular.iter_mut()), 15020).unwrap();
        assert_eq!(
            done.paths,
            ["/app-health/agent/startupz", "/app-health/web/readyz"]
        );
        let restored = restore(
            init.iter_mut().chain(regular.iter_mut()),
            &done.originals,
            &done.port_names,
        );
        assert_eq!(restored, Ok(done.paths));
    }

    #[test]
    fn restore_puts_back_named_ports_and_https() {
        let before = web(json!({
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTPS"}, "timeoutSeconds": 1},
            "livenessProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 10},
            "startupProbe": {"exec": {"command": ["true"]}}
        }));
        let mut containers = [before.clone()];
        let done = rewrite(&mut containers, 15020).unwrap();
        assert_eq!(
            restore(&mut containers, &done.originals, &done.port_names),
            Ok(done.paths)
        );
        assert_eq!(containers[0].to_string(), before.to_string());
    }

    #[test]
    fn restore_without_the_port_names_keeps_the_numbers() {
        let mut containers = [web(
            json!({"readinessProbe": {"httpGet": {"port": "http"}}}),
        )];
        let done = rewrite(&mut containers, 15020).unwrap();
        restore(&mut containers, &done.originals, &BTreeMap::new()).unwrap();
        assert_eq!(
            containers[0]["readinessProbe"],
            json!({"httpGet": {"port": 8080}})
        );
    }

    #[rstest]
    #[case::not_json(
        "{",
        BTreeMap::new(),
        "the original probes cannot be restored: the saved probes are not valid JSON: EOF while parsing an object at line 1 column 1"
    )]
    #[case::not_object(
        "[]",
        BTreeMap::new(),
        "the original probes cannot be restored: expected a JSON object, got an array"
    )]
    #[case::entry_not_object(
        r#"{"/app-health/web/readyz": 1}"#,
        BTreeMap::new(),
        "the original probes cannot be restored: /app-health/web/readyz: expected a saved probe object"
    )]
    #[case::entry_without_action(
        r#"{"/app-health/web/readyz": {"exec": {}}}"#,
        BTreeMap::new(),
        "the original probes cannot be restored: /app-health/web/readyz: expected a saved probe with one of httpGet, tcpSocket or grpc"
    )]
    #[case::entry_with_two_actions(
        r#"{"/app-health/web/readyz": {"grpc": {"port": 1}, "tcpSocket": {"port": 1}}}"#,
        BTreeMap::new(),
        "the original probes cannot be restored: /app-health/web/readyz: expected a saved probe with one of httpGet, tcpSocket or grpc"
    )]
    #[case::unknown_container(r#"{"/app-health/web/readyz": {"tcpSocket": {"port": 1}}, "/app-health/api/readyz": {"tcpSocket": {"port": 1}}}"#, BTreeMap::new(),
        "the original probes cannot be restored: /app-health/api/readyz: no container has this probe (was a container renamed or removed?)")]
    #[case::probe_not_rewritten(
        r#"{"/app-health/web/livez": {"tcpSocket": {"port": 1}}}"#,
        BTreeMap::new(),
        "the original probes cannot be restored: /app-health/web/livez: the container's probe is no longer the rewritten one (an httpGet at this path)"
    )]
    #[case::probe_gone(
        r#"{"/app-health/web/startupz": {"tcpSocket": {"port": 1}}}"#,
        BTreeMap::new(),
        "the original probes cannot be restored: /app-health/web/startupz: the container no longer has this probe"
    )]
    #[case::port_name_for_unsaved_probe(r#"{"/app-health/web/readyz": {"tcpSocket": {"port": 1}}}"#,
        BTreeMap::from([("/app-health/web/livez".to_string(), "http".to_string())]),
        "the original probes cannot be restored: /app-health/web/livez: a port name is recorded for a probe that was not saved")]
    fn restore_refusals(
        #[case] originals: &str,
        #[case] port_names: BTreeMap<String, String>,
        #[case] message: &str,
    ) {
        let mut containers = [web(json!({
            "readinessProbe": {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}},
            "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}}
        }))];
        let before = containers.clone();
        let error = restore(&mut containers, originals, &port_names).unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(containers, before, "nothing changes when restoring fails");
    }

    #[test]
    fn restore_refuses_a_probe_with_both_actions() {
        let mut containers = [json!({"name": "web", "readinessProbe":
            {"httpGet": {"path": "/app-health/web/readyz", "port": 15020}, "tcpSocket": {"port": 1}}})];
        let error = restore(
            &mut containers,
            r#"{"/app-health/web/readyz": {"tcpSocket": {"port": 1}}}"#,
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the original probes cannot be restored: /app-health/web/readyz: the container's probe has both httpGet and tcpSocket"
        );
    }

    // Generated containers: probes of every kind, on numbered, declared and undeclared named ports,
    // some already on the status port, with their fields in any order, next to other fields.

    const STATUS_PORTS: [u16; 2] = [15020, 8080];

    fn port() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec![80u16, 8080, 9090, 15020, 15021]).prop_map(Value::from),
            prop::sample::select(vec!["http", "grpc", "admin", "metrics"]).prop_map(Value::from),
        ]
    }

    /// An object with `fields` in order, skipping those that are absent.
    fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_string(), value?)))
                .collect(),
        )
    }

    fn action() -> BoxedStrategy<(&'static str, Value)> {
        let path = prop::option::of(prop_oneof![
            Just("/ready".to_string()),
            "/[a-z]{1,6}",
            Just("/app-health/web/readyz".to_string()),
        ]);
        let scheme = prop::option::of(prop::sample::select(vec!["HTTP", "HTTPS", "https"]));
        let host = prop::option::of(Just("127.0.0.1"));
        let headers = prop::option::of(Just(json!([{"name": "X-Probe", "value": "1"}])));
        let http = (path, port(), host, scheme, headers).prop_map(
            |(path, port, host, scheme, headers)| {
                let fields = vec![
                    ("path", path.map(Value::from)),
                    ("port", Some(port)),
                    ("host", host.map(Value::from)),
                    ("scheme", scheme.map(Value::from)),
                    ("httpHeaders", headers),
                ];
                ("httpGet", object(fields))
            },
        );
        let tcp = (port(), prop::option::of(Just("localhost"))).prop_map(|(port, host)| {
            (
                "tcpSocket",
                object(vec![("host", host.map(Value::from)), ("port", Some(port))]),
            )
        });
        let grpc = (port(), prop::option::of(Just("health"))).prop_map(|(port, service)| {
            (
                "grpc",
                object(vec![
                    ("port", Some(port)),
                    ("service", service.map(Value::from)),
                ]),
            )
        });
        let exec = Just(("exec", json!({"command": ["cat", "/tmp/healthy"]})));
        prop_oneof![3 => http, 2 => tcp, 2 => grpc, 1 => exec].boxed()
    }

    /// A probe: its action among other fields, at any place.
    fn probe() -> BoxedStrategy<Value> {
        let fields = prop::collection::btree_map(
            prop::sample::select(vec![
                "initialDelaySeconds",
                "timeoutSeconds",
                "periodSeconds",
                "successThreshold",
                "failureThreshold",
                "terminationGracePeriodSeconds",
                "xUnknown",
            ]),
            (0..4u8).prop_map(Value::from),
            0..4,
        );
        (action(), fields, any::<prop::sample::Index>())
            .prop_map(|((action, handler), fields, at)| {
                let mut fields: Vec<(String, Value)> = fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                fields.insert(at.index(fields.len() + 1), (action.to_string(), handler));
                Value::Object(fields.into_iter().collect())
            })
            .boxed()
    }

    /// A container's `lifecycle`: hooks taking any action (a `sleep` too, and a `grpc`, which a
    /// hook cannot take: left alone), either or both, in either order.
    fn lifecycle() -> BoxedStrategy<Value> {
        let hook = prop_oneof![
            4 => action().prop_map(|(action, handler)| json!({action: handler})),
            1 => Just(json!({"sleep": {"seconds": 2}})),
        ];
        (
            prop::option::of(hook.clone()),
            prop::option::of(hook),
            any::<bool>(),
        )
            .prop_map(|(pre_stop, post_start, swapped)| {
                let mut hooks = vec![("preStop", pre_stop), ("postStart", post_start)];
                if swapped {
                    hooks.reverse();
                }
                object(hooks)
            })
            .boxed()
    }

    fn container(name: String) -> BoxedStrategy<Value> {
        let ports = prop::collection::vec(
            (
                prop::option::weighted(0.8, prop::sample::select(vec!["http", "grpc", "metrics"])),
                port(),
            ),
            0..4,
        );
        (
            ports,
            prop::option::of(probe()),
            prop::option::of(probe()),
            prop::option::of(probe()),
            prop::option::of("[a-z]{0,6}"),
            prop::option::of(lifecycle()),
        )
            .prop_map(
                move |(ports, readiness, liveness, startup, extra, lifecycle)| {
                    // A port's number is a number even where the generated probe port is a name.
                    let ports = ports
                        .into_iter()
                        .enumerate()
                        .map(|(i, (name, number))| {
                            let number = number.as_u64().unwrap_or(7000 + i as u64);
                            object(vec![
                                ("name", name.map(Value::from)),
                                ("containerPort", Some(number.into())),
                            ])
                        })
                        .collect::<Vec<_>>();
                    object(vec![
                        ("name", Some(json!(name))),
                        ("image", Some(json!("registry.example/app:1"))),
                        ("livenessProbe", liveness),
                        ("ports", (!ports.is_empty()).then_some(Value::Array(ports))),
                        ("readinessProbe", readiness),
                        ("xExtra", extra.map(Value::from)),
                        ("lifecycle", lifecycle),
                        ("startupProbe", startup),
                    ])
                },
            )
            .boxed()
    }

    /// Application containers with probes of every kind; other modules' properties use them too.
    pub(crate) fn containers() -> impl Strategy<Value = Vec<Value>> {
        prop::collection::btree_set("web|api|db|[a-z]{1,5}", 1..4)
            .prop_flat_map(|names| names.into_iter().map(container).collect::<Vec<_>>())
    }

    fn text(containers: &[Value]) -> Vec<String> {
        containers.iter().map(Value::to_string).collect()
    }

    /// The probe's (or hook's) fields other than its action, in order, and the action's key.
    fn without_action(probe: &Value, place: Place) -> (Vec<(String, Value)>, Option<String>) {
        let fields = probe.as_object().cloned().unwrap_or_default();
        let mut action = None;
        let rest = fields
            .into_iter()
            .filter(|(key, _)| {
                let is_action = place.actions().0.contains(&key.as_str());
                if is_action {
                    action = Some(key.clone());
                }
                !is_action
            })
            .collect();
        (rest, action)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A second rewrite finds nothing to do.
        #[test]
        fn rewriting_is_idempotent(mut containers in containers(), port in prop::sample::select(STATUS_PORTS.to_vec())) {
            rewrite(&mut containers, port);
            let once = text(&containers);
            prop_assert_eq!(rewrite(&mut containers, port), None);
            prop_assert_eq!(text(&containers), once);
        }

        /// Only the three probes and the two lifecycle hooks change, and in them only the
        /// action, in its place.
        #[test]
        fn nothing_but_the_probe_actions_changes(before in containers(), port in prop::sample::select(STATUS_PORTS.to_vec())) {
            let mut after = before.clone();
            rewrite(&mut after, port);
            // Each container with its probes' and hooks' actions taken out.
            let stripped = |container: &Value| {
                let mut container = container.clone();
                for place in PLACES {
                    if let Some(probe) = place.get_mut(container.as_object_mut().unwrap()) {
                        let (rest, _) = without_action(probe, place);
                        *probe = Value::Object(rest.into_iter().collect());
                    }
                }
                container
            };
            for (before, after) in before.iter().zip(&after) {
                prop_assert_eq!(stripped(before).to_string(), stripped(after).to_string());
                let (old, new) = (before.as_object().unwrap(), after.as_object().unwrap());
                for place in PLACES {
                    let (Some(old), Some(new)) = (place.get(old), place.get(new)) else {
                        continue;
                    };
                    let position = |probe: &Value| {
                        let (_, action) = without_action(probe, place);
                        probe.as_object().unwrap().keys().position(|k| Some(k) == action.as_ref())
                    };
                    prop_assert_eq!(position(old), position(new));
                }
            }
        }

        /// Each rewritten probe is in the originals once, with its action and port number, and
        /// the kubelet now asks the agent for it.
        #[test]
        fn every_original_is_saved_once(before in containers(), port in prop::sample::select(STATUS_PORTS.to_vec())) {
            let mut after = before.clone();
            let done = rewrite(&mut after, port);
            let saved: Map<String, Value> = done
                .as_ref()
                .map(|done| serde_json::from_str(&done.originals).unwrap())
                .unwrap_or_default();
            let mut changed = Vec::new();
            for (old, new) in before.iter().zip(&after) {
                for place in PLACES {
                    let (Some(old_probe), Some(new_probe)) = (place.get(old.as_object().unwrap()), place.get(new.as_object().unwrap())) else {
                        continue;
                    };
                    if old_probe == new_probe {
                        continue;
                    }
                    let path = place.path(old["name"].as_str().unwrap());
                    let (_, action) = without_action(old_probe, place);
                    let action = action.unwrap();
                    let mut expected = old_probe[&action].clone();
                    if let Some(name) = expected["port"].as_str().map(str::to_owned) {
                        let declared = old["ports"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
                        expected["port"] = declared["containerPort"].clone();
                        prop_assert_eq!(done.as_ref().unwrap().port_names.get(&path).map(String::as_str), Some(name.as_str()));
                    }
                    let expected = as_istio_writes(&action, expected.as_object().unwrap());
                    prop_assert_eq!(&saved[&path][&action], &expected);
                    let timeout = old_probe.get("timeoutSeconds").filter(|t| **t != 0 && place.hook.is_none());
                    prop_assert_eq!(saved[&path].get("timeoutSeconds"), timeout);
                    prop_assert_eq!(&new_probe["httpGet"]["path"], &json!(path));
                    prop_assert_eq!(&new_probe["httpGet"]["port"], &json!(port));
                    prop_assert_ne!(&new_probe["httpGet"]["scheme"], "HTTPS");
                    let occurrences = done.as_ref().unwrap().originals.matches(&format!("\"{path}\":")).count();
                    prop_assert_eq!(occurrences, 1);
                    changed.push(path);
                }
            }
            changed.sort();
            prop_assert_eq!(saved.len(), changed.len());
            prop_assert_eq!(done.map(|done| done.paths).unwrap_or_default(), changed);
        }

        /// Restoring gives back the containers, named ports and all; the fields of a restored
        /// action come in Kubernetes' order, as Istio writes the originals (and as the API server
        /// stores a Pod), so the containers are compared as values, and as text where the
        /// actions were in that order.
        #[test]
        fn restore_undoes_rewrite(before in containers(), port in prop::sample::select(STATUS_PORTS.to_vec())) {
            let mut containers = before.clone();
            if let Some(done) = rewrite(&mut containers, port) {
                prop_assert_eq!(restore(&mut containers, &done.originals, &done.port_names), Ok(done.paths));
            }
            prop_assert_eq!(&containers, &before);
            if !text(&before).concat().contains("\"tcpSocket\":{\"host\"") {
                prop_assert_eq!(text(&containers), text(&before));
            }
        }
    }

    /// The properties above would hold vacuously if generated probes were seldom rewritten.
    #[test]
    fn most_generated_containers_have_probes_rewritten() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut rewritten, mut named, mut hooks) = (0, 0, 0);
        for _ in 0..500 {
            let mut containers = containers().new_tree(&mut runner).unwrap().current();
            if let Some(done) = rewrite(&mut containers, 15020) {
                rewritten += 1;
                named += usize::from(!done.port_names.is_empty());
                hooks += usize::from(done.paths.iter().any(|p| p.starts_with("/app-lifecycle/")));
            }
        }
        assert!(rewritten > 300, "rewritten in {rewritten} of 500");
        assert!(named > 80, "named ports in {named} of 500");
        assert!(hooks > 100, "lifecycle hooks in {hooks} of 500");
    }
}
