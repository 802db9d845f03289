//! Adds the sidecar template to a Pod, as named passes over the Pod being edited:
//!
//! 1. [`choose`]: the templates the Pod gets, in the order they apply ([`Settings::chosen`]),
//!    their hash and their template strings, found in one pass over their text;
//! 2. [`render`]: the template strings rendered for this Pod ([`crate::template`]);
//! 3. [`combine`]: the templates' parts in the order they apply, a later template customizing an
//!    earlier one ([`crate::merge`]);
//! 4. [`place_containers`]: the Pod's own containers that customize a template's, the checks the
//!    API server would make, native sidecars, and the order of everything;
//! 5. [`merge_metrics`]: the Pod's Prometheus scrape settings sent to the agent
//!    ([`crate::metrics`]);
//! 6. [`rewrite_probes`]: the application's probes sent to the agent ([`crate::probes`]);
//! 7. [`add_named`]: volumes and pull secrets, before the Pod's own;
//! 8. [`edit_metadata`]: labels, annotations (the Prometheus ones pointed at the agent after pass
//!    5) and the status annotation ([`crate::status`]).
//!
//! The Pod is an [`Edit`] of its text: never round-tripped through a typed Pod, nor even parsed
//! whole. Only the levels an injection changes are opened (the Pod, its `spec` and `metadata`, the
//! lists that receive the sidecar), and everything else is written back as the text it came in
//! (see [`crate::json`]). Every value of the submitted Pod is kept where it was (but for the
//! Prometheus annotations `prometheusMerge` replaces, recorded in the status); only the injected
//! parts are added, so the mutated Pod minus those parts is the submitted Pod (the JSONPatch the
//! policy server derives shows only them). The templates are edited as text too: their template
//! strings are replaced, and nothing else of them is touched.
//!
//! Where things go:
//! - `spec.initContainers`: the template's init containers, then (with `nativeSidecars`) the
//!   sidecar containers with `restartPolicy: Always`, then the Pod's own, which so have the network;
//!   without native sidecars, the template's `networkInitContainers` after the Pod's own, which so
//!   run before their traffic is redirected to a proxy that is not running yet.
//! - `spec.containers`: the sidecar containers after the Pod's, or before them with
//!   `holdApplicationUntilProxyStarts`.
//! - `spec.volumes`, `spec.imagePullSecrets`: appended, except names the Pod already uses.
//! - labels and annotations: added, except keys the Pod already has; with `prometheusMerge`, the
//!   Pod's `prometheus.io/*` annotations replaced (the one thing injection replaces; the status
//!   keeps what they were).
//! - annotation `sidecar.istio.io/status`: what was injected, the revision's name and the hash of
//!   what was injected.
//!
//! A Pod container named like a template container customizes it (as in Istio): the template
//! container is used, overlaid with the Pod's fields ([`crate::merge`]). The Pod's copy leaves its
//! old place.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::error::{Conflict, RenderError, RequestError, SettingsError};
use crate::json::{Canonical, Edit, Fields, Kind, Name, Rendering, Step, StringValue, Text, entry};
use crate::keys::{INJECT_KEY, OVERRIDES_KEY, STATUS_KEY};
use crate::merge;
use crate::metrics::Merge;
use crate::namespace::NamespaceSource;
use crate::owner::Workload;
use crate::placement::Placement;
use crate::pod::{OBJECT_PATH, PodHead};
use crate::probes::{self, ProbeRewrite};
use crate::revision::revision_reading;
use crate::schema::{self, Ty};
use crate::settings::{Chosen, Settings, Template};
use crate::status::{self, Status};
use crate::template::{Placed, Renderer, is_template, typed};
use crate::validation::{self, Strings};

/// `pod` with the sidecar injected, as a value: [`inject_json`] for the CLI, the playground and
/// tests, which hold the Pod as a value.
pub fn inject(pod: Value, settings: &Settings, namespace: &str) -> Result<Value, RequestError> {
    inject_in(pod, settings, &NamespaceSource::unreadable(namespace), None)
}

/// As [`inject`], for the pod template of a workload a manifest names (the CLI's): its template
/// strings see that `workload` rather than the one read from the Pod ([`crate::owner`]).
pub fn inject_in(
    pod: Value,
    settings: &Settings,
    namespace: &NamespaceSource,
    workload: Option<Workload>,
) -> Result<Value, RequestError> {
    let pod = Text::new(&pod.to_string());
    let head = PodHead::read(&pod)?;
    let injected = inject_text(&pod, head, settings, namespace, workload)?;
    serde_json::from_str(&injected).map_err(|e| RequestError::NotJson(e.to_string()))
}

/// The Pod `pod` with the sidecar injected, as JSON text; `head` is what the decision read of it.
/// The decision must have been taken before: this function injects unconditionally.
pub fn inject_json(
    pod: &Text,
    head: PodHead,
    settings: &Settings,
    namespace: &NamespaceSource,
) -> Result<String, RequestError> {
    inject_text(pod, head, settings, namespace, None)
}

fn inject_text(
    pod: &Text,
    head: PodHead,
    settings: &Settings,
    namespace: &NamespaceSource,
    workload: Option<Workload>,
) -> Result<String, RequestError> {
    let placement = Placement::for_pod(settings, head.annotations())?;
    let templates = choose(settings, &head, placement)?;
    let (rendering, namespace_hash) = render(pod, namespace, workload, &templates)?;
    let parts = combine(&templates.chosen, &rendering);
    let probes = match &settings.probe_rewrite {
        Some(rewrite) => {
            probes::status_port(head.annotations(), rewrite)?.map(|port| (rewrite, port))
        }
        None => None,
    };
    let metrics = match &settings.prometheus_merge {
        Some(setting) => Merge::for_pod(setting, head.annotations())?,
        None => None,
    };

    let mut root = Edit::part(pod.root());
    let kind = root.kind();
    let object = root
        .open_object()
        .ok_or_else(|| expected(OBJECT_PATH, "an object", kind))?;
    let spec = open_spec(object)?;
    let (mut status, overrides) =
        place_containers(spec, &parts, placement, probes, metrics.as_ref())?;
    status.volumes = add_named(spec, "volumes", &parts.volumes)?;
    status.image_pull_secrets = add_named(spec, "imagePullSecrets", &parts.image_pull_secrets)?;
    if settings.has_named_templates() {
        status.templates = Some(
            templates
                .chosen
                .iter()
                .filter_map(|c| c.name)
                .map(str::to_string)
                .collect(),
        );
    }
    status.revision = Some(settings.revision.to_string());
    status.hash = Some(templates.hash);
    status.namespace_hash = namespace_hash;
    edit_metadata(object, head, &parts, metrics.as_ref(), overrides, status)?;
    let mut out = String::with_capacity(pod.as_str().len() + templates.size + 512);
    root.write(&mut out);
    Ok(out)
}

/// The templates a Pod gets, as [`choose`] finds them.
struct Templates<'s> {
    chosen: Vec<Chosen<'s>>,
    /// The hash of them, with the settings that place them ([`crate::revision`]).
    hash: String,
    /// Their template strings, where they are in the settings' text.
    strings: Vec<StringValue<'s>>,
    /// The length of their text.
    size: usize,
}

/// Pass 1: the templates the Pod gets, in the order they apply, and one pass over their text
/// (see [`revision_reading`]) that gives their hash and finds their template strings.
fn choose<'s>(
    settings: &'s Settings,
    head: &PodHead,
    placement: Placement,
) -> Result<Templates<'s>, RequestError> {
    let chosen = settings.chosen(head.annotations())?;
    let mut strings = Vec::new();
    let hash = revision_reading(settings.text(), &chosen, placement, &mut |string| {
        let raw = string.raw();
        // A brace may be written as an escape (`\u007b`): such a string is read unescaped.
        let escaped = || raw.contains('\\') && string.unescaped().is_some_and(|s| is_template(&s));
        if is_template(raw) || escaped() {
            strings.push(string);
        }
    })
    .ok_or_else(|| {
        RequestError::Settings(SettingsError::new(
            "template",
            "not valid JSON, unlike the settings validated when the policy was loaded",
        ))
    })?;
    let size = chosen.iter().map(|c| c.template.as_str().len()).sum();
    Ok(Templates {
        chosen,
        hash,
        strings,
        size,
    })
}

/// Pass 2: the templates' template strings rendered for this Pod, in place in their text, and
/// the hash of the Namespace's labels and annotations when a string read them; an error names
/// the string's place in the settings.
fn render(
    pod: &Text,
    namespace: &NamespaceSource,
    workload: Option<Workload>,
    templates: &Templates,
) -> Result<(Rendering, Option<String>), RequestError> {
    let mut renderer = Renderer::in_namespace(pod.clone(), namespace.clone(), workload);
    let mut rendering = Rendering::default();
    for string in &templates.strings {
        // Strings elsewhere in the settings than the chosen templates are not template strings.
        let Some(place) = templates
            .chosen
            .iter()
            .find_map(|chosen| TemplatePlace::of(*chosen, string))
        else {
            continue;
        };
        let text = string.unescaped().unwrap_or_default();
        let failed = |message: String| {
            RequestError::Render(RenderError {
                path: place.path(),
                message,
            })
        };
        let output = renderer.evaluate(&text).map_err(failed)?;
        // The Pod's data gave a value its place cannot hold: what the API server would refuse.
        let refused = |problem: String| {
            RequestError::Conflict(Conflict {
                at: place.path(),
                problem,
                origin: Some(format!("the template string {text:?} gave it for this Pod")),
            })
        };
        match typed::place(output, place.ty, place.item).map_err(refused)? {
            Placed::Text(rendered) => rendering.replace(string, &rendered),
            Placed::Typed(value) => rendering.replace_typed(string, value),
        }
    }
    let namespace_hash = renderer.namespace_read().map(|namespace| namespace.hash());
    Ok((rendering, namespace_hash))
}

/// Where a template string is in the template it is part of: the steps to it, the Kubernetes
/// type of its place, and whether it is a list's item.
struct TemplatePlace<'s> {
    name: Option<&'s str>,
    steps: Vec<Step<'s>>,
    ty: Ty,
    item: bool,
}

impl<'s> TemplatePlace<'s> {
    fn of(chosen: Chosen<'s>, string: &StringValue<'s>) -> Option<Self> {
        if !chosen.template.holds(string) {
            return None;
        }
        let steps = string.path();
        let (first, rest) = steps.split_first()?;
        let Step::Key(field) = first else {
            return None;
        };
        let ty = schema::type_at(Template::field_type(field)?, rest).unwrap_or(Ty::Any);
        Some(Self {
            name: chosen.name,
            item: matches!(steps.last(), Some(Step::Index(_))),
            steps,
            ty,
        })
    }

    /// `template.containers[0].env[1].value`, `templates.grpc.volumes[2]`: as messages name it.
    fn path(&self) -> String {
        let mut path = match self.name {
            None => "template".to_string(),
            Some(name) => format!("templates.{name}"),
        };
        for step in &self.steps {
            match step {
                Step::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        path
    }
}

/// A template's object and its name.
type Named<'a> = (String, Edit<'a>);

/// The templates' parts, rendered and combined in the order the templates apply: their objects
/// as they are in the settings' text, with their template strings rendered; their labels and
/// annotations as values.
struct Parts<'s> {
    containers: Vec<Named<'s>>,
    init_containers: Vec<Named<'s>>,
    volumes: Vec<Named<'s>>,
    image_pull_secrets: Vec<Named<'s>>,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
}

/// Pass 3: see [`Parts`]. A later template's container named like an earlier one's customizes it
/// (the merge rules of a Pod's own container); its volume, pull secret, label or annotation with
/// an earlier one's name or key replaces it. The settings were validated when the policy was
/// loaded: each template has the shape the checks gave it.
fn combine<'s>(chosen: &[Chosen<'s>], rendering: &'s Rendering) -> Parts<'s> {
    let mut parts = Parts {
        containers: Vec::new(),
        init_containers: Vec::new(),
        volumes: Vec::new(),
        image_pull_secrets: Vec::new(),
        labels: Map::new(),
        annotations: Map::new(),
    };
    for chosen in chosen {
        let template = chosen.template;
        // A typed template string among the items gives its items, or none, in its place.
        let list = |key| {
            template
                .get(key)
                .and_then(|list| Edit::rendered(list, rendering).into_items())
                .into_iter()
                .flatten()
                .map(|edit| (edit.name().as_str().unwrap_or_default().to_string(), edit))
        };
        let map = |key| match template
            .get(key)
            .map(|map| Edit::rendered(map, rendering).into_value())
        {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (name, edit) in list("containers") {
            customize_or_add(&mut parts.containers, name, edit);
        }
        for (name, edit) in list("initContainers") {
            customize_or_add(&mut parts.init_containers, name, edit);
        }
        for (name, edit) in list("volumes") {
            replace_or_add(&mut parts.volumes, name, edit);
        }
        for (name, edit) in list("imagePullSecrets") {
            replace_or_add(&mut parts.image_pull_secrets, name, edit);
        }
        parts.labels.extend(map("labels"));
        parts.annotations.extend(map("annotations"));
    }
    parts
}

/// Adds a template's container, or, when an earlier template has one of that name, overlays it.
fn customize_or_add<'s>(list: &mut Vec<Named<'s>>, name: String, edit: Edit<'s>) {
    match list.iter_mut().find(|(n, _)| *n == name) {
        Some((_, earlier)) => {
            let base = std::mem::replace(earlier, Edit::value(Value::Null)).into_value();
            *earlier = match edit.into_value() {
                Value::Object(overlay) => Edit::value(merge::container(base, overlay)),
                _ => Edit::value(base),
            };
        }
        None => list.push((name, edit)),
    }
}

/// Adds a template's object, or replaces an earlier template's of that name.
fn replace_or_add<'s>(list: &mut Vec<Named<'s>>, name: String, edit: Edit<'s>) {
    match list.iter_mut().find(|(n, _)| *n == name) {
        Some((_, earlier)) => *earlier = edit,
        None => list.push((name, edit)),
    }
}

/// The Pod's `spec`, opened.
fn open_spec<'f, 'a>(object: &'f mut Fields<'a>) -> Result<&'f mut Fields<'a>, RequestError> {
    let spec_path = || format!("{OBJECT_PATH}.spec");
    let spec = entry(object, "spec").ok_or_else(|| RequestError::field(spec_path(), "missing"))?;
    let kind = spec.kind();
    spec.open_object()
        .ok_or_else(|| expected(&spec_path(), "an object", kind))
}

/// A Pod's own container that customizes a template's: its name, its fields as the Pod wrote
/// them, and the template's container as it was before, in case the result breaks a rule of the
/// API server's and the message must say where it comes from.
type Customization<'a> = (String, Map<String, Value>, Edit<'a>);

