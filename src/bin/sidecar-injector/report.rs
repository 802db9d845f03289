//! How reports are printed: one line per object for people (with the policy server's verdict and
//! hints below it), or JSON for programs.

use std::fmt::Write;

use serde_json::{Value, json};
use sidecar_injector::explain::Report;
use sidecar_injector::scope::Call;

/// Each object's report, or the message of an object that could not be evaluated.
pub type Reports = [Result<Report, String>];

/// Whether a policy applies to the Pods of a namespace given as a Namespace manifest.
pub struct NamespaceCall {
    pub namespace: String,
    /// "policy NAME", or "the policy" for plain settings.
    pub policy: String,
    pub call: Call,
}

/// `check`'s output for people: a line per object, then what the policy server does and hints;
/// a line per Namespace manifest, whether the policy applies there; a count of the Pods' sidecars.
pub fn text(reports: &Reports, namespaces: &[NamespaceCall]) -> String {
    let mut out = String::new();
    for report in reports {
        // Objects that could not be evaluated are told on stderr.
        let Ok(report) = report else {
            continue;
        };
        let _ = writeln!(
            out,
            "{}: {}: {} [{}]",
            report.object,
            report.verdict(),
            report.reason(),
            report.row
        );
        // Where the policy is not called, the reason above already says why.
        if !matches!(report.call, Call::NotCalled(_)) {
            let _ = writeln!(
                out,
                "  policy server: {}: {}",
                report.call.verdict(),
                report.call.reason()
            );
        }
        if let Some(injection) = &report.injection {
            if !injection.templates.is_empty() {
                let _ = writeln!(out, "  templates: {}", injection.templates.join(", "));
            }
            if let Some(port) = injection.status_port {
                let _ = writeln!(
                    out,
                    "  probes rewritten to the agent's status port {port}: {}",
                    injection.rewritten_probes.join(", ")
                );
            }
            for choice in &injection.placement {
                let _ = writeln!(out, "  placed as the Pod chose: {choice}");
            }
            // Said when the merge replaced annotations of the Pod's own: a Pod without any just
            // gains the agent's, as the JSON output says.
            if let Some(metrics) = injection
                .metrics
                .as_ref()
                .filter(|m| !m.replaced.is_empty())
            {
                let _ = writeln!(out, "  metrics merged: {}", metrics.describe());
            }
            if !injection.after_own_init_containers.is_empty() {
                let _ = writeln!(
                    out,
                    "  network set up after the Pod's own init containers: {}",
                    injection.after_own_init_containers.join(", ")
                );
            }
        }
        for hint in &report.hints {
            let _ = writeln!(out, "  hint: {hint}");
        }
        if let Some(sidecar) = &report.sidecar {
            let _ = writeln!(out, "  {}", sidecar.verdict());
        }
    }
    for NamespaceCall {
        namespace,
        policy,
        call,
    } in namespaces
    {
        let verdict = match call {
            Call::Called(_) => "applies",
            Call::NotCalled(_) => "does not apply",
            Call::Unknown(_) => "may apply",
        };
        let _ = writeln!(
            out,
            "Namespace {namespace}: {policy} {verdict}: {}",
            call.reason()
        );
    }
    if reports.is_empty() && namespaces.is_empty() {
        out.push_str("no Pod or workload in the input\n");
    }
    out.push_str(&pod_summary(reports));
    out
}

/// For input that holds Pods (live objects, typically): how many carry an up-to-date sidecar, a
/// stale one, or none. Empty when there is no Pod.
fn pod_summary(reports: &Reports) -> String {
    let pods: Vec<&Report> = reports
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|report| report.object.kind == "Pod")
        .collect();
    if pods.is_empty() {
        return String::new();
    }
    let count = |stale: Option<bool>| {
        pods.iter()
            .filter(|report| report.sidecar.as_ref().map(|s| s.is_stale()) == stale)
            .count()
    };
    format!(
        "Pods: {} up to date, {} stale, {} uninjected\n",
        count(Some(false)),
        count(Some(true)),
        count(None)
    )
}

/// `check --output json`: one object per Pod or workload, or `{"error": ...}`.
pub fn json(reports: &Reports) -> String {
    let reports: Vec<Value> = reports
        .iter()
        .map(|report| match report {
            Err(message) => json!({"error": message}),
            Ok(report) => report.to_json(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&reports).unwrap_or_default();
    text.push('\n');
    text
}

/// What `inject` tells on stderr: one line per object.
pub fn summary(reports: &Reports) -> String {
    let mut out = String::new();
    for report in reports.iter().filter_map(|r| r.as_ref().ok()) {
        let _ = writeln!(
            out,
            "{}: {}: {}",
            report.object,
            report.verdict(),
            report.reason()
        );
    }
    out
}
