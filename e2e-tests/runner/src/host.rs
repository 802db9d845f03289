//! The waPC host: a module compiled once, evaluated on fresh instances, as the policy server does.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_json::Value;
use wapc::WapcHost;
use wasmtime_provider::{
    wasmtime, EpochDeadlines, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre,
};

use crate::{
    admission_response_from_guest_bytes, extract_admission_request, format_log_event,
    normalize_settings, request_uid, AdmissionResponse, SettingsVerdict,
};

/// The policy server interrupts a guest that runs past its timeout (2 s by default) with
/// wasmtime's epoch interruption, which compiles a check into every function entry and loop of the
/// module; those checks are part of what a policy costs there, so this host compiles them too.
/// Nothing advances the epoch here, so no call is ever interrupted.
const DEADLINES: EpochDeadlines = EpochDeadlines {
    wapc_init: 2,
    wapc_func: 2,
};

type HostResult = std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;

/// waPC host callback: only Kubewarden's logging is supported; `print_logs` says whether log
/// events go to stderr (benchmarks measure the call, not the terminal).
fn host_callback(
    print_logs: bool,
    binding: &str,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> HostResult {
    match (binding, namespace, operation) {
        ("kubewarden", "tracing", "log") => {
            if print_logs {
                eprintln!("{}", format_log_event(payload));
            }
            Ok(Vec::new())
        }
        _ => Err(format!(
            "host capability {binding}/{namespace}/{operation} is not supported by this runner"
        )
        .into()),
    }
}

/// What the guest's `validate` receives.
#[derive(Serialize)]
struct ValidatePayload<'a> {
    request: Sorted<'a>,
    settings: Sorted<'a>,
}

/// A value written with the keys of every object sorted, as kwctl and the policy server write
/// what they send (serde_json without `preserve_order`), whichever features serde_json was built
/// with here; without copying it.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(serializer),
        }
    }
}

/// A policy module compiled once, evaluated on fresh instances.
pub struct PolicyModule {
    pre: WasmtimeEngineProviderPre,
    print_logs: bool,
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule").finish_non_exhaustive()
    }
}

impl PolicyModule {
    /// Reads and compiles a `.wasm` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read module {}", path.display()))?;
        Self::from_bytes(&bytes).with_context(|| format!("cannot load module {}", path.display()))
    }

    /// Compiles a module (binary wasm, or WAT text) once.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        // Default WasiParams: no args, no env, no preopened dirs.
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // For `perf record`: the compiled guest's functions named in /tmp/perf-PID.map.
        if std::env::var_os("WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| anyhow!("cannot configure wasmtime: {e}"))?;
        let pre = WasmtimeEngineProviderBuilder::new()
            .engine(engine)
            .enable_epoch_interruptions(DEADLINES)
            .module_bytes(bytes)
            .wasi_params(wapc::WasiParams::default())
            .build_pre()
            .map_err(|e| anyhow!("cannot compile module: {e}"))?;
        Ok(PolicyModule {
            pre,
            print_logs: true,
        })
    }

    /// Keeps the policy's log events off stderr (they are still received, as the policy server
    /// receives them).
    pub fn without_log_output(mut self) -> Self {
        self.print_logs = false;
        self
    }

    /// A fresh waPC instance: instantiates the pre-compiled module in a new
    /// store and runs the waPC start functions (`_start`, `wapc_init`).
    fn instantiate(&self) -> Result<WapcHost> {
        let engine = self
            .pre
            .rehydrate(Some(DEADLINES))
            .map_err(|e| anyhow!("cannot create module instance: {e}"))?;
        let print_logs = self.print_logs;
        let callback =
            move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                host_callback(print_logs, binding, namespace, operation, payload)
            };
        WapcHost::new(Box::new(engine), Some(Box::new(callback)))
            .map_err(|e| anyhow!("cannot initialize module instance: {e}"))
    }

    /// Calls a guest function on a fresh instance. Errors cover both a failed
    /// instantiation and a failed guest call.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        let host = self.instantiate()?;
        host.call(operation, payload).map_err(|e| anyhow!("{e}"))
    }

    /// Calls the guest's `validate_settings` with `settings` (`null` means
    /// `{}`). A guest failure or an unparseable answer gives `valid: false`
    /// with the same messages as policy-evaluator; `Err` only when the module
    /// cannot be instantiated or the settings are not an object.
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsVerdict> {
        let settings = normalize_settings(settings)?;
        let payload = serde_json::to_vec(&Sorted(&settings))?;
        let host = self.instantiate()?;
        Ok(match host.call("validate_settings", &payload) {
            Ok(answer) => serde_json::from_slice::<SettingsVerdict>(&answer).unwrap_or_else(|e| {
                SettingsVerdict {
                    valid: false,
                    message: Some(format!("error: cannot convert response: {e}")),
                }
            }),
            Err(e) => SettingsVerdict {
                valid: false,
                message: Some(format!("Error invoking settings validation callback: {e}")),
            },
        })
    }

    /// Evaluates `request` (a bare AdmissionRequest or a whole
    /// AdmissionReview) with `settings` and returns the AdmissionResponse.
    /// A guest error/trap or a bad guest answer gives `allowed: false` with
    /// status code 500 (as the policy server does); `Err` only for bad input
    /// or a module that cannot be instantiated.
    pub fn evaluate_response(
        &self,
        settings: &Value,
        request: &Value,
    ) -> Result<AdmissionResponse> {
        let request = extract_admission_request(request)?;
        let settings = normalize_settings(settings)?;
        // Serialized from references: the policy server serializes its request too, but never
        // copies it first (a copy would add the Pod's size to every measurement).
        let payload = serde_json::to_vec(&ValidatePayload {
            request: Sorted(request),
            settings: Sorted(&settings),
        })?;
        let host = self.instantiate()?;
        Ok(match host.call("validate", &payload) {
            Ok(answer) => admission_response_from_guest_bytes(request, &answer),
            Err(e) => {
                AdmissionResponse::internal_server_error(request_uid(request), &e.to_string())
            }
        })
    }

    /// Same as [`PolicyModule::evaluate_response`], as a JSON value (what
    /// `kwctl run` prints).
    pub fn evaluate(&self, settings: &Value, request: &Value) -> Result<Value> {
        Ok(self.evaluate_response(settings, request)?.to_value())
    }
}