/// Pass 4: where the sidecar's containers go, customized by the Pod's own, checked, in order;
/// with the Pod's scrape settings given to the agent (pass 5) and the application's probes
/// rewritten (pass 6) on the way. Returns what was injected, and the Pod's customizations as
/// Istio records them ([`OVERRIDES_KEY`]) when there are any.
fn place_containers<'a>(
    spec: &mut Fields<'a>,
    parts: &Parts<'a>,
    placement: Placement,
    probes: Option<(&ProbeRewrite, u16)>,
    metrics: Option<&Merge>,
) -> Result<(Status, Option<String>), RequestError> {
    // Each container's name is read once.
    let mut seen = HashSet::new();
    let mut containers = named(take_list(spec, "containers")?, "containers", &mut seen)?;
    let mut init_containers = named(
        take_list(spec, "initContainers")?,
        "initContainers",
        &mut seen,
    )?;
    let mut customizations = Vec::new();
    let mut sidecars = customized(
        &parts.containers,
        [&mut containers, &mut init_containers],
        &mut customizations,
    );
    let of_sidecars = customizations.len();
    let template_inits = customized(
        &parts.init_containers,
        [&mut containers, &mut init_containers],
        &mut customizations,
    );
    let overrides = overrides(&customizations, of_sidecars, placement.native_sidecars);
    let windows = spec_os(spec).as_deref() == Some("windows");
    for (name, edit) in sidecars.iter().chain(&template_inits) {
        check_container(name, edit, &customizations, windows)?;
    }

    // The Pod's scrape settings go to the agent, then its probes (the order of Istio's
    // injector, which the agent's environment shows), if the template that runs it is injected.
    let metrics = metrics.and_then(|merge| merge_metrics(&mut sidecars, merge));
    let rewritten = probes.and_then(|(rewrite, port)| {
        let agent = sidecars
            .iter_mut()
            .find(|(name, _)| *name == rewrite.container)?;
        let rewritten = rewrite_probes(&mut containers, &mut init_containers, port)?;
        set_env(&mut agent.1, &rewrite.env, &rewritten.originals);
        Some(status::Probes {
            container: rewrite.container.clone(),
            env: rewrite.env.clone(),
            status_port: port,
            rewritten: rewritten.paths,
            port_names: rewritten.port_names,
        })
    });

    // Native sidecars are init containers, restarted as containers are: after the template's,
    // before the Pod's own.
    let (native_sidecars, mut sidecars) = if placement.native_sidecars {
        for (_, sidecar) in &mut sidecars {
            restart_always(sidecar);
        }
        (sidecars, Vec::new())
    } else {
        for (_, sidecar) in &mut sidecars {
            not_restarted(sidecar);
        }
        (Vec::new(), sidecars)
    };
    let injected_containers = names(&sidecars);
    let (new_inits, injected_inits) = order_init_containers(
        template_inits,
        native_sidecars,
        init_containers,
        placement.network_init_containers,
    );
    let containers = if placement.hold_application_until_proxy_starts {
        sidecars.append(&mut containers);
        sidecars
    } else {
        containers.append(&mut sidecars);
        containers
    };
    let edits = |list: Vec<Named<'a>>| list.into_iter().map(|(_, edit)| edit).collect();
    put_list(spec, "containers", edits(containers));
    put_list(spec, "initContainers", edits(new_inits));
    let status = Status {
        init_containers: injected_inits,
        containers: injected_containers,
        probes: rewritten,
        metrics,
        ..Status::default()
    };
    Ok((status, overrides))
}

/// The Pod's customizations as Istio records them in [`OVERRIDES_KEY`]: each Pod's own container
/// as it wrote it (less an `image: auto`), under the list its template container went to; the
/// first `of_sidecars` customized the template's containers, which native sidecars make init
/// containers. `None` without customizations.
fn overrides(
    customizations: &[Customization],
    of_sidecars: usize,
    native_sidecars: bool,
) -> Option<String> {
    if customizations.is_empty() {
        return None;
    }
    let own = |list: &[Customization]| -> Vec<Value> {
        list.iter()
            .map(|(_, own, _)| Value::Object(own.clone()))
            .collect()
    };
    let (sidecars, inits) = customizations.split_at(of_sidecars.min(customizations.len()));
    // In the order the Pod has them: native sidecars after the template's init containers.
    let (containers, init_containers) = if native_sidecars {
        (Vec::new(), [own(inits), own(sidecars)].concat())
    } else {
        (own(sidecars), own(inits))
    };
    let mut recorded = Map::new();
    for (key, list) in [
        ("containers", containers),
        ("initContainers", init_containers),
    ] {
        if !list.is_empty() {
            recorded.insert(key.to_string(), Value::Array(list));
        }
    }
    // Keys sorted (json's canonical form): the hosts send a Pod's keys sorted, a manifest has
    // them in any order, and the record must not depend on which (Istio writes them in its
    // types' order).
    let text = Text::new(&Value::Object(recorded).to_string());
    let mut ignore = |_| {};
    let mut writer = Canonical::new(&text, &mut ignore);
    writer.value(text.root());
    Some(writer.finish().to_text())
}

/// Pass 5: the Pod's own scrape settings to the agent's environment, as Istio's metrics merge
/// does (see [`crate::metrics`]), if the container that runs the agent is injected; its
/// annotations are pointed at the agent later, with the rest of the metadata ([`edit_metadata`]).
fn merge_metrics(sidecars: &mut [Named], merge: &Merge) -> Option<status::Metrics> {
    let setting = merge.setting;
    let (_, agent) = sidecars
        .iter_mut()
        .find(|(name, _)| *name == setting.container)?;
    if let Some(value) = &merge.env {
        set_env(agent, &setting.env, value);
    }
    Some(status::Metrics {
        container: setting.container.clone(),
        env: merge.env.as_ref().map(|_| setting.env.clone()),
        replaced: Default::default(),
    })
}

/// The Pod's init containers in the order they run, and the names of those injected: the
/// template's init containers, then the native sidecars (`native`), then the Pod's own (`own`),
/// so that the Pod's own run in the mesh. Without native sidecars, the template init containers
/// named in `network` (which redirect the Pod's traffic to the proxy) go after the Pod's own
/// instead: redirected before the proxy runs, the Pod's own init containers would reach nothing.
/// The others (such as a check that the network was set up) still run first.
fn order_init_containers<'a>(
    template: Vec<Named<'a>>,
    native: Vec<Named<'a>>,
    own: Vec<Named<'a>>,
    network: &[String],
) -> (Vec<Named<'a>>, Vec<String>) {
    let (first, last): (Vec<_>, Vec<_>) = if native.is_empty() {
        template
            .into_iter()
            .partition(|(name, _)| !network.contains(name))
    } else {
        (template, Vec::new())
    };
    let mut injected = names(&first);
    injected.extend(names(&native));
    injected.extend(names(&last));
    let mut order = first;
    order.extend(native);
    order.extend(own);
    order.extend(last);
    (order, injected)
}

/// The template's containers `template`, each overlaid with the Pod's own container of its name
/// (found in `own`'s lists, and taken out of them), recorded in `customizations`.
fn customized<'a>(
    template: &[Named<'a>],
    own: [&mut Vec<Named<'a>>; 2],
    customizations: &mut Vec<Customization<'a>>,
) -> Vec<Named<'a>> {
    let [containers, init_containers] = own;
    template
        .iter()
        .map(|(name, edit)| {
            let own = take_named(containers, name).or_else(|| take_named(init_containers, name));
            let edit = match own.map(Edit::into_value) {
                Some(Value::Object(own)) => {
                    let own = merge::customization(own);
                    customizations.push((name.clone(), own.clone(), edit.clone()));
                    Edit::value(merge::container(edit.clone().into_value(), own))
                }
                _ => edit.clone(),
            };
            (name.clone(), edit)
        })
        .collect()
}

/// A native sidecar: `restartPolicy: Always`, unless its template or customization says otherwise
/// (a null says nothing: Kubernetes reads it as absent, and the sidecar would block the Pod's start).
/// The container is edited one level deep, the rest of it staying the text it is.
fn restart_always(sidecar: &mut Edit) {
    if let Some(fields) = opened_without_duplicate_keys(sidecar) {
        match entry(fields, RESTART_POLICY) {
            Some(policy) if policy.kind() == Kind::Null => *policy = Edit::value(json!("Always")),
            Some(_) => {}
            None => fields.push((Cow::Borrowed(RESTART_POLICY), Edit::value(json!("Always")))),
        }
        return;
    }
    let mut container = std::mem::replace(sidecar, Edit::value(Value::Null)).into_value();
    if let Value::Object(fields) = &mut container {
        let policy = fields.entry(RESTART_POLICY).or_insert(Value::Null);
        if policy.is_null() {
            *policy = json!("Always");
        }
    }
    *sidecar = Edit::value(container);
}

/// A sidecar placed among the Pod's containers, though the settings make native sidecars (the Pod
/// said `sidecar.istio.io/nativeSidecar: "false"`): without the `restartPolicy: Always` its template
/// gives it for an init container, which a container of the Pod does not take. The container is
/// edited one level deep, the rest of it staying the text it is.
fn not_restarted(sidecar: &mut Edit) {
    if !sidecar.may_contain(RESTART_POLICY) {
        return;
    }
    if let Some(fields) = opened_without_duplicate_keys(sidecar) {
        let always =
            |edit: &Edit| edit.kind() == Kind::String && edit.clone().into_value() == "Always";
        if let Some(at) = fields
            .iter()
            .position(|(key, edit)| key == RESTART_POLICY && always(edit))
        {
            // Where serde_json's map (`preserve_order`) would put the entries after removing it.
            fields.swap_remove(at);
        }
        return;
    }
    let mut container = std::mem::replace(sidecar, Edit::value(Value::Null)).into_value();
    if let Value::Object(fields) = &mut container
        && fields.get(RESTART_POLICY).and_then(Value::as_str) == Some("Always")
    {
        fields.remove(RESTART_POLICY);
    }
    *sidecar = Edit::value(container);
}

const RESTART_POLICY: &str = "restartPolicy";

/// The container's fields, opened one level, when no key is there twice: then editing them is
/// editing the container as serde_json would read it. `None` otherwise (or when it is not an
/// object), for the caller to read it whole.
fn opened_without_duplicate_keys<'f, 'a>(
    container: &'f mut Edit<'a>,
) -> Option<&'f mut Fields<'a>> {
    let fields = container.open_object()?;
    let unique = fields
        .iter()
        .enumerate()
        .all(|(i, (key, _))| fields.iter().skip(i + 1).all(|(other, _)| other != key));
    unique.then_some(fields)
}

/// Pass 6: rewrites the probes of the Pod's own containers (see [`crate::probes`]). Of each
/// container with a probe, only what the rewrite reads (its name, ports and probes) is parsed, and
/// only its probes are written anew; everything else stays the text it came in.
fn rewrite_probes<'a>(
    containers: &mut [Named<'a>],
    init_containers: &mut [Named<'a>],
    status_port: u16,
) -> Option<probes::Rewritten> {
    let mut read = Vec::new();
    let mut edits = Vec::new();
    let is_probe = |key: &str| probes::PROBE_FIELDS.contains(&key);
    for (_, edit) in containers.iter_mut().chain(init_containers.iter_mut()) {
        // A container without a probe is not opened: it stays the text it came in.
        if !probes::PROBE_FIELDS
            .iter()
            .any(|key| edit.field(key).is_some())
        {
            continue;
        }
        let Some(fields) = edit.open_object() else {
            continue;
        };
        let container: Map<String, Value> = fields
            .iter()
            .filter(|(key, _)| key == "name" || key == "ports" || is_probe(key))
            .map(|(key, edit)| (key.to_string(), edit.clone().into_value()))
            .collect();
        read.push(Value::Object(container));
        edits.push(edit);
    }
    let rewritten = probes::rewrite(read.iter_mut(), status_port)?;
    for (edit, container) in edits.into_iter().zip(read) {
        let Some(fields) = edit.open_object() else {
            continue;
        };
        for field in probes::PROBE_FIELDS {
            if let (Some(slot), Some(probe)) = (entry(fields, field), container.get(field)) {
                *slot = Edit::value(probe.clone());
            }
        }
    }
    Some(rewritten)
}

/// Sets the environment variable `name` of `container` to `value`, replacing one so named; the
/// container stays the text it is but for its `env`'s new entry.
fn set_env(container: &mut Edit, name: &str, value: &str) {
    let variable = json!({"name": name, "value": value});
    let Some(fields) = container.open_object() else {
        return;
    };
    let Some(env) = entry(fields, "env") else {
        fields.push((Cow::Borrowed("env"), Edit::value(json!([variable]))));
        return;
    };
    match env.open_array() {
        Some(items) => match items
            .iter_mut()
            .find(|item| item.may_contain(name) && item.name().as_str() == Some(name))
        {
            Some(existing) => *existing = Edit::value(variable),
            None => items.push(Edit::value(variable)),
        },
        // A null `env` (a Pod's customization may set it so).
        None => *env = Edit::value(json!([variable])),
    }
}

/// The fields of an injected container that break a rule of the API server's validation (see
/// [`crate::validation`]). Only what this Pod may have changed is read: the fields a template
/// string was rendered into, and containers it customized; the rest was checked at load.
fn check_container(
    name: &str,
    edit: &Edit,
    customizations: &[Customization],
    windows: bool,
) -> Result<(), RequestError> {
    if windows && let Some(violation) = validation::windows_container(&edit.clone().into_value()) {
        return Err(RequestError::Conflict(Conflict {
            at: format!("container {name}, {}", violation.field),
            problem: violation.problem,
            origin: Some(format!(
                "the sidecar's container {name} runs on Linux; to create this Pod without the sidecar, give it the label {INJECT_KEY}: \"false\""
            )),
        }));
    }
    if !edit.differs_from_written() {
        return Ok(());
    }
    let container = match edit.as_value() {
        Some(value) => Cow::Borrowed(value),
        None => {
            let mut fields = Map::new();
            for key in CHECKED_FIELDS {
                if let Some(field) = edit.field(key).filter(Edit::differs_from_written) {
                    fields.insert(key.to_string(), field.into_value());
                }
            }
            Cow::Owned(Value::Object(fields))
        }
    };
    let Some(violation) = validation::container(&container, Strings::Rendered) else {
        return Ok(());
    };
    let customization = customizations.iter().find(|(n, _, _)| n == name);
    let written = match customization {
        Some((_, _, template)) => template,
        None => edit,
    };
    let mut origins: Vec<String> = std::iter::once(&violation.field)
        .chain(&violation.related)
        .filter_map(|field| origin(name, field, customization.map(|(_, own, _)| own), written))
        .collect();
    origins.dedup();
    let origin = (!origins.is_empty()).then(|| origins.join("; "));
    Err(RequestError::Conflict(Conflict {
        at: format!("container {name}, {}", violation.field),
        problem: violation.problem,
        origin,
    }))
}

/// The Pod's `spec.os.name`, if it has one.
fn spec_os(spec: &mut Fields) -> Option<String> {
    match entry(spec, "os")?.field("name")?.into_value() {
        Value::String(name) => Some(name),
        _ => None,
    }
}

/// The fields of a container the rules of [`crate::validation`] read.
const CHECKED_FIELDS: [&str; 3] = ["image", "resources", "ports"];

/// Where the value of `field` (`resources.requests.cpu`, `ports[0].name`) comes from, when it is
/// not the template's as written: the Pod's own container of that name, or a template string.
fn origin(
    name: &str,
    field: &str,
    own: Option<&Map<String, Value>>,
    written: &Edit,
) -> Option<String> {
    let top = field.split(['.', '[']).next().unwrap_or(field);
    if own.is_some_and(|own| own.get(top).is_some_and(|v| !v.is_null())) {
        return Some(format!(
            "the Pod's own container {name} sets {top}, which customizes the template's"
        ));
    }
    let mut value = written.field(top)?.written()?;
    let rest = field.get(top.len()..).unwrap_or_default();
    for step in rest.split(['.', '[']).filter(|step| !step.is_empty()) {
        value = match step.strip_suffix(']').map(str::parse::<usize>) {
            Some(Ok(index)) => value.get(index)?.clone(),
            _ => value.get(step)?.clone(),
        };
    }
    match value {
        Value::String(text) if is_template(&text) => Some(format!(
            "{field} is the template string {text:?}, rendered for this Pod"
        )),
        _ => None,
    }
}

/// Pass 8: the template's labels and annotations, where the Pod has none; the Pod's Prometheus
/// annotations pointed at the agent when its scrape settings went to it (pass 5); and the status
/// annotation. The status records the keys added, and the values replaced, so that they can be
/// taken out and put back. Only the labels and the annotations are written anew; the rest of the
/// metadata stays the text it came in.
fn edit_metadata(
    object: &mut Fields,
    head: PodHead,
    parts: &Parts,
    metrics: Option<&Merge>,
    overrides: Option<String>,
    mut status: Status,
) -> Result<(), RequestError> {
    if entry(object, "metadata").is_none() {
        object.push((Cow::Borrowed("metadata"), Edit::value(json!({}))));
    }
    let Some(metadata) = entry(object, "metadata") else {
        return Ok(());
    };
    let fields = metadata.open_object().ok_or_else(|| {
        RequestError::field(format!("{OBJECT_PATH}.metadata"), "expected an object")
    })?;
    let [labels, annotations] = head.into_labels_and_annotations();
    // Sorted: the hosts send the settings with their keys sorted, a person writes them in any
    // order, and the status must not depend on which.
    let mut labels = map_of(labels, "labels")?;
    status.labels = merge::missing_keys(&mut labels, parts.labels.clone());
    // Literal label values were checked at load; a template string's may be anything.
    for key in &status.labels {
        if let Some(problem) = labels
            .get(key)
            .and_then(Value::as_str)
            .and_then(validation::label_value)
        {
            return Err(RequestError::Conflict(Conflict {
                at: format!("label {key}"),
                problem,
                origin: Some(
                    "the template's value is a template string, rendered for this Pod".into(),
                ),
            }));
        }
    }
    crate::sort::sort(&mut status.labels);
    let mut annotations = map_of(annotations, "annotations")?;
    let mut additions = parts.annotations.clone();
    additions.remove(STATUS_KEY);
    if let Some(overrides) = overrides {
        additions.insert(OVERRIDES_KEY.to_string(), Value::String(overrides));
    }
    status.annotations = merge::missing_keys(&mut annotations, additions);
    if let (Some(merge), Some(recorded)) = (metrics, status.metrics.as_mut()) {
        let (added, replaced) = merge.apply(&mut annotations);
        status.annotations.extend(added);
        recorded.replaced = replaced;
    }
    crate::sort::sort(&mut status.annotations);
    status.annotations.dedup();
    // The labels as they came when none is added; the annotations always get the status.
    if !status.labels.is_empty() {
        put(fields, "labels", labels);
    }
    let status_annotation = Value::String(status.render());
    annotations.entry(STATUS_KEY).or_insert(status_annotation);
    put(fields, "annotations", annotations);
    Ok(())
}

/// Sets the field `key` of an opened object to `map`, adding the field if it has none.
fn put(fields: &mut Fields, key: &'static str, map: Map<String, Value>) {
    let value = Edit::value(Value::Object(map));
    match entry(fields, key) {
        Some(edit) => *edit = value,
        None => fields.push((Cow::Borrowed(key), value)),
    }
}

fn expected(path: &str, what: &str, got: Kind) -> RequestError {
    RequestError::field(path, format!("expected {what}, got {}", got.described()))
}

/// Takes the list at `spec[key]` out, leaving its slot in place; absent or null is empty.
fn take_list<'a>(spec: &mut Fields<'a>, key: &str) -> Result<Vec<Edit<'a>>, RequestError> {
    let Some(edit) = entry(spec, key) else {
        return Ok(Vec::new());
    };
    let kind = edit.kind();
    match edit.open_array() {
        Some(items) => Ok(std::mem::take(items)),
        None if kind == Kind::Null => Ok(Vec::new()),
        None => Err(expected(
            &format!("{OBJECT_PATH}.spec.{key}"),
            "an array",
            kind,
        )),
    }
}

