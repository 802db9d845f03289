//! The policy's settings (`spec.settings` of the ClusterAdmissionPolicy): what they mean, their
//! defaults, and every check that refuses them.
//!
//! Settings are read in two depths. [`Settings::from_text`] is what an admission request for a Pod
//! pays for: the decision's settings, read by serde from their JSON text, with the selectors
//! compiled; serde checks the template as JSON and skips it, and it stays text until a Pod is
//! injected, to be rendered and injected as text, so a Pod that is not injected never pays for
//! more than that scan. That is enough because the
//! policy server validates the settings once, when it loads the policy, with
//! [`Settings::validate`]: the template's shape and names, its objects against the Kubernetes
//! types, and every template string compiled.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::error::{RequestError, SettingsError, json_type, sorted_names};
use crate::json::{Kind, Part, Text};
use crate::keys::{STATUS_KEY, TEMPLATES_KEY};
use crate::metrics::PrometheusMerge;
use crate::namespace_rules::{Mandatory, NamespaceRules};
use crate::pod::OBJECT_PATH;
use crate::probes::ProbeRewrite;
use crate::schema::{self, CONTAINER, LOCAL_OBJECT_REFERENCE, Ty, VOLUME};
use crate::selector::{LabelSelector, RawLabelSelector};
use crate::template;
use crate::validation::{self, Strings};

/// Namespaces never injected, whatever the settings say.
pub const PROTECTED_NAMESPACES: [&str; 2] = ["kube-system", "kube-public"];

/// The injection default for Pods that do not choose for themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InjectionPolicy {
    #[default]
    Enabled,
    Disabled,
}

impl fmt::Display for InjectionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        })
    }
}

// Hand-written so that a typo is answered with the two allowed values and the value given.
// Istio treats an unknown value as "disabled"; we refuse it at load instead.
impl<'de> Deserialize<'de> for InjectionPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.as_str() {
            Some("enabled") => Ok(Self::Enabled),
            Some("disabled") => Ok(Self::Disabled),
            Some(other) => Err(serde::de::Error::custom(format!(
                "expected \"enabled\" or \"disabled\", got {other:?}"
            ))),
            None => Err(serde::de::Error::custom(format!(
                "expected \"enabled\" or \"disabled\", got {}",
                json_type(&value)
            ))),
        }
    }
}

/// The revision's name, as Istio names its control planes' revisions (`default`, `canary`,
/// `1-28-0`): written as `revision` in the status annotation, where Istio's tooling reads it
/// (`istioctl x injector list` counts Pods by it), and compared by the stale report. Istio writes
/// `default` for the revision without a name, so that is the default here too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionName(String);

impl RevisionName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RevisionName {
    fn default() -> Self {
        Self("default".to_string())
    }
}

impl fmt::Display for RevisionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Hand-written so that a name Istio's tooling could not read, or that could not label a Pod or a
// namespace (`istio.io/rev`), is refused at load, with what a name may be.
impl<'de> Deserialize<'de> for RevisionName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Value::String(name) = value else {
            return Err(serde::de::Error::custom(format!(
                "expected a revision name (a string, such as \"canary\"), got {}",
                json_type(&value)
            )));
        };
        if name.is_empty() {
            return Err(serde::de::Error::custom(
                "must not be empty; the revision without a name is \"default\", as Istio names it",
            ));
        }
        match validation::label_value(&name) {
            None => Ok(Self(name)),
            Some(problem) => Err(serde::de::Error::custom(format!(
                "{problem}; a revision name must be a Kubernetes label value, as in the label istio.io/rev"
            ))),
        }
    }
}

/// Validated settings. Each field's meaning is next to it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Injection for Pods that neither choose nor match a selector.
    pub policy: InjectionPolicy,
    /// Pods matching any of these are not injected unless they ask for it.
    pub never_inject_selector: Vec<LabelSelector>,
    /// Pods matching any of these are injected unless they refuse it.
    pub always_inject_selector: Vec<LabelSelector>,
    /// Namespaces never injected, on top of [`PROTECTED_NAMESPACES`].
    pub ignored_namespaces: Vec<String>,
    /// The settings as JSON: the templates are read from it, as text.
    text: Text,
    /// `template`, or `templates` with `defaultTemplates`.
    templates: Templates,
    /// Inject `template.containers` as init containers with `restartPolicy: Always` (Kubernetes ≥ 1.29).
    pub native_sidecars: bool,
    /// Put the sidecar containers before the application's, so they start first.
    pub hold_application_until_proxy_starts: bool,
    /// The template init containers that set up the Pod's network redirection: without native
    /// sidecars they run after the Pod's own init containers (see [`crate::inject`]).
    pub network_init_containers: Vec<String>,
    /// Rewrite the application's probes to the sidecar's status port (see [`crate::probes`]).
    pub probe_rewrite: Option<ProbeRewrite>,
    /// Point the Pod's Prometheus annotations at the agent, which merges the application's
    /// metrics with its own (see [`crate::metrics`]).
    pub prometheus_merge: Option<PrometheusMerge>,
    /// The revision's name, written in the status annotation beside the hash of what is injected
    /// (which it is no part of).
    pub revision: RevisionName,
    /// Apply Istio's namespace labels in the policy (see [`crate::namespace_rules`]).
    pub namespace_rules: Option<NamespaceRules>,
    /// With Istio's namespace rules: inject in namespaces without Istio's labels too.
    pub enable_namespaces_by_default: bool,
    /// Namespaces where the sidecar may not be refused.
    pub mandatory: Option<Mandatory>,
}

/// Where the sidecar is described.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Templates {
    /// `template`: one sidecar, for every Pod.
    One,
    /// `templates`: sidecars by name (in the order the settings list them); a Pod chooses some with
    /// the annotation [`TEMPLATES_KEY`], else gets `defaults`.
    Named {
        names: Vec<String>,
        defaults: Vec<String>,
    },
}

/// A template an injection applies: its name (none for `template`) and its value in the
/// settings' text.
#[derive(Debug, Clone, Copy)]
pub struct Chosen<'s> {
    pub name: Option<&'s str>,
    pub template: Part<'s>,
}

impl<'s> Chosen<'s> {
    /// The one `template`.
    pub fn one(template: Part<'s>) -> Self {
        Self {
            name: None,
            template,
        }
    }
}

/// What is added to every injected Pod. Kubernetes objects stay raw JSON so that they are injected
/// exactly as written (fields newer than this build's Kubernetes types included).
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// Sidecar containers, appended to `spec.containers` (or, with `nativeSidecars`, to `spec.initContainers`).
    pub containers: Vec<Value>,
    /// Init containers, run before the Pod's own.
    pub init_containers: Vec<Value>,
    /// Volumes the sidecar needs; a name the Pod already uses is left as the Pod has it.
    pub volumes: Vec<Value>,
    /// Pull secrets for the sidecar's images; a name the Pod already lists is not repeated.
    pub image_pull_secrets: Vec<Value>,
    /// Labels added to the Pod, never replacing one the Pod has.
    pub labels: Map<String, Value>,
    /// Annotations added to the Pod, never replacing one the Pod has.
    pub annotations: Map<String, Value>,
}

