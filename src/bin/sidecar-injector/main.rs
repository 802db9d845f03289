//! `sidecar-injector`: the policy's decision and injection, offline.
//!
//! `check` says for each Pod and workload whether it gets the sidecar and why, and for running Pods
//! whether their sidecar is stale; `inject` writes the manifests with the sidecar injected as the
//! policy would inject it; `uninject` takes it out again. They call the policy's own functions
//! (`sidecar_injector::explain`, `uninject`), so what they say is what the policy server does.

mod report;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sidecar_injector::explain::{self, Report};
use sidecar_injector::keys::STATUS_KEY;
use sidecar_injector::manifest::{self, Document};
use sidecar_injector::scope::{self, Namespaces, Policy};
use sidecar_injector::status::Status;
use sidecar_injector::uninject::{UninjectError, uninject};
use sidecar_injector::webhook;
use sidecar_injector::workload::{PodSource, objects, objects_mut};

/// Exit codes, as documented in the README.
const OK: u8 = 0;
/// Also for a stale sidecar, with --fail-if-stale.
const NOT_INJECTED: u8 = 1;
const BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "sidecar-injector",
    version,
    about = "Explain and apply the sidecar-injector policy's decision offline",
    after_help = "Exit status: 0 when every input was read; 1 with --fail-if-not-injected when a Pod \
                  or workload does not get the sidecar, or with --fail-if-stale when a Pod's sidecar is \
                  stale; 2 for invalid settings, manifests or arguments."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Say for each Pod and workload whether the sidecar is injected, and why; for each Pod
    /// that carries the sidecar (`kubectl get pods -A -o yaml`), whether it is stale.
    Check {
        #[command(flatten)]
        input: Input,
        /// How to print the reports.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Exit with status 1 when a Pod's sidecar is stale: injected under another revision
        /// name, or with another hash of what is injected, than the settings' now.
        #[arg(long)]
        fail_if_stale: bool,
    },
    /// Write the manifests with the sidecar injected into each Pod and pod template that gets it.
    Inject {
        #[command(flatten)]
        input: Input,
        /// Where to write the manifests; stdout when not given.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Do not print what happened to each object on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print the webhook configuration the Kubewarden controller installs for a policy manifest:
    /// what the API server evaluates to decide whether to call the policy (its namespaceSelector
    /// as the controller rebuilds it, its rules, failurePolicy, timeout).
    Webhook {
        /// The ClusterAdmissionPolicy or AdmissionPolicy manifest.
        #[arg(long, value_name = "FILE")]
        settings: PathBuf,
        /// The policy server's base URL (https://HOST:PORT), for a policy server outside the
        /// cluster; without it, the policy server's Service, as the controller writes it.
        #[arg(long)]
        url: Option<String>,
        /// The PEM certificate of the authority that signed the policy server's serving
        /// certificate, written into caBundle.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// The namespace Kubewarden runs in, which the controller keeps out of the policy's reach.
        #[arg(long, default_value = sidecar_injector::webhook::KUBEWARDEN_NAMESPACE)]
        kubewarden_namespace: String,
        /// How to print it.
        #[arg(long, value_enum, default_value_t = Encoding::Yaml)]
        output: Encoding,
    },
    /// Write the manifests with the sidecar taken out of each Pod and pod template that has it:
    /// exactly what its status annotation says was injected.
    Uninject {
        #[command(flatten)]
        manifests: Manifests,
        /// Where to write the manifests; stdout when not given.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Do not print what happened to each object on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(Args)]
struct Input {
    /// The policy's settings (YAML or JSON), or its ClusterAdmissionPolicy manifest, whose
    /// spec.settings and spec.namespaceSelector are read.
    #[arg(long, value_name = "FILE")]
    settings: PathBuf,
    /// The namespace of objects that do not name their own.
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// The labels of that namespace, as key=value,key=value ("" for none), to check the
    /// policy's namespaceSelector. Namespace manifests in the input give labels too.
    #[arg(long, value_name = "LABELS")]
    namespace_labels: Option<String>,
    /// Exit with status 1 when a Pod or workload does not get the sidecar.
    #[arg(long)]
    fail_if_not_injected: bool,
    #[command(flatten)]
    manifests: Manifests,
}

#[derive(Args)]
struct Manifests {
    /// Manifests: Pods, workloads, Lists, multi-document YAML or JSON. Stdin when none is given,
    /// or for "-".
    #[arg(value_name = "MANIFEST")]
    paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Encoding {
    Yaml,
    Json,
}

/// Input that cannot be used: printed as `sidecar-injector: {0}`, exit status 2.
struct Failure(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message)) => {
            eprintln!("sidecar-injector: {message}");
            ExitCode::from(BAD_INPUT)
        }
    }
}

