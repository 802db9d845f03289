//! sidecar-injector: a Kubewarden policy that injects a sidecar into Pods, deciding as Istio does.
//!
//! The policy itself is pure and tested natively: [`settings`] (what the admin configures),
//! [`decision`] (whether, and why), [`namespace`] and [`namespace_rules`] (the Pod's Namespace,
//! read only when asked, and what it decides), [`inject`] (how), [`probes`] (the application's probes sent to
//! the agent), [`status`] (the status annotation, written and read back), [`template`] (per-string
//! rendering), [`selector`] (label selectors), [`schema`] (the template's objects against the
//! Kubernetes types), [`validation`] and [`quantity`] (what the API server would refuse in an
//! injected Pod), [`revision`] (the hash of what is injected), [`keys`] (the Pod's labels and
//! annotations the policy reads and writes), [`json`] (the Pod and the settings read as deep as
//! needed), and [`admission`], which goes from a request to an [`admission::Outcome`]. `policy` (feature `policy`) is the waPC layer the policy server
//! calls, with its allocator, [`alloc`] (fast blocks for an instance that serves one request). [`explain`] (the report), [`scope`] (whether the policy server calls the policy),
//! [`workload`] and `manifest` (feature `yaml`) serve the CLI and the playground, as do
//! [`uninject`] (taking the sidecar out) and [`stale`] (Pods injected with another revision or hash); [`webhook`] is the webhook configuration the Kubewarden controller installs
//! for a policy manifest.
pub mod admission;
pub mod alloc;
pub mod decision;
pub mod error;
pub mod explain;
pub mod inject;
pub mod json;
pub mod keys;
#[cfg(feature = "yaml")]
pub mod manifest;
pub mod merge;
pub mod metrics;
pub mod namespace;
pub mod namespace_rules;
pub mod owner;
pub mod placement;
pub mod pod;
#[cfg(feature = "policy")]
mod policy;
pub mod probes;
pub mod quantity;
pub mod revision;
pub mod schema;
pub mod scope;
pub mod selector;
pub mod settings;
mod sort;
pub mod stale;
pub mod status;
pub mod template;
pub mod uninject;
pub mod validation;
pub mod webhook;
pub mod workload;

#[cfg(feature = "policy")]
pub use policy::{ValidationResponse, response, wapc_init};