/// Puts a list back into its slot, or at the end of `spec` when it was absent and is not empty.
fn put_list<'a>(spec: &mut Fields<'a>, key: &'static str, items: Vec<Edit<'a>>) {
    match entry(spec, key) {
        Some(slot) => *slot = Edit::array(items),
        None if !items.is_empty() => spec.push((Cow::Borrowed(key), Edit::array(items))),
        None => {}
    }
}

/// The containers of `list` with their names. Every container must be an object with a name unique
/// in the Pod (`seen` holds the names met so far), for customization to find the one it means.
fn named<'a>(
    items: Vec<Edit<'a>>,
    list: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<Named<'a>>, RequestError> {
    let mut named = Vec::with_capacity(items.len());
    for (i, container) in items.into_iter().enumerate() {
        let at = || format!("{OBJECT_PATH}.spec.{list}[{i}]");
        let name = match container.name() {
            Name::Text(name) => name,
            Name::Missing => return Err(RequestError::field(format!("{}.name", at()), "missing")),
            Name::Other(kind) => return Err(expected(&format!("{}.name", at()), "a string", kind)),
            Name::NotObject(kind) => return Err(expected(&at(), "an object", kind)),
        };
        if !seen.insert(name.clone()) {
            return Err(RequestError::field(
                format!("{}.name", at()),
                format!("{name:?} is the name of another container of the Pod"),
            ));
        }
        named.push((name, container));
    }
    Ok(named)
}

fn take_named<'a>(containers: &mut Vec<Named<'a>>, name: &str) -> Option<Edit<'a>> {
    let index = containers.iter().position(|(n, _)| n == name)?;
    Some(containers.remove(index).1)
}

fn names(items: &[Named]) -> Vec<String> {
    items.iter().map(|(name, _)| name.clone()).collect()
}

/// Pass 7: adds to the Pod's list at `spec[key]` the entries whose name it lacks, before the
/// Pod's own, where Istio puts them; returns their names.
fn add_named<'a>(
    spec: &mut Fields<'a>,
    key: &'static str,
    additions: &[Named<'a>],
) -> Result<Vec<String>, RequestError> {
    if additions.is_empty() {
        return Ok(Vec::new());
    }
    let own = take_list(spec, key)?;
    let present: HashSet<String> = own
        .iter()
        .filter_map(|item| item.name().as_str().map(str::to_string))
        .collect();
    let mut added = Vec::new();
    let mut list = Vec::with_capacity(additions.len() + own.len());
    for (name, addition) in additions {
        if name.is_empty() || present.contains(name) {
            continue;
        }
        added.push(name.clone());
        list.push(addition.clone());
    }
    list.extend(own);
    put_list(spec, key, list);
    Ok(added)
}