impl Template {
    const FIELDS: [&'static str; 6] = [
        "containers",
        "initContainers",
        "volumes",
        "imagePullSecrets",
        "labels",
        "annotations",
    ];

    /// Reads a template from its JSON text; `at` names it in messages. Read by hand from a serde
    /// value rather than by a derived reader: the template is read only when the policy is loaded
    /// and by the CLI, and a derived reader that tracks paths costs the module more than this.
    fn read(text: &str, at: &str) -> Result<Self, SettingsError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| SettingsError::new(at, format!("the settings are not valid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(SettingsError::new(
                at,
                format!("expected an object, got {}", json_type(&value)),
            ));
        };
        let mut template = Self::default();
        for (key, value) in fields {
            let field = || format!("{at}.{key}");
            let expected = |what: &str, value: &Value| {
                SettingsError::new(
                    field(),
                    format!("expected {what}, got {}", json_type(value)),
                )
            };
            let list = |value: Value| match value {
                Value::Array(items) => Ok(items),
                other => Err(expected("a list", &other)),
            };
            let map = |value: Value| match value {
                Value::Object(map) => Ok(map),
                other => Err(expected("an object", &other)),
            };
            match key.as_str() {
                "containers" => template.containers = list(value)?,
                "initContainers" => template.init_containers = list(value)?,
                "volumes" => template.volumes = list(value)?,
                "imagePullSecrets" => template.image_pull_secrets = list(value)?,
                "labels" => template.labels = map(value)?,
                "annotations" => template.annotations = map(value)?,
                _ => {
                    return Err(SettingsError::new(
                        field(),
                        format!("unknown field; expected one of {}", Self::FIELDS.join(", ")),
                    ));
                }
            }
        }
        Ok(template)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawSettings {
    #[serde(default)]
    policy: InjectionPolicy,
    #[serde(default)]
    never_inject_selector: Vec<RawLabelSelector>,
    #[serde(default)]
    always_inject_selector: Vec<RawLabelSelector>,
    #[serde(default)]
    ignored_namespaces: Vec<String>,
    /// Read from the document when it is needed, so only its presence is kept here.
    #[serde(default)]
    template: Option<serde::de::IgnoredAny>,
    /// The templates' names, in order; the templates themselves are read from the document.
    #[serde(default)]
    templates: Option<Names>,
    #[serde(default)]
    default_templates: Option<Vec<String>>,
    #[serde(default)]
    native_sidecars: bool,
    #[serde(default)]
    hold_application_until_proxy_starts: bool,
    #[serde(default)]
    network_init_containers: Vec<String>,
    /// `null` counts as absent.
    #[serde(default)]
    probe_rewrite: Option<ProbeRewrite>,
    /// `null` counts as absent.
    #[serde(default)]
    prometheus_merge: Option<PrometheusMerge>,
    #[serde(default)]
    revision: RevisionName,
    #[serde(default)]
    namespace_rules: Option<NamespaceRules>,
    #[serde(default)]
    enable_namespaces_by_default: bool,
    /// `null` counts as absent.
    #[serde(default)]
    mandatory: Option<Mandatory>,
}

impl Settings {
    /// Reads settings from JSON bytes, with the checks every request needs.
    pub fn from_slice(json: &[u8]) -> Result<Self, SettingsError> {
        let raw = read::<RawSettings>(json, "")?;
        // The bytes were read as JSON, so they are UTF-8.
        let text = std::str::from_utf8(json).map_err(|e| SettingsError::new("", e.to_string()))?;
        Self::from_raw(raw, Text::new(text))
    }

    /// Reads settings from their JSON document, as an admission request has them: the fields are
    /// read by serde, as [`Settings::from_slice`] reads them, and the text is kept for the
    /// templates.
    ///
    /// serde is given the text with every template written `{}`: it would otherwise read all of
    /// each template (5 KB in Istio's) only to skip it, a tenth of a typical injection's time. The
    /// templates a Pod gets are read whole, and refused when they are not JSON, by the one pass
    /// an injection makes over them ([`crate::revision::revision_reading`]), before anything of
    /// them is copied. An error is named from the settings as they came.
    pub fn from_text(text: Text) -> Result<Self, SettingsError> {
        let whole = text.root().as_str();
        let raw = match read::<RawSettings>(without_templates(text.root()).as_bytes(), "") {
            Ok(raw) => raw,
            Err(error) => {
                return Err(read::<RawSettings>(whole.as_bytes(), "")
                    .err()
                    .unwrap_or(error));
            }
        };
        Self::from_raw(raw, text)
    }

    /// Reads and fully validates settings: what `validate_settings` answers when the policy loads.
    pub fn validate(json: &[u8]) -> Result<Self, SettingsError> {
        if let Ok(value) = serde_json::from_slice::<Value>(json) {
            objects_where_objects_belong(&value)?;
        }
        let settings = Self::from_slice(json)?;
        for (at, template) in settings.all_templates()? {
            template.check_shape(&at)?;
            template.validate_against_kubernetes(&at, settings.native_sidecars)?;
            template.check_values(&at)?;
            template.check_template_strings(&at)?;
        }
        settings.check_network_init_containers()?;
        if settings.probe_rewrite.is_some() || settings.prometheus_merge.is_some() {
            let templates = settings.all_templates()?;
            let containers: Vec<&str> = templates
                .iter()
                .flat_map(|(_, template)| &template.containers)
                .filter_map(|container| container.get("name")?.as_str())
                .collect();
            if let Some(probe_rewrite) = &settings.probe_rewrite {
                probe_rewrite.check_container(&containers)?;
            }
            if let Some(merge) = &settings.prometheus_merge {
                merge.check_container(&containers)?;
            }
        }
        Ok(settings)
    }

    /// Each of `networkInitContainers` names an init container of a template, once: a name that
    /// does not would move nothing, silently (a typo would leave the network set up before the
    /// Pod's own init containers, which then cannot reach it).
    fn check_network_init_containers(&self) -> Result<(), SettingsError> {
        if self.network_init_containers.is_empty() {
            return Ok(());
        }
        let templates = self.all_templates()?;
        let names = |list: fn(&Template) -> &Vec<Value>| -> Vec<&str> {
            templates
                .iter()
                .flat_map(|(_, template)| list(template))
                .filter_map(|item| item.get("name")?.as_str())
                .collect()
        };
        let init_containers = names(|t| &t.init_containers);
        let containers = names(|t| &t.containers);
        let mut seen = HashSet::new();
        for (i, name) in self.network_init_containers.iter().enumerate() {
            let at = || format!("networkInitContainers[{i}]");
            if !seen.insert(name) {
                return Err(SettingsError::new(at(), format!("{name:?} is given twice")));
            }
            if init_containers.contains(&name.as_str()) {
                continue;
            }
            let known = if init_containers.is_empty() {
                "the templates have no init containers".to_string()
            } else {
                format!("expected one of {}", sorted_names(&init_containers))
            };
            let what = if containers.contains(&name.as_str()) {
                "is a template container, not an init container"
            } else {
                "is not a template init container"
            };
            return Err(SettingsError::new(
                at(),
                format!("{name:?} {what}; {known}"),
            ));
        }
        Ok(())
    }

