//! `apply-patch`: reads an AdmissionResponse (as printed by `policy-runner`
//! or `kwctl run`) on stdin, applies its base64 JSONPatch to the request's
//! `object`, checks that the result is a valid `core/v1` Pod and prints it as
//! pretty JSON.
//!
//! Exit status: 0 with the patched object on stdout; 1 when the patch cannot
//! be applied or the result is not a valid Pod; 2 on input errors.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(
    name = "apply-patch",
    version,
    about = "Apply the JSONPatch of an AdmissionResponse (stdin) to the request's object and check it is a valid Pod"
)]
struct Cli {
    /// File with the AdmissionRequest or AdmissionReview (JSON) that was evaluated
    #[arg(short = 'r', long = "request-path", value_name = "PATH")]
    request_path: PathBuf,
}

enum Failure {
    Input(anyhow::Error),
    Invalid(anyhow::Error),
}

fn run(cli: &Cli) -> std::result::Result<Value, Failure> {
    let inputs = || -> Result<(Value, Value)> {
        let text = std::fs::read_to_string(&cli.request_path)
            .with_context(|| format!("cannot read request file {}", cli.request_path.display()))?;
        let request: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "request file {} is not valid JSON",
                cli.request_path.display()
            )
        })?;
        let mut stdin = String::new();
        std::io::stdin()
            .read_to_string(&mut stdin)
            .context("cannot read the AdmissionResponse from stdin")?;
        let response: Value = serde_json::from_str(&stdin)
            .context("the AdmissionResponse on stdin is not valid JSON")?;
        Ok((request, response))
    };
    let (request, response) = inputs().map_err(Failure::Input)?;
    let patched =
        policy_runner::apply_response_patch(&request, &response).map_err(Failure::Invalid)?;
    policy_runner::check_pod(&patched).map_err(Failure::Invalid)?;
    Ok(patched)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(patched) => match serde_json::to_string_pretty(&patched) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("apply-patch: {e}");
                ExitCode::from(2)
            }
        },
        Err(Failure::Input(e)) => {
            eprintln!("apply-patch: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Invalid(e)) => {
            eprintln!("apply-patch: {e:#}");
            ExitCode::from(1)
        }
    }
}
