//! `sigc convert`: rules → target queries. The flags are the contract later backends fill in;
//! a target that does not exist is a clear error (exit 2) before anything is loaded.

use super::check::report_to_stderr;
use crate::diagnostic::{Code, Diagnostic};
use crate::pipeline;

/// Targets sigc can convert to. Backends register here as they land.
pub(crate) const TARGETS: &[&str] = &["bytecode"];

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Target query language.
    #[arg(short = 't', long = "target", required = true)]
    target: String,
    /// Processing pipeline: a built-in name (`sigc list pipelines`) or a YAML file. Repeatable.
    #[arg(short = 'p', long = "pipeline")]
    pipelines: Vec<String>,
    /// Output format of the target (`default` unless given).
    #[arg(short = 'f', long = "format", default_value = "default")]
    format: String,
    /// Print one JSON object per rule and line instead of plain queries.
    #[arg(long)]
    json: bool,
    /// Write the output to this file.
    #[arg(short = 'o', long = "output", conflicts_with = "output_dir")]
    output: Option<String>,
    /// Write one file per rule into this folder.
    #[arg(long = "output-dir")]
    output_dir: Option<String>,
    /// Rule files or folders (`-` for stdin).
    #[arg(required = true)]
    paths: Vec<String>,
}

pub(crate) fn run(args: &Args) -> u8 {
    if !TARGETS.contains(&args.target.as_str()) {
        let known = if TARGETS.is_empty() {
            "none yet".to_string()
        } else {
            TARGETS.join(", ")
        };
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            format!("unknown target `{}`", args.target),
        )
        .with_help(format!(
            "available targets: {known} (see `sigc list targets`)"
        ))]);
        return 2;
    }
    if let Err(d) = pipeline::resolve_all(&args.pipelines) {
        report_to_stderr(&[d]);
        return 2;
    }
    match args.target.as_str() {
        "bytecode" => bytecode(args),
        _ => 2,
    }
}

/// The evaluator's program as a file (`-o`, required: the format is binary).
fn bytecode(args: &Args) -> u8 {
    let Some(path) = &args.output else {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            "the bytecode target writes a binary file",
        )
        .with_help("give the file with -o, e.g. `-o rules.sigcb`")]);
        return 2;
    };
    if args.format != "default" || args.json || args.output_dir.is_some() {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            "the bytecode target has one format and writes one file (no --json, -f or --output-dir)",
        )]);
        return 2;
    }
    let (vm, failed) = match super::eval::build_vm(&args.paths, &args.pipelines) {
        Ok(v) => v,
        Err(diags) => {
            report_to_stderr(&diags);
            return 1;
        }
    };
    let bytes = crate::bytecode::codec::encode(&vm.program);
    if let Err(e) = std::fs::write(path, &bytes) {
        report_to_stderr(&[Diagnostic::error(Code::Io, format!("{path}: {e}"))]);
        return 1;
    }
    eprintln!(
        "wrote {} rules, {} tests, {} instructions ({} bytes) to {path}",
        vm.program.rules.len(),
        vm.program.tests.len(),
        vm.program.code.len(),
        bytes.len()
    );
    u8::from(failed)
}