fn run(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Check {
            input,
            output,
            fail_if_stale,
        } => {
            let mut loaded = Loaded::read(&input)?;
            // Injected too, so that a template that fails for a Pod fails here as in the module.
            let (reports, _) = evaluate(&mut loaded, &input.namespace);
            let text = match output {
                Format::Text => report::text(&reports, &namespace_calls(&loaded)),
                Format::Json => report::json(&reports),
            };
            write_out(None, &text)?;
            print_errors(&reports);
            let stale = reports
                .iter()
                .filter_map(|r| r.as_ref().ok()?.sidecar.as_ref())
                .any(|sidecar| sidecar.is_stale());
            match status(input.fail_if_not_injected, &reports) {
                OK if fail_if_stale && stale => Ok(NOT_INJECTED),
                code => Ok(code),
            }
        }
        Command::Inject {
            input,
            output,
            quiet,
        } => {
            let mut loaded = Loaded::read(&input)?;
            let (reports, changed) = evaluate(&mut loaded, &input.namespace);
            if !quiet {
                eprint!("{}", report::summary(&reports));
            }
            if reports.iter().any(Result::is_err) {
                // Half-injected output would be worse than none.
                print_errors(&reports);
                return Ok(BAD_INPUT);
            }
            let text = written(&loaded.documents, &changed)?;
            write_out(output.as_deref(), &text)?;
            Ok(status(input.fail_if_not_injected, &reports))
        }
        Command::Webhook {
            settings,
            url,
            ca_file,
            kubewarden_namespace,
            output,
        } => {
            let (name, text) = read_file(&settings)?;
            let manifest = manifest::read_policy_document(&text)
                .map_err(|e| Failure(format!("{name}: {e}")))?;
            let policy =
                Policy::from_value(&manifest).map_err(|e| Failure(format!("{name}: {e}")))?;
            for warning in &policy.warnings {
                eprintln!("sidecar-injector: warning: {name}: {warning}");
            }
            let ca_bundle = match ca_file {
                Some(path) => {
                    let pem = std::fs::read(&path)
                        .map_err(|e| Failure(format!("{}: {e}", path.display())))?;
                    Some(base64::engine::general_purpose::STANDARD.encode(pem))
                }
                None => None,
            };
            let client = webhook::Client {
                endpoint: url.map_or(webhook::Endpoint::Service, webhook::Endpoint::Url),
                ca_bundle,
                kubewarden_namespace,
            };
            let configuration = webhook::configuration(&manifest, &client).ok_or_else(|| {
                Failure(format!(
                    "{name}: not a ClusterAdmissionPolicy or AdmissionPolicy manifest: settings alone install no webhook"
                ))
            })?;
            let text = match output {
                Encoding::Yaml => manifest::to_yaml(&configuration),
                Encoding::Json => serde_json::to_string_pretty(&configuration)
                    .map(|text| text + "\n")
                    .map_err(|e| manifest::ManifestError(e.to_string())),
            }
            .map_err(|e| Failure(e.to_string()))?;
            write_out(None, &text)?;
            Ok(OK)
        }
        Command::Uninject {
            manifests,
            output,
            quiet,
        } => {
            let mut documents = read_documents(&manifests.paths)?;
            let (notes, changed, errors) = uninject_all(&mut documents);
            if !quiet {
                eprint!("{notes}");
            }
            if !errors.is_empty() {
                for message in errors {
                    eprintln!("sidecar-injector: {message}");
                }
                return Ok(BAD_INPUT);
            }
            let text = written(&documents, &changed)?;
            write_out(output.as_deref(), &text)?;
            Ok(OK)
        }
    }
}