    /// Every template, parsed, with the path messages name it by (`template`, `templates.debug`).
    pub fn all_templates(&self) -> Result<Vec<(String, Template)>, SettingsError> {
        let names: Vec<Option<&str>> = match &self.templates {
            Templates::One => vec![None],
            Templates::Named { names, .. } => names.iter().map(|n| Some(n.as_str())).collect(),
        };
        names
            .into_iter()
            .filter_map(|name| {
                self.template(name)
                    .map(|template| Chosen { name, template })
            })
            .map(|chosen| self.parsed(chosen))
            .collect()
    }

    /// A template, parsed, with the path messages name it by.
    pub fn parsed(&self, chosen: Chosen) -> Result<(String, Template), SettingsError> {
        let at = match chosen.name {
            None => "template".to_string(),
            Some(name) => format!("templates.{name}"),
        };
        let template = Template::read(chosen.template.as_str(), &at)?;
        Ok((at, template))
    }

    /// The templates a Pod with these annotations gets, in the order they apply: the one
    /// `template`, or the named templates the Pod chooses with [`TEMPLATES_KEY`] (the defaults
    /// when it does not). A name the settings do not have is the request's error, as in Istio.
    pub fn chosen(
        &self,
        annotations: Option<&Map<String, Value>>,
    ) -> Result<Vec<Chosen<'_>>, RequestError> {
        let (names, defaults) = match &self.templates {
            Templates::One => {
                return Ok(self.template(None).map(Chosen::one).into_iter().collect());
            }
            Templates::Named { names, defaults } => (names, defaults),
        };
        let asked: Vec<&str> = annotations
            .and_then(|annotations| annotations.get(TEMPLATES_KEY))
            .and_then(Value::as_str)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let wanted: Vec<&str> = if asked.is_empty() {
            defaults.iter().map(String::as_str).collect()
        } else {
            asked
        };
        wanted
            .into_iter()
            .map(|name| {
                let known = names.iter().find(|n| *n == name).ok_or_else(|| {
                    RequestError::field(
                        format!("{OBJECT_PATH}.metadata.annotations.{TEMPLATES_KEY}"),
                        format!(
                            "no template named {name:?}; the policy has {}",
                            sorted_names(names)
                        ),
                    )
                })?;
                let template = self.template(Some(known)).ok_or_else(|| {
                    RequestError::Settings(SettingsError::new(
                        format!("templates.{known}"),
                        "missing",
                    ))
                })?;
                Ok(Chosen {
                    name: Some(known.as_str()),
                    template,
                })
            })
            .collect()
    }

    /// Whether the settings name their templates (`templates`) rather than give one (`template`).
    pub fn has_named_templates(&self) -> bool {
        matches!(self.templates, Templates::Named { .. })
    }

    /// The settings' text: what an injection reads the templates from, as text, once.
    pub fn text(&self) -> &Text {
        &self.text
    }

    /// The template `name` (none: `template`) in the settings' text.
    fn template(&self, name: Option<&str>) -> Option<Part<'_>> {
        let root = self.text.root();
        match name {
            None => root.get("template"),
            Some(name) => root.get("templates")?.get(name),
        }
    }

    pub(crate) fn from_raw(raw: RawSettings, text: Text) -> Result<Self, SettingsError> {
        let selectors = |raws: Vec<RawLabelSelector>, name: &str| {
            raws.into_iter()
                .enumerate()
                .map(|(i, raw)| LabelSelector::from_raw(raw, &|| format!("{name}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        for (i, namespace) in raw.ignored_namespaces.iter().enumerate() {
            if namespace.is_empty() {
                return Err(SettingsError::new(
                    format!("ignoredNamespaces[{i}]"),
                    "must not be empty",
                ));
            }
        }
        if raw.enable_namespaces_by_default {
            if raw.namespace_rules.is_none() {
                return Err(SettingsError::new(
                    "enableNamespacesByDefault",
                    "only goes with namespaceRules: istio, whose namespace labels it extends",
                ));
            }
            if raw.revision.as_str() != "default" {
                return Err(SettingsError::new(
                    "enableNamespacesByDefault",
                    format!(
                        "only applies to the default revision, as in Istio; this policy serves revision {:?}",
                        raw.revision.as_str()
                    ),
                ));
            }
        }
        let templates = match (raw.template, raw.templates, raw.default_templates) {
            (None, None, _) => return Err(SettingsError::new("template", "missing")),
            (Some(_), Some(_), _) => {
                return Err(SettingsError::new(
                    "templates",
                    "give either template (one sidecar) or templates (named ones), not both",
                ));
            }
            (Some(_), None, Some(_)) => {
                return Err(SettingsError::new(
                    "defaultTemplates",
                    "only goes with templates; with template, every Pod gets that one",
                ));
            }
            (Some(_), None, None) => Templates::One,
            (None, Some(Names(names)), defaults) => named_templates(names, defaults)?,
        };
        Ok(Self {
            policy: raw.policy,
            never_inject_selector: selectors(raw.never_inject_selector, "neverInjectSelector")?,
            always_inject_selector: selectors(raw.always_inject_selector, "alwaysInjectSelector")?,
            ignored_namespaces: raw.ignored_namespaces,
            text,
            templates,
            native_sidecars: raw.native_sidecars,
            hold_application_until_proxy_starts: raw.hold_application_until_proxy_starts,
            network_init_containers: raw.network_init_containers,
            probe_rewrite: raw.probe_rewrite,
            prometheus_merge: raw.prometheus_merge,
            revision: raw.revision,
            namespace_rules: raw.namespace_rules,
            enable_namespaces_by_default: raw.enable_namespaces_by_default,
            mandatory: raw.mandatory,
        })
    }

    /// True for the namespaces no Pod is ever injected in.
    pub fn is_ignored_namespace(&self, namespace: &str) -> bool {
        self.ignored_namespaces.iter().any(|n| n == namespace)
    }
}

/// `templates` and `defaultTemplates`, checked: names that are DNS labels, as Kubernetes names
/// are, and defaults that exist.
fn named_templates(
    names: Vec<String>,
    defaults: Option<Vec<String>>,
) -> Result<Templates, SettingsError> {
    if names.is_empty() {
        return Err(SettingsError::new(
            "templates",
            "no template; name at least one",
        ));
    }
    let mut seen = HashSet::new();
    for name in &names {
        if !is_dns_label(name) {
            return Err(SettingsError::new(
                format!("templates.{name}"),
                "a template's name must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            ));
        }
        if !seen.insert(name) {
            return Err(SettingsError::new(
                format!("templates.{name}"),
                "given twice",
            ));
        }
    }
    let Some(defaults) = defaults else {
        return Err(SettingsError::new(
            "defaultTemplates",
            format!(
                "missing; name the templates a Pod gets when it does not choose with the annotation {TEMPLATES_KEY} (the policy has {})",
                sorted_names(&names)
            ),
        ));
    };
    if defaults.is_empty() {
        return Err(SettingsError::new(
            "defaultTemplates",
            "empty; name at least one template",
        ));
    }
    for (i, default) in defaults.iter().enumerate() {
        if !names.contains(default) {
            return Err(SettingsError::new(
                format!("defaultTemplates[{i}]"),
                format!(
                    "no template named {default:?}; the policy has {}",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(Templates::Named { names, defaults })
}

fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// The keys of an object, in order; the values are skipped.
#[derive(Debug)]
pub(crate) struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of templates by name")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Names, M::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    names.push(name);
                }
                Ok(Names(names))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

impl Template {
    /// The Kubernetes type of a template's field `key` (`containers`: a list of Containers).
    pub fn field_type(key: &str) -> Option<Ty> {
        Some(match key {
            "containers" | "initContainers" => Ty::List(&CONTAINER),
            "volumes" => Ty::List(&VOLUME),
            "imagePullSecrets" => Ty::List(&LOCAL_OBJECT_REFERENCE),
            "labels" | "annotations" => Ty::Map(&Ty::String),
            _ => return None,
        })
    }

    /// The checks injection relies on: names present, strings where strings go, no duplicates.
    fn check_shape(&self, root: &str) -> Result<(), SettingsError> {
        if self.containers.is_empty() && self.init_containers.is_empty() {
            return Err(SettingsError::new(
                root,
                "nothing to inject; give containers or initContainers",
            ));
        }
        // Container names share one namespace across a Pod's containers and init containers.
        let mut containers = HashSet::new();
        for (list, items) in [
            ("containers", &self.containers),
            ("initContainers", &self.init_containers),
        ] {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{root}.{list}[{i}]");
                let name = required_string(item, &at, "name")?;
                required_string(item, &at, "image")?;
                if !containers.insert(name) {
                    return Err(SettingsError::new(
                        format!("{at}.name"),
                        format!("{name:?} is used by another template container"),
                    ));
                }
            }
        }
        for (list, items) in [
            ("volumes", &self.volumes),
            ("imagePullSecrets", &self.image_pull_secrets),
        ] {
            let mut names = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                // A template string gives items for each Pod (its type is checked below).
                if item.as_str().is_some_and(template::is_template) {
                    continue;
                }
                let at = format!("{root}.{list}[{i}]");
                let name = required_string(item, &at, "name")?;
                if !names.insert(name) {
                    return Err(SettingsError::new(
                        format!("{at}.name"),
                        format!("{name:?} appears twice in {root}.{list}"),
                    ));
                }
            }
        }
        for (list, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            for (key, value) in map {
                if key.is_empty() {
                    return Err(SettingsError::new(format!("{root}.{list}"), "empty key"));
                }
                if !value.is_string() {
                    return Err(SettingsError::new(
                        format!("{root}.{list}.{key}"),
                        format!("expected a string, got {}", json_type(value)),
                    ));
                }
            }
        }
        if self.annotations.contains_key(STATUS_KEY) {
            return Err(SettingsError::new(
                format!("{root}.annotations.{STATUS_KEY}"),
                "is written by the injector itself and cannot be set here",
            ));
        }
        Ok(())
    }

    /// Every object must be a valid Kubernetes object of its kind, with no field the Kubernetes
    /// types do not know: a misspelled field in the sidecar would otherwise be dropped silently by
    /// the API server, on every Pod.
    fn validate_against_kubernetes(
        &self,
        root: &str,
        native_sidecars: bool,
    ) -> Result<(), SettingsError> {
        for (i, item) in self.containers.iter().enumerate() {
            let at = format!("{root}.containers[{i}]");
            typed(item, CONTAINER, &at)?;
            if !native_sidecars && item.get("restartPolicy").is_some_and(|v| !v.is_null()) {
                return Err(SettingsError::new(
                    format!("{at}.restartPolicy"),
                    "only init containers take a restartPolicy; set nativeSidecars: true to inject this container as a native sidecar",
                ));
            }
        }
        for (i, item) in self.init_containers.iter().enumerate() {
            typed(item, CONTAINER, &format!("{root}.initContainers[{i}]"))?;
        }
        for (i, item) in self.volumes.iter().enumerate() {
            typed(item, VOLUME, &format!("{root}.volumes[{i}]"))?;
        }
        for (i, item) in self.image_pull_secrets.iter().enumerate() {
            typed(
                item,
                LOCAL_OBJECT_REFERENCE,
                &format!("{root}.imagePullSecrets[{i}]"),
            )?;
        }
        Ok(())
    }

    /// The values the API server would refuse in every Pod injected with them (see
    /// [`crate::validation`]), where the settings write them literally; what template strings
    /// render to is checked for each Pod.
    fn check_values(&self, root: &str) -> Result<(), SettingsError> {
        for (list, items) in [
            ("containers", &self.containers),
            ("initContainers", &self.init_containers),
        ] {
            for (i, item) in items.iter().enumerate() {
                if let Some(violation) = validation::container(item, Strings::Unrendered) {
                    return Err(SettingsError::new(
                        format!("{root}.{list}[{i}].{}", violation.field),
                        format!(
                            "{}; the API server would refuse every Pod injected with it",
                            violation.problem
                        ),
                    ));
                }
            }
        }
        for (key, value) in &self.labels {
            if let Some(problem) = value
                .as_str()
                .filter(|text| !template::is_template(text))
                .and_then(validation::label_value)
            {
                return Err(SettingsError::new(
                    format!("{root}.labels.{key}"),
                    format!("{problem}; the API server would refuse every Pod injected with it"),
                ));
            }
        }
        Ok(())
    }

    /// Compiles every string that is a template, so that syntax errors surface at load.
    fn check_template_strings(&self, root: &str) -> Result<(), SettingsError> {
        let mut result = Ok(());
        self.for_each_string(root, &mut |path, text| {
            if result.is_ok()
                && template::is_template(text)
                && let Err(message) = template::check_syntax(text)
            {
                result = Err(SettingsError::new(path(), message));
            }
        });
        result
    }

    fn for_each_string(&self, root: &str, visit: &mut dyn FnMut(&dyn Fn() -> String, &str)) {
        let lists = [
            ("containers", &self.containers),
            ("initContainers", &self.init_containers),
            ("volumes", &self.volumes),
            ("imagePullSecrets", &self.image_pull_secrets),
        ];
        for (list, items) in lists {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &format!("{root}.{list}[{i}]"), visit);
            }
        }
        for (list, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            for (key, value) in map {
                walk_strings(value, &format!("{root}.{list}.{key}"), visit);
            }
        }
    }
}

/// The text of the settings `root` with the object of `template`, and of each of `templates`,
/// written `{}`.
fn without_templates(root: Part<'_>) -> Cow<'_, str> {
    let object = |part: Part| (part.kind() == Kind::Object).then(|| part.span());
    let mut spans: Vec<_> = root.get("template").and_then(object).into_iter().collect();
    if let Some(named) = root.get("templates").and_then(Part::entries) {
        spans.extend(
            named
                .into_iter()
                .filter_map(|(_, template)| object(template)),
        );
    }
    if spans.is_empty() {
        return Cow::Borrowed(root.as_str());
    }
    crate::sort::sort_by(&mut spans, |a, b| a.start < b.start);
    let (whole, start) = (root.as_str(), root.span().start);
    let mut text = String::with_capacity(whole.len());
    let mut copied = 0;
    for span in spans {
        text.push_str(whole.get(copied..span.start - start).unwrap_or_default());
        text.push_str("{}");
        copied = span.end - start;
    }
    text.push_str(whole.get(copied..).unwrap_or_default());
    Cow::Owned(text)
}

/// Reads a `T` from JSON, tracking the path, with a message that names the field below `root`
/// when it is not one. One reader for success and failure alike: each type is deserialized by one
/// instantiation of its serde code (the module is smaller for it). It also reads the settings on
/// every request; reading without the path first, and again with it only on failure, was measured
/// no faster there and made the module 30 KB larger.
fn read<T: DeserializeOwned>(json: &[u8], root: &str) -> Result<T, SettingsError> {
    let not_json = |e: &serde_json::Error| {
        SettingsError::new(root, format!("the settings are not valid JSON: {e}"))
    };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|e| {
        if e.inner().is_data() {
            SettingsError::from_serde(e, root)
        } else {
            not_json(e.inner())
        }
    })?;
    deserializer.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

/// serde reads a struct from a JSON array too, field by field in order; refuse that at load, or
/// `template: [[...]]` would quietly mean `template.containers`.
fn objects_where_objects_belong(settings: &Value) -> Result<(), SettingsError> {
    let object = |value: &Value, path: &str| match value {
        Value::Object(_) | Value::Null => Ok(()),
        other => Err(SettingsError::new(
            path,
            format!("expected an object, got {}", json_type(other)),
        )),
    };
    object(settings, "")?;
    if let Some(template) = settings.get("template") {
        object(template, "template")?;
    }
    for setting in ["probeRewrite", "prometheusMerge", "mandatory"] {
        if let Some(value) = settings.get(setting) {
            object(value, setting)?;
        }
    }
    if let Some(selector) = settings.pointer("/mandatory/namespaceSelector") {
        object(selector, "mandatory.namespaceSelector")?;
    }
    if let Some(templates) = settings.get("templates") {
        object(templates, "templates")?;
        for (name, template) in templates.as_object().into_iter().flatten() {
            object(template, &format!("templates.{name}"))?;
        }
    }
    for list in ["neverInjectSelector", "alwaysInjectSelector"] {
        let selectors = settings
            .get(list)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, selector) in selectors.iter().enumerate() {
            object(selector, &format!("{list}[{i}]"))?;
            let expressions = selector.get("matchExpressions").and_then(Value::as_array);
            for (j, expression) in expressions
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                object(expression, &format!("{list}[{i}].matchExpressions[{j}]"))?;
            }
        }
    }
    Ok(())
}

fn walk_strings(value: &Value, path: &str, visit: &mut dyn FnMut(&dyn Fn() -> String, &str)) {
    match value {
        Value::String(text) => visit(&|| path.to_string(), text),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &format!("{path}[{i}]"), visit);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                walk_strings(item, &format!("{path}.{key}"), visit);
            }
        }
        _ => {}
    }
}

