//! The labels and annotations of a Pod this policy reads or writes, all of them Istio's, so that a
//! Pod written for Istio's injector means the same here.

/// Label or annotation by which a Pod asks for (`"true"`) or refuses (`"false"`) the sidecar.
pub const INJECT_KEY: &str = "sidecar.istio.io/inject";
/// Annotation recording what was injected; its presence makes injection idempotent.
pub const STATUS_KEY: &str = "sidecar.istio.io/status";
/// Annotation by which a Pod chooses named templates, in order: `"sidecar,debug"`.
pub const TEMPLATES_KEY: &str = "inject.istio.io/templates";
/// Annotation that turns the probe rewrite off with the exact value `"false"`.
pub const REWRITE_KEY: &str = "sidecar.istio.io/rewriteAppHTTPProbers";
/// Annotation that sets the agent's status port for this Pod; `"0"` turns the probe rewrite off.
pub const STATUS_PORT_KEY: &str = "status.sidecar.istio.io/port";
/// Annotation by which a Pod chooses native sidecars (`"true"`) or not (`"false"`) for itself.
pub const NATIVE_SIDECAR_KEY: &str = "sidecar.istio.io/nativeSidecar";
/// Annotation holding the Pod's own Istio `ProxyConfig` (YAML or JSON), of which
/// `holdApplicationUntilProxyStarts` is read.
pub const PROXY_CONFIG_KEY: &str = "proxy.istio.io/config";
/// Annotation by which a Pod turns Istio's Prometheus metrics merge on (`"true"`) or off
/// (`"false"`) for itself.
pub const MERGE_METRICS_KEY: &str = "prometheus.istio.io/merge-metrics";
/// The Pod's own containers that customized the template's, as the Pod wrote them, as JSON: what
/// Istio records so that a second injection can apply them again.
pub const OVERRIDES_KEY: &str = "proxy.istio.io/overrides";