/// The documents written back: those that changed re-written, the others as they were.
fn written(documents: &[SourcedDocument], changed: &[bool]) -> Result<String, Failure> {
    let mut text = String::new();
    for (document, changed) in documents.iter().zip(changed) {
        let written = if *changed {
            document
                .document
                .rewritten()
                .map_err(|e| Failure(format!("{}: {e}", document.place)))?
        } else {
            document.document.original()
        };
        join(&mut text, &written, document.first_of_file);
    }
    Ok(text)
}

/// Takes the sidecar out of every Pod and pod template that has it: what to tell on stderr,
/// whether each document changed, and the objects that cannot be uninjected.
fn uninject_all(documents: &mut [SourcedDocument]) -> (String, Vec<bool>, Vec<String>) {
    let mut notes = String::new();
    let mut changed = Vec::new();
    let mut errors = Vec::new();
    for document in documents {
        let mut uninjected = false;
        if let Some(value) = &mut document.document.value {
            for object in objects_mut(value) {
                let Some(source) = PodSource::of(object) else {
                    continue;
                };
                let name = match &source.namespace {
                    Some(namespace) => format!("{} {namespace}/{}", source.kind, source.name),
                    None => format!("{} {}", source.kind, source.name),
                };
                let Some(mut pod) = source.pod(object) else {
                    notes.push_str(&format!(
                        "{name}: no pod template at {}: written back unchanged\n",
                        source.template_location()
                    ));
                    continue;
                };
                match uninject(&mut pod) {
                    Ok(Some(status)) => {
                        source.put_back(object, pod);
                        uninjected = true;
                        notes.push_str(&format!("{name}: uninjected: {}\n", removed(&status)));
                    }
                    Ok(None) => notes.push_str(&format!(
                        "{name}: no {STATUS_KEY} annotation, so no sidecar to take out: written back unchanged\n"
                    )),
                    Err(error) => errors.push(format!(
                        "{}: {name}: {}",
                        document.place,
                        located(&error, &source)
                    )),
                }
            }
        }
        changed.push(uninjected);
    }
    (notes, changed, errors)
}

/// What was removed, as `containers istio-proxy; volumes a, b`.
fn removed(status: &Status) -> String {
    let lists = [
        ("containers", &status.containers),
        ("initContainers", &status.init_containers),
        ("volumes", &status.volumes),
        ("imagePullSecrets", &status.image_pull_secrets),
        ("labels", &status.labels),
        ("annotations", &status.annotations),
    ];
    let mut parts: Vec<String> = lists
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(list, names)| format!("{list} {}", names.join(", ")))
        .collect();
    parts.push(format!("annotation {STATUS_KEY}"));
    let mut text = format!("removed {}", parts.join("; "));
    if let Some(probes) = &status.probes {
        text.push_str(&format!(
            "; probes restored: {}",
            probes.rewritten.join(", ")
        ));
    }
    if let Some(metrics) = status.metrics.as_ref().filter(|m| !m.replaced.is_empty()) {
        let keys: Vec<&str> = metrics.replaced.keys().map(String::as_str).collect();
        text.push_str(&format!(
            "; annotations the metrics merge replaced put back: {}",
            keys.join(", ")
        ));
    }
    text
}

/// An error's message with its path in the manifest: below the pod template of a workload.
fn located(error: &UninjectError, source: &PodSource) -> String {
    let at = source.template_location();
    if at.is_empty() {
        return error.to_string();
    }
    match error {
        UninjectError::Status(_) | UninjectError::Field { .. } => format!("{at}.{error}"),
        UninjectError::Probes(_) => format!("{at}: {error}"),
    }
}

/// Injects into every Pod and workload of every document as the policy would: each object's
/// report (or the message of one that cannot be evaluated), and whether each document changed.
fn evaluate(loaded: &mut Loaded, namespace: &str) -> (Vec<Result<Report, String>>, Vec<bool>) {
    let mut reports = Vec::new();
    let mut changed = Vec::new();
    for document in &mut loaded.documents {
        let mut injected = false;
        if let Some(value) = &mut document.document.value {
            for object in objects_mut(value) {
                match explain::inject_object(object, &loaded.policy, &loaded.namespaces, namespace)
                {
                    Ok(Some(report)) => {
                        injected |= report.injected;
                        reports.push(Ok(report));
                    }
                    Ok(None) => {}
                    Err(error) => reports.push(Err(format!("{}: {error}", document.place))),
                }
            }
        }
        changed.push(injected);
    }
    (reports, changed)
}