fn required_string<'a>(item: &'a Value, at: &str, field: &str) -> Result<&'a str, SettingsError> {
    let Some(object) = item.as_object() else {
        return Err(SettingsError::new(
            at,
            format!("expected an object, got {}", json_type(item)),
        ));
    };
    match object.get(field) {
        None | Some(Value::Null) => Err(SettingsError::new(format!("{at}.{field}"), "missing")),
        Some(Value::String(text)) if text.is_empty() => Err(SettingsError::new(
            format!("{at}.{field}"),
            "must not be empty",
        )),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(SettingsError::new(
            format!("{at}.{field}"),
            format!("expected a string, got {}", json_type(other)),
        )),
    }
}

/// Checks `value` against the Kubernetes type `ty`, with a message that names the field.
fn typed(value: &Value, ty: Ty, at: &str) -> Result<(), SettingsError> {
    schema::check_template(value, ty).map_err(|problem| {
        SettingsError::new(format!("{at}{}", problem.display_path()), problem.message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn validate(settings: Value) -> Result<Settings, String> {
        Settings::validate(settings.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    fn minimal() -> Value {
        json!({"template": {"containers": [{"name": "proxy", "image": "proxy:1"}]}})
    }

    fn with(mut base: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        base.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.into(), value);
        base
    }

    #[test]
    fn defaults() {
        let settings = validate(minimal()).unwrap();
        assert_eq!(settings.policy, InjectionPolicy::Enabled);
        assert!(settings.never_inject_selector.is_empty());
        assert!(settings.always_inject_selector.is_empty());
        assert!(settings.ignored_namespaces.is_empty());
        assert!(!settings.native_sidecars);
        assert!(!settings.hold_application_until_proxy_starts);
        // Istio's name for the revision without a name.
        assert_eq!(settings.revision.as_str(), "default");
    }

    #[test]
    fn full_settings_are_accepted() {
        let settings = validate(json!({
            "policy": "disabled",
            "neverInjectSelector": [{"matchLabels": {"legacy": "true"}}],
            "alwaysInjectSelector": [{"matchExpressions": [{"key": "mesh", "operator": "Exists"}]}],
            "ignoredNamespaces": ["batch"],
            "nativeSidecars": true,
            "holdApplicationUntilProxyStarts": true,
            "revision": "1-28-0.canary_2",
            "template": {
                "initContainers": [{"name": "init", "image": "proxy:1", "args": ["iptables"],
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}],
                "containers": [{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always",
                    "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"requests": {"cpu": "{{ pod.metadata.annotations['proxyCPU'] | default('100m') }}"}}}],
                "volumes": [{"name": "certs", "emptyDir": {"medium": "Memory"}}],
                "imagePullSecrets": [{"name": "registry"}],
                "labels": {"mesh": "on"},
                "annotations": {"prometheus.io/scrape": "true"}
            }
        }))
        .unwrap();
        assert_eq!(settings.policy, InjectionPolicy::Disabled);
        assert_eq!(settings.never_inject_selector.len(), 1);
        assert_eq!(settings.always_inject_selector.len(), 1);
        assert_eq!(settings.ignored_namespaces, ["batch"]);
        assert!(settings.native_sidecars && settings.hold_application_until_proxy_starts);
        assert_eq!(settings.revision.to_string(), "1-28-0.canary_2");
    }

    #[test]
    fn template_strings_may_stand_for_values_of_any_type() {
        let settings = validate(json!({"template": {
            "containers": [{"name": "proxy", "image": "proxy:1",
                "ports": [{"containerPort": "{{ pod.metadata.annotations['port'] | default(15090) }}"}],
                "readinessProbe": {"periodSeconds": "{{ pod.metadata.annotations['p'] | default(15) }}"},
                "volumeMounts": ["{{ pod.metadata.annotations['mounts'] | fromjson | named_list }}"],
                "securityContext": "{{ pod.metadata.annotations['sc'] | fromjson }}"}],
            "volumes": [{"name": "certs", "emptyDir": {}}, "{{ pod.metadata.annotations['volumes'] | fromjson | named_list }}"]
        }}));
        assert!(settings.is_ok(), "{settings:?}");
    }

    #[rstest]
    #[case::policy_case(with(minimal(), "/policy", json!("Enabled")), r#"policy: expected "enabled" or "disabled", got "Enabled""#)]
    #[case::policy_type(with(minimal(), "/policy", json!(true)), r#"policy: expected "enabled" or "disabled", got a boolean"#)]
    #[case::unknown_setting(with(minimal(), "/polcy", json!("enabled")),
        "polcy: unknown field; expected one of policy, neverInjectSelector, alwaysInjectSelector, ignoredNamespaces, template, templates, defaultTemplates, nativeSidecars, holdApplicationUntilProxyStarts, networkInitContainers, probeRewrite, prometheusMerge, revision, namespaceRules, enableNamespacesByDefault, mandatory")]
    #[case::namespace_rules_unknown(with(minimal(), "/namespaceRules", json!("linkerd")),
        "namespaceRules: expected \"istio\" (the namespace labels of Istio's injection webhooks), got \"linkerd\"")]
    #[case::by_default_without_rules(with(minimal(), "/enableNamespacesByDefault", json!(true)),
        "enableNamespacesByDefault: only goes with namespaceRules: istio, whose namespace labels it extends")]
    #[case::by_default_other_revision(with(with(with(minimal(), "/enableNamespacesByDefault", json!(true)), "/namespaceRules", json!("istio")), "/revision", json!("canary")),
        "enableNamespacesByDefault: only applies to the default revision, as in Istio; this policy serves revision \"canary\"")]
    #[case::mandatory_as_list(with(minimal(), "/mandatory", json!([{}])),
        "mandatory: expected an object, got an array")]
    #[case::mandatory_selector_as_list(with(minimal(), "/mandatory", json!({"namespaceSelector": [{}, []]})),
        "mandatory.namespaceSelector: expected an object, got an array")]
    #[case::mandatory_without_selector(with(minimal(), "/mandatory", json!({})),
        "mandatory.namespaceSelector: missing")]
    #[case::mandatory_bad_selector(with(minimal(), "/mandatory", json!({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}})),
        "mandatory: namespaceSelector.matchExpressions[0].operator: expected one of In, NotIn, Exists, DoesNotExist, got \"Is\"")]
    #[case::template_missing(json!({"policy": "enabled"}), "template: missing")]
    #[case::template_empty(json!({"template": {}}), "template: nothing to inject; give containers or initContainers")]
    #[case::template_unknown_key(with(minimal(), "/template/sidecars", json!([])),
        "template.sidecars: unknown field; expected one of containers, initContainers, volumes, imagePullSecrets, labels, annotations")]
    #[case::image_missing(json!({"template": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}), "template.containers[1].image: missing")]
    #[case::name_missing(json!({"template": {"initContainers": [{"image": "x"}]}}), "template.initContainers[0].name: missing")]
    #[case::name_empty(json!({"template": {"containers": [{"name": "", "image": "x"}]}}), "template.containers[0].name: must not be empty")]
    #[case::container_not_object(json!({"template": {"containers": ["proxy"]}}), "template.containers[0]: expected an object, got a string")]
    #[case::duplicate_across_lists(json!({"template": {"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "a", "image": "x"}]}}),
        r#"template.initContainers[0].name: "a" is used by another template container"#)]
    #[case::duplicate_volume(with(minimal(), "/template/volumes", json!([{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}])),
        r#"template.volumes[1].name: "v" appears twice in template.volumes"#)]
    #[case::volume_without_name(with(minimal(), "/template/volumes", json!([{"emptyDir": {}}])), "template.volumes[0].name: missing")]
    #[case::pull_secret_without_name(with(minimal(), "/template/imagePullSecrets", json!([{}])), "template.imagePullSecrets[0].name: missing")]
    #[case::label_not_string(with(minimal(), "/template/labels", json!({"a": 1})), "template.labels.a: expected a string, got a number")]
    #[case::status_annotation(with(minimal(), "/template/annotations", json!({"sidecar.istio.io/status": "{}"})),
        "template.annotations.sidecar.istio.io/status: is written by the injector itself and cannot be set here")]
    #[case::wrong_kubernetes_type(json!({"template": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": "80"}]}]}}),
        "template.containers[0].ports[0].containerPort: expected a 32-bit integer, got the string \"80\"")]
    #[case::misspelled_kubernetes_field(json!({"template": {"containers": [{"name": "a", "image": "x", "imagePullPolicyy": "Always"}]}}),
        "template.containers[0].imagePullPolicyy: unknown field (not in the Kubernetes v1.36 API); check its spelling")]
    #[case::misspelled_nested_field(json!({"template": {"containers": [{"name": "a", "image": "x", "securityContext": {"runAsUsr": 1}}]}}),
        "template.containers[0].securityContext.runAsUsr: unknown field (not in the Kubernetes v1.36 API); check its spelling")]
    #[case::misspelled_volume_field(with(minimal(), "/template/volumes", json!([{"name": "v", "emptyDirr": {}}])),
        "template.volumes[0].emptyDirr: unknown field (not in the Kubernetes v1.36 API); check its spelling")]
    #[case::restart_policy_without_native(json!({"template": {"containers": [{"name": "a", "image": "x", "restartPolicy": "Always"}]}}),
        "template.containers[0].restartPolicy: only init containers take a restartPolicy; set nativeSidecars: true to inject this container as a native sidecar")]
    #[case::template_syntax(json!({"template": {"containers": [{"name": "a", "image": "x", "args": ["ok", "{{ pod.metadata.name "]}]}}),
        "template.containers[0].args[1]: syntax error: unexpected end of input, expected end of variable block (in <string>:1)")]
    #[case::text_template_for_an_object(with(minimal(), "/template/volumes", json!(["data-{{ pod.metadata.name }}"])),
        "template.volumes[0]: expected an object (Kubernetes Volume); a template string gives one only when it is one expression, such as {{ pod.metadata.annotations['x'] | fromjson }}, got \"data-{{ pod.metadata.name }}\"")]
    #[case::text_template_for_a_list(json!({"template": {"containers": [{"name": "a", "image": "x", "args": "{{ a }} {{ b }}"}]}}),
        "template.containers[0].args: expected a list; a template string gives one only when it is one expression, such as {{ pod.metadata.annotations['x'] | fromjson }}, got \"{{ a }} {{ b }}\"")]
    #[case::plain_string_for_an_integer(json!({"template": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": "{ 80 }"}]}]}}),
        "template.containers[0].ports[0].containerPort: expected a 32-bit integer, got the string \"{ 80 }\"")]
    #[case::selector(with(minimal(), "/alwaysInjectSelector", json!([{"matchLabels": {"a": "b"}}, {"matchExpressions": [{"key": "a", "operator": "in", "values": ["b"]}]}])),
        r#"alwaysInjectSelector[1].matchExpressions[0].operator: expected one of In, NotIn, Exists, DoesNotExist, got "in""#)]
    #[case::selector_misspelled(with(minimal(), "/neverInjectSelector", json!([{"matchLabel": {"a": "b"}}])),
        "neverInjectSelector[0].matchLabel: unknown field; expected matchLabels or matchExpressions")]
    #[case::template_as_list(json!({"template": [[{"name": "a", "image": "x"}]]}), "template: expected an object, got an array")]
    #[case::selector_as_list(with(minimal(), "/alwaysInjectSelector", json!([[{"a": "b"}]])), "alwaysInjectSelector[0]: expected an object, got an array")]
    #[case::expression_as_list(with(minimal(), "/alwaysInjectSelector", json!([{"matchExpressions": [["a", "Exists"]]}])),
        "alwaysInjectSelector[0].matchExpressions[0]: expected an object, got an array")]
    #[case::ignored_namespaces_type(with(minimal(), "/ignoredNamespaces", json!("batch")),
        "ignoredNamespaces: invalid type: string \"batch\", expected a list")]
    #[case::ignored_namespace_empty(with(minimal(), "/ignoredNamespaces", json!([""])), "ignoredNamespaces[0]: must not be empty")]
    #[case::native_not_bool(with(minimal(), "/nativeSidecars", json!("true")),
        "nativeSidecars: invalid type: string \"true\", expected a boolean")]
    #[case::template_and_templates(with(minimal(), "/templates", json!({"a": {"containers": [{"name": "p", "image": "i"}]}})),
        "templates: give either template (one sidecar) or templates (named ones), not both")]
    #[case::defaults_without_templates(with(minimal(), "/defaultTemplates", json!(["a"])),
        "defaultTemplates: only goes with templates; with template, every Pod gets that one")]
    #[case::templates_without_defaults(json!({"templates": {"sidecar": {"containers": [{"name": "p", "image": "i"}]}}}),
        "defaultTemplates: missing; name the templates a Pod gets when it does not choose with the annotation inject.istio.io/templates (the policy has sidecar)")]
    #[case::unknown_default(json!({"templates": {"sidecar": {"containers": [{"name": "p", "image": "i"}]}}, "defaultTemplates": ["sidecar", "debug"]}),
        "defaultTemplates[1]: no template named \"debug\"; the policy has sidecar")]
    #[case::empty_defaults(json!({"templates": {"sidecar": {"containers": [{"name": "p", "image": "i"}]}}, "defaultTemplates": []}),
        "defaultTemplates: empty; name at least one template")]
    #[case::no_templates(json!({"templates": {}, "defaultTemplates": ["a"]}), "templates: no template; name at least one")]
    #[case::template_name(json!({"templates": {"Debug_1": {"containers": [{"name": "p", "image": "i"}]}}, "defaultTemplates": ["Debug_1"]}),
        "templates.Debug_1: a template's name must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")]
    #[case::named_template_checked(json!({"templates": {"sidecar": {"containers": [{"name": "p", "image": "i"}]}, "debug": {"containers": [{"name": "d"}]}}, "defaultTemplates": ["sidecar"]}),
        "templates.debug.containers[0].image: missing")]
    #[case::named_template_kubernetes(json!({"templates": {"debug": {"containers": [{"name": "d", "image": "i", "tty": "yes"}]}}, "defaultTemplates": ["debug"]}),
        "templates.debug.containers[0].tty: expected a boolean, got the string \"yes\"")]
    #[case::named_template_syntax(json!({"templates": {"debug": {"containers": [{"name": "d", "image": "{{ x "}]}}, "defaultTemplates": ["debug"]}),
        "templates.debug.containers[0].image: syntax error: unexpected end of input, expected end of variable block (in <string>:1)")]
    #[case::templates_as_list(json!({"templates": [{"containers": []}], "defaultTemplates": ["a"]}), "templates: expected an object, got an array")]
    #[case::named_template_as_list(json!({"templates": {"a": [[]]}, "defaultTemplates": ["a"]}), "templates.a: expected an object, got an array")]
    #[case::probe_container(with(minimal(), "/probeRewrite", json!({"container": "istio-proxy", "statusPort": 15020})),
        "probeRewrite.container: \"istio-proxy\" is not a template container; expected one of proxy")]
    #[case::probe_container_in_named(json!({"templates": {"sidecar": {"containers": [{"name": "p", "image": "i"}]}, "debug": {"containers": [{"name": "d", "image": "i"}]}},
            "defaultTemplates": ["sidecar"], "probeRewrite": {"container": "agent", "statusPort": 15020}}),
        "probeRewrite.container: \"agent\" is not a template container; expected one of d, p")]
    #[case::network_init_unknown(json!({"template": {"containers": [{"name": "proxy", "image": "i"}], "initContainers": [{"name": "istio-init", "image": "i"}]},
            "networkInitContainers": ["istio-iptables"]}),
        "networkInitContainers[0]: \"istio-iptables\" is not a template init container; expected one of istio-init")]
    #[case::network_init_is_a_container(json!({"template": {"containers": [{"name": "proxy", "image": "i"}], "initContainers": [{"name": "istio-init", "image": "i"}]},
            "networkInitContainers": ["istio-init", "proxy"]}),
        "networkInitContainers[1]: \"proxy\" is a template container, not an init container; expected one of istio-init")]
    #[case::network_init_none(with(minimal(), "/networkInitContainers", json!(["istio-init"])),
        "networkInitContainers[0]: \"istio-init\" is not a template init container; the templates have no init containers")]
    #[case::network_init_twice(json!({"template": {"containers": [{"name": "proxy", "image": "i"}], "initContainers": [{"name": "istio-init", "image": "i"}]},
            "networkInitContainers": ["istio-init", "istio-init"]}),
        "networkInitContainers[1]: \"istio-init\" is given twice")]
    #[case::network_init_in_named(json!({"templates": {"sidecar": {"initContainers": [{"name": "istio-init", "image": "i"}]}, "cni": {"initContainers": [{"name": "istio-validation", "image": "i"}]}},
            "defaultTemplates": ["sidecar"], "networkInitContainers": ["init"]}),
        "networkInitContainers[0]: \"init\" is not a template init container; expected one of istio-init, istio-validation")]
    #[case::network_init_not_list(with(minimal(), "/networkInitContainers", json!("istio-init")),
        "networkInitContainers: invalid type: string \"istio-init\", expected a list")]
    #[case::metrics_container(with(minimal(), "/prometheusMerge", json!({"container": "istio-proxy", "port": 15020})),
        "prometheusMerge.container: \"istio-proxy\" is not a template container; expected one of proxy")]
    #[case::metrics_port(with(minimal(), "/prometheusMerge", json!({"container": "proxy", "port": 70000})),
        "prometheusMerge.port: expected a port number from 1 to 65535, got 70000")]
    #[case::metrics_reserved(with(minimal(), "/prometheusMerge", json!({"container": "proxy", "port": 15020, "reservedPorts": {"admin": "x"}})),
        "prometheusMerge.reservedPorts: expected port numbers from 1 to 65535 as keys, got \"admin\"")]
    #[case::metrics_unknown(with(minimal(), "/prometheusMerge", json!({"container": "proxy", "port": 15020, "envVar": "X"})),
        "prometheusMerge.envVar: unknown field; expected one of container, port, path, env, reservedPorts")]
    #[case::metrics_not_object(with(minimal(), "/prometheusMerge", json!([])),
        "prometheusMerge: expected an object, got an array")]
    #[case::probe_port_zero(with(minimal(), "/probeRewrite", json!({"container": "proxy", "statusPort": 0})),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got 0")]
    #[case::probe_port_high(with(minimal(), "/probeRewrite", json!({"container": "proxy", "statusPort": 65536})),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got 65536")]
    #[case::probe_port_text(with(minimal(), "/probeRewrite", json!({"container": "proxy", "statusPort": "15020"})),
        "probeRewrite.statusPort: expected a port number from 1 to 65535, got a string")]
    #[case::probe_port_missing(with(minimal(), "/probeRewrite", json!({"container": "proxy"})),
        "probeRewrite.statusPort: missing")]
    #[case::probe_unknown_key(with(minimal(), "/probeRewrite", json!({"container": "proxy", "statusPort": 15020, "port": 1})),
        "probeRewrite.port: unknown field; expected one of container, statusPort, env")]
    #[case::probe_empty_env(with(minimal(), "/probeRewrite", json!({"container": "proxy", "statusPort": 15020, "env": ""})),
        "probeRewrite.env: must not be empty")]
    #[case::probe_as_list(with(minimal(), "/probeRewrite", json!(["proxy", 15020])),
        "probeRewrite: expected an object, got an array")]
    #[case::request_above_limit(with(minimal(), "/template/containers/0/resources",
        json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})),
        "template.containers[0].resources.requests.cpu: \"2\" is more than resources.limits.cpu, \"1\": a request may not exceed its limit; the API server would refuse every Pod injected with it")]
    #[case::quantity_misspelled(with(minimal(), "/template/containers/0/resources", json!({"limits": {"memory": "1GB"}})),
        "template.containers[0].resources.limits.memory: \"1GB\" is not a Kubernetes quantity (a number with an optional suffix, such as 100m, 1.5, 2Gi or 1e3); the API server would refuse every Pod injected with it")]
    #[case::port_name_too_long(with(minimal(), "/template/initContainers", json!([{"name": "init", "image": "i", "ports": [{"containerPort": 1, "name": "http-envoy-prometheus"}]}])),
        "template.initContainers[0].ports[0].name: \"http-envoy-prometheus\" is not a port name: at most 15 lowercase letters, digits and single hyphens, with at least one letter, not beginning or ending with a hyphen; the API server would refuse every Pod injected with it")]
    #[case::revision_not_a_label_value(with(minimal(), "/revision", json!("1.28/canary")),
        "revision: \"1.28/canary\" is not a label value: it must begin and end with a letter or digit, with only letters, digits, '-', '_' and '.' between; a revision name must be a Kubernetes label value, as in the label istio.io/rev")]
    #[case::revision_too_long(with(minimal(), "/revision", json!("r".repeat(64))),
        &format!("revision: {:?} is not a label value: it has 64 characters, and 63 is the most; a revision name must be a Kubernetes label value, as in the label istio.io/rev", "r".repeat(64)))]
    #[case::revision_empty(with(minimal(), "/revision", json!("")),
        "revision: must not be empty; the revision without a name is \"default\", as Istio names it")]
    #[case::revision_not_a_string(with(minimal(), "/revision", json!(1)),
        "revision: expected a revision name (a string, such as \"canary\"), got a number")]
    #[case::revision_null(
        with(minimal(), "/revision", Value::Null),
        "revision: expected a revision name (a string, such as \"canary\"), got null"
    )]
    #[case::label_value(with(minimal(), "/template/labels", json!({"mesh": "on/off"})),
        "template.labels.mesh: \"on/off\" is not a label value: it must begin and end with a letter or digit, with only letters, digits, '-', '_' and '.' between; the API server would refuse every Pod injected with it")]
    fn refusals(#[case] settings: Value, #[case] message: &str) {
        assert_eq!(validate(settings.clone()).unwrap_err(), message);
        // An admission request reads the settings from their document: what that reading
        // refuses, it refuses with the same message (the Kubernetes and template checks are the
        // load's only).
        let text = settings.to_string();
        let from_text = Settings::from_text(Text::new(&text)).map(|s| crate::revision::current(&s));
        let from_slice =
            Settings::from_slice(text.as_bytes()).map(|s| crate::revision::current(&s));
        assert_eq!(from_text, from_slice);
    }

    #[test]
    fn the_document_and_the_bytes_give_the_same_settings() {
        let cases = [
            json!({"template": {"containers": [{"name": "p", "image": "i"}]}, "policy": "disabled",
                "neverInjectSelector": [{"matchLabels": {"a": "b"}}], "alwaysInjectSelector": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}],
                "ignoredNamespaces": ["x"], "nativeSidecars": true, "holdApplicationUntilProxyStarts": true,
                "probeRewrite": {"container": "p", "statusPort": 15020}, "revision": "canary"}),
            json!({"template": {"containers": [{"name": "p", "image": "i"}]}}),
            json!({"template": {"containers": [{"name": "p", "image": "i"}]}, "probeRewrite": null}),
            json!({"templates": {"b": {"containers": [{"name": "p", "image": "i"}]}, "a": {"initContainers": []}},
                "defaultTemplates": ["a"], "policy": "disabled"}),
        ];
        for settings in cases {
            let text = settings.to_string();
            let a = Settings::from_text(Text::new(&text)).unwrap();
            let b = Settings::from_slice(text.as_bytes()).unwrap();
            let fields = |s: &Settings| {
                format!(
                    "{:?} {:?} {:?} {:?} {} {} {:?} {} {}",
                    s.policy,
                    s.never_inject_selector,
                    s.always_inject_selector,
                    s.ignored_namespaces,
                    s.native_sidecars,
                    s.hold_application_until_proxy_starts,
                    s.probe_rewrite,
                    s.revision,
                    crate::revision::current(s)
                )
            };
            assert_eq!(fields(&a), fields(&b));
        }
        let null =
            r#"{"template": {"containers": [{"name": "p", "image": "i"}]}, "probeRewrite": null}"#;
        assert_eq!(
            Settings::from_text(Text::new(null)).unwrap().probe_rewrite,
            None
        );
        // serde reads the settings with each template written `{}`: what it refuses after a
        // template is named where it is in the settings as they came.
        let after = r#"{"templates": {"a": {"containers": [{"name": "p", "image": "i"}]}}, "policy": "on"}"#;
        let trailing =
            r#"{"template": {"containers": [{"name": "p", "image": "i"}]}, "policy": "enabled",}"#;
        for text in [after, trailing] {
            assert_eq!(
                Settings::from_text(Text::new(text)).unwrap_err(),
                Settings::from_slice(text.as_bytes()).unwrap_err()
            );
        }
        assert_eq!(
            Settings::from_text(Text::new(trailing))
                .unwrap_err()
                .to_string(),
            "the settings are not valid JSON: trailing comma at line 1 column 81"
        );
        // A key given twice is refused, from the document as from the bytes.
        let twice = r#"{"policy": "enabled", "policy": "disabled", "template": {"containers": [{"name": "p", "image": "i"}]}}"#;
        assert_eq!(
            Settings::from_text(Text::new(twice)).unwrap_err(),
            Settings::from_slice(twice.as_bytes()).unwrap_err()
        );
    }

    #[test]
    fn not_an_object() {
        assert_eq!(
            validate(json!([1])).unwrap_err(),
            "expected an object, got an array"
        );
    }

    #[test]
    fn explicit_null_field_is_not_unknown() {
        validate(
            json!({"template": {"containers": [{"name": "a", "image": "x", "command": null}]}}),
        )
        .unwrap();
    }

    #[test]
    fn request_time_parse_skips_the_kubernetes_checks() {
        // Settings reach `validate` only after `validate_settings` accepted them; the per-request
        // parse keeps to what injection needs.
        let json = json!({"template": {"containers": [{"name": "a", "image": "x", "imagePullPolicyy": "Always"}]}});
        assert!(Settings::from_slice(json.to_string().as_bytes()).is_ok());
        assert!(validate(json).is_err());
    }
}
