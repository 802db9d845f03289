//! `policy-runner`: evaluates one admission request with a Kubewarden waPC
//! policy module, like `kwctl run` does.
//!
//! Exit status: 0 when the policy was evaluated (whether the request was
//! accepted or rejected; the AdmissionResponse is printed on stdout), 1 when
//! the settings are not valid, 2 on any other error (unreadable files, bad
//! JSON, module that cannot be loaded or instantiated).
//!
//! `--raw-payload FILE` sends the file's bytes as they are to the guest's `validate`, without
//! settings validation, and prints the guest's own answer (a Kubewarden ValidationResponse): the
//! robustness tests use it for payloads the policy server never sends, such as invalid JSON. A
//! guest error or trap then exits with status 3.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use policy_runner::PolicyModule;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(
    name = "policy-runner",
    version,
    about = "Run a Kubewarden waPC policy module against one admission request (like `kwctl run`)"
)]
struct Cli {
    /// File with the AdmissionRequest or AdmissionReview (JSON); `-` or absent: stdin. Repeated,
    /// each request is evaluated in turn (on its own fresh instance) and answered on its own line:
    /// the module is compiled once.
    #[arg(short = 'r', long = "request-path", value_name = "PATH")]
    request_path: Vec<PathBuf>,

    /// File with the policy settings (JSON or YAML)
    #[arg(
        short = 's',
        long = "settings-path",
        value_name = "PATH",
        conflicts_with = "settings_json"
    )]
    settings_path: Option<PathBuf>,

    /// Policy settings as a JSON document
    #[arg(long = "settings-json", value_name = "JSON")]
    settings_json: Option<String>,

    /// Send this file's bytes unchanged to the guest's `validate` and print its raw answer
    #[arg(long = "raw-payload", value_name = "PATH", conflicts_with_all = ["request_path", "settings_path", "settings_json"])]
    raw_payload: Option<PathBuf>,

    /// The policy module (.wasm)
    #[arg(value_name = "MODULE.wasm")]
    module: PathBuf,
}

fn read_request(path: Option<&Path>) -> Result<Value> {
    let (text, name) = match path {
        None => (read_stdin()?, "stdin".to_owned()),
        Some(p) if p == Path::new("-") => (read_stdin()?, "stdin".to_owned()),
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read request file {}", p.display()))?,
            p.display().to_string(),
        ),
    };
    serde_json::from_str(&text).with_context(|| format!("the request in {name} is not valid JSON"))
}

fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the request from stdin")?;
    Ok(s)
}

fn read_settings(cli: &Cli) -> Result<Value> {
    if let Some(json) = &cli.settings_json {
        return serde_json::from_str(json).context("--settings-json is not valid JSON");
    }
    let Some(path) = &cli.settings_path else {
        return Ok(Value::Null);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read settings file {}", path.display()))?;
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_yaml::from_str::<Value>(&text).with_context(|| {
            format!(
                "settings file {} is neither JSON ({json_err}) nor YAML",
                path.display()
            )
        }),
    }
}

fn run_raw(path: &Path, module: &Path) -> Result<ExitCode> {
    let payload = std::fs::read(path)
        .with_context(|| format!("cannot read payload file {}", path.display()))?;
    let module = PolicyModule::from_file(module)?;
    match module.call("validate", &payload) {
        Ok(answer) => {
            println!("{}", String::from_utf8_lossy(&answer));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("policy-runner: the guest failed: {e:#}");
            Ok(ExitCode::from(3))
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    if let Some(path) = &cli.raw_payload {
        return run_raw(path, &cli.module);
    }
    let settings = read_settings(cli)?;
    let paths: Vec<Option<&Path>> = match cli.request_path.as_slice() {
        [] => vec![None],
        paths => paths.iter().map(|p| Some(p.as_path())).collect(),
    };
    let requests = paths
        .into_iter()
        .map(read_request)
        .collect::<Result<Vec<_>>>()?;
    // Validate the input before the (slow) module compilation.
    for request in &requests {
        policy_runner::extract_admission_request(request)?;
    }
    policy_runner::normalize_settings(&settings)?;

    let module = PolicyModule::from_file(&cli.module)?;

    let verdict = module.validate_settings(&settings)?;
    if !verdict.valid {
        eprintln!(
            "Provided settings are not valid: {}",
            verdict.message.unwrap_or_default()
        );
        return Ok(ExitCode::from(1));
    }

    for request in &requests {
        // Serialized from the struct, whose field order is kwctl's.
        let response = module.evaluate_response(&settings, request)?;
        println!("{}", serde_json::to_string(&response)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("policy-runner: {e:#}");
            ExitCode::from(2)
        }
    }
}