/// Whether the policy server calls the policy for each Namespace manifest of the input.
fn namespace_calls(loaded: &Loaded) -> Vec<report::NamespaceCall> {
    let policy = loaded
        .policy
        .name
        .as_ref()
        .map_or("the policy".to_string(), |name| format!("policy {name}"));
    loaded
        .documents
        .iter()
        .filter_map(|document| document.document.value.as_ref())
        .flat_map(objects)
        .filter_map(scope::namespace_name)
        .map(|namespace| report::NamespaceCall {
            namespace: namespace.to_string(),
            policy: policy.clone(),
            call: loaded.policy.namespace_call(&loaded.namespaces, namespace),
        })
        .collect()
}

fn print_errors(reports: &[Result<Report, String>]) {
    for message in reports.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("sidecar-injector: {message}");
    }
}

fn status(fail_if_not_injected: bool, reports: &[Result<Report, String>]) -> u8 {
    if reports.iter().any(Result::is_err) {
        BAD_INPUT
    } else if fail_if_not_injected
        && reports
            .iter()
            .any(|r| r.as_ref().is_ok_and(|report| !report.has_sidecar()))
    {
        NOT_INJECTED
    } else {
        OK
    }
}

/// Documents from several files, written back one after the other: a file that does not start
/// with `---` gets one, so that its first document stays a document of its own.
fn join(text: &mut String, document: &str, first_of_file: bool) {
    if first_of_file && !text.is_empty() && !document.starts_with("---") {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("---\n");
    }
    text.push_str(document);
}

/// Everything read before evaluating: the policy, the documents and the namespaces' labels.
struct Loaded {
    policy: Policy,
    documents: Vec<SourcedDocument>,
    namespaces: Namespaces,
}

struct SourcedDocument {
    document: Document,
    /// "FILE, document N", for messages.
    place: String,
    first_of_file: bool,
}

impl Loaded {
    fn read(input: &Input) -> Result<Self, Failure> {
        let (name, text) = read_file(&input.settings)?;
        let policy = manifest::read_policy(&text).map_err(|e| Failure(format!("{name}: {e}")))?;
        for warning in &policy.warnings {
            eprintln!("sidecar-injector: warning: {name}: {warning}");
        }
        let documents = read_documents(&input.manifests.paths)?;
        let mut namespaces = Namespaces::default();
        for value in documents.iter().filter_map(|d| d.document.value.as_ref()) {
            namespaces.insert_manifests(value);
        }
        if let Some(labels) = &input.namespace_labels {
            let labels = scope::parse_label_pairs(labels)
                .map_err(|e| Failure(format!("--namespace-labels: {e}")))?;
            namespaces.insert(&input.namespace, labels);
        }
        Ok(Self {
            policy,
            documents,
            namespaces,
        })
    }
}

/// The documents of the manifests, in order; stdin when none is given.
fn read_documents(paths: &[PathBuf]) -> Result<Vec<SourcedDocument>, Failure> {
    let stdin = [PathBuf::from("-")];
    let paths = if paths.is_empty() { &stdin[..] } else { paths };
    let mut documents = Vec::new();
    for path in paths {
        let (file, text) = read_file(path)?;
        let read = manifest::read_stream(&text).map_err(|e| Failure(format!("{file}: {e}")))?;
        documents.extend(
            read.into_iter()
                .enumerate()
                .map(|(index, document)| SourcedDocument {
                    document,
                    place: format!("{file}, document {}", index + 1),
                    first_of_file: index == 0,
                }),
        );
    }
    Ok(documents)
}

/// A file's name for messages and its text; "-" is stdin.
fn read_file(path: &Path) -> Result<(String, String), Failure> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("<stdin>: {e}")))?;
        return Ok(("<stdin>".into(), text));
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Failure(format!("{name}: {e}")))?;
    Ok((name, text))
}

fn write_out(path: Option<&Path>, text: &str) -> Result<(), Failure> {
    match path {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| Failure(format!("{}: {e}", path.display())))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure(format!("<stdout>: {e}")))
        }
    }
}
