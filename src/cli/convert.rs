//! `sigc convert`: rules → target queries. A target or format that does not exist is a clear
//! error (exit 2) before anything is loaded. Every rule is converted or refused on its own: a
//! refusal is an error at the rule's file and line, the other rules are still written, and the
//! exit code is 1 when any rule failed.
//!
//! Output: the queries in input order, one per rule (a query spanning lines, like `tstats`,
//! is followed by a blank line); `--json` writes one object per rule and line,
//! `{"path","id","title","query"}` or `{"path","id","title","error"}` for a refused rule;
//! `--output-dir` writes one file per rule, named after the rule.

use std::io::Write;
use std::sync::Arc;

use rayon::prelude::*;

use super::check::report_to_stderr;
use crate::backend::{self, Backend};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::rule::RuleIr;
use crate::load::{self, Input, Item};
use crate::pipeline::{self, Pipelines};

/// Targets sigc can convert to: the evaluator's bytecode and every backend.
pub(crate) fn targets() -> Vec<&'static str> {
    let mut t = vec!["bytecode"];
    t.extend(backend::all().iter().map(|b| b.name()));
    t
}

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
    let targets = targets();
    if !targets.contains(&args.target.as_str()) {
        let known = targets.join(", ");
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            format!("unknown target `{}`", args.target),
        )
        .with_help(format!(
            "available targets: {known} (see `sigc list targets`)"
        ))]);
        return 2;
    }
    let pipelines = match pipeline::resolve_all(&args.pipelines) {
        Ok(p) => p,
        Err(d) => {
            report_to_stderr(&[d]);
            return 2;
        }
    };
    match backend::find(&args.target) {
        Some(b) => text(args, b, &pipelines),
        None => bytecode(args),
    }
}

/// One rule's outcome.
struct Converted {
    path: String,
    id: Option<String>,
    title: String,
    name: String,
    result: Result<String, Diagnostic>,
}

/// Convert every rule of the inputs with a text backend.
fn text(args: &Args, b: &dyn Backend, pipelines: &Pipelines) -> u8 {
    if !b.formats().contains(&args.format.as_str()) {
        report_to_stderr(&[Diagnostic::error(
            Code::UnknownTarget,
            format!("the {} target has no format `{}`", b.name(), args.format),
        )
        .with_help(format!("formats: {}", b.formats().join(", ")))]);
        return 2;
    }
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    let set = load::load(&inputs);
    let mut failed = false;
    let mut diags = Vec::new();
    let mut rules: Vec<(usize, &str, &Arc<RuleIr>)> = Vec::new();
    // Rules a correlation uses without `generate: true` are not written on their own.
    let mut hidden = std::collections::HashSet::new();
    for (i, doc) in set.docs.iter().enumerate() {
        diags.extend(doc.diagnostics.iter().cloned());
        failed |= doc.failed();
        match &doc.item {
            Some(Item::Rule(r)) => rules.push((i, &doc.path, r)),
            Some(Item::Correlation(c)) if !c.generate => {
                hidden.extend(c.rules.iter().map(|r| r.target));
            }
            _ => {}
        }
    }
    let converted: Vec<(usize, Converted)> = rules
        .par_iter()
        .map(|(i, path, r)| (*i, convert_one(b, &args.format, pipelines, path, r)))
        .collect();
    let mut out: Vec<(usize, Converted)> = Vec::new();
    for (i, doc) in set.docs.iter().enumerate() {
        let Some(Item::Correlation(c)) = &doc.item else {
            continue;
        };
        let refs: Vec<backend::Referenced> = c
            .rules
            .iter()
            .map(|r| backend::Referenced {
                name: &r.written,
                query: converted
                    .iter()
                    .find(|(j, _)| *j == r.target)
                    .and_then(|(_, c)| c.result.as_ref().ok())
                    .map(String::as_str),
            })
            .collect();
        let all_converted = c.rules.iter().zip(&refs).all(|(r, x)| {
            x.query.is_some()
                || !matches!(
                    set.docs.get(r.target).map(|d| &d.item),
                    Some(Some(Item::Rule(_)))
                )
        });
        let result = if all_converted {
            pipelines.apply_correlation(c).and_then(|mapped| {
                b.convert_correlation(&mapped, &refs, &args.format)
                    .map_err(|msg| {
                        Diagnostic::error(Code::Unsupported, msg).at(&c.origin.file, c.origin.span)
                    })
            })
        } else {
            Err(Diagnostic::error(
                Code::Unsupported,
                "a rule this correlation refers to could not be converted",
            )
            .at(&c.origin.file, c.origin.span))
        };
        out.push((
            i,
            Converted {
                path: doc.path.clone(),
                id: c.header.id.clone(),
                title: c.header.title.clone(),
                name: c
                    .header
                    .name
                    .clone()
                    .unwrap_or_else(|| c.header.title.clone()),
                result,
            },
        ));
    }
    out.extend(converted.into_iter().filter(|(i, _)| !hidden.contains(i)));
    out.sort_by_key(|(i, _)| *i);
    let out: Vec<Converted> = out.into_iter().map(|(_, c)| c).collect();
    for c in &out {
        if let Err(d) = &c.result {
            failed = true;
            diags.push(d.clone());
        }
    }
    report_to_stderr(&diags);
    if let Err(e) = write(args, &out) {
        report_to_stderr(&[Diagnostic::error(Code::Io, e)]);
        return 2;
    }
    u8::from(failed)
}

fn convert_one(
    b: &dyn Backend,
    format: &str,
    pipelines: &Pipelines,
    path: &str,
    rule: &RuleIr,
) -> Converted {
    let result = pipelines.apply(rule).and_then(|r| {
        b.convert(&r, format).map_err(|msg| {
            Diagnostic::error(Code::Unsupported, msg).at(&rule.origin.file, rule.origin.span)
        })
    });
    Converted {
        path: path.to_string(),
        id: rule.header.id.clone(),
        title: rule.header.title.clone(),
        name: backend::splunk::tstats::rule_name(rule),
        result,
    }
}

fn write(args: &Args, out: &[Converted]) -> Result<(), String> {
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
        for c in out {
            if let Ok(q) = &c.result {
                let path = std::path::Path::new(dir).join(format!("{}.{}", c.name, args.target));
                std::fs::write(&path, format!("{q}\n"))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        return Ok(());
    }
    let mut text = String::new();
    for c in out {
        if args.json {
            let mut o = serde_json::Map::new();
            o.insert("path".into(), c.path.clone().into());
            o.insert("id".into(), c.id.clone().into());
            o.insert("title".into(), c.title.clone().into());
            match &c.result {
                Ok(q) => o.insert("query".into(), q.clone().into()),
                Err(d) => o.insert("error".into(), d.message.clone().into()),
            };
            text.push_str(&serde_json::Value::Object(o).to_string());
            text.push('\n');
        } else if let Ok(q) = &c.result {
            text.push_str(q);
            text.push('\n');
            if q.contains('\n') {
                text.push('\n');
            }
        }
    }
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{path}: {e}")),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("stdout: {e}")),
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