/// `metadata.<field>` as the decision read it, as a map to add to: empty when absent or null.
fn map_of(current: Option<Value>, field: &str) -> Result<Map<String, Value>, RequestError> {
    match current {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(RequestError::field(
            format!("{OBJECT_PATH}.metadata.{field}"),
            format!(
                "expected an object, got {}",
                crate::error::json_type(&other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(extra: Value, template: Value) -> Settings {
        let mut settings = json!({"template": template});
        if let (Some(base), Value::Object(extra)) = (settings.as_object_mut(), extra) {
            base.extend(extra);
        }
        Settings::validate(settings.to_string().as_bytes()).unwrap()
    }

    fn proxy_template() -> Value {
        json!({
            "initContainers": [{"name": "mesh-init", "image": "proxy:1", "args": ["redirect"]}],
            "containers": [{
                "name": "proxy", "image": "proxy:1", "args": ["--id", "{{ pod.metadata.name }}.{{ namespace }}"],
                "env": [{"name": "LEVEL", "value": "info"}, {"name": "MODE", "value": "sidecar"}],
                "volumeMounts": [{"name": "certs", "mountPath": "/certs"}],
                "ports": [{"containerPort": 15090, "name": "metrics"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
                "securityContext": {"runAsUser": 1337, "runAsNonRoot": true}
            }],
            "volumes": [{"name": "certs", "emptyDir": {"medium": "Memory"}}],
            "imagePullSecrets": [{"name": "mesh-registry"}],
            "labels": {"mesh": "on", "app": "not-the-pods"},
            "annotations": {"prometheus.io/port": "15090"}
        })
    }

    fn app_pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]}
        })
    }

    fn status(pod: &Value) -> Value {
        serde_json::from_str(pod["metadata"]["annotations"][STATUS_KEY].as_str().unwrap()).unwrap()
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn injects_every_part_of_the_template() {
        let settings = settings(json!({}), proxy_template());
        let pod = inject(app_pod(), &settings, "shop").unwrap();
        let hash = crate::revision::current(&settings);
        assert_eq!(
            pod,
            json!({
                "metadata": {
                    "name": "web-1",
                    "labels": {"app": "web", "mesh": "on"},
                    "annotations": {
                        "prometheus.io/port": "15090",
                        STATUS_KEY: format!(r#"{{"initContainers":["mesh-init"],"containers":["proxy"],"volumes":["certs"],"imagePullSecrets":["mesh-registry"],"labels":["mesh"],"annotations":["prometheus.io/port"],"revision":"default","hash":"{hash}"}}"#)
                    }
                },
                "spec": {
                    "containers": [
                        {"name": "app", "image": "web:1"},
                        {
                            "name": "proxy", "image": "proxy:1", "args": ["--id", "web-1.shop"],
                            "env": [{"name": "LEVEL", "value": "info"}, {"name": "MODE", "value": "sidecar"}],
                            "volumeMounts": [{"name": "certs", "mountPath": "/certs"}],
                            "ports": [{"containerPort": 15090, "name": "metrics"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
                            "securityContext": {"runAsUser": 1337, "runAsNonRoot": true}
                        }
                    ],
                    "initContainers": [{"name": "mesh-init", "image": "proxy:1", "args": ["redirect"]}],
                    "volumes": [{"name": "certs", "emptyDir": {"medium": "Memory"}}],
                    "imagePullSecrets": [{"name": "mesh-registry"}]
                }
            })
        );
        assert_eq!(hash.len(), 16);
    }

    #[test]
    fn template_init_containers_run_first_then_native_sidecars_then_the_pods() {
        let mut pod = app_pod();
        pod["spec"]["initContainers"] =
            json!([{"name": "migrate", "image": "db:1"}, {"name": "warm", "image": "w:1"}]);
        let settings = settings(json!({"nativeSidecars": true}), proxy_template());
        let injected = inject(pod, &settings, "shop").unwrap();
        assert_eq!(
            names(&injected["spec"]["initContainers"]),
            ["mesh-init", "proxy", "migrate", "warm"]
        );
        assert_eq!(names(&injected["spec"]["containers"]), ["app"]);
        assert_eq!(
            injected["spec"]["initContainers"][1]["restartPolicy"],
            "Always"
        );
        assert_eq!(
            injected["spec"]["initContainers"][0].get("restartPolicy"),
            None
        );
        let status = status(&injected);
        assert_eq!(status["initContainers"], json!(["mesh-init", "proxy"]));
        assert_eq!(status["containers"], json!([]));
    }

    #[test]
    fn without_native_sidecars_the_template_init_containers_still_come_first() {
        let mut pod = app_pod();
        pod["spec"]["initContainers"] = json!([{"name": "migrate", "image": "db:1"}]);
        let injected = inject(pod, &settings(json!({}), proxy_template()), "shop").unwrap();
        assert_eq!(
            names(&injected["spec"]["initContainers"]),
            ["mesh-init", "migrate"]
        );
        assert_eq!(names(&injected["spec"]["containers"]), ["app", "proxy"]);
    }

    #[test]
    fn hold_application_puts_the_sidecar_first() {
        let mut pod = app_pod();
        pod["spec"]["containers"] =
            json!([{"name": "app", "image": "a"}, {"name": "worker", "image": "w"}]);
        let settings = settings(
            json!({"holdApplicationUntilProxyStarts": true}),
            proxy_template(),
        );
        let injected = inject(pod, &settings, "shop").unwrap();
        assert_eq!(
            names(&injected["spec"]["containers"]),
            ["proxy", "app", "worker"]
        );
    }

    fn pod_with_annotations(annotations: Value) -> Value {
        let mut pod = pod_with_init_containers();
        pod["metadata"]["annotations"] = annotations;
        pod
    }

    #[test]
    fn a_pod_chooses_native_sidecars_for_itself() {
        let settings = settings(json!({}), proxy_template());
        let pod = pod_with_annotations(json!({crate::keys::NATIVE_SIDECAR_KEY: "true"}));
        let revision = crate::revision::for_pod(&settings, &pod).unwrap();
        let injected = inject(pod, &settings, "shop").unwrap();
        assert_eq!(
            names(&injected["spec"]["initContainers"]),
            ["mesh-init", "proxy", "migrate", "warm"]
        );
        assert_eq!(
            injected["spec"]["initContainers"][1]["restartPolicy"],
            "Always"
        );
        assert_eq!(names(&injected["spec"]["containers"]), ["app"]);
        // The Pod's choice is part of its revision: the stale report computes the same.
        assert_eq!(status(&injected)["hash"], revision);
        assert_ne!(revision, crate::revision::current(&settings));
        // Only the exact value counts.
        let pod = pod_with_annotations(json!({crate::keys::NATIVE_SIDECAR_KEY: "yes"}));
        let injected = inject(pod, &settings, "shop").unwrap();
        assert_eq!(names(&injected["spec"]["containers"]), ["app", "proxy"]);
        assert_eq!(
            status(&injected)["hash"],
            crate::revision::current(&settings)
        );
    }

    #[test]
    fn a_pod_refuses_native_sidecars_for_itself_and_its_sidecar_loses_the_restart_policy() {
        let mut template = proxy_template();
        template["containers"][0]["restartPolicy"] = json!("Always");
        let settings = settings(
            json!({"nativeSidecars": true, "networkInitContainers": ["mesh-init"]}),
            template,
        );
        let pod = pod_with_annotations(json!({crate::keys::NATIVE_SIDECAR_KEY: "false"}));
        let injected = inject(pod, &settings, "shop").unwrap();
        assert_eq!(names(&injected["spec"]["containers"]), ["app", "proxy"]);
        assert_eq!(injected["spec"]["containers"][1].get("restartPolicy"), None);
        // No proxy runs before the Pod's own init containers: the network is set up after them.
        assert_eq!(
            names(&injected["spec"]["initContainers"]),
            ["migrate", "warm", "mesh-init"]
        );
    }

    #[test]
    fn a_pods_proxy_config_holds_the_application_or_not() {
        let settings = settings(json!({}), proxy_template());
        let config =
            |text: &str| pod_with_annotations(json!({crate::keys::PROXY_CONFIG_KEY: text}));
        let injected = inject(
            config("holdApplicationUntilProxyStarts: true\n"),
            &settings,
            "shop",
        )
        .unwrap();
        assert_eq!(names(&injected["spec"]["containers"]), ["proxy", "app"]);
        let holding = settings_with_hold();
        let injected = inject(
            config(r#"{"holdApplicationUntilProxyStarts": false}"#),
            &holding,
            "shop",
        )
        .unwrap();
        assert_eq!(names(&injected["spec"]["containers"]), ["app", "proxy"]);
        let error = inject(
            config("holdApplicationUntilProxyStarts: 1"),
            &settings,
            "shop",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid admission request: request.object.metadata.annotations.proxy.istio.io/config: holdApplicationUntilProxyStarts: expected true or false, got \"1\""
        );
    }

    fn settings_with_hold() -> Settings {
        settings(
            json!({"holdApplicationUntilProxyStarts": true}),
            proxy_template(),
        )
    }

    #[test]
    fn names_the_pod_already_uses_stay_as_the_pod_has_them() {
        let mut pod = app_pod();
        pod["spec"]["volumes"] = json!([{"name": "certs", "secret": {"secretName": "mine"}}]);
        pod["spec"]["imagePullSecrets"] = json!([{"name": "mesh-registry"}, {"name": "own"}]);
        let mut template = proxy_template();
        template["volumes"] =
            json!([{"name": "certs", "emptyDir": {}}, {"name": "sds", "emptyDir": {}}]);
        let injected = inject(pod, &settings(json!({}), template), "shop").unwrap();
        // The injected ones before the Pod's own, as Istio puts them.
        assert_eq!(
            injected["spec"]["volumes"],
            json!([{"name": "sds", "emptyDir": {}}, {"name": "certs", "secret": {"secretName": "mine"}}])
        );
        assert_eq!(
            injected["spec"]["imagePullSecrets"],
            json!([{"name": "mesh-registry"}, {"name": "own"}])
        );
        let status = status(&injected);
        assert_eq!(status["volumes"], json!(["sds"]));
        assert_eq!(status["imagePullSecrets"], json!([]));
    }

    #[test]
    fn a_pod_container_named_like_the_sidecar_customizes_it() {
        let mut pod = app_pod();
        pod["spec"]["containers"] = json!([
            {"name": "proxy", "image": "proxy:debug",
             "env": [{"name": "LEVEL", "value": "debug"}, {"name": "EXTRA", "value": "1"}],
             "volumeMounts": [{"name": "certs", "mountPath": "/certs", "readOnly": true}, {"name": "data", "mountPath": "/data"}],
             "ports": [{"containerPort": 15090, "name": "stats"}, {"containerPort": 15021}],
             "resources": {"requests": {"cpu": "500m"}},
             "securityContext": {"runAsNonRoot": null}},
            {"name": "app", "image": "web:1"}
        ]);
        let injected = inject(pod, &settings(json!({}), proxy_template()), "shop").unwrap();
        // The Pod's copy left its place; the merged sidecar stands where the sidecar goes.
        assert_eq!(names(&injected["spec"]["containers"]), ["app", "proxy"]);
        assert_eq!(
            injected["spec"]["containers"][1],
            json!({
                "name": "proxy", "image": "proxy:debug", "args": ["--id", "web-1.shop"],
                "env": [{"name": "LEVEL", "value": "debug"}, {"name": "MODE", "value": "sidecar"}, {"name": "EXTRA", "value": "1"}],
                "volumeMounts": [{"name": "certs", "mountPath": "/certs", "readOnly": true}, {"name": "data", "mountPath": "/data"}],
                "ports": [{"containerPort": 15090, "name": "stats"}, {"containerPort": 15021}],
                "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
                "securityContext": {"runAsUser": 1337}
            })
        );
    }

    #[test]
    fn a_customization_is_recorded_as_istio_records_it_and_uninject_takes_the_record_out() {
        let mut pod = app_pod();
        pod["spec"]["containers"] = json!([
            {"name": "app", "image": "web:1"},
            {"name": "proxy", "image": "auto", "args": ["-c", "my.yaml"]}
        ]);
        pod["spec"]["initContainers"] = json!([{"name": "mesh-init", "image": "init:2"}]);
        let recorded = |settings: &Settings| {
            let injected = inject(pod.clone(), settings, "shop").unwrap();
            let annotations = &injected["metadata"]["annotations"];
            let status = status::Status::parse(annotations[STATUS_KEY].as_str().unwrap()).unwrap();
            assert!(status.annotations.contains(&OVERRIDES_KEY.to_string()));
            let mut back = injected.clone();
            crate::uninject::uninject(&mut back).unwrap();
            assert_eq!(
                back["metadata"]
                    .get("annotations")
                    .and_then(|a| a.get(OVERRIDES_KEY)),
                None
            );
            serde_json::from_str::<Value>(annotations[OVERRIDES_KEY].as_str().unwrap()).unwrap()
        };
        // The sidecar customized under the list it goes to; image: auto is no customization.
        assert_eq!(
            recorded(&settings(json!({}), proxy_template())),
            json!({"containers": [{"name": "proxy", "args": ["-c", "my.yaml"]}],
                   "initContainers": [{"name": "mesh-init", "image": "init:2"}]})
        );
        assert_eq!(
            recorded(&settings(json!({"nativeSidecars": true}), proxy_template())),
            json!({"initContainers": [{"name": "mesh-init", "image": "init:2"}, {"name": "proxy", "args": ["-c", "my.yaml"]}]})
        );
        // Nothing customized, nothing recorded.
        let injected = inject(app_pod(), &settings(json!({}), proxy_template()), "shop").unwrap();
        assert_eq!(injected["metadata"]["annotations"].get(OVERRIDES_KEY), None);
    }

    fn conflict(pod: Value, settings: &Settings) -> String {
        match inject(pod, settings, "shop") {
            Err(error @ RequestError::Conflict(_)) => {
                assert_eq!(error.code(), 400);
                error.to_string()
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn rendered_resources() -> Value {
        let mut template = proxy_template();
        template["containers"][0]["resources"] = json!({
            "requests": {"cpu": "{{ pod.metadata.annotations['proxyCPU'] | default('100m') }}"},
            "limits": {"cpu": "{{ pod.metadata.annotations['proxyCPULimit'] | default('2') }}"}
        });
        template
    }

    #[test]
    fn a_rendered_value_the_api_server_would_refuse_is_a_conflict_naming_its_template_string() {
        let settings = settings(json!({}), rendered_resources());
        let mut pod = app_pod();
        pod["metadata"]["annotations"] = json!({"proxyCPU": "lots"});
        assert_eq!(
            conflict(pod.clone(), &settings),
            "the sidecar cannot be injected into this Pod, because the API server would refuse the result: container proxy, resources.requests.cpu: \"lots\" is not a Kubernetes quantity (a number with an optional suffix, such as 100m, 1.5, 2Gi or 1e3); resources.requests.cpu is the template string \"{{ pod.metadata.annotations['proxyCPU'] | default('100m') }}\", rendered for this Pod"
        );
        pod["metadata"]["annotations"] = json!({"proxyCPULimit": "10m"});
        assert_eq!(
            conflict(pod.clone(), &settings),
            "the sidecar cannot be injected into this Pod, because the API server would refuse the result: container proxy, resources.requests.cpu: \"100m\" is more than resources.limits.cpu, \"10m\": a request may not exceed its limit; resources.requests.cpu is the template string \"{{ pod.metadata.annotations['proxyCPU'] | default('100m') }}\", rendered for this Pod; resources.limits.cpu is the template string \"{{ pod.metadata.annotations['proxyCPULimit'] | default('2') }}\", rendered for this Pod"
        );
        pod["metadata"]["annotations"] = json!({"proxyCPU": "1500m", "proxyCPULimit": "1.5"});
        assert!(inject(pod, &settings, "shop").is_ok());
    }

    /// Istio's typed template values: integers from annotations, fields left out when an
    /// annotation is absent, volumes parsed from an annotation's JSON.
    fn typed_template() -> Value {
        let mut template = proxy_template();
        let proxy = &mut template["containers"][0];
        proxy["readinessProbe"] = json!({
            "httpGet": {"path": "/ready", "port": 15021},
            "periodSeconds": "{{ pod.metadata.annotations['periodSeconds'] | default(15) }}",
            "failureThreshold": "{{ pod.metadata.annotations['failureThreshold'] | default(none) }}",
            "timeoutSeconds": 3
        });
        proxy["resources"] = json!({
            "requests": {"cpu": "100m"},
            "limits": {
                "cpu": "{{ pod.metadata.annotations['proxyCPULimit'] | default(none) }}",
                "memory": "{{ pod.metadata.annotations['proxyMemoryLimit'] | default(none) }}"
            }
        });
        proxy["volumeMounts"] = json!([
            "{{ pod.metadata.annotations['userVolumeMount'] | fromjson | named_list }}",
            {"name": "certs", "mountPath": "/certs"}
        ]);
        template["volumes"] = json!([
            {"name": "certs", "emptyDir": {}},
            "{{ pod.metadata.annotations['userVolume'] | fromjson | named_list }}"
        ]);
        template
    }

    #[test]
    fn typed_template_values_give_numbers_nothing_and_parsed_json() {
        let settings = settings(json!({}), typed_template());
        let injected = inject(app_pod(), &settings, "shop").unwrap();
        let proxy = &injected["spec"]["containers"][1];
        assert_eq!(
            proxy["readinessProbe"],
            json!({"httpGet": {"path": "/ready", "port": 15021}, "periodSeconds": 15, "timeoutSeconds": 3})
        );
        assert_eq!(
            proxy["resources"],
            // Every limit left out: `limits` is left out too.
            json!({"requests": {"cpu": "100m"}})
        );
        assert_eq!(
            proxy["volumeMounts"],
            json!([{"name": "certs", "mountPath": "/certs"}])
        );
        assert_eq!(
            injected["spec"]["volumes"],
            json!([{"name": "certs", "emptyDir": {}}])
        );

        let mut pod = app_pod();
        pod["metadata"]["annotations"] = json!({
            "periodSeconds": "20", "failureThreshold": "4", "proxyMemoryLimit": "1Gi",
            "userVolume": r#"{"data": {"emptyDir": {"medium": "Memory"}}, "cache": {"emptyDir": {}}}"#,
            "userVolumeMount": r#"{"data": {"mountPath": "/data", "readOnly": true}}"#
        });
        let injected = inject(pod, &settings, "shop").unwrap();
        let proxy = &injected["spec"]["containers"][1];
        assert_eq!(proxy["readinessProbe"]["periodSeconds"], json!(20));
        assert_eq!(proxy["readinessProbe"]["failureThreshold"], json!(4));
        assert_eq!(proxy["resources"]["limits"], json!({"memory": "1Gi"}));
        assert_eq!(
            proxy["volumeMounts"],
            json!([{"name": "data", "mountPath": "/data", "readOnly": true}, {"name": "certs", "mountPath": "/certs"}])
        );
        assert_eq!(
            injected["spec"]["volumes"],
            json!([{"name": "certs", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}, {"name": "data", "emptyDir": {"medium": "Memory"}}])
        );
        let status = status::Status::parse(
            injected["metadata"]["annotations"][STATUS_KEY]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(status.volumes, ["certs", "cache", "data"]);
    }

    #[test]
    fn values_left_out_leave_valid_json_wherever_they_are() {
        let mut template = proxy_template();
        let proxy = &mut template["containers"][0];
        proxy["env"] = json!(["{{ none }}", {"name": "A", "value": "1"}, "{{ none }}"]);
        proxy["securityContext"] =
            json!({"runAsUser": "{{ none }}", "runAsGroup": 1, "privileged": "{{ none }}"});
        proxy["args"] = json!(["a", "{{ ['b', 'c'] }}", "{{ [] }}", "d", "{{ none }}"]);
        proxy["workingDir"] = json!("{{ none }}");
        let settings = settings(json!({}), template);
        let injected = inject(app_pod(), &settings, "shop").unwrap();
        let proxy = &injected["spec"]["containers"][1];
        assert_eq!(proxy["env"], json!([{"name": "A", "value": "1"}]));
        assert_eq!(proxy["securityContext"], json!({"runAsGroup": 1}));
        assert_eq!(proxy["args"], json!(["a", "b", "c", "d"]));
        assert_eq!(proxy.get("workingDir"), None);
    }

    #[rstest::rstest]
    #[case::not_an_integer(json!({"periodSeconds": "often"}), 400,
        "the sidecar cannot be injected into this Pod, because the API server would refuse the result: template.containers[0].readinessProbe.periodSeconds: expected a 32-bit integer, got the string \"often\"; the template string \"{{ pod.metadata.annotations['periodSeconds'] | default(15) }}\" gave it for this Pod")]
    #[case::not_json(json!({"userVolume": "{data"}), 500,
        "the sidecar template could not be rendered for this Pod: template.volumes[1]: invalid operation: fromjson: \"{data\" is not JSON: key must be a string at line 1 column 2 (in <expression>:1)")]
    #[case::not_a_volume(json!({"userVolume": r#"{"data": {"hostPath": {"path": 7}}}"#}), 400,
        "the sidecar cannot be injected into this Pod, because the API server would refuse the result: template.volumes[1]: [0].hostPath.path: expected a string, got the number 7; the template string \"{{ pod.metadata.annotations['userVolume'] | fromjson | named_list }}\" gave it for this Pod")]
    #[case::not_objects(json!({"userVolumeMount": r#"{"data": "/data"}"#}), 500,
        "the sidecar template could not be rendered for this Pod: template.containers[0].volumeMounts[0]: invalid operation: named_list reads an object of objects; \"data\" is not an object (in <expression>:1)")]
    fn typed_template_values_of_the_wrong_type_are_refused_naming_the_field(
        #[case] annotations: Value,
        #[case] code: u16,
        #[case] message: &str,
    ) {
        let settings = settings(json!({}), typed_template());
        let mut pod = app_pod();
        pod["metadata"]["annotations"] = annotations;
        let error = inject(pod, &settings, "shop").unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(error.code(), code);
    }

    #[test]
    fn a_customization_the_api_server_would_refuse_is_a_conflict_naming_the_pods_container() {
        let settings = settings(json!({}), proxy_template());
        let mut pod = app_pod();
        pod["spec"]["containers"] = json!([{"name": "app", "image": "web:1"},
            {"name": "proxy", "image": "proxy:1", "resources": {"limits": {"memory": "64Mi"}}}]);
        assert_eq!(
            conflict(pod.clone(), &settings),
            "the sidecar cannot be injected into this Pod, because the API server would refuse the result: container proxy, resources.requests.memory: \"128Mi\" is more than resources.limits.memory, \"64Mi\": a request may not exceed its limit; the Pod's own container proxy sets resources, which customizes the template's"
        );
        pod["spec"]["containers"][1] = json!({"name": "proxy", "image": "proxy:1",
            "ports": [{"containerPort": 15091, "name": "metrics"}]});
        assert_eq!(
            conflict(pod, &settings),
            "the sidecar cannot be injected into this Pod, because the API server would refuse the result: container proxy, ports[1].name: \"metrics\" names another port of this container too; the Pod's own container proxy sets ports, which customizes the template's"
        );
    }

    #[test]
    fn a_windows_pod_refuses_the_linux_sidecar_and_says_how_to_opt_out() {
        let settings = settings(json!({}), proxy_template());
        let mut pod = app_pod();
        pod["spec"]["os"] = json!({"name": "windows"});
        assert_eq!(
            conflict(pod.clone(), &settings),
            "the sidecar cannot be injected into this Pod, because the API server would refuse the result: container proxy, securityContext.runAsUser: is set, and Kubernetes refuses it in a Pod whose spec.os.name is windows; the sidecar's container proxy runs on Linux; to create this Pod without the sidecar, give it the label sidecar.istio.io/inject: \"false\""
        );
        pod["spec"]["os"] = json!({"name": "linux"});
        assert!(inject(pod, &settings, "shop").is_ok());
    }

    #[test]
    fn a_rendered_label_that_is_not_a_label_value_is_a_conflict() {
        let mut template = proxy_template();
        template["labels"] = json!({"workload": "{{ pod.metadata.generateName }}"});
        let settings = settings(json!({}), template);
        let mut pod = app_pod();
        pod["metadata"]["generateName"] = json!("web-7c9d8b5f4-");
        assert_eq!(
            conflict(pod, &settings),
            "the sidecar cannot be injected into this Pod, because the API server would refuse the result: label workload: \"web-7c9d8b5f4-\" is not a label value: it must begin and end with a letter or digit, with only letters, digits, '-', '_' and '.' between; the template's value is a template string, rendered for this Pod"
        );
    }

    #[test]
    fn image_auto_keeps_the_templates_image() {
        let mut pod = app_pod();
        pod["spec"]["containers"] = json!([{"name": "app", "image": "web:1"},
            {"name": "proxy", "image": "auto", "env": [{"name": "LEVEL", "value": "debug"}]}]);
        pod["spec"]["initContainers"] =
            json!([{"name": "mesh-init", "image": "auto", "args": ["other"]}]);
        let injected = inject(pod, &settings(json!({}), proxy_template()), "shop").unwrap();
        assert_eq!(injected["spec"]["containers"][1]["name"], "proxy");
        assert_eq!(injected["spec"]["containers"][1]["image"], "proxy:1");
        assert_eq!(
            injected["spec"]["containers"][1]["env"],
            json!([{"name": "LEVEL", "value": "debug"}, {"name": "MODE", "value": "sidecar"}])
        );
        assert_eq!(injected["spec"]["initContainers"][0]["image"], "proxy:1");
        assert_eq!(
            injected["spec"]["initContainers"][0]["args"],
            json!(["other"])
        );
        // Any other image is the Pod's.
        let mut pod = app_pod();
        pod["spec"]["containers"] =
            json!([{"name": "proxy", "image": "Auto"}, {"name": "app", "image": "web:1"}]);
        let injected = inject(pod, &settings(json!({}), proxy_template()), "shop").unwrap();
        assert_eq!(injected["spec"]["containers"][1]["image"], "Auto");
    }

    #[test]
    fn customization_is_found_among_init_containers_too() {
        let mut pod = app_pod();
        pod["spec"]["initContainers"] = json!([{"name": "mesh-init", "image": "proxy:debug"}, {"name": "migrate", "image": "db"}]);
        let injected = inject(pod, &settings(json!({}), proxy_template()), "shop").unwrap();
        assert_eq!(
            injected["spec"]["initContainers"],
            json!([{"name": "mesh-init", "image": "proxy:debug", "args": ["redirect"]}, {"name": "migrate", "image": "db"}])
        );
    }

    #[test]
    fn a_native_sidecar_customized_in_the_pods_containers_moves_to_init_containers() {
        let mut pod = app_pod();
        pod["spec"]["containers"] =
            json!([{"name": "app", "image": "web:1"}, {"name": "proxy", "image": "proxy:debug"}]);
        let injected = inject(
            pod,
            &settings(json!({"nativeSidecars": true}), proxy_template()),
            "shop",
        )
        .unwrap();
        assert_eq!(names(&injected["spec"]["containers"]), ["app"]);
        assert_eq!(
            names(&injected["spec"]["initContainers"]),
            ["mesh-init", "proxy"]
        );
        assert_eq!(
            injected["spec"]["initContainers"][1]["image"],
            "proxy:debug"
        );
        assert_eq!(
            injected["spec"]["initContainers"][1]["restartPolicy"],
            "Always"
        );
    }

    #[test]
    fn labels_and_annotations_never_overwrite_the_pods() {
        let mut pod = app_pod();
        pod["metadata"]["annotations"] = json!({"prometheus.io/port": "9090"});
        let injected = inject(pod, &settings(json!({}), proxy_template()), "shop").unwrap();
        assert_eq!(
            injected["metadata"]["labels"],
            json!({"app": "web", "mesh": "on"})
        );
        assert_eq!(
            injected["metadata"]["annotations"]["prometheus.io/port"],
            "9090"
        );
    }

    #[test]
    fn template_strings_see_the_pod_and_the_requests_namespace() {
        let mut template = proxy_template();
        template["containers"][0]["resources"]["requests"]["cpu"] =
            json!("{{ pod.metadata.annotations['sidecar.istio.io/proxyCPU'] | default('100m') }}");
        template["labels"] = json!({"service.istio.io/canonical-name": "{{ pod.metadata.labels['app'] | default(pod.metadata.name) }}"});
        let settings = settings(json!({}), template);

        let injected = inject(app_pod(), &settings, "shop").unwrap();
        assert_eq!(
            injected["spec"]["containers"][1]["resources"]["requests"]["cpu"],
            "100m"
        );
        assert_eq!(
            injected["metadata"]["labels"]["service.istio.io/canonical-name"],
            "web"
        );

        let mut pod = app_pod();
        pod["metadata"]["annotations"] = json!({"sidecar.istio.io/proxyCPU": "2"});
        pod["metadata"]["namespace"] = json!("ignored-in-favour-of-the-request");
        let injected = inject(pod, &settings, "shop").unwrap();
        assert_eq!(
            injected["spec"]["containers"][1]["resources"]["requests"]["cpu"],
            "2"
        );
        assert_eq!(
            injected["spec"]["containers"][1]["args"],
            json!(["--id", "web-1.shop"])
        );
    }

    #[test]
    fn an_annotation_cannot_inject_structure() {
        let mut template = proxy_template();
        template["containers"][0]["args"] = json!(["--cpu={{ pod.metadata.annotations.cpu }}"]);
        let mut pod = app_pod();
        let evil = "1\"]\n  privileged: true\n  command: [\"sh\", \"-c\", \"{{ 7*7 }}";
        pod["metadata"]["annotations"] = json!({"cpu": evil});
        let injected = inject(pod, &settings(json!({}), template), "shop").unwrap();
        let sidecar = &injected["spec"]["containers"][1];
        assert_eq!(sidecar["args"], json!([format!("--cpu={evil}")]));
        assert_eq!(sidecar.get("privileged"), None);
        assert_eq!(sidecar.get("command"), None);
    }

    #[test]
    fn template_strings_written_with_escapes_are_rendered_and_escaped_again() {
        let settings = Settings::validate(
            br#"{"template": {"containers": [{"name": "p", "image": "i",
                "args": ["\u007b{ pod.metadata.name }}", "\"{{ namespace }}\"", "{ \"plain\" }"]}]}}"#,
        )
        .unwrap();
        let pod = inject(app_pod(), &settings, "shop").unwrap();
        assert_eq!(
            pod["spec"]["containers"][1]["args"],
            json!(["web-1", "\"shop\"", "{ \"plain\" }"])
        );
    }

    #[test]
    fn the_revision_follows_the_template() {
        let one = settings(json!({}), proxy_template());
        let same = settings(json!({}), proxy_template());
        let native = settings(json!({"nativeSidecars": true}), proxy_template());
        let mut other = proxy_template();
        other["containers"][0]["image"] = json!("proxy:2");
        let other = settings(json!({}), other);
        let revision = |settings: &Settings| crate::revision::current(settings);
        assert_eq!(revision(&one), revision(&same));
        assert_ne!(revision(&one), revision(&native));
        assert_ne!(revision(&one), revision(&other));
        let injected = inject(app_pod(), &one, "shop").unwrap();
        assert_eq!(status(&injected)["hash"], revision(&one));
    }

    #[test]
    fn the_status_names_the_revision_which_is_no_part_of_the_hash() {
        let default = settings(json!({}), proxy_template());
        let canary = settings(json!({"revision": "canary"}), proxy_template());
        assert_eq!(
            crate::revision::current(&default),
            crate::revision::current(&canary)
        );
        for (settings, name) in [(&default, "default"), (&canary, "canary")] {
            let injected = status(&inject(app_pod(), settings, "shop").unwrap());
            assert_eq!(injected["revision"], name);
            assert_eq!(injected["hash"], crate::revision::current(settings));
        }
    }

    #[test]
    fn fields_unknown_to_kubernetes_survive_in_value_and_order() {
        let original: Value =
            serde_json::from_str(include_str!("../test_data/pod-with-future-fields.json")).unwrap();
        let injected = inject(
            original.clone(),
            &settings(json!({}), proxy_template()),
            "shop",
        )
        .unwrap();
        assert_eq!(injected["futureTopLevel"], original["futureTopLevel"]);
        assert_eq!(
            injected["metadata"]["futureMetadataField"],
            original["metadata"]["futureMetadataField"]
        );
        assert_eq!(
            injected["spec"]["futureField"],
            original["spec"]["futureField"]
        );
        assert_eq!(
            injected["spec"]["containers"][0],
            original["spec"]["containers"][0]
        );
        assert_eq!(
            injected["spec"]["securityContext"],
            original["spec"]["securityContext"]
        );
        let keys = |value: &Value| {
            value
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        // The Pod's own keys keep their order; injected keys come after them.
        assert_eq!(keys(&injected)[..], keys(&original)[..]);
        assert_eq!(
            keys(&injected["spec"])[..keys(&original["spec"]).len()],
            keys(&original["spec"])[..]
        );
    }

    #[test]
    fn the_only_differences_are_the_injected_parts() {
        let original: Value =
            serde_json::from_str(include_str!("../test_data/pod-with-future-fields.json")).unwrap();
        let injected = inject(
            original.clone(),
            &settings(json!({}), proxy_template()),
            "shop",
        )
        .unwrap();
        let patch = json_patch::diff(&original, &injected);
        let mut operations: Vec<String> = serde_json::to_value(&patch)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|op| {
                format!(
                    "{} {}",
                    op["op"].as_str().unwrap(),
                    op["path"].as_str().unwrap()
                )
            })
            .collect();
        operations.sort();
        assert_eq!(
            operations,
            [
                "add /metadata/annotations/prometheus.io~1port",
                "add /metadata/annotations/sidecar.istio.io~1status",
                "add /metadata/labels/mesh",
                "add /spec/containers/1",
                "add /spec/imagePullSecrets",
                "add /spec/initContainers",
                "add /spec/volumes",
            ]
        );
    }

    #[test]
    fn malformed_pods_are_refused_with_the_field() {
        let settings = settings(json!({}), proxy_template());
        let cases = [
            (json!({"metadata": {}}), "request.object.spec: missing"),
            (
                json!({"spec": []}),
                "request.object.spec: expected an object, got an array",
            ),
            (
                json!({"spec": {"containers": {"name": "app"}}}),
                "request.object.spec.containers: expected an array, got an object",
            ),
            (
                json!({"spec": {"containers": [{"image": "x"}]}}),
                "request.object.spec.containers[0].name: missing",
            ),
            (
                json!({"spec": {"containers": [{"name": "a"}], "initContainers": ["x"]}}),
                "request.object.spec.initContainers[0]: expected an object, got a string",
            ),
            (
                json!({"spec": {"containers": [{"name": 7}]}}),
                "request.object.spec.containers[0].name: expected a string, got a number",
            ),
            (
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}}),
                "request.object.spec.containers[2].name: \"a\" is the name of another container of the Pod",
            ),
            (
                json!({"spec": {"containers": [{"name": "a"}], "initContainers": [{"name": "a"}]}}),
                "request.object.spec.initContainers[0].name: \"a\" is the name of another container of the Pod",
            ),
            (
                json!({"spec": {"containers": [], "volumes": 3}}),
                "request.object.spec.volumes: expected an array, got a number",
            ),
            (
                json!({"metadata": {"labels": "x"}, "spec": {"containers": []}}),
                "request.object.metadata.labels: expected an object, got a string",
            ),
        ];
        for (pod, message) in cases {
            let error = inject(pod, &settings, "shop").unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid admission request: {message}")
            );
        }
    }

    fn named(defaults: &[&str]) -> Settings {
        Settings::validate(
            json!({
                "templates": {
                    "sidecar": {
                        "containers": [{"name": "proxy", "image": "proxy:1", "args": ["--id", "{{ pod.metadata.name }}"],
                            "env": [{"name": "LEVEL", "value": "info"}]}],
                        "volumes": [{"name": "certs", "emptyDir": {}}],
                        "labels": {"mesh": "on"}
                    },
                    "debug": {
                        "containers": [{"name": "proxy", "image": "proxy:debug", "env": [{"name": "LEVEL", "value": "debug"}]},
                            {"name": "shell", "image": "busybox"}],
                        "volumes": [{"name": "certs", "emptyDir": {"medium": "Memory"}}],
                        "labels": {"mesh": "debug", "debug": "on"}
                    }
                },
                "defaultTemplates": defaults
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn choosing(templates: &str) -> Value {
        let mut pod = app_pod();
        pod["metadata"]["annotations"] = json!({"inject.istio.io/templates": templates});
        pod
    }

    #[test]
    fn named_templates_apply_the_defaults_and_say_which() {
        let settings = named(&["sidecar"]);
        let pod = inject(app_pod(), &settings, "shop").unwrap();
        assert_eq!(names(&pod["spec"]["containers"]), ["app", "proxy"]);
        assert_eq!(
            pod["spec"]["containers"][1]["args"],
            json!(["--id", "web-1"])
        );
        let status = status(&pod);
        assert_eq!(status["templates"], json!(["sidecar"]));
        assert_eq!(
            status["hash"],
            crate::revision::for_pod(&settings, &app_pod()).unwrap()
        );
    }

    #[test]
    fn a_later_template_customizes_an_earlier_one_and_replaces_its_objects() {
        let settings = named(&["sidecar"]);
        let pod = inject(choosing("sidecar, debug"), &settings, "shop").unwrap();
        assert_eq!(names(&pod["spec"]["containers"]), ["app", "proxy", "shell"]);
        let proxy = &pod["spec"]["containers"][1];
        assert_eq!(proxy["image"], "proxy:debug");
        assert_eq!(proxy["args"], json!(["--id", "web-1"]));
        assert_eq!(proxy["env"], json!([{"name": "LEVEL", "value": "debug"}]));
        assert_eq!(
            pod["spec"]["volumes"],
            json!([{"name": "certs", "emptyDir": {"medium": "Memory"}}])
        );
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"app": "web", "mesh": "debug", "debug": "on"})
        );
        assert_eq!(status(&pod)["templates"], json!(["sidecar", "debug"]));
        assert_eq!(status(&pod)["containers"], json!(["proxy", "shell"]));
    }

    #[test]
    fn the_revision_covers_exactly_the_templates_applied_in_their_order() {
        let settings = named(&["sidecar"]);
        let revisions: Vec<String> = [
            "sidecar",
            "sidecar,debug",
            "debug,sidecar",
            "debug",
            " sidecar , debug ",
        ]
        .iter()
        .map(|chosen| {
            let pod = choosing(chosen);
            let injected = inject(pod.clone(), &settings, "shop").unwrap();
            let revision = status(&injected)["hash"].as_str().unwrap().to_string();
            assert_eq!(
                revision,
                crate::revision::for_pod(&settings, &pod).unwrap(),
                "{chosen}"
            );
            revision
        })
        .collect();
        assert_eq!(revisions[1], revisions[4]);
        for (i, a) in revisions[..4].iter().enumerate() {
            for b in &revisions[i + 1..4] {
                assert_ne!(a, b);
            }
        }
        // The one `template` keeps its revision: the form of the named ones is another.
        let one =
            settings_with_template(json!({"containers": [{"name": "proxy", "image": "proxy:1"}]}));
        assert_ne!(crate::revision::current(&one), revisions[0]);
    }

    fn settings_with_template(template: Value) -> Settings {
        Settings::validate(json!({"template": template}).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_template_the_policy_does_not_have_is_refused_naming_those_it_has() {
        let error = inject(choosing("sidecar,tracing"), &named(&["sidecar"]), "shop").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid admission request: request.object.metadata.annotations.inject.istio.io/templates: no template named \"tracing\"; the policy has debug, sidecar"
        );
        assert_eq!(error.code(), 400);
    }

    #[test]
    fn with_one_template_the_choice_annotation_does_not_count() {
        let settings =
            settings_with_template(json!({"containers": [{"name": "proxy", "image": "proxy:1"}]}));
        let pod = inject(choosing("debug"), &settings, "shop").unwrap();
        assert_eq!(names(&pod["spec"]["containers"]), ["app", "proxy"]);
        assert_eq!(status(&pod).get("templates"), None);
    }

    #[test]
    fn a_template_that_fails_for_this_pod_is_an_error_naming_the_string() {
        let mut template = proxy_template();
        template["annotations"] = json!({"x": "{{ pod.metadata.name | int }}"});
        let error = inject(app_pod(), &settings(json!({}), template), "shop").unwrap_err();
        assert!(
            error.to_string().starts_with(
                "the sidecar template could not be rendered for this Pod: template.annotations.x: "
            ),
            "{error}"
        );
        assert_eq!(error.code(), 500);
    }

    // Probe rewriting.

    fn rewriting(extra: Value) -> Settings {
        let mut base = json!({"probeRewrite": {"container": "proxy", "statusPort": 15020}});
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        settings(base, proxy_template())
    }

    fn probed_pod(annotations: Value) -> Value {
        json!({
            "metadata": {"name": "web-1", "annotations": annotations},
            "spec": {"containers": [{
                "name": "web", "image": "web:1",
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTPS"}, "periodSeconds": 5, "timeoutSeconds": 2},
                "livenessProbe": {"tcpSocket": {"port": 8081}, "failureThreshold": 3},
                "startupProbe": {"exec": {"command": ["true"]}}
            }, {
                "name": "worker", "image": "worker:1",
                "livenessProbe": {"grpc": {"port": 9090}}
            }]}
        })
    }

    #[test]
    fn probes_are_rewritten_to_the_status_port_and_the_originals_go_to_the_agent() {
        let pod = inject(probed_pod(json!({})), &rewriting(json!({})), "shop").unwrap();
        let web = &pod["spec"]["containers"][0];
        assert_eq!(
            web["readinessProbe"],
            json!({"httpGet": {"path": "/app-health/web/readyz", "port": 15020, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 2})
        );
        assert_eq!(
            web["livenessProbe"],
            json!({"httpGet": {"path": "/app-health/web/livez", "port": 15020}, "failureThreshold": 3})
        );
        assert_eq!(
            web["startupProbe"],
            json!({"exec": {"command": ["true"]}}),
            "exec stays"
        );
        assert_eq!(
            pod["spec"]["containers"][1]["livenessProbe"],
            json!({"httpGet": {"path": "/app-health/worker/livez", "port": 15020}})
        );
        let proxy = &pod["spec"]["containers"][2];
        assert_eq!(proxy["name"], "proxy");
        let env = proxy["env"].as_array().unwrap();
        assert_eq!(env.len(), 3, "the template's two variables and the probes");
        assert_eq!(env[2]["name"], probes::DEFAULT_ENV);
        assert_eq!(
            env[2]["value"],
            r#"{"/app-health/web/livez":{"tcpSocket":{"port":8081}},"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8080,"scheme":"HTTPS"},"timeoutSeconds":2},"/app-health/worker/livez":{"grpc":{"port":9090,"service":null}}}"#
        );
        assert_eq!(
            status(&pod)["probes"],
            json!({"container": "proxy", "env": "ISTIO_KUBE_APP_PROBERS", "statusPort": 15020,
                "rewritten": ["/app-health/web/livez", "/app-health/web/readyz", "/app-health/worker/livez"],
                "portNames": {"/app-health/web/readyz": "http"}})
        );
    }

    #[test]
    fn the_pod_turns_the_rewrite_off_or_moves_the_port() {
        let settings = rewriting(json!({}));
        for off in [
            json!({"sidecar.istio.io/rewriteAppHTTPProbers": "false"}),
            json!({"status.sidecar.istio.io/port": "0"}),
        ] {
            let pod = inject(probed_pod(off.clone()), &settings, "shop").unwrap();
            assert_eq!(
                pod["spec"]["containers"][0]["readinessProbe"],
                probed_pod(json!({}))["spec"]["containers"][0]["readinessProbe"],
                "{off}"
            );
            assert_eq!(
                pod["spec"]["containers"][2]["env"]
                    .as_array()
                    .unwrap()
                    .len(),
                2
            );
            assert_eq!(status(&pod).get("probes"), None, "{off}");
        }
        let moved = json!({"status.sidecar.istio.io/port": "15021"});
        let pod = inject(probed_pod(moved), &settings, "shop").unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"],
            15021
        );
        assert_eq!(status(&pod)["probes"]["statusPort"], 15021);

        let error = inject(
            probed_pod(json!({"status.sidecar.istio.io/port": "http"})),
            &settings,
            "shop",
        )
        .unwrap_err();
        assert_eq!(error.code(), 400);
        assert_eq!(
            error.to_string(),
            "invalid admission request: request.object.metadata.annotations.status.sidecar.istio.io/port: expected a port number from 1 to 65535, or \"0\" to leave the probes as they are; got \"http\""
        );
    }

    #[test]
    fn without_probes_to_rewrite_nothing_is_added() {
        let pod = inject(app_pod(), &rewriting(json!({})), "shop").unwrap();
        assert_eq!(
            pod["spec"]["containers"][1]["env"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(status(&pod).get("probes"), None);
    }

    #[test]
    fn native_sidecars_get_the_originals_too_and_a_variable_so_named_is_replaced() {
        let mut template = proxy_template();
        template["containers"][0]["env"][1] =
            json!({"name": "ISTIO_KUBE_APP_PROBERS", "value": "{}"});
        let settings = settings(
            json!({"nativeSidecars": true, "probeRewrite": {"container": "proxy", "statusPort": 15020}}),
            template,
        );
        let pod = inject(probed_pod(json!({})), &settings, "shop").unwrap();
        let proxy = &pod["spec"]["initContainers"][1];
        assert_eq!(proxy["name"], "proxy");
        assert_eq!(proxy["env"].as_array().unwrap().len(), 2);
        assert_eq!(proxy["env"][1]["name"], "ISTIO_KUBE_APP_PROBERS");
        assert!(
            proxy["env"][1]["value"]
                .as_str()
                .unwrap()
                .contains("/app-health/web/readyz")
        );
    }

    #[test]
    fn a_pod_that_does_not_get_the_agents_template_keeps_its_probes() {
        let settings = Settings::validate(
            json!({
                "templates": {
                    "sidecar": {"containers": [{"name": "proxy", "image": "proxy:1"}]},
                    "debug": {"containers": [{"name": "shell", "image": "shell:1"}]}
                },
                "defaultTemplates": ["sidecar"],
                "probeRewrite": {"container": "proxy", "statusPort": 15020}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let pod = inject(
            probed_pod(json!({"inject.istio.io/templates": "debug"})),
            &settings,
            "shop",
        )
        .unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
            "/ready"
        );
        let pod = inject(probed_pod(json!({})), &settings, "shop").unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
            "/app-health/web/readyz"
        );
    }

    fn merging(extra: Value) -> Settings {
        let mut base = json!({"prometheusMerge": {"container": "proxy", "port": 15020}});
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        settings(base, proxy_template())
    }

    fn scraped_pod(annotations: Value) -> Value {
        json!({
            "metadata": {"name": "web-1", "annotations": annotations},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]}
        })
    }

    #[test]
    fn the_metrics_merge_points_the_pods_annotations_at_the_agent() {
        let pod = inject(
            scraped_pod(
                json!({"own": "1", "prometheus.io/port": "8080", "prometheus.io/scrape": "true"}),
            ),
            &merging(json!({})),
            "shop",
        )
        .unwrap();
        let annotations = &pod["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/port"], "15020");
        assert_eq!(annotations["prometheus.io/path"], "/stats/prometheus");
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["own"], "1");
        let proxy = &pod["spec"]["containers"][1];
        assert_eq!(proxy["name"], "proxy");
        assert_eq!(
            proxy["env"][2],
            json!({"name": "ISTIO_PROMETHEUS_ANNOTATIONS",
                   "value": r#"{"scrape":"true","path":"","port":"8080"}"#})
        );
        let status = status(&pod);
        assert_eq!(
            status["metrics"],
            json!({"container": "proxy", "env": "ISTIO_PROMETHEUS_ANNOTATIONS",
                   "replaced": {"prometheus.io/port": "8080", "prometheus.io/scrape": "true"}})
        );
        // The path was added; the template's own prometheus.io/port gave way to the Pod's, then
        // to the agent's, and so was not added.
        assert_eq!(status["annotations"], json!(["prometheus.io/path"]));
    }

    #[test]
    fn the_metrics_env_comes_before_the_probes_as_in_istio() {
        let settings = settings(
            json!({"probeRewrite": {"container": "proxy", "statusPort": 15020},
                   "prometheusMerge": {"container": "proxy", "port": 15020}}),
            proxy_template(),
        );
        let pod = inject(
            probed_pod(json!({"prometheus.io/port": "8080"})),
            &settings,
            "shop",
        )
        .unwrap();
        let env = names(&pod["spec"]["containers"][2]["env"]);
        assert_eq!(
            env,
            [
                "LEVEL",
                "MODE",
                "ISTIO_PROMETHEUS_ANNOTATIONS",
                "ISTIO_KUBE_APP_PROBERS"
            ]
        );
    }

    #[test]
    fn a_pod_that_refuses_scraping_or_the_merge_keeps_its_annotations() {
        for annotations in [
            json!({"prometheus.io/port": "8080", "prometheus.io/scrape": "false"}),
            json!({"prometheus.io/port": "8080", "prometheus.istio.io/merge-metrics": "false"}),
        ] {
            let pod = inject(
                scraped_pod(annotations.clone()),
                &merging(json!({})),
                "shop",
            )
            .unwrap();
            assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], "8080");
            assert_eq!(status(&pod).get("metrics"), None);
            assert_eq!(
                names(&pod["spec"]["containers"][1]["env"]),
                ["LEVEL", "MODE"]
            );
        }
    }

    #[test]
    fn without_the_agents_template_there_is_no_merge() {
        let settings = Settings::validate(
            json!({
                "templates": {
                    "sidecar": {"containers": [{"name": "proxy", "image": "proxy:1"}]},
                    "debug": {"containers": [{"name": "shell", "image": "shell:1"}]}
                },
                "defaultTemplates": ["sidecar"],
                "prometheusMerge": {"container": "proxy", "port": 15020}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let annotations =
            json!({"prometheus.io/port": "8080", "inject.istio.io/templates": "debug"});
        let pod = inject(scraped_pod(annotations), &settings, "shop").unwrap();
        assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], "8080");
        let pod = inject(
            scraped_pod(json!({"prometheus.io/port": "8080"})),
            &settings,
            "shop",
        )
        .unwrap();
        assert_eq!(
            pod["metadata"]["annotations"]["prometheus.io/port"],
            "15020"
        );
    }

    #[test]
    fn uninject_gives_back_the_annotations_the_merge_replaced() {
        let submitted = scraped_pod(
            json!({"prometheus-io/port": "8080", "prometheus.io/path": "/m", "own": "1"}),
        );
        let pod = inject(submitted.clone(), &merging(json!({})), "shop").unwrap();
        assert!(
            pod["metadata"]["annotations"]
                .get("prometheus-io/port")
                .is_none()
        );
        let mut back = pod.clone();
        crate::uninject::uninject(&mut back).unwrap();
        assert_eq!(back, submitted);
    }

    #[test]
    fn template_strings_see_the_pods_workload() {
        let template = json!({"containers": [{"name": "proxy", "image": "proxy:1", "env": [
            {"name": "OWNER", "value": "{{ workload.apiVersion }}/{{ workload.kind }}/{{ workload.namespace }}/{{ workload.name }}"}]}]});
        let settings = settings(json!({}), template);
        let owner = |pod: &Value| pod["spec"]["containers"][1]["env"][0]["value"].clone();
        let replicated = json!({
            "metadata": {"generateName": "web-7c9d8b5f4-", "labels": {"pod-template-hash": "7c9d8b5f4"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c9d8b5f4", "controller": true}]},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]}
        });
        let pod = inject(replicated.clone(), &settings, "shop").unwrap();
        assert_eq!(owner(&pod), "apps/v1/Deployment/shop/web");
        let pod = inject(app_pod(), &settings, "shop").unwrap();
        assert_eq!(owner(&pod), "v1/Pod/shop/web-1");
        // A workload the caller knows (the CLI's manifest) is used as it is.
        let workload = Workload {
            name: "nightly".into(),
            namespace: "ops".into(),
            kind: "CronJob".into(),
            api_version: "batch/v1".into(),
        };
        let pod = inject_in(
            replicated,
            &settings,
            &NamespaceSource::unreadable("shop"),
            Some(workload),
        )
        .unwrap();
        assert_eq!(owner(&pod), "batch/v1/CronJob/ops/nightly");
    }

    #[test]
    fn the_revision_covers_the_metrics_merge() {
        let plain = crate::revision::current(&settings(json!({}), proxy_template()));
        let merging_15020 = crate::revision::current(&merging(json!({})));
        let other_path = crate::revision::current(&settings(
            json!({"prometheusMerge": {"container": "proxy", "port": 15020, "path": "/metrics"}}),
            proxy_template(),
        ));
        assert_ne!(plain, merging_15020);
        assert_ne!(merging_15020, other_path);
    }

    #[test]
    fn the_revision_covers_the_probe_rewrite() {
        let plain = crate::revision::current(&settings(json!({}), proxy_template()));
        let rewriting_15020 = crate::revision::current(&rewriting(json!({})));
        let other_port = crate::revision::current(&settings(
            json!({"probeRewrite": {"container": "proxy", "statusPort": 15021}}),
            proxy_template(),
        ));
        assert_ne!(plain, rewriting_15020);
        assert_ne!(rewriting_15020, other_port);
        let pod = inject(probed_pod(json!({})), &rewriting(json!({})), "shop").unwrap();
        assert_eq!(status(&pod)["hash"], rewriting_15020);
    }

    proptest::proptest! {
        /// At the Pod level: the only changes are the injected parts, the rewritten probes and
        /// the agent's variable, and the variable with the status gives the original probes back.
        #[test]
        fn probe_rewriting_in_a_pod_is_undone_by_its_originals(
            containers in crate::probes::tests::containers(),
            port in proptest::sample::select(vec![15020u16, 8080]),
        ) {
            let pod = json!({"metadata": {"name": "web-1"}, "spec": {"containers": containers}});
            let settings = settings(
                json!({"probeRewrite": {"container": "proxy", "statusPort": port}}),
                proxy_template(),
            );
            let injected = inject(pod.clone(), &settings, "shop").unwrap();
            let mut containers = injected["spec"]["containers"].as_array().unwrap().clone();
            let proxy = containers.pop().unwrap();
            proptest::prop_assert_eq!(&proxy["name"], "proxy");
            let status = status(&injected);
            let variable = proxy["env"].as_array().unwrap().iter()
                .find(|v| v["name"] == probes::DEFAULT_ENV);
            match (&status.get("probes"), variable) {
                (None, None) => proptest::prop_assert_eq!(&containers, pod["spec"]["containers"].as_array().unwrap()),
                (Some(probes_status), Some(variable)) => {
                    proptest::prop_assert_eq!(&probes_status["statusPort"], &json!(port));
                    let port_names: std::collections::BTreeMap<String, String> =
                        serde_json::from_value(probes_status.get("portNames").cloned().unwrap_or(json!({}))).unwrap();
                    let restored = probes::restore(
                        containers.iter_mut(),
                        variable["value"].as_str().unwrap(),
                        &port_names,
                    ).unwrap();
                    proptest::prop_assert_eq!(&json!(restored), &probes_status["rewritten"]);
                    proptest::prop_assert_eq!(&containers, pod["spec"]["containers"].as_array().unwrap());
                }
                (status, variable) => proptest::prop_assert!(false, "status {:?} but variable {:?}", status, variable),
            }
        }
    }

    // The passes one by one.

    /// The Pod's text and what the decision read of it.
    fn pod_text(pod: &Value) -> (Text, PodHead) {
        let text = Text::new(&pod.to_string());
        let head = PodHead::read(&text).unwrap();
        (text, head)
    }

    /// `f` of the Pod's text and of the parts of the templates `settings` give `pod` in the
    /// namespace shop: what passes 1 to 3 make of them.
    fn with_parts<T>(
        settings: &Settings,
        pod: &Value,
        f: impl for<'a> FnOnce(&'a Text, &Parts<'a>) -> T,
    ) -> T {
        let (text, head) = pod_text(pod);
        let templates = choose(settings, &head, Placement::of(settings)).unwrap();
        let rendering = render(
            &text,
            &NamespaceSource::unreadable("shop"),
            None,
            &templates,
        )
        .unwrap()
        .0;
        let parts = combine(&templates.chosen, &rendering);
        f(&text, &parts)
    }

    /// `edit` written as JSON text.
    fn written(edit: &Edit) -> String {
        let mut out = String::new();
        edit.write(&mut out);
        out
    }

    /// The objects of the JSON array `list`, with their names, as [`combine`] gives them.
    fn named_parts(list: &Text) -> Vec<Named<'_>> {
        list.root()
            .items()
            .unwrap()
            .map(|item| {
                let edit = Edit::part(item);
                (edit.name().as_str().unwrap().to_string(), edit)
            })
            .collect()
    }

    #[test]
    fn choose_gives_a_pod_that_does_not_choose_the_current_revision() {
        let settings = settings(json!({"nativeSidecars": true}), proxy_template());
        let (_, head) = pod_text(&app_pod());
        let templates = choose(&settings, &head, Placement::of(&settings)).unwrap();
        assert_eq!(templates.hash, crate::revision::current(&settings));
        assert_eq!(templates.chosen.len(), 1);
        assert_eq!(templates.chosen[0].name, None);
        assert_eq!(templates.size, templates.chosen[0].template.as_str().len());
        let strings: Vec<&str> = templates.strings.iter().map(StringValue::raw).collect();
        assert_eq!(strings, [r#""{{ pod.metadata.name }}.{{ namespace }}""#]);
    }

    #[test]
    fn choose_takes_the_templates_the_pod_asks_for_in_its_order_and_only_their_strings() {
        let settings = named(&["sidecar"]);
        let pod = choosing("debug, sidecar");
        let (_, head) = pod_text(&pod);
        let templates = choose(&settings, &head, Placement::of(&settings)).unwrap();
        let chosen: Vec<Option<&str>> = templates.chosen.iter().map(|c| c.name).collect();
        assert_eq!(chosen, [Some("debug"), Some("sidecar")]);
        assert_eq!(
            templates.hash,
            crate::revision::for_pod(&settings, &pod).unwrap()
        );
        assert_ne!(templates.hash, crate::revision::current(&settings));
        assert_eq!(templates.strings.len(), 1, "the sidecar's --id");
        // The debug template has no template string, and the sidecar's is not read.
        let (_, head) = pod_text(&choosing("debug"));
        assert!(
            choose(&settings, &head, Placement::of(&settings))
                .unwrap()
                .strings
                .is_empty()
        );
    }

    #[test]
    fn choose_finds_exactly_the_template_strings_escaped_braces_included() {
        let settings = Settings::validate(
            br#"{"template": {
                "containers": [{"name": "p", "image": "i", "args": [
                    "\u007b\u007b pod.metadata.name }}", "{\u007b namespace }}", "{% if namespace %}ns{% endif %}",
                    "{ \"plain\" }", "literal", "\u0041", "{{ namespace }}"
                ]}],
                "labels": {"l": "{{ pod.metadata.name }}-x", "m": "on"}
            }}"#,
        )
        .unwrap();
        let (_, head) = pod_text(&app_pod());
        let templates = choose(&settings, &head, Placement::of(&settings)).unwrap();
        let mut found: Vec<String> = templates
            .strings
            .iter()
            .map(|string| string.unescaped().unwrap().into_owned())
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "{% if namespace %}ns{% endif %}",
                "{{ namespace }}",
                "{{ namespace }}",
                "{{ pod.metadata.name }}",
                "{{ pod.metadata.name }}-x",
            ]
        );
    }

    #[test]
    fn settings_whose_template_is_not_json_never_reach_the_pod() {
        // Settings no host sends (they never passed `validate_settings`), read as a request has
        // them: serde is given `{}` for each template, and the one pass over the templates a
        // Pod gets, which reads them whole, refuses them before anything of them is copied.
        for settings in [
            r#"{"template": {"containers": [{"name": "p", "image": "i", "port": 1.}]}}"#,
            r#"{"templates": {"a": {"containers": []}, "b": {"containers": [{"name": "p" "image": "i"}]}}, "defaultTemplates": ["a", "b"]}"#,
        ] {
            let settings = Settings::from_text(Text::new(settings)).unwrap();
            let (_, head) = pod_text(&app_pod());
            let error = choose(&settings, &head, Placement::of(&settings)).err();
            assert_eq!(
                error.map(|e| e.to_string()).as_deref(),
                Some(
                    "invalid policy settings in the request: template: not valid JSON, unlike the settings validated when the policy was loaded"
                ),
                "{settings:?}"
            );
        }
    }

    #[test]
    fn render_renders_the_strings_for_the_pod_and_the_namespace_and_nothing_else() {
        let settings = settings(json!({}), proxy_template());
        let (pod, head) = pod_text(&app_pod());
        let templates = choose(&settings, &head, Placement::of(&settings)).unwrap();
        let rendering = render(&pod, &NamespaceSource::unreadable("shop"), None, &templates)
            .unwrap()
            .0;
        let template = templates.chosen[0].template;
        let rendered = Edit::rendered(template, &rendering);
        // The rest of the template is its text, byte for byte.
        assert_eq!(
            written(&rendered),
            template
                .as_str()
                .replace("{{ pod.metadata.name }}.{{ namespace }}", "web-1.shop")
        );
        let mut expected = proxy_template();
        expected["containers"][0]["args"] = json!(["--id", "web-1.shop"]);
        assert_eq!(rendered.into_value(), expected);
    }

    #[test]
    fn render_names_the_string_that_fails_by_its_place_in_the_settings() {
        let mut template = proxy_template();
        template["containers"][0]["args"] = json!(["{{ pod.metadata.name | int }}"]);
        let one = settings(json!({}), template);
        let named = Settings::validate(
            json!({"templates": {
                "sidecar": {"containers": [{"name": "proxy", "image": "proxy:1"}]},
                "debug": {"containers": [{"name": "shell", "image": "busybox"},
                    {"name": "tool", "image": "t:1", "env": [{"name": "N", "value": "{{ pod.metadata.name | int }}"}]}]}
            }, "defaultTemplates": ["sidecar", "debug"]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        for (settings, path) in [
            (one, "template.containers[0].args[0]"),
            (named, "templates.debug.containers[1].env[0].value"),
        ] {
            let (pod, head) = pod_text(&app_pod());
            let templates = choose(&settings, &head, Placement::of(&settings)).unwrap();
            let Err(RequestError::Render(error)) =
                render(&pod, &NamespaceSource::unreadable("shop"), None, &templates)
            else {
                panic!("expected a render error at {path}");
            };
            assert_eq!(error.path, path);
            assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn combine_lets_a_later_template_customize_an_earlier_ones_container_and_replace_its_objects() {
        let settings = named(&["sidecar"]);
        with_parts(&settings, &choosing("sidecar, debug"), |_, parts| {
            assert_eq!(super::names(&parts.containers), ["proxy", "shell"]);
            assert_eq!(
                parts.containers[0].1.clone().into_value(),
                json!({"name": "proxy", "image": "proxy:debug", "args": ["--id", "web-1"],
                    "env": [{"name": "LEVEL", "value": "debug"}]})
            );
            assert_eq!(super::names(&parts.volumes), ["certs"]);
            assert_eq!(
                parts.volumes[0].1.clone().into_value(),
                json!({"name": "certs", "emptyDir": {"medium": "Memory"}})
            );
            assert_eq!(
                Value::Object(parts.labels.clone()),
                json!({"mesh": "debug", "debug": "on"})
            );
        });
        // The other way round, the sidecar's values win, and the debug template's container
        // comes first.
        with_parts(&settings, &choosing("debug, sidecar"), |_, parts| {
            assert_eq!(super::names(&parts.containers), ["proxy", "shell"]);
            assert_eq!(
                parts.containers[0].1.clone().into_value(),
                json!({"name": "proxy", "image": "proxy:1", "args": ["--id", "web-1"],
                    "env": [{"name": "LEVEL", "value": "info"}]})
            );
            assert_eq!(
                parts.volumes[0].1.clone().into_value(),
                json!({"name": "certs", "emptyDir": {}})
            );
            assert_eq!(
                Value::Object(parts.labels.clone()),
                json!({"mesh": "on", "debug": "on"})
            );
        });
    }

    #[test]
    fn combine_keeps_the_parts_as_written_but_for_their_rendered_strings() {
        let settings = settings(json!({}), proxy_template());
        with_parts(&settings, &app_pod(), |_, parts| {
            assert_eq!(super::names(&parts.containers), ["proxy"]);
            assert!(
                parts.containers[0].1.differs_from_written(),
                "a template string"
            );
            assert!(!parts.init_containers[0].1.differs_from_written());
            assert!(!parts.volumes[0].1.differs_from_written());
            assert!(!parts.image_pull_secrets[0].1.differs_from_written());
            assert_eq!(
                Value::Object(parts.labels.clone()),
                proxy_template()["labels"]
            );
            assert_eq!(
                Value::Object(parts.annotations.clone()),
                proxy_template()["annotations"]
            );
        });
    }

    /// `pod`'s spec after [`place_containers`], and the status it gives.
    fn placed(settings: &Settings, pod: &Value) -> Result<(Value, Status), RequestError> {
        with_parts(settings, pod, |text, parts| {
            let mut root = Edit::part(text.root());
            let spec = open_spec(root.open_object().unwrap())?;
            let (status, _) = place_containers(spec, parts, Placement::of(settings), None, None)?;
            let mut pod = root.into_value();
            Ok((pod["spec"].take(), status))
        })
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn place_containers_finds_a_customization_among_the_pods_init_containers() {
        let mut pod = app_pod();
        pod["spec"]["initContainers"] = json!([{"name": "proxy", "image": "proxy:debug"},
            {"name": "migrate", "image": "db:1"}]);
        let (spec, status) = placed(&settings(json!({}), proxy_template()), &pod).unwrap();
        // The Pod's init container customized the template's container, and left its list.
        assert_eq!(names(&spec["containers"]), ["app", "proxy"]);
        assert_eq!(spec["containers"][1]["image"], "proxy:debug");
        assert_eq!(spec["containers"][1]["args"], json!(["--id", "web-1.shop"]));
        assert_eq!(names(&spec["initContainers"]), ["mesh-init", "migrate"]);
        assert_eq!(
            status,
            Status {
                init_containers: strings(&["mesh-init"]),
                containers: strings(&["proxy"]),
                ..Status::default()
            }
        );
    }

    #[test]
    fn place_containers_puts_the_sidecars_first_to_hold_the_application() {
        let mut pod = app_pod();
        pod["spec"]["containers"] =
            json!([{"name": "app", "image": "a"}, {"name": "worker", "image": "w"}]);
        pod["spec"]["initContainers"] = json!([{"name": "migrate", "image": "db:1"}]);
        let settings = settings(
            json!({"holdApplicationUntilProxyStarts": true}),
            proxy_template(),
        );
        let (spec, status) = placed(&settings, &pod).unwrap();
        assert_eq!(names(&spec["containers"]), ["proxy", "app", "worker"]);
        assert_eq!(names(&spec["initContainers"]), ["mesh-init", "migrate"]);
        assert_eq!(spec["containers"][0].get("restartPolicy"), None);
        assert_eq!(status.containers, ["proxy"]);
        assert_eq!(status.init_containers, ["mesh-init"]);
    }

    #[test]
    fn place_containers_makes_native_sidecars_init_containers_that_restart_always() {
        let mut template = proxy_template();
        template["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "agent", "image": "agent:1", "restartPolicy": null}));
        let settings = settings(
            json!({"nativeSidecars": true, "holdApplicationUntilProxyStarts": true}),
            template,
        );
        let mut pod = app_pod();
        pod["spec"]["initContainers"] = json!([{"name": "migrate", "image": "db:1"}]);
        let (spec, status) = placed(&settings, &pod).unwrap();
        assert_eq!(
            names(&spec["initContainers"]),
            ["mesh-init", "proxy", "agent", "migrate"]
        );
        assert_eq!(names(&spec["containers"]), ["app"]);
        assert_eq!(spec["initContainers"][0].get("restartPolicy"), None);
        assert_eq!(spec["initContainers"][1]["restartPolicy"], "Always");
        // A null is no restart policy: without one, the agent would block the Pod's start.
        assert_eq!(spec["initContainers"][2]["restartPolicy"], "Always");
        assert_eq!(spec["initContainers"][3].get("restartPolicy"), None);
        assert_eq!(status.init_containers, ["mesh-init", "proxy", "agent"]);
        assert!(status.containers.is_empty());
    }

    /// Istio's init containers: a check that the CNI plugin set the network up, the set-up
    /// itself, and the proxy.
    fn network_template() -> Value {
        let mut template = proxy_template();
        template["initContainers"] = json!([
            {"name": "validation", "image": "proxy:1", "args": ["check"]},
            {"name": "mesh-init", "image": "proxy:1", "args": ["redirect"]}
        ]);
        template
    }

    fn pod_with_init_containers() -> Value {
        let mut pod = app_pod();
        pod["spec"]["initContainers"] =
            json!([{"name": "migrate", "image": "db:1"}, {"name": "warm", "image": "w:1"}]);
        pod
    }

    #[test]
    fn place_containers_runs_the_network_set_up_after_the_pods_own_init_containers() {
        let settings = settings(
            json!({"networkInitContainers": ["mesh-init"]}),
            network_template(),
        );
        let (spec, status) = placed(&settings, &pod_with_init_containers()).unwrap();
        assert_eq!(
            names(&spec["initContainers"]),
            ["validation", "migrate", "warm", "mesh-init"]
        );
        assert_eq!(names(&spec["containers"]), ["app", "proxy"]);
        assert_eq!(status.init_containers, ["validation", "mesh-init"]);
        // Without init containers of its own, the Pod gets the template's in their order.
        let (spec, _) = placed(&settings, &app_pod()).unwrap();
        assert_eq!(names(&spec["initContainers"]), ["validation", "mesh-init"]);
    }

    #[test]
    fn place_containers_keeps_the_network_set_up_first_before_native_sidecars() {
        let settings = settings(
            json!({"networkInitContainers": ["mesh-init"], "nativeSidecars": true}),
            network_template(),
        );
        let (spec, status) = placed(&settings, &pod_with_init_containers()).unwrap();
        // The proxy runs before the Pod's own init containers, so they may be redirected to it.
        assert_eq!(
            names(&spec["initContainers"]),
            ["validation", "mesh-init", "proxy", "migrate", "warm"]
        );
        assert_eq!(status.init_containers, ["validation", "mesh-init", "proxy"]);
    }

    #[test]
    fn place_containers_runs_the_network_set_up_last_when_no_native_sidecar_is_injected() {
        // nativeSidecars, but the template has no container to run as one: nothing runs the
        // proxy before the Pod's own init containers.
        let template = json!({"initContainers": [{"name": "mesh-init", "image": "proxy:1"}]});
        let settings = settings(
            json!({"networkInitContainers": ["mesh-init"], "nativeSidecars": true}),
            template,
        );
        let (spec, _) = placed(&settings, &pod_with_init_containers()).unwrap();
        assert_eq!(
            names(&spec["initContainers"]),
            ["migrate", "warm", "mesh-init"]
        );
    }

    #[test]
    fn place_containers_moves_a_customized_network_set_up_with_the_templates() {
        let settings = settings(
            json!({"networkInitContainers": ["mesh-init"]}),
            network_template(),
        );
        let mut pod = pod_with_init_containers();
        pod["spec"]["initContainers"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "mesh-init", "image": "proxy:debug"}));
        let (spec, status) = placed(&settings, &pod).unwrap();
        assert_eq!(
            names(&spec["initContainers"]),
            ["validation", "migrate", "warm", "mesh-init"]
        );
        assert_eq!(spec["initContainers"][3]["image"], "proxy:debug");
        assert_eq!(spec["initContainers"][3]["args"], json!(["redirect"]));
        assert_eq!(status.init_containers, ["validation", "mesh-init"]);
    }

    #[test]
    fn restart_always_keeps_the_restart_policy_a_sidecar_has() {
        for (container, policy) in [
            (json!({"name": "proxy"}), "Always"),
            (json!({"name": "proxy", "restartPolicy": null}), "Always"),
            (
                json!({"name": "proxy", "restartPolicy": "Always"}),
                "Always",
            ),
            (json!({"name": "proxy", "restartPolicy": "Never"}), "Never"),
        ] {
            let text = Text::new(&container.to_string());
            let mut sidecar = Edit::part(text.root());
            restart_always(&mut sidecar);
            let mut expected = container.clone();
            expected["restartPolicy"] = json!(policy);
            assert_eq!(sidecar.into_value(), expected, "{container}");
        }
    }

    /// What the two edits of a container's restart policy write, against the container read
    /// whole by serde_json and edited as a map: the same text, its order included, whether the
    /// container is still text or already opened, and with a key written twice.
    #[test]
    fn restart_policy_edits_write_what_serde_json_would() {
        let containers = [
            r#"{"name":"proxy"}"#,
            r#"{"name":"proxy","restartPolicy":null,"image":"i"}"#,
            r#"{"name":"proxy","restartPolicy":"Always","image":"i","env":[{"name":"A","value":"1"}]}"#,
            r#"{"restartPolicy":"Always"}"#,
            r#"{"name":"proxy","restartPolicy":"Never","image":"i"}"#,
            r#"{"name":"proxy","restartPolicy":"Never","image":"i","restartPolicy":"Always"}"#,
            r#"{"name":"proxy","restartPolicy":"Always","image":"i","name":"other"}"#,
            r#"["not", "an object"]"#,
        ];
        let edited = |text: &str, opened: bool, edit: fn(&mut Edit)| {
            let text = Text::new(text);
            let mut sidecar = Edit::part(text.root());
            if opened {
                sidecar.open_object();
            }
            edit(&mut sidecar);
            let mut written = String::new();
            sidecar.write(&mut written);
            written
        };
        for container in containers {
            let value: Value = serde_json::from_str(container).unwrap();
            let mut always = value.clone();
            let mut not = value.clone();
            if let Value::Object(fields) = &mut always {
                let policy = fields.entry("restartPolicy").or_insert(Value::Null);
                if policy.is_null() {
                    *policy = json!("Always");
                }
            }
            if let Value::Object(fields) = &mut not
                && fields.get("restartPolicy").and_then(Value::as_str) == Some("Always")
            {
                fields.remove("restartPolicy");
            }
            for opened in [false, true] {
                assert_eq!(
                    edited(container, opened, restart_always),
                    always.to_string(),
                    "{container}"
                );
                assert_eq!(
                    serde_json::from_str::<Value>(&edited(container, opened, not_restarted))
                        .unwrap(),
                    not,
                    "{container}"
                );
                let written = edited(container, opened, not_restarted);
                if written != container {
                    assert_eq!(written, not.to_string(), "{container}");
                }
            }
        }
    }

    #[test]
    fn check_container_does_not_check_again_what_is_as_written() {
        let text = Text::new(
            r#"{"name": "proxy", "image": "proxy:1", "resources": {"requests": {"cpu": "lots"}}}"#,
        );
        // As written, the container was checked when the policy was loaded.
        assert!(check_container("proxy", &Edit::part(text.root()), &[], false).is_ok());
        let built = Edit::value(text.root().value());
        let Err(RequestError::Conflict(conflict)) = check_container("proxy", &built, &[], false)
        else {
            panic!("expected a conflict");
        };
        assert_eq!(conflict.at, "container proxy, resources.requests.cpu");
        assert_eq!(conflict.origin, None);
    }

    #[test]
    fn check_container_refuses_a_rendered_value_naming_the_field_and_its_template_string() {
        let settings = settings(json!({}), rendered_resources());
        let mut pod = app_pod();
        pod["metadata"]["annotations"] = json!({"proxyCPU": "lots"});
        with_parts(&settings, &pod, |_, parts| {
            let (name, proxy) = &parts.containers[0];
            let Err(RequestError::Conflict(conflict)) = check_container(name, proxy, &[], false)
            else {
                panic!("expected a conflict");
            };
            assert_eq!(conflict.at, "container proxy, resources.requests.cpu");
            assert!(
                conflict
                    .problem
                    .starts_with("\"lots\" is not a Kubernetes quantity")
            );
            assert_eq!(
                conflict.origin.as_deref(),
                Some(
                    "resources.requests.cpu is the template string \"{{ pod.metadata.annotations['proxyCPU'] | default('100m') }}\", rendered for this Pod"
                )
            );
            let (name, init) = &parts.init_containers[0];
            assert!(check_container(name, init, &[], false).is_ok());
        });
    }

    #[test]
    fn check_container_says_a_customized_value_comes_from_the_pods_container() {
        let template = Text::new(
            r#"{"name": "proxy", "image": "proxy:1", "resources": {"requests": {"memory": "128Mi"}}}"#,
        );
        let own = json!({"name": "proxy", "resources": {"limits": {"memory": "64Mi"}}});
        let own = own.as_object().unwrap().clone();
        let merged = Edit::value(merge::container(template.root().value(), own.clone()));
        let customizations = [("proxy".to_string(), own, Edit::part(template.root()))];
        let Err(RequestError::Conflict(conflict)) =
            check_container("proxy", &merged, &customizations, false)
        else {
            panic!("expected a conflict");
        };
        assert_eq!(conflict.at, "container proxy, resources.requests.memory");
        assert_eq!(
            conflict.origin.as_deref(),
            Some("the Pod's own container proxy sets resources, which customizes the template's")
        );
    }

    #[test]
    fn check_container_refuses_a_linux_field_in_a_windows_pod_even_as_written() {
        let text = Text::new(
            r#"{"name": "proxy", "image": "proxy:1", "securityContext": {"runAsUser": 1337}}"#,
        );
        let proxy = Edit::part(text.root());
        assert!(check_container("proxy", &proxy, &[], false).is_ok());
        let Err(RequestError::Conflict(conflict)) = check_container("proxy", &proxy, &[], true)
        else {
            panic!("expected a conflict");
        };
        assert_eq!(conflict.at, "container proxy, securityContext.runAsUser");
        assert!(
            conflict
                .origin
                .unwrap()
                .ends_with(&format!("give it the label {INJECT_KEY}: \"false\""))
        );
        let plain = Text::new(r#"{"name": "proxy", "image": "proxy:1"}"#);
        assert!(check_container("proxy", &Edit::part(plain.root()), &[], true).is_ok());
    }

    #[test]
    fn rewrite_probes_writes_back_containers_without_probes_byte_for_byte() {
        let web = r#"{"name": "web", "image": "web:1", "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}, "env": [ {"name": "A",  "value": "1"} ]}"#;
        let worker =
            r#"{"name": "worker",  "image": "worker:1", "env": [ {"name": "B", "value": "2"} ]}"#;
        let pod = Text::new(&format!("[{web}, {worker}]"));
        let mut containers = named_parts(&pod);
        let rewritten = rewrite_probes(&mut containers, &mut [], 15020).unwrap();
        assert_eq!(rewritten.paths, ["/app-health/web/readyz"]);
        assert_eq!(
            rewritten.originals,
            r#"{"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8080}}}"#
        );
        assert_eq!(written(&containers[1].1), worker);
        // Of a container with a probe, only the probe is written anew.
        assert_eq!(
            written(&containers[0].1),
            r#"{"name":"web","image":"web:1","readinessProbe":{"httpGet":{"path":"/app-health/web/readyz","port":15020}},"env":[ {"name": "A",  "value": "1"} ]}"#
        );

        let mut containers = named_parts(&pod);
        containers.remove(0);
        assert_eq!(rewrite_probes(&mut containers, &mut [], 15020), None);
        assert_eq!(written(&containers[0].1), worker);
    }

    #[test]
    fn set_env_replaces_the_variable_of_that_name_and_keeps_the_others() {
        let text = Text::new(
            r#"{"name": "proxy", "env": [{"name": "A", "value": "1"}, {"name": "PROBES", "value": "old"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}], "image": "proxy:1"}"#,
        );
        let mut proxy = Edit::part(text.root());
        set_env(&mut proxy, "PROBES", r#"{"new":1}"#);
        assert_eq!(
            written(&proxy),
            r#"{"name":"proxy","env":[{"name": "A", "value": "1"},{"name":"PROBES","value":"{\"new\":1}"},{"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],"image":"proxy:1"}"#
        );
        set_env(&mut proxy, "OTHER", "x");
        assert_eq!(
            proxy.into_value()["env"],
            json!([{"name": "A", "value": "1"}, {"name": "PROBES", "value": "{\"new\":1}"},
                {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}, {"name": "OTHER", "value": "x"}])
        );
    }

    #[test]
    fn set_env_makes_a_list_of_a_null_or_absent_env() {
        for container in [
            json!({"name": "proxy", "env": null}),
            json!({"name": "proxy"}),
        ] {
            let text = Text::new(&container.to_string());
            let mut proxy = Edit::part(text.root());
            set_env(&mut proxy, "PROBES", "{}");
            assert_eq!(
                proxy.into_value(),
                json!({"name": "proxy", "env": [{"name": "PROBES", "value": "{}"}]}),
                "{container}"
            );
        }
    }

    #[test]
    fn add_named_skips_the_names_the_pod_has_puts_the_others_first_and_says_which_it_added() {
        let pod = Text::new(
            r#"{"volumes": [{"name": "certs", "secret": {"secretName": "mine"}}], "containers": [ ]}"#,
        );
        let volumes =
            Text::new(r#"[{"name": "certs", "emptyDir": {}}, {"name": "sds", "emptyDir": {}}]"#);
        let mut spec = Edit::part(pod.root());
        let added = add_named(
            spec.open_object().unwrap(),
            "volumes",
            &named_parts(&volumes),
        )
        .unwrap();
        assert_eq!(added, ["sds"]);
        assert_eq!(
            written(&spec),
            r#"{"volumes":[{"name": "sds", "emptyDir": {}},{"name": "certs", "secret": {"secretName": "mine"}}],"containers":[ ]}"#
        );
    }

    #[test]
    fn add_named_creates_the_list_the_pod_lacks_and_leaves_it_alone_when_nothing_is_added() {
        let secrets = Text::new(r#"[{"name": "mesh-registry"}]"#);
        let pod = Text::new(r#"{"containers": [ ], "volumes": null}"#);
        let mut spec = Edit::part(pod.root());
        let fields = spec.open_object().unwrap();
        assert!(add_named(fields, "volumes", &[]).unwrap().is_empty());
        assert!(add_named(fields, "initContainers", &[]).unwrap().is_empty());
        assert_eq!(written(&spec), r#"{"containers":[ ],"volumes":null}"#);

        let fields = spec.open_object().unwrap();
        let secrets = named_parts(&secrets);
        assert_eq!(
            add_named(fields, "imagePullSecrets", &secrets).unwrap(),
            ["mesh-registry"]
        );
        assert_eq!(
            add_named(fields, "volumes", &secrets).unwrap(),
            ["mesh-registry"]
        );
        assert_eq!(
            written(&spec),
            r#"{"containers":[ ],"volumes":[{"name": "mesh-registry"}],"imagePullSecrets":[{"name": "mesh-registry"}]}"#
        );
    }

    /// Parts with these labels and annotations only.
    fn metadata_parts(labels: Value, annotations: Value) -> Parts<'static> {
        let map = |value: Value| value.as_object().cloned().unwrap_or_default();
        Parts {
            containers: Vec::new(),
            init_containers: Vec::new(),
            volumes: Vec::new(),
            image_pull_secrets: Vec::new(),
            labels: map(labels),
            annotations: map(annotations),
        }
    }

    /// The Pod `pod` (its text) after [`edit_metadata`] with `parts`, as text; the status
    /// given has revision r1.
    fn with_metadata(pod: &str, parts: &Parts) -> Result<String, RequestError> {
        let text = Text::new(pod);
        let head = PodHead::read(&text)?;
        let mut root = Edit::part(text.root());
        let status = Status {
            revision: Some("r1".to_string()),
            ..Status::default()
        };
        edit_metadata(root.open_object().unwrap(), head, parts, None, None, status)?;
        Ok(written(&root))
    }

    #[test]
    fn edit_metadata_never_overwrites_the_pods_keys_and_records_what_it_added() {
        let parts = metadata_parts(
            json!({"zone": "a", "app": "other", "mesh": "on"}),
            json!({"a": "the template's", "b": "x", STATUS_KEY: "forged"}),
        );
        let pod = json!({"metadata": {"name": "web-1", "labels": {"app": "web"},
            "annotations": {"a": "the Pod's"}}, "spec": {}});
        let edited: Value =
            serde_json::from_str(&with_metadata(&pod.to_string(), &parts).unwrap()).unwrap();
        assert_eq!(
            edited["metadata"]["labels"],
            json!({"app": "web", "zone": "a", "mesh": "on"})
        );
        assert_eq!(
            edited["metadata"]["annotations"],
            json!({"a": "the Pod's", "b": "x",
                STATUS_KEY: r#"{"initContainers":[],"containers":[],"volumes":[],"imagePullSecrets":[],"labels":["mesh","zone"],"annotations":["b"],"revision":"r1"}"#})
        );
    }

    #[test]
    fn edit_metadata_leaves_the_labels_text_as_it_came_when_it_adds_none() {
        let parts = metadata_parts(json!({"app": "other"}), json!({}));
        let pod = r#"{"metadata": {"name": "web-1", "labels": {"app" :  "web"}, "uid": "u-1"}, "spec": {}}"#;
        let edited = with_metadata(pod, &parts).unwrap();
        assert!(
            edited.starts_with(r#"{"metadata":{"name":"web-1","labels":{"app" :  "web"},"uid":"u-1","annotations":{"#),
            "{edited}"
        );
        let edited: Value = serde_json::from_str(&edited).unwrap();
        assert_eq!(
            edited["metadata"]["annotations"][STATUS_KEY],
            r#"{"initContainers":[],"containers":[],"volumes":[],"imagePullSecrets":[],"revision":"r1"}"#
        );
    }

    #[test]
    fn edit_metadata_gives_a_pod_without_metadata_its_labels_and_the_status() {
        let parts = metadata_parts(json!({"mesh": "on"}), json!({}));
        let edited = with_metadata(r#"{"spec": {}}"#, &parts).unwrap();
        let status = r#"{"initContainers":[],"containers":[],"volumes":[],"imagePullSecrets":[],"labels":["mesh"],"revision":"r1"}"#;
        assert_eq!(
            serde_json::from_str::<Value>(&edited).unwrap(),
            json!({"spec": {}, "metadata": {"labels": {"mesh": "on"}, "annotations": {STATUS_KEY: status}}})
        );
    }
}
